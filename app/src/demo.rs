//! `chatrixcd demo`: the whole bot in the terminal, against two simulated Semaphore instances
//! (`production` behaving like 2.10, `staging` like a current server), with no configuration.
//! It is the same bot as `run`, built by the same wiring (`wiring::build`); only the chat (the
//! console) and the source of its configuration (these flags) differ. Lines typed on stdin are
//! chat messages in a demo room; the bot's replies are printed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use anyhow::Context as _;
use chatrixcd_clock::SystemClock;
use chatrixcd_console::{CONSOLE_HELP, ConsoleChat, ConsoleLine};
use chatrixcd_domain::Settings;
use chatrixcd_domain::permissions::Grant;
use chatrixcd_ports::{Clock, InstanceId, UserId};
use chatrixcd_semaphore::SemaphoreConfig;
use chatrixcd_sim_semaphore::alerts::{AlertKind, AlertTarget};
use chatrixcd_sim_semaphore::http::{self, HttpConfig};
use tokio::io::AsyncBufReadExt as _;
use tokio::sync::{mpsc, oneshot};

use crate::runtime::{self, Input};
use crate::sim::{SimSpec, bind_simulator, millis};
use crate::wiring::{self, BotConfig};

/// Options of `chatrixcd demo`. The defaults give a lively demo; tests make it instant.
#[derive(Clone, clap::Args)]
pub(crate) struct DemoArgs {
    /// How the default instance, `production`, behaves: 2.10 (ids count down, as on BoltDB) or
    /// current. `staging` behaves the other way.
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
    /// How the simulated servers tell the bot that tasks moved, besides polling: their
    /// websocket, their Slack-format alerts to the bot's webhook endpoint, or both.
    #[arg(long, default_value = "both", value_parser = ["both", "alerts", "websocket"])]
    push: String,
    /// Use this Semaphore (a real one, or `chatrixcd sim-semaphore`) as `production` instead of
    /// a simulated one; `staging` stays simulated. Needs `--semaphore-token`.
    #[arg(long, requires = "semaphore_token")]
    semaphore: Option<String>,
    /// The API token for `--semaphore` (the variable keeps it out of the process list, which
    /// other users can read).
    #[arg(long, env = "CHATRIXCD_SEMAPHORE_TOKEN", hide_env_values = true)]
    semaphore_token: Option<String>,
    /// Test mode: schedules may have six fields, seconds first (the crash test's slot a second).
    #[arg(long, hide = true)]
    schedule_seconds: bool,
}

impl std::fmt::Debug for DemoArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoArgs")
            .field("mode", &self.mode)
            .field("data_dir", &self.data_dir)
            .field("semaphore", &self.semaphore)
            .field("semaphore_token", &crate::config::hidden(&self.semaphore_token))
            .finish_non_exhaustive()
    }
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
            push: "both".into(),
            semaphore: None,
            semaphore_token: None,
            schedule_seconds: false,
        }
    }
}

/// How long `/wait` waits at most (the longest demo template, `slow`, takes ten minutes).
const WAIT_LIMIT: StdDuration = StdDuration::from_secs(15 * 60);

/// A fresh token per simulator, like a real one: 32 random bytes, URL-safe base64, lower case.
fn token() -> String {
    (0..43)
        .map(|_| fastrand::choice(b"abcdefghijklmnopqrstuvwxyz0123456789-_").map_or('x', |b| char::from(*b)))
        .chain(['='])
        .collect()
}

/// Starts a simulated Semaphore on a free loopback port; the bot reaches it through the real
/// HTTP client, as it would a production server.
async fn simulated_instance(
    args: &DemoArgs,
    mode: &str,
    clock: Arc<dyn Clock>,
    token: &str,
    alert_url: String,
) -> anyhow::Result<SemaphoreConfig> {
    // Semaphore's Slack alerts, pointed at the bot's webhook endpoint: status changes reach the
    // bot as pushes, as they would from a real server set up as docs/webhooks.md says.
    let alerts = match args.push.as_str() {
        "websocket" => Vec::new(),
        _ => vec![AlertTarget { kind: AlertKind::Slack, url: alert_url }],
    };
    let spec = SimSpec { mode, tick_ms: args.tick_ms, step_ms: args.step_ms, alerts };
    let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let (listener, address, sim) = bind_simulator(loopback, spec, clock).await?;
    let mut http_config = HttpConfig::new(token);
    http_config.websocket = args.push != "alerts";
    tokio::spawn(async move {
        if let Err(e) = http::serve(listener, sim, http_config).await {
            tracing::error!(error = %e, "a simulated Semaphore stopped");
        }
    });
    Ok(SemaphoreConfig::new(format!("http://{address}"), token))
}

