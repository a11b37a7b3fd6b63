//! The simulated server behind the `SemaphorePort`, in-process.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use chatrixcd_ports::semaphore::{
    ActivityEvent, Environment, Inventory, Project, SemaphoreError, SemaphorePort, ServerInfo, ServerSchedule,
    StartTask, StopMode, Task, TaskLog, Template,
};
use chatrixcd_ports::{Clock, ProjectId, TaskId, TemplateId};

use crate::model::{Mode, SimConfig, SimError, SimModel, SimTask};

/// The simulated Semaphore as a port. Clones share one model.
#[derive(Clone)]
pub struct SimSemaphore {
    model: Arc<Mutex<SimModel>>,
    fail_next: Arc<Mutex<Option<SemaphoreError>>>,
}

impl std::fmt::Debug for SimSemaphore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimSemaphore").finish_non_exhaustive()
    }
}

impl SimSemaphore {
    pub fn new(model: SimModel) -> Self {
        Self { model: Arc::new(Mutex::new(model)), fail_next: Arc::new(Mutex::new(None)) }
    }

    /// The demo server (see [`SimModel::demo`]).
    pub fn demo(config: SimConfig, clock: Arc<dyn Clock>) -> Self {
        Self::new(SimModel::demo(config, clock))
    }

    /// Direct access to the model, e.g. to add templates in a test.
    pub fn model(&self) -> MutexGuard<'_, SimModel> {
        // Model methods never panic half-way, so a poisoned lock still holds a consistent model.
        self.model.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes the next call fail with `error` (to test how the bot reports failures).
    pub fn fail_next(&self, error: SemaphoreError) {
        *self.fail_next.lock().unwrap_or_else(PoisonError::into_inner) = Some(error);
    }

