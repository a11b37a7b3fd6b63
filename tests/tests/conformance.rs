#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

//! Conformance: the simulator, in 2.10 mode, replays every recorded scenario of a real Semaphore
//! 2.10.32 (`testdata/semaphore/2.10.32/`) in the order they were recorded, on one server, and
//! must answer each request with the recorded status, content type, body kind and JSON shape.
//! Task statuses must be reached in the recorded order (the simulator's clock is moved until the
//! recorded status shows, within a bound). Differences are allowed only when listed, with a
//! reason, in `conformance/deviations.rs`.

mod conformance {
    pub(crate) mod deviations;
}

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use chatrixcd_clock::ManualClock;
use chatrixcd_ports::Clock as _;
use chatrixcd_sim_semaphore::alerts::{AlertKind, AlertTarget};
use chatrixcd_sim_semaphore::http::{self, HttpConfig};
use chatrixcd_sim_semaphore::{Mode, SimConfig, SimModel, SimSemaphore};
use chrono::Duration;
use conformance::deviations::DEVIATIONS;
use serde_json::Value;

const TOKEN: &str = "kwofd61g93-yuqvex8efmhjkgnbxlo8mp1tin6spyhu=";

/// The recording order: task ids count down across scenarios, so replaying in this order on one
/// server reproduces the recorded ids.
const SCENARIOS: &[&str] = &[
    "auth",
    "catalogue",
    "run-bash",
    "run-ansible-success",
    "run-ansible-failure",
    "overrides",
    "bad-input",
    "stop",
    "terraform",
    "finished",
    "chatty",
];

fn recording(name: &str) -> Value {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/semaphore/2.10.32").join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The JSON type structure of a value: what a client's decoder depends on.
fn shape(v: &Value) -> Value {
    match v {
        Value::Null => "null".into(),
        Value::Bool(_) => "bool".into(),
        Value::Number(n) if n.is_f64() => "float".into(),
        Value::Number(_) => "integer".into(),
        Value::String(_) => "string".into(),
        // Arrays: the shape of their first element (lists are homogeneous in Semaphore's API).
        Value::Array(items) => Value::Array(items.first().map(shape).into_iter().collect()),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
    }
}

/// Where two shapes differ, as readable paths.
fn shape_diff(recorded: &Value, simulated: &Value, at: &str, out: &mut Vec<String>) {
    match (recorded, simulated) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, va) in a {
                match b.get(k) {
                    Some(vb) => shape_diff(va, vb, &format!("{at}.{k}"), out),
                    None => out.push(format!("{at}.{k} missing")),
                }
            }
            for k in b.keys().filter(|k| !a.contains_key(*k)) {
                out.push(format!("{at}.{k} extra"));
            }
        }
        // An empty list says nothing about its elements.
        (Value::Array(a), Value::Array(b)) if a.is_empty() || b.is_empty() => {}
        (Value::Array(a), Value::Array(b)) => shape_diff(&a[0], &b[0], &format!("{at}[]"), out),
        (a, b) if a == b => {}
        (a, b) => out.push(format!("{at} is {b}, recorded {a}")),
    }
}

fn route(method: &str, path: &str) -> String {
    let bare = path.split('?').next().unwrap_or_default();
    let generic: Vec<String> = bare
        .split('/')
        .map(|seg| if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) { "{n}".into() } else { seg.into() })
        .collect();
    format!("{method} {}", generic.join("/"))
}

struct Replay {
    url: String,
    clock: ManualClock,
    http: reqwest::Client,
}

