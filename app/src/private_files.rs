//! The data directory is its owner's only: it holds the Matrix session (an access token), the
//! crypto store (the bot's encryption keys), the redb store (who did what, sealed preset
//! secrets) and, by default, the key those secrets are sealed with.
//!
//! At every start (`run`, `login`, `verify`), before anything is read or written there, the
//! directory is made (mode 0700) if it is missing, and the directory and everything in it that
//! group or others may reach is closed: directories to 0700, files to 0600 (owner bits kept).
//! What was closed is logged as a warning naming it; what cannot be closed stops the start with
//! its path and the `chmod` to run. Symbolic links are neither followed nor changed: what they
//! point to is the operator's. A mode keeps out group and others, not the owner: the directory
//! and what it holds must belong to the bot's user (or root), else the start stops naming the
//! owner and the `chown` to run (a data directory of another account, used by a bot run as
//! root, is readable by that account whatever its modes).
//!
//! A second pass after the Matrix connection is made closes what matrix-sdk created with the
//! process's umask on the first start (its sqlite files).

use std::path::{Path, PathBuf};

/// How deep below the data directory files are checked (`matrix/sdk/<store files>` is 2).
const DEPTH: usize = 4;

/// A file or directory that was open to group or others and is now closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    pub path: PathBuf,
    /// Its mode before (permission bits).
    pub was: u32,
    pub now: u32,
}

/// Why the data directory cannot be made private.
#[derive(Debug, thiserror::Error)]
pub enum PrivateError {
    #[error("cannot create the data directory {path} (mode 700): {source}")]
    Create { path: PathBuf, source: std::io::Error },
    #[error("the data directory {path} is not a directory")]
    NotADirectory { path: PathBuf },
    #[error(
        "{path} holds the bot's secrets but others may reach it (mode {mode:03o}) and it could not be closed ({source}): run `chmod {want:o} {path}` as its owner"
    )]
    Open { path: PathBuf, mode: u32, want: u32, source: std::io::Error },
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error(
        "{path} holds the bot's secrets but belongs to uid {owner}, neither the bot's user (uid {us}) nor root: that account may read and change them whatever the mode; run `chown -R {us} {dir}`"
    )]
    Foreign { path: PathBuf, owner: u32, us: u32, dir: PathBuf },
}

/// Makes `dir` (and every parent it needs) owner-only if missing, then closes it and what it
/// holds to group and others. Returns what was closed.
#[cfg(unix)]
pub fn secure(dir: &Path) -> Result<Vec<Closed>, PrivateError> {
    use std::os::unix::fs::DirBuilderExt as _;
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| PrivateError::Create { path: dir.to_owned(), source })?;
    }
    // The directory itself may be a link (to /var/lib/…): its target is checked.
    let meta = std::fs::metadata(dir).map_err(|source| PrivateError::Read { path: dir.to_owned(), source })?;
    if !meta.is_dir() {
        return Err(PrivateError::NotADirectory { path: dir.to_owned() });
    }
    let owners = Owners { us: rustix::process::geteuid().as_raw(), dir };
    let mut closed = Vec::new();
    owners.check(dir, &meta)?;
    close(dir, &meta, &mut closed)?;
    walk(dir, DEPTH, &owners, &mut closed)?;
    Ok(closed)
}

/// Who may own what the data directory holds: the bot's own user, and root (who can read it
/// anyway; `lost+found` is root's).
#[cfg(unix)]
struct Owners<'a> {
    us: u32,
    dir: &'a Path,
}

#[cfg(unix)]
impl Owners<'_> {
    fn check(&self, path: &Path, meta: &std::fs::Metadata) -> Result<(), PrivateError> {
        use std::os::unix::fs::MetadataExt as _;
        let owner = meta.uid();
        if owner == self.us || owner == 0 {
            return Ok(());
        }
        Err(PrivateError::Foreign { path: path.to_owned(), owner, us: self.us, dir: self.dir.to_owned() })
    }
}

