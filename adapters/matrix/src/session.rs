//! The saved session (`session.json`, owner-only): reused at every start so the bot keeps one
//! device instead of creating a new one per start, as ChatrixCD did.

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
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let mut file = std::fs::OpenOptions::new().create(true).write(true).truncate(true).mode(0o600).open(path)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}
