//! `whoami`: the caller's grants, which of them apply in this room now, and what they allow.

use crate::commands::permissions::describe_user;
use crate::commands::{Command, CommandError, needs_nothing};
use crate::core::{Ctx, Request};
use crate::grammar::{CommandSpec, Parsed};

pub(crate) static SPEC: CommandSpec = CommandSpec {
    name: "whoami",
    aliases: &["me"],
    summary: "Show your roles and what they let you do here",
    args: &[],
    flags: &[],
    subcommands: &[],
    examples: &["whoami"],
    hidden: false,
    permission: None,
};

pub(crate) static COMMAND: Command =
    Command { spec: &SPEC, needs: needs_nothing, run: |ctx, req, p| Box::pin(execute(ctx, req, p)) };

async fn execute(ctx: Ctx<'_>, req: &Request, _: &Parsed) -> Result<(), CommandError> {
    let reply = describe_user(ctx, req, &req.sender.clone());
    ctx.reply(req, reply).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use chatrixcd_ports::UserId;

    use crate::testing::{Harness, admin};

    #[tokio::test]
    async fn whoami_shows_the_callers_roles_and_permissions_here() {
        let h = Harness::single().await;
        h.say(&admin(), "!cd whoami").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("@alice:test") && said.contains("admin everywhere") && said.contains("config"), "{said}");
        assert!(said.contains("Here you may: read, logs, run, stop, approve"), "{said}");
        h.say(&UserId::parse("@victor:test").unwrap(), "!cd whoami").await;
        let said = h.chat.bodies().last().cloned().unwrap_or_default();
        assert!(said.contains("viewer everywhere") && said.contains("Here you may: read, logs ("), "{said}");
    }
}
