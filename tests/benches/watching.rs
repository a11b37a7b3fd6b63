//! Semaphore requests while watching many tasks: 1,000 queued tasks tracked in rooms, an hour
//! of the bot's own timers on a manual clock, every request to Semaphore counted, with the
//! websocket open, with it down, and with the watched tasks buried behind newer ones. The count
//! is what matters (a homeserver-friendly bot must also be Semaphore-friendly); the wall time per
//! poll shows the bot's own cost.
//!
//! `cargo bench -p chatrixcd-tests --bench watching`; results in docs/performance.md.
#![allow(clippy::unwrap_used, clippy::print_stdout)] // a benchmark reports on stdout and may fail loudly

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration as StdDuration, Instant};

use async_trait::async_trait;
use chatrixcd_clock::ManualClock;
use chatrixcd_domain::personality::Personality;
use chatrixcd_domain::redact::Redactor;
use chatrixcd_domain::{Bot, Deps, Settings};
use chatrixcd_ports::semaphore::{
    ActivityEvent, Environment, Inventory, Project, ServerInfo, StartTask, StopMode, Task, TaskLog, Template,
};
use chatrixcd_ports::store::TrackedTask;
use chatrixcd_ports::{
    Clock, ProjectId, RoomId, SemaphoreError, SemaphorePort, Store, TaskEvent, TaskId, TemplateId, UserId,
};
use chatrixcd_sim_semaphore::{SimConfig, SimSemaphore};
use chatrixcd_store_memory::MemoryStore;
use chrono::Duration;
use null_chat::NullChat;

#[path = "common/null_chat.rs"]
mod null_chat;

/// The simulator, with every call counted by name.
struct Counting {
    inner: SimSemaphore,
    calls: std::sync::Mutex<BTreeMap<&'static str, u64>>,
    total: AtomicU64,
}

impl Counting {
    fn count(&self, what: &'static str) {
        self.total.fetch_add(1, Ordering::Relaxed);
        *self.calls.lock().unwrap().entry(what).or_default() += 1;
    }
    fn reset(&self) -> BTreeMap<&'static str, u64> {
        self.total.store(0, Ordering::Relaxed);
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
}

#[async_trait]
impl SemaphorePort for Counting {
    async fn ping(&self) -> Result<(), SemaphoreError> {
        self.count("ping");
        self.inner.ping().await
    }
    async fn info(&self) -> Result<ServerInfo, SemaphoreError> {
        self.count("info");
        self.inner.info().await
    }
    async fn projects(&self) -> Result<Vec<Project>, SemaphoreError> {
        self.count("projects");
        self.inner.projects().await
    }
    async fn templates(&self, p: ProjectId) -> Result<Vec<Template>, SemaphoreError> {
        self.count("templates");
        self.inner.templates(p).await
    }
    async fn environments(&self, p: ProjectId) -> Result<Vec<Environment>, SemaphoreError> {
        self.count("environments");
        self.inner.environments(p).await
    }
    async fn inventories(&self, p: ProjectId) -> Result<Vec<Inventory>, SemaphoreError> {
        self.count("inventories");
        self.inner.inventories(p).await
    }
    async fn schedules(&self, p: ProjectId) -> Result<Vec<chatrixcd_ports::semaphore::ServerSchedule>, SemaphoreError> {
        self.count("schedules");
        self.inner.schedules(p).await
    }
    async fn recent_events(&self, p: ProjectId) -> Result<Vec<ActivityEvent>, SemaphoreError> {
        self.count("events");
        self.inner.recent_events(p).await
    }
    async fn start_task(&self, p: ProjectId, r: StartTask) -> Result<Task, SemaphoreError> {
        self.count("start_task");
        self.inner.start_task(p, r).await
    }
    async fn task(&self, p: ProjectId, t: TaskId) -> Result<Task, SemaphoreError> {
        self.count("task");
        self.inner.task(p, t).await
    }
    async fn recent_tasks(&self, p: ProjectId, limit: u16) -> Result<Vec<Task>, SemaphoreError> {
        self.count("tasks/last");
        self.inner.recent_tasks(p, limit).await
    }
    async fn task_output(&self, p: ProjectId, t: TaskId) -> Result<TaskLog, SemaphoreError> {
        self.count("output");
        self.inner.task_output(p, t).await
    }
    async fn task_log_text(&self, p: ProjectId, t: TaskId) -> Result<String, SemaphoreError> {
        self.count("raw_output");
        self.inner.task_log_text(p, t).await
    }
    async fn stop_task(&self, p: ProjectId, t: TaskId, mode: StopMode) -> Result<(), SemaphoreError> {
        self.count("stop");
        self.inner.stop_task(p, t, mode).await
    }
    async fn confirm_task(&self, p: ProjectId, t: TaskId) -> Result<(), SemaphoreError> {
        self.count("confirm");
        self.inner.confirm_task(p, t).await
    }
    fn task_url(&self, p: ProjectId, tpl: TemplateId, t: TaskId) -> Option<String> {
        self.inner.task_url(p, tpl, t)
    }
}

