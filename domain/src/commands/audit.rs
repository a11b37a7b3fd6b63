//! `audit [@user|action|today|week] [--since DATE] [--page N] [--csv]`: the audit log, newest
//! first: every grant change, task start, stop, approval, rejection and denial, with who, where,
//! what and when. For holders of `audit`.

use chatrixcd_ports::chat::FileUpload;
use chatrixcd_ports::{AuditEntry, Page, UserId};
use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::commands::{Command, CommandError, needs_nothing};
use crate::core::{Ctx, Request};
use crate::grammar::{ArgSpec, CommandSpec, FlagSpec, Parsed, ValueKind};
use crate::permissions::Permission;
use crate::render::Reply;
use crate::render::csv::{audit_header, audit_row};

/// Lines per page in chat.
const PAGE: usize = 20;
/// How many entries one command reads at most, whatever the filters: a filter that matches
/// little must not read a huge log in one go.
const SCAN_LIMIT: usize = 50_000;
/// How many entries the store hands over per read.
const BATCH: usize = 1_000;

pub(crate) static SPEC: CommandSpec = CommandSpec {
    name: "audit",
    aliases: &[],
    summary: "Show the audit log: grants, runs, stops, approvals, denials",
    // Three words, in any order (each is told apart by its form): flags may follow them.
    args: &[
        ArgSpec { name: "who", kind: ValueKind::Word, required: false, help: "a user, @dana:example.org" },
        ArgSpec {
            name: "what",
            kind: ValueKind::Word,
            required: false,
            help: "an action or its start: run, task.stop, grant, denied",
        },
        ArgSpec { name: "when", kind: ValueKind::Word, required: false, help: "today or week" },
    ],
    flags: &[
        FlagSpec {
            name: "since",
            aliases: &[],
            value: Some(ValueKind::Word),
            repeatable: false,
            help: "only entries from this date on (YYYY-MM-DD, UTC)",
        },
        FlagSpec {
            name: "page",
            aliases: &[],
            value: Some(ValueKind::Number),
            repeatable: false,
            help: "which page of 20, newest first",
        },
        FlagSpec { name: "csv", aliases: &[], value: None, repeatable: false, help: "upload the matching entries as CSV" },
    ],
    subcommands: &[],
    examples: &["audit", "audit @dana:example.org today", "audit denied --page 2", "audit grant --csv"],
    hidden: false,
    permission: Some(Permission::Audit),
};

pub(crate) static COMMAND: Command =
    Command { spec: &SPEC, needs: needs_nothing, run: |ctx, req, p| Box::pin(execute(ctx, req, p)) };

/// What an entry must be to be shown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Filter {
    user: Option<UserId>,
    /// An action, or the start of one up to a dot: `run` matches `run.start`.
    action: Option<String>,
    since: Option<DateTime<Utc>>,
}

impl Filter {
    pub(crate) fn parse(words: &str, since: Option<&str>, now: DateTime<Utc>) -> Result<Self, CommandError> {
        let mut filter = Self::default();
        let midnight = |t: DateTime<Utc>| t.date_naive().and_hms_opt(0, 0, 0).map(|d| d.and_utc());
        for word in words.split_whitespace() {
            match word {
                "today" => filter.since = midnight(now),
                "week" => filter.since = Some(now - Duration::days(7)),
                w if w.starts_with('@') => {
                    filter.user = Some(UserId::parse(w).map_err(|e| {
                        CommandError::Usage(format!("`{w}` is not a Matrix user id ({e})."))
                    })?);
                }
                w if w.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_') => {
                    filter.action = Some(w.to_ascii_lowercase());
                }
                w => {
                    return Err(CommandError::Usage(format!(
                        "`{w}` is not a filter: give @user, an action (run, grant, denied…), today or week."
                    )));
                }
            }
        }
        if let Some(given) = since {
            let day = NaiveDate::parse_from_str(given.trim(), "%Y-%m-%d")
                .map_err(|_| CommandError::Usage(format!("--since `{given}` is not a date like 2026-11-01.")))?;
            filter.since = day.and_hms_opt(0, 0, 0).map(|d| d.and_utc());
        }
        Ok(filter)
    }

    fn matches(&self, e: &AuditEntry) -> bool {
        self.user.as_ref().is_none_or(|u| &e.actor == u)
            && self.action.as_ref().is_none_or(|a| {
                e.action == *a || e.action.strip_prefix(a.as_str()).is_some_and(|rest| rest.starts_with('.'))
            })
            && self.since.is_none_or(|s| e.at >= s)
    }
}

