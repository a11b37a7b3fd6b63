//! Test support: a chat port that records what the bot posts, and a bot wired to fakes.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chatrixcd_ports::chat::{
    ChatError, ChatEvent, ChatPort, ConnectionInfo, EventId, FileUpload, Incoming, OutgoingMessage, RoomInfo,
};
use chatrixcd_ports::encryption::{DeviceSummary, EncryptionStatus};
use chatrixcd_ports::{
    Clock, EncryptionError, EncryptionPort, RoomId, SemaphorePort, Store, UserId, Verification, VerificationStage,
};
use chrono::{DateTime, Utc};

use crate::bot::{Bot, Deps};
use crate::instances::{Instance, Instances};
use crate::personality::Personality;
use crate::redact::Redactor;
use crate::settings::Settings;

/// Something the bot did in the chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Posted {
    Message(EventId, OutgoingMessage),
    Edit(EventId, OutgoingMessage),
    Reaction(EventId, String),
    Upload(FileUpload),
}

#[derive(Default)]
pub(crate) struct RecordingChat {
    pub(crate) posted: Mutex<Vec<Posted>>,
    next: Mutex<u64>,
    /// Set to give the connection end-to-end encryption.
    pub(crate) encryption: Mutex<Option<Arc<dyn EncryptionPort>>>,
    /// Every message sent, with its room and thread, in order (not drained by `take`).
    pub(crate) sent: Mutex<Vec<(RoomId, Option<EventId>, String)>>,
    /// Events redacted, with their room.
    pub(crate) redacted: Mutex<Vec<(RoomId, EventId)>>,
    /// Direct rooms opened, by user.
    pub(crate) directs: Mutex<Vec<UserId>>,
    /// Set to make `direct_room` fail.
    pub(crate) no_direct_rooms: std::sync::atomic::AtomicBool,
}

/// The direct room the recording chat opens with `user`.
pub(crate) fn direct_room_of(user: &UserId) -> RoomId {
    RoomId::parse(format!("!dm-{}:test", user.localpart())).unwrap()
}

impl std::fmt::Debug for RecordingChat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingChat").field("posted", &self.posted).finish_non_exhaustive()
    }
}

impl RecordingChat {
    fn id(&self) -> EventId {
        let mut n = self.next.lock().unwrap();
        *n += 1;
        EventId(format!("$bot{n}"))
    }

    pub(crate) fn take(&self) -> Vec<Posted> {
        std::mem::take(&mut self.posted.lock().unwrap())
    }

    /// Plain bodies of messages and edits, in order.
    pub(crate) fn bodies(&self) -> Vec<String> {
        self.take()
            .into_iter()
            .filter_map(|p| match p {
                Posted::Message(_, m) | Posted::Edit(_, m) => Some(m.body),
                _ => None,
            })
            .collect()
    }
}

#[async_trait]
impl ChatPort for RecordingChat {
    async fn send(&self, room: &RoomId, message: OutgoingMessage) -> Result<EventId, ChatError> {
        let id = self.id();
        self.sent.lock().unwrap().push((room.clone(), message.thread_root.clone(), message.body.clone()));
        self.posted.lock().unwrap().push(Posted::Message(id.clone(), message));
        Ok(id)
    }
    async fn edit(&self, _room: &RoomId, event: &EventId, message: OutgoingMessage) -> Result<EventId, ChatError> {
        self.posted.lock().unwrap().push(Posted::Edit(event.clone(), message));
        Ok(self.id())
    }
    async fn react(&self, _room: &RoomId, event: &EventId, key: &str) -> Result<EventId, ChatError> {
        self.posted.lock().unwrap().push(Posted::Reaction(event.clone(), key.to_owned()));
        Ok(self.id())
    }
    async fn redact(&self, room: &RoomId, event: &EventId, _reason: Option<String>) -> Result<(), ChatError> {
        self.redacted.lock().unwrap().push((room.clone(), event.clone()));
        Ok(())
    }
    async fn direct_room(&self, user: &UserId) -> Result<chatrixcd_ports::DirectRoom, ChatError> {
        if self.no_direct_rooms.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(ChatError::Refused("direct rooms are off in this test".into()));
        }
        let mut directs = self.directs.lock().unwrap();
        let created = !directs.contains(user);
        if created {
            directs.push(user.clone());
        }
        Ok(chatrixcd_ports::DirectRoom { room: direct_room_of(user), created })
    }
    async fn upload(&self, _room: &RoomId, file: FileUpload) -> Result<EventId, ChatError> {
        self.posted.lock().unwrap().push(Posted::Upload(file));
        Ok(self.id())
    }
    async fn joined_rooms(&self) -> Result<Vec<RoomInfo>, ChatError> {
        Ok(vec![RoomInfo { id: room(), name: Some("Ops".into()), can_send: true, encrypted: true }])
    }
    async fn join(&self, room_or_alias: &str) -> Result<RoomId, ChatError> {
        RoomId::parse(room_or_alias).map_err(|e| ChatError::Refused(e.to_string()))
    }
    async fn leave(&self, _room: &RoomId) -> Result<(), ChatError> {
        Ok(())
    }
    fn connection_info(&self) -> ConnectionInfo {
        ConnectionInfo {
            network: "test".into(),
            server: "test".into(),
            user_id: "@bot:test".into(),
            ..Default::default()
        }
    }
    fn encryption(&self) -> Option<Arc<dyn EncryptionPort>> {
        self.encryption.lock().unwrap().clone()
    }
}

