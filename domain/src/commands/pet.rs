//! `pet`: the bot likes that.

use crate::commands::{Command, CommandError, needs_nothing};
use crate::core::{Ctx, Request};
use crate::grammar::{CommandSpec, Parsed};
use crate::personality::Category;

pub(crate) static SPEC: CommandSpec = CommandSpec {
    name: "pet",
    aliases: &[],
    summary: "Pet the bot",
    args: &[],
    flags: &[],
    subcommands: &[],
    examples: &["pet"],
    hidden: true,
    permission: None,
};

pub(crate) static COMMAND: Command =
    Command { spec: &SPEC, needs: needs_nothing, run: |ctx, req, p| Box::pin(execute(ctx, req, p)) };

async fn execute(ctx: Ctx<'_>, req: &Request, _: &Parsed) -> Result<(), CommandError> {
    let phrase = ctx.personality().pick(Category::Pet, &[("name", req.display_name())]);
    let reply = ctx.greeting(req).push_rich(&phrase.plain, &phrase.html);
    ctx.reply(req, reply).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use chatrixcd_ports::UserId;

    use crate::personality::Category;
    use crate::testing::{Harness, admin, settings};

    #[tokio::test]
    async fn pet_answers_with_a_pet_phrase_even_to_a_viewer() {
        let h = Harness::single().await;
        h.say(&UserId::parse("@victor:test").unwrap(), "!cd pet").await;
        let said = h.chat.bodies();
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(Category::Pet.defaults().contains(&said[0].as_str()), "{said:?}");
        assert!(!Category::Scold.defaults().contains(&said[0].as_str()), "{said:?}");
    }

    #[tokio::test]
    async fn pet_greets_the_sender_by_name_and_stays_out_of_the_command_list() {
        let mut s = settings();
        s.greetings = true;
        let h = Harness::with(&[("default", chatrixcd_sim_semaphore::Mode::V2_10)], s).await;
        h.say(&admin(), "!cd pet").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("alice"), "the greeting names the sender\n{said}");
        assert!(Category::Pet.defaults().iter().any(|p| said.ends_with(p)), "{said}");
        h.say(&admin(), "!cd help").await;
        let help = h.chat.bodies().join("\n");
        assert!(help.contains("!cd admins") && !help.contains("!cd pet"), "pet is hidden\n{help}");
    }
}
