//! The store port: the bot's own state that must outlive a single command.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::chat::EventId;
use crate::ids::{InstanceId, ProjectId, RoomId, TaskId, TemplateId, UserId};
use crate::schedule::{Schedule, SlotRun};
use crate::semaphore::TaskStatus;

/// A task the bot reports on in a room: one it started, or one a user asked it to watch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackedTask {
    /// The Semaphore instance the task runs on (schema-1 records, which had none, read as `default`).
    #[serde(default)]
    pub instance: InstanceId,
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

/// Where a task lives: enough to address it in Semaphore. Task ids are unique per instance only,
/// so the instance is part of every reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TaskRef {
    /// Schema-1 records, which had none, read as `default`.
    #[serde(default)]
    pub instance: InstanceId,
    pub project: ProjectId,
    pub task: TaskId,
}

impl TaskRef {
    pub fn new(instance: InstanceId, project: ProjectId, task: TaskId) -> Self {
        Self { instance, project, task }
    }
}

impl TrackedTask {
    /// Where the tracked task lives.
    pub fn task_ref(&self) -> TaskRef {
        TaskRef { instance: self.instance, project: self.project, task: self.task }
    }
}

/// What a room chose for itself.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RoomSettings {
    /// The Semaphore instance commands in this room use (`use <instance>`); `None`: the default.
    pub active_instance: Option<InstanceId>,
    /// Post the log of every run started here as it is written.
    pub log_tailing: bool,
    pub theme: Option<String>,
}

/// One run the bot started, from request to result. Parameters never hold secret values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Assigned by the store, increasing.
    pub id: u64,
    pub room: RoomId,
    pub requester: UserId,
    /// Schema-1 records hold `null` here, read as `default`.
    #[serde(default)]
    pub instance: InstanceId,
    pub project: ProjectId,
    pub project_name: String,
    pub template: TemplateId,
    pub template_name: String,
    pub task: TaskId,
    /// Variables and options as given, secrets left out.
    pub parameters: BTreeMap<String, String>,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub result: Option<TaskStatus>,
}

/// Who old runs name once they are anonymised (`privacy.anonymise_after_days`): one
/// pseudonym for everybody, so nothing in it leads back to a person.
pub const ANONYMOUS: &str = "@anonymous:chatrixcd.invalid";

/// How a run ended, as `history` filters it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    Success,
    /// Ended in error or was stopped.
    Failed,
    /// Not ended yet (as far as the history knows).
    Running,
}

/// Which runs to find. Every field narrows; `None` means any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunQuery {
    pub requester: Option<UserId>,
    pub instance: Option<InstanceId>,
    /// A project's id or name (names compared without case).
    pub project: Option<String>,
    /// A template's id or name (names compared without case).
    pub template: Option<String>,
    pub outcome: Option<RunOutcome>,
    /// Started at or after.
    pub since: Option<DateTime<Utc>>,
    /// Started before.
    pub until: Option<DateTime<Utc>>,
}

impl RunQuery {
    pub fn matches(&self, run: &RunRecord) -> bool {
        let named = |want: &Option<String>, id: u64, name: &str| {
            want.as_ref().is_none_or(|w| w.parse::<u64>().ok() == Some(id) || w.eq_ignore_ascii_case(name))
        };
        let outcome = match &run.result {
            None => RunOutcome::Running,
            Some(TaskStatus::Success) => RunOutcome::Success,
            Some(_) => RunOutcome::Failed,
        };
        self.requester.as_ref().is_none_or(|r| r == &run.requester)
            && self.instance.is_none_or(|i| i == run.instance)
            && named(&self.project, run.project.get(), &run.project_name)
            && named(&self.template, run.template.get(), &run.template_name)
            && self.outcome.is_none_or(|o| o == outcome)
            && self.since.is_none_or(|s| run.started_at >= s)
            && self.until.is_none_or(|u| run.started_at < u)
    }
}

/// One line of the audit log: who changed what. Entries are numbered without gaps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Assigned by the store: 1, 2, 3… with no gaps.
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub actor: UserId,
    pub room: Option<RoomId>,
    /// A short verb, e.g. `run.start`, `task.stop`, `alias.add`.
    pub action: String,
    pub detail: String,
}

