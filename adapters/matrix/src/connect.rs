//! Logging in, restoring the session, and the sync loop that feeds chat events to the bot.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chatrixcd_ports::chat::{ChatEvent, EventId, Incoming};
use chatrixcd_ports::{RoomId, UserId};
use chrono::DateTime;
use matrix_sdk::config::SyncSettings;
use matrix_sdk::encryption::{BackupDownloadStrategy, EncryptionSettings};
use matrix_sdk::room::Room;
use matrix_sdk::ruma::events::reaction::OriginalSyncReactionEvent;
use matrix_sdk::ruma::events::room::encrypted::OriginalSyncRoomEncryptedEvent;
use matrix_sdk::ruma::events::room::member::{MembershipState, StrippedRoomMemberEvent};
use matrix_sdk::ruma::events::room::message::{MessageType, OriginalSyncRoomMessageEvent, Relation};
use matrix_sdk::ruma::{MilliSecondsSinceUnixEpoch, OwnedDeviceId};
use matrix_sdk::{Client, RoomState};
use tokio::sync::mpsc;

use crate::chat::MatrixChat;
use crate::encryption::MatrixEncryption;
use crate::session;

/// Asked for an invite: may `inviter` bring the bot into `room`? (Both as the homeserver wrote
/// them; the bot's permission policy answers.)
pub type InviterCheck = Arc<dyn Fn(&str, &str) -> bool + Send + Sync>;

/// Who may bring the bot into a room.
#[derive(Clone, Default)]
pub struct InvitePolicy {
    /// Invites to these rooms are accepted, whoever sends them.
    pub rooms: Vec<String>,
    /// Other invites are accepted when this says so; without it, declined.
    pub inviter: Option<InviterCheck>,
}

impl std::fmt::Debug for InvitePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InvitePolicy").field("rooms", &self.rooms).field("inviter", &self.inviter.is_some()).finish()
    }
}

impl InvitePolicy {
    fn allows(&self, inviter: &str, room: &str) -> bool {
        self.rooms.iter().any(|r| r == room) || self.inviter.as_ref().is_some_and(|check| check(inviter, room))
    }
}

/// How to reach and log in to the homeserver. Its `Debug` shows whether a password, token or
/// passphrase is set, never one of them.
#[derive(Clone)]
pub struct MatrixConfig {
    pub homeserver: String,
    pub user_id: String,
    pub password: Option<String>,
    pub access_token: Option<String>,
    /// Reused across logins, so the bot is one device for good.
    pub device_id: Option<String>,
    pub device_name: String,
    /// Holds `session.json` and the sqlite state and crypto stores.
    pub store_dir: PathBuf,
    /// Encrypts the sqlite stores.
    pub store_passphrase: Option<String>,
    pub invites: InvitePolicy,
    /// How long one sync waits for news. Long for the bot (fewer requests); short for
    /// command-line tools, whose steps may wait for the next sync to finish.
    pub sync_timeout: Duration,
    /// How long a start waits for each of matrix-sdk's key backup set-up and the cross-signing
    /// set-up before it goes on anyway (the set-up goes on in the background). Both are
    /// conveniences, not conditions for encryption, so a homeserver slow to answer must not keep
    /// the bot from serving commands.
    pub encryption_patience: Duration,
    /// How long a sync may take beyond its long poll before it counts as stuck and is done
    /// again. A sync answers within one request's time (30 s at most, in matrix-sdk).
    pub sync_patience: Duration,
}

impl std::fmt::Debug for MatrixConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |secret: &Option<String>| secret.as_ref().map(|_| "<redacted>");
        f.debug_struct("MatrixConfig")
            .field("homeserver", &self.homeserver)
            .field("user_id", &self.user_id)
            .field("password", &set(&self.password))
            .field("access_token", &set(&self.access_token))
            .field("device_id", &self.device_id)
            .field("store_dir", &self.store_dir)
            .field("store_passphrase", &set(&self.store_passphrase))
            .field("invites", &self.invites)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MatrixError {
    #[error("cannot open the Matrix store in {dir}: {detail}")]
    Store { dir: PathBuf, detail: String },
    #[error("matrix.homeserver: {0}")]
    Homeserver(String),
    #[error("matrix login failed: {0} (check matrix.user_id and matrix.password or matrix.access_token)")]
    Login(String),
    #[error("matrix.user_id: {0}")]
    UserId(String),
    #[error("the first sync with the homeserver failed: {0}")]
    Sync(String),
}

