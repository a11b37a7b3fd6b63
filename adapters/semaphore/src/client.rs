//! HTTP transport: requests, retries, and the mapping of statuses onto `SemaphoreError`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chatrixcd_ports::semaphore::{
    ActivityEvent, Environment, Inventory, LogTooLarge, Project, SemaphoreError, SemaphorePort, ServerInfo,
    ServerSchedule, StartTask, StopMode, Task, TaskLog, Template,
};
use chatrixcd_ports::{ProjectId, TaskId, TemplateId};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::config::{ConfigError, SemaphoreConfig};
use crate::list::{ListError, ListSplitter};
use crate::wire::{
    self, WireEvent, WireInfo, WireNamed, WireOutput, WireProject, WireSchedule, WireTask, WireTemplate,
};

/// A Semaphore server reached over HTTP(S). Clones share connections.
#[derive(Clone)]
pub struct HttpSemaphore {
    http: reqwest::Client,
    /// Same TLS settings, no overall timeout: a websocket lives long.
    pub(crate) ws_http: reqwest::Client,
    /// `https://host[/path]/api`
    api: String,
    /// Where the web UI lives, for task links.
    web: String,
    token: String,
    read_retries: u32,
    retry_backoff: Duration,
    /// Whether the server predates `params` (older than 2.13), learned from `/api/info` once.
    legacy: Arc<Mutex<Option<bool>>>,
    /// Told of every request's route and outcome (for `/metrics`).
    observer: Option<Arc<dyn Observe>>,
}

impl std::fmt::Debug for HttpSemaphore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSemaphore").field("api", &self.api).finish_non_exhaustive()
    }
}

/// A client builder with the configured TLS settings.
fn tls_builder(config: &SemaphoreConfig) -> Result<reqwest::ClientBuilder, ConfigError> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(config.connect_timeout)
        .redirect(redirect_policy())
        .user_agent(concat!("chatrixcd/", env!("CARGO_PKG_VERSION")));
    if !config.verify_tls {
        builder = builder.tls_danger_accept_invalid_certs(true);
    }
    if let Some(path) = &config.ca_file {
        let pem = read_pem("CA file", path)?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| ConfigError::Pem {
            what: "CA file",
            path: path.clone(),
            reason: e.to_string(),
        })?;
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    if let Some(cert_path) = &config.client_cert {
        let mut pem = read_pem("client certificate", cert_path)?;
        if let Some(key_path) = &config.client_key {
            pem.push(b'\n');
            pem.extend(read_pem("client key", key_path)?);
        }
        let identity = reqwest::Identity::from_pem(&pem).map_err(|e| ConfigError::Pem {
            what: "client certificate",
            path: cert_path.clone(),
            reason: e.to_string(),
        })?;
        builder = builder.identity(identity);
    }
    Ok(builder)
}

/// Redirects are followed only while they keep TLS: an `https` server sending the client to
/// `http` would have a task's start (its secret values; a 307 sends the body again) go out in
/// the clear. reqwest already drops the token when the scheme, host or port changes.
fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        if downgrades(attempt.previous(), attempt.url()) {
            attempt.error("Semaphore redirected from https to plain http; not followed")
        } else if attempt.previous().len() > 5 {
            attempt.error("Semaphore redirected more than 5 times")
        } else {
            attempt.follow()
        }
    })
}

/// Whether going to `next` leaves TLS that an earlier address of the request had.
fn downgrades(previous: &[reqwest::Url], next: &reqwest::Url) -> bool {
    next.scheme() != "https" && previous.iter().any(|u| u.scheme() == "https")
}

fn read_pem(what: &'static str, path: &std::path::Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|source| ConfigError::File { what, path: path.to_owned(), source })
}

