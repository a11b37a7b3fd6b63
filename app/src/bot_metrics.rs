//! The bot's own counters on `/metrics`, beside the webhook endpoint's: a prometheus-client
//! collector that reads the bot's snapshot at each scrape. The bot is built after the endpoint
//! is bound, so it is handed over once it exists; until then the collector shows nothing.

use std::sync::{Arc, OnceLock};

use chatrixcd_domain::bot::Bot;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric as _, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
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
            metric.encode_histogram::<NoLabelSet>(s.latency_sum, s.latency_count, &s.latency_buckets, None)?;
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
        Ok(())
    }
}
