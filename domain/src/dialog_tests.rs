//! Dialogs for a run's variables, as a user meets them: every type, every retry, `skip`,
//! `back`, `cancel`, a timeout, a replacement, someone else answering, and secrets asked in a
//! direct room that never reach the shared room, the history or the audit log.

use chatrixcd_ports::{EventId, Page, ProjectId, RoomId, Store as _, UserId};
use chrono::Duration;

use crate::testing::{Harness, admin, direct_room_of, room};

fn bob() -> UserId {
    UserId::parse("@bob:test").unwrap()
}

fn tasks(h: &Harness) -> Vec<chatrixcd_sim_semaphore::SimTask> {
    h.sims[0].model().recent_tasks(ProjectId::new(1), 10).unwrap()
}

/// The bodies sent in `room` since the `from`th message.
fn said_in(h: &Harness, room: &RoomId, from: usize) -> Vec<String> {
    h.sent().into_iter().skip(from).filter(|(r, _, _)| r == room).map(|(_, _, b)| b).collect()
}

fn last(h: &Harness) -> String {
    h.sent().last().map(|(_, _, b)| b.clone()).unwrap_or_default()
}

/// Starts `run ops hello-args` (who: required text, count: optional int, env: required enum,
/// api_key: optional secret) and returns the request's event id.
async fn start(h: &Harness) -> EventId {
    h.say_in(&room(), &admin(), "!cd run ops hello-args", None).await
}

#[tokio::test]
async fn every_variable_is_asked_in_the_thread_checked_and_previewed_before_anything_runs() {
    let h = Harness::single().await;
    let request = start(&h).await;
    let sent = h.sent();
    assert!(sent[0].2.contains("📝 hello-args needs a few answers first (4 questions)."), "{sent:?}");
    assert!(sent[0].2.contains("⚠️ hello-args runs bash: Semaphore 2.10 passes secret variables to Ansible templates only, so `api_key` will not reach it."), "told before the run\n{sent:?}");
    assert!(
        sent.iter().all(|(r, t, _)| r == &room() && t.as_ref() == Some(&request)),
        "in the thread under the request\n{sent:?}"
    );
    assert!(last(&h).starts_with("❓ 1/4 · Who (`who`, text, required): whom to greet"), "{}", last(&h));

    h.say_in(&room(), &admin(), "skip", Some(&request)).await;
    assert_eq!(last(&h), "🤔 `who` is required: give a value, or `cancel`.");
    h.say_in(&room(), &admin(), "ann", Some(&request)).await;
    assert!(last(&h).starts_with("❓ 2/4 · Count (`count`, whole number, optional)"), "{}", last(&h));
    assert!(last(&h).contains("`skip` leaves it out, `back`, `cancel`"), "{}", last(&h));
    h.say_in(&room(), &admin(), "many", Some(&request)).await;
    assert_eq!(last(&h), "🤔 `count` must be a whole number, not `many`.");
    h.say_in(&room(), &admin(), "back", Some(&request)).await;
    assert!(last(&h).starts_with("❓ 1/4 · Who"), "back asks the previous one again\n{}", last(&h));
    // Outside the thread works too (clients without threads), and "yes" is just a value.
    h.say_in(&room(), &admin(), "yes", None).await;
    h.say_in(&room(), &admin(), "3", Some(&request)).await;
    let env = last(&h);
    assert!(env.starts_with("❓ 3/4 · Target (`env`, choice, required)"), "{env}");
    assert!(env.contains("1. Production (prod)   2. Staging (stage)"), "{env}");
    h.say_in(&room(), &admin(), "3", Some(&request)).await;
    assert_eq!(last(&h), "🤔 `env` must be one of: Production, Staging (or its number), not `3`.");
    let before_secret = h.sent().len();
    h.say_in(&room(), &admin(), "2", Some(&request)).await;

    // The secret is asked in the direct room; the thread only points there.
    let dm = direct_room_of(&admin());
    let in_dm = said_in(&h, &dm, before_secret);
    assert_eq!(in_dm.len(), 1, "{in_dm:?}");
    assert!(
        in_dm[0].contains("🔒 For hello-args in !ops:test: this one is secret.")
            && in_dm[0].contains("❓ 4/4 · API key (`api_key`, secret, optional)"),
        "{in_dm:?}"
    );
    let pointer = said_in(&h, &room(), before_secret);
    assert!(
        pointer
            .last()
            .unwrap()
            .contains("🔒 4/4 · API key is a secret, so I asked you in a direct message (!dm-alice:test)"),
        "{pointer:?}"
    );
    let answer = h.say_in(&dm, &admin(), "hunter2", None).await;
    assert!(h.chat.redacted.lock().unwrap().contains(&(dm.clone(), answer)), "the answer is deleted once read");
    assert!(said_in(&h, &dm, before_secret).contains(&"🔒 Got it.".to_owned()));

    let preview = last(&h);
    assert!(preview.starts_with("🚀 Ready to run hello-args?"), "{preview}");
    for row in
        ["Variable count    3", "Variable env      stage", "Variable who      yes", "Variable api_key  •••••• (secret)"]
    {
        assert!(preview.contains(row), "{row}\n{preview}");
    }
    assert!(preview.contains("will not reach it"), "the warning again in the preview\n{preview}");
    assert!(tasks(&h).is_empty(), "nothing runs before the confirmation");
    h.say_in(&room(), &admin(), "yes", None).await;
    let started = tasks(&h);
    assert_eq!(started.len(), 1);
    let env: Vec<(&str, &str)> = started[0].environment.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(env, [("count", "3"), ("env", "stage"), ("who", "yes")]);

    // The secret is nowhere: not in any room, not in the history, not in the audit log.
    assert!(h.sent().iter().all(|(_, _, b)| !b.contains("hunter2")));
    let runs = h.store.runs(Page { limit: 10, before: None }).await.unwrap();
    assert_eq!(runs[0].parameters.get("var.api_key").map(String::as_str), Some("(secret)"));
    let audit = h.store.audit(Page { limit: 50, before: None }).await.unwrap();
    assert!(audit.iter().all(|a| !a.detail.contains("hunter2")), "{audit:?}");
}

