//! The attack suite: what an attacker can throw at the webhook endpoint, each answered with its
//! bare refusal, nothing accepted, and the endpoint still taking a legitimate delivery after.
//!
//! Everything stays on loopback (127.0.0.1). Many client addresses are simulated with
//! `X-Forwarded-For` from a trusted proxy (127.0.0.1/32): those addresses (documentation
//! ranges) are header values only, no traffic leaves the machine. Every loop is bounded in count,
//! and every test in time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chatrixcd_clock::ManualClock;
use chatrixcd_ports::semaphore::TaskEvents as _;
use chatrixcd_ports::{Clock as _, HookEvent, InstanceId, RoomId, TaskEvent, TaskId};
use chatrixcd_webhook::verify::sign;
use chatrixcd_webhook::{AlertStream, Cidr, HookConfig, Kind, Metrics, Outcome, Verify, WebhookConfig, Webhooks};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// The generic hooks' secret, and the alert URL's.
const SECRET: &str = "0123456789abcdef0123456789abcdef";
const ALERT_SECRET: &str = "fedcba9876543210fedcba9876543210";
/// Where a legitimate sender posts from (TEST-NET-1, inside the `lan` hook's allow list).
const LEGIT_CLIENT: &str = "192.0.2.10";
/// The longest any one test may take.
const TEST_DEADLINE: Duration = Duration::from_secs(60);

/// Runs a test's body within [`TEST_DEADLINE`].
async fn bounded<F: std::future::Future>(body: F) -> F::Output {
    tokio::time::timeout(TEST_DEADLINE, body).await.expect("the test ran past its deadline")
}

/// A simulated client address for the `i`th attacking request (IPv6 documentation range).
fn attacker(i: usize) -> String {
    format!("2001:db8::{:x}", i + 1)
}

fn hook(name: &str, verify: Verify) -> HookConfig {
    HookConfig {
        name: name.to_owned(),
        secret: SECRET.to_owned(),
        verify,
        rooms: vec![RoomId::parse("!ops:example.org").unwrap()],
        template: None,
        allow: Vec::new(),
        run: None,
    }
}

struct Harness {
    url: String,
    addr: SocketAddr,
    metrics: Metrics,
    clock: ManualClock,
    deliveries: mpsc::Receiver<HookEvent>,
    alerts: AlertStream,
    http: reqwest::Client,
    /// Legitimate deliveries made so far (each made unique by this count).
    legit: u64,
}

/// An endpoint on 127.0.0.1 with one hook of each scheme, `lan` behind an allow list, and the
/// `prod` instance taking alerts; `tweak` changes the config before it binds.
async fn start(tweak: impl FnOnce(&mut WebhookConfig)) -> Harness {
    let clock = ManualClock::at_epoch();
    let mut config = WebhookConfig::new("127.0.0.1:0".parse().unwrap(), Arc::new(clock.clone()));
    config.alert_secrets = vec![(InstanceId::parse("prod").unwrap(), ALERT_SECRET.to_owned())];
    let mut ci = hook("ci", Verify::HmacSha256);
    ci.template = Some("{{ body.who }} deployed {{ body.version }}".to_owned());
    let mut lan = hook("lan", Verify::HmacSha256);
    lan.allow = vec![Cidr::parse("192.0.2.0/24").unwrap()];
    config.hooks = vec![
        ci,
        lan,
        hook("gitea", Verify::Gitea),
        hook("github", Verify::Github),
        hook("gitlab", Verify::GitlabToken),
        hook("bearer", Verify::Bearer),
    ];
    config.trusted_proxies = vec![Cidr::parse("127.0.0.1/32").unwrap()];
    tweak(&mut config);
    let metrics = config.metrics.clone();
    let mut bound = Webhooks::bind(config).await.unwrap();
    let addr = bound.server.local_addr().unwrap();
    assert!(addr.ip().is_loopback(), "tests stay on loopback");
    tokio::spawn(bound.server.serve());
    Harness {
        url: format!("http://{addr}"),
        addr,
        metrics,
        clock,
        deliveries: bound.deliveries,
        alerts: bound.alerts.remove(0).1,
        // No proxy from the environment: every request goes straight to 127.0.0.1.
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
        legit: 0,
    }
}

