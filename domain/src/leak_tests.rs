//! No secret leaks, whatever it is and wherever it turns up. Random secrets stand in for the
//! configured ones (a Semaphore API token, a webhook secret, made of characters HTML escapes)
//! and for a survey secret given with `--var` and kept in a preset; a Semaphore that echoes them
//! in task output, in its error bodies and in what it says about itself; and the bot driven
//! through runs, logs (paged, as a file, followed live), status, history and its exports, the
//! audit log and its export, presets, stops and failures. Nothing it posts (messages, edits,
//! HTML, upload captions and files), nothing it logs (the log lines as the app writes them,
//! through the same redactor), nothing it keeps (runs, audit entries, presets) holds one of them.
//!
//! The survey secret is not one the redactor knows: it must stay out by the way it is handled
//! (it goes to the task's `secret` field and nowhere else), and where a task prints it, only its
//! secret shapes (`api_key=…`, `"password": "…"`) are masked. A playbook that prints it bare is
//! outside what the bot can tell apart from ordinary text (see docs/security.md).

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chatrixcd_ports::semaphore::{
    ActivityEvent, Environment, Inventory, Project, SemaphoreError, SemaphorePort, ServerInfo, ServerSchedule,
    StartTask, StopMode, Task, TaskLog, Template,
};
use chatrixcd_ports::{Clock as _, Page, ProjectId, Store as _, TaskId, TemplateId};
use chrono::Duration;
use proptest::prelude::*;

use crate::testing::{Harness, Posted, admin, room, settings};

/// The simulated Semaphore, echoing the secrets: in every task's output, in its errors, in what
/// it says about itself.
struct Leaky {
    inner: chatrixcd_sim_semaphore::SimSemaphore,
    token: String,
    hook_secret: String,
    survey_secret: String,
    /// The secret survey values of each task started, as Semaphore received them.
    secrets_sent: Arc<Mutex<Vec<std::collections::BTreeMap<String, String>>>>,
}

impl Leaky {
    /// Lines a careless playbook prints.
    fn lines(&self) -> Vec<String> {
        let (t, w, s) = (&self.token, &self.hook_secret, &self.survey_secret);
        vec![
            format!("TASK [call the API] curl -H 'Authorization: Bearer {t}' https://semaphore.test/api"),
            format!("ok: [web1] => {{\"msg\": \"the token is {t}\"}}"),
            format!("\x1b[0;33mdebug: {t}\x1b[0m and the hook secret {w}"),
            format!("{t}{w}"),
            format!("fatal: [web1]: FAILED! => {{\"api_key\": \"{s}\", \"changed\": false}}"),
            format!("export API_KEY={s}"),
        ]
    }
}

