#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

//! The binary against a real Synapse, started by the harness (`chatrixcd_tests::synapse`), and
//! the simulated Semaphore over HTTP.

use std::process::Command;
use std::sync::Arc;

use chatrixcd_clock::SystemClock;
use chatrixcd_sim_semaphore::http::{self, HttpConfig};
use chatrixcd_sim_semaphore::{SimConfig, SimSemaphore};
use chatrixcd_tests::synapse::Synapse;

#[test]
fn check_reaches_a_real_synapse_and_semaphore() {
    let synapse = Synapse::start().expect("a local Synapse (see tests/src/synapse.rs)");
    let bot = synapse.register("bot", "botpass", false).unwrap();

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let semaphore_url = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let sim = SimSemaphore::demo(SimConfig::default(), Arc::new(SystemClock));
        tokio::spawn(http::serve(listener, sim, HttpConfig::new("sim-token-for-check")));
        url
    });

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    std::fs::write(
        &config,
        format!(
            r#"{{
  // as ChatrixCD writes it
  "matrix": {{ "homeserver": "{hs}", "user_id": "{bot}", "password": "botpass", "store_path": "./store" }},
  "semaphore": {{ "url": "{semaphore_url}", "api_token": "sim-token-for-check" }},
  "bot": {{ "admin_users": ["@alice:localhost"], "command_prefix": "!cd" }}
}}"#,
            hs = synapse.url
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_chatrixcd"))
        .args(["check", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("✓ Semaphore 2.10.32"), "{text}");
    assert!(text.contains(&format!("✓ Matrix homeserver {} answers", synapse.url)), "{text}");

    // A token that is not the bot's is caught by key.
    let wrong = std::fs::read_to_string(&config).unwrap().replace("sim-token-for-check\" }", "not-the-token\" }");
    std::fs::write(&config, wrong).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_chatrixcd"))
        .args(["check", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(text.contains("✗ semaphore.api_token: the server rejected it"), "{text}");
}
