//! The state of the simulated server and how tasks move through it.

use std::collections::BTreeMap;
use std::sync::Arc;

use chatrixcd_ports::semaphore::{Project, StopMode, Template};
use chatrixcd_ports::{Clock, ProjectId, TaskId, TaskStatus, TemplateId};
use chrono::{DateTime, Duration, Utc};

use crate::seed::Script;

/// Which server generation to behave like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Semaphore 2.10 on BoltDB: task ids count down from 2147483646.
    #[default]
    V2_10,
    /// A current server on SQL: task ids count up from 1.
    Current,
}

/// Timing and identity of the simulated server.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub mode: Mode,
    /// The queue ticker: at most one task leaves `waiting` per tick (a real server: 5 s).
    pub queue_tick: Duration,
    /// Time between two output lines of a running task.
    pub step: Duration,
    /// Public URL of the web UI, for task links.
    pub web_host: Option<String>,
    /// Messengers alerted on success, error and waiting_confirmation (sent by the HTTP server).
    pub alerts: Vec<crate::alerts::AlertTarget>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            mode: Mode::V2_10,
            queue_tick: Duration::seconds(5),
            step: Duration::milliseconds(300),
            web_host: None,
            alerts: Vec::new(),
        }
    }
}

/// An error answer, as the real server would give it: a status and, sometimes, a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("HTTP {status}{}", message.as_ref().map(|m| format!(": {m}")).unwrap_or_default())]
pub struct SimError {
    pub status: u16,
    /// `{"error": …}` text, when the real server sends one; otherwise the body is empty.
    pub message: Option<String>,
}

impl SimError {
    pub fn status(status: u16) -> Self {
        Self { status, message: None }
    }
}

/// Something the websocket reports: a status change or an output line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Update(Update),
    Log(LogLine),
}

/// One output line, as the websocket's `log` message carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub task: TaskId,
    pub project: ProjectId,
    pub time: DateTime<Utc>,
    pub output: String,
}

/// A task start as it arrived.
#[derive(Debug, Clone, Default)]
pub struct StartRequest {
    pub project: ProjectId,
    pub template: TemplateId,
    /// Survey values and extra variables, as the run gets them.
    pub environment: BTreeMap<String, String>,
    /// CLI arguments the run gets (empty unless the template allows them).
    pub arguments: Vec<String>,
    pub message: Option<String>,
    pub environment_text: String,
    pub arguments_text: Option<String>,
}

/// An entry of the activity feed about a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    pub task: TaskId,
    pub description: String,
    pub created: Option<DateTime<Utc>>,
}

/// A status change, as the websocket's `update` message carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    pub task: TaskId,
    pub project: ProjectId,
    pub template: TemplateId,
    pub status: TaskStatus,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Queued,
    /// Finished; `end` is stamped a moment later, as on the real server, whose first terminal
    /// update and reads in between show `end: null`.
    Ending {
        at: DateTime<Utc>,
    },
    /// Printing `lines[next..]`, one per `pace` from `next_at`; then `then`.
    Running {
        lines: Vec<String>,
        next: usize,
        next_at: DateTime<Utc>,
        then: Then,
        pace: Duration,
    },
    /// An approved plan, back in the queue: the next tick runs `apply` (and stamps a new start).
    Confirmed {
        apply: Vec<String>,
    },
    /// A plan waits for `/confirm`; `apply` runs after it.
    AwaitingConfirmation {
        apply: Vec<String>,
    },
    Done,
}

/// What a run does after its last line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Then {
    Succeed,
    Fail,
    AskConfirmation(Vec<String>),
}

/// One task of the simulated server.
#[derive(Debug, Clone)]
pub struct SimTask {
    pub id: TaskId,
    pub project: ProjectId,
    pub template: TemplateId,
    pub template_name: String,
    pub status: TaskStatus,
    pub created: DateTime<Utc>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub message: String,
    pub user_name: Option<String>,
    pub environment: BTreeMap<String, String>,
    pub arguments: Vec<String>,
    /// `environment` exactly as the client sent it (the server stores the text it got).
    pub environment_text: String,
    /// `arguments` exactly as sent: stored even when the template does not pass them on.
    pub arguments_text: Option<String>,
    pub output: Vec<(DateTime<Utc>, String)>,
    phase: Phase,
    /// Creation order, because ids may count down.
    seq: u64,
}

