//! The bot's core: its ports, settings and the state that outlives one event, shared by every job
//! the bot hands the runtime. Each piece of state sits behind its own lock, taken for a few
//! statements and never across an `.await`, so jobs running at once never wait on each other's
//! I/O.
//!
//! Commands do not see the core: they get a [`Ctx`], which lends them the parts a command uses.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chatrixcd_ports::chat::{ChatPort, EventId, Incoming};
use chatrixcd_ports::{Clock, InstanceId, RoomId, Store, UserId};
use chrono::{DateTime, Utc};

use crate::confirm::{Approver, Confirmations};
use crate::grants::Access;
use crate::instances::{Instance, Instances, UnknownInstance};
use crate::outbox::Outbox;
use crate::personality::{Category, Personality};
use crate::plans::PendingAction;
use crate::redact::Redactor;
use crate::render::Reply;
use crate::settings::Settings;
use crate::tail::Tails;
use crate::watcher::Watchers;

/// Takes a lock. A job that panicked while holding it left data that is still consistent (every
/// critical section is a few plain assignments), so a poisoned lock is used as it is rather than
/// taking the whole bot down with it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The ports the bot talks through.
#[derive(Clone)]
pub struct Deps {
    pub chat: Arc<dyn ChatPort>,
    pub instances: Instances,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    /// Seals secret values kept in presets; without one, presets cannot hold secrets.
    pub sealer: Option<Arc<dyn chatrixcd_ports::Sealer>>,
}

impl std::fmt::Debug for Deps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deps").field("instances", &self.instances).finish_non_exhaustive()
    }
}

/// Who asked for something, where.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub room: RoomId,
    pub sender: UserId,
    pub sender_name: Option<String>,
    pub event_id: EventId,
    /// The named hook this request came from (its run), when not from a person.
    pub via_hook: Option<String>,
    /// The thread the command was typed in, if any (replies that thread stay in it).
    pub thread: Option<EventId>,
}

impl Request {
    pub(crate) fn from_incoming(meta: &Incoming) -> Self {
        Self {
            room: meta.room.clone(),
            sender: meta.sender.clone(),
            sender_name: meta.sender_name.clone(),
            event_id: meta.event_id.clone(),
            via_hook: None,
            thread: None,
        }
    }

    pub(crate) fn display_name(&self) -> &str {
        self.sender_name.as_deref().unwrap_or_else(|| self.sender.localpart())
    }
}

/// The questions waiting for a yes or no.
pub(crate) type Questions = Mutex<Confirmations<PendingAction>>;

#[derive(Debug)]
pub(crate) struct Core {
    pub deps: Deps,
    pub settings: Settings,
    /// Who may do what: config's grants and those made in chat.
    pub access: Access,
    /// Rooms following tasks the bot did not start.
    pub followers: crate::notify::Followers,
    /// Recurring runs.
    pub schedules: crate::schedules::Schedules,
    pub personality: Personality,
    pub out: Outbox,
    pub questions: Questions,
    /// Runs asking their requester for variables.
    pub dialogs: Mutex<crate::dialog::Dialogs>,
    /// What operators see on `/metrics`.
    pub meter: crate::metrics::Meter,
    pub watch: Mutex<Watchers>,
    pub tails: Mutex<Tails>,
    pub started_at: DateTime<Utc>,
    /// When each room was last told that messages could not be decrypted.
    pub utd_notices: Mutex<HashMap<RoomId, DateTime<Utc>>>,
    /// Where to report each verification's progress: the room it was started or accepted from.
    pub verification_rooms: Mutex<HashMap<String, RoomId>>,
    /// Each room's `use` choice as read from the store or last set: every command on an
    /// instance needs it (its lane, then its instance), so it is read from disk once per room.
    room_instances: Mutex<HashMap<RoomId, Option<InstanceId>>>,
    shutdown: AtomicBool,
}

impl Core {
    pub(crate) fn new(deps: Deps, settings: Settings, personality: Personality, redactor: Redactor) -> Self {
        let started_at = deps.clock.now();
        let out = Outbox::new(Arc::clone(&deps.chat), Arc::clone(&deps.store), Arc::clone(&deps.clock), redactor);
        let watch = Watchers::new(deps.instances.iter().map(|i| i.id));
        let access = Access::new(settings.policy());
        let followers = crate::notify::Followers::new(settings.follows.clone());
        let schedules = crate::schedules::Schedules::new(settings.schedule_seconds);
        Self {
            deps,
            settings,
            access,
            followers,
            schedules,
            personality,
            out,
            questions: Mutex::new(Confirmations::default()),
            dialogs: Mutex::new(crate::dialog::Dialogs::default()),
            meter: crate::metrics::Meter::default(),
            watch: Mutex::new(watch),
            tails: Mutex::new(Tails::default()),
            started_at,
            utd_notices: Mutex::new(HashMap::new()),
            verification_rooms: Mutex::new(HashMap::new()),
            room_instances: Mutex::new(HashMap::new()),
            shutdown: AtomicBool::new(false),
        }
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.deps.clock.now()
    }

