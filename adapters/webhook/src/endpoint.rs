//! The endpoint itself: routes, the checks each request passes, and what it hands the bot.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, Request, StatusCode, header as headers};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chatrixcd_ports::semaphore::TaskEvents;
use chatrixcd_ports::{Clock, HookEvent, InstanceId, RoomId, TaskEvent};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use subtle::ConstantTimeEq as _;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::metrics::{Kind, Metrics, Outcome};
use crate::server::{Limits, Tls};
use crate::{Cidr, Readiness, Renderer, Verify, health, server, verify};

/// The formats Semaphore alerts in, as the path names them.
pub const FORMATS: [&str; 5] = ["slack", "rocketchat", "teams", "dingtalk", "gotify"];

/// One named hook for another system's deliveries.
#[derive(Clone)]
pub struct HookConfig {
    pub name: String,
    pub secret: String,
    pub verify: Verify,
    pub rooms: Vec<RoomId>,
    /// A minijinja template over the body (`body`, `hook`, `event`); `None`: the defaults.
    pub template: Option<String>,
    /// Client addresses allowed to post; empty: any.
    pub allow: Vec<Cidr>,
    /// A template run the hook may ask for; `None`: it only posts.
    pub run: Option<crate::RunConfig>,
}

impl std::fmt::Debug for HookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HookConfig")
            .field("name", &self.name)
            .field("verify", &self.verify)
            .field("rooms", &self.rooms)
            .finish_non_exhaustive()
    }
}

/// How the endpoint is set up.
#[derive(Clone)]
pub struct WebhookConfig {
    pub listen: SocketAddr,
    /// Each instance that takes Semaphore's alerts, with the secret its alert URL holds.
    pub alert_secrets: Vec<(InstanceId, String)>,
    /// Bodies larger than this are refused (413) before they are read whole.
    pub max_body: usize,
    /// A body that takes longer than this to arrive is dropped (408): a slow client holds
    /// nothing for long.
    pub body_timeout: Duration,
    /// Alerts queued per instance before the endpoint answers 503 (the bot is behind).
    pub queue: usize,
    pub hooks: Vec<HookConfig>,
    /// Proxies whose `X-Forwarded-For` is believed; everybody else's is ignored.
    pub trusted_proxies: Vec<Cidr>,
    /// Requests per second one client address may make (bursts of twice that).
    pub per_client: NonZeroU32,
    /// Deliveries per second one hook takes once they are verified (bursts of twice that): a
    /// sender gone wild cannot flood its rooms. Checked after the signature, so nobody without
    /// the secret can use up a hook's share.
    pub per_hook: NonZeroU32,
    /// How far an `hmac-sha256` delivery's timestamp may be from now.
    pub replay_window: chrono::Duration,
    pub clock: Arc<dyn Clock>,
    /// Header timeout, connection lifetime and count.
    pub limits: Limits,
    /// `None`: plain HTTP (behind a proxy that terminates TLS).
    pub tls: Option<Tls>,
    /// Who may read `/readyz` and `/metrics`; loopback by default.
    pub status_allow: Vec<Cidr>,
    /// What `/readyz` asks; `None`: it answers ready whenever the endpoint runs.
    pub readiness: Option<Arc<dyn Readiness>>,
    /// Where the endpoint counts (register them in `exposition` to see them on `/metrics`).
    pub metrics: Metrics,
    /// What `/metrics` shows; `None`: `/metrics` is not served.
    pub exposition: Option<Arc<prometheus_client::registry::Registry>>,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let instances: Vec<&InstanceId> = self.alert_secrets.iter().map(|(i, _)| i).collect();
        f.debug_struct("WebhookConfig")
            .field("listen", &self.listen)
            .field("instances", &instances)
            .field("max_body", &self.max_body)
            .finish_non_exhaustive()
    }
}