#[tokio::test]
async fn cancel_ends_it_and_a_timeout_ends_it_with_nothing_run() {
    let h = Harness::single().await;
    let request = start(&h).await;
    h.say_in(&room(), &admin(), "ann", Some(&request)).await;
    h.say_in(&room(), &admin(), "cancel", Some(&request)).await;
    assert_eq!(last(&h), "❎ Cancelled: nothing was run of hello-args.");
    h.say_in(&room(), &admin(), "more chatter", None).await;
    assert_eq!(last(&h), "❎ Cancelled: nothing was run of hello-args.", "a closed dialog takes nothing");

    let request = start(&h).await;
    h.advance(Duration::seconds(119)).await;
    h.say_in(&room(), &admin(), "ann", Some(&request)).await;
    assert!(last(&h).starts_with("❓ 2/4"), "each answer restarts its clock");
    h.advance(Duration::minutes(30)).await;
    assert_eq!(last(&h), "⌛ The questions for hello-args expired without an answer; nothing was run.");
    h.say_in(&room(), &admin(), "3", Some(&request)).await;
    assert!(last(&h).starts_with("⌛"), "an expired dialog takes no answer");
    assert!(tasks(&h).is_empty());
    assert!(h.bot.next_deadline().is_none());
}

#[tokio::test]
async fn a_second_run_replaces_the_dialog_and_others_cannot_answer_it() {
    let h = Harness::single().await;
    let request = start(&h).await;
    h.say_in(&room(), &bob(), "bob", Some(&request)).await;
    assert_eq!(last(&h), "✋ These questions are for @alice:test; start your own with `run`.");
    h.say_in(&room(), &bob(), "unrelated chatter", None).await;
    assert_eq!(
        last(&h),
        "✋ These questions are for @alice:test; start your own with `run`.",
        "outside the thread, others are not answered"
    );
    h.say_in(&room(), &admin(), "!cd run ops hello --var who=world", None).await;
    let replaced = last(&h);
    assert!(
        replaced.starts_with("🚀 Ready to run hello?")
            && replaced.contains("(This replaces your open questions for hello-args.)"),
        "{replaced}"
    );
    h.say_in(&room(), &admin(), "yes", None).await;
    assert_eq!(tasks(&h).len(), 1, "the confirmation of the new run, not an answer to the old dialog");
    let second = start(&h).await;
    let third = start(&h).await;
    assert!(last(&h).starts_with("❓ 1/4"));
    let sent = h.sent();
    assert!(
        sent.iter()
            .any(|(_, t, b)| t.as_ref() == Some(&third)
                && b.contains("(This replaces your open questions for hello-args.)")),
        "{sent:?}"
    );
    let before = h.sent().len();
    h.say_in(&room(), &admin(), "ann", Some(&second)).await;
    assert_eq!(h.sent().len(), before, "the replaced dialog's thread takes nothing");
    h.say_in(&room(), &admin(), "ann", Some(&third)).await;
    assert!(last(&h).starts_with("❓ 2/4"), "{}", last(&h));
}

