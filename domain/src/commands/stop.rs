//! `stop <task>`: stop a queued or running task, after a confirmation.

use chatrixcd_ports::semaphore::StopMode;
use chatrixcd_ports::store::TaskRef;

use crate::bot::{Bot, Request};
use crate::commands::status::{locate, task_arg};
use crate::commands::{CommandError, PendingAction, ask};
use crate::confirm::Approver;
use crate::grammar::{ArgSpec, CommandSpec, FlagSpec, Parsed, ValueKind};
use crate::render::Reply;

pub(crate) static SPEC: CommandSpec = CommandSpec {
    name: "stop",
    aliases: &["cancel", "kill"],
    summary: "Stop a queued or running task (asks first)",
    args: &[ArgSpec { name: "task", kind: ValueKind::TaskId, required: true, help: "task number" }],
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
    examples: &["stop 42", "stop 42 --force"],
    hidden: false,
    mutating: true,
};

#[derive(Debug, Clone)]
pub(crate) struct Args {
    task: chatrixcd_ports::TaskId,
    force: bool,
    yes: bool,
}

impl Args {
    pub(crate) fn from_parsed(p: &Parsed) -> Result<Self, CommandError> {
        let task = task_arg(p)?.ok_or_else(|| CommandError::Usage("Which task? Give its number.".into()))?;
        Ok(Self { task, force: p.switch("force"), yes: p.switch("yes") })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub task: TaskRef,
    pub mode: StopMode,
}

pub(crate) async fn execute(bot: &mut Bot, req: &Request, args: Args) -> Result<(), CommandError> {
    let task = locate(bot, req, Some(args.task)).await?;
    // A stop sent to a finished task makes Semaphore rewrite it to `stopped`, even a success.
    if task.status.is_terminal() {
        return Err(CommandError::Refused(format!(
            "Task #{} already ended ({}); there is nothing to stop.",
            task.id, task.status
        )));
    }
    // Rejecting a plan needs a forced stop: 2.10 leaves a gently stopped plan in `stopping` forever.
    let rejecting_plan = task.status == chatrixcd_ports::TaskStatus::WaitingConfirmation;
    let mode = if args.force || rejecting_plan { StopMode::Force } else { StopMode::Graceful };
    let plan = Plan { task: TaskRef { project: task.project_id, task: task.id }, mode };
    if args.yes {
        return perform(bot, req, plan).await;
    }
    let mut question =
        Reply::notice().bold(&format!("🛑 Stop task #{}?", task.id)).push(" It is ").status(&task.status).push(".");
    if rejecting_plan {
        question = question.line().push("This rejects the plan waiting for approval (a forced stop: Semaphore 2.10 never ends a plan stopped gently).");
    }
    let timeout = bot.settings.short_confirm_timeout;
    ask(bot, req, PendingAction::Stop(plan), Approver::Requester, timeout, question).await;
    Ok(())
}

pub(crate) async fn perform(bot: &mut Bot, req: &Request, plan: Plan) -> Result<(), CommandError> {
    bot.deps.semaphore.stop_task(plan.task.project, plan.task.task, plan.mode).await?;
    let how = if plan.mode == StopMode::Force { "forced" } else { "graceful" };
    bot.audit(req, "task.stop", format!("task #{} in project {} ({how})", plan.task.task, plan.task.project)).await;
    let tracked = bot.deps.store.tracked_tasks().await?;
    let mut watched_here = false;
    for mut t in tracked.into_iter().filter(|t| t.task == plan.task.task) {
        watched_here |= t.room == req.room;
        t.stop_requested_by = Some(req.sender.clone());
        bot.deps.store.track(t).await?;
    }
    let how = match plan.mode {
        StopMode::Force => "force-stopped",
        StopMode::Graceful => "asked to stop",
    };
    let mut reply = Reply::notice().push(&format!("🛑 Task #{} {how}.", plan.task.task));
    if watched_here {
        reply = reply.push(" Its status message will show when it has ended.");
    }
    bot.reply(req, reply).await;
    bot.watch_soon();
    Ok(())
}