impl HttpSemaphore {
    pub fn new(config: &SemaphoreConfig) -> Result<Self, ConfigError> {
        let base = config.base_url().ok_or_else(|| ConfigError::BadUrl(config.url.clone()))?;
        if config.token.trim().is_empty() {
            return Err(ConfigError::NoToken);
        }
        if !config.verify_tls {
            tracing::warn!(
                url = %base,
                "TLS certificate verification for Semaphore is OFF: anyone on the network path can read the API token and forge answers"
            );
        }
        let http = tls_builder(config)?
            .timeout(config.request_timeout)
            .build()
            .map_err(|e| ConfigError::Client(e.to_string()))?;
        let ws_http = tls_builder(config)?.build().map_err(|e| ConfigError::Client(e.to_string()))?;
        let web =
            config.web_url.as_deref().map(|w| w.trim_end_matches('/').to_owned()).unwrap_or_else(|| base.to_owned());
        Ok(Self {
            http,
            ws_http,
            api: format!("{base}/api"),
            web,
            token: config.token.trim().to_owned(),
            read_retries: config.read_retries,
            retry_backoff: config.retry_backoff,
            legacy: Arc::new(Mutex::new(None)),
            observer: None,
        })
    }

    /// Tells `observer` of every request this client sends.
    #[must_use]
    pub fn with_observer(mut self, observer: Arc<dyn Observe>) -> Self {
        self.observer = Some(observer);
        self
    }

    fn observe(&self, method: &Method, path: &str, status: Result<StatusCode, &SemaphoreError>) {
        if let Some(observer) = &self.observer {
            let outcome = match status {
                Ok(status) => status.as_u16().to_string(),
                Err(SemaphoreError::Timeout(_)) => "timeout".to_owned(),
                Err(_) => "unreachable".to_owned(),
            };
            observer.request(method.as_str(), &route(path), &outcome);
        }
    }

    pub(crate) fn api(&self) -> &str {
        &self.api
    }

    pub(crate) fn token(&self) -> &str {
        &self.token
    }

    async fn send_once(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, String), SemaphoreError> {
        let mut request = self.http.request(method.clone(), format!("{}{path}", self.api)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = match request.send().await.map_err(transport_error) {
            Ok(response) => response,
            Err(e) => {
                self.observe(&method, path, Err(&e));
                return Err(e);
            }
        };
        let status = response.status();
        self.observe(&method, path, Ok(status));
        let text = response.text().await.map_err(transport_error)?;
        Ok((status, text))
    }

    /// A read: retried with jittered exponential backoff on timeouts, unreachability and 5xx.
    async fn get<T: DeserializeOwned>(&self, path: &str, what: &str) -> Result<T, SemaphoreError> {
        self.retrying(path, || async {
            match self.send_once(Method::GET, path, None).await? {
                (status, text) if status.is_success() => decode(&text, what),
                (status, text) => Err(status_error(status, &text, what)),
            }
        })
        .await
    }

    /// A read of a list, decoded item by item as it arrives rather than held whole first;
    /// retried like [`Self::get`].
    async fn get_list<T: DeserializeOwned>(&self, path: &str, what: &str) -> Result<Vec<T>, SemaphoreError> {
        self.get_each(path, what, Vec::new, |items, item| {
            items.push(item);
            Ok(())
        })
        .await
    }

    /// A read of a list that may be huge (a task's output): each item goes into `add` as it
    /// arrives, so only what `add` keeps is held. A retry starts again from `start()`.
    async fn get_each<T, A>(
        &self,
        path: &str,
        what: &str,
        start: impl Fn() -> A,
        add: impl Fn(&mut A, T) -> Result<(), SemaphoreError>,
    ) -> Result<A, SemaphoreError>
    where
        T: DeserializeOwned,
    {
        self.retrying(path, || async {
            let url = format!("{}{path}", self.api);
            let sent = self.http.get(url).bearer_auth(&self.token).send().await.map_err(transport_error);
            let mut response = match sent {
                Ok(response) => response,
                Err(e) => {
                    self.observe(&Method::GET, path, Err(&e));
                    return Err(e);
                }
            };
            let status = response.status();
            self.observe(&Method::GET, path, Ok(status));
            if !status.is_success() {
                let text = response.text().await.map_err(transport_error)?;
                return Err(status_error(status, &text, what));
            }
            let malformed = |e: ListError| SemaphoreError::Malformed(format!("{what}: {e}"));
            let mut collected = start();
            let mut splitter = ListSplitter::default();
            while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
                splitter.feed_into(&chunk, &mut collected, &add, malformed)?;
            }
            splitter.finish().map_err(malformed)?;
            Ok(collected)
        })
        .await
    }