/// An encryption layer that records what it was asked and answers from a script.
#[derive(Debug, Default)]
pub(crate) struct FakeEncryption {
    pub(crate) verifications: Mutex<Vec<Verification>>,
    pub(crate) devices: Mutex<Vec<DeviceSummary>>,
    /// "confirm <id>", "accept <id>", ... in order.
    pub(crate) calls: Mutex<Vec<String>>,
}

impl FakeEncryption {
    fn answer(
        &self,
        action: &str,
        id: &str,
        stage: Option<VerificationStage>,
    ) -> Result<Verification, EncryptionError> {
        self.calls.lock().unwrap().push(format!("{action} {id}"));
        let mut all = self.verifications.lock().unwrap();
        let v = all.iter_mut().find(|v| v.id == id).ok_or_else(|| EncryptionError::UnknownVerification(id.into()))?;
        if let Some(stage) = stage {
            v.stage = stage;
        }
        Ok(v.clone())
    }
}

#[async_trait]
impl EncryptionPort for FakeEncryption {
    async fn status(&self) -> Result<EncryptionStatus, EncryptionError> {
        Ok(EncryptionStatus {
            device_id: "BOTDEVICE".into(),
            fingerprint: Some("abcd efgh".into()),
            cross_signing: true,
            device_verified: true,
            key_backup: "enabled".into(),
            recovery: "enabled".into(),
        })
    }
    async fn devices(&self, user: &UserId) -> Result<Vec<DeviceSummary>, EncryptionError> {
        Ok(self.devices.lock().unwrap().iter().filter(|d| &d.user == user).cloned().collect())
    }
    async fn request(&self, user: &UserId, device: &str) -> Result<Verification, EncryptionError> {
        self.calls.lock().unwrap().push(format!("request {user} {device}"));
        let v = Verification {
            id: format!("flow{}", self.verifications.lock().unwrap().len() + 1),
            user: user.clone(),
            device: Some(device.to_owned()),
            we_started: true,
            room: None,
            stage: VerificationStage::Requested,
        };
        self.verifications.lock().unwrap().push(v.clone());
        Ok(v)
    }
    async fn pending(&self) -> Vec<Verification> {
        self.verifications.lock().unwrap().iter().filter(|v| !v.stage.is_finished()).cloned().collect()
    }
    async fn accept(&self, id: &str) -> Result<Verification, EncryptionError> {
        self.answer("accept", id, Some(VerificationStage::Ready))
    }
    async fn confirm(&self, id: &str) -> Result<Verification, EncryptionError> {
        self.answer("confirm", id, Some(VerificationStage::Confirmed))
    }
    async fn mismatch(&self, id: &str) -> Result<Verification, EncryptionError> {
        self.answer("mismatch", id, Some(VerificationStage::Cancelled("mismatch".into())))
    }
    async fn cancel(&self, id: &str) -> Result<Verification, EncryptionError> {
        self.answer("cancel", id, Some(VerificationStage::Cancelled("cancelled by the user".into())))
    }
}

pub(crate) fn room() -> RoomId {
    RoomId::parse("!ops:test").unwrap()
}
pub(crate) fn admin() -> UserId {
    UserId::parse("@alice:test").unwrap()
}
pub(crate) fn bot_user() -> UserId {
    UserId::parse("@bot:test").unwrap()
}

pub(crate) fn settings() -> Settings {
    let mut s = Settings::new(bot_user());
    s.admins = vec![admin(), UserId::parse("@bob:test").unwrap()];
    s.viewers = vec![UserId::parse("@victor:test").unwrap()];
    s.greetings = false;
    s.version = "test".into();
    s
}

