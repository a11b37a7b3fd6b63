//! `pet`: the bot likes that.

use crate::bot::{Bot, Request};
use crate::commands::CommandError;
use crate::grammar::CommandSpec;
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
    mutating: false,
};

pub(crate) async fn execute(bot: &mut Bot, req: &Request) -> Result<(), CommandError> {
    let phrase = bot.personality.pick(Category::Pet, &[("name", req.display_name())]);
    let reply = bot.greeting(req).push_rich(&phrase.plain, &phrase.html);
    bot.reply(req, reply).await;
    Ok(())
}
