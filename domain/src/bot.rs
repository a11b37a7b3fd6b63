//! The bot: turns chat events and Semaphore pushes into jobs, futures the runtime runs in
//! lanes. A lane runs its jobs one after the other; different lanes run at once. So one room's
//! commands on one instance answer in the order they were sent, one instance's status edits
//! keep their order, and nothing waits on another instance's (or another room's) I/O.
//!
//! Deciding what an event needs (confirmations, access, aliases, parsing, the lane) is quick and
//! local: it reads the store and never calls Semaphore. The job does the rest.
//!
//! `handle`, `tick` and `on_task_event` run the jobs at once, in order: that is how tests and
//! benchmarks drive the bot under a manual clock. The runtime uses `accept`, `due` and `push`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chatrixcd_ports::chat::{ChatEvent, EventId, Incoming};
use chatrixcd_ports::store::TrackedTask;
use chatrixcd_ports::{InstanceId, RoomId, TaskEvent, TaskStatus, UserId};
use chrono::{DateTime, Utc};

use crate::commands::{self, Command, Needs};
use crate::confirm::{Answer, Approver, Pending, Resolution};
use crate::core::{Core, Request, lock, resolve_instance};
use crate::error::{CommandError, without_paths};
use crate::grammar::{self, GrammarError, Parsed};
use crate::grants::{self, Gate};
use crate::instances::tag;
use crate::outbox::{Counters, Stats};
use crate::permissions::{Decision, Permission, Target};
use crate::personality::{Category, Personality};
use crate::plans::PendingAction;
use crate::redact::Redactor;
use crate::render::Reply;
use crate::settings::Settings;
use crate::{tail, watch};

pub use crate::core::Deps;

/// What the runtime should do after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Continue,
    /// An admin confirmed `exit`: finish in-flight work and stop.
    Shutdown,
}

/// Where a command runs, next to what: the instance it needs, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum On {
    /// Needs no Semaphore (help, rooms, answering a question that needs none).
    Local,
    /// Needs this instance.
    Instance(InstanceId),
    /// Asks every instance (`instances`).
    Every,
}

/// A queue of jobs that run one after the other.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Lane {
    /// A room's commands, per instance they need: replies keep the order of the commands.
    Room { room: RoomId, on: On },
    /// An instance's watching: polls and pushed status changes, so one task's edits keep order.
    Watch(InstanceId),
    /// An instance's live tails.
    Tails(InstanceId),
    /// What belongs to no room: verifications, expired questions.
    Bot,
}

/// Work for the runtime: run `work` in `lane`, after the lane's earlier jobs.
pub struct Job {
    pub lane: Lane,
    work: Pin<Box<dyn Future<Output = ()> + Send + 'static>>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").field("lane", &self.lane).finish_non_exhaustive()
    }
}

impl Job {
    pub fn new(lane: Lane, work: impl Future<Output = ()> + Send + 'static) -> Self {
        Self { lane, work: Box::pin(work) }
    }

    /// The work itself, to spawn or await.
    pub fn into_future(self) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        self.work
    }
}

/// The bot. Clones share one core.
#[derive(Debug, Clone)]
pub struct Bot {
    pub(crate) core: Arc<Core>,
}

impl Bot {
    pub fn new(deps: Deps, settings: Settings, personality: Personality, redactor: Redactor) -> Self {
        Self { core: Arc::new(Core::new(deps, settings, personality, redactor)) }
    }

    pub fn settings(&self) -> &Settings {
        &self.core.settings
    }

    /// Whether `inviter` may bring the bot into `room`, by the live policy (config's grants and
    /// chat's): the Matrix adapter asks this for every invite.
    pub fn may_invite(&self, inviter: &UserId, room: &RoomId) -> bool {
        self.core.access.policy().may_invite(inviter, room, self.core.now())
    }

    pub fn stats(&self) -> Stats {
        self.core.out.counters.snapshot()
    }

    /// Everything counted for `/metrics`.
    pub fn metrics(&self) -> crate::metrics::MetricsSnapshot {
        let stats = self.stats();
        let open_questions = lock(&self.core.questions).len() + lock(&self.core.dialogs).len();
        let chat = self.core.deps.chat.connection_info();
        crate::metrics::MetricsSnapshot {
            messages_sent: stats.messages_sent,
            chat_errors: stats.errors,
            undecryptable: stats.undecryptable,
            alerts: stats.alerts,
            hook_deliveries: stats.hook_deliveries,
            open_questions: open_questions as u64,
            started_at: self.core.started_at.timestamp(),
            websocket: {
                let watch = lock(&self.core.watch);
                self.core.instances().iter().map(|i| (i.id.to_string(), watch.push_open(i.id))).collect()
            },
            chat_connected: chat.connected,
            chat_sync_failures: chat.sync_failures,
            ..self.core.meter.snapshot()
        }
    }

