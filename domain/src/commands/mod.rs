//! Every chat command: one file each, holding its grammar (`SPEC`), its typed arguments, what
//! it needs (`needs`: the instance it talks to, if any) and what it does, tied together in one
//! `COMMAND`. This module only lists them: a new command is a new file and one line in
//! `registry!` below.

use std::future::Future;
use std::pin::Pin;

use chatrixcd_ports::UserId;

use crate::core::{Ctx, Request};
use crate::grammar::{CommandSpec, Parsed};
use crate::plans::PendingAction;

pub use crate::error::CommandError;

#[cfg(test)]
mod parse_tests;

/// What a command talks to, which decides the lane it runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Needs {
    /// No Semaphore: answered at once, whatever the instances do.
    Nothing,
    /// One instance: the one named in the command (`prod:1:5`), else the room's.
    Instance(Option<String>),
    /// A word that is either an instance's exact name (`tasks staging`) or something of the
    /// room's instance (`tasks ops`, a project): that instance, else the room's.
    InstanceIfNamed(String),
    /// Every instance (`instances`).
    Every,
}

/// A command's future; it borrows the context, the request and the parsed words.
pub(crate) type Running<'a> = Pin<Box<dyn Future<Output = Result<(), CommandError>> + Send + 'a>>;

/// One command: its grammar, what it needs, and what it does.
pub(crate) struct Command {
    pub spec: &'static CommandSpec,
    pub needs: fn(&Parsed) -> Needs,
    pub run: for<'a> fn(Ctx<'a>, &'a Request, &'a Parsed) -> Running<'a>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Command").field("name", &self.spec.name).finish_non_exhaustive()
    }
}

/// For commands that need no Semaphore.
pub(crate) fn needs_nothing(_: &Parsed) -> Needs {
    Needs::Nothing
}

/// For commands on the room's instance.
pub(crate) fn needs_room_instance(_: &Parsed) -> Needs {
    Needs::Instance(None)
}

/// For commands on the room's instance, or on the one an `instance` argument names.
pub(crate) fn needs_instance_arg(p: &Parsed) -> Needs {
    Needs::Instance(p.arg("instance").map(str::to_owned))
}

/// For commands on the room's instance, or on the one a `project` argument names (`prod:1:5`).
pub(crate) fn needs_project_instance(p: &Parsed) -> Needs {
    Needs::Instance(p.arg("project").and_then(|t| t.split_once(':')).map(|(i, _)| i.to_owned()))
}

/// For commands on the room's instance, or on the one a `task` argument names (`prod:42`).
pub(crate) fn needs_task_instance(p: &Parsed) -> Needs {
    Needs::Instance(p.arg("task").and_then(|t| t.split_once(':')).map(|(i, _)| i.to_owned()))
}

/// Lists every command once: the registry the grammar parses against (in `help`'s order) and
/// the commands themselves.
/// Each name is a module (`<name>.rs`) holding that command's `SPEC` and `COMMAND`.
macro_rules! registry {
    ($($module:ident),* $(,)?) => {
        $(pub(crate) mod $module;)*
        /// All commands' grammars, in the order `help` lists them.
        pub static REGISTRY: &[&CommandSpec] = &[$(&$module::SPEC),*];
        static COMMANDS: &[&Command] = &[$(&$module::COMMAND),*];
    };
}

registry! {
    help,
    projects,
    templates,
    params,
    run,
    tasks,
    history,
    stats,
    status,
    logs,
    stop,
    approve,
    reject,
    notify,
    schedule,
    preset,
    instances,
    r#use,
    ping,
    info,
    aliases,
    rooms,
    admins,
    whoami,
    roles,
    permissions,
    grant,
    revoke,
    audit,
    verify,
    sessions,
    exit,
    pet,
    scold,
}

/// The command a parse result is for.
pub(crate) fn find(parsed: &Parsed) -> Option<&'static Command> {
    let name = parsed.path.first()?;
    COMMANDS.iter().copied().find(|c| c.spec.name == *name)
}

/// The spec a parsed command was checked against (the deepest sub-command).
pub(crate) fn spec_of(parsed: &Parsed) -> &'static CommandSpec {
    // The parser writes canonical names into the path, so exact comparisons do (no alias or
    // case folding: this runs for every command).
    let Some(command) = find(parsed) else { return &help::SPEC };
    let mut spec = command.spec;
    for name in parsed.path.iter().skip(1) {
        match spec.subcommands.iter().find(|s| s.name == *name) {
            Some(sub) => spec = sub,
            None => break,
        }
    }
    spec
}

/// The spec at a command path such as `["aliases", "add"]`.
pub fn spec_at(path: &[&str]) -> Option<&'static CommandSpec> {
    let (first, rest) = path.split_first()?;
    let mut spec = crate::grammar::find(REGISTRY, first)?;
    for name in rest {
        spec = spec.subcommands.iter().find(|s| s.matches(name))?;
    }
    Some(spec)
}