fn to_utc(ts: MilliSecondsSinceUnixEpoch) -> chrono::DateTime<chrono::Utc> {
    DateTime::from_timestamp_millis(i64::from(ts.0)).unwrap_or_default()
}

/// A client on the configured homeserver and stores, not logged in yet.
async fn build_client(config: &MatrixConfig) -> Result<Client, MatrixError> {
    std::fs::create_dir_all(&config.store_dir)
        .map_err(|e| MatrixError::Store { dir: config.store_dir.clone(), detail: e.to_string() })?;
    Client::builder()
        .homeserver_url(&config.homeserver)
        // A bot is one client with a few rooms: a connection per core and a 500 KB page cache each
        // (matrix-sdk's low-memory settings) instead of four connections per core with 2 MB each.
        .sqlite_store_with_config_and_cache_path(
            matrix_sdk::SqliteStoreConfig::with_low_memory_config(config.store_dir.join("sdk"))
                .passphrase(config.store_passphrase.as_deref()),
            None::<&std::path::Path>,
        )
        .with_encryption_settings(EncryptionSettings {
            // Cross-signing is set up explicitly after login (see `bootstrap_cross_signing`), so
            // token logins get it too.
            auto_enable_cross_signing: false,
            // Room keys go to server-side backup, so a lost store does not lose history; a key
            // the bot lacks is looked up there when a message cannot be decrypted.
            auto_enable_backups: true,
            backup_download_strategy: BackupDownloadStrategy::AfterDecryptionFailure,
        })
        .build()
        .await
        .map_err(|e| MatrixError::Homeserver(e.to_string()))
}

/// The single sign-on URLs of the homeserver (one per identity provider, or one generic), each
/// sending the browser back to `redirect_url` with a `loginToken` when the person has logged in.
pub async fn sso_login_urls(config: &MatrixConfig, redirect_url: &str) -> Result<Vec<(String, String)>, MatrixError> {
    use matrix_sdk::ruma::api::client::session::get_login_types::v3::LoginType;
    let client = build_client(config).await?;
    let auth = client.matrix_auth();
    let types = auth.get_login_types().await.map_err(|e| MatrixError::Homeserver(e.to_string()))?;
    let Some(sso) = types.flows.into_iter().find_map(|t| match t {
        LoginType::Sso(sso) => Some(sso),
        _ => None,
    }) else {
        return Err(MatrixError::Login("the homeserver offers no single sign-on (m.login.sso)".into()));
    };
    let mut urls = Vec::new();
    if sso.identity_providers.is_empty() {
        let url = auth.get_sso_login_url(redirect_url, None).await.map_err(|e| MatrixError::Login(e.to_string()))?;
        urls.push(("single sign-on".to_owned(), url));
    }
    for idp in &sso.identity_providers {
        let url =
            auth.get_sso_login_url(redirect_url, Some(&idp.id)).await.map_err(|e| MatrixError::Login(e.to_string()))?;
        urls.push((idp.name.clone(), url));
    }
    Ok(urls)
}

/// Logs in with a single sign-on login token and saves the session, so `connect` reuses it (and
/// its device) from then on. Returns the device id.
pub async fn login_with_token(config: &MatrixConfig, token: &str) -> Result<String, MatrixError> {
    let client = build_client(config).await?;
    let mut request = client.matrix_auth().login_token(token).initial_device_display_name(&config.device_name);
    if let Some(device) = &config.device_id {
        request = request.device_id(device);
    }
    let response = request.send().await.map_err(|e| MatrixError::Login(e.to_string()))?;
    if response.user_id.as_str() != config.user_id {
        // Not the bot's account (a token from somebody else's login): its new device is ended
        // at once rather than left logged in, and nothing of it is saved.
        if let Err(e) = client.logout().await {
            tracing::warn!(error = %e, "could not end the session a foreign login token opened");
        }
        return Err(MatrixError::Login(format!(
            "the token logged in {}, but matrix.user_id is {}",
            response.user_id, config.user_id
        )));
    }
    let session_file = config.store_dir.join("session.json");
    if let Some(session) = client.matrix_auth().session() {
        session::save(&session_file, &session)
            .map_err(|e| MatrixError::Store { dir: config.store_dir.clone(), detail: e.to_string() })?;
    }
    Ok(response.device_id.to_string())
}

