//! The bot: turns chat events into replies and Semaphore calls. One instance per chat connection,
//! driven by the runtime: `handle` for every event, `tick` whenever `next_deadline` is reached.

use std::sync::Arc;

use chatrixcd_ports::chat::{ChatEvent, ChatPort, Incoming, OutgoingMessage};
use chatrixcd_ports::{Clock, EventId, RoomId, SemaphorePort, Store, TaskEvent, UserId};
use chrono::{DateTime, Utc};

use crate::access::{self, Access};
use crate::commands::{self, CommandError, PendingAction};
use crate::confirm::{Answer, Confirmations, Pending, Resolution};
use crate::grammar::{self, GrammarError};
use crate::personality::{Category, Personality};
use crate::redact::Redactor;
use crate::render::Reply;
use crate::settings::Settings;
use crate::watch;

/// The ports the bot talks through.
#[derive(Clone)]
pub struct Deps {
    pub chat: Arc<dyn ChatPort>,
    pub semaphore: Arc<dyn SemaphorePort>,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Deps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deps").finish_non_exhaustive()
    }
}

/// What the runtime should do after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Continue,
    /// An admin confirmed `exit`: finish in-flight work and stop.
    Shutdown,
}

/// Counters shown by `info`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub commands: u64,
    pub messages_sent: u64,
    pub errors: u64,
    /// Encrypted events the bot could not decrypt.
    pub undecryptable: u64,
}

/// Who asked for something, where.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub room: RoomId,
    pub sender: UserId,
    pub sender_name: Option<String>,
    pub event_id: EventId,
    pub access: Access,
}

impl Request {
    fn from_incoming(meta: &Incoming, access: Access) -> Self {
        Self {
            room: meta.room.clone(),
            sender: meta.sender.clone(),
            sender_name: meta.sender_name.clone(),
            event_id: meta.event_id.clone(),
            access,
        }
    }

    pub(crate) fn display_name(&self) -> &str {
        self.sender_name.as_deref().unwrap_or_else(|| self.sender.localpart())
    }
}

#[derive(Debug)]
pub struct Bot {
    pub(crate) deps: Deps,
    pub(crate) settings: Settings,
    pub(crate) personality: Personality,
    pub(crate) redactor: Redactor,
    pub(crate) confirmations: Confirmations<PendingAction>,
    pub(crate) started_at: DateTime<Utc>,
    pub(crate) next_poll: Option<DateTime<Utc>>,
    pub(crate) stats: Stats,
    /// When each room was last told that messages could not be decrypted.
    utd_notices: std::collections::HashMap<RoomId, DateTime<Utc>>,
    /// Where to report each verification's progress: the room it was started or accepted from.
    pub(crate) verification_rooms: std::collections::HashMap<String, RoomId>,
    /// Live tails of task output, posted in threads.
    pub(crate) tails: crate::tail::Tails,
    /// When a watched task outside its project's newest tasks was last fetched on its own.
    pub(crate) checked_alone: std::collections::HashMap<chatrixcd_ports::TaskRef, DateTime<Utc>>,
    /// Projects whose watched tasks did not all fit in the newest 200 at the last poll: they are
    /// polled through the longer task list.
    pub(crate) deep_listing: std::collections::BTreeSet<chatrixcd_ports::ProjectId>,
    /// Whether Semaphore's websocket is open, which makes polling a slower safety net.
    push_open: bool,
    /// The plan summary of runs waiting for approval, shown in their status message.
    pub(crate) plan_summaries: std::collections::HashMap<chatrixcd_ports::TaskId, String>,
    /// When each run's status message was last edited, for the edit gap and the refresh.
    pub(crate) status_edited: std::collections::HashMap<(RoomId, chatrixcd_ports::TaskId), DateTime<Utc>>,
    shutdown_requested: bool,
}

