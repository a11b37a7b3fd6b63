//! The ports of chatrixcd: every trait the domain needs from the outside world, and the plain
//! data types that cross them.
//!
//! Nothing here does I/O. Adapters (Matrix, Semaphore over HTTP, storage, clocks, fakes) implement
//! these traits; the domain only ever sees the traits. Keep this crate small and stable: a change
//! here ripples through every adapter.

pub mod chat;
pub mod clock;
pub mod encryption;
pub mod hook;
pub mod ids;
pub mod preset;
pub mod schedule;
pub mod semaphore;
pub mod store;
pub mod task_log;

pub use chat::{ChatError, ChatEvent, ChatPort, DirectRoom, EventId, Incoming, OutgoingMessage};
pub use clock::Clock;
pub use encryption::{EncryptionError, EncryptionPort, Verification, VerificationStage};
pub use hook::{HookEvent, HookRun};
pub use ids::{IdError, InstanceId, ProjectId, RoomId, TaskId, TemplateId, UserId};
pub use preset::{Preset, PresetScope, SealError, Sealer};
pub use semaphore::{SemaphoreError, SemaphorePort, TaskEvent, TaskEvents, TaskStatus};
pub use store::{
    AuditEntry, Page, RoomSettings, RunOutcome, RunQuery, RunRecord, Store, StoreError, TaskRef, TrackedTask,
};
