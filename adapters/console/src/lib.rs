//! A chat adapter for the terminal: lines typed on stdin become messages in one room, and what
//! the bot posts is printed. It powers `chatrixcd demo` and scripted end-to-end tests.
//!
//! Lines starting with `/` are console directives (see [`ConsoleLine`]); everything else is a
//! message from the current user.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chatrixcd_ports::chat::{
    ChatError, ChatEvent, ChatPort, ConnectionInfo, DirectRoom, EventId, FileUpload, Incoming, MessageKind,
    OutgoingMessage, RoomInfo,
};
use chatrixcd_ports::{Clock, RoomId, UserId};

/// The console's one room.
pub const DEMO_ROOM: &str = "!demo:chatrixcd.local";
/// The console's direct room with the person at the keyboard, for secrets (`/dm`).
pub const DEMO_DIRECT_ROOM: &str = "!direct:chatrixcd.local";
/// The person at the keyboard.
pub const DEMO_USER: &str = "@you:chatrixcd.local";
/// The bot itself.
pub const DEMO_BOT: &str = "@chatrixcd:chatrixcd.local";

/// What one input line means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsoleLine {
    /// A chat event to hand to the bot.
    Event(ChatEvent),
    /// `/wait`: wait until the bot has no task in flight (useful in scripts).
    Wait,
    /// `/as @user:server`: the following lines come from another user.
    SwitchUser(UserId),
    /// `/help`.
    Help,
    /// `/quit`.
    Quit,
    /// Empty line.
    Nothing,
    /// A directive that was not understood; the text says why.
    Invalid(String),
}

/// Help for the console directives.
pub const CONSOLE_HELP: &str = "\
Console directives:
  /react KEY [EVENT]  react with KEY (e.g. 👍, 👎, yes, no) to EVENT, default: the bot's last message
  /as @user:server    send the next lines as another user (try access control, two-person approval)
  /dm TEXT            say TEXT in your direct room with the bot (where it asks for secrets)
  /wait               wait until every watched task has finished
  /help               this help
  /quit               leave (Ctrl-D works too)
Anything else is a chat message, e.g. `!cd help`.";

/// The console chat connection. Clones share state.
#[derive(Clone)]
pub struct ConsoleChat {
    inner: Arc<Inner>,
}

struct Inner {
    out: Mutex<Box<dyn Write + Send>>,
    clock: Arc<dyn Clock>,
    room: RoomId,
    /// The direct room, shown as `(direct)`.
    direct: RoomId,
    bot: UserId,
    sender: Mutex<UserId>,
    next_event: AtomicU64,
    last_bot_event: Mutex<Option<EventId>>,
}

impl std::fmt::Debug for ConsoleChat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleChat").field("room", &self.inner.room).finish_non_exhaustive()
    }
}

fn fixed_id<T, E: std::fmt::Debug>(parsed: Result<T, E>) -> T {
    // The demo ids are compile-time constants checked by the tests below.
    #[allow(clippy::expect_used)]
    parsed.expect("constant demo id is valid")
}

impl ConsoleChat {
    /// A console writing to `out` (stdout in the demo, a buffer in tests).
    pub fn new(out: Box<dyn Write + Send>, clock: Arc<dyn Clock>) -> Self {
        Self {
            inner: Arc::new(Inner {
                out: Mutex::new(out),
                clock,
                room: fixed_id(RoomId::parse(DEMO_ROOM)),
                direct: fixed_id(RoomId::parse(DEMO_DIRECT_ROOM)),
                bot: fixed_id(UserId::parse(DEMO_BOT)),
                sender: Mutex::new(fixed_id(UserId::parse(DEMO_USER))),
                next_event: AtomicU64::new(1),
                last_bot_event: Mutex::new(None),
            }),
        }
    }

    pub fn room(&self) -> &RoomId {
        &self.inner.room
    }

    pub fn bot_user(&self) -> &UserId {
        &self.inner.bot
    }

