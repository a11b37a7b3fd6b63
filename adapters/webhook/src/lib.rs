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
//! Also `GET /healthz`. What the endpoint refuses, it refuses with a bare status code: nothing an
//! attacker could learn from.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{Request, StatusCode};
use axum::routing::{get, post};
use chatrixcd_ports::semaphore::TaskEvents;
use chatrixcd_ports::{InstanceId, TaskEvent};
use subtle::ConstantTimeEq as _;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// The formats Semaphore alerts in, as the path names them.
pub const FORMATS: [&str; 5] = ["slack", "rocketchat", "teams", "dingtalk", "gotify"];

/// The shortest alert secret accepted: 128 bits, written in hex (the sparsest usual alphabet).
pub const MIN_SECRET_CHARS: usize = 32;

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
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            alert_secrets: Vec::new(),
            // Semaphore's largest alert (Teams, with its image strip) is under 4 KiB.
            max_body: 64 * 1024,
            body_timeout: Duration::from_secs(10),
            queue: 256,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("cannot listen on {address}: {source}")]
    Bind { address: SocketAddr, source: std::io::Error },
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

struct Hooks {
    /// Instance name -> (its id, its secret, where its alerts go).
    instances: HashMap<String, (InstanceId, Vec<u8>, mpsc::Sender<TaskEvent>)>,
    max_body: usize,
    body_timeout: Duration,
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
    /// event stream of each instance that takes alerts.
    pub async fn bind(config: WebhookConfig) -> Result<(Self, Vec<(InstanceId, AlertStream)>), WebhookError> {
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
        let hooks = Arc::new(Hooks { instances, max_body: config.max_body, body_timeout: config.body_timeout });
        let router = Router::new()
            .route("/healthz", get(|| async { "ok\n" }))
            .route("/hooks/semaphore/{instance}/{format}/{secret}", post(semaphore_alert))
            // Gotify's client posts to `<url>/message?token=…`.
            .route("/hooks/semaphore/{instance}/{format}/{secret}/message", post(semaphore_alert))
            .with_state(hooks);
        Ok((Self { listener, router }, streams))
    }

    /// Where it listens (the port the system chose, for `:0`).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves until the process ends.
    pub async fn serve(self) -> std::io::Result<()> {
        axum::serve(self.listener, self.router).await
    }
}

async fn semaphore_alert(
    State(hooks): State<Arc<Hooks>>,
    Path((instance, format, secret)): Path<(String, String, String)>,
    request: Request<Body>,
) -> StatusCode {
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
    let body = match tokio::time::timeout(hooks.body_timeout, axum::body::to_bytes(request.into_body(), hooks.max_body))
        .await
    {
        Err(_) => return StatusCode::REQUEST_TIMEOUT,
        Ok(Err(_)) => return StatusCode::PAYLOAD_TOO_LARGE,
        Ok(Ok(body)) => body,
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
        let mut config = WebhookConfig::new("127.0.0.1:0".parse().unwrap());
        config.alert_secrets = vec![(InstanceId::parse("prod").unwrap(), SECRET.to_owned())];
        config.max_body = 4096;
        let (server, mut streams) = Webhooks::bind(config).await.unwrap();
        let url = format!("http://{}", server.local_addr().unwrap());
        tokio::spawn(server.serve());
        (url, streams.remove(0).1)
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
