//! `chatrixcd sim-semaphore`: the simulated Semaphore on its own, over HTTP.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use chatrixcd_clock::SystemClock;
use chatrixcd_domain::redact::Redactor;
use chatrixcd_ports::Clock;
use chatrixcd_sim_semaphore::alerts::{AlertKind, AlertTarget};
use chatrixcd_sim_semaphore::http::{self, HttpConfig};
use chatrixcd_sim_semaphore::{Mode, SimConfig, SimSemaphore};
use chrono::Duration;

#[derive(Clone, clap::Args)]
pub(crate) struct SimArgs {
    /// Address to listen on; loopback unless you mean otherwise.
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// The API token clients must send as `Authorization: Bearer TOKEN` (the variable keeps it
    /// out of the process list, which other users can read).
    #[arg(long, env = "CHATRIXCD_SIM_TOKEN", hide_env_values = true)]
    token: String,
    /// 2.10 (BoltDB ids counting down, 2.10 answers) or current.
    #[arg(long, default_value = "2.10", value_parser = ["2.10", "current"])]
    mode: String,
    /// Milliseconds between two tasks leaving the queue (a real server: 5000).
    #[arg(long, default_value_t = 5000)]
    tick_ms: u64,
    /// Milliseconds between two lines of task output.
    #[arg(long, default_value_t = 300)]
    step_ms: u64,
    /// Post Semaphore-shaped alerts on success, error and waiting_confirmation:
    /// `slack=URL`, `rocketchat=URL`, `teams=URL` or `gotify=URL?token=TOKEN`. Repeatable.
    #[arg(long, value_name = "KIND=URL")]
    alert: Vec<String>,
}

impl std::fmt::Debug for SimArgs {
    // The token, and alert URLs that may carry one, are never shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimArgs").field("listen", &self.listen).field("mode", &self.mode).finish_non_exhaustive()
    }
}

fn parse_alert(spec: &str) -> anyhow::Result<AlertTarget> {
    let (kind, url) = spec.split_once('=').with_context(|| format!("--alert {spec}: expected KIND=URL"))?;
    let kind = match kind {
        "slack" => AlertKind::Slack,
        "rocketchat" => AlertKind::RocketChat,
        "teams" => AlertKind::Teams,
        "gotify" => {
            let (base, token) =
                url.split_once("?token=").with_context(|| format!("--alert {spec}: gotify needs URL?token=TOKEN"))?;
            return Ok(AlertTarget { kind: AlertKind::Gotify { token: token.to_owned() }, url: base.to_owned() });
        }
        other => anyhow::bail!("--alert {spec}: unknown kind `{other}` (slack, rocketchat, teams or gotify)"),
    };
    Ok(AlertTarget { kind, url: url.to_owned() })
}

pub(crate) fn millis(ms: u64) -> Duration {
    Duration::milliseconds(i64::try_from(ms).unwrap_or(i64::MAX))
}

pub(crate) fn mode(name: &str) -> Mode {
    if name == "current" { Mode::Current } else { Mode::V2_10 }
}

/// How a simulator is wanted: behaviour, speed, alerts.
pub(crate) struct SimSpec<'a> {
    pub mode: &'a str,
    pub tick_ms: u64,
    pub step_ms: u64,
    pub alerts: Vec<AlertTarget>,
}

/// Binds `listen` and builds the demo simulator whose task links point at that address.
pub(crate) async fn bind_simulator(
    listen: SocketAddr,
    spec: SimSpec<'_>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<(tokio::net::TcpListener, SocketAddr, SimSemaphore)> {
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr().context("listener has no address")?;
    let config = SimConfig {
        mode: mode(spec.mode),
        queue_tick: millis(spec.tick_ms),
        step: millis(spec.step_ms),
        web_host: Some(format!("http://{address}")),
        alerts: spec.alerts,
    };
    Ok((listener, address, SimSemaphore::demo(config, clock)))
}

pub(crate) async fn run(args: SimArgs) -> anyhow::Result<()> {
    crate::logging::init("info", Arc::new(Redactor::new([args.token.clone()])));
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let alerts = args.alert.iter().map(|a| parse_alert(a)).collect::<anyhow::Result<_>>()?;
    let spec = SimSpec { mode: &args.mode, tick_ms: args.tick_ms, step_ms: args.step_ms, alerts };
    let (listener, address, sim) = bind_simulator(args.listen, spec, clock).await?;
    tracing::info!(%address, mode = %args.mode, "simulated Semaphore listening; try: curl -H 'Authorization: Bearer <token>' http://{address}/api/projects");
    tokio::select! {
        served = http::serve(listener, sim, HttpConfig::new(args.token)) => served.context("the simulated Semaphore stopped"),
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}
