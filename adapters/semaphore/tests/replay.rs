#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

//! The HTTP client against the answers a real Semaphore 2.10.32 gave: a loopback server replays
//! the recorded exchanges, so the client's parsing and error mapping meet the real thing.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use chatrixcd_ports::semaphore::{SemaphoreError, SemaphorePort, StartTask, StopMode, TaskStatus};
use chatrixcd_ports::{ProjectId, TaskId, TemplateId};
use chatrixcd_semaphore::{HttpSemaphore, SemaphoreConfig};
use serde_json::Value;

const TOKEN: &str = "kwofd61g93-yuqvex8efmhjkgnbxlo8mp1tin6spyhu=";

fn recording(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/semaphore/2.10.32").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

#[derive(Clone)]
struct Recorded {
    status: u16,
    content_type: String,
    body: Option<String>,
}

#[derive(Default)]
struct Replay {
    /// (method, path) → answers, served in order (the last one repeats).
    answers: HashMap<(String, String), Vec<Recorded>>,
    served: HashMap<(String, String), usize>,
    /// Bodies the client sent, for assertions.
    received: Vec<(String, String, Option<Value>)>,
}

impl Replay {
    fn from_files(files: &[&str]) -> Self {
        let mut replay = Replay::default();
        for file in files {
            for exchange in recording(file)["exchanges"].as_array().unwrap() {
                let req = &exchange["request"];
                let resp = &exchange["response"];
                let key = (req["method"].as_str().unwrap().to_owned(), req["path"].as_str().unwrap().to_owned());
                let body = match resp["body_kind"].as_str() {
                    Some("json") => Some(resp["body"].to_string()),
                    Some("text") => resp["body"].as_str().map(str::to_owned),
                    _ => None,
                };
                let recorded = Recorded {
                    status: resp["status"].as_u64().unwrap() as u16,
                    content_type: resp["content_type"].as_str().unwrap_or("application/json").to_owned(),
                    body,
                };
                replay.answers.entry(key).or_default().push(recorded);
            }
        }
        replay
    }

    fn answer(&mut self, method: &str, path: &str, auth: Option<&str>, body: Option<Value>) -> Recorded {
        self.received.push((method.to_owned(), path.to_owned(), body));
        if path != "/api/ping" && auth.map(str::to_lowercase) != Some(format!("bearer {TOKEN}")) {
            return Recorded { status: 401, content_type: "application/json".into(), body: None };
        }
        let key = (method.to_owned(), path.to_owned());
        let Some(list) = self.answers.get(&key) else {
            return Recorded {
                status: 404,
                content_type: "text/plain; charset=utf-8".into(),
                body: Some("Not Found\n".into()),
            };
        };
        let n = self.served.entry(key).or_default();
        let answer = list[(*n).min(list.len() - 1)].clone();
        *n += 1;
        answer
    }
}

async fn serve(
    State(replay): State<Arc<Mutex<Replay>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_default();
    if path.starts_with("/api/stall") {
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    if path.starts_with("/api/garbage") {
        return ([(header::CONTENT_TYPE, "application/json")], "{not json").into_response();
    }
    let auth = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = serde_json::from_slice(&body).ok();
    // The recordings rewrote the token; answer as the real server did for a good token.
    let recorded = replay.lock().unwrap().answer(method.as_str(), &path, auth.as_deref(), body);
    let status = StatusCode::from_u16(recorded.status).unwrap();
    let mut response = (status, recorded.body.unwrap_or_default()).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, recorded.content_type.parse().unwrap());
    response
}

async fn start(files: &[&str]) -> (String, Arc<Mutex<Replay>>) {
    let replay = Arc::new(Mutex::new(Replay::from_files(files)));
    let app = Router::new().fallback(serve).with_state(Arc::clone(&replay));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), replay)
}

fn client(url: &str) -> HttpSemaphore {
    let mut config = SemaphoreConfig::new(url, TOKEN);
    config.request_timeout = Duration::from_millis(500);
    config.retry_backoff = Duration::from_millis(5);
    HttpSemaphore::new(&config).unwrap()
}