    pub(crate) fn store(&self) -> &dyn Store {
        self.deps.store.as_ref()
    }

    pub(crate) fn instances(&self) -> &Instances {
        &self.deps.instances
    }

    pub(crate) fn request_shutdown(&self) {
        self.shutdown.store(true, Ordering::SeqCst);
    }

    pub(crate) fn shutdown_requested(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }

    pub(crate) fn ctx(&self) -> Ctx<'_> {
        Ctx { core: self }
    }

    /// Answers a request, as a reply to the command.
    pub(crate) async fn reply(&self, req: &Request, reply: Reply) -> Option<EventId> {
        let mut message = reply.build();
        message.reply_to = Some(req.event_id.clone());
        // The same command answered the same way is one message, even if it is handled twice.
        message.idempotency_key = Some(format!("reply:{}:{:016x}", req.event_id, digest(&message.body)));
        self.out.post(&req.room, message).await
    }
}

/// What a command may use: its instance's Semaphore, the settings, the store and clock, the
/// outbox, the open questions, the watcher and the live tails. Not the event loop, not the
/// registry of commands, not other rooms' requests.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx<'a> {
    core: &'a Core,
}

impl<'a> Ctx<'a> {
    pub(crate) fn settings(&self) -> &'a Settings {
        &self.core.settings
    }
    pub(crate) fn prefix(&self) -> &'a str {
        &self.core.settings.prefix
    }
    pub(crate) fn store(&self) -> &'a dyn Store {
        self.core.deps.store.as_ref()
    }
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.core.deps.clock.now()
    }
    pub(crate) fn instances(&self) -> &'a Instances {
        &self.core.deps.instances
    }
    pub(crate) fn out(&self) -> &'a Outbox {
        &self.core.out
    }
    pub(crate) fn personality(&self) -> &'a Personality {
        &self.core.personality
    }
    /// The chat connection, for what is not a message: rooms, encryption, connection facts.
    pub(crate) fn chat(&self) -> &'a dyn ChatPort {
        self.core.deps.chat.as_ref()
    }
    pub(crate) fn core(&self) -> &'a Core {
        self.core
    }
    pub(crate) fn tails(&self) -> MutexGuard<'a, Tails> {
        lock(&self.core.tails)
    }

    /// The instance a command in `room` works on: the one named in the command, else the one the
    /// room chose with `use`, else the default one.
    pub(crate) async fn instance_for(
        &self,
        room: &RoomId,
        named: Option<&str>,
    ) -> Result<&'a Instance, crate::error::CommandError> {
        resolve_instance(self.core, room, named).await.map_err(|e| crate::error::CommandError::Usage(e.describe()))
    }

    /// Answers a request, as a reply to the command.
    pub(crate) async fn reply(&self, req: &Request, reply: Reply) -> Option<EventId> {
        self.core.reply(req, reply).await
    }

    pub(crate) async fn audit(&self, req: &Request, action: &str, detail: String) {
        self.core.out.audit(&req.sender, Some(&req.room), action, detail).await;
    }

    /// A friendly opening for a reply, when greetings are on.
    pub(crate) fn greeting(&self, req: &Request) -> Reply {
        if !self.core.settings.greetings {
            return Reply::notice();
        }
        let phrase = self.core.personality.pick(Category::Greetings, &[("name", req.display_name())]);
        Reply::notice().push_rich(&phrase.plain, &phrase.html).push(" ")
    }

    /// Opens a confirmation for `action` and posts the question.
    pub(crate) async fn ask(
        &self,
        req: &Request,
        action: PendingAction,
        approver: Approver,
        timeout: chrono::Duration,
        question: Reply,
    ) {
        let deadline = self.now() + timeout;
        let (id, replaced) =
            lock(&self.core.questions).open(req.room.clone(), req.sender.clone(), approver, action, deadline);
        let mut question = question;
        if let Some(old) = replaced {
            question =
                question.line().push(&format!("(This replaces your open request to {}.)", old.action.describe()));
        }
        let how = match approver {
            Approver::Requester => "Answer 👍 or \"yes\" to go ahead, 👎 or \"no\" to cancel",
            Approver::OtherAdmin => "Someone else who may approve it must answer 👍 or \"yes\"; 👎 or \"no\" cancels",
        };
        question = question.line().push(&format!("{how} (within {}).", crate::render::duration::human(timeout)));
        if let Some(event) = self.reply(req, question).await {
            lock(&self.core.questions).attach_event(id, event);
        }
    }

    /// The key presets' secrets are sealed with, when the bot has one.
    pub(crate) fn sealer(&self) -> Option<&dyn chatrixcd_ports::Sealer> {
        self.core.deps.sealer.as_deref()
    }

    /// Closes the requester's open dialog in `room` (a new run replaces it).
    pub(crate) fn close_dialog(&self, room: &RoomId, requester: &UserId) -> Option<crate::dialog::Dialog> {
        lock(&self.core.dialogs).close(room, requester)
    }

    /// How many questions are open (confirmations, and dialogs asking for variables).
    pub(crate) fn open_questions(&self) -> usize {
        lock(&self.core.questions).len() + lock(&self.core.dialogs).len()
    }

    pub(crate) fn request_shutdown(&self) {
        self.core.request_shutdown();
    }
}

