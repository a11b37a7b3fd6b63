//! Watching tasks the bot reports on: one status message per run, edited in place as the task
//! moves, and a mention of the requester when it ends.
//!
//! Polling is per instance and per project, not per task: one `tasks/last` call covers every
//! watched task of a project, so watching many tasks costs a handful of requests per interval.
//! Each instance is polled by a job of its own, so a slow instance delays only its own polls.

use std::collections::BTreeMap;

use chatrixcd_ports::semaphore::{SemaphoreError, Task};
use chatrixcd_ports::store::TrackedTask;
use chatrixcd_ports::{InstanceId, ProjectId, TaskStatus};
use chrono::{DateTime, Utc};

use crate::core::{Core, lock};
use crate::instances::{tag, task_arg, task_label};
use crate::render::Reply;
use crate::render::duration::human;
use crate::render::reply::status_style;

/// The newest tasks fetched per project per poll: the most `tasks/last` answers.
const RECENT_LIMIT: u16 = 200;
/// The longer listing, for projects with watched tasks beyond their newest 200: Semaphore's whole
/// task list, which stops at the newest 1000. One such request replaces up to 800 single reads.
const DEEP_LIMIT: u16 = 1000;

/// How a task ended, as people understand it: Semaphore reports a gracefully stopped task as
/// `error`, so a stop request followed by `error` reads as stopped.
pub(crate) fn shown_status(tracked: &TrackedTask, status: &TaskStatus) -> TaskStatus {
    match status {
        TaskStatus::Error if tracked.stop_requested_by.is_some() => TaskStatus::Stopped,
        other => other.clone(),
    }
}

/// The one status message of a run.
pub(crate) fn status_message(core: &Core, tracked: &TrackedTask, task: Option<&Task>, now: DateTime<Utc>) -> Reply {
    let status = task.map_or(tracked.last_status.clone(), |t| t.status.clone());
    let shown = shown_status(tracked, &status);
    let (emoji, color) = status_style(&shown);
    let instances = core.instances();
    let mut reply = Reply::notice()
        .push(emoji)
        .push(" ")
        .push(&tag(instances, tracked.instance))
        .bold(&tracked.template_name)
        .push(&format!(" · task #{} · ", tracked.task))
        .colored(shown.as_str(), color)
        .push(" · ");
    let timing = match task {
        Some(Task { start: Some(start), end, .. }) => {
            let until = end.unwrap_or(now);
            if shown.is_terminal() {
                format!("took {}", human(until - *start))
            } else {
                format!("running for {}", human(until - *start))
            }
        }
        _ => format!("queued for {}", human(now - tracked.started_at)),
    };
    reply = reply.push(&timing).push(" · started by ").push(tracked.requester.as_str());
    if let Some(by) = &tracked.stop_requested_by {
        reply = reply.push(" · stop requested by ").push(by.as_str());
    }
    if shown == TaskStatus::WaitingConfirmation {
        let prefix = &core.settings.prefix;
        let summary = lock(&core.watch).plan_summaries.get(&tracked.task_ref()).cloned();
        if let Some(summary) = summary {
            reply = reply.line().bold(&summary);
        }
        let arg = task_arg(instances, tracked.instance, tracked.task);
        reply = reply
            .line()
            .push("✋ The plan waits for approval: react ✅ to apply or ❌ to reject, or ")
            .code(&format!("{prefix} approve {arg}"))
            .push(" / ")
            .code(&format!("{prefix} reject {arg}"))
            .push(" (admins).");
    }
    if let Some(url) = instances
        .get(tracked.instance)
        .and_then(|i| i.semaphore.task_url(tracked.project, tracked.template, tracked.task))
    {
        reply = reply.push(" · ").link("open in Semaphore", &url);
    }
    reply
}