pub(crate) fn bot_with(
    semaphore: Arc<dyn SemaphorePort>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    settings: Settings,
) -> (Bot, Arc<RecordingChat>) {
    let chat = Arc::new(RecordingChat::default());
    let instances = Instances::single("https://semaphore.test", semaphore);
    let deps = Deps {
        chat: chat.clone(),
        instances,
        store,
        clock,
        sealer: Some(Arc::new(chatrixcd_sealer::KeySealer::from_bytes([7; 32]))),
    };
    let redactor = Redactor::new(["s3cr3t-token-value".to_owned()]);
    (Bot::new(deps, settings, Personality::with_seed(7), redactor), chat)
}

static NEXT_EVENT: Mutex<u64> = Mutex::new(0);

pub(crate) fn message_from(sender: &UserId, body: &str, at: DateTime<Utc>) -> ChatEvent {
    let mut n = NEXT_EVENT.lock().unwrap();
    *n += 1;
    ChatEvent::Message {
        meta: Incoming {
            room: room(),
            sender: sender.clone(),
            sender_name: None,
            event_id: EventId(format!("$in{n}")),
            timestamp: at,
        },
        body: body.to_owned(),
        thread_root: None,
    }
}

pub(crate) fn reaction_from(sender: &UserId, to: &EventId, key: &str, at: DateTime<Utc>) -> ChatEvent {
    ChatEvent::Reaction {
        meta: Incoming {
            room: room(),
            sender: sender.clone(),
            sender_name: None,
            event_id: EventId("$react".into()),
            timestamp: at,
        },
        relates_to: to.clone(),
        key: key.to_owned(),
    }
}

/// A bare task as Semaphore lists it: no times, no names.
pub(crate) fn bare_task(
    project: chatrixcd_ports::ProjectId,
    id: chatrixcd_ports::TaskId,
    status: chatrixcd_ports::TaskStatus,
) -> chatrixcd_ports::semaphore::Task {
    chatrixcd_ports::semaphore::Task {
        id,
        project_id: project,
        template_id: chatrixcd_ports::TemplateId::new(3),
        status,
        created: None,
        start: None,
        end: None,
        message: None,
        template_name: None,
        user_name: None,
    }
}

/// The whole bot over the in-process simulated Semaphore, one or two instances, with a manual
/// clock and a memory store: for tests of a command's own behaviour.
pub(crate) struct Harness {
    pub(crate) bot: Bot,
    pub(crate) chat: Arc<RecordingChat>,
    pub(crate) clock: chatrixcd_clock::ManualClock,
    pub(crate) store: Arc<chatrixcd_store_memory::MemoryStore>,
    /// The simulators, in the order of the instances.
    pub(crate) sims: Vec<chatrixcd_sim_semaphore::SimSemaphore>,
}

impl Harness {
    /// One instance, named `default` (a ChatrixCD configuration), in 2.10 mode.
    pub(crate) async fn single() -> Self {
        Self::with(&[("default", chatrixcd_sim_semaphore::Mode::V2_10)], settings()).await
    }

    /// `production` (2.10, the default) and `staging` (current).
    pub(crate) async fn two_instances() -> Self {
        use chatrixcd_sim_semaphore::Mode;
        Self::with(&[("production", Mode::V2_10), ("staging", Mode::Current)], settings()).await
    }

    pub(crate) async fn with(instances: &[(&str, chatrixcd_sim_semaphore::Mode)], settings: Settings) -> Self {
        Self::with_store(instances, settings, Arc::new(chatrixcd_store_memory::MemoryStore::new())).await
    }

    /// The same over a store that already holds something (a restart).
    pub(crate) async fn with_store(
        instances: &[(&str, chatrixcd_sim_semaphore::Mode)],
        settings: Settings,
        store: Arc<chatrixcd_store_memory::MemoryStore>,
    ) -> Self {
        Self::restarted(instances, settings, store, chatrixcd_clock::ManualClock::at_epoch().now()).await
    }

    /// A start over `store` at `at` (a restart after a downtime). The simulators are new.
    pub(crate) async fn restarted(
        instances: &[(&str, chatrixcd_sim_semaphore::Mode)],
        settings: Settings,
        store: Arc<chatrixcd_store_memory::MemoryStore>,
        at: DateTime<Utc>,
    ) -> Self {
        let clock = chatrixcd_clock::ManualClock::new(at);
        let mut sims = Vec::new();
        let mut list = Vec::new();
        for (name, mode) in instances {
            let config = chatrixcd_sim_semaphore::SimConfig {
                mode: *mode,
                web_host: Some(format!("https://{name}.semaphore.test")),
                ..Default::default()
            };
            let sim = chatrixcd_sim_semaphore::SimSemaphore::demo(config, Arc::new(clock.clone()));
            list.push(Instance {
                id: chatrixcd_ports::InstanceId::parse(name).unwrap(),
                url: format!("https://{name}.semaphore.test"),
                semaphore: Arc::new(sim.clone()),
            });
            sims.push(sim);
        }
        let default = list[0].id;
        let chat = Arc::new(RecordingChat::default());
        let deps = Deps {
            chat: chat.clone(),
            instances: Instances::new(list, default).unwrap(),
            store: store.clone(),
            clock: Arc::new(clock.clone()),
            sealer: Some(Arc::new(chatrixcd_sealer::KeySealer::from_bytes([7; 32]))),
        };
        let redactor = Redactor::new(["s3cr3t-token-value".to_owned()]);
        let bot = Bot::new(deps, settings, Personality::with_seed(7), redactor);
        bot.resume().await;
        Self { bot, chat, clock, store, sims }
    }

