//! A chat port that accepts everything at once, for benchmarks that measure the bot alone.
#![allow(dead_code)] // each benchmark uses what it needs of it

use async_trait::async_trait;
use chatrixcd_ports::RoomId;
use chatrixcd_ports::chat::{ChatError, ChatPort, ConnectionInfo, EventId, FileUpload, OutgoingMessage, RoomInfo};

/// A chat port that accepts everything at once, keeping only a short trace of what it was given.
#[derive(Default)]
pub(crate) struct NullChat {
    /// Off by default, so that benchmarks of the bot's speed do not measure the trace.
    record: bool,
    /// The first line of the last message sent and the size of the last upload, for a benchmark
    /// to check that the bot answered what it should have.
    last: std::sync::Mutex<(String, usize)>,
}

impl NullChat {
    pub(crate) fn recording() -> Self {
        Self { record: true, ..Self::default() }
    }

    pub(crate) fn last(&self) -> (String, usize) {
        self.last.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl ChatPort for NullChat {
    async fn send(&self, _: &RoomId, message: OutgoingMessage) -> Result<EventId, ChatError> {
        if let (true, Ok(mut last)) = (self.record, self.last.lock()) {
            last.0 = message.body.lines().next().unwrap_or_default().to_owned();
        }
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
    async fn upload(&self, _: &RoomId, file: FileUpload) -> Result<EventId, ChatError> {
        if let (true, Ok(mut last)) = (self.record, self.last.lock()) {
            last.1 = file.bytes.len();
        }
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
