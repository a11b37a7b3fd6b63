//! `approve <task>` (and `reject <task>`, in `reject.rs`): answer a Terraform plan waiting for approval
//! (`waiting_confirmation`). The same answers work as reactions on the run's status message
//! (✅ or 👍 approves, ❌ or 👎 rejects). Only holders of `approve` answer: a plan is a change to real
//! infrastructure.
//!
//! Semaphore has no "rejected" status: rejecting is a forced stop (a gentle one leaves a 2.10
//! plan in `stopping` for good), shown afterwards as stopped by whoever rejected it.

use chatrixcd_ports::semaphore::{StopMode, Task};
use chatrixcd_ports::store::{TaskRef, TrackedTask};
use chatrixcd_ports::{TaskStatus, UserId};

use crate::permissions::Permission;
use crate::commands::status::{locate, task_arg};
use crate::commands::{Command, CommandError, needs_task_instance};
use crate::core::{Ctx, Request};
use crate::error::OnInstance as _;
use crate::grammar::{ArgSpec, CommandSpec, Parsed, ValueKind};
use crate::instances::{Instance, TaskSpec, tag, task_label};
use crate::render::Reply;

pub(crate) const TASK: ArgSpec = ArgSpec {
    name: "task",
    kind: ValueKind::TaskId,
    required: false,
    help: "task number or instance:number (default: this room's last task)",
};

pub(crate) static SPEC: CommandSpec = CommandSpec {
    name: "approve",
    aliases: &["confirm"],
    summary: "Approve a Terraform plan waiting for approval",
    args: &[TASK],
    flags: &[],
    subcommands: &[],
    examples: &["approve 42"],
    hidden: false,
    permission: Some(Permission::Approve),
};

/// What a person answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Approve,
    Reject,
}