    fn injected(&self) -> Result<(), SemaphoreError> {
        match self.fail_next.lock().unwrap_or_else(PoisonError::into_inner).take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// The error a real HTTP client would report for the simulated answer.
fn port_error(e: SimError, what: String) -> SemaphoreError {
    match e.status {
        401 => SemaphoreError::Unauthorised,
        403 => SemaphoreError::Forbidden(e.message),
        // Task routes answer 400 for a task that is not in the project.
        400 | 404 if e.message.is_none() => SemaphoreError::NotFound(what),
        400 | 409 => SemaphoreError::Rejected(e.message.unwrap_or_else(|| format!("{what}: 400 Bad Request"))),
        404 => SemaphoreError::NotFound(what),
        status => SemaphoreError::Server { status, message: e.message },
    }
}

fn to_task(t: SimTask) -> Task {
    Task {
        id: t.id,
        project_id: t.project,
        template_id: t.template,
        status: t.status,
        created: Some(t.created),
        start: t.start,
        end: t.end,
        message: Some(t.message).filter(|m| !m.is_empty()),
        template_name: Some(t.template_name),
        user_name: t.user_name,
    }
}

#[async_trait]
impl SemaphorePort for SimSemaphore {
    async fn ping(&self) -> Result<(), SemaphoreError> {
        self.injected()
    }

    async fn info(&self) -> Result<ServerInfo, SemaphoreError> {
        self.injected()?;
        let version = match self.model().config().mode {
            Mode::V2_10 => "2.10.32-simulated",
            Mode::Current => "2.16.14-simulated",
        };
        Ok(ServerInfo { version: version.to_owned(), extra: Default::default() })
    }

    async fn projects(&self) -> Result<Vec<Project>, SemaphoreError> {
        self.injected()?;
        Ok(self.model().projects())
    }

    async fn templates(&self, project: ProjectId) -> Result<Vec<Template>, SemaphoreError> {
        self.injected()?;
        self.model().templates(project).map_err(|e| port_error(e, format!("project {project}")))
    }

    async fn environments(&self, project: ProjectId) -> Result<Vec<Environment>, SemaphoreError> {
        self.injected()?;
        self.model().templates(project).map_err(|e| port_error(e, format!("project {project}")))?;
        // Every project gets an `Empty` environment when it is created.
        Ok(vec![Environment { id: 1, name: "Empty".into() }])
    }

    async fn inventories(&self, project: ProjectId) -> Result<Vec<Inventory>, SemaphoreError> {
        self.injected()?;
        self.model().templates(project).map_err(|e| port_error(e, format!("project {project}")))?;
        Ok(vec![Inventory { id: 1, name: "localhost".into(), kind: "static".into() }])
    }

    async fn schedules(&self, project: ProjectId) -> Result<Vec<ServerSchedule>, SemaphoreError> {
        self.injected()?;
        let list = self.model().schedules(project).map_err(|e| port_error(e, format!("project {project}")))?;
        Ok(list
            .iter()
            .map(|s| ServerSchedule {
                id: s["id"].as_u64().unwrap_or_default(),
                template_id: TemplateId::new(s["template_id"].as_u64().unwrap_or_default()),
                template_name: s["tpl_name"].as_str().filter(|n| !n.is_empty()).map(str::to_owned),
                cron: s["cron_format"].as_str().unwrap_or_default().to_owned(),
                name: s["name"].as_str().unwrap_or_default().to_owned(),
                active: s["active"].as_bool().unwrap_or(true),
                repository_id: s["repository_id"].as_u64(),
                run_at: None,
            })
            .collect())
    }

    async fn recent_events(&self, project: ProjectId) -> Result<Vec<ActivityEvent>, SemaphoreError> {
        self.injected()?;
        let feed = self.model().activity(project).map_err(|e| port_error(e, format!("project {project}")))?;
        Ok(feed
            .into_iter()
            .map(|a| ActivityEvent {
                project: Some(project),
                object_type: "task".into(),
                object_id: Some(a.task.get()),
                description: a.description,
                created: a.created,
                user_name: Some("admin".into()),
            })
            .collect())
    }

    async fn task_log_text(&self, project: ProjectId, task: TaskId) -> Result<String, SemaphoreError> {
        let log = self.task_output(project, task).await?;
        Ok(log.to_text())
    }

    async fn start_task(&self, project: ProjectId, request: StartTask) -> Result<Task, SemaphoreError> {
        self.injected()?;
        let mut arguments = request.arguments.clone();
        if self.model().config().mode == Mode::V2_10 {
            // As the HTTP client does on 2.10: tags travel as arguments.
            if !request.tags.is_empty() {
                arguments.push(format!("--tags={}", request.tags.join(",")));
            }
            if !request.skip_tags.is_empty() {
                arguments.push(format!("--skip-tags={}", request.skip_tags.join(",")));
            }
        }
        let what = format!("template {} of project {project}", request.template_id);
        self.model()
            .start_task(project, request.template_id, request.environment, arguments, request.message)
            .map(to_task)
            .map_err(|e| port_error(e, what))
    }

    async fn task(&self, project: ProjectId, task: TaskId) -> Result<Task, SemaphoreError> {
        self.injected()?;
        self.model()
            .task(project, task)
            .map(to_task)
            .map_err(|e| port_error(e, format!("task #{task} in project {project}")))
    }

    async fn recent_tasks(&self, project: ProjectId, limit: u16) -> Result<Vec<Task>, SemaphoreError> {
        self.injected()?;
        // As over HTTP: `tasks/last` up to 200, the task list (the newest 1000) beyond.
        self.model()
            .recent_tasks(project, usize::from(limit.clamp(1, 1000)))
            .map(|tasks| tasks.into_iter().map(to_task).collect())
            .map_err(|e| port_error(e, format!("project {project}")))
    }

    async fn task_output(&self, project: ProjectId, task: TaskId) -> Result<TaskLog, SemaphoreError> {
        self.injected()?;
        let t = self
            .model()
            .task(project, task)
            .map_err(|e| port_error(e, format!("task #{task} in project {project}")))?;
        TaskLog::from_entries(t.output.iter().map(|(_, text)| text))
            .map_err(|e| SemaphoreError::Malformed(format!("task #{task} in project {project}: {e}")))
    }

    async fn stop_task(&self, project: ProjectId, task: TaskId, mode: StopMode) -> Result<(), SemaphoreError> {
        self.injected()?;
        self.model()
            .stop_task(project, task, mode)
            .map_err(|e| port_error(e, format!("task #{task} in project {project}")))
    }

    async fn confirm_task(&self, project: ProjectId, task: TaskId) -> Result<(), SemaphoreError> {
        self.injected()?;
        self.model().confirm_task(project, task).map_err(|e| match e.status {
            400 => SemaphoreError::Rejected(format!("task #{task} is not waiting for confirmation")),
            _ => port_error(e, format!("task #{task} in project {project}")),
        })
    }

    fn task_url(&self, project: ProjectId, template: TemplateId, task: TaskId) -> Option<String> {
        let host = self.model().config().web_host.clone()?;
        Some(format!("{}/project/{project}/templates/{template}?t={task}", host.trim_end_matches('/')))
    }
}
