//! Watching tasks the bot reports on: one status message per run, edited in place as the task
//! moves, and a mention of the requester when it ends.
//!
//! Polling is per project, not per task: one `tasks/last` call covers every watched task of a
//! project, so watching many tasks costs a handful of requests per interval.

use std::collections::BTreeMap;

use chatrixcd_ports::semaphore::{SemaphoreError, Task};
use chatrixcd_ports::store::{TaskRef, TrackedTask};
use chatrixcd_ports::{ProjectId, TaskStatus};
use chrono::{DateTime, Utc};

use crate::bot::Bot;
use crate::render::Reply;
use crate::render::duration::human;
use crate::render::reply::status_style;

/// The newest tasks fetched per project per poll; Semaphore's own maximum.
const RECENT_LIMIT: u8 = 200;

/// How a task ended, as people understand it: Semaphore reports a gracefully stopped task as
/// `error`, so a stop request followed by `error` reads as stopped.
pub(crate) fn shown_status(tracked: &TrackedTask, status: &TaskStatus) -> TaskStatus {
    match status {
        TaskStatus::Error if tracked.stop_requested_by.is_some() => TaskStatus::Stopped,
        other => other.clone(),
    }
}

/// The one status message of a run.
pub(crate) fn status_message(bot: &Bot, tracked: &TrackedTask, task: Option<&Task>, now: DateTime<Utc>) -> Reply {
    let status = task.map_or(tracked.last_status.clone(), |t| t.status.clone());
    let shown = shown_status(tracked, &status);
    let (emoji, color) = status_style(&shown);
    let mut reply = Reply::notice()
        .push(emoji)
        .push(" ")
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
        reply = reply.line().push("✋ The plan waits for approval in Semaphore.");
    }
    if let Some(url) = bot.deps.semaphore.task_url(tracked.project, tracked.template, tracked.task) {
        reply = reply.push(" · ").link("open in Semaphore", &url);
    }
    reply
}

/// Polls every watched task once; returns whether any is still being watched.
pub(crate) async fn poll(bot: &mut Bot) -> bool {
    let tracked = match bot.deps.store.tracked_tasks().await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read watched tasks; will retry");
            return true;
        }
    };
    let mut by_project: BTreeMap<ProjectId, Vec<TrackedTask>> = BTreeMap::new();
    for t in tracked {
        by_project.entry(t.project).or_default().push(t);
    }
    for (project, watched) in by_project {
        let recent = match bot.deps.semaphore.recent_tasks(project, RECENT_LIMIT).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(project = %project, error = %e, "cannot poll tasks; will retry");
                continue;
            }
        };
        for tracked in watched {
            let current = match recent.iter().find(|t| t.id == tracked.task) {
                Some(t) => Ok(t.clone()),
                // Older than the newest 200: ask for it alone.
                None => bot.deps.semaphore.task(project, tracked.task).await,
            };
            match current {
                Ok(task) if task.status != tracked.last_status => update(bot, tracked, &task).await,
                Ok(_) => {}
                Err(SemaphoreError::NotFound(_) | SemaphoreError::Rejected(_)) => vanished(bot, tracked).await,
                Err(e) => tracing::warn!(task = %tracked.task, error = %e, "cannot poll task; will retry"),
            }
        }
    }
    match bot.deps.store.tracked_tasks().await {
        Ok(t) => !t.is_empty(),
        Err(_) => true,
    }
}

async fn update(bot: &mut Bot, mut tracked: TrackedTask, task: &Task) {
    let now = bot.deps.clock.now();
    tracked.last_status = task.status.clone();
    let mut message = status_message(bot, &tracked, Some(task), now).build();
    message.idempotency_key = Some(format!("status:{}:{}:{}", tracked.room, tracked.task, task.status));
    match &tracked.status_event {
        Some(event) => {
            let event = event.clone();
            bot.edit(&tracked.room, &event, message).await;
        }
        None => tracked.status_event = bot.post(&tracked.room, message).await,
    }
    let task_ref = TaskRef { project: tracked.project, task: tracked.task };
    if !task.status.is_terminal() {
        if let Err(e) = bot.deps.store.track(tracked).await {
            tracing::warn!(error = %e, "could not save a task's status");
        }
        return;
    }
    let shown = shown_status(&tracked, &task.status);
    let ended = task.end.unwrap_or(now);
    if let Err(e) = bot.deps.store.finish_run(task_ref, ended, shown.clone()).await {
        tracing::error!(error = %e, "could not record how a run ended");
    }
    let (emoji, _) = status_style(&shown);
    if let Some(event) = tracked.status_event.clone() {
        bot.react(&tracked.room, &event, emoji).await;
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
    let reply = Reply::text()
        .mention(&tracked.requester, None)
        .push(&format!(" {emoji} {} (task #{}) {verdict}{took}. ", tracked.template_name, tracked.task))
        .push("Logs: ")
        .code(&format!("{} logs {}", bot.settings.prefix, tracked.task));
    let mut message = reply.build();
    message.reply_to = tracked.status_event.clone();
    message.idempotency_key = Some(format!("done:{}:{}", tracked.room, tracked.task));
    bot.post(&tracked.room, message).await;
    if let Err(e) = bot.deps.store.untrack(task_ref, &tracked.room).await {
        tracing::warn!(error = %e, "could not stop watching a finished task");
    }
}

async fn vanished(bot: &mut Bot, tracked: TrackedTask) {
    let reply = Reply::notice().push(&format!(
        "❓ Task #{} ({}) no longer exists in Semaphore; I stopped watching it.",
        tracked.task, tracked.template_name
    ));
    bot.post(&tracked.room, reply.build()).await;
    let task_ref = TaskRef { project: tracked.project, task: tracked.task };
    if let Err(e) = bot.deps.store.untrack(task_ref, &tracked.room).await {
        tracing::warn!(error = %e, "could not stop watching a vanished task");
    }
}