/// The instance named (resolved with "did you mean"), else the room's choice, else the default.
/// A room's choice that is no longer configured falls back to the default.
pub(crate) async fn resolve_instance<'a>(
    core: &'a Core,
    room: &RoomId,
    named: Option<&str>,
) -> Result<&'a Instance, UnknownInstance> {
    let instances = &core.deps.instances;
    if let Some(name) = named {
        return instances.resolve(name);
    }
    Ok(room_instance(core, room).await.and_then(|id| instances.get(id)).unwrap_or_else(|| instances.default_instance()))
}

/// The instance a room chose with `use`, if any.
pub(crate) async fn room_instance(core: &Core, room: &RoomId) -> Option<InstanceId> {
    if !core.deps.instances.is_multi() {
        return None;
    }
    if let Some(known) = lock(&core.room_instances).get(room) {
        return *known;
    }
    match core.deps.store.room_settings(room).await {
        Ok(settings) => {
            lock(&core.room_instances).insert(room.clone(), settings.active_instance);
            settings.active_instance
        }
        // Not remembered: the next command tries the store again.
        Err(e) => {
            tracing::warn!(room = %room, error = %e, "cannot read the room's instance; using the default");
            None
        }
    }
}

/// Saves a room's `use` choice, in the store and in the remembered choices.
pub(crate) async fn set_room_instance(
    core: &Core,
    room: &RoomId,
    choice: Option<InstanceId>,
) -> Result<(), chatrixcd_ports::StoreError> {
    let mut settings = core.deps.store.room_settings(room).await?;
    settings.active_instance = choice;
    core.deps.store.set_room_settings(room, settings).await?;
    lock(&core.room_instances).insert(room.clone(), choice);
    Ok(())
}

/// A small, stable digest of `text`, the same in every process (std's hasher is randomised per
/// process, useless across restarts). FNV-1a's step over eight bytes at a time in four
/// independent lanes: a reply's body can be 40 KiB, and a byte-at-a-time chain of multiplies
/// spent microseconds on every `help`.
pub(crate) fn digest(text: &str) -> u64 {
    const BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let step = |hash: u64, word: u64| (hash ^ word).wrapping_mul(PRIME).rotate_left(31);
    let word = |bytes: &[u8]| {
        let mut buf = [0u8; 8];
        buf[..bytes.len()].copy_from_slice(bytes);
        u64::from_le_bytes(buf)
    };
    let bytes = text.as_bytes();
    let mut lanes = [BASIS, BASIS ^ 1, BASIS ^ 2, BASIS ^ 3];
    let mut blocks = bytes.chunks_exact(32);
    for block in &mut blocks {
        for (lane, chunk) in lanes.iter_mut().zip(block.chunks_exact(8)) {
            *lane = step(*lane, word(chunk));
        }
    }
    let mut hash = lanes.iter().fold(BASIS, |hash, &lane| step(hash, lane));
    for chunk in blocks.remainder().chunks(8) {
        hash = step(hash, word(chunk));
    }
    // The length, so that trailing zero bytes count; then a final mix of every bit.
    hash = step(hash, bytes.len() as u64);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^ (hash >> 33)
}

#[cfg(test)]
mod tests {
    use super::digest;

    #[test]
    fn the_digest_is_the_same_in_every_process_and_tells_texts_apart() {
        // Pinned: idempotency keys derive from it, and a restarted bot must find the same ones.
        assert_eq!(digest(""), 0x3109_e81a_253b_878f);
        assert_eq!(digest(&"✅ Semaphore is up · ".repeat(4)), 0xd08f_84a9_d53c_1823);
        let texts: Vec<String> = (0..200)
            .map(|n| "x".repeat(n))
            .chain((0..64).map(|n| format!("{}{}", "a".repeat(n), "\0")))
            .chain(["ab".into(), "ba".into(), "status: success".into(), "status: error".into()])
            .collect();
        let mut seen = std::collections::HashSet::new();
        for text in &texts {
            assert!(seen.insert(digest(text)), "{text:?} collides");
        }
        // Every lane and the tail count: one changed byte anywhere changes the digest.
        let base = "0123456789abcdef".repeat(5);
        for at in 0..base.len() {
            let mut changed = base.clone().into_bytes();
            changed[at] = b'Z';
            assert_ne!(digest(&base), digest(std::str::from_utf8(&changed).unwrap()), "byte {at}");
        }
    }
}
