//! `logs` on a huge task log, the whole way through: Semaphore's JSON over loopback HTTP, the
//! real client, the command (splitting, redaction, analysis, paging, rendering) and the file
//! upload, measured for time and peak memory.
//!
//! The simulated Semaphore runs in a child process (this same binary, started with
//! `LOGS_MEMORY_SERVE` set), so its own copy of the log is not counted. Peak memory is the
//! kernel's resident high-water mark (`VmHWM`, reset through `/proc/self/clear_refs`) above what
//! the bot held before the command; a counting allocator would need `unsafe`, which the workspace
//! forbids.
//!
//! `cargo bench -p chatrixcd-tests --bench logs_memory` (`LOGS_MEMORY_MB=20` for a quicker run);
//! results in docs/performance.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // a benchmark reports on stdout and may fail loudly

use std::io::{BufRead as _, Write as _};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chatrixcd_clock::ManualClock;
use chatrixcd_domain::personality::Personality;
use chatrixcd_domain::redact::Redactor;
use chatrixcd_domain::{Bot, Deps, Settings};
use chatrixcd_ports::chat::{ChatEvent, EventId, Incoming};
use chatrixcd_ports::semaphore::StartTask;
use chatrixcd_ports::{Clock, ProjectId, RoomId, SemaphorePort, UserId};
use chatrixcd_semaphore::{HttpSemaphore, SemaphoreConfig};
use chatrixcd_sim_semaphore::http::{self, HttpConfig};
use chatrixcd_sim_semaphore::{Script, SimConfig, SimSemaphore};
use chatrixcd_store_memory::MemoryStore;
use chrono::Duration;
use null_chat::NullChat;

#[path = "common/null_chat.rs"]
mod null_chat;

const SERVE: &str = "LOGS_MEMORY_SERVE";
const TOKEN: &str = "logs-memory-token";

const MEASURE: &str = "LOGS_MEMORY_MEASURE";

/// What is measured, each in a process of its own so that memory freed by one step and kept by
/// the allocator does not hide the next step's peak.
const STEPS: [&str; 4] = ["fetch", "logs {task}", "logs {task} --page 1", "logs {task} --file"];

fn main() {
    let megabytes: usize = std::env::var("LOGS_MEMORY_MB").ok().and_then(|m| m.parse().ok()).unwrap_or(100);
    if std::env::var_os(SERVE).is_some() {
        serve(megabytes);
        return;
    }
    if let Ok(step) = std::env::var(MEASURE) {
        let mut words = step.splitn(3, ' ');
        let (url, task, step) = (words.next().unwrap(), words.next().unwrap(), words.next().unwrap());
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(measure(url, task, step));
        return;
    }
    let me = std::env::current_exe().unwrap();
    let mut server = Command::new(&me)
        .env(SERVE, "1")
        .env("LOGS_MEMORY_MB", megabytes.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    std::io::BufReader::new(server.stdout.take().unwrap()).read_line(&mut ready).unwrap();
    let ready = ready.trim();
    println!("`logs` on a {megabytes} MB Ansible log; each step in a process of its own");
    for step in STEPS {
        let status = Command::new(&me).env(MEASURE, format!("{ready} {step}")).status().unwrap();
        assert!(status.success(), "{step} failed");
    }
    // Closing its stdin ends the server.
    drop(server.stdin.take());
    server.wait().unwrap();
}

/// One step on the bot's side: the fetch alone (Semaphore's JSON through the client, as the
/// command gets it) or one command, after a warm-up.
async fn measure(url: &str, task: &str, step: &str) {
    let mut config = SemaphoreConfig::new(url, TOKEN);
    config.request_timeout = StdDuration::from_secs(120);
    let semaphore = Arc::new(HttpSemaphore::new(&config).unwrap());
    let clock = ManualClock::at_epoch();
    let user = UserId::parse("@alice:example.org").unwrap();
    let room = RoomId::parse("!ops:example.org").unwrap();
    let mut settings = Settings::new(UserId::parse("@bot:example.org").unwrap());
    settings.admins = vec![user.clone()];
    settings.greetings = false;
    let chat = Arc::new(NullChat::recording());
    let deps = Deps {
        chat: chat.clone(),
        instances: chatrixcd_domain::Instances::single("https://semaphore.test", semaphore.clone()),
        store: Arc::new(MemoryStore::new()),
        clock: Arc::new(clock.clone()),
        sealer: None,
    };
    let bot = Bot::new(deps, settings, Personality::with_seed(1), Redactor::new(["a-secret-token-value".to_owned()]));
    // Warm up: the connection, the store, the allocator's first arenas.
    let _ = say(&bot, &clock, &user, &room, "!cd ping").await;

    if step == "fetch" {
        let task_id = chatrixcd_ports::TaskId::new(task.parse().unwrap());
        let before = status_bytes("VmRSS:");
        let measured = std::fs::write("/proc/self/clear_refs", "5").is_ok();
        let started = Instant::now();
        let output = semaphore.task_output(ProjectId::new(1), task_id).await.unwrap();
        let took = started.elapsed();
        let peak = if measured { status_bytes("VmHWM:").saturating_sub(before) } else { 0 };
        let text = output.text_len();
        let held = output.held_bytes();
        println!("{:<28} {took:>8.2?}  peak +{:>6.1} MB", "fetch the output alone", mb(peak));
        println!("    {} lines, {:.1} MB of text, held as {:.1} MB", output.len(), mb(text), mb(held));
        return;
    }
    let command = format!("!cd {}", step.replace("{task}", task));
    let (took, peak) = say(&bot, &clock, &user, &room, &command).await;
    let (said, uploaded) = chat.last();
    println!("{:<28} {took:>8.2?}  peak +{:>6.1} MB", step.replace(" {task}", " N"), mb(peak));
    if command.ends_with("--file") {
        println!("    uploaded {:.1} MB", mb(uploaded));
    } else {
        println!("    {said}");
    }
}

/// Hands one command to the bot; returns how long it took and the peak resident memory above
/// what the process held before.
async fn say(bot: &Bot, clock: &ManualClock, user: &UserId, room: &RoomId, body: &str) -> (StdDuration, usize) {
    let event = ChatEvent::Message {
        meta: Incoming {
            room: room.clone(),
            sender: user.clone(),
            sender_name: None,
            event_id: EventId(format!("$in-{body}")),
            timestamp: clock.now(),
        },
        body: body.to_owned(),
        thread_root: None,
    };
    let before = status_bytes("VmRSS:");
    let measured = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let started = Instant::now();
    bot.handle(event).await;
    let took = started.elapsed();
    let peak = if measured { status_bytes("VmHWM:").saturating_sub(before) } else { 0 };
    (took, peak)
}

fn status_bytes(field: &str) -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse::<usize>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn mb(bytes: usize) -> f64 {
    bytes as f64 / 1_000_000.0
}

/// The child: the simulator with one finished task whose log is about `megabytes` MB, served on
/// a loopback port until its stdin closes. Prints `URL TASK` when ready.
fn serve(megabytes: usize) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    runtime.block_on(async {
        let clock = ManualClock::at_epoch();
        let config = SimConfig { step: Duration::milliseconds(1), ..SimConfig::default() };
        let sim = SimSemaphore::demo(config, Arc::new(clock.clone()));
        let lines = ansible_log(megabytes * 1_000_000);
        let count = lines.len();
        let project = ProjectId::new(1);
        let template = {
            let mut model = sim.model();
            let mut template = model.templates(project).unwrap().into_iter().next().unwrap();
            template.name = "huge-deploy".into();
            model.add_template(template, Script::Succeed(lines))
        };
        let task = sim.start_task(project, StartTask { template_id: template, ..StartTask::default() }).await.unwrap();
        clock.advance(Duration::milliseconds(count as i64 + 60_000));
        // The simulator moves a task on a bounded amount per call: ask until it has finished.
        while !sim.task(project, task.id).await.unwrap().status.is_terminal() {}
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(http::serve(listener, sim, HttpConfig::new(TOKEN)));
        println!("{url} {}", task.id);
        std::io::stdout().flush().unwrap();
        tokio::task::spawn_blocking(|| std::io::stdin().lines().for_each(drop)).await.unwrap();
    });
}