impl Bot {
    pub fn new(deps: Deps, settings: Settings, personality: Personality, redactor: Redactor) -> Self {
        let started_at = deps.clock.now();
        Self {
            deps,
            settings,
            personality,
            redactor,
            confirmations: Confirmations::default(),
            started_at,
            next_poll: None,
            stats: Stats::default(),
            utd_notices: std::collections::HashMap::new(),
            verification_rooms: std::collections::HashMap::new(),
            status_edited: std::collections::HashMap::new(),
            plan_summaries: std::collections::HashMap::new(),
            checked_alone: std::collections::HashMap::new(),
            deep_listing: std::collections::BTreeSet::new(),
            push_open: false,
            tails: crate::tail::Tails::default(),
            shutdown_requested: false,
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Picks up tasks tracked before a restart.
    pub async fn resume(&mut self) {
        match self.deps.store.tracked_tasks().await {
            Ok(tracked) if !tracked.is_empty() => self.next_poll = Some(self.deps.clock.now()),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "could not read tracked tasks; watching resumes when the store is back");
            }
        }
        crate::tail::resume(self).await;
    }

    /// The next moment `tick` has work to do.
    pub fn next_deadline(&self) -> Option<DateTime<Utc>> {
        [self.confirmations.next_deadline(), self.next_poll, self.tails.next_deadline()].into_iter().flatten().min()
    }

    /// True while tasks are being watched or questions are open.
    pub fn has_in_flight_work(&self) -> bool {
        self.next_poll.is_some() || !self.confirmations.is_empty() || !self.tails.is_empty()
    }

    /// True while tasks are being watched.
    pub fn is_watching(&self) -> bool {
        self.next_poll.is_some()
    }

    /// How many watched tasks are still moving on their own (queued or running); a plan waiting
    /// for approval does not count, as only a person can move it on.
    pub async fn tasks_in_motion(&self) -> usize {
        match self.deps.store.tracked_tasks().await {
            Ok(tracked) => {
                tracked.iter().filter(|t| t.last_status != chatrixcd_ports::TaskStatus::WaitingConfirmation).count()
            }
            Err(_) => usize::from(self.is_watching()),
        }
    }

    /// Expires confirmations and polls watched tasks whose time has come.
    pub async fn tick(&mut self) -> Outcome {
        let now = self.deps.clock.now();
        for pending in self.confirmations.expire(now) {
            let phrase = self.personality.pick(Category::Timeout, &[]);
            let reply = Reply::notice().push("⌛ ").push_rich(&phrase.plain, &phrase.html).line().push(&format!(
                "The request to {} expired without an answer; nothing was done.",
                pending.action.describe()
            ));
            self.post(&pending.room, reply.build()).await;
        }
        if self.next_poll.is_some_and(|at| at <= now) {
            let still_watching = watch::poll(self).await;
            self.next_poll = still_watching.then(|| self.deps.clock.now() + self.poll_interval());
        }
        crate::tail::flush_due(self).await;
        crate::tail::save_if_changed(self).await;
        self.outcome()
    }

    /// A push from Semaphore (its websocket). Status changes of watched tasks are shown at once,
    /// without a request; after the push channel was down, a poll catches up on what it missed.
    pub async fn on_task_event(&mut self, event: TaskEvent) -> Outcome {
        match event {
            TaskEvent::Status { project, task, template, status, start, end } => {
                if status.is_terminal() {
                    // A tail paced for a huge log still says at once that its task ended.
                    self.tails.flush_soon(chatrixcd_ports::TaskRef { project, task }, self.deps.clock.now());
                }
                watch::on_status(self, watch::Pushed { project, task, template, status, start, end }).await;
            }
            TaskEvent::Connected => self.set_push_open(true),
            TaskEvent::Reconnected => {
                self.set_push_open(true);
                if self.next_poll.is_some() {
                    self.next_poll = Some(self.deps.clock.now());
                }
            }
            TaskEvent::Disconnected => {
                self.set_push_open(false);
                if self.next_poll.is_some() {
                    self.watch_soon();
                }
            }
            // Output is read from the task's log, by `logs` and by live tails: it has every line,
            // the push channel does not (it drops lines across reconnects). A pushed line only
            // tells live tails that there is more to read.
            TaskEvent::Log { project, task, .. } => {
                self.tails.output_grew(chatrixcd_ports::TaskRef { project, task });
            }
        }
        self.outcome()
    }

