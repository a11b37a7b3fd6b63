//! Start-up time and idle memory of the real bot (`chatrixcd run`, release build) on a real
//! Synapse from the test harness, with the simulated Semaphore over loopback HTTP.
//!
//! The bot is started once with a fresh login (it creates its stores and device, sets up
//! cross-signing and joins a room it was invited to), then again and again with its saved session,
//! as after a restart. Each time, the clock runs from starting the process until the bot logs that
//! it is connected to Matrix: its configuration read, its stores opened, the session restored, the
//! first sync done and cross-signing checked. After the last start it idles in its room, and its
//! resident memory is read from `/proc` (Linux only).
//!
//! `cargo bench -p chatrixcd --bench startup`; results in docs/performance.md.
//! `STARTUP_RUNS` (default 10 restarts) and `STARTUP_IDLE_SECONDS` (default 10) change the counts.
#![allow(clippy::print_stdout, clippy::print_stderr)] // a benchmark reports on stdout

use std::path::Path;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use chatrixcd_clock::SystemClock;
use chatrixcd_sim_semaphore::http::{self, HttpConfig};
use chatrixcd_sim_semaphore::{SimConfig, SimSemaphore};
use chatrixcd_tests::synapse::Synapse;

const CONNECTED: &str = "connected to Matrix";

/// Longer than the bot's sync long poll (30 s), so idling includes handling a sync answer.
const WORKING_SET_WINDOW: Duration = Duration::from_secs(35);

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A field of `/proc/<pid>/status`, in bytes.
fn status_bytes(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Resident bytes per mapped file, largest first, from the text of `/proc/<pid>/smaps`.
fn resident_files(smaps: &str) -> Vec<(String, u64)> {
    let mut by_file: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    let mut current: Option<String> = None;
    for line in smaps.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.first().is_some_and(|f| f.contains('-') && f.chars().all(|c| c.is_ascii_hexdigit() || c == '-')) {
            current = fields.get(5).filter(|p| p.starts_with('/')).map(|p| (*p).to_owned());
        } else if let (Some(file), ["Rss:", kb, "kB"]) = (&current, fields.as_slice()) {
            *by_file.entry(file.clone()).or_default() += kb.parse::<u64>().unwrap_or(0) * 1024;
        }
    }
    let mut files: Vec<(String, u64)> = by_file.into_iter().collect();
    files.sort_by_key(|(_, bytes)| std::cmp::Reverse(*bytes));
    files
}

