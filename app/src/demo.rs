//! `chatrixcd demo`: the whole bot in the terminal, against a simulated Semaphore, with no
//! configuration. Lines typed on stdin are chat messages in a demo room; the bot's replies are
//! printed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use anyhow::Context as _;
use chatrixcd_clock::SystemClock;
use chatrixcd_console::{CONSOLE_HELP, ConsoleChat, ConsoleLine};
use chatrixcd_domain::personality::Personality;
use chatrixcd_domain::redact::Redactor;
use chatrixcd_domain::{Bot, Deps, Outcome, Settings};
use chatrixcd_ports::Store;
use chatrixcd_ports::semaphore::TaskEvents as _;
use chatrixcd_ports::{Clock, UserId};
use chatrixcd_semaphore::{HttpSemaphore, SemaphoreConfig};
use chatrixcd_sim_semaphore::http::{self, HttpConfig};
use chatrixcd_store_redb::RedbStore;
use tokio::io::AsyncBufReadExt as _;

use crate::runtime;
use crate::sim::{SimSpec, bind_simulator, millis};

/// Options of `chatrixcd demo`. The defaults give a lively demo; tests make it instant.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct DemoArgs {
    /// Semaphore behaviour to simulate: 2.10 (ids count down, as on BoltDB) or current.
    #[arg(long, default_value = "2.10", value_parser = ["2.10", "current"])]
    mode: String,
    /// Milliseconds between two tasks leaving Semaphore's queue (a real server: 5000).
    #[arg(long, default_value_t = 1000)]
    tick_ms: u64,
    /// Milliseconds between two lines of simulated task output.
    #[arg(long, default_value_t = 150)]
    step_ms: u64,
    /// Milliseconds between two polls of watched tasks.
    #[arg(long, default_value_t = 1000)]
    poll_ms: u64,
    /// A ChatrixCD `messages.json` (HJSON) to give the bot your personality.
    #[arg(long)]
    messages: Option<PathBuf>,
    /// A ChatrixCD `aliases.json`, imported into the store once (the file is left as it is).
    #[arg(long)]
    aliases: Option<PathBuf>,
    /// Where the bot keeps its state (tracked tasks, aliases, history, audit). Default: a
    /// temporary directory, removed at exit.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Forget runs older than this many days (checked at start); keep everything when absent.
    #[arg(long)]
    keep_history_days: Option<u32>,
    /// How long to let running tasks finish after stdin closes, in seconds.
    #[arg(long, default_value_t = 900)]
    drain_secs: u64,
    /// Start replies with a random greeting, as ChatrixCD does.
    #[arg(long)]
    greetings: bool,
}

impl Default for DemoArgs {
    fn default() -> Self {
        Self {
            mode: "2.10".into(),
            tick_ms: 1000,
            step_ms: 150,
            poll_ms: 1000,
            messages: None,
            aliases: None,
            data_dir: None,
            keep_history_days: None,
            drain_secs: 900,
            greetings: false,
        }
    }
}

/// How long `/wait` waits at most (the longest demo template, `slow`, takes ten minutes).
const WAIT_LIMIT: StdDuration = StdDuration::from_secs(15 * 60);

