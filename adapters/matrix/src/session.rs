//! The saved session (`session.json`, owner-only): reused at every start so the bot keeps one
//! device instead of creating a new one per start, as ChatrixCD did.
//!
//! It holds the access token, so it is written owner-only from its first byte (a new file, mode
//! 0600, renamed over the old one: never a moment where the token sits in a file others may
//! read, and never half a file after a crash), and one found readable by others is closed
//! before it is used.

use std::path::Path;

use matrix_sdk::authentication::matrix::MatrixSession;

pub(crate) fn load(path: &Path) -> Option<MatrixSession> {
    let text = std::fs::read_to_string(path).ok()?;
    close_to_others(path);
    match serde_json::from_str(&text) {
        Ok(session) => Some(session),
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "ignoring an unreadable saved session; logging in afresh");
            None
        }
    }
}

pub(crate) fn save(path: &Path, session: &MatrixSession) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(session).map_err(std::io::Error::other)?;
    write_private(path, text.as_bytes())
}

/// A session file that group or others may read (copied in, or written by an older build) is
/// made its owner's only, and the operator told.
#[cfg(unix)]
fn close_to_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    let Ok(meta) = std::fs::symlink_metadata(path) else { return };
    let mode = meta.permissions().mode() & 0o777;
    if meta.is_file() && mode & 0o077 != 0 {
        match std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
            Ok(()) => tracing::warn!(
                file = %path.display(), mode = format_args!("{mode:03o}"),
                "the saved session (it holds the access token) was readable by others; it is now mode 600"
            ),
            Err(e) => tracing::warn!(
                file = %path.display(), error = %e,
                "the saved session (it holds the access token) is readable by others and could not be closed: chmod 600 it"
            ),
        }
    }
}

#[cfg(not(unix))]
fn close_to_others(_path: &Path) {}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let temporary = path.with_extension("json.new");
    // A leftover of an interrupted save is replaced: `create_new` must not find it.
    let _ = std::fs::remove_file(&temporary);
    let written = (|| {
        let mut file = std::fs::OpenOptions::new().create_new(true).write(true).mode(0o600).open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn session() -> MatrixSession {
        serde_json::from_value(serde_json::json!({
            "user_id": "@bot:example.org", "device_id": "DEVICE", "access_token": "syt_secret_token"
        }))
        .unwrap()
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_session_file_is_owner_only_replaced_whole_and_closed_when_found_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("session.json");
        // An old file others may read is replaced by a new one that never was.
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        save(&path, &session()).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert!(!dir.path().join("session.json.new").exists(), "no temporary file is left");
        assert_eq!(load(&path).map(|s| s.meta.device_id.to_string()).as_deref(), Some("DEVICE"));
        // One found open (copied in by hand) is closed when it is read.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o664)).unwrap();
        assert!(load(&path).is_some());
        assert_eq!(mode(&path), 0o600);
    }
}
