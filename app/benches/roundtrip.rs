//! Command round trip through a real Synapse: the time from the start of a person's
//! `room.send(..)` until that person's sync sees the reply, for the bot (`chatrixcd run`, answering
//! `!cd ping` after asking the simulated Semaphore over loopback) and for a bare echo client on the
//! same server in the same run, in a plain and in an encrypted room.
//!
//! Everyone is a matrix-sdk 0.18 client: "alice" asks, the bot is the real binary in its own
//! process, the echo runs in this process and answers every `m.text` of alice's with an `m.notice`
//! that replies to it. Each responder has a plain and an encrypted room of its own with alice
//! (same shape, same traffic). Samples alternate bot, echo, bot, echo so that both see the same
//! server conditions; one request is in flight at a time and a reply is matched to its request by
//! the event it replies to. Only loopback addresses are used.
//!
//! `cargo bench -p chatrixcd --bench roundtrip`; results in docs/performance.md.
//! `ROUNDTRIP_SAMPLES` (default 200 per kind) and `ROUNDTRIP_WARMUP` (default 20) change the counts;
//! `ROUNDTRIP_COMMAND` (default `!cd ping`) the command.
//!
//! `CHATRIXCD_SRC=<a ChatrixCD checkout>` adds ChatrixCD, the Python bot chatrixcd replaces, as a
//! third responder on the same Synapse, Semaphore and config, interleaved with the others sample
//! by sample (see `support/peer.rs`), and prints the bot's medians as ratios of ChatrixCD's and
//! both bots' resident memory. Without it the peer is skipped, and the run says so.
//!
//! `ROUNDTRIP_SOAK=<n>` then sends the bot n more commands (alternating `ping` and `projects`, one
//! in flight) and prints its resident memory before and after, idle, to show whether it grows.
//! `ROUNDTRIP_BOT_LOG=1` prints the bot's log at the end (what an operator would have seen);
//! `ROUNDTRIP_BOT_BIN=<path>` runs another build of the bot (to compare two builds against the
//! same peer).
//!
//! To see where the bot's extra time goes, `ROUNDTRIP_MIMIC=filter,member,semaphore,html` adds a
//! third responder: an echo that does what the bot does on Matrix, one listed part at a time
//! (`filter`: the bot's lazy-loading sync filter, sent in every sync; `filter-id`: the same filter
//! uploaded once and named by its id; `member`: the sender's member lookup in the
//! store; `semaphore`: `/api/ping` and `/api/info` on the simulated Semaphore over HTTP, as `!cd
//! ping` does; `html`: an HTML notice with intentional mentions, as the bot's replies are).
#![allow(clippy::print_stdout, clippy::print_stderr)] // a benchmark reports on stdout
#![recursion_limit = "256"]

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use chatrixcd_clock::SystemClock;
use chatrixcd_sim_semaphore::http::{self, HttpConfig};
use chatrixcd_sim_semaphore::{SimConfig, SimSemaphore};
use chatrixcd_tests::synapse::Synapse;
use matrix_sdk::config::SyncSettings;
use matrix_sdk::deserialized_responses::EncryptionInfo;
use matrix_sdk::room::Room;
use matrix_sdk::ruma::api::client::filter::FilterDefinition;
use matrix_sdk::ruma::api::client::room::create_room::v3::{Request as CreateRoom, RoomPreset};
use matrix_sdk::ruma::api::client::sync::sync_events::v3::Filter;
use matrix_sdk::ruma::events::relation::{InReplyTo, Reply};
use matrix_sdk::ruma::events::room::encryption::RoomEncryptionEventContent;
use matrix_sdk::ruma::events::room::member::{MembershipState, StrippedRoomMemberEvent};
use matrix_sdk::ruma::events::room::message::{
    MessageType, OriginalSyncRoomMessageEvent, Relation, RoomMessageEventContent,
};
use matrix_sdk::ruma::events::{InitialStateEvent, Mentions};
use matrix_sdk::ruma::{MilliSecondsSinceUnixEpoch, OwnedEventId, OwnedUserId};
use matrix_sdk::{Client, RoomState};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

