//! The bot against port mocks and fakes: access, errors, confirmations, snapshots of replies.

use std::sync::Arc;

use chatrixcd_clock::ManualClock;
use chatrixcd_ports::semaphore::{
    App, MockSemaphorePort, Project, SemaphoreError, SurveyVar, Task, TaskParamsPolicy, Template,
};
use chatrixcd_ports::{Clock, ProjectId, TaskId, TaskStatus, TemplateId, UserId};
use chatrixcd_store_memory::MemoryStore;
use chrono::Duration;

use crate::testing::{Posted, admin, bot_with, message_from, reaction_from, settings};
use crate::{Outcome, Settings};

fn clock() -> ManualClock {
    ManualClock::at_epoch()
}

fn project() -> Project {
    Project { id: ProjectId::new(1), name: "ops".into() }
}

fn template() -> Template {
    Template {
        id: TemplateId::new(1),
        project_id: ProjectId::new(1),
        name: "deploy-web".into(),
        description: Some("Deploy <the> web tier".into()),
        app: App::Ansible,
        playbook: "deploy.yml".into(),
        params_policy: TaskParamsPolicy { allow_override_tags: true, ..TaskParamsPolicy::legacy(false) },
        survey_vars: vec![SurveyVar {
            name: "version".into(),
            title: "Version".into(),
            required: true,
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn task(status: TaskStatus) -> Task {
    Task {
        id: TaskId::new(2_147_483_645),
        project_id: ProjectId::new(1),
        template_id: TemplateId::new(1),
        status,
        created: None,
        start: None,
        end: None,
        message: None,
        template_name: Some("deploy-web".into()),
        user_name: Some("admin".into()),
    }
}

/// A Semaphore mock with one project and one template.
fn catalogue() -> MockSemaphorePort {
    let mut sem = MockSemaphorePort::new();
    sem.expect_projects().returning(|| Ok(vec![project()]));
    sem.expect_templates().returning(|_| Ok(vec![template()]));
    sem.expect_task_url().returning(|p, t, k| Some(format!("https://semaphore.test/project/{p}/templates/{t}?t={k}")));
    sem
}

fn run_bot(
    sem: MockSemaphorePort,
    settings: Settings,
) -> (crate::Bot, Arc<crate::testing::RecordingChat>, ManualClock) {
    let clock = clock();
    let (bot, chat) = bot_with(Arc::new(sem), Arc::new(MemoryStore::new()), Arc::new(clock.clone()), settings);
    (bot, chat, clock)
}

#[tokio::test]
async fn an_unauthorised_token_is_not_reported_as_no_projects() {
    let mut sem = MockSemaphorePort::new();
    sem.expect_projects().returning(|| Err(SemaphoreError::Unauthorised));
    let (bot, chat, clock) = run_bot(sem, settings());
    bot.handle(message_from(&admin(), "!cd projects", clock.now())).await;
    let bodies = chat.bodies();
    assert_eq!(bodies.len(), 1);
    assert!(bodies[0].contains("Semaphore rejected the API token"), "{bodies:?}");
    assert!(!bodies[0].contains("No projects"), "{bodies:?}");
}

#[tokio::test]
async fn an_override_the_template_does_not_allow_is_refused_before_any_start() {
    let mut sem = catalogue();
    sem.expect_start_task().times(0);
    let (bot, chat, clock) = run_bot(sem, settings());
    bot.handle(message_from(&admin(), "!cd run 1 1 --args=--check --var version=1", clock.now())).await;
    let bodies = chat.bodies();
    assert!(bodies[0].contains("does not allow --args"), "{bodies:?}");
}

#[tokio::test]
async fn a_missing_required_variable_is_named() {
    let mut sem = catalogue();
    sem.expect_start_task().times(0);
    let (bot, chat, clock) = run_bot(sem, settings());
    bot.handle(message_from(&admin(), "!cd run ops deploy-web", clock.now())).await;
    let bodies = chat.bodies();
    assert!(bodies[0].contains("deploy-web needs a few answers first (1 question)"), "{bodies:?}");
    assert!(bodies[1].contains("❓ 1/1 · Version (`version`, text, required)\nAnswer, or `cancel`."), "{bodies:?}");
    // A hook or a schedule cannot answer: there, the variable is named.
    let template = chatrixcd_ports::semaphore::Template {
        name: "deploy-web".into(),
        survey_vars: vec![chatrixcd_ports::semaphore::SurveyVar {
            name: "version".into(),
            title: "Version".into(),
            required: true,
            ..Default::default()
        }],
        ..Default::default()
    };
    let missing =
        crate::commands::run::build_request(&template, &crate::commands::run::Args::default(), false).unwrap_err();
    assert_eq!(missing.to_string(), "Template deploy-web needs: --var version=… (Version).");
}

#[tokio::test]
async fn run_asks_then_starts_only_after_the_requester_confirms() {
    let mut sem = catalogue();
    sem.expect_start_task()
        .times(1)
        .withf(|p, r| p.get() == 1 && r.environment.get("version").map(String::as_str) == Some("2.5"))
        .returning(|_, _| Ok(task(TaskStatus::Waiting)));
    let (bot, chat, clock) = run_bot(sem, settings());
    bot.handle(message_from(&admin(), "!cd run ops deploy --var version=2.5", clock.now())).await;
    let posted = chat.take();
    let Some(Posted::Message(question, q)) = posted.first() else { panic!("{posted:?}") };
    assert!(q.body.contains("Ready to run deploy-web?"), "{}", q.body);
    // Chatter from the requester and answers from others change nothing.
    bot.handle(message_from(&admin(), "hmm, is that the right one?", clock.now())).await;
    bot.handle(reaction_from(&UserId::parse("@bob:test").unwrap(), question, "👍", clock.now())).await;
    let refused = chat.bodies();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(refused[0].contains("Only @alice:test can answer"), "{refused:?}");
    bot.handle(reaction_from(&admin(), question, "👍", clock.now())).await;
    let started = chat.bodies();
    assert!(started.iter().any(|b| b.contains("deploy-web · task #2147483645")), "{started:?}");
    assert!(bot.is_watching());
}

#[tokio::test]
async fn a_confirmation_expires_at_its_own_deadline() {
    let (bot, chat, clock) = run_bot(catalogue(), settings());
    bot.handle(message_from(&admin(), "!cd exit", clock.now())).await;
    chat.take();
    clock.advance(Duration::seconds(59));
    assert_eq!(bot.tick().await, Outcome::Continue);
    assert!(chat.take().is_empty());
    assert_eq!(bot.next_deadline(), Some(clock.now() + Duration::seconds(1)));
    clock.advance(Duration::seconds(1));
    bot.tick().await;
    let bodies = chat.bodies();
    assert!(bodies[0].contains("The request to shut the bot down expired"), "{bodies:?}");
    // A late "yes" does nothing.
    assert_eq!(bot.handle(message_from(&admin(), "yes", clock.now())).await, Outcome::Continue);
}

#[tokio::test]
async fn exit_shuts_down_after_yes() {
    let (bot, chat, clock) = run_bot(catalogue(), settings());
    bot.handle(message_from(&admin(), "!cd exit", clock.now())).await;
    assert_eq!(bot.handle(message_from(&admin(), "yes", clock.now())).await, Outcome::Shutdown);
    assert!(chat.bodies().iter().any(|b| b.contains("Goodbye")));
}

#[tokio::test]
async fn access_is_denied_by_default_and_explained() {
    let mut s = settings();
    s.admins.clear();
    let (bot, chat, clock) = run_bot(MockSemaphorePort::new(), s);
    bot.handle(message_from(&admin(), "!cd ping", clock.now())).await;
    let bodies = chat.bodies();
    assert!(bodies[0].contains("no admin is configured"), "{bodies:?}");
    assert!(bodies[0].contains("bot.admin_users"), "{bodies:?}");
}

#[tokio::test]
async fn strangers_are_brushed_off_and_viewers_may_only_look() {
    let (bot, chat, clock) = run_bot(catalogue(), settings());
    bot.handle(message_from(&UserId::parse("@eve:test").unwrap(), "!cd projects", clock.now())).await;
    assert_eq!(chat.take().len(), 1);
    let viewer = UserId::parse("@victor:test").unwrap();
    bot.handle(message_from(&viewer, "!cd projects", clock.now())).await;
    assert!(chat.bodies()[0].contains("Projects"));
    bot.handle(message_from(&viewer, "!cd run 1 1", clock.now())).await;
    assert!(chat.bodies()[0].contains("needs the `run` permission on default"));
}

#[tokio::test]
async fn other_bots_own_messages_and_non_commands_are_ignored() {
    let mut s = settings();
    s.ignored_users = vec![UserId::parse("@otherbot:test").unwrap()];
    let (bot, chat, clock) = run_bot(MockSemaphorePort::new(), s);
    for (sender, body) in [
        ("@bot:test", "!cd ping"),
        ("@otherbot:test", "!cd ping"),
        ("@alice:test", "!cdping"),
        ("@alice:test", "hello"),
    ] {
        bot.handle(message_from(&UserId::parse(sender).unwrap(), body, clock.now())).await;
    }
    assert!(chat.take().is_empty());
}

#[tokio::test]
async fn commands_sent_while_offline_are_skipped_with_a_note() {
    let (bot, chat, clock) = run_bot(MockSemaphorePort::new(), settings());
    let sent = clock.now() - Duration::minutes(30);
    bot.handle(message_from(&admin(), "!cd ping", sent)).await;
    let bodies = chat.bodies();
    assert!(bodies[0].contains("I skipped `ping` because it was sent while I was offline (30m 00s ago)"), "{bodies:?}");
}

#[tokio::test]
async fn secrets_never_reach_the_chat() {
    let mut sem = MockSemaphorePort::new();
    sem.expect_projects().returning(|| Err(SemaphoreError::Rejected("token s3cr3t-token-value is invalid".into())));
    let (bot, chat, clock) = run_bot(sem, settings());
    bot.handle(message_from(&admin(), "!cd projects", clock.now())).await;
    let posted = chat.take();
    let Posted::Message(_, m) = &posted[0] else { panic!() };
    assert!(!m.body.contains("s3cr3t-token-value"), "{}", m.body);
    assert!(!m.html.clone().unwrap_or_default().contains("s3cr3t-token-value"));
}

#[tokio::test]
async fn stop_refuses_finished_tasks_so_semaphore_never_rewrites_them() {
    let mut sem = catalogue();
    sem.expect_task().returning(|_, _| Ok(task(TaskStatus::Success)));
    sem.expect_stop_task().times(0);
    let (bot, chat, clock) = run_bot(sem, settings());
    bot.handle(message_from(&admin(), "!cd stop 2147483645 --yes", clock.now())).await;
    assert!(chat.bodies()[0].contains("already ended (success)"));
}

#[tokio::test]
async fn usage_errors_show_the_right_form() {
    let (bot, chat, clock) = run_bot(MockSemaphorePort::new(), settings());
    bot.handle(message_from(&admin(), "!cd stop", clock.now())).await;
    bot.handle(message_from(&admin(), "!cd lgos 5", clock.now())).await;
    let bodies = chat.bodies();
    assert_eq!(bodies[0], "🤔 Missing <task>.\nUsage: `!cd stop <task> [--force] [--yes]`");
    assert!(bodies[1].starts_with("🤔 Unknown command `lgos`. Did you mean `logs`?"), "{bodies:?}");
}

#[tokio::test]
async fn aliases_expand_and_are_listed() {
    let (bot, chat, clock) = run_bot(catalogue(), settings());
    bot.handle(message_from(&admin(), "!cd aliases add prj projects", clock.now())).await;
    bot.handle(message_from(&admin(), "!cd prj", clock.now())).await;
    bot.handle(message_from(&admin(), "!cd aliases", clock.now())).await;
    let bodies = chat.bodies();
    assert!(bodies[0].contains("Alias added: prj → `!cd projects`"), "{bodies:?}");
    assert!(bodies[1].contains("ops"), "{bodies:?}");
    assert!(bodies[2].contains("prj    !cd projects"), "{bodies:?}");
}

mod snapshots {
    use super::*;

    async fn first_message(line: &str, sem: MockSemaphorePort) -> chatrixcd_ports::chat::OutgoingMessage {
        let (bot, chat, clock) = run_bot(sem, settings());
        bot.handle(message_from(&admin(), line, clock.now())).await;
        match chat.take().into_iter().next() {
            Some(Posted::Message(_, m)) => m,
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn help_overview() {
        let m = first_message("!cd help", MockSemaphorePort::new()).await;
        insta::assert_snapshot!("help_plain", m.body);
        insta::assert_snapshot!("help_html", m.html.unwrap());
    }

    #[tokio::test]
    async fn help_for_run() {
        let m = first_message("!cd help run", MockSemaphorePort::new()).await;
        insta::assert_snapshot!("help_run_plain", m.body);
    }

    #[tokio::test]
    async fn run_confirmation_question() {
        let m = first_message("!cd run 1 1 --var version=2.5 --tags=web,db --limit web1", catalogue()).await;
        insta::assert_snapshot!("run_question_plain", m.body);
        insta::assert_snapshot!("run_question_html", m.html.unwrap());
    }

    #[tokio::test]
    async fn templates_table() {
        let m = first_message("!cd templates ops", catalogue()).await;
        insta::assert_snapshot!("templates_plain", m.body);
        insta::assert_snapshot!("templates_html", m.html.unwrap());
    }
}

#[tokio::test]
async fn a_plan_waiting_for_approval_is_rejected_with_a_forced_stop() {
    use chatrixcd_ports::semaphore::StopMode;
    let mut sem = catalogue();
    sem.expect_task().returning(|_, _| Ok(task(TaskStatus::WaitingConfirmation)));
    sem.expect_stop_task().times(1).withf(|_, _, mode| *mode == StopMode::Force).returning(|_, _, _| Ok(()));
    let (bot, chat, clock) = run_bot(sem, settings());
    bot.handle(message_from(&admin(), "!cd stop 2147483645 --yes", clock.now())).await;
    assert!(chat.bodies()[0].contains("force-stopped"));
}

#[tokio::test]
async fn every_kind_of_semaphore_failure_gets_a_clear_reply() {
    let cases: Vec<(SemaphoreError, &str)> = vec![
        (SemaphoreError::Unauthorised, "Semaphore rejected the API token (401)"),
        (SemaphoreError::Forbidden(None), "may not do this (403)"),
        (SemaphoreError::NotFound("project 9".into()), "project 9 was not found in Semaphore"),
        (SemaphoreError::Rejected("bad body".into()), "Semaphore rejected the request: bad body"),
        (SemaphoreError::Server { status: 500, message: None }, "Semaphore failed with an internal error (500)"),
        (SemaphoreError::Unreachable("connection refused".into()), "Semaphore is unreachable: connection refused"),
        (SemaphoreError::Timeout("15 s".into()), "Semaphore did not answer in time (15 s)"),
        (SemaphoreError::Malformed("projects: expected a list".into()), "cannot read: projects: expected a list"),
    ];
    for (error, expected) in cases {
        let mut sem = MockSemaphorePort::new();
        let e = error.clone();
        sem.expect_projects().returning(move || Err(e.clone()));
        let (bot, chat, clock) = run_bot(sem, settings());
        bot.handle(message_from(&admin(), "!cd projects", clock.now())).await;
        let bodies = chat.bodies();
        assert!(bodies[0].contains(expected), "{error:?}: {bodies:?}");
    }
}

#[tokio::test]
async fn a_private_key_printed_over_several_lines_never_reaches_the_chat() {
    use chatrixcd_ports::semaphore::TaskLog;
    let mut sem = catalogue();
    sem.expect_task().returning(|_, _| Ok(task(TaskStatus::Success)));
    sem.expect_task_output().returning(|_, _| {
        let lines = [
            "TASK [write key] ***",
            "-----BEGIN OPENSSH PRIVATE KEY-----",
            "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
            "QyNTUxOQAAACBhbmRzb21lc2VjcmV0c2hvcnQ=",
            "-----END OPENSSH PRIVATE KEY-----",
            "ok: [localhost]",
        ];
        Ok(TaskLog::from_entries(lines).unwrap())
    });
    let (bot, chat, clock) = run_bot(sem, settings());
    bot.handle(message_from(&admin(), "!cd logs 2147483645", clock.now())).await;
    let posted = chat.take();
    let Posted::Message(_, m) = &posted[0] else { panic!("{posted:?}") };
    for secret in ["b3BlbnNzaC1rZXktdjEAAAAABG5vbmU", "QyNTUxOQAAACBhbmRzb21lc2VjcmV0c2hvcnQ"] {
        assert!(!m.body.contains(secret), "{}", m.body);
        assert!(!m.html.clone().unwrap_or_default().contains(secret));
    }
    assert!(m.body.contains("ok: [localhost]"), "{}", m.body);
}

#[tokio::test]
async fn a_command_handled_twice_is_answered_with_the_same_idempotency_key() {
    let (bot, chat, clock) = run_bot(catalogue(), settings());
    let event = message_from(&admin(), "!cd projects", clock.now());
    bot.handle(event.clone()).await;
    bot.handle(event).await;
    let keys: Vec<Option<String>> = chat
        .take()
        .into_iter()
        .filter_map(|p| match p {
            Posted::Message(_, m) => Some(m.idempotency_key),
            _ => None,
        })
        .collect();
    assert_eq!(keys.len(), 2);
    assert!(keys[0].as_deref().is_some_and(|k| k.starts_with("reply:$in")), "{keys:?}");
    assert_eq!(keys[0], keys[1], "a retry after a crash must not post twice");
}

#[tokio::test]
async fn undecryptable_messages_are_said_once_in_a_while_and_counted() {
    use chatrixcd_ports::chat::{ChatEvent, Incoming};
    let (bot, chat, clock) = run_bot(MockSemaphorePort::new(), settings());
    let utd = |at| ChatEvent::Undecryptable {
        meta: Incoming {
            room: crate::testing::room(),
            sender: admin(),
            sender_name: None,
            event_id: chatrixcd_ports::EventId("$enc".into()),
            timestamp: at,
        },
    };
    bot.handle(utd(clock.now())).await;
    bot.handle(utd(clock.now())).await;
    let said = chat.bodies();
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].contains("I could not decrypt a message from @alice:test"), "{said:?}");
    clock.advance(Duration::minutes(11));
    bot.handle(utd(clock.now())).await;
    assert_eq!(chat.bodies().len(), 1);
    assert_eq!(bot.stats().undecryptable, 3);
}

#[tokio::test]
async fn tasks_names_who_asked_the_bot_rather_than_the_owner_of_its_token() {
    use chatrixcd_ports::{Page, Store as _};
    let ui_task = |id: u64, status| Task {
        id: TaskId::new(id),
        user_name: Some("admin".into()),
        created: Some(clock().now() - Duration::minutes(i64::try_from(id).unwrap())),
        ..task(status)
    };
    let mut sem = catalogue();
    sem.expect_recent_tasks()
        .returning(move |_, _| Ok(vec![ui_task(1, TaskStatus::Running), ui_task(2, TaskStatus::Success)]));
    let store = store_with_a_run_by_bob_of_task_1().await;
    let clock = clock();
    let (bot, chat) = crate::testing::bot_with(Arc::new(sem), store.clone(), Arc::new(clock.clone()), settings());

    bot.handle(message_from(&admin(), "!cd tasks", clock.now())).await;
    let listed = chat.bodies().join("\n");
    let row = |id| listed.lines().find(|l| l.contains(&format!("#{id} "))).unwrap_or_default().to_owned();
    assert!(row(1).contains("@bob:test") && !row(1).contains("admin"), "{listed}");
    assert!(row(2).contains("admin"), "a task started in Semaphore keeps Semaphore's user\n{listed}");

    bot.handle(message_from(&admin(), "!cd tasks --running", clock.now())).await;
    let running = chat.bodies().join("\n");
    assert!(running.contains("#1 ") && !running.contains("#2 "), "{running}");
    assert!(running.contains("Latest running or queued tasks"), "{running}");
    assert_eq!(store.runs(Page { limit: 10, before: None }).await.unwrap().len(), 1, "listing records nothing");
}

/// A store whose run history says @bob:test asked the bot for task 1 of project 1 (the bot no
/// longer watches it).
async fn store_with_a_run_by_bob_of_task_1() -> Arc<MemoryStore> {
    use chatrixcd_ports::{RunRecord, Store as _};
    let store = Arc::new(MemoryStore::new());
    store
        .record_run(RunRecord {
            id: 0,
            room: crate::testing::room(),
            requester: UserId::parse("@bob:test").unwrap(),
            instance: Default::default(),
            project: ProjectId::new(1),
            project_name: "ops".into(),
            template: TemplateId::new(1),
            template_name: "deploy-web".into(),
            task: TaskId::new(1),
            parameters: Default::default(),
            started_at: clock().now(),
            ended_at: None,
            result: None,
        })
        .await
        .unwrap();
    store
}

#[tokio::test]
async fn status_of_a_finished_task_the_bot_started_names_who_asked_for_it() {
    let mut sem = catalogue();
    sem.expect_task().returning(|_, id| Ok(Task { id, user_name: Some("admin".into()), ..task(TaskStatus::Success) }));
    let clock = clock();
    let store = store_with_a_run_by_bob_of_task_1().await;
    let (bot, chat) = crate::testing::bot_with(Arc::new(sem), store, Arc::new(clock.clone()), settings());
    bot.handle(message_from(&admin(), "!cd status 1", clock.now())).await;
    let shown = chat.bodies().join("\n");
    assert!(shown.contains("@bob:test") && !shown.contains("admin"), "{shown}");
    bot.handle(message_from(&admin(), "!cd status 7", clock.now())).await;
    let other = chat.bodies().join("\n");
    assert!(other.contains("admin"), "a task started in Semaphore keeps Semaphore's user\n{other}");
}

#[tokio::test]
async fn a_webhook_delivery_is_posted_to_its_rooms_without_pinging_everybody() {
    let h = crate::testing::Harness::single().await;
    let event = chatrixcd_ports::HookEvent {
        hook: "gitea".into(),
        rooms: vec![crate::testing::room()],
        text: "📦 dana pushed to ops/site @room s3cr3t-token-value".into(),
        run: None,
    };
    h.bot.hook(event).unwrap().into_future().await;
    let said = h.chat.bodies();
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].starts_with("📦 dana pushed to ops/site @\u{2060}room"), "{said:?}");
    assert!(!said[0].contains("s3cr3t"), "redacted: {said:?}");
    let mut s = settings();
    s.allowed_rooms = vec![chatrixcd_ports::RoomId::parse("!elsewhere:test").unwrap()];
    let h = crate::testing::Harness::with(&[("default", chatrixcd_sim_semaphore::Mode::V2_10)], s).await;
    let event = chatrixcd_ports::HookEvent {
        hook: "x".into(),
        rooms: vec![crate::testing::room()],
        text: "hi".into(),
        run: None,
    };
    assert!(h.bot.hook(event).is_none(), "rooms outside allowed_rooms are left out");
}

#[tokio::test]
async fn a_hooks_run_goes_through_its_principals_grants_and_a_persons_confirmation() {
    use chatrixcd_ports::{HookEvent, HookRun, UserId};
    let principal = UserId::parse("@hook-gitea:webhooks.invalid").unwrap();
    let delivery = |vars: Vec<(String, String)>| HookEvent {
        hook: "gitea".into(),
        rooms: vec![crate::testing::room()],
        text: "📦 dana pushed to ops/site main".into(),
        run: Some(HookRun { principal: principal.clone(), target: "default:ops:deploy-web".into(), vars }),
    };
    // No grant: the delivery is posted, the run refused, and why.
    let h = crate::testing::Harness::single().await;
    h.bot.hook(delivery(Vec::new())).unwrap().into_future().await;
    let said = h.chat.bodies().join("\n");
    assert!(said.starts_with("📦 dana pushed"), "{said}");
    assert!(said.contains("@hook-gitea:webhooks.invalid") && said.contains("run"), "{said}");
    assert!(!said.contains("Ready to run"), "{said}");

    let mut s = settings();
    s.grants = vec![crate::permissions::Grant::new(principal.clone(), "operator", None)];
    let h = crate::testing::Harness::with(&[("default", chatrixcd_sim_semaphore::Mode::V2_10)], s).await;
    // A value from the body stays one value, whatever it holds.
    h.bot.hook(delivery(vec![("ref".into(), "main --yes".into())])).unwrap().into_future().await;
    let said = h.chat.bodies().join("\n");
    assert!(said.contains("ref"), "the variable is refused by name, not read as words: {said}");
    assert!(!said.contains("Off we go"), "{said}");
    h.bot.hook(delivery(Vec::new())).unwrap().into_future().await;
    let said = h.chat.bodies().join("\n");
    assert!(said.contains("🪝 The hook `gitea` asks for this run"), "{said}");
    h.say(&admin(), "yes").await;
    h.advance(chrono::Duration::minutes(5)).await;
    let said = h.chat.bodies().join("\n");
    assert!(said.contains("deploy-web") && said.contains("started by @hook-gitea:webhooks.invalid"), "{said}");
    assert!(said.contains("success"), "{said}");
}
