//! Load: signed generic-scheme (`hmac-sha256`) events per second through the webhook endpoint,
//! in process, on loopback. One hook, the limits raised so that nothing is refused for rate;
//! `CLIENTS` keep-alive HTTP/1.1 connections (hyper's client) post events, each with a body of
//! its own so that the replay cache takes every one, `TOTAL` in all or for at most `TIME_CAP`;
//! the deliveries are drained as the bot would take them.
//!
//! `cargo bench -p chatrixcd-webhook --bench load` (release build). Results go to
//! docs/performance.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // a benchmark reports on stdout and may fail loudly

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use chatrixcd_clock::SystemClock;
use chatrixcd_ports::RoomId;
use chatrixcd_webhook::verify::sign;
use chatrixcd_webhook::{HookConfig, Kind, Outcome, Verify, WebhookConfig, Webhooks};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

const CLIENTS: usize = 32;
const TOTAL: usize = 100_000;
/// Connections' first requests, not measured.
const WARMUP: usize = 2_000;
const TIME_CAP: Duration = Duration::from_secs(30);
const SECRET: &str = "0123456789abcdef0123456789abcdef";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn unix_now() -> i64 {
    let since = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap();
    i64::try_from(since.as_secs()).unwrap()
}

/// What one client saw.
#[derive(Default)]
struct Seen {
    latencies: Vec<Duration>,
    not_accepted: usize,
}

/// Posts events numbered from `next` until `TOTAL` are taken or `deadline` passes; the first
/// `WARMUP` numbers are not measured.
async fn client(addr: SocketAddr, next: Arc<AtomicUsize>, deadline: Instant) -> Seen {
    let stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    let host = addr.to_string();
    let mut seen = Seen { latencies: Vec::with_capacity(TOTAL / CLIENTS + 1), not_accepted: 0 };
    loop {
        let n = next.fetch_add(1, Ordering::Relaxed);
        if n >= TOTAL || Instant::now() >= deadline {
            break;
        }
        let body = format!(r#"{{"who":"load","version":"1.{n}","n":{n}}}"#);
        let stamp = unix_now().to_string();
        let signature = sign(SECRET.as_bytes(), &[stamp.as_bytes(), b".", body.as_bytes()]);
        let request = hyper::Request::post("/hooks/ci")
            .header("host", host.as_str())
            .header("content-type", "application/json")
            .header("x-event", "deploy")
            .header("x-timestamp", stamp)
            .header("x-signature-256", format!("sha256={signature}"))
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let started = Instant::now();
        sender.ready().await.unwrap();
        let response = sender.send_request(request).await.unwrap();
        let status = response.status();
        response.into_body().collect().await.unwrap();
        let took = started.elapsed();
        if status.as_u16() != 202 {
            seen.not_accepted += 1;
        }
        if n >= WARMUP {
            seen.latencies.push(took);
        }
    }
    seen
}

async fn run() {
    let mut config = WebhookConfig::new("127.0.0.1:0".parse().unwrap(), Arc::new(SystemClock));
    config.hooks = vec![HookConfig {
        run: None,
        name: "ci".to_owned(),
        secret: SECRET.to_owned(),
        verify: Verify::HmacSha256,
        rooms: vec![RoomId::parse("!ops:example.org").unwrap()],
        template: Some("{{ body.who }} deployed {{ body.version }}".to_owned()),
        allow: Vec::new(),
    }];
    config.per_client = NonZeroU32::new(1_000_000).unwrap();
    config.per_hook = NonZeroU32::new(1_000_000).unwrap();
    // The bot's queue: the default (256) holds 5 ms of this load, and on a shared two-core
    // machine the draining task can be kept off a core that long; a full queue answers 503,
    // which measures the scheduler, not the endpoint.
    config.queue = 8192;
    let metrics = config.metrics.clone();
    let bound = Webhooks::bind(config).await.unwrap();
    let addr = bound.server.local_addr().unwrap();
    assert!(addr.ip().is_loopback());
    tokio::spawn(bound.server.serve());
    // The bot's side: take every delivery as it comes, and say how many so far.
    let (taken_tx, mut taken) = tokio::sync::watch::channel(0usize);
    let mut deliveries = bound.deliveries;
    tokio::spawn(async move {
        let mut n = 0;
        while deliveries.recv().await.is_some() {
            n += 1;
            taken_tx.send_replace(n);
        }
    });

    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + TIME_CAP;
    let clients: Vec<_> = (0..CLIENTS).map(|_| tokio::spawn(client(addr, Arc::clone(&next), deadline))).collect();
    let mut latencies = Vec::with_capacity(TOTAL);
    let mut not_accepted = 0;
    for c in clients {
        let seen = c.await.unwrap();
        latencies.extend(seen.latencies);
        not_accepted += seen.not_accepted;
    }
    let elapsed = started.elapsed();
    let sent = next.load(Ordering::Relaxed).min(TOTAL);
    let accepted = metrics.count(Kind::Hook, Outcome::Accepted);
    // The last deliveries may still be on their way to the bot: wait for them (10 s at most).
    let _ = tokio::time::timeout(Duration::from_secs(10), taken.wait_for(|n| *n as u64 >= accepted)).await;
    let handed = *taken.borrow();
    latencies.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("webhook load: {CLIENTS} keep-alive clients, {sent} signed events (hmac-sha256), 2 worker threads");
    println!(
        "  {sent} events in {:.2} s = {:.0} events/s{}",
        elapsed.as_secs_f64(),
        sent as f64 / elapsed.as_secs_f64(),
        if elapsed >= TIME_CAP { " (stopped by the time cap)" } else { "" }
    );
    println!(
        "  latency over {} events (after {WARMUP} warm-up): p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        latencies.len(),
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.99)),
        ms(*latencies.last().unwrap()),
    );
    println!("  answers other than 202: {not_accepted}; accepted {accepted}, handed to the bot {handed}");
    for outcome in Outcome::ALL.into_iter().filter(|o| *o != Outcome::Accepted) {
        let n = metrics.count(Kind::Hook, outcome);
        if n > 0 {
            println!("  refused {outcome:?}: {n}");
        }
    }
    assert_eq!(not_accepted, 0, "every signed event is accepted");
    assert_eq!(handed as u64, accepted, "every accepted event reached the bot");
}

fn main() {
    // The machine's two cores: the endpoint and the load generator share them.
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(run());
}
