#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

//! The whole bot across crates: console chat, simulated Semaphore, memory store, manual clock.
//! What a person types goes in as console lines; what they would read is checked in the output.

use std::io::Write;
use std::sync::{Arc, Mutex};

use chatrixcd_clock::ManualClock;
use chatrixcd_console::{ConsoleChat, ConsoleLine};
use chatrixcd_domain::personality::Personality;
use chatrixcd_domain::redact::Redactor;
use chatrixcd_domain::{Bot, Deps, Outcome, Settings};
use chatrixcd_ports::{ProjectId, SemaphorePort as _, Store, TaskId};
use chatrixcd_sim_semaphore::{SimConfig, SimSemaphore};
use chatrixcd_store_memory::MemoryStore;
use chrono::Duration;

#[derive(Clone, Default)]
struct Screen(Arc<Mutex<Vec<u8>>>);

impl Write for Screen {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Screen {
    /// Everything printed since the last call.
    fn take(&self) -> String {
        String::from_utf8(std::mem::take(&mut *self.0.lock().unwrap())).unwrap()
    }
}

struct World {
    bot: Bot,
    console: ConsoleChat,
    screen: Screen,
    clock: ManualClock,
    store: Arc<MemoryStore>,
    semaphore: SimSemaphore,
}

impl World {
    fn new() -> Self {
        let clock = ManualClock::at_epoch();
        let config = SimConfig {
            queue_tick: Duration::seconds(5),
            step: Duration::milliseconds(200),
            web_host: Some("https://semaphore.example.test".into()),
            ..SimConfig::default()
        };
        let semaphore = SimSemaphore::demo(config, Arc::new(clock.clone()));
        Self::with(clock, semaphore, Arc::new(MemoryStore::new()))
    }

    fn with(clock: ManualClock, semaphore: SimSemaphore, store: Arc<MemoryStore>) -> Self {
        let screen = Screen::default();
        let console = ConsoleChat::new(Box::new(screen.clone()), Arc::new(clock.clone()));
        let mut settings = Settings::new(console.bot_user().clone());
        settings.admins = vec![console.current_user()];
        settings.poll_interval = Duration::seconds(2);
        settings.greetings = false;
        let deps = Deps {
            chat: Arc::new(console.clone()),
            instances: chatrixcd_domain::Instances::single("https://semaphore.test", Arc::new(semaphore.clone())),
            store: store.clone(),
            clock: Arc::new(clock.clone()),
            sealer: None,
        };
        let bot = Bot::new(deps, settings, Personality::with_seed(1), Redactor::new(["sekrit-value".to_owned()]));
        Self { bot, console, screen, clock, store, semaphore }
    }

    async fn type_line(&mut self, line: &str) -> String {
        match self.console.parse_line(line) {
            ConsoleLine::Event(e) => assert_eq!(self.bot.handle(e).await, Outcome::Continue),
            other => panic!("not a chat line: {other:?}"),
        }
        self.screen.take()
    }

    /// Lets `seconds` pass, firing the bot's timers as the runtime would.
    async fn wait(&mut self, seconds: i64) -> String {
        let end = self.clock_now() + Duration::seconds(seconds);
        loop {
            let next = self.bot.next_deadline().filter(|d| *d <= end);
            match next {
                Some(at) => {
                    if at > self.clock_now() {
                        self.clock.set(at);
                    }
                    self.bot.tick().await;
                }
                None => break,
            }
        }
        self.clock.set(end);
        self.screen.take()
    }