    /// Reads the grants made in chat, and picks up tasks tracked and tails followed before a
    /// restart. Tasks of an instance that is
    /// no longer configured are kept in the store (nothing is lost if it comes back) but not
    /// watched; the log says so.
    pub async fn resume(&self) {
        // Grants made in chat apply from the first event on (invites included).
        grants::ensure_loaded(&self.core).await;
        crate::notify::ensure_loaded(&self.core).await;
        crate::schedules::resume(&self.core).await;
        match self.core.store().tracked_tasks().await {
            Ok(tracked) => {
                let now = self.core.now();
                let mut watch = lock(&self.core.watch);
                for t in &tracked {
                    if self.core.instances().get(t.instance).is_some() {
                        watch.of(t.instance).next_poll = Some(now);
                    } else {
                        tracing::warn!(instance = %t.instance, task = %t.task, "a watched task's instance is no longer configured; it is not watched");
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not read tracked tasks; watching resumes when the store is back");
            }
        }
        tail::resume(&self.core).await;
    }

    /// The next moment `due` has work.
    pub fn next_deadline(&self) -> Option<DateTime<Utc>> {
        let questions = lock(&self.core.questions).next_deadline();
        let dialogs = lock(&self.core.dialogs).next_deadline();
        let polls = lock(&self.core.watch).next_deadline();
        let tails = lock(&self.core.tails).next_deadline();
        let schedules = self.core.schedules.next_deadline();
        [questions, dialogs, polls, tails, schedules].into_iter().flatten().min()
    }

    /// True while tasks are being watched or questions are open.
    pub fn has_in_flight_work(&self) -> bool {
        self.is_watching()
            || !lock(&self.core.questions).is_empty()
            || !lock(&self.core.dialogs).is_empty()
            || !lock(&self.core.tails).is_empty()
    }

    /// True while tasks are being watched.
    pub fn is_watching(&self) -> bool {
        lock(&self.core.watch).is_watching()
    }

    /// How many watched tasks are still moving on their own (queued or running); a plan waiting
    /// for approval does not count, as only a person can move it on.
    pub async fn tasks_in_motion(&self) -> usize {
        match self.core.store().tracked_tasks().await {
            Ok(tracked) => tracked
                .iter()
                .filter(|t| self.core.instances().get(t.instance).is_some())
                .filter(|t| t.last_status != TaskStatus::WaitingConfirmation)
                .count(),
            Err(_) => usize::from(self.is_watching()),
        }
    }

    /// Whether a confirmed `exit` asked the bot to stop.
    pub fn outcome(&self) -> Outcome {
        if self.core.shutdown_requested() { Outcome::Shutdown } else { Outcome::Continue }
    }

    /// The jobs whose time has come: expired questions, polls, live-tail flushes. Each poll and
    /// flush is handed out once; the next is planned when it ends.
    pub fn due(&self) -> Vec<Job> {
        let now = self.core.now();
        let mut jobs = Vec::new();
        let expired = lock(&self.core.questions).expire(now);
        if !expired.is_empty() {
            let core = Arc::clone(&self.core);
            jobs.push(Job::new(Lane::Bot, async move { announce_expired(&core, expired).await }));
        }
        let expired = lock(&self.core.dialogs).expire(now);
        if !expired.is_empty() {
            let core = Arc::clone(&self.core);
            jobs.push(Job::new(Lane::Bot, async move { crate::dialog::announce_expired(&core, expired).await }));
        }
        for instance in lock(&self.core.watch).take_due(now) {
            let core = Arc::clone(&self.core);
            jobs.push(Job::new(Lane::Watch(instance), async move { poll(&core, instance).await }));
        }
        for (schedule, slot) in self.core.schedules.take_due(now) {
            let core = Arc::clone(&self.core);
            let lane = Lane::Room { room: schedule.room.clone(), on: On::Instance(schedule.instance) };
            jobs.push(Job::new(lane, async move { crate::schedules::fire(&core, schedule, slot).await }));
        }
        for (room, task) in lock(&self.core.tails).take_due(now) {
            let core = Arc::clone(&self.core);
            jobs.push(Job::new(Lane::Tails(task.instance), async move {
                tail::flush(&core, &room, task).await;
                tail::save_if_changed(&core).await;
            }));
        }
        jobs
    }

    /// Runs every due job at once, in order (tests, benchmarks).
    pub async fn tick(&self) -> Outcome {
        for job in self.due() {
            job.into_future().await;
        }
        self.outcome()
    }

    /// A push from an instance's Semaphore (its websocket). Changes of the channel itself are
    /// taken in at once; a status change becomes a job in that instance's watch lane.
    pub fn push(&self, instance: InstanceId, event: TaskEvent) -> Option<Job> {
        let now = self.core.now();
        match event {
            TaskEvent::Status { project, task, template, status, start, end } => {
                if status.is_terminal() {
                    // A tail paced for a huge log still says at once that its task ended.
                    let task_ref = chatrixcd_ports::TaskRef { instance, project, task };
                    lock(&self.core.tails).flush_soon(task_ref, now);
                }
                let core = Arc::clone(&self.core);
                let pushed = watch::Pushed { project, task, template, status, start, end };
                return Some(Job::new(Lane::Watch(instance), async move {
                    // Before the watcher, which forgets a run of the bot's that ended.
                    crate::notify::on_push(&core, instance, Some(pushed.project), pushed.task, &pushed.status).await;
                    watch::on_status(&core, instance, pushed).await;
                }));
            }
            TaskEvent::Connected => self.set_push_open(instance, true),
            TaskEvent::Reconnected => {
                self.set_push_open(instance, true);
                lock(&self.core.watch).now_if_watching(instance, now);
            }
            TaskEvent::Disconnected => {
                self.set_push_open(instance, false);
                let mut watch = lock(&self.core.watch);
                if watch.of(instance).next_poll.is_some() {
                    watch.soon(instance, now, self.core.settings.poll_interval);
                }
            }
            TaskEvent::Alert { project, task, status } => {
                tracing::debug!(%instance, %task, %status, "Semaphore alerted; reading the task");
                crate::outbox::Counters::bump(&self.core.out.counters.alerts);
                if let (Some(project), true) = (project, status.is_terminal()) {
                    let task_ref = chatrixcd_ports::TaskRef { instance, project, task };
                    lock(&self.core.tails).flush_soon(task_ref, now);
                }
                lock(&self.core.watch).now_if_watching(instance, now);
                if crate::notify::Phase::of(&status).is_some_and(|p| self.core.followers.any_wants(instance, p)) {
                    let core = Arc::clone(&self.core);
                    return Some(Job::new(Lane::Watch(instance), async move {
                        crate::notify::on_push(&core, instance, project, task, &status).await;
                    }));
                }
            }
            // Output is read from the task's log, by `logs` and by live tails: it has every line,
            // the push channel does not (it drops lines across reconnects). A pushed line only
            // tells live tails that there is more to read.
            TaskEvent::Log { project, task, .. } => {
                lock(&self.core.tails).output_grew(chatrixcd_ports::TaskRef { instance, project, task });
            }
        }
        None
    }

    /// A delivery from another system (a forge, CI) through the webhook endpoint, verified and
    /// rendered there: posted to its rooms, through the outbox like every message (so redacted).
    /// Rooms outside `allowed_rooms` are left out.
    pub fn hook(&self, event: chatrixcd_ports::HookEvent) -> Option<Job> {
        let allowed = &self.core.settings.allowed_rooms;
        let rooms: Vec<RoomId> =
            event.rooms.into_iter().filter(|r| allowed.is_empty() || allowed.contains(r)).collect();
        if rooms.is_empty() {
            return None;
        }
        crate::outbox::Counters::bump(&self.core.out.counters.hook_deliveries);
        let core = Arc::clone(&self.core);
        // `@room` in a delivery (a commit message, say) must not ping everybody.
        let text = event.text.replace("@room", "@\u{2060}room");
        Some(Job::new(Lane::Bot, async move {
            let mut first = None;
            for room in &rooms {
                let message = Reply::notice().push(&text).build();
                match core.out.post(room, message).await {
                    Some(id) => {
                        first.get_or_insert((room.clone(), id));
                    }
                    None => tracing::warn!(hook = %event.hook, room = %room, "could not post a webhook delivery"),
                }
            }
            // The run it asks for answers the delivery's message in the first room.
            if let (Some(run), Some((room, event_id))) = (event.run, first) {
                hook_run(&core, &event.hook, run, room, event_id).await;
            }
        }))
    }

    /// A push, handled at once (tests, benchmarks).
    pub async fn on_task_event(&self, instance: InstanceId, event: TaskEvent) -> Outcome {
        if let Some(job) = self.push(instance, event) {
            job.into_future().await;
        }
        self.outcome()
    }

    fn set_push_open(&self, instance: InstanceId, open: bool) {
        lock(&self.core.watch).of(instance).push_open = open;
        lock(&self.core.tails).push_changed(instance);
    }

    /// Posts an announcement (the startup and shutdown messages) to each of `rooms`, through the
    /// outbox like every other message: redacted and counted.
    pub async fn announce(&self, rooms: &[RoomId], text: &str) {
        for room in rooms {
            let message = chatrixcd_ports::chat::OutgoingMessage::text(text, None);
            if self.core.out.post(room, message).await.is_none() {
                tracing::warn!(room = %room, "could not post the announcement");
            }
        }
    }

    /// Cancels open questions because nobody is left to answer them (the console closed, or the
    /// bot is shutting down).
    pub async fn cancel_open_questions(&self, why: &str) {
        let open = lock(&self.core.questions).drain();
        for pending in open {
            let reply =
                Reply::notice().push(&format!("❎ Cancelled the request to {}: {why}.", pending.action.describe()));
            self.core.out.post(&pending.room, reply.build()).await;
        }
        let dialogs = lock(&self.core.dialogs).take_all();
        for dialog in dialogs {
            let reply =
                Reply::notice().push(&format!("❎ Cancelled the questions for {}: {why}.", dialog.template_name()));
            crate::dialog::post_in_thread(&self.core, &dialog, reply).await;
        }
    }

    /// An event, handled at once with everything it leads to (tests, benchmarks, the console).
    pub async fn handle(&self, event: ChatEvent) -> Outcome {
        if let Some(job) = self.accept(event).await {
            job.into_future().await;
        }
        self.outcome()
    }

    /// Decides what a chat event needs and returns it as a job; `None` when it needs nothing.
    /// Quick: reads the store, never Semaphore.
    pub async fn accept(&self, event: ChatEvent) -> Option<Job> {
        let settings = &self.core.settings;
        if let Some(meta) = event.meta()
            && (meta.sender == settings.bot_user || settings.ignored_users.contains(&meta.sender))
        {
            return None;
        }
        // The core is shared with a job only once there is one: chatter costs no atomic count.
        match event {
            ChatEvent::Verification(verification) => {
                let core = Arc::clone(&self.core);
                Some(Job::new(Lane::Bot, async move {
                    commands::verify::on_progress(core.ctx(), verification).await;
                }))
            }
            ChatEvent::Message { meta, body, thread_root } => self.accept_message(meta, body, thread_root).await,
            ChatEvent::Reaction { meta, relates_to, key } => self.accept_reaction(meta, relates_to, key).await,
            ChatEvent::Undecryptable { meta } => {
                let lane = Lane::Room { room: meta.room.clone(), on: On::Local };
                let core = Arc::clone(&self.core);
                Some(Job::new(lane, async move { undecryptable(&core, meta).await }))
            }
        }
    }

    async fn accept_reaction(&self, meta: Incoming, relates_to: EventId, key: String) -> Option<Job> {
        let core = Arc::clone(&self.core);
        if let Some(verdict) = commands::approve::Verdict::from_reaction(&key)
            && let Some(waiting) = plan_waiting_at(&core, &meta.room, &relates_to).await
        {
            let lane = Lane::Room { room: meta.room.clone(), on: On::Instance(waiting.instance) };
            return Some(Job::new(lane, async move { answer_plan_by_reaction(&core, meta, waiting, verdict).await }));
        }
        let resolution = {
            let now = core.now();
            // The policy is locked only if a question asks for a second person (questions, then
            // policy: the one order these two locks are taken in).
            let may_approve = |action: &PendingAction| may_answer(&core.access.policy(), &meta, action, now);
            lock(&core.questions).answer_reaction(&meta.room, &meta.sender, &relates_to, &key, now, may_approve)
        };
        resolution_job(core, meta, resolution)
    }

    async fn accept_message(&self, meta: Incoming, body: String, thread: Option<EventId>) -> Option<Job> {
        grants::ensure_loaded(&self.core).await;
        let now = self.core.now();
        let lag = (now - meta.timestamp).num_milliseconds() as f64 / 1000.0;
        self.core.meter.event_lag(lag);
        // A dialog's answers come first: its requester's words (even "yes") are for it, and a
        // secret answered in a direct room must reach it, wherever that room is.
        let is_command = strip_prefix(&body, &self.core.settings.prefix).is_some();
        let route = lock(&self.core.dialogs).route(&meta.room, &meta.sender, thread.as_ref(), is_command, now);
        match route {
            crate::dialog::Route::Elsewhere => {}
            crate::dialog::Route::Answer(id) => {
                let on = lock(&self.core.dialogs).instance_of(id).map_or(On::Local, On::Instance);
                let lane = Lane::Room { room: meta.room.clone(), on };
                let core = Arc::clone(&self.core);
                return Some(Job::new(lane, async move { crate::dialog::on_message(&core, meta, body, id).await }));
            }
            crate::dialog::Route::NotYours { requester } => {
                let lane = Lane::Room { room: meta.room.clone(), on: On::Local };
                let core = Arc::clone(&self.core);
                return Some(Job::new(lane, async move { crate::dialog::not_yours(&core, &meta, &requester).await }));
            }
        }
        let resolution = {
            let may_approve = |action: &PendingAction| may_answer(&self.core.access.policy(), &meta, action, now);
            lock(&self.core.questions).answer_text(&meta.room, &meta.sender, &body, now, may_approve)
        };
        if !matches!(resolution, Resolution::NotAnAnswer) {
            return resolution_job(Arc::clone(&self.core), meta, resolution);
        }
        let command_line = strip_prefix(&body, &self.core.settings.prefix)?.to_owned();
        let core = Arc::clone(&self.core);
        let gate = grants::gate(&core, &meta.room, &meta.sender, now);
        if gate == Gate::Silent {
            tracing::debug!(room = %meta.room, "command in a room outside allowed_rooms ignored");
            return None;
        }
        let mut req = Request::from_incoming(&meta);
        req.thread = thread;
        let local = Lane::Room { room: meta.room.clone(), on: On::Local };
        if now - meta.timestamp > core.settings.max_command_age {
            let age = now - meta.timestamp;
            return Some(Job::new(local, async move { skipped_while_offline(&core, &req, &command_line, age).await }));
        }
        match gate {
            Gate::NoAdmins => return Some(Job::new(local, async move { no_admins(&core, &req).await })),
            Gate::Stranger => {
                return Some(Job::new(local, async move {
                    core.out
                        .audit(
                            &req.sender,
                            Some(&req.room),
                            "denied",
                            "a command from a user with no grant here".into(),
                        )
                        .await;
                    brush_off(&core, &req).await;
                }));
            }
            Gate::Silent | Gate::Known => {}
        }
        Counters::bump(&core.out.counters.commands);
        let words = grammar::split_words(&command_line);
        let aliases = core.store().aliases().await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "aliases unavailable; running the command as typed");
            Default::default()
        });
        let words = crate::aliases::expand(words, &aliases, commands::REGISTRY);
        let parsed = if words.is_empty() {
            Ok(Parsed { path: vec!["help"], ..Default::default() })
        } else {
            grammar::parse(commands::REGISTRY, &words)
        };
        match parsed {
            Ok(parsed) => {
                let command = commands::find(&parsed);
                let lane = self.lane_of(&req.room, command, &parsed).await;
                let on = match &lane {
                    Lane::Room { on, .. } => *on,
                    _ => On::Local,
                };
                Some(Job::new(lane, async move { run_parsed(&core, &req, command, parsed, on).await }))
            }
            Err(e) => Some(Job::new(local, async move { usage_error(&core, &req, &e).await })),
        }
    }

    /// The lane of a parsed command: by the instance it needs, resolved as the command will.
    async fn lane_of(&self, room: &RoomId, command: Option<&Command>, parsed: &Parsed) -> Lane {
        let on = match command.map(|c| (c.needs)(parsed)) {
            None | Some(Needs::Nothing) => On::Local,
            Some(Needs::Every) => On::Every,
            Some(Needs::Instance(named)) => match resolve_instance(&self.core, room, named.as_deref()).await {
                Ok(instance) => On::Instance(instance.id),
                // The command reports the unknown name at once: no instance is asked.
                Err(_) => On::Local,
            },
            Some(Needs::InstanceIfNamed(word)) => {
                let named = self.core.instances().names(&word).then_some(word);
                match resolve_instance(&self.core, room, named.as_deref()).await {
                    Ok(instance) => On::Instance(instance.id),
                    Err(_) => On::Local,
                }
            }
        };
        Lane::Room { room: room.clone(), on }
    }
}

