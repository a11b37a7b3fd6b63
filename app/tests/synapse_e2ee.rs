#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

//! The bot in an end-to-end encrypted room on a real Synapse, with a matrix-sdk client as the
//! person: the command is encrypted, and so is the answer, which the person must be able to read.
//! Then the bot restarts: same device, and it still reads and answers.

use std::time::Duration;

use crate::support::{Setup, stop_bot};
use matrix_sdk::ruma::OwnedUserId;

#[test]
fn the_bot_reads_answers_and_runs_in_an_encrypted_room_across_a_restart() {
    let setup = Setup::new();
    let mut child = Some(setup.start_bot());
    setup.runtime.block_on(async {
        let mut alice = setup.alice_on("alice").await;
        let room = alice.encrypted_room_with(&setup.bot).await;
        alice.say(&room, "!cd ping").await;
        let (answer, encrypted) = alice.next_message().await;
        assert!(answer.contains("Semaphore is up"), "{answer}");
        assert!(encrypted, "the answer in an encrypted room is encrypted");

        // Restart: the same device (the session is reused), and it still decrypts.
        let bot_id: OwnedUserId = setup.bot.as_str().try_into().unwrap();
        let devices_before = alice.client.encryption().get_user_devices(&bot_id).await.unwrap().devices().count();
        // The old process must be gone before the new one opens the same stores.
        stop_bot(child.take().expect("the bot is running"));
        child = Some(setup.start_bot());
        alice.say(&room, "!cd projects").await;
        let (answer, encrypted) = alice.next_message().await;
        assert!(answer.contains("ops"), "{answer}");
        assert!(encrypted);
        let devices_after = alice.client.encryption().get_user_devices(&bot_id).await.unwrap().devices().count();
        assert_eq!(devices_before, devices_after, "a restart must not add a device");

        // A run end to end, encrypted: the question, "yes", the status edited to success, the
        // requester mentioned.
        alice.say(&room, "!cd run ops deploy-web").await;
        alice.message_containing("Ready to run deploy-web?").await;
        alice.say(&room, "yes").await;
        alice.message_containing("· success").await;
        let (done, encrypted) = loop {
            let (body, encrypted) = alice.next_message().await;
            if body.contains("finished successfully") {
                break (body, encrypted);
            }
        };
        assert!(encrypted && done.contains("alice"), "{done}");

        // The log, coloured with its recap as a table, and the whole of it as an encrypted file.
        alice.say(&room, "!cd logs").await;
        let log = alice.message_containing("PLAY RECAP").await;
        assert!(log.contains("<table") && log.contains("localhost"), "{log}");
        alice.say(&room, "!cd logs --page 1").await;
        alice.message_containing(" · lines 1–").await;
        alice.say(&room, "!cd logs --file").await;
        let (file, encrypted) = loop {
            let (body, encrypted) = alice.next_message().await;
            if body.starts_with("FILE: ") {
                break (body, encrypted);
            }
        };
        assert!(file.contains("task-2147483646.log") && encrypted, "{file}");

        // A long task stopped from chat ends as stopped by whoever stopped it.
        alice.say(&room, "!cd run ops slow --yes").await;
        let running = alice.message_containing("· running").await;
        let id = running.split("task #").nth(1).unwrap().split(' ').next().unwrap().to_owned();
        alice.say(&room, &format!("!cd stop {id} --yes")).await;
        alice.message_containing(&format!("Task #{id} asked to stop")).await;
        alice.message_containing(&format!("slow (task #{id}) was stopped by @alice:localhost")).await;
    });
    stop_bot(child.expect("the bot is running"));
    assert!(!setup.bot_log().contains("botpass"), "the password reached the log");
}

#[test]
fn the_bot_waits_out_rate_limits_and_loses_no_answer() {
    let setup = Setup::new();
    let _context = setup.runtime.enter();
    // Synapse limits the bot to one message a second (an admin override, as a busy homeserver
    // would): the answers beyond that are refused with 429 and a delay, and must still arrive.
    setup.synapse.register("root", "rootpass", true).unwrap();
    setup.runtime.block_on(async {
        let root = crate::support::access_token(&setup.synapse.url, "root", "rootpass").await;
        let limited = reqwest::Client::new()
            .post(format!("{}/_synapse/admin/v1/users/{}/override_ratelimit", setup.synapse.url, setup.bot))
            .bearer_auth(root)
            .json(&serde_json::json!({"messages_per_second": 1, "burst_count": 1}))
            .send()
            .await
            .unwrap();
        assert!(limited.status().is_success(), "{}", limited.text().await.unwrap());
    });
    let child = setup.start_bot();
    setup.runtime.block_on(async {
        let mut alice = setup.alice_on("alice").await;
        let room = alice.encrypted_room_with(&setup.bot).await;
        let started = std::time::Instant::now();
        for _ in 0..5 {
            alice.say(&room, "!cd ping").await;
        }
        for n in 1..=5 {
            let (answer, _) = alice.next_message().await;
            assert!(answer.contains("Semaphore is up"), "answer {n}: {answer}");
        }
        assert!(
            started.elapsed() >= Duration::from_secs(2),
            "five answers at one a second cannot all arrive at once: the limit was not in force"
        );
    });
    stop_bot(child);
}

#[test]
fn the_bot_comes_back_by_itself_after_the_homeserver_restarts() {
    let mut setup = Setup::new();
    if let Some(why) = setup.synapse.cannot_restart() {
        println!("skipped: {why}");
        return;
    }
    // The person's client is dropped in the runtime's context, even when a check fails.
    let _context = setup.runtime.enter();
    let child = setup.start_bot();
    let (mut alice, room) = setup.runtime.block_on(setup.alice_with_the_bot());

    // Down for a few seconds: the bot's syncs fail and back off, and nothing stops it.
    setup.synapse.restart(Duration::from_secs(3)).expect("synapse starts again");
    setup.runtime.block_on(async {
        alice.say(&room, "!cd projects").await;
        let answer = alice.message_containing("ops").await;
        assert!(answer.contains("ops"), "{answer}");
    });
    let log = setup.bot_log();
    assert!(log.contains("sync failed"), "the outage is in the log:\n{log}");
    assert_eq!(log.matches("connected to Matrix").count(), 1, "the same process, not a restart:\n{log}");
    stop_bot(child);
    drop(alice);
}