/// Logs in (or restores the saved session), runs a first sync, and starts syncing in the
/// background. Chat events arrive on the returned channel.
pub async fn connect(config: MatrixConfig) -> Result<(MatrixChat, mpsc::Receiver<ChatEvent>), MatrixError> {
    // Each step of a start is logged: a start that hangs (an unreachable homeserver, a stuck
    // store) then says where.
    tracing::info!(store = %config.store_dir.display(), "opening the Matrix store");
    let client = build_client(&config).await?;
    let user_id = matrix_sdk::ruma::OwnedUserId::try_from(config.user_id.as_str())
        .map_err(|e| MatrixError::UserId(e.to_string()))?;
    let session_file = config.store_dir.join("session.json");
    let restored = match session::load(&session_file).filter(|s| s.meta.user_id == user_id) {
        Some(saved) => {
            tracing::info!(device = %saved.meta.device_id, "restoring the saved session");
            client.restore_session(saved).await.map_err(|e| MatrixError::Login(e.to_string()))?;
            true
        }
        None => {
            tracing::info!(homeserver = %config.homeserver, user = %user_id, "logging in");
            login(&client, &config, &user_id).await?;
            if let Some(session) = client.matrix_auth().session()
                && let Err(e) = session::save(&session_file, &session)
            {
                tracing::warn!(file = %session_file.display(), error = %e, "could not save the session; the next start logs in again");
            }
            false
        }
    };

    let (tx, rx) = mpsc::channel(256);
    let connected = Arc::new(AtomicBool::new(false));
    let encryption = MatrixEncryption::new(client.clone(), tx.clone());
    let sync_failures = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let chat = MatrixChat::new(client.clone(), Arc::clone(&connected), Arc::clone(&sync_failures), encryption.clone());
    // A restored session resumes from its stored sync token: what arrived meanwhile is handed
    // over (the bot decides by age). A fresh login skips the room's old history.
    if restored {
        add_handlers(&client, &tx, &config.invites);
        encryption.add_handlers();
    }
    // matrix-sdk sets up key backup and recovery in a task of its own after a login or restore.
    // It finishes before the first sync starts, so that the two never run at once: a first sync
    // running alongside it was seen to hang for minutes on a loaded machine.
    tracing::info!("setting up encryption");
    let encryption_of_client = client.encryption();
    let set_up = encryption_of_client.wait_for_e2ee_initialization_tasks();
    if tokio::time::timeout(config.encryption_patience, set_up).await.is_err() {
        tracing::warn!(waited = ?config.encryption_patience, "key backup is still being set up; going on meanwhile");
    }
    tracing::info!("first sync");
    let first = first_sync(&client, config.sync_patience).await?;
    connected.store(true, Ordering::Relaxed);
    if !restored {
        add_handlers(&client, &tx, &config.invites);
        encryption.add_handlers();
    }
    tracing::info!("checking cross-signing");
    // In a task of its own, so that giving up waiting never cuts an upload in half: a bootstrap
    // that takes too long goes on in the background while the bot starts serving.
    let bootstrap = {
        let (client, user_id, password) = (client.clone(), user_id.clone(), config.password.clone());
        tokio::spawn(async move { bootstrap_cross_signing(&client, &user_id, password.as_deref()).await })
    };
    if tokio::time::timeout(config.encryption_patience, bootstrap).await.is_err() {
        tracing::warn!(
            waited = ?config.encryption_patience,
            "cross-signing is still being set up; serving meanwhile (people can verify this device until it is)"
        );
    }
    // Invites that arrived before the handlers were listening (while the bot was down, or in the
    // first sync of a fresh login) are answered now.
    for room in client.invited_rooms() {
        match room.invite_details().await {
            Ok(invite) => answer_invite(room, invite.inviter_id.to_string(), config.invites.clone()),
            Err(e) => tracing::warn!(room = %room.room_id(), error = %e, "cannot read a pending invite"),
        }
    }
    let stuck_after = config.sync_timeout + config.sync_patience;
    let health = SyncHealth { connected, failures: sync_failures };
    tokio::spawn(sync_forever(client, first.next_batch, health, config.sync_timeout, stuck_after));
    Ok((chat, rx))
}

