//! `stop <task>`: stop a queued or running task, after a confirmation.

use chatrixcd_ports::semaphore::StopMode;

use crate::permissions::Permission;
use crate::commands::status::{locate, task_arg};
use crate::commands::{Command, CommandError, needs_task_instance};
use crate::confirm::Approver;
use crate::core::{Ctx, Request};
use crate::error::OnInstance as _;
use crate::grammar::{ArgSpec, CommandSpec, FlagSpec, Parsed, ValueKind};
use crate::instances::{TaskSpec, tag, task_label};
use crate::plans::{PendingAction, StopPlan};
use crate::render::Reply;

pub(crate) static SPEC: CommandSpec = CommandSpec {
    name: "stop",
    aliases: &["cancel", "kill"],
    summary: "Stop a queued or running task (asks first)",
    args: &[ArgSpec { name: "task", kind: ValueKind::TaskId, required: true, help: "task number, or instance:number" }],
    flags: &[
        FlagSpec {
            name: "force",
            aliases: &["f"],
            value: None,
            repeatable: false,
            help: "stop at once (needed to reject a Terraform plan waiting for approval)",
        },
        FlagSpec { name: "yes", aliases: &["y"], value: None, repeatable: false, help: "do not ask for confirmation" },
    ],
    subcommands: &[],
    examples: &["stop 42", "stop 42 --force", "stop staging:17"],
    hidden: false,
    permission: Some(Permission::Stop),
};

#[derive(Debug, Clone)]
pub(crate) struct Args {
    task: TaskSpec,
    force: bool,
    yes: bool,
}

impl Args {
    pub(crate) fn from_parsed(p: &Parsed) -> Result<Self, CommandError> {
        let task = task_arg(p)?.ok_or_else(|| CommandError::Usage("Which task? Give its number.".into()))?;
        Ok(Self { task, force: p.switch("force"), yes: p.switch("yes") })
    }
}

pub(crate) static COMMAND: Command =
    Command { spec: &SPEC, needs: needs_task_instance, run: |ctx, req, p| Box::pin(execute(ctx, req, p)) };

async fn execute(ctx: Ctx<'_>, req: &Request, p: &Parsed) -> Result<(), CommandError> {
    let args = Args::from_parsed(p)?;
    let located = locate(ctx, req, Some(&args.task)).await?;
    located.authorize(ctx, req, Permission::Stop).await?;
    let task_ref = located.task_ref();
    let task = located.task;
    let label = task_label(ctx.instances(), task_ref.instance, task.id);
    // A stop sent to a finished task makes Semaphore rewrite it to `stopped`, even a success.
    if task.status.is_terminal() {
        return Err(CommandError::Refused(format!(
            "Task {label} already ended ({}); there is nothing to stop.",
            task.status
        )));
    }
    // Rejecting a plan needs a forced stop: 2.10 leaves a gently stopped plan in `stopping` forever.
    let rejecting_plan = task.status == chatrixcd_ports::TaskStatus::WaitingConfirmation;
    let mode = if args.force || rejecting_plan { StopMode::Force } else { StopMode::Graceful };
    let plan = StopPlan { task: task_ref, template: task.template_id, mode, status: task.status.clone() };
    if args.yes {
        return perform(ctx, req, plan).await;
    }
    let mut question = Reply::notice()
        .push(&tag(ctx.instances(), task_ref.instance))
        .bold(&format!("🛑 Stop task #{}?", task.id))
        .push(" It is ")
        .status(&task.status)
        .push(".");
    if rejecting_plan {
        question = question.line().push("This rejects the plan waiting for approval (a forced stop: Semaphore 2.10 never ends a plan stopped gently).");
    }
    let timeout = ctx.settings().short_confirm_timeout;
    ctx.ask(req, PendingAction::Stop(plan), Approver::Requester, timeout, question).await;
    Ok(())
}

pub(crate) async fn perform(ctx: Ctx<'_>, req: &Request, plan: StopPlan) -> Result<(), CommandError> {
    let task = plan.task;
    let instance = ctx
        .instances()
        .get(task.instance)
        .ok_or_else(|| CommandError::Refused(format!("Instance {} is no longer configured.", task.instance)))?;
    instance.semaphore.stop_task(task.project, task.task, plan.mode).await.on(instance.id)?;
    let how = if plan.mode == StopMode::Force { "forced" } else { "graceful" };
    let label = task_label(ctx.instances(), task.instance, task.task);
    ctx.audit(req, "task.stop", format!("task {label} in project {} ({how}, was {})", task.project, plan.status)).await;
    let tracked = ctx.store().tracked_tasks().await?;
    let mut watched_here = false;
    for mut t in tracked.into_iter().filter(|t| t.task_ref() == task) {
        watched_here |= t.room == req.room;
        t.stop_requested_by = Some(req.sender.clone());
        ctx.store().track(t).await?;
    }
    let how = match plan.mode {
        StopMode::Force => "force-stopped",
        StopMode::Graceful => "asked to stop",
    };
    let mut reply =
        Reply::notice().push(&tag(ctx.instances(), task.instance)).push(&format!("🛑 Task #{} {how}.", task.task));
    if watched_here {
        reply = reply.push(" Its status message will show when it has ended.");
    }
    ctx.reply(req, reply).await;
    crate::watch::watch_soon(ctx.core(), task.instance);
    Ok(())
}
#[cfg(test)]
mod tests {
    use chatrixcd_ports::Store as _;
    use chrono::Duration;

    use crate::testing::{Harness, admin};

    #[tokio::test]
    async fn stop_asks_then_stops_the_task_on_its_instance_and_audits() {
        let h = Harness::two_instances().await;
        h.say(&admin(), "!cd run staging:ops:slow --yes").await;
        h.advance(Duration::seconds(6)).await;
        h.chat.take();
        h.say(&admin(), "!cd stop staging:1").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("[staging] 🛑 Stop task #1?"), "{said}");
        h.say(&admin(), "yes").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("[staging] 🛑 Task #1 asked to stop."), "{said}");
        let audit = h.store.audit(chatrixcd_ports::Page { limit: 10, before: None }).await.unwrap();
        assert!(audit.iter().any(|a| a.action == "task.stop" && a.detail.contains("#1 on staging")), "{audit:?}");
        h.say(&admin(), "!cd stop").await;
        assert!(h.chat.bodies().join("\n").contains("Missing <task>"), "a task is required");
    }
}