const TASKS: usize = 1_000;
const ROOMS: usize = 20;
const MINUTES: i64 = 60;

/// One way the bot may find itself watching.
struct Scenario {
    name: &'static str,
    /// Whether Semaphore's websocket is open (then polling is only the safety net).
    push_open: bool,
    /// Tasks started after the watched ones, per project and not watched: a long queue that
    /// pushes the watched tasks out of Semaphore's newest-first listings.
    newer_per_project: usize,
}

fn main() {
    let scenarios = [
        Scenario { name: "websocket open", push_open: true, newer_per_project: 0 },
        Scenario { name: "websocket down", push_open: false, newer_per_project: 0 },
        Scenario { name: "websocket open, 1,500 newer tasks per project", push_open: true, newer_per_project: 1_500 },
        Scenario { name: "websocket down, 1,500 newer tasks per project", push_open: false, newer_per_project: 1_500 },
    ];
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    println!("{TASKS} queued tasks watched in {ROOMS} rooms, {MINUTES} simulated minutes each");
    println!("For comparison, one request per task every 10 s (ChatrixCD's poller) is {} per minute.", TASKS * 6);
    for scenario in &scenarios {
        runtime.block_on(measure(scenario));
    }
}

async fn measure(scenario: &Scenario) {
    let clock = ManualClock::at_epoch();
    // Tasks queue for hours: they stay watched for the whole measurement.
    let config = SimConfig { queue_tick: Duration::hours(10), ..SimConfig::default() };
    let semaphore = Arc::new(Counting {
        inner: SimSemaphore::demo(config, Arc::new(clock.clone())),
        calls: std::sync::Mutex::default(),
        total: AtomicU64::new(0),
    });
    let store = Arc::new(MemoryStore::new());
    let templates: Vec<(ProjectId, Template)> = {
        let mut all = Vec::new();
        for project in semaphore.projects().await.unwrap() {
            for t in semaphore.templates(project.id).await.unwrap() {
                if t.survey_vars.iter().all(|v| !v.required) {
                    all.push((project.id, t));
                }
            }
        }
        all
    };
    let user = UserId::parse("@alice:example.org").unwrap();
    let projects: std::collections::BTreeSet<ProjectId> = templates.iter().map(|(p, _)| *p).collect();
    for n in 0..TASKS {
        let (project, template) = &templates[n % templates.len()];
        let request = StartTask { template_id: template.id, ..StartTask::default() };
        let task = semaphore.start_task(*project, request).await.unwrap();
        let room = RoomId::parse(format!("!room{}:example.org", n % ROOMS)).unwrap();
        store
            .track(TrackedTask {
                instance: Default::default(),
                project: *project,
                task: task.id,
                template: template.id,
                template_name: template.name.clone(),
                room,
                requester: user.clone(),
                status_event: Some(chatrixcd_ports::EventId(format!("$status{n}"))),
                last_status: task.status.clone(),
                started_at: clock.now(),
                stop_requested_by: None,
            })
            .await
            .unwrap();
    }
    for project in &projects {
        let template = templates.iter().find(|(p, _)| p == project).map(|(_, t)| t.id).unwrap();
        for _ in 0..scenario.newer_per_project {
            let request = StartTask { template_id: template, ..StartTask::default() };
            semaphore.start_task(*project, request).await.unwrap();
        }
    }
    let mut settings = Settings::new(UserId::parse("@bot:example.org").unwrap());
    settings.admins = vec![user];
    let interval = if scenario.push_open { settings.safety_poll_interval } else { settings.poll_interval };
    let deps = Deps {
        chat: Arc::new(NullChat::default()),
        instances: chatrixcd_domain::Instances::single("https://semaphore.test", semaphore.clone()),
        store,
        clock: Arc::new(clock.clone()),
        sealer: None,
    };
    let bot = Bot::new(deps, settings, Personality::with_seed(1), Redactor::new(Vec::<String>::new()));
    bot.resume().await;
    if scenario.push_open {
        bot.on_task_event(chatrixcd_ports::InstanceId::default(), TaskEvent::Connected).await;
    }
    semaphore.reset();

    let end = clock.now() + Duration::minutes(MINUTES);
    let mut polls = 0u32;
    let mut busy = StdDuration::ZERO;
    while let Some(at) = bot.next_deadline().filter(|at| *at <= end) {
        clock.set(at.max(clock.now()));
        let started = Instant::now();
        bot.tick().await;
        busy += started.elapsed();
        polls += 1;
    }
    let calls = semaphore.reset();
    let total: u64 = calls.values().sum();
    let still_watched = bot.tasks_in_motion().await;
    assert_eq!(still_watched, TASKS, "every task stays watched for the whole measurement");
    println!();
    println!("## {} ({} projects, poll every {} s)", scenario.name, projects.len(), interval.num_seconds());
    println!(
        "Semaphore requests: {:.1} per minute = {:.3} per task per minute; by kind: {calls:?}",
        total as f64 / MINUTES as f64,
        total as f64 / MINUTES as f64 / TASKS as f64
    );
    println!("{polls} polls; bot time per poll: {:.2?}", busy / polls.max(1));
}
