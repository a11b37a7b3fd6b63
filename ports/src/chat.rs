//! The chat port: what the bot receives from and sends to a chat network (Matrix, or the console
//! in the demo).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::encryption::{EncryptionPort, Verification};
use crate::ids::{RoomId, UserId};

/// A chat event id (`$abc...` on Matrix). Opaque to the domain.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(pub String);

impl std::fmt::Display for EventId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who sent an event, where, when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    pub room: RoomId,
    pub sender: UserId,
    /// The sender's display name in that room, when the chat network knows it.
    pub sender_name: Option<String>,
    pub event_id: EventId,
    /// When the homeserver received the event (origin_server_ts on Matrix).
    pub timestamp: DateTime<Utc>,
}

/// Something that happened in a room the bot is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatEvent {
    /// A text message (`m.text`). Notices and emotes are never delivered as messages: bots talk in
    /// notices, so ignoring them prevents bot-to-bot loops.
    Message {
        meta: Incoming,
        body: String,
        /// The message is part of a thread under this root event.
        thread_root: Option<EventId>,
    },
    /// A reaction (`m.annotation`) with `key` on the event `relates_to`.
    Reaction { meta: Incoming, relates_to: EventId, key: String },
    /// An end-to-end encrypted event the bot could not decrypt (its keys never arrived).
    Undecryptable { meta: Incoming },
    /// A device verification moved on (requested, emojis to compare, done, cancelled). It has no
    /// room message behind it, hence no `Incoming`.
    Verification(Verification),
}

impl ChatEvent {
    /// Who sent the event, where; `None` for events that no room message caused.
    pub fn meta(&self) -> Option<&Incoming> {
        match self {
            Self::Message { meta, .. } | Self::Reaction { meta, .. } | Self::Undecryptable { meta } => Some(meta),
            Self::Verification(_) => None,
        }
    }
}

/// How a message is presented: a notice (the bot's normal voice, never triggers other bots) or an
/// ordinary text message (used where people should be notified, e.g. a task finished).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MessageKind {
    #[default]
    Notice,
    Text,
}

/// A message to post. `body` is the plain-text fallback, always present; `html` is the rich form
/// (already sanitised by the domain's renderer).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OutgoingMessage {
    pub kind: MessageKind,
    pub body: String,
    pub html: Option<String>,
    /// Users mentioned on purpose (Matrix intentional mentions); only they get pinged.
    pub mentions: Vec<UserId>,
    /// Post as a reply to this event.
    pub reply_to: Option<EventId>,
    /// Post inside the thread rooted at this event.
    pub thread_root: Option<EventId>,
    /// Names what caused this message (e.g. the command it answers). A chat network that
    /// supports it sends two messages with the same key only once, so a retry after a crash never
    /// posts twice.
    pub idempotency_key: Option<String>,
}

impl OutgoingMessage {
    pub fn notice(body: impl Into<String>, html: Option<String>) -> Self {
        Self { kind: MessageKind::Notice, body: body.into(), html, ..Self::default() }
    }
    pub fn text(body: impl Into<String>, html: Option<String>) -> Self {
        Self { kind: MessageKind::Text, body: body.into(), html, ..Self::default() }
    }
}

/// A file to upload into a room (e.g. a whole task log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileUpload {
    pub file_name: String,
    pub mime_type: String,
    pub bytes: Vec<u8>,
    /// Text shown with the file.
    pub caption: Option<String>,
}

/// A room the bot has joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomInfo {
    pub id: RoomId,
    pub name: Option<String>,
    /// Whether the bot's power level allows it to post messages there.
    pub can_send: bool,
    pub encrypted: bool,
}

/// A room where only one person and the bot are, for what must not be said in a shared room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectRoom {
    pub room: RoomId,
    /// Made just now: the person has an invite to accept before they see it.
    pub created: bool,
}

/// What went wrong talking to the chat network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChatError {
    #[error("the chat server is unreachable: {0}")]
    Unreachable(String),
    #[error("the chat server refused the request: {0}")]
    Refused(String),
    #[error("room {0} is unknown or not joined")]
    UnknownRoom(String),
    #[error("event {0} is unknown")]
    UnknownEvent(String),
    #[error("this chat connection cannot {0}")]
    Unsupported(&'static str),
}

/// Outgoing side of the chat network. Incoming events reach the domain through the runtime, not
/// through this trait, so the domain stays a plain event handler.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait ChatPort: Send + Sync {
    /// Posts a message; returns its event id (needed for later edits and reactions).
    async fn send(&self, room: &RoomId, message: OutgoingMessage) -> Result<EventId, ChatError>;
    /// Replaces the content of an earlier message of the bot (`m.replace`).
    async fn edit(&self, room: &RoomId, event: &EventId, message: OutgoingMessage) -> Result<EventId, ChatError>;
    /// Reacts to an event with `key` (usually one emoji).
    async fn react(&self, room: &RoomId, event: &EventId, key: &str) -> Result<EventId, ChatError>;
    /// Removes an event: the bot's own (e.g. a reaction that no longer applies), or another's
    /// where the bot's power level allows (a secret answered in a direct room).
    async fn redact(&self, room: &RoomId, event: &EventId, reason: Option<String>) -> Result<(), ChatError>;
    /// Uploads a file into a room.
    async fn upload(&self, room: &RoomId, file: FileUpload) -> Result<EventId, ChatError>;
    /// Rooms the bot is in.
    async fn joined_rooms(&self) -> Result<Vec<RoomInfo>, ChatError>;
    /// Joins a room by id or alias.
    async fn join(&self, room_or_alias: &str) -> Result<RoomId, ChatError>;
    /// Leaves a room.
    async fn leave(&self, room: &RoomId) -> Result<(), ChatError>;
    /// A direct room with `user`: one where only they and the bot are, end-to-end encrypted on
    /// networks that have encryption; an existing one, else a new one they are invited to.
    async fn direct_room(&self, user: &UserId) -> Result<DirectRoom, ChatError> {
        let _ = user;
        Err(ChatError::Unsupported("open a direct room"))
    }
    /// Facts about the connection, for `info`.
    fn connection_info(&self) -> ConnectionInfo;
    /// End-to-end encryption operations, on connections that have them.
    fn encryption(&self) -> Option<std::sync::Arc<dyn EncryptionPort>> {
        None
    }
}

/// What `info` shows about the chat connection.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectionInfo {
    /// e.g. "Matrix" or "console".
    pub network: String,
    pub server: String,
    pub user_id: String,
    pub device_id: Option<String>,
    pub encryption: bool,
    pub connected: bool,
    /// Syncs that failed or got stuck since the start (Matrix).
    pub sync_failures: u64,
}