#[tokio::test]
async fn a_secret_typed_in_the_shared_room_is_deleted_and_not_taken() {
    let h = Harness::single().await;
    let request = h.say_in(&room(), &admin(), "!cd run ops hello-args --var env=prod --var count=1", None).await;
    let dm = direct_room_of(&admin());
    h.say_in(&room(), &admin(), "ann", Some(&request)).await;
    assert!(last(&h).contains("I asked you in a direct message"), "{}", last(&h));
    let leaked = h.say_in(&room(), &admin(), "hunter2", Some(&request)).await;
    assert!(h.chat.redacted.lock().unwrap().contains(&(room(), leaked)));
    assert!(
        last(&h).starts_with("🔒 That question is a secret one; answer it in our direct room, not here."),
        "{}",
        last(&h)
    );
    h.say_in(&room(), &admin(), "skip", Some(&request)).await;
    assert!(
        last(&h).starts_with("🚀 Ready to run hello-args?"),
        "the dialog's own words work in the thread\n{}",
        last(&h)
    );
    assert!(!last(&h).contains("api_key"), "skipped: not sent");
    assert!(h.chat.redacted.lock().unwrap().iter().all(|(r, _)| r != &dm));
}

#[tokio::test]
async fn without_a_direct_room_the_secret_is_not_asked_and_the_user_is_told() {
    let h = Harness::single().await;
    h.chat.no_direct_rooms.store(true, std::sync::atomic::Ordering::Relaxed);
    let request = h.say_in(&room(), &admin(), "!cd run ops hello-args --var env=prod --var count=1", None).await;
    h.say_in(&room(), &admin(), "ann", Some(&request)).await;
    let told = last(&h);
    assert!(
        told.starts_with("🔒 `api_key` is secret, and I could not open a direct room with you to ask for it"),
        "{told}"
    );
    assert!(told.ends_with("`skip` leaves it out, `cancel` stops."), "{told}");
    h.say_in(&room(), &admin(), "cancel", Some(&request)).await;
    assert!(tasks(&h).is_empty());
}

#[tokio::test]
async fn yes_does_not_skip_the_preview_after_a_dialog() {
    let h = Harness::single().await;
    let request = h.say_in(&room(), &admin(), "!cd run ops hello-args --var env=prod --var count=1 --yes", None).await;
    h.say_in(&room(), &admin(), "ann", Some(&request)).await;
    h.say_in(&room(), &admin(), "skip", Some(&request)).await;
    assert!(last(&h).starts_with("🚀 Ready to run hello-args?"), "{}", last(&h));
    assert!(tasks(&h).is_empty());
}

#[tokio::test]
async fn a_hook_or_a_complete_command_never_opens_a_dialog() {
    let h = Harness::single().await;
    h.say(&admin(), "!cd run ops hello-args --var who=ann --var env=Staging --yes").await;
    assert_eq!(tasks(&h).len(), 1, "nothing missing: no questions");
    assert!(h.sent().iter().all(|(_, _, b)| !b.contains("❓")));
}

