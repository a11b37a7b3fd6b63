//! What the bot counts for operators: commands by name and outcome with their handling time,
//! tasks started and finished, schedule fires, and the outbox's counters. Plain numbers kept
//! under one lock; the app exposes a [`MetricsSnapshot`] on `/metrics` (Prometheus), `info`
//! shows some of them. Labels come from fixed sets (command names from the grammar, outcomes,
//! configured instances, task results), so the number of series stays bounded.

use std::collections::BTreeMap;
use std::sync::Mutex;

use chatrixcd_ports::{InstanceId, TaskStatus};

use crate::core::lock;
use crate::error::CommandError;

/// Upper bounds (seconds) of the chat event lag histogram: from the homeserver's timestamp of a
/// message to the bot taking it in (sync delay, a backlog, a skewed clock).
pub const LAG_BUCKETS: [f64; 11] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];

/// Upper bounds (seconds) of the command handling time histogram.
pub const LATENCY_BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Everything counted so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsSnapshot {
    /// (command, outcome) → how many.
    pub commands: BTreeMap<(String, String), u64>,
    /// Cumulative counts per bucket of [`LATENCY_BUCKETS`], then the sum and count.
    pub latency_buckets: Vec<(f64, u64)>,
    pub latency_sum: f64,
    pub latency_count: u64,
    /// instance → runs started.
    pub tasks_started: BTreeMap<String, u64>,
    /// (instance, result) → runs the bot saw end.
    pub tasks_finished: BTreeMap<(String, String), u64>,
    /// outcome (`started`, `failed`, `missed`) → slots.
    pub schedule_fires: BTreeMap<String, u64>,
    pub messages_sent: u64,
    pub chat_errors: u64,
    pub undecryptable: u64,
    pub alerts: u64,
    pub hook_deliveries: u64,
    /// Confirmations and dialogs waiting for an answer.
    pub open_questions: u64,
    /// When the bot started (Unix seconds).
    pub started_at: i64,
    /// instance → whether its websocket is open.
    pub websocket: BTreeMap<String, bool>,
    /// instance → tasks the bot watches there, as of its last poll.
    pub watched: BTreeMap<String, u64>,
    /// Cumulative counts per bucket of [`LAG_BUCKETS`], then the sum and count.
    pub lag_buckets: Vec<(f64, u64)>,
    pub lag_sum: f64,
    pub lag_count: u64,
    /// Whether the chat connection is up (Matrix: syncing).
    pub chat_connected: bool,
    /// Syncs that failed or got stuck.
    pub chat_sync_failures: u64,
}

#[derive(Debug, Default)]
struct Counts {
    commands: BTreeMap<(&'static str, &'static str), u64>,
    buckets: [u64; LATENCY_BUCKETS.len()],
    latency_sum: f64,
    latency_count: u64,
    tasks_started: BTreeMap<InstanceId, u64>,
    tasks_finished: BTreeMap<(InstanceId, String), u64>,
    schedule_fires: BTreeMap<&'static str, u64>,
    watched: BTreeMap<InstanceId, u64>,
    lag: [u64; LAG_BUCKETS.len()],
    lag_sum: f64,
    lag_count: u64,
}

/// The bot's meter, shared by every job.
#[derive(Debug, Default)]
pub(crate) struct Meter {
    counts: Mutex<Counts>,
}

/// The outcome label of a command's result.
pub(crate) fn outcome(result: &Result<(), CommandError>) -> &'static str {
    match result {
        Ok(()) => "ok",
        Err(CommandError::Usage(_)) => "usage",
        Err(CommandError::Denied(_)) => "denied",
        Err(CommandError::Refused(_)) => "refused",
        Err(CommandError::Semaphore { .. }) => "semaphore_error",
        Err(_) => "error",
    }
}

impl Meter {
    /// A command handled: its name (from the grammar), how it ended, how long it took.
    pub(crate) fn command(&self, name: &'static str, outcome: &'static str, seconds: f64) {
        let mut counts = lock(&self.counts);
        *counts.commands.entry((name, outcome)).or_default() += 1;
        let seconds = seconds.max(0.0);
        if let Some(i) = LATENCY_BUCKETS.iter().position(|b| seconds <= *b) {
            counts.buckets[i] += 1;
        }
        counts.latency_sum += seconds;
        counts.latency_count += 1;
    }

