//! `admins`: who may run everything.

use crate::core::{Ctx, Request};
use crate::commands::{Command, CommandError, needs_nothing};
use crate::grammar::{CommandSpec, Parsed};
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

pub(crate) static COMMAND: Command =
    Command { spec: &SPEC, needs: needs_nothing, run: |ctx, req, p| Box::pin(execute(ctx, req, p)) };

async fn execute(ctx: Ctx<'_>, req: &Request, _: &Parsed) -> Result<(), CommandError> {
    let admins: Vec<Vec<String>> = ctx.settings().admins.iter().map(|a| vec![a.to_string(), "admin".into()]).collect();
    let viewers = ctx.settings().viewers.iter().map(|v| vec![v.to_string(), "viewer (read-only)".into()]);
    let rows: Vec<Vec<String>> = admins.into_iter().chain(viewers).collect();
    let reply = Reply::notice().bold("Who may use me").table(&["User", "Role"], &rows);
    ctx.reply(req, reply).await;
    Ok(())
}
