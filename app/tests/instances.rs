#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

//! Several Semaphore instances at once, through the bot's own wiring and event loop: two
//! simulators over HTTP (2.10 mode and current mode) and a black hole (a listener that accepts
//! connections and never answers). A command waiting on the black hole must not delay anything
//! else. No test sleeps: each waits for the reply it expects, with a generous bound.

use std::sync::Arc;
use std::time::Duration;

use chatrixcd::runtime::{self, Input, Options};
use chatrixcd::wiring::{self, BotConfig};
use chatrixcd_clock::SystemClock;
use chatrixcd_domain::Settings;
use chatrixcd_ports::chat::{ChatEvent, EventId, Incoming};
use chatrixcd_ports::{Clock, InstanceId, RoomId, UserId};
use chatrixcd_semaphore::SemaphoreConfig;
use chatrixcd_sim_semaphore::http::{self, HttpConfig};
use chatrixcd_sim_semaphore::{Mode, SimConfig, SimSemaphore};
use tokio::sync::mpsc;

const TOKEN: &str = "instances-test-token-0123456789abcdef";

use crate::support::channel_chat;
use channel_chat::ChannelChat;

async fn simulator(mode: Mode) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let config = SimConfig {
        mode,
        queue_tick: chrono::Duration::milliseconds(100),
        step: chrono::Duration::milliseconds(5),
        ..SimConfig::default()
    };
    tokio::spawn(http::serve(listener, SimSemaphore::demo(config, Arc::new(SystemClock)), HttpConfig::new(TOKEN)));
    url
}

/// Accepts connections and never answers; the connections are kept open until the test ends.
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

struct World {
    inputs: mpsc::Sender<Input>,
    replies: mpsc::UnboundedReceiver<channel_chat::Sent>,
    admin: UserId,
    next: u64,
    /// Every message so far, in arrival order, and whether a `reply_in` already returned it.
    log: Vec<(RoomId, String, bool)>,
}

impl World {
    async fn start() -> Self {
        let (production, staging, hole) =
            (simulator(Mode::V2_10).await, simulator(Mode::Current).await, black_hole().await);
        let admin = UserId::parse("@alice:test").unwrap();
        let bot_user = UserId::parse("@bot:test").unwrap();
        let mut settings = Settings::new(bot_user.clone());
        settings.admins = vec![admin.clone()];
        settings.greetings = false;
        let mut hole_config = SemaphoreConfig::new(hole, TOKEN);
        // Short, so the test sees the black hole's failure soon; real ones default to 15 s.
        hole_config.request_timeout = Duration::from_secs(2);
        hole_config.read_retries = 0;
        let data = tempfile::tempdir().unwrap().keep();
        let config = BotConfig {
            settings,
            instances: vec![
                (InstanceId::parse("production").unwrap(), SemaphoreConfig::new(production, TOKEN)),
                (InstanceId::parse("staging").unwrap(), SemaphoreConfig::new(staging, TOKEN)),
                (InstanceId::parse("blackhole").unwrap(), hole_config),
            ],
            default_instance: InstanceId::parse("production").unwrap(),
            secrets: vec![TOKEN.to_owned()],
            data_dir: data,
            messages_file: None,
            aliases_file: None,
            keep_history_days: None,
            anonymise_after_days: None,
            greeting_rooms: Vec::new(),
            startup_message: None,
            shutdown_message: None,
            secrets_key_file: None,
            webhooks: None,
        };
        let (chat, replies) = ChannelChat::new();
        let chat = Arc::new(chat);
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let wired = wiring::build(config, chat, bot_user, Arc::clone(&clock)).await.unwrap();
        let (inputs, rx) = mpsc::channel(64);
        let options = Options { drain_on_close: None, finish_jobs: Duration::from_secs(1) };
        tokio::spawn(async move {
            runtime::serve(&wired.bot, &clock, rx, wired.pushes, std::future::pending(), options).await;
        });
        Self { inputs, replies, admin, next: 0, log: Vec::new() }
    }

