#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, clippy::panic)] // a benchmark reports on stdout

//! 10,000 schedules: loading them at start (`Bot::resume`), the next deadline (asked by the
//! event loop after every event), and a tick with nothing due and with one slot due, under a
//! manual clock against the in-process simulated Semaphore.
//!
//! `cargo bench -p chatrixcd-domain --bench schedules`; results in docs/performance.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chatrixcd_clock::ManualClock;
use chatrixcd_domain::personality::Personality;
use chatrixcd_domain::redact::Redactor;
use chatrixcd_domain::{Bot, Deps, Instance, Instances, Settings};
use chatrixcd_ports::schedule::{Missed, Schedule};
use chatrixcd_ports::{Clock as _, InstanceId, ProjectId, RoomId, Store as _, TemplateId, UserId};
use chatrixcd_sim_semaphore::{SimConfig, SimSemaphore};
use chatrixcd_store_memory::MemoryStore;

const SCHEDULES: u64 = 10_000;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{what}: n={} p50={:?} p99={:?} max={:?}",
        samples.len(),
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        samples[samples.len() - 1]
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(run());
}

async fn run() {
    let clock = ManualClock::new("2026-06-01T00:00:00Z".parse().unwrap());
    let store = Arc::new(MemoryStore::new());
    let crons = ["0 2 * * *", "*/15 * * * *", "30 9 * * 1-5", "@hourly", "0 0 1 * *", "5 4 * * 0"];
    let zones = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo"];
    for n in 0..SCHEDULES {
        let i = usize::try_from(n).unwrap();
        store
            .put_schedule(Schedule {
                id: 0,
                room: RoomId::parse(format!("!room{}:test", n % 50)).unwrap(),
                owner: UserId::parse("@alice:test").unwrap(),
                name: format!("schedule {n}"),
                cron: crons[i % crons.len()].to_owned(),
                zone: zones[i % zones.len()].to_owned(),
                instance: InstanceId::default(),
                project: ProjectId::new(1),
                project_name: "ops".into(),
                template: TemplateId::new(1),
                template_name: "deploy-web".into(),
                vars: Vec::new(),
                preset: None,
                missed: Missed::Skip,
                paused: None,
                created_at: clock.now(),
                last_slot: Some(clock.now()),
            })
            .await
            .unwrap();
    }
    let sim = SimSemaphore::demo(SimConfig::default(), Arc::new(clock.clone()));
    let instances = Instances::new(
        vec![Instance { id: InstanceId::default(), url: "http://sim".into(), semaphore: Arc::new(sim) }],
        InstanceId::default(),
    )
    .unwrap();
    // Nothing is posted: no slot was missed, and the jobs handed out are not run.
    let chat = chatrixcd_ports::chat::MockChatPort::new();
    let mut settings = Settings::new(UserId::parse("@bot:test").unwrap());
    settings.admins = vec![UserId::parse("@alice:test").unwrap()];
    let deps = Deps { chat: Arc::new(chat), instances, store, clock: Arc::new(clock.clone()), sealer: None };
    let bot = Bot::new(deps, settings, Personality::with_seed(1), Redactor::new(Vec::new()));
    let started = Instant::now();
    bot.resume().await;
    println!("load {SCHEDULES} schedules (resume): {:?}", started.elapsed());

    let deadline = bot.next_deadline().expect("a deadline");
    println!("first deadline: {deadline}");
    let rounds = 2_000;
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        std::hint::black_box(bot.next_deadline());
        samples.push(t.elapsed());
    }
    report("next_deadline", samples);
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        std::hint::black_box(bot.due().len());
        samples.push(t.elapsed());
    }
    report("due() with nothing due", samples);
    // The first slot: every `*/15` and `@hourly` schedule (about a third) comes due at once.
    clock.set(deadline);
    let t = Instant::now();
    let due = bot.due();
    println!("due() at the first slot: {} jobs in {:?}", due.len(), t.elapsed());
    assert!(started.elapsed() < Duration::from_secs(600), "bounded");
}
