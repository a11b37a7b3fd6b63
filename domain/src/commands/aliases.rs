//! `aliases [add|remove]`: shortcuts for longer commands, in ChatrixCD's `aliases.json` format.

use crate::permissions::Permission;
use crate::commands::{Command, CommandError, REGISTRY, needs_nothing};
use crate::core::{Ctx, Request};
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
            permission: Some(Permission::Presets),
            ..CommandSpec::BASE
        },
        CommandSpec {
            name: "remove",
            aliases: &["rm", "delete", "del"],
            summary: "Remove an alias",
            args: &[ArgSpec { name: "alias", kind: ValueKind::Word, required: true, help: "the alias" }],
            examples: &["aliases remove deploy-web"],
            permission: Some(Permission::Presets),
            ..CommandSpec::BASE
        },
    ],
    examples: &["aliases", "aliases add dw run 1 1", "aliases remove dw"],
    hidden: false,
    permission: Some(Permission::Read),
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

#[cfg(test)]
mod tests {
    use chatrixcd_ports::{InstanceId, ProjectId, Store as _, TaskId, UserId};

    use crate::testing::{Harness, admin, room};

    #[tokio::test]
    async fn an_alias_bound_to_an_instance_runs_there_with_the_words_typed_after_it() {
        let h = Harness::two_instances().await;
        // The prefix is not stored; the target keeps its instance.
        h.say(&admin(), "!cd aliases add dp !cd run staging:ops:deploy-web").await;
        assert_eq!(h.chat.bodies(), ["✅ Alias added: dp → `!cd run staging:ops:deploy-web`"]);
        assert_eq!(h.store.aliases().await.unwrap().get("dp").map(String::as_str), Some("run staging:ops:deploy-web"));
        h.say(&admin(), "!cd aliases").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("Aliases") && said.contains("dp     !cd run staging:ops:deploy-web"), "{said}");
        h.say(&admin(), "!cd dp --yes").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("[staging] deploy-web · task #1"), "{said}");
        let staging = InstanceId::parse("staging").unwrap();
        let last = h.store.last_task(&room()).await.unwrap().unwrap();
        assert_eq!((last.instance, last.task), (staging, TaskId::new(1)));
        let on = |i: usize| h.sims[i].model().recent_tasks(ProjectId::new(1), 10).unwrap().len();
        assert_eq!((on(0), on(1)), (0, 1), "started on staging, not on the room's production");
        let audit = h.store.audit(chatrixcd_ports::Page { limit: 10, before: None }).await.unwrap();
        assert!(
            audit.iter().any(|a| a.action == "alias.add" && a.detail == "dp = run staging:ops:deploy-web"),
            "{audit:?}"
        );
    }

    #[tokio::test]
    async fn bad_aliases_are_refused_and_removing_one_is_audited() {
        let h = Harness::single().await;
        h.say(&admin(), "!cd aliases add run status").await;
        h.say(&admin(), "!cd aliases add x nothing").await;
        h.say(&admin(), "!cd aliases add two words status").await;
        let said = h.chat.bodies();
        assert!(said[0].starts_with("🤔 `run` is a built-in command and cannot be an alias"), "{said:?}");
        assert!(said[1].starts_with("🤔 an alias must expand to a command; `nothing` is not one"), "{said:?}");
        assert!(said[2].starts_with("🤔 an alias must expand to a command; `words` is not one"), "{said:?}");
        assert!(h.store.aliases().await.unwrap().is_empty());
        h.say(&admin(), "!cd aliases").await;
        assert!(
            h.chat
                .bodies()
                .join("\n")
                .starts_with("No aliases yet. 🔖 Add one with `!cd aliases add <alias> <command>`")
        );
        // Viewers may list, not change.
        let victor = UserId::parse("@victor:test").unwrap();
        h.say(&victor, "!cd aliases add last status").await;
        assert!(h.chat.bodies().join("\n").contains("needs the `presets` permission"));
        h.say(&admin(), "!cd alias set last status").await;
        h.say(&admin(), "!cd aliases rm last").await;
        h.say(&admin(), "!cd aliases remove last").await;
        let said = h.chat.bodies();
        assert_eq!(said[1..], ["✅ Alias removed: last", "🚫 There is no alias `last`."], "{said:?}");
        let audit = h.store.audit(chatrixcd_ports::Page { limit: 10, before: None }).await.unwrap();
        let actions: Vec<&str> = audit.iter().rev().map(|a| a.action.as_str()).collect();
        assert_eq!(actions, ["denied", "alias.add", "alias.remove"], "refusals change nothing; the denial is recorded");
    }
}