/// The generic scheme's headers for `body` at `ts`, signed with `secret`.
fn generic_headers(secret: &str, ts: i64, body: &str) -> Vec<(&'static str, String)> {
    let stamp = ts.to_string();
    let signature = sign(secret.as_bytes(), &[stamp.as_bytes(), b".", body.as_bytes()]);
    vec![("x-timestamp", stamp), ("x-signature-256", format!("sha256={signature}"))]
}

impl Harness {
    fn now(&self) -> i64 {
        self.clock.now().timestamp()
    }

    /// POSTs `body` to `path` from `client` (through the trusted proxy) and returns the status.
    async fn post(&self, path: &str, client: &str, headers: &[(&str, String)], body: &str) -> u16 {
        post_with(&self.http, &self.url, path, client, headers, body).await
    }

    fn accepted(&self) -> u64 {
        self.metrics.count(Kind::Hook, Outcome::Accepted)
    }

    fn count(&self, outcome: Outcome) -> u64 {
        self.metrics.count(Kind::Hook, outcome)
    }

    /// A legitimate signed delivery: answered 202, and it comes out of the deliveries rendered.
    async fn legitimate_delivery(&mut self) {
        self.legit += 1;
        let body = format!(r#"{{"who":"ci-bot","version":"1.{}"}}"#, self.legit);
        let headers = generic_headers(SECRET, self.now(), &body);
        assert_eq!(self.post("/hooks/ci", LEGIT_CLIENT, &headers, &body).await, 202, "a legitimate delivery");
        self.expect_delivery(&format!("ci-bot deployed 1.{}", self.legit)).await;
        assert_eq!(self.accepted(), self.legit, "only the legitimate deliveries were accepted");
    }

    async fn expect_delivery(&mut self, text: &str) {
        let delivery = tokio::time::timeout(Duration::from_secs(5), self.deliveries.recv())
            .await
            .expect("the accepted delivery was handed on")
            .expect("the deliveries channel is open");
        assert_eq!(delivery.hook, "ci");
        assert_eq!(delivery.rooms, vec![RoomId::parse("!ops:example.org").unwrap()]);
        assert_eq!(delivery.text, text);
    }

    /// Nothing was handed on besides the legitimate deliveries already taken.
    fn assert_nothing_delivered(&mut self) {
        assert!(self.deliveries.try_recv().is_err(), "an attack's delivery was handed on");
    }
}

async fn post_with(
    http: &reqwest::Client,
    url: &str,
    path: &str,
    client: &str,
    headers: &[(&str, String)],
    body: &str,
) -> u16 {
    let mut request = http
        .post(format!("{url}{path}"))
        .header("x-forwarded-for", client)
        .header("content-type", "application/json")
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, value.as_str());
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_signatures_are_refused() {
    bounded(async {
        let mut h = start(|_| {}).await;
        let now = h.now();
        let mut sent = 0;
        // Hundreds of different wrong signatures, over every scheme, from many addresses.
        for i in 0..300 {
            let body = format!(r#"{{"who":"mallory","version":"{i}"}}"#);
            let wrong_secret = format!("{SECRET}{i}");
            let good = sign(SECRET.as_bytes(), &[now.to_string().as_bytes(), b".", body.as_bytes()]);
            let (path, headers): (&str, Vec<(&str, String)>) = match i % 12 {
                // The generic scheme: another secret, another body, another timestamp, a
                // corrupted or truncated signature, no prefix, not hex, the body alone.
                0 => ("/hooks/ci", generic_headers(&wrong_secret, now, &body)),
                1 => {
                    let other = sign(SECRET.as_bytes(), &[now.to_string().as_bytes(), b".", b"{}"]);
                    (
                        "/hooks/ci",
                        vec![("x-timestamp", now.to_string()), ("x-signature-256", format!("sha256={other}"))],
                    )
                }
                2 => {
                    let headers = generic_headers(SECRET, now - 1, &body);
                    ("/hooks/ci", vec![("x-timestamp", now.to_string()), headers[1].clone()])
                }
                3 => {
                    let mut bad = good.into_bytes();
                    let at = i % bad.len();
                    bad[at] = if bad[at] == b'0' { b'1' } else { b'0' };
                    let bad = String::from_utf8(bad).unwrap();
                    ("/hooks/ci", vec![("x-timestamp", now.to_string()), ("x-signature-256", format!("sha256={bad}"))])
                }
                4 => {
                    let cut = &good[..(i % 63) + 1];
                    ("/hooks/ci", vec![("x-timestamp", now.to_string()), ("x-signature-256", format!("sha256={cut}"))])
                }
                5 => ("/hooks/ci", vec![("x-timestamp", now.to_string()), ("x-signature-256", good)]),
                6 => {
                    let junk = format!("sha256=zz{i:062}");
                    ("/hooks/ci", vec![("x-timestamp", now.to_string()), ("x-signature-256", junk)])
                }
                7 => {
                    let bare = sign(SECRET.as_bytes(), &[body.as_bytes()]);
                    ("/hooks/ci", vec![("x-timestamp", now.to_string()), ("x-signature-256", format!("sha256={bare}"))])
                }
                // The forges' schemes.
                8 => ("/hooks/gitea", vec![("x-gitea-signature", sign(wrong_secret.as_bytes(), &[body.as_bytes()]))]),
                9 => {
                    let signature = sign(wrong_secret.as_bytes(), &[body.as_bytes()]);
                    let value = if (i / 12) % 2 == 0 { format!("sha256={signature}") } else { signature };
                    ("/hooks/github", vec![("x-hub-signature-256", value)])
                }
                10 => ("/hooks/gitlab", vec![("x-gitlab-token", format!("{}{i}", &SECRET[..20]))]),
                _ => ("/hooks/bearer", vec![("authorization", format!("Bearer {wrong_secret}"))]),
            };
            assert_eq!(h.post(path, &attacker(i), &headers, &body).await, 401, "forgery {i} on {path}");
            sent += 1;
        }
        assert_eq!(h.accepted(), 0);
        assert_eq!(h.count(Outcome::BadSignature), sent, "each forgery was refused for its signature");
        h.assert_nothing_delivered();
        h.legitimate_delivery().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_delivery_is_refused() {
    bounded(async {
        let mut h = start(|_| {}).await;
        let body = r#"{"who":"ci-bot","version":"9.9"}"#;
        let headers = generic_headers(SECRET, h.now(), body);
        assert_eq!(h.post("/hooks/ci", LEGIT_CLIENT, &headers, body).await, 202, "the original");
        h.expect_delivery("ci-bot deployed 9.9").await;
        // The identical resend, from the same address and from others; then the same signature
        // written in upper case (the same bytes in hex).
        for i in 0..20 {
            let client = if i == 0 { LEGIT_CLIENT.to_owned() } else { attacker(i) };
            assert_eq!(h.post("/hooks/ci", &client, &headers, body).await, 401, "resend {i}");
        }
        let shouted =
            vec![headers[0].clone(), ("x-signature-256", headers[1].1.to_uppercase().replace("SHA256=", "sha256="))];
        assert_eq!(h.post("/hooks/ci", &attacker(99), &shouted, body).await, 401, "upper-case resend");
        assert_eq!(h.count(Outcome::Replayed), 21);
        assert_eq!(h.accepted(), 1, "only the original");
        h.assert_nothing_delivered();
        h.legit = 1;
        h.legitimate_delivery().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_and_unsigned_deliveries_are_refused() {
    bounded(async {
        let mut h = start(|_| {}).await;
        let body = r#"{"who":"mallory","version":"0"}"#;
        let now = h.now();
        // Correctly signed, but outside the five minutes' window either way.
        for (i, ts) in [now - 301, now + 301, now - 86_400, 0, 1].into_iter().enumerate() {
            let headers = generic_headers(SECRET, ts, body);
            assert_eq!(h.post("/hooks/ci", &attacker(i), &headers, body).await, 401, "timestamp {ts}");
        }
        // Signed when fresh, held back, and sent once the clock has moved on.
        let held = generic_headers(SECRET, now, body);
        h.clock.advance(chrono::Duration::minutes(10));
        assert_eq!(h.post("/hooks/ci", &attacker(10), &held, body).await, 401, "held back ten minutes");
        assert_eq!(h.count(Outcome::Stale), 6);
        // Timestamps that are no number.
        for (i, ts) in ["", "soon", "1e9", "99999999999999999999999"].into_iter().enumerate() {
            let signature = sign(SECRET.as_bytes(), &[ts.as_bytes(), b".", body.as_bytes()]);
            let headers = [("x-timestamp", ts.to_owned()), ("x-signature-256", format!("sha256={signature}"))];
            assert_eq!(h.post("/hooks/ci", &attacker(20 + i), &headers, body).await, 401, "timestamp {ts:?}");
        }
        // Unsigned, on every scheme; and the generic scheme with half its headers.
        let now = h.now();
        let halves: [(&str, Vec<(&str, String)>); 8] = [
            ("/hooks/ci", vec![]),
            ("/hooks/ci", vec![("x-timestamp", now.to_string())]),
            ("/hooks/ci", vec![generic_headers(SECRET, now, body)[1].clone()]),
            ("/hooks/gitea", vec![]),
            ("/hooks/github", vec![]),
            ("/hooks/gitlab", vec![]),
            ("/hooks/bearer", vec![]),
            ("/hooks/lan", vec![]),
        ];
        for (i, (path, headers)) in halves.iter().enumerate() {
            let client = if *path == "/hooks/lan" { "192.0.2.77".to_owned() } else { attacker(40 + i) };
            assert_eq!(h.post(path, &client, headers, body).await, 401, "unsigned on {path}");
        }
        assert_eq!(h.count(Outcome::Unsigned), 8);
        assert_eq!(h.accepted(), 0);
        h.assert_nothing_delivered();
        h.legitimate_delivery().await;
    })
    .await;
}

/// The answer's status line on a raw connection, if one came before the connection closed.
async fn read_status(reader: &mut (impl tokio::io::AsyncRead + Unpin)) -> Option<u16> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while head.len() < 16 * 1024 && !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&head);
    text.strip_prefix("HTTP/1.1 ").and_then(|rest| rest.get(..3)).and_then(|code| code.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_streamed_body_is_cut_off() {
    bounded(async {
        let mut h = start(|_| {}).await;
        assert_eq!(WebhookConfig::new(h.addr, Arc::new(h.clock.clone())).max_body, 1024 * 1024, "the default");
        const TOTAL: usize = 100 * 1024 * 1024;
        const CHUNK: usize = 64 * 1024;
        let stream = TcpStream::connect(h.addr).await.unwrap();
        let (mut reader, mut writer) = stream.into_split();
        let head = format!(
            "POST /hooks/ci HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\nx-forwarded-for: {}\r\n\
             x-timestamp: {}\r\nx-signature-256: sha256={}\r\ntransfer-encoding: chunked\r\n\r\n",
            h.addr,
            attacker(1),
            h.now(),
            "0".repeat(64),
        );
        let answered = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        // The client streams 100 MB in 64 KiB chunks until the server stops it (at most
        // TOTAL / CHUNK chunks, and at most 20 s).
        let writing = tokio::spawn({
            let answered = Arc::clone(&answered);
            async move {
                let mut sent = 0usize;
                if writer.write_all(head.as_bytes()).await.is_err() {
                    return sent;
                }
                let mut chunk = format!("{CHUNK:x}\r\n").into_bytes();
                chunk.extend(std::iter::repeat_n(b' ', CHUNK));
                chunk.extend_from_slice(b"\r\n");
                let deadline = Instant::now() + Duration::from_secs(20);
                while sent < TOTAL && !answered.load(Ordering::Relaxed) && Instant::now() < deadline {
                    match tokio::time::timeout(Duration::from_secs(5), writer.write_all(&chunk)).await {
                        Ok(Ok(())) => sent += CHUNK,
                        Ok(Err(_)) | Err(_) => break,
                    }
                }
                sent
            }
        });
        let status = tokio::time::timeout(Duration::from_secs(20), read_status(&mut reader))
            .await
            .expect("the server answered or closed within 20 s");
        answered.store(true, Ordering::Relaxed);
        let sent = tokio::time::timeout(Duration::from_secs(10), writing).await.unwrap().unwrap();
        let elapsed = started.elapsed();
        // The answer can be lost to the reset of a socket closed with unread data; the server's
        // count says what it answered either way.
        assert!(matches!(status, Some(413) | None), "answered {status:?}");
        assert_eq!(h.count(Outcome::TooLarge), 1, "refused as too large");
        assert!(sent < TOTAL, "the client sent all of its 100 MB ({sent} bytes) before the server stopped it");
        assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
        eprintln!("huge body: {status:?} after {} KiB sent, in {elapsed:?}", sent / 1024);
        assert_eq!(h.accepted(), 0);
        h.assert_nothing_delivered();
        h.legitimate_delivery().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowloris_client_is_cut_off() {
    bounded(async {
        let mut h = start(|config| config.limits.header_timeout = Duration::from_millis(300)).await;
        // Headers one byte at a time, 25 ms apart: 400 bytes would take 10 s.
        let request = format!(
            "POST /hooks/ci HTTP/1.1\r\nhost: {}\r\nx-padding: {}\r\ncontent-length: 2\r\n\r\n{{}}",
            h.addr,
            "a".repeat(340)
        );
        let started = Instant::now();
        let mut stream = TcpStream::connect(h.addr).await.unwrap();
        let mut sent = 0;
        let mut buf = [0u8; 512];
        let closed = tokio::time::timeout(Duration::from_secs(5), async {
            for byte in request.as_bytes() {
                if stream.write_all(std::slice::from_ref(byte)).await.is_err() {
                    return true;
                }
                sent += 1;
                // Between bytes, the pause of the attack; the server's close ends it.
                tokio::select! {
                    read = stream.read(&mut buf) => match read {
                        Ok(0) | Err(_) => return true,
                        Ok(_) => {} // an answer (408): the close follows
                    },
                    () = tokio::time::sleep(Duration::from_millis(25)) => {}
                }
            }
            false
        })
        .await;
        let elapsed = started.elapsed();
        assert_eq!(closed, Ok(true), "the server closed the slow connection within 5 s");
        assert!(sent < request.len(), "the whole request went through ({sent} bytes)");
        eprintln!("slowloris: closed after {sent} bytes, {elapsed:?}");
        // A connection that sends nothing at all is closed the same way.
        let mut idle = TcpStream::connect(h.addr).await.unwrap();
        let read = tokio::time::timeout(Duration::from_secs(5), idle.read(&mut buf)).await;
        assert!(matches!(read, Ok(Ok(0) | Err(_))), "an idle connection was closed: {read:?}");
        assert_eq!(h.metrics.refused(), 0, "neither reached a route");
        h.legitimate_delivery().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_beyond_the_limit_are_closed() {
    bounded(async {
        const MAX: usize = 16;
        let header_timeout = Duration::from_secs(3);
        let mut h = start(|config| {
            config.limits.max_connections = MAX;
            config.limits.header_timeout = header_timeout;
        })
        .await;
        let opened = Instant::now();
        let mut idle = Vec::new();
        for _ in 0..MAX {
            idle.push(TcpStream::connect(h.addr).await.unwrap());
        }
        // Connections are accepted in order: these are past the limit, closed at once.
        let mut buf = [0u8; 64];
        for i in 0..8 {
            let mut excess = TcpStream::connect(h.addr).await.unwrap();
            let read = tokio::time::timeout(Duration::from_secs(2), excess.read(&mut buf)).await;
            assert!(matches!(read, Ok(Ok(0) | Err(_))), "excess connection {i} was not closed: {read:?}");
        }
        let excess_gone = opened.elapsed();
        // The first ones were held meanwhile: they go only when their headers do not come in time.
        for (i, stream) in idle.iter_mut().enumerate() {
            let read = tokio::time::timeout(header_timeout + Duration::from_secs(5), stream.read(&mut buf)).await;
            assert!(matches!(read, Ok(Ok(0) | Err(_))), "idle connection {i} was not closed: {read:?}");
            if i == 0 {
                let held = opened.elapsed();
                assert!(held >= header_timeout - Duration::from_millis(500), "an idle connection went after {held:?}");
                assert!(excess_gone < held, "the excess went ({excess_gone:?}) before the idle ones ({held:?})");
            }
        }
        drop(idle);
        // Once they are gone, a normal request succeeds. The server frees a connection's place
        // just after closing it, so the first try may still find the endpoint full: a few tries,
        // each on a new connection.
        let fresh = reqwest::Client::builder().no_proxy().pool_max_idle_per_host(0).build().unwrap();
        let mut succeeded = false;
        for _ in 0..100 {
            let request = fresh.get(format!("{}/healthz", h.url)).send().await;
            if request.is_ok_and(|r| r.status().as_u16() == 200) {
                succeeded = true;
                break;
            }
            tokio::task::yield_now().await;
        }
        assert!(succeeded, "the endpoint serves again once the idle connections are gone");
        assert_eq!(h.metrics.refused(), 0);
        h.legitimate_delivery().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_hooks_are_not_found() {
    bounded(async {
        let mut h = start(|_| {}).await;
        let mut tasks = tokio::task::JoinSet::new();
        // 1,000 requests, four clients of 250, each from its own addresses.
        for worker in 0..4usize {
            let (http, url, now) = (h.http.clone(), h.url.clone(), h.now());
            tasks.spawn(async move {
                for i in 0..250usize {
                    let n = worker * 250 + i;
                    let body = format!(r#"{{"n":{n}}}"#);
                    let headers = generic_headers(SECRET, now, &body);
                    let path = match n % 4 {
                        0 => format!("/hooks/nope-{n}"),
                        1 => format!("/hooks/CI{n}"),
                        2 => "/hooks/semaphore".to_owned(),
                        _ => format!("/hooks/%2e%2e%2f{n}"),
                    };
                    let status = post_with(&http, &url, &path, &attacker(n), &headers, &body).await;
                    assert_eq!(status, 404, "{path}");
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
        assert_eq!(h.count(Outcome::NotFound), 1000);
        assert_eq!(h.accepted(), 0);
        h.assert_nothing_delivered();
        h.legitimate_delivery().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_from_outside_the_allow_list_are_forbidden() {
    bounded(async {
        let mut h = start(|_| {}).await;
        let body = r#"{"who":"ci-bot","version":"1"}"#;
        // Correctly signed, but from outside 192.0.2.0/24: the nearest untrusted hop decides, so
        // an allowed address written further back in the chain changes nothing.
        let outside = ["203.0.113.7", "192.0.2.5, 203.0.113.7", "198.51.100.1", "2001:db8::7", "127.0.0.1", "junk"];
        for (i, client) in outside.into_iter().enumerate() {
            let headers = generic_headers(SECRET, h.now() + i64::try_from(i).unwrap(), body);
            assert_eq!(h.post("/hooks/lan", client, &headers, body).await, 403, "from {client}");
        }
        assert_eq!(h.count(Outcome::Forbidden), 6);
        assert_eq!(h.accepted(), 0);
        h.assert_nothing_delivered();
        // From inside it, through the proxy, the same hook takes it.
        let headers = generic_headers(SECRET, h.now() - 1, body);
        assert_eq!(h.post("/hooks/lan", "203.0.113.7, 192.0.2.5", &headers, body).await, 202, "from inside");
        assert_eq!(h.deliveries.recv().await.unwrap().hook, "lan");
        h.legit = 1;
        h.legitimate_delivery().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_alert_urls_are_not_found() {
    bounded(async {
        let mut h = start(|_| {}).await;
        let alert = r#"{"attachments":[{"title":"Task: deploy","title_link":"https://s/project/2/templates/5?t=7","text":"execution #7, status: ✅SUCCESS!"}]}"#;
        let mut sent = 0;
        for i in 0..200usize {
            let path = match i % 5 {
                0 => format!("/hooks/semaphore/prod/slack/{SECRET}{i}"),
                1 => format!("/hooks/semaphore/prod/slack/{}", &ALERT_SECRET[..31 - i % 31]),
                2 => format!("/hooks/semaphore/staging{i}/slack/{ALERT_SECRET}"),
                3 => format!("/hooks/semaphore/prod/email{i}/{ALERT_SECRET}"),
                _ => format!("/hooks/semaphore/prod/gotify/{}x/message", &ALERT_SECRET[..31]),
            };
            assert_eq!(h.post(&path, &attacker(i), &[], alert).await, 404, "{path}");
            sent += 1;
        }
        assert_eq!(h.metrics.count(Kind::Alert, Outcome::NotFound), sent);
        assert_eq!(h.metrics.count(Kind::Alert, Outcome::Accepted), 0);
        // Nothing is queued for the bot (a zero timeout polls the stream once).
        let queued = tokio::time::timeout(Duration::ZERO, h.alerts.next_event()).await;
        assert!(queued.is_err(), "an alert reached the bot: {queued:?}");
        // The right URL still works, and so do the hooks.
        let good = format!("/hooks/semaphore/prod/slack/{ALERT_SECRET}");
        // Accepted alerts answer 200: Semaphore counts only that as sent for most formats.
        assert_eq!(h.post(&good, LEGIT_CLIENT, &[], alert).await, 200);
        let event = tokio::time::timeout(Duration::from_secs(5), h.alerts.next_event()).await.unwrap();
        assert!(matches!(event, Some(TaskEvent::Alert { task, .. }) if task == TaskId::new(7)), "{event:?}");
        h.legitimate_delivery().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_non_json_is_a_bad_request() {
    bounded(async {
        let mut h = start(|_| {}).await;
        let bodies = ["not json", "{\"unclosed\": ", "", "\u{0}\u{1}\u{2}", "{}{}", "<xml/>"];
        for (i, body) in bodies.into_iter().enumerate() {
            let headers = generic_headers(SECRET, h.now() - i64::try_from(i).unwrap(), body);
            assert_eq!(h.post("/hooks/ci", &attacker(i), &headers, body).await, 400, "generic {body:?}");
            let gitea = [("x-gitea-signature", sign(SECRET.as_bytes(), &[body.as_bytes()]))];
            assert_eq!(h.post("/hooks/gitea", &attacker(i), &gitea, body).await, 400, "gitea {body:?}");
        }
        assert_eq!(h.count(Outcome::BadBody), 12);
        assert_eq!(h.accepted(), 0);
        h.assert_nothing_delivered();
        h.legitimate_delivery().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_declared_as_a_form_is_refused_as_such() {
    bounded(async {
        let h = start(|_| {}).await;
        let http = reqwest::Client::new();
        let url = format!("{}/hooks/gitea", h.url);
        for kind in ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/html"] {
            let body = "payload=%7B%7D";
            let signature = sign(SECRET.as_bytes(), &[body.as_bytes()]);
            let answer = http
                .post(&url)
                .header("content-type", kind)
                .header("x-gitea-signature", signature)
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status().as_u16(), 415, "{kind}");
        }
        assert_eq!(h.count(Outcome::UnsupportedType), 3);
        assert_eq!(h.accepted(), 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_from_one_client_is_rate_limited() {
    bounded(async {
        // 5 requests a second, bursts of 10.
        let mut h = start(|config| config.per_client = NonZeroU32::new(5).unwrap()).await;
        let body = r#"{"who":"mallory"}"#;
        let (mut limited, mut unsigned) = (0, 0);
        for _ in 0..60 {
            match h.post("/hooks/ci", "203.0.113.9", &[], body).await {
                429 => limited += 1,
                401 => unsigned += 1,
                other => panic!("answered {other}"),
            }
        }
        assert!(limited > 0, "no request of the burst was limited");
        assert!(unsigned >= 10, "the burst's allowance went through to the signature check ({unsigned})");
        assert_eq!(h.count(Outcome::RateLimited), limited);
        assert_eq!(h.accepted(), 0);
        eprintln!("burst of 60: {limited} limited, {unsigned} refused unsigned");
        // Another client is not held back by the first one's burst.
        h.legitimate_delivery().await;
    })
    .await;
}

/// A delivery refused for a reason of the endpoint's own (its queue full: 503; the hook's rate
/// limit: 429) must stay deliverable: its sender retries the identical request, which is no
/// replay of anything accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_refused_as_busy_can_be_retried() {
    bounded(async {
        let mut h = start(|config| config.queue = 1).await;
        let first = r#"{"who":"ci-bot","version":"2.0"}"#;
        let headers = generic_headers(SECRET, h.now(), first);
        assert_eq!(h.post("/hooks/ci", LEGIT_CLIENT, &headers, first).await, 202);
        // The bot has not taken the first yet: the queue of one is full.
        let second = r#"{"who":"ci-bot","version":"2.1"}"#;
        let retried = generic_headers(SECRET, h.now(), second);
        assert_eq!(h.post("/hooks/ci", LEGIT_CLIENT, &retried, second).await, 503);
        h.expect_delivery("ci-bot deployed 2.0").await;
        // The sender tries again, the same request.
        assert_eq!(h.post("/hooks/ci", LEGIT_CLIENT, &retried, second).await, 202, "the retry of a 503");
        h.expect_delivery("ci-bot deployed 2.1").await;
    })
    .await;
}
