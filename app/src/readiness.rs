//! What `/readyz` checks: the chat connection synced (a sync that fails or hangs marks it down),
//! the store answering a read, and each Semaphore instance answering its ping in time. The
//! details name no secret and no URL: only the instance and what went wrong in a word.

use std::sync::Arc;
use std::time::Duration;

use chatrixcd_ports::chat::ChatPort;
use chatrixcd_ports::semaphore::SemaphorePort;
use chatrixcd_ports::{InstanceId, Store};
use chatrixcd_webhook::{Check, Readiness};

/// How long an instance has to answer its ping.
const PING_PATIENCE: Duration = Duration::from_secs(3);

pub(crate) struct BotReadiness {
    pub chat: Arc<dyn ChatPort>,
    pub store: Arc<dyn Store>,
    pub instances: Vec<(InstanceId, Arc<dyn SemaphorePort>)>,
}

#[async_trait::async_trait]
impl Readiness for BotReadiness {
    async fn checks(&self) -> Vec<Check> {
        let info = self.chat.connection_info();
        let mut checks = vec![Check {
            name: info.network.to_lowercase(),
            ok: info.connected,
            detail: if info.connected { "syncing".into() } else { "not synced: the last sync failed or hung".into() },
        }];
        let store = self.store.setting("grants").await;
        checks.push(Check {
            name: "store".into(),
            ok: store.is_ok(),
            detail: if store.is_ok() { "open".into() } else { "cannot be read".into() },
        });
        let pings = self.instances.iter().map(|(id, semaphore)| async move {
            let answer = tokio::time::timeout(PING_PATIENCE, semaphore.ping()).await;
            let (ok, detail) = match answer {
                Ok(Ok(())) => (true, "reachable".to_owned()),
                Ok(Err(e)) => (false, in_a_word(&e).to_owned()),
                Err(_) => (false, format!("no answer within {} s", PING_PATIENCE.as_secs())),
            };
            Check { name: format!("semaphore:{id}"), ok, detail }
        });
        checks.extend(futures::future::join_all(pings).await);
        checks
    }
}

/// What went wrong, without the error's text (which may hold a URL or a server's message).
fn in_a_word(e: &chatrixcd_ports::semaphore::SemaphoreError) -> &'static str {
    use chatrixcd_ports::semaphore::SemaphoreError as E;
    match e {
        E::Unauthorised => "the API token is refused",
        E::Forbidden(_) => "forbidden",
        E::NotFound(_) | E::Rejected(_) | E::Malformed(_) => "answers, but not as Semaphore does",
        E::Server { .. } => "internal error",
        E::Unreachable(_) => "unreachable",
        E::Timeout(_) => "timed out",
    }
}