/// The demo's second user, a developer.
pub(crate) fn demo_developer() -> UserId {
    // A literal that is a valid user id: `@`, a localpart, `:`, a server name.
    UserId::parse("@dev:chatrixcd.local").unwrap_or_else(|_| unreachable!("a valid literal user id"))
}

/// The demo's bot: what `run` would read from a config.json with two instances.
async fn demo_config(
    args: &DemoArgs,
    you: &UserId,
    clock: &Arc<dyn Clock>,
    data_dir: PathBuf,
) -> anyhow::Result<BotConfig> {
    let other = if args.mode == "current" { "2.10" } else { "current" };
    let (production_token, staging_token) = (token(), token());
    let instance = |name: &str| InstanceId::parse(name).context("instance name");
    let endpoint = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()?));
    let alert_secret = || -> String {
        (0..32).map(|_| fastrand::choice(b"0123456789abcdef").map_or('0', |b| char::from(*b))).collect()
    };
    let (production_secret, staging_secret) = (alert_secret(), alert_secret());
    let alert_url = |name: &str, secret: &str| format!("http://{endpoint}/hooks/semaphore/{name}/slack/{secret}");
    let production = match (&args.semaphore, &args.semaphore_token) {
        (Some(url), Some(token)) => SemaphoreConfig::new(url.clone(), token.clone()),
        _ => {
            simulated_instance(
                args,
                &args.mode,
                Arc::clone(clock),
                &production_token,
                alert_url("production", &production_secret),
            )
            .await?
        }
    };
    let staging =
        simulated_instance(args, other, Arc::clone(clock), &staging_token, alert_url("staging", &staging_secret))
            .await?;
    let mut webhooks = chatrixcd_webhook::WebhookConfig::new(endpoint, Arc::clone(clock));
    webhooks.alert_secrets =
        vec![(instance("production")?, production_secret.clone()), (instance("staging")?, staging_secret.clone())];
    // The console names the bot; the wiring puts the chat's own user in.
    let mut settings = Settings::new(you.clone());
    settings.admins = vec![you.clone()];
    // A second person to be with `/as`: a developer, who may run on staging but not on
    // production, the protected instance, until you grant it.
    settings.grants = vec![Grant::new(demo_developer(), "developer", None)];
    settings.protected_instances = vec![instance("production")?];
    settings.greetings = args.greetings;
    // The demo shows tasks moving at once, websocket or not.
    settings.poll_interval = millis(args.poll_ms.max(10));
    settings.safety_poll_interval = settings.poll_interval;
    settings.schedule_seconds = args.schedule_seconds;
    Ok(BotConfig {
        settings,
        instances: vec![(instance("production")?, production), (instance("staging")?, staging)],
        default_instance: instance("production")?,
        secrets: [production_token, staging_token, production_secret, staging_secret]
            .into_iter()
            .chain(args.semaphore_token.clone())
            .collect(),
        data_dir,
        messages_file: args.messages.clone(),
        aliases_file: args.aliases.clone(),
        keep_history_days: args.keep_history_days,
        anonymise_after_days: None,
        greeting_rooms: Vec::new(),
        startup_message: None,
        shutdown_message: None,
        webhooks: (args.push != "websocket").then_some(webhooks),
        secrets_key_file: None,
    })
}

/// A loopback port free a moment ago, for the webhook endpoint: the simulators need its address
/// before the wiring binds it.
fn free_port() -> anyhow::Result<u16> {
    let probe =
        std::net::TcpListener::bind(("127.0.0.1", 0)).context("no free loopback port for the webhook endpoint")?;
    Ok(probe.local_addr().context("the probe's address")?.port())
}