/// An Ansible run of about `bytes`: plays over 30 hosts, coloured ok / changed / skipping lines,
/// a warning and a failure now and then, a PLAY RECAP at the end. A few lines carry a token the
/// redactor must hide.
fn ansible_log(bytes: usize) -> Vec<String> {
    let (green, yellow, cyan, red, purple, reset) =
        ("\x1b[0;32m", "\x1b[0;33m", "\x1b[0;36m", "\x1b[0;31m", "\x1b[1;35m", "\x1b[0m");
    let mut lines: Vec<String> = Vec::new();
    let push = |line: String, lines: &mut Vec<String>| lines.push(line);
    let mut task = 0u64;
    let mut size = 0;
    while size < bytes {
        let play_starts = lines.len();
        push(format!("PLAY [web servers, play {}] {}", task / 40, "*".repeat(60)), &mut lines);
        for _ in 0..40 {
            task += 1;
            push(String::new(), &mut lines);
            push(format!("TASK [webserver : configure part {task}] {}", "*".repeat(50)), &mut lines);
            for host in 0..30 {
                let line = match (task + host) % 11 {
                    0 => format!(
                        "{yellow}changed: [web-{host:02}] => {{\"changed\": true, \"dest\": \"/etc/app/{task}.conf\"}}{reset}"
                    ),
                    1 => format!("{cyan}skipping: [web-{host:02}]{reset}"),
                    2 if host == 7 => {
                        format!("{purple}[WARNING]: token a-secret-token-value seen in the environment{reset}")
                    }
                    3 if host == 3 && task.is_multiple_of(97) => {
                        format!("{red}fatal: [web-{host:02}]: FAILED! => {{\"msg\": \"unreachable mirror\"}}{reset}")
                    }
                    _ => format!("{green}ok: [web-{host:02}]{reset}"),
                };
                push(line, &mut lines);
            }
        }
        size += lines[play_starts..].iter().map(String::len).sum::<usize>();
    }
    push(String::new(), &mut lines);
    push(format!("PLAY RECAP {}", "*".repeat(60)), &mut lines);
    for host in 0..30 {
        push(
            format!(
                "{green}web-{host:02}{reset}                     : {green}ok={task}{reset}  {yellow}changed={}{reset}  unreachable=0    failed=0    skipped={}    rescued=0    ignored=0",
                task / 11,
                task / 11
            ),
            &mut lines,
        );
    }
    lines
}
