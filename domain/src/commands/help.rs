//! `help [command]`: what the bot can do, generated from the command grammar.

use crate::commands::{Command, CommandError, REGISTRY, needs_nothing};
use crate::core::{Ctx, Request};
use crate::grammar::{ArgSpec, CommandSpec, Parsed, ValueKind, suggest};
use crate::render::Reply;

pub(crate) static SPEC: CommandSpec = CommandSpec {
    name: "help",
    aliases: &["h", "?"],
    summary: "Show what I can do, or the details of one command",
    args: &[ArgSpec {
        name: "command",
        kind: ValueKind::Rest,
        required: false,
        help: "a command, e.g. `run` or `aliases add`",
    }],
    flags: &[],
    subcommands: &[],
    examples: &["help", "help run"],
    hidden: false,
    permission: None,
};

#[derive(Debug, Clone)]
pub(crate) struct Args {
    topic: Option<String>,
}

impl Args {
    pub(crate) fn from_parsed(p: &Parsed) -> Self {
        Self { topic: p.arg("command").map(str::to_owned) }
    }
}

pub(crate) static COMMAND: Command =
    Command { spec: &SPEC, needs: needs_nothing, run: |ctx, req, p| Box::pin(execute(ctx, req, p)) };

async fn execute(ctx: Ctx<'_>, req: &Request, p: &Parsed) -> Result<(), CommandError> {
    let args = Args::from_parsed(p);
    let prefix = ctx.settings().prefix.clone();
    let reply = match args.topic {
        None => overview(ctx.greeting(req), &prefix, |spec| ctx.may_use(req, spec)),
        Some(topic) => {
            let path: Vec<&str> = topic.split_whitespace().collect();
            let Some(spec) = crate::commands::spec_at(&path) else {
                // The longest known part: `help aliases frob` is about `aliases`' sub-commands.
                let known = (1..path.len()).rev().find_map(|n| crate::commands::spec_at(&path[..n]).map(|s| (n, s)));
                if let Some((n, parent)) = known {
                    let names: Vec<&str> = parent.subcommands.iter().filter(|s| !s.hidden).map(|s| s.name).collect();
                    let under = canonical_path(&path[..n]).join(" ");
                    let mut msg = if names.is_empty() {
                        format!("`{under}` has no sub-commands.")
                    } else {
                        format!("`{under}` has no sub-command `{}`; it has: {}.", path[n], names.join(", "))
                    };
                    if let Some(h) = suggest(path[n], names.iter().copied()) {
                        msg.push_str(&format!(" Did you mean `{under} {h}`?"));
                    }
                    return Err(CommandError::Usage(msg));
                }
                let hint = suggest(path[0], REGISTRY.iter().filter(|s| !s.hidden).map(|s| s.name));
                let mut msg = format!("There is no command `{topic}`.");
                if let Some(h) = hint {
                    msg.push_str(&format!(" Did you mean `{h}`?"));
                }
                return Err(CommandError::Usage(msg));
            };
            let canonical: Vec<&str> = canonical_path(&path);
            detail(spec, &prefix, &canonical)
        }
    };
    ctx.reply(req, reply).await;
    Ok(())
}

fn canonical_path<'a>(path: &[&'a str]) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut specs: &[&CommandSpec] = REGISTRY;
    let mut owned: Vec<&CommandSpec>;
    for word in path {
        match specs.iter().find(|s| s.matches(word)) {
            Some(spec) => {
                out.push(spec.name);
                owned = spec.subcommands.iter().collect();
                specs = &owned;
            }
            None => break,
        }
    }
    out
}

/// The command list. Commands the caller may not use are left out, and the reply says so.
pub(crate) fn overview(greeting: Reply, prefix: &str, may_use: impl Fn(&CommandSpec) -> bool) -> Reply {
    let listed: Vec<&&CommandSpec> = REGISTRY.iter().filter(|s| !s.hidden).collect();
    let rows: Vec<Vec<String>> = listed
        .iter()
        .filter(|s| may_use(s))
        .map(|s| vec![s.short_usage(prefix, &[s.name]), s.summary.to_owned()])
        .collect();
    let left_out = listed.len() - rows.len();
    let mut reply = greeting
        .bold("Here is what I can do:")
        .table(&["Command", "What it does"], &rows)
        .line()
        .push("Details: ")
        .code(&format!("{prefix} help <command>"))
        .push(". Risky commands ask first: answer 👍/👎 or yes/no.");
    if left_out > 0 {
        let what = if left_out == 1 { "command needs" } else { "commands need" };
        reply = reply
            .line()
            .push(&format!("{left_out} more {what} permissions you do not have here; "))
            .code(&format!("{prefix} whoami"))
            .push(" shows yours.");
    }
    reply
}