#[path = "support/mod.rs"]
mod support;
use support::Process;

/// The whole run, set-up included, must end within this.
const TOTAL_BUDGET: Duration = Duration::from_secs(600);
/// One round trip that takes longer than this is a failure, not a sample.
const SAMPLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Between two samples: every responder is back in its long poll when the next request comes, as
/// for a command that arrives at an idle bot.
const PAUSE: Duration = Duration::from_millis(20);
/// The sync timeout of the echo and of alice (the bot's own loop uses 30 s; a long poll returns as
/// soon as there is something new, so this only bounds how long a stop takes).
const SYNC_TIMEOUT: Duration = Duration::from_secs(1);
/// The command asked, unless `ROUNDTRIP_COMMAND` says otherwise.
const COMMAND: &str = "!cd ping";
/// The soak's whole run must end within this, however many commands it was asked for.
const SOAK_BUDGET: Duration = Duration::from_secs(900);

fn env_count(name: &str, default: usize) -> Result<usize> {
    match std::env::var(name) {
        Ok(v) => v.parse().with_context(|| format!("{name}={v} is not a count")),
        Err(_) => Ok(default),
    }
}

/// A message as alice's sync saw it.
#[derive(Debug)]
struct Seen {
    sender: OwnedUserId,
    body: String,
    event_id: OwnedEventId,
    reply_to: Option<OwnedEventId>,
    server_ts: MilliSecondsSinceUnixEpoch,
    at: Instant,
    encrypted: bool,
}

async fn login(url: &str, store: &std::path::Path, user: &str, password: &str) -> Result<(Client, String)> {
    let client = Client::builder().homeserver_url(url).sqlite_store(store, None).build().await?;
    client.matrix_auth().login_username(user, password).send().await.with_context(|| format!("login of {user}"))?;
    // Uploads the device keys before anyone encrypts for this device.
    let first = client.sync_once(SyncSettings::default()).await?;
    Ok((client, first.next_batch))
}

