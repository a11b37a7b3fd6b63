//! The accept loop: each connection served by hyper's HTTP/1.1 with the endpoint's limits, over
//! TLS (rustls) when certificate and key are given.
//!
//! Why not `axum::serve`: it sets no header read timeout, so a client that sends one header byte
//! a minute holds a connection for ever (slowloris); and it cannot terminate TLS. Here the
//! headers must arrive within `header_timeout` (the TLS handshake too), a connection lives at
//! most `connection_lifetime`, and at most `max_connections` are open at once: past that, new
//! ones are closed as soon as they are accepted. Only HTTP/1.1 is spoken: every sender of
//! webhooks speaks it, and hyper's HTTP/1 path is the one whose header timeout covers the very
//! first bytes.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tower::ServiceExt as _;

use crate::WebhookError;

/// How connections are held to account.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The request's headers (and the TLS handshake) must have arrived within this.
    pub header_timeout: Duration,
    /// No connection lasts longer than this, however busy.
    pub connection_lifetime: Duration,
    /// Connections open at once; past it, new ones are closed at once.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            connection_lifetime: Duration::from_secs(300),
            max_connections: 512,
        }
    }
}

/// TLS from a PEM certificate chain and private key.
#[derive(Clone)]
pub struct Tls {
    acceptor: TlsAcceptor,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").finish_non_exhaustive()
    }
}

impl Tls {
    /// Reads the certificate chain and the key; an unreadable or mismatched pair is an error
    /// naming the file.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self, WebhookError> {
        use rustls::pki_types::pem::PemObject as _;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let tls_error = |file: &Path, message: String| WebhookError::Tls { file: file.display().to_string(), message };
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .map_err(|e| tls_error(cert, e.to_string()))?
            .collect::<Result<_, _>>()
            .map_err(|e| tls_error(cert, e.to_string()))?;
        if chain.is_empty() {
            return Err(tls_error(cert, "holds no certificate".into()));
        }
        let private = PrivateKeyDer::from_pem_file(key).map_err(|e| tls_error(key, e.to_string()))?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error(cert, e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, private)
            .map_err(|e| tls_error(key, format!("does not go with the certificate: {e}")))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self { acceptor: TlsAcceptor::from(Arc::new(config)) })
    }
}

/// Accepts and serves connections for as long as the process runs.
pub(crate) async fn serve(listener: TcpListener, router: Router, tls: Option<Tls>, limits: Limits) {
    let open = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // A connection reset before it was taken, or out of file descriptors: on a
                // bound listener every error is about one connection or passes; wait a little
                // rather than spin, and go on.
                if is_per_connection(&e) {
                    tracing::debug!(error = %e, "accepting a webhook connection failed");
                } else {
                    tracing::warn!(error = %e, "the webhook endpoint cannot accept connections");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&open).try_acquire_owned() else {
            tracing::debug!(%peer, "too many webhook connections; one was closed");
            continue;
        };
        let (router, tls) = (router.clone(), tls.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let served =
                tokio::time::timeout(limits.connection_lifetime, connection(stream, peer, router, tls, limits));
            if let Ok(Err(e)) = served.await {
                tracing::debug!(%peer, error = %e, "a webhook connection ended badly");
            }
        });
    }
}

fn is_per_connection(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionReset, Interrupted, WouldBlock};
    matches!(e.kind(), ConnectionAborted | ConnectionReset | Interrupted | WouldBlock)
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    tls: Option<Tls>,
    limits: Limits,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let service = TowerToHyperService::new(router.map_request(move |mut request: axum::http::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        request
    }));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout).max_buf_size(64 * 1024);
    match tls {
        None => http.serve_connection(TokioIo::new(stream), service).await?,
        Some(tls) => {
            let stream = tokio::time::timeout(limits.header_timeout, tls.acceptor.accept(stream)).await??;
            http.serve_connection(TokioIo::new(stream), service).await?;
        }
    }
    Ok(())
}
