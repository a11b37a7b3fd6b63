//! A real Synapse for integration tests: matrix-synapse from PyPI in a virtualenv cached outside
//! the clone (`$CHATRIXCD_CACHE` or `~/.cache/chatrixcd`), started on a free loopback port with a
//! generated configuration (sqlite, no TLS, a registration shared secret, rate limits relaxed),
//! and stopped when dropped. Every start is a fresh server: no users, rooms or devices left over.
//!
//! Installing the virtualenv the first time takes about half a minute; later starts take a few
//! seconds.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The Synapse version the tests are written against.
pub const SYNAPSE_VERSION: &str = "1.163.2";

const SHARED_SECRET: &str = "chatrixcd-tests-shared-secret";

/// Why a Synapse could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SynapseError {
    #[error("{step}: {detail}")]
    Failed { step: &'static str, detail: String },
}

fn failed(step: &'static str, detail: impl std::fmt::Display) -> SynapseError {
    SynapseError::Failed { step, detail: detail.to_string() }
}

/// A running Synapse. Dropping it stops the server and removes its data.
#[derive(Debug)]
pub struct Synapse {
    backend: Backend,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    dir: tempfile::TempDir,
}

/// Where the server runs: a local process from the cached virtualenv, or a container.
#[derive(Debug)]
enum Backend {
    Local {
        process: Child,
        venv: PathBuf,
    },
    #[cfg(feature = "docker")]
    Docker(Box<crate::synapse_docker::Running>),
}

/// Why the Docker variant cannot run here, if it cannot.
pub fn docker_unavailable() -> Option<String> {
    #[cfg(not(feature = "docker"))]
    {
        Some(
            "built without the `docker` feature (cargo test -p chatrixcd-tests --features docker --test synapse_docker)"
                .into(),
        )
    }
    #[cfg(feature = "docker")]
    {
        crate::synapse_docker::unavailable()
    }
}

fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CHATRIXCD_CACHE") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map_or_else(std::env::temp_dir, PathBuf::from);
    home.join(".cache").join("chatrixcd")
}

/// The virtualenv with Synapse, created on first use.
fn ensure_venv() -> Result<PathBuf, SynapseError> {
    let cache = cache_dir();
    std::fs::create_dir_all(&cache).map_err(|e| failed("creating the cache directory", e))?;
    let venv = cache.join(format!("synapse-{SYNAPSE_VERSION}"));
    install_once(&venv, &cache.join("synapse-install.lock"), install)?;
    Ok(venv)
}

/// Runs `install` into `dir` unless it has run to the end before; concurrent test processes
/// wait for the one that installs.
///
/// The lock is a directory (created atomically). Its holder marks the install done *before* it
/// lets go, and whoever takes the lock looks for that mark first: otherwise a waiter could take
/// the lock in between and start a second install over the one a test is already using.
fn install_once(
    dir: &Path,
    lock: &Path,
    install: impl FnOnce(&Path) -> Result<(), SynapseError>,
) -> Result<(), SynapseError> {
    let ready = dir.join(".installed");
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        if ready.exists() {
            return Ok(());
        }
        match std::fs::create_dir(lock) {
            Ok(()) => break,
            Err(_) if lock_is_stale(lock) => {
                // Its holder was killed mid-install (an install takes a minute or two).
                let _ = std::fs::remove_dir(lock);
            }
            Err(_) if Instant::now() > deadline => return Err(failed("waiting for another install", lock.display())),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
    let result = if ready.exists() { Ok(()) } else { install(dir) }
        .and_then(|()| std::fs::write(&ready, SYNAPSE_VERSION).map_err(|e| failed("marking the install", e)));
    let _ = std::fs::remove_dir(lock);
    result
}

/// A lock left by an install that cannot still be running.
fn lock_is_stale(lock: &Path) -> bool {
    std::fs::metadata(lock)
        .and_then(|m| m.modified())
        .is_ok_and(|at| at.elapsed().is_ok_and(|age| age > Duration::from_secs(600)))
}

fn run(step: &'static str, command: &mut Command) -> Result<(), SynapseError> {
    let out = command.output().map_err(|e| failed(step, e))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(failed(step, format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))))
    }
}

