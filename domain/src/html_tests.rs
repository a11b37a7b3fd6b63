//! Everything the bot posts as HTML is its own markup around escaped outside text. A Semaphore
//! whose project and template names, task messages, user names and output are markup (script
//! tags, event handlers, `javascript:` links, terminal hyperlinks), and a person whose display
//! name is markup, never get a tag or an attribute of theirs into a formatted body: every tag is
//! one the bot writes, every link goes to `https://`, every colour is a hex colour.

use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use chatrixcd_ports::chat::{ChatEvent, EventId, Incoming};
use chatrixcd_ports::semaphore::{
    ActivityEvent, Environment, Inventory, Project, SemaphoreError, SemaphorePort, ServerInfo, ServerSchedule,
    StartTask, StopMode, Task, TaskLog, Template,
};
use chatrixcd_ports::{Clock as _, ProjectId, TaskId, TemplateId};
use chrono::Duration;
use regex::Regex;

use crate::testing::{Harness, Posted, admin, room, settings};

const MARKUP: &str = r#"<img src=x onerror=alert(1)><script>alert("x")</script><a href="javascript:alert(1)">y</a>"#;

/// The simulated Semaphore with markup in every name and text it gives.
struct Hostile(chatrixcd_sim_semaphore::SimSemaphore);

fn hostile(name: &str) -> String {
    format!("{name}{MARKUP}")
}

fn task(mut task: Task) -> Task {
    task.message = Some(hostile("msg"));
    task.template_name = task.template_name.map(|n| hostile(&n));
    task.user_name = Some(hostile("user"));
    task
}

#[async_trait]
impl SemaphorePort for Hostile {
    async fn ping(&self) -> Result<(), SemaphoreError> {
        self.0.ping().await
    }
    async fn info(&self) -> Result<ServerInfo, SemaphoreError> {
        let mut info = self.0.info().await?;
        info.version = hostile("2.10");
        Ok(info)
    }
    async fn projects(&self) -> Result<Vec<Project>, SemaphoreError> {
        Ok(self.0.projects().await?.into_iter().map(|p| Project { name: hostile(&p.name), ..p }).collect())
    }
    async fn templates(&self, project: ProjectId) -> Result<Vec<Template>, SemaphoreError> {
        let templates = self.0.templates(project).await?;
        Ok(templates
            .into_iter()
            .map(|t| Template { name: hostile(&t.name), description: Some(hostile("about")), ..t })
            .collect())
    }
    async fn environments(&self, project: ProjectId) -> Result<Vec<Environment>, SemaphoreError> {
        self.0.environments(project).await
    }
    async fn inventories(&self, project: ProjectId) -> Result<Vec<Inventory>, SemaphoreError> {
        self.0.inventories(project).await
    }
    async fn schedules(&self, project: ProjectId) -> Result<Vec<ServerSchedule>, SemaphoreError> {
        self.0.schedules(project).await
    }
    async fn recent_events(&self, project: ProjectId) -> Result<Vec<ActivityEvent>, SemaphoreError> {
        self.0.recent_events(project).await
    }
    async fn start_task(&self, project: ProjectId, request: StartTask) -> Result<Task, SemaphoreError> {
        self.0.start_task(project, request).await.map(task)
    }
    async fn task(&self, project: ProjectId, id: TaskId) -> Result<Task, SemaphoreError> {
        self.0.task(project, id).await.map(task)
    }
    async fn recent_tasks(&self, project: ProjectId, limit: u16) -> Result<Vec<Task>, SemaphoreError> {
        Ok(self.0.recent_tasks(project, limit).await?.into_iter().map(task).collect())
    }
    async fn task_output(&self, project: ProjectId, id: TaskId) -> Result<TaskLog, SemaphoreError> {
        let text = self.0.task_output(project, id).await?.to_text();
        let extra = [
            MARKUP.to_owned(),
            format!("\x1b[31m{MARKUP}\x1b[0m"),
            "\x1b]8;;javascript:alert(1)\x1b\\click me\x1b]8;;\x1b\\".to_owned(),
            format!("fatal: [{MARKUP}]: FAILED!"),
            format!("{MARKUP} : ok=1 changed=0 unreachable=0 failed=1 skipped=0 rescued=0 ignored=0"),
        ];
        let lines: Vec<String> = text.lines().map(str::to_owned).chain(extra).collect();
        TaskLog::from_entries(lines.iter()).map_err(|e| SemaphoreError::Malformed(e.to_string()))
    }
    async fn task_log_text(&self, project: ProjectId, id: TaskId) -> Result<String, SemaphoreError> {
        Ok(self.task_output(project, id).await?.to_text())
    }
    async fn stop_task(&self, project: ProjectId, id: TaskId, mode: StopMode) -> Result<(), SemaphoreError> {
        self.0.stop_task(project, id, mode).await
    }
    async fn confirm_task(&self, project: ProjectId, id: TaskId) -> Result<(), SemaphoreError> {
        self.0.confirm_task(project, id).await
    }
    fn task_url(&self, project: ProjectId, template: TemplateId, id: TaskId) -> Option<String> {
        self.0.task_url(project, template, id)
    }
}

