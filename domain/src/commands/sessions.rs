//! `sessions …`: the encryption sessions and devices of the bot. Like `verify`, this needs an
//! encrypted chat connection.

use crate::core::{Ctx, Request};
use crate::commands::{Command, CommandError, needs_nothing};
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

pub(crate) static COMMAND: Command =
    Command { spec: &SPEC, needs: needs_nothing, run: |ctx, req, p| Box::pin(execute(ctx, req, p)) };

async fn execute(ctx: Ctx<'_>, req: &Request, p: &Parsed) -> Result<(), CommandError> {
    let args = Args::from_parsed(p);
    let Some(encryption) = ctx.chat().encryption() else {
        return Err(super::verify::needs_encryption(ctx, &format!("sessions {}", args.action)));
    };
    let reply = if args.action == "info" {
        super::verify::status_reply(encryption.as_ref()).await?
    } else {
        let me = ctx.settings().bot_user.clone();
        super::verify::devices_reply(encryption.as_ref(), &me).await?
    };
    ctx.reply(req, reply).await;
    Ok(())
}
