//! The Semaphore UI HTTP client: implements the `SemaphorePort` over Semaphore's REST API, for
//! servers from 2.10 to current.
//!
//! What it takes care of, so the domain does not have to:
//! - every field of every answer is optional (2.10 sends `null`s, newer servers omit fields);
//! - errors become [`SemaphoreError`]s a user can act on (401 vs unreachable vs rejected input);
//! - reads are retried with jittered backoff, writes never (a retried start could run twice);
//! - the start request is shaped for the server in front of it (2.10 has no task-level tags, so
//!   they travel as CLI arguments; newer servers take a `params` object).

pub mod alert;
mod client;
mod config;
#[doc(hidden)]
pub mod decode;
mod events;
pub mod list;
mod wire;

pub use client::{HttpSemaphore, Observe};
pub use config::{ConfigError, SemaphoreConfig};
pub use events::{Reconnect, WsEvents};

/// The body of a task start as sent to a server (`legacy`: older than 2.13). Public so that
/// contract tests can hold it to Semaphore's own schema.
pub fn start_task_body(request: &chatrixcd_ports::semaphore::StartTask, legacy: bool) -> serde_json::Value {
    wire::start_body(request, legacy)
}
