//! One wiring for every mode: `run` and `demo` both describe the bot as a [`BotConfig`] and
//! build it here, so a setting, a feature or a fix cannot exist in one mode only. They differ
//! only in the chat connection they pass in (Matrix, or the console) and where the
//! configuration comes from (config.json, or the demo's flags and its simulated instances).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use chatrixcd_domain::personality::Personality;
use chatrixcd_domain::redact::Redactor;
use chatrixcd_domain::{Bot, Deps, Instance, Instances, Settings};
use chatrixcd_ports::chat::ChatPort;
use chatrixcd_ports::semaphore::TaskEvents;
use chatrixcd_ports::{Clock, InstanceId, RoomId, Store, TaskEvent, UserId};
use chatrixcd_semaphore::{HttpSemaphore, SemaphoreConfig};
use chatrixcd_store_redb::RedbStore;
use chatrixcd_webhook::{WebhookConfig, Webhooks};
use tokio::sync::mpsc;

/// Everything that makes the bot, whatever the mode. Its `Debug` shows how many secrets there
/// are, never one of them.
#[derive(Clone)]
pub struct BotConfig {
    /// The domain's settings; `bot_user` is taken from the chat connection, `version` from this build.
    pub settings: Settings,
    /// Each Semaphore instance, in configuration order.
    pub instances: Vec<(InstanceId, SemaphoreConfig)>,
    pub default_instance: InstanceId,
    /// Every secret value (tokens, passwords): redacted from all the bot posts and logs.
    pub secrets: Vec<String>,
    pub data_dir: PathBuf,
    /// ChatrixCD's `messages.json` (HJSON): the bot's personality.
    pub messages_file: Option<PathBuf>,
    /// ChatrixCD's `aliases.json`, imported into the store once.
    pub aliases_file: Option<PathBuf>,
    /// Forget runs older than this many days (at start).
    pub keep_history_days: Option<u32>,
    /// Replace the requester of runs older than this many days with a pseudonym (at start).
    pub anonymise_after_days: Option<u32>,
    /// Where the startup and shutdown messages go, and what they say.
    pub greeting_rooms: Vec<RoomId>,
    pub startup_message: Option<String>,
    pub shutdown_message: Option<String>,
    /// The webhook endpoint for Semaphore's alerts; `None`: off.
    pub webhooks: Option<WebhookConfig>,
    /// The key presets' secrets are sealed with; default `secrets.key` in `data_dir`.
    pub secrets_key_file: Option<PathBuf>,
}

impl std::fmt::Debug for BotConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotConfig")
            .field("instances", &self.instances)
            .field("default_instance", &self.default_instance)
            .field("secrets", &format_args!("<{} redacted>", self.secrets.len()))
            .field("data_dir", &self.data_dir)
            .field("webhooks", &self.webhooks)
            .finish_non_exhaustive()
    }
}

/// The bot, built, with the pushes of every instance's websocket and of the webhook endpoint.
pub struct Wired {
    pub bot: Bot,
    pub pushes: mpsc::Receiver<(InstanceId, Option<TaskEvent>)>,
    /// Where the webhook endpoint listens, when it is on.
    pub webhook_address: Option<std::net::SocketAddr>,
    /// The named hooks' deliveries, to hand the event loop as `Input::Hook`.
    pub deliveries: Option<mpsc::Receiver<chatrixcd_ports::HookEvent>>,
}

impl std::fmt::Debug for Wired {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wired").finish_non_exhaustive()
    }
}

/// Hands the named hooks' deliveries to the event loop.
pub async fn forward_deliveries(
    mut deliveries: mpsc::Receiver<chatrixcd_ports::HookEvent>,
    inputs: mpsc::Sender<crate::runtime::Input>,
) {
    while let Some(delivery) = deliveries.recv().await {
        if inputs.send(crate::runtime::Input::Hook(delivery)).await.is_err() {
            break;
        }
    }
}

/// The redactor for a configuration's secrets (for the logs as well as the bot).
pub fn redactor(config: &BotConfig) -> Redactor {
    Redactor::new(config.secrets.iter().filter(|s| !s.is_empty()).cloned())
}