    /// Runs a read until it succeeds, fails for good, or runs out of retries.
    async fn retrying<T, F, Fut>(&self, path: &str, read: F) -> Result<T, SemaphoreError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, SemaphoreError>>,
    {
        let mut attempt = 0;
        loop {
            let error = match read().await {
                Ok(answer) => return Ok(answer),
                Err(e) => e,
            };
            let retryable = matches!(
                error,
                SemaphoreError::Unreachable(_)
                    | SemaphoreError::Timeout(_)
                    | SemaphoreError::Server { status: 502..=504, .. }
            );
            if !retryable || attempt >= self.read_retries {
                return Err(error);
            }
            attempt += 1;
            let base = self.retry_backoff.saturating_mul(1 << attempt.min(6));
            let jitter = base.mul_f64(fastrand::f64() * 0.5);
            tracing::debug!(path, attempt, error = %error, "retrying a Semaphore read");
            tokio::time::sleep(base / 2 + jitter).await;
        }
    }

    /// A write: sent once. Retrying a task start could start it twice.
    async fn post(&self, path: &str, body: Option<&Value>, what: &str) -> Result<String, SemaphoreError> {
        let (status, text) = self.send_once(Method::POST, path, body).await?;
        if status.is_success() { Ok(text) } else { Err(status_error(status, &text, what)) }
    }

    async fn is_legacy(&self) -> Result<bool, SemaphoreError> {
        if let Some(known) = *self.legacy.lock().unwrap_or_else(std::sync::PoisonError::into_inner) {
            return Ok(known);
        }
        let info = self.info().await?;
        // Unknown version strings (development builds) are treated as current.
        let legacy = wire::parse_version(&info.version).is_some_and(|v| v < (2, 13));
        *self.legacy.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(legacy);
        Ok(legacy)
    }
}

/// Told of each request: its method, its route with ids as `:id` (`/project/:id/tasks/:id`, so
/// the set of routes stays small) and its status code, or `timeout` or `unreachable`.
pub trait Observe: Send + Sync {
    fn request(&self, method: &str, route: &str, outcome: &str);
}

