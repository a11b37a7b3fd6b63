//! `sessions …`: the encryption sessions and devices of the bot. Like `verify`, this needs an
//! encrypted chat connection.

use crate::permissions::Permission;
use crate::commands::{Command, CommandError, needs_nothing};
use crate::core::{Ctx, Request};
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
    permission: Some(Permission::Read),
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chatrixcd_ports::encryption::DeviceSummary;

    use crate::testing::{FakeEncryption, Harness, admin, bot_user};

    #[tokio::test]
    async fn sessions_need_an_encrypted_connection() {
        let h = Harness::single().await;
        h.say(&admin(), "!cd sessions").await;
        h.say(&admin(), "!cd sessions info").await;
        let said = h.chat.bodies();
        assert!(said[0].starts_with("🚫 `sessions list` needs an end-to-end encrypted chat connection"), "{said:?}");
        assert!(said[1].starts_with("🚫 `sessions info` needs an end-to-end encrypted chat connection"), "{said:?}");
        assert!(said[1].contains("this one (test) has no encryption"), "{said:?}");
    }

    #[tokio::test]
    async fn sessions_list_the_bots_own_devices_and_info_its_keys() {
        let h = Harness::single().await;
        let encryption = Arc::new(FakeEncryption::default());
        let device = |user, id: &str, verified| DeviceSummary {
            user,
            device_id: id.into(),
            display_name: Some(format!("{id} name")),
            verified,
        };
        encryption.devices.lock().unwrap().extend([
            device(bot_user(), "BOTDEVICE", true),
            device(bot_user(), "OLDBOT", false),
            device(admin(), "LAPTOP", false),
        ]);
        *h.chat.encryption.lock().unwrap() = Some(encryption);
        h.say(&admin(), "!cd sessions").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.starts_with("1 of 2 known devices of @bot:test are not verified."), "{said}");
        assert!(said.contains("BOTDEVICE") && said.contains("✅ verified"), "{said}");
        assert!(said.contains("OLDBOT") && said.contains("⚠️ not verified"), "{said}");
        assert!(!said.contains("LAPTOP"), "only the bot's own devices\n{said}");
        h.say(&admin(), "!cd session info").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.starts_with("🔐 Encryption"), "{said}");
        assert!(said.contains("BOTDEVICE") && said.contains("abcd efgh") && said.contains("Key backup"), "{said}");
    }
}
