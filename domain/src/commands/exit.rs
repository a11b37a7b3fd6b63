//! `exit`: shut the bot down, after a confirmation.

use crate::bot::{Bot, Request};
use crate::commands::{CommandError, PendingAction, ask};
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

pub(crate) async fn execute(bot: &mut Bot, req: &Request, args: Args) -> Result<(), CommandError> {
    if args.yes {
        return perform(bot, req).await;
    }
    let question = Reply::notice()
        .bold("⚠️ Shut the bot down?")
        .line()
        .push("Running tasks keep running in Semaphore, but nobody here will watch them until I am back.");
    let timeout = bot.settings.short_confirm_timeout;
    ask(bot, req, PendingAction::Exit, Approver::Requester, timeout, question).await;
    Ok(())
}

pub(crate) async fn perform(bot: &mut Bot, req: &Request) -> Result<(), CommandError> {
    bot.audit(req, "bot.exit", "shut down from chat".to_owned()).await;
    bot.reply(req, Reply::notice().push("👋 Shutting down as requested. Goodbye!")).await;
    bot.request_shutdown();
    Ok(())
}
