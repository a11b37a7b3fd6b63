//! Live tail: a running task's new output posted in a thread under its status message, a few
//! lines at a time, until the task ends.
//!
//! The task's log in Semaphore is the source of truth: every flush reads the output and posts the
//! lines after the last one posted, counted by position. So nothing is lost (the websocket drops
//! lines across reconnects; the log does not), nothing is posted twice, and a chatty task costs
//! two reads and at most a message or two per flush interval, which stays under a homeserver's
//! default message rate (Synapse: one every 5 s, bursts of 10).

use std::collections::HashMap;

use chatrixcd_ports::chat::{EventId, OutgoingMessage};
use chatrixcd_ports::store::TaskRef;
use chatrixcd_ports::{InstanceId, RoomId};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::core::{Core, lock};
use crate::instances::task_arg;
use crate::redact::LineState;
use crate::render::{Reply, ansi};

/// One task followed in one room.
#[derive(Debug, Clone)]
pub(crate) struct Tail {
    pub task: TaskRef,
    /// The thread the lines go to (the run's status message, or a header posted for the tail).
    pub thread_root: EventId,
    /// Lines of the output already posted.
    pub posted_lines: usize,
    /// Messages posted so far, which keeps every message's idempotency key distinct.
    pub messages: usize,
    /// The line redactor's state after the last line posted: a private key whose first lines
    /// went out in one flush is still masked in the next.
    pub redaction: LineState,
    /// Set when the output was read while Semaphore's websocket was open (the push epoch then),
    /// cleared when the websocket reports a new line of the task: while it stays set the output
    /// has not grown, and the next flush need not read it again.
    pub unchanged_since: Option<u64>,
    pub next_flush: DateTime<Utc>,
}

/// Every tail, by room and task.
#[derive(Debug, Default)]
pub(crate) struct Tails {
    tails: HashMap<(RoomId, TaskRef), Tail>,
    /// Changed since last saved: a restart picks the tails up where they were.
    changed: bool,
    /// Per instance, a count of its websocket's openings and closings: a line reported while it
    /// was down is never seen, so every change of it makes that instance's tails read again.
    push_epochs: HashMap<InstanceId, u64>,
}

/// How long a flush under way keeps its tail from being flushed again; a flush always sets the
/// real next time when it ends, so this only matters if one never ends.
const IN_FLIGHT: Duration = Duration::minutes(10);

/// The store setting that holds the live tails between restarts.
const SAVED_TAILS: &str = "live_tails";

/// A tail as saved in the store.
#[derive(Debug, Serialize, Deserialize)]
struct SavedTail {
    room: RoomId,
    task: TaskRef,
    thread_root: EventId,
    posted_lines: usize,
    messages: usize,
    #[serde(default)]
    redaction: LineState,
}

impl Tails {
    pub(crate) fn is_following(&self, room: &RoomId, task: TaskRef) -> bool {
        self.tails.contains_key(&(room.clone(), task))
    }

    pub(crate) fn start(&mut self, room: RoomId, tail: Tail) {
        // Only what is saved counts as a change: a flush that posted nothing writes nothing.
        let saved_as_before = self.tails.get(&(room.clone(), tail.task)).is_some_and(|before| {
            (before.thread_root == tail.thread_root)
                && (before.posted_lines, before.messages, before.redaction)
                    == (tail.posted_lines, tail.messages, tail.redaction)
        });
        self.changed |= !saved_as_before;
        self.tails.insert((room, tail.task), tail);
    }

    pub(crate) fn stop(&mut self, room: &RoomId, task: TaskRef) -> bool {
        let stopped = self.tails.remove(&(room.clone(), task)).is_some();
        self.changed |= stopped;
        stopped
    }

    pub(crate) fn next_deadline(&self) -> Option<DateTime<Utc>> {
        self.tails.values().map(|t| t.next_flush).min()
    }

    /// Stops every tail in `room`; returns how many there were.
    pub(crate) fn stop_room(&mut self, room: &RoomId) -> usize {
        let before = self.tails.len();
        self.tails.retain(|(r, _), _| r != room);
        let stopped = before - self.tails.len();
        self.changed |= stopped > 0;
        stopped
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.tails.is_empty()
    }

    /// An instance's websocket opened or closed.
    pub(crate) fn push_changed(&mut self, instance: InstanceId) {
        *self.push_epochs.entry(instance).or_default() += 1;
    }