    async fn say(&mut self, room: &str, text: &str) {
        self.next += 1;
        let meta = Incoming {
            room: RoomId::parse(room).unwrap(),
            sender: self.admin.clone(),
            sender_name: None,
            event_id: EventId(format!("$in{}", self.next)),
            timestamp: chrono::Utc::now(),
        };
        let event = ChatEvent::Message { meta, body: text.to_owned(), thread_root: None };
        self.inputs.send(Input::Event(event)).await.unwrap();
    }

    /// The first message not returned yet in `room` that contains `wanted`, with every message
    /// (of any room) that arrived before it.
    async fn reply_in(&mut self, room: &str, wanted: &str) -> (String, Vec<(RoomId, String)>) {
        let room = RoomId::parse(room).unwrap();
        let matches = |(r, body, taken): &(RoomId, String, bool)| !taken && *r == room && body.contains(wanted);
        let give_up = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(at) = self.log.iter().position(matches) {
                self.log[at].2 = true;
                let before = self.log[..at].iter().map(|(r, b, _)| (r.clone(), b.clone())).collect();
                return (self.log[at].1.clone(), before);
            }
            match tokio::time::timeout_at(give_up, self.replies.recv()).await {
                Ok(Some((r, body, _))) => self.log.push((r, body, false)),
                Ok(None) => panic!("the bot stopped"),
                Err(_) => panic!("no reply with {wanted:?} in {room}; saw {:?}", self.log),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_black_holed_instance_delays_no_other_room_and_no_other_instance() {
    let mut w = World::start().await;
    w.say("!a:test", "!cd projects blackhole").await;
    w.say("!b:test", "!cd help").await;
    w.say("!c:test", "!cd projects staging").await;
    w.say("!a:test", "!cd help").await;
    let (_, before) = w.reply_in("!b:test", "Here is what I can do").await;
    assert!(before.iter().all(|(_, b)| !b.contains("blackhole")), "help waited for the black hole: {before:?}");
    let (projects, before) = w.reply_in("!c:test", "[staging] Projects").await;
    assert!(projects.contains("ops"), "{projects}");
    assert!(before.iter().all(|(_, b)| !b.contains("blackhole")), "staging waited for the black hole: {before:?}");
    let (_, before) = w.reply_in("!a:test", "Here is what I can do").await;
    assert!(
        before.iter().all(|(_, b)| !b.contains("blackhole")),
        "help in the black hole's own room waited for it: {before:?}"
    );
    let (failed, _) = w.reply_in("!a:test", "[blackhole]").await;
    assert!(failed.contains("did not answer in time"), "{failed}");
    assert!(failed.contains("Only blackhole is affected"), "{failed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_use_and_qualified_runs_across_two_simulators() {
    let mut w = World::start().await;
    w.say("!a:test", "!cd instances").await;
    let (listing, _) = w.reply_in("!a:test", "Semaphore instances").await;
    assert!(listing.contains("▶ production (default)"), "{listing}");
    assert!(listing.contains("staging") && listing.contains("✅ reachable"), "{listing}");
    assert!(listing.contains("blackhole") && listing.contains("unreachable"), "{listing}");
    w.say("!a:test", "!cd use staging").await;
    w.reply_in("!a:test", "now uses staging").await;
    // Current mode counts task ids up from 1, 2.10 down from 2147483646.
    w.say("!a:test", "!cd run ops deploy-web --yes").await;
    w.reply_in("!a:test", "[staging] deploy-web · task #1 ·").await;
    w.say("!a:test", "!cd run production:ops:deploy-web --yes").await;
    w.reply_in("!a:test", "[production] deploy-web · task #2147483646 ·").await;
    let (done, _) = w.reply_in("!a:test", "[staging] deploy-web (task #1) finished successfully").await;
    assert!(done.contains("logs staging:1"), "the hint is qualified: {done}");
    w.reply_in("!a:test", "[production] deploy-web (task #2147483646) finished successfully").await;
    w.say("!a:test", "!cd status production:2147483646").await;
    w.reply_in("!a:test", "[production] Task #2147483646 ✅ success").await;
    w.say("!a:test", "!cd run prodution:1:1").await;
    w.reply_in("!a:test", "Did you mean `production`?").await;
}