    fn clock_now(&self) -> chrono::DateTime<chrono::Utc> {
        use chatrixcd_ports::Clock;
        self.clock.now()
    }
}

#[tokio::test]
async fn a_new_user_runs_the_first_template_and_reads_its_log() {
    let mut w = World::new();
    let out = w.type_line("!cd projects").await;
    assert!(out.contains("1   ops") && out.contains("2   web"), "{out}");
    let out = w.type_line("!cd templates 1").await;
    assert!(out.contains("deploy-web") && out.contains("hello-args"), "{out}");
    let out = w.type_line("!cd run 1 1").await;
    assert!(out.contains("Ready to run deploy-web?"), "{out}");
    let out = w.type_line("yes").await;
    assert!(out.contains("deploy-web · task #2147483646 · waiting"), "{out}");
    let out = w.wait(60).await;
    assert!(out.contains("(edited): 🔄 deploy-web · task #2147483646 · running"), "{out}");
    assert!(out.contains("(edited): ✅ deploy-web · task #2147483646 · success"), "{out}");
    assert!(out.contains("reacted ✅"), "{out}");
    assert!(out.contains("🔔 @you:chatrixcd.local ✅ deploy-web (task #2147483646) finished successfully"), "{out}");
    assert!(
        out.contains("open in Semaphore (https://semaphore.example.test/project/1/templates/1?t=2147483646)"),
        "{out}"
    );
    // Exactly one status message: the rest were edits.
    assert_eq!(out.matches("] chatrixcd: ").count(), 1, "{out}");
    let out = w.type_line("!cd status").await;
    assert!(out.contains("Task #2147483646 ✅ success"), "{out}");
    let out = w.type_line("!cd logs").await;
    assert!(out.contains("PLAY RECAP") && out.contains("ok=3"), "{out}");
    // Semaphore's own line ends with a newline inside the entry: no blank line for it.
    assert!(out.contains("Run TaskRunner with template: deploy-web\n    Preparing: 2147483646"), "{out}");
    assert!(!out.contains('\x1b'), "plain text has no escape codes: {out}");
    assert!(!w.bot.is_watching());
    // The run is in the history with its result, and its start in the audit log.
    let all = chatrixcd_ports::Page { limit: 10, before: None };
    let runs = w.store.runs(all).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(
        (runs[0].template_name.as_str(), runs[0].result.clone()),
        ("deploy-web", Some(chatrixcd_ports::TaskStatus::Success))
    );
    assert!(runs[0].ended_at.is_some());
    let audit = w.store.audit(all).await.unwrap();
    assert_eq!(audit[0].action, "run.start");
    assert_eq!(audit[0].detail, "ops / deploy-web as task #2147483646");
}

#[tokio::test]
async fn a_stopped_run_reads_as_stopped_by_its_requester() {
    let mut w = World::new();
    w.type_line("!cd run ops slow --yes").await;
    w.wait(10).await;
    let out = w.type_line("!cd stop 2147483646").await;
    assert!(out.contains("Stop task #2147483646?"), "{out}");
    let out = w.type_line("/react 👍").await;
    assert!(out.contains("asked to stop"), "{out}");
    let out = w.wait(10).await;
    // Semaphore ends a gently stopped task in `error`; people read "stopped".
    assert!(out.contains("🛑 slow (task #2147483646) was stopped by @you:chatrixcd.local"), "{out}");
}

#[tokio::test]
async fn a_failing_run_mentions_the_requester_and_errors_can_be_filtered() {
    let mut w = World::new();
    w.type_line("!cd run ops broken-deploy --yes").await;
    let out = w.wait(60).await;
    assert!(out.contains("❌ broken-deploy (task #2147483646) failed"), "{out}");
    let out = w.type_line("!cd logs 2147483646 --errors").await;
    assert!(out.contains("fatal: [localhost]: FAILED!"), "{out}");
    assert!(!out.contains("PLAY [Broken deploy]"), "{out}");
}

#[tokio::test]
async fn watching_survives_a_restart_with_the_same_store() {
    let mut w = World::new();
    w.type_line("!cd run ops slow --yes").await;
    w.wait(6).await;
    assert_eq!(w.store.tracked_tasks().await.unwrap().len(), 1);
    // The bot goes away; a new one starts on the same store and Semaphore.
    let World { clock, semaphore, store, .. } = w;
    let mut w = World::with(clock, semaphore, store);
    w.bot.resume().await;
    assert!(w.bot.is_watching());
    let out = w.wait(700).await;
    assert!(out.contains("✅ slow (task #2147483646) finished successfully"), "{out}");
}

#[tokio::test]
async fn secrets_and_survey_values_are_handled_with_care() {
    let mut w = World::new();
    let out = w
        .type_line("!cd run ops hello-args --var who=me --var env=Staging --var api_key=sekrit-value --args=\"--one\"")
        .await;
    assert!(out.contains("Variable env      stage"), "{out}");
    assert!(out.contains("Variable api_key  •••••• (secret)"), "{out}");
    // The console echoes what the user typed; the bot's own reply never repeats the secret.
    let reply = out.split_once("chatrixcd: ").map(|(_, r)| r).unwrap_or_default();
    assert!(!reply.contains("sekrit-value"), "{out}");
    w.type_line("yes").await;
    w.wait(30).await;
    let out = w.type_line("!cd logs").await;
    assert!(out.contains("hello from bash: --from-template env=stage who=me --one"), "{out}");
    // A required variable left out is asked for, in the console as in a room.
    let out = w.type_line("!cd run ops hello").await;
    assert!(out.contains("📝 hello needs a few answers first (1 question).") && out.contains("❓ 1/1 · Who"), "{out}");
    let out = w.type_line("cancel").await;
    assert!(out.contains("❎ Cancelled: nothing was run of hello."), "{out}");
    // The history keeps the parameters, never the secret's value.
    let runs = w.store.runs(chatrixcd_ports::Page { limit: 10, before: None }).await.unwrap();
    assert_eq!(runs[0].parameters["var.api_key"], "(secret)");
    assert_eq!(runs[0].parameters["var.env"], "stage");
    assert_eq!(runs[0].parameters["arguments"], "--one");
}

#[tokio::test]
async fn semaphore_failures_are_reported_in_clear_words() {
    let mut w = World::new();
    w.semaphore.fail_next(chatrixcd_ports::SemaphoreError::Unauthorised);
    let out = w.type_line("!cd projects").await;
    assert!(out.contains("Semaphore rejected the API token"), "{out}");
    w.semaphore.fail_next(chatrixcd_ports::SemaphoreError::Unreachable("connection refused".into()));
    let out = w.type_line("!cd templates 1").await;
    assert!(out.contains("Semaphore is unreachable: connection refused"), "{out}");
    let out = w.type_line("!cd status 424242").await;
    assert!(out.contains("There is no task #424242 in any project I can see."), "{out}");
}

#[tokio::test]
async fn a_terraform_plan_waits_for_approval_in_chat_and_applies_after_a_check_mark() {
    let mut w = World::new();
    w.type_line("!cd run ops infra-plan --yes").await;
    let out = w.wait(60).await;
    assert!(out.contains("infra-plan · task #2147483646 · waiting_confirmation"), "{out}");
    assert!(out.contains("to add,") && out.contains("to destroy."), "the plan summary: {out}");
    assert!(out.contains("react ✅ to apply or ❌ to reject"), "{out}");
    // Waiting for a person is not "in motion": nothing more happens on its own.
    let out = w.wait(60).await;
    assert!(!out.contains("success"), "{out}");
    let out = w.type_line("/react ✅").await;
    assert!(out.contains("Plan of task #2147483646 approved by @you:chatrixcd.local; applying."), "{out}");
    let out = w.wait(60).await;
    assert!(out.contains("infra-plan · task #2147483646 · success"), "{out}");
    assert!(out.contains("finished successfully"), "{out}");
    let audit = w.store.audit(chatrixcd_ports::Page { limit: 10, before: None }).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "task.approve"), "{audit:?}");
}

