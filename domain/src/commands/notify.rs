//! `notify [list|add|remove]`: what this room follows among the tasks the bot did not start
//! (Semaphore's UI, its schedules, its API). A room may follow only what its requester may
//! read; changes are audited. Config's follows (`bot.notify`) are listed, not changed here.

use chatrixcd_ports::RoomId;

use crate::commands::{Command, CommandError, needs_nothing};
use crate::core::{Ctx, Request};
use crate::grammar::{ArgSpec, CommandSpec, Parsed, ValueKind};
use crate::notify::{Follow, On};
use crate::permissions::{Origin, Permission, Scope, Target};
use crate::render::Reply;

static ADD_ARGS: [ArgSpec; 2] = [
    ArgSpec {
        name: "scope",
        kind: ValueKind::Word,
        required: true,
        help: "instance[:project[:template]], names, ids or globs (`prod:ops:deploy-*`)",
    },
    ArgSpec { name: "on", kind: ValueKind::Word, required: false, help: "failures (default), finished or all" },
];

static REMOVE_ARGS: [ArgSpec; 1] =
    [ArgSpec { name: "scope", kind: ValueKind::Word, required: true, help: "the scope as `notify` lists it" }];

pub(crate) static SPEC: CommandSpec = CommandSpec {
    name: "notify",
    aliases: &["follow"],
    summary: "Follow tasks the bot did not start: failures, ends or everything, by scope",
    args: &[],
    flags: &[],
    subcommands: &[
        CommandSpec { name: "list", aliases: &["ls"], summary: "What this room follows", ..CommandSpec::BASE },
        CommandSpec {
            name: "add",
            summary: "Follow a scope in this room",
            args: &ADD_ARGS,
            examples: &["notify add prod:ops failures", "notify add staging:*:deploy-* all"],
            ..CommandSpec::BASE
        },
        CommandSpec {
            name: "remove",
            aliases: &["rm"],
            summary: "Stop following a scope in this room",
            args: &REMOVE_ARGS,
            examples: &["notify remove prod:ops"],
            ..CommandSpec::BASE
        },
    ],
    examples: &["notify", "notify add prod:ops failures"],
    hidden: false,
    permission: Some(Permission::Read),
};

pub(crate) static COMMAND: Command =
    Command { spec: &SPEC, needs: needs_nothing, run: |ctx, req, p| Box::pin(execute(ctx, req, p)) };

fn scope_arg(p: &Parsed) -> Result<Scope, CommandError> {
    Scope::parse(p.arg("scope").unwrap_or_default()).map_err(|e| CommandError::Usage(format!("The scope {e}.")))
}

async fn execute(ctx: Ctx<'_>, req: &Request, p: &Parsed) -> Result<(), CommandError> {
    crate::notify::ensure_loaded(ctx.core()).await;
    match p.sub() {
        Some("add") => add(ctx, req, p).await,
        Some("remove") => remove(ctx, req, p).await,
        _ => list(ctx, req).await,
    }
}

fn here(ctx: &Ctx<'_>, room: &RoomId) -> Vec<Follow> {
    ctx.core().followers.all().into_iter().filter(|f| &f.room == room).collect()
}

async fn list(ctx: Ctx<'_>, req: &Request) -> Result<(), CommandError> {
    let follows = here(&ctx, &req.room);
    let prefix = &ctx.settings().prefix;
    let reply = if follows.is_empty() {
        Reply::notice()
            .push("This room follows no tasks beyond the bot's own runs. ")
            .code(&format!("{prefix} notify add <scope> [failures|finished|all]"))
            .push(" follows the tasks of a scope, whoever starts them.")
    } else {
        let rows: Vec<Vec<String>> = follows
            .iter()
            .map(|f| {
                let from = match &f.origin {
                    Origin::Config => "config".to_owned(),
                    Origin::Chat { by, at } => format!("{by}, {}", at.format("%Y-%m-%d")),
                };
                vec![f.scope.to_string(), f.on.as_str().to_owned(), from]
            })
            .collect();
        Reply::notice().bold("This room follows").table(&["Scope", "Told of", "Added by"], &rows)
    };
    ctx.reply(req, reply).await;
    Ok(())
}

async fn add(ctx: Ctx<'_>, req: &Request, p: &Parsed) -> Result<(), CommandError> {
    let scope = scope_arg(p)?;
    let on = match p.arg("on") {
        None => On::Failures,
        Some(word) => On::parse(word).ok_or_else(|| {
            CommandError::Usage(format!("`{word}` is not one of: {}.", On::NAMES.join(", ")))
        })?,
    };
    let instances: Vec<_> = ctx.instances().iter().map(|i| i.id).filter(|id| scope.instance.matches(id.as_str())).collect();
    if instances.is_empty() {
        let known: Vec<String> = ctx.instances().iter().map(|i| i.id.to_string()).collect();
        return Err(CommandError::Refused(format!(
            "The scope `{scope}` names no instance I know (I know: {}).",
            known.join(", ")
        )));
    }
    // A room may follow only what its requester may read, on every instance the scope covers.
    for instance in instances {
        ctx.authorize(req, Permission::Read, &Target::instance(instance).some_of()).await?;
    }
    let follow = Follow { room: req.room.clone(), scope: scope.clone(), on, origin: Origin::Chat { by: req.sender.clone(), at: ctx.now() } };
    let replaced = crate::notify::change(ctx.core(), |follows| {
        let before = follows.len();
        follows.retain(|f| !(f.room == follow.room && f.scope == follow.scope && f.origin != Origin::Config));
        let replaced = follows.len() < before;
        follows.push(follow);
        replaced
    })
    .await?;
    ctx.audit(req, "notify.add", format!("{scope} {}", on.as_str())).await;
    let told = match on {
        On::Failures => "failures",
        On::Finished => "every end (success, failure, stop)",
        On::All => "starts, plans waiting for approval and ends",
    };
    let verb = if replaced { "now follows" } else { "follows" };
    let reply = Reply::notice()
        .push(&format!("🔔 This room {verb} "))
        .code(&scope.to_string())
        .push(&format!(": it is told of {told} of tasks the bot did not start."));
    ctx.reply(req, reply).await;
    Ok(())
}

