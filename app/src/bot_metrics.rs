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

fn counter(encoder: &mut DescriptorEncoder<'_>, name: &str, help: &str, value: u64) -> Result<(), std::fmt::Error> {
    let metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    ConstCounter::new(value).encode(metric)
}

fn gauge(encoder: &mut DescriptorEncoder<'_>, name: &str, help: &str, value: i64) -> Result<(), std::fmt::Error> {
    let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    ConstGauge::new(value).encode(metric)
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
        {
            let mut family = encoder.encode_descriptor(
                "commands",
                "Chat commands handled, by command and outcome (ok, usage, denied, refused, semaphore_error, error)",
                None,
                MetricType::Counter,
            )?;
            for ((command, outcome), n) in &s.commands {
                let labels = [("command", command.as_str()), ("outcome", outcome.as_str())];
                ConstCounter::new(*n).encode(family.encode_family(&labels)?)?;
            }
        }
        {
            let mut metric = encoder.encode_descriptor(
                "command_duration_seconds",
                "Time from a command's parse to the end of its handling",
                None,
                MetricType::Histogram,
            )?;
            let per_bucket = per_bucket(&s.latency_buckets, s.latency_count);
            metric.encode_histogram::<NoLabelSet>(s.latency_sum, s.latency_count, &per_bucket, None)?;
        }
        {
            let mut family = encoder.encode_descriptor(
                "tasks_started",
                "Semaphore tasks the bot started, by instance",
                None,
                MetricType::Counter,
            )?;
            for (instance, n) in &s.tasks_started {
                ConstCounter::new(*n).encode(family.encode_family(&[("instance", instance.as_str())])?)?;
            }
        }
        {
            let mut family = encoder.encode_descriptor(
                "tasks_finished",
                "The bot's watched tasks that ended, by instance and result",
                None,
                MetricType::Counter,
            )?;
            for ((instance, result), n) in &s.tasks_finished {
                let labels = [("instance", instance.as_str()), ("result", result.as_str())];
                ConstCounter::new(*n).encode(family.encode_family(&labels)?)?;
            }
        }
        {
            let mut family = encoder.encode_descriptor(
                "schedule_fires",
                "Schedule slots, by outcome (started, failed, missed)",
                None,
                MetricType::Counter,
            )?;
            for (outcome, n) in &s.schedule_fires {
                ConstCounter::new(*n).encode(family.encode_family(&[("outcome", outcome.as_str())])?)?;
            }
        }
        counter(&mut encoder, "messages_sent", "Messages and edits the bot posted", s.messages_sent)?;
        counter(
            &mut encoder,
            "chat_errors",
            "Posts and edits the chat server refused or did not answer",
            s.chat_errors,
        )?;
        counter(&mut encoder, "undecryptable_events", "Encrypted events the bot could not decrypt", s.undecryptable)?;
        counter(&mut encoder, "alerts", "Semaphore alerts taken in through the webhook endpoint", s.alerts)?;
        counter(&mut encoder, "hook_deliveries", "Named hooks' deliveries posted to rooms", s.hook_deliveries)?;
        gauge(
            &mut encoder,
            "open_questions",
            "Confirmations and dialogs waiting for an answer",
            i64::try_from(s.open_questions).unwrap_or(i64::MAX),
        )?;
        gauge(&mut encoder, "start_time_seconds", "When the bot started, in Unix seconds", s.started_at)?;
        counter(
            &mut encoder,
            "chat_sync_failures",
            "Matrix syncs that failed or got stuck since the start",
            s.chat_sync_failures,
        )?;
        gauge(
            &mut encoder,
            "chat_connected",
            "Whether the chat connection is up (1: Matrix is syncing)",
            i64::from(s.chat_connected),
        )?;
        {
            let mut metric = encoder.encode_descriptor(
                "chat_event_lag_seconds",
                "From the homeserver's timestamp of a message to the bot taking it in",
                None,
                MetricType::Histogram,
            )?;
            let per_bucket = per_bucket(&s.lag_buckets, s.lag_count);
            metric.encode_histogram::<NoLabelSet>(s.lag_sum, s.lag_count, &per_bucket, None)?;
        }
        {
            let mut family = encoder.encode_descriptor(
                "watched_tasks",
                "Tasks the bot watches, by instance, as of each instance's last poll",
                None,
                MetricType::Gauge,
            )?;
            for (instance, n) in &s.watched {
                let n = i64::try_from(*n).unwrap_or(i64::MAX);
                ConstGauge::new(n).encode(family.encode_family(&[("instance", instance.as_str())])?)?;
            }
        }
        {
            let mut family = encoder.encode_descriptor(
                "websocket_connected",
                "Whether each instance's Semaphore websocket is open (1) or not (0)",
                None,
                MetricType::Gauge,
            )?;
            for (instance, open) in &s.websocket {
                ConstGauge::new(i64::from(*open)).encode(family.encode_family(&[("instance", instance.as_str())])?)?;
            }
        }
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