/// Polls every watched task of `instance` once; returns whether any is still being watched there.
pub(crate) async fn poll(core: &Core, instance: InstanceId) -> bool {
    let tracked = match core.store().tracked_tasks().await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read watched tasks; will retry");
            return true;
        }
    };
    let Some(semaphore) = core.instances().get(instance).map(|i| std::sync::Arc::clone(&i.semaphore)) else {
        return false;
    };
    let mut by_project: BTreeMap<ProjectId, Vec<TrackedTask>> = BTreeMap::new();
    for t in tracked.into_iter().filter(|t| t.instance == instance) {
        by_project.entry(t.project).or_default().push(t);
    }
    // One listing per project covers its watched tasks: the newest 200 usually, the newest 1000
    // when the last poll found watched tasks further back (a long queue). Watched tasks older
    // still are asked for one by one: a bounded number per poll, least recently checked first, so
    // even thousands of queued tasks cost no more than ten extra requests.
    let mut older: Vec<TrackedTask> = Vec::new();
    for (project, watched) in by_project {
        let deep = lock(&core.watch).of(instance).deep_listing.contains(&project);
        let limit = if deep { DEEP_LIMIT } else { RECENT_LIMIT };
        let recent = match semaphore.recent_tasks(project, limit).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(%instance, project = %project, error = %e, "cannot poll tasks; will retry");
                continue;
            }
        };
        let position: std::collections::HashMap<_, _> = recent.iter().enumerate().map(|(i, t)| (t.id, i)).collect();
        let mut beyond_recent = false;
        for tracked in watched {
            match position.get(&tracked.task) {
                Some(&i) => {
                    beyond_recent |= i >= usize::from(RECENT_LIMIT);
                    changed(core, tracked, Ok(recent[i].clone())).await;
                }
                None => {
                    beyond_recent = true;
                    older.push(tracked);
                }
            }
        }
        let mut watch = lock(&core.watch);
        let deep_listing = &mut watch.of(instance).deep_listing;
        if beyond_recent {
            deep_listing.insert(project);
        } else {
            deep_listing.remove(&project);
        }
    }
    {
        let mut watch = lock(&core.watch);
        let checked = &watch.of(instance).checked_alone;
        older.sort_by_key(|t| checked.get(&t.task_ref()).copied());
    }
    let now = core.now();
    for tracked in older.into_iter().take(core.settings.poll_individual_budget) {
        lock(&core.watch).of(instance).checked_alone.insert(tracked.task_ref(), now);
        let current = semaphore.task(tracked.project, tracked.task).await;
        changed(core, tracked, current).await;
    }
    match core.store().tracked_tasks().await {
        Ok(t) => {
            let here = t.iter().filter(|t| t.instance == instance).count();
            core.meter.watched(instance, here);
            here > 0
        }
        Err(_) => true,
    }
}

/// Acts on a polled task: shows a change, refreshes a long run, or notices that it is gone.
async fn changed(core: &Core, tracked: TrackedTask, current: Result<Task, SemaphoreError>) {
    match current {
        Ok(task) if task.status != tracked.last_status => update(core, tracked, &task).await,
        Ok(task) => refresh(core, &tracked, &task).await,
        Err(SemaphoreError::NotFound(_) | SemaphoreError::Rejected(_)) => vanished(core, tracked).await,
        Err(e) => {
            tracing::warn!(instance = %tracked.instance, task = %tracked.task, error = %e, "cannot poll task; will retry");
        }
    }
}

/// A status change pushed by Semaphore.
#[derive(Debug, Clone)]
pub(crate) struct Pushed {
    pub project: ProjectId,
    pub task: chatrixcd_ports::TaskId,
    pub template: chatrixcd_ports::TemplateId,
    pub status: TaskStatus,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

/// Shows a pushed status change on every run watching that task; the event says all the status
/// message needs, so no request is made.
pub(crate) async fn on_status(core: &Core, instance: InstanceId, pushed: Pushed) {
    let tracked = match core.store().tracked_tasks().await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read watched tasks; the next poll catches up");
            return;
        }
    };
    let here = |t: &TrackedTask| t.instance == instance && t.project == pushed.project && t.task == pushed.task;
    for tracked in tracked.into_iter().filter(here) {
        if tracked.last_status == pushed.status {
            continue;
        }
        let task = Task {
            id: pushed.task,
            project_id: pushed.project,
            template_id: pushed.template,
            status: pushed.status.clone(),
            created: None,
            start: pushed.start,
            end: pushed.end,
            message: None,
            template_name: Some(tracked.template_name.clone()),
            user_name: None,
        };
        update(core, tracked, &task).await;
    }
}

