//! The simulated Semaphore over HTTP: the REST routes the bot uses and `/api/ws`, answering with
//! the statuses, content types and JSON shapes of a real 2.10.32.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chatrixcd_ports::semaphore::StopMode;
use chatrixcd_ports::{ProjectId, TaskId, TemplateId};
use serde_json::Value;
use tower::ServiceExt as _;

use crate::json;
use crate::model::{Event, Mode, SimError, StartRequest};
use crate::port::SimSemaphore;
use crate::resources::Kind;

/// How the HTTP face of the simulator behaves.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// The one API token accepted (compared case-insensitively, as the real server does).
    pub token: String,
    /// Messages a websocket client may lag behind before it is dropped (the real server: 256).
    pub ws_buffer: usize,
    /// How often the websocket relay looks for news.
    pub ws_poll: StdDuration,
    /// Serve `/api/ws`. Off: it answers 404, as behind a proxy that does not pass websockets
    /// (then only polling and alerts tell a client that a task moved).
    pub websocket: bool,
}

impl HttpConfig {
    pub fn new(token: impl Into<String>) -> Self {
        Self { token: token.into(), ws_buffer: 256, ws_poll: StdDuration::from_millis(50), websocket: true }
    }
}

#[derive(Clone)]
struct AppState {
    sim: SimSemaphore,
    config: Arc<HttpConfig>,
}

/// Serves the simulator on `listener` until the future is dropped, posting the configured alerts.
pub async fn serve(listener: tokio::net::TcpListener, sim: SimSemaphore, config: HttpConfig) -> std::io::Result<()> {
    let alerts = if sim.model().config().alerts.is_empty() {
        None
    } else {
        Some(tokio::spawn(post_alerts(sim.clone(), config.ws_poll)))
    };
    let served = axum::serve(listener, router(sim, config)).await;
    if let Some(pump) = alerts {
        pump.abort();
    }
    served
}

/// Posts an alert for every alert-worthy status change, once per task and status.
async fn post_alerts(sim: SimSemaphore, poll: StdDuration) {
    let client = reqwest::Client::new();
    let mut cursor = 0;
    let mut sent = std::collections::HashSet::new();
    loop {
        let due: Vec<(String, Value)> = {
            let mut model = sim.model();
            let config = model.config().clone();
            let events = model.events_since(cursor).to_vec();
            cursor += events.len();
            let mut due = Vec::new();
            for u in events.iter().filter_map(|e| match e {
                Event::Update(u) => Some(u),
                Event::Log(_) => None,
            }) {
                if !crate::alerts::alerts_for(&u.status) || !sent.insert((u.task, u.status.clone())) {
                    continue;
                }
                let name = model.task(u.project, u.task).map(|t| t.template_name).unwrap_or_default();
                let link = format!(
                    "{}/project/{}/templates/{}?t={}",
                    config.web_host.as_deref().unwrap_or_default().trim_end_matches('/'),
                    u.project,
                    u.template,
                    u.task
                );
                let facts = crate::alerts::AlertFacts {
                    task_id: u.task.get(),
                    template_name: &name,
                    status: &u.status,
                    link: &link,
                    author: "Admin",
                };
                due.extend(config.alerts.iter().map(|target| crate::alerts::payload(target, &facts)));
            }
            due
        };
        for (url, body) in due {
            // Semaphore only notes a failed alert in the task log; it never retries.
            let posted =
                client.post(&url).header(header::CONTENT_TYPE, "application/json").body(body.to_string()).send().await;
            if let Err(e) = posted {
                tracing::warn!(%url, error = %e, "alert not delivered");
            }
        }
        tokio::time::sleep(poll).await;
    }
}

