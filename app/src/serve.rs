//! `chatrixcd run --config config.json`: the bot on Matrix, with the Semaphore HTTP client and
//! the redb store. Stops cleanly on SIGINT/SIGTERM or a confirmed `exit`; tracked tasks are
//! picked up again at the next start.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use chatrixcd_clock::SystemClock;
use chatrixcd_domain::personality::Personality;
use chatrixcd_domain::redact::Redactor;
use chatrixcd_domain::{Bot, Deps, Outcome, Settings};
use chatrixcd_matrix::{InvitePolicy, MatrixConfig};
use chatrixcd_ports::Clock;
use chatrixcd_ports::chat::{ChatPort as _, OutgoingMessage};
use chatrixcd_ports::semaphore::TaskEvents as _;
use chatrixcd_semaphore::HttpSemaphore;
use chatrixcd_store_redb::RedbStore;

use crate::{check, config, runtime};

#[derive(Debug, Clone, clap::Args)]
pub(crate) struct RunArgs {
    /// The configuration file (ChatrixCD's config.json works as it is).
    #[arg(long, short, default_value = "config.json")]
    config: PathBuf,
    /// Where to keep state; default: the config's matrix.store_path (ChatrixCD's `./store`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

impl Default for RunArgs {
    fn default() -> Self {
        Self { config: PathBuf::from("config.json"), data_dir: None }
    }
}

pub(crate) async fn run(args: RunArgs) -> anyhow::Result<()> {
    let (config, warnings) = load_config_with_warnings(&args.config)?;
    let m = &config.raw.matrix;
    let s = &config.raw.semaphore;
    let secrets: Vec<String> =
        [Some(s.api_token.clone()), m.password.clone(), m.access_token.clone(), m.store_passphrase.clone()]
            .into_iter()
            .flatten()
            .collect();
    let redactor = Arc::new(Redactor::new(secrets.clone()));
    crate::logging::init("info", Arc::clone(&redactor));
    for w in &warnings {
        tracing::warn!("{w}");
    }
    let data_dir = data_dir(&config, args.data_dir.as_deref());
    let store = Arc::new(RedbStore::open(&data_dir)?);
    let semaphore = Arc::new(HttpSemaphore::new(&check::semaphore_config(&config))?);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);

    let matrix_config = matrix_config(&config, &data_dir);
    let (chat, mut events) = chatrixcd_matrix::connect(matrix_config).await.context("connecting to Matrix")?;
    let info = chat.connection_info();
    tracing::info!(user = %info.user_id, device = ?info.device_id, homeserver = %info.server, "connected to Matrix");

    let mut settings = Settings::new(config.user_id.clone());
    settings.prefix = config.raw.bot.command_prefix.clone();
    settings.admins = config.admins.clone();
    settings.allowed_rooms = config.allowed_rooms.clone();
    settings.greetings = config.raw.bot.greetings_enabled;
    settings.max_command_age = chrono::Duration::seconds(i64::from(config.raw.bot.offline_command_window));
    settings.version = env!("CARGO_PKG_VERSION").to_owned();
    let seed = u64::try_from(clock.now().timestamp_micros()).unwrap_or_default();
    // Semaphore's websocket shows status changes at once; polling stays as the safety net.
    let mut task_events = semaphore.events(chatrixcd_semaphore::Reconnect::default());
    let mut push_open = true;
    let deps = Deps { chat: Arc::new(chat.clone()), semaphore, store, clock: Arc::clone(&clock) };
    let mut bot = Bot::new(deps, settings, Personality::with_seed(seed), Redactor::new(secrets));
    bot.resume().await;
    announce(&chat, &config, config.raw.bot.startup_message.as_deref()).await;

    let mut terminate = signal_terminate()?;
    loop {
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { anyhow::bail!("the Matrix connection ended") };
                if bot.handle(event).await == Outcome::Shutdown {
                    break;
                }
            }
            () = runtime::next_deadline(&bot, &clock) => {
                if bot.tick().await == Outcome::Shutdown {
                    break;
                }
            }
            pushed = task_events.next_event(), if push_open => {
                if runtime::on_push(&mut bot, pushed, &mut push_open).await == Outcome::Shutdown {
                    break;
                }
            }
            _ = tokio::signal::ctrl_c() => break,
            _ = terminate.recv() => break,
        }
    }
    bot.cancel_open_questions("the bot is shutting down").await;
    announce(&chat, &config, config.raw.bot.shutdown_message.as_deref()).await;
    tracing::info!("stopped; watched tasks are picked up again at the next start");
    Ok(())
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
        // The environment wins, so the passphrase need not sit in the file.
        store_passphrase: std::env::var("CHATRIXCD_STORE_PASSPHRASE").ok().or_else(|| m.store_passphrase.clone()),
        invites: InvitePolicy {
            inviters: config.admins.iter().map(ToString::to_string).collect(),
            rooms: config.allowed_rooms.iter().map(ToString::to_string).collect(),
        },
        sync_timeout: std::time::Duration::from_secs(30),
        encryption_patience: std::time::Duration::from_secs(60),
        sync_patience: std::time::Duration::from_secs(60),
    }
}

/// The startup and shutdown messages, to `bot.greeting_rooms`, as ChatrixCD sends them.
async fn announce(chat: &chatrixcd_matrix::MatrixChat, config: &config::Config, text: Option<&str>) {
    let Some(text) = text.filter(|t| !t.is_empty() && config.raw.bot.greetings_enabled) else { return };
    for room in &config.raw.bot.greeting_rooms {
        let Ok(room) = chatrixcd_ports::RoomId::parse(room.as_str()) else { continue };
        if let Err(e) = chat.send(&room, OutgoingMessage::text(text, None)).await {
            tracing::warn!(room = %room, error = %e, "could not post the greeting");
        }
    }
}

#[cfg(unix)]
fn signal_terminate() -> anyhow::Result<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).context("cannot listen for SIGTERM")
}
