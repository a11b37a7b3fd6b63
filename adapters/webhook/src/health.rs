//! `/readyz`: whether the bot can do its work now (Matrix synced recently, the store open, each
//! Semaphore instance reachable), as JSON, for an orchestrator or a monitor. The checks are the
//! app's; the endpoint only asks them, at most once per `READY_CACHE`, so polling `/readyz`
//! cannot turn into load on Semaphore.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use tokio::sync::Mutex;

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// `matrix`, `store`, `semaphore:<instance>`.
    pub name: String,
    pub ok: bool,
    /// What an operator needs to read (never a secret): "synced 3 s ago", "timed out".
    pub detail: String,
}

/// What `/readyz` asks.
#[async_trait::async_trait]
pub trait Readiness: Send + Sync {
    async fn checks(&self) -> Vec<Check>;
}

/// How long one answer is reused.
const READY_CACHE: Duration = Duration::from_secs(2);

/// The readiness checks, with their last answer.
pub(crate) struct Ready {
    checks: Arc<dyn Readiness>,
    last: Mutex<Option<(Instant, Vec<Check>)>>,
}

impl Ready {
    pub(crate) fn new(checks: Arc<dyn Readiness>) -> Self {
        Self { checks, last: Mutex::new(None) }
    }

    /// All fine?, and the JSON body.
    pub(crate) async fn report(&self) -> (bool, Value) {
        let mut last = self.last.lock().await;
        let fresh = last.as_ref().filter(|(at, _)| at.elapsed() < READY_CACHE).map(|(_, c)| c.clone());
        let checks = match fresh {
            Some(checks) => checks,
            None => {
                let checks = self.checks.checks().await;
                *last = Some((Instant::now(), checks.clone()));
                checks
            }
        };
        drop(last);
        Self::body(&checks)
    }

    fn body(checks: &[Check]) -> (bool, Value) {
        let ready = checks.iter().all(|c| c.ok);
        let mut map = Map::new();
        for c in checks {
            map.insert(c.name.clone(), json!({ "ok": c.ok, "detail": c.detail }));
        }
        (ready, json!({ "ready": ready, "checks": map }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_failed_check_makes_the_whole_not_ready() {
        let check = |name: &str, ok| Check { name: name.into(), ok, detail: String::new() };
        let (ready, body) = Ready::body(&[check("matrix", true), check("semaphore:prod", false)]);
        assert!(!ready);
        assert_eq!(body["ready"], false);
        assert_eq!(body["checks"]["semaphore:prod"]["ok"], false);
        assert!(Ready::body(&[check("store", true)]).0);
    }
}