/// The router, for tests that want to drive it in-process.
pub fn router(sim: SimSemaphore, config: HttpConfig) -> Router {
    let state = AppState { sim, config: Arc::new(config) };
    let api = Router::new()
        .route("/api/ping", get(|| async { ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "pong") }))
        .route("/api/info", get(info))
        .route("/api/user", get(user))
        .route("/api/user/tokens", get(tokens))
        .route("/api/auth/login", get(login_metadata).post(login))
        .route("/api/apps", get(apps))
        .route("/api/events/last", get(all_events))
        .route("/api/project/{p}/role", get(role))
        .route("/api/project/{p}/repositories", get(list_repositories).post(add_repository))
        .route("/api/project/{p}/keys", get(list_keys).post(add_key))
        .route("/api/project/{p}/views", get(empty_list))
        .route("/api/project/{p}/schedules", get(list_schedules).post(add_schedule))
        .route("/api/project/{p}/templates/{t}/tasks/last", get(template_tasks))
        .route("/api/ws", get(websocket))
        .route("/api/projects", get(projects).post(create_project))
        .route("/api/project/{p}", get(project).put(update_project))
        .route("/api/project/{p}/templates", get(templates).post(create_template))
        .route("/api/project/{p}/templates/{t}", get(template))
        .route("/api/project/{p}/environment", get(list_environments).post(add_environment))
        .route("/api/project/{p}/inventory", get(list_inventories).post(add_inventory))
        .route("/api/project/{p}/events/last", get(events))
        .route("/api/project/{p}/tasks", get(tasks).post(start_task))
        .route("/api/project/{p}/tasks/last", get(last_tasks))
        .route("/api/project/{p}/tasks/{k}", get(task))
        .route("/api/project/{p}/tasks/{k}/output", get(output))
        .route("/api/project/{p}/tasks/{k}/raw_output", get(raw_output))
        .route("/api/project/{p}/tasks/{k}/stop", post(stop))
        .route("/api/project/{p}/tasks/{k}/confirm", post(confirm))
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .with_state(state);
    // Semaphore strips a trailing slash before routing.
    Router::new().fallback(move |request: Request| {
        let api = api.clone();
        async move {
            let request = strip_trailing_slash(request);
            match api.oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            }
        }
    })
}

fn strip_trailing_slash(mut request: Request) -> Request {
    let path = request.uri().path();
    if path.len() > 1 && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/');
        let rebuilt = match request.uri().query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_owned(),
        };
        if let Ok(uri) = rebuilt.parse::<Uri>() {
            *request.uri_mut() = uri;
        }
    }
    request
}

/// Unknown routes and wrong methods: 404 in plain text, as 2.10 answers both.
async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "Not Found\n").into_response()
}

/// An answer with Semaphore's habits: JSON content type even when the body is empty.
fn answer(status: StatusCode, body: Option<Value>) -> Response {
    let body = body.map(|b| Body::from(b.to_string())).unwrap_or_else(Body::empty);
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    response
}

fn failure(e: SimError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    answer(status, e.message.map(|m| serde_json::json!({ "error": m })))
}

fn ok(body: Value) -> Response {
    answer(StatusCode::OK, Some(body))
}

/// Newer servers omit empty fields (`omitempty`) where 2.10 sends `null`.
fn shaped(s: &AppState, body: Value) -> Value {
    fn drop_nulls(v: Value) -> Value {
        match v {
            Value::Object(map) => {
                Value::Object(map.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k, drop_nulls(v))).collect())
            }
            Value::Array(items) => Value::Array(items.into_iter().map(drop_nulls).collect()),
            other => other,
        }
    }
    match s.sim.model().config().mode {
        Mode::V2_10 => body,
        Mode::Current => drop_nulls(body),
    }
}

/// The real server lower-cases the whole header and strips "bearer ". The token is compared in
/// constant time (the simulator may listen beyond loopback): only its length can show.
fn authorised(headers: &HeaderMap, token: &str) -> bool {
    let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else { return false };
    let value = value.to_lowercase();
    value.strip_prefix("bearer ").is_some_and(|t| same_secret(t.trim().as_bytes(), token.to_lowercase().as_bytes()))
}

/// Equal, looked at byte for byte whatever the first difference (`subtle`, which keeps the
/// optimiser from cutting the comparison short).
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    use subtle::ConstantTimeEq as _;
    bool::from(given.ct_eq(expected))
}

/// Parses a path id the way the router does: not a number is a 400 on task routes, 404 elsewhere.
fn id(raw: &str, bad: u16) -> Result<u64, SimError> {
    raw.parse::<u64>().map_err(|_| SimError::status(bad))
}

macro_rules! guard {
    ($state:expr, $headers:expr) => {
        if !authorised(&$headers, &$state.config.token) {
            return answer(StatusCode::UNAUTHORIZED, None);
        }
    };
}

