//! The Semaphore port: everything the bot asks of a Semaphore UI server.
//!
//! The data types hold what the domain needs, already normalised: every field a real server may
//! omit or send as `null` is optional here, so one adapter serves Semaphore 2.10 through current.

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{ProjectId, TaskId, TemplateId};

/// The status of a Semaphore task. The nine statuses of Semaphore's task logger, plus a catch-all
/// so that a status invented by a newer server is shown instead of failing the whole response.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum TaskStatus {
    /// Created and queued.
    Waiting,
    /// Picked from the queue; the runner is starting.
    Starting,
    /// A Terraform/OpenTofu plan has changes and waits for approval.
    WaitingConfirmation,
    /// The plan was approved; apply is about to run.
    Confirmed,
    /// The tool is running.
    Running,
    /// A stop was requested; waiting for the process to end.
    Stopping,
    /// Stopped by a user. Terminal.
    Stopped,
    /// Finished successfully. Terminal.
    Success,
    /// Failed (also preparation failures). Terminal.
    Error,
    /// A status this version of chatrixcd does not know.
    Other(String),
}

impl TaskStatus {
    pub const ALL_KNOWN: [TaskStatus; 9] = [
        Self::Waiting,
        Self::Starting,
        Self::WaitingConfirmation,
        Self::Confirmed,
        Self::Running,
        Self::Stopping,
        Self::Stopped,
        Self::Success,
        Self::Error,
    ];

    pub fn as_str(&self) -> &str {
        match self {
            Self::Waiting => "waiting",
            Self::Starting => "starting",
            Self::WaitingConfirmation => "waiting_confirmation",
            Self::Confirmed => "confirmed",
            Self::Running => "running",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
            Self::Success => "success",
            Self::Error => "error",
            Self::Other(s) => s,
        }
    }

    /// A terminal status never changes again (except that a stop sent to a finished task rewrites
    /// it to `stopped` on a real server, which the bot avoids by never stopping finished tasks).
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Stopped | Self::Success | Self::Error)
    }

    /// Queued or running: something a user may want to stop.
    pub fn is_active(&self) -> bool {
        !self.is_terminal() && !matches!(self, Self::Other(_))
    }
}

impl From<String> for TaskStatus {
    fn from(s: String) -> Self {
        match s.as_str() {
            "waiting" => Self::Waiting,
            "starting" => Self::Starting,
            "waiting_confirmation" => Self::WaitingConfirmation,
            "confirmed" => Self::Confirmed,
            "running" => Self::Running,
            "stopping" => Self::Stopping,
            "stopped" => Self::Stopped,
            "success" => Self::Success,
            "error" => Self::Error,
            _ => Self::Other(s),
        }
    }
}

impl From<TaskStatus> for String {
    fn from(s: TaskStatus) -> String {
        s.as_str().to_owned()
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What `/api/info` says about the server.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerInfo {
    pub version: String,
    /// Every other key of the answer, rendered as text, for `info`.
    pub extra: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub id: ProjectId,
    pub name: String,
}

/// Which tool a template runs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum App {
    #[default]
    Ansible,
    Terraform,
    Tofu,
    Bash,
    Python,
    PowerShell,
    Other(String),
}

impl App {
    pub fn parse(s: &str) -> Self {
        match s {
            "" | "ansible" => Self::Ansible,
            "terraform" => Self::Terraform,
            "tofu" => Self::Tofu,
            "bash" => Self::Bash,
            "python" => Self::Python,
            "powershell" => Self::PowerShell,
            other => Self::Other(other.to_owned()),
        }
    }
    pub fn as_str(&self) -> &str {
        match self {
            Self::Ansible => "ansible",
            Self::Terraform => "terraform",
            Self::Tofu => "tofu",
            Self::Bash => "bash",
            Self::Python => "python",
            Self::PowerShell => "powershell",
            Self::Other(s) => s,
        }
    }
}

/// The type of a survey variable. Unknown types are treated as strings, as Semaphore's UI does.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SurveyVarType {
    #[default]
    String,
    Int,
    Enum,
    Secret,
    Text,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SurveyEnumValue {
    /// What the user picks.
    pub name: String,
    /// What the task receives.
    pub value: String,
}

/// A variable the template asks for when a task starts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SurveyVar {
    pub name: String,
    pub title: String,
    pub description: String,
    pub required: bool,
    pub var_type: SurveyVarType,
    pub values: Vec<SurveyEnumValue>,
    pub default_value: Option<String>,
}

/// Which task overrides a template allows. Semaphore 2.13+ silently ignores overrides a template
/// does not allow; the bot refuses them instead. A 2.10 server (no `task_params`) honours limit,
/// debug, inventory and branch as sent but has no task-level tags at all: there, tags can only
/// travel as CLI arguments, so an adapter allows them exactly when the template allows arguments
/// (see [`TaskParamsPolicy::legacy`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TaskParamsPolicy {
    pub allow_debug: bool,
    pub allow_override_limit: bool,
    pub allow_override_tags: bool,
    pub allow_override_skip_tags: bool,
    pub allow_override_inventory: bool,
    pub allow_override_branch: bool,
}

