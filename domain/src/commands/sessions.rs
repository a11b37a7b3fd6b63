//! `sessions …`: the encryption sessions and devices of the bot. Like `verify`, this needs an
//! encrypted chat connection.

use crate::bot::{Bot, Request};
use crate::commands::CommandError;
use crate::grammar::{CommandSpec, Parsed};

pub(crate) static SPEC: CommandSpec = CommandSpec {
    name: "sessions",
    aliases: &["session"],
    summary: "Show the bot's encryption sessions and known devices",
    args: &[],
    flags: &[],
    subcommands: &[
        CommandSpec {
            name: "list",
            aliases: &["ls"],
            summary: "Count verified and unverified devices",
            args: &[],
            flags: &[],
            subcommands: &[],
            examples: &[],
            hidden: false,
            mutating: false,
        },
        CommandSpec {
            name: "info",
            aliases: &[],
            summary: "Show the bot's own device and keys",
            args: &[],
            flags: &[],
            subcommands: &[],
            examples: &[],
            hidden: false,
            mutating: false,
        },
    ],
    examples: &["sessions info"],
    hidden: false,
    mutating: false,
};

#[derive(Debug, Clone)]
pub(crate) struct Args {
    action: &'static str,
}

impl Args {
    pub(crate) fn from_parsed(p: &Parsed) -> Self {
        Self { action: p.sub().unwrap_or("list") }
    }
}

pub(crate) async fn execute(bot: &mut Bot, _req: &Request, args: Args) -> Result<(), CommandError> {
    let info = bot.deps.chat.connection_info();
    Err(CommandError::Refused(format!(
        "`sessions {}` needs an end-to-end encrypted chat connection; this one ({}) has no encryption sessions.",
        args.action, info.network
    )))
}
