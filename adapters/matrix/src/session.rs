//! The saved session (`session.json`, owner-only): reused at every start so the bot keeps one
//! device instead of creating a new one per start, as ChatrixCD did.
//!
//! It holds the access token, so it is written owner-only from its first byte (a new file, mode
//! 0600, renamed over the old one: never a moment where the token sits in a file others may
//! read, and never half a file after a crash). One found readable by others (copied in by hand)
//! is not this module's to close: the store directory lies in the data directory, which the
//! binary closes to group and others, with a warning naming each file, before anything connects
//! (`app/src/private_files.rs`).

use std::path::Path;

use matrix_sdk::authentication::matrix::MatrixSession;

pub(crate) fn load(path: &Path) -> Option<MatrixSession> {
    let text = std::fs::read_to_string(path).ok()?;
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
    fn the_session_file_is_owner_only_and_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("session.json");
        // An old file others may read is replaced by a new one that never was.
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        save(&path, &session()).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert!(!dir.path().join("session.json.new").exists(), "no temporary file is left");
        assert_eq!(load(&path).map(|s| s.meta.device_id.to_string()).as_deref(), Some("DEVICE"));
    }
}