fn install(venv: &Path) -> Result<(), SynapseError> {
    let _ = std::fs::remove_dir_all(venv);
    run("creating the virtualenv", Command::new("python3").args(["-m", "venv"]).arg(venv))?;
    run(
        "installing matrix-synapse",
        Command::new(venv.join("bin/pip")).args(["install", "-q", &format!("matrix-synapse=={SYNAPSE_VERSION}")]),
    )
}

fn free_port() -> Result<u16, SynapseError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| failed("finding a free port", e))?;
    Ok(listener.local_addr().map_err(|e| failed("finding a free port", e))?.port())
}

fn overrides(port: u16, bind: &str) -> String {
    let limit = "{per_second: 1000, burst_count: 1000}";
    let mut yaml = format!(
        "listeners:\n  - {{port: {port}, bind_addresses: ['{bind}'], type: http, tls: false, x_forwarded: false, \
         resources: [{{names: [client], compress: false}}]}}\n\
         registration_shared_secret: \"{SHARED_SECRET}\"\n\
         trusted_key_servers: []\nsuppress_key_server_warning: true\nreport_stats: false\npresence: {{enabled: false}}\n\
         login_via_existing_session: {{enabled: true, require_ui_auth: false}}\n"
    );
    for key in [
        "rc_message",
        "rc_registration",
        "rc_registration_token_validity",
        "rc_joins_per_room",
        "rc_key_requests",
        "rc_room_creation",
        "rc_admin_redaction",
        "rc_3pid_validation",
        "rc_media_create",
        "rc_delayed_event_mgmt",
        "rc_reports",
        "rc_user_directory",
        "rc_profile",
    ] {
        yaml.push_str(&format!("{key}: {limit}\n"));
    }
    yaml.push_str(&format!("rc_login:\n  address: {limit}\n  account: {limit}\n  failed_attempts: {limit}\n"));
    yaml.push_str(&format!("rc_joins:\n  local: {limit}\n  remote: {limit}\n"));
    yaml.push_str(&format!("rc_invites:\n  per_room: {limit}\n  per_user: {limit}\n  per_issuer: {limit}\n"));
    yaml
}

impl Synapse {
    /// Starts a fresh Synapse: a local process on a free loopback port (installing it first if
    /// needed), or, with `CHATRIXCD_SYNAPSE=docker`, the `matrixdotorg/synapse` container with the
    /// same configuration, so every scenario runs unchanged on either.
    pub fn start() -> Result<Self, SynapseError> {
        if std::env::var("CHATRIXCD_SYNAPSE").is_ok_and(|v| v == "docker") {
            return Self::start_docker();
        }
        Self::start_local()
    }

    /// The container variant (needs Docker and the `docker` feature).
    pub fn start_docker() -> Result<Self, SynapseError> {
        if let Some(why) = docker_unavailable() {
            return Err(failed("starting synapse in docker", why));
        }
        #[cfg(feature = "docker")]
        {
            let dir = tempfile::Builder::new()
                .prefix("chatrixcd-synapse-")
                .tempdir()
                .map_err(|e| failed("creating a work dir", e))?;
            std::fs::write(dir.path().join("test-overrides.yaml"), overrides(CONTAINER_PORT, "0.0.0.0"))
                .map_err(|e| failed("writing the overrides", e))?;
            let running = crate::synapse_docker::start(dir.path(), CONTAINER_PORT)?;
            let port = running.host_port;
            let synapse =
                Self { url: format!("http://127.0.0.1:{port}"), backend: Backend::Docker(Box::new(running)), dir };
            wait_healthy(port, || None)?;
            Ok(synapse)
        }
        #[cfg(not(feature = "docker"))]
        unreachable!("docker_unavailable is Some without the feature")
    }

