//! What an operator sees at the default log level: a normal start and a handful of commands over
//! a real Synapse, in a plain and an encrypted room, log no warning and no error (matrix-sdk's
//! expected 404s and per-sync lines stay at debug), and every command is one `command handled`
//! line with its duration. Written as JSON (`--log-format json`), one object per line, so the
//! test reads levels and fields rather than guessing from text.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support::{Setup, stop_bot};

/// Each command with a word its answer holds.
const COMMANDS: [(&str, &str); 10] = [
    ("!cd ping", "Semaphore is up"),
    ("!cd projects", "ops"),
    ("!cd templates 1", "deploy-web"),
    ("!cd help", "ping"),
    ("!cd info", "Commands handled"),
    ("!cd whoami", "Here you may"),
    ("!cd history", "No runs match"),
    ("!cd schedule list", "no schedules"),
    ("!cd tasks 1", "No tasks"),
    ("!cd instances", "Semaphore instances"),
];

#[test]
fn a_normal_start_and_ten_commands_log_no_warning_or_error() {
    let setup = Setup::new();
    let child = setup.start_bot_with(&["--log-format", "json"]);
    setup.runtime.block_on(async {
        let mut alice = setup.alice_on("alice").await;
        let plain = alice.plain_room(&setup.bot).await;
        let encrypted = alice.encrypted_room(&setup.bot, false).await;
        for (i, (command, answer)) in COMMANDS.iter().enumerate() {
            let room = if i % 2 == 0 { &plain } else { &encrypted };
            alice.say(room, command).await;
            let said = alice.message_containing(answer).await;
            assert!(!said.is_empty(), "{command}");
        }
    });
    stop_bot(child);

    let log = setup.bot_log();
    let records: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON record ({e}): {l}")))
        .collect();
    let loud: Vec<&serde_json::Value> =
        records.iter().filter(|r| matches!(r["level"].as_str(), Some("WARN" | "ERROR"))).collect();
    assert!(loud.is_empty(), "warnings or errors at the default level:\n{loud:#?}");
    let handled: Vec<&serde_json::Value> =
        records.iter().filter(|r| r["fields"]["message"] == "command handled").collect();
    assert_eq!(handled.len(), COMMANDS.len(), "one line per command:\n{log}");
    for record in &handled {
        assert_eq!(record["level"], "INFO");
        assert!(record["fields"]["ms"].as_f64().is_some_and(|ms| ms >= 0.0), "a duration: {record}");
        assert!(record["fields"]["command"].is_string() && record["fields"]["outcome"] == "ok", "{record}");
    }
    // Nothing of matrix-sdk's per-sync chatter at the default level.
    assert!(!log.contains("Processed a sync response"), "{log}");
    assert!(records.iter().any(|r| r["fields"]["message"] == "connected to Matrix"), "{log}");
}
