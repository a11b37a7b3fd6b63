#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, clippy::panic)] // a benchmark reports on stdout

//! Concurrent handling, measured at the chat port through the bot's own event loop
//! (`chatrixcd::runtime::serve`), on loopback only:
//!
//! 1. 50 `projects` commands at once, from 50 rooms, on an instance that answers every request
//!    in 200 ms: the time until the last reply (target: all within 0.5 s).
//! 2. `help` while `projects` hangs on a black-holed instance (a listener that accepts and never
//!    answers): the time from `help` in to its reply out (target: under 50 ms), 20 rounds.
//!
//! `cargo bench -p chatrixcd --bench concurrency`; results in docs/performance.md.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chatrixcd::runtime::{self, Input, Options};
use chatrixcd_clock::SystemClock;
use chatrixcd_domain::personality::Personality;
use chatrixcd_domain::redact::Redactor;
use chatrixcd_domain::{Bot, Deps, Instance, Instances, Settings};
use chatrixcd_ports::chat::{ChatEvent, EventId, Incoming};
use chatrixcd_ports::semaphore::{
    ActivityEvent, Environment, Inventory, Project, SemaphoreError, SemaphorePort, ServerInfo, StartTask, StopMode,
    Task, TaskLog, Template,
};
use chatrixcd_ports::{Clock, InstanceId, ProjectId, RoomId, TaskId, TemplateId, UserId};
use chatrixcd_semaphore::{HttpSemaphore, SemaphoreConfig};
use chatrixcd_sim_semaphore::{SimConfig, SimSemaphore};
use chatrixcd_store_memory::MemoryStore;
use tokio::sync::mpsc;

#[path = "../tests/support/channel_chat.rs"]
mod channel_chat;
use channel_chat::ChannelChat;

/// The simulated Semaphore, answering every request after `delay`.
struct Slow {
    inner: SimSemaphore,
    delay: Duration,
}

#[async_trait]
impl SemaphorePort for Slow {
    async fn ping(&self) -> Result<(), SemaphoreError> {
        tokio::time::sleep(self.delay).await;
        self.inner.ping().await
    }
    async fn info(&self) -> Result<ServerInfo, SemaphoreError> {
        tokio::time::sleep(self.delay).await;
        self.inner.info().await
    }
    async fn projects(&self) -> Result<Vec<Project>, SemaphoreError> {
        tokio::time::sleep(self.delay).await;
        self.inner.projects().await
    }
    async fn templates(&self, p: ProjectId) -> Result<Vec<Template>, SemaphoreError> {
        tokio::time::sleep(self.delay).await;
        self.inner.templates(p).await
    }
    async fn environments(&self, p: ProjectId) -> Result<Vec<Environment>, SemaphoreError> {
        self.inner.environments(p).await
    }
    async fn inventories(&self, p: ProjectId) -> Result<Vec<Inventory>, SemaphoreError> {
        self.inner.inventories(p).await
    }
    async fn schedules(&self, p: ProjectId) -> Result<Vec<chatrixcd_ports::semaphore::ServerSchedule>, SemaphoreError> {
        self.inner.schedules(p).await
    }
    async fn recent_events(&self, p: ProjectId) -> Result<Vec<ActivityEvent>, SemaphoreError> {
        self.inner.recent_events(p).await
    }
    async fn start_task(&self, p: ProjectId, r: StartTask) -> Result<Task, SemaphoreError> {
        self.inner.start_task(p, r).await
    }
    async fn task(&self, p: ProjectId, t: TaskId) -> Result<Task, SemaphoreError> {
        self.inner.task(p, t).await
    }
    async fn recent_tasks(&self, p: ProjectId, limit: u16) -> Result<Vec<Task>, SemaphoreError> {
        self.inner.recent_tasks(p, limit).await
    }
    async fn task_output(&self, p: ProjectId, t: TaskId) -> Result<TaskLog, SemaphoreError> {
        self.inner.task_output(p, t).await
    }
    async fn task_log_text(&self, p: ProjectId, t: TaskId) -> Result<String, SemaphoreError> {
        self.inner.task_log_text(p, t).await
    }
    async fn stop_task(&self, p: ProjectId, t: TaskId, m: StopMode) -> Result<(), SemaphoreError> {
        self.inner.stop_task(p, t, m).await
    }
    async fn confirm_task(&self, p: ProjectId, t: TaskId) -> Result<(), SemaphoreError> {
        self.inner.confirm_task(p, t).await
    }
    fn task_url(&self, p: ProjectId, t: TemplateId, k: TaskId) -> Option<String> {
        self.inner.task_url(p, t, k)
    }
}

/// Accepts connections and never answers.
async fn black_hole() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    url
}

struct Loop {
    inputs: mpsc::Sender<Input>,
    sent: mpsc::UnboundedReceiver<(RoomId, String, Instant)>,
    admin: UserId,
    n: Mutex<u64>,
}

