//! Every chat command: one file each, holding its grammar (`SPEC`), its typed arguments and what
//! it does. This module only lists them and dispatches.

use chatrixcd_ports::{ChatError, SemaphoreError, StoreError, UserId};

use crate::bot::{Bot, Request};
use crate::grammar::{CommandSpec, Parsed};

pub(crate) mod admins;
pub(crate) mod aliases;
pub(crate) mod approve;
pub(crate) mod exit;
pub(crate) mod help;
pub(crate) mod info;
pub(crate) mod logs;
pub(crate) mod pet;
pub(crate) mod ping;
pub(crate) mod projects;
pub(crate) mod rooms;
pub(crate) mod run;
pub(crate) mod scold;
pub(crate) mod sessions;
pub(crate) mod status;
pub(crate) mod stop;
pub(crate) mod tasks;
pub(crate) mod templates;
pub(crate) mod verify;

#[cfg(test)]
mod parse_tests;

/// All commands, in the order `help` lists them.
pub static REGISTRY: &[&CommandSpec] = &[
    &help::SPEC,
    &projects::SPEC,
    &templates::SPEC,
    &run::SPEC,
    &tasks::SPEC,
    &status::SPEC,
    &logs::SPEC,
    &stop::SPEC,
    &approve::APPROVE,
    &approve::REJECT,
    &ping::SPEC,
    &info::SPEC,
    &aliases::SPEC,
    &rooms::SPEC,
    &admins::SPEC,
    &verify::SPEC,
    &sessions::SPEC,
    &exit::SPEC,
    &pet::SPEC,
    &scold::SPEC,
];

/// Why a command could not do its job. Every variant becomes a clear reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The input was wrong; the reply shows the usage.
    #[error("{0}")]
    Usage(String),
    /// The input was understood but cannot be honoured (not allowed, nothing to do).
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Semaphore(#[from] SemaphoreError),
    #[error(transparent)]
    Chat(#[from] ChatError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Encryption(#[from] chatrixcd_ports::EncryptionError),
}

/// A parsed command with typed arguments.
#[derive(Debug, Clone)]
pub(crate) enum Command {
    Help(help::Args),
    Projects,
    Templates(templates::Args),
    Run(run::Args),
    Tasks(tasks::Args),
    Status(status::Args),
    Logs(logs::Args),
    Stop(stop::Args),
    Approve(approve::Args),
    Ping,
    Info,
    Aliases(aliases::Args),
    Rooms(rooms::Args),
    Admins,
    Verify(verify::Args),
    Sessions(sessions::Args),
    Exit(exit::Args),
    Pet,
    Scold,
}

/// The spec a parsed command was checked against (the deepest sub-command).
pub(crate) fn spec_of(parsed: &Parsed) -> &'static CommandSpec {
    spec_at(&parsed.path).unwrap_or(&help::SPEC)
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

pub(crate) fn build(parsed: &Parsed) -> Result<Command, CommandError> {
    Ok(match parsed.path[0] {
        "help" => Command::Help(help::Args::from_parsed(parsed)),
        "projects" => Command::Projects,
        "templates" => Command::Templates(templates::Args::from_parsed(parsed)),
        "run" => Command::Run(run::Args::from_parsed(parsed)?),
        "tasks" => Command::Tasks(tasks::Args::from_parsed(parsed)?),
        "status" => Command::Status(status::Args::from_parsed(parsed)?),
        "logs" => Command::Logs(logs::Args::from_parsed(parsed)?),
        "stop" => Command::Stop(stop::Args::from_parsed(parsed)?),
        "approve" => Command::Approve(approve::Args::from_parsed(parsed, approve::Verdict::Approve)?),
        "reject" => Command::Approve(approve::Args::from_parsed(parsed, approve::Verdict::Reject)?),
        "ping" => Command::Ping,
        "info" => Command::Info,
        "aliases" => Command::Aliases(aliases::Args::from_parsed(parsed)),
        "rooms" => Command::Rooms(rooms::Args::from_parsed(parsed)),
        "admins" => Command::Admins,
        "verify" => Command::Verify(verify::Args::from_parsed(parsed)),
        "sessions" => Command::Sessions(sessions::Args::from_parsed(parsed)),
        "exit" => Command::Exit(exit::Args::from_parsed(parsed)),
        "pet" => Command::Pet,
        "scold" => Command::Scold,
        other => return Err(CommandError::Usage(format!("Unknown command `{other}`."))),
    })
}

pub(crate) async fn execute(bot: &mut Bot, req: &Request, command: Command) -> Result<(), CommandError> {
    match command {
        Command::Help(a) => help::execute(bot, req, a).await,
        Command::Projects => projects::execute(bot, req).await,
        Command::Templates(a) => templates::execute(bot, req, a).await,
        Command::Run(a) => run::execute(bot, req, a).await,
        Command::Tasks(a) => tasks::execute(bot, req, a).await,
        Command::Status(a) => status::execute(bot, req, a).await,
        Command::Logs(a) => logs::execute(bot, req, a).await,
        Command::Stop(a) => stop::execute(bot, req, a).await,
        Command::Approve(a) => approve::execute(bot, req, a).await,
        Command::Ping => ping::execute(bot, req).await,
        Command::Info => info::execute(bot, req).await,
        Command::Aliases(a) => aliases::execute(bot, req, a).await,
        Command::Rooms(a) => rooms::execute(bot, req, a).await,
        Command::Admins => admins::execute(bot, req).await,
        Command::Verify(a) => verify::execute(bot, req, a).await,
        Command::Sessions(a) => sessions::execute(bot, req, a).await,
        Command::Exit(a) => exit::execute(bot, req, a).await,
        Command::Pet => pet::execute(bot, req).await,
        Command::Scold => scold::execute(bot, req).await,
    }
}

/// An action waiting for a confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PendingAction {
    // Boxed: a run plan carries a whole template, and the enum lives in every open question.
    Run(Box<run::Plan>),
    Stop(stop::Plan),
    Exit,
}