    /// Cancels open questions because nobody is left to answer them (the console closed, or the
    /// bot is shutting down).
    pub async fn cancel_open_questions(&mut self, why: &str) {
        for pending in self.confirmations.drain() {
            let reply =
                Reply::notice().push(&format!("❎ Cancelled the request to {}: {why}.", pending.action.describe()));
            self.post(&pending.room, reply.build()).await;
        }
    }

    fn outcome(&self) -> Outcome {
        if self.shutdown_requested { Outcome::Shutdown } else { Outcome::Continue }
    }

    pub async fn handle(&mut self, event: ChatEvent) -> Outcome {
        if let Some(meta) = event.meta()
            && (meta.sender == self.settings.bot_user || self.settings.ignored_users.contains(&meta.sender))
        {
            return Outcome::Continue;
        }
        match event {
            ChatEvent::Verification(verification) => commands::verify::on_progress(self, verification).await,
            ChatEvent::Message { meta, body, .. } => self.handle_message(meta, &body).await,
            ChatEvent::Reaction { meta, relates_to, key } => self.handle_reaction(meta, &relates_to, &key).await,
            ChatEvent::Undecryptable { meta } => self.handle_undecryptable(meta).await,
        }
        crate::tail::save_if_changed(self).await;
        self.outcome()
    }

    /// Says once in a while that messages cannot be read, instead of ignoring them silently: the
    /// sender otherwise waits for an answer that never comes.
    async fn handle_undecryptable(&mut self, meta: Incoming) {
        self.stats.undecryptable += 1;
        tracing::warn!(room = %meta.room, sender = %meta.sender, "an encrypted message could not be decrypted");
        if access::check(&self.settings, &meta.room, &meta.sender) == Access::RoomNotAllowed {
            return;
        }
        let now = self.deps.clock.now();
        let quiet = self.utd_notices.get(&meta.room).is_some_and(|last| now - *last < chrono::Duration::minutes(10));
        if quiet {
            return;
        }
        self.utd_notices.insert(meta.room.clone(), now);
        let reply = Reply::notice()
            .push("🔐 I could not decrypt a message from ")
            .push(meta.sender.as_str())
            .push(
                ". If it was a command, send it again; if this keeps happening, verify my device or share room keys with it \
                 (the operator guide, docs/matrix.md, says how).",
            );
        let mut message = reply.build();
        message.reply_to = Some(meta.event_id.clone());
        self.post(&meta.room, message).await;
    }

    async fn handle_reaction(&mut self, meta: Incoming, relates_to: &EventId, key: &str) {
        if let Some(verdict) = commands::approve::Verdict::from_reaction(key)
            && let Some(waiting) = self.plan_waiting_at(&meta.room, relates_to).await
        {
            self.answer_plan_by_reaction(meta, waiting, verdict).await;
            return;
        }
        let is_admin = access::is_admin(&self.settings, &meta.sender);
        let resolution = self.confirmations.answer_reaction(&meta.room, &meta.sender, relates_to, key, is_admin);
        self.on_resolution(&meta, resolution).await;
    }

    /// The watched run whose status message is `event`, if its plan waits for approval.
    async fn plan_waiting_at(&self, room: &RoomId, event: &EventId) -> Option<chatrixcd_ports::TrackedTask> {
        let tracked = self.deps.store.tracked_tasks().await.ok()?;
        tracked.into_iter().find(|t| {
            &t.room == room
                && t.status_event.as_ref() == Some(event)
                && t.last_status == chatrixcd_ports::TaskStatus::WaitingConfirmation
        })
    }

