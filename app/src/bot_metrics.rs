//! The bot's own counters on `/metrics`, beside the webhook endpoint's: a prometheus-client
//! collector that reads the bot's snapshot at each scrape. The bot is built after the endpoint
//! is bound, so it is handed over once it exists; until then the collector shows nothing.

use std::sync::{Arc, OnceLock};

use chatrixcd_domain::bot::Bot;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric as _, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;

/// Hands the collector its bot once it is built.
#[derive(Debug, Clone, Default)]
pub(crate) struct BotSlot(Arc<OnceLock<Bot>>);

impl BotSlot {
    pub(crate) fn fill(&self, bot: Bot) {
        // Filled once, by the one wiring that built this slot.
        let _ = self.0.set(bot);
    }
}

#[derive(Debug)]
pub(crate) struct BotCollector(pub(crate) BotSlot);

/// Label pairs of one series.
type Labels<'a> = Vec<(&'static str, &'a str)>;

/// A counter family, one labelled series per row.
fn counters<'a>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    rows: impl IntoIterator<Item = (Labels<'a>, u64)>,
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, n) in rows {
        ConstCounter::new(n).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// A plain counter: one series, no label.
fn counter(encoder: &mut DescriptorEncoder<'_>, name: &str, help: &str, n: u64) -> Result<(), std::fmt::Error> {
    ConstCounter::new(n).encode(encoder.encode_descriptor(name, help, None, MetricType::Counter)?)
}

/// A gauge family, one labelled series per row.
fn gauges<'a>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    rows: impl IntoIterator<Item = (Labels<'a>, i64)>,
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, n) in rows {
        ConstGauge::new(n).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// A plain gauge: one series, no label.
fn gauge(encoder: &mut DescriptorEncoder<'_>, name: &str, help: &str, n: i64) -> Result<(), std::fmt::Error> {
    ConstGauge::new(n).encode(encoder.encode_descriptor(name, help, None, MetricType::Gauge)?)
}

/// A histogram from the snapshot's cumulative buckets.
fn histogram(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    (buckets, sum, count): (&[(f64, u64)], f64, u64),
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Histogram)?;
    metric.encode_histogram::<NoLabelSet>(sum, count, &per_bucket(buckets, count), None)
}

fn big(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The snapshot's cumulative buckets as the encoder wants them (it adds them up itself), with
/// the +Inf bucket (which it writes for f64::MAX) holding what exceeded the last bound.
fn per_bucket(cumulative: &[(f64, u64)], count: u64) -> Vec<(f64, u64)> {
    let mut below = 0;
    let mut out: Vec<(f64, u64)> = cumulative
        .iter()
        .map(|(bound, total)| {
            let n = total - below;
            below = *total;
            (*bound, n)
        })
        .collect();
    out.push((f64::MAX, count.saturating_sub(below)));
    out
}

impl Collector for BotCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let Some(bot) = self.0.0.get() else { return Ok(()) };
        let s = bot.metrics();
        let e = &mut encoder;
        counters(
            e,
            "commands",
            "Chat commands handled, by command and outcome (ok, usage, denied, refused, semaphore_error, error)",
            s.commands.iter().map(|((c, o), n)| (vec![("command", c.as_str()), ("outcome", o.as_str())], *n)),
        )?;
        histogram(
            e,
            "command_duration_seconds",
            "Time from a command's parse to the end of its handling",
            (&s.latency_buckets, s.latency_sum, s.latency_count),
        )?;
        counters(
            e,
            "tasks_started",
            "Semaphore tasks the bot started, by instance",
            s.tasks_started.iter().map(|(i, n)| (vec![("instance", i.as_str())], *n)),
        )?;
        counters(
            e,
            "tasks_finished",
            "The bot's watched tasks that ended, by instance and result",
            s.tasks_finished.iter().map(|((i, r), n)| (vec![("instance", i.as_str()), ("result", r.as_str())], *n)),
        )?;
        counters(
            e,
            "schedule_fires",
            "Schedule slots, by outcome (started, failed, missed)",
            s.schedule_fires.iter().map(|(o, n)| (vec![("outcome", o.as_str())], *n)),
        )?;
        let plain = [
            ("messages_sent", "Messages and edits the bot posted", s.messages_sent),
            ("chat_errors", "Posts and edits the chat server refused or did not answer", s.chat_errors),
            ("undecryptable_events", "Encrypted events the bot could not decrypt", s.undecryptable),
            ("alerts", "Semaphore alerts taken in through the webhook endpoint", s.alerts),
            ("hook_deliveries", "Named hooks' deliveries posted to rooms", s.hook_deliveries),
        ];
        for (name, help, n) in plain {
            counter(e, name, help, n)?;
        }
        gauge(e, "open_questions", "Confirmations and dialogs waiting for an answer", big(s.open_questions))?;
        gauge(e, "start_time_seconds", "When the bot started, in Unix seconds", s.started_at)?;
        counter(
            e,
            "chat_sync_failures",
            "Matrix syncs that failed or got stuck since the start",
            s.chat_sync_failures,
        )?;
        gauge(
            e,
            "chat_connected",
            "Whether the chat connection is up (1: Matrix is syncing)",
            i64::from(s.chat_connected),
        )?;
        histogram(
            e,
            "chat_event_lag_seconds",
            "From the homeserver's timestamp of a message to the bot taking it in",
            (&s.lag_buckets, s.lag_sum, s.lag_count),
        )?;
        gauges(
            e,
            "watched_tasks",
            "Tasks the bot watches, by instance, as of each instance's last poll",
            s.watched.iter().map(|(i, n)| (vec![("instance", i.as_str())], big(*n))),
        )?;
        gauges(
            e,
            "websocket_connected",
            "Whether each instance's Semaphore websocket is open (1) or not (0)",
            s.websocket.iter().map(|(i, open)| (vec![("instance", i.as_str())], i64::from(*open))),
        )?;
        Ok(())
    }
}

/// Labels of a request to Semaphore.
type RequestLabels = Vec<(&'static str, String)>;

/// Counts every request each instance's client sends, by route and status.
#[derive(Debug, Clone, Default)]
pub(crate) struct SemaphoreRequests(Family<RequestLabels, Counter>);

impl SemaphoreRequests {
    pub(crate) fn register(registry: &mut prometheus_client::registry::Registry) -> Self {
        let requests = Self::default();
        registry.register(
            "semaphore_requests",
            "Requests to Semaphore, by instance, method, route (ids as :id) and status (or timeout, unreachable)",
            requests.0.clone(),
        );
        requests
    }

    /// The observer for one instance's client.
    pub(crate) fn of(&self, instance: chatrixcd_ports::InstanceId) -> Arc<dyn chatrixcd_semaphore::Observe> {
        Arc::new(InstanceRequests { instance: instance.to_string(), family: self.0.clone() })
    }
}

struct InstanceRequests {
    instance: String,
    family: Family<RequestLabels, Counter>,
}

impl chatrixcd_semaphore::Observe for InstanceRequests {
    fn request(&self, method: &str, route: &str, outcome: &str) {
        let labels = vec![
            ("instance", self.instance.clone()),
            ("method", method.to_owned()),
            ("route", route.to_owned()),
            ("status", outcome.to_owned()),
        ];
        self.family.get_or_create(&labels).inc();
    }
}
