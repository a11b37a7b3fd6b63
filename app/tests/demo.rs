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
    assert!(out.contains("✅ deploy-web · task #2147483646 · success"), "{out}");
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
