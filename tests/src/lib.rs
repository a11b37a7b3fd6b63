//! Test harnesses shared by the integration tests in `tests/`.

pub mod bot_config;
pub mod synapse;
#[cfg(feature = "docker")]
pub mod synapse_docker;
