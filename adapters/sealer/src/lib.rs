//! Sealing the secrets chatrixcd stores (a preset's secret survey variables): XChaCha20-Poly1305
//! under one 32-byte key per bot, kept in a key file of its own, never in the database.
//!
//! What this protects: a copy of the database without the key file (a backup, a file sent along
//! with a bug report, a stolen disk image of the data directory alone). Its sealed values are
//! ciphertext, and one changed on disk, or sealed under another key, does not open: it is
//! [`SealError::Unreadable`], never a wrong value.
//!
//! What it does not protect: someone who has both the database and the key file (keep them apart
//! in backups, or back the key up separately, somewhere safer), and the running process, which
//! holds the key and opens the values it uses (anyone who can read its memory, attach a debugger
//! to it, or run as its user reads them). Losing the key file loses every sealed value: a new key
//! cannot open them, and they must be entered again.
//!
//! A sealed value is text: `v1:` and then the standard base64 alphabet *without* padding
//! (RFC 4648 §4, no trailing `=`) of the 24-byte random nonce followed by the ciphertext and its
//! 16-byte tag. The `v1` leaves room for another scheme later; anything else does not open.

use std::fmt;
use std::io::{ErrorKind, Read as _, Write as _};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use chacha20poly1305::aead::rand_core::RngCore as _;
use chacha20poly1305::aead::{Aead as _, OsRng};
use chacha20poly1305::{Key, KeyInit as _, XChaCha20Poly1305, XNonce};
use chatrixcd_ports::{SealError, Sealer};

/// The version prefix of every sealed value.
const PREFIX: &str = "v1:";
const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// Seals with XChaCha20-Poly1305 under one 32-byte key (a clone holds the same key). Its
/// `Debug` shows no key.
#[derive(Clone)]
pub struct KeySealer {
    cipher: XChaCha20Poly1305,
}

impl fmt::Debug for KeySealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySealer").field("key", &"<hidden>").finish()
    }
}

/// Why the key file could not be used. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("cannot read or create the key file {path} (its directory must exist and be writable): {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(
        "the key file {path} holds {found} bytes, not 32: it is not a chatrixcd key; restore it from a backup (a new key cannot open what the old one sealed)"
    )]
    WrongLength { path: PathBuf, found: u64 },
    #[error(
        "the key file {path} can be read or written by others (mode {mode:03o}); it must be its owner's only: chmod 600 {path}"
    )]
    TooOpen { path: PathBuf, mode: u32 },
}

impl KeySealer {
    /// A sealer under `key`.
    pub fn from_bytes(key: [u8; KEY_LEN]) -> Self {
        Self { cipher: XChaCha20Poly1305::new(&Key::from(key)) }
    }

    /// A random key that lives in memory only: nothing it seals opens after the process ends.
    pub fn ephemeral() -> Result<Self, SealError> {
        let mut key = [0u8; KEY_LEN];
        random(&mut key).map_err(|e| SealError::Unavailable(e.to_string()))?;
        Ok(Self::from_bytes(key))
    }

    /// The key in `path`, made (32 random bytes, owner read/write only) if there is no file yet.
    /// Its directory must exist. An existing file must hold exactly 32 bytes and, on unix, be
    /// closed to group and others.
    pub fn from_key_file(path: &Path) -> Result<Self, KeyFileError> {
        match read_key(path) {
            Err(KeyFileError::Io { source, .. }) if source.kind() == ErrorKind::NotFound => {}
            other => return other.map(Self::from_bytes),
        }
        match create_key(path) {
            Ok(key) => Ok(Self::from_bytes(key)),
            // Another process made it between the read and the create: theirs is the key.
            Err(source) if source.kind() == ErrorKind::AlreadyExists => read_key(path).map(Self::from_bytes),
            Err(source) => Err(KeyFileError::Io { path: path.to_owned(), source }),
        }
    }
}

impl Sealer for KeySealer {
    fn seal(&self, plain: &str) -> Result<String, SealError> {
        let mut nonce = XNonce::default();
        random(&mut nonce).map_err(|e| SealError::Unavailable(e.to_string()))?;
        let sealed = self
            .cipher
            .encrypt(&nonce, plain.as_bytes())
            .map_err(|_| SealError::Unavailable("the value is too long to seal".to_owned()))?;
        let mut bytes = Vec::with_capacity(NONCE_LEN + sealed.len());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
        Ok(format!("{PREFIX}{}", STANDARD_NO_PAD.encode(bytes)))
    }

    fn open(&self, sealed: &str) -> Result<String, SealError> {
        let body = sealed.strip_prefix(PREFIX).ok_or(SealError::Unreadable)?;
        let bytes = STANDARD_NO_PAD.decode(body).map_err(|_| SealError::Unreadable)?;
        if bytes.len() < NONCE_LEN + TAG_LEN {
            return Err(SealError::Unreadable);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SealError::Unreadable)?;
        let plain = self.cipher.decrypt(&XNonce::from(nonce), ciphertext).map_err(|_| SealError::Unreadable)?;
        String::from_utf8(plain).map_err(|_| SealError::Unreadable)
    }
}

/// `bytes` random bytes from the operating system, as lower-case hex: for one-time values (the
/// state of a single sign-on login).
pub fn random_hex(bytes: usize) -> std::io::Result<String> {
    use std::fmt::Write as _;
    let mut raw = vec![0u8; bytes];
    random(&mut raw)?;
    Ok(raw.iter().fold(String::with_capacity(bytes * 2), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    }))
}

/// The operating system's randomness, or why there is none.
fn random(into: &mut [u8]) -> std::io::Result<()> {
    OsRng.try_fill_bytes(into).map_err(|e| std::io::Error::other(format!("no randomness from the system: {e}")))
}

/// An existing key file's key.
fn read_key(path: &Path) -> Result<[u8; KEY_LEN], KeyFileError> {
    let io = |source| KeyFileError::Io { path: path.to_owned(), source };
    let file = std::fs::File::open(path).map_err(io)?;
    // The open file's own metadata: the file checked is the file read.
    let meta = file.metadata().map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyFileError::TooOpen { path: path.to_owned(), mode });
        }
    }
    let mut bytes = Vec::with_capacity(KEY_LEN + 1);
    // One byte more than a key, to tell a longer file without reading all of it.
    file.take(KEY_LEN as u64 + 1).read_to_end(&mut bytes).map_err(io)?;
    let key: [u8; KEY_LEN] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| KeyFileError::WrongLength { path: path.to_owned(), found: meta.len().max(bytes.len() as u64) })?;
    Ok(key)
}

/// Makes a new key file with a random key, flushed to disk; never replaces an existing file.
fn create_key(path: &Path) -> std::io::Result<[u8; KEY_LEN]> {
    let mut key = [0u8; KEY_LEN];
    random(&mut key)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    if let Err(e) = file.write_all(&key).and_then(|()| file.sync_all()) {
        // A short key file would be refused on every start: leave none rather than that.
        drop(file);
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    // The new name is durable too (best effort: not every file system syncs a directory).
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
        if let Ok(dir) = std::fs::File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    Ok(key)
}