/// A page of a newest-first listing: at most `limit` items with ids below `before`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub limit: usize,
    pub before: Option<u64>,
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
    /// Inserts or replaces the entry for `(task.instance, task.project, task.task, task.room)`.
    async fn track(&self, task: TrackedTask) -> Result<(), StoreError>;
    async fn untrack(&self, task: TaskRef, room: &RoomId) -> Result<(), StoreError>;

    /// The task a room talked about last, so `status` and `logs` without an id are per room.
    async fn last_task(&self, room: &RoomId) -> Result<Option<TaskRef>, StoreError>;
    async fn set_last_task(&self, room: &RoomId, task: TaskRef) -> Result<(), StoreError>;

    async fn room_settings(&self, room: &RoomId) -> Result<RoomSettings, StoreError>;
    async fn set_room_settings(&self, room: &RoomId, settings: RoomSettings) -> Result<(), StoreError>;

    /// Records a run; its `id` is ignored and the assigned one returned.
    async fn record_run(&self, run: RunRecord) -> Result<u64, StoreError>;
    /// Notes how the run of `task` ended. Unknown tasks are ignored (not every task is the bot's).
    async fn finish_run(&self, task: TaskRef, ended_at: DateTime<Utc>, result: TaskStatus) -> Result<(), StoreError>;
    /// The run that started `task`, if the bot started it and it is still kept (by the task index,
    /// not a scan).
    async fn run_of(&self, task: TaskRef) -> Result<Option<RunRecord>, StoreError>;
    /// The runs that match `query`, newest first, at most `page.limit`, below `page.before` (a
    /// run id). Runs are numbered in the order they start, so a `since` ends the walk early.
    async fn find_runs(&self, query: &RunQuery, page: Page) -> Result<Vec<RunRecord>, StoreError>;
    /// Removes every run `user` asked for (`history purge`); returns how many.
    async fn purge_runs_of(&self, user: &UserId) -> Result<usize, StoreError>;
    /// Replaces the requester of runs that started before `cutoff` with [`ANONYMOUS`]; returns
    /// how many were changed (runs already anonymous are not counted).
    async fn anonymise_runs(&self, cutoff: DateTime<Utc>) -> Result<usize, StoreError>;
    /// Runs, newest first.
    async fn runs(&self, page: Page) -> Result<Vec<RunRecord>, StoreError>;
    /// Removes runs that started before `cutoff`; returns how many.
    async fn prune_runs(&self, cutoff: DateTime<Utc>) -> Result<usize, StoreError>;

    /// Appends to the audit log; its `seq` is ignored and the assigned one returned.
    async fn append_audit(&self, entry: AuditEntry) -> Result<u64, StoreError>;
    /// Audit entries, newest first.
    async fn audit(&self, page: Page) -> Result<Vec<AuditEntry>, StoreError>;

    /// Small named values (e.g. that aliases.json was imported).
    async fn setting(&self, key: &str) -> Result<Option<String>, StoreError>;
    async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError>;

    /// Every preset, in no particular order.
    async fn presets(&self) -> Result<Vec<crate::preset::Preset>, StoreError>;
    /// Saves a preset, replacing the one of the same name in the same scope.
    async fn put_preset(&self, preset: crate::preset::Preset) -> Result<(), StoreError>;
    /// Removes the preset `name` of `scope`; whether there was one.
    async fn remove_preset(&self, scope: &crate::preset::PresetScope, name: &str) -> Result<bool, StoreError>;

    /// Every schedule, by id.
    async fn schedules(&self) -> Result<Vec<Schedule>, StoreError>;
    /// Saves a schedule (`id` 0: a new one, given the next id); returns its id.
    async fn put_schedule(&self, schedule: Schedule) -> Result<u64, StoreError>;
    /// Removes a schedule and its slots; returns whether it existed.
    async fn remove_schedule(&self, id: u64) -> Result<bool, StoreError>;
    /// Claims a slot, in one transaction with the schedule's `last_slot` moving to it: `false`
    /// when that slot was claimed before (nothing changes then).
    async fn claim_slot(&self, run: SlotRun) -> Result<bool, StoreError>;
    /// Updates a claimed slot (its task, its result).
    async fn update_slot(&self, run: SlotRun) -> Result<(), StoreError>;
    /// A schedule's slots, newest first, at most `limit`.
    async fn slots(&self, schedule: u64, limit: usize) -> Result<Vec<SlotRun>, StoreError>;
}
