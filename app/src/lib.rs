//! The parts of the `chatrixcd` binary that tests and benchmarks drive as they are: the one
//! wiring of the bot (`wiring`) and the loop that runs its jobs in lanes (`runtime`).

mod bot_metrics;
pub mod private_files;
mod readiness;
pub mod runtime;
pub mod wiring;