    pub fn current_user(&self) -> UserId {
        self.inner.sender.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn next_event_id(&self) -> EventId {
        EventId(format!("$c{}", self.inner.next_event.fetch_add(1, Ordering::Relaxed)))
    }

    /// Prints a line of the console itself (not from the bot).
    pub fn say(&self, text: &str) {
        self.write(text);
    }

    fn write(&self, text: &str) {
        let mut out = self.inner.out.lock().unwrap_or_else(PoisonError::into_inner);
        // A closed stdout leaves nothing to tell; the bot keeps running.
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }

    fn meta(&self) -> Incoming {
        Incoming {
            room: self.inner.room.clone(),
            sender: self.current_user(),
            sender_name: None,
            event_id: self.next_event_id(),
            timestamp: self.inner.clock.now(),
        }
    }

    /// Interprets one input line. Switching users takes effect at once.
    pub fn parse_line(&self, line: &str) -> ConsoleLine {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            return ConsoleLine::Nothing;
        }
        let Some(directive) = trimmed.strip_prefix('/') else {
            let meta = self.meta();
            self.write(&format!("[{}] {}: {}", meta.event_id.0.trim_start_matches('$'), meta.sender, trimmed));
            return ConsoleLine::Event(ChatEvent::Message { meta, body: trimmed.to_owned(), thread_root: None });
        };
        if let Some(text) = directive.strip_prefix("dm ").map(str::trim).filter(|t| !t.is_empty()) {
            let mut meta = self.meta();
            meta.room = self.inner.direct.clone();
            // What is said there may be a secret: the console does not print it back.
            self.write(&format!(
                "[{}] (direct) {}: ({} characters)",
                meta.event_id.0.trim_start_matches('$'),
                meta.sender,
                text.chars().count()
            ));
            return ConsoleLine::Event(ChatEvent::Message { meta, body: text.to_owned(), thread_root: None });
        }
        let mut words = directive.split_whitespace();
        match (words.next(), words.next(), words.next(), words.next()) {
            (Some("react"), Some(key), event, None) => {
                let target = match event {
                    Some(e) => Some(EventId(if e.starts_with('$') { e.to_owned() } else { format!("${e}") })),
                    None => self.inner.last_bot_event.lock().unwrap_or_else(PoisonError::into_inner).clone(),
                };
                match target {
                    Some(relates_to) => {
                        let meta = self.meta();
                        self.write(&format!(
                            "{} reacted {key} to [{}]",
                            meta.sender,
                            relates_to.0.trim_start_matches('$')
                        ));
                        ConsoleLine::Event(ChatEvent::Reaction { meta, relates_to, key: key.to_owned() })
                    }
                    None => ConsoleLine::Invalid("there is no bot message to react to yet".into()),
                }
            }
            (Some("react"), ..) => ConsoleLine::Invalid("usage: /react KEY [EVENT]".into()),
            (Some("as"), Some(user), None, None) => match UserId::parse(user) {
                Ok(user) => {
                    *self.inner.sender.lock().unwrap_or_else(PoisonError::into_inner) = user.clone();
                    ConsoleLine::SwitchUser(user)
                }
                Err(e) => ConsoleLine::Invalid(e.to_string()),
            },
            (Some("as"), ..) => ConsoleLine::Invalid("usage: /as @user:server".into()),
            (Some("dm"), ..) => ConsoleLine::Invalid("usage: /dm TEXT".into()),
            (Some("wait"), None, ..) => ConsoleLine::Wait,
            (Some("help"), None, ..) => ConsoleLine::Help,
            (Some("quit" | "exit"), None, ..) => ConsoleLine::Quit,
            _ => ConsoleLine::Invalid(format!("unknown directive `/{directive}`; /help lists them")),
        }
    }

    fn known(&self, room: &RoomId) -> Result<(), ChatError> {
        if room == &self.inner.room || room == &self.inner.direct {
            Ok(())
        } else {
            Err(ChatError::UnknownRoom(room.to_string()))
        }
    }

    fn print_message(&self, id: &EventId, label: &str, message: &OutgoingMessage) {
        let marker = match message.kind {
            MessageKind::Notice => "",
            MessageKind::Text => "🔔 ",
        };
        let mut body = message.body.trim_end().lines();
        let first = body.next().unwrap_or_default();
        let mut text = format!("[{}] chatrixcd{label}: {marker}{first}", id.0.trim_start_matches('$'));
        for line in body {
            text.push_str("\n    ");
            text.push_str(line);
        }
        self.write(&text);
    }
}

#[async_trait]
impl ChatPort for ConsoleChat {
    async fn send(&self, room: &RoomId, message: OutgoingMessage) -> Result<EventId, ChatError> {
        self.known(room)?;
        let id = self.next_event_id();
        let label = if room == &self.inner.direct { " (direct)" } else { "" };
        self.print_message(&id, label, &message);
        *self.inner.last_bot_event.lock().unwrap_or_else(PoisonError::into_inner) = Some(id.clone());
        Ok(id)
    }

    async fn edit(&self, room: &RoomId, event: &EventId, message: OutgoingMessage) -> Result<EventId, ChatError> {
        if room != &self.inner.room {
            return Err(ChatError::UnknownRoom(room.to_string()));
        }
        let id = self.next_event_id();
        self.print_message(event, " (edited)", &message);
        Ok(id)
    }

    async fn react(&self, room: &RoomId, event: &EventId, key: &str) -> Result<EventId, ChatError> {
        if room != &self.inner.room {
            return Err(ChatError::UnknownRoom(room.to_string()));
        }
        self.write(&format!("chatrixcd reacted {key} to [{}]", event.0.trim_start_matches('$')));
        Ok(self.next_event_id())
    }

