//! `status [task]`: where a task stands. Any task of the instance, not only the bot's own; without
//! a number, the last task this room talked about.

use chatrixcd_ports::semaphore::{SemaphoreError, Task};
use chatrixcd_ports::store::TaskRef;

use crate::permissions::Permission;
use crate::commands::{Command, CommandError, needs_task_instance};
use crate::core::{Ctx, Request};
use crate::error::OnInstance as _;
use crate::grammar::{ArgSpec, CommandSpec, Parsed, ValueKind};
use crate::instances::{Instance, TaskSpec, tag, task_label};
use crate::render::Reply;
use crate::render::duration::human;

pub(crate) static SPEC: CommandSpec = CommandSpec {
    name: "status",
    aliases: &["st"],
    summary: "Show a task's status (default: this room's last task)",
    args: &[ArgSpec {
        name: "task",
        kind: ValueKind::TaskId,
        required: false,
        help: "task number, or instance:number",
    }],
    flags: &[],
    subcommands: &[],
    examples: &["status", "status 42", "status prod:2147483646"],
    hidden: false,
    permission: Some(Permission::Read),
};

#[derive(Debug, Clone)]
pub(crate) struct Args {
    task: Option<TaskSpec>,
}

/// Reads an optional `task` argument the grammar already checked (`42`, `prod:42`).
pub(crate) fn task_arg(p: &Parsed) -> Result<Option<TaskSpec>, CommandError> {
    p.arg("task").map(|t| TaskSpec::parse(t).map_err(|e| CommandError::Usage(e.to_string()))).transpose()
}

impl Args {
    pub(crate) fn from_parsed(p: &Parsed) -> Result<Self, CommandError> {
        Ok(Self { task: task_arg(p)? })
    }
}

/// A task found in Semaphore, and the instance that holds it.
#[derive(Debug)]
pub(crate) struct Located<'a> {
    pub instance: &'a Instance,
    pub task: Task,
}

impl Located<'_> {
    pub(crate) fn task_ref(&self) -> TaskRef {
        TaskRef::new(self.instance.id, self.task.project_id, self.task.id)
    }

    /// Asks the policy whether the requester may do `action` to this task (its project and
    /// template); a denial is audited and is the reply.
    pub(crate) async fn authorize(
        &self,
        ctx: Ctx<'_>,
        req: &Request,
        action: crate::permissions::Permission,
    ) -> Result<bool, CommandError> {
        let mut named = crate::grants::Named {
            instance: self.instance.id,
            project_id: self.task.project_id,
            project: None,
            template_id: Some(self.task.template_id),
            template: self.task.template_name.clone(),
        };
        ctx.authorize_on(req, action, &mut named).await
    }
}

/// Finds a task by number in whichever project of its instance holds it (the instance named,
/// else the room's), or the room's last task.
pub(crate) async fn locate<'a>(
    ctx: Ctx<'a>,
    req: &Request,
    given: Option<&TaskSpec>,
) -> Result<Located<'a>, CommandError> {
    let Some(given) = given else {
        let last = ctx.store().last_task(&req.room).await?.ok_or_else(|| {
            CommandError::Usage("No task has been started or looked at in this room yet; give a task number.".into())
        })?;
        let instance = ctx.instances().get(last.instance).ok_or_else(|| {
            CommandError::Refused(format!(
                "This room's last task, #{}, is on instance {}, which is no longer configured; give a task number.",
                last.task, last.instance
            ))
        })?;
        let task = instance.semaphore.task(last.project, last.task).await.on(instance.id)?;
        return Ok(Located { instance, task });
    };
    let instance = ctx.instance_for(&req.room, given.instance.as_deref()).await?;
    let id = given.task;
    let tracked = ctx.store().tracked_tasks().await?;
    let mut candidates: Vec<_> =
        tracked.iter().filter(|t| t.instance == instance.id && t.task == id).map(|t| t.project).collect();
    if let Some(last) = ctx.store().last_task(&req.room).await?
        && last.instance == instance.id
        && last.task == id
    {
        candidates.push(last.project);
    }
    if candidates.is_empty() {
        // Task ids are unique per instance but the API addresses them per project.
        candidates = instance.semaphore.projects().await.on(instance.id)?.into_iter().map(|p| p.id).collect();
    }
    for project in candidates {
        match instance.semaphore.task(project, id).await {
            Ok(task) => return Ok(Located { instance, task }),
            // 2.10 answers 400 for a task id that is not in the project.
            Err(SemaphoreError::NotFound(_) | SemaphoreError::Rejected(_)) => continue,
            Err(e) => return Err(CommandError::from(e).on(instance.id)),
        }
    }
    let label = task_label(ctx.instances(), instance.id, id);
    Err(CommandError::Refused(format!("There is no task {label} in any project I can see.")))
}

