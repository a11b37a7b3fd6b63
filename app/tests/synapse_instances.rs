#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

//! Several Semaphore instances in one encrypted room on a real Synapse: the bot as a process,
//! started from a config.json with `semaphore_instances` (a 2.10 simulator, a current one, and a
//! black hole that accepts connections and never answers), a matrix-sdk client as the person.

use crate::support::{Setup, stop_bot};

/// Starts a current-mode simulator and a black hole on loopback; returns their URLs.
fn more_servers(setup: &Setup) -> (String, String) {
    let staging = setup.second_semaphore("staging-token");
    let blackhole = setup.runtime.block_on(async {
        let hole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let blackhole = format!("http://{}", hole.local_addr().unwrap());
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = hole.accept().await {
                held.push(socket);
            }
        });
        blackhole
    });
    (staging, blackhole)
}

#[test]
fn two_instances_and_a_black_hole_in_one_encrypted_room() {
    let setup = Setup::new();
    let (staging, blackhole) = more_servers(&setup);
    let text = format!(
        r#"{{
            // One Matrix account, three Semaphore instances.
            "matrix": {{ "homeserver": "{hs}", "user_id": "{bot}", "password": "botpass", "store_path": "{store}" }},
            "semaphore_instances": {{
                "production": {{ "url": "{production}", "api_token": "sim-token" }},
                "staging": {{ "url": "{staging}", "api_token": "staging-token" }},
                "blackhole": {{ "url": "{blackhole}", "api_token": "hole-token", "timeout_secs": 3 }}
            }},
            "default_instance": "production",
            "bot": {{ "admin_users": ["{admin}"], "greetings_enabled": false }}
        }}"#,
        hs = setup.synapse.url,
        bot = setup.bot,
        store = setup.store().display(),
        production = setup.semaphore_url(),
        admin = setup.alice,
    );
    std::fs::write(&setup.config, text).unwrap();
    let child = setup.start_bot();
    setup.runtime.block_on(async {
        let (mut alice, room) = setup.alice_with_the_bot().await;
        alice.say(&room, "!cd instances").await;
        let listing = alice.message_containing("Semaphore instances").await;
        assert!(listing.contains("production (default)") && listing.contains("2.10"), "{listing}");
        assert!(listing.contains("staging"), "{listing}");
        assert!(listing.contains("unreachable"), "the black hole times out on its own line: {listing}");

        // The black hole holds up only its own command: help and staging answer first.
        alice.say(&room, "!cd projects blackhole").await;
        alice.say(&room, "!cd help").await;
        alice.say(&room, "!cd projects staging").await;
        let help = alice.message_containing("Here is what I can do").await;
        assert!(!help.contains("[blackhole]"), "{help}");
        let first = alice.message_containing("Projects").await;
        assert!(first.contains("[staging]"), "{first}");
        let late = alice.message_containing("[blackhole]").await;
        assert!(late.contains("did not answer in time") && late.contains("Only blackhole is affected"), "{late}");

        // A room's instance, qualified runs, and the indicator on every task reply.
        alice.say(&room, "!cd use staging").await;
        alice.message_containing("now uses staging").await;
        alice.say(&room, "!cd run ops deploy-web --yes").await;
        alice.message_containing("[staging] deploy-web · task #1 ·").await;
        alice.message_containing("[staging] deploy-web (task #1) finished successfully").await;
        alice.say(&room, "!cd run production:1:1 --yes").await;
        alice.message_containing("[production] deploy-web · task #2147483646 ·").await;
        alice.message_containing("[production] deploy-web (task #2147483646) finished successfully").await;
        alice.say(&room, "!cd info").await;
        let info = alice.message_containing("chatrixcd").await;
        assert!(info.contains("staging (chosen with `use`)"), "{info}");
    });
    stop_bot(child);
    let log = setup.bot_log();
    assert!(!log.contains("staging-token") && !log.contains("hole-token"), "a token reached the log");
}