#[derive(Debug)]
pub(crate) struct SimTemplate {
    pub(crate) template: Template,
    pub(crate) script: Script,
    /// Time between output lines, when the template has its own (e.g. `slow`, `chatty`).
    pub(crate) pace: Option<Duration>,
    pub(crate) inventory_id: Option<u64>,
}

/// The whole simulated server. Every call first catches up with the clock.
pub struct SimModel {
    config: SimConfig,
    clock: Arc<dyn Clock>,
    projects: Vec<Project>,
    pub(crate) resources: crate::resources::Resources,
    templates: Vec<SimTemplate>,
    tasks: Vec<SimTask>,
    next_task_id: u64,
    next_seq: u64,
    /// The queue ticker fires at `epoch + k * queue_tick`, like a server's ticker since start-up.
    epoch: DateTime<Utc>,
    /// When the ticker last served a task.
    last_tick: DateTime<Utc>,
    /// Everything up to this moment has happened.
    processed_until: DateTime<Utc>,
    events: Vec<Event>,
    /// Activity entries of stops that rewrote finished tasks.
    rewrites: Vec<(ProjectId, Activity)>,
}

impl std::fmt::Debug for SimModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimModel").field("projects", &self.projects.len()).field("tasks", &self.tasks.len()).finish()
    }
}

/// How long after a run's terminal status its `end` is stamped. Long enough that a client polling
/// every 100 ms can see the recorded `end: null` moment; short enough to go unnoticed otherwise.
const END_STAMP_DELAY: Duration = Duration::milliseconds(250);

/// BoltDB's first task id: 2³¹ − 2.
const BOLT_FIRST_ID: u64 = 2_147_483_646;

impl SimModel {
    pub fn new(config: SimConfig, clock: Arc<dyn Clock>) -> Self {
        let now = clock.now();
        let next_task_id = match config.mode {
            Mode::V2_10 => BOLT_FIRST_ID,
            Mode::Current => 1,
        };
        Self {
            config,
            clock,
            projects: Vec::new(),
            resources: Default::default(),
            templates: Vec::new(),
            tasks: Vec::new(),
            next_task_id,
            next_seq: 0,
            epoch: now,
            last_tick: now,
            processed_until: now,
            events: Vec::new(),
            rewrites: Vec::new(),
        }
    }

    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Creates a project as `POST /api/projects` does: with a `None` access key and an `Empty`
    /// variable group, which every template can use.
    pub fn add_project(&mut self, name: &str) -> ProjectId {
        self.create_project(name, false)
    }

    pub fn create_project(&mut self, name: &str, alert: bool) -> ProjectId {
        use crate::resources::Kind;
        let id = ProjectId::new(self.projects.len() as u64 + 1);
        self.projects.push(Project { id, name: name.to_owned() });
        self.resources.set_project(
            id,
            serde_json::json!({
                "id": id.get(), "name": name, "created": "0001-01-01T00:00:00Z", "alert": alert,
                "alert_chat": null, "max_parallel_tasks": 0, "type": ""
            }),
        );
        let none_key = serde_json::json!({"name": "None", "type": "none"});
        let empty_env = serde_json::json!({"name": "Empty", "json": "{}"});
        for (kind, object) in [(Kind::Key, none_key), (Kind::Environment, empty_env)] {
            if let serde_json::Value::Object(object) = object {
                self.resources.add(kind, id, object);
            }
        }
        id
    }

    /// `PUT /api/project/{p}`: new settings, same id.
    pub fn update_project(&mut self, project: ProjectId, settings: &serde_json::Value) -> Result<(), SimError> {
        self.project_exists(project)?;
        if settings["id"].as_u64() != Some(project.get()) {
            return Err(SimError { status: 400, message: Some("Project ID in body and URL must be the same".into()) });
        }
        if let Some(name) = settings["name"].as_str()
            && let Some(p) = self.projects.iter_mut().find(|p| p.id == project)
        {
            p.name = name.to_owned();
        }
        let mut merged = self.resources.project(project).cloned().unwrap_or_default();
        if let (Some(target), Some(source)) = (merged.as_object_mut(), settings.as_object()) {
            for (k, v) in source {
                if k != "created" {
                    target.insert(k.clone(), v.clone());
                }
            }
        }
        self.resources.set_project(project, merged);
        Ok(())
    }