macro_rules! try_answer {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(r) => return r,
        }
    };
}

async fn info(State(s): State<AppState>, headers: HeaderMap) -> Response {
    guard!(s, headers);
    let version = match s.sim.model().config().mode {
        Mode::V2_10 => "2.10.32-simulated-0",
        Mode::Current => "2.16.14-simulated-0",
    };
    let web_host = s.sim.model().config().web_host.clone().unwrap_or_default();
    ok(serde_json::json!({"version": version, "ansible": "", "web_host": web_host, "use_remote_runner": false}))
}

async fn user(State(s): State<AppState>, headers: HeaderMap) -> Response {
    guard!(s, headers);
    ok(serde_json::json!({
        "id": 1, "created": "0001-01-01T00:00:00Z", "username": "admin", "name": "Admin", "email": "admin@localhost",
        "admin": true, "external": false, "alert": false, "can_create_project": true
    }))
}

async fn tokens(State(s): State<AppState>, headers: HeaderMap) -> Response {
    guard!(s, headers);
    ok(serde_json::json!([{"id": s.config.token, "created": "0001-01-01T00:00:00Z", "expired": false, "user_id": 1}]))
}

async fn login_metadata() -> Response {
    ok(serde_json::json!({"oidc_providers": [], "login_with_password": true}))
}

/// Cookie sessions are not simulated (the bot uses a token): well-formed logins are refused
/// as with a wrong password, malformed ones as malformed.
async fn login(body: Bytes) -> Response {
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(_)) => answer(StatusCode::UNAUTHORIZED, None),
        _ => failure(SimError::status(400)),
    }
}

async fn apps(State(s): State<AppState>, headers: HeaderMap) -> Response {
    guard!(s, headers);
    let app = |id: &str, priority: u32, active: bool| serde_json::json!({"active": active, "priority": priority, "title": "", "icon": "", "color": "", "dark_color": "", "path": "", "args": null, "id": id});
    ok(serde_json::json!([
        app("ansible", 1000, true),
        app("terraform", 900, true),
        app("tofu", 800, false),
        app("bash", 700, true),
        app("powershell", 600, false),
        app("python", 500, false)
    ]))
}

async fn role(State(s): State<AppState>, headers: HeaderMap, Path(p): Path<String>) -> Response {
    guard!(s, headers);
    let p = try_answer!(id(&p, 404).map_err(failure));
    try_answer!(s.sim.model().templates(ProjectId::new(p)).map_err(failure));
    // The token's user created the project: owner, every permission bit.
    ok(serde_json::json!({"role": "owner", "permissions": 15}))
}

async fn empty_list(State(s): State<AppState>, headers: HeaderMap, Path(p): Path<String>) -> Response {
    guard!(s, headers);
    let p = try_answer!(id(&p, 404).map_err(failure));
    try_answer!(s.sim.model().templates(ProjectId::new(p)).map_err(failure));
    ok(Value::Array(Vec::new()))
}

async fn template_tasks(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((p, t)): Path<(String, String)>,
) -> Response {
    guard!(s, headers);
    let p = ProjectId::new(try_answer!(id(&p, 404).map_err(failure)));
    let t = try_answer!(id(&t, 404).map_err(failure));
    let listed = {
        let mut model = s.sim.model();
        let template = model.templates(p).ok().and_then(|l| l.into_iter().find(|x| x.id.get() == t));
        match template {
            None => Err(SimError::status(404)),
            Some(template) => model.recent_tasks(p, 200).map(|tasks| {
                Value::Array(
                    tasks
                        .iter()
                        .filter(|k| k.template == template.id)
                        .map(|k| json::task_with_tpl(k, Some(&template)))
                        .collect(),
                )
            }),
        }
    };
    match listed {
        Ok(list) => ok(shaped(&s, list)),
        Err(e) => failure(e),
    }
}

async fn all_events(State(s): State<AppState>, headers: HeaderMap) -> Response {
    guard!(s, headers);
    let projects = s.sim.model().projects();
    let mut feed = Vec::new();
    for project in projects {
        if let Ok(Value::Array(items)) = activity_json(&s, project.id) {
            feed.extend(items);
        }
    }
    feed.sort_by(|a, b| b["created"].as_str().cmp(&a["created"].as_str()));
    feed.truncate(200);
    ok(Value::Array(feed))
}