/// Edits a running task's status message when its "running for" has gone stale.
async fn refresh(core: &Core, tracked: &TrackedTask, task: &Task) {
    let now = core.now();
    let key = (tracked.room.clone(), tracked.task_ref());
    let Some(event) = tracked.status_event.clone() else { return };
    let due = lock(&core.watch).status_edited.get(&key).is_none_or(|last| now - *last >= core.settings.status_refresh);
    if !due || !task.status.is_active() {
        return;
    }
    let mut message = status_message(core, tracked, Some(task), now).build();
    let minutes = task.start.map_or(0, |s| (now - s).num_minutes());
    message.idempotency_key = Some(format!("status:{}:{}:{}:{minutes}m", tracked.room, idem(tracked), task.status));
    core.out.edit(&tracked.room, &event, message).await;
    lock(&core.watch).status_edited.insert(key, now);
}

/// The part of idempotency keys that names the task: as before for the default instance, so a
/// restarted bot finds the keys it used; with the instance for the others.
fn idem(tracked: &TrackedTask) -> String {
    if tracked.instance == InstanceId::default() {
        tracked.task.to_string()
    } else {
        format!("{}:{}", tracked.instance, tracked.task)
    }
}

async fn update(core: &Core, mut tracked: TrackedTask, task: &Task) {
    let now = core.now();
    let task_ref = tracked.task_ref();
    let key = (tracked.room.clone(), task_ref);
    // Within the edit gap, an intermediate status waits for the next poll (which sees it still
    // differs from the last one shown); an end is never held back.
    {
        let mut watch = lock(&core.watch);
        let too_soon = watch.status_edited.get(&key).is_some_and(|last| now - *last < core.settings.status_edit_gap);
        if too_soon && !task.status.is_terminal() && tracked.status_event.is_some() {
            watch.soon(tracked.instance, now, core.settings.poll_interval);
            return;
        }
        watch.status_edited.insert(key.clone(), now);
    }
    tracked.last_status = task.status.clone();
    let summarised = lock(&core.watch).plan_summaries.contains_key(&task_ref);
    if task.status == TaskStatus::WaitingConfirmation
        && !summarised
        && let Some(instance) = core.instances().get(tracked.instance)
    {
        match instance.semaphore.task_log_text(tracked.project, tracked.task).await {
            Ok(log) => {
                if let Some(summary) = plan_summary(&log) {
                    lock(&core.watch).plan_summaries.insert(task_ref, summary);
                }
            }
            Err(e) => tracing::warn!(task = %tracked.task, error = %e, "cannot read the plan to summarise it"),
        }
    }
    let mut message = status_message(core, &tracked, Some(task), now).build();
    message.idempotency_key = Some(format!("status:{}:{}:{}", tracked.room, idem(&tracked), task.status));
    match &tracked.status_event {
        Some(event) => {
            let event = event.clone();
            core.out.edit(&tracked.room, &event, message).await;
        }
        None => tracked.status_event = core.out.post(&tracked.room, message).await,
    }
    if !task.status.is_terminal() {
        if let Err(e) = core.store().track(tracked).await {
            tracing::warn!(error = %e, "could not save a task's status");
        }
        return;
    }
    let shown = shown_status(&tracked, &task.status);
    let ended = task.end.unwrap_or(now);
    core.meter.task_finished(task_ref.instance, &shown);
    tracing::info!(
        instance = %task_ref.instance, task = %task_ref.task, template = %tracked.template_name, status = %shown,
        room = %tracked.room, "task finished"
    );
    if let Err(e) = core.store().finish_run(task_ref, ended, shown.clone()).await {
        tracing::error!(error = %e, "could not record how a run ended");
    }
    let (emoji, _) = status_style(&shown);
    if let Some(event) = tracked.status_event.clone() {
        core.out.react(&tracked.room, &event, emoji).await;
    }
    let took = match (task.start, task.end) {
        (Some(s), Some(e)) => format!(" after {}", human(e - s)),
        _ => String::new(),
    };
    let verdict = match &shown {
        TaskStatus::Success => "finished successfully 🎉".to_owned(),
        TaskStatus::Stopped => match &tracked.stop_requested_by {
            Some(by) => format!("was stopped by {by}"),
            None => "was stopped".to_owned(),
        },
        TaskStatus::Error => "failed".to_owned(),
        other => format!("ended with status {other}"),
    };
    let instances = core.instances();
    let reply = Reply::text()
        .mention(&tracked.requester, None)
        .push(&format!(
            " {emoji} {}{} (task #{}) {verdict}{took}. ",
            tag(instances, tracked.instance),
            tracked.template_name,
            tracked.task
        ))
        .push("Logs: ")
        .code(&format!("{} logs {}", core.settings.prefix, task_arg(instances, tracked.instance, tracked.task)));
    let mut message = reply.build();
    message.reply_to = tracked.status_event.clone();
    message.idempotency_key = Some(format!("done:{}:{}", tracked.room, idem(&tracked)));
    core.out.post(&tracked.room, message).await;
    core.followers.mark_own(task_ref);
    if let Err(e) = core.store().untrack(task_ref, &tracked.room).await {
        tracing::warn!(error = %e, "could not stop watching a finished task");
    }
    lock(&core.watch).forget(&tracked.room, task_ref);
}