    /// A project's settings as the API shows them.
    pub fn project_json(&self, project: ProjectId) -> Option<serde_json::Value> {
        self.resources.project(project).cloned()
    }

    /// Adds a key, variable group, repository or inventory; returns it as the API shows it.
    pub fn add_resource(
        &mut self,
        kind: crate::resources::Kind,
        project: ProjectId,
        object: serde_json::Map<String, serde_json::Value>,
    ) -> Result<serde_json::Value, SimError> {
        self.project_exists(project)?;
        if object.get("project_id").is_some_and(|p| p.as_u64() != Some(project.get())) {
            return Err(SimError { status: 400, message: Some("Project ID in body and URL must be the same".into()) });
        }
        Ok(self.resources.add(kind, project, object))
    }

    /// `POST /api/project/{p}/schedules`: checked as 2.10 does (its template must be in the
    /// project, its cron must have five fields or be a descriptor).
    pub fn add_schedule(
        &mut self,
        project: ProjectId,
        object: serde_json::Map<String, serde_json::Value>,
    ) -> Result<serde_json::Value, SimError> {
        self.project_exists(project)?;
        let template = object.get("template_id").and_then(serde_json::Value::as_u64).map(TemplateId::new);
        if !template
            .is_some_and(|t| self.templates.iter().any(|s| s.template.id == t && s.template.project_id == project))
        {
            return Err(SimError { status: 400, message: Some("template_id is invalid".into()) });
        }
        let cron = object.get("cron_format").and_then(serde_json::Value::as_str).unwrap_or_default();
        let fields: Vec<&str> = cron.split_whitespace().collect();
        if !(fields.len() == 5 || cron.starts_with('@')) {
            let message = format!("Cron: expected exactly 5 fields, found {}: [{}]", fields.len(), fields.join(" "));
            return Err(SimError { status: 400, message: Some(message) });
        }
        self.add_resource(crate::resources::Kind::Schedule, project, object)
    }

    /// `GET /api/project/{p}/schedules`: each with its template's name (`tpl_name`).
    pub fn schedules(&self, project: ProjectId) -> Result<Vec<serde_json::Value>, SimError> {
        let mut list = self.resources(crate::resources::Kind::Schedule, project)?;
        for schedule in &mut list {
            let template = schedule["template_id"].as_u64().map(TemplateId::new);
            let name = self.templates.iter().find(|t| Some(t.template.id) == template).map(|t| t.template.name.clone());
            schedule["tpl_name"] = serde_json::Value::from(name.unwrap_or_default());
        }
        Ok(list)
    }

    pub fn resources(
        &self,
        kind: crate::resources::Kind,
        project: ProjectId,
    ) -> Result<Vec<serde_json::Value>, SimError> {
        self.project_exists(project)?;
        Ok(self.resources.list(kind, project))
    }

    /// Adds a template; its id is the next free one across all projects, as on a real server.
    pub fn add_template(&mut self, mut template: Template, script: Script) -> TemplateId {
        let id = TemplateId::new(self.templates.len() as u64 + 1);
        template.id = id;
        self.templates.push(SimTemplate { template, script, pace: None, inventory_id: None });
        id
    }