async fn projects(State(s): State<AppState>, headers: HeaderMap) -> Response {
    guard!(s, headers);
    let mut model = s.sim.model();
    let projects = model.projects();
    ok(Value::Array(projects.iter().filter_map(|p| model.project_json(p.id)).collect()))
}

async fn create_project(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    guard!(s, headers);
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&body) else {
        return failure(SimError::status(400));
    };
    let name = body.get("name").and_then(Value::as_str).unwrap_or_default();
    let alert = body.get("alert").and_then(Value::as_bool).unwrap_or(false);
    let mut model = s.sim.model();
    let id = model.create_project(name, alert);
    answer(StatusCode::CREATED, model.project_json(id))
}

async fn update_project(State(s): State<AppState>, headers: HeaderMap, Path(p): Path<String>, body: Bytes) -> Response {
    guard!(s, headers);
    let p = ProjectId::new(try_answer!(id(&p, 404).map_err(failure)));
    let Ok(body @ Value::Object(_)) = serde_json::from_slice::<Value>(&body) else {
        return failure(SimError::status(400));
    };
    let updated = s.sim.model().update_project(p, &body);
    match updated {
        Ok(()) => answer(StatusCode::NO_CONTENT, None),
        Err(e) => failure(e),
    }
}

fn list_resources(s: &AppState, p: &str, kind: Kind) -> Response {
    let p = ProjectId::new(try_answer!(id(p, 404).map_err(failure)));
    let listed = s.sim.model().resources(kind, p);
    match listed {
        Ok(items) => ok(Value::Array(items)),
        Err(e) => failure(e),
    }
}

/// 2.10 answers resource creation with 204 and no body (inventories: 201 with the object);
/// newer servers answer 201 with the object.
fn add_resources(s: &AppState, p: &str, kind: Kind, body: &Bytes) -> Response {
    let p = ProjectId::new(try_answer!(id(p, 404).map_err(failure)));
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(body) else {
        return failure(SimError::status(400));
    };
    let mode = s.sim.model().config().mode;
    let added = s.sim.model().add_resource(kind, p, body);
    match (added, mode, kind) {
        (Ok(_), Mode::V2_10, Kind::Key | Kind::Environment | Kind::Repository) => answer(StatusCode::NO_CONTENT, None),
        (Ok(object), _, _) => answer(StatusCode::CREATED, Some(object)),
        (Err(e), _, _) => failure(e),
    }
}

macro_rules! resource_routes {
    ($list:ident, $add:ident, $kind:expr) => {
        async fn $list(State(s): State<AppState>, headers: HeaderMap, Path(p): Path<String>) -> Response {
            guard!(s, headers);
            list_resources(&s, &p, $kind)
        }
        async fn $add(State(s): State<AppState>, headers: HeaderMap, Path(p): Path<String>, body: Bytes) -> Response {
            guard!(s, headers);
            add_resources(&s, &p, $kind, &body)
        }
    };
}

resource_routes!(list_keys, add_key, Kind::Key);
resource_routes!(list_environments, add_environment, Kind::Environment);
resource_routes!(list_repositories, add_repository, Kind::Repository);
resource_routes!(list_inventories, add_inventory, Kind::Inventory);

async fn list_schedules(State(s): State<AppState>, headers: HeaderMap, Path(p): Path<String>) -> Response {
    guard!(s, headers);
    let p = ProjectId::new(try_answer!(id(&p, 404).map_err(failure)));
    let listed = s.sim.model().schedules(p);
    match listed {
        Ok(items) => ok(Value::Array(items)),
        Err(e) => failure(e),
    }
}

/// 2.10 answers a new schedule with 201 and the object (unlike keys and repositories).
async fn add_schedule(State(s): State<AppState>, headers: HeaderMap, Path(p): Path<String>, body: Bytes) -> Response {
    guard!(s, headers);
    let p = ProjectId::new(try_answer!(id(&p, 404).map_err(failure)));
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&body) else {
        return failure(SimError::status(400));
    };
    let added = s.sim.model().add_schedule(p, body);
    match added {
        Ok(object) => answer(StatusCode::CREATED, Some(object)),
        Err(e) => failure(e),
    }
}

