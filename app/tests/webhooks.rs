#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

//! Semaphore's alerts as pushes, through the bot's own wiring and event loop: a simulated 2.10
//! Semaphore over HTTP whose websocket is off (as behind a proxy that drops it) posts its Slack
//! alerts to the bot's webhook endpoint. Polling is slowed to once an hour, so only the alert
//! can tell the bot that the run ended. Loopback only; every wait is bounded.

use std::sync::Arc;
use std::time::Duration;

use chatrixcd::runtime::{self, Input, Options};
use chatrixcd::wiring::{self, BotConfig};
use chatrixcd_clock::SystemClock;
use chatrixcd_domain::Settings;
use chatrixcd_ports::chat::{ChatEvent, EventId, Incoming};
use chatrixcd_ports::{Clock, InstanceId, RoomId, UserId};
use chatrixcd_semaphore::SemaphoreConfig;
use chatrixcd_sim_semaphore::alerts::{AlertKind, AlertTarget};
use chatrixcd_sim_semaphore::http::{self, HttpConfig};
use chatrixcd_sim_semaphore::{Mode, SimConfig, SimSemaphore};
use chatrixcd_webhook::{Cidr, HookConfig, Verify, WebhookConfig};
use tokio::sync::mpsc;

use crate::support::semaphore_tasks;

use crate::support::channel_chat;
use channel_chat::ChannelChat;