fn resolution_job(core: Arc<Core>, meta: Incoming, resolution: Resolution<PendingAction>) -> Option<Job> {
    let on = match &resolution {
        Resolution::NotAnAnswer => return None,
        Resolution::Answered { pending, answer: Answer::Yes, .. } => {
            pending.action.instance().map_or(On::Local, On::Instance)
        }
        Resolution::Answered { .. } | Resolution::NotAllowed { .. } => On::Local,
    };
    let lane = Lane::Room { room: meta.room.clone(), on };
    Some(Job::new(lane, async move { on_resolution(&core, &meta, resolution).await }))
}

async fn announce_expired(core: &Core, expired: Vec<Pending<PendingAction>>) {
    for pending in expired {
        let phrase = core.personality.pick(Category::Timeout, &[]);
        let reply = Reply::notice().push("⌛ ").push_rich(&phrase.plain, &phrase.html).line().push(&format!(
            "The request to {} expired without an answer; nothing was done.",
            pending.action.describe()
        ));
        core.out.post(&pending.room, reply.build()).await;
    }
}

async fn poll(core: &Core, instance: InstanceId) {
    let still_watching = watch::poll(core, instance).await;
    let interval = if lock(&core.watch).push_open(instance) {
        core.settings.safety_poll_interval
    } else {
        core.settings.poll_interval
    };
    let next = still_watching.then(|| core.now() + interval);
    lock(&core.watch).poll_done(instance, next);
}