    async fn answer_plan_by_reaction(
        &mut self,
        meta: Incoming,
        waiting: chatrixcd_ports::TrackedTask,
        verdict: commands::approve::Verdict,
    ) {
        let access = access::check(&self.settings, &meta.room, &meta.sender);
        let req = Request::from_incoming(&meta, access);
        match access {
            Access::Admin => {}
            Access::Viewer => {
                let reply = Reply::notice().push("🔒 Only admins may approve or reject a plan.");
                self.reply(&req, reply).await;
                return;
            }
            // Anyone may react to anything; only the bot's own people get an answer.
            Access::Denied | Access::RoomNotAllowed | Access::NoAdminsConfigured => return,
        }
        let path: &[&'static str] = match verdict {
            commands::approve::Verdict::Approve => &["approve"],
            commands::approve::Verdict::Reject => &["reject"],
        };
        let result = match self.deps.semaphore.task(waiting.project, waiting.task).await {
            Ok(task) => commands::approve::answer(self, &req, &task, verdict).await,
            Err(e) => Err(e.into()),
        };
        if let Err(e) = result {
            self.report_error(&req, path, e).await;
        }
    }

    async fn handle_message(&mut self, meta: Incoming, body: &str) {
        let is_admin = access::is_admin(&self.settings, &meta.sender);
        let resolution = self.confirmations.answer_text(&meta.room, &meta.sender, body, is_admin);
        if !matches!(resolution, Resolution::NotAnAnswer) {
            self.on_resolution(&meta, resolution).await;
            return;
        }
        let Some(command_line) = strip_prefix(body, &self.settings.prefix) else { return };
        let access = access::check(&self.settings, &meta.room, &meta.sender);
        let req = Request::from_incoming(&meta, access);
        let now = self.deps.clock.now();
        if now - meta.timestamp > self.settings.max_command_age {
            let reply = Reply::notice().push(&format!(
                "⏭️ I skipped `{}` because it was sent while I was offline ({} ago). Send it again if it still applies.",
                command_line.trim(),
                crate::render::duration::human(now - meta.timestamp)
            ));
            self.reply(&req, reply).await;
            return;
        }
        match access {
            Access::RoomNotAllowed => {
                tracing::debug!(room = %meta.room, "command in a room outside allowed_rooms ignored");
                return;
            }
            Access::NoAdminsConfigured => {
                let reply = Reply::notice()
                    .push("🔒 I don't take commands from anyone yet: no admin is configured. ")
                    .push("An operator must list trusted Matrix users under ")
                    .code("bot.admin_users")
                    .push(" in the configuration (for example ")
                    .code(&format!("\"admin_users\": [\"{}\"]", meta.sender))
                    .push(") and restart me.");
                self.reply(&req, reply).await;
                return;
            }
            Access::Denied => {
                self.brush_off(&req).await;
                return;
            }
            Access::Admin | Access::Viewer => {}
        }
        self.stats.commands += 1;
        let words = grammar::split_words(command_line);
        let aliases = self.deps.store.aliases().await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "aliases unavailable; running the command as typed");
            Default::default()
        });
        let words = crate::aliases::expand(words, &aliases, commands::REGISTRY);
        if words.is_empty() {
            self.run_parsed(&req, grammar::Parsed { path: vec!["help"], ..Default::default() }).await;
            return;
        }
        match grammar::parse(commands::REGISTRY, &words) {
            Ok(parsed) => self.run_parsed(&req, parsed).await,
            Err(e) => self.usage_error(&req, &e).await,
        }
    }

    async fn run_parsed(&mut self, req: &Request, parsed: grammar::Parsed) {
        let spec = commands::spec_of(&parsed);
        if !req.access.may_run(spec.mutating) {
            let reply = Reply::notice()
                .push("🔒 ")
                .code(&parsed.path.join(" "))
                .push(" changes things, and you may only look. Ask an admin if you need it.");
            self.reply(req, reply).await;
            return;
        }
        let result = match commands::build(&parsed) {
            Ok(command) => commands::execute(self, req, command).await,
            Err(e) => Err(e),
        };
        if let Err(error) = result {
            self.report_error(req, &parsed.path, error).await;
        }
    }

    async fn usage_error(&mut self, req: &Request, error: &GrammarError) {
        let mut reply = Reply::notice().push("🤔 ").push(&error.describe());
        let path = error.path();
        if let Some(spec) = commands::spec_at(path) {
            reply = reply.usage(&spec.usage(&self.settings.prefix, path));
        } else {
            reply = reply
                .line()
                .push("Type ")
                .code(&format!("{} help", self.settings.prefix))
                .push(" to see what I can do.");
        }
        self.reply(req, reply).await;
    }

    pub(crate) async fn report_error(&mut self, req: &Request, path: &[&'static str], error: CommandError) {
        self.stats.errors += 1;
        let reply = match error {
            CommandError::Usage(message) => {
                let mut reply = Reply::notice().push("🤔 ").push(&message);
                if let Some(spec) = commands::spec_at(path) {
                    reply = reply.usage(&spec.usage(&self.settings.prefix, path));
                }
                reply
            }
            CommandError::Refused(message) => Reply::notice().push("🚫 ").push(&message),
            CommandError::Semaphore(e) => Reply::notice().push("⚠️ ").push(&e.to_string()),
            CommandError::Chat(e) => Reply::notice().push("⚠️ ").push(&e.to_string()),
            CommandError::Store(e) => Reply::notice().push("⚠️ ").push(&e.to_string()),
            CommandError::Encryption(e) => Reply::notice().push("🔐 ").push(&e.to_string()),
        };
        self.reply(req, reply).await;
    }

    async fn on_resolution(&mut self, meta: &Incoming, resolution: Resolution<PendingAction>) {
        match resolution {
            Resolution::NotAnAnswer => {}
            Resolution::NotAllowed { pending_requester, approver } => {
                let who = match approver {
                    crate::confirm::Approver::Requester => format!("Only {pending_requester} can answer this request."),
                    crate::confirm::Approver::OtherAdmin if meta.sender == pending_requester => {
                        "This needs approval by another admin; you can only withdraw it (👎 or \"no\").".to_owned()
                    }
                    crate::confirm::Approver::OtherAdmin => {
                        "Only an admin other than the requester can approve this.".to_owned()
                    }
                };
                let reply = Reply::notice().push("✋ ").push(&who);
                self.post(&meta.room, reply.build()).await;
            }
            Resolution::Answered { pending, answer, by } => self.on_answer(meta, pending, answer, by).await,
        }
    }

    async fn on_answer(&mut self, meta: &Incoming, pending: Pending<PendingAction>, answer: Answer, by: UserId) {
        let req = Request {
            room: pending.room.clone(),
            sender: pending.requester.clone(),
            sender_name: None,
            event_id: meta.event_id.clone(),
            access: Access::Admin,
        };
        match answer {
            Answer::No => {
                let phrase = self.personality.pick(Category::Cancel, &[]);
                let reply = Reply::notice()
                    .push("❎ ")
                    .push_rich(&phrase.plain, &phrase.html)
                    .line()
                    .push(&format!("Cancelled: {}.", pending.action.describe()));
                self.reply(&req, reply).await;
            }
            Answer::Yes => {
                let path = pending.action.command_path();
                if let Err(e) = commands::perform(self, &req, pending.action, &by).await {
                    self.report_error(&req, path, e).await;
                }
            }
        }
    }

    pub(crate) fn request_shutdown(&mut self) {
        self.shutdown_requested = true;
    }

    pub(crate) async fn brush_off(&mut self, req: &Request) {
        let phrase = self.personality.pick(Category::BrushOff, &[("name", req.display_name())]);
        let reply = Reply::notice().push_rich(&phrase.plain, &phrase.html);
        self.reply(req, reply).await;
    }

    /// A friendly opening for a reply, when greetings are on.
    pub(crate) fn greeting(&self, req: &Request) -> Reply {
        if !self.settings.greetings {
            return Reply::notice();
        }
        let phrase = self.personality.pick(Category::Greetings, &[("name", req.display_name())]);
        Reply::notice().push_rich(&phrase.plain, &phrase.html).push(" ")
    }

    /// Answers a request, as a reply to the command.
    pub(crate) async fn reply(&mut self, req: &Request, reply: Reply) -> Option<EventId> {
        let mut message = reply.build();
        message.reply_to = Some(req.event_id.clone());
        // The same command answered the same way is one message, even if it is handled twice.
        message.idempotency_key = Some(format!("reply:{}:{:016x}", req.event_id, digest(&message.body)));
        self.post(&req.room, message).await
    }

    /// Posts a message; every byte the bot sends passes here, so redaction happens here.
    pub(crate) async fn post(&mut self, room: &RoomId, message: OutgoingMessage) -> Option<EventId> {
        let message = self.redacted(message);
        match self.deps.chat.send(room, message).await {
            Ok(id) => {
                self.stats.messages_sent += 1;
                Some(id)
            }
            Err(e) => {
                self.stats.errors += 1;
                tracing::warn!(room = %room, error = %e, "could not post a message");
                None
            }
        }
    }

    /// Replaces one of the bot's messages, redacted like every post.
    pub(crate) async fn edit(&mut self, room: &RoomId, event: &EventId, message: OutgoingMessage) {
        let message = self.redacted(message);
        if let Err(e) = self.deps.chat.edit(room, event, message).await {
            self.stats.errors += 1;
            tracing::warn!(room = %room, error = %e, "could not edit a message");
        }
    }

    pub(crate) async fn react(&mut self, room: &RoomId, event: &EventId, key: &str) {
        if let Err(e) = self.deps.chat.react(room, event, key).await {
            tracing::warn!(room = %room, error = %e, "could not react");
        }
    }

    pub(crate) fn redacted(&self, mut message: OutgoingMessage) -> OutgoingMessage {
        message.body = self.redactor.redact(&message.body).into_owned();
        message.html = message.html.map(|h| self.redactor.redact(&h).into_owned());
        message
    }

    /// Appends to the audit log. A failure is logged and counted, never hidden: the action it
    /// records has already happened.
    pub(crate) async fn audit(&mut self, req: &Request, action: &str, detail: String) {
        let entry = chatrixcd_ports::AuditEntry {
            seq: 0,
            at: self.deps.clock.now(),
            actor: req.sender.clone(),
            room: Some(req.room.clone()),
            action: action.to_owned(),
            detail,
        };
        if let Err(e) = self.deps.store.append_audit(entry).await {
            self.stats.errors += 1;
            tracing::error!(action, error = %e, "could not write the audit log");
        }
    }

    /// Whether Semaphore's websocket is open.
    pub(crate) fn push_open(&self) -> bool {
        self.push_open
    }

    fn set_push_open(&mut self, open: bool) {
        self.push_open = open;
        self.tails.push_changed();
    }

    /// The time between two polls of watched tasks: short while only polling sees changes.
    fn poll_interval(&self) -> chrono::Duration {
        if self.push_open { self.settings.safety_poll_interval } else { self.settings.poll_interval }
    }

    pub(crate) fn watch_soon(&mut self) {
        let next = self.deps.clock.now() + self.settings.poll_interval;
        self.next_poll = Some(self.next_poll.map_or(next, |at| at.min(next)));
    }
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

/// The command part of a message, if it starts with the prefix as a whole word (`!cdfoo` is not a
/// command; `!cd` alone is).
pub fn strip_prefix<'a>(body: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = body.trim_start().strip_prefix(prefix)?;
    match rest.chars().next() {
        None => Some(rest),
        Some(c) if c.is_whitespace() => Some(rest.trim()),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{digest, strip_prefix};

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

    #[test]
    fn prefix_needs_a_word_boundary() {
        assert_eq!(strip_prefix("!cd run 1", "!cd"), Some("run 1"));
        assert_eq!(strip_prefix("  !cd   ping  ", "!cd"), Some("ping"));
        assert_eq!(strip_prefix("!cd", "!cd"), Some(""));
        assert_eq!(strip_prefix("!cdfoo", "!cd"), None);
        assert_eq!(strip_prefix("hello !cd ping", "!cd"), None);
        assert_eq!(strip_prefix("!cd\tping", "!cd"), Some("ping"));
    }
}