#[async_trait]
impl SemaphorePort for Leaky {
    async fn ping(&self) -> Result<(), SemaphoreError> {
        self.inner.ping().await
    }
    async fn info(&self) -> Result<ServerInfo, SemaphoreError> {
        let mut info = self.inner.info().await?;
        info.version = format!("2.10.32-{}", self.token);
        info.extra.insert("note".into(), format!("configured with {}", self.hook_secret));
        Ok(info)
    }
    async fn projects(&self) -> Result<Vec<Project>, SemaphoreError> {
        self.inner.projects().await
    }
    async fn templates(&self, project: ProjectId) -> Result<Vec<Template>, SemaphoreError> {
        if project.get() == 2 {
            return Err(SemaphoreError::Rejected(format!(
                "token {} is not valid here (open /var/lib/semaphore/tmp/repository_2_1: denied)",
                self.token
            )));
        }
        self.inner.templates(project).await
    }
    async fn environments(&self, project: ProjectId) -> Result<Vec<Environment>, SemaphoreError> {
        self.inner.environments(project).await
    }
    async fn inventories(&self, project: ProjectId) -> Result<Vec<Inventory>, SemaphoreError> {
        self.inner.inventories(project).await
    }
    async fn schedules(&self, _project: ProjectId) -> Result<Vec<ServerSchedule>, SemaphoreError> {
        Err(SemaphoreError::Forbidden(Some(format!("Authorization: Bearer {} has no access", self.token))))
    }
    async fn recent_events(&self, project: ProjectId) -> Result<Vec<ActivityEvent>, SemaphoreError> {
        self.inner.recent_events(project).await
    }
    async fn start_task(&self, project: ProjectId, request: StartTask) -> Result<Task, SemaphoreError> {
        self.secrets_sent.lock().unwrap().push(request.secrets.clone());
        self.inner.start_task(project, request).await
    }
    async fn task(&self, project: ProjectId, task: TaskId) -> Result<Task, SemaphoreError> {
        let mut task = self.inner.task(project, task).await?;
        task.message = Some(format!("deploy with {}", self.token));
        Ok(task)
    }
    async fn recent_tasks(&self, project: ProjectId, limit: u16) -> Result<Vec<Task>, SemaphoreError> {
        self.inner.recent_tasks(project, limit).await
    }
    async fn task_output(&self, project: ProjectId, task: TaskId) -> Result<TaskLog, SemaphoreError> {
        let text = self.inner.task_output(project, task).await?.to_text();
        let lines: Vec<String> = text.lines().map(str::to_owned).chain(self.lines()).collect();
        TaskLog::from_entries(lines.iter()).map_err(|e| SemaphoreError::Malformed(e.to_string()))
    }
    async fn task_log_text(&self, project: ProjectId, task: TaskId) -> Result<String, SemaphoreError> {
        Ok(self.task_output(project, task).await?.to_text())
    }
    async fn stop_task(&self, _project: ProjectId, _task: TaskId, _mode: StopMode) -> Result<(), SemaphoreError> {
        Err(SemaphoreError::Server {
            status: 500,
            message: Some(format!("stop failed for Bearer {} (secret {})", self.token, self.hook_secret)),
        })
    }
    async fn confirm_task(&self, project: ProjectId, task: TaskId) -> Result<(), SemaphoreError> {
        self.inner.confirm_task(project, task).await
    }
    fn task_url(&self, project: ProjectId, template: TemplateId, task: TaskId) -> Option<String> {
        self.inner.task_url(project, template, task)
    }
}

/// Every log line the code under test writes, as text (the app's subscriber writes the same
/// fields; its writer redacts each record, as [`CapturedLogs::as_written`] does here).
#[derive(Clone, Default)]
struct CapturedLogs(Arc<Mutex<String>>);

impl CapturedLogs {
    fn as_written(&self, redactor: &crate::redact::Redactor) -> String {
        redactor.redact(&self.raw()).into_owned()
    }
    fn raw(&self) -> String {
        self.0.lock().unwrap().clone()
    }
}

struct Fields<'a>(&'a mut String);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        let _ = write!(self.0, " {}={value}", field.name());
    }
}

