//! `logs [task]`: a task's output, coloured, paged under Matrix's event size limit, filtered on
//! request, or uploaded whole as a file.

use std::sync::LazyLock;

use chatrixcd_ports::chat::FileUpload;
use chatrixcd_ports::store::TaskRef;
use regex::Regex;

use crate::bot::{Bot, Request};
use crate::commands::CommandError;
use crate::commands::status::{locate, task_arg};
use crate::grammar::{ArgSpec, CommandSpec, FlagSpec, Parsed, ValueKind};
use crate::render::{Reply, ansi};

pub(crate) static SPEC: CommandSpec = CommandSpec {
    name: "logs",
    aliases: &["log", "output"],
    summary: "Show a task's log (default: this room's last task)",
    args: &[ArgSpec { name: "task", kind: ValueKind::TaskId, required: false, help: "task number" }],
    flags: &[
        FlagSpec {
            name: "tail",
            aliases: &["last"],
            value: Some(ValueKind::Number),
            repeatable: false,
            help: "only the last N lines",
        },
        FlagSpec {
            name: "page",
            aliases: &["p"],
            value: Some(ValueKind::Number),
            repeatable: false,
            help: "page N of a long log (1 = the start)",
        },
        FlagSpec {
            name: "grep",
            aliases: &["filter"],
            value: Some(ValueKind::Word),
            repeatable: false,
            help: "only lines containing TEXT (case-insensitive)",
        },
        FlagSpec {
            name: "errors",
            aliases: &["error", "failed"],
            value: None,
            repeatable: false,
            help: "only errors, failures and warnings",
        },
        FlagSpec {
            name: "file",
            aliases: &["upload"],
            value: None,
            repeatable: false,
            help: "upload the whole log as a .log file",
        },
    ],
    subcommands: &[],
    examples: &["logs", "logs 42", "logs 42 --tail 50", "logs 42 --page 2", "logs 42 --grep fatal", "logs 42 --file"],
    hidden: false,
    mutating: false,
};

#[derive(Debug, Clone)]
pub(crate) struct Args {
    task: Option<chatrixcd_ports::TaskId>,
    tail: Option<usize>,
    page: Option<usize>,
    grep: Option<String>,
    errors: bool,
    file: bool,
}

impl Args {
    pub(crate) fn from_parsed(p: &Parsed) -> Result<Self, CommandError> {
        let number = |name: &str| -> Result<Option<usize>, CommandError> {
            match p.flag(name).map(str::parse::<usize>) {
                None => Ok(None),
                Some(Ok(0)) | Some(Err(_)) => Err(CommandError::Usage(format!("--{name} must be a number from 1 up."))),
                Some(Ok(n)) => Ok(Some(n)),
            }
        };
        let args = Self {
            task: task_arg(p)?,
            tail: number("tail")?,
            page: number("page")?,
            grep: p.flag("grep").map(str::to_owned),
            errors: p.switch("errors"),
            file: p.switch("file"),
        };
        if args.tail.is_some() && args.page.is_some() {
            return Err(CommandError::Usage("Use either --tail or --page, not both.".into()));
        }
        Ok(args)
    }
}

/// Lines worth a look when something went wrong: Ansible failures, tool errors, warnings.
static PROBLEM: LazyLock<Regex> = LazyLock::new(|| {
    // A literal pattern: compiling it cannot fail.
    #[allow(clippy::expect_used)]
    Regex::new(r"(?i)^\s*((fatal|failed|error|warning)\b|\[(warning|error)\])|\b(error|exception|traceback|unreachable|failed!)\b|FAILED|ERROR")
        .expect("literal regex")
});

/// One rendered line, measured once.
struct Line {
    plain: String,
    html: String,
}

