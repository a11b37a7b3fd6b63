//! `projects [instance]`: the Semaphore projects the bot's token can see.

use crate::permissions::Permission;
use crate::commands::{Command, CommandError, needs_instance_arg};
use crate::core::{Ctx, Request};
use crate::error::OnInstance as _;
use crate::grammar::{ArgSpec, CommandSpec, Parsed, ValueKind};
use crate::instances::tag;

pub(crate) static SPEC: CommandSpec = CommandSpec {
    name: "projects",
    aliases: &["project", "p"],
    summary: "List Semaphore projects",
    args: &[ArgSpec {
        name: "instance",
        kind: ValueKind::Word,
        required: false,
        help: "a Semaphore instance (default: this room's)",
    }],
    flags: &[],
    subcommands: &[],
    examples: &["projects", "projects staging"],
    hidden: false,
    permission: Some(Permission::Read),
};

pub(crate) static COMMAND: Command =
    Command { spec: &SPEC, needs: needs_instance_arg, run: |ctx, req, p| Box::pin(execute(ctx, req, p)) };

async fn execute(ctx: Ctx<'_>, req: &Request, p: &Parsed) -> Result<(), CommandError> {
    let instance = ctx.instance_for(&req.room, p.arg("instance")).await?;
    let projects = instance.semaphore.projects().await.on(instance.id)?;
    let projects = ctx.readable_projects(req, instance.id, projects);
    let tag = tag(ctx.instances(), instance.id);
    let reply = if projects.is_empty() {
        ctx.greeting(req).push(&tag).push("Semaphore has no projects this token can see. Create one in Semaphore UI, or give the token's user access to one. 📋")
    } else {
        let rows: Vec<Vec<String>> = projects.iter().map(|p| vec![p.id.to_string(), p.name.clone()]).collect();
        ctx.greeting(req)
            .bold(&format!("{tag}Projects"))
            .table(&["ID", "Name"], &rows)
            .line()
            .push("Templates of one: ")
            .code(&format!("{} templates <project>", ctx.prefix()))
    };
    ctx.reply(req, reply).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::testing::{Harness, admin};

    #[tokio::test]
    async fn projects_of_the_rooms_instance_or_the_one_named() {
        let h = Harness::single().await;
        h.say(&admin(), "!cd projects").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("Projects") && !said.contains('['), "one instance: no tag\n{said}");
        let h = Harness::two_instances().await;
        h.say(&admin(), "!cd projects staging").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("[staging] Projects"), "{said}");
        h.say(&admin(), "!cd projects nowhere").await;
        assert!(h.chat.bodies().join("\n").contains("There is no Semaphore instance `nowhere`"));
    }
}
