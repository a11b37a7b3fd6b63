//! `exit`: shut the bot down, after a confirmation.

use crate::core::{Ctx, Request};
use crate::commands::{Command, CommandError, needs_nothing};
use crate::plans::PendingAction;
use crate::confirm::Approver;
use crate::grammar::{CommandSpec, FlagSpec, Parsed};
use crate::render::Reply;

pub(crate) static SPEC: CommandSpec = CommandSpec {
    name: "exit",
    aliases: &["shutdown", "quit"],
    summary: "Shut the bot down (asks first)",
    args: &[],
    flags: &[FlagSpec {
        name: "yes",
        aliases: &["y"],
        value: None,
        repeatable: false,
        help: "do not ask for confirmation",
    }],
    subcommands: &[],
    examples: &["exit"],
    hidden: false,
    mutating: true,
};

#[derive(Debug, Clone)]
pub(crate) struct Args {
    yes: bool,
}

impl Args {
    pub(crate) fn from_parsed(p: &Parsed) -> Self {
        Self { yes: p.switch("yes") }
    }
}

pub(crate) static COMMAND: Command =
    Command { spec: &SPEC, needs: needs_nothing, run: |ctx, req, p| Box::pin(execute(ctx, req, p)) };

async fn execute(ctx: Ctx<'_>, req: &Request, p: &Parsed) -> Result<(), CommandError> {
    let args = Args::from_parsed(p);
    if args.yes {
        return perform(ctx, req).await;
    }
    let question = Reply::notice()
        .bold("⚠️ Shut the bot down?")
        .line()
        .push("Running tasks keep running in Semaphore, but nobody here will watch them until I am back.");
    let timeout = ctx.settings().short_confirm_timeout;
    ctx.ask(req, PendingAction::Exit, Approver::Requester, timeout, question).await;
    Ok(())
}

pub(crate) async fn perform(ctx: Ctx<'_>, req: &Request) -> Result<(), CommandError> {
    ctx.audit(req, "bot.exit", "shut down from chat".to_owned()).await;
    ctx.reply(req, Reply::notice().push("👋 Shutting down as requested. Goodbye!")).await;
    ctx.request_shutdown();
    Ok(())
}