#[cfg(not(unix))]
pub fn secure(dir: &Path) -> Result<Vec<Closed>, PrivateError> {
    std::fs::create_dir_all(dir).map_err(|source| PrivateError::Create { path: dir.to_owned(), source })?;
    Ok(Vec::new())
}

/// [`secure`] again after this start made its stores: what matrix-sdk and redb just created with
/// the process's umask sat inside a directory already its owner's only, so nothing was open to
/// anyone; it is closed too (for a directory moved or copied later) and told only at debug.
pub fn secure_what_was_made(dir: &Path) -> Result<(), PrivateError> {
    for c in secure(dir)? {
        tracing::debug!(
            path = %c.path.display(), was = format_args!("{:03o}", c.was), now = format_args!("{:03o}", c.now),
            "made owner-only"
        );
    }
    Ok(())
}

/// [`secure`], with each closed path logged as a warning.
pub fn secure_and_log(dir: &Path) -> Result<(), PrivateError> {
    for c in secure(dir)? {
        tracing::warn!(
            path = %c.path.display(), was = format_args!("{:03o}", c.was), now = format_args!("{:03o}", c.now),
            "a file of the data directory was open to others; it is now its owner's only"
        );
    }
    Ok(())
}

#[cfg(unix)]
fn walk(dir: &Path, depth: usize, owners: &Owners<'_>, closed: &mut Vec<Closed>) -> Result<(), PrivateError> {
    let entries = std::fs::read_dir(dir).map_err(|source| PrivateError::Read { path: dir.to_owned(), source })?;
    for entry in entries {
        let entry = entry.map_err(|source| PrivateError::Read { path: dir.to_owned(), source })?;
        let path = entry.path();
        // Not followed: a link's target may be anything, and is not ours to change.
        let meta =
            std::fs::symlink_metadata(&path).map_err(|source| PrivateError::Read { path: path.clone(), source })?;
        if meta.file_type().is_symlink() {
            continue;
        }
        owners.check(&path, &meta)?;
        close(&path, &meta, closed)?;
        if meta.is_dir() && depth > 0 {
            match walk(&path, depth - 1, owners, closed) {
                Err(e) if unreadable_but_closed(&e, &path) => {
                    tracing::debug!(path = %path.display(), "not looked into: another user's directory, closed to others");
                }
                other => other?,
            }
        }
    }
    Ok(())
}

/// Whether `e` says only that `dir` itself cannot be read for lack of permission. `close` has
/// just made sure that it is closed to group and others, so what it holds is another user's
/// business: `lost+found` (root's, 0700) when the data directory is a file system of its own.
#[cfg(unix)]
fn unreadable_but_closed(e: &PrivateError, dir: &Path) -> bool {
    matches!(e, PrivateError::Read { path, source } if path == dir && source.kind() == std::io::ErrorKind::PermissionDenied)
}