pub(crate) async fn execute(bot: &mut Bot, req: &Request, args: Args) -> Result<(), CommandError> {
    let task = locate(bot, req, args.task).await?;
    bot.deps.store.set_last_task(&req.room, TaskRef { project: task.project_id, task: task.id }).await?;
    let output = bot.deps.semaphore.task_output(task.project_id, task.id).await?;
    // Some entries carry their own newlines; the log is the lines, not the entries.
    let raw: Vec<String> = output
        .iter()
        // Semaphore ends some entries with a newline of their own; that is not an empty line.
        .flat_map(|o| o.text.strip_suffix('\n').unwrap_or(&o.text).split('\n').map(str::to_owned).collect::<Vec<_>>())
        .map(|l| l.trim_end_matches('\r').to_owned())
        .collect();
    let raw: Vec<String> = match raw.iter().rposition(|l| !l.is_empty()) {
        Some(last) => raw[..=last].to_vec(),
        None => Vec::new(),
    };
    // Redacted in order, line by line: a private key spans lines, and a filter or a page may keep
    // only some of them.
    let raw: Vec<String> = {
        let mut redactor = bot.redactor.lines();
        raw.iter().map(|l| redactor.redact_line(l).into_owned()).collect()
    };
    let title = task.template_name.clone().map(|n| format!(" ({n})")).unwrap_or_default();
    if raw.is_empty() {
        let reply = Reply::notice()
            .push(&format!("📋 Task #{}{title} has no output yet (it is ", task.id))
            .status(&task.status)
            .push(").");
        bot.reply(req, reply).await;
        return Ok(());
    }
    if args.file {
        let whole = bot.deps.semaphore.task_log_text(task.project_id, task.id).await?;
        let mut redactor = bot.redactor.lines();
        let text: String = whole
            .lines()
            .map(|l| {
                let plain = ansi::strip(l);
                format!("{}\n", redactor.redact_line(&plain))
            })
            .collect();
        let upload = FileUpload {
            file_name: format!("task-{}.log", task.id),
            mime_type: "text/plain".into(),
            bytes: text.into_bytes(),
            caption: Some(format!("📋 Full log of task #{}{title}, {} lines", task.id, raw.len())),
        };
        bot.deps.chat.upload(&req.room, upload).await?;
        return Ok(());
    }
    let total = raw.len();
    let needle = args.grep.as_ref().map(|g| g.to_lowercase());
    let mut selected: Vec<(usize, &String)> = raw
        .iter()
        .enumerate()
        .filter(|(_, l)| {
            let stripped = ansi::strip(l);
            needle.as_ref().is_none_or(|n| stripped.to_lowercase().contains(n))
                && (!args.errors || PROBLEM.is_match(&stripped))
        })
        .collect();
    let filtered = needle.is_some() || args.errors;
    if selected.is_empty() {
        bot.reply(
            req,
            Reply::notice().push(&format!("📋 No line of task #{}'s log ({total} lines) matches.", task.id)),
        )
        .await;
        return Ok(());
    }
    if let Some(n) = args.tail {
        let skip = selected.len().saturating_sub(n);
        selected.drain(..skip);
    }
    let budget = bot.settings.max_message_bytes.saturating_sub(2_048).max(1_024);
    let per_line_cap = budget / 2;
    let lines: Vec<(usize, Line)> = selected
        .iter()
        .map(|(i, l)| {
            let mut plain = ansi::strip(l).into_owned();
            let mut html = ansi::to_html(l);
            if plain.len() + html.len() > per_line_cap {
                plain = truncate(&plain, per_line_cap / 3);
                plain.push_str(" …[line cut]");
                html = crate::render::html::escape(&plain).into_owned();
            }
            (*i, Line { plain, html })
        })
        .collect();
    let pages = paginate(&lines, budget);
    let page_count = pages.len();
    let page_no = args.page.unwrap_or(page_count);
    if page_no > page_count {
        return Err(CommandError::Usage(format!("The log has {page_count} page(s); there is no page {page_no}.")));
    }
    let range = pages[page_no - 1].clone();
    let shown = &lines[range];
    let first = shown.first().map_or(0, |(i, _)| i + 1);
    let last = shown.last().map_or(0, |(i, _)| i + 1);
    let plain: Vec<&str> = shown.iter().map(|(_, l)| l.plain.as_str()).collect();
    let html: Vec<&str> = shown.iter().map(|(_, l)| l.html.as_str()).collect();
    let mut header = Reply::notice().push(&format!("📋 Task #{}{title} ", task.id)).status(&task.status);
    let mut scope = format!(" · lines {first}–{last} of {total}");
    if filtered {
        scope.push_str(&format!(" · {} matching", selected.len()));
    }
    if page_count > 1 {
        scope.push_str(&format!(" · page {page_no}/{page_count}"));
    }
    header = header.push(&scope).pre(&plain.join("\n"), &html.join("\n"));
    if page_count > 1 {
        let prefix = &bot.settings.prefix;
        let other = if page_no > 1 { page_no - 1 } else { 2 };
        header = header
            .line()
            .push("More: ")
            .code(&format!("{prefix} logs {} --page {other}", task.id))
            .push(" · whole log: ")
            .code(&format!("{prefix} logs {} --file", task.id));
    }
    bot.reply(req, header).await;
    Ok(())
}

fn truncate(s: &str, max: usize) -> String {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// Splits lines into pages whose plain and HTML text together stay within `budget` bytes.
fn paginate(lines: &[(usize, Line)], budget: usize) -> Vec<std::ops::Range<usize>> {
    let mut pages = Vec::new();
    let mut start = 0;
    let mut used = 0;
    for (i, (_, line)) in lines.iter().enumerate() {
        let cost = line.plain.len() + line.html.len() + 2;
        if used + cost > budget && i > start {
            pages.push(start..i);
            start = i;
            used = 0;
        }
        used += cost;
    }
    pages.push(start..lines.len());
    pages
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(n: usize) -> (usize, Line) {
        (n, Line { plain: "x".repeat(10), html: "y".repeat(20) })
    }

    #[test]
    fn pages_stay_within_budget_and_cover_every_line() {
        let lines: Vec<_> = (0..100).map(line).collect();
        let pages = paginate(&lines, 320);
        assert_eq!(pages.len(), 10);
        assert_eq!(pages.first(), Some(&(0..10)));
        assert_eq!(pages.iter().map(|r| r.len()).sum::<usize>(), 100);
        assert_eq!(paginate(&lines[..1], 1), vec![0..1]);
    }

    #[test]
    fn problem_lines_are_recognised() {
        for l in [
            "fatal: [web1]: FAILED! => {}",
            "failed: [db] (item=x)",
            "ERROR! the playbook could not be found",
            "[WARNING]: No inventory",
            "Traceback (most recent call last):",
        ] {
            assert!(PROBLEM.is_match(l), "{l}");
        }
        for l in ["ok: [localhost]", "TASK [Gathering Facts] ***", "changed: [web1]"] {
            assert!(!PROBLEM.is_match(l), "{l}");
        }
    }
}
