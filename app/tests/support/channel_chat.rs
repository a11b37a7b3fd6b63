//! A chat port that hands every message the bot sends to a channel: its room, its body (an
//! edit's marked `(edit) `) and when it reached the port. Used by the in-process tests and the
//! concurrency benchmark (`#[path]`-included there).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use async_trait::async_trait;
use chatrixcd_ports::RoomId;
use chatrixcd_ports::chat::{ChatError, ChatPort, ConnectionInfo, EventId, FileUpload, OutgoingMessage, RoomInfo};
use tokio::sync::mpsc;

pub(crate) type Sent = (RoomId, String, Instant);

pub(crate) struct ChannelChat {
    sent: mpsc::UnboundedSender<Sent>,
    next: AtomicU64,
}

impl ChannelChat {
    pub(crate) fn new() -> (Self, mpsc::UnboundedReceiver<Sent>) {
        let (sent, received) = mpsc::unbounded_channel();
        (Self { sent, next: AtomicU64::new(0) }, received)
    }
}

#[async_trait]
impl ChatPort for ChannelChat {
    async fn send(&self, room: &RoomId, message: OutgoingMessage) -> Result<EventId, ChatError> {
        let _ = self.sent.send((room.clone(), message.body, Instant::now()));
        let n = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        Ok(EventId(format!("$out{n}")))
    }
    async fn edit(&self, room: &RoomId, _: &EventId, message: OutgoingMessage) -> Result<EventId, ChatError> {
        let _ = self.sent.send((room.clone(), format!("(edit) {}", message.body), Instant::now()));
        Ok(EventId("$edit".into()))
    }
    async fn react(&self, _: &RoomId, _: &EventId, _: &str) -> Result<EventId, ChatError> {
        Ok(EventId("$react".into()))
    }
    async fn redact(&self, _: &RoomId, _: &EventId, _: Option<String>) -> Result<(), ChatError> {
        Ok(())
    }
    async fn upload(&self, _: &RoomId, _: FileUpload) -> Result<EventId, ChatError> {
        Ok(EventId("$file".into()))
    }
    async fn joined_rooms(&self) -> Result<Vec<RoomInfo>, ChatError> {
        Ok(Vec::new())
    }
    async fn join(&self, room: &str) -> Result<RoomId, ChatError> {
        RoomId::parse(room).map_err(|e| ChatError::Refused(e.to_string()))
    }
    async fn leave(&self, _: &RoomId) -> Result<(), ChatError> {
        Ok(())
    }
    fn connection_info(&self) -> ConnectionInfo {
        ConnectionInfo { network: "test".into(), ..Default::default() }
    }
}