impl WebhookConfig {
    pub fn new(listen: SocketAddr, clock: Arc<dyn Clock>) -> Self {
        Self {
            listen,
            alert_secrets: Vec::new(),
            // Semaphore's largest alert (Teams, with its image strip) is under 4 KiB; a forge's
            // push of many commits can be a few hundred.
            max_body: 1024 * 1024,
            body_timeout: Duration::from_secs(10),
            queue: 256,
            hooks: Vec::new(),
            trusted_proxies: Vec::new(),
            per_client: NonZeroU32::new(50).unwrap_or(NonZeroU32::MIN),
            per_hook: NonZeroU32::new(100).unwrap_or(NonZeroU32::MIN),
            replay_window: chrono::Duration::minutes(5),
            clock,
            limits: Limits::default(),
            tls: None,
            status_allow: Cidr::LOOPBACK.iter().filter_map(|c| Cidr::parse(c).ok()).collect(),
            readiness: None,
            metrics: Metrics::default(),
            exposition: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("cannot listen on {address}: {source}")]
    Bind { address: SocketAddr, source: std::io::Error },
    #[error("webhooks.hooks.{hook}: {message}")]
    Template { hook: String, message: String },
    #[error("TLS: {file}: {message}")]
    Tls { file: String, message: String },
}

/// One instance's alerts, as an event stream for the bot.
#[derive(Debug)]
pub struct AlertStream {
    rx: mpsc::Receiver<TaskEvent>,
}

#[async_trait::async_trait]
impl TaskEvents for AlertStream {
    async fn next_event(&mut self) -> Option<TaskEvent> {
        self.rx.recv().await
    }
}

struct Generic {
    config: HookConfig,
    renderer: Renderer,
    run: Option<crate::run::RunTemplates>,
    limiter: DefaultDirectRateLimiter,
}

struct Hooks {
    /// Instance name -> (its id, its secret, where its alerts go).
    instances: HashMap<String, (InstanceId, Vec<u8>, mpsc::Sender<TaskEvent>)>,
    generic: HashMap<String, Generic>,
    deliveries: mpsc::Sender<HookEvent>,
    max_body: usize,
    body_timeout: Duration,
    trusted: Vec<Cidr>,
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    replay_window: chrono::Duration,
    replays: verify::Replays,
    clock: Arc<dyn Clock>,
    metrics: Metrics,
    status_allow: Vec<Cidr>,
    ready: Option<health::Ready>,
    exposition: Option<Arc<prometheus_client::registry::Registry>>,
}

/// The endpoint, bound and ready to serve.
pub struct Webhooks {
    listener: TcpListener,
    router: Router,
    tls: Option<Tls>,
    limits: Limits,
}

impl std::fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhooks").field("address", &self.listener.local_addr().ok()).finish_non_exhaustive()
    }
}

impl Webhooks {
    /// Binds the listener (so a port in use is an error at start, not later) and returns the
    /// event stream of each instance that takes alerts, and the deliveries of the named hooks.
    pub async fn bind(config: WebhookConfig) -> Result<Bound, WebhookError> {
        let mut generic = HashMap::new();
        let twice = |n: NonZeroU32| n.saturating_mul(NonZeroU32::MIN.saturating_add(1));
        for hook in config.hooks {
            let renderer = Renderer::new(hook.template.as_deref())
                .map_err(|message| WebhookError::Template { hook: hook.name.clone(), message })?;
            let run = hook
                .run
                .clone()
                .map(crate::run::RunTemplates::new)
                .transpose()
                .map_err(|message| WebhookError::Template { hook: hook.name.clone(), message })?;
            let limiter = RateLimiter::direct(Quota::per_second(config.per_hook).allow_burst(twice(config.per_hook)));
            generic.insert(hook.name.clone(), Generic { config: hook, renderer, run, limiter });
        }
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| WebhookError::Bind { address: config.listen, source })?;
        let mut instances = HashMap::new();
        let mut streams = Vec::new();
        for (instance, secret) in config.alert_secrets {
            let (tx, rx) = mpsc::channel(config.queue.max(1));
            instances.insert(instance.to_string(), (instance, secret.into_bytes(), tx));
            streams.push((instance, AlertStream { rx }));
        }
        let (deliveries, delivered) = mpsc::channel(config.queue.max(1));
        let burst = twice(config.per_client);
        let hooks = Arc::new(Hooks {
            instances,
            generic,
            deliveries,
            max_body: config.max_body,
            body_timeout: config.body_timeout,
            trusted: config.trusted_proxies,
            limiter: RateLimiter::keyed(Quota::per_second(config.per_client).allow_burst(burst)),
            replay_window: config.replay_window,
            replays: verify::Replays::default(),
            clock: config.clock,
            metrics: config.metrics,
            status_allow: config.status_allow,
            ready: config.readiness.map(health::Ready::new),
            exposition: config.exposition,
        });
        let router = Router::new()
            .route("/healthz", get(|| async { "ok\n" }))
            .route("/readyz", get(readyz))
            .route("/metrics", get(metrics_text))
            .route("/hooks/semaphore/{instance}/{format}/{secret}", post(semaphore_alert))
            // Gotify's client posts to `<url>/message?token=…`.
            .route("/hooks/semaphore/{instance}/{format}/{secret}/message", post(semaphore_alert))
            .route("/hooks/{name}", post(generic_hook))
            .with_state(Arc::clone(&hooks));
        // The limiter remembers every client address it saw; forget the quiet ones now and then.
        let weak = Arc::downgrade(&hooks);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            loop {
                every.tick().await;
                let Some(hooks) = weak.upgrade() else { break };
                hooks.limiter.retain_recent();
            }
        });
        let server = Self { listener, router, tls: config.tls, limits: config.limits };
        Ok(Bound { server, alerts: streams, deliveries: delivered })
    }

    /// Where it listens (the port the system chose, for `:0`).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves until the process ends.
    pub async fn serve(self) {
        server::serve(self.listener, self.router, self.tls, self.limits).await;
    }
}