/// `sync_once` in a loop, without `Client::sync`'s throttle.
fn sync_loop(client: Client, token: String, filter: Option<Filter>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut settings = SyncSettings::default().token(token).timeout(SYNC_TIMEOUT);
        if let Some(filter) = filter {
            settings = settings.filter(filter);
        }
        let mut backoff = Duration::from_millis(100);
        loop {
            match client.sync_once(settings.clone()).await {
                Ok(response) => {
                    settings = settings.token(response.next_batch);
                    backoff = Duration::from_millis(100);
                }
                Err(e) => {
                    eprintln!("sync of {:?} failed: {e}", client.user_id());
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    })
}

/// The bare echo: joins on every invite, and answers each `m.text` from `asker` with an
/// `m.notice` replying to it. Sends happen in a task of their own, off the sync loop, as the bot
/// does.
/// What the diagnostic echo does like the bot (see the top of the file).
#[derive(Debug, Clone, Default)]
struct Mimic {
    filter: bool,
    /// The same filter, uploaded once and named by its id in every sync.
    filter_id: bool,
    member: bool,
    /// The simulated Semaphore's base URL.
    semaphore: Option<String>,
    html: bool,
}

impl Mimic {
    fn parse(list: &str, semaphore_url: &str) -> Result<Self> {
        let mut mimic = Self::default();
        for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "filter" => mimic.filter = true,
                "filter-id" => mimic.filter_id = true,
                "member" => mimic.member = true,
                "semaphore" => mimic.semaphore = Some(semaphore_url.to_owned()),
                "html" => mimic.html = true,
                other => bail!("ROUNDTRIP_MIMIC: unknown part {other:?} (filter, filter-id, member, semaphore, html)"),
            }
        }
        Ok(mimic)
    }

    fn describe(&self) -> String {
        let parts: Vec<&str> = [
            (self.filter, "filter"),
            (self.filter_id, "filter-id"),
            (self.member, "member"),
            (self.semaphore.is_some(), "semaphore"),
            (self.html, "html"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
        parts.join("+")
    }
}

async fn semaphore_ping(http: &reqwest::Client, base: &str) -> Result<()> {
    http.get(format!("{base}/api/ping")).bearer_auth("sim-token").send().await?.error_for_status()?.text().await?;
    http.get(format!("{base}/api/info")).bearer_auth("sim-token").send().await?.error_for_status()?.text().await?;
    Ok(())
}

fn start_echo(echo: &Client, asker: OwnedUserId, mimic: Mimic) -> JoinHandle<()> {
    echo.add_event_handler(|ev: StrippedRoomMemberEvent, room: Room, client: Client| async move {
        if client.user_id() == Some(&*ev.state_key) && ev.content.membership == MembershipState::Invite {
            tokio::spawn(async move {
                for _ in 0..20 {
                    if room.join().await.is_ok() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            });
        }
    });
    let (tx, mut rx) = mpsc::unbounded_channel::<(Room, OwnedEventId, String)>();
    let mimic_member = mimic.member;
    echo.add_event_handler(move |ev: OriginalSyncRoomMessageEvent, room: Room| {
        let tx = tx.clone();
        let asker = asker.clone();
        let lookup = mimic_member;
        async move {
            if room.state() != RoomState::Joined || ev.sender != asker {
                return;
            }
            if lookup {
                let _ = room.get_member_no_sync(&ev.sender).await;
            }
            if let MessageType::Text(text) = &ev.content.msgtype {
                let _ = tx.send((room, ev.event_id.clone(), text.body.clone()));
            }
        }
    });
    let http = reqwest::Client::new();
    tokio::spawn(async move {
        while let Some((room, event_id, body)) = rx.recv().await {
            if let Some(base) = &mimic.semaphore
                && let Err(e) = semaphore_ping(&http, base).await
            {
                eprintln!("the echo could not reach Semaphore: {e}");
            }
            let mut reply = if mimic.html {
                RoomMessageEventContent::notice_html(
                    format!(
                        "echo: {body}\n✅ Semaphore is up (version 2.10.32, answered in 1 ms) and accepts my token."
                    ),
                    format!(
                        "echo: {body}<br><font color=\"#4e9a06\">✅ Semaphore is up</font> (version 2.10.32, answered \
                         in 1 ms) and accepts my token."
                    ),
                )
                .add_mentions(Mentions::with_user_ids(Vec::new()))
            } else {
                RoomMessageEventContent::notice_plain(format!("echo: {body}"))
            };
            reply.relates_to = Some(Relation::Reply(Reply::new(InReplyTo::new(event_id))));
            if let Err(e) = room.send(reply).await {
                eprintln!("the echo could not answer: {e}");
            }
        }
    })
}

/// Alice's eyes: every message her sync sees, with the instant it was seen.
fn watch(alice: &Client) -> mpsc::UnboundedReceiver<Seen> {
    let (tx, rx) = mpsc::unbounded_channel();
    alice.add_event_handler(move |ev: OriginalSyncRoomMessageEvent, encryption: Option<EncryptionInfo>| {
        let at = Instant::now();
        let tx = tx.clone();
        async move {
            let reply_to = match &ev.content.relates_to {
                Some(Relation::Reply(reply)) => Some(reply.in_reply_to.event_id.clone()),
                _ => None,
            };
            let _ = tx.send(Seen {
                sender: ev.sender.clone(),
                body: ev.content.body().to_owned(),
                event_id: ev.event_id.clone(),
                reply_to,
                server_ts: ev.origin_server_ts,
                at,
                encrypted: encryption.is_some(),
            });
        }
    });
    rx
}

async fn create_room(alice: &Client, invite: &OwnedUserId, encrypted: bool) -> Result<Room> {
    let mut request = CreateRoom::new();
    request.preset = Some(RoomPreset::PrivateChat);
    request.invite = vec![invite.clone()];
    if encrypted {
        request.initial_state = vec![
            InitialStateEvent::with_empty_state_key(RoomEncryptionEventContent::with_recommended_defaults())
                .to_raw_any(),
        ];
    }
    let room = alice.create_room(request).await?;
    for _ in 0..600 {
        if let Ok(Some(member)) = room.get_member_no_sync(invite).await
            && member.membership() == &MembershipState::Join
        {
            return Ok(room);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("{invite} did not join {} within 60 s", room.room_id())
}

/// One kind of sample: a responder in a room.
struct Kind {
    name: &'static str,
    room: Room,
    responder: OwnedUserId,
    encrypted: bool,
    /// The reply is the responder's next message (ChatrixCD's answers are not Matrix replies),
    /// rather than the message that replies to the request.
    next_message: bool,
    round_trips: Vec<Duration>,
    send_calls: Vec<Duration>,
    /// The reply's server timestamp minus the request's: the responder's share, in ms.
    server_gaps: Vec<Duration>,
    /// What the bot's reply says Semaphore took ("answered in N ms").
    semaphore: Vec<Duration>,
}

impl Kind {
    fn new(name: &'static str, room: Room, responder: &OwnedUserId, encrypted: bool) -> Self {
        Self {
            name,
            room,
            responder: responder.clone(),
            encrypted,
            next_message: false,
            round_trips: Vec::new(),
            send_calls: Vec::new(),
            server_gaps: Vec::new(),
            semaphore: Vec::new(),
        }
    }

    fn answering_with_next_message(mut self) -> Self {
        self.next_message = true;
        self
    }

    /// One request, one reply; `record` false for the warm-up.
    async fn sample(&mut self, seen: &mut mpsc::UnboundedReceiver<Seen>, command: &str, record: bool) -> Result<()> {
        while seen.try_recv().is_ok() {}
        let start = Instant::now();
        let sent = self.room.send(RoomMessageEventContent::text_plain(command)).await?;
        let send_call = start.elapsed();
        let request = sent.response.event_id;
        let mut request_ts = None;
        let deadline = tokio::time::Instant::now() + SAMPLE_TIMEOUT;
        let reply = loop {
            let event = tokio::time::timeout_at(deadline, seen.recv())
                .await
                .map_err(|_| anyhow!("{}: no reply to {request} within {SAMPLE_TIMEOUT:?}", self.name))?
                .ok_or_else(|| anyhow!("alice stopped watching"))?;
            if event.event_id == request {
                request_ts = Some(event.server_ts);
            } else if event.sender == self.responder
                && (event.reply_to.as_ref() == Some(&request) || (self.next_message && request_ts.is_some()))
            {
                break event;
            }
        };
        if reply.encrypted != self.encrypted {
            bail!("{}: a reply with encrypted = {}, expected {}", self.name, reply.encrypted, self.encrypted);
        }
        if record {
            self.round_trips.push(reply.at.duration_since(start));
            self.send_calls.push(send_call);
            if let Some(n) = reply.body.split("answered in ").nth(1).and_then(|r| r.split(' ').next())
                && let Ok(n) = n.parse::<u64>()
            {
                self.semaphore.push(Duration::from_millis(n));
            }
            if let Some(ts) = request_ts {
                let gap = u64::from(reply.server_ts.get()).saturating_sub(u64::from(ts.get()));
                self.server_gaps.push(Duration::from_millis(gap));
            }
        }
        Ok(())
    }
}

fn percentile(values: &[Duration], p: f64) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort();
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    // Nearest rank.
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn median(values: &[Duration]) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort();
    match sorted.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The processes whose memory the run reports, and who they are on Matrix.
struct Responders<'a> {
    bot: &'a OwnedUserId,
    bot_process: &'a Process,
    /// ChatrixCD, when `CHATRIXCD_SRC` gave a checkout.
    peer: Option<(&'a OwnedUserId, &'a Process)>,
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(|| "?".to_owned(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
}

async fn measure(
    synapse: &Synapse,
    dir: &std::path::Path,
    responders: &Responders<'_>,
    semaphore_url: &str,
    started: Instant,
) -> Result<()> {
    let bot = responders.bot;
    let samples = env_count("ROUNDTRIP_SAMPLES", 200)?;
    let warmup = env_count("ROUNDTRIP_WARMUP", 20)?;
    let soak = env_count("ROUNDTRIP_SOAK", 0)?;
    let command = std::env::var("ROUNDTRIP_COMMAND").unwrap_or_else(|_| COMMAND.to_owned());
    let mimic = match std::env::var("ROUNDTRIP_MIMIC") {
        Ok(list) => Some(Mimic::parse(&list, semaphore_url)?),
        Err(_) => None,
    };
    let (alice, alice_token) = login(&synapse.url, &dir.join("alice"), "alice", "alicepass").await?;
    let (echo, echo_token) = login(&synapse.url, &dir.join("echo"), "echo", "echopass").await?;
    let alice_id = alice.user_id().context("alice is logged in")?.to_owned();
    let echo_id = echo.user_id().context("echo is logged in")?.to_owned();
    let mut seen = watch(&alice);
    let echoing = start_echo(&echo, alice_id.clone(), Mimic::default());
    let mut tasks =
        vec![sync_loop(alice.clone(), alice_token, None), sync_loop(echo.clone(), echo_token, None), echoing];
    let mut mimic_client = None;
    if let Some(mimic) = &mimic {
        let (client, token) = login(&synapse.url, &dir.join("mimic"), "mimic", "mimicpass").await?;
        tasks.push(start_echo(&client, alice_id, mimic.clone()));
        let filter = if mimic.filter_id {
            let id = client.get_or_upload_filter("lazy-members", FilterDefinition::with_lazy_loading()).await?;
            Some(Filter::FilterId(id))
        } else {
            mimic.filter.then(|| Filter::FilterDefinition(FilterDefinition::with_lazy_loading()))
        };
        tasks.push(sync_loop(client.clone(), token, filter));
        mimic_client = Some(client);
    }

    let result = async {
        // Plain rooms first, then encrypted ones; each group's responders take turns.
        let mut plain = vec![
            Kind::new("plain, bot", create_room(&alice, bot, false).await?, bot, false),
            Kind::new("plain, echo", create_room(&alice, &echo_id, false).await?, &echo_id, false),
        ];
        let mut encrypted = vec![
            Kind::new("encrypted, bot", create_room(&alice, bot, true).await?, bot, true),
            Kind::new("encrypted, echo", create_room(&alice, &echo_id, true).await?, &echo_id, true),
        ];
        if let Some((peer, _)) = responders.peer {
            plain.push(
                Kind::new("plain, ChatrixCD", create_room(&alice, peer, false).await?, peer, false)
                    .answering_with_next_message(),
            );
            encrypted.push(
                Kind::new("encrypted, ChatrixCD", create_room(&alice, peer, true).await?, peer, true)
                    .answering_with_next_message(),
            );
        } else {
            println!("ChatrixCD: skipped (set CHATRIXCD_SRC to a ChatrixCD checkout to measure it beside the bot)");
        }
        if let (Some(client), Some(mimic)) = (&mimic_client, &mimic) {
            let id = client.user_id().context("mimic is logged in")?.to_owned();
            let name = mimic.describe();
            println!("diagnostic echo: {name}");
            plain.push(Kind::new("plain, echo like the bot", create_room(&alice, &id, false).await?, &id, false));
            encrypted.push(Kind::new("encrypted, echo like the bot", create_room(&alice, &id, true).await?, &id, true));
        }
        println!(
            "set-up done in {:.1} s; {warmup} warm-up and {samples} samples per kind of `{command}`",
            started.elapsed().as_secs_f64()
        );
        // Both bots idle in their rooms: what a quiet bot holds.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let idle = (responders.bot_process.rss_kib(), responders.peer.and_then(|(_, p)| p.rss_kib()));
        let measuring = Instant::now();
        for round in 0..warmup + samples {
            if started.elapsed() > TOTAL_BUDGET {
                bail!(
                    "aborted: the run passed its budget of {} s at round {round} of {} (is Synapse or the machine \
                     very slow?)",
                    TOTAL_BUDGET.as_secs(),
                    warmup + samples
                );
            }
            // Who goes first turns round from round to round, so no responder always follows
            // the same one.
            for group in [&mut plain, &mut encrypted] {
                let n = group.len();
                for i in 0..n {
                    group[(i + round) % n].sample(&mut seen, &command, round >= warmup).await?;
                    tokio::time::sleep(PAUSE).await;
                }
            }
        }
        println!("measured in {:.1} s\n", measuring.elapsed().as_secs_f64());
        println!("| Room, responder | median | p95 | min | max | send() call, median | server-side gap, median |");
        println!("|---|---|---|---|---|---|---|");
        for kind in plain.iter().chain(encrypted.iter()) {
            println!(
                "| {} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.0} ms |",
                kind.name,
                ms(median(&kind.round_trips)),
                ms(percentile(&kind.round_trips, 0.95)),
                ms(percentile(&kind.round_trips, 0.0)),
                ms(percentile(&kind.round_trips, 1.0)),
                ms(median(&kind.send_calls)),
                ms(median(&kind.server_gaps)),
            );
        }
        println!();
        for kind in plain.iter().chain(encrypted.iter()).filter(|k| k.responder == *bot && !k.semaphore.is_empty()) {
            println!(
                "{}: Semaphore answered the bot in {:.0} ms median, {:.0} ms p95 (ms resolution)",
                kind.name,
                ms(median(&kind.semaphore)),
                ms(percentile(&kind.semaphore, 0.95))
            );
        }
        for group in [&plain, &encrypted] {
            let (bot_kind, echo_kind) = (&group[0], &group[1]);
            let room = if bot_kind.encrypted { "encrypted" } else { "plain" };
            let added = ms(median(&bot_kind.round_trips)) - ms(median(&echo_kind.round_trips));
            println!("{room}: the bot adds {added:+.1} ms to the bare echo's median");
            if let Some(peer) = group.iter().find(|k| k.next_message) {
                let ratio = ms(median(&bot_kind.round_trips)) / ms(median(&peer.round_trips));
                let gap = ms(median(&bot_kind.server_gaps));
                println!(
                    "{room}: the bot's median round trip is {ratio:.2}× ChatrixCD's (target ≤ 0.80 {}); server-side \
                     gap {gap:.0} ms against ChatrixCD's {:.0} ms (target ≤ 25 ms {})",
                    if ratio <= 0.8 { "✓" } else { "✗" },
                    ms(median(&peer.server_gaps)),
                    if gap <= 25.0 { "✓" } else { "✗" },
                );
            }
        }
        let after = (responders.bot_process.rss_kib(), responders.peer.and_then(|(_, p)| p.rss_kib()));
        println!("\nresident memory, idle before the samples → after them: bot {} → {}", mib(idle.0), mib(after.0));
        if responders.peer.is_some() {
            println!(
                "resident memory, idle before the samples → after them: ChatrixCD {} → {}",
                mib(idle.1),
                mib(after.1)
            );
        }
        if soak > 0 {
            soak_bot(&mut plain[0], &mut seen, soak, responders.bot_process).await?;
        }
        Ok(())
    }
    .await;
    for task in tasks {
        task.abort();
        let _ = task.await;
    }
    let _ = alice.logout().await;
    let _ = echo.logout().await;
    if let Some(client) = mimic_client {
        let _ = client.logout().await;
    }
    result
}

/// `count` more commands to the bot, one in flight, then its memory idle against before.
async fn soak_bot(
    kind: &mut Kind,
    seen: &mut mpsc::UnboundedReceiver<Seen>,
    count: usize,
    bot: &Process,
) -> Result<()> {
    let started = Instant::now();
    let before = bot.rss_kib();
    let mut checkpoints = Vec::new();
    for i in 0..count {
        if started.elapsed() > SOAK_BUDGET {
            bail!("the soak passed its budget of {} s after {i} of {count} commands", SOAK_BUDGET.as_secs());
        }
        let command = if i % 2 == 0 { "!cd ping" } else { "!cd projects" };
        kind.sample(seen, command, false).await?;
        if (i + 1) % (count / 4).max(1) == 0 {
            checkpoints.push((i + 1, bot.rss_kib()));
        }
    }
    let took = started.elapsed();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after = bot.rss_kib();
    println!(
        "\nsoak: {count} commands in {:.1} s; bot resident memory {} before, {} after (idle 5 s); on the way: {}",
        took.as_secs_f64(),
        mib(before),
        mib(after),
        checkpoints.iter().map(|(n, kib)| format!("{n}: {}", mib(*kib))).collect::<Vec<_>>().join(", ")
    );
    Ok(())
}

fn run() -> Result<()> {
    let started = Instant::now();
    let peer_src = support::peer::checkout()?;
    let peer_python = peer_src.as_deref().map(support::peer::python).transpose()?;
    let synapse = Synapse::start().context("a local Synapse (see tests/src/synapse.rs)")?;
    let bot: OwnedUserId = synapse.register("bot", "botpass", false)?.as_str().try_into()?;
    let alice = synapse.register("alice", "alicepass", false)?;
    synapse.register("echo", "echopass", false)?;
    synapse.register("mimic", "mimicpass", false)?;
    let dir = tempfile::tempdir()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let semaphore_url = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let sim = SimSemaphore::demo(SimConfig::default(), Arc::new(SystemClock));
        tokio::spawn(http::serve(listener, sim, HttpConfig::new("sim-token")));
        anyhow::Ok(url)
    })?;
    // The same ChatrixCD-style config.json for both bots, apart from who they are.
    let config_of = |user: &str, password: &str, store: &std::path::Path| {
        chatrixcd_tests::bot_config::BotConfig {
            homeserver: &synapse.url,
            bot: user,
            login: &format!(r#""password": "{password}""#),
            store,
            semaphore_url: &semaphore_url,
            semaphore_token: "sim-token",
            admin: &alice,
        }
        .text()
    };
    let config = dir.path().join("config.json");
    std::fs::write(&config, config_of(bot.as_str(), "botpass", &dir.path().join("store")))?;
    let log_path = dir.path().join("bot.log");
    let log = std::fs::File::create(&log_path)?;
    let process = Process(
        Command::new(std::env::var_os("ROUNDTRIP_BOT_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_chatrixcd").into()))
            .args(["run", "--config"])
            .arg(&config)
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting the bot")?,
    );
    let peer = match (&peer_src, &peer_python) {
        (Some(src), Some(python)) => {
            let user: OwnedUserId = synapse.register("peer", "peerpass", false)?.as_str().try_into()?;
            let peer_dir = dir.path().join("chatrixcd");
            let text = config_of(user.as_str(), "peerpass", &peer_dir.join("store"));
            let (process, log) = support::peer::start(src, python, &text, &peer_dir)?;
            Some((user, process, log))
        }
        _ => None,
    };
    let responders =
        Responders { bot: &bot, bot_process: &process, peer: peer.as_ref().map(|(user, process, _)| (user, process)) };
    let result = runtime.block_on(measure(&synapse, dir.path(), &responders, &semaphore_url, started));
    if result.is_err() {
        eprintln!("--- bot log ---\n{}", std::fs::read_to_string(&log_path).unwrap_or_default());
        if let Some((_, _, log)) = &peer {
            eprintln!("--- ChatrixCD log (the end) ---\n{}", support::tail(log, 60));
        }
    }
    if std::env::var_os("ROUNDTRIP_BOT_LOG").is_some() {
        println!("--- bot log ---\n{}", std::fs::read_to_string(&log_path).unwrap_or_default());
    }
    drop(peer);
    drop(process);
    drop(runtime);
    result
}

fn main() {
    // `cargo bench` passes `--bench`; there is nothing to choose here.
    if let Err(e) = run() {
        eprintln!("roundtrip benchmark failed: {e:#}");
        std::process::exit(1);
    }
}