async fn create_template(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(p): Path<String>,
    body: Bytes,
) -> Response {
    guard!(s, headers);
    let p = ProjectId::new(try_answer!(id(&p, 404).map_err(failure)));
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return failure(SimError::status(400));
    };
    let created = s.sim.model().create_template(p, &body);
    match created {
        Ok(t) => answer(StatusCode::CREATED, Some(shaped(&s, template_json(&s, p, &t, true)))),
        Err(e) => failure(e),
    }
}

async fn project(State(s): State<AppState>, headers: HeaderMap, Path(p): Path<String>) -> Response {
    guard!(s, headers);
    let p = try_answer!(id(&p, 404).map_err(failure));
    let found = s.sim.model().project_json(ProjectId::new(p));
    match found {
        Some(project) => ok(project),
        None => failure(SimError::status(404)),
    }
}

fn template_json(s: &AppState, project: ProjectId, t: &chatrixcd_ports::semaphore::Template, single: bool) -> Value {
    let mut model = s.sim.model();
    let tasks = model.recent_tasks(project, 200).unwrap_or_default();
    let of_template: Vec<_> = tasks.iter().filter(|k| k.template == t.id).collect();
    let last = of_template.first().map(|k| json::task_with_tpl(k, Some(t)));
    let inventory = model.template_inventory(t.id);
    json::template(t, inventory, of_template.len(), last.as_ref(), single)
}

async fn templates(State(s): State<AppState>, headers: HeaderMap, Path(p): Path<String>) -> Response {
    guard!(s, headers);
    let p = ProjectId::new(try_answer!(id(&p, 404).map_err(failure)));
    let list = s.sim.model().templates(p);
    match list {
        Ok(list) => ok(shaped(&s, Value::Array(list.iter().map(|t| template_json(&s, p, t, false)).collect()))),
        Err(e) => failure(e),
    }
}

async fn template(State(s): State<AppState>, headers: HeaderMap, Path((p, t)): Path<(String, String)>) -> Response {
    guard!(s, headers);
    let p = ProjectId::new(try_answer!(id(&p, 404).map_err(failure)));
    let t = try_answer!(id(&t, 404).map_err(failure));
    let list = s.sim.model().templates(p);
    match list.map(|l| l.into_iter().find(|x| x.id.get() == t)) {
        Ok(Some(found)) => ok(shaped(&s, template_json(&s, p, &found, true))),
        Ok(None) => failure(SimError::status(404)),
        Err(e) => failure(e),
    }
}

fn activity_json(s: &AppState, p: ProjectId) -> Result<Value, SimError> {
    let (feed, name) = {
        let mut model = s.sim.model();
        let name = model.projects().into_iter().find(|x| x.id == p).map(|x| x.name).unwrap_or_default();
        (model.activity(p)?, name)
    };
    Ok(Value::Array(
        feed.iter()
            .map(|a| {
                serde_json::json!({
                    "user_id": 1, "project_id": p.get(), "integration_id": null, "object_id": a.task.get(),
                    "object_type": "task", "description": a.description,
                    "created": a.created.map(|c| c.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
                    "object_name": "", "project_name": name, "username": "admin"
                })
            })
            .collect(),
    ))
}

async fn events(State(s): State<AppState>, headers: HeaderMap, Path(p): Path<String>) -> Response {
    guard!(s, headers);
    let p = ProjectId::new(try_answer!(id(&p, 404).map_err(failure)));
    match activity_json(&s, p) {
        Ok(feed) => ok(feed),
        Err(e) => failure(e),
    }
}

fn list_tasks(s: &AppState, p: ProjectId, limit: usize) -> Response {
    let listed = {
        let mut model = s.sim.model();
        let templates = model.templates(p).unwrap_or_default();
        model.recent_tasks(p, limit).map(|tasks| {
            Value::Array(
                tasks.iter().map(|t| json::task_with_tpl(t, templates.iter().find(|x| x.id == t.template))).collect(),
            )
        })
    };
    match listed {
        Ok(list) => ok(shaped(s, list)),
        Err(e) => failure(e),
    }
}

async fn tasks(State(s): State<AppState>, headers: HeaderMap, Path(p): Path<String>) -> Response {
    guard!(s, headers);
    let p = ProjectId::new(try_answer!(id(&p, 404).map_err(failure)));
    list_tasks(&s, p, 1000)
}

async fn last_tasks(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(p): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    guard!(s, headers);
    let p = ProjectId::new(try_answer!(id(&p, 404).map_err(failure)));
    let limit = q.get("limit").and_then(|l| l.parse::<usize>().ok()).filter(|l| (1..=200).contains(l)).unwrap_or(200);
    list_tasks(&s, p, limit)
}

/// A JSON string holding a JSON object, as Semaphore wants `environment` and `secret`.
fn json_in_string(value: Option<&Value>) -> Result<BTreeMap<String, String>, SimError> {
    match value {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::String(s)) if s.is_empty() => Ok(BTreeMap::new()),
        Some(Value::String(s)) => match serde_json::from_str::<BTreeMap<String, Value>>(s) {
            Ok(map) => {
                Ok(map.into_iter().map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_owned))).collect())
            }
            // The real server fails the task preparation and answers 500.
            Err(_) => Err(SimError::status(500)),
        },
        // An object where a string belongs does not even decode: 400.
        Some(_) => Err(SimError::status(400)),
    }
}

