//! The chat port on Matrix: notices and text with HTML and a plain fallback, intentional
//! mentions, replies, threads, edits, reactions, redactions and uploads.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use chatrixcd_ports::RoomId;
use chatrixcd_ports::chat::{
    ChatError, ChatPort, ConnectionInfo, DirectRoom, EventId, FileUpload, MessageKind, OutgoingMessage, RoomInfo,
};
use matrix_sdk::Client;

use crate::encryption::MatrixEncryption;
use matrix_sdk::attachment::AttachmentConfig;
use matrix_sdk::room::Room;
use matrix_sdk::ruma::events::Mentions;
use matrix_sdk::ruma::events::reaction::ReactionEventContent;
use matrix_sdk::ruma::events::relation::{Annotation, InReplyTo, Reply, Thread};
use matrix_sdk::ruma::events::room::message::{Relation, ReplacementMetadata, RoomMessageEventContent};
use matrix_sdk::ruma::{OwnedEventId, OwnedRoomId, OwnedUserId, RoomOrAliasId};

/// The bot's Matrix connection. Clones share it.
#[derive(Clone)]
pub struct MatrixChat {
    client: Client,
    connected: Arc<AtomicBool>,
    /// Syncs that failed or got stuck (counted by the sync loop).
    sync_failures: Arc<std::sync::atomic::AtomicU64>,
    encryption: MatrixEncryption,
}

impl std::fmt::Debug for MatrixChat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MatrixChat").field("user", &self.client.user_id()).finish_non_exhaustive()
    }
}

/// The homeserver sends a message once per transaction id (for this device's session), so a key
/// naming the message's cause makes a retried send harmless.
fn transaction_id(message: &OutgoingMessage) -> Option<matrix_sdk::ruma::OwnedTransactionId> {
    message.idempotency_key.as_deref().map(|key| {
        // FNV-1a, stable across restarts; the key itself may hold characters ids should not.
        let hash =
            key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3));
        matrix_sdk::ruma::OwnedTransactionId::from(format!("chatrixcd-{hash:016x}"))
    })
}

fn refused(e: impl std::fmt::Display) -> ChatError {
    ChatError::Refused(e.to_string())
}

impl MatrixChat {
    pub(crate) fn new(
        client: Client,
        connected: Arc<AtomicBool>,
        sync_failures: Arc<std::sync::atomic::AtomicU64>,
        encryption: MatrixEncryption,
    ) -> Self {
        Self { client, connected, sync_failures, encryption }
    }

    /// The encryption layer, for `chatrixcd verify` (the bot reaches it through the chat port).
    pub fn encryption_layer(&self) -> &MatrixEncryption {
        &self.encryption
    }

    /// The underlying client, for the runtime (e.g. to stop syncing at shutdown).
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn room(&self, room: &RoomId) -> Result<Room, ChatError> {
        let id = OwnedRoomId::try_from(room.as_str()).map_err(|_| ChatError::UnknownRoom(room.to_string()))?;
        self.client.get_room(&id).ok_or_else(|| ChatError::UnknownRoom(room.to_string()))
    }

    fn event_id(event: &EventId) -> Result<OwnedEventId, ChatError> {
        OwnedEventId::try_from(event.0.as_str()).map_err(|_| ChatError::UnknownEvent(event.to_string()))
    }

    fn content(message: &OutgoingMessage) -> Result<RoomMessageEventContent, ChatError> {
        let mut content = match (message.kind, &message.html) {
            (MessageKind::Notice, Some(html)) => RoomMessageEventContent::notice_html(&message.body, html),
            (MessageKind::Notice, None) => RoomMessageEventContent::notice_plain(&message.body),
            (MessageKind::Text, Some(html)) => RoomMessageEventContent::text_html(&message.body, html),
            (MessageKind::Text, None) => RoomMessageEventContent::text_plain(&message.body),
        };
        // Intentional mentions: only the users named here are pinged, never by accident.
        let users: Vec<OwnedUserId> =
            message.mentions.iter().filter_map(|u| OwnedUserId::try_from(u.as_str()).ok()).collect();
        content = content.add_mentions(Mentions::with_user_ids(users));
        if let Some(root) = &message.thread_root {
            let root = Self::event_id(root)?;
            content.relates_to = Some(Relation::Thread(Thread::plain(root.clone(), root)));
        } else if let Some(reply) = &message.reply_to {
            content.relates_to = Some(Relation::Reply(Reply::new(InReplyTo::new(Self::event_id(reply)?))));
        }
        Ok(content)
    }
}

