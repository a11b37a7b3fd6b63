//! The store port: the bot's own state that must outlive a single command.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::chat::EventId;
use crate::ids::{ProjectId, RoomId, TaskId, TemplateId, UserId};
use crate::semaphore::TaskStatus;

/// A task the bot reports on in a room: one it started, or one a user asked it to watch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackedTask {
    pub project: ProjectId,
    pub task: TaskId,
    pub template: TemplateId,
    pub template_name: String,
    pub room: RoomId,
    pub requester: UserId,
    /// The status message edited in place as the task moves.
    pub status_event: Option<EventId>,
    pub last_status: TaskStatus,
    pub started_at: DateTime<Utc>,
    /// A user asked to stop it: a later `error` is shown as "stopped by" them.
    pub stop_requested_by: Option<UserId>,
}

/// Where a task lives: enough to address it in Semaphore.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TaskRef {
    pub project: ProjectId,
    pub task: TaskId,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    #[error("the store holds data chatrixcd cannot read: {0}")]
    Corrupt(String),
}

/// Persistent state. Every write is durable when the call returns.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait Store: Send + Sync {
    /// Command aliases, `name -> command line without prefix` (ChatrixCD's `aliases.json` shape).
    async fn aliases(&self) -> Result<BTreeMap<String, String>, StoreError>;
    async fn set_alias(&self, name: &str, command: &str) -> Result<(), StoreError>;
    /// Returns whether the alias existed.
    async fn remove_alias(&self, name: &str) -> Result<bool, StoreError>;

    async fn tracked_tasks(&self) -> Result<Vec<TrackedTask>, StoreError>;
    /// Inserts or replaces the entry for `(task.project, task.task, task.room)`.
    async fn track(&self, task: TrackedTask) -> Result<(), StoreError>;
    async fn untrack(&self, task: TaskRef, room: &RoomId) -> Result<(), StoreError>;

    /// The task a room talked about last, so `status` and `logs` without an id are per room.
    async fn last_task(&self, room: &RoomId) -> Result<Option<TaskRef>, StoreError>;
    async fn set_last_task(&self, room: &RoomId, task: TaskRef) -> Result<(), StoreError>;
}