pub(crate) async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
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
    let console = ConsoleChat::new(Box::new(std::io::stdout()), Arc::clone(&clock));
    let you: UserId = console.current_user();
    let config = demo_config(&args, &you, &clock, data_dir).await?;
    crate::logging::init("warn", Arc::new(wiring::redactor(&config)));
    let wired =
        wiring::build(config, Arc::new(console.clone()), console.bot_user().clone(), Arc::clone(&clock)).await?;
    let bot = wired.bot;

    console.say(&format!(
        "chatrixcd {} demo — two simulated Semaphore instances, `production` (the default) and `staging`, \
         each with projects `ops` and `web`. You are {you}, an admin; {dev} is a developer \
         (`/as {dev}` to be them: they may run on staging, not on production, until you `!cd grant` it). \
         Both instances send their Slack-format alerts to the bot's webhook endpoint at {hooks}.\n\
         Try: !cd projects · !cd templates 1 · !cd run 1 1 · yes · !cd status · !cd logs · !cd instances · \
         !cd run staging:ops:deploy-web   (/help for console directives)",
        env!("CARGO_PKG_VERSION"),
        dev = demo_developer(),
        hooks = wired.webhook_address.map_or_else(|| "(off)".to_owned(), |a| format!("http://{a}")),
    ));

    let (inputs_tx, inputs) = mpsc::channel::<Input>(64);
    tokio::spawn(read_console(console.clone(), bot.clone(), inputs_tx));
    let (interrupted_tx, interrupted) = oneshot::channel::<()>();
    let interrupt = async move {
        let _ = tokio::signal::ctrl_c().await;
        let _ = interrupted_tx.send(());
    };
    let options = runtime::Options {
        drain_on_close: Some(StdDuration::from_secs(args.drain_secs)),
        finish_jobs: StdDuration::from_secs(30),
    };
    let ended = runtime::serve(&bot, &clock, inputs, wired.pushes, interrupt, options).await;
    match ended {
        runtime::Ended::Signal => {
            console.say("(interrupted)");
            bot.cancel_open_questions("the bot was interrupted").await;
        }
        runtime::Ended::Shutdown => bot.cancel_open_questions("the bot is shutting down").await,
        runtime::Ended::InputClosed => {
            if bot.is_watching() && bot.tasks_in_motion().await > 0 {
                console.say("(gave up waiting: tasks are still running in the simulated Semaphore)");
            }
        }
    }
    drop(interrupted);
    Ok(())
}

/// Reads the console: chat lines become events; `/wait` waits until the running tasks stop.
///
/// Piped input (a script, a test) is fed one line at a time, each once the line before it is
/// handled, as a person reads a reply before typing: so a scripted `yes` answers the question
/// the line before asked. At a terminal lines go in as typed, and the bot answers them at once.
async fn read_console(console: ConsoleChat, bot: chatrixcd_domain::Bot, inputs: mpsc::Sender<Input>) {
    use std::io::IsTerminal as _;
    let paced = !std::io::stdin().is_terminal();
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = stdin.next_line().await {
        match console.parse_line(&line) {
            ConsoleLine::Event(event) if paced => {
                let (handled, done) = oneshot::channel();
                if inputs.send(Input::Paced(event, handled)).await.is_err() {
                    return;
                }
                let _ = done.await;
            }
            ConsoleLine::Event(event) => {
                if inputs.send(Input::Event(event)).await.is_err() {
                    return;
                }
            }
            ConsoleLine::Wait => {
                let (done, settled) = oneshot::channel();
                if inputs.send(Input::Drain { limit: WAIT_LIMIT, done }).await.is_err() {
                    return;
                }
                if !settled.await.unwrap_or(false) {
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
    // Dropping `inputs` tells the loop; it lets the tasks under way finish first.
    if bot.is_watching() && bot.tasks_in_motion().await > 0 {
        console.say("(input closed: waiting for running tasks to finish)");
    }
}