#[tokio::test]
async fn a_rejected_plan_ends_as_stopped_by_whoever_rejected_it() {
    let mut w = World::new();
    w.type_line("!cd run ops infra-plan --yes").await;
    w.wait(60).await;
    let out = w.type_line("!cd reject").await;
    assert!(out.contains("Plan of task #2147483646 rejected by @you:chatrixcd.local"), "{out}");
    let out = w.wait(30).await;
    assert!(out.contains("infra-plan (task #2147483646) was stopped by @you:chatrixcd.local"), "{out}");
    let out = w.type_line("!cd approve").await;
    assert!(out.contains("is not waiting for approval"), "{out}");
}

#[tokio::test]
async fn a_followed_task_streams_every_line_once_into_a_thread_until_it_ends() {
    let mut w = World::new();
    w.type_line("!cd run ops chatty --yes").await;
    let out = w.type_line("!cd logs 2147483646 --follow").await;
    assert!(out.contains("Following task #2147483646"), "{out}");
    let streamed = w.wait(600).await;
    assert!(streamed.contains("— end of the log of task #2147483646 —"), "{streamed}");
    // Every line of the full log appears in the live messages, once.
    let output = w.semaphore.task_output(ProjectId::new(1), TaskId::new(2_147_483_646)).await.unwrap();
    assert!(output.len() > 20, "a chatty task: {}", output.len());
    output.each_line(0..output.len(), &mut |_, line| {
        let text = line.trim_end();
        if text.len() > 12 {
            assert_eq!(streamed.matches(text).count(), 1, "{text:?} in:\n{streamed}");
        }
    });
    let again = w.type_line("!cd logs 2147483646 --follow").await;
    assert!(again.contains("has ended"), "{again}");
}

#[tokio::test]
async fn logs_on_streams_every_run_started_in_the_room() {
    let mut w = World::new();
    let out = w.type_line("!cd logs on").await;
    assert!(out.contains("Live logs on"), "{out}");
    w.type_line("!cd run ops deploy-web --yes").await;
    let out = w.wait(120).await;
    assert!(out.contains("PLAY RECAP"), "the run's output is posted live: {out}");
    assert!(out.contains("— end of the log of task #2147483646 —"), "{out}");
    let out = w.type_line("!cd logs off").await;
    assert!(out.contains("Live logs off"), "{out}");
    w.type_line("!cd run ops deploy-web --yes").await;
    let out = w.wait(120).await;
    assert!(!out.contains("PLAY RECAP"), "{out}");
}
