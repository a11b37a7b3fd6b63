//! What the Synapse benchmarks share: a child process that is stopped when dropped and whose
//! resident memory can be read, and ChatrixCD (the Python bot chatrixcd replaces) as a peer.

#![allow(dead_code, unreachable_pub)] // each benchmark uses a part

pub mod peer;

use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

/// A process of the benchmark's: SIGTERM (then SIGKILL) when dropped, so a failed run leaves
/// nothing behind.
#[derive(Debug)]
pub struct Process(pub Child);

impl Process {
    /// Resident memory in KiB (`VmRSS`), while the process lives.
    pub fn rss_kib(&self) -> Option<u64> {
        status_kib(self.0.id(), "VmRSS:")
    }

    /// Whether it has exited (and how).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.0.try_wait().ok().flatten()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        for _ in 0..200 {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `kB` line of `/proc/<pid>/status`.
pub fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].trim().trim_end_matches("kB").trim().parse().ok()
}

/// The last `lines` lines of a log file, for an error message.
pub fn tail(path: &Path, lines: usize) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
