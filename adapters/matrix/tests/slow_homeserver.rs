//! The adapter against a real Synapse that is slow to answer one kind of request: a start must
//! not hang on a convenience (cross-signing) when the homeserver never answers its upload.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chatrixcd_matrix::{InvitePolicy, MatrixConfig};
use chatrixcd_ports::ChatPort as _;
use chatrixcd_tests::synapse::Synapse;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// Where matrix-sdk uploads the account's cross-signing keys.
const CROSS_SIGNING_UPLOAD: &str = "/_matrix/client/v3/keys/device_signing/upload";

/// Where matrix-sdk syncs.
const SYNC: &str = "/_matrix/client/v3/sync";

/// Which requests a proxy keeps from Synapse: the first `times` whose path starts with `path`.
/// It holds them unanswered, or, with `hang_up`, closes their connection.
#[derive(Clone)]
struct Stall {
    path: &'static str,
    times: usize,
    hang_up: bool,
    seen: Arc<AtomicUsize>,
}

impl Stall {
    fn new(path: &'static str, times: usize) -> Self {
        Self { path, times, hang_up: false, seen: Arc::default() }
    }

    fn hanging_up(path: &'static str, times: usize) -> Self {
        Self { hang_up: true, ..Self::new(path, times) }
    }

    fn holds(&self, path: &str) -> bool {
        path.starts_with(self.path) && self.seen.fetch_add(1, Ordering::SeqCst) < self.times
    }
}

/// A loopback HTTP/1 proxy to `upstream` that passes every request on except the ones `stall`
/// keeps from it.
async fn stalling_proxy(upstream: SocketAddr, stall: Stall) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(relay(client, upstream, stall.clone()));
        }
    });
    address
}

/// Relays one client connection request by request (a kept-alive connection carries many), so
/// each request's path is seen; answers flow back as they come.
async fn relay(client: TcpStream, upstream: SocketAddr, stall: Stall) {
    let Ok(server) = TcpStream::connect(upstream).await else { return };
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_server, mut to_server) = server.into_split();
    tokio::spawn(async move { tokio::io::copy(&mut from_server, &mut to_client).await });
    let mut pending = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        // One whole request: the head, then as many body bytes as it announces.
        let head_end = loop {
            if let Some(at) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            match from_client.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => pending.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&pending[..head_end]).into_owned();
        let body_len = head
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        while pending.len() < head_end + body_len {
            match from_client.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => pending.extend_from_slice(&chunk[..n]),
            }
        }
        let path = head.split_whitespace().nth(1).unwrap_or_default();
        if stall.holds(path) {
            if stall.hang_up {
                return;
            }
            std::future::pending::<()>().await;
        }
        let request: Vec<u8> = pending.drain(..head_end + body_len).collect();
        if to_server.write_all(&request).await.is_err() {
            return;
        }
    }
}

/// A Synapse with a `bot` account, reached through a proxy that holds what `stall` says, and the
/// adapter's settings for the bot there with `patience` for both encryption and syncs.
struct Behind {
    _synapse: Synapse,
    _store: tempfile::TempDir,
    config: MatrixConfig,
}

async fn behind_a_proxy(stall: Stall, patience: Duration) -> Behind {
    let synapse = tokio::task::spawn_blocking(|| {
        let synapse = Synapse::start().expect("a local Synapse (see tests/src/synapse.rs)");
        let bot = synapse.register("bot", "botpass", false).unwrap();
        (synapse, bot)
    });
    let (synapse, bot) = synapse.await.unwrap();
    let upstream: SocketAddr = synapse.url.trim_start_matches("http://").parse().unwrap();
    let proxy = stalling_proxy(upstream, stall).await;
    let store = tempfile::tempdir().unwrap();
    let config = MatrixConfig {
        homeserver: format!("http://{proxy}"),
        user_id: bot,
        password: Some("botpass".into()),
        access_token: None,
        device_id: None,
        device_name: "chatrixcd test".into(),
        store_dir: store.path().to_owned(),
        store_passphrase: None,
        invites: InvitePolicy::default(),
        sync_timeout: Duration::from_secs(1),
        encryption_patience: patience,
        sync_patience: patience,
    };
    Behind { _synapse: synapse, _store: store, config }
}

/// Connects, and returns how long it took; fails if the start hangs or fails.
async fn connect_in_time(config: MatrixConfig) -> Duration {
    let started = Instant::now();
    let connected = tokio::time::timeout(Duration::from_secs(90), chatrixcd_matrix::connect(config)).await;
    let took = started.elapsed();
    let (chat, _events) = connected.expect("the start did not hang").expect("the bot connected");
    assert_eq!(chat.connection_info().user_id.as_str(), "@bot:localhost");
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_homeserver_that_never_takes_the_cross_signing_keys_does_not_keep_the_bot_from_starting() {
    let patience = Duration::from_secs(3);
    let behind = behind_a_proxy(Stall::new(CROSS_SIGNING_UPLOAD, usize::MAX), patience).await;
    let took = connect_in_time(behind.config.clone()).await;
    // It waited for the upload the proxy holds (so that is what was tested), then went on.
    assert!(took >= patience, "the start did not wait for cross-signing at all ({took:?})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_sync_that_never_answers_is_given_up_and_done_again() {
    let patience = Duration::from_secs(3);
    let behind = behind_a_proxy(Stall::new(SYNC, 1), patience).await;
    let took = connect_in_time(behind.config.clone()).await;
    assert!(took >= patience, "the first sync was not held ({took:?})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_sync_cut_off_on_the_way_is_tried_again() {
    let behind = behind_a_proxy(Stall::hanging_up(SYNC, 1), Duration::from_secs(30)).await;
    connect_in_time(behind.config.clone()).await;
}
