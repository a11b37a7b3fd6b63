//! `logs [task]`: a task's output, coloured, paged under Matrix's event size limit, filtered on
//! request, or uploaded whole as a file.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::LazyLock;

use chatrixcd_ports::chat::FileUpload;
use chatrixcd_ports::store::TaskRef;
use regex::Regex;

use crate::permissions::{Permission, Target};
use crate::commands::status::{locate, task_arg as parse_task};
use crate::commands::{Command, CommandError, needs_task_instance};
use crate::core::{Ctx, Request};
use crate::error::OnInstance as _;
use crate::grammar::{ArgSpec, CommandSpec, FlagSpec, Parsed, ValueKind};
use crate::instances::{TaskSpec, tag, task_arg, task_label};
use crate::render::log::{self, Emphasis, Layout, Lines, LogDocument, Selection};
use crate::render::{Reply, ansi};

pub(crate) static SPEC: CommandSpec = CommandSpec {
    name: "logs",
    aliases: &["log", "output"],
    summary: "Show a task's log (default: this room's last task)",
    args: &[ArgSpec {
        name: "task",
        kind: ValueKind::Word,
        required: false,
        help: "task number; or on/off: post the output of every run started in this room live",
    }],
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
            name: "follow",
            aliases: &["live"],
            value: None,
            repeatable: false,
            help: "post new output live in a thread until the task ends (a long log from its last 50 lines)",
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
    examples: &[
        "logs",
        "logs 42",
        "logs 42 --tail 50",
        "logs 42 --page 2",
        "logs 42 --grep fatal",
        "logs 42 --file",
        "logs 42 --follow",
        "logs on",
    ],
    hidden: false,
    permission: Some(Permission::Logs),
};