async fn start_task(State(s): State<AppState>, headers: HeaderMap, Path(p): Path<String>, body: Bytes) -> Response {
    guard!(s, headers);
    let p = ProjectId::new(try_answer!(id(&p, 404).map_err(failure)));
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&body) else {
        return failure(SimError::status(400));
    };
    let template = match body.get("template_id") {
        Some(Value::Number(n)) => TemplateId::new(n.as_u64().unwrap_or_default()),
        None | Some(Value::Null) => TemplateId::new(0),
        Some(_) => return failure(SimError::status(400)),
    };
    // A field of the wrong JSON type does not decode: 400 before anything happens.
    for field in ["environment", "secret", "arguments", "message"] {
        if body.get(field).is_some_and(|v| !(v.is_string() || v.is_null())) {
            return failure(SimError::status(400));
        }
    }
    let environment_text = body.get("environment").and_then(Value::as_str).unwrap_or_default().to_owned();
    let environment = match json_in_string(body.get("environment")) {
        Ok(env) => env,
        // Not JSON: the task row is left behind in `error`, and the answer is 500.
        Err(_) => return failure(s.sim.model().start_unpreparable(p, template, environment_text)),
    };
    let arguments_text = body.get("arguments").and_then(Value::as_str).filter(|a| !a.is_empty()).map(str::to_owned);
    let template_allows_args = s
        .sim
        .model()
        .templates(p)
        .ok()
        .and_then(|l| l.into_iter().find(|t| t.id == template))
        .is_some_and(|t| t.allow_override_args_in_task);
    // Stored on the task either way, but only passed to the run when the template allows it.
    let arguments: Vec<String> = match (&arguments_text, template_allows_args) {
        (Some(a), true) => serde_json::from_str(a).unwrap_or_default(),
        _ => Vec::new(),
    };
    let message = body.get("message").and_then(Value::as_str).map(str::to_owned);
    let request =
        StartRequest { project: p, template, environment, arguments, message, environment_text, arguments_text };
    let created = s.sim.model().start(request);
    match created {
        Ok(task) => answer(StatusCode::CREATED, Some(shaped(&s, json::created_task(&task)))),
        Err(e) => failure(e),
    }
}

fn task_ids(p: &str, k: &str) -> Result<(ProjectId, TaskId), SimError> {
    Ok((ProjectId::new(id(p, 404)?), TaskId::new(id(k, 400)?)))
}

async fn task(State(s): State<AppState>, headers: HeaderMap, Path((p, k)): Path<(String, String)>) -> Response {
    guard!(s, headers);
    let (p, k) = try_answer!(task_ids(&p, &k).map_err(failure));
    let found = s.sim.model().task(p, k);
    match found {
        Ok(t) => ok(shaped(&s, json::task(&t))),
        Err(e) => failure(e),
    }
}

async fn output(State(s): State<AppState>, headers: HeaderMap, Path((p, k)): Path<(String, String)>) -> Response {
    guard!(s, headers);
    let (p, k) = try_answer!(task_ids(&p, &k).map_err(failure));
    let found = s.sim.model().task(p, k);
    match found {
        Ok(t) => ok(json::output(&t)),
        Err(e) => failure(e),
    }
}