    fn start_local() -> Result<Self, SynapseError> {
        let venv = ensure_venv()?;
        let dir = tempfile::Builder::new()
            .prefix("chatrixcd-synapse-")
            .tempdir()
            .map_err(|e| failed("creating a work dir", e))?;
        let work = dir.path();
        generate_config(&venv, work)?;
        // The free port is only free when it is found: until Synapse binds it (seconds later),
        // another test's connection may take it. Then Synapse exits at once, and another port
        // is tried.
        let mut attempts = 0;
        loop {
            attempts += 1;
            let port = free_port()?;
            std::fs::write(work.join("test-overrides.yaml"), overrides(port, "127.0.0.1"))
                .map_err(|e| failed("writing the overrides", e))?;
            match run_server(&venv, work, port) {
                Ok(process) => {
                    let url = format!("http://127.0.0.1:{port}");
                    return Ok(Self { url, backend: Backend::Local { process, venv }, dir });
                }
                Err(SynapseError::Failed { detail, .. })
                    if attempts < 3 && detail.contains("Address already in use") =>
                {
                    // The next attempt starts a fresh log, so its own failure is not read as
                    // this one again.
                    let _ = std::fs::remove_file(work.join("stdout.log"));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Why [`Self::restart`] cannot run on this server, if it cannot: a container's published
    /// port may change when it restarts, and the bot's configuration names the port.
    pub fn cannot_restart(&self) -> Option<&'static str> {
        match &self.backend {
            Backend::Local { .. } => None,
            #[cfg(feature = "docker")]
            Backend::Docker(_) => Some("the container variant cannot restart synapse on the same port"),
        }
    }

    /// Stops the server, waits `down_for`, and starts it again with the same data on the same
    /// port, as an operator's restart would: clients see refused connections meanwhile. Only the
    /// local process can; a container is left as it is and this says so.
    pub fn restart(&mut self, down_for: Duration) -> Result<(), SynapseError> {
        let port =
            self.url.rsplit(':').next().and_then(|p| p.parse().ok()).ok_or_else(|| failed("restarting", "no port"))?;
        match &mut self.backend {
            Backend::Local { process, venv } => {
                let _ = process.kill();
                let _ = process.wait();
                std::thread::sleep(down_for);
                *process = run_server(venv, self.dir.path(), port)?;
                Ok(())
            }
            #[cfg(feature = "docker")]
            Backend::Docker(_) => Err(failed("restarting", "the container variant cannot restart synapse")),
        }
    }

    /// Registers a user through the shared secret; returns their Matrix id.
    pub fn register(&self, name: &str, password: &str, admin: bool) -> Result<String, SynapseError> {
        let admin_flag = if admin { "--admin" } else { "--no-admin" };
        match &self.backend {
            Backend::Local { venv, .. } => run(
                "registering a user",
                Command::new(venv.join("bin/register_new_matrix_user"))
                    .args(["--exists-ok", "-u", name, "-p", password, admin_flag, "-k", SHARED_SECRET])
                    .arg(&self.url),
            )?,
            #[cfg(feature = "docker")]
            Backend::Docker(running) => running.register(name, password, admin_flag, CONTAINER_PORT)?,
        }
        Ok(format!("@{name}:localhost"))
    }
}

impl Synapse {
    /// The last `lines` lines of the server's own log (and of what it printed), to explain a
    /// failing test; one line per request is left out, as it buries the rest. A container's
    /// log stays with the container.
    pub fn log_tail(&self, lines: usize) -> String {
        let mut text = String::new();
        for file in ["homeserver.log", "stdout.log"] {
            let Ok(content) = std::fs::read_to_string(self.dir.path().join(file)) else { continue };
            let all: Vec<&str> = content.lines().filter(|l| !l.contains(" - synapse.access.")).collect();
            text.push_str(&format!("[{file}]\n"));
            for line in &all[all.len().saturating_sub(lines)..] {
                text.push_str(line);
                text.push('\n');
            }
        }
        text
    }
}

/// Writes a fresh `homeserver.yaml` (and signing key) into `work`.
fn generate_config(venv: &Path, work: &Path) -> Result<(), SynapseError> {
    // Generated from inside the work dir: the log config writes homeserver.log to the current
    // directory.
    run(
        "generating the configuration",
        Command::new(venv.join("bin/python"))
            .current_dir(work)
            .args(["-m", "synapse.app.homeserver", "--server-name", "localhost", "--config-path"])
            .arg(work.join("homeserver.yaml"))
            .arg("--data-directory")
            .arg(work.join("data"))
            .args(["--generate-config", "--report-stats=no"]),
    )
}

/// Runs the server from the virtualenv in `work` (its config and data there) until it answers.
fn run_server(venv: &Path, work: &Path, port: u16) -> Result<Child, SynapseError> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(work.join("stdout.log"))
        .map_err(|e| failed("creating the log", e))?;
    let log_err = log.try_clone().map_err(|e| failed("creating the log", e))?;
    let mut process = Command::new(venv.join("bin/python"))
        .current_dir(work)
        .args(["-m", "synapse.app.homeserver", "-c", "homeserver.yaml", "-c", "test-overrides.yaml"])
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .map_err(|e| failed("starting synapse", e))?;
    let log = work.join("stdout.log");
    if let Err(e) = wait_healthy(port, || {
        let status = process.try_wait().ok().flatten()?;
        Some(format!("{status}\n{}", std::fs::read_to_string(&log).unwrap_or_default()))
    }) {
        let _ = process.kill();
        let _ = process.wait();
        return Err(e);
    }
    Ok(process)
}

/// Synapse's port inside the container.
#[cfg(feature = "docker")]
const CONTAINER_PORT: u16 = 8008;

/// Polls `/health` on the loopback port until it answers 200; `exited` says why the server is
/// gone, if it is.
fn wait_healthy(port: u16, mut exited: impl FnMut() -> Option<String>) -> Result<(), SynapseError> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Some(why) = exited() {
            return Err(failed("synapse exited early", why));
        }
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read as _, Write as _};
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = stream.write_all(b"GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n");
            let mut answer = String::new();
            let _ = stream.read_to_string(&mut answer);
            if answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200") {
                return Ok(());
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(failed("waiting for synapse to answer /health", "60 s passed"))
}

