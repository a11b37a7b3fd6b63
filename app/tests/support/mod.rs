//! What the Matrix tests of the binary share: a real Synapse (the harness), the simulated Semaphore
//! over HTTP, a ChatrixCD-style config.json, the bot as a child process, and people as matrix-sdk
//! clients with their own crypto stores.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stderr)] // each test uses a part

pub mod channel_chat;
pub mod semaphore_tasks;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use chatrixcd_clock::SystemClock;
use chatrixcd_sim_semaphore::http::{self, HttpConfig};
use chatrixcd_sim_semaphore::{SimConfig, SimSemaphore};
use chatrixcd_tests::synapse::Synapse;
use matrix_sdk::Client;
use matrix_sdk::config::SyncSettings;
use matrix_sdk::room::Room;
use matrix_sdk::ruma::OwnedUserId;
use matrix_sdk::ruma::api::client::room::create_room::v3::{Request as CreateRoom, RoomPreset};
use matrix_sdk::ruma::events::InitialStateEvent;
use matrix_sdk::ruma::events::room::encryption::RoomEncryptionEventContent;
use matrix_sdk::ruma::events::room::member::MembershipState;
use matrix_sdk::ruma::events::room::message::{MessageType, OriginalSyncRoomMessageEvent, RoomMessageEventContent};
use tokio::sync::mpsc;

/// A Synapse with a bot account and one admin (`alice`), a simulated Semaphore, and a config
/// file for the bot. The bot's log is printed if the test fails.
pub struct Setup {
    pub synapse: Synapse,
    pub runtime: tokio::runtime::Runtime,
    pub dir: tempfile::TempDir,
    pub bot: String,
    pub alice: String,
    pub config: PathBuf,
    pub log: PathBuf,
    semaphore_url: String,
}

