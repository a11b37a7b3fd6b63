#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

//! The real HTTP client against the simulated Semaphore over real HTTP on loopback. The
//! simulator's time is a manual clock: tests move it, so nothing here depends on timing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chatrixcd_clock::ManualClock;
use chatrixcd_ports::semaphore::{SemaphoreError, SemaphorePort, StartTask, StopMode, TaskEvent, TaskEvents};
use chatrixcd_ports::{ProjectId, TaskId, TaskStatus, TemplateId};
use chatrixcd_semaphore::{HttpSemaphore, Reconnect, SemaphoreConfig};
use chatrixcd_sim_semaphore::http::{self, HttpConfig};
use chatrixcd_sim_semaphore::{Mode, SimConfig, SimSemaphore};
use chrono::Duration;

const TOKEN: &str = "s1m-token-0123456789abcdefghijklmnopqrstuvwx=";
const OPS: ProjectId = ProjectId::new(1);

struct Server {
    url: String,
    clock: ManualClock,
}

async fn server(mode: Mode, ws_buffer: usize) -> Server {
    let clock = ManualClock::at_epoch();
    let config =
        SimConfig { mode, queue_tick: Duration::seconds(5), step: Duration::milliseconds(100), ..SimConfig::default() };
    let sim = SimSemaphore::demo(config, Arc::new(clock.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let mut http_config = HttpConfig::new(TOKEN.to_uppercase());
    http_config.ws_buffer = ws_buffer;
    http_config.ws_poll = StdDuration::from_millis(10);
    tokio::spawn(http::serve(listener, sim, http_config));
    Server { url, clock }
}

fn client(url: &str) -> HttpSemaphore {
    let mut config = SemaphoreConfig::new(url, TOKEN);
    config.request_timeout = StdDuration::from_secs(5);
    HttpSemaphore::new(&config).unwrap()
}

fn start(template: u64) -> StartTask {
    StartTask { template_id: TemplateId::new(template), ..StartTask::default() }
}

#[tokio::test]
async fn a_run_seen_through_the_real_client() {
    let s = server(Mode::V2_10, 256).await;
    let c = client(&s.url);
    c.ping().await.unwrap();
    assert!(c.info().await.unwrap().version.starts_with("2.10.32"));
    let projects = c.projects().await.unwrap();
    assert_eq!(projects.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["ops", "web"]);
    let templates = c.templates(OPS).await.unwrap();
    assert_eq!(templates.len(), 8);
    assert_eq!(templates[1].survey_vars[0].name, "who");
    assert!(templates[7].params_policy.allow_override_tags, "2.10 sends tags as arguments");

    let mut request = start(2);
    request.environment = BTreeMap::from([("who".to_owned(), "world".to_owned())]);
    let task = c.start_task(OPS, request).await.unwrap();
    assert_eq!(task.id, TaskId::new(2_147_483_646));
    assert_eq!(task.status, TaskStatus::Waiting);
    s.clock.advance(Duration::seconds(10));
    let done = c.task(OPS, task.id).await.unwrap();
    assert_eq!(done.status, TaskStatus::Success);
    let output = c.task_output(OPS, task.id).await.unwrap();
    assert!(output.to_text().lines().any(|l| l == "hello from bash: who=world"), "{}", output.to_text());
    let recent = c.recent_tasks(OPS, 5).await.unwrap();
    assert_eq!(recent[0].template_name.as_deref(), Some("hello"));
}

#[tokio::test]
async fn long_task_lists_come_from_the_whole_list_capped_like_semaphore() {
    let s = server(Mode::V2_10, 256).await;
    let c = client(&s.url);
    for _ in 0..230 {
        c.start_task(OPS, start(1)).await.unwrap();
    }
    assert_eq!(c.recent_tasks(OPS, 200).await.unwrap().len(), 200, "tasks/last stops at 200");
    let longer = c.recent_tasks(OPS, 1000).await.unwrap();
    assert!(longer.len() >= 230, "the task list goes further: {}", longer.len());
    assert_eq!(c.recent_tasks(OPS, 210).await.unwrap().len(), 210, "and is cut to the limit asked");
    let ids: Vec<TaskId> = longer.iter().map(|t| t.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "newest first (2.10 counts ids down)");
}

#[tokio::test]
async fn stop_and_confirm_over_http() {
    let s = server(Mode::V2_10, 256).await;
    let c = client(&s.url);
    let slow = c.start_task(OPS, start(4)).await.unwrap();
    s.clock.advance(Duration::seconds(6));
    c.stop_task(OPS, slow.id, StopMode::Graceful).await.unwrap();
    s.clock.advance(Duration::seconds(1));
    assert_eq!(c.task(OPS, slow.id).await.unwrap().status, TaskStatus::Error, "a graceful stop ends in error on 2.10");
    let plan = c.start_task(OPS, start(5)).await.unwrap();
    s.clock.advance(Duration::seconds(10));
    assert_eq!(c.task(OPS, plan.id).await.unwrap().status, TaskStatus::WaitingConfirmation);
    c.confirm_task(OPS, plan.id).await.unwrap();
    s.clock.advance(Duration::seconds(5));
    assert_eq!(c.task(OPS, plan.id).await.unwrap().status, TaskStatus::Success);
    assert!(
        matches!(c.confirm_task(OPS, plan.id).await, Err(SemaphoreError::Rejected(m)) if m.contains("not waiting"))
    );
}

#[tokio::test]
async fn every_error_status_reads_clearly() {
    let s = server(Mode::V2_10, 256).await;
    let c = client(&s.url);
    let wrong = HttpSemaphore::new(&SemaphoreConfig::new(&s.url, "wrong-token")).unwrap();
    assert_eq!(wrong.projects().await, Err(SemaphoreError::Unauthorised));
    assert!(matches!(c.task(OPS, TaskId::new(7)).await, Err(SemaphoreError::NotFound(m)) if m.contains("task #7")));
    assert!(matches!(c.templates(ProjectId::new(42)).await, Err(SemaphoreError::NotFound(_))));
    assert!(matches!(c.start_task(OPS, start(999)).await, Err(SemaphoreError::Server { status: 500, .. })));
    assert!(matches!(c.stop_task(OPS, TaskId::new(7), StopMode::Force).await, Err(SemaphoreError::NotFound(_))));
}

#[tokio::test]
async fn a_huge_log_arrives_whole() {
    let s = server(Mode::Current, 256).await;
    let c = client(&s.url);
    let chatty = c.start_task(OPS, start(7)).await.unwrap();
    assert_eq!(chatty.id, TaskId::new(1), "SQL servers count up");
    s.clock.advance(Duration::seconds(600));
    let output = c.task_output(OPS, chatty.id).await.unwrap();
    assert_eq!(output.to_text().lines().filter(|l| l.starts_with("line ")).count(), 3000);
}

/// Waits for an event matching `wanted`, collecting everything seen, within a bound.
async fn until(events: &mut impl TaskEvents, wanted: impl Fn(&TaskEvent) -> bool) -> Vec<TaskEvent> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + StdDuration::from_secs(20);
    loop {
        let next =
            tokio::time::timeout_at(deadline, events.next_event()).await.expect("event in time").expect("stream open");
        let done = wanted(&next);
        seen.push(next);
        if done {
            return seen;
        }
    }
}

#[tokio::test]
async fn websocket_reports_a_run_and_survives_being_dropped() {
    let s = server(Mode::V2_10, 16).await;
    let c = client(&s.url);
    let reconnect =
        Reconnect { first: StdDuration::from_millis(20), max: StdDuration::from_millis(200), reconcile_limit: 20 };
    let mut events = c.events(reconnect);
    let first = tokio::time::timeout(StdDuration::from_secs(20), events.next_event()).await.expect("connected in time");
    assert_eq!(first, Some(TaskEvent::Connected), "the stream says first that the push channel is open");
    // The simulator relays only what happens after a client connects: poke it until events flow.
    let mut subscribed = false;
    for _ in 0..40 {
        c.start_task(OPS, start(1)).await.unwrap();
        if let Ok(Some(_)) = tokio::time::timeout(StdDuration::from_millis(500), events.next_event()).await {
            subscribed = true;
            break;
        }
    }
    assert!(subscribed, "no websocket event within 20 s");

    // A chatty run floods the 16-message buffer: the server drops the client mid-run.
    let chatty = c.start_task(OPS, start(7)).await.unwrap();
    s.clock.advance(Duration::seconds(600));
    let seen = until(
        &mut events,
        |e| matches!(e, TaskEvent::Status { task, status: TaskStatus::Success, .. } if *task == chatty.id),
    )
    .await;
    let dropped = seen.iter().position(|e| *e == TaskEvent::Disconnected);
    let back = seen.iter().position(|e| *e == TaskEvent::Reconnected);
    assert!(dropped.is_some() && back > dropped, "the client was dropped and came back: {seen:?}");
}

#[tokio::test]
async fn alerts_are_posted_with_semaphores_shapes() {
    use chatrixcd_sim_semaphore::alerts::{AlertKind, AlertTarget};
    // A loopback receiver that collects what it is sent.
    let received = Arc::new(std::sync::Mutex::new(Vec::<(String, serde_json::Value)>::new()));
    let sink = Arc::clone(&received);
    let receiver = axum::Router::new().fallback(move |uri: axum::http::Uri, body: String| {
        let sink = Arc::clone(&sink);
        async move {
            sink.lock().unwrap().push((uri.to_string(), serde_json::from_str(&body).unwrap()));
            axum::http::StatusCode::OK
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await });

    let clock = ManualClock::at_epoch();
    let config = SimConfig {
        step: Duration::milliseconds(100),
        web_host: Some("https://semaphore.example.test".into()),
        alerts: vec![
            AlertTarget { kind: AlertKind::Slack, url: format!("{hook}/slack") },
            AlertTarget { kind: AlertKind::Gotify { token: "gotify-tok".into() }, url: format!("{hook}/gotify") },
        ],
        ..SimConfig::default()
    };
    let sim = SimSemaphore::demo(config, Arc::new(clock.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let mut http_config = HttpConfig::new(TOKEN);
    http_config.ws_poll = StdDuration::from_millis(10);
    tokio::spawn(http::serve(listener, sim, http_config));
    let c = client(&url);
    let ok = c.start_task(OPS, start(1)).await.unwrap();
    let broken = c.start_task(OPS, start(3)).await.unwrap();
    let stopped = c.start_task(OPS, start(4)).await.unwrap();
    clock.advance(Duration::seconds(20));
    c.stop_task(OPS, stopped.id, StopMode::Force).await.unwrap();
    clock.advance(Duration::seconds(20));
    let deadline = tokio::time::Instant::now() + StdDuration::from_secs(10);
    while received.lock().unwrap().len() < 4 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
    let got = received.lock().unwrap().clone();
    assert_eq!(got.len(), 4, "two tasks alert, the stopped one does not: {got:?}");
    let slack: Vec<&serde_json::Value> = got.iter().filter(|(p, _)| p == "/slack").map(|(_, b)| b).collect();
    let texts: Vec<&str> = slack.iter().map(|b| b["attachments"][0]["text"].as_str().unwrap()).collect();
    assert!(texts.contains(&format!("execution #{}, status: ✅SUCCESS!", ok.id).as_str()), "{texts:?}");
    assert!(texts.contains(&format!("execution #{}, status: ❌ERROR!", broken.id).as_str()), "{texts:?}");
    assert!(got.iter().any(|(p, b)| p == "/gotify/message?token=gotify-tok" && b["title"] == "Task: deploy-web"));
    let log = c.task_output(OPS, ok.id).await.unwrap();
    assert!(log.to_text().lines().any(|l| l == "Sent successfully slack alert"));
}

#[tokio::test]
async fn environments_inventories_events_and_whole_logs() {
    let s = server(Mode::V2_10, 256).await;
    let c = client(&s.url);
    assert_eq!(c.environments(OPS).await.unwrap()[0].name, "Empty");
    assert_eq!(c.inventories(OPS).await.unwrap()[0].kind, "static");
    let task = c.start_task(OPS, start(1)).await.unwrap();
    s.clock.advance(Duration::seconds(30));
    let feed = c.recent_events(OPS).await.unwrap();
    let said: Vec<&str> = feed.iter().map(|e| e.description.as_str()).collect();
    assert_eq!(
        said,
        [
            format!("Task ID {} (deploy-web) finished - SUCCESS", task.id),
            format!("Task ID {} (deploy-web) is running", task.id),
            format!("Task ID {} queued for running", task.id)
        ]
    );
    // 2.10 has no raw_output: the text comes from the output lines.
    let text = c.task_log_text(OPS, task.id).await.unwrap();
    assert!(text.starts_with(&format!("Task {} added to queue\n", task.id)), "{text}");
    assert!(text.contains("PLAY RECAP"));
    let current = server(Mode::Current, 256).await;
    let c = client(&current.url);
    let task = c.start_task(OPS, start(1)).await.unwrap();
    current.clock.advance(Duration::seconds(30));
    assert!(c.task_log_text(OPS, task.id).await.unwrap().contains("PLAY RECAP"));
    assert!(matches!(c.environments(ProjectId::new(9)).await, Err(SemaphoreError::NotFound(_))));
}

#[tokio::test]
async fn management_routes_answer_like_2_10() {
    let s = server(Mode::V2_10, 256).await;
    let http = reqwest::Client::new();
    let send = |method: reqwest::Method, path: &str, body: serde_json::Value| {
        http.request(method, format!("{}{path}", s.url)).bearer_auth(TOKEN).body(body.to_string()).send()
    };
    let created = send(reqwest::Method::POST, "/api/projects", serde_json::json!({"name": "infra"})).await.unwrap();
    assert_eq!(created.status(), 201);
    let project: serde_json::Value = created.json().await.unwrap();
    let p = project["id"].as_u64().unwrap();
    // Side effects of creating a project: a `None` key and an `Empty` variable group.
    let keys: serde_json::Value =
        send(reqwest::Method::GET, &format!("/api/project/{p}/keys"), serde_json::Value::Null)
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(keys[0]["name"], "None");
    let c = client(&s.url);
    assert_eq!(c.environments(ProjectId::new(p)).await.unwrap()[0].name, "Empty");
    // An app the server does not run: the row is created anyway, and the answer is a 400 with words.
    let bad = send(
        reqwest::Method::POST,
        &format!("/api/project/{p}/templates"),
        serde_json::json!({"name": "t", "app": "tofu", "playbook": "x"}),
    )
    .await
    .unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(bad.json::<serde_json::Value>().await.unwrap(), serde_json::json!({"error": "Invalid app id: tofu"}));
    assert_eq!(c.templates(ProjectId::new(p)).await.unwrap().len(), 1);
    let mismatch =
        send(reqwest::Method::PUT, &format!("/api/project/{p}"), serde_json::json!({"id": 999, "name": "x"}))
            .await
            .unwrap();
    assert_eq!(mismatch.status(), 400);
    let renamed = send(
        reqwest::Method::PUT,
        &format!("/api/project/{p}"),
        serde_json::json!({"id": p, "name": "platform", "alert": true}),
    )
    .await
    .unwrap();
    assert_eq!(renamed.status(), 204);
    let projects = c.projects().await.unwrap();
    assert!(projects.iter().any(|x| x.name == "platform"));
    // A template created through the API runs what its playbook says.
    let t = send(
        reqwest::Method::POST,
        &format!("/api/project/{p}/templates"),
        serde_json::json!({"name": "deploy", "app": "ansible", "playbook": "deploy.yml"}),
    )
    .await
    .unwrap();
    assert_eq!(t.status(), 201);
    let template: serde_json::Value = t.json().await.unwrap();
    let task = c.start_task(ProjectId::new(p), start(template["id"].as_u64().unwrap())).await.unwrap();
    s.clock.advance(Duration::seconds(30));
    let out = c.task_output(ProjectId::new(p), task.id).await.unwrap();
    assert!(out.to_text().lines().any(|l| l.starts_with("PLAY RECAP")));
}

#[tokio::test]
async fn semaphores_own_schedules_are_made_and_read_like_2_10() {
    let s = server(Mode::V2_10, 256).await;
    let http = reqwest::Client::new();
    let post = |body: serde_json::Value| {
        http.post(format!("{}/api/project/1/schedules", s.url)).bearer_auth(TOKEN).body(body.to_string()).send()
    };
    let c = client(&s.url);
    assert!(c.schedules(OPS).await.unwrap().is_empty(), "a new project has none, as recorded");
    let made =
        post(serde_json::json!({"project_id": 1, "template_id": 1, "cron_format": "0 2 * * *", "name": "nightly"}))
            .await
            .unwrap();
    assert_eq!(made.status(), 201);
    let made: serde_json::Value = made.json().await.unwrap();
    assert_eq!((made["id"].as_u64(), made["active"].as_bool()), (Some(1), Some(true)));
    let bad = post(serde_json::json!({"project_id": 1, "template_id": 1, "cron_format": "nightly"})).await.unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(
        bad.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"error": "Cron: expected exactly 5 fields, found 1: [nightly]"})
    );
    let list = c.schedules(OPS).await.unwrap();
    assert_eq!(list.len(), 1);
    let one = &list[0];
    assert_eq!(
        (one.id, one.template_id, one.cron.as_str(), one.name.as_str()),
        (1, TemplateId::new(1), "0 2 * * *", "nightly")
    );
    assert_eq!((one.template_name.as_deref(), one.active, one.repository_id), (Some("deploy-web"), true, None));
    assert!(matches!(c.schedules(ProjectId::new(9)).await, Err(SemaphoreError::NotFound(_))));
}
