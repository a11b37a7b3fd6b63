//! Schedules as the store keeps them: what to run, when (a cron expression in a zone), for whom,
//! and each slot claimed: the claim is written before the task is started and the task after,
//! so a slot runs once whatever moment the process dies.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{InstanceId, ProjectId, RoomId, TaskId, TemplateId, UserId};
use crate::semaphore::TaskStatus;

/// What is done with slots that passed while the bot was down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Missed {
    /// Left out (the room is told).
    Skip,
    /// The latest is run once.
    Once,
    /// Each is run, the latest `at_most` of them.
    All { at_most: u32 },
}

/// A recurring run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// Given by the store when it is first saved (0 until then).
    pub id: u64,
    pub room: RoomId,
    /// Who made it: the run is theirs (their grants, their mention on failure).
    pub owner: UserId,
    pub name: String,
    /// Five fields or `@daily` etc.
    pub cron: String,
    /// An IANA zone the expression is read in.
    pub zone: String,
    pub instance: InstanceId,
    pub project: ProjectId,
    pub project_name: String,
    pub template: TemplateId,
    pub template_name: String,
    /// Survey variables, `name=value`.
    pub vars: Vec<(String, String)>,
    /// A preset whose options and variables each run starts from (`vars` override it), looked
    /// up by name when the slot fires. Older schedules have none.
    #[serde(default)]
    pub preset: Option<String>,
    pub missed: Missed,
    /// Why it is paused (by a person, or because its target failed); `None`: active.
    pub paused: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The latest slot handled (claimed, skipped or missed); slots after it are due.
    pub last_slot: Option<DateTime<Utc>>,
}

/// One slot of a schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotRun {
    pub schedule: u64,
    pub slot: DateTime<Utc>,
    pub claimed_at: DateTime<Utc>,
    /// Written once the task is started; a claim without one after a crash is reconciled with
    /// Semaphore (the task's message names the schedule and the slot).
    pub task: Option<TaskId>,
    pub result: Option<TaskStatus>,
    /// Not run: missed while the bot was down, or its start failed (the reason).
    pub skipped: Option<String>,
}

/// The text a scheduled task's `message` carries, by which a restart finds it in Semaphore.
pub fn slot_marker(schedule: u64, slot: DateTime<Utc>) -> String {
    format!("chatrixcd schedule #{schedule} slot {}", slot.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}