    /// `POST /api/project/{p}/templates`: a template from its JSON. What it runs is chosen by its
    /// playbook (see [`crate::seed::script_for`]). Terraform templates get a workspace inventory,
    /// as on a real server. An app that is not active answers 400, after the row was created,
    /// as 2.10 does.
    pub fn create_template(&mut self, project: ProjectId, body: &serde_json::Value) -> Result<Template, SimError> {
        use chatrixcd_ports::semaphore::{App, SurveyEnumValue, SurveyVar, SurveyVarType, TaskParamsPolicy};
        use serde_json::Value;
        self.project_exists(project)?;
        if !body.is_object() {
            return Err(SimError::status(400));
        }
        let text = |k: &str| body[k].as_str().unwrap_or_default().to_owned();
        let app_id = body["app"].as_str().filter(|a| !a.is_empty()).unwrap_or("ansible").to_owned();
        let allow_args = body["allow_override_args_in_task"].as_bool().unwrap_or(false);
        let params_policy = match (self.config.mode, body.get("task_params")) {
            (Mode::Current, Some(p)) if p.is_object() => TaskParamsPolicy {
                allow_debug: p["allow_debug"].as_bool().unwrap_or(false),
                allow_override_limit: p["allow_override_limit"].as_bool().unwrap_or(false),
                allow_override_tags: p["allow_override_tags"].as_bool().unwrap_or(false),
                allow_override_skip_tags: p["allow_override_skip_tags"].as_bool().unwrap_or(false),
                allow_override_inventory: p["allow_override_inventory"].as_bool().unwrap_or(false),
                allow_override_branch: body["allow_override_branch_in_task"].as_bool().unwrap_or(false),
            },
            (Mode::Current, _) => TaskParamsPolicy::default(),
            (Mode::V2_10, _) => TaskParamsPolicy::legacy(allow_args),
        };
        let survey_vars = body["survey_vars"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| SurveyVar {
                name: v["name"].as_str().unwrap_or_default().to_owned(),
                title: v["title"].as_str().unwrap_or_default().to_owned(),
                description: v["description"].as_str().unwrap_or_default().to_owned(),
                required: v["required"].as_bool().unwrap_or(false),
                var_type: match v["type"].as_str().unwrap_or_default() {
                    "int" => SurveyVarType::Int,
                    "enum" => SurveyVarType::Enum,
                    "secret" => SurveyVarType::Secret,
                    "text" => SurveyVarType::Text,
                    _ => SurveyVarType::String,
                },
                values: v["values"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| SurveyEnumValue {
                        name: c["name"].as_str().unwrap_or_default().to_owned(),
                        value: c["value"].as_str().unwrap_or_default().to_owned(),
                    })
                    .collect(),
                default_value: v["default_value"].as_str().map(str::to_owned),
            })
            .collect();
        let template = Template {
            id: TemplateId::new(0),
            project_id: project,
            name: text("name"),
            description: body["description"].as_str().filter(|d| !d.is_empty()).map(str::to_owned),
            app: App::parse(&app_id),
            playbook: text("playbook"),
            template_type: text("type"),
            arguments: body["arguments"].as_str().and_then(|a| serde_json::from_str(a).ok()).unwrap_or_default(),
            allow_override_args_in_task: allow_args,
            params_policy,
            survey_vars,
        };
        let (script, pace) = crate::seed::script_for(&template);
        let id = self.add_template(template, script);
        let mut inventory = body["inventory_id"].as_u64();
        if inventory.is_none() && matches!(app_id.as_str(), "terraform" | "tofu") {
            let name = format!("{} - default", text("name"));
            let workspace = serde_json::json!({
                "name": name, "inventory": "default", "type": format!("{app_id}-workspace"), "holder_id": id.get()
            });
            if let Value::Object(object) = workspace {
                inventory = self.resources.add(crate::resources::Kind::Inventory, project, object)["id"].as_u64();
            }
        }
        if let Some(t) = self.templates.iter_mut().find(|t| t.template.id == id) {
            t.pace = pace;
            t.inventory_id = inventory;
        }
        if !matches!(app_id.as_str(), "ansible" | "terraform" | "bash") {
            return Err(SimError { status: 400, message: Some(format!("Invalid app id: {app_id}")) });
        }
        self.templates(project)?.into_iter().find(|t| t.id == id).ok_or(SimError::status(500))
    }

    /// The inventory a template uses, if any.
    pub fn template_inventory(&self, template: TemplateId) -> Option<u64> {
        self.templates.iter().find(|t| t.template.id == template).and_then(|t| t.inventory_id)
    }

    /// Gives a template its own speed, whatever the configured step (a `slow` template stays slow).
    pub fn set_pace(&mut self, template: TemplateId, pace: Duration) {
        if let Some(t) = self.templates.iter_mut().find(|t| t.template.id == template) {
            t.pace = Some(pace);
        }
    }

    fn pace_of(&self, template: TemplateId) -> Duration {
        self.templates.iter().find(|t| t.template.id == template).and_then(|t| t.pace).unwrap_or(self.config.step)
    }

