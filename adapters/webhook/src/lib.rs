//! The bot's HTTP endpoint for pushes (axum, off unless configured).
//!
//! Semaphore has no webhook of its own and signs nothing, but its messenger alerts (Slack,
//! Rocket.Chat, Teams, DingTalk, Gotify) POST to any URL. Pointed at
//! `/hooks/semaphore/<instance>/<format>/<secret>`, each alert becomes a [`TaskEvent::Alert`] on
//! that instance's event stream, the same path the websocket's events take: the watcher then
//! reads the task for the truth. The secret is in the path because Semaphore cannot sign; it
//! is compared in constant time, and the answer (202) is given once the alert is queued, never
//! after anything is posted to chat.
//!
//! Other systems (Gitea, Forgejo, GitHub, GitLab, CI) post to named hooks at `/hooks/<name>`:
//! each delivery is checked (allow list, rate limit, size, then its signature, before any work),
//! rendered by the hook's template and posted to the hook's rooms.
//!
//! Also `GET /healthz`. What the endpoint refuses, it refuses with a bare status code: nothing an
//! attacker could learn from.

pub mod cidr;
pub mod render;
pub mod verify;

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, Request, StatusCode};
use axum::routing::{get, post};
use chatrixcd_ports::semaphore::TaskEvents;
use chatrixcd_ports::{Clock, HookEvent, InstanceId, RoomId, TaskEvent};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use subtle::ConstantTimeEq as _;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

pub use cidr::Cidr;
pub use render::Renderer;
pub use verify::Verify;

/// The formats Semaphore alerts in, as the path names them.
pub const FORMATS: [&str; 5] = ["slack", "rocketchat", "teams", "dingtalk", "gotify"];

/// The shortest alert secret accepted: 128 bits, written in hex (the sparsest usual alphabet).
pub const MIN_SECRET_CHARS: usize = 32;

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
    /// How far an `hmac-sha256` delivery's timestamp may be from now.
    pub replay_window: chrono::Duration,
    pub clock: Arc<dyn Clock>,
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
            replay_window: chrono::Duration::minutes(5),
            clock,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("cannot listen on {address}: {source}")]
    Bind { address: SocketAddr, source: std::io::Error },
    #[error("webhooks.hooks.{hook}: {message}")]
    Template { hook: String, message: String },
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
}

/// Signatures seen within the replay window, oldest first: each delivery is accepted once.
#[derive(Default)]
struct Seen {
    order: VecDeque<(i64, String)>,
    set: HashSet<String>,
}

/// The most signatures remembered; past it the oldest are forgotten (the rate limit keeps a
/// window's worth far below it).
const SEEN_MAX: usize = 100_000;

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
    seen: Mutex<Seen>,
    clock: Arc<dyn Clock>,
}

/// The endpoint, bound and ready to serve.
pub struct Webhooks {
    listener: TcpListener,
    router: Router,
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
        for hook in config.hooks {
            let renderer = Renderer::new(hook.template.as_deref())
                .map_err(|message| WebhookError::Template { hook: hook.name.clone(), message })?;
            generic.insert(hook.name.clone(), Generic { config: hook, renderer });
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
        let burst = config.per_client.saturating_mul(NonZeroU32::MIN.saturating_add(1));
        let hooks = Arc::new(Hooks {
            instances,
            generic,
            deliveries,
            max_body: config.max_body,
            body_timeout: config.body_timeout,
            trusted: config.trusted_proxies,
            limiter: RateLimiter::keyed(Quota::per_second(config.per_client).allow_burst(burst)),
            replay_window: config.replay_window,
            seen: Mutex::new(Seen::default()),
            clock: config.clock,
        });
        let router = Router::new()
            .route("/healthz", get(|| async { "ok\n" }))
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
        Ok(Bound { server: Self { listener, router }, alerts: streams, deliveries: delivered })
    }