impl TaskParamsPolicy {
    /// What a 2.10 server honours for a template; `allow_args` is its
    /// `allow_override_args_in_task`, the only way tags reach the playbook there.
    pub fn legacy(allow_args: bool) -> Self {
        Self {
            allow_debug: true,
            allow_override_limit: true,
            allow_override_tags: allow_args,
            allow_override_skip_tags: allow_args,
            allow_override_inventory: true,
            allow_override_branch: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Template {
    pub id: TemplateId,
    pub project_id: ProjectId,
    pub name: String,
    pub description: Option<String>,
    pub app: App,
    pub playbook: String,
    /// "", "build" or "deploy".
    pub template_type: String,
    /// The template's own extra CLI arguments.
    pub arguments: Vec<String>,
    pub allow_override_args_in_task: bool,
    pub params_policy: TaskParamsPolicy,
    pub survey_vars: Vec<SurveyVar>,
}

impl Default for TemplateId {
    fn default() -> Self {
        TemplateId::new(0)
    }
}
impl Default for ProjectId {
    fn default() -> Self {
        ProjectId::new(0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub id: TaskId,
    pub project_id: ProjectId,
    pub template_id: TemplateId,
    pub status: TaskStatus,
    pub created: Option<DateTime<Utc>>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub message: Option<String>,
    /// Template name, when the server includes it (list endpoints).
    pub template_name: Option<String>,
    /// Who started it in Semaphore; `None` for schedules and integrations.
    pub user_name: Option<String>,
}

/// A variable group ("environment") of a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    pub id: u64,
    pub name: String,
}

/// An inventory of a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inventory {
    pub id: u64,
    pub name: String,
    /// `static`, `static-yaml`, `file`, `terraform-workspace`...
    pub kind: String,
}

/// A schedule kept by Semaphore itself (made in its UI). The bot only reads these, to show them
/// beside its own; they post nothing in chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSchedule {
    pub id: u64,
    pub template_id: TemplateId,
    /// The template's name, which the list endpoint adds (`tpl_name`).
    pub template_name: Option<String>,
    /// Five-field cron, or a robfig descriptor such as `@every 1h`; read in the server's zone.
    pub cron: String,
    pub name: String,
    pub active: bool,
    /// Set when the schedule runs only after a new commit in that repository.
    pub repository_id: Option<u64>,
    /// Newer servers' one-off schedules (`type: "run_at"`): when it runs.
    pub run_at: Option<DateTime<Utc>>,
}

/// An entry of Semaphore's activity feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityEvent {
    pub project: Option<ProjectId>,
    pub object_type: String,
    pub object_id: Option<u64>,
    pub description: String,
    pub created: Option<DateTime<Utc>>,
    pub user_name: Option<String>,
}

pub use crate::task_log::{LogTooLarge, TaskLog};

/// What the bot asks Semaphore to run. The adapter maps it onto the body the server version in
/// front of it understands (2.10 top-level fields, newer `params`). Its `Debug` names secret
/// variables but never shows their values.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct StartTask {
    pub template_id: TemplateId,
    pub message: Option<String>,
    pub debug: bool,
    pub dry_run: bool,
    pub diff: bool,
    pub limit: Vec<String>,
    pub tags: Vec<String>,
    pub skip_tags: Vec<String>,
    pub arguments: Vec<String>,
    pub git_branch: Option<String>,
    /// Survey and extra variables (sent as the task's `environment` JSON string).
    pub environment: BTreeMap<String, String>,
    /// Secret survey variables (sent as the task's `secret` JSON string, never echoed).
    pub secrets: BTreeMap<String, String>,
}

impl fmt::Debug for StartTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StartTask")
            .field("template_id", &self.template_id)
            .field("message", &self.message)
            .field("debug", &self.debug)
            .field("dry_run", &self.dry_run)
            .field("diff", &self.diff)
            .field("limit", &self.limit)
            .field("tags", &self.tags)
            .field("skip_tags", &self.skip_tags)
            .field("arguments", &self.arguments)
            .field("git_branch", &self.git_branch)
            .field("environment", &self.environment)
            .field("secrets", &self.secrets.keys().map(|k| (k.as_str(), "••••••")).collect::<BTreeMap<_, _>>())
            .finish()
    }
}

/// How to stop a task. Graceful on a running task usually ends in `error`; forced ends `stopped`
/// at once and is the only way to reject a Terraform plan on 2.10.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StopMode {
    #[default]
    Graceful,
    Force,
}