    fn project_exists(&self, project: ProjectId) -> Result<(), SimError> {
        if self.projects.iter().any(|p| p.id == project) { Ok(()) } else { Err(SimError::status(404)) }
    }

    pub fn projects(&mut self) -> Vec<Project> {
        self.projects.clone()
    }

    pub fn templates(&mut self, project: ProjectId) -> Result<Vec<Template>, SimError> {
        self.project_exists(project)?;
        Ok(self.templates.iter().filter(|t| t.template.project_id == project).map(|t| t.template.clone()).collect())
    }

    /// `POST /api/project/{p}/tasks`.
    pub fn start_task(
        &mut self,
        project: ProjectId,
        template: TemplateId,
        environment: BTreeMap<String, String>,
        arguments: Vec<String>,
        message: Option<String>,
    ) -> Result<SimTask, SimError> {
        let environment_text =
            if environment.is_empty() { String::new() } else { serde_json::json!(environment).to_string() };
        let arguments_text = (!arguments.is_empty()).then(|| serde_json::json!(arguments).to_string());
        self.start(StartRequest {
            project,
            template,
            environment,
            arguments,
            message,
            environment_text,
            arguments_text,
        })
    }

    /// Starts a task from a request as it came over HTTP, keeping the texts the client sent.
    pub fn start(&mut self, request: StartRequest) -> Result<SimTask, SimError> {
        let StartRequest { project, template, environment, arguments, message, environment_text, arguments_text } =
            request;
        self.advance();
        self.project_exists(project)?;
        // A real 2.10 answers 500 for a template it does not know.
        let Some(template_name) = self
            .templates
            .iter()
            .find(|t| t.template.id == template && t.template.project_id == project)
            .map(|t| t.template.name.clone())
        else {
            return Err(SimError::status(500));
        };
        let now = self.clock.now();
        let id = self.next_id();
        let task = SimTask {
            id,
            project,
            template,
            template_name,
            status: TaskStatus::Waiting,
            created: now,
            start: None,
            end: None,
            message: message.unwrap_or_default(),
            user_name: Some("Admin".into()),
            environment,
            arguments,
            environment_text,
            arguments_text,
            output: Vec::new(),
            phase: Phase::Queued,
            seq: self.next_seq,
        };
        self.next_seq += 1;
        self.tasks.push(task);
        let i = self.tasks.len() - 1;
        self.log(i, now, format!("Task {id} added to queue"));
        self.record(i);
        let created = self.tasks[i].clone();
        self.advance();
        Ok(created)
    }

    fn next_id(&mut self) -> TaskId {
        let id = TaskId::new(self.next_task_id);
        self.next_task_id = match self.config.mode {
            Mode::V2_10 => self.next_task_id - 1,
            Mode::Current => self.next_task_id + 1,
        };
        id
    }

    /// What 2.10 does with an `environment` that is not JSON: the task row is created, its
    /// preparation fails, it is left in `error` (never started) and the request answers 500.
    pub fn start_unpreparable(
        &mut self,
        project: ProjectId,
        template: TemplateId,
        environment_text: String,
    ) -> SimError {
        self.advance();
        let Some(t) = self.templates.iter().find(|t| t.template.id == template && t.template.project_id == project)
        else {
            return SimError::status(500);
        };
        let name = t.template.name.clone();
        let now = self.clock.now();
        let id = self.next_id();
        self.tasks.push(SimTask {
            id,
            project,
            template,
            template_name: name,
            status: TaskStatus::Error,
            created: now,
            start: None,
            end: None,
            message: String::new(),
            user_name: Some("Admin".into()),
            environment: BTreeMap::new(),
            arguments: Vec::new(),
            environment_text,
            arguments_text: None,
            output: Vec::new(),
            phase: Phase::Done,
            seq: self.next_seq,
        });
        self.next_seq += 1;
        let i = self.tasks.len() - 1;
        self.alert_lines(i, now);
        self.record(i);
        SimError::status(500)
    }

    fn index(&self, project: ProjectId, task: TaskId) -> Result<usize, SimError> {
        self.project_exists(project)?;
        // Task routes answer 400, not 404, for a task that is not in the project.
        self.tasks.iter().position(|t| t.id == task && t.project == project).ok_or(SimError::status(400))
    }

