//! `admins`: who may run everything.

use crate::bot::{Bot, Request};
use crate::commands::CommandError;
use crate::grammar::CommandSpec;
use crate::render::Reply;

pub(crate) static SPEC: CommandSpec = CommandSpec {
    name: "admins",
    aliases: &[],
    summary: "List who may run every command",
    args: &[],
    flags: &[],
    subcommands: &[],
    examples: &["admins"],
    hidden: false,
    mutating: false,
};

pub(crate) async fn execute(bot: &mut Bot, req: &Request) -> Result<(), CommandError> {
    let admins: Vec<Vec<String>> = bot.settings.admins.iter().map(|a| vec![a.to_string(), "admin".into()]).collect();
    let viewers = bot.settings.viewers.iter().map(|v| vec![v.to_string(), "viewer (read-only)".into()]);
    let rows: Vec<Vec<String>> = admins.into_iter().chain(viewers).collect();
    let reply = Reply::notice().bold("Who may use me").table(&["User", "Role"], &rows);
    bot.reply(req, reply).await;
    Ok(())
}