impl tracing::Subscriber for CapturedLogs {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut text = self.0.lock().unwrap();
        span.record(&mut Fields(&mut text));
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        values.record(&mut Fields(&mut self.0.lock().unwrap()));
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut text = self.0.lock().unwrap();
        let _ = write!(text, "{}", event.metadata().level());
        event.record(&mut Fields(&mut text));
        text.push('\n');
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Everything the bot posted: bodies, HTML, captions, files.
fn everything_posted(h: &Harness) -> Vec<String> {
    let mut out: Vec<String> = h.sent().into_iter().map(|(_, _, body)| body).collect();
    for posted in h.chat.take() {
        match posted {
            Posted::Message(_, m) | Posted::Edit(_, m) => out.extend([m.body].into_iter().chain(m.html)),
            Posted::Upload(f) => {
                out.extend(f.caption);
                out.push(String::from_utf8_lossy(&f.bytes).into_owned());
            }
            Posted::Reaction(_, key) => out.push(key),
        }
    }
    out
}

/// Everything the bot keeps: the runs, the audit log and the presets, as stored.
async fn everything_kept(h: &Harness) -> String {
    let page = Page { limit: 1000, before: None };
    let runs = h.store.runs(page).await.unwrap();
    let audit = h.store.audit(page).await.unwrap();
    let presets = h.store.presets().await.unwrap();
    format!(
        "{}\n{}\n{}",
        serde_json::to_string(&runs).unwrap(),
        serde_json::to_string(&audit).unwrap(),
        serde_json::to_string(&presets).unwrap()
    )
}

/// The forms a secret could be found in: as it is, and escaped in HTML.
fn forms(secret: &str) -> Vec<String> {
    let escaped = crate::render::html::escape(secret).into_owned();
    let mut forms = vec![secret.to_owned(), escaped.replace("&#39;", "'"), escaped];
    forms.dedup();
    forms
}

/// A configured secret: printable ASCII without spaces, HTML's special characters included.
fn configured() -> impl Strategy<Value = String> {
    "[A-Za-z0-9&<>\"'!#%()*+,./:;=?@^_{|}~-]{12,32}"
}

/// A survey secret of the shapes a task prints it in (`api_key=…`, quoted in JSON).
fn survey() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9_.~+/-]{9,23}"
}

async fn scenario(h: &Harness, survey_secret: &str) {
    let say = |text: String| async move { h.say(&admin(), &text).await };
    say(format!("!cd run ops hello-args --var who=ann --var env=prod --var api_key={survey_secret} --yes")).await;
    let first = h.sims[0].model().recent_tasks(ProjectId::new(1), 1).unwrap()[0].id;
    say(format!("!cd logs {first} --follow")).await;
    // A stop while it runs: Semaphore's error echoes the secrets.
    say(format!("!cd stop {first}")).await;
    say("yes".into()).await;
    h.advance(Duration::seconds(5)).await;
    h.advance(Duration::seconds(30)).await;
    for command in [
        "!cd status".to_owned(),
        format!("!cd status {first}"),
        "!cd logs".into(),
        "!cd logs --errors".into(),
        "!cd logs --file".into(),
        "!cd tasks".into(),
        "!cd history".into(),
        "!cd history --csv".into(),
        "!cd history --json".into(),
        "!cd audit".into(),
        "!cd audit --csv".into(),
        "!cd templates web".into(),
        "!cd schedule list --semaphore".into(),
        "!cd params ops hello-args".into(),
        "!cd info".into(),
        "!cd instances".into(),
        format!("!cd preset save nightly ops hello-args --var who=bea --var env=stage --var api_key={survey_secret}"),
        "!cd preset show nightly".into(),
        "!cd preset list".into(),
        "!cd run --preset nightly --yes".into(),
    ] {
        say(command).await;
    }
    h.advance(Duration::seconds(30)).await;
    say("!cd logs".into()).await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// No configured secret and no survey secret is in anything the bot posts, logs or keeps,
    /// wherever Semaphore puts them.
    #[test]
    fn no_secret_reaches_chat_logs_history_or_audit(
        token in configured(),
        hook_secret in configured(),
        survey_secret in survey(),
    ) {
        prop_assume!(token != hook_secret && !token.contains(&hook_secret) && !hook_secret.contains(&token));
        let logs = CapturedLogs::default();
        let _guard = tracing::subscriber::set_default(logs.clone());
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            let secrets_sent = Arc::new(Mutex::new(Vec::new()));
            let leaky = |sim| -> Arc<dyn SemaphorePort> {
                Arc::new(Leaky {
                    inner: sim,
                    token: token.clone(),
                    hook_secret: hook_secret.clone(),
                    survey_secret: survey_secret.clone(),
                    secrets_sent: Arc::clone(&secrets_sent),
                })
            };
            let h = Harness::wrapped(settings(), vec![token.clone(), hook_secret.clone()], leaky).await;
            scenario(&h, &survey_secret).await;
            let sent = secrets_sent.lock().unwrap().clone();
            assert_eq!(sent.len(), 2, "both runs started, the second from the preset");
            assert!(sent.iter().all(|s| s.get("api_key") == Some(&survey_secret)), "each task has the secret: {}", sent.len());
            let posted = everything_posted(&h);
            let all = posted.join("\n");
            assert!(all.contains("[REDACTED]"), "the secrets were there to be masked");
            assert!(all.contains("PLAY RECAP") || all.contains("hello"), "the logs were posted\n{all}");
            let kept = everything_kept(&h).await;
            let written = logs.as_written(h.bot.core.out.redactor());
            for secret in [&token, &hook_secret, &survey_secret] {
                for form in forms(secret) {
                    for text in &posted {
                        assert!(!text.contains(&form), "{form:?} posted in:\n{text}");
                    }
                    assert!(!kept.contains(&form), "{form:?} kept in:\n{kept}");
                    assert!(!written.contains(&form), "{form:?} logged in:\n{written}");
                }
            }
            // The survey secret is not one the redactor knows: the bot never logs it at all.
            assert!(!logs.raw().contains(&survey_secret), "the survey secret was logged");
        });
    }
}