const TOKEN: &str = "webhooks-test-token-0123456789abcdef";
const ALERT_SECRET: &str = "3f1c0a9e5b7d24681357924680abcdef";
const GITEA_SECRET: &str = "9d8c7b6a5f4e3d2c1b0a99887766554433221100";

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slack_alert_ends_a_run_in_chat_without_polling_or_websocket() {
    let hook_port = free_port();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let semaphore = format!("http://{}", listener.local_addr().unwrap());
    let sim = SimSemaphore::demo(
        SimConfig {
            mode: Mode::V2_10,
            queue_tick: chrono::Duration::milliseconds(100),
            step: chrono::Duration::milliseconds(5),
            web_host: Some(semaphore.clone()),
            alerts: vec![AlertTarget {
                kind: AlertKind::Slack,
                url: format!("http://127.0.0.1:{hook_port}/hooks/semaphore/production/slack/{ALERT_SECRET}"),
            }],
        },
        Arc::new(SystemClock),
    );
    let http_config = HttpConfig { websocket: false, ..HttpConfig::new(TOKEN) };
    tokio::spawn(http::serve(listener, sim, http_config));

    let admin = UserId::parse("@alice:test").unwrap();
    let bot_user = UserId::parse("@bot:test").unwrap();
    let mut settings = Settings::new(bot_user.clone());
    settings.admins = vec![admin.clone()];
    settings.greetings = false;
    settings.poll_interval = chrono::Duration::hours(1);
    settings.safety_poll_interval = chrono::Duration::hours(1);
    // The hook's runs start without a question (a person would confirm under `confirm`).
    settings.default_policy = chatrixcd_domain::ConfirmPolicy::None;
    let principal = UserId::parse("@hook-gitea:webhooks.invalid").unwrap();
    settings.grants = vec![chatrixcd_domain::permissions::Grant::new(
        principal.clone(),
        "operator",
        Some(chatrixcd_domain::permissions::Scope::parse("production:ops:deploy-*").unwrap()),
    )];
    let production = InstanceId::parse("production").unwrap();
    let mut webhooks = WebhookConfig::new(format!("127.0.0.1:{hook_port}").parse().unwrap(), Arc::new(SystemClock));
    webhooks.alert_secrets = vec![(production, ALERT_SECRET.to_owned())];
    webhooks.hooks = vec![HookConfig {
        name: "gitea".into(),
        secret: GITEA_SECRET.into(),
        verify: Verify::Gitea,
        rooms: vec![RoomId::parse("!dev:test").unwrap()],
        template: None,
        allow: vec![Cidr::parse("127.0.0.0/8").unwrap()],
        run: Some(chatrixcd_webhook::RunConfig {
            principal,
            target: "production:ops:deploy-web".into(),
            vars: Vec::new(),
            when: Some(r#"event == "push" and body.ref == "refs/heads/main""#.into()),
        }),
    }];
    let config = BotConfig {
        settings,
        instances: vec![(production, SemaphoreConfig::new(semaphore.clone(), TOKEN))],
        default_instance: production,
        secrets: vec![TOKEN.to_owned(), ALERT_SECRET.to_owned(), GITEA_SECRET.to_owned()],
        data_dir: tempfile::tempdir().unwrap().keep(),
        messages_file: None,
        aliases_file: None,
        keep_history_days: None,
        anonymise_after_days: None,
        greeting_rooms: Vec::new(),
        startup_message: None,
        shutdown_message: None,
        secrets_key_file: None,
        webhooks: Some(webhooks),
    };
    let (chat, mut replies) = ChannelChat::new();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let wired = wiring::build(config, Arc::new(chat), bot_user, Arc::clone(&clock)).await.unwrap();
    assert_eq!(wired.webhook_address.map(|a| a.port()), Some(hook_port));
    let (inputs, rx) = mpsc::channel(64);
    tokio::spawn(wiring::forward_deliveries(wired.deliveries.unwrap(), inputs.clone()));
    let options = Options { drain_on_close: None, finish_jobs: Duration::from_secs(1) };
    tokio::spawn(async move {
        runtime::serve(&wired.bot, &clock, rx, wired.pushes, std::future::pending(), options).await;
    });

    let meta = Incoming {
        room: RoomId::parse("!ops:test").unwrap(),
        sender: admin,
        sender_name: None,
        event_id: EventId("$run".into()),
        timestamp: chrono::Utc::now(),
    };
    let body = "!cd run ops deploy-web --yes".to_owned();
    inputs.send(Input::Event(ChatEvent::Message { meta, body, thread_root: None })).await.unwrap();
    let started = tokio::time::Instant::now();
    let give_up = started + Duration::from_secs(30);
    let mut seen = Vec::new();
    let (done, arrived) = loop {
        match tokio::time::timeout_at(give_up, replies.recv()).await {
            Ok(Some((_, body, _))) if body.contains("finished successfully") => break (body, chrono::Utc::now()),
            Ok(Some((_, body, _))) => seen.push(body),
            Ok(None) => panic!("the bot stopped"),
            Err(_) => panic!("the run's end never reached chat; saw {seen:?}"),
        }
    };
    // With polling at once an hour only the alert can have told the bot; the end reached chat
    // within a second of the task's end in Semaphore.
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
    let task: u64 =
        done.split("(task #").nth(1).and_then(|t| t.split(')').next()).and_then(|t| t.parse().ok()).unwrap();
    // A 2.10 server sets `end` a moment after the status (the first terminal update has none).
    let mut ended = None;
    for _ in 0..100 {
        let read = semaphore_tasks::get_json(&semaphore, TOKEN, &format!("/api/project/1/tasks/{task}")).await;
        if let Some(end) = read["end"].as_str() {
            ended = Some(end.parse::<chrono::DateTime<chrono::Utc>>().unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ended = ended.expect("the task's end time");
    let lag = arrived - ended;
    assert!(lag < chrono::Duration::seconds(1), "the end reached chat {lag} after the task ended");

    // A Gitea push, signed, reaches its room; unsigned or forged, it is refused and posts nothing.
    let push = r#"{"ref":"refs/heads/main","pusher":{"login":"dana"},"repository":{"full_name":"ops/site"},"commits":[{"message":"Fix the login page"}]}"#;
    let url = format!("http://127.0.0.1:{hook_port}/hooks/gitea");
    let client = reqwest::Client::new();
    let send = |signature: Option<String>| {
        let mut request = client.post(&url).header("X-Gitea-Event", "push").body(push);
        if let Some(signature) = signature {
            request = request.header("X-Gitea-Signature", signature);
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(send(None).await, 401);
    assert_eq!(send(Some("00".repeat(32))).await, 401);
    let good = chatrixcd_webhook::verify::sign(GITEA_SECRET.as_bytes(), &[push.as_bytes()]);
    assert_eq!(send(Some(good)).await, 202);
    let give_up = tokio::time::Instant::now() + Duration::from_secs(30);
    let (room, text) = loop {
        match tokio::time::timeout_at(give_up, replies.recv()).await {
            Ok(Some((room, body, _))) if body.contains("pushed") => break (room, body),
            Ok(Some(_)) => {}
            other => panic!("the push never reached chat: {other:?}"),
        }
    };
    assert_eq!(room.as_str(), "!dev:test");
    assert!(text.starts_with("📦 dana pushed 1 commit(s) to ops/site refs/heads/main"), "{text}");
    assert!(text.contains("• Fix the login page"), "{text}");
    // The push to main starts the hook's run, as its principal, in the hook's room.
    let give_up = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout_at(give_up, replies.recv()).await {
            Ok(Some((room, body, _))) if body.contains("finished successfully") => {
                assert_eq!(room.as_str(), "!dev:test");
                assert!(body.contains("@hook-gitea:webhooks.invalid"), "{body}");
                break;
            }
            Ok(Some((_, body, _))) => seen.push(body),
            other => panic!("the hook's run never ended in chat: {other:?}; saw {seen:?}"),
        }
    }
    assert!(seen.iter().any(|b| b.contains("started by @hook-gitea:webhooks.invalid")), "{seen:?}");

    // /metrics, read by a Prometheus text-format parser: the bot's counters moved with what it did.
    let scrape = || async {
        let text =
            client.get(format!("http://127.0.0.1:{hook_port}/metrics")).send().await.unwrap().text().await.unwrap();
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap()
    };
    let value = |scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]| -> f64 {
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => 0.0,
            })
            .sum()
    };
    let before = scrape().await;
    assert_eq!(
        value(&before, "chatrixcd_commands_total", &[("command", "run"), ("outcome", "ok")]),
        2.0,
        "the person's run and the hook's"
    );
    assert_eq!(
        value(&before, "chatrixcd_tasks_started_total", &[("instance", "production")]),
        2.0,
        "the person's and the hook's"
    );
    assert_eq!(
        value(&before, "chatrixcd_tasks_finished_total", &[("instance", "production"), ("result", "success")]),
        2.0
    );
    assert!(value(&before, "chatrixcd_messages_sent_total", &[]) >= 4.0);
    assert!(value(&before, "chatrixcd_start_time_seconds", &[]) > 1.7e9);
    assert!(before.samples.iter().any(|s| s.metric == "chatrixcd_command_duration_seconds"), "the histogram");
    assert!(value(&before, "chatrixcd_webhook_requests_total", &[]) >= 4.0, "the endpoint's own beside the bot's");
    let started = [("instance", "production"), ("method", "POST"), ("route", "/project/:id/tasks"), ("status", "201")];
    assert_eq!(
        value(&before, "chatrixcd_semaphore_requests_total", &started),
        2.0,
        "each start, with the id kept out of the route"
    );
    let task_reads = before
        .samples
        .iter()
        .filter(|s| s.metric == "chatrixcd_semaphore_requests_total" && s.labels.get("method") == Some("GET"))
        .filter(|s| s.labels.get("route").is_some_and(|r| r.starts_with("/project/:id/tasks")))
        .count();
    assert!(
        task_reads >= 1,
        "the reads of the tasks: {:?}",
        before.samples.iter().filter(|s| s.metric.contains("semaphore")).map(|s| &s.labels).collect::<Vec<_>>()
    );
    let raw = client.get(format!("http://127.0.0.1:{hook_port}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        raw.contains("chatrixcd_websocket_connected{instance=\"production\"} 0"),
        "no websocket in this test\n{raw}"
    );
    let count =
        raw.lines().find_map(|l| l.strip_prefix("chatrixcd_command_duration_seconds_count ")).unwrap().to_owned();
    let inf = raw
        .lines()
        .find_map(|l| l.strip_prefix("chatrixcd_command_duration_seconds_bucket{le=\"+Inf\"} "))
        .unwrap()
        .to_owned();
    assert_eq!(count, inf, "a histogram's +Inf bucket is its count\n{raw}");
    assert!(raw.contains("chatrixcd_watched_tasks{instance=\"production\"} 0"), "both runs ended\n{raw}");
    assert!(raw.contains("chatrixcd_chat_event_lag_seconds_count 1"), "the one message so far\n{raw}");
    let meta = Incoming {
        room: RoomId::parse("!ops:test").unwrap(),
        sender: UserId::parse("@alice:test").unwrap(),
        sender_name: None,
        event_id: EventId("$ping".into()),
        timestamp: chrono::Utc::now(),
    };
    inputs.send(Input::Event(ChatEvent::Message { meta, body: "!cd ping".into(), thread_root: None })).await.unwrap();
    let give_up = tokio::time::Instant::now() + Duration::from_secs(30);
    while !matches!(tokio::time::timeout_at(give_up, replies.recv()).await, Ok(Some((_, ref b, _))) if b.contains("Semaphore is up"))
    {
    }
    // The command is counted when its handling ends, which may be just after its reply reached
    // the chat port: scraped again until it shows, within the same bound.
    let mut after = scrape().await;
    while value(&after, "chatrixcd_commands_total", &[("command", "ping"), ("outcome", "ok")]) != 1.0
        && tokio::time::Instant::now() < give_up
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
        after = scrape().await;
    }
    assert_eq!(value(&after, "chatrixcd_commands_total", &[("command", "ping"), ("outcome", "ok")]), 1.0);

    // docs/metrics.md is generated from what /metrics says of itself.
    let text = client.get(format!("http://127.0.0.1:{hook_port}/metrics")).send().await.unwrap().text().await.unwrap();
    let reference = metrics_reference(&text);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/metrics.md");
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(path, &reference).unwrap();
    }
    let written = std::fs::read_to_string(path).unwrap_or_default();
    assert_eq!(
        written, reference,
        "docs/metrics.md is stale: run UPDATE_DOCS=1 cargo test -p chatrixcd --test integration webhooks::"
    );
    // The Grafana dashboard asks only for metrics that exist.
    let dashboard =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/grafana-dashboard.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&dashboard).unwrap();
    let names: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .map(str::to_owned)
        .collect();
    let mut asked = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            let known = names.iter().any(|n| expr.contains(n.as_str()));
            assert!(known, "the dashboard asks for something /metrics does not have: {expr}");
            asked += 1;
        }
    }
    assert!(asked >= 8, "{asked}");
}