/// What went wrong with a Semaphore request, in words a chat user can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SemaphoreError {
    #[error("Semaphore rejected the API token (401); check semaphore.api_token")]
    Unauthorised,
    #[error("the API token's user may not do this (403){}", detail(.0))]
    Forbidden(Option<String>),
    #[error("{0} was not found in Semaphore")]
    NotFound(String),
    #[error("Semaphore rejected the request: {0}")]
    Rejected(String),
    #[error("Semaphore failed with an internal error ({status}){}", detail(.message))]
    Server { status: u16, message: Option<String> },
    #[error("Semaphore is unreachable: {0}")]
    Unreachable(String),
    #[error("Semaphore did not answer in time ({0})")]
    Timeout(String),
    #[error("Semaphore sent an answer chatrixcd cannot read: {0}")]
    Malformed(String),
}

fn detail(message: &Option<String>) -> String {
    message.as_ref().map(|m| format!(": {m}")).unwrap_or_default()
}

/// A push notification about a task, from Semaphore's websocket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskEvent {
    /// A task's status changed (or, after a reconnect, differs from what was last seen).
    Status {
        project: ProjectId,
        task: TaskId,
        template: TemplateId,
        status: TaskStatus,
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
    },
    /// One line of a task's output.
    Log { project: ProjectId, task: TaskId, time: Option<DateTime<Utc>>, text: String },
    /// The push channel is open for the first time. While it is open, polling is only the safety
    /// net and runs less often.
    Connected,
    /// The push channel was down and is back. Statuses that changed meanwhile follow as `Status`
    /// events; output lines of that gap are only in the task's log.
    Reconnected,
    /// The push channel went down; it is being re-opened. Until it is back, only polling sees
    /// status changes.
    Disconnected,
    /// Semaphore alerted a messenger (pointed at the bot's webhook endpoint) that a task reached
    /// `status`. Only a hint, from a body Semaphore builds by text templating and nobody signs:
    /// it wakes the instance's watcher, which reads the task for the truth. The project is known
    /// only when the alert carries a link (Semaphore's `web_host` is set).
    Alert { project: Option<ProjectId>, task: TaskId, status: TaskStatus },
}

/// A stream of task events. `None` means the stream has ended for good.
#[async_trait]
pub trait TaskEvents: Send {
    async fn next_event(&mut self) -> Option<TaskEvent>;
}

/// The Semaphore server, as the domain sees it.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait SemaphorePort: Send + Sync {
    /// `GET /api/ping` (unauthenticated: proves reachability, not the token).
    async fn ping(&self) -> Result<(), SemaphoreError>;
    /// `GET /api/info` (authenticated).
    async fn info(&self) -> Result<ServerInfo, SemaphoreError>;
    async fn projects(&self) -> Result<Vec<Project>, SemaphoreError>;
    async fn templates(&self, project: ProjectId) -> Result<Vec<Template>, SemaphoreError>;
    async fn environments(&self, project: ProjectId) -> Result<Vec<Environment>, SemaphoreError>;
    async fn inventories(&self, project: ProjectId) -> Result<Vec<Inventory>, SemaphoreError>;
    /// Semaphore's own schedules of a project (`GET /api/project/{p}/schedules`).
    async fn schedules(&self, project: ProjectId) -> Result<Vec<ServerSchedule>, SemaphoreError>;
    /// The newest entries of a project's activity feed (at most 200), newest first.
    async fn recent_events(&self, project: ProjectId) -> Result<Vec<ActivityEvent>, SemaphoreError>;
    /// Starts a task. Never retried by adapters: a retry could start it twice.
    async fn start_task(&self, project: ProjectId, request: StartTask) -> Result<Task, SemaphoreError>;
    async fn task(&self, project: ProjectId, task: TaskId) -> Result<Task, SemaphoreError>;
    /// The newest `limit` tasks of a project, newest first. Semaphore serves at most 200 this way
    /// (`tasks/last`); a larger limit reads its whole task list, which stops at the newest 1000.
    async fn recent_tasks(&self, project: ProjectId, limit: u16) -> Result<Vec<Task>, SemaphoreError>;
    /// The whole output of a task, oldest line first.
    async fn task_output(&self, project: ProjectId, task: TaskId) -> Result<TaskLog, SemaphoreError>;
    /// The whole output as one text (`raw_output` where the server has it, else the lines joined).
    async fn task_log_text(&self, project: ProjectId, task: TaskId) -> Result<String, SemaphoreError>;
    async fn stop_task(&self, project: ProjectId, task: TaskId, mode: StopMode) -> Result<(), SemaphoreError>;
    /// Approves a Terraform plan waiting for confirmation.
    async fn confirm_task(&self, project: ProjectId, task: TaskId) -> Result<(), SemaphoreError>;
    /// Link to the task's page in Semaphore's web UI, when the base URL is known.
    fn task_url(&self, project: ProjectId, template: TemplateId, task: TaskId) -> Option<String>;
}