impl Replay {
    async fn start() -> Self {
        let clock = ManualClock::at_epoch();
        let config = SimConfig {
            mode: Mode::V2_10,
            queue_tick: Duration::seconds(5),
            step: Duration::milliseconds(20),
            web_host: Some("https://semaphore.example.test".into()),
            alerts: ["slack", "rocketchat", "teams"]
                .into_iter()
                .map(|k| AlertTarget {
                    kind: match k {
                        "slack" => AlertKind::Slack,
                        "rocketchat" => AlertKind::RocketChat,
                        _ => AlertKind::Teams,
                    },
                    url: format!("http://127.0.0.1:9/{k}"),
                })
                .chain([AlertTarget {
                    kind: AlertKind::Gotify { token: "gotify-tok".into() },
                    url: "http://127.0.0.1:9/gotify".into(),
                }])
                .collect(),
        };
        // An empty server, seeded below through the API as the recorded one was.
        let sim = SimSemaphore::new(SimModel::new(config, Arc::new(clock.clone())));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let mut http_config = HttpConfig::new(TOKEN);
        // The replay moves time in jumps; a roomy buffer keeps the socket through them (dropping
        // slow clients is tested on its own).
        http_config.ws_buffer = 100_000;
        http_config.ws_poll = std::time::Duration::from_millis(5);
        tokio::spawn(http::serve(listener, sim, http_config));
        let replay = Self { url, clock, http: reqwest::Client::new() };
        replay.seed().await;
        replay
    }

    /// Seeds the empty simulator the way the recorded server was set up (its README): project
    /// `ops` with alerts on, a local repository, a static inventory, and the eight templates as
    /// the recorded catalogue lists them.
    async fn seed(&self) {
        let post = |path: &str, body: Value| serde_json::json!({"method": "POST", "path": path, "authorization": "Bearer <token>", "body": body});
        let (status, _, _) = self.send(&post("/api/projects", serde_json::json!({"name": "ops", "alert": true}))).await;
        assert_eq!(status, 201, "create project");
        let repository = serde_json::json!({"name": "local", "project_id": 1, "git_url": "/srv/semaphore/repo", "git_branch": "", "ssh_key_id": 1});
        assert_eq!(self.send(&post("/api/project/1/repositories", repository)).await.0, 204, "2.10 answers 204");
        let inventory = serde_json::json!({
            "name": "localhost", "project_id": 1, "ssh_key_id": 1, "type": "static",
            "inventory": "[web]\nlocalhost ansible_connection=local ansible_python_interpreter=auto_silent\n"
        });
        assert_eq!(self.send(&post("/api/project/1/inventory", inventory)).await.0, 201);
        let catalogue = recording("catalogue");
        let listed = catalogue["exchanges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["request"]["path"] == "/api/project/1/templates")
            .unwrap()["response"]["body"]
            .as_array()
            .unwrap()
            .clone();
        for mut template in listed {
            let object = template.as_object_mut().unwrap();
            for generated in ["id", "tasks", "last_task"] {
                object.remove(generated);
            }
            // Terraform templates get their workspace inventory from the server.
            if object["app"] == "terraform" {
                object.remove("inventory_id");
            }
            let (status, _, body) = self.send(&post("/api/project/1/templates", template)).await;
            assert_eq!(status, 201, "create template: {body}");
        }
    }

    /// Sends a recorded request as it was sent (token placeholders filled in).
    async fn send(&self, request: &Value) -> (u16, String, String) {
        let method = reqwest::Method::from_bytes(request["method"].as_str().unwrap().as_bytes()).unwrap();
        let mut builder = self.http.request(method, format!("{}{}", self.url, request["path"].as_str().unwrap()));
        if let Some(auth) = request["authorization"].as_str() {
            builder = builder
                .header("authorization", auth.replace("<token>", TOKEN).replace("<TOKEN>", &TOKEN.to_uppercase()));
        }
        builder = match &request["body"] {
            Value::Null => builder,
            Value::String(raw) => builder.header("content-type", "application/json").body(raw.clone()),
            other => builder.header("content-type", "application/json").body(other.to_string()),
        };
        let response = builder.send().await.unwrap();
        let status = response.status().as_u16();
        let content_type =
            response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        (status, content_type, response.text().await.unwrap())
    }

    /// Moves the simulator's clock until the answer shows the same task facts as the recording
    /// (statuses, and whether start and end are set), as the recording saw them.
    async fn until_facts(&self, request: &Value, wanted: &[Fact]) -> bool {
        for _ in 0..7000 {
            let (code, _, body) = self.send(request).await;
            let seen = facts(&serde_json::from_str(&body).unwrap_or(Value::Null));
            if code == 200 && wanted.iter().all(|w| seen.contains(w)) {
                return true;
            }
            self.clock.advance(Duration::milliseconds(100));
        }
        false
    }
}

/// What a client learns about one task from an answer: id, status, whether start and end are set.
type Fact = (u64, String, bool, bool);

fn facts(body: &Value) -> Vec<Fact> {
    let one = |t: &Value| {
        Some((t["id"].as_u64()?, t["status"].as_str()?.to_owned(), !t["start"].is_null(), !t["end"].is_null()))
    };
    match body {
        Value::Array(items) => items.iter().filter_map(one).collect(),
        other => one(other).into_iter().collect(),
    }
}

/// Collects the websocket frames the simulator sends while a scenario runs.
struct Frames {
    seen: Arc<std::sync::Mutex<Vec<Value>>>,
    reader: tokio::task::JoinHandle<()>,
}

impl Frames {
    async fn open(url: &str) -> Self {
        use futures::StreamExt as _;
        use reqwest_websocket::Upgrade as _;
        let response = reqwest::Client::new()
            .get(format!("{url}/api/ws"))
            .header("authorization", format!("Bearer {TOKEN}"))
            .upgrade()
            .send()
            .await
            .unwrap();
        let mut socket = response.into_websocket().await.unwrap();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        let reader = tokio::spawn(async move {
            while let Some(Ok(message)) = socket.next().await {
                if let reqwest_websocket::Message::Text(text) = message {
                    sink.lock().unwrap().push(serde_json::from_str(&text).unwrap());
                }
            }
        });
        // The relay starts from the moment it is connected: give it that moment.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        Self { seen, reader }
    }