/// Says once in a while that messages cannot be read, instead of ignoring them silently: the
/// sender otherwise waits for an answer that never comes.
async fn undecryptable(core: &Core, meta: Incoming) {
    Counters::bump(&core.out.counters.undecryptable);
    tracing::warn!(room = %meta.room, sender = %meta.sender, "an encrypted message could not be decrypted");
    if grants::gate(core, &meta.room, &meta.sender, core.now()) == Gate::Silent {
        return;
    }
    let now = core.now();
    {
        let mut notices = lock(&core.utd_notices);
        if notices.get(&meta.room).is_some_and(|last| now - *last < chrono::Duration::minutes(10)) {
            return;
        }
        notices.insert(meta.room.clone(), now);
    }
    let reply = Reply::notice().push("🔐 I could not decrypt a message from ").push(meta.sender.as_str()).push(
        ". If it was a command, send it again; if this keeps happening, verify my device or share room keys with it \
         (the operator guide, docs/matrix.md, says how).",
    );
    let mut message = reply.build();
    message.reply_to = Some(meta.event_id.clone());
    core.out.post(&meta.room, message).await;
}

/// The watched run whose status message is `event`, if its plan waits for approval.
async fn plan_waiting_at(core: &Core, room: &RoomId, event: &EventId) -> Option<TrackedTask> {
    let tracked = core.store().tracked_tasks().await.ok()?;
    tracked.into_iter().find(|t| {
        &t.room == room && t.status_event.as_ref() == Some(event) && t.last_status == TaskStatus::WaitingConfirmation
    })
}