/// A bound endpoint and what it will deliver.
#[derive(Debug)]
pub struct Bound {
    pub server: Webhooks,
    /// Each instance's alerts, as an event stream.
    pub alerts: Vec<(InstanceId, AlertStream)>,
    /// The named hooks' deliveries, rendered.
    pub deliveries: mpsc::Receiver<HookEvent>,
}

/// The address a request comes from: the peer's, or, from a trusted proxy, the nearest address
/// in `X-Forwarded-For` that is not one of the trusted proxies.
fn client_address(trusted: &[Cidr], peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    if !trusted.iter().any(|c| c.contains(peer)) {
        return peer;
    }
    let forwarded = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok());
    let hops: Vec<IpAddr> = forwarded.flat_map(|v| v.split(',')).filter_map(|a| a.trim().parse().ok()).collect();
    hops.into_iter().rev().find(|ip| !trusted.iter().any(|c| c.contains(*ip))).unwrap_or(peer)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Reads a body within the size and time limits.
async fn read_body(hooks: &Hooks, body: Body) -> Result<axum::body::Bytes, Outcome> {
    match tokio::time::timeout(hooks.body_timeout, axum::body::to_bytes(body, hooks.max_body)).await {
        Err(_) => Err(Outcome::Timeout),
        Ok(Err(_)) => Err(Outcome::TooLarge),
        Ok(Ok(body)) => Ok(body),
    }
}

/// Whether a delivery's `Content-Type` (if any) says JSON: GitHub sends a form unless told
/// otherwise, and a form's body would be refused later as not JSON, less clearly.
fn declares_json(request_headers: &HeaderMap) -> bool {
    let Some(declared) = header(request_headers, "content-type") else { return true };
    let media = declared.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    media == "application/json" || media.ends_with("+json") || media == "text/plain" || media.is_empty()
}

/// The bare status an outcome is answered with.
fn status(outcome: Outcome) -> StatusCode {
    match outcome {
        Outcome::Accepted => StatusCode::ACCEPTED,
        Outcome::NotFound => StatusCode::NOT_FOUND,
        Outcome::Forbidden => StatusCode::FORBIDDEN,
        Outcome::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        Outcome::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Outcome::Timeout => StatusCode::REQUEST_TIMEOUT,
        Outcome::Unsigned | Outcome::BadSignature | Outcome::Stale | Outcome::Replayed => StatusCode::UNAUTHORIZED,
        Outcome::BadBody => StatusCode::BAD_REQUEST,
        Outcome::UnsupportedType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Outcome::Busy => StatusCode::SERVICE_UNAVAILABLE,
    }
}

