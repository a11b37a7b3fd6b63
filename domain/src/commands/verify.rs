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
            ..CommandSpec::BASE
        },
        CommandSpec {
            name: "start",
            summary: "Start an emoji verification with a device",
            args: &[
                ArgSpec { name: "user", kind: ValueKind::Word, required: true, help: "the device owner's Matrix id" },
                ArgSpec { name: "device", kind: ValueKind::Word, required: true, help: "the device id" },
            ],
            examples: &["verify start @alice:example.org ABCDEFGH"],
            mutating: true,
            ..CommandSpec::BASE
        },
        CommandSpec {
            name: "pending",
            summary: "List verification requests waiting for an answer",
            ..CommandSpec::BASE
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
    Err(needs_encryption(bot, &format!("verify {}", args.action)))
}

/// The answer of the encryption commands on a connection without end-to-end encryption.
pub(crate) fn needs_encryption(bot: &Bot, command: &str) -> CommandError {
    let info = bot.deps.chat.connection_info();
    CommandError::Refused(format!(
        "`{command}` needs an end-to-end encrypted chat connection; this one ({}) has no encryption, so there are no devices or sessions to manage.",
        info.network
    ))
}