/// Closes one file or directory to group and others, if it is open to them.
#[cfg(unix)]
fn close(path: &Path, meta: &std::fs::Metadata, closed: &mut Vec<Closed>) -> Result<(), PrivateError> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 == 0 {
        return Ok(());
    }
    // Directories need their owner's x bit; files keep whatever the owner had.
    let want = if meta.is_dir() { 0o700 } else { (mode & 0o700) | 0o600 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(want)).map_err(|source| PrivateError::Open {
        path: path.to_owned(),
        mode: mode & 0o777,
        want,
        source,
    })?;
    closed.push(Closed { path: path.to_owned(), was: mode & 0o777, now: want });
    Ok(())
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    #[test]
    fn only_a_closed_directory_that_cannot_be_read_is_passed_over() {
        // (The tests run as root, who reads every directory: the decision is tested alone.)
        let dir = Path::new("/data/lost+found");
        let read = |path: &str, kind| PrivateError::Read { path: path.into(), source: std::io::Error::from(kind) };
        assert!(unreadable_but_closed(&read("/data/lost+found", std::io::ErrorKind::PermissionDenied), dir));
        assert!(
            !unreadable_but_closed(&read("/data/lost+found/x", std::io::ErrorKind::PermissionDenied), dir),
            "deeper: its own check"
        );
        assert!(!unreadable_but_closed(&read("/data/lost+found", std::io::ErrorKind::Other), dir));
        let open = PrivateError::Open {
            path: dir.into(),
            mode: 0o755,
            want: 0o700,
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        };
        assert!(!unreadable_but_closed(&open, dir), "one that stays open to others still stops the start");
    }

    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn set(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn a_missing_data_directory_is_made_owner_only() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b/store");
        assert_eq!(secure(&dir).unwrap(), []);
        assert_eq!(mode(&dir), 0o700);
    }

    #[test]
    fn an_open_data_directory_and_what_it_holds_are_closed_and_named() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("store");
        std::fs::create_dir_all(dir.join("matrix/sdk")).unwrap();
        set(&dir.join("matrix/sdk"), 0o755);
        for (file, m) in [("session.json", 0o644), ("chatrixcd.redb", 0o600), ("matrix/sdk/crypto.sqlite3", 0o664)] {
            std::fs::write(dir.join(file), "x").unwrap();
            set(&dir.join(file), m);
        }
        set(&dir, 0o755);
        set(&dir.join("matrix"), 0o775);
        // A link is neither followed nor changed.
        let outside = root.path().join("outside.txt");
        std::fs::write(&outside, "x").unwrap();
        set(&outside, 0o644);
        std::os::unix::fs::symlink(&outside, dir.join("link")).unwrap();

        let mut closed: Vec<(String, u32, u32)> = secure(&dir)
            .unwrap()
            .into_iter()
            .map(|c| (c.path.strip_prefix(root.path()).unwrap().display().to_string(), c.was, c.now))
            .collect();
        closed.sort();
        assert_eq!(
            closed,
            [
                ("store".to_owned(), 0o755, 0o700),
                ("store/matrix".to_owned(), 0o775, 0o700),
                ("store/matrix/sdk".to_owned(), 0o755, 0o700),
                ("store/matrix/sdk/crypto.sqlite3".to_owned(), 0o664, 0o600),
                ("store/session.json".to_owned(), 0o644, 0o600),
            ]
        );
        assert_eq!(mode(&dir.join("chatrixcd.redb")), 0o600);
        assert_eq!(mode(&outside), 0o644, "the link's target is left alone");
        assert_eq!(secure(&dir).unwrap(), [], "nothing left to close");
    }

    #[test]
    fn a_data_directory_or_a_file_in_it_of_another_account_stops_the_start_with_the_chown() {
        // Run as root (as the tests are) a directory of uid 4242 passes every mode check and is
        // still that account's to read; as another user the same holds for anything not ours.
        let us = rustix::process::geteuid().as_raw();
        let stranger = if us == 4242 { 4243 } else { 4242 };
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("store");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("session.json"), "x").unwrap();
        set(&dir, 0o700);
        set(&dir.join("session.json"), 0o600);
        let owned_by = |path: &Path, uid: u32| std::os::unix::fs::chown(path, Some(uid), None);
        if owned_by(&dir.join("session.json"), stranger).is_err() {
            // Not root: nobody else's file can be made here; the decision is the same code.
            return;
        }
        let e = secure(&dir).unwrap_err();
        assert!(
            matches!(&e, PrivateError::Foreign { path, owner, .. } if path.ends_with("session.json") && *owner == stranger),
            "{e}"
        );
        assert!(e.to_string().contains(&format!("chown -R {us} {}", dir.display())), "{e}");
        owned_by(&dir.join("session.json"), us).unwrap();
        owned_by(&dir, stranger).unwrap();
        let e = secure(&dir).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{} holds the bot's secrets but belongs to uid {stranger}", dir.display())),
            "{e}"
        );
        // Root's is allowed (it reads everything anyway).
        owned_by(&dir, 0).unwrap();
        if us == 0 {
            assert_eq!(secure(&dir).unwrap(), []);
        }
    }

    #[test]
    fn a_data_directory_that_is_a_file_is_refused_by_name() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("store");
        std::fs::write(&file, "x").unwrap();
        let e = secure(&file).unwrap_err().to_string();
        assert!(e.contains("is not a directory") && e.contains("store"), "{e}");
    }
}