    pub fn task(&mut self, project: ProjectId, task: TaskId) -> Result<SimTask, SimError> {
        self.advance();
        let i = self.index(project, task)?;
        Ok(self.tasks[i].clone())
    }

    /// Newest first, at most `limit`: 1..=200 through `tasks/last`, 1000 for the whole task list
    /// (Semaphore's own cap).
    pub fn recent_tasks(&mut self, project: ProjectId, limit: usize) -> Result<Vec<SimTask>, SimError> {
        self.advance();
        self.project_exists(project)?;
        let mut tasks: Vec<SimTask> = self.tasks.iter().filter(|t| t.project == project).cloned().collect();
        tasks.sort_by_key(|t| std::cmp::Reverse(t.seq));
        tasks.truncate(limit.clamp(1, 1000));
        Ok(tasks)
    }

    pub fn stop_task(&mut self, project: ProjectId, task: TaskId, mode: StopMode) -> Result<(), SimError> {
        self.advance();
        let i = self.index(project, task)?;
        let now = self.clock.now();
        let t = &mut self.tasks[i];
        match (&t.status, mode) {
            (TaskStatus::Stopped, _) => return Ok(()),
            // Stopping a finished task rewrites it, even a success: the real server does this, and
            // a graceful stop also clears its end time (seen in `finished.json`).
            (TaskStatus::Success | TaskStatus::Error, mode) => {
                t.status = TaskStatus::Stopped;
                if mode == StopMode::Graceful {
                    t.end = None;
                }
                // Only the activity feed tells: no runner is left to send a websocket update.
                let description = format!("Task ID {} ({}) finished - STOPPED", t.id, t.template_name);
                let activity = Activity { task: t.id, description, created: Some(now) };
                self.rewrites.push((project, activity));
                return Ok(());
            }
            (_, StopMode::Force) => {
                // Stopped at once; `end` follows when the killed process is gone.
                t.status = TaskStatus::Stopped;
                t.phase = Phase::Ending { at: now + END_STAMP_DELAY };
            }
            (TaskStatus::Waiting | TaskStatus::Stopping, StopMode::Graceful) if t.phase == Phase::Queued => {
                // Stays in the queue as `stopping`; becomes `stopped` when its turn comes.
                t.status = TaskStatus::Stopping;
            }
            (TaskStatus::WaitingConfirmation, StopMode::Graceful) => {
                // 2.10 never ends a plan stopped gracefully at the prompt.
                t.status = TaskStatus::Stopping;
            }
            (_, StopMode::Graceful) => {
                // The killed process fails the run: it ends in `error` at the next step.
                t.status = TaskStatus::Stopping;
                let pace = self.config.step;
                t.phase = Phase::Running { lines: Vec::new(), next: 0, next_at: now + pace, then: Then::Fail, pace };
            }
        }
        self.record(i);
        self.advance();
        Ok(())
    }

    pub fn confirm_task(&mut self, project: ProjectId, task: TaskId) -> Result<(), SimError> {
        self.advance();
        let i = self.index(project, task)?;
        let t = &mut self.tasks[i];
        let Phase::AwaitingConfirmation { apply } = &t.phase else { return Err(SimError::status(400)) };
        if t.status != TaskStatus::WaitingConfirmation {
            return Err(SimError::status(400));
        }
        // Approved plans go back through the queue; the next tick runs the apply.
        let apply = apply.clone();
        t.status = TaskStatus::Confirmed;
        t.phase = Phase::Confirmed { apply };
        self.record(i);
        self.advance();
        Ok(())
    }

    /// Status changes and output lines in order, for a websocket to relay from `from` on.
    pub fn events_since(&mut self, from: usize) -> &[Event] {
        self.advance();
        self.events.get(from..).unwrap_or_default()
    }

