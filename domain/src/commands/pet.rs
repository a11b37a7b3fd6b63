//! `pet`: the bot likes that.

use crate::core::{Ctx, Request};
use crate::commands::{Command, CommandError, needs_nothing};
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
    mutating: false,
};

pub(crate) static COMMAND: Command =
    Command { spec: &SPEC, needs: needs_nothing, run: |ctx, req, p| Box::pin(execute(ctx, req, p)) };

async fn execute(ctx: Ctx<'_>, req: &Request, _: &Parsed) -> Result<(), CommandError> {
    let phrase = ctx.personality().pick(Category::Pet, &[("name", req.display_name())]);
    let reply = ctx.greeting(req).push_rich(&phrase.plain, &phrase.html);
    ctx.reply(req, reply).await;
    Ok(())
}