/// Builds the bot on `chat`: opens the store, imports aliases once, applies the retention,
/// loads the personality, connects a client and an event stream per instance, and picks up
/// what was being watched before a restart.
pub async fn build(
    config: BotConfig,
    chat: Arc<dyn ChatPort>,
    bot_user: UserId,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Wired> {
    let store = Arc::new(RedbStore::open(&config.data_dir)?);
    import_aliases_once(store.as_ref(), config.aliases_file.as_deref()).await?;
    if let Some(days) = config.keep_history_days {
        let cutoff = clock.now() - chrono::Duration::days(i64::from(days));
        let pruned = store.prune_runs(cutoff).await?;
        if pruned > 0 {
            tracing::info!(pruned, days, "old runs removed from the history");
        }
    }
    if let Some(days) = config.anonymise_after_days {
        let cutoff = clock.now() - chrono::Duration::days(i64::from(days));
        let anonymised = store.anonymise_runs(cutoff).await?;
        if anonymised > 0 {
            tracing::info!(anonymised, days, "old runs no longer name who asked for them");
        }
    }
    let seed = u64::try_from(clock.now().timestamp_micros()).unwrap_or_default();
    let personality = load_personality(config.messages_file.as_deref(), seed)?;
    let mut list = Vec::new();
    let mut streams: Vec<(InstanceId, Box<dyn TaskEvents>)> = Vec::new();
    // One registry for /metrics, made before the clients so that they count their requests.
    let mut registry = prometheus_client::registry::Registry::with_prefix("chatrixcd");
    let requests = crate::bot_metrics::SemaphoreRequests::register(&mut registry);
    for (id, semaphore) in &config.instances {
        let client = HttpSemaphore::new(semaphore)
            .with_context(|| format!("Semaphore instance {id}"))?
            .with_observer(requests.of(*id));
        // Semaphore's websocket shows status changes at once; polling stays as the safety net.
        streams.push((*id, Box::new(client.events(chatrixcd_semaphore::Reconnect::default()))));
        list.push(Instance { id: *id, url: semaphore.url.clone(), semaphore: Arc::new(client) });
    }
    let (mut webhook_address, mut deliveries) = (None, None);
    let bot_slot = crate::bot_metrics::BotSlot::default();
    if let Some(mut webhooks) = config.webhooks.clone() {
        let hooks = webhooks.hooks.len();
        webhooks.metrics = chatrixcd_webhook::Metrics::register(&mut registry);
        registry.register_collector(Box::new(crate::bot_metrics::BotCollector(bot_slot.clone())));
        webhooks.exposition = Some(Arc::new(registry));
        webhooks.readiness = Some(Arc::new(crate::readiness::BotReadiness {
            chat: Arc::clone(&chat),
            store: store.clone(),
            instances: list.iter().map(|i| (i.id, Arc::clone(&i.semaphore))).collect(),
        }));
        let bound = Webhooks::bind(webhooks).await.context("starting the webhook endpoint")?;
        webhook_address = bound.server.local_addr();
        tracing::info!(address = ?webhook_address, instances = bound.alerts.len(), hooks, "webhook endpoint listening");
        for (instance, stream) in bound.alerts {
            streams.push((instance, Box::new(stream)));
        }
        deliveries = Some(bound.deliveries);
        let server = bound.server;
        tokio::spawn(server.serve());
    }
    let instances = Instances::new(list, config.default_instance)?;
    let mut settings = config.settings.clone();
    settings.bot_user = bot_user;
    settings.version = env!("CARGO_PKG_VERSION").to_owned();
    let key_file = config.secrets_key_file.clone().unwrap_or_else(|| config.data_dir.join("secrets.key"));
    let sealer =
        chatrixcd_sealer::KeySealer::from_key_file(&key_file).context("the key presets' secrets are sealed with")?;
    let deps = Deps { chat, instances, store, clock, sealer: Some(Arc::new(sealer)) };
    let bot = Bot::new(deps, settings, personality, redactor(&config));
    bot_slot.fill(bot.clone());
    bot.resume().await;
    Ok(Wired { bot, pushes: crate::runtime::forward_pushes(streams), webhook_address, deliveries })
}

fn load_personality(path: Option<&Path>, seed: u64) -> anyhow::Result<Personality> {
    let Some(path) = path else { return Ok(Personality::with_seed(seed)) };
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let personality =
        Personality::from_hjson(&text).with_context(|| format!("{} is not a usable messages file", path.display()))?;
    for warning in personality.warnings() {
        tracing::warn!(file = %path.display(), "{warning}");
    }
    Ok(personality.reseeded(seed))
}

/// Imports ChatrixCD's `aliases.json` the first time only: later changes live in the store, and
/// aliases removed in chat must not come back at the next start.
async fn import_aliases_once(store: &dyn Store, path: Option<&Path>) -> anyhow::Result<()> {
    let Some(path) = path else { return Ok(()) };
    if store.setting("aliases_imported").await?.is_some() {
        return Ok(());
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let aliases: BTreeMap<String, String> =
        chatrixcd_domain::aliases::parse_file(&text).with_context(|| format!("in {}", path.display()))?;
    for (name, command) in &aliases {
        store.set_alias(name, command).await?;
    }
    store.set_setting("aliases_imported", &path.display().to_string()).await?;
    tracing::info!(count = aliases.len(), file = %path.display(), "imported aliases");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn aliases_are_imported_once_and_not_again() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("aliases.json");
        std::fs::write(&file, r#"{"dp": "run 1 5"}"#).unwrap();
        let store = RedbStore::open(&dir.path().join("data")).unwrap();
        import_aliases_once(&store, Some(&file)).await.unwrap();
        assert_eq!(store.aliases().await.unwrap().get("dp").map(String::as_str), Some("run 1 5"));
        store.remove_alias("dp").await.unwrap();
        import_aliases_once(&store, Some(&file)).await.unwrap();
        assert!(store.aliases().await.unwrap().is_empty(), "a removed alias does not come back");
    }

    #[test]
    fn a_broken_messages_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("messages.json");
        std::fs::write(&file, "{ greetings: [").unwrap();
        let err = load_personality(Some(&file), 1).unwrap_err();
        assert!(format!("{err:#}").contains("messages.json"), "{err:#}");
    }
}