/// The sum of one `smaps` field (in kB there) over all mappings, in bytes.
fn smaps_total(smaps: &str, field: &str) -> u64 {
    smaps
        .lines()
        .filter_map(|line| line.strip_prefix(field))
        .filter_map(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .sum::<u64>()
        * 1024
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Starts the bot and waits until it says it is connected; returns it and how long that took.
fn start(config: &Path, log: &Path) -> Result<(Child, Duration)> {
    let before = std::fs::read_to_string(log).unwrap_or_default().matches(CONNECTED).count();
    let out = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_chatrixcd"))
        .args(["run", "--config"])
        .arg(config)
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()
        .context("starting the bot")?;
    while started.elapsed() < Duration::from_secs(60) {
        if std::fs::read_to_string(log).unwrap_or_default().matches(CONNECTED).count() > before {
            return Ok((child, started.elapsed()));
        }
        if let Some(status) = child.try_wait()? {
            bail!("the bot exited before it connected ({status})");
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    let _ = child.kill();
    let _ = child.wait();
    bail!("the bot did not connect within a minute")
}

/// Stops the bot as an init system would, and waits for it.
fn stop(mut child: Child) -> Result<()> {
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait()?.is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            bail!("the bot did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Alice logs in and creates a room with the bot invited, so the bot has a room to be in.
async fn room_for_the_bot(homeserver: &str, bot: &str) -> Result<()> {
    let http = reqwest::Client::new();
    let login = serde_json::json!({
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": "alice"},
        "password": "alicepass",
    });
    let session: serde_json::Value =
        http.post(format!("{homeserver}/_matrix/client/v3/login")).json(&login).send().await?.json().await?;
    let token = session["access_token"].as_str().context("alice's access token")?;
    let room = serde_json::json!({"preset": "private_chat", "invite": [bot]});
    http.post(format!("{homeserver}/_matrix/client/v3/createRoom"))
        .bearer_auth(token)
        .json(&room)
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn run() -> Result<()> {
    let runs = env_number("STARTUP_RUNS", 10).max(1);
    let idle = Duration::from_secs(env_number("STARTUP_IDLE_SECONDS", 10));
    let synapse = Synapse::start().context("a local Synapse")?;
    let bot = synapse.register("bot", "botpass", false)?;
    let alice = synapse.register("alice", "alicepass", false)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let semaphore_url = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let sim = SimSemaphore::demo(SimConfig::default(), Arc::new(SystemClock));
        tokio::spawn(http::serve(listener, sim, HttpConfig::new("sim-token")));
        anyhow::Ok(url)
    })?;
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("config.json");
    let text = chatrixcd_tests::bot_config::BotConfig {
        homeserver: &synapse.url,
        bot: &bot,
        login: r#""password": "botpass""#,
        store: &dir.path().join("store"),
        semaphore_url: &semaphore_url,
        semaphore_token: "sim-token",
        admin: &alice,
    }
    .text();
    std::fs::write(&config, text)?;
    let log = dir.path().join("bot.log");
    runtime.block_on(room_for_the_bot(&synapse.url, &bot))?;

    let result = (|| {
        let (child, first) = start(&config, &log)?;
        // Joined, so that later starts find a room in their store.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !std::fs::read_to_string(&log).unwrap_or_default().contains("joined on invite") {
            if Instant::now() > deadline {
                bail!("the bot did not join its room");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        stop(child)?;
        let mut restarts = Vec::new();
        let mut last = None;
        for n in 0..runs {
            let (child, took) = start(&config, &log)?;
            restarts.push(took);
            if n + 1 == runs {
                last = Some(child);
            } else {
                stop(child)?;
            }
        }
        let child = last.context("at least one restart")?;
        std::thread::sleep(idle);
        let pid = child.id();
        let (rss, hwm) = (status_bytes(pid, "VmRSS:"), status_bytes(pid, "VmHWM:"));
        // Of which: the program's own pages (code mapped from the binary and libraries) and its
        // anonymous memory (heap, stacks).
        let (file, anon) = (status_bytes(pid, "RssFile:"), status_bytes(pid, "RssAnon:"));
        let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
        // What idling really uses: the pages touched in a second idle spell after the kernel's
        // "referenced" bits are cleared (most resident pages were only needed to start). The
        // spell outlasts one long poll of the sync loop (30 s), so a sync answer is handled in it.
        let touched = std::fs::write(format!("/proc/{pid}/clear_refs"), "1").ok().and_then(|()| {
            std::thread::sleep(WORKING_SET_WINDOW);
            let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).ok()?;
            Some(smaps_total(&smaps, "Referenced:"))
        });
        stop(child)?;
        println!("start to connected, fresh login (stores created):   {:>8.1} ms", first.as_secs_f64() * 1e3);
        println!(
            "start to connected, saved session, median of {runs:>3}: {:>8.1} ms (fastest {:.1}, slowest {:.1})",
            median(restarts.clone()).as_secs_f64() * 1e3,
            restarts.iter().min().map_or(0.0, |d| d.as_secs_f64() * 1e3),
            restarts.iter().max().map_or(0.0, |d| d.as_secs_f64() * 1e3),
        );
        match (rss, hwm) {
            (Some(rss), Some(hwm)) => println!(
                "resident memory after {} s idle in one room:        {:>8.1} MiB (peak {:.1} MiB)",
                idle.as_secs(),
                mib(rss),
                mib(hwm)
            ),
            _ => println!("resident memory: /proc is not readable here; not measured"),
        }
        if let (Some(file), Some(anon)) = (file, anon) {
            println!(
                "  of which mapped from files: {:.1} MiB, anonymous (heap, stacks): {:.1} MiB",
                mib(file),
                mib(anon)
            );
        }
        for (path, bytes) in resident_files(&smaps).into_iter().take(4) {
            println!("    {:>6.1} MiB  {path}", mib(bytes));
        }
        match touched {
            Some(bytes) => println!(
                "touched in the next {} s idle (the idle working set):  {:>8.1} MiB",
                WORKING_SET_WINDOW.as_secs(),
                mib(bytes)
            ),
            None => println!("idle working set: /proc/<pid>/clear_refs is not writable here; not measured"),
        }
        Ok(())
    })();
    if result.is_err() {
        eprintln!("--- bot log ---\n{}", std::fs::read_to_string(&log).unwrap_or_default());
    }
    result
}

fn main() {
    // `cargo bench` passes `--bench`; there is nothing to choose here.
    if let Err(e) = run() {
        eprintln!("startup benchmark failed: {e:#}");
        std::process::exit(1);
    }
}