/// Not in 2.10 (404 like any unknown route); newer servers send the log as text.
async fn raw_output(State(s): State<AppState>, headers: HeaderMap, Path((p, k)): Path<(String, String)>) -> Response {
    if s.sim.model().config().mode == Mode::V2_10 {
        return not_found().await;
    }
    guard!(s, headers);
    let (p, k) = try_answer!(task_ids(&p, &k).map_err(failure));
    let found = s.sim.model().task(p, k);
    match found {
        Ok(t) => {
            let text: String = t.output.iter().map(|(_, l)| format!("{l}\n")).collect();
            ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
        }
        Err(e) => failure(e),
    }
}

async fn stop(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((p, k)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    guard!(s, headers);
    let (p, k) = try_answer!(task_ids(&p, &k).map_err(failure));
    // 2.10 decodes a body here: none at all is a 400.
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&body) else {
        return failure(SimError::status(400));
    };
    let mode =
        if body.get("force").and_then(Value::as_bool).unwrap_or(false) { StopMode::Force } else { StopMode::Graceful };
    let result = s.sim.model().stop_task(p, k, mode);
    match result {
        Ok(()) => answer(StatusCode::NO_CONTENT, None),
        Err(e) => failure(e),
    }
}

async fn confirm(State(s): State<AppState>, headers: HeaderMap, Path((p, k)): Path<(String, String)>) -> Response {
    guard!(s, headers);
    let (p, k) = try_answer!(task_ids(&p, &k).map_err(failure));
    let result = s.sim.model().confirm_task(p, k);
    match result {
        Ok(()) => answer(StatusCode::NO_CONTENT, None),
        Err(e) => failure(e),
    }
}

async fn websocket(State(s): State<AppState>, headers: HeaderMap, upgrade: WebSocketUpgrade) -> Response {
    if !s.config.websocket {
        return StatusCode::NOT_FOUND.into_response();
    }
    guard!(s, headers);
    upgrade.on_upgrade(move |socket| relay(socket, s))
}

/// Relays new events to one client. A client that falls `ws_buffer` messages behind is dropped,
/// as the real server drops it, so that the bot's reconnect path gets exercised.
async fn relay(mut socket: WebSocket, s: AppState) {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(s.config.ws_buffer.max(1));
    let sim = s.sim.clone();
    let poll = s.config.ws_poll;
    let pump = tokio::spawn(async move {
        let mut cursor = sim.model().events_since(0).len();
        loop {
            let fresh: Vec<Value> = {
                let mut model = sim.model();
                let events = model.events_since(cursor);
                cursor += events.len();
                events
                    .iter()
                    .map(|e| match e {
                        Event::Update(u) => json::ws_update(u),
                        Event::Log(l) => json::ws_log(l),
                    })
                    .collect()
            };
            for message in fresh {
                if tx.try_send(message.to_string()).is_err() {
                    // Full (too slow) or closed: either way this client is done.
                    return;
                }
            }
            tokio::time::sleep(poll).await;
        }
    });
    loop {
        tokio::select! {
            next = rx.recv() => {
                let Some(text) = next else { break };
                if socket.send(Message::Text(text.into())).await.is_err() {
                    break;
                }
            }
            // What clients send is read and ignored; their leaving ends the relay.
            incoming = socket.recv() => {
                if matches!(incoming, None | Some(Err(_)) | Some(Ok(Message::Close(_)))) {
                    break;
                }
            }
        }
    }
    pump.abort();
    let _ = socket.send(Message::Close(None)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_taken_as_the_real_server_takes_it() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, value.parse().unwrap());
            headers
        };
        assert!(authorised(&with("Bearer abc123"), "abc123"));
        assert!(authorised(&with("bearer ABC123 "), "abc123"), "case and spaces as the real server");
        for wrong in ["Bearer abc124", "Bearer abc12", "Bearer abc1234", "Token abc123", ""] {
            assert!(!authorised(&with(wrong), "abc123"), "{wrong}");
        }
        assert!(!authorised(&HeaderMap::new(), "abc123"));
    }
}
