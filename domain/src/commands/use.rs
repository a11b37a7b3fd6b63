//! `use [instance]`: which Semaphore instance this room's commands work on. Kept in the store,
//! so it survives restarts; `info` and `instances` show it. A command can still name another
//! instance (`run staging:1:5`).

use crate::permissions::{Permission, Target};
use crate::commands::{Command, CommandError, needs_nothing};
use crate::core::{Ctx, Request, room_instance};
use crate::grammar::{ArgSpec, CommandSpec, Parsed, ValueKind};
use crate::render::Reply;

pub(crate) static SPEC: CommandSpec = CommandSpec {
    name: "use",
    aliases: &[],
    summary: "Show or choose the Semaphore instance this room's commands use",
    args: &[ArgSpec {
        name: "instance",
        kind: ValueKind::Word,
        required: false,
        help: "the instance to use from now on in this room (`default` goes back to the configured default)",
    }],
    flags: &[],
    subcommands: &[],
    examples: &["use", "use staging"],
    hidden: false,
    permission: Some(Permission::Read),
};

pub(crate) static COMMAND: Command =
    Command { spec: &SPEC, needs: needs_nothing, run: |ctx, req, p| Box::pin(execute(ctx, req, p)) };

async fn execute(ctx: Ctx<'_>, req: &Request, p: &Parsed) -> Result<(), CommandError> {
    let instances = ctx.instances();
    let default = instances.default_instance().id;
    let Some(wanted) = p.arg("instance") else {
        let current = room_instance(ctx.core(), &req.room).await;
        let known: Vec<String> = instances.iter().map(|i| i.id.to_string()).collect();
        let reply = Reply::notice()
            .push(&format!(
                "🛠️ This room uses {}{}. Instances: {}.",
                current.unwrap_or(default),
                if current.is_none() { " (the default)" } else { "" },
                known.join(", ")
            ))
            .line()
            .push("Choose another with ")
            .code(&format!("{} use <instance>", ctx.prefix()))
            .push(".");
        ctx.reply(req, reply).await;
        return Ok(());
    };
    ctx.authorize(req, Permission::Rooms, &Target::bot()).await?;
    let instance = ctx.instance_for(&req.room, Some(wanted)).await?;
    // The default is not pinned: a room that goes back to it follows a later change of the
    // configured default.
    let choice = (instance.id != default).then_some(instance.id);
    crate::core::set_room_instance(ctx.core(), &req.room, choice).await?;
    ctx.audit(req, "room.use", instance.id.to_string()).await;
    let mut reply = Reply::notice().push(&format!("🛠️ This room now uses {}", instance.id));
    if !instances.is_multi() {
        reply = reply.push(" (the only instance configured)");
    }
    reply = reply.push(". Commands without an instance in them go there.");
    ctx.reply(req, reply).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use chatrixcd_ports::{InstanceId, Store as _};

    use crate::testing::{Harness, admin};

    #[tokio::test]
    async fn use_switches_the_rooms_instance_persistently_and_audits() {
        let h = Harness::two_instances().await;
        h.say(&admin(), "!cd use").await;
        assert!(h.chat.bodies().join("\n").contains("This room uses production (the default)"));
        h.say(&admin(), "!cd use stag").await;
        assert!(h.chat.bodies().join("\n").contains("now uses staging"));
        let settings = h.store.room_settings(&crate::testing::room()).await.unwrap();
        assert_eq!(settings.active_instance, Some(InstanceId::parse("staging").unwrap()));
        h.say(&admin(), "!cd projects").await;
        assert!(h.chat.bodies().join("\n").contains("[staging] Projects"), "commands now go to staging");
        h.say(&admin(), "!cd use production").await;
        let settings = h.store.room_settings(&crate::testing::room()).await.unwrap();
        assert_eq!(settings.active_instance, None, "back to the default is not pinned");
        h.say(&admin(), "!cd use prodution").await;
        assert!(h.chat.bodies().join("\n").contains("Did you mean `production`?"));
        let audit = h.store.audit(chatrixcd_ports::Page { limit: 10, before: None }).await.unwrap();
        assert_eq!(audit.iter().filter(|a| a.action == "room.use").count(), 2);
    }

    #[tokio::test]
    async fn viewers_may_look_but_not_switch() {
        let h = Harness::two_instances().await;
        let victor = chatrixcd_ports::UserId::parse("@victor:test").unwrap();
        h.say(&victor, "!cd use").await;
        assert!(h.chat.bodies().join("\n").contains("This room uses production"));
        h.say(&victor, "!cd use staging").await;
        assert!(h.chat.bodies().join("\n").contains("needs the `rooms` permission on the bot"));
    }
}
