//! `status [task]`: where a task stands. Any task of the instance, not only the bot's own; without
//! a number, the last task this room talked about.

use chatrixcd_ports::TaskId;
use chatrixcd_ports::semaphore::{SemaphoreError, Task};
use chatrixcd_ports::store::TaskRef;

use crate::bot::{Bot, Request};
use crate::commands::CommandError;
use crate::grammar::{ArgSpec, CommandSpec, Parsed, ValueKind};
use crate::render::Reply;
use crate::render::duration::human;

pub(crate) static SPEC: CommandSpec = CommandSpec {
    name: "status",
    aliases: &["st"],
    summary: "Show a task's status (default: this room's last task)",
    args: &[ArgSpec { name: "task", kind: ValueKind::TaskId, required: false, help: "task number" }],
    flags: &[],
    subcommands: &[],
    examples: &["status", "status 42"],
    hidden: false,
    mutating: false,
};

#[derive(Debug, Clone)]
pub(crate) struct Args {
    task: Option<TaskId>,
}

/// Reads an optional `task` argument the grammar already checked.
pub(crate) fn task_arg(p: &Parsed) -> Result<Option<TaskId>, CommandError> {
    p.arg("task").map(|t| t.parse::<TaskId>().map_err(|e| CommandError::Usage(e.to_string()))).transpose()
}

impl Args {
    pub(crate) fn from_parsed(p: &Parsed) -> Result<Self, CommandError> {
        Ok(Self { task: task_arg(p)? })
    }
}

/// Finds a task by number in whichever project holds it, or the room's last task.
pub(crate) async fn locate(bot: &Bot, req: &Request, given: Option<TaskId>) -> Result<Task, CommandError> {
    let semaphore = &bot.deps.semaphore;
    let Some(id) = given else {
        let last = bot.deps.store.last_task(&req.room).await?.ok_or_else(|| {
            CommandError::Usage("No task has been started or looked at in this room yet; give a task number.".into())
        })?;
        return Ok(semaphore.task(last.project, last.task).await?);
    };
    let tracked = bot.deps.store.tracked_tasks().await?;
    let mut candidates: Vec<_> = tracked.iter().filter(|t| t.task == id).map(|t| t.project).collect();
    if let Some(last) = bot.deps.store.last_task(&req.room).await?
        && last.task == id
    {
        candidates.push(last.project);
    }
    if candidates.is_empty() {
        // Task ids are unique per instance but the API addresses them per project.
        candidates = semaphore.projects().await?.into_iter().map(|p| p.id).collect();
    }
    for project in candidates {
        match semaphore.task(project, id).await {
            Ok(task) => return Ok(task),
            // 2.10 answers 400 for a task id that is not in the project.
            Err(SemaphoreError::NotFound(_) | SemaphoreError::Rejected(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(CommandError::Refused(format!("There is no task #{id} in any project I can see.")))
}

pub(crate) async fn execute(bot: &mut Bot, req: &Request, args: Args) -> Result<(), CommandError> {
    let task = locate(bot, req, args.task).await?;
    bot.deps.store.set_last_task(&req.room, TaskRef { project: task.project_id, task: task.id }).await?;
    let now = bot.deps.clock.now();
    let tracked = bot.deps.store.tracked_tasks().await?.into_iter().find(|t| t.task == task.id && t.room == req.room);
    let status = match &tracked {
        Some(t) => crate::watch::shown_status(t, &task.status),
        None => task.status.clone(),
    };
    let name = task
        .template_name
        .clone()
        .or_else(|| tracked.as_ref().map(|t| t.template_name.clone()))
        .unwrap_or_else(|| format!("template {}", task.template_id));
    let mut rows =
        vec![vec!["Template".to_owned(), name.clone()], vec!["Project".to_owned(), task.project_id.to_string()]];
    let fmt = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    if let Some(created) = task.created {
        rows.push(vec!["Queued".to_owned(), fmt(created)]);
    }
    if let Some(start) = task.start {
        rows.push(vec!["Started".to_owned(), fmt(start)]);
        let until = task.end.unwrap_or(now);
        rows.push(vec!["Duration".to_owned(), human(until - start)]);
    }
    if let Some(end) = task.end {
        rows.push(vec!["Ended".to_owned(), fmt(end)]);
    }
    // The bot's own tasks name who asked for them, even once they are no longer watched.
    let asked = match &tracked {
        Some(t) => Some(t.requester.clone()),
        None => crate::commands::tasks::requesters(bot).await.remove(&(task.project_id, task.id)),
    };
    if let Some(who) = asked.map(|u| u.to_string()).or(task.user_name.clone()) {
        rows.push(vec!["Started by".to_owned(), who]);
    }
    if let Some(m) = task.message.as_deref().filter(|m| !m.is_empty()) {
        rows.push(vec!["Message".to_owned(), m.to_owned()]);
    }
    let mut reply = Reply::notice().push(&format!("Task #{} ", task.id)).status(&status).table(&["", ""], &rows);
    if let Some(url) = bot.deps.semaphore.task_url(task.project_id, task.template_id, task.id) {
        reply = reply.link("Open in Semaphore", &url);
    }
    bot.reply(req, reply).await;
    Ok(())
}
