#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

//! Roles and permissions over a real Synapse: the bot as a process, started from a config.json
//! with two instances (`production`, protected, and `staging`), an admin and an operator whose
//! config grant covers staging only. Both people are matrix-sdk clients in one encrypted room.
//! The operator runs on staging, is refused on production (and nothing starts there), the admin
//! grants production in chat, and the operator's production run starts.

use std::future::Future;
use std::time::Duration;

use crate::support::{Person, Setup, stop_bot};
use matrix_sdk::ruma::OwnedUserId;

/// Bounds one step of the conversation: no step may hang the test.
async fn within<T>(what: &str, step: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(90), step).await.unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// The bot's next message to `person` that contains `needle`, within the step's bound.
async fn reply(person: &mut Person, needle: &str) -> String {
    within(needle, person.message_containing(needle)).await
}

/// How many tasks project 1 (`ops`) of the simulator at `url` holds, asked over its API.
async fn task_count(url: &str, token: &str) -> usize {
    let tasks: serde_json::Value = reqwest::Client::new()
        .get(format!("{url}/api/project/1/tasks"))
        .bearer_auth(token)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    tasks.as_array().expect("a list of tasks").len()
}

#[test]
fn an_operator_on_staging_is_refused_on_production_until_an_admin_grants_it() {
    let setup = Setup::new();
    let oper = setup.synapse.register("oper", "operpass", false).unwrap();
    let staging = setup.second_semaphore("staging-token");
    let production = setup.semaphore_url().to_owned();
    let text = format!(
        r#"{{
            // An admin, and an operator on staging only; production is protected.
            "matrix": {{ "homeserver": "{hs}", "user_id": "{bot}", "password": "botpass", "store_path": "{store}" }},
            "semaphore_instances": {{
                "production": {{ "url": "{production}", "api_token": "sim-token" }},
                "staging": {{ "url": "{staging}", "api_token": "staging-token" }}
            }},
            "default_instance": "production",
            "bot": {{
                "admin_users": ["{admin}"],
                "grants": [{{ "user": "{oper}", "role": "operator", "scope": "staging" }}],
                "production_instances": ["production"],
                "greetings_enabled": false
            }}
        }}"#,
        hs = setup.synapse.url,
        bot = setup.bot,
        store = setup.store().display(),
        admin = setup.alice,
    );
    std::fs::write(&setup.config, text).unwrap();
    let child = setup.start_bot();
    let started = std::time::Instant::now();
    setup.runtime.block_on(async {
        // Alice's encrypted room with the bot; she invites the operator, who joins.
        let (mut alice, room) = within("alice's room with the bot", Box::pin(setup.alice_with_the_bot())).await;
        let oper_id: OwnedUserId = oper.as_str().try_into().unwrap();
        room.invite_user_by_id(&oper_id).await.unwrap();
        let mut operator =
            Person::login(&setup.synapse.url, "oper", "operpass", &setup.dir.path().join("oper"), &setup.bot).await;
        let oper_room = within("the operator's join", operator.client.join_room_by_id(room.room_id())).await.unwrap();
        assert!(oper_room.latest_encryption_state().await.unwrap().is_encrypted(), "the shared room is encrypted");

        // Each reads the other: the operator's whoami shows the config grant.
        operator.say(&oper_room, "!cd whoami").await;
        let me = reply(&mut operator, &format!("🔑 {oper}")).await;
        assert!(me.contains("<td>operator on staging</td><td>config</td><td>in force here</td>"), "{me}");
        assert!(!me.contains("operator on production"), "{me}");

        // Staging: allowed, and it runs.
        let staging_before = task_count(&staging, "staging-token").await;
        operator.say(&oper_room, "!cd run staging:ops:deploy-web --yes").await;
        reply(&mut operator, "[staging] deploy-web · task #").await;
        let done = reply(&mut operator, "[staging] deploy-web (task #").await;
        assert!(done.contains("finished successfully"), "{done}");
        assert_eq!(task_count(&staging, "staging-token").await, staging_before + 1, "one task on staging");

        // Production: refused, naming the permission and who can grant it; nothing starts.
        let production_before = task_count(&production, "sim-token").await;
        operator.say(&oper_room, "!cd run production:ops:deploy-web --yes").await;
        let denied = reply(&mut operator, "🔒").await;
        assert!(denied.contains("needs the `run` permission on production"), "{denied}");
        assert!(denied.contains(&format!("{} can grant it", setup.alice)), "{denied}");
        assert!(!denied.contains("task #"), "{denied}");
        assert_eq!(task_count(&production, "sim-token").await, production_before, "nothing started on production");

        // The admin grants production in chat.
        alice.say(&room, &format!("!cd grant {oper} operator production --yes")).await;
        let granted = reply(&mut alice, "now holds operator on production").await;
        assert!(granted.contains(&format!("🔑 {oper} now holds operator on production.")), "{granted}");

        // Now the operator's production run starts (and the denial above left no task behind).
        operator.say(&oper_room, "!cd run production:ops:deploy-web --yes").await;
        let status = reply(&mut operator, "[production] deploy-web · task #").await;
        assert!(!status.contains("🔒"), "{status}");
        let done = reply(&mut operator, "[production] deploy-web (task #").await;
        assert!(done.contains("finished successfully"), "{done}");
        assert_eq!(task_count(&production, "sim-token").await, production_before + 1, "one task on production");

        // Both grants, one from config and one from chat by the admin.
        operator.say(&oper_room, "!cd whoami").await;
        let me = reply(&mut operator, &format!("🔑 {oper}")).await;
        // The rows of the HTML table: grant, where it comes from, whether it applies here now.
        assert!(me.contains("<td>operator on staging</td><td>config</td><td>in force here</td>"), "{me}");
        let by_alice = format!("<td>operator on production</td><td>{}, ", setup.alice);
        assert!(me.contains(&by_alice), "the chat grant names who gave it: {me}");
        assert!(me.contains("Here you may: read, logs, run, stop, approve, schedule"), "{me}");
    });
    eprintln!("the conversation took {:?}", started.elapsed());
    stop_bot(child);
    let log = setup.bot_log();
    assert!(!log.contains("staging-token") && !log.contains("botpass"), "a secret reached the log");
}