fn load_personality(path: Option<&PathBuf>, seed: u64) -> anyhow::Result<Personality> {
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
async fn import_aliases_once(store: &dyn Store, path: Option<&PathBuf>) -> anyhow::Result<()> {
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

/// Starts the simulated Semaphore on a free loopback port and returns a real HTTP client for it,
/// so the demo goes through the same adapter as a production bot.
async fn simulated_semaphore(args: &DemoArgs, clock: Arc<dyn Clock>, token: &str) -> anyhow::Result<HttpSemaphore> {
    let spec = SimSpec { mode: &args.mode, tick_ms: args.tick_ms, step_ms: args.step_ms, alerts: Vec::new() };
    let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let (listener, address, sim) = bind_simulator(loopback, spec, clock).await?;
    let http_config = HttpConfig::new(token);
    tokio::spawn(async move {
        if let Err(e) = http::serve(listener, sim, http_config).await {
            tracing::error!(error = %e, "the simulated Semaphore stopped");
        }
    });
    let client = HttpSemaphore::new(&SemaphoreConfig::new(format!("http://{address}"), token))?;
    Ok(client)
}

pub(crate) async fn run(args: DemoArgs) -> anyhow::Result<()> {
    // A fresh token per run, like a real one: 32 random bytes, URL-safe base64, lower case.
    let token: String = (0..43)
        .map(|_| fastrand::choice(b"abcdefghijklmnopqrstuvwxyz0123456789-_").map_or('x', |b| char::from(*b)))
        .chain(['='])
        .collect();
    let redactor = Arc::new(Redactor::new([token.clone()]));
    crate::logging::init("warn", Arc::clone(&redactor));
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let seed = u64::try_from(clock.now().timestamp_micros()).unwrap_or_default();
    let personality = load_personality(args.messages.as_ref(), seed)?;
    // Kept alive to the end: dropping it removes the temporary directory.
    let temporary = match &args.data_dir {
        Some(_) => None,
        None => Some(
            tempfile::Builder::new()
                .prefix("chatrixcd-demo-")
                .tempdir()
                .context("cannot create a temporary data directory")?,
        ),
    };
    let data_dir = args
        .data_dir
        .clone()
        .or_else(|| temporary.as_ref().map(|t| t.path().to_owned()))
        .context("no data directory")?;
    let store = Arc::new(RedbStore::open(&data_dir)?);
    import_aliases_once(store.as_ref(), args.aliases.as_ref()).await?;
    if let Some(days) = args.keep_history_days {
        let cutoff = clock.now() - chrono::Duration::days(i64::from(days));
        let pruned = store.prune_runs(cutoff).await?;
        tracing::info!(pruned, days, "old runs removed from the history");
    }

    let semaphore = Arc::new(simulated_semaphore(&args, Arc::clone(&clock), &token).await?);

    let console = ConsoleChat::new(Box::new(std::io::stdout()), Arc::clone(&clock));
    let you: UserId = console.current_user();
    let mut settings = Settings::new(console.bot_user().clone());
    settings.admins = vec![you.clone()];
    settings.greetings = args.greetings;
    // The demo shows tasks moving at once, websocket or not.
    settings.poll_interval = millis(args.poll_ms.max(10));
    settings.safety_poll_interval = settings.poll_interval;
    settings.version = env!("CARGO_PKG_VERSION").to_owned();

    // Semaphore's websocket shows status changes at once; polling stays as the safety net.
    let mut task_events = semaphore.events(chatrixcd_semaphore::Reconnect::default());
    let mut push_open = true;
    let deps = Deps { chat: Arc::new(console.clone()), semaphore, store, clock: Arc::clone(&clock) };
    let mut bot = Bot::new(deps, settings, personality, Redactor::new([token]));
    bot.resume().await;

    console.say(&format!(
        "chatrixcd {} demo — a simulated Semaphore with projects `ops` and `web`. You are {you}, an admin.\n\
         Try: !cd projects · !cd templates 1 · !cd run 1 1 · yes · !cd status · !cd logs   (/help for console directives)",
        env!("CARGO_PKG_VERSION")
    ));

    let (lines_tx, mut lines) = tokio::sync::mpsc::channel::<String>(64);
    tokio::spawn(async move {
        let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(line)) = stdin.next_line().await {
            if lines_tx.send(line).await.is_err() {
                break;
            }
        }
    });

    let drain_limit = StdDuration::from_secs(args.drain_secs);
    loop {
        tokio::select! {
            line = lines.recv() => {
                let Some(line) = line else { break };
                match console.parse_line(&line) {
                    ConsoleLine::Event(event) => {
                        if bot.handle(event).await == Outcome::Shutdown {
                            break;
                        }
                    }
                    ConsoleLine::Wait => {
                        if !runtime::drain(&mut bot, &clock, WAIT_LIMIT).await {
                            console.say("(stopped waiting: tasks are still running)");
                        }
                    }
                    ConsoleLine::SwitchUser(user) => console.say(&format!("(you are now {user})")),
                    ConsoleLine::Help => console.say(CONSOLE_HELP),
                    ConsoleLine::Quit => break,
                    ConsoleLine::Nothing => {}
                    ConsoleLine::Invalid(why) => console.say(&format!("(console: {why})")),
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
            _ = tokio::signal::ctrl_c() => {
                console.say("(interrupted)");
                bot.cancel_open_questions("the bot was interrupted").await;
                return Ok(());
            }
        }
    }
    bot.cancel_open_questions("the console closed, so nobody can answer").await;
    if bot.is_watching() {
        console.say("(input closed: waiting for running tasks to finish)");
        if !runtime::drain(&mut bot, &clock, drain_limit).await {
            console.say("(gave up waiting: tasks are still running in the simulated Semaphore)");
        }
    }
    Ok(())
}