async fn answer_plan_by_reaction(
    core: &Core,
    meta: Incoming,
    waiting: TrackedTask,
    verdict: commands::approve::Verdict,
) {
    grants::ensure_loaded(core).await;
    // Anyone may react to anything; only the bot's own people get an answer.
    if grants::gate(core, &meta.room, &meta.sender, core.now()) != Gate::Known {
        return;
    }
    let req = Request::from_incoming(&meta);
    let path: &[&'static str] = match verdict {
        commands::approve::Verdict::Approve => &["approve"],
        commands::approve::Verdict::Reject => &["reject"],
    };
    let result = commands::approve::answer_tracked(core.ctx(), &req, &waiting, verdict).await;
    if let Err(e) = result {
        report_error(core, &req, path, e).await;
    }
}

async fn skipped_while_offline(core: &Core, req: &Request, command_line: &str, age: chrono::Duration) {
    let reply = Reply::notice().push(&format!(
        "⏭️ I skipped `{}` because it was sent while I was offline ({} ago). Send it again if it still applies.",
        command_line.trim(),
        crate::render::duration::human(age)
    ));
    core.reply(req, reply).await;
}

async fn no_admins(core: &Core, req: &Request) {
    let reply = Reply::notice()
        .push("🔒 I don't take commands from anyone yet: no admin is configured. ")
        .push("An operator must list trusted Matrix users under ")
        .code("bot.admin_users")
        .push(" in the configuration (for example ")
        .code(&format!("\"admin_users\": [\"{}\"]", req.sender))
        .push(") and restart me.");
    core.reply(req, reply).await;
}

