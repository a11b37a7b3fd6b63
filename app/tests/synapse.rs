#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

//! The binary against a real Synapse, started by the harness (`chatrixcd_tests::synapse`), and
//! the simulated Semaphore over HTTP.

use std::process::Command;
use std::sync::Arc;

use chatrixcd_clock::SystemClock;
use chatrixcd_sim_semaphore::http::{self, HttpConfig};
use chatrixcd_sim_semaphore::{SimConfig, SimSemaphore};
use chatrixcd_tests::synapse::Synapse;

use crate::support::Setup;

#[test]
fn check_reaches_a_real_synapse_and_semaphore() {
    let synapse = Synapse::start().expect("a local Synapse (see tests/src/synapse.rs)");
    let bot = synapse.register("bot", "botpass", false).unwrap();

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let semaphore_url = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let sim = SimSemaphore::demo(SimConfig::default(), Arc::new(SystemClock));
        tokio::spawn(http::serve(listener, sim, HttpConfig::new("sim-token-for-check")));
        url
    });

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    std::fs::write(
        &config,
        format!(
            r#"{{
  // as ChatrixCD writes it
  "matrix": {{ "homeserver": "{hs}", "user_id": "{bot}", "password": "botpass", "store_path": "./store" }},
  "semaphore": {{ "url": "{semaphore_url}", "api_token": "sim-token-for-check" }},
  "bot": {{ "admin_users": ["@alice:localhost"], "command_prefix": "!cd" }}
}}"#,
            hs = synapse.url
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_chatrixcd"))
        .args(["check", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("✓ Semaphore 2.10.32"), "{text}");
    assert!(text.contains(&format!("✓ Matrix homeserver {} answers", synapse.url)), "{text}");

    // A token that is not the bot's is caught by key.
    let wrong = std::fs::read_to_string(&config).unwrap().replace("sim-token-for-check\" }", "not-the-token\" }");
    std::fs::write(&config, wrong).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_chatrixcd"))
        .args(["check", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(text.contains("✗ semaphore.api_token: the server rejected it"), "{text}");

    // Named instances: each is reached and reported under its own key.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    std::fs::write(
        &config,
        format!(
            r#"{{
  "matrix": {{ "homeserver": "{hs}", "user_id": "{bot}", "password": "botpass" }},
  "semaphore_instances": {{
    "production": {{ "url": "{semaphore_url}", "api_token": "sim-token-for-check" }},
    "down": {{ "url": "{down}", "api_token": "whatever", "timeout_secs": 2 }}
  }},
  "default_instance": "production",
  "bot": {{ "admin_users": ["@alice:localhost"] }}
}}"#,
            hs = synapse.url
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_chatrixcd"))
        .args(["check", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("Semaphore instances: production, down (default: production)"), "{text}");
    assert!(text.contains("accepts the token (instance production)"), "{text}");
    assert!(text.contains("✗ semaphore_instances.down.url:"), "{text}");
    assert!(text.contains(&format!("✓ Matrix homeserver {} answers", synapse.url)), "{text}");
}

/// A person on Matrix, through the plain client-server API (what any client does).
struct Human {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Human {
    async fn login(base: &str, user: &str, password: &str) -> Self {
        let token = crate::support::access_token(base, user, password).await;
        Self { http: reqwest::Client::new(), base: base.to_owned(), token }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<serde_json::Value>) -> serde_json::Value {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap().json().await.unwrap_or_default()
    }

    /// Creates a private room and invites `user`; returns the room id.
    async fn create_room_inviting(&self, user: &str) -> String {
        let body = serde_json::json!({"preset": "private_chat", "invite": [user]});
        let created = self.call(reqwest::Method::POST, "/_matrix/client/v3/createRoom", Some(body)).await;
        created["room_id"].as_str().unwrap().to_owned()
    }

    /// Polls (bounded) until `check` holds for the room's newest messages.
    async fn wait_for(&self, room: &str, what: &str, check: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let page = self
                .call(reqwest::Method::GET, &format!("/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=30"), None)
                .await;
            if let Some(found) = page["chunk"].as_array().into_iter().flatten().find(|e| check(e)) {
                return found.clone();
            }
            assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}: {page}");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

#[test]
fn the_bot_answers_on_a_real_synapse_and_declines_strangers() {
    let setup = Setup::new();
    setup.synapse.register("mallory", "mallorypass", false).unwrap();
    let (synapse, bot, alice) = (&setup.synapse, setup.bot.as_str(), setup.alice.as_str());
    let mut child = setup.start_bot();
    setup.runtime.block_on(async {
        let human = Human::login(&synapse.url, "alice", "alicepass").await;
        let room = human.create_room_inviting(bot).await;
        // The bot accepts an admin's invite.
        let joined = human
            .wait_for(&room, "the bot's join", |e| {
                e["type"] == "m.room.member" && e["state_key"] == bot && e["content"]["membership"] == "join"
            })
            .await;
        assert_eq!(joined["sender"], bot);
        human
            .call(
                reqwest::Method::PUT,
                &format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/ping1"),
                Some(serde_json::json!({"msgtype": "m.text", "body": "!cd ping"})),
            )
            .await;
        let pong = human
            .wait_for(&room, "the answer to ping", |e| e["sender"] == bot && e["content"]["msgtype"] == "m.notice")
            .await;
        let body = pong["content"]["body"].as_str().unwrap_or_default().to_owned();
        assert!(body.contains("Semaphore is up"), "{pong}");
        assert!(pong["content"]["formatted_body"].as_str().is_some(), "HTML with a plain fallback: {pong}");
        assert!(
            pong["content"]["m.relates_to"]["m.in_reply_to"]["event_id"].is_string(),
            "a reply to the command: {pong}"
        );

        // A run: the question, a 👍 reaction, one status message edited to success, a mention.
        human
            .call(
                reqwest::Method::PUT,
                &format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/run1"),
                Some(serde_json::json!({"msgtype": "m.text", "body": "!cd run ops deploy-web"})),
            )
            .await;
        let question = human
            .wait_for(&room, "the run question", |e| {
                e["sender"] == bot && e["content"]["body"].as_str().is_some_and(|b| b.contains("Ready to run deploy-web?"))
            })
            .await;
        let question_id = question["event_id"].as_str().unwrap().to_owned();
        human
            .call(
                reqwest::Method::PUT,
                &format!("/_matrix/client/v3/rooms/{room}/send/m.reaction/react1"),
                Some(serde_json::json!({"m.relates_to": {"rel_type": "m.annotation", "event_id": question_id, "key": "👍"}})),
            )
            .await;
        let edit = human
            .wait_for(&room, "the status message edited to success", |e| {
                e["sender"] == bot
                    && e["content"]["m.relates_to"]["rel_type"] == "m.replace"
                    && e["content"]["m.new_content"]["body"].as_str().is_some_and(|b| b.contains("deploy-web · task #2147483646 · success"))
            })
            .await;
        assert!(edit["content"]["m.new_content"]["formatted_body"].is_string(), "{edit}");
        let done = human
            .wait_for(&room, "the completion mention", |e| {
                e["sender"] == bot && e["content"]["body"].as_str().is_some_and(|b| b.contains("finished successfully"))
            })
            .await;
        assert_eq!(done["content"]["m.mentions"]["user_ids"], serde_json::json!([alice]), "{done}");
        assert_eq!(done["content"]["msgtype"], "m.text", "a completion notifies: {done}");

        // A stranger in the room is refused, and nothing runs for them.
        let mallory = Human::login(&synapse.url, "mallory", "mallorypass").await;
        human
            .call(
                reqwest::Method::POST,
                &format!("/_matrix/client/v3/rooms/{room}/invite"),
                Some(serde_json::json!({"user_id": "@mallory:localhost"})),
            )
            .await;
        mallory.call(reqwest::Method::POST, &format!("/_matrix/client/v3/rooms/{room}/join"), Some(serde_json::json!({}))).await;
        let sneaky = mallory
            .call(
                reqwest::Method::PUT,
                &format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/sneaky1"),
                Some(serde_json::json!({"msgtype": "m.text", "body": "!cd run ops broken-deploy --yes"})),
            )
            .await["event_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let refusal = human
            .wait_for(&room, "the refusal", |e| {
                e["sender"] == bot && e["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == sneaky.as_str()
            })
            .await;
        let said = refusal["content"]["body"].as_str().unwrap_or_default();
        assert!(!said.contains("broken-deploy") && !said.contains("task #"), "nothing runs for a stranger: {refusal}");

        // A stranger's invite is declined.
        let other = mallory.create_room_inviting(bot).await;
        let left = mallory
            .wait_for(&other, "the bot declining", |e| {
                e["type"] == "m.room.member" && e["state_key"] == bot && e["content"]["membership"] == "leave"
            })
            .await;
        assert_eq!(left["sender"], bot);
    });
    // SIGTERM (what systemd sends) stops the bot cleanly.
    let term = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(term.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "the bot did not stop on SIGTERM");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    let log = setup.bot_log();
    assert!(log.contains("stopped; watched tasks are picked up again at the next start"), "{log}");
    assert!(!log.contains("botpass") && !log.contains("sim-token"), "secrets in the log:\n{log}");
}