    /// The activity feed of a project, newest first, at most 200 entries: what Semaphore writes
    /// when a task is queued, starts and finishes.
    pub fn activity(&mut self, project: ProjectId) -> Result<Vec<Activity>, SimError> {
        self.project_exists(project)?;
        let updates = self.updates_since(0);
        let mut feed = Vec::new();
        let mut said: std::collections::HashSet<(TaskId, &'static str, String)> = std::collections::HashSet::new();
        for u in updates.iter().filter(|u| u.project == project) {
            let name = self.tasks.iter().find(|t| t.id == u.task).map(|t| t.template_name.clone()).unwrap_or_default();
            let (kind, description, at) = match &u.status {
                TaskStatus::Waiting => ("queued", format!("Task ID {} queued for running", u.task), None),
                TaskStatus::Running => ("running", format!("Task ID {} ({name}) is running", u.task), u.start),
                s if s.is_terminal() && u.end.is_some() => {
                    ("finished", format!("Task ID {} ({name}) finished - {}", u.task, s.as_str().to_uppercase()), u.end)
                }
                // A stop rewriting a finished task announces it once more.
                TaskStatus::Stopped => ("finished", format!("Task ID {} ({name}) finished - STOPPED", u.task), u.end),
                _ => continue,
            };
            if !said.insert((u.task, kind, description.clone())) {
                continue;
            }
            let created = at.or_else(|| self.tasks.iter().find(|t| t.id == u.task).map(|t| t.created));
            feed.push(Activity { task: u.task, description, created });
        }
        feed.extend(self.rewrites.iter().filter(|(p, _)| *p == project).map(|(_, a)| a.clone()));
        // Newest first; the sort is stable, so same-moment entries keep their order reversed.
        feed.reverse();
        feed.sort_by_key(|a| std::cmp::Reverse(a.created));
        feed.truncate(200);
        Ok(feed)
    }

    /// Status changes only, in order.
    pub fn updates_since(&mut self, from: usize) -> Vec<Update> {
        self.events_since(from)
            .iter()
            .filter_map(|e| match e {
                Event::Update(u) => Some(u.clone()),
                Event::Log(_) => None,
            })
            .collect()
    }

    fn log(&mut self, i: usize, at: DateTime<Utc>, output: String) {
        let t = &mut self.tasks[i];
        t.output.push((at, output.clone()));
        let line = LogLine { task: t.id, project: t.project, time: at, output };
        self.events.push(Event::Log(line));
    }

    /// The real server alerts synchronously and says so in the task's log, before the status
    /// change is announced.
    fn alert_lines(&mut self, i: usize, at: DateTime<Utc>) {
        if !crate::alerts::alerts_for(&self.tasks[i].status) {
            return;
        }
        let names: Vec<&'static str> = self.config.alerts.iter().map(|a| a.kind.log_name()).collect();
        for name in names {
            self.log(i, at, format!("Attempting to send {name} alert"));
            self.log(i, at, format!("Sent successfully {name} alert"));
        }
    }

    fn record(&mut self, i: usize) {
        let t = &self.tasks[i];
        self.events.push(Event::Update(Update {
            task: t.id,
            project: t.project,
            template: t.template,
            status: t.status.clone(),
            start: t.start,
            end: t.end,
        }));
    }

    /// Catches up with the clock: serves the queue and prints due output lines, in time order.
    pub fn advance(&mut self) {
        let now = self.clock.now();
        // Each pass handles the earliest due event; bounded so a bug can never spin forever.
        for _ in 0..1_000_000 {
            let next_line = self
                .tasks
                .iter()
                .enumerate()
                .filter_map(|(i, t)| match &t.phase {
                    Phase::Running { next_at: at, .. } | Phase::Ending { at } if *at <= now => Some((*at, i)),
                    _ => None,
                })
                .min();
            let next_tick = self.next_tick_due(now);
            match (next_line, next_tick) {
                (Some((at, i)), Some(tick)) if at <= tick => self.step_task(i, at),
                (Some((at, i)), None) => self.step_task(i, at),
                (_, Some(tick)) => self.serve_queue(tick),
                (None, None) => break,
            }
        }
        self.processed_until = self.processed_until.max(now);
    }

    /// When the ticker next serves a task, if a queued task could go and that time has come.
    fn next_tick_due(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.eligible_queued()?;
        let tick = self.config.queue_tick;
        let at = match tick.num_microseconds().filter(|t| *t > 0) {
            None => self.processed_until,
            Some(tick_us) => {
                // The first tick at or after the present of the simulation, later than the last one.
                let since = (self.processed_until - self.epoch).num_microseconds().unwrap_or(i64::MAX);
                let k = since.div_euclid(tick_us) + i64::from(since.rem_euclid(tick_us) != 0);
                let mut at = self.epoch + Duration::microseconds(k.saturating_mul(tick_us));
                if at <= self.last_tick {
                    at = self.last_tick + tick;
                }
                at
            }
        };
        (at <= now).then_some(at)
    }

    /// The oldest queued task whose template is not busy.
    fn eligible_queued(&self) -> Option<usize> {
        self.tasks
            .iter()
            .enumerate()
            .filter(|(_, t)| matches!(t.phase, Phase::Queued | Phase::Confirmed { .. }))
            .filter(|(_, t)| {
                !self.tasks.iter().any(|o| {
                    o.id != t.id
                        && o.template == t.template
                        && matches!(
                            o.phase,
                            Phase::Running { .. } | Phase::AwaitingConfirmation { .. } | Phase::Confirmed { .. }
                        )
                })
            })
            .min_by_key(|(_, t)| t.seq)
            .map(|(i, _)| i)
    }

    fn serve_queue(&mut self, at: DateTime<Utc>) {
        self.last_tick = at;
        self.processed_until = self.processed_until.max(at);
        let Some(i) = self.eligible_queued() else { return };
        if self.tasks[i].status == TaskStatus::Stopping {
            let t = &mut self.tasks[i];
            t.status = TaskStatus::Stopped;
            t.end = Some(at);
            t.phase = Phase::Done;
            self.record(i);
            return;
        }
        let pace = self.pace_of(self.tasks[i].template);
        if let Phase::Confirmed { apply } = &self.tasks[i].phase {
            let apply = apply.clone();
            let t = &mut self.tasks[i];
            t.status = TaskStatus::Running;
            t.start = Some(at);
            t.phase = Phase::Running { lines: apply, next: 0, next_at: at + pace, then: Then::Succeed, pace };
            self.record(i);
            return;
        }
        let script = self.templates.iter().find(|t| t.template.id == self.tasks[i].template).map(|t| t.script.clone());
        let t = &mut self.tasks[i];
        t.status = TaskStatus::Starting;
        self.record(i);
        let t = &mut self.tasks[i];
        t.status = TaskStatus::Running;
        t.start = Some(at);
        let (id, name) = (t.id, t.template_name.clone());
        let (lines, then) = match script {
            Some(script) => script.lines_for(&t.environment, &t.arguments),
            None => (Vec::new(), Then::Succeed),
        };
        t.phase = Phase::Running { lines, next: 0, next_at: at + pace, then, pace };
        self.log(i, at, format!("Started: {id}"));
        self.log(i, at, format!("Run TaskRunner with template: {name}\n"));
        self.record(i);
        self.log(i, at, format!("Preparing: {id}"));
    }

    fn step_task(&mut self, i: usize, at: DateTime<Utc>) {
        self.processed_until = self.processed_until.max(at);
        if let Phase::Ending { .. } = self.tasks[i].phase {
            let t = &mut self.tasks[i];
            t.end = Some(at);
            t.phase = Phase::Done;
            // The terminal update again, now with `end`.
            self.record(i);
            return;
        }
        let t = &mut self.tasks[i];
        let Phase::Running { lines, next, next_at, then, pace } = &mut t.phase else { return };
        if let Some(line) = lines.get(*next).cloned() {
            *next += 1;
            *next_at = at + *pace;
            self.log(i, at, line);
            return;
        }
        let then = then.clone();
        match then {
            Then::Succeed | Then::Fail => {
                t.status = if then == Then::Succeed && t.status != TaskStatus::Stopping {
                    TaskStatus::Success
                } else {
                    TaskStatus::Error
                };
                t.phase = Phase::Ending { at: at + END_STAMP_DELAY };
                self.alert_lines(i, at);
                self.record(i);
            }
            Then::AskConfirmation(apply) => {
                t.status = TaskStatus::WaitingConfirmation;
                t.phase = Phase::AwaitingConfirmation { apply };
                self.alert_lines(i, at);
                self.record(i);
            }
        }
    }
}

#[cfg(test)]
mod tests;