/// Everything about one command.
pub(crate) fn detail(spec: &CommandSpec, prefix: &str, path: &[&str]) -> Reply {
    let mut reply = Reply::notice().code(&spec.usage(prefix, path)).line().push(spec.summary).push(".");
    if let Some(permission) = spec.permission {
        reply = reply.line().push("Needs the ").code(permission.as_str()).push(" permission.");
    }
    if !spec.aliases.is_empty() {
        reply = reply.line().push("Also: ").push(&spec.aliases.join(", "));
    }
    if !spec.args.is_empty() || !spec.flags.is_empty() {
        let mut rows: Vec<Vec<String>> = spec
            .args
            .iter()
            .map(|a| {
                vec![if a.required { format!("<{}>", a.name) } else { format!("[{}]", a.name) }, a.help.to_owned()]
            })
            .collect();
        rows.extend(spec.flags.iter().map(|f| {
            let mut name = format!("--{}", f.name);
            if f.value.is_some() {
                name.push_str("=…");
            }
            let mut help = f.help.to_owned();
            if !f.aliases.is_empty() {
                help.push_str(&format!(" (also --{})", f.aliases.join(", --")));
            }
            vec![name, help]
        }));
        reply = reply.table(&["Argument", "Meaning"], &rows);
    }
    if !spec.subcommands.is_empty() {
        let rows: Vec<Vec<String>> = spec
            .subcommands
            .iter()
            .map(|s| {
                let mut p = path.to_vec();
                p.push(s.name);
                vec![s.usage(prefix, &p), s.summary.to_owned()]
            })
            .collect();
        reply = reply.table(&["Action", "What it does"], &rows);
    }
    if !spec.examples.is_empty() {
        reply = reply.line().push("Examples:").list(spec.examples.iter().map(|e| format!("{prefix} {e}")));
    }
    reply
}

#[cfg(test)]
mod tests {
    use chatrixcd_ports::UserId;

    use crate::testing::{Harness, admin};

    #[tokio::test]
    async fn help_run_shows_usage_aliases_arguments_and_examples() {
        let h = Harness::single().await;
        h.say(&admin(), "!cd help run").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.starts_with("`!cd run [project] [template] [tags] [--tags=…]"), "{said}");
        assert!(said.contains("Start a template as a Semaphore task (asks first)."), "{said}");
        assert!(said.contains("Also: start, deploy"), "{said}");
        assert!(said.contains("instance:project, or instance:project:template"), "{said}");
        assert!(said.contains("--var=…") && said.contains("(also --v, --extra-var)"), "{said}");
        assert!(said.contains("• !cd run staging:ops:deploy-web web,db"), "{said}");
        // A sub-command, named by aliases, is shown under its canonical name.
        h.say(&admin(), "!cd help alias rm").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.starts_with("`!cd aliases remove <alias>`"), "{said}");
        assert!(said.contains("Also: rm, delete, del"), "{said}");
    }

    #[tokio::test]
    async fn help_for_an_unknown_command_suggests_a_near_one_if_there_is_one() {
        let h = Harness::single().await;
        h.say(&admin(), "!cd help rnu").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.starts_with("🤔 There is no command `rnu`. Did you mean `run`?"), "{said}");
        assert!(said.contains("Usage: `!cd help [command…]`"), "{said}");
        h.say(&admin(), "!cd help frobnicate").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("There is no command `frobnicate`.") && !said.contains("Did you mean"), "{said}");
        h.say(&admin(), "!cd help aliases ad").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("`aliases` has no sub-command `ad`; it has: "), "{said}");
        assert!(said.contains("Did you mean `aliases add`?"), "{said}");
        // Hidden commands are not suggested.
        h.say(&admin(), "!cd help pe").await;
        assert!(!h.chat.bodies().join("\n").contains("`pet`"));
    }

    #[tokio::test]
    async fn the_overview_leaves_out_what_a_viewer_may_not_run() {
        let h = Harness::single().await;
        h.say(&UserId::parse("@victor:test").unwrap(), "!cd help").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("Here is what I can do:") && said.contains("!cd status [task]"), "{said}");
        assert!(!said.contains("!cd run ") && !said.contains("!cd stop ") && !said.contains("!cd exit"), "{said}");
        h.say(&admin(), "!cd help").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("!cd run ") && said.contains("!cd exit"), "{said}");
        assert!(said.contains("Details: `!cd help <command>`."), "{said}");
    }
}