async fn run_parsed(core: &Core, req: &Request, command: Option<&'static Command>, parsed: Parsed, on: On) {
    // The spec of the sub-command typed (`aliases remove`), which may need more than its
    // command (`aliases`) does to list.
    if let Some(action) = commands::spec_of(&parsed).permission
        && let Err(denied) = may_start(core, req, action, on).await
    {
        Box::pin(report_error(core, req, &parsed.path, denied)).await;
        return;
    }
    let started = core.now();
    let result = match command {
        Some(command) => (command.run)(core.ctx(), req, &parsed).await,
        None => Err(CommandError::Usage(format!("Unknown command `{}`.", parsed.path.join(" ")))),
    };
    let seconds = (core.now() - started).num_microseconds().map_or(0.0, |us| us as f64 / 1e6);
    let (name, outcome) = (commands::spec_of(&parsed).name, crate::metrics::outcome(&result));
    core.meter.command(name, outcome, seconds);
    // One line per command, for the operator: what, where, who, how it went, how long it took.
    tracing::info!(command = name, room = %req.room, sender = %req.sender, outcome, ms = (seconds * 1e4).round() / 10.0, "command handled");
    if let Err(error) = result {
        // Boxed: the error path's future is most of this one's size, and every command's job
        // is allocated at that size (see docs/performance.md).
        Box::pin(report_error(core, req, &parsed.path, error)).await;
    }
    // `logs --follow`, `logs off` and runs in a `logs on` room change the live tails.
    tail::save_if_changed(core).await;
}