    /// How long after the homeserver received it a message reached the bot.
    pub(crate) fn event_lag(&self, seconds: f64) {
        let mut counts = lock(&self.counts);
        let seconds = seconds.max(0.0);
        if let Some(i) = LAG_BUCKETS.iter().position(|b| seconds <= *b) {
            counts.lag[i] += 1;
        }
        counts.lag_sum += seconds;
        counts.lag_count += 1;
    }

    /// The tasks watched on `instance`, as a poll just read them.
    pub(crate) fn watched(&self, instance: InstanceId, count: usize) {
        lock(&self.counts).watched.insert(instance, count as u64);
    }

    pub(crate) fn task_started(&self, instance: InstanceId) {
        *lock(&self.counts).tasks_started.entry(instance).or_default() += 1;
    }

    pub(crate) fn task_finished(&self, instance: InstanceId, result: &TaskStatus) {
        *lock(&self.counts).tasks_finished.entry((instance, result.as_str().to_owned())).or_default() += 1;
    }

    /// A schedule's slot: `started`, `failed` or `missed`.
    pub(crate) fn schedule_fired(&self, outcome: &'static str) {
        *lock(&self.counts).schedule_fires.entry(outcome).or_default() += 1;
    }

    pub(crate) fn snapshot(&self) -> MetricsSnapshot {
        let counts = lock(&self.counts);
        let latency_buckets = cumulative_buckets(&LATENCY_BUCKETS, &counts.buckets);
        MetricsSnapshot {
            commands: counts.commands.iter().map(|((c, o), n)| ((c.to_string(), o.to_string()), *n)).collect(),
            latency_buckets,
            latency_sum: counts.latency_sum,
            latency_count: counts.latency_count,
            tasks_started: counts.tasks_started.iter().map(|(i, n)| (i.to_string(), *n)).collect(),
            tasks_finished: counts.tasks_finished.iter().map(|((i, r), n)| ((i.to_string(), r.clone()), *n)).collect(),
            schedule_fires: counts.schedule_fires.iter().map(|(o, n)| (o.to_string(), *n)).collect(),
            watched: counts.watched.iter().map(|(i, n)| (i.to_string(), *n)).collect(),
            lag_buckets: cumulative_buckets(&LAG_BUCKETS, &counts.lag),
            lag_sum: counts.lag_sum,
            lag_count: counts.lag_count,
            ..MetricsSnapshot::default()
        }
    }
}

fn cumulative_buckets(bounds: &[f64], counts: &[u64]) -> Vec<(f64, u64)> {
    let mut total = 0;
    bounds
        .iter()
        .zip(counts)
        .map(|(bound, n)| {
            total += n;
            (*bound, total)
        })
        .collect()
}

/// The bucket bound within which a `q` share of the handled commands fell; `None` before any,
/// or when they fell beyond the last bucket.
pub fn quantile(buckets: &[(f64, u64)], count: u64, q: f64) -> Option<f64> {
    if count == 0 {
        return None;
    }
    let wanted = (count as f64 * q).ceil() as u64;
    buckets.iter().find(|(_, n)| *n >= wanted).map(|(bound, _)| *bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_buckets_are_cumulative_and_everything_is_counted() {
        let meter = Meter::default();
        meter.command("ping", "ok", 0.001);
        meter.command("ping", "ok", 0.2);
        meter.command("run", "denied", 60.0);
        let s = meter.snapshot();
        assert_eq!(s.commands[&("ping".to_owned(), "ok".to_owned())], 2);
        assert_eq!(s.latency_count, 3);
        assert_eq!(s.latency_buckets[0], (0.005, 1));
        assert_eq!(s.latency_buckets[5], (0.25, 2));
        assert_eq!(s.latency_buckets.last(), Some(&(30.0, 2)), "60 s is only in +Inf (the count)");
        assert!((s.latency_sum - 60.201).abs() < 1e-9);
        assert_eq!(quantile(&s.latency_buckets, s.latency_count, 0.3), Some(0.005));
        assert_eq!(quantile(&s.latency_buckets, s.latency_count, 0.6), Some(0.25));
        assert_eq!(quantile(&s.latency_buckets, s.latency_count, 0.95), None, "beyond the last bucket");
        assert_eq!(quantile(&[], 0, 0.5), None);
    }
}