#[derive(Debug, Clone)]
pub(crate) struct Args {
    task: Option<TaskSpec>,
    tail: Option<usize>,
    page: Option<usize>,
    grep: Option<String>,
    errors: bool,
    file: bool,
    follow: bool,
    /// `logs on` / `logs off`: live output of every run started in the room.
    room_tailing: Option<bool>,
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
        let room_tailing = match p.arg("task") {
            Some("on") => Some(true),
            Some("off") => Some(false),
            _ => None,
        };
        let args = Self {
            task: if room_tailing.is_some() { None } else { parse_task(p)? },
            tail: number("tail")?,
            page: number("page")?,
            grep: p.flag("grep").map(str::to_owned),
            errors: p.switch("errors"),
            file: p.switch("file"),
            follow: p.switch("follow"),
            room_tailing,
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

pub(crate) static COMMAND: Command =
    Command { spec: &SPEC, needs: needs_task_instance, run: |ctx, req, p| Box::pin(execute(ctx, req, p)) };

async fn execute(ctx: Ctx<'_>, req: &Request, p: &Parsed) -> Result<(), CommandError> {
    let args = Args::from_parsed(p)?;
    if let Some(on) = args.room_tailing {
        return set_room_tailing(ctx, req, on).await;
    }
    let located = locate(ctx, req, args.task.as_ref()).await?;
    located.authorize(ctx, req, Permission::Logs).await?;
    let task_ref = located.task_ref();
    let (instance, task) = (located.instance, located.task);
    ctx.store().set_last_task(&req.room, task_ref).await?;
    if args.follow {
        return follow(ctx, req, task_ref, &task).await;
    }
    let log = instance.semaphore.task_output(task.project_id, task.id).await.on(instance.id)?;
    // How replies name the task (`#42`, `#42 on staging`) and how commands take it back.
    // Tagged replies name the task by number, the tag says where it runs; `arg` is how to type it.
    let number = format!("#{}", task.id);
    let arg = task_arg(ctx.instances(), instance.id, task.id);
    let tag = tag(ctx.instances(), instance.id);
    let total = log.len_trimmed();
    let title = task.template_name.clone().map(|n| format!(" ({n})")).unwrap_or_default();
    if total == 0 {
        let reply = Reply::notice()
            .push(&format!("📋 {tag}Task {number}{title} has no output yet (it is "))
            .status(&task.status)
            .push(").");
        ctx.reply(req, reply).await;
        return Ok(());
    }
    // Redacted in order, line by line: a private key spans lines, and a filter or a page may keep
    // only some of them.
    let mut redactor = ctx.out().redactor().lines();
    if args.file {
        // The file is plain text; colour codes are stripped before redaction, so a secret
        // interrupted by them is still found. Redaction reads the log once, and the file is
        // written in a second read with the changed lines in place, so it exists only once.
        let mut batches = redactor.redact_each();
        log.each_line(0..total, &mut |_, line| batches.push(&ansi::strip(line)));
        let changed = batches.finish();
        // Reserved at the log's size with colour codes, which the file is at most: growing it
        // instead would hold two copies for a moment. Pages never written to are not resident.
        let mut text = String::with_capacity(log.text_len() + total);
        let mut changed = changed.into_iter().peekable();
        log.each_line(0..total, &mut |n, line| {
            match changed.next_if(|(at, _)| *at == n) {
                Some((_, replaced)) => text.push_str(&replaced),
                None => text.push_str(&ansi::strip(line)),
            }
            text.push('\n');
        });
        drop(log);
        let upload = FileUpload {
            file_name: if ctx.instances().is_multi() {
                format!("task-{}-{}.log", instance.id, task.id)
            } else {
                format!("task-{}.log", task.id)
            },
            mime_type: "text/plain".into(),
            bytes: text.into_bytes(),
            caption: Some(format!("📋 {tag}Full log of task {number}{title}, {total} lines")),
        };
        ctx.out().upload(&req.room, upload).await?;
        return Ok(());
    }
    // A log can be hundreds of megabytes; it is held once, packed. The few lines redaction
    // changes are kept apart, and the renderer reads the rest from the log itself.
    let mut batches = redactor.redact_each();
    log.each_line(0..total, &mut |_, line| batches.push(line));
    let raw = Shown { log: &log, total, changed: batches.finish() };
    let doc = LogDocument::new(&raw);
    let needle = args.grep.as_deref().map(Grep::new);
    let filtered = needle.is_some() || args.errors;
    let mut selected: Vec<usize> = Vec::new();
    if filtered {
        raw.each_line(0..total, &mut |n, line| {
            let stripped = ansi::strip(line);
            let problem =
                || PROBLEM.is_match(&stripped) || matches!(doc.emphasis(n), Some(Emphasis::Error | Emphasis::Warning));
            if needle.as_ref().is_none_or(|needle| needle.matches(&stripped)) && (!args.errors || problem()) {
                selected.push(n);
            }
        });
    }
    if filtered && selected.is_empty() {
        ctx.reply(
            req,
            Reply::notice().push(&format!("📋 {tag}No line of task {number}'s log ({total} lines) matches.")),
        )
        .await;
        return Ok(());
    }
    let matching = selected.len();
    let selection = match (filtered, args.tail) {
        (true, tail) => {
            let skip = tail.map_or(0, |n| selected.len().saturating_sub(n));
            selected.drain(..skip);
            Selection::Lines(selected)
        }
        (false, tail) => Selection::Range(tail.map_or(0, |n| total.saturating_sub(n))..total),
    };
    let layout = if filtered { Layout::Flat } else { Layout::Structured };
    let prefix = ctx.settings().prefix.clone();
    // What the whole log says, on every page: its outcome matters more than the page's lines.
    let mut summary = doc.summary().describe(Reply::notice());
    let problems = doc.summary().errors + doc.summary().warnings;
    if problems > 0 && !args.errors {
        summary = summary
            .line()
            .push(&format!("⚠️ {} error line(s), {} warning(s): ", doc.summary().errors, doc.summary().warnings))
            .code(&format!("{prefix} logs {arg} --errors"));
    }
    // The header and footer around the page (task, status, line range, "More: ...") fit in the
    // reserve; the summary is measured; the page gets the rest, counted as JSON-escaped bytes.
    let summary_cost = log::json_len(summary.plain()) + log::json_len(summary.html());
    let budget = ctx.settings().max_message_bytes.saturating_sub(HEADER_RESERVE + summary_cost).max(MIN_PAGE);
    let paged = doc.paginate(selection, layout, budget);
    let page_count = paged.page_count();
    let page_no = args.page.unwrap_or(page_count);
    if page_no > page_count {
        return Err(CommandError::Usage(format!("The log has {page_count} page(s); there is no page {page_no}.")));
    }
    let Some(page) = doc.render_page(&paged, page_no - 1) else {
        return Err(CommandError::Usage(format!("The log has {page_count} page(s); there is no page {page_no}.")));
    };
    let mut header = Reply::notice().push(&format!("📋 {tag}Task {number}{title} ")).status(&task.status);
    let mut scope = format!(" · lines {}–{} of {total}", page.first_line + 1, page.last_line + 1);
    if filtered {
        scope.push_str(&format!(" · {matching} matching"));
    }
    if page_count > 1 {
        scope.push_str(&format!(" · page {page_no}/{page_count}"));
    }
    header = header.push(&scope).push_rich(summary.plain(), summary.html());
    header = header.push_rich(&format!("\n```\n{}\n```", page.plain), &page.html);
    if page_count > 1 {
        let other = if page_no > 1 { page_no - 1 } else { 2 };
        header = header
            .line()
            .push("More: ")
            .code(&format!("{prefix} logs {arg} --page {other}"))
            .push(" · whole log: ")
            .code(&format!("{prefix} logs {arg} --file"));
    }
    ctx.reply(req, header).await;
    Ok(())
}

/// `--grep`: the text looked for, with case ignored. Lines and needles in ASCII (nearly every log
/// line) are compared without a lower-case copy of each line.
struct Grep {
    lower: String,
    ascii: Option<aho_corasick::AhoCorasick>,
}

impl Grep {
    fn new(needle: &str) -> Self {
        let ascii = needle
            .is_ascii()
            .then(|| aho_corasick::AhoCorasick::builder().ascii_case_insensitive(true).build([needle]).ok())
            .flatten();
        Self { lower: needle.to_lowercase(), ascii }
    }

    fn matches(&self, line: &str) -> bool {
        match &self.ascii {
            // For ASCII text, lower-casing is ASCII lower-casing: the same answer.
            Some(finder) if line.is_ascii() => finder.is_match(line),
            _ => line.to_lowercase().contains(&self.lower),
        }
    }
}

/// A task's log as `logs` shows it: its first `total` lines, the few that redaction changed
/// replaced. The renderer reads the log where it is rather than through a copy or a view of it.
struct Shown<'a> {
    log: &'a chatrixcd_ports::semaphore::TaskLog,
    total: usize,
    /// Changed lines by position, in order.
    changed: Vec<(usize, String)>,
}

impl Lines for Shown<'_> {
    fn count(&self) -> usize {
        self.total
    }

