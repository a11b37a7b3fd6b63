#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

//! `chatrixcd demo` as a new user meets it: the binary, lines on stdin, the conversation on stdout.

use std::io::Write;
use std::process::{Command, Stdio};

fn demo(script: &str, extra: &[&str]) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chatrixcd"))
        .arg("demo")
        .args(["--tick-ms", "50", "--step-ms", "5", "--poll-ms", "50", "--drain-secs", "60"])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_readme_walkthrough_works() {
    let script = "!cd projects\n!cd templates 1\n!cd run 1 1\nyes\n/wait\n!cd status\n!cd logs\n";
    let (ok, out, err) = demo(script, &[]);
    assert!(ok, "exit status; stderr: {err}");
    assert!(out.contains("1   ops"), "{out}");
    assert!(out.contains("deploy-web"), "{out}");
    assert!(out.contains("Ready to run deploy-web?"), "{out}");
    assert!(out.contains("✅ [production] deploy-web · task #2147483646 · success"), "{out}");
    assert!(out.contains("Task #2147483646 ✅ success"), "{out}");
    assert!(out.contains("PLAY RECAP"), "{out}");
}

#[test]
fn closing_stdin_lets_running_tasks_finish_and_exits_cleanly() {
    let (ok, out, err) = demo("!cd run ops deploy-web --yes\n", &[]);
    assert!(ok, "stderr: {err}");
    assert!(out.contains("waiting for running tasks to finish"), "{out}");
    assert!(out.contains("finished successfully"), "{out}");
}

#[test]
fn open_questions_are_cancelled_when_nobody_is_left_to_answer() {
    let (ok, out, _) = demo("!cd run 1 1\n", &[]);
    assert!(ok);
    assert!(out.contains("Cancelled the request to run deploy-web (project ops): the console closed"), "{out}");
}