/// How many times the first sync is tried before the start fails.
const FIRST_SYNC_TRIES: u32 = 3;

/// The first sync, in bounded time: one that is stuck is dropped (which lets go of whatever it
/// held) and tried again, and so is one that failed on the way (the homeserver restarting just
/// then), rather than the start hanging or failing at once. An answer from the homeserver
/// refusing it (an unknown token, say) ends the start: trying again would not change it.
async fn first_sync(client: &Client, patience: Duration) -> Result<matrix_sdk::sync::SyncResponse, MatrixError> {
    let mut why = String::new();
    for attempt in 1..=FIRST_SYNC_TRIES {
        if attempt > 1 {
            tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
        }
        // No long poll: with a stored sync token and nothing new, it would wait out the whole
        // timeout before the bot (or `chatrixcd verify`) could start.
        let sync = client.sync_once(sync_settings(true).timeout(Duration::ZERO));
        match tokio::time::timeout(patience, sync).await {
            Ok(Ok(response)) => return Ok(response),
            Ok(Err(e)) if e.client_api_error_kind().is_some() => return Err(MatrixError::Sync(e.to_string())),
            Ok(Err(e)) => {
                tracing::warn!(attempt, tries_left = FIRST_SYNC_TRIES - attempt, error = %e, "the first sync failed");
                why = e.to_string();
            }
            Err(_) => {
                let left = FIRST_SYNC_TRIES - attempt;
                tracing::warn!(attempt, tries_left = left, waited = ?patience, "the first sync did not finish");
                why = format!("no answer in {patience:?}");
            }
        }
    }
    Err(MatrixError::Sync(format!("{FIRST_SYNC_TRIES} tries; the last: {why}")))
}

/// Gives the account cross-signing keys if it has none, so people verify the bot once (its
/// identity) rather than per device. The homeserver may ask for the password (interactive auth);
/// without one, the bot says how to do it and goes on: cross-signing is a convenience, not a
/// condition for encryption.
async fn bootstrap_cross_signing(client: &Client, user_id: &matrix_sdk::ruma::UserId, password: Option<&str>) {
    use matrix_sdk::ruma::api::client::uiaa;
    let encryption = client.encryption();
    let Err(error) = encryption.bootstrap_cross_signing_if_needed(None).await else { return };
    let retried = match (error.as_uiaa_response(), password.filter(|p| !p.is_empty())) {
        (Some(response), Some(password)) => {
            let mut auth = uiaa::Password::new(
                uiaa::UserIdentifier::Matrix(uiaa::MatrixUserIdentifier::new(user_id.to_string())),
                password.to_owned(),
            );
            auth.session = response.session.clone();
            encryption.bootstrap_cross_signing(Some(uiaa::AuthData::Password(auth))).await
        }
        _ => Err(error),
    };
    if let Err(e) = retried {
        tracing::warn!(
            error = %e,
            "cross-signing is not set up; the homeserver wants interactive auth (set matrix.password, or see docs/matrix.md)"
        );
    }
}

async fn login(client: &Client, config: &MatrixConfig, user_id: &matrix_sdk::ruma::UserId) -> Result<(), MatrixError> {
    if let Some(token) = config.access_token.as_deref().filter(|t| !t.is_empty()) {
        let device = match &config.device_id {
            Some(d) => OwnedDeviceId::from(d.as_str()),
            None => {
                return Err(MatrixError::Login(
                    "an access token needs matrix.device_id (the device the token was issued to)".into(),
                ));
            }
        };
        let session = matrix_sdk::authentication::matrix::MatrixSession {
            meta: matrix_sdk::SessionMeta { user_id: user_id.to_owned(), device_id: device },
            tokens: matrix_sdk::SessionTokens { access_token: token.to_owned(), refresh_token: None },
        };
        return client.restore_session(session).await.map_err(|e| MatrixError::Login(e.to_string()));
    }
    let Some(password) = config.password.as_deref().filter(|p| !p.is_empty()) else {
        return Err(MatrixError::Login(
            "there is no saved session and no matrix.password or matrix.access_token; for single sign-on, log in once \
             with `chatrixcd login --config <file>`"
                .into(),
        ));
    };
    let mut request =
        client.matrix_auth().login_username(user_id, password).initial_device_display_name(&config.device_name);
    if let Some(device) = &config.device_id {
        request = request.device_id(device);
    }
    request.send().await.map_err(|e| MatrixError::Login(e.to_string()))?;
    Ok(())
}