async fn remove(ctx: Ctx<'_>, req: &Request, p: &Parsed) -> Result<(), CommandError> {
    let scope = scope_arg(p)?;
    let follows = here(&ctx, &req.room);
    let Some(found) = follows.iter().find(|f| f.scope == scope) else {
        let listed: Vec<String> = follows.iter().map(|f| format!("`{}`", f.scope)).collect();
        let known = if listed.is_empty() { "nothing".to_owned() } else { listed.join(", ") };
        return Err(CommandError::Refused(format!("This room does not follow `{scope}`; it follows {known}.")));
    };
    if found.origin == Origin::Config {
        return Err(CommandError::Refused(format!(
            "This room follows `{scope}` by config (`bot.notify`); change it there."
        )));
    }
    let room = req.room.clone();
    crate::notify::change(ctx.core(), |follows| {
        follows.retain(|f| !(f.room == room && f.scope == scope && f.origin != Origin::Config));
    })
    .await?;
    ctx.audit(req, "notify.remove", scope.to_string()).await;
    ctx.reply(req, Reply::notice().push("🔕 This room no longer follows ").code(&scope.to_string())).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use chatrixcd_ports::semaphore::{SemaphorePort as _, StartTask};
    use chatrixcd_ports::{InstanceId, ProjectId, Store as _, TaskEvent, TaskId, TaskStatus, TemplateId, UserId};

    use crate::testing::{Harness, admin};

    /// Someone starts `template` of project 1 in Semaphore's UI; returns its id once it ended.
    async fn started_elsewhere(h: &Harness, template: u64) -> TaskId {
        let request = StartTask { template_id: TemplateId::new(template), ..StartTask::default() };
        let task = h.sims[0].start_task(ProjectId::new(1), request).await.unwrap();
        h.advance(chrono::Duration::minutes(10)).await;
        task.id
    }

    fn alert(task: TaskId, status: TaskStatus) -> TaskEvent {
        TaskEvent::Alert { project: Some(ProjectId::new(1)), task, status }
    }

    #[tokio::test]
    async fn a_followed_failure_is_announced_once_and_the_bots_own_runs_are_not() {
        let h = Harness::single().await;
        let default = InstanceId::default();
        h.say(&admin(), "!cd notify add default:ops").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("🔔 This room follows `default:ops`: it is told of failures"), "{said}");

        let failed = started_elsewhere(&h, 3).await;
        h.bot.on_task_event(default, alert(failed, TaskStatus::Error)).await;
        let said = h.chat.bodies();
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(said[0].starts_with(&format!("❌ ops / broken-deploy · task #{failed} failed · took")), "{said:?}");
        assert!(said[0].contains(" in Semaphore · open in Semaphore"), "{said:?}");
        // The websocket tells of the same end, twice: nothing more.
        h.bot.on_task_event(default, alert(failed, TaskStatus::Error)).await;
        assert!(h.chat.bodies().is_empty());

        // A success is not a failure.
        let fine = started_elsewhere(&h, 1).await;
        h.bot.on_task_event(default, alert(fine, TaskStatus::Success)).await;
        assert!(h.chat.bodies().is_empty(), "failures only");

        // The bot's own failing run: its room hears of it from the watcher, not again here.
        h.say(&admin(), "!cd run 1 3 --yes").await;
        h.advance(chrono::Duration::minutes(10)).await;
        let own = h.chat.bodies().join("\n");
        let task = h.store.runs(chatrixcd_ports::Page { limit: 1, before: None }).await.unwrap()[0].task;
        h.bot.on_task_event(default, alert(task, TaskStatus::Error)).await;
        let after = h.chat.bodies().join("\n");
        assert!(!own.contains(" in Semaphore ·") && !after.contains(" in Semaphore ·"), "{own}\n{after}");

        // Kept in the store; removed, and then quiet.
        let stored = h.store.setting("follows").await.unwrap().unwrap_or_default();
        assert!(stored.contains(r#""scope":"default:ops""#) && stored.contains(r#""on":"failures""#), "{stored}");
        h.say(&admin(), "!cd notify").await;
        assert!(h.chat.bodies().join("\n").contains("default:ops  failures"), "listed");
        h.say(&admin(), "!cd notify remove default:ops").await;
        let again = started_elsewhere(&h, 3).await;
        h.bot.on_task_event(default, alert(again, TaskStatus::Error)).await;
        assert_eq!(h.chat.bodies(), ["🔕 This room no longer follows `default:ops`"]);
    }

    #[tokio::test]
    async fn following_needs_a_scope_the_requester_may_read_and_that_exists() {
        let h = Harness::single().await;
        h.say(&admin(), "!cd notify add nowhere:ops").await;
        assert!(h.chat.bodies().join("\n").contains("names no instance I know (I know: default)"));
        h.say(&admin(), "!cd notify add default sometimes").await;
        assert!(h.chat.bodies().join("\n").contains("`sometimes` is not one of: failures, finished, all."));
        h.say(&UserId::parse("@stranger:test").unwrap(), "!cd notify add default").await;
        h.say(&admin(), "!cd notify remove default").await;
        assert!(h.chat.bodies().join("\n").contains("This room does not follow `default`; it follows nothing."));
        assert_eq!(h.store.setting("follows").await.unwrap(), None, "nothing was stored");
    }
}