#[test]
fn messages_and_aliases_files_from_chatrixcd_are_used() {
    let dir = std::env::temp_dir().join(format!("chatrixcd-demo-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let messages = dir.join("messages.json");
    std::fs::write(&messages, "{\n  // HJSON, as ChatrixCD reads it\n  pet: [\"Purr, {name}!\"]\n}\n").unwrap();
    let aliases = dir.join("aliases.json");
    std::fs::write(&aliases, "{\"prj\": \"projects\"}").unwrap();
    let (ok, out, err) =
        demo("!cd pet\n!cd prj\n", &["--messages", messages.to_str().unwrap(), "--aliases", aliases.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).ok();
    assert!(ok, "{err}");
    assert!(out.contains("Purr, you!"), "{out}");
    assert!(out.contains("2   web"), "{out}");
}

#[test]
fn a_broken_messages_file_is_named_in_the_error() {
    let dir = std::env::temp_dir().join(format!("chatrixcd-demo-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let messages = dir.join("messages.json");
    std::fs::write(&messages, "{ pet: [ ").unwrap();
    let (ok, _, err) = demo("", &["--messages", messages.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).ok();
    assert!(!ok);
    assert!(err.contains("messages.json is not a usable messages file"), "{err}");
}

fn chatrixcd(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_chatrixcd")).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn state_survives_a_restart_and_exports_as_csv() {
    let dir = std::env::temp_dir().join(format!("chatrixcd-demo-state-{}", std::process::id()));
    let data = dir.to_str().unwrap();
    // First life: an alias, a finished run, and a run still going when the bot stops.
    let (ok, out, err) = demo(
        "!cd aliases add prj projects\n!cd run ops deploy-web --yes\n/wait\n!cd run ops slow --yes\n",
        &["--data-dir", data, "--drain-secs", "0"],
    );
    assert!(ok, "{err}");
    assert!(out.contains("finished successfully"), "{out}");
    // Second life, same data directory: the alias works, the unfinished run is picked up again
    // (the demo's simulated Semaphore is new, so it reports that task gone).
    let (ok, out, err) = demo("!cd prj\n/wait\n", &["--data-dir", data]);
    assert!(ok, "{err}");
    assert!(out.contains("2   web"), "{out}");
    assert!(out.contains("no longer exists in Semaphore; I stopped watching it"), "{out}");

    let (ok, history, err) = chatrixcd(&["export", "history", "--csv", "--data-dir", data]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = history.lines().collect();
    assert!(lines[0].starts_with("id,started_at,ended_at,result,room,requester"), "{history}");
    assert!(lines.iter().any(|l| l.contains("deploy-web (1)") && l.contains(",success,")), "{history}");
    assert!(lines.iter().any(|l| l.contains("slow (4)")), "{history}");
    let (ok, audit, err) = chatrixcd(&["export", "audit", "--csv", "--data-dir", data]);
    assert!(ok, "{err}");
    assert!(audit.contains("alias.add,prj = projects"), "{audit}");
    assert!(audit.contains("run.start,ops / deploy-web as task #2147483646"), "{audit}");
    let (ok, _, err) = chatrixcd(&["export", "history", "--csv", "--data-dir", "/nonexistent/chatrixcd"]);
    assert!(!ok);
    assert!(err.contains("holds no chatrixcd database"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// A config.json the HJSON reader panics on (deser-hjson slices inside a character after an
/// empty key) is refused as unreadable, and stderr shows none of its text: the panic's message
/// would quote its first 256 bytes, the password with them.
#[test]
fn an_unreadable_config_shows_none_of_its_text() {
    let dir = std::env::temp_dir().join(format!("chatrixcd-unreadable-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("config.json");
    std::fs::write(&file, "{ matrix: { password: \"hunter2-sekrit\" }, \"\"\u{2026} }").unwrap();
    for command in ["check", "run"] {
        let (ok, out, err) = chatrixcd(&[command, "--config", file.to_str().unwrap()]);
        assert!(!ok, "{command}: {out}");
        assert!(!out.contains("hunter2") && !err.contains("hunter2"), "{command}: {out}\n{err}");
        assert!(!err.contains("panicked"), "{command}: {err}");
        assert!(format!("{out}{err}").contains("cannot handle"), "{command} says why: {out}\n{err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn check_names_every_problem_by_its_key() {
    let dir = std::env::temp_dir().join(format!("chatrixcd-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "{ matrix: { homeserver: \"matrix.example.org\" }, bot: { admin_users: [\"alice\"] } }")
        .unwrap();
    let (ok, out, _) = chatrixcd(&["check", "--config", bad.to_str().unwrap()]);
    assert!(!ok);
    for key in [
        "matrix.homeserver",
        "matrix.user_id",
        "matrix.password",
        "semaphore.url",
        "semaphore.api_token",
        "bot.admin_users[0]",
    ] {
        assert!(out.contains(&format!("✗ {key}:")), "{key} missing in:\n{out}");
    }
    // A valid file whose servers are not there: each server's key is named.
    let unreachable = dir.join("unreachable.json");
    std::fs::write(
        &unreachable,
        r#"{ "matrix": { "homeserver": "http://127.0.0.1:9", "user_id": "@bot:example.org", "password": "pw" },
             "semaphore": { "url": "http://127.0.0.1:9", "api_token": "t0ken" },
             "bot": { "admin_users": ["@alice:example.org"] } }"#,
    )
    .unwrap();
    let (ok, out, _) = chatrixcd(&["check", "--config", unreachable.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).ok();
    assert!(!ok);
    assert!(out.contains("is valid") && out.contains("admins: @alice:example.org"), "{out}");
    assert!(out.contains("✗ semaphore.url: Semaphore is unreachable"), "{out}");
    assert!(out.contains("✗ matrix.homeserver: http://127.0.0.1:9 is unreachable"), "{out}");
}

#[test]
fn two_instances_in_the_demo_instances_use_and_qualified_runs() {
    let script = "!cd instances\n!cd use staging\n!cd run ops deploy-web --yes\n/wait\n!cd run prod:1:1 --yes\n/wait\n!cd info\n!cd use nowhere\n";
    let (ok, out, err) = demo(script, &[]);
    assert!(ok, "{err}");
    assert!(out.contains("▶ production (default)") && out.contains("staging"), "{out}");
    assert!(out.matches("✅ reachable").count() >= 2, "{out}");
    assert!(out.contains("now uses staging"), "{out}");
    // staging counts task ids up from 1 (current mode), production down from 2147483646 (2.10).
    assert!(out.contains("✅ [staging] deploy-web · task #1 · success"), "{out}");
    assert!(out.contains("✅ [production] deploy-web · task #2147483646 · success"), "{out}");
    assert!(out.contains("`!cd logs staging:1`"), "{out}");
    assert!(out.contains("staging (chosen with `use`)"), "{out}");
    assert!(out.contains("There is no Semaphore instance `nowhere`. Known: production, staging."), "{out}");
}

#[test]
fn config_migrate_keeps_comments_and_leaves_a_backup() {
    let dir = std::env::temp_dir().join(format!("chatrixcd-migrate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.json");
    let old = "{\n  // ChatrixCD's file\n  \"matrix\": { \"homeserver\": \"https://m.example\", \"user_id\": \"@b:m.example\", \"password\": \"p\" },\n  \"semaphore\": { \"url\": \"https://s.example\", \"api_token\": \"t\" }, // the server\n  \"bot\": { \"admin_users\": [\"@a:m.example\"] }\n}\n";
    std::fs::write(&config, old).unwrap();
    let (ok, out, err) = chatrixcd(&["config", "migrate", "--config", config.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.contains("is now the instance `default`"), "{out}");
    let new = std::fs::read_to_string(&config).unwrap();
    assert!(new.contains("// ChatrixCD's file") && new.contains("// the server"), "{new}");
    assert!(new.contains("\"semaphore_instances\": {\n    \"default\": {"), "{new}");
    assert_eq!(std::fs::read_to_string(dir.join("config.json.backup")).unwrap(), old);
    // The migrated file is valid as it is, and a second run changes nothing.
    let (ok, out, _) = chatrixcd(&["config", "migrate", "--config", config.to_str().unwrap()]);
    assert!(ok && out.contains("nothing to do"), "{out}");
    let (_, out, _) = chatrixcd(&["check", "--config", config.to_str().unwrap()]);
    assert!(out.contains("is valid"), "{out}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_demo_developer_runs_staging_is_refused_production_until_granted() {
    let script = "/as @dev:chatrixcd.local\n\
                  !cd help\n\
                  !cd run staging:ops:deploy-web --yes\n\
                  !cd run production:ops:deploy-web --yes\n\
                  !cd grant @dev:chatrixcd.local developer production\n\
                  /as @you:chatrixcd.local\n\
                  !cd grant @dev:chatrixcd.local developer production --yes\n\
                  /as @dev:chatrixcd.local\n\
                  !cd run production:ops:deploy-web --yes\n\
                  !cd whoami\n\
                  /wait\n";
    let (ok, out, err) = demo(script, &[]);
    assert!(ok, "stderr: {err}");
    assert!(out.contains("more commands need permissions you do not have here"), "{out}");
    assert!(out.contains("[staging] deploy-web · task"), "{out}");
    assert!(out.contains("🔒 This needs the `run` permission on production."), "{out}");
    assert!(out.contains("@you:chatrixcd.local can grant it."), "{out}");
    assert!(out.contains("🔒 This needs the `grant` permission on the bot."), "{out}");
    assert!(out.contains("🔑 @dev:chatrixcd.local now holds developer on production."), "{out}");
    assert!(out.contains("[production] deploy-web · task"), "{out}");
    assert!(out.contains("developer on production"), "{out}");
}

#[test]
fn a_grant_made_in_chat_survives_a_restart_in_redb() {
    let dir = std::env::temp_dir().join(format!("chatrixcd-demo-grants-{}", std::process::id()));
    let data = dir.to_str().unwrap();
    let (ok, out, err) = demo("!cd grant @dev:chatrixcd.local operator staging:ops --yes\n", &["--data-dir", data]);
    assert!(ok, "{err}");
    assert!(out.contains("now holds operator on staging:ops"), "{out}");
    // Second life: the grant is read back from chatrixcd.redb.
    let (ok, out, err) = demo("/as @dev:chatrixcd.local\n!cd whoami\n", &["--data-dir", data]);
    assert!(ok, "{err}");
    assert!(out.contains("operator on staging:ops") && out.contains("@you:chatrixcd.local, "), "{out}");
    let (ok, audit, err) = chatrixcd(&["export", "audit", "--csv", "--data-dir", data]);
    assert!(ok, "{err}");
    assert!(audit.contains("grant.add,@dev:chatrixcd.local operator on staging:ops"), "{audit}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_demo_simulators_alerts_reach_the_bots_webhook_endpoint() {
    // No websocket and polling once an hour: only an alert can tell the bot that the run ended.
    let (ok, out, err) = demo("!cd run 1 1 --yes\n/wait\n!cd info\n", &["--push", "alerts", "--poll-ms", "3600000"]);
    assert!(ok, "stderr: {err}");
    assert!(out.contains("send their Slack-format alerts to the bot's webhook endpoint at http://127.0.0.1:"), "{out}");
    assert!(out.contains("✅ [production] deploy-web · task #2147483646 · success"), "{out}");
    assert!(out.contains("finished successfully"), "{out}");
    assert!(out.contains("websocket closed · alerts received: 1 (all instances)"), "{out}");
}

#[test]
fn the_demo_walks_through_every_variable_of_hello_args_and_presets_work() {
    let script = "!cd params 1 8\n!cd run 1 8\nann\nmany\n3\n2\n/dm hunter2\nyes\n/wait\n!cd logs\n\
                  !cd preset save greet 1 8 --var who=bea --var env=Production --var api_key=s3cret-value\n\
                  !cd preset list\n!cd run --preset greet --var count=5 --yes\n/wait\n!cd logs\n";
    let (ok, out, err) = demo(script, &[]);
    assert!(ok, "stderr: {err}");
    assert!(out.contains("Run it: `!cd run production:1:8 --var who=… --var env=…`"), "{out}");
    assert!(out.contains("❓ 1/4 · Who (`who`, text, required): whom to greet"), "{out}");
    assert!(out.contains("🤔 `count` must be a whole number, not `many`."), "{out}");
    assert!(out.contains("1. Production (prod)   2. Staging (stage)"), "{out}");
    assert!(
        out.contains("chatrixcd (direct):") && out.contains("this one is secret"),
        "asked in the direct room\n{out}"
    );
    assert!(out.contains("(direct) @you:chatrixcd.local: (7 characters)"), "{out}");
    assert!(out.contains("chatrixcd removed ["), "the answer is deleted\n{out}");
    assert!(out.contains("Variable api_key  •••••• (secret)"), "{out}");
    // hello.sh prints its arguments: the survey values, sorted, never the secret (2.10 passes
    // secrets to Ansible only, as the preview said).
    assert!(out.contains("will not reach it"), "{out}");
    assert!(out.contains("count=3 env=stage who=ann"), "{out}");
    assert!(out.contains("💾 Preset `greet` saved"), "{out}");
    assert!(out.contains("count=5 env=prod who=bea"), "the preset, with --var over it\n{out}");
    // Only the console's echo of what was typed shows the --var secret: the bot never says it.
    let bot_said: Vec<&str> = out.lines().filter(|l| !l.contains("@you:chatrixcd.local: ")).collect();
    assert!(bot_said.iter().all(|l| !l.contains("hunter2") && !l.contains("s3cret-value")), "{out}");
}