/// The plan's own summary line (`Plan: 1 to add, 0 to change, 0 to destroy.`), the last one in
/// the log, so a re-plan shows what will really be applied.
pub(crate) fn plan_summary(log: &str) -> Option<String> {
    let plain = crate::render::ansi::strip(log);
    plain
        .lines()
        .rev()
        .find(|line| crate::render::terraform::Outcome::parse(line) == Some(crate::render::terraform::Outcome::Plan))
        .map(|line| line.trim().to_owned())
}

async fn vanished(core: &Core, tracked: TrackedTask) {
    let instances = core.instances();
    let reply = Reply::notice().push(&format!(
        "❓ Task {} ({}) no longer exists in Semaphore; I stopped watching it.",
        task_label(instances, tracked.instance, tracked.task),
        tracked.template_name
    ));
    core.out.post(&tracked.room, reply.build()).await;
    if let Err(e) = core.store().untrack(tracked.task_ref(), &tracked.room).await {
        tracing::warn!(error = %e, "could not stop watching a vanished task");
    }
}

/// Makes the next poll of `instance` come within the short interval.
pub(crate) fn watch_soon(core: &Core, instance: InstanceId) {
    lock(&core.watch).soon(instance, core.now(), core.settings.poll_interval);
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chatrixcd_clock::ManualClock;
    use chatrixcd_ports::chat::EventId;
    use chatrixcd_ports::semaphore::{MockSemaphorePort, Task};
    use chatrixcd_ports::store::TrackedTask;
    use chatrixcd_ports::{Clock, ProjectId, Store, TaskEvent, TaskId, TaskStatus, TemplateId};
    use chatrixcd_store_memory::MemoryStore;
    use chrono::Duration;

    use crate::Bot;
    use crate::testing::{Posted, RecordingChat, admin, bare_task, bot_with, room, settings};

    fn tracked(clock: &ManualClock) -> TrackedTask {
        TrackedTask {
            instance: Default::default(),
            project: ProjectId::new(1),
            task: TaskId::new(7),
            template: TemplateId::new(3),
            template_name: "deploy-web".into(),
            room: room(),
            requester: admin(),
            status_event: Some(EventId("$status".into())),
            last_status: TaskStatus::Waiting,
            started_at: clock.now(),
            stop_requested_by: None,
        }
    }

    fn pushed(status: TaskStatus, clock: &ManualClock) -> TaskEvent {
        TaskEvent::Status {
            project: ProjectId::new(1),
            task: TaskId::new(7),
            template: TemplateId::new(3),
            start: Some(clock.now()),
            end: status.is_terminal().then(|| clock.now()),
            status,
        }
    }

    /// A bot watching task 7, with a Semaphore that fails the test if asked anything but links
    /// (`recent`, when given, answers polls).
    async fn watching(recent: Option<Task>) -> (Bot, Arc<RecordingChat>, ManualClock) {
        let clock = ManualClock::at_epoch();
        let mut sem = MockSemaphorePort::new();
        sem.expect_task_url().returning(|_, _, _| None);
        if let Some(task) = recent {
            sem.expect_recent_tasks().returning(move |_, _| Ok(vec![task.clone()]));
        }
        let store = Arc::new(MemoryStore::new());
        store.track(tracked(&clock)).await.unwrap();
        let (bot, chat) = bot_with(Arc::new(sem), store, Arc::new(clock.clone()), settings());
        bot.resume().await;
        (bot, chat, clock)
    }

    fn edits(chat: &RecordingChat) -> Vec<String> {
        chat.take()
            .into_iter()
            .filter_map(|p| match p {
                Posted::Edit(_, m) => Some(m.body),
                _ => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn a_pushed_status_edits_the_status_message_without_asking_semaphore() {
        let (bot, chat, clock) = watching(None).await;
        bot.on_task_event(chatrixcd_ports::InstanceId::default(), pushed(TaskStatus::Running, &clock)).await;
        let edited = edits(&chat);
        assert_eq!(edited.len(), 1, "{edited:?}");
        assert!(edited[0].contains("deploy-web · task #7 · running"), "{edited:?}");
        // The same status pushed again (e.g. after a reconnect) changes nothing.
        bot.on_task_event(chatrixcd_ports::InstanceId::default(), pushed(TaskStatus::Running, &clock)).await;
        assert!(chat.take().is_empty());
    }

    #[tokio::test]
    async fn edits_keep_a_gap_but_the_end_is_shown_at_once() {
        let (bot, chat, clock) = watching(None).await;
        bot.on_task_event(chatrixcd_ports::InstanceId::default(), pushed(TaskStatus::Running, &clock)).await;
        assert_eq!(edits(&chat).len(), 1);
        clock.advance(Duration::milliseconds(500));
        bot.on_task_event(chatrixcd_ports::InstanceId::default(), pushed(TaskStatus::WaitingConfirmation, &clock))
            .await;
        assert!(edits(&chat).is_empty(), "an intermediate status within the gap waits");
        clock.advance(Duration::milliseconds(200));
        bot.on_task_event(chatrixcd_ports::InstanceId::default(), pushed(TaskStatus::Success, &clock)).await;
        let posted = chat.take();
        let edit = posted.iter().find_map(|p| match p {
            Posted::Edit(_, m) => Some(m.body.clone()),
            _ => None,
        });
        assert!(edit.is_some_and(|b| b.contains("· success")), "{posted:?}");
        assert!(
            posted.iter().any(|p| matches!(p, Posted::Message(_, m) if m.body.contains("finished successfully"))),
            "{posted:?}"
        );
        assert!(bot.core.deps.store.tracked_tasks().await.unwrap().is_empty(), "a finished run is no longer watched");
    }

    #[tokio::test]
    async fn a_long_run_is_refreshed_by_an_edit_not_a_new_message() {
        let clock_start = ManualClock::at_epoch().now();
        let running = Task {
            id: TaskId::new(7),
            project_id: ProjectId::new(1),
            template_id: TemplateId::new(3),
            status: TaskStatus::Running,
            created: None,
            start: Some(clock_start),
            end: None,
            message: None,
            template_name: Some("deploy-web".into()),
            user_name: None,
        };
        let (bot, chat, clock) = watching(Some(running)).await;
        bot.tick().await;
        assert_eq!(edits(&chat).len(), 1, "waiting → running");
        clock.advance(Duration::minutes(2));
        bot.tick().await;
        assert!(chat.take().is_empty(), "nothing stale yet");
        clock.advance(Duration::minutes(4));
        bot.tick().await;
        let posted = chat.take();
        assert_eq!(posted.len(), 1, "{posted:?}");
        assert!(matches!(&posted[0], Posted::Edit(_, m) if m.body.contains("running for 6m")), "{posted:?}");
    }

    #[tokio::test]
    async fn tasks_beyond_the_newest_are_checked_in_rotation_within_a_budget() {
        let clock = ManualClock::at_epoch();
        let asked = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut sem = MockSemaphorePort::new();
        sem.expect_task_url().returning(|_, _, _| None);
        sem.expect_recent_tasks().returning(|_, _| Ok(Vec::new()));
        let log = Arc::clone(&asked);
        sem.expect_task().returning(move |p, t| {
            log.lock().unwrap().push(t.get());
            Ok(bare_task(p, t, TaskStatus::Waiting))
        });
        let store = Arc::new(MemoryStore::new());
        for n in 1..=25 {
            store.track(TrackedTask { task: TaskId::new(n), ..tracked(&clock) }).await.unwrap();
        }
        let (bot, _chat) = bot_with(Arc::new(sem), store, Arc::new(clock.clone()), settings());
        bot.resume().await;
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..3 {
            bot.tick().await;
            let batch = std::mem::take(&mut *asked.lock().unwrap());
            assert!(batch.len() <= 10, "at most the budget per poll: {batch:?}");
            seen.extend(batch);
            clock.advance(Duration::seconds(5));
        }
        assert_eq!(seen.len(), 25, "every task is checked within three polls: {seen:?}");
    }

    fn queued(project: ProjectId, id: u64) -> Task {
        bare_task(project, TaskId::new(id), TaskStatus::Waiting)
    }

    #[tokio::test]
    async fn watched_tasks_deep_in_a_long_queue_are_polled_through_the_longer_list() {
        let clock = ManualClock::at_epoch();
        let limits = Arc::new(std::sync::Mutex::new(Vec::new()));
        let single_reads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut sem = MockSemaphorePort::new();
        sem.expect_task_url().returning(|_, _, _| None);
        let asked = Arc::clone(&limits);
        // 1,500 queued tasks, newest first (ids need not grow: Semaphore on BoltDB counts down).
        sem.expect_recent_tasks().returning(move |p, limit| {
            asked.lock().unwrap().push(limit);
            Ok((0..u64::from(limit.min(1000))).map(|n| queued(p, 1_500 - n)).collect())
        });
        let reads = Arc::clone(&single_reads);
        sem.expect_task().returning(move |p, t| {
            reads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(queued(p, t.get()))
        });
        let store = Arc::new(MemoryStore::new());
        // Watched: positions 300..330 of the queue, beyond the newest 200.
        for id in 1_170..1_200 {
            store.track(TrackedTask { task: TaskId::new(id), ..tracked(&clock) }).await.unwrap();
        }
        let (bot, _chat) = bot_with(Arc::new(sem), store, Arc::new(clock.clone()), settings());
        bot.resume().await;
        bot.tick().await;
        assert_eq!(*limits.lock().unwrap(), [200], "the first poll tries the short list");
        assert_eq!(single_reads.swap(0, std::sync::atomic::Ordering::Relaxed), 10, "then reads a budget's worth");
        for _ in 0..3 {
            clock.advance(Duration::seconds(5));
            bot.tick().await;
        }
        assert_eq!(*limits.lock().unwrap(), [200, 1000, 1000, 1000], "later polls use the long list");
        assert_eq!(single_reads.load(std::sync::atomic::Ordering::Relaxed), 0, "which covers every watched task");
    }

    #[tokio::test]
    async fn polling_is_a_slower_safety_net_while_the_websocket_is_open() {
        let (bot, _chat, clock) = watching(Some(queued(ProjectId::new(1), 7))).await;
        bot.tick().await;
        assert_eq!(bot.next_deadline(), Some(clock.now() + Duration::seconds(5)), "no push: poll often");
        bot.on_task_event(chatrixcd_ports::InstanceId::default(), TaskEvent::Connected).await;
        clock.advance(Duration::seconds(5));
        bot.tick().await;
        assert_eq!(bot.next_deadline(), Some(clock.now() + Duration::seconds(15)), "push open: the safety net");
        clock.advance(Duration::seconds(1));
        bot.on_task_event(chatrixcd_ports::InstanceId::default(), TaskEvent::Disconnected).await;
        assert_eq!(bot.next_deadline(), Some(clock.now() + Duration::seconds(5)), "push lost: poll often again");
    }

    #[tokio::test]
    async fn a_reconnected_push_channel_makes_the_next_poll_immediate() {
        let (bot, _chat, clock) = watching(None).await;
        clock.advance(Duration::seconds(1));
        bot.on_task_event(chatrixcd_ports::InstanceId::default(), TaskEvent::Reconnected).await;
        assert_eq!(bot.next_deadline(), Some(clock.now()));
    }
}