/// The Markdown reference of every metric family /metrics shows: name, type, help.
fn metrics_reference(text: &str) -> String {
    let mut rows = Vec::new();
    let mut help = std::collections::BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, what) = rest.split_once(' ').unwrap_or((rest, ""));
            help.insert(name.to_owned(), what.to_owned());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
            let labels: std::collections::BTreeSet<String> = text
                .lines()
                .filter(|l| !l.starts_with('#') && l.starts_with(name))
                .filter_map(|l| {
                    l.split_once('{').and_then(|(_, r)| r.split_once('}')).map(|(labels, _)| labels.to_owned())
                })
                .flat_map(|labels| {
                    labels.split(',').filter_map(|kv| kv.split_once('=').map(|(k, _)| k.to_owned())).collect::<Vec<_>>()
                })
                .filter(|k| k != "le")
                .collect();
            let shown = if kind == "counter" { format!("{name}_total") } else { name.to_owned() };
            let labels =
                if labels.is_empty() { "—".to_owned() } else { labels.into_iter().collect::<Vec<_>>().join(", ") };
            rows.push(format!("| `{shown}` | {kind} | {labels} | {} |", help.get(name).cloned().unwrap_or_default()));
        }
    }
    format!(
        "# Metrics\n\n<!-- Generated from a scrape of /metrics in app/tests/webhooks.rs. Do not edit by hand: run\n     `UPDATE_DOCS=1 cargo test -p chatrixcd --test integration webhooks::` to refresh it. -->\n\n\
         `/metrics` is served by the webhook endpoint ([webhooks.md](webhooks.md)) to the addresses in\n\
         `webhooks.status_allow` (loopback by default), in the OpenMetrics text format. Labels take\n\
         values from fixed sets: command names from the grammar, outcomes, configured instances, task\n\
         results. A Grafana dashboard that reads these is in [grafana-dashboard.json](grafana-dashboard.json).\n\n\
         | Metric | Type | Labels | What |\n|---|---|---|---|\n{}\n",
        rows.join("\n")
    )
}
