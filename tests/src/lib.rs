//! Test harnesses shared by the integration tests in `tests/`.

pub mod synapse;