impl Setup {
    pub fn new() -> Self {
        let synapse = Synapse::start().expect("a local Synapse (see tests/src/synapse.rs)");
        let bot = synapse.register("bot", "botpass", false).unwrap();
        let alice = synapse.register("alice", "alicepass", false).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let semaphore_url = runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            tokio::spawn(http::serve(
                listener,
                // Tasks finish in about a second, so runs end within a test.
                SimSemaphore::demo(
                    SimConfig {
                        queue_tick: chrono::Duration::milliseconds(200),
                        step: chrono::Duration::milliseconds(10),
                        ..SimConfig::default()
                    },
                    Arc::new(SystemClock),
                ),
                HttpConfig::new("sim-token"),
            ));
            url
        });
        let config = dir.path().join("config.json");
        let log = dir.path().join("bot.log");
        let setup = Self { synapse, runtime, dir, bot, alice, config, log, semaphore_url };
        setup.write_config(r#""password": "botpass""#);
        setup
    }

    /// Rewrites config.json with `login` (the login keys, e.g. `"password": "…"`).
    pub fn write_config(&self, login: &str) {
        let config = chatrixcd_tests::bot_config::BotConfig {
            homeserver: &self.synapse.url,
            bot: &self.bot,
            login,
            store: &self.store(),
            semaphore_url: &self.semaphore_url,
            semaphore_token: "sim-token",
            admin: &self.alice,
        };
        std::fs::write(&self.config, config.text()).unwrap();
        // It holds the bot's password: owner-only, as the bot asks of a real one.
        #[cfg(unix)]
        std::fs::set_permissions(&self.config, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    }

    /// The simulated Semaphore (2.10 mode) every test gets.
    pub fn semaphore_url(&self) -> &str {
        &self.semaphore_url
    }

    /// A second simulated Semaphore, current mode, on loopback with `token`; returns its URL.
    pub fn second_semaphore(&self, token: &str) -> String {
        let token = token.to_owned();
        self.runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            let sim = SimSemaphore::demo(
                SimConfig {
                    mode: chatrixcd_sim_semaphore::Mode::Current,
                    queue_tick: chrono::Duration::milliseconds(200),
                    step: chrono::Duration::milliseconds(10),
                    ..SimConfig::default()
                },
                Arc::new(SystemClock),
            );
            tokio::spawn(http::serve(listener, sim, HttpConfig::new(&token)));
            url
        })
    }

    /// Alice logged in on a device of her own; `device` names its store.
    pub async fn alice_on(&self, device: &str) -> Person {
        Person::login(&self.synapse.url, "alice", "alicepass", &self.dir.path().join(device), &self.bot).await
    }

    /// Alice in an encrypted room with the bot, which has answered her `!cd ping` there (so each
    /// knows the other's device).
    pub async fn alice_with_the_bot(&self) -> (Person, Room) {
        let mut alice = self.alice_on("alice").await;
        let room = alice.encrypted_room_with(&self.bot).await;
        alice.say(&room, "!cd ping").await;
        alice.message_containing("Semaphore is up").await;
        (alice, room)
    }

    pub fn store(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// Starts the bot and returns once it says it is connected to Matrix, so tests neither guess
    /// with sleeps nor blame a later step for a start that failed.
    pub fn start_bot(&self) -> Child {
        self.start_bot_with(&[])
    }

    /// `start_bot` with more arguments to `run` (e.g. `--log-format json`).
    pub fn start_bot_with(&self, extra: &[&str]) -> Child {
        const CONNECTED: &str = "connected to Matrix";
        let before = self.bot_log().matches(CONNECTED).count();
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_chatrixcd"))
            .args(["run", "--config", self.config.to_str().unwrap()])
            .args(extra)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        // A start takes seconds. The limit lets the bot's own watchdogs act first: a minute for
        // encryption set-up, then a minute per try of a stuck first sync.
        while started.elapsed() < Duration::from_secs(240) {
            if self.bot_log().matches(CONNECTED).count() > before {
                eprintln!("the bot connected to Matrix {:?} after it started", started.elapsed());
                return child;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("the bot exited before it connected to Matrix ({status})");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("the bot did not connect to Matrix within {:?}", started.elapsed());
    }

    /// Runs `chatrixcd <args> --config …` with `stdin` as its input.
    pub fn cli(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_chatrixcd"))
            .args(args)
            .args(["--config", self.config.to_str().unwrap()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        feed(&mut child, stdin);
        let output = wait_with_timeout(&mut child, Duration::from_secs(180));
        let text = format!("{}\n{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&self.log)
            .and_then(|mut f| std::io::Write::write_all(&mut f, format!("--- chatrixcd {args:?}\n{text}").as_bytes()))
            .unwrap();
        output
    }

    /// Starts `chatrixcd <args> --config …`; its log (stderr) goes to the bot log, which a failing
    /// test prints.
    pub fn spawn_cli(&self, args: &[&str], stdin: &str) -> Child {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_chatrixcd"))
            .args(args)
            .args(["--config", self.config.to_str().unwrap()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        feed(&mut child, stdin);
        child
    }

    pub fn bot_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- bot log ---\n{}", self.bot_log());
            eprintln!("--- synapse log (the end) ---\n{}", self.synapse.log_tail(40));
        }
    }
}

/// Writes the whole input and closes it, as a pipe from a file would.
fn feed(child: &mut Child, stdin: &str) {
    let mut input = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut input, stdin.as_bytes()).unwrap();
}

pub fn wait_with_timeout(child: &mut Child, limit: Duration) -> Output {
    // The pipes are drained while the child runs: a full pipe would block it forever.
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut buffer = Vec::new();
            if let Some(mut pipe) = pipe {
                std::io::Read::read_to_end(&mut pipe, &mut buffer).unwrap();
            }
            buffer
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn std::io::Read + Send>));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn std::io::Read + Send>));
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Output { status: child.wait().unwrap(), stdout: stdout.join().unwrap(), stderr: stderr.join().unwrap() }
}