fn add_handlers(client: &Client, tx: &mpsc::Sender<ChatEvent>, invites: &InvitePolicy) {
    let messages = tx.clone();
    client.add_event_handler(move |ev: OriginalSyncRoomMessageEvent, room: Room| {
        let tx = messages.clone();
        async move {
            if room.state() != RoomState::Joined {
                return;
            }
            // Notices and emotes are never commands (that is how bots stay out of loops), and an
            // edit is not a new command.
            let MessageType::Text(text) = &ev.content.msgtype else { return };
            if matches!(ev.content.relates_to, Some(Relation::Replacement(_))) {
                return;
            }
            let thread_root = match &ev.content.relates_to {
                Some(Relation::Thread(thread)) => Some(EventId(thread.event_id.to_string())),
                _ => None,
            };
            let Some(meta) = incoming(&room, ev.sender.as_str(), ev.event_id.as_str(), ev.origin_server_ts).await
            else {
                return;
            };
            let _ = tx.send(ChatEvent::Message { meta, body: text.body.clone(), thread_root }).await;
        }
    });
    let reactions = tx.clone();
    client.add_event_handler(move |ev: OriginalSyncReactionEvent, room: Room| {
        let tx = reactions.clone();
        async move {
            let Some(meta) = incoming(&room, ev.sender.as_str(), ev.event_id.as_str(), ev.origin_server_ts).await
            else {
                return;
            };
            let relates_to = EventId(ev.content.relates_to.event_id.to_string());
            let key = ev.content.relates_to.key.clone();
            let _ = tx.send(ChatEvent::Reaction { meta, relates_to, key }).await;
        }
    });
    let undecryptable = tx.clone();
    client.add_event_handler(move |ev: OriginalSyncRoomEncryptedEvent, room: Room| {
        // Decrypted events arrive as what they contain; an encrypted one here could not be read.
        let tx = undecryptable.clone();
        async move {
            let Some(meta) = incoming(&room, ev.sender.as_str(), ev.event_id.as_str(), ev.origin_server_ts).await
            else {
                return;
            };
            let _ = tx.send(ChatEvent::Undecryptable { meta }).await;
        }
    });
    let policy = invites.clone();
    client.add_event_handler(move |ev: StrippedRoomMemberEvent, room: Room, client: Client| {
        let policy = policy.clone();
        async move {
            let me = client.user_id().map(ToString::to_string).unwrap_or_default();
            if ev.state_key.as_str() != me || ev.content.membership != MembershipState::Invite {
                return;
            }
            answer_invite(room, ev.sender.to_string(), policy);
        }
    });
}