#[async_trait]
impl ChatPort for MatrixChat {
    async fn send(&self, room: &RoomId, message: OutgoingMessage) -> Result<EventId, ChatError> {
        let room = self.room(room)?;
        let mut request = room.send(Self::content(&message)?);
        if let Some(txn) = transaction_id(&message) {
            request = request.with_transaction_id(txn);
        }
        let started = std::time::Instant::now();
        let sent = request.await.map_err(refused)?;
        tracing::debug!(ms = started.elapsed().as_secs_f64() * 1e3, event = %sent.response.event_id, "sent");
        Ok(EventId(sent.response.event_id.to_string()))
    }

    async fn edit(&self, room: &RoomId, event: &EventId, message: OutgoingMessage) -> Result<EventId, ChatError> {
        let room = self.room(room)?;
        let mut replacement = message;
        // An edit keeps its place: no new reply or thread relation.
        replacement.reply_to = None;
        replacement.thread_root = None;
        let content =
            Self::content(&replacement)?.make_replacement(ReplacementMetadata::new(Self::event_id(event)?, None));
        let mut request = room.send(content);
        if let Some(txn) = transaction_id(&replacement) {
            request = request.with_transaction_id(txn);
        }
        let sent = request.await.map_err(refused)?;
        Ok(EventId(sent.response.event_id.to_string()))
    }

    async fn react(&self, room: &RoomId, event: &EventId, key: &str) -> Result<EventId, ChatError> {
        let room = self.room(room)?;
        let content = ReactionEventContent::new(Annotation::new(Self::event_id(event)?, key.to_owned()));
        let sent = room.send(content).await.map_err(refused)?;
        Ok(EventId(sent.response.event_id.to_string()))
    }

    async fn redact(&self, room: &RoomId, event: &EventId, reason: Option<String>) -> Result<(), ChatError> {
        let room = self.room(room)?;
        room.redact(&Self::event_id(event)?, reason.as_deref(), None).await.map_err(refused)?;
        Ok(())
    }

    async fn upload(&self, room: &RoomId, file: FileUpload) -> Result<EventId, ChatError> {
        let room = self.room(room)?;
        let mime: mime::Mime = file.mime_type.parse().unwrap_or(mime::TEXT_PLAIN);
        let mut config = AttachmentConfig::new();
        if let Some(caption) = file.caption {
            config =
                config.caption(Some(matrix_sdk::ruma::events::room::message::TextMessageEventContent::plain(caption)));
        }
        let sent = room.send_attachment(file.file_name, &mime, file.bytes, config).await.map_err(refused)?;
        Ok(EventId(sent.event_id.to_string()))
    }

    async fn joined_rooms(&self) -> Result<Vec<RoomInfo>, ChatError> {
        let mut rooms = Vec::new();
        let me = self.client.user_id().map(ToOwned::to_owned);
        for room in self.client.joined_rooms() {
            let Ok(id) = RoomId::parse(room.room_id().as_str()) else { continue };
            let can_send = match &me {
                Some(me) => room
                    .power_levels_or_default()
                    .await
                    .user_can_send_message(me, matrix_sdk::ruma::events::MessageLikeEventType::RoomMessage),
                None => false,
            };
            let encrypted = room.latest_encryption_state().await.map(|s| s.is_encrypted()).unwrap_or(false);
            rooms.push(RoomInfo { id, name: room.name(), can_send, encrypted });
        }
        Ok(rooms)
    }

    async fn join(&self, room_or_alias: &str) -> Result<RoomId, ChatError> {
        let target = <&RoomOrAliasId>::try_from(room_or_alias)
            .map_err(|e| ChatError::Refused(format!("`{room_or_alias}`: {e}")))?;
        let room = self.client.join_room_by_id_or_alias(target, &[]).await.map_err(refused)?;
        RoomId::parse(room.room_id().as_str()).map_err(refused)
    }

    async fn leave(&self, room: &RoomId) -> Result<(), ChatError> {
        self.room(room)?.leave().await.map_err(refused)
    }