    fn line(&self, n: usize) -> Cow<'_, str> {
        if n >= self.total {
            return Cow::Borrowed("");
        }
        if let Ok(at) = self.changed.binary_search_by_key(&n, |(line, _)| *line) {
            return Cow::Borrowed(&self.changed[at].1);
        }
        self.log.line(n).unwrap_or_default()
    }

    fn each_line(&self, range: Range<usize>, f: &mut dyn FnMut(usize, &str)) {
        let mut next = self.changed.partition_point(|(line, _)| *line < range.start);
        self.log.each_line(range.start..range.end.min(self.total), &mut |n, line| match self.changed.get(next) {
            Some((at, replaced)) if *at == n => {
                next += 1;
                f(n, replaced);
            }
            _ => f(n, line),
        });
    }
}

/// Bytes kept for the header and footer of a page: task, template name, status, line range,
/// page links, the code fence.
const HEADER_RESERVE: usize = 2_048;
/// The smallest page budget: below it a page holding one cut line and a section title could
/// overflow.
const MIN_PAGE: usize = 8_192;

/// `logs on|off`: whether every run started in this room has its output posted live.
async fn set_room_tailing(ctx: Ctx<'_>, req: &Request, on: bool) -> Result<(), CommandError> {
    // A setting of the room, like `use`: for those who manage the bot's rooms.
    ctx.authorize(req, Permission::Rooms, &Target::bot()).await?;
    let mut settings = ctx.store().room_settings(&req.room).await?;
    settings.log_tailing = on;
    ctx.store().set_room_settings(&req.room, settings).await?;
    ctx.audit(req, "room.logs", if on { "on" } else { "off" }.to_owned()).await;
    let reply = if on {
        Reply::notice().push(
            "📜 Live logs on: the output of every run started in this room is posted in a thread under its status message.",
        )
    } else {
        let stopped = ctx.tails().stop_room(&req.room);
        let mut reply = Reply::notice().push("📜 Live logs off for runs started from now on.");
        if stopped > 0 {
            reply = reply.push(&format!(" Stopped {stopped} live log(s) running here."));
        }
        reply
    };
    ctx.reply(req, reply).await;
    Ok(())
}