/// Joins if the invite comes from an allowed user or to an allowed room; declines otherwise.
fn answer_invite(room: Room, inviter: String, policy: InvitePolicy) {
    let room_id = room.room_id().to_string();
    tokio::spawn(async move {
        if !policy.allows(&inviter, &room_id) {
            tracing::info!(%inviter, room = %room_id, "declining an invite from someone who may not invite the bot");
            if let Err(e) = room.leave().await {
                tracing::warn!(room = %room_id, error = %e, "could not decline an invite");
            }
            return;
        }
        // Joining right after the invite can race the homeserver; retry with backoff.
        let mut wait = Duration::from_millis(500);
        for attempt in 1..=5 {
            match room.join().await {
                Ok(()) => {
                    tracing::info!(room = %room_id, %inviter, "joined on invite");
                    return;
                }
                Err(e) => {
                    tracing::warn!(room = %room_id, attempt, error = %e, "could not join yet");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
            }
        }
    });
}

async fn incoming(room: &Room, sender: &str, event_id: &str, ts: MilliSecondsSinceUnixEpoch) -> Option<Incoming> {
    // From the homeserver's timestamp to here: its sync answer and matrix-sdk's processing of it
    // (same clock when both run on one machine, as in the benchmarks).
    tracing::debug!(lag_ms = (chrono::Utc::now() - to_utc(ts)).num_microseconds().unwrap_or(0) as f64 / 1e3, %event_id, "event handed to the bot");
    let sender_id = UserId::parse(sender).ok()?;
    let sender_name = match room.get_member_no_sync(&matrix_sdk::ruma::OwnedUserId::try_from(sender).ok()?).await {
        Ok(Some(member)) => member.display_name().map(str::to_owned),
        _ => None,
    };
    Some(Incoming {
        room: RoomId::parse(room.room_id().as_str()).ok()?,
        sender: sender_id,
        sender_name,
        event_id: EventId(event_id.to_owned()),
        timestamp: to_utc(ts),
    })
}

/// The first sync loads members lazily: a bot in big rooms does not need every member list at
/// start (matrix-sdk fetches a room's members itself before it encrypts there). Later syncs do
/// not ask for lazy loading: Synapse then skips computing members per response, which measured
/// 4–5 ms of every command's round trip (docs/performance.md); they only carry membership changes.
/// The timeline per room is capped: after a long downtime the bot reads the newest messages (the
/// only ones young enough to run, see `bot.offline_command_window`), not a room's whole backlog.
/// What the bot never reads is not asked for: presence, typing notifications and read receipts
/// (a room's "ephemeral" events), and per-room account data (read markers, tags). Synapse then
/// skips computing them for every sync, and, more to the point, someone typing or reading no
/// longer wakes the bot's long poll, so a command is not kept waiting behind such a sync.
/// Global account data stays: `m.direct` names the direct rooms, and the secret storage and
/// key backup settings live there.
fn sync_settings(lazy_members: bool) -> SyncSettings {
    use matrix_sdk::ruma::UInt;
    use matrix_sdk::ruma::api::client::filter::{self, FilterDefinition, RoomEventFilter};
    use matrix_sdk::ruma::api::client::sync::sync_events::v3::Filter;
    let mut filter = if lazy_members { FilterDefinition::with_lazy_loading() } else { FilterDefinition::default() };
    filter.room.timeline.limit = Some(UInt::from(TIMELINE_LIMIT));
    filter.presence = filter::Filter::ignore_all();
    filter.room.ephemeral = RoomEventFilter::ignore_all();
    filter.room.account_data = RoomEventFilter::ignore_all();
    SyncSettings::default().filter(Filter::FilterDefinition(filter))
}

/// Events per room and sync; more than a busy ops room sees between two syncs.
const TIMELINE_LIMIT: u32 = 50;

/// `sync_once` in a loop: unlike `Client::sync`, it adds no throttle between syncs, so replies
/// are not delayed by up to a second under traffic.
/// What the sync loop tells the chat port: whether it is syncing, and how often it failed.
struct SyncHealth {
    connected: Arc<AtomicBool>,
    failures: Arc<std::sync::atomic::AtomicU64>,
}

/// The wait after a first failed sync; it doubles with each further one, up to 30 s.
const FIRST_RETRY: Duration = Duration::from_millis(100);

async fn sync_forever(client: Client, token: String, health: SyncHealth, timeout: Duration, stuck_after: Duration) {
    let SyncHealth { connected, failures } = health;
    let mut settings = sync_settings(false).token(token).timeout(timeout);
    let mut backoff = FIRST_RETRY;
    loop {
        // A sync that takes much longer than its long poll is stuck: it is dropped and done again
        // from the same token, so nothing is skipped.
        let Ok(synced) = tokio::time::timeout(stuck_after, client.sync_once(settings.clone())).await else {
            connected.store(false, Ordering::Relaxed);
            failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(waited = ?stuck_after, "a sync did not finish; starting it again");
            continue;
        };
        match synced {
            Ok(response) => {
                settings = settings.token(response.next_batch);
                connected.store(true, Ordering::Relaxed);
                backoff = FIRST_RETRY;
            }
            Err(e) => {
                connected.store(false, Ordering::Relaxed);
                failures.fetch_add(1, Ordering::Relaxed);
                // One failure retried at once is not the operator's concern (a busy store can
                // abort a transaction); a second in a row is, and the counter has every one.
                if backoff == FIRST_RETRY {
                    tracing::info!(error = %e, retry_in = ?backoff, "sync failed");
                } else {
                    tracing::warn!(error = %e, retry_in = ?backoff, "sync failed");
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}
