//! How to reach a Semaphore server.

use std::path::PathBuf;
use std::time::Duration;

/// Connection settings. Build with [`SemaphoreConfig::new`] and adjust the public fields.
#[derive(Clone)]
pub struct SemaphoreConfig {
    /// Base URL of the server, e.g. `https://semaphore.example.org` (an `/api` suffix is allowed).
    pub url: String,
    /// API token (Bearer).
    pub token: String,
    /// Verify the server's TLS certificate. Turning it off is logged loudly.
    pub verify_tls: bool,
    /// Extra CA certificates (PEM) to trust.
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS; the key may be in the same file.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    /// Limit for one request, answer included.
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// Extra attempts for reads that failed in a way worth retrying.
    pub read_retries: u32,
    /// First backoff between retries; doubled each time, with jitter.
    pub retry_backoff: Duration,
    /// Public address of the web UI for task links, when it differs from `url`.
    pub web_url: Option<String>,
}

impl std::fmt::Debug for SemaphoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SemaphoreConfig")
            .field("url", &self.url)
            .field("token", &"<redacted>")
            .field("verify_tls", &self.verify_tls)
            .field("ca_file", &self.ca_file)
            .field("client_cert", &self.client_cert)
            .field("request_timeout", &self.request_timeout)
            .finish_non_exhaustive()
    }
}

impl SemaphoreConfig {
    /// The server's base address as the client uses it: trimmed, without a trailing `/` or
    /// `/api`; `None` when `url` is not an http(s) URL with a host.
    pub fn base_url(&self) -> Option<&str> {
        let url = self.url.trim().trim_end_matches('/');
        let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if host.is_empty() || host.contains(char::is_whitespace) {
            return None;
        }
        Some(url.strip_suffix("/api").unwrap_or(url))
    }

    pub fn new(url: impl Into<String>, token: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            token: token.into(),
            verify_tls: true,
            ca_file: None,
            client_cert: None,
            client_key: None,
            request_timeout: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(5),
            read_retries: 2,
            retry_backoff: Duration::from_millis(250),
            web_url: None,
        }
    }
}

/// Why a client could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("semaphore.url `{0}` is not an http:// or https:// URL")]
    BadUrl(String),
    #[error("semaphore.api_token is empty")]
    NoToken,
    #[error("cannot read {what} {path}: {source}")]
    File { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error("{what} {path} is not usable PEM: {reason}")]
    Pem { what: &'static str, path: PathBuf, reason: String },
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}