/// A store failure is told to the room in general words: what the store said (a file's path,
/// the database's insides) goes to the operator's log only; and other adapters' errors lose
/// their filesystem paths, after redaction, so no path taken out can cut a secret in two.
#[tokio::test]
async fn error_replies_name_no_internal_path_and_no_store_detail() {
    use chatrixcd_ports::StoreError;

    use crate::error::CommandError;
    let h = Harness::wrapped(settings(), vec!["tok/en/with/slashes-123".to_owned()], |sim| Arc::new(sim)).await;
    let meta = chatrixcd_ports::chat::Incoming {
        room: room(),
        sender: admin(),
        sender_name: None,
        event_id: chatrixcd_ports::EventId("$e".into()),
        timestamp: h.clock.now(),
    };
    let req = crate::core::Request::from_incoming(&meta);
    let store = StoreError::Unavailable("/var/lib/chatrixcd/chatrixcd.redb: Input/output error".into());
    crate::bot::report_error(&h.bot.core, &req, &[], CommandError::Store(store)).await;
    let semaphore = SemaphoreError::Server {
        status: 500,
        message: Some("open /tmp/semaphore/repository_1_2/x.yml: tok/en/with/slashes-123 /a/b".into()),
    };
    crate::bot::report_error(&h.bot.core, &req, &[], CommandError::from(semaphore)).await;
    let said = h.chat.bodies();
    assert_eq!(said[0], "⚠️ The bot's storage failed, so this was not done; the operator's log says why.");
    assert_eq!(said[1], "⚠️ Semaphore failed with an internal error (500): open [path]: [REDACTED] [path]", "{said:?}");
}

/// The replies that show a Semaphore failure inside a status (not as the command's error):
/// `info`'s status row, `instances`' state, `preset show`'s check, `schedule list --semaphore`'s
/// failures; each names the failure without the server's paths.
#[tokio::test]
async fn status_replies_that_carry_a_semaphore_failure_name_no_path() {
    let h = Harness::single().await;
    h.say(&admin(), "!cd preset save nightly 1 1 --limit web").await;
    assert!(h.chat.bodies().join("\n").contains("nightly"), "{:?}", h.chat.bodies());
    for command in ["!cd info", "!cd instances", "!cd preset show nightly", "!cd schedule list --semaphore"] {
        // The command's first request to Semaphore fails, naming the server's own files.
        h.sims[0]
            .fail_next(SemaphoreError::Rejected("open /var/lib/semaphore/tmp/repository_1_1/site.yml: denied".into()));
        let before = h.chat.bodies().len();
        h.say(&admin(), command).await;
        let said = h.chat.bodies()[before..].join("\n");
        assert!(said.contains("open [path]: denied"), "{command}: {said}");
        assert!(!said.contains("/var/lib"), "{command}: {said}");
    }
}