    /// Waits (bounded) until the relay has caught up with `wanted` update frames, then closes.
    async fn close(self, wanted: usize) -> Vec<Value> {
        for _ in 0..200 {
            let updates = self.seen.lock().unwrap().iter().filter(|f| f["type"] == "update").count();
            if updates >= wanted {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        self.reader.abort();
        self.seen.lock().unwrap().clone()
    }
}

/// Compares the update frames of each recorded task (status sequence, doubled terminal update
/// included, and each frame's shape) and the shape of log frames.
fn compare_frames(recorded: &[Value], simulated: &[Value]) -> Vec<String> {
    let mut problems = Vec::new();
    let updates = |frames: &[Value], task: &Value| -> Vec<Value> {
        frames.iter().filter(|f| f["type"] == "update" && f["task_id"] == *task).cloned().collect()
    };
    let mut tasks: Vec<Value> =
        recorded.iter().filter(|f| f["type"] == "update").map(|f| f["task_id"].clone()).collect();
    tasks.dedup();
    for task in tasks {
        let (want, got) = (updates(recorded, &task), updates(simulated, &task));
        let statuses =
            |u: &[Value]| u.iter().map(|f| f["status"].as_str().unwrap_or_default().to_owned()).collect::<Vec<_>>();
        if statuses(&want) != statuses(&got) {
            problems.push(format!("task {task}: updates {:?}, recorded {:?}", statuses(&got), statuses(&want)));
            continue;
        }
        for (w, g) in want.iter().zip(&got) {
            let mut diffs = Vec::new();
            shape_diff(&shape(w), &shape(g), &format!("update({})", w["status"]), &mut diffs);
            problems.extend(diffs);
        }
    }
    let first_log = |frames: &[Value]| frames.iter().find(|f| f["type"] == "log").cloned();
    match (first_log(recorded), first_log(simulated)) {
        (Some(w), Some(g)) => shape_diff(&shape(&w), &shape(&g), "log", &mut problems),
        (Some(_), None) => problems.push("no log frames".into()),
        _ => {}
    }
    problems
}

#[tokio::test]
async fn the_simulator_answers_every_recorded_request_like_the_real_server() {
    let replay = Replay::start().await;
    let mut differences = Vec::new();
    for scenario in SCENARIOS {
        let doc = recording(scenario);
        let recorded_frames: Vec<Value> = doc["websocket"]
            .as_array()
            .map(|a| a.iter().filter_map(|f| f.get("message").cloned()).collect())
            .unwrap_or_default();
        let frames = if recorded_frames.is_empty() { None } else { Some(Frames::open(&replay.url).await) };
        let begin = replay.clock.now();
        for (n, exchange) in doc["exchanges"].as_array().unwrap().iter().enumerate() {
            let request = &exchange["request"];
            let recorded = &exchange["response"];
            let (method, path) = (request["method"].as_str().unwrap(), request["path"].as_str().unwrap());
            let at = begin + Duration::milliseconds((exchange["t"].as_f64().unwrap() * 1000.0) as i64);
            let here = route(method, path);
            let wanted =
                if method == "GET" && recorded["status"] == 200 { facts(&recorded["body"]) } else { Vec::new() };
            if wanted.is_empty() {
                if at > replay.clock.now() {
                    replay.clock.set(at);
                }
            } else if !replay.until_facts(request, &wanted).await {
                // Reads that show tasks are replayed when the simulator reaches what the recording saw:
                // the simulator's runs do not take the real runs' exact time.
                differences.push((scenario.to_string(), here.clone(), format!("#{n}: never showed {wanted:?}")));
                continue;
            }
            let (status, content_type, body) = replay.send(request).await;
            let mut problems = Vec::new();
            if u64::from(status) != recorded["status"].as_u64().unwrap() {
                problems.push(format!("status {status}, recorded {}", recorded["status"]));
            }
            let recorded_type = recorded["content_type"].as_str().unwrap_or_default();
            let same_type = content_type.starts_with(recorded_type.split(';').next().unwrap_or_default());
            if !same_type && !recorded_type.is_empty() {
                problems.push(format!("content type {content_type:?}, recorded {recorded_type:?}"));
            }
            let kind = if body.is_empty() {
                "empty"
            } else if content_type.starts_with("application/json") {
                "json"
            } else {
                "text"
            };
            // HEAD answers have no body by definition.
            if kind != recorded["body_kind"].as_str().unwrap_or_default() && method != "HEAD" {
                problems.push(format!("body {kind}, recorded {}", recorded["body_kind"]));
            } else if kind == "json" {
                let simulated: Value = serde_json::from_str(&body).unwrap();
                let mut diffs = Vec::new();
                shape_diff(&shape(&recorded["body"]), &shape(&simulated), "body", &mut diffs);
                problems.extend(diffs);
            } else if kind == "text" && recorded["body"].as_str() != Some(body.as_str()) {
                problems.push(format!("text {body:?}, recorded {}", recorded["body"]));
            }
            for p in problems {
                differences.push((scenario.to_string(), here.clone(), format!("#{n}: {p}")));
            }
        }
        // Let the scenario's runs finish before the next one, as the recording session did.
        replay.clock.advance(Duration::seconds(30));
        if let Some(frames) = frames {
            let wanted = recorded_frames.iter().filter(|f| f["type"] == "update").count();
            // Something must ask the model for news for the relay to see it.
            replay.send(&serde_json::json!({"method": "GET", "path": "/api/projects", "authorization": "Bearer <token>", "body": null})).await;
            let simulated = frames.close(wanted).await;
            for p in compare_frames(&recorded_frames, &simulated) {
                differences.push((scenario.to_string(), "WS /api/ws".to_owned(), p));
            }
        }
    }
    let listed = |d: &(String, String, String)| {
        DEVIATIONS.iter().any(|x| x.scenario == d.0 && x.route == d.1 && d.2.contains(x.fragment))
    };
    let unlisted: Vec<String> =
        differences.iter().filter(|d| !listed(d)).map(|d| format!("{} | {} | {}", d.0, d.1, d.2)).collect();
    assert!(unlisted.is_empty(), "{} unlisted difference(s):\n{}", unlisted.len(), unlisted.join("\n"));
    let stale: BTreeSet<String> = DEVIATIONS
        .iter()
        .filter(|x| !differences.iter().any(|d| x.scenario == d.0 && x.route == d.1 && d.2.contains(x.fragment)))
        .map(|x| format!("{} | {} | {} ({})", x.scenario, x.route, x.fragment, x.reason))
        .collect();
    assert!(
        stale.is_empty(),
        "listed deviations that no longer happen:\n{}",
        stale.into_iter().collect::<Vec<_>>().join("\n")
    );
}