/// `logs N --follow`: the task's output, live, in a thread: under the run's status message when
/// the bot started it here, else under a header posted now.
async fn follow(
    ctx: Ctx<'_>,
    req: &Request,
    task_ref: TaskRef,
    task: &chatrixcd_ports::semaphore::Task,
) -> Result<(), CommandError> {
    let label = task_label(ctx.instances(), task_ref.instance, task.id);
    let arg = task_arg(ctx.instances(), task_ref.instance, task.id);
    if task.status.is_terminal() {
        return Err(CommandError::Refused(format!(
            "Task {label} has ended ({}); `{} logs {arg}` shows its whole log.",
            task.status,
            ctx.prefix()
        )));
    }
    if ctx.tails().is_following(&req.room, task_ref) {
        return Err(CommandError::Refused(format!("Task {label} is already followed live in this room.")));
    }
    let status_event = ctx
        .store()
        .tracked_tasks()
        .await?
        .into_iter()
        .find(|t| t.room == req.room && t.task_ref() == task_ref)
        .and_then(|t| t.status_event);
    let name = task.template_name.clone().map(|n| format!(" ({n})")).unwrap_or_default();
    let root = match status_event {
        Some(event) => {
            ctx.reply(
                req,
                Reply::notice().push(&format!(
                    "📜 Following task {label}{name}: its output goes to the thread under its status message."
                )),
            )
            .await;
            Some(event)
        }
        None => {
            let header = Reply::notice()
                .push(&format!("📜 Live log of task {label}{name}; it follows in this thread until the task ends."));
            ctx.reply(req, header).await
        }
    };
    let Some(root) = root else {
        return Err(CommandError::Refused("The live log could not start: posting its first message failed.".into()));
    };
    crate::tail::follow(ctx.core(), req.room.clone(), task_ref, root);
    ctx.audit(req, "logs.follow", format!("task {label}")).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn grep_ignores_case_like_lower_casing_does() {
        let cases = [
            ("FATAL", "fatal: [web-07]: FAILED!", true),
            ("failed!", "fatal: [web-07]: FAILED!", true),
            ("web-08", "fatal: [web-07]: FAILED!", false),
            ("k", "\u{212a}elvin", true),
            ("ÄRGER", "kein ärger hier", true),
            ("ärger", "KEIN ÄRGER", true),
            ("", "anything", true),
        ];
        for (needle, line, expected) in cases {
            assert_eq!(Grep::new(needle).matches(line), expected, "{needle:?} in {line:?}");
            assert_eq!(line.to_lowercase().contains(&needle.to_lowercase()), expected, "{needle:?} in {line:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn grep_agrees_with_lower_casing(needle in "[a-zA-Z:! -]{0,4}|\\PC{0,3}", line in "[a-zA-Z:! -]{0,30}|\\PC{0,30}") {
            let expected = line.to_lowercase().contains(&needle.to_lowercase());
            proptest::prop_assert_eq!(Grep::new(&needle).matches(&line), expected);
        }
    }

    use std::sync::Arc;

    use chatrixcd_clock::ManualClock;
    use chatrixcd_ports::semaphore::{MockSemaphorePort, Project, Task, TaskLog};
    use chatrixcd_ports::{Clock, ProjectId, TaskId, TaskStatus, TemplateId};
    use chatrixcd_store_memory::MemoryStore;

    use crate::testing::{Posted, admin, bot_with, message_from, settings};

    const TASK: u64 = 7;

    /// A long Ansible run: 60 tasks over 40 hosts, one failure, a recap. About 300 KB.
    fn big_log() -> Vec<String> {
        let hosts: Vec<String> = (0..40).map(|h| format!("web-{h:02}")).collect();
        let mut log = vec!["PLAY [Deploy] ***".to_owned()];
        for t in 0..60 {
            log.push(String::new());
            log.push(format!("TASK [role : step {t}] {}", "*".repeat(60)));
            for h in &hosts {
                log.push(format!(
                    "\x1b[0;33mchanged: [{h}] => {{\"task\": {t}, \"path\": \"/etc/app/{t}.conf\"}}\x1b[0m"
                ));
            }
            if t == 30 {
                log.push("\x1b[0;31mfatal: [web-07]: FAILED! => {\"msg\": \"boom\"}\x1b[0m".to_owned());
            }
        }
        log.push(String::new());
        log.push(format!("PLAY RECAP {}", "*".repeat(60)));
        for h in &hosts {
            let failed = u8::from(h == "web-07");
            log.push(format!(
                "{h:<26} : ok=60   changed=60   unreachable=0    failed={failed}    skipped=0    rescued=0    ignored=0"
            ));
        }
        log
    }

    fn semaphore(log: Vec<String>) -> MockSemaphorePort {
        let mut sem = MockSemaphorePort::new();
        sem.expect_projects().returning(|| Ok(vec![Project { id: ProjectId::new(1), name: "ops".into() }]));
        sem.expect_task().returning(|_, _| {
            Ok(Task {
                id: TaskId::new(TASK),
                project_id: ProjectId::new(1),
                template_id: TemplateId::new(1),
                status: TaskStatus::Error,
                created: None,
                start: None,
                end: None,
                message: None,
                template_name: Some("deploy-web".into()),
                user_name: None,
            })
        });
        sem.expect_task_output().returning(move |_, _| Ok(TaskLog::from_entries(&log).unwrap()));
        sem.expect_task_url().returning(|_, _, _| None);
        sem
    }

    /// The message posted for one command, and the JSON it costs in the event.
    async fn ask(
        bot: &crate::Bot,
        chat: &crate::testing::RecordingChat,
        clock: &ManualClock,
        command: &str,
    ) -> (String, String, usize) {
        bot.handle(message_from(&admin(), command, clock.now())).await;
        let posted = chat.take();
        let Some(Posted::Message(_, m)) = posted.into_iter().next() else { panic!("nothing posted for {command}") };
        let html = m.html.unwrap_or_default();
        let json = serde_json::json!({ "msgtype": "m.notice", "body": m.body, "format": "org.matrix.custom.html", "formatted_body": html });
        let size = serde_json::to_string(&json).unwrap().len();
        (m.body, html, size)
    }

    #[tokio::test]
    async fn every_page_of_a_long_log_fits_in_an_event_and_every_line_is_shown_once() {
        let log = big_log();
        let clock = ManualClock::at_epoch();
        let settings = settings();
        let limit = settings.max_message_bytes;
        let (bot, chat) =
            bot_with(Arc::new(semaphore(log.clone())), Arc::new(MemoryStore::new()), Arc::new(clock.clone()), settings);
        let (last, html, size) = ask(&bot, &chat, &clock, &format!("!cd logs {TASK}")).await;
        assert!(size <= limit, "{size} > {limit}");
        let pages: usize =
            last.split(" · page ").nth(1).and_then(|p| p.split_once('/')).and_then(|(n, _)| n.parse().ok()).unwrap();
        assert!(pages > 5, "{last}");
        // The default page is the last one: the recap, as a table, with the run's summary on top.
        assert!(html.contains("<h4>PLAY RECAP") && html.contains("</h4><table>"), "{html}");
        assert!(last.contains("PLAY RECAP: 40 hosts · 1 failed (web-07)"), "{last}");
        assert!(last.contains("1 error line(s), 0 warning(s): `!cd logs 7 --errors`"), "{last}");
        let mut seen: Vec<String> = Vec::new();
        for page in 1..=pages {
            let (body, html, size) = ask(&bot, &chat, &clock, &format!("!cd logs {TASK} --page {page}")).await;
            assert!(size <= limit, "page {page}: {size} > {limit}");
            assert!(html.matches("<pre>").count() == html.matches("</pre>").count());
            let block = body.split("\n```\n").nth(1).and_then(|b| b.split("\n```").next()).unwrap();
            seen.extend(block.split('\n').filter(|l| !l.ends_with(" (continued)")).map(str::to_owned));
        }
        let changed = |lines: &[String]| lines.iter().filter(|l| l.contains("changed: [")).cloned().collect::<Vec<_>>();
        let expected: Vec<String> = log.iter().map(|l| ansi::strip(l).into_owned()).collect();
        assert_eq!(changed(&seen), changed(&expected), "each line once, in order");
        assert_eq!(seen.len(), expected.len());
        let (body, _, _) = ask(&bot, &chat, &clock, &format!("!cd logs {TASK} --errors")).await;
        assert!(body.contains("fatal: [web-07]") && body.contains("1 matching"), "{body}");
    }

    #[tokio::test]
    async fn the_whole_log_uploads_as_plain_redacted_text_from_one_read() {
        let mut log = big_log();
        // A secret that colour codes cut in two: found once the codes are stripped.
        log.insert(3, "token: \x1b[1ms3cr3t\x1b[0m-token-value in use".to_owned());
        log.push(String::new());
        let clock = ManualClock::at_epoch();
        let mut sem = semaphore(log.clone());
        // The file is made from the lines already read; a second read of the log is not needed.
        sem.expect_task_log_text().never();
        let (bot, chat) = bot_with(Arc::new(sem), Arc::new(MemoryStore::new()), Arc::new(clock.clone()), settings());
        bot.handle(message_from(&admin(), &format!("!cd logs {TASK} --file"), clock.now())).await;
        let posted = chat.take();
        let Some(Posted::Upload(file)) = posted.into_iter().next() else { panic!("no upload") };
        let text = String::from_utf8(file.bytes).unwrap();
        assert!(!text.contains('\x1b'), "colour codes are stripped");
        assert!(!text.contains("s3cr3t"), "the secret is redacted: {}", &text[..300]);
        assert_eq!(text.lines().count(), log.len() - 1, "every line but the trailing empty one");
        assert!(text.ends_with("ignored=0\n"));
        let caption = format!("📋 Full log of task #7 (deploy-web), {} lines", log.len() - 1);
        assert_eq!(file.caption, Some(caption));
    }
}
