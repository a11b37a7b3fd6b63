//! `ping [instance]`: is Semaphore reachable, and does it accept our token?

use crate::commands::{Command, CommandError, needs_instance_arg};
use crate::core::{Ctx, Request};
use crate::error::OnInstance as _;
use crate::grammar::{ArgSpec, CommandSpec, Parsed, ValueKind};
use crate::instances::tag;
use crate::personality::Category;

pub(crate) static SPEC: CommandSpec = CommandSpec {
    name: "ping",
    aliases: &[],
    summary: "Check that Semaphore answers and accepts my token",
    args: &[ArgSpec {
        name: "instance",
        kind: ValueKind::Word,
        required: false,
        help: "a Semaphore instance (default: this room's)",
    }],
    flags: &[],
    subcommands: &[],
    examples: &["ping", "ping staging"],
    hidden: false,
    permission: None,
};

pub(crate) static COMMAND: Command =
    Command { spec: &SPEC, needs: needs_instance_arg, run: |ctx, req, p| Box::pin(execute(ctx, req, p)) };

async fn execute(ctx: Ctx<'_>, req: &Request, p: &Parsed) -> Result<(), CommandError> {
    let instance = ctx.instance_for(&req.room, p.arg("instance")).await?;
    let started = ctx.now();
    instance.semaphore.ping().await.on(instance.id)?;
    // /api/ping needs no token; /api/info does, so a bad token is caught here too.
    let info = instance.semaphore.info().await.on(instance.id)?;
    let took = ctx.now() - started;
    let phrase = ctx.personality().pick(Category::PingSuccess, &[]);
    let reply = ctx
        .greeting(req)
        .push_rich(&phrase.plain, &phrase.html)
        .line()
        .push(&tag(ctx.instances(), instance.id))
        .colored("✅ Semaphore is up", "#4e9a06")
        .push(&format!(
            " (version {}, answered in {} ms) and accepts my token.",
            info.version,
            took.num_milliseconds()
        ));
    ctx.reply(req, reply).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::testing::{Harness, admin};

    #[tokio::test]
    async fn ping_answers_for_the_rooms_instance_or_the_one_named() {
        let h = Harness::two_instances().await;
        h.say(&admin(), "!cd ping").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("[production] ✅ Semaphore is up"), "{said}");
        h.say(&admin(), "!cd ping staging").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("[staging] ✅ Semaphore is up"), "{said}");
        h.say(&admin(), "!cd ping prodution").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("Did you mean `production`?"), "{said}");
    }
}