/// A hook's run: the `run` command as its principal would type it, in the room of its
/// delivery, built as parsed (the delivery's values are never split into words), through the
/// same permission gate, confirmation policy and watch as a person's.
async fn hook_run(core: &Core, hook: &str, run: chatrixcd_ports::HookRun, room: RoomId, event_id: EventId) {
    tracing::info!(%hook, target = %run.target, principal = %run.principal, "a webhook asks for a run");
    let req = Request {
        room,
        sender: run.principal,
        sender_name: Some(format!("hook {hook}")),
        event_id,
        via_hook: Some(hook.to_owned()),
        thread: None,
    };
    let mut parsed = Parsed { path: vec!["run"], ..Default::default() };
    parsed.args.insert("project", run.target);
    let vars: Vec<String> = run.vars.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    if !vars.is_empty() {
        parsed.flags.insert("var", vars);
    }
    let command = commands::find(&parsed);
    let on = match command.map(|c| (c.needs)(&parsed)) {
        Some(Needs::Instance(named)) => match resolve_instance(core, &req.room, named.as_deref()).await {
            Ok(instance) => On::Instance(instance.id),
            Err(_) => On::Local,
        },
        _ => On::Local,
    };
    Counters::bump(&core.out.counters.commands);
    run_parsed(core, &req, command, parsed, on).await;
}

/// The question asked before a command runs: may the requester do `action` here at all? On an
/// instance, "to something of it"; a command that names a project or task asks again about it.
/// What belongs to no instance (rooms, grants, the process) needs a grant everywhere.
async fn may_start(core: &Core, req: &Request, action: Permission, on: On) -> Result<(), CommandError> {
    if action.is_bot_wide() {
        core.ctx().authorize(req, action, &Target::bot()).await?;
        return Ok(());
    }
    let instance = match on {
        On::Instance(instance) => Some(instance),
        On::Local | On::Every => None,
    };
    let now = core.now();
    let denied = {
        let policy = core.access.policy();
        let decision = policy.authorize_within(&req.sender, &req.room, action, instance, now);
        let target = instance.map_or_else(Target::bot, Target::instance);
        matches!(decision, Decision::Deny { .. })
            .then(|| (grants::denial(&policy, &decision, &target, now), target.describe()))
    };
    if let Some((text, scope)) = denied {
        core.out.audit(&req.sender, Some(&req.room), "denied", format!("{action} on {scope}")).await;
        return Err(CommandError::Denied(text));
    }
    Ok(())
}

/// Whether the sender of `meta` may answer a question about `action` as its second person (or
/// withdraw it: the confirmations decide which answer whom).
fn may_answer(
    policy: &crate::permissions::Policy,
    meta: &Incoming,
    action: &PendingAction,
    now: DateTime<Utc>,
) -> bool {
    let (permission, target) = match action {
        PendingAction::Run(plan) => (Permission::Approve, plan.target()),
        PendingAction::Stop(plan) => (
            Permission::Stop,
            Target {
                instance: Some(plan.task.instance),
                project_id: Some(plan.task.project.get()),
                project: None,
                template_id: None,
                template: None,
                some_of: false,
            },
        ),
        PendingAction::Exit => (Permission::Exit, Target::bot()),
        PendingAction::Grant(_) => (Permission::Grant, Target::bot()),
        PendingAction::Purge { .. } => (Permission::Audit, Target::bot()),
        PendingAction::Schedule(change) => (Permission::Schedule, crate::commands::schedule::target(change.schedule())),
    };
    policy.authorize(&meta.sender, &meta.room, permission, &target, now).is_allowed()
}

async fn usage_error(core: &Core, req: &Request, error: &GrammarError) {
    let prefix = &core.settings.prefix;
    let mut reply = Reply::notice().push("🤔 ").push(&error.describe());
    let path = error.path();
    if let Some(spec) = commands::spec_at(path) {
        reply = reply.usage(&spec.usage(prefix, path));
    } else {
        reply = reply.line().push("Type ").code(&format!("{prefix} help")).push(" to see what I can do.");
    }
    core.reply(req, reply).await;
}

