//! A simulated Semaphore UI: one deterministic model of projects, templates and tasks whose time
//! comes from the clock port, so tests drive it with a manual clock and the demo with the real one.
//!
//! The model answers the way a real Semaphore 2.10.32 does where the bot can tell (statuses, their
//! order, the queue tick, one run per template at a time, stop and confirm semantics, ids counting
//! down on BoltDB, empty-bodied errors with the real status codes); see `NOTES.md` and the
//! recordings in `testdata/semaphore/`. [`SimSemaphore`] serves it through the `SemaphorePort`.

pub mod alerts;
pub mod http;
mod json;
mod model;
mod port;
pub mod resources;
mod seed;

pub use model::{Activity, Event, LogLine, Mode, SimConfig, SimError, SimModel, SimTask, StartRequest, Update};
pub use port::SimSemaphore;
pub use seed::Script;
