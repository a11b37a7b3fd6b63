//! The one way out: every message, edit, reaction, upload and audit line the bot produces goes
//! through the outbox, which redacts secrets, counts, and logs failures. Nothing else in the
//! domain holds the chat port's sending side.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chatrixcd_ports::chat::{ChatPort, EventId, FileUpload, OutgoingMessage};
use chatrixcd_ports::{AuditEntry, Clock, RoomId, Store, UserId};

use crate::redact::Redactor;

/// Counters shown by `info`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub commands: u64,
    pub messages_sent: u64,
    pub errors: u64,
    /// Encrypted events the bot could not decrypt.
    pub undecryptable: u64,
    /// Semaphore's alerts received through the webhook endpoint.
    pub alerts: u64,
    /// Other systems' deliveries posted from named hooks.
    pub hook_deliveries: u64,
}

/// Live counters, shared by every job.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub commands: AtomicU64,
    pub messages_sent: AtomicU64,
    pub errors: AtomicU64,
    pub undecryptable: AtomicU64,
    pub alerts: AtomicU64,
    pub hook_deliveries: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Stats {
        Stats {
            commands: self.commands.load(Ordering::Relaxed),
            messages_sent: self.messages_sent.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            undecryptable: self.undecryptable.load(Ordering::Relaxed),
            alerts: self.alerts.load(Ordering::Relaxed),
            hook_deliveries: self.hook_deliveries.load(Ordering::Relaxed),
        }
    }
}

pub(crate) struct Outbox {
    chat: Arc<dyn ChatPort>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    redactor: Redactor,
    pub(crate) counters: Counters,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").field("counters", &self.counters).finish_non_exhaustive()
    }
}

impl Outbox {
    pub(crate) fn new(
        chat: Arc<dyn ChatPort>,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        redactor: Redactor,
    ) -> Self {
        Self { chat, store, clock, redactor, counters: Counters::default() }
    }

    pub(crate) fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Posts a message, redacted; `None` when it could not be sent (logged and counted).
    pub(crate) async fn post(&self, room: &RoomId, message: OutgoingMessage) -> Option<EventId> {
        let message = self.redacted(message);
        match self.chat.send(room, message).await {
            Ok(id) => {
                Counters::bump(&self.counters.messages_sent);
                Some(id)
            }
            Err(e) => {
                Counters::bump(&self.counters.errors);
                tracing::warn!(room = %room, error = %e, "could not post a message");
                None
            }
        }
    }

    /// Replaces one of the bot's messages, redacted like every post.
    pub(crate) async fn edit(&self, room: &RoomId, event: &EventId, message: OutgoingMessage) {
        let message = self.redacted(message);
        if let Err(e) = self.chat.edit(room, event, message).await {
            Counters::bump(&self.counters.errors);
            tracing::warn!(room = %room, error = %e, "could not edit a message");
        }
    }

    pub(crate) async fn react(&self, room: &RoomId, event: &EventId, key: &str) {
        if let Err(e) = self.chat.react(room, event, key).await {
            tracing::warn!(room = %room, error = %e, "could not react");
        }
    }

    /// Uploads a file; its caption is redacted like a message. The bytes are the caller's to
    /// redact (a log is redacted line by line as it is read).
    pub(crate) async fn upload(
        &self,
        room: &RoomId,
        mut file: FileUpload,
    ) -> Result<EventId, chatrixcd_ports::ChatError> {
        file.caption = file.caption.map(|c| self.redactor.redact(&c).into_owned());
        let sent = self.chat.upload(room, file).await;
        match &sent {
            Ok(_) => Counters::bump(&self.counters.messages_sent),
            Err(_) => Counters::bump(&self.counters.errors),
        }
        sent
    }

    pub(crate) fn redacted(&self, mut message: OutgoingMessage) -> OutgoingMessage {
        message.body = self.redactor.redact(&message.body).into_owned();
        message.html = message.html.map(|h| self.redactor.redact(&h).into_owned());
        message
    }

    /// Appends to the audit log, redacted. A failure is logged and counted, never hidden: the
    /// action it records has already happened.
    pub(crate) async fn audit(&self, actor: &UserId, room: Option<&RoomId>, action: &str, detail: String) {
        let entry = AuditEntry {
            seq: 0,
            at: self.clock.now(),
            actor: actor.clone(),
            room: room.cloned(),
            action: action.to_owned(),
            detail: self.redactor.redact(&detail).into_owned(),
        };
        if let Err(e) = self.store.append_audit(entry).await {
            Counters::bump(&self.counters.errors);
            tracing::error!(action, error = %e, "could not write the audit log");
        }
    }
}
