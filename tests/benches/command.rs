//! Command handling inside the bot: a chat event in, the reply handed to the chat port. The
//! Semaphore behind it is the in-process simulator and the chat port does nothing, so what is
//! measured is the bot itself (parsing, access, rendering, redaction, logging calls).
//!
//! `cargo bench -p chatrixcd-tests --bench command`; results in docs/performance.md.
#![allow(clippy::unwrap_used, clippy::print_stdout)] // a benchmark reports on stdout and may fail loudly

use std::sync::Arc;
use std::time::{Duration, Instant};

use chatrixcd_clock::ManualClock;
use chatrixcd_domain::personality::Personality;
use chatrixcd_domain::redact::Redactor;
use chatrixcd_domain::{Bot, Deps, Settings};
use chatrixcd_ports::chat::{ChatEvent, EventId, Incoming};
use chatrixcd_ports::{Clock, RoomId, UserId};
use chatrixcd_sim_semaphore::{SimConfig, SimSemaphore};
use chatrixcd_store_memory::MemoryStore;
use null_chat::NullChat;

#[path = "common/null_chat.rs"]
mod null_chat;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let clock = ManualClock::at_epoch();
        let semaphore = SimSemaphore::demo(SimConfig::default(), Arc::new(clock.clone()));
        let bot_user = UserId::parse("@bot:example.org").unwrap();
        let user = UserId::parse("@alice:example.org").unwrap();
        let room = RoomId::parse("!ops:example.org").unwrap();
        let mut settings = Settings::new(bot_user);
        settings.admins = vec![user.clone()];
        settings.greetings = false;
        let deps = Deps {
            chat: Arc::new(NullChat::default()),
            instances: chatrixcd_domain::Instances::single("https://semaphore.test", Arc::new(semaphore)),
            store: Arc::new(MemoryStore::new()),
            clock: Arc::new(clock.clone()),
            sealer: None,
        };
        let bot =
            Bot::new(deps, settings, Personality::with_seed(1), Redactor::new(["a-secret-token-value".to_owned()]));
        for (name, body) in [
            ("chatter (not a command)", "good morning everyone"),
            ("!cd ping", "!cd ping"),
            ("!cd projects", "!cd projects"),
            ("!cd templates 1", "!cd templates 1"),
            ("usage error", "!cd stop"),
            ("!cd help", "!cd help"),
        ] {
            // `CHATRIXCD_BENCH_ONLY=ping` measures only the events whose name contains it (profiling).
            if std::env::var("CHATRIXCD_BENCH_ONLY").is_ok_and(|only| !name.contains(only.as_str())) {
                continue;
            }
            const N: usize = 20_000;
            let mut times = Vec::with_capacity(N);
            for n in 0..N + 1_000 {
                let event = ChatEvent::Message {
                    meta: Incoming {
                        room: room.clone(),
                        sender: user.clone(),
                        sender_name: None,
                        event_id: EventId(format!("$in{n}")),
                        timestamp: clock.now(),
                    },
                    body: body.to_owned(),
                    thread_root: None,
                };
                let t = Instant::now();
                bot.handle(event).await;
                // The first thousand warm caches and allocators up.
                if n >= 1_000 {
                    times.push(t.elapsed());
                }
            }
            times.sort();
            println!("{name:<26} p50 {:>9.2?}  p99 {:>9.2?}", percentile(&times, 0.5), percentile(&times, 0.99));
        }
    });
}