impl From<verify::Refusal> for Outcome {
    fn from(refusal: verify::Refusal) -> Self {
        match refusal {
            verify::Refusal::Unsigned => Self::Unsigned,
            verify::Refusal::BadSignature => Self::BadSignature,
            verify::Refusal::Stale => Self::Stale,
            verify::Refusal::Replayed => Self::Replayed,
            verify::Refusal::Busy => Self::Busy,
        }
    }
}

impl Hooks {
    /// Checks a delivery's proof, by its hook's scheme.
    fn verify(&self, hook: &HookConfig, request_headers: &HeaderMap, body: &[u8]) -> Result<(), verify::Refusal> {
        let context = verify::Context {
            secret: hook.secret.as_bytes(),
            now: self.clock.now().timestamp(),
            window: self.replay_window.num_seconds(),
            replays: &self.replays,
        };
        verify::check(hook.verify, context, |name| header(request_headers, name), body)
    }

    /// Whether `client` may read the status routes.
    fn may_see_status(&self, peer: IpAddr, request_headers: &HeaderMap) -> bool {
        let client = client_address(&self.trusted, peer, request_headers);
        self.status_allow.iter().any(|c| c.contains(client))
    }
}

async fn generic_hook(
    State(hooks): State<Arc<Hooks>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
    request: Request<Body>,
) -> StatusCode {
    let started = Instant::now();
    let outcome = deliver(&hooks, peer.ip(), &name, request).await;
    hooks.metrics.record(Kind::Hook, outcome, started.elapsed().as_secs_f64());
    status(outcome)
}

/// A named hook's delivery, checked in order of cost: nothing is read, parsed or rendered for
/// a request that a cheaper check refuses.
async fn deliver(hooks: &Hooks, peer: IpAddr, name: &str, request: Request<Body>) -> Outcome {
    let Some(hook) = hooks.generic.get(name) else { return Outcome::NotFound };
    let client = client_address(&hooks.trusted, peer, request.headers());
    if !hook.config.allow.is_empty() && !hook.config.allow.iter().any(|c| c.contains(client)) {
        tracing::debug!(hook = %name, %client, "a delivery from outside the allow list was refused");
        return Outcome::Forbidden;
    }
    if hooks.limiter.check_key(&client).is_err() {
        return Outcome::RateLimited;
    }
    if !declares_json(request.headers()) {
        return Outcome::UnsupportedType;
    }
    let (parts, body) = request.into_parts();
    let body = match read_body(hooks, body).await {
        Ok(body) => body,
        Err(outcome) => return outcome,
    };
    if let Err(refusal) = hooks.verify(&hook.config, &parts.headers, &body) {
        tracing::warn!(hook = %name, %client, reason = refusal.as_str(), "a webhook delivery was refused");
        return refusal.into();
    }
    // Refused after its signature was taken: the sender's retry must not read as a replay.
    let not_taken = |outcome: Outcome| {
        if hook.config.verify == Verify::HmacSha256
            && let Some(signature) = header(&parts.headers, "x-signature-256").and_then(|s| s.strip_prefix("sha256="))
        {
            hooks.replays.forget(signature);
        }
        outcome
    };
    if hook.limiter.check().is_err() {
        tracing::warn!(hook = %name, "a hook's deliveries arrive faster than its limit; one was refused");
        return not_taken(Outcome::RateLimited);
    }
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(&body) else {
        tracing::debug!(hook = %name, "a signed delivery was not JSON");
        return not_taken(Outcome::BadBody);
    };
    let event = hook.config.verify.event_header().iter().find_map(|h| header(&parts.headers, h));
    let text = hook.renderer.render(name, hook.config.verify, event, &json);
    let run = hook.run.as_ref().and_then(|r| r.run_for(name, event, &json));
    let delivery = HookEvent { hook: name.to_owned(), rooms: hook.config.rooms.clone(), text, run };
    match hooks.deliveries.try_send(delivery) {
        Ok(()) => Outcome::Accepted,
        Err(_) => not_taken(Outcome::Busy),
    }
}

