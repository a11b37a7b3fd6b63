//! ChatrixCD beside the bot, on the same Synapse and the same simulated Semaphore, when
//! `CHATRIXCD_SRC` names a checkout of it (github.com/CJFWeatherhead/ChatrixCD, GPL-3.0: it is
//! never vendored here). Its Python dependencies come from PyPI into a virtualenv cached outside
//! the clone (`$HOME/.cache/chatrixcd/peer-venv-<hash of its requirements.txt>`), so only the first
//! run pays for them. It runs as its README says, log-only (`-L`), without greetings (`-N`), on
//! the same ChatrixCD-style config.json the bot reads.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use super::{Process, tail};

/// The checkout named by `CHATRIXCD_SRC`, if any.
pub fn checkout() -> Result<Option<PathBuf>> {
    let Some(src) = std::env::var_os("CHATRIXCD_SRC") else { return Ok(None) };
    let src = PathBuf::from(src);
    if !src.join("chatrixcd").join("bot.py").is_file() || !src.join("requirements.txt").is_file() {
        bail!("CHATRIXCD_SRC={}: not a ChatrixCD checkout (no chatrixcd/bot.py and requirements.txt)", src.display());
    }
    Ok(Some(src))
}

/// A Python with ChatrixCD's requirements installed, made once per set of requirements.
pub fn python(src: &Path) -> Result<PathBuf> {
    let requirements = src.join("requirements.txt");
    let text = std::fs::read(&requirements).with_context(|| requirements.display().to_string())?;
    // FNV-1a: a stable name for this set of requirements.
    let hash = text.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3));
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    let venv = PathBuf::from(home).join(".cache/chatrixcd").join(format!("peer-venv-{hash:016x}"));
    let python = venv.join("bin/python");
    let done = venv.join(".installed");
    if done.is_file() && python.is_file() {
        return Ok(python);
    }
    eprintln!("installing ChatrixCD's requirements from PyPI into {} (once)", venv.display());
    let status = Command::new("python3").args(["-m", "venv"]).arg(&venv).status().context("python3 -m venv")?;
    if !status.success() {
        bail!("python3 -m venv {} failed ({status})", venv.display());
    }
    let status = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
        .arg(&requirements)
        .status()
        .context("pip install")?;
    if !status.success() {
        bail!("pip install -r {} failed ({status})", requirements.display());
    }
    std::fs::write(&done, b"")?;
    Ok(python)
}

/// ChatrixCD running on `config` (its text), in `dir`, until dropped.
pub fn start(src: &Path, python: &Path, config: &str, dir: &Path) -> Result<(Process, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let config_file = dir.join("config.json");
    std::fs::write(&config_file, config)?;
    // Not `chatrixcd.log`: ChatrixCD writes that file itself in its working directory.
    let log_path = dir.join("stdout.log");
    let log = std::fs::File::create(&log_path)?;
    let child = Command::new(python)
        .args(["-m", "chatrixcd.main", "-L", "-N", "-c"])
        .arg(&config_file)
        .current_dir(dir)
        .env("PYTHONPATH", src)
        .env("PYTHONUNBUFFERED", "1")
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting ChatrixCD")?;
    let mut process = Process(child);
    // It syncs once to test its session, then announces its sync loop.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(120) {
        // Read as bytes: its log is not always valid UTF-8 (the device's QR art, a locale's choice).
        let log = std::fs::read(&log_path).unwrap_or_default();
        if String::from_utf8_lossy(&log).contains("Starting sync loop") {
            return Ok((process, log_path));
        }
        if let Some(status) = process.exited() {
            bail!("ChatrixCD exited before syncing ({status}):\n{}", tail(&log_path, 40));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("ChatrixCD did not start syncing within 120 s:\n{}", tail(&log_path, 40))
}