impl Drop for Synapse {
    fn drop(&mut self) {
        match &mut self.backend {
            Backend::Local { process, .. } => {
                let _ = process.kill();
                let _ = process.wait();
            }
            // A container is removed when its handle drops.
            #[cfg(feature = "docker")]
            Backend::Docker(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn concurrent_first_uses_install_once_and_all_see_the_finished_install() {
        let cache = tempfile::tempdir().unwrap();
        let dir = cache.path().join("venv");
        let lock = cache.path().join("install.lock");
        let installs = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..6 {
                scope.spawn(|| {
                    install_once(&dir, &lock, |dir| {
                        installs.fetch_add(1, Ordering::SeqCst);
                        let _ = std::fs::remove_dir_all(dir);
                        std::fs::create_dir_all(dir).unwrap();
                        std::thread::sleep(Duration::from_millis(300));
                        std::fs::write(dir.join("module.py"), "complete").unwrap();
                        Ok(())
                    })
                    .unwrap();
                    // Nobody goes on before the install is whole, and nobody redoes it under them.
                    assert_eq!(std::fs::read_to_string(dir.join("module.py")).unwrap(), "complete");
                });
            }
        });
        assert_eq!(installs.load(Ordering::SeqCst), 1);
        assert!(!lock.exists(), "the lock is let go");
    }

    #[test]
    fn a_port_taken_before_synapse_binds_it_is_told_apart_so_another_can_be_tried() {
        let venv = ensure_venv().unwrap();
        let work = tempfile::tempdir().unwrap();
        generate_config(&venv, work.path()).unwrap();
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        std::fs::write(work.path().join("test-overrides.yaml"), overrides(port, "127.0.0.1")).unwrap();
        let Err(SynapseError::Failed { detail, .. }) = run_server(&venv, work.path(), port) else {
            panic!("synapse started on a port another socket holds");
        };
        assert!(detail.contains("Address already in use"), "{detail}");
    }

    #[test]
    fn a_failed_install_is_tried_again_by_the_next_use() {
        let cache = tempfile::tempdir().unwrap();
        let dir = cache.path().join("venv");
        let lock = cache.path().join("install.lock");
        let refused = install_once(&dir, &lock, |_| Err(failed("installing", "no network")));
        assert!(refused.is_err());
        let mut ran = false;
        install_once(&dir, &lock, |dir| {
            ran = true;
            std::fs::create_dir_all(dir).map_err(|e| failed("installing", e))
        })
        .unwrap();
        assert!(ran);
    }
}