impl Loop {
    async fn start(instances: Instances) -> Self {
        let admin = UserId::parse("@alice:bench").unwrap();
        let mut settings = Settings::new(UserId::parse("@bot:bench").unwrap());
        settings.admins = vec![admin.clone()];
        settings.greetings = false;
        let (chat, sent) = ChannelChat::new();
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let deps = Deps {
            chat: Arc::new(chat),
            instances,
            store: Arc::new(MemoryStore::new()),
            clock: Arc::clone(&clock),
            sealer: None,
        };
        let bot = Bot::new(deps, settings, Personality::with_seed(1), Redactor::new(Vec::<String>::new()));
        let (inputs, rx) = mpsc::channel(1024);
        let (_push_tx, pushes) = mpsc::channel(1);
        tokio::spawn(async move {
            let _keep = _push_tx;
            let options = Options { drain_on_close: None, finish_jobs: Duration::from_secs(1) };
            runtime::serve(&bot, &clock, rx, pushes, std::future::pending(), options).await;
        });
        Self { inputs, sent, admin, n: Mutex::new(0) }
    }

    async fn say(&self, room: &RoomId, text: &str) -> Instant {
        let id = {
            let mut n = self.n.lock().unwrap();
            *n += 1;
            *n
        };
        let meta = Incoming {
            room: room.clone(),
            sender: self.admin.clone(),
            sender_name: None,
            event_id: EventId(format!("$in{id}")),
            timestamp: chrono::Utc::now(),
        };
        let at = Instant::now();
        self.inputs
            .send(Input::Event(ChatEvent::Message { meta, body: text.into(), thread_root: None }))
            .await
            .unwrap();
        at
    }

    async fn next_in(&mut self, room: &RoomId, wanted: &str) -> Instant {
        tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                let (r, body, at) = self.sent.recv().await.unwrap();
                if &r == room && body.contains(wanted) {
                    return at;
                }
            }
        })
        .await
        .expect("a reply within 30 s")
    }
}

fn instance(name: &str, semaphore: Arc<dyn SemaphorePort>) -> Instance {
    Instance { id: InstanceId::parse(name).unwrap(), url: format!("http://{name}"), semaphore }
}

async fn fifty_at_once() {
    let sim = SimSemaphore::demo(SimConfig::default(), Arc::new(SystemClock));
    let slow: Arc<dyn SemaphorePort> = Arc::new(Slow { inner: sim, delay: Duration::from_millis(200) });
    let instances = Instances::new(vec![instance("slow", slow)], InstanceId::parse("slow").unwrap()).unwrap();
    let mut bot = Loop::start(instances).await;
    let mut totals = Vec::new();
    for _round in 0..5 {
        let rooms: Vec<RoomId> = (0..50).map(|n| RoomId::parse(format!("!room{n}:bench")).unwrap()).collect();
        let start = Instant::now();
        for room in &rooms {
            bot.say(room, "!cd projects").await;
        }
        let mut last = start;
        for _ in &rooms {
            let (_, body, at) = tokio::time::timeout(Duration::from_secs(30), bot.sent.recv()).await.unwrap().unwrap();
            assert!(body.contains("Projects"), "{body}");
            last = last.max(at);
        }
        totals.push(last - start);
    }
    totals.sort();
    println!(
        "50 × projects at once, instance answering in 200 ms: all answered in {:.0} ms (median of 5 rounds; min {:.0}, max {:.0}); target ≤ 500 ms",
        ms(totals[2]),
        ms(totals[0]),
        ms(totals[4])
    );
}

async fn help_beside_a_black_hole() {
    let mut config = SemaphoreConfig::new(black_hole().await, "bench-token");
    config.request_timeout = Duration::from_secs(120);
    config.read_retries = 0;
    let hole: Arc<dyn SemaphorePort> = Arc::new(HttpSemaphore::new(&config).unwrap());
    let sim: Arc<dyn SemaphorePort> = Arc::new(SimSemaphore::demo(SimConfig::default(), Arc::new(SystemClock)));
    let instances = Instances::new(
        vec![instance("production", sim), instance("blackhole", hole)],
        InstanceId::parse("production").unwrap(),
    )
    .unwrap();
    let mut bot = Loop::start(instances).await;
    let stuck = RoomId::parse("!stuck:bench").unwrap();
    let other = RoomId::parse("!other:bench").unwrap();
    let mut same_room = Vec::new();
    let mut other_room = Vec::new();
    for _round in 0..20 {
        bot.say(&stuck, "!cd projects blackhole").await;
        let asked = bot.say(&other, "!cd help").await;
        other_room.push(bot.next_in(&other, "Here is what I can do").await - asked);
        let asked = bot.say(&stuck, "!cd help").await;
        same_room.push(bot.next_in(&stuck, "Here is what I can do").await - asked);
    }
    for (what, mut v) in [("another room", other_room), ("the same room", same_room)] {
        v.sort();
        println!(
            "help in {what} while projects hangs on a black-holed instance: p50 {:.2} ms, max {:.2} ms over 20; target < 50 ms",
            ms(v[10]),
            ms(v[19])
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        fifty_at_once().await;
        help_beside_a_black_hole().await;
    });
}