#[tokio::test]
async fn the_question_and_the_preview_read_the_same_every_time() {
    let h = Harness::single().await;
    let request = start(&h).await;
    h.say_in(&room(), &admin(), "ann", Some(&request)).await;
    h.say_in(&room(), &admin(), "skip", Some(&request)).await;
    let posted = h.chat.take();
    let html = |p: &crate::testing::Posted| match p {
        crate::testing::Posted::Message(_, m) => format!("{}\n---\n{}", m.body, m.html.clone().unwrap_or_default()),
        _ => String::new(),
    };
    insta::assert_snapshot!("dialog_enum_question", html(posted.last().unwrap()));
    h.say_in(&room(), &admin(), "Production", Some(&request)).await;
    let dm = direct_room_of(&admin());
    h.say_in(&dm, &admin(), "hunter2", None).await;
    let posted = h.chat.take();
    insta::assert_snapshot!("dialog_preview", html(posted.last().unwrap()));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 24, ..Default::default() })]

    /// Whatever the secret, and whichever way it is given (a `--var`, the direct room, or by
    /// mistake the shared room), it is in no message posted, no run kept and no audit entry;
    /// only the task's `secret` field gets it.
    #[test]
    fn a_secret_value_never_appears_anywhere_but_the_task(secret in "[A-Za-z0-9]{10,24}", way in 0..3usize) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            let h = Harness::single().await;
            let dm = direct_room_of(&admin());
            match way {
                0 => {
                    h.say(&admin(), &format!("!cd run ops hello-args --var who=ann --var env=prod --var api_key={secret}")).await;
                }
                1 | 2 => {
                    let request = h.say_in(&room(), &admin(), "!cd run ops hello-args --var env=prod --var count=2", None).await;
                    h.say_in(&room(), &admin(), "ann", Some(&request)).await;
                    if way == 2 {
                        h.say_in(&room(), &admin(), &secret, Some(&request)).await;
                    }
                    h.say_in(&dm, &admin(), &secret, None).await;
                }
                _ => unreachable!(),
            }
            h.say(&admin(), "yes").await;
            h.advance(Duration::seconds(30)).await;
            h.say(&admin(), "!cd status").await;
            let started = h.sims[0].model().recent_tasks(ProjectId::new(1), 10).unwrap();
            assert_eq!(started.len(), 1, "way {way}");
            for (_, _, body) in h.sent() {
                assert!(!body.contains(&secret), "posted: {body}");
            }
            for run in h.store.runs(Page { limit: 10, before: None }).await.unwrap() {
                assert!(run.parameters.values().all(|v| !v.contains(&secret)), "kept: {:?}", run.parameters);
            }
            for entry in h.store.audit(Page { limit: 100, before: None }).await.unwrap() {
                assert!(!entry.detail.contains(&secret), "audited: {}", entry.detail);
            }
        });
    }
}

#[tokio::test]
async fn one_person_has_one_dialog_so_a_direct_answer_is_never_anothers_and_chatter_is_left_alone() {
    let h = Harness::single().await;
    let elsewhere = RoomId::parse("!dev:test").unwrap();
    let first = h.say_in(&room(), &admin(), "!cd run ops hello-args --var env=prod --var count=1", None).await;
    h.say_in(&room(), &admin(), "ann", Some(&first)).await;
    assert!(last(&h).contains("I asked you in a direct message"), "{}", last(&h));
    // Unthreaded chatter while the secret waits in the direct room: neither taken nor deleted.
    let chatter = h.say_in(&room(), &admin(), "lunch?", None).await;
    assert!(!h.chat.redacted.lock().unwrap().iter().any(|(_, e)| e == &chatter));
    assert!(last(&h).contains("I asked you in a direct message"), "nothing said to it: {}", last(&h));
    // A dialog in another room replaces this one, and says where the old one was.
    h.say_in(&elsewhere, &admin(), "!cd run ops hello-args --var env=stage --var count=2", None).await;
    let sent = h.sent();
    assert!(
        sent.iter().any(|(r, _, b)| r == &elsewhere
            && b.contains("(This replaces your open questions for hello-args in !ops:test.)")),
        "{sent:?}"
    );
    h.say_in(&elsewhere, &admin(), "bea", None).await;
    let dm = direct_room_of(&admin());
    h.say_in(&dm, &admin(), "the-staging-key", None).await;
    let preview = last(&h);
    assert!(
        preview.starts_with("🚀 Ready to run hello-args?") && preview.contains("Variable env      stage"),
        "{preview}"
    );
    assert!(h.sent().last().is_some_and(|(r, _, _)| r == &elsewhere), "the preview is in the dialog's own room");
}
