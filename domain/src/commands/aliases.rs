//! `aliases [add|remove]`: shortcuts for longer commands, in ChatrixCD's `aliases.json` format.

use crate::core::{Ctx, Request};
use crate::commands::{Command, CommandError, REGISTRY, needs_nothing};
use crate::grammar::{ArgSpec, CommandSpec, Parsed, ValueKind};
use crate::render::Reply;

pub(crate) static SPEC: CommandSpec = CommandSpec {
    name: "aliases",
    aliases: &["alias"],
    summary: "List, add or remove command aliases",
    args: &[],
    flags: &[],
    subcommands: &[
        CommandSpec { name: "list", aliases: &["ls"], summary: "List the aliases", ..CommandSpec::BASE },
        CommandSpec {
            name: "add",
            aliases: &["set"],
            summary: "Add or replace an alias; words typed after it are appended",
            args: &[
                ArgSpec { name: "alias", kind: ValueKind::Word, required: true, help: "one word" },
                ArgSpec { name: "command", kind: ValueKind::Rest, required: true, help: "the command it stands for" },
            ],
            examples: &["aliases add deploy-web run ops deploy-web"],
            mutating: true,
            ..CommandSpec::BASE
        },
        CommandSpec {
            name: "remove",
            aliases: &["rm", "delete", "del"],
            summary: "Remove an alias",
            args: &[ArgSpec { name: "alias", kind: ValueKind::Word, required: true, help: "the alias" }],
            examples: &["aliases remove deploy-web"],
            mutating: true,
            ..CommandSpec::BASE
        },
    ],
    examples: &["aliases", "aliases add dw run 1 1", "aliases remove dw"],
    hidden: false,
    mutating: false,
};

#[derive(Debug, Clone)]
pub(crate) enum Args {
    List,
    Add { alias: String, command: String },
    Remove { alias: String },
}

impl Args {
    pub(crate) fn from_parsed(p: &Parsed) -> Self {
        let alias = p.arg("alias").unwrap_or_default().to_owned();
        match p.sub() {
            Some("add") => Self::Add { alias, command: p.arg("command").unwrap_or_default().to_owned() },
            Some("remove") => Self::Remove { alias },
            _ => Self::List,
        }
    }
}

pub(crate) static COMMAND: Command =
    Command { spec: &SPEC, needs: needs_nothing, run: |ctx, req, p| Box::pin(execute(ctx, req, p)) };

async fn execute(ctx: Ctx<'_>, req: &Request, p: &Parsed) -> Result<(), CommandError> {
    let args = Args::from_parsed(p);
    let prefix = ctx.settings().prefix.clone();
    let reply = match args {
        Args::List => {
            let aliases = ctx.store().aliases().await?;
            if aliases.is_empty() {
                Reply::notice()
                    .push("No aliases yet. 🔖 Add one with ")
                    .code(&format!("{prefix} aliases add <alias> <command>"))
            } else {
                let rows: Vec<Vec<String>> =
                    aliases.iter().map(|(a, c)| vec![a.clone(), format!("{prefix} {c}")]).collect();
                Reply::notice().bold("Aliases").table(&["Alias", "Runs"], &rows)
            }
        }
        Args::Add { alias, command } => {
            let command = crate::aliases::validate(&alias, &command, &prefix, REGISTRY)
                .map_err(|e| CommandError::Usage(e.to_string()))?;
            ctx.store().set_alias(&alias, &command).await?;
            ctx.audit(req, "alias.add", format!("{alias} = {command}")).await;
            Reply::notice().push("✅ Alias added: ").bold(&alias).push(" → ").code(&format!("{prefix} {command}"))
        }
        Args::Remove { alias } => {
            if ctx.store().remove_alias(&alias).await? {
                ctx.audit(req, "alias.remove", alias.clone()).await;
                Reply::notice().push("✅ Alias removed: ").bold(&alias)
            } else {
                return Err(CommandError::Refused(format!("There is no alias `{alias}`.")));
            }
        }
    };
    ctx.reply(req, reply).await;
    Ok(())
}