    /// Where it listens (the port the system chose, for `:0`).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves until the process ends.
    pub async fn serve(self) -> std::io::Result<()> {
        axum::serve(self.listener, self.router.into_make_service_with_connect_info::<SocketAddr>()).await
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
async fn read_body(hooks: &Hooks, body: Body) -> Result<axum::body::Bytes, StatusCode> {
    match tokio::time::timeout(hooks.body_timeout, axum::body::to_bytes(body, hooks.max_body)).await {
        Err(_) => Err(StatusCode::REQUEST_TIMEOUT),
        Ok(Err(_)) => Err(StatusCode::PAYLOAD_TOO_LARGE),
        Ok(Ok(body)) => Ok(body),
    }
}

impl Hooks {
    /// Checks a delivery's proof, by its hook's scheme.
    fn verify(&self, hook: &HookConfig, headers: &HeaderMap, body: &[u8]) -> Result<(), verify::Refusal> {
        use verify::Refusal;
        let secret = hook.secret.as_bytes();
        let ok = match hook.verify {
            Verify::Github => {
                let given = header(headers, "x-hub-signature-256").ok_or(Refusal::Unsigned)?;
                given.strip_prefix("sha256=").is_some_and(|hex| verify::hmac_matches(secret, &[body], hex))
            }
            Verify::Gitea => {
                let given = header(headers, "x-gitea-signature")
                    .or_else(|| header(headers, "x-forgejo-signature"))
                    .ok_or(Refusal::Unsigned)?;
                verify::hmac_matches(secret, &[body], given)
            }
            Verify::GitlabToken => {
                verify::token_matches(secret, header(headers, "x-gitlab-token").ok_or(Refusal::Unsigned)?)
            }
            Verify::Bearer => {
                let given = header(headers, "authorization").ok_or(Refusal::Unsigned)?;
                given.strip_prefix("Bearer ").is_some_and(|token| verify::token_matches(secret, token))
            }
            Verify::HmacSha256 => return self.verify_timestamped(secret, headers, body),
        };
        if ok { Ok(()) } else { Err(Refusal::BadSignature) }
    }

    /// The generic scheme: a signature of `<timestamp>.<body>`, fresh, and new.
    fn verify_timestamped(&self, secret: &[u8], headers: &HeaderMap, body: &[u8]) -> Result<(), verify::Refusal> {
        use verify::Refusal;
        let stamp = header(headers, "x-timestamp").ok_or(Refusal::Unsigned)?;
        let signature = header(headers, "x-signature-256").ok_or(Refusal::Unsigned)?;
        let hex = signature.strip_prefix("sha256=").ok_or(Refusal::BadSignature)?;
        let at: i64 = stamp.trim().parse().map_err(|_| Refusal::BadSignature)?;
        let now = self.clock.now().timestamp();
        let window = self.replay_window.num_seconds();
        if (now - at).abs() > window {
            return Err(Refusal::Stale);
        }
        if !verify::hmac_matches(secret, &[stamp.trim().as_bytes(), b".", body], hex) {
            return Err(Refusal::BadSignature);
        }
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        while seen.order.front().is_some_and(|(t, _)| *t < now - window) || seen.order.len() >= SEEN_MAX {
            if let Some((_, old)) = seen.order.pop_front() {
                seen.set.remove(&old);
            }
        }
        let key = hex.trim().to_ascii_lowercase();
        if !seen.set.insert(key.clone()) {
            return Err(Refusal::Replayed);
        }
        seen.order.push_back((at.max(now - window), key));
        Ok(())
    }
}

async fn generic_hook(
    State(hooks): State<Arc<Hooks>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
    request: Request<Body>,
) -> StatusCode {
    let Some(hook) = hooks.generic.get(&name) else { return StatusCode::NOT_FOUND };
    let client = client_address(&hooks.trusted, peer.ip(), request.headers());
    if !hook.config.allow.is_empty() && !hook.config.allow.iter().any(|c| c.contains(client)) {
        tracing::debug!(hook = %name, %client, "a delivery from outside the allow list was refused");
        return StatusCode::FORBIDDEN;
    }
    if hooks.limiter.check_key(&client).is_err() {
        return StatusCode::TOO_MANY_REQUESTS;
    }
    let (parts, body) = request.into_parts();
    let body = match read_body(&hooks, body).await {
        Ok(body) => body,
        Err(status) => return status,
    };
    if let Err(refusal) = hooks.verify(&hook.config, &parts.headers, &body) {
        tracing::warn!(hook = %name, %client, reason = refusal.as_str(), "a webhook delivery was refused");
        return StatusCode::UNAUTHORIZED;
    }
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(&body) else { return StatusCode::BAD_REQUEST };
    let event = hook.config.verify.event_header().iter().find_map(|h| header(&parts.headers, h));
    let text = hook.renderer.render(&name, hook.config.verify, event, &json);
    let delivery = HookEvent { hook: name.clone(), rooms: hook.config.rooms.clone(), text };
    match hooks.deliveries.try_send(delivery) {
        Ok(()) => StatusCode::ACCEPTED,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

async fn semaphore_alert(
    State(hooks): State<Arc<Hooks>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((instance, format, secret)): Path<(String, String, String)>,
    request: Request<Body>,
) -> StatusCode {
    let client = client_address(&hooks.trusted, peer.ip(), request.headers());
    if hooks.limiter.check_key(&client).is_err() {
        return StatusCode::TOO_MANY_REQUESTS;
    }
    // Unknown instance and wrong secret answer alike: the answer tells nobody which instances
    // exist.
    let Some((id, expected, tx)) = hooks.instances.get(&instance) else { return StatusCode::NOT_FOUND };
    if !bool::from(secret.as_bytes().ct_eq(expected)) {
        tracing::debug!(%instance, "a Semaphore alert with a wrong secret was refused");
        return StatusCode::NOT_FOUND;
    }
    if !FORMATS.contains(&format.as_str()) {
        return StatusCode::NOT_FOUND;
    }
    let body = match read_body(&hooks, request.into_body()).await {
        Ok(body) => body,
        Err(status) => return status,
    };
    let notice = match chatrixcd_semaphore::alert::parse_alert(&body) {
        Ok(notice) => notice,
        Err(e) => {
            tracing::warn!(%instance, %format, error = %e, "a Semaphore alert could not be read");
            return StatusCode::BAD_REQUEST;
        }
    };
    let event = TaskEvent::Alert { project: notice.project, task: notice.task, status: notice.status };
    match tx.try_send(event) {
        Ok(()) => StatusCode::ACCEPTED,
        Err(mpsc::error::TrySendError::Full(_)) => {
            tracing::warn!(instance = %id, "Semaphore alerts arrive faster than the bot reads them; one was refused");
            StatusCode::SERVICE_UNAVAILABLE
        }
        Err(mpsc::error::TrySendError::Closed(_)) => StatusCode::SERVICE_UNAVAILABLE,
    }
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
        assert_eq!(post(good.clone(), slack(7)).await, 202);
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
        assert_eq!(post(gotify, r#"{"title":"Task: x","message":"execution #9, status: ❌ERROR!"}"#.into()).await, 202);
        assert!(matches!(stream.next_event().await, Some(TaskEvent::Alert { task, .. }) if task == TaskId::new(9)));
        let health = client.get(format!("{url}/healthz")).send().await.unwrap();
        assert_eq!(health.status().as_u16(), 200);
    }
}
