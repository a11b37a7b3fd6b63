#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

//! A run's missing variables asked for through `chatrixcd run` on a real Synapse: in a shared
//! encrypted room, the bot asks in the thread; for the secret it opens an encrypted direct room
//! with the requester, asks there, deletes the answer once read, and the preview masks it. The
//! value reaches the simulated Semaphore and nothing else: not the shared room, not the log.

use crate::support::semaphore_tasks;

use crate::support::stop_bot;

const SECRET: &str = "hunter2-synapse-secret";

#[test]
fn a_secret_is_asked_in_an_encrypted_direct_room_and_deleted_there() {
    let setup = crate::support::Setup::new();
    let child = setup.start_bot();
    setup.runtime.block_on(async {
        let mut alice = setup.alice_on("alice").await;
        let room = alice.encrypted_room(&setup.bot, false).await;
        alice.say(&room, "!cd run ops hello-args --var env=prod --var count=2").await;
        alice.message_containing("hello-args needs a few answers first (2 questions)").await;
        alice.message_containing("❓ 1/2").await;
        alice.say(&room, "ann").await;

        // The secret: a new direct room, encrypted, with the question in it.
        let direct = alice.accept_next_invite().await;
        assert_ne!(direct.room_id(), room.room_id());
        let (question, encrypted) = loop {
            let (body, encrypted) = alice.next_message().await;
            if body.contains("this one is secret") {
                break (body, encrypted);
            }
        };
        assert!(encrypted, "the secret's question is encrypted: {question}");
        assert!(direct.latest_encryption_state().await.unwrap().is_encrypted());
        let sent = direct
            .send(matrix_sdk::ruma::events::room::message::RoomMessageEventContent::text_plain(SECRET))
            .await
            .unwrap();
        alice.message_containing("🔒 Got it.").await;
        let preview = alice.message_containing("Ready to run hello-args?").await;
        assert!(preview.contains("•••••• (secret)") && !preview.contains(SECRET), "{preview}");
        assert!(preview.contains("will not reach it"), "bash gets no secrets on 2.10: {preview}");
        alice.say(&room, "yes").await;
        alice.message_containing("finished successfully").await;

        // The answer was deleted by the bot (it made the room, so it may).
        let mut redacted = false;
        for _ in 0..100 {
            let event = direct.event(&sent.response.event_id, None).await.unwrap();
            let raw = event.raw().json().get().to_owned();
            if raw.contains("redacted_because") || !raw.contains("\"body\"") {
                redacted = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(redacted, "the secret answer is redacted");
        let tasks = semaphore_tasks::get_json(setup.semaphore_url(), "sim-token", "/api/project/1/tasks").await;
        let task = &tasks.as_array().unwrap()[0];
        let environment: serde_json::Value = serde_json::from_str(task["environment"].as_str().unwrap()).unwrap();
        assert_eq!(environment, serde_json::json!({"who": "ann", "env": "prod", "count": "2"}));
    });
    stop_bot(child);
    let log = setup.bot_log();
    assert!(!log.contains(SECRET), "the secret reached the log");
    assert!(log.contains("opened a direct room"), "{log}");
}