impl Verdict {
    /// The reaction keys that answer a plan on its status message.
    pub(crate) fn from_reaction(key: &str) -> Option<Self> {
        // Clients send some emojis with a variation selector, some without.
        match key.trim_end_matches('\u{fe0f}') {
            "✅" | "👍" | "✔" => Some(Self::Approve),
            "❌" | "👎" | "✖" => Some(Self::Reject),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Args {
    task: Option<TaskSpec>,
}

impl Args {
    pub(crate) fn from_parsed(p: &Parsed) -> Result<Self, CommandError> {
        Ok(Self { task: task_arg(p)? })
    }
}

pub(crate) static COMMAND: Command = Command {
    spec: &SPEC,
    needs: needs_task_instance,
    run: |ctx, req, p| Box::pin(execute(ctx, req, p, Verdict::Approve)),
};

/// `approve` and `reject` (in `reject.rs`) alike: the task named, or the room's last one.
pub(crate) async fn execute(ctx: Ctx<'_>, req: &Request, p: &Parsed, verdict: Verdict) -> Result<(), CommandError> {
    let args = Args::from_parsed(p)?;
    let located = locate(ctx, req, args.task.as_ref()).await?;
    answer(ctx, req, located.instance, &located.task, verdict).await
}

/// Answers the plan of a watched run (a reaction on its status message), read afresh first.
pub(crate) async fn answer_tracked(
    ctx: Ctx<'_>,
    req: &Request,
    tracked: &TrackedTask,
    verdict: Verdict,
) -> Result<(), CommandError> {
    let instance = ctx
        .instances()
        .get(tracked.instance)
        .ok_or_else(|| CommandError::Refused(format!("Instance {} is no longer configured.", tracked.instance)))?;
    let task = instance.semaphore.task(tracked.project, tracked.task).await.on(instance.id)?;
    answer(ctx, req, instance, &task, verdict).await
}

/// Approves or rejects `task`, which must be waiting for approval.
pub(crate) async fn answer(
    ctx: Ctx<'_>,
    req: &Request,
    instance: &Instance,
    task: &Task,
    verdict: Verdict,
) -> Result<(), CommandError> {
    // Asked here, so a command and a reaction on the status message are asked the same.
    let mut named = crate::grants::Named {
        instance: instance.id,
        project_id: task.project_id,
        project: None,
        template_id: Some(task.template_id),
        template: task.template_name.clone(),
    };
    ctx.authorize_on(req, Permission::Approve, &mut named).await?;
    let label = task_label(ctx.instances(), instance.id, task.id);
    let number = format!("#{}", task.id);
    if task.status != TaskStatus::WaitingConfirmation {
        return Err(CommandError::Refused(format!("Task {label} is not waiting for approval; it is {}.", task.status)));
    }
    let tag = tag(ctx.instances(), instance.id);
    let reply = match verdict {
        Verdict::Approve => {
            instance.semaphore.confirm_task(task.project_id, task.id).await.on(instance.id)?;
            ctx.audit(req, "task.approve", format!("task {label} in project {}", task.project_id)).await;
            Reply::notice().push(&format!("{tag}✅ Plan of task {number} approved by {}; applying.", req.sender))
        }
        Verdict::Reject => {
            instance.semaphore.stop_task(task.project_id, task.id, StopMode::Force).await.on(instance.id)?;
            ctx.audit(req, "task.reject", format!("task {label} in project {}", task.project_id)).await;
            mark_stopped_by(ctx, TaskRef::new(instance.id, task.project_id, task.id), &req.sender).await?;
            Reply::notice()
                .push(&format!("{tag}🛑 Plan of task {number} rejected by {}; the task is stopped.", req.sender))
        }
    };
    ctx.reply(req, reply).await;
    crate::watch::watch_soon(ctx.core(), instance.id);
    Ok(())
}

async fn mark_stopped_by(ctx: Ctx<'_>, task: TaskRef, by: &UserId) -> Result<(), CommandError> {
    for mut tracked in ctx.store().tracked_tasks().await?.into_iter().filter(|t| t.task_ref() == task) {
        tracked.stop_requested_by = Some(by.clone());
        ctx.store().track(tracked).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chatrixcd_clock::ManualClock;
    use chatrixcd_ports::chat::EventId;
    use chatrixcd_ports::semaphore::{MockSemaphorePort, StopMode, Task};
    use chatrixcd_ports::store::TrackedTask;
    use chatrixcd_ports::{Clock, ProjectId, Store, TaskEvent, TaskId, TaskStatus, TemplateId, UserId};
    use chatrixcd_store_memory::MemoryStore;

    use super::Verdict;
    use crate::Bot;
    use crate::testing::{RecordingChat, admin, bot_with, message_from, reaction_from, room, settings};

    const PLAN_LOG: &str = "Terraform will perform the following actions:\n  # null_resource.x will be created\n\
                            \x1b[1mPlan:\x1b[0m 1 to add, 0 to change, 0 to destroy.\n\nDo you want to perform these actions?\n";

    fn task(status: TaskStatus) -> Task {
        Task {
            id: TaskId::new(7),
            project_id: ProjectId::new(1),
            template_id: TemplateId::new(3),
            status,
            created: None,
            start: None,
            end: None,
            message: None,
            template_name: Some("infra-plan".into()),
            user_name: None,
        }
    }

    /// A bot watching task 7 whose plan now waits for approval, and a Semaphore that expects
    /// what `expect` sets up.
    async fn waiting_plan(expect: impl FnOnce(&mut MockSemaphorePort)) -> (Bot, Arc<RecordingChat>, ManualClock) {
        let clock = ManualClock::at_epoch();
        let mut sem = MockSemaphorePort::new();
        sem.expect_task_url().returning(|_, _, _| None);
        sem.expect_task_log_text().returning(|_, _| Ok(PLAN_LOG.to_owned()));
        sem.expect_task().returning(|_, _| Ok(task(TaskStatus::WaitingConfirmation)));
        sem.expect_projects().returning(|| Ok(vec![]));
        expect(&mut sem);
        let store = Arc::new(MemoryStore::new());
        store
            .track(TrackedTask {
                instance: Default::default(),
                project: ProjectId::new(1),
                task: TaskId::new(7),
                template: TemplateId::new(3),
                template_name: "infra-plan".into(),
                room: room(),
                requester: admin(),
                status_event: Some(EventId("$status".into())),
                last_status: TaskStatus::Running,
                started_at: clock.now(),
                stop_requested_by: None,
            })
            .await
            .unwrap();
        let (bot, chat) = bot_with(Arc::new(sem), store, Arc::new(clock.clone()), settings());
        bot.resume().await;
        bot.on_task_event(
            chatrixcd_ports::InstanceId::default(),
            TaskEvent::Status {
                project: ProjectId::new(1),
                task: TaskId::new(7),
                template: TemplateId::new(3),
                status: TaskStatus::WaitingConfirmation,
                start: Some(clock.now()),
                end: None,
            },
        )
        .await;
        (bot, chat, clock)
    }

    #[tokio::test]
    async fn the_status_message_shows_the_plan_and_how_to_answer() {
        let (_bot, chat, _clock) = waiting_plan(|_| {}).await;
        let edited = chat.bodies().join("\n");
        assert!(edited.contains("Plan: 1 to add, 0 to change, 0 to destroy."), "{edited}");
        assert!(edited.contains("react ✅ to apply or ❌ to reject") && edited.contains("!cd approve 7"), "{edited}");
    }

    #[tokio::test]
    async fn a_check_mark_on_the_status_message_approves_for_an_admin_only() {
        let (bot, chat, clock) = waiting_plan(|sem| {
            sem.expect_confirm_task().times(1).returning(|_, _| Ok(()));
        })
        .await;
        chat.take();
        let status = EventId("$status".into());
        bot.handle(reaction_from(&UserId::parse("@victor:test").unwrap(), &status, "✅", clock.now())).await;
        assert!(chat.bodies().join("\n").contains("needs the `approve` permission"));
        bot.handle(reaction_from(&UserId::parse("@eve:test").unwrap(), &status, "✅", clock.now())).await;
        assert!(chat.take().is_empty(), "strangers get no answer");
        bot.handle(reaction_from(&admin(), &status, "✅\u{fe0f}", clock.now())).await;
        let said = chat.bodies().join("\n");
        assert!(said.contains("Plan of task #7 approved by @alice:test"), "{said}");
    }

    #[tokio::test]
    async fn reject_stops_the_plan_by_force_and_names_who_rejected_it() {
        let (bot, chat, clock) = waiting_plan(|sem| {
            sem.expect_stop_task()
                .times(1)
                .withf(|p, t, mode| p.get() == 1 && t.get() == 7 && *mode == StopMode::Force)
                .returning(|_, _, _| Ok(()));
        })
        .await;
        chat.take();
        bot.handle(message_from(&admin(), "!cd reject 7", clock.now())).await;
        assert!(chat.bodies().join("\n").contains("rejected by @alice:test"));
        let tracked = bot.core.deps.store.tracked_tasks().await.unwrap();
        assert_eq!(tracked[0].stop_requested_by, Some(admin()), "its end reads as stopped by alice");
    }

    #[tokio::test]
    async fn only_a_waiting_plan_can_be_answered() {
        let clock = ManualClock::at_epoch();
        let mut sem = MockSemaphorePort::new();
        sem.expect_projects()
            .returning(|| Ok(vec![chatrixcd_ports::semaphore::Project { id: ProjectId::new(1), name: "ops".into() }]));
        sem.expect_task().returning(|_, _| Ok(task(TaskStatus::Running)));
        sem.expect_confirm_task().times(0);
        let (bot, chat) = bot_with(Arc::new(sem), Arc::new(MemoryStore::new()), Arc::new(clock.clone()), settings());
        bot.handle(message_from(&admin(), "!cd approve 7", clock.now())).await;
        assert!(chat.bodies().join("\n").contains("Task #7 is not waiting for approval; it is running."));
    }

    #[test]
    fn reactions_read_as_answers() {
        for (key, verdict) in [
            ("✅", Some(Verdict::Approve)),
            ("👍", Some(Verdict::Approve)),
            ("✔️", Some(Verdict::Approve)),
            ("❌", Some(Verdict::Reject)),
            ("👎", Some(Verdict::Reject)),
            ("🎉", None),
            ("", None),
        ] {
            assert_eq!(Verdict::from_reaction(key), verdict, "{key}");
        }
    }

    #[test]
    fn the_last_plan_line_is_the_summary() {
        assert_eq!(crate::watch::plan_summary(PLAN_LOG).as_deref(), Some("Plan: 1 to add, 0 to change, 0 to destroy."));
        assert_eq!(crate::watch::plan_summary("Plan: the weekend\nNo plan here"), None);
    }
}
