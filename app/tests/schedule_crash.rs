#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

//! Exactly once per slot, whatever moment the process dies: the real binary (`chatrixcd demo`
//! with a redb data directory, against a simulated Semaphore that outlives it) runs a schedule
//! with a slot every two seconds (the hidden seconds mode), is killed with SIGKILL at 50 random
//! moments and started again each time; then the simulator's task list holds each slot's task
//! once, and no slot between the first and the last is lost (`--missed all`). Bounded in time:
//! about a minute.

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chatrixcd_clock::SystemClock;
use chatrixcd_sim_semaphore::http::{self, HttpConfig};
use chatrixcd_sim_semaphore::{SimConfig, SimSemaphore};

use crate::support::semaphore_tasks;

const TOKEN: &str = "crash-test-token";
const KILLS: usize = 50;

/// The bot, with what it printed so far.
struct Bot {
    child: Child,
    out: Arc<Mutex<String>>,
}

fn start(url: &str, data: &std::path::Path) -> Bot {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chatrixcd"))
        .arg("demo")
        .args(["--data-dir", data.to_str().unwrap(), "--semaphore", url, "--semaphore-token", TOKEN])
        .args(["--schedule-seconds", "--tick-ms", "50", "--step-ms", "5", "--poll-ms", "100", "--drain-secs", "5"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = Arc::new(Mutex::new(String::new()));
    let (stdout, seen) = (child.stdout.take().unwrap(), Arc::clone(&out));
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let mut seen = seen.lock().unwrap();
            seen.push_str(&line);
            seen.push('\n');
        }
    });
    Bot { child, out }
}

/// A small deterministic generator: the kill moments differ, and a failure can be replayed.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
    *state >> 33
}

#[test]
fn fifty_kills_leave_each_slot_run_exactly_once() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let url = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let sim = SimSemaphore::demo(
            SimConfig {
                queue_tick: chrono::Duration::milliseconds(50),
                step: chrono::Duration::milliseconds(5),
                ..SimConfig::default()
            },
            Arc::new(SystemClock),
        );
        tokio::spawn(http::serve(listener, sim, HttpConfig::new(TOKEN)));
        url
    });
    let dir = tempfile::tempdir().unwrap();
    let began = Instant::now();
    let mut bot = start(&url, dir.path());
    let add = "!cd schedule add \"*/2 * * * * *\" production:ops:deploy-web \"every 2 s\" --missed all --yes\n";
    bot.child.stdin.as_mut().unwrap().write_all(add.as_bytes()).unwrap();
    while !bot.out.lock().unwrap().contains("⏰ Schedule #1 “every 2 s” added") {
        assert!(began.elapsed() < Duration::from_secs(60), "never added: {}", bot.out.lock().unwrap());
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut seed = 0x5eed_u64;
    for _ in 0..KILLS {
        // Anywhere in a slot, often mid-start: 100 ms to 1.6 s.
        std::thread::sleep(Duration::from_millis(100 + next(&mut seed) % 1_500));
        bot.child.kill().unwrap();
        bot.child.wait().unwrap();
        bot = start(&url, dir.path());
        assert!(began.elapsed() < Duration::from_secs(240), "the test overran");
    }
    std::thread::sleep(Duration::from_secs(3));
    drop(bot.child.stdin.take());
    let status = bot.child.wait().unwrap();
    assert!(status.success(), "the last run ended badly");

    let per_slot = runtime.block_on(semaphore_tasks::tasks_per_slot(&url, TOKEN, 1));
    let twice: Vec<_> = per_slot.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "slots run more than once: {twice:?}");
    let slots: Vec<chrono::DateTime<chrono::Utc>> = per_slot.keys().map(|s| s.parse().unwrap()).collect();
    assert!(slots.len() >= 20, "too few slots ran: {}", slots.len());
    let gaps: Vec<_> = slots.windows(2).filter(|w| w[1] - w[0] != chrono::Duration::seconds(2)).collect();
    assert!(gaps.is_empty(), "slots lost between runs: {gaps:?}");
    eprintln!("{} slots, each once, over {KILLS} kills in {:?}", slots.len(), began.elapsed());
}
