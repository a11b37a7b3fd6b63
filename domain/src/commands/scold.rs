//! `scold`: the bot takes it on the chin.

use crate::commands::{Command, CommandError, needs_nothing};
use crate::core::{Ctx, Request};
use crate::grammar::{CommandSpec, Parsed};
use crate::personality::Category;

pub(crate) static SPEC: CommandSpec = CommandSpec {
    name: "scold",
    aliases: &[],
    summary: "Scold the bot",
    args: &[],
    flags: &[],
    subcommands: &[],
    examples: &["scold"],
    hidden: true,
    permission: None,
};

pub(crate) static COMMAND: Command =
    Command { spec: &SPEC, needs: needs_nothing, run: |ctx, req, p| Box::pin(execute(ctx, req, p)) };

async fn execute(ctx: Ctx<'_>, req: &Request, _: &Parsed) -> Result<(), CommandError> {
    let phrase = ctx.personality().pick(Category::Scold, &[("name", req.display_name())]);
    let reply = ctx.greeting(req).push_rich(&phrase.plain, &phrase.html);
    ctx.reply(req, reply).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use chatrixcd_ports::UserId;

    use crate::personality::Category;
    use crate::testing::{Harness, admin};

    #[tokio::test]
    async fn scold_is_taken_on_the_chin_from_admins_and_viewers() {
        let h = Harness::single().await;
        for who in [admin(), UserId::parse("@victor:test").unwrap()] {
            h.say(&who, "!cd scold").await;
            let said = h.chat.bodies();
            assert_eq!(said.len(), 1, "{who}: {said:?}");
            assert!(Category::Scold.defaults().contains(&said[0].as_str()), "{who}: {said:?}");
        }
        // Strangers are brushed off, not apologised to.
        h.say(&UserId::parse("@eve:test").unwrap(), "!cd scold").await;
        let said = h.chat.bodies();
        assert!(!Category::Scold.defaults().contains(&said[0].as_str()), "{said:?}");
        assert!(said[0].contains("eve"), "{said:?}");
    }
}
