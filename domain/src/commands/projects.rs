//! `projects`: the Semaphore projects the bot's token can see.

use crate::bot::{Bot, Request};
use crate::commands::CommandError;
use crate::grammar::CommandSpec;

pub(crate) static SPEC: CommandSpec = CommandSpec {
    name: "projects",
    aliases: &["project", "p"],
    summary: "List Semaphore projects",
    args: &[],
    flags: &[],
    subcommands: &[],
    examples: &["projects"],
    hidden: false,
    mutating: false,
};

pub(crate) async fn execute(bot: &mut Bot, req: &Request) -> Result<(), CommandError> {
    let projects = bot.deps.semaphore.projects().await?;
    let reply = if projects.is_empty() {
        bot.greeting(req).push("Semaphore has no projects this token can see. Create one in Semaphore UI, or give the token's user access to one. 📋")
    } else {
        let rows: Vec<Vec<String>> = projects.iter().map(|p| vec![p.id.to_string(), p.name.clone()]).collect();
        bot.greeting(req)
            .bold("Projects")
            .table(&["ID", "Name"], &rows)
            .line()
            .push("Templates of one: ")
            .code(&format!("{} templates <project>", bot.settings.prefix))
    };
    bot.reply(req, reply).await;
    Ok(())
}