pub(crate) static COMMAND: Command =
    Command { spec: &SPEC, needs: needs_task_instance, run: |ctx, req, p| Box::pin(execute(ctx, req, p)) };

async fn execute(ctx: Ctx<'_>, req: &Request, p: &Parsed) -> Result<(), CommandError> {
    let args = Args::from_parsed(p)?;
    let located = locate(ctx, req, args.task.as_ref()).await?;
    located.authorize(ctx, req, Permission::Read).await?;
    let task_ref = located.task_ref();
    let (instance, task) = (located.instance, located.task);
    ctx.store().set_last_task(&req.room, task_ref).await?;
    let now = ctx.now();
    let tracked =
        ctx.store().tracked_tasks().await?.into_iter().find(|t| t.task_ref() == task_ref && t.room == req.room);
    let status = match &tracked {
        Some(t) => crate::watch::shown_status(t, &task.status),
        None => task.status.clone(),
    };
    // A run the bot started knows the names Semaphore 2.10 leaves out of a task, and who asked,
    // even once it is no longer watched.
    let run = match &tracked {
        Some(_) => None,
        None => run_of(ctx, task_ref).await,
    };
    let name = task
        .template_name
        .clone()
        .or_else(|| tracked.as_ref().map(|t| t.template_name.clone()))
        .or_else(|| run.as_ref().map(|r| r.template_name.clone()))
        .unwrap_or_else(|| format!("template {}", task.template_id));
    let project = run.as_ref().map_or_else(|| task.project_id.to_string(), |r| format!("{} ({})", r.project_name, r.project));
    let mut rows = vec![vec!["Template".to_owned(), name.clone()], vec!["Project".to_owned(), project]];
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
        None => run.as_ref().map(|r| r.requester.clone()),
    };
    if let Some(who) = asked.map(|u| u.to_string()).or(task.user_name.clone()) {
        rows.push(vec!["Started by".to_owned(), who]);
    }
    if let Some(m) = task.message.as_deref().filter(|m| !m.is_empty()) {
        rows.push(vec!["Message".to_owned(), m.to_owned()]);
    }
    let mut reply = Reply::notice()
        .push(&tag(ctx.instances(), instance.id))
        .push(&format!("Task #{} ", task.id))
        .status(&status)
        .table(&["", ""], &rows);
    if let Some(url) = instance.semaphore.task_url(task.project_id, task.template_id, task.id) {
        reply = reply.line().link("Open in Semaphore", &url);
    }
    ctx.reply(req, reply).await;
    Ok(())
}

/// The bot's own run of `task`, by the history's task index (however old it is). A history
/// that cannot be read leaves the answer without the requester, not without the status.
async fn run_of(ctx: Ctx<'_>, task: TaskRef) -> Option<chatrixcd_ports::store::RunRecord> {
    ctx.store().run_of(task).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "the run history is unavailable");
        None
    })
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use crate::testing::{Harness, admin};

    #[tokio::test]
    async fn status_of_a_task_on_the_named_instance_and_of_the_rooms_last_task() {
        let h = Harness::two_instances().await;
        h.say(&admin(), "!cd run staging:ops:deploy-web --yes").await;
        h.advance(Duration::seconds(30)).await;
        h.chat.take();
        // Current mode counts task ids up from 1; 2.10 (production) down from 2147483646.
        h.say(&admin(), "!cd status staging:1").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("[staging] Task #1 ✅ success"), "{said}");
        // Finished and no longer watched: the names and the requester come from the history.
        assert!(said.contains("deploy-web") && said.contains("ops (1)"), "{said}");
        assert!(said.contains("@alice:test"), "{said}");
        h.say(&admin(), "!cd status").await;
        assert!(h.chat.bodies().join("\n").contains("[staging] Task #1 "), "the room's last task keeps its instance");
        h.say(&admin(), "!cd status 1").await;
        let said = h.chat.bodies().join("\n");
        assert!(
            said.contains("There is no task #1 on production"),
            "an unqualified number is the room's instance's\n{said}"
        );
        h.say(&admin(), "!cd status staging:1:2").await;
        assert!(h.chat.bodies().join("\n").contains("a task number"), "too many parts");
    }
}
