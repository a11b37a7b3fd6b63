//! Actions that wait for a confirmation, as plain data: what will be done once someone answers.
//! They live apart from the commands that make them so that the confirmations (held by the
//! bot's core) and the commands (which use the core) do not depend on each other in a circle.

use chatrixcd_ports::semaphore::{Project, StartTask, StopMode, Template};
use chatrixcd_ports::store::TaskRef;
use chatrixcd_ports::{InstanceId, TaskStatus, UserId};

use crate::permissions::{Grant, Scope};

/// How many of a user's runs `history purge` counts before it asks; past that, it says "more than".
pub(crate) const PURGE_COUNTED: usize = 10_000;

/// A run, checked against its template, ready to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunPlan {
    pub instance: InstanceId,
    pub project: Project,
    pub template: Template,
    pub request: StartTask,
}

impl RunPlan {
    /// What the run is about, as the policy sees it.
    pub fn target(&self) -> crate::permissions::Target<'_> {
        crate::permissions::Target {
            instance: Some(self.instance),
            project_id: Some(self.project.id.get()),
            project: Some(&self.project.name),
            template_id: Some(self.template.id.get()),
            template: Some(&self.template.name),
            some_of: false,
        }
    }
}

/// A stop, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopPlan {
    pub task: TaskRef,
    /// Its template, for asking the policy again when the stop is confirmed.
    pub template: chatrixcd_ports::TemplateId,
    pub mode: StopMode,
    /// The status when the stop was asked for, for the audit line.
    pub status: TaskStatus,
}

/// A change of grants, ready to save.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantChange {
    Add(Grant),
    Revoke { user: UserId, role: String, scope: Option<Scope> },
}

/// An action waiting for a confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PendingAction {
    // Boxed: a run plan carries a whole template, and the enum lives in every open question.
    Run(Box<RunPlan>),
    Stop(StopPlan),
    Exit,
    // Boxed: a grant carries its window and origin.
    Grant(Box<GrantChange>),
    // Boxed: a schedule carries its target's names and variables.
    Schedule(Box<ScheduleChange>),
    /// Removing every run a person asked for from the history.
    Purge {
        user: UserId,
        runs: usize,
    },
}

/// A schedule to add or remove, as asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleChange {
    Add(chatrixcd_ports::schedule::Schedule),
    Remove(chatrixcd_ports::schedule::Schedule),
}

impl ScheduleChange {
    pub fn schedule(&self) -> &chatrixcd_ports::schedule::Schedule {
        match self {
            Self::Add(s) | Self::Remove(s) => s,
        }
    }
}

impl PendingAction {
    /// For "Cancelled: …" and "expired" messages.
    pub fn describe(&self) -> String {
        match self {
            Self::Run(plan) => format!("run {} (project {})", plan.template.name, plan.project.name),
            Self::Stop(plan) => format!("stop task {}", plan.task.task),
            Self::Exit => "shut the bot down".to_owned(),
            Self::Grant(change) => match change.as_ref() {
                GrantChange::Add(grant) => format!("grant {} {}", grant.user, grant.describe()),
                GrantChange::Revoke { user, role, scope } => match scope {
                    Some(scope) => format!("revoke {role} on {scope} from {user}"),
                    None => format!("revoke {role} from {user}"),
                },
            },
            Self::Schedule(change) => match change.as_ref() {
                ScheduleChange::Add(s) => format!(
                    "schedule {} “{}” at `{}` ({}) in project {}",
                    s.template_name, s.name, s.cron, s.zone, s.project_name
                ),
                ScheduleChange::Remove(s) => format!("remove schedule #{} “{}”", s.id, s.name),
            },
            Self::Purge { user, runs } if *runs > PURGE_COUNTED => {
                format!("remove all runs of {user} from the history (more than {PURGE_COUNTED})")
            }
            Self::Purge { user, runs } => format!("remove the {runs} run(s) of {user} from the history"),
        }
    }

    /// The command that asked, for usage hints in error replies.
    pub fn command_path(&self) -> &'static [&'static str] {
        match self {
            Self::Run(_) => &["run"],
            Self::Stop(_) => &["stop"],
            Self::Exit => &["exit"],
            Self::Grant(change) => match change.as_ref() {
                GrantChange::Add(_) => &["grant"],
                GrantChange::Revoke { .. } => &["revoke"],
            },
            Self::Schedule(change) => match change.as_ref() {
                ScheduleChange::Add(_) => &["schedule", "add"],
                ScheduleChange::Remove(_) => &["schedule", "remove"],
            },
            Self::Purge { .. } => &["history", "purge"],
        }
    }

    /// The instance the action needs, if any: answering it runs in that instance's lane.
    pub fn instance(&self) -> Option<InstanceId> {
        match self {
            Self::Run(plan) => Some(plan.instance),
            Self::Stop(plan) => Some(plan.task.instance),
            Self::Schedule(change) => Some(change.schedule().instance),
            Self::Exit | Self::Grant(_) | Self::Purge { .. } => None,
        }
    }
}
