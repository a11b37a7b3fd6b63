//! What the endpoint counts: every request by kind and outcome (accepted, or why it was
//! refused), and how long answering took. Labels are closed sets: a hook's name or an instance
//! in a path is chosen by whoever sends the request, so it never becomes a label.

use std::fmt::Write as _;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Which route a request took.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum Kind {
    /// `/hooks/semaphore/...`
    Alert,
    /// `/hooks/<name>`
    Hook,
}

/// What became of a request.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    /// Unknown hook, instance or format, or a wrong alert secret (all answered 404).
    NotFound,
    /// From outside the hook's allow list.
    Forbidden,
    RateLimited,
    TooLarge,
    /// The body did not arrive in time.
    Timeout,
    Unsigned,
    BadSignature,
    Stale,
    Replayed,
    /// Not JSON, or not an alert.
    BadBody,
    /// A hook's delivery declared as something other than JSON (a form, say).
    UnsupportedType,
    /// The bot is behind: its queue is full.
    Busy,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Alert => "alert",
            Self::Hook => "hook",
        }
    }
}

impl Outcome {
    /// The label value, in Prometheus' snake case.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::NotFound => "not_found",
            Self::Forbidden => "forbidden",
            Self::RateLimited => "rate_limited",
            Self::TooLarge => "too_large",
            Self::Timeout => "timeout",
            Self::Unsigned => "unsigned",
            Self::BadSignature => "bad_signature",
            Self::Stale => "stale",
            Self::Replayed => "replayed",
            Self::BadBody => "bad_body",
            Self::UnsupportedType => "unsupported_type",
            Self::Busy => "busy",
        }
    }

    pub const ALL: [Self; 13] = [
        Self::Accepted,
        Self::NotFound,
        Self::Forbidden,
        Self::RateLimited,
        Self::TooLarge,
        Self::Timeout,
        Self::Unsigned,
        Self::BadSignature,
        Self::Stale,
        Self::Replayed,
        Self::BadBody,
        Self::UnsupportedType,
        Self::Busy,
    ];
}

impl EncodeLabelValue for Kind {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

impl EncodeLabelValue for Outcome {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Labels {
    kind: Kind,
    outcome: Outcome,
}

/// The endpoint's metrics. Cheap to clone (shared counters); unregistered ones still count,
/// for tests.
#[derive(Debug, Clone)]
pub struct Metrics {
    requests: Family<Labels, Counter>,
    seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        // From 50 µs to about 0.4 s: the endpoint answers before any work is done.
        let buckets = prometheus_client::metrics::histogram::exponential_buckets(0.000_05, 2.0, 14);
        Self { requests: Family::default(), seconds: Histogram::new(buckets) }
    }
}

impl Metrics {
    /// New metrics, registered in `registry` (names are prefixed by the registry's prefix).
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "webhook_requests",
            "Requests to the webhook endpoint, by kind and outcome (accepted, or why refused)",
            metrics.requests.clone(),
        );
        registry.register(
            "webhook_request_duration_seconds",
            "Time from a webhook request's arrival to its answer",
            metrics.seconds.clone(),
        );
        metrics
    }

    pub(crate) fn record(&self, kind: Kind, outcome: Outcome, seconds: f64) {
        self.requests.get_or_create(&Labels { kind, outcome }).inc();
        self.seconds.observe(seconds);
    }

    /// How many requests of `kind` ended in `outcome`.
    pub fn count(&self, kind: Kind, outcome: Outcome) -> u64 {
        self.requests.get_or_create(&Labels { kind, outcome }).get()
    }

    /// Every request refused, of both kinds.
    pub fn refused(&self) -> u64 {
        let kinds = [Kind::Alert, Kind::Hook];
        kinds
            .iter()
            .flat_map(|k| Outcome::ALL.iter().filter(|o| **o != Outcome::Accepted).map(move |o| self.count(*k, *o)))
            .sum()
    }
}