/// The tags the bot writes (Matrix's allowed subset, and only what the renderers use).
const TAGS: &[&str] = &[
    "a",
    "b",
    "i",
    "u",
    "s",
    "em",
    "strong",
    "code",
    "pre",
    "br",
    "p",
    "font",
    "span",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "details",
    "summary",
    "ul",
    "ol",
    "li",
    "blockquote",
    "h3",
    "h4",
    "hr",
    "del",
    "sub",
    "sup",
];

static TAG: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"<(/?)([^\s>/]*)([^>]*)>").unwrap());
static ATTRIBUTE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r#"\s*([^\s=]+)="([^"]*)""#).unwrap());
static COLOUR: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^#[0-9a-fA-F]{6}$").unwrap());

/// Why `html` holds markup the bot did not write, if it does.
fn foreign_markup(html: &str) -> Option<String> {
    for tag in TAG.captures_iter(html) {
        let (name, attributes) = (&tag[2], &tag[3]);
        if !TAGS.contains(&name) {
            return Some(format!("tag <{name}>"));
        }
        let rest = ATTRIBUTE.replace_all(attributes, "");
        if !rest.trim().is_empty() {
            return Some(format!("attributes {attributes:?} of <{name}>"));
        }
        for attribute in ATTRIBUTE.captures_iter(attributes) {
            let ok = match &attribute[1] {
                "href" => attribute[2].starts_with("https://"),
                "data-mx-color" | "data-mx-bg-color" => COLOUR.is_match(&attribute[2]),
                _ => false,
            };
            if !ok {
                return Some(format!("{}={:?} on <{name}>", &attribute[1], &attribute[2]));
            }
        }
    }
    // Outside the bot's own tags, nothing is a tag: `<` only as `&lt;`.
    let text = TAG.replace_all(html, "");
    text.contains(['<', '>']).then(|| "a stray < or >".to_owned())
}

#[tokio::test]
async fn outside_text_never_becomes_markup_in_what_the_bot_posts() {
    let mut settings = settings();
    settings.greetings = true;
    let h = Harness::wrapped(settings, Vec::new(), |sim| Arc::new(Hostile(sim))).await;
    let from = |body: &str| ChatEvent::Message {
        meta: Incoming {
            room: room(),
            sender: admin(),
            sender_name: Some(format!("Alice{MARKUP}")),
            event_id: EventId(format!("${}", body.len())),
            timestamp: h.clock.now(),
        },
        body: body.to_owned(),
        thread_root: None,
    };
    h.bot.handle(from("!cd run 1 8 --var who=ann --var env=prod")).await;
    h.bot.handle(from("yes")).await;
    h.advance(Duration::seconds(60)).await;
    for command in [
        "!cd projects",
        "!cd templates 1",
        "!cd params 1 8",
        "!cd tasks",
        "!cd status",
        "!cd logs",
        "!cd logs --errors",
        "!cd history",
        "!cd stats week",
        "!cd info",
        "!cd instances",
        "!cd run 1 3 --yes",
    ] {
        h.bot.handle(from(command)).await;
    }
    h.advance(Duration::seconds(60)).await;
    h.bot.handle(from("!cd logs")).await;
    let mut formatted = 0;
    for posted in h.chat.take() {
        let (Posted::Message(_, m) | Posted::Edit(_, m)) = posted else { continue };
        let Some(html) = m.html else { continue };
        formatted += 1;
        assert!(foreign_markup(&html).is_none(), "{:?} in:\n{html}", foreign_markup(&html));
    }
    assert!(formatted > 15, "{formatted} formatted messages");
    // The check itself sees markup where there is some.
    assert!(foreign_markup(MARKUP).is_some());
    assert!(foreign_markup(r#"<a href="javascript:x">y</a>"#).is_some());
    assert!(foreign_markup(r#"<font data-mx-color="red" onclick="x">y</font>"#).is_some());
    assert_eq!(foreign_markup(r##"<a href="https://x">y</a> &lt;b&gt; <font data-mx-color="#cc0000">z</font>"##), None);
}
