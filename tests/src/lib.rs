//! Test harnesses shared by the integration tests in `tests/`.

pub mod synapse;
#[cfg(feature = "docker")]
pub mod synapse_docker;