    fn push_epoch(&self, instance: InstanceId) -> u64 {
        self.push_epochs.get(&instance).copied().unwrap_or_default()
    }

    /// Puts a flushed tail back, unless it was stopped meanwhile.
    pub(crate) fn put_back(&mut self, room: &RoomId, tail: Tail) {
        if self.tails.contains_key(&(room.clone(), tail.task)) {
            self.start(room.clone(), tail);
        }
    }

    /// The websocket reported a new output line of `task`.
    pub(crate) fn output_grew(&mut self, task: TaskRef) {
        for tail in self.tails.values_mut().filter(|t| t.task == task) {
            tail.unchanged_since = None;
        }
    }

    /// Makes every tail of `task` flush at `now` at the latest.
    pub(crate) fn flush_soon(&mut self, task: TaskRef, now: DateTime<Utc>) {
        for tail in self.tails.values_mut().filter(|t| t.task == task) {
            tail.next_flush = tail.next_flush.min(now);
        }
    }

    /// Whether `tail`'s output is known not to have grown since it was last read.
    fn known_unchanged(&self, tail: &Tail, push_open: bool) -> bool {
        push_open && tail.unchanged_since == Some(self.push_epoch(tail.task.instance))
    }

    /// The tails to flush now, in a stable order (room, then task), each put out of reach of the
    /// next call until its flush sets its next time: a flush still under way is not started twice.
    pub(crate) fn take_due(&mut self, now: DateTime<Utc>) -> Vec<(RoomId, TaskRef)> {
        let mut due: Vec<_> = self.tails.iter().filter(|(_, t)| t.next_flush <= now).map(|(k, _)| k.clone()).collect();
        due.sort_by(|a, b| (a.0.as_str(), a.1).cmp(&(b.0.as_str(), b.1)));
        for key in &due {
            if let Some(tail) = self.tails.get_mut(key) {
                tail.next_flush = now + IN_FLIGHT;
            }
        }
        due
    }
}

/// Saves the tails if they changed, so that after a restart they go on from the last line
/// posted. A failure is logged and retried at the next change: the tails themselves go on.
pub(crate) async fn save_if_changed(core: &Core) {
    let mut saved: Vec<SavedTail> = {
        let mut tails = lock(&core.tails);
        if !tails.changed {
            return;
        }
        // Taken now: a change made while this save is on its way is saved by the next one.
        tails.changed = false;
        tails
            .tails
            .iter()
            .map(|((room, task), tail)| SavedTail {
                room: room.clone(),
                task: *task,
                thread_root: tail.thread_root.clone(),
                posted_lines: tail.posted_lines,
                messages: tail.messages,
                redaction: tail.redaction,
            })
            .collect()
    };
    saved.sort_by(|a, b| (a.room.as_str(), a.task).cmp(&(b.room.as_str(), b.task)));
    let json = match serde_json::to_string(&saved) {
        Ok(json) => json,
        Err(e) => {
            tracing::error!(error = %e, "cannot encode the live tails");
            return;
        }
    };
    if let Err(e) = core.store().set_setting(SAVED_TAILS, &json).await {
        lock(&core.tails).changed = true;
        tracing::warn!(error = %e, "cannot save the live tails; will retry");
    }
}

/// Takes up the tails saved before a restart; each flushes at once. Tails of an instance that
/// is no longer configured are dropped, with a word in the log.
pub(crate) async fn resume(core: &Core) {
    let json = match core.store().setting(SAVED_TAILS).await {
        Ok(Some(json)) => json,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the live tails saved before the restart");
            return;
        }
    };
    let saved: Vec<SavedTail> = match serde_json::from_str(&json) {
        Ok(saved) => saved,
        Err(e) => {
            tracing::warn!(error = %e, "the saved live tails are unreadable; they are not resumed");
            return;
        }
    };
    let now = core.now();
    let mut tails = lock(&core.tails);
    for t in saved {
        if core.instances().get(t.task.instance).is_none() {
            tracing::warn!(instance = %t.task.instance, task = %t.task.task, "a live tail's instance is no longer configured; it ends");
            tails.changed = true;
            continue;
        }
        let tail = Tail {
            task: t.task,
            thread_root: t.thread_root,
            posted_lines: t.posted_lines,
            messages: t.messages,
            redaction: t.redaction,
            unchanged_since: None,
            next_flush: now,
        };
        tails.start(t.room, tail);
    }
    tails.changed = false;
}