    /// An encrypted direct room the person is still in (joined, or invited), else a new one
    /// (`create_dm`: trusted private chat, encrypted, the person invited). The bot made it, so
    /// its power level lets it delete what is answered there.
    async fn direct_room(&self, user: &chatrixcd_ports::UserId) -> Result<DirectRoom, ChatError> {
        use matrix_sdk::ruma::events::room::member::MembershipState;
        let user_id = <&matrix_sdk::ruma::UserId>::try_from(user.as_str()).map_err(refused)?;
        for room in self.client.get_dm_rooms(user_id) {
            let encrypted = room.latest_encryption_state().await.map(|s| s.is_encrypted()).unwrap_or(false);
            let present = match room.get_member_no_sync(user_id).await {
                Ok(Some(member)) => matches!(member.membership(), MembershipState::Join | MembershipState::Invite),
                _ => false,
            };
            if encrypted && present {
                let id = RoomId::parse(room.room_id().as_str()).map_err(refused)?;
                return Ok(DirectRoom { room: id, created: false });
            }
        }
        let room = self.client.create_dm(user_id).await.map_err(refused)?;
        tracing::info!(room = %room.room_id(), %user, "opened a direct room");
        let id = RoomId::parse(room.room_id().as_str()).map_err(refused)?;
        Ok(DirectRoom { room: id, created: true })
    }

    fn connection_info(&self) -> ConnectionInfo {
        ConnectionInfo {
            network: "Matrix".into(),
            server: self.client.homeserver().to_string(),
            user_id: self.client.user_id().map(ToString::to_string).unwrap_or_default(),
            device_id: self.client.device_id().map(ToString::to_string),
            encryption: true,
            connected: self.connected.load(Ordering::Relaxed),
            sync_failures: self.sync_failures.load(Ordering::Relaxed),
        }
    }

    fn encryption(&self) -> Option<Arc<dyn chatrixcd_ports::EncryptionPort>> {
        Some(Arc::new(self.encryption.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chatrixcd_ports::UserId;

    fn json(message: &OutgoingMessage) -> serde_json::Value {
        serde_json::to_value(MatrixChat::content(message).unwrap()).unwrap()
    }

    #[test]
    fn notices_carry_html_a_plain_fallback_and_only_the_intended_mentions() {
        let mut message = OutgoingMessage::notice("done **x**", Some("done <b>x</b>".into()));
        message.mentions = vec![UserId::parse("@alice:example.org").unwrap()];
        message.reply_to = Some(EventId("$cmd".into()));
        let v = json(&message);
        assert_eq!(v["msgtype"], "m.notice");
        assert_eq!(v["body"], "done **x**");
        assert_eq!(v["format"], "org.matrix.custom.html");
        assert_eq!(v["formatted_body"], "done <b>x</b>");
        assert_eq!(v["m.mentions"]["user_ids"], serde_json::json!(["@alice:example.org"]));
        assert_eq!(v["m.relates_to"]["m.in_reply_to"]["event_id"], "$cmd");
    }

    #[test]
    fn text_without_mentions_pings_nobody_and_threads_win_over_replies() {
        let mut message = OutgoingMessage::text("plain", None);
        message.thread_root = Some(EventId("$root".into()));
        message.reply_to = Some(EventId("$cmd".into()));
        let v = json(&message);
        assert_eq!(v["msgtype"], "m.text");
        assert!(v.get("formatted_body").is_none());
        assert_eq!(v["m.mentions"], serde_json::json!({}));
        assert_eq!(v["m.relates_to"]["rel_type"], "m.thread");
        assert_eq!(v["m.relates_to"]["event_id"], "$root");
    }

    #[test]
    fn the_same_cause_gives_the_same_transaction_id() {
        let mut a = OutgoingMessage::notice("x", None);
        a.idempotency_key = Some("reply:$cmd:1".into());
        let mut b = a.clone();
        assert_eq!(transaction_id(&a), transaction_id(&b));
        b.idempotency_key = Some("reply:$cmd:2".into());
        assert_ne!(transaction_id(&a), transaction_id(&b));
        assert_eq!(transaction_id(&OutgoingMessage::default()), None);
        assert!(transaction_id(&a).unwrap().as_str().starts_with("chatrixcd-"));
    }

    #[test]
    fn bad_event_ids_are_reported_not_sent() {
        let mut message = OutgoingMessage::text("x", None);
        message.reply_to = Some(EventId("not-an-event-id".into()));
        assert!(matches!(MatrixChat::content(&message), Err(ChatError::UnknownEvent(_))));
    }
}