    async fn redact(&self, room: &RoomId, event: &EventId, _reason: Option<String>) -> Result<(), ChatError> {
        self.known(room)?;
        self.write(&format!("chatrixcd removed [{}]", event.0.trim_start_matches('$')));
        Ok(())
    }

    async fn upload(&self, room: &RoomId, file: FileUpload) -> Result<EventId, ChatError> {
        if room != &self.inner.room {
            return Err(ChatError::UnknownRoom(room.to_string()));
        }
        let id = self.next_event_id();
        let caption = file.caption.as_deref().map(|c| format!(" — {c}")).unwrap_or_default();
        self.write(&format!(
            "[{}] chatrixcd uploaded {} ({}, {} bytes){caption}",
            id.0.trim_start_matches('$'),
            file.file_name,
            file.mime_type,
            file.bytes.len()
        ));
        Ok(id)
    }

    async fn joined_rooms(&self) -> Result<Vec<RoomInfo>, ChatError> {
        Ok(vec![RoomInfo {
            id: self.inner.room.clone(),
            name: Some("Demo console".into()),
            can_send: true,
            encrypted: false,
        }])
    }

    async fn join(&self, room_or_alias: &str) -> Result<RoomId, ChatError> {
        let _ = room_or_alias;
        Err(ChatError::Unsupported("join other rooms: the console has a single room"))
    }

    async fn leave(&self, _room: &RoomId) -> Result<(), ChatError> {
        Err(ChatError::Unsupported("leave its only room"))
    }

    async fn direct_room(&self, user: &UserId) -> Result<DirectRoom, ChatError> {
        let _ = user;
        Ok(DirectRoom { room: self.inner.direct.clone(), created: false })
    }

    fn connection_info(&self) -> ConnectionInfo {
        ConnectionInfo {
            network: "console".into(),
            server: "stdin/stdout".into(),
            user_id: self.inner.bot.to_string(),
            device_id: None,
            encryption: false,
            connected: true,
            sync_failures: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl Buffer {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    struct Fixed;
    impl Clock for Fixed {
        fn now(&self) -> chrono::DateTime<chrono::Utc> {
            DateTime::from_timestamp(0, 0).unwrap()
        }
    }

    fn console() -> (ConsoleChat, Buffer) {
        let buf = Buffer::default();
        (ConsoleChat::new(Box::new(buf.clone()), Arc::new(Fixed)), buf)
    }

    #[test]
    fn demo_ids_are_valid() {
        assert!(RoomId::parse(DEMO_ROOM).is_ok());
        assert!(UserId::parse(DEMO_USER).is_ok());
        assert!(UserId::parse(DEMO_BOT).is_ok());
    }

    #[test]
    fn plain_lines_are_messages_and_directives_are_parsed() {
        let (c, _) = console();
        match c.parse_line("  !cd ping ") {
            ConsoleLine::Event(ChatEvent::Message { body, meta, .. }) => {
                assert_eq!(body, "!cd ping");
                assert_eq!(meta.sender.as_str(), DEMO_USER);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(c.parse_line(""), ConsoleLine::Nothing);
        assert_eq!(c.parse_line("/wait"), ConsoleLine::Wait);
        assert_eq!(c.parse_line("/quit"), ConsoleLine::Quit);
        assert!(matches!(c.parse_line("/bogus"), ConsoleLine::Invalid(_)));
        assert!(matches!(c.parse_line("/react 👍"), ConsoleLine::Invalid(_)), "nothing to react to yet");
        assert!(matches!(c.parse_line("/as bob"), ConsoleLine::Invalid(_)));
        assert!(matches!(c.parse_line("/as @bob:x"), ConsoleLine::SwitchUser(_)));
        assert_eq!(c.current_user().as_str(), "@bob:x");
    }

    #[tokio::test]
    async fn reactions_default_to_the_last_bot_message_and_output_is_printed() {
        let (c, buf) = console();
        let room = c.room().clone();
        let id = c.send(&room, OutgoingMessage::notice("line one\nline two", None)).await.unwrap();
        match c.parse_line("/react 👍") {
            ConsoleLine::Event(ChatEvent::Reaction { relates_to, key, .. }) => {
                assert_eq!(relates_to, id);
                assert_eq!(key, "👍");
            }
            other => panic!("{other:?}"),
        }
        c.edit(&room, &id, OutgoingMessage::notice("changed", None)).await.unwrap();
        let text = buf.text();
        assert!(text.contains("chatrixcd: line one\n    line two"), "{text}");
        assert!(text.contains("chatrixcd (edited): changed"), "{text}");
        let other = RoomId::parse("!x:y").unwrap();
        assert!(c.send(&other, OutgoingMessage::default()).await.is_err());
    }
}