#[tokio::test]
async fn reads_the_recorded_catalogue() {
    let (url, _) = start(&["catalogue.json", "auth.json"]).await;
    let sem = client(&url);
    sem.ping().await.unwrap();
    let info = sem.info().await.unwrap();
    assert!(info.version.starts_with("2.10.32"), "{info:?}");
    let projects = sem.projects().await.unwrap();
    assert_eq!(projects[0].name, "ops");
    let templates = sem.templates(projects[0].id).await.unwrap();
    let names: Vec<&str> = templates.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        ["deploy-web", "hello", "broken-deploy", "slow", "infra-plan", "infra-nochange", "chatty", "hello-args"]
    );
    let hello_args = &templates[7];
    assert!(hello_args.allow_override_args_in_task);
    assert!(hello_args.params_policy.allow_override_tags, "2.10 carries tags as arguments");
    assert!(!templates[0].params_policy.allow_override_tags);
    assert_eq!(hello_args.survey_vars.len(), 4);
    assert!(templates.iter().any(|t| t.description.is_none()), "2.10 sends null descriptions");
}

#[tokio::test]
async fn follows_a_recorded_run() {
    let (url, _) = start(&["run-ansible-success.json"]).await;
    let sem = client(&url);
    let project = ProjectId::new(1);
    let task = TaskId::new(2_147_483_645);
    let done = sem.task(project, task).await.unwrap();
    assert_eq!(done.status, TaskStatus::Success);
    assert!(done.start.is_some() && done.end.is_some());
    let output = sem.task_output(project, task).await.unwrap();
    assert!(output.to_text().lines().any(|l| l.contains("PLAY RECAP")));
    assert_eq!(output.line(0).as_deref(), Some(format!("Task {task} added to queue").as_str()));
}

#[tokio::test]
async fn errors_are_typed_as_the_server_meant_them() {
    let (url, replay) = start(&["bad-input.json", "catalogue.json"]).await;
    let sem = client(&url);
    let p = ProjectId::new(1);
    assert!(
        matches!(sem.task(p, TaskId::new(999_999)).await, Err(SemaphoreError::NotFound(m)) if m.contains("999999"))
    );
    assert!(matches!(sem.task_output(p, TaskId::new(999_999)).await, Err(SemaphoreError::NotFound(_))));
    assert!(matches!(sem.templates(ProjectId::new(9999)).await, Err(SemaphoreError::NotFound(_))));
    let start = StartTask { template_id: TemplateId::new(9999), ..Default::default() };
    assert!(matches!(sem.start_task(p, start).await, Err(SemaphoreError::Server { status: 500, .. })));
    assert!(matches!(
        sem.stop_task(p, TaskId::new(999_999), StopMode::Graceful).await,
        Err(SemaphoreError::NotFound(_))
    ));
    let sent = replay.lock().unwrap().received.clone();
    let stop = sent.iter().find(|(m, p, _)| m == "POST" && p.ends_with("/stop")).unwrap();
    assert_eq!(stop.2, Some(serde_json::json!({"force": false})), "2.10 needs a JSON body on stop");
    let wrong = HttpSemaphore::new(&SemaphoreConfig::new(&url, "not-a-real-token")).unwrap();
    assert_eq!(wrong.projects().await, Err(SemaphoreError::Unauthorised));
}

#[tokio::test]
async fn stalls_time_out_and_garbage_is_malformed() {
    let (url, _) = start(&[]).await;
    let sem = client(&format!("{url}/api/stall"));
    assert!(matches!(sem.projects().await, Err(SemaphoreError::Timeout(_))));
    let sem = client(&format!("{url}/api/garbage"));
    assert!(matches!(sem.projects().await, Err(SemaphoreError::Malformed(_))));
}

#[tokio::test]
async fn an_unreachable_server_is_said_so() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let sem = client(&url);
    assert!(matches!(sem.projects().await, Err(SemaphoreError::Unreachable(_))));
}

#[test]
fn bad_configuration_is_named() {
    assert!(
        HttpSemaphore::new(&SemaphoreConfig::new("semaphore.local", TOKEN))
            .unwrap_err()
            .to_string()
            .contains("semaphore.url")
    );
    assert!(
        HttpSemaphore::new(&SemaphoreConfig::new("http://x.test", " ")).unwrap_err().to_string().contains("api_token")
    );
    let mut c = SemaphoreConfig::new("https://x.test", TOKEN);
    c.ca_file = Some("/nonexistent/ca.pem".into());
    assert!(HttpSemaphore::new(&c).unwrap_err().to_string().contains("CA file /nonexistent/ca.pem"));
}
