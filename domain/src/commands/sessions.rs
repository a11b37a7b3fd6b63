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
            summary: "List the bot account's devices and whether they are verified",
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

pub(crate) async fn execute(bot: &mut Bot, req: &Request, args: Args) -> Result<(), CommandError> {
    let Some(encryption) = bot.deps.chat.encryption() else {
        return Err(super::verify::needs_encryption(bot, &format!("sessions {}", args.action)));
    };
    let reply = if args.action == "info" {
        super::verify::status_reply(encryption.as_ref()).await?
    } else {
        let me = bot.settings.bot_user.clone();
        super::verify::devices_reply(encryption.as_ref(), &me).await?
    };
    bot.reply(req, reply).await;
    Ok(())
}
