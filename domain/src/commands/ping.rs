//! `ping`: is Semaphore reachable, and does it accept our token?

use crate::bot::{Bot, Request};
use crate::commands::CommandError;
use crate::grammar::CommandSpec;
use crate::personality::Category;

pub(crate) static SPEC: CommandSpec = CommandSpec {
    name: "ping",
    aliases: &[],
    summary: "Check that Semaphore answers and accepts my token",
    args: &[],
    flags: &[],
    subcommands: &[],
    examples: &["ping"],
    hidden: false,
    mutating: false,
};

pub(crate) async fn execute(bot: &mut Bot, req: &Request) -> Result<(), CommandError> {
    let started = bot.deps.clock.now();
    bot.deps.semaphore.ping().await?;
    // /api/ping needs no token; /api/info does, so a bad token is caught here too.
    let info = bot.deps.semaphore.info().await?;
    let took = bot.deps.clock.now() - started;
    let phrase = bot.personality.pick(Category::PingSuccess, &[]);
    let reply =
        bot.greeting(req).push_rich(&phrase.plain, &phrase.html).line().colored("✅ Semaphore is up", "#4e9a06").push(
            &format!(" (version {}, answered in {} ms) and accepts my token.", info.version, took.num_milliseconds()),
        );
    bot.reply(req, reply).await;
    Ok(())
}