async fn semaphore_alert(
    State(hooks): State<Arc<Hooks>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((instance, format, secret)): Path<(String, String, String)>,
    request: Request<Body>,
) -> StatusCode {
    let started = Instant::now();
    let outcome = alert(&hooks, peer.ip(), (&instance, &format, &secret), request).await;
    hooks.metrics.record(Kind::Alert, outcome, started.elapsed().as_secs_f64());
    // Semaphore takes only 200 as sent for most formats (Teams also 202); anything else puts
    // "Can't send … alert" in the task's log.
    if outcome == Outcome::Accepted { StatusCode::OK } else { status(outcome) }
}

async fn alert(
    hooks: &Hooks,
    peer: IpAddr,
    (instance, format, secret): (&str, &str, &str),
    request: Request<Body>,
) -> Outcome {
    let client = client_address(&hooks.trusted, peer, request.headers());
    if hooks.limiter.check_key(&client).is_err() {
        return Outcome::RateLimited;
    }
    // Unknown instance and wrong secret answer alike: the answer tells nobody which instances
    // exist.
    let Some((id, expected, tx)) = hooks.instances.get(instance) else { return Outcome::NotFound };
    if !bool::from(secret.as_bytes().ct_eq(expected)) {
        tracing::debug!(%instance, %client, "a Semaphore alert with a wrong secret was refused");
        return Outcome::NotFound;
    }
    if !FORMATS.contains(&format) {
        return Outcome::NotFound;
    }
    let body = match read_body(hooks, request.into_body()).await {
        Ok(body) => body,
        Err(outcome) => return outcome,
    };
    let notice = match chatrixcd_semaphore::alert::parse_alert(&body) {
        Ok(notice) => notice,
        Err(e) => {
            tracing::warn!(%instance, %format, error = %e, "a Semaphore alert could not be read");
            return Outcome::BadBody;
        }
    };
    let event = TaskEvent::Alert { project: notice.project, task: notice.task, status: notice.status };
    match tx.try_send(event) {
        Ok(()) => Outcome::Accepted,
        Err(mpsc::error::TrySendError::Full(_)) => {
            tracing::warn!(instance = %id, "Semaphore alerts arrive faster than the bot reads them; one was refused");
            Outcome::Busy
        }
        Err(mpsc::error::TrySendError::Closed(_)) => Outcome::Busy,
    }
}

async fn readyz(
    State(hooks): State<Arc<Hooks>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request_headers: HeaderMap,
) -> Response {
    if !hooks.may_see_status(peer.ip(), &request_headers) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let (ready, body) = match &hooks.ready {
        Some(ready) => ready.report().await,
        None => (true, serde_json::json!({ "ready": true, "checks": {} })),
    };
    let code = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, axum::Json(body)).into_response()
}

