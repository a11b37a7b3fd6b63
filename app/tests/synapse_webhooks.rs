#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

//! The webhook endpoint over a real Synapse: the bot as a process started from a config.json with
//! a `webhooks` section, a simulated 2.10 Semaphore with no websocket that sends Slack-format
//! alerts to it, and a Gitea hook whose pushes post to Alice's encrypted room. A run ends in
//! chat by its alert; a signed push is posted and an unsigned one refused; a room that follows
//! `production:ops` is told of a failure started in Semaphore itself; `/readyz` and `/metrics`
//! answer on loopback.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::support::{Person, Setup, stop_bot};
use chatrixcd_clock::SystemClock;
use chatrixcd_sim_semaphore::alerts::{AlertKind, AlertTarget};
use chatrixcd_sim_semaphore::http::{self, HttpConfig};
use chatrixcd_sim_semaphore::{SimConfig, SimSemaphore};

const ALERT_SECRET: &str = "c0ffee00c0ffee00c0ffee00c0ffee00";
const GITEA_SECRET: &str = "feedbeeffeedbeeffeedbeeffeedbeef";
const TOKEN: &str = "alerting-token";

async fn within<T>(what: &str, step: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(90), step).await.unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

async fn reply(person: &mut Person, needle: &str) -> String {
    within(needle, person.message_containing(needle)).await
}

fn config(setup: &Setup, semaphore: &str, hook_port: u16, room: &str) -> String {
    format!(
        r#"{{
            "matrix": {{ "homeserver": "{hs}", "user_id": "{bot}", "password": "botpass", "store_path": "{store}" }},
            "semaphore_instances": {{
                "production": {{ "url": "{semaphore}", "api_token": "{TOKEN}", "alert_secret": "{ALERT_SECRET}" }}
            }},
            "bot": {{ "admin_users": ["{admin}"], "greetings_enabled": false }},
            "webhooks": {{
                "listen": "127.0.0.1:{hook_port}",
                "hooks": {{
                    "gitea": {{ "secret": "{GITEA_SECRET}", "verify": "gitea", "rooms": ["{room}"], "allow": ["127.0.0.0/8"] }}
                }}
            }}
        }}"#,
        hs = setup.synapse.url,
        bot = setup.bot,
        store = setup.store().display(),
        admin = setup.alice,
    )
}

#[test]
fn alerts_hooks_and_follows_reach_an_encrypted_room_through_chatrixcd_run() {
    let setup = Setup::new();
    let hook_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let semaphore = setup.runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let sim = SimSemaphore::demo(
            SimConfig {
                queue_tick: chrono::Duration::milliseconds(200),
                step: chrono::Duration::milliseconds(10),
                alerts: vec![AlertTarget {
                    kind: AlertKind::Slack,
                    url: format!("http://127.0.0.1:{hook_port}/hooks/semaphore/production/slack/{ALERT_SECRET}"),
                }],
                ..SimConfig::default()
            },
            Arc::new(SystemClock),
        );
        tokio::spawn(http::serve(listener, sim, HttpConfig { websocket: false, ..HttpConfig::new(TOKEN) }));
        url
    });
    // The hook's room is Alice's room with the bot, which exists once the bot has joined it: a
    // first start makes it, the second runs with it in the hook's rooms.
    std::fs::write(&setup.config, config(&setup, &semaphore, hook_port, "!placeholder:localhost")).unwrap();
    let child = setup.start_bot();
    let (alice, room) =
        setup.runtime.block_on(async { within("alice's room", Box::pin(setup.alice_with_the_bot())).await });
    stop_bot(child);
    std::fs::write(&setup.config, config(&setup, &semaphore, hook_port, room.room_id().as_str())).unwrap();
    let child = setup.start_bot();
    let endpoint = format!("http://127.0.0.1:{hook_port}");
    // Alice is moved into the last block and dropped there: her client needs the runtime to
    // shut down.
    setup.runtime.block_on(async move {
        let mut alice = alice;
        let client = reqwest::Client::new();

        // A run ends in chat: with no websocket, the alert (or the 5 s poll) tells the bot.
        alice.say(&room, "!cd run ops deploy-web --yes").await;
        reply(&mut alice, "deploy-web · task #").await;
        reply(&mut alice, "finished successfully").await;

        // A signed Gitea push is posted; an unsigned one is refused and posts nothing.
        let push = r#"{"ref":"refs/heads/main","pusher":{"login":"dana"},"repository":{"full_name":"ops/site"},"commits":[{"message":"Fix the login page"}]}"#;
        let send = |signature: Option<String>| {
            let mut request = client.post(format!("{endpoint}/hooks/gitea")).header("X-Gitea-Event", "push").body(push);
            if let Some(signature) = signature {
                request = request.header("X-Gitea-Signature", signature);
            }
            async move { request.send().await.unwrap().status().as_u16() }
        };
        assert_eq!(send(None).await, 401);
        let signature = chatrixcd_webhook::verify::sign(GITEA_SECRET.as_bytes(), &[push.as_bytes()]);
        assert_eq!(send(Some(signature)).await, 202);
        let posted = reply(&mut alice, "pushed").await;
        assert!(posted.starts_with("📦 dana pushed 1 commit(s) to ops/site refs/heads/main"), "{posted}");

        // The room follows production:ops; a failure started in Semaphore itself is announced.
        alice.say(&room, "!cd notify add production:ops").await;
        reply(&mut alice, "This room follows `production:ops`").await;
        let started: serde_json::Value = client
            .post(format!("{semaphore}/api/project/1/tasks"))
            .bearer_auth(TOKEN)
            .json(&serde_json::json!({ "template_id": 3 }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let task = started["id"].as_u64().unwrap();
        let failed = reply(&mut alice, &format!("task #{task} failed")).await;
        assert!(failed.contains("ops / broken-deploy") && failed.contains("in Semaphore"), "{failed}");

        // Health and counters, on loopback.
        let ready = client.get(format!("{endpoint}/readyz")).send().await.unwrap();
        assert_eq!(ready.status().as_u16(), 200);
        let ready: serde_json::Value = ready.json().await.unwrap();
        assert_eq!(ready["checks"]["semaphore:production"]["ok"], true, "{ready}");
        assert_eq!(ready["checks"]["matrix"]["ok"], true, "{ready}");
        let metrics = client.get(format!("{endpoint}/metrics")).send().await.unwrap().text().await.unwrap();
        let accepted_alerts = metrics
            .lines()
            .find(|l| l.starts_with(r#"chatrixcd_webhook_requests_total{kind="alert",outcome="accepted"}"#))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse::<f64>().ok())
            .unwrap_or(0.0);
        assert!(accepted_alerts >= 2.0, "the run's and the failure's alerts: {metrics}");
        assert!(metrics.contains(r#"chatrixcd_webhook_requests_total{kind="hook",outcome="unsigned"} 1"#), "{metrics}");
    });
    stop_bot(child);
    let log = setup.bot_log();
    for secret in [ALERT_SECRET, GITEA_SECRET, TOKEN, "botpass"] {
        assert!(!log.contains(secret), "a secret reached the log");
    }
}
