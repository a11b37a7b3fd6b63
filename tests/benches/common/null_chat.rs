//! A chat port that accepts everything at once, for benchmarks that measure the bot alone.

use async_trait::async_trait;
use chatrixcd_ports::RoomId;
use chatrixcd_ports::chat::{ChatError, ChatPort, ConnectionInfo, EventId, FileUpload, OutgoingMessage, RoomInfo};

/// A chat port that accepts everything at once.
pub(crate) struct NullChat;

#[async_trait]
impl ChatPort for NullChat {
    async fn send(&self, _: &RoomId, message: OutgoingMessage) -> Result<EventId, ChatError> {
        std::hint::black_box(message);
        Ok(EventId("$e".into()))
    }
    async fn edit(&self, _: &RoomId, _: &EventId, _: OutgoingMessage) -> Result<EventId, ChatError> {
        Ok(EventId("$e".into()))
    }
    async fn react(&self, _: &RoomId, _: &EventId, _: &str) -> Result<EventId, ChatError> {
        Ok(EventId("$e".into()))
    }
    async fn redact(&self, _: &RoomId, _: &EventId, _: Option<String>) -> Result<(), ChatError> {
        Ok(())
    }
    async fn upload(&self, _: &RoomId, _: FileUpload) -> Result<EventId, ChatError> {
        Ok(EventId("$e".into()))
    }
    async fn joined_rooms(&self) -> Result<Vec<RoomInfo>, ChatError> {
        Ok(Vec::new())
    }
    async fn join(&self, _: &str) -> Result<RoomId, ChatError> {
        Err(ChatError::Unsupported("join"))
    }
    async fn leave(&self, _: &RoomId) -> Result<(), ChatError> {
        Ok(())
    }
    fn connection_info(&self) -> ConnectionInfo {
        ConnectionInfo::default()
    }
}
