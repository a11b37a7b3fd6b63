//! `verify …`: device verification for end-to-end encryption. Verification happens in the chat
//! adapter; on a connection without encryption (the console) there is nothing to verify, and the
//! reply says so rather than pretending.

use crate::bot::{Bot, Request};
use crate::commands::CommandError;
use crate::grammar::{ArgSpec, CommandSpec, Parsed, ValueKind};

pub(crate) static SPEC: CommandSpec = CommandSpec {
    name: "verify",
    aliases: &[],
    summary: "Verify devices for end-to-end encryption",
    args: &[],
    flags: &[],
    subcommands: &[
        CommandSpec {
            name: "list",
            aliases: &["ls"],
            summary: "List devices that are not verified",
            args: &[],
            flags: &[],
            subcommands: &[],
            examples: &[],
            hidden: false,
            mutating: false,
        },
        CommandSpec {
            name: "start",
            aliases: &[],
            summary: "Start an emoji verification with a device",
            args: &[
                ArgSpec { name: "user", kind: ValueKind::Word, required: true, help: "the device owner's Matrix id" },
                ArgSpec { name: "device", kind: ValueKind::Word, required: true, help: "the device id" },
            ],
            flags: &[],
            subcommands: &[],
            examples: &["verify start @alice:example.org ABCDEFGH"],
            hidden: false,
            mutating: true,
        },
        CommandSpec {
            name: "pending",
            aliases: &[],
            summary: "List verification requests waiting for an answer",
            args: &[],
            flags: &[],
            subcommands: &[],
            examples: &[],
            hidden: false,
            mutating: false,
        },
    ],
    examples: &["verify list", "verify start @alice:example.org ABCDEFGH"],
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
        "`verify {}` needs an end-to-end encrypted chat connection; this one ({}) has no encryption, so there are no devices to verify.",
        args.action, info.network
    )))
}