/// Carries out a confirmed action.
pub(crate) async fn perform(
    ctx: Ctx<'_>,
    req: &Request,
    action: PendingAction,
    approved_by: &UserId,
) -> Result<(), CommandError> {
    match action {
        PendingAction::Run(plan) => run::launch(ctx, req, *plan, approved_by).await.map(drop),
        PendingAction::Stop(plan) => stop::perform(ctx, req, plan).await,
        PendingAction::Exit => exit::perform(ctx, req).await,
        PendingAction::Purge { user, .. } => history::perform_purge(ctx, req, &user).await,
        PendingAction::Grant(change) => grant::perform(ctx, req, *change).await,
        PendingAction::Schedule(change) => schedule::perform(ctx, req, *change).await,
    }
}

/// The command reference in Markdown, generated from the grammar; `docs/commands.md` is this text,
/// and a test keeps it that way.
pub fn reference_markdown(prefix: &str) -> String {
    use std::fmt::Write as _;
    fn section(out: &mut String, spec: &CommandSpec, prefix: &str, path: &[&str], depth: usize) {
        let _ = writeln!(out, "{} `{}`\n", "#".repeat(depth), spec.usage(prefix, path));
        let _ = writeln!(out, "{}.", spec.summary);
        if !spec.aliases.is_empty() {
            let _ = writeln!(
                out,
                "\nAlso spelled: {}.",
                spec.aliases.iter().map(|a| format!("`{a}`")).collect::<Vec<_>>().join(", ")
            );
        }
        match spec.permission {
            Some(permission) => {
                let _ = writeln!(out, "\nNeeds the `{permission}` permission.");
            }
            None => {
                let _ = writeln!(out, "\nFor anybody holding a role in the room.");
            }
        }
        if !spec.args.is_empty() || !spec.flags.is_empty() {
            let _ = writeln!(out, "\n| Argument | Meaning |\n|---|---|");
            for a in spec.args {
                let shown = if a.required { format!("<{}>", a.name) } else { format!("[{}]", a.name) };
                let _ = writeln!(out, "| `{shown}` | {} |", a.help.replace('|', "\\|"));
            }
            for f in spec.flags {
                let value = if f.value.is_some() { "=…" } else { "" };
                let also = if f.aliases.is_empty() {
                    String::new()
                } else {
                    format!(" (also {})", f.aliases.iter().map(|a| format!("`--{a}`")).collect::<Vec<_>>().join(", "))
                };
                let _ = writeln!(out, "| `--{}{value}` | {}{also} |", f.name, f.help.replace('|', "\\|"));
            }
        }
        if !spec.examples.is_empty() {
            let _ = writeln!(out, "\nExamples:\n");
            for e in spec.examples {
                let _ = writeln!(out, "    {prefix} {e}");
            }
        }
        let _ = writeln!(out);
        for sub in spec.subcommands {
            let mut p = path.to_vec();
            p.push(sub.name);
            section(out, sub, prefix, &p, depth + 1);
        }
    }
    let mut out = String::from(
        "# Command reference\n\n<!-- Generated from the command grammar (domain/src/commands). Do not edit by hand: run\n     `UPDATE_DOCS=1 cargo test -p chatrixcd-domain command_reference` to refresh it. -->\n\n",
    );
    let _ = writeln!(
        out,
        "Every command starts with the prefix (`{prefix}` by default) followed by a space. Risky commands \
         ask for a confirmation: answer 👍 or `yes` to go ahead, 👎 or `no` to cancel. A mistake gets a \
         reply naming what was wrong and the right form; `{prefix} help <command>` shows the details of \
         any command in chat.\n"
    );
    let _ = writeln!(
        out,
        "`run` with a required variable left out asks for the missing ones, one question at a time, in a \
         thread under the request, and secrets in a direct room; `params` shows what a template asks for, \
         and presets keep a template's options under a name. [parameters.md](parameters.md) tells the \
         whole story.\n"
    );
    for spec in REGISTRY {
        section(&mut out, spec, prefix, &[spec.name], 2);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/commands.md is generated from the grammar; set UPDATE_DOCS=1 to rewrite it.
    #[test]
    fn command_reference_is_up_to_date() {
        let generated = reference_markdown("!cd");
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/commands.md");
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::write(path, &generated).unwrap();
        }
        let on_disk = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            on_disk == generated,
            "docs/commands.md is stale: run UPDATE_DOCS=1 cargo test -p chatrixcd-domain command_reference"
        );
    }

    #[test]
    fn every_command_and_subcommand_has_a_summary_and_unique_names() {
        let mut seen = std::collections::BTreeSet::new();
        for spec in REGISTRY {
            assert!(!spec.summary.is_empty(), "{}", spec.name);
            for name in std::iter::once(&spec.name).chain(spec.aliases) {
                assert!(seen.insert(*name), "{name} is used twice");
            }
            for sub in spec.subcommands {
                assert!(!sub.summary.is_empty(), "{} {}", spec.name, sub.name);
            }
        }
    }
}
