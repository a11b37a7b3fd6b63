//! `chatrixcd run --config config.json`: the bot on Matrix, with the Semaphore HTTP client and
//! the redb store. Stops cleanly on SIGINT/SIGTERM or a confirmed `exit`; tracked tasks are
//! picked up again at the next start.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use chatrixcd_clock::SystemClock;
use chatrixcd_domain::Settings;
use chatrixcd_matrix::{InvitePolicy, MatrixConfig};
use chatrixcd_ports::chat::ChatPort as _;
use chatrixcd_ports::{Clock, RoomId, UserId};

use crate::{config, runtime, wiring};

#[derive(Debug, Clone, clap::Args)]
pub(crate) struct RunArgs {
    /// The configuration file (ChatrixCD's config.json works as it is).
    #[arg(long, short, default_value = "config.json")]
    config: PathBuf,
    /// Where to keep state; default: the config's matrix.store_path (ChatrixCD's `./store`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// How the log on stderr is written: `text` (a line per event) or `json` (an object per
    /// line, for log shippers). `RUST_LOG` sets what is logged.
    #[arg(long, value_enum, default_value = "text")]
    log_format: crate::logging::LogFormat,
}

impl Default for RunArgs {
    fn default() -> Self {
        Self { config: PathBuf::from("config.json"), data_dir: None, log_format: crate::logging::LogFormat::default() }
    }
}

pub(crate) async fn run(args: RunArgs) -> anyhow::Result<()> {
    let (config, warnings) = load_config_with_warnings(&args.config)?;
    let data_dir = data_dir(&config, args.data_dir.as_deref());
    let bot_config = bot_config(&config, data_dir.clone());
    crate::logging::init_as("info", Arc::new(wiring::redactor(&bot_config)), args.log_format);
    for w in &warnings {
        tracing::warn!("{w}");
    }
    // Owner-only before the session, the stores or the sealing key are read or made there.
    chatrixcd::private_files::secure_and_log(&data_dir)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut matrix_config = matrix_config(&config, &data_dir);
    // Invites are answered by the bot's live policy once it is built (grants made in chat
    // count); the ones waiting at the start are answered by config's.
    let live: Arc<std::sync::OnceLock<chatrixcd_domain::Bot>> = Arc::default();
    let baseline = bot_config.settings.policy();
    let (cell, baseline_clock) = (Arc::clone(&live), Arc::clone(&clock));
    matrix_config.invites.inviter = Some(Arc::new(move |inviter: &str, room: &str| {
        let (Ok(inviter), Ok(room)) = (UserId::parse(inviter), RoomId::parse(room)) else { return false };
        match cell.get() {
            Some(bot) => bot.may_invite(&inviter, &room),
            None => baseline.may_invite(&inviter, &room, baseline_clock.now()),
        }
    }));
    let (chat, events) = chatrixcd_matrix::connect(matrix_config).await.context("connecting to Matrix")?;
    let info = chat.connection_info();
    tracing::info!(user = %info.user_id, device = ?info.device_id, homeserver = %info.server, "connected to Matrix");
    let greeting_rooms = bot_config.greeting_rooms.clone();
    let (startup, shutdown) = (bot_config.startup_message.clone(), bot_config.shutdown_message.clone());
    let wired = wiring::build(bot_config, Arc::new(chat), config.user_id.clone(), Arc::clone(&clock)).await?;
    // Again for what the first start made with the process's umask (matrix-sdk's sqlite files).
    chatrixcd::private_files::secure_what_was_made(&data_dir)?;
    let bot = wired.bot;
    let _ = live.set(bot.clone());
    if let Some(text) = startup.as_deref() {
        bot.announce(&greeting_rooms, text).await;
    }
    let (inputs_tx, inputs) = tokio::sync::mpsc::channel(256);
    if let Some(deliveries) = wired.deliveries {
        tokio::spawn(wiring::forward_deliveries(deliveries, inputs_tx.clone()));
    }
    tokio::spawn(forward_events(events, inputs_tx));
    let terminate = signal_terminate()?;
    let options = runtime::Options { drain_on_close: None, finish_jobs: std::time::Duration::from_secs(30) };
    let ended = runtime::serve(&bot, &clock, inputs, wired.pushes, stop_signal(terminate), options).await;
    bot.cancel_open_questions("the bot is shutting down").await;
    if let Some(text) = shutdown.as_deref() {
        bot.announce(&greeting_rooms, text).await;
    }
    if ended == runtime::Ended::InputClosed {
        anyhow::bail!("the Matrix connection ended");
    }
    tracing::info!("stopped; watched tasks are picked up again at the next start");
    Ok(())
}