/// Posts what `task` wrote since the last flush to `room`'s thread; the last flush after the
/// task ended says so and ends the tail.
pub(crate) async fn flush(core: &Core, room: &RoomId, task: TaskRef) {
    let Some(mut tail) = lock(&core.tails).tails.get(&(room.clone(), task)).cloned() else { return };
    let interval = core.settings.tail_interval;
    let now = core.now();
    let Some(semaphore) = core.instances().get(task.instance).map(|i| std::sync::Arc::clone(&i.semaphore)) else {
        lock(&core.tails).stop(room, task);
        return;
    };
    // The status first: lines written before the end are all in the output read after it.
    let status = semaphore.task(task.project, task.task).await.map(|t| t.status);
    let ended = matches!(&status, Ok(s) if s.is_terminal());
    let push_open = lock(&core.watch).push_open(task.instance);
    // Semaphore has no way to read only the new part of a log: spare the whole read when the
    // websocket says nothing was written (the last read, at the end, is never spared).
    let (unchanged, reading_epoch) = {
        let tails = lock(&core.tails);
        (tails.known_unchanged(&tail, push_open), push_open.then(|| tails.push_epoch(task.instance)))
    };
    if !ended && unchanged {
        tail.next_flush = now + interval;
        lock(&core.tails).put_back(room, tail);
        return;
    }
    let output = semaphore.task_output(task.project, task.task).await;
    let log = match output {
        Ok(log) => log,
        Err(e) => {
            tracing::warn!(task = %task.task, error = %e, "cannot read output for the live tail; will retry");
            tail.next_flush = now + interval;
            lock(&core.tails).put_back(room, tail);
            return;
        }
    };
    let arg = task_arg(core.instances(), task.instance, task.task);
    // Redacted here, in order across flushes, besides the redaction of every post.
    let mut redactor = core.out.redactor().lines_from(tail.redaction);
    let mut skip_notice = None;
    if tail.posted_lines == 0 && tail.messages == 0 && log.len() > BACKLOG_MAX_LINES {
        // Started on a task that has written a lot already: the thread begins near the end and
        // says where the rest is, instead of posting the whole log message after message.
        let skipped = log.len() - BACKLOG_SHOWN_LINES;
        // Redacted all the same, unshown: a private key that begins among them is masked where
        // its lines are shown.
        let mut batches = redactor.redact_each();
        log.each_line(0..skipped, &mut |_, line| batches.push(line));
        drop(batches.finish());
        let prefix = &core.settings.prefix;
        let mut message = Reply::notice()
            .push(&format!("⏩ {skipped} earlier lines are not repeated here: "))
            .code(&format!("{prefix} logs {arg}"))
            .push(" pages them, and ")
            .code(&format!("{prefix} logs {arg} --file"))
            .push(" has the whole log.")
            .build();
        message.thread_root = Some(tail.thread_root.clone());
        message.idempotency_key = Some(format!("tail-skip:{}:{}", tail.thread_root, task.task));
        skip_notice = Some(message);
        tail.posted_lines = skipped;
        tail.messages += 1;
    }
    // The new lines in one text (a tail may start on a log of millions of lines), the few that
    // redaction changed laid over them.
    let mut text = String::new();
    let mut ends = Vec::new();
    let mut batches = redactor.redact_each();
    log.each_line(tail.posted_lines..log.len(), &mut |_, line| {
        batches.push(line);
        text.push_str(line);
        ends.push(text.len());
    });
    let changed = batches.finish();
    tail.redaction = redactor.state();
    tail.unchanged_since = reading_epoch;
    let mut new: Vec<&str> = Vec::with_capacity(ends.len());
    let mut start = 0;
    for &end in &ends {
        new.push(&text[start..end]);
        start = end;
    }
    for (n, line) in &changed {
        new[*n] = line;
    }
    if let Some(notice) = skip_notice {
        core.out.post(room, notice).await;
    }
    for chunk in chunks(&new, core.settings.max_message_bytes) {
        let message = chunk_message(&tail, chunk);
        tail.posted_lines += chunk.len();
        tail.messages += 1;
        core.out.post(room, message).await;
    }
    if ended {
        let label = crate::instances::task_label(core.instances(), task.instance, task.task);
        let end = Reply::notice().push(&format!("— end of the log of task {label} —"));
        let mut message = end.build();
        message.thread_root = Some(tail.thread_root.clone());
        message.idempotency_key = Some(format!("tail-end:{room}:{}", task.task));
        core.out.post(room, message).await;
        lock(&core.tails).stop(room, task);
        return;
    }
    if let Err(e) = &status {
        tracing::warn!(task = %task.task, error = %e, "cannot read the task's status for the live tail");
    }
    tail.next_flush = now + paced(interval, log.text_len());
    lock(&core.tails).put_back(room, tail);
}