async fn metrics_text(
    State(hooks): State<Arc<Hooks>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request_headers: HeaderMap,
) -> Response {
    let Some(registry) = hooks.exposition.as_ref().filter(|_| hooks.may_see_status(peer.ip(), &request_headers)) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut text = String::new();
    if prometheus_client::encoding::text::encode(&mut text, registry).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    ([(headers::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text).into_response()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chatrixcd_ports::{ProjectId, TaskId, TaskStatus};

    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    async fn endpoint() -> (String, AlertStream) {
        let mut config = WebhookConfig::new("127.0.0.1:0".parse().unwrap(), Arc::new(chatrixcd_clock::SystemClock));
        config.alert_secrets = vec![(InstanceId::parse("prod").unwrap(), SECRET.to_owned())];
        config.max_body = 4096;
        let mut bound = Webhooks::bind(config).await.unwrap();
        let url = format!("http://{}", bound.server.local_addr().unwrap());
        tokio::spawn(bound.server.serve());
        (url, bound.alerts.remove(0).1)
    }

    fn slack(task: u64) -> String {
        format!(
            r#"{{"attachments":[{{"title":"Task: deploy","title_link":"https://s/project/2/templates/5?t={task}","text":"execution #{task}, status: ✅SUCCESS!"}}]}}"#
        )
    }

    #[tokio::test]
    async fn an_alert_becomes_an_event_and_everything_else_a_bare_refusal() {
        let (url, mut stream) = endpoint().await;
        let client = reqwest::Client::new();
        let post = |path: String, body: String| {
            let client = client.clone();
            async move { client.post(path).body(body).send().await.unwrap().status().as_u16() }
        };
        let good = format!("{url}/hooks/semaphore/prod/slack/{SECRET}");
        assert_eq!(post(good.clone(), slack(7)).await, 200);
        assert_eq!(
            stream.next_event().await,
            Some(TaskEvent::Alert {
                project: Some(ProjectId::new(2)),
                task: TaskId::new(7),
                status: TaskStatus::Success
            })
        );
        let cases = [
            (format!("{url}/hooks/semaphore/prod/slack/{}", &SECRET[1..]), slack(1), 404),
            (format!("{url}/hooks/semaphore/nowhere/slack/{SECRET}"), slack(1), 404),
            (format!("{url}/hooks/semaphore/prod/email/{SECRET}"), slack(1), 404),
            (good.clone(), "not an alert".to_owned(), 400),
            (good.clone(), "x".repeat(5000), 413),
        ];
        for (path, body, expected) in cases {
            assert_eq!(post(path.clone(), body).await, expected, "{path}");
        }
        let gotify = format!("{url}/hooks/semaphore/prod/gotify/{SECRET}/message?token=t");
        assert_eq!(post(gotify, r#"{"title":"Task: x","message":"execution #9, status: ❌ERROR!"}"#.into()).await, 200);
        assert!(matches!(stream.next_event().await, Some(TaskEvent::Alert { task, .. }) if task == TaskId::new(9)));
        let health = client.get(format!("{url}/healthz")).send().await.unwrap();
        assert_eq!(health.status().as_u16(), 200);
    }

    struct Half;

    #[async_trait::async_trait]
    impl Readiness for Half {
        async fn checks(&self) -> Vec<crate::Check> {
            let check = |name: &str, ok| crate::Check { name: name.into(), ok, detail: "d".into() };
            vec![check("matrix", true), check("semaphore:prod", false)]
        }
    }

    #[tokio::test]
    async fn status_routes_answer_only_the_allowed_and_count_refusals() {
        let mut config = WebhookConfig::new("127.0.0.1:0".parse().unwrap(), Arc::new(chatrixcd_clock::SystemClock));
        config.alert_secrets = vec![(InstanceId::parse("prod").unwrap(), SECRET.to_owned())];
        config.trusted_proxies = vec![Cidr::parse("127.0.0.1/32").unwrap()];
        config.readiness = Some(Arc::new(Half));
        let mut registry = prometheus_client::registry::Registry::with_prefix("chatrixcd");
        config.metrics = Metrics::register(&mut registry);
        config.exposition = Some(Arc::new(registry));
        let bound = Webhooks::bind(config).await.unwrap();
        let url = format!("http://{}", bound.server.local_addr().unwrap());
        tokio::spawn(bound.server.serve());
        let client = reqwest::Client::new();
        let get = |path: &str, from: Option<&str>| {
            let mut request = client.get(format!("{url}{path}"));
            if let Some(address) = from {
                request = request.header("X-Forwarded-For", address);
            }
            async move {
                let answer = request.send().await.unwrap();
                (answer.status().as_u16(), answer.text().await.unwrap())
            }
        };
        let (status, body) = get("/readyz", None).await;
        assert_eq!(status, 503, "one check failed: {body}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!((json["ready"].clone(), json["checks"]["matrix"]["ok"].clone()), (false.into(), true.into()));
        assert_eq!(get("/readyz", Some("192.0.2.7")).await.0, 404, "not from outside status_allow");
        assert_eq!(get("/metrics", Some("192.0.2.7")).await.0, 404);
        let wrong = client.post(format!("{url}/hooks/semaphore/prod/slack/{}", "0".repeat(32))).body("{}");
        assert_eq!(wrong.send().await.unwrap().status().as_u16(), 404);
        let (status, text) = get("/metrics", None).await;
        assert_eq!(status, 200);
        assert!(text.contains(r#"chatrixcd_webhook_requests_total{kind="alert",outcome="not_found"} 1"#), "{text}");
        assert!(text.contains("chatrixcd_webhook_request_duration_seconds_bucket"), "{text}");
    }
}
