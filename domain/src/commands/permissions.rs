//! `permissions [@user]`: a user's grants (config's and chat's), which apply in this room now,
//! and what they allow here. Anybody the bot knows may ask: who may do what is no secret among
//! the people a bot works for, and it tells them whom to ask.

use chatrixcd_ports::UserId;

use crate::commands::{Command, CommandError, needs_nothing};
use crate::core::{Ctx, Request};
use crate::grammar::{ArgSpec, CommandSpec, Parsed, ValueKind};
use crate::permissions::{Origin, Permission};
use crate::render::Reply;

pub(crate) static SPEC: CommandSpec = CommandSpec {
    name: "permissions",
    aliases: &["perms", "grants"],
    summary: "Show a user's roles, scopes and what they may do here",
    args: &[ArgSpec { name: "user", kind: ValueKind::Word, required: false, help: "the Matrix user id (default: you)" }],
    flags: &[],
    subcommands: &[],
    examples: &["permissions", "permissions @dana:example.org"],
    hidden: false,
    permission: None,
};

pub(crate) static COMMAND: Command =
    Command { spec: &SPEC, needs: needs_nothing, run: |ctx, req, p| Box::pin(execute(ctx, req, p)) };

async fn execute(ctx: Ctx<'_>, req: &Request, p: &Parsed) -> Result<(), CommandError> {
    let user = match p.arg("user") {
        Some(_) => crate::commands::grant::user_arg(p)?,
        None => req.sender.clone(),
    };
    let reply = describe_user(ctx, req, &user);
    ctx.reply(req, reply).await;
    Ok(())
}

/// `user`'s grants as a table, and the permissions they have in the request's room now.
pub(crate) fn describe_user(ctx: Ctx<'_>, req: &Request, user: &UserId) -> Reply {
    let policy = ctx.policy();
    let now = ctx.now();
    let grants = policy.grants_of(user);
    let mut reply = Reply::notice().bold(&format!("🔑 {user}"));
    if grants.is_empty() {
        return reply.line().push("No roles: I do not take commands from them.");
    }
    let rows: Vec<Vec<String>> = grants
        .iter()
        .map(|g| {
            let from = match &g.origin {
                Origin::Config => "config".to_owned(),
                Origin::Chat { by, at } => format!("{by}, {}", at.format("%Y-%m-%d")),
            };
            let state = if g.in_force(&req.room, now) { "in force here" } else { "not here or not now" };
            vec![g.describe(), from, state.into()]
        })
        .collect();
    reply = reply.table(&["Grant", "From", "Now"], &rows);
    let here: Vec<&str> = Permission::ALL
        .into_iter()
        .filter(|p| policy.authorize_within(user, &req.room, *p, None, now).is_allowed())
        .map(Permission::as_str)
        .collect();
    reply = reply.line();
    if here.is_empty() {
        reply.push("Here, now, none of them applies.")
    } else {
        reply.push(&format!("Here you may: {} (each within its grant's scope).", here.join(", ")))
    }
}