/// A path as a route: no query, every all-digit segment `:id` (no braces: label values stay
/// plain for every text-format reader).
pub(crate) fn route(path: &str) -> String {
    let path = path.split('?').next().unwrap_or_default();
    path.split('/')
        .map(|s| if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) { ":id" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

fn transport_error(e: reqwest::Error) -> SemaphoreError {
    if e.is_timeout() {
        SemaphoreError::Timeout(e.without_url().to_string())
    } else if e.is_decode() {
        SemaphoreError::Malformed(e.without_url().to_string())
    } else {
        SemaphoreError::Unreachable(e.without_url().to_string())
    }
}

fn decode<T: DeserializeOwned>(text: &str, what: &str) -> Result<T, SemaphoreError> {
    serde_json::from_str(text).map_err(|e| SemaphoreError::Malformed(format!("{what}: {e}")))
}

/// The server's own words, when it sent `{"error": "..."}`.
fn server_message(text: &str) -> Option<String> {
    serde_json::from_str::<Value>(text).ok()?.get("error")?.as_str().map(str::to_owned)
}

fn status_error(status: StatusCode, text: &str, what: &str) -> SemaphoreError {
    let message = server_message(text);
    match status.as_u16() {
        401 => SemaphoreError::Unauthorised,
        403 => SemaphoreError::Forbidden(message),
        404 => SemaphoreError::NotFound(what.to_owned()),
        400 | 409 | 422 => SemaphoreError::Rejected(message.unwrap_or_else(|| format!("{what}: {status}"))),
        code => SemaphoreError::Server { status: code, message },
    }
}

/// On task routes 2.10 answers 400 with no body for a task that is not in the project.
fn task_not_found(error: SemaphoreError, project: ProjectId, task: TaskId) -> SemaphoreError {
    match error {
        SemaphoreError::Rejected(m) if m.ends_with("400 Bad Request") => {
            SemaphoreError::NotFound(format!("task #{task} in project {project}"))
        }
        other => other,
    }
}

#[async_trait]
impl SemaphorePort for HttpSemaphore {
    async fn ping(&self) -> Result<(), SemaphoreError> {
        let (status, _) = self.send_once(Method::GET, "/ping", None).await?;
        if status.is_success() { Ok(()) } else { Err(status_error(status, "", "ping")) }
    }

    async fn info(&self) -> Result<ServerInfo, SemaphoreError> {
        Ok(self.get::<WireInfo>("/info", "server info").await?.into_port())
    }

    async fn projects(&self) -> Result<Vec<Project>, SemaphoreError> {
        let list: Vec<WireProject> = self.get("/projects", "projects").await?;
        Ok(list.into_iter().map(WireProject::into_port).collect())
    }

    async fn templates(&self, project: ProjectId) -> Result<Vec<Template>, SemaphoreError> {
        let what = format!("project {project}");
        let list: Vec<WireTemplate> =
            self.get(&format!("/project/{project}/templates?sort=name&order=asc"), &what).await?;
        Ok(wire::templates_into_port(list, project))
    }

    async fn environments(&self, project: ProjectId) -> Result<Vec<Environment>, SemaphoreError> {
        let list: Vec<WireNamed> =
            self.get(&format!("/project/{project}/environment"), &format!("project {project}")).await?;
        Ok(list.into_iter().map(WireNamed::into_environment).collect())
    }

    async fn inventories(&self, project: ProjectId) -> Result<Vec<Inventory>, SemaphoreError> {
        let list: Vec<WireNamed> =
            self.get(&format!("/project/{project}/inventory"), &format!("project {project}")).await?;
        Ok(list.into_iter().map(WireNamed::into_inventory).collect())
    }

    async fn schedules(&self, project: ProjectId) -> Result<Vec<ServerSchedule>, SemaphoreError> {
        let list: Vec<WireSchedule> =
            self.get(&format!("/project/{project}/schedules"), &format!("project {project}")).await?;
        Ok(list.into_iter().map(WireSchedule::into_port).collect())
    }

    async fn recent_events(&self, project: ProjectId) -> Result<Vec<ActivityEvent>, SemaphoreError> {
        let list: Vec<WireEvent> =
            self.get(&format!("/project/{project}/events/last"), &format!("project {project}")).await?;
        Ok(list.into_iter().map(WireEvent::into_port).collect())
    }

    async fn start_task(&self, project: ProjectId, request: StartTask) -> Result<Task, SemaphoreError> {
        let legacy = self.is_legacy().await?;
        let body = wire::start_body(&request, legacy);
        let what = format!("template {} of project {project}", request.template_id);
        let text = self.post(&format!("/project/{project}/tasks"), Some(&body), &what).await?;
        Ok(decode::<WireTask>(&text, "started task")?.into_port(project))
    }

    async fn task(&self, project: ProjectId, task: TaskId) -> Result<Task, SemaphoreError> {
        let what = format!("task #{task} in project {project}");
        let wire: WireTask = self
            .get(&format!("/project/{project}/tasks/{task}"), &what)
            .await
            .map_err(|e| task_not_found(e, project, task))?;
        Ok(wire.into_port(project))
    }

    async fn recent_tasks(&self, project: ProjectId, limit: u16) -> Result<Vec<Task>, SemaphoreError> {
        let what = format!("project {project}");
        // `tasks/last` caps its limit at 200; the task list has no limit parameter and answers the
        // newest 1000, so a larger limit is cut here.
        let list: Vec<WireTask> = match limit {
            0..=200 => self.get(&format!("/project/{project}/tasks/last?limit={}", limit.max(1)), &what).await?,
            _ => self.get_list(&format!("/project/{project}/tasks"), &what).await?,
        };
        Ok(list.into_iter().take(usize::from(limit.max(1))).map(|t| t.into_port(project)).collect())
    }

    async fn task_output(&self, project: ProjectId, task: TaskId) -> Result<TaskLog, SemaphoreError> {
        let what = format!("task #{task} in project {project}");
        let too_large = |e: LogTooLarge| SemaphoreError::Malformed(format!("{what}: {e}"));
        let mut log = self
            .get_each(
                &format!("/project/{project}/tasks/{task}/output"),
                &what,
                TaskLog::new,
                |log, entry: WireOutput| entry.push_into(log).map_err(too_large),
            )
            .await
            .map_err(|e| task_not_found(e, project, task))?;
        log.shrink_to_fit();
        Ok(log)
    }

    async fn task_log_text(&self, project: ProjectId, task: TaskId) -> Result<String, SemaphoreError> {
        let what = format!("task #{task} in project {project}");
        // Newer servers have the whole log as text; 2.10 answers 404 for the route.
        if !self.is_legacy().await? {
            let (status, text) =
                self.send_once(Method::GET, &format!("/project/{project}/tasks/{task}/raw_output"), None).await?;
            if status.is_success() {
                return Ok(text);
            }
            if status != StatusCode::NOT_FOUND {
                return Err(task_not_found(status_error(status, &text, &what), project, task));
            }
        }
        let log = self.task_output(project, task).await?;
        Ok(log.to_text())
    }

    async fn stop_task(&self, project: ProjectId, task: TaskId, mode: StopMode) -> Result<(), SemaphoreError> {
        // 2.10 refuses a stop without a JSON body.
        let body = json!({ "force": mode == StopMode::Force });
        let what = format!("task #{task} in project {project}");
        self.post(&format!("/project/{project}/tasks/{task}/stop"), Some(&body), &what)
            .await
            .map_err(|e| task_not_found(e, project, task))?;
        Ok(())
    }

    async fn confirm_task(&self, project: ProjectId, task: TaskId) -> Result<(), SemaphoreError> {
        let what = format!("task #{task} in project {project}");
        match self.post(&format!("/project/{project}/tasks/{task}/confirm"), None, &what).await {
            Ok(_) => Ok(()),
            // 400 here means the task is not waiting for confirmation (or not in the project).
            Err(SemaphoreError::Rejected(_)) => {
                Err(SemaphoreError::Rejected(format!("task #{task} is not waiting for confirmation")))
            }
            Err(e) => Err(e),
        }
    }

    fn task_url(&self, project: ProjectId, template: TemplateId, task: TaskId) -> Option<String> {
        Some(format!("{}/project/{project}/templates/{template}?t={task}", self.web))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redirect_that_leaves_tls_is_not_followed() {
        let url = |u: &str| reqwest::Url::parse(u).unwrap();
        let https = [url("https://semaphore.example.org/api/project/1/tasks")];
        assert!(downgrades(&https, &url("http://semaphore.example.org/api/project/1/tasks")));
        assert!(downgrades(&[https[0].clone(), url("https://other.example.org/")], &url("http://x.example/")));
        assert!(!downgrades(&https, &url("https://semaphore.example.org/api/")));
        // Plain http by the configured URL's own word: nothing is left that was not already.
        assert!(!downgrades(&[url("http://127.0.0.1:3000/api/ping")], &url("http://127.0.0.1:3000/api/ping/")));
        assert!(!downgrades(&[url("http://s.example/")], &url("https://s.example/")));
    }

    #[test]
    fn routes_keep_ids_out_of_labels() {
        assert_eq!(route("/project/12/tasks/2147483646/output?x=1"), "/project/:id/tasks/:id/output");
        assert_eq!(route("/project/1/templates?sort=name&order=asc"), "/project/:id/templates");
        assert_eq!(route("/ping"), "/ping");
        assert_eq!(route("/project/ops1/tasks"), "/project/ops1/tasks");
    }

    #[test]
    fn every_status_maps_to_a_typed_error() {
        let cases: &[(u16, &str, SemaphoreError)] = &[
            (401, "", SemaphoreError::Unauthorised),
            (403, "", SemaphoreError::Forbidden(None)),
            (
                403,
                r#"{"error":"Pro subscription required"}"#,
                SemaphoreError::Forbidden(Some("Pro subscription required".into())),
            ),
            (404, "", SemaphoreError::NotFound("project 9".into())),
            (400, r#"{"error":"Invalid app id: x"}"#, SemaphoreError::Rejected("Invalid app id: x".into())),
            (400, "", SemaphoreError::Rejected("project 9: 400 Bad Request".into())),
            (409, "", SemaphoreError::Rejected("project 9: 409 Conflict".into())),
            (500, "", SemaphoreError::Server { status: 500, message: None }),
            (502, "<html>bad gateway</html>", SemaphoreError::Server { status: 502, message: None }),
        ];
        for (status, body, expected) in cases {
            let got = status_error(StatusCode::from_u16(*status).unwrap(), body, "project 9");
            assert_eq!(&got, expected, "{status} {body}");
        }
        let missing =
            task_not_found(SemaphoreError::Rejected("x: 400 Bad Request".into()), ProjectId::new(1), TaskId::new(5));
        assert_eq!(missing, SemaphoreError::NotFound("task #5 in project 1".into()));
    }
}
