//! `admins`: who may use the bot, with which roles (`permissions @user` tells more of one).

use crate::commands::{Command, CommandError, needs_nothing};
use crate::core::{Ctx, Request};
use crate::grammar::{CommandSpec, Parsed};
use crate::render::Reply;

pub(crate) static SPEC: CommandSpec = CommandSpec {
    name: "admins",
    aliases: &[],
    summary: "List who may use me, with their roles",
    args: &[],
    flags: &[],
    subcommands: &[],
    examples: &["admins"],
    hidden: false,
    permission: None,
};

pub(crate) static COMMAND: Command =
    Command { spec: &SPEC, needs: needs_nothing, run: |ctx, req, p| Box::pin(execute(ctx, req, p)) };

async fn execute(ctx: Ctx<'_>, req: &Request, _: &Parsed) -> Result<(), CommandError> {
    // Admins first, then by user: whom to ask comes first.
    let rows: Vec<Vec<String>> = {
        let policy = ctx.policy();
        let mut grants = policy.all();
        grants.sort_by_key(|g| (g.role != "admin", g.user.clone()));
        grants.iter().map(|g| vec![g.user.to_string(), g.describe()]).collect()
    };
    let reply = Reply::notice().bold("Who may use me").table(&["User", "Role"], &rows);
    ctx.reply(req, reply).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use chatrixcd_ports::UserId;

    use crate::testing::{Harness, admin, settings};

    #[tokio::test]
    async fn admins_lists_every_admin_then_every_viewer_with_their_role() {
        let h = Harness::single().await;
        // Read-only: a viewer may ask too.
        h.say(&UserId::parse("@victor:test").unwrap(), "!cd admins").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.starts_with("Who may use me"), "{said}");
        let rows: Vec<&str> = said.lines().skip(2).collect();
        assert_eq!(rows.len(), 3, "{said}");
        assert!(rows[0].starts_with("@alice:test") && rows[0].ends_with("admin everywhere"), "{said}");
        assert!(rows[1].starts_with("@bob:test") && rows[1].ends_with("admin everywhere"), "{said}");
        assert!(rows[2].starts_with("@victor:test") && rows[2].ends_with("viewer everywhere"), "{said}");
    }

    #[tokio::test]
    async fn without_viewers_only_the_admins_are_listed() {
        let mut s = settings();
        s.viewers.clear();
        let h = Harness::with(&[("default", chatrixcd_sim_semaphore::Mode::V2_10)], s).await;
        h.say(&admin(), "!cd admins").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("@alice:test") && said.contains("@bob:test"), "{said}");
        assert!(!said.contains("viewer") && !said.contains("@victor:test"), "{said}");
    }
}