pub(crate) async fn report_error(core: &Core, req: &Request, path: &[&'static str], error: CommandError) {
    Counters::bump(&core.out.counters.errors);
    // A hook's run failed: say whose, since nobody typed it.
    let opening = match &req.via_hook {
        Some(hook) => Reply::notice().push(&format!("🪝 The hook `{hook}`'s run (as {}): ", req.sender)),
        None => Reply::notice(),
    };
    let reply = match error {
        CommandError::Usage(message) => {
            let mut reply = opening.clone().push("🤔 ").push(&message);
            if let Some(spec) = commands::spec_at(path) {
                reply = reply.usage(&spec.usage(&core.settings.prefix, path));
            }
            reply
        }
        CommandError::Refused(message) => opening.clone().push("🚫 ").push(&message),
        CommandError::Denied(message) => opening.clone().push("🔒 ").push(&message),
        CommandError::Semaphore { instance, error } => {
            let instances = core.instances();
            let mut reply = opening.clone().push("⚠️ ");
            match instance.filter(|_| instances.is_multi()) {
                Some(instance) => {
                    reply = reply.push(&tag(instances, instance)).push(&shown(core, &error)).push(&format!(
                        ". Only {instance} is affected: commands on the other instances work as usual."
                    ));
                }
                None => reply = reply.push(&shown(core, &error)),
            }
            reply
        }
        CommandError::Chat(e) => opening.clone().push("⚠️ ").push(&shown(core, &e)),
        // What the store said is for the operator (it may name files and the database's
        // insides); the room is told what it needs.
        CommandError::Store(e) => {
            tracing::error!(error = %e, "a command failed on the store");
            opening.clone().push("⚠️ The bot's storage failed, so this was not done; the operator's log says why.")
        }
        CommandError::Encryption(e) => opening.clone().push("🔐 ").push(&shown(core, &e)),
    };
    core.reply(req, reply).await;
}

/// An adapter's error text as a room may see it: redacted first (so that no path taken out of
/// it can cut a secret in two and leave half of it), then without filesystem paths.
pub(crate) fn shown(core: &Core, text: &impl std::fmt::Display) -> String {
    without_paths(&core.out.redactor().redact(&text.to_string())).into_owned()
}

async fn on_resolution(core: &Core, meta: &Incoming, resolution: Resolution<PendingAction>) {
    match resolution {
        Resolution::NotAnAnswer => {}
        Resolution::NotAllowed { pending_requester, approver } => {
            let who = match approver {
                Approver::Requester => format!("Only {pending_requester} can answer this request."),
                Approver::OtherAdmin if meta.sender == pending_requester => {
                    "This needs a second person's approval; you can only withdraw it (👎 or \"no\").".to_owned()
                }
                Approver::OtherAdmin => {
                    "Only someone other than the requester who may approve this can answer it.".to_owned()
                }
            };
            let reply = Reply::notice().push("✋ ").push(&who);
            core.out.post(&meta.room, reply.build()).await;
        }
        Resolution::Answered { pending, answer, by } => {
            on_answer(core, meta, pending, answer, by).await;
            tail::save_if_changed(core).await;
        }
    }
}

async fn on_answer(core: &Core, meta: &Incoming, pending: Pending<PendingAction>, answer: Answer, by: UserId) {
    let req = Request {
        room: pending.room.clone(),
        sender: pending.requester.clone(),
        sender_name: None,
        event_id: meta.event_id.clone(),
        via_hook: None,
        thread: None,
    };
    match answer {
        Answer::No => {
            let phrase = core.personality.pick(Category::Cancel, &[]);
            let reply = Reply::notice()
                .push("❎ ")
                .push_rich(&phrase.plain, &phrase.html)
                .line()
                .push(&format!("Cancelled: {}.", pending.action.describe()));
            core.reply(&req, reply).await;
        }
        Answer::Yes => {
            let path = pending.action.command_path();
            // Grants may have expired, left their window or been revoked while the question
            // was open: the requester is asked about again, as if they had typed it now.
            let result = match still_allowed(core, &req, &pending.action).await {
                Ok(()) => commands::perform(core.ctx(), &req, pending.action, &by).await,
                Err(denied) => Err(denied),
            };
            if let Err(e) = result {
                report_error(core, &req, path, e).await;
            }
        }
    }
}

/// Whether the requester of a confirmed action may still do it.
async fn still_allowed(core: &Core, req: &Request, action: &PendingAction) -> Result<(), CommandError> {
    let ctx = core.ctx();
    match action {
        PendingAction::Run(plan) => ctx.authorize(req, Permission::Run, &plan.target()).await.map(drop),
        PendingAction::Stop(plan) => {
            let mut named = grants::Named {
                instance: plan.task.instance,
                project_id: plan.task.project,
                project: None,
                template_id: Some(plan.template),
                template: None,
            };
            ctx.authorize_on(req, Permission::Stop, &mut named).await.map(drop)
        }
        PendingAction::Exit => ctx.authorize(req, Permission::Exit, &Target::bot()).await.map(drop),
        PendingAction::Purge { .. } => ctx.authorize(req, Permission::Audit, &Target::bot()).await.map(drop),
        PendingAction::Grant(_) => ctx.authorize(req, Permission::Grant, &Target::bot()).await.map(drop),
        PendingAction::Schedule(change) => ctx
            .authorize(req, Permission::Schedule, &crate::commands::schedule::target(change.schedule()))
            .await
            .map(drop),
    }
}

pub(crate) async fn brush_off(core: &Core, req: &Request) {
    let phrase = core.personality.pick(Category::BrushOff, &[("name", req.display_name())]);
    let reply = Reply::notice().push_rich(&phrase.plain, &phrase.html);
    core.reply(req, reply).await;
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
    use super::strip_prefix;

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