    /// One instance, `default` in 2.10 mode, reached through `wrap` (a simulator that misbehaves
    /// in a test's own way), with `secrets` as the configured secrets the bot redacts.
    pub(crate) async fn wrapped(
        settings: Settings,
        secrets: Vec<String>,
        wrap: impl FnOnce(chatrixcd_sim_semaphore::SimSemaphore) -> Arc<dyn SemaphorePort>,
    ) -> Self {
        let clock = chatrixcd_clock::ManualClock::at_epoch();
        let config = chatrixcd_sim_semaphore::SimConfig {
            mode: chatrixcd_sim_semaphore::Mode::V2_10,
            web_host: Some("https://default.semaphore.test".to_owned()),
            ..Default::default()
        };
        let sim = chatrixcd_sim_semaphore::SimSemaphore::demo(config, Arc::new(clock.clone()));
        let id = chatrixcd_ports::InstanceId::default();
        let instance = Instance { id, url: "https://default.semaphore.test".into(), semaphore: wrap(sim.clone()) };
        let chat = Arc::new(RecordingChat::default());
        let store = Arc::new(chatrixcd_store_memory::MemoryStore::new());
        let deps = Deps {
            chat: chat.clone(),
            instances: Instances::new(vec![instance], id).unwrap(),
            store: store.clone(),
            clock: Arc::new(clock.clone()),
            sealer: Some(Arc::new(chatrixcd_sealer::KeySealer::from_bytes([7; 32]))),
        };
        let bot = Bot::new(deps, settings, Personality::with_seed(7), Redactor::new(secrets));
        bot.resume().await;
        Self { bot, chat, clock, store, sims: vec![sim] }
    }

    /// The bot started again over the same store, simulators and clock (a process restart
    /// with Semaphore still up): a new chat, a new bot, `resume` done.
    pub(crate) async fn restart(&self, settings: Settings) -> Self {
        let list: Vec<Instance> = self
            .bot
            .core
            .instances()
            .iter()
            .map(|i| Instance { id: i.id, url: i.url.clone(), semaphore: Arc::clone(&i.semaphore) })
            .collect();
        let default = self.bot.core.instances().default_instance().id;
        let chat = Arc::new(RecordingChat::default());
        let deps = Deps {
            chat: chat.clone(),
            instances: Instances::new(list, default).unwrap(),
            store: self.store.clone(),
            clock: Arc::new(self.clock.clone()),
            sealer: Some(Arc::new(chatrixcd_sealer::KeySealer::from_bytes([7; 32]))),
        };
        let bot = Bot::new(deps, settings, Personality::with_seed(7), Redactor::new(["s3cr3t-token-value".to_owned()]));
        bot.resume().await;
        Self { bot, chat, clock: self.clock.clone(), store: self.store.clone(), sims: self.sims.clone() }
    }

    /// `who` says `text` in the test room; everything it leads to is done when this returns.
    pub(crate) async fn say(&self, who: &UserId, text: &str) {
        self.bot.handle(message_from(who, text, self.clock.now())).await;
    }

    /// `who` says `text` in `room`, in the thread under `thread` if given; returns the event's id.
    pub(crate) async fn say_in(&self, room: &RoomId, who: &UserId, text: &str, thread: Option<&EventId>) -> EventId {
        let ChatEvent::Message { mut meta, body, .. } = message_from(who, text, self.clock.now()) else {
            unreachable!()
        };
        meta.room = room.clone();
        let id = meta.event_id.clone();
        self.bot.handle(ChatEvent::Message { meta, body, thread_root: thread.cloned() }).await;
        id
    }

    /// Everything sent so far, in every room (kept, unlike `chat.bodies`).
    pub(crate) fn sent(&self) -> Vec<(RoomId, Option<EventId>, String)> {
        self.chat.sent.lock().unwrap().clone()
    }

    /// Moves time on by `by` and runs what came due, simulators included.
    pub(crate) async fn advance(&self, by: chrono::Duration) {
        self.clock.advance(by);
        self.bot.tick().await;
    }
}