impl PendingAction {
    /// For "Cancelled: …" and "expired" messages.
    pub fn describe(&self) -> String {
        match self {
            Self::Run(plan) => format!("run {} (project {})", plan.template.name, plan.project.name),
            Self::Stop(plan) => format!("stop task {}", plan.task.task),
            Self::Exit => "shut the bot down".to_owned(),
        }
    }

    pub(crate) fn command_path(&self) -> &'static [&'static str] {
        match self {
            Self::Run(_) => &["run"],
            Self::Stop(_) => &["stop"],
            Self::Exit => &["exit"],
        }
    }
}

/// Carries out a confirmed action.
pub(crate) async fn perform(
    bot: &mut Bot,
    req: &Request,
    action: PendingAction,
    approved_by: &UserId,
) -> Result<(), CommandError> {
    match action {
        PendingAction::Run(plan) => run::launch(bot, req, *plan, approved_by).await,
        PendingAction::Stop(plan) => stop::perform(bot, req, plan).await,
        PendingAction::Exit => exit::perform(bot, req).await,
    }
}

/// Opens a confirmation for `action` and posts the question.
pub(crate) async fn ask(
    bot: &mut Bot,
    req: &Request,
    action: PendingAction,
    approver: crate::confirm::Approver,
    timeout: chrono::Duration,
    question: crate::render::Reply,
) {
    let deadline = bot.deps.clock.now() + timeout;
    let (id, replaced) = bot.confirmations.open(req.room.clone(), req.sender.clone(), approver, action, deadline);
    let mut question = question;
    if let Some(old) = replaced {
        question = question.line().push(&format!("(This replaces your open request to {}.)", old.action.describe()));
    }
    let how = match approver {
        crate::confirm::Approver::Requester => "Answer 👍 or \"yes\" to go ahead, 👎 or \"no\" to cancel",
        crate::confirm::Approver::OtherAdmin => "Another admin must approve with 👍 or \"yes\"; 👎 or \"no\" cancels",
    };
    question = question.line().push(&format!("{how} (within {}).", crate::render::duration::human(timeout)));
    if let Some(event) = bot.reply(req, question).await {
        bot.confirmations.attach_event(id, event);
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
        if spec.mutating {
            let _ = writeln!(out, "\nNeeds an admin.");
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
