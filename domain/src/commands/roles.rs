//! `roles`: the roles there are (built in and from config) and their permissions.

use crate::commands::{Command, CommandError, needs_nothing};
use crate::core::{Ctx, Request};
use crate::grammar::{CommandSpec, Parsed};
use crate::permissions::{Permission, Role};
use crate::render::Reply;

pub(crate) static SPEC: CommandSpec = CommandSpec {
    name: "roles",
    aliases: &[],
    summary: "List the roles and the permissions each gives",
    args: &[],
    flags: &[],
    subcommands: &[],
    examples: &["roles"],
    hidden: false,
    permission: None,
};

pub(crate) static COMMAND: Command =
    Command { spec: &SPEC, needs: needs_nothing, run: |ctx, req, p| Box::pin(execute(ctx, req, p)) };

async fn execute(ctx: Ctx<'_>, req: &Request, _: &Parsed) -> Result<(), CommandError> {
    let (rows, protected) = {
        let policy = ctx.policy();
        let rows: Vec<Vec<String>> = policy.roles().iter().map(row).collect();
        let protected: Vec<String> = policy.protected().iter().map(ToString::to_string).collect();
        (rows, protected)
    };
    let mut reply = Reply::notice().bold("Roles").table(&["Role", "Permissions", "Kind"], &rows);
    if !protected.is_empty() {
        reply = reply.line().push(&format!(
            "Protected instances ({}): a developer may look at them, and runs there only through a grant whose scope names them.",
            protected.join(", ")
        ));
    }
    reply = reply.line().push("Give one with ").code(&format!("{} grant @user <role> [scope]", ctx.prefix()));
    ctx.reply(req, reply).await;
    Ok(())
}

fn row(role: &Role) -> Vec<String> {
    let permissions = if role.permissions.len() == Permission::ALL.len() {
        "everything".to_owned()
    } else {
        role.permissions.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")
    };
    let kind = if Role::BUILT_IN.contains(&role.name.as_str()) { "built in" } else { "config" };
    let mut name = role.name.clone();
    if role.protected_needs_scope {
        name.push_str(" (runs on protected instances only when a scope names them)");
    }
    vec![name, permissions, kind.to_owned()]
}

#[cfg(test)]
mod tests {
    use crate::testing::{Harness, admin};

    #[tokio::test]
    async fn roles_lists_the_built_in_ones_with_their_permissions() {
        let h = Harness::single().await;
        h.say(&admin(), "!cd roles").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("admin") && said.contains("everything"), "{said}");
        assert!(said.contains("operator") && said.contains("read, logs, run, stop, approve, schedule"), "{said}");
        assert!(said.contains("viewer") && said.contains("read, logs"), "{said}");
    }
}
