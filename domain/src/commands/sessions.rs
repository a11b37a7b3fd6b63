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
            ..CommandSpec::BASE
        },
        CommandSpec { name: "info", summary: "Show the bot's own device and keys", ..CommandSpec::BASE },
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
    Err(super::verify::needs_encryption(bot, &format!("sessions {}", args.action)))
}