/// Reads the matching entries, newest first: the first `wanted` of them (all, with `None`),
/// and whether the scan stopped at its limit before the log's start.
async fn matching(ctx: Ctx<'_>, filter: &Filter, wanted: Option<usize>) -> Result<(Vec<AuditEntry>, bool), CommandError> {
    let mut out = Vec::new();
    let mut before = None;
    let mut scanned = 0;
    loop {
        let batch = ctx.store().audit(Page { limit: BATCH, before }).await?;
        let Some(last) = batch.last() else { return Ok((out, false)) };
        before = Some(last.seq);
        let older_than_since = filter.since.is_some_and(|s| last.at < s);
        scanned += batch.len();
        out.extend(batch.into_iter().filter(|e| filter.matches(e)));
        if wanted.is_some_and(|w| out.len() >= w) || older_than_since {
            return Ok((out, false));
        }
        if scanned >= SCAN_LIMIT {
            return Ok((out, true));
        }
    }
}

async fn execute(ctx: Ctx<'_>, req: &Request, p: &Parsed) -> Result<(), CommandError> {
    let words: Vec<&str> = ["who", "what", "when"].iter().filter_map(|a| p.arg(a)).collect();
    let filter = Filter::parse(&words.join(" "), p.flag("since"), ctx.now())?;
    if p.switch("csv") {
        let (entries, cut) = matching(ctx, &filter, None).await?;
        let mut text = audit_header();
        for e in entries.iter().rev() {
            text.push_str(&audit_row(e));
        }
        let mut caption = format!("🧾 {} audit entries", entries.len());
        if cut {
            caption.push_str(&format!(" (the newest {SCAN_LIMIT} read; `chatrixcd export audit --csv` has them all)"));
        }
        let upload = FileUpload {
            file_name: format!("audit-{}.csv", ctx.now().format("%Y%m%d-%H%M%S")),
            mime_type: "text/csv".into(),
            bytes: text.into_bytes(),
            caption: Some(caption),
        };
        ctx.out().upload(&req.room, upload).await?;
        return Ok(());
    }
    let page = p.flag("page").and_then(|n| n.parse::<usize>().ok()).unwrap_or(1).max(1);
    let (entries, cut) = matching(ctx, &filter, Some(page * PAGE + 1)).await?;
    let shown: Vec<&AuditEntry> = entries.iter().skip((page - 1) * PAGE).take(PAGE).collect();
    if shown.is_empty() {
        let what = if page > 1 { format!("Page {page} is past the end") } else { "No audit entries match".into() };
        ctx.reply(req, Reply::notice().push(&format!("🧾 {what}."))).await;
        return Ok(());
    }
    let rows: Vec<Vec<String>> = shown
        .iter()
        .map(|e| {
            vec![
                e.at.format("%Y-%m-%d %H:%M").to_string(),
                e.actor.to_string(),
                e.action.clone(),
                e.detail.clone(),
                e.room.as_ref().map(ToString::to_string).unwrap_or_default(),
            ]
        })
        .collect();
    let mut reply = Reply::notice().bold(&format!("🧾 Audit log, page {page}")).table(
        &["When (UTC)", "Who", "Action", "What", "Room"],
        &rows,
    );
    if entries.len() > page * PAGE {
        reply = reply.line().push("More: ").code(&format!("{} audit … --page {}", ctx.prefix(), page + 1));
    } else if cut {
        reply = reply.line().push(&format!("(Only the newest {SCAN_LIMIT} entries were searched.)"));
    }
    ctx.reply(req, reply).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use chatrixcd_ports::UserId;
    use chrono::TimeZone as _;

    use super::*;
    use crate::testing::{Harness, Posted, admin};

    fn entry(action: &str, actor: &str, day: u32) -> AuditEntry {
        AuditEntry {
            seq: 0,
            at: Utc.with_ymd_and_hms(2026, 11, day, 12, 0, 0).unwrap(),
            actor: UserId::parse(actor).unwrap(),
            room: None,
            action: action.into(),
            detail: String::new(),
        }
    }

    #[test]
    fn filters_combine_and_actions_match_by_their_start() {
        let now = Utc.with_ymd_and_hms(2026, 11, 20, 15, 0, 0).unwrap();
        let f = Filter::parse("@dana:test run", None, now).unwrap();
        assert!(f.matches(&entry("run.start", "@dana:test", 20)));
        assert!(!f.matches(&entry("runner", "@dana:test", 20)), "a start up to a dot, not any prefix");
        assert!(!f.matches(&entry("run.start", "@eve:test", 20)));
        let today = Filter::parse("today", None, now).unwrap();
        assert!(today.matches(&entry("x", "@a:test", 20)) && !today.matches(&entry("x", "@a:test", 19)));
        let since = Filter::parse("", Some("2026-11-10"), now).unwrap();
        assert!(since.matches(&entry("x", "@a:test", 10)) && !since.matches(&entry("x", "@a:test", 9)));
        for (words, since) in [("@dana", None), ("ru;n", None), ("", Some("last tuesday"))] {
            assert!(Filter::parse(words, since, now).is_err(), "{words} {since:?}");
        }
    }

    #[tokio::test]
    async fn audit_pages_the_log_for_its_holders_and_exports_csv() {
        let h = Harness::single().await;
        let victor = UserId::parse("@victor:test").unwrap();
        h.say(&victor, "!cd run 1 1").await;
        h.say(&victor, "!cd audit").await;
        assert!(h.chat.bodies().last().unwrap().contains("needs the `audit` permission on the bot"));
        for n in 0..25 {
            h.say(&admin(), &format!("!cd aliases add a{n} ping")).await;
        }
        h.say(&admin(), "!cd audit denied").await;
        let said = h.chat.bodies().last().cloned().unwrap();
        assert!(said.contains("Audit log, page 1") && said.contains("@victor:test"), "{said}");
        assert!(said.contains("run on default") && said.contains("audit on the bot"), "{said}");
        h.say(&admin(), "!cd audit alias").await;
        let said = h.chat.bodies().last().cloned().unwrap();
        assert!(said.contains("a24 = ping") && !said.contains("a4 = ping"), "newest first\n{said}");
        assert!(said.contains("--page 2"), "{said}");
        h.say(&admin(), "!cd audit alias --page 2").await;
        let said = h.chat.bodies().last().cloned().unwrap();
        assert!(said.contains("a4 = ping") && said.contains("a0 = ping"), "{said}");
        h.say(&admin(), "!cd audit alias --page 3").await;
        assert!(h.chat.bodies().last().unwrap().contains("Page 3 is past the end."));
        h.say(&admin(), "!cd audit alias.add --csv").await;
        let Some(Posted::Upload(file)) = h.chat.take().into_iter().last() else { panic!("no upload") };
        let text = String::from_utf8(file.bytes).unwrap();
        assert!(text.starts_with("seq,at,actor,room,action,detail\r\n"), "{text}");
        assert_eq!(text.lines().count(), 26, "{text}");
        assert_eq!(file.caption.as_deref(), Some("🧾 25 audit entries"));
    }
}