/// A tail started on a task with more lines than this does not post them all...
const BACKLOG_MAX_LINES: usize = 300;
/// ...but this many of the last ones, after a word on where the rest is.
const BACKLOG_SHOWN_LINES: usize = 50;

/// Bytes of log a tail may read per second, on average. Semaphore 2.10 can only send a task's
/// whole output, so a tail reads all of it at every flush: on a huge log that would be a steady
/// flood from Semaphore. Flushes are spaced out instead (each then posts more lines at once);
/// none is lost.
const READ_BYTES_PER_SECOND: usize = 1_000_000;
/// However big the log, a tail posts at least this often.
const LONGEST_PACE: Duration = Duration::seconds(120);

/// The wait until the next flush after reading `log_bytes` of output.
fn paced(interval: Duration, log_bytes: usize) -> Duration {
    let reading = Duration::seconds(i64::try_from(log_bytes / READ_BYTES_PER_SECOND).unwrap_or(i64::MAX));
    interval.max(reading).min(LONGEST_PACE.max(interval))
}

/// Splits lines into runs whose message stays under `budget` bytes (body plus HTML, both
/// roughly the text again after escaping); a single longer line is a message of its own, cut by
/// the renderer's page limit like any other.
fn chunks<'a>(lines: &'a [&'a str], budget: usize) -> Vec<&'a [&'a str]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut size = 0;
    for (n, line) in lines.iter().enumerate() {
        // Escaping and colour markup can triple a line in HTML; the body adds it once more.
        let cost = line.len() * 4 + 16;
        if n > start && size + cost > budget {
            out.push(&lines[start..n]);
            start = n;
            size = 0;
        }
        size += cost;
    }
    if start < lines.len() {
        out.push(&lines[start..]);
    }
    out
}

fn chunk_message(tail: &Tail, lines: &[&str]) -> OutgoingMessage {
    let text = lines.join("\n");
    let plain = ansi::strip(&text).into_owned();
    let html = ansi::to_html(&text);
    let mut message = Reply::notice().pre(&plain, &html).build();
    message.thread_root = Some(tail.thread_root.clone());
    message.idempotency_key =
        Some(format!("tail:{}:{}:{}:{}", tail.thread_root, tail.task.task, tail.posted_lines, tail.messages));
    message
}

/// Whether runs started in `room` are tailed from the start (`logs on`).
pub(crate) async fn room_tails_runs(core: &Core, room: &RoomId) -> bool {
    core.store().room_settings(room).await.map(|s| s.log_tailing).unwrap_or(false)
}

/// Starts following `task` in `room` under `thread_root`, from its first line.
pub(crate) fn follow(core: &Core, room: RoomId, task: TaskRef, thread_root: EventId) {
    let now = core.now();
    let tail = Tail {
        task,
        thread_root,
        posted_lines: 0,
        messages: 0,
        redaction: LineState::default(),
        unchanged_since: None,
        next_flush: now,
    };
    lock(&core.tails).start(room, tail);
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use chatrixcd_clock::ManualClock;
    use chatrixcd_ports::chat::EventId;
    use chatrixcd_ports::semaphore::{MockSemaphorePort, TaskLog};
    use chatrixcd_ports::store::TaskRef;
    use chatrixcd_ports::{ProjectId, TaskId, TaskStatus};
    use chatrixcd_store_memory::MemoryStore;
    use chrono::Duration;

    use super::{chunks, follow};
    use crate::testing::{bare_task, bot_with, room, settings};

    /// A Semaphore whose task runs and has written `output` so far.
    fn running_task(output: &Arc<Mutex<Vec<String>>>) -> MockSemaphorePort {
        let mut sem = MockSemaphorePort::new();
        sem.expect_task().returning(|p, t| Ok(bare_task(p, t, TaskStatus::Running)));
        let written = Arc::clone(output);
        sem.expect_task_output()
            .returning(move |_, _| Ok(TaskLog::from_entries(written.lock().unwrap().iter()).unwrap()));
        sem
    }

    /// A Semaphore whose task is in `status` and has written `output` so far, and how many times
    /// the output was read.
    fn counting_reads(
        output: &Arc<Mutex<Vec<String>>>,
        status: &Arc<Mutex<TaskStatus>>,
    ) -> (MockSemaphorePort, Arc<std::sync::atomic::AtomicUsize>) {
        let reads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut sem = MockSemaphorePort::new();
        let now = Arc::clone(status);
        sem.expect_task().returning(move |p, t| Ok(bare_task(p, t, now.lock().unwrap().clone())));
        let (written, counted) = (Arc::clone(output), Arc::clone(&reads));
        sem.expect_task_output().returning(move |_, _| {
            counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(TaskLog::from_entries(written.lock().unwrap().iter()).unwrap())
        });
        (sem, reads)
    }

    #[tokio::test]
    async fn a_tail_goes_on_after_a_restart_from_the_last_line_posted() {
        let clock = ManualClock::at_epoch();
        let output: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(vec!["one".into(), "two".into()]));
        let store = Arc::new(MemoryStore::new());
        let (bot, chat) = bot_with(Arc::new(running_task(&output)), store.clone(), Arc::new(clock.clone()), settings());
        let task = TaskRef { instance: Default::default(), project: ProjectId::new(1), task: TaskId::new(7) };
        follow(&bot.core, room(), task, EventId("$status".into()));
        bot.tick().await;
        assert_eq!(chat.bodies().len(), 1);
        drop(bot);

        output.lock().unwrap().push("three".into());
        let (bot, chat) = bot_with(Arc::new(running_task(&output)), store, Arc::new(clock.clone()), settings());
        bot.resume().await;
        assert!(
            crate::core::lock(&bot.core.tails).is_following(&room(), task),
            "the tail was saved and is taken up again"
        );
        bot.tick().await;
        let bodies = chat.bodies();
        assert_eq!(bodies.len(), 1, "{bodies:?}");
        assert!(bodies[0].contains("three") && !bodies[0].contains("two"), "only the new line: {bodies:?}");
    }

    #[tokio::test]
    async fn a_quiet_task_is_not_read_again_while_the_websocket_says_nothing_was_written() {
        use chatrixcd_ports::TaskEvent;
        let clock = ManualClock::at_epoch();
        let output: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(vec!["one".into()]));
        let (sem, reads) = counting_reads(&output, &Arc::new(Mutex::new(TaskStatus::Running)));
        let (bot, chat) = bot_with(Arc::new(sem), Arc::new(MemoryStore::new()), Arc::new(clock.clone()), settings());
        let task = TaskRef { instance: Default::default(), project: ProjectId::new(1), task: TaskId::new(7) };
        bot.on_task_event(chatrixcd_ports::InstanceId::default(), TaskEvent::Connected).await;
        follow(&bot.core, room(), task, EventId("$status".into()));
        let flush = async |bot: &crate::Bot| {
            clock.advance(Duration::seconds(5));
            bot.tick().await;
            reads.swap(0, std::sync::atomic::Ordering::Relaxed)
        };
        assert_eq!(flush(&bot).await, 1, "the first flush reads");
        assert_eq!(flush(&bot).await, 0, "nothing pushed: nothing to read");
        output.lock().unwrap().push("two".into());
        let line = TaskEvent::Log { project: task.project, task: task.task, time: None, text: "two".into() };
        bot.on_task_event(chatrixcd_ports::InstanceId::default(), line).await;
        assert_eq!(flush(&bot).await, 1, "a pushed line: read again");
        assert_eq!(chat.bodies().len(), 2, "one message per flush with new lines");
        bot.on_task_event(chatrixcd_ports::InstanceId::default(), TaskEvent::Disconnected).await;
        assert_eq!(flush(&bot).await, 1, "without the websocket every flush reads");
        assert_eq!(flush(&bot).await, 1);
    }

    #[tokio::test]
    async fn a_big_log_is_read_less_often_and_its_end_is_still_told_at_once() {
        use chatrixcd_ports::TaskEvent;
        let clock = ManualClock::at_epoch();
        // 10 MB written so far: at a megabyte a second of reading, a flush every 10 s.
        let line = "x".repeat(999);
        let output: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(vec![line.clone(); 10_000]));
        let status = Arc::new(Mutex::new(TaskStatus::Running));
        let (sem, reads) = counting_reads(&output, &status);
        let (bot, chat) = bot_with(Arc::new(sem), Arc::new(MemoryStore::new()), Arc::new(clock.clone()), settings());
        let task = TaskRef { instance: Default::default(), project: ProjectId::new(1), task: TaskId::new(7) };
        follow(&bot.core, room(), task, EventId("$status".into()));
        bot.tick().await;
        assert_eq!(reads.swap(0, std::sync::atomic::Ordering::Relaxed), 1);
        output.lock().unwrap().push("more".into());
        clock.advance(Duration::seconds(5));
        bot.tick().await;
        assert_eq!(reads.load(std::sync::atomic::Ordering::Relaxed), 0, "5 s after reading 10 MB: not yet again");
        clock.advance(Duration::seconds(5));
        bot.tick().await;
        assert_eq!(reads.swap(0, std::sync::atomic::Ordering::Relaxed), 1, "10 s after: read again");
        assert!(chat.bodies().last().unwrap().contains("more"), "the lines written meanwhile, none lost");

        // The task ends: the websocket says so, and the tail ends without waiting out its pace.
        output.lock().unwrap().push("done".into());
        *status.lock().unwrap() = TaskStatus::Success;
        let ended = TaskEvent::Status {
            project: task.project,
            task: task.task,
            template: chatrixcd_ports::TemplateId::new(1),
            status: TaskStatus::Success,
            start: None,
            end: None,
        };
        bot.on_task_event(chatrixcd_ports::InstanceId::default(), ended).await;
        bot.tick().await;
        let bodies = chat.bodies().join("\n");
        assert!(bodies.contains("done") && bodies.contains("end of the log of task #7"), "{bodies}");
        assert!(!crate::core::lock(&bot.core.tails).is_following(&room(), task));
    }

    #[tokio::test]
    async fn a_tail_started_on_a_long_log_begins_near_its_end_and_keeps_its_secrets() {
        let clock = ManualClock::at_epoch();
        let mut lines: Vec<String> = (0..1_000).map(|n| format!("line {n}")).collect();
        // A private key begins among the lines not shown and ends among those shown.
        lines[945] = "-----BEGIN OPENSSH PRIVATE KEY-----".into();
        // Short body lines, which no other rule would mask: only knowing a key began does.
        for (n, line) in lines[946..960].iter_mut().enumerate() {
            *line = format!("keybody{n}");
        }
        lines[960] = "-----END OPENSSH PRIVATE KEY-----".into();
        let output = Arc::new(Mutex::new(lines));
        let (bot, chat) = bot_with(
            Arc::new(running_task(&output)),
            Arc::new(MemoryStore::new()),
            Arc::new(clock.clone()),
            settings(),
        );
        let task = TaskRef { instance: Default::default(), project: ProjectId::new(1), task: TaskId::new(7) };
        follow(&bot.core, room(), task, EventId("$status".into()));
        bot.tick().await;
        let bodies = chat.bodies();
        assert!(
            bodies[0].contains("950 earlier lines are not repeated here") && bodies[0].contains("!cd logs 7 --file")
        );
        let shown = bodies[1..].join("\n");
        assert!(shown.contains("line 999") && shown.contains("line 961") && !shown.contains("line 949\n"), "{shown}");
        assert!(!shown.contains("keybody"), "the key's body stays masked:\n{shown}");

        output.lock().unwrap().push("line 1000".into());
        clock.advance(Duration::seconds(5));
        bot.tick().await;
        let bodies = chat.bodies();
        assert!(bodies.last().unwrap().contains("line 1000") && !bodies.last().unwrap().contains("line 999"));
        assert!(!bodies.iter().any(|b| b.contains("earlier lines")), "said once: {bodies:?}");
    }

    #[test]
    fn the_pace_follows_the_log_size_within_bounds() {
        use super::paced;
        let five = Duration::seconds(5);
        assert_eq!(paced(five, 0), five);
        assert_eq!(paced(five, 4_999_999), five);
        assert_eq!(paced(five, 30_000_000), Duration::seconds(30));
        assert_eq!(paced(five, 10_000_000_000), Duration::seconds(120), "never longer than two minutes");
        assert_eq!(paced(Duration::seconds(300), 0), Duration::seconds(300), "a longer interval set is kept");
    }

    #[tokio::test]
    async fn a_flush_that_posts_nothing_saves_nothing() {
        use chatrixcd_ports::Store as _;
        let clock = ManualClock::at_epoch();
        let output: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(vec!["one".into()]));
        let store = Arc::new(MemoryStore::new());
        let (bot, _chat) =
            bot_with(Arc::new(running_task(&output)), store.clone(), Arc::new(clock.clone()), settings());
        follow(
            &bot.core,
            room(),
            TaskRef { instance: Default::default(), project: ProjectId::new(1), task: TaskId::new(7) },
            EventId("$status".into()),
        );
        bot.tick().await;
        let saved = store.setting(super::SAVED_TAILS).await.unwrap();
        assert!(saved.as_deref().is_some_and(|s| s.contains("\"posted_lines\":1")), "{saved:?}");
        store.set_setting(super::SAVED_TAILS, "untouched").await.unwrap();
        clock.advance(Duration::seconds(5));
        bot.tick().await;
        assert_eq!(store.setting(super::SAVED_TAILS).await.unwrap().as_deref(), Some("untouched"));
    }

    #[tokio::test]
    async fn unreadable_saved_tails_are_skipped_not_fatal() {
        use chatrixcd_ports::Store as _;
        let store = Arc::new(MemoryStore::new());
        store.set_setting(super::SAVED_TAILS, "{not json").await.unwrap();
        let clock = ManualClock::at_epoch();
        let (bot, _chat) = bot_with(Arc::new(MockSemaphorePort::new()), store, Arc::new(clock), settings());
        bot.resume().await;
        assert!(crate::core::lock(&bot.core.tails).is_empty());
    }

    #[tokio::test]
    async fn a_private_key_cut_across_two_flushes_is_masked_in_both() {
        const BODY: [&str; 2] = [
            "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
            "QyNTUxOQAAACBhbmRzb21lc2VjcmV0c2hvcnQ=",
        ];
        let clock = ManualClock::at_epoch();
        let output: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(
            ["TASK [write key] ***", "-----BEGIN OPENSSH PRIVATE KEY-----", BODY[0]].map(str::to_owned).to_vec(),
        ));
        let sem = running_task(&output);
        let (bot, chat) = bot_with(Arc::new(sem), Arc::new(MemoryStore::new()), Arc::new(clock.clone()), settings());
        let task = TaskRef { instance: Default::default(), project: ProjectId::new(1), task: TaskId::new(7) };
        follow(&bot.core, room(), task, EventId("$status".into()));
        bot.tick().await;
        output
            .lock()
            .unwrap()
            .extend([BODY[1], "-----END OPENSSH PRIVATE KEY-----", "ok: [localhost]"].map(str::to_owned));
        clock.advance(Duration::seconds(5));
        bot.tick().await;
        let bodies = chat.bodies();
        assert_eq!(bodies.len(), 2, "one message per flush: {bodies:?}");
        for secret in BODY {
            assert!(bodies.iter().all(|b| !b.contains(&secret[..20])), "{bodies:?}");
        }
        assert!(bodies[1].contains("ok: [localhost]"), "{bodies:?}");
    }

    #[test]
    fn chunks_cover_every_line_once_and_stay_under_budget() {
        let lines: Vec<String> = (0..500).map(|n| format!("line {n} {}", "x".repeat(n % 90))).collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let parts = chunks(&refs, 4_000);
        let joined: Vec<&str> = parts.iter().flat_map(|c| c.iter().copied()).collect();
        assert_eq!(joined, refs, "every line exactly once, in order");
        for part in &parts {
            let cost: usize = part.iter().map(|l| l.len() * 4 + 16).sum();
            assert!(cost <= 4_000 || part.len() == 1, "{cost}");
        }
        assert!(chunks(&[], 4_000).is_empty());
        let huge = "y".repeat(10_000);
        assert_eq!(chunks(&[huge.as_str(), "a"], 4_000).len(), 2, "an oversized line stands alone");
    }
}