/// Stops the bot as an init system would (SIGTERM), and waits for it.
pub fn stop_bot(mut child: Child) {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    for _ in 0..600 {
        if child.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
}

/// Logs `user` in with a password over the plain client-server API; returns the access token.
pub async fn access_token(homeserver: &str, user: &str, password: &str) -> String {
    let login = serde_json::json!({
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": user},
        "password": password,
    });
    let session: serde_json::Value = reqwest::Client::new()
        .post(format!("{homeserver}/_matrix/client/v3/login"))
        .json(&login)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    session["access_token"].as_str().expect("an access token").to_owned()
}

fn with_html(body: &str, formatted: Option<&matrix_sdk::ruma::events::room::message::FormattedBody>) -> String {
    match formatted {
        Some(f) => format!("{body}\n--- html ---\n{}", f.body),
        None => body.to_owned(),
    }
}

/// A person with a matrix-sdk client, syncing in the background; the bot's messages (notices,
/// and text for completion mentions; edits too, with their "* " body) arrive on `messages` with
/// whether they were encrypted.
pub struct Person {
    pub client: Client,
    pub messages: mpsc::UnboundedReceiver<(String, bool)>,
    sync: tokio::task::JoinHandle<()>,
}

impl Person {
    pub async fn login(homeserver: &str, user: &str, password: &str, store: &Path, bot: &str) -> Self {
        let client = Client::builder().homeserver_url(homeserver).sqlite_store(store, None).build().await.unwrap();
        client.matrix_auth().login_username(user, password).send().await.unwrap();
        let first = client.sync_once(SyncSettings::default()).await.unwrap();
        let (tx, messages) = mpsc::unbounded_channel();
        let from_bot: OwnedUserId = bot.try_into().unwrap();
        client.add_event_handler(
            move |ev: OriginalSyncRoomMessageEvent,
                  encryption: Option<matrix_sdk::deserialized_responses::EncryptionInfo>| {
                let tx = tx.clone();
                let from_bot = from_bot.clone();
                async move {
                    if ev.sender == from_bot {
                        // The body, then the HTML after a marker; files as "FILE: name".
                        let text = match &ev.content.msgtype {
                            MessageType::Notice(m) => Some(with_html(&m.body, m.formatted.as_ref())),
                            MessageType::Text(m) => Some(with_html(&m.body, m.formatted.as_ref())),
                            MessageType::File(f) => Some(format!("FILE: {}", f.filename())),
                            _ => None,
                        };
                        if let Some(text) = text {
                            let _ = tx.send((text, encryption.is_some()));
                        }
                    }
                }
            },
        );
        let syncing = client.clone();
        let sync = tokio::spawn(async move {
            let mut settings = SyncSettings::default().token(first.next_batch).timeout(Duration::from_secs(1));
            loop {
                match syncing.sync_once(settings.clone()).await {
                    Ok(r) => settings = settings.token(r.next_batch),
                    // The homeserver may be restarting: no busy loop meanwhile.
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        });
        Self { client, messages, sync }
    }

    /// Gives the person cross-signing keys, as Element does at first login, so she can verify
    /// other people (not only devices).
    pub async fn set_up_cross_signing(&self, password: &str) {
        use matrix_sdk::ruma::api::client::uiaa;
        let encryption = self.client.encryption();
        if let Err(e) = encryption.bootstrap_cross_signing(None).await {
            let response = e.as_uiaa_response().expect("interactive auth");
            let user = self.client.user_id().unwrap().to_string();
            let mut auth = uiaa::Password::new(
                uiaa::UserIdentifier::Matrix(uiaa::MatrixUserIdentifier::new(user)),
                password.into(),
            );
            auth.session = response.session.clone();
            encryption.bootstrap_cross_signing(Some(uiaa::AuthData::Password(auth))).await.unwrap();
        }
    }

    /// Creates an encrypted direct-message room, invites the bot and waits until it joined.
    pub async fn encrypted_room_with(&self, bot: &str) -> Room {
        self.encrypted_room(bot, true).await
    }

    /// Creates an encrypted room (a direct one or not), invites the bot and waits until it joined.
    pub async fn encrypted_room(&self, bot: &str, direct: bool) -> Room {
        self.room_with(bot, direct, true).await
    }

    /// Creates a room without encryption, invites the bot and waits until it joined.
    pub async fn plain_room(&self, bot: &str) -> Room {
        self.room_with(bot, false, false).await
    }

    async fn room_with(&self, bot: &str, direct: bool, encrypted: bool) -> Room {
        let bot_id: OwnedUserId = bot.try_into().unwrap();
        let mut request = CreateRoom::new();
        request.preset = Some(RoomPreset::PrivateChat);
        request.is_direct = direct;
        request.invite = vec![bot_id.clone()];
        if encrypted {
            request.initial_state = vec![
                InitialStateEvent::with_empty_state_key(RoomEncryptionEventContent::with_recommended_defaults())
                    .to_raw_any(),
            ];
        }
        let room = self.client.create_room(request).await.unwrap();
        // Generous (two minutes): this only bounds how long a failing test hangs.
        for _ in 0..1200 {
            if let Ok(Some(member)) = room.get_member_no_sync(&bot_id).await
                && member.membership() == &MembershipState::Join
            {
                return room;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the bot never joined the room");
    }

    pub async fn say(&self, room: &Room, text: &str) {
        room.send(RoomMessageEventContent::text_plain(text)).await.unwrap();
    }

    /// Waits for an invite to a room (the bot opening a direct room), joins it and returns it.
    pub async fn accept_next_invite(&self) -> Room {
        for _ in 0..600 {
            if let Some(invited) = self.client.invited_rooms().into_iter().next() {
                let id = invited.room_id().to_owned();
                self.client.join_room_by_id(&id).await.unwrap();
                return self.client.get_room(&id).unwrap();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no invite arrived");
    }

    /// The bot's next message (and whether it was encrypted).
    pub async fn next_message(&mut self) -> (String, bool) {
        tokio::time::timeout(Duration::from_secs(60), self.messages.recv())
            .await
            .expect("a message from the bot in time")
            .unwrap()
    }

    /// Messages until one contains `needle`; returns that one.
    pub async fn message_containing(&mut self, needle: &str) -> String {
        loop {
            let (body, _) = self.next_message().await;
            if body.contains(needle) {
                return body;
            }
        }
    }
}

impl Drop for Person {
    fn drop(&mut self) {
        self.sync.abort();
    }
}