/// Hands the Matrix adapter's events to the loop.
async fn forward_events(
    mut events: tokio::sync::mpsc::Receiver<chatrixcd_ports::chat::ChatEvent>,
    inputs: tokio::sync::mpsc::Sender<runtime::Input>,
) {
    while let Some(event) = events.recv().await {
        if inputs.send(runtime::Input::Event(event)).await.is_err() {
            break;
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn stop_signal(mut terminate: tokio::signal::unix::Signal) {
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

/// The bot as config.json describes it.
pub(crate) fn bot_config(config: &config::Config, data_dir: PathBuf) -> wiring::BotConfig {
    let mut settings = Settings::new(config.user_id.clone());
    settings.prefix = config.raw.bot.command_prefix.clone();
    settings.admins = config.admins.clone();
    settings.viewers = config.viewers.clone();
    settings.roles = config.roles.clone();
    settings.grants = config.grants.clone();
    settings.protected_instances = config.protected_instances.clone();
    settings.follows = config.follows.clone();
    settings.schedule_zone = config.schedule_zone.clone();
    if let Some(max) = config.raw.bot.max_schedules_per_room {
        settings.max_schedules_per_room = max;
    }
    if let Some(at_most) = config.raw.bot.schedule_missed_at_most {
        settings.schedule_missed_at_most = at_most;
    }
    settings.ignored_users = config.ignored_users.clone();
    settings.allowed_rooms = config.allowed_rooms.clone();
    settings.default_policy = config.default_policy;
    settings.policies = config.policies.clone();
    settings.greetings = config.raw.bot.greetings_enabled;
    settings.max_command_age = chrono::Duration::seconds(i64::from(config.raw.bot.offline_command_window));
    let greetings = config.raw.bot.greetings_enabled;
    let text = |t: &Option<String>| t.clone().filter(|t| !t.is_empty() && greetings);
    wiring::BotConfig {
        settings,
        instances: config.instances.iter().map(|i| (i.id, i.semaphore_config())).collect(),
        default_instance: config.default_instance,
        secrets: config.secrets(),
        data_dir,
        messages_file: config.messages_file.clone(),
        aliases_file: config.aliases_file.clone(),
        keep_history_days: config.raw.privacy.retention_days.or(config.raw.bot.keep_history_days),
        anonymise_after_days: config.raw.privacy.anonymise_after_days,
        greeting_rooms: config.raw.bot.greeting_rooms.iter().filter_map(|r| RoomId::parse(r.as_str()).ok()).collect(),
        startup_message: text(&config.raw.bot.startup_message),
        shutdown_message: text(&config.raw.bot.shutdown_message),
        secrets_key_file: config
            .raw
            .bot
            .secrets_key_file
            .as_deref()
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(PathBuf::from),
        webhooks: config.webhooks.as_ref().map(|w| {
            let secrets = config.instances.iter().filter_map(|i| Some((i.id, i.alert_secret.clone()?))).collect();
            w.endpoint(secrets, Arc::new(SystemClock))
        }),
    }
}

fn load_config_with_warnings(path: &std::path::Path) -> anyhow::Result<(config::Config, Vec<config::Problem>)> {
    config::load(path).map_err(|problems| {
        let listed: Vec<String> = problems.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("{} has problems:\n  {}", path.display(), listed.join("\n  "))
    })
}

/// The configuration, or every problem in it as one error; warnings go to the log.
pub(crate) fn load_config(path: &std::path::Path) -> anyhow::Result<config::Config> {
    let (config, warnings) = load_config_with_warnings(path)?;
    for w in &warnings {
        tracing::warn!("{w}");
    }
    Ok(config)
}

/// Where state lives: `--data-dir`, else the config's matrix.store_path (ChatrixCD's `./store`).
pub(crate) fn data_dir(config: &config::Config, flag: Option<&std::path::Path>) -> PathBuf {
    flag.map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(config.raw.matrix.store_path.clone().unwrap_or_else(|| "./store".into())))
}

/// The Matrix adapter's settings from the configuration; the same for the bot, `login` and
/// `verify`, so all three use one session and one device.
pub(crate) fn matrix_config(config: &config::Config, data_dir: &std::path::Path) -> MatrixConfig {
    let m = &config.raw.matrix;
    MatrixConfig {
        homeserver: m.homeserver.clone(),
        user_id: m.user_id.clone(),
        password: m.password.clone(),
        access_token: m.access_token.clone(),
        device_id: m.device_id.clone(),
        device_name: m.device_name.clone().unwrap_or_else(|| "chatrixcd".into()),
        store_dir: data_dir.join("matrix"),
        // Already read from CHATRIXCD_STORE_PASSPHRASE or store_passphrase_file when given there.
        store_passphrase: m.store_passphrase.clone(),
        invites: InvitePolicy { rooms: config.allowed_rooms.iter().map(ToString::to_string).collect(), inviter: None },
        sync_timeout: std::time::Duration::from_secs(30),
        encryption_patience: std::time::Duration::from_secs(60),
        sync_patience: std::time::Duration::from_secs(60),
    }
}

#[cfg(unix)]
fn signal_terminate() -> anyhow::Result<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).context("cannot listen for SIGTERM")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every setting config.json has for the bot reaches the one wiring's `BotConfig`.
    #[test]
    fn config_json_reaches_the_wiring_whole() {
        let text = r#"{
            matrix: { homeserver: "https://m.example", user_id: "@bot:m.example", password: "pw", store_passphrase: "pass" },
            semaphore_instances: {
                production: { url: "https://s.example", api_token: "prod-token", timeout_secs: 7 },
                staging: { url: "https://staging.example", api_token: "staging-token" },
            },
            default_instance: "staging",
            bot: {
                admin_users: ["@a:m.example"], viewer_users: ["@v:m.example"], ignored_users: ["@otherbot:m.example"],
                keep_history_days: 30, default_policy: "none",
                policies: [{ instance: "production", policy: "two-person" }],
                greeting_rooms: ["!r:m.example"], startup_message: "hello", offline_command_window: 60,
            },
        }"#;
        let (config, _) = config::parse(text).unwrap();
        let bot = bot_config(&config, PathBuf::from("/tmp/data"));
        let names: Vec<&str> = bot.instances.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(names, ["staging", "production"], "the default first");
        assert_eq!(bot.default_instance.as_str(), "staging");
        assert_eq!(bot.instances[1].1.request_timeout, std::time::Duration::from_secs(7));
        let s = &bot.settings;
        assert_eq!(s.viewers[0].as_str(), "@v:m.example");
        assert_eq!(s.ignored_users[0].as_str(), "@otherbot:m.example");
        assert_eq!(s.default_policy, chatrixcd_domain::ConfirmPolicy::None);
        assert_eq!(s.policies.len(), 1);
        assert_eq!(s.max_command_age, chrono::Duration::seconds(60));
        assert_eq!(bot.keep_history_days, Some(30));
        assert_eq!(bot.startup_message.as_deref(), Some("hello"));
        assert_eq!(bot.greeting_rooms.len(), 1);
        for secret in ["pw", "pass", "prod-token", "staging-token"] {
            assert!(bot.secrets.iter().any(|s| s == secret), "{secret} is not redacted");
        }
    }
}
