//! `history [filters…]`: the runs the bot started, newest first, ten a page, only those the
//! caller may read. Filters combine: `@user` or `me`; `failed`, `success` or `running`; `today`,
//! `week` or `month` (or `--since` / `--until` dates); `--instance`, `--project`, `--template`.
//! Pages are stable over the store's numbering: `--before <run>` continues exactly where a page
//! ended, whatever started meanwhile (`--page N` counts from the newest).

use chatrixcd_ports::store::{RunOutcome, RunQuery, RunRecord};
use chatrixcd_ports::{Page, UserId};
use chrono::{DateTime, Duration, NaiveDate, TimeZone as _, Utc};
use chrono_tz::Tz;

use crate::commands::{Command, CommandError, needs_nothing};
use crate::core::{Ctx, Request};
use crate::grammar::{ArgSpec, CommandSpec, FlagSpec, Parsed, ValueKind};
use crate::instances::task_label;
use crate::permissions::{Permission, Target};
use crate::render::Reply;

/// Runs on a page.
const PAGE: usize = 10;
/// The most pages `--page` may skip to (a page past the end is named as such).
const MAX_PAGE: u64 = 1_000;

pub(crate) static SPEC: CommandSpec = CommandSpec {
    name: "history",
    aliases: &["hist", "runs"],
    summary: "The runs the bot started, newest first, with filters",
    args: &[ArgSpec {
        name: "filters",
        kind: ValueKind::Words,
        required: false,
        help: "any of: @user or me; failed, success or running; today, week or month",
    }],
    flags: &[
        FlagSpec::word("since", "started on or after this day (2026-11-01) or time (RFC 3339)"),
        FlagSpec::word("until", "started before the end of this day, or before this time"),
        FlagSpec::word("instance", "only this Semaphore instance"),
        FlagSpec::word("project", "only this project (id or name)"),
        FlagSpec::word("template", "only this template (id or name)"),
        FlagSpec { name: "page", aliases: &[], value: Some(ValueKind::Number), repeatable: false, help: "page N, counted from the newest" },
        FlagSpec { name: "before", aliases: &[], value: Some(ValueKind::Number), repeatable: false, help: "runs older than this run number (the next page's link gives it)" },
        FlagSpec { name: "csv", aliases: &[], value: None, repeatable: false, help: "upload every matching run as a CSV file instead" },
        FlagSpec { name: "json", aliases: &[], value: None, repeatable: false, help: "upload every matching run as JSON Lines instead" },
    ],
    subcommands: &[CommandSpec {
        name: "purge",
        summary: "Remove every run a person asked for from the history (asks first; audited)",
        args: &[ArgSpec { name: "user", kind: ValueKind::Word, required: true, help: "their Matrix id, @bob:example.org" }],
        flags: &[FlagSpec { name: "yes", aliases: &["y"], value: None, repeatable: false, help: "do not ask for confirmation" }],
        examples: &["history purge @bob:example.org"],
        permission: Some(Permission::Audit),
        ..CommandSpec::BASE
    }],
    examples: &["history", "history me failed week", "history @bob:example.org --template deploy-web", "history --since 2026-11-01 --until 2026-11-30 --project ops"],
    hidden: false,
    permission: Some(Permission::Read),
};

pub(crate) static COMMAND: Command =
    Command { spec: &SPEC, needs: needs_nothing, run: |ctx, req, p| Box::pin(execute(ctx, req, p)) };

/// What the filters mean, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Filters {
    pub query: RunQuery,
    /// The words as typed, for the next page's link.
    pub typed: Vec<String>,
}

const WORDS: [&str; 7] = ["me", "failed", "success", "running", "today", "week", "month"];

/// Reads the filter words and dates. `now` and `zone` give `today` and bare dates their day.
pub(crate) fn parse_filters(
    words: &[String],
    since: Option<&str>,
    until: Option<&str>,
    me: &UserId,
    now: DateTime<Utc>,
    zone: Tz,
) -> Result<Filters, CommandError> {
    let mut query = RunQuery::default();
    let mut period: Option<&str> = None;
    let clash = |a: &str, b: &str| CommandError::Usage(format!("`{a}` and `{b}` contradict each other; keep one."));
    let mut who: Option<String> = None;
    let mut outcome_word: Option<String> = None;
    for word in words {
        let lower = word.to_lowercase();
        match lower.as_str() {
            "me" | "mine" => {
                if let Some(w) = &who {
                    return Err(clash(w, word));
                }
                who = Some(word.clone());
                query.requester = Some(me.clone());
            }
            "failed" | "failures" | "success" | "succeeded" | "running" => {
                let outcome = match lower.as_str() {
                    "failed" | "failures" => RunOutcome::Failed,
                    "running" => RunOutcome::Running,
                    _ => RunOutcome::Success,
                };
                if let Some(w) = &outcome_word
                    && query.outcome != Some(outcome)
                {
                    return Err(clash(w, word));
                }
                outcome_word = Some(word.clone());
                query.outcome = Some(outcome);
            }
            "today" | "week" | "month" => {
                if let Some(p) = period {
                    return Err(clash(p, word));
                }
                period = Some(match lower.as_str() {
                    "today" => "today",
                    "week" => "week",
                    _ => "month",
                });
                query.since = Some(match lower.as_str() {
                    "today" => start_of_day(now.with_timezone(&zone).date_naive(), zone),
                    "week" => now - Duration::days(7),
                    _ => now - Duration::days(30),
                });
            }
            _ if word.starts_with('@') => {
                let user = UserId::parse(word).map_err(|_| {
                    CommandError::Usage(format!("`{word}` is not a Matrix user id; write it whole, like @bob:example.org."))
                })?;
                if let Some(w) = &who {
                    return Err(clash(w, word));
                }
                who = Some(word.clone());
                query.requester = Some(user);
            }
            _ => {
                let hint = crate::grammar::suggest(&lower, WORDS.iter().copied())
                    .map(|s| format!(" Did you mean `{s}`?"))
                    .unwrap_or_default();
                return Err(CommandError::Usage(format!(
                    "`{word}` is not a filter.{hint} Filters: @user, me, failed, success, running, today, week, month (and --since, --until, --instance, --project, --template)."
                )));
            }
        }
    }
    if let Some(given) = since {
        if let Some(p) = period {
            return Err(clash(p, &format!("--since {given}")));
        }
        query.since = Some(parse_time(given, zone, false)?);
    }
    if let Some(given) = until {
        query.until = Some(parse_time(given, zone, true)?);
    }
    if let (Some(s), Some(u)) = (query.since, query.until)
        && s >= u
    {
        return Err(CommandError::Usage("--since must be before --until: no run can be in that range.".into()));
    }
    Ok(Filters { query, typed: words.to_vec() })
}

fn start_of_day(day: NaiveDate, zone: Tz) -> DateTime<Utc> {
    let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    // A day that starts in a DST gap starts at its first real instant.
    zone.from_local_datetime(&midnight)
        .earliest()
        .or_else(|| zone.from_local_datetime(&(midnight + Duration::hours(1))).earliest())
        .map_or_else(|| Utc.from_utc_datetime(&midnight), |t| t.with_timezone(&Utc))
}

/// A day (`2026-11-01`, in the bot's zone; for `--until`, the end of that day) or an RFC 3339 time.
fn parse_time(given: &str, zone: Tz, end_of_day: bool) -> Result<DateTime<Utc>, CommandError> {
    if let Ok(day) = NaiveDate::parse_from_str(given, "%Y-%m-%d") {
        let day = if end_of_day { day.succ_opt().unwrap_or(day) } else { day };
        return Ok(start_of_day(day, zone));
    }
    DateTime::parse_from_rfc3339(given).map(|t| t.with_timezone(&Utc)).map_err(|_| {
        CommandError::Usage(format!("`{given}` is not a date; write a day like 2026-11-01 or a time like 2026-11-01T08:00:00Z."))
    })
}

/// What a run is about, as the policy sees it.
pub(crate) fn target(run: &RunRecord) -> Target<'_> {
    Target {
        instance: Some(run.instance),
        project_id: Some(run.project.get()),
        project: Some(&run.project_name),
        template_id: Some(run.template.get()),
        template: Some(&run.template_name),
        some_of: false,
    }
}

async fn execute(ctx: Ctx<'_>, req: &Request, p: &Parsed) -> Result<(), CommandError> {
    if p.sub() == Some("purge") {
        return purge(ctx, req, p).await;
    }
    let words: Vec<String> = p.arg("filters").map(crate::grammar::split_words).unwrap_or_default();
    let zone = crate::cron::zone(&ctx.settings().schedule_zone).unwrap_or(Tz::UTC);
    let now = ctx.now();
    let mut filters = parse_filters(&words, p.flag("since"), p.flag("until"), &req.sender, now, zone)?;
    if let Some(name) = p.flag("instance") {
        let instance = ctx.instances().resolve(name).map_err(|e| CommandError::Usage(e.describe()))?;
        filters.query.instance = Some(instance.id);
    }
    filters.query.project = p.flag("project").map(str::to_owned);
    filters.query.template = p.flag("template").map(str::to_owned);
    if p.switch("csv") || p.switch("json") {
        return export(ctx, req, &filters, p.switch("json")).await;
    }
    let page_number: u64 = p.flag("page").and_then(|n| n.parse().ok()).unwrap_or(1);
    if page_number == 0 || page_number > MAX_PAGE {
        return Err(CommandError::Usage(format!("--page counts from 1 to {MAX_PAGE}.")));
    }
    let mut before: Option<u64> = p.flag("before").and_then(|n| n.parse().ok());
    if p.flag("page").is_some() && before.is_some() {
        return Err(CommandError::Usage("--page and --before both say where to start; give one.".into()));
    }
    // Pages of what the caller may read: skip whole pages, then take one, plus one to know
    // whether there is more.
    let skip = (page_number - 1) as usize * PAGE;
    let mut seen = 0usize;
    let mut shown: Vec<RunRecord> = Vec::new();
    let mut more = false;
    loop {
        let batch = ctx.store().find_runs(&filters.query, Page { limit: 200, before }).await?;
        let exhausted = batch.len() < 200;
        before = batch.last().map(|r| r.id).or(before);
        for run in batch {
            if !ctx.may(req, Permission::Read, &target(&run)) {
                continue;
            }
            seen += 1;
            if seen <= skip {
                continue;
            }
            if shown.len() == PAGE {
                more = true;
                break;
            }
            shown.push(run);
        }
        if more || exhausted {
            break;
        }
    }
    let reply = if shown.is_empty() && page_number > 1 {
        let last = seen.div_ceil(PAGE).max(1);
        return Err(CommandError::Usage(format!("Page {page_number} is past the end: the last page is {last}.")));
    } else if shown.is_empty() {
        Reply::notice().push("📜 No runs match.")
    } else {
        let mut reply = Reply::notice().bold(&format!(
            "📜 History{}{}",
            describe(&filters, &p.flag("instance"), &p.flag("project"), &p.flag("template")),
            if page_number > 1 { format!(" · page {page_number}") } else { String::new() }
        ));
        for run in &shown {
            reply = line(ctx, reply.line(), run, zone, now);
        }
        if more {
            let last = shown.last().map_or(0, |r| r.id);
            let mut next = format!("{} history", ctx.prefix());
            for word in &filters.typed {
                next.push(' ');
                next.push_str(word);
            }
            for flag in ["since", "until", "instance", "project", "template"] {
                if let Some(v) = p.flag(flag) {
                    next.push_str(&format!(" --{flag} {v}"));
                }
            }
            next.push_str(&format!(" --before {last}"));
            reply = reply.line().push("Older: ").code(&next);
        }
        reply
    };
    ctx.reply(req, reply).await;
    Ok(())
}

async fn purge(ctx: Ctx<'_>, req: &Request, p: &Parsed) -> Result<(), CommandError> {
    let given = p.arg("user").unwrap_or_default();
    let user = UserId::parse(given)
        .map_err(|_| CommandError::Usage(format!("`{given}` is not a Matrix user id; write it whole, like @bob:example.org.")))?;
    let query = RunQuery { requester: Some(user.clone()), ..RunQuery::default() };
    // Counted up to a bound, one past it to know there are more (the question then says "more
    // than"); the purge removes all.
    let runs = ctx.store().find_runs(&query, Page { limit: crate::plans::PURGE_COUNTED + 1, before: None }).await?.len();
    if runs == 0 {
        return Err(CommandError::Refused(format!("The history holds no runs of {user}.")));
    }
    let action = crate::plans::PendingAction::Purge { user, runs };
    if p.switch("yes") {
        let crate::plans::PendingAction::Purge { user, .. } = &action else { return Ok(()) };
        return perform_purge(ctx, req, user).await;
    }
    let question = Reply::notice()
        .bold(&format!("🧹 {}?", crate::commands::grant::capitalised(&action.describe())))
        .line()
        .push("The audit log keeps that it was done, not what was removed.");
    ctx.ask(req, action, crate::confirm::Approver::Requester, ctx.settings().short_confirm_timeout, question).await;
    Ok(())
}

/// Removes the runs, once confirmed.
pub(crate) async fn perform_purge(ctx: Ctx<'_>, req: &Request, user: &UserId) -> Result<(), CommandError> {
    let removed = ctx.store().purge_runs_of(user).await?;
    ctx.audit(req, "history.purge", format!("{user}: {removed} run(s)")).await;
    ctx.reply(req, Reply::notice().push(&format!("🧹 Removed {removed} run(s) of {user} from the history."))).await;
    Ok(())
}

/// The most runs one export holds; the file says when there were more.
const EXPORT_MAX: usize = 100_000;

/// The runs that match and that the caller may read, newest first, at most `max`; whether
/// there were more. Read 1,000 at a time.
pub(crate) async fn visible_runs(
    ctx: Ctx<'_>,
    req: &Request,
    query: &RunQuery,
    max: usize,
) -> Result<(Vec<RunRecord>, bool), CommandError> {
    let mut out = Vec::new();
    let mut before = None;
    loop {
        let batch = ctx.store().find_runs(query, Page { limit: 1_000, before }).await?;
        let exhausted = batch.len() < 1_000;
        before = batch.last().map(|r| r.id).or(before);
        for run in batch {
            if !ctx.may(req, Permission::Read, &target(&run)) {
                continue;
            }
            if out.len() == max {
                return Ok((out, true));
            }
            out.push(run);
        }
        if exhausted {
            return Ok((out, false));
        }
    }
}

/// Every matching run the caller may read, oldest first, as one file. Written batch by batch:
/// only the file and one batch of 500 runs are in memory at once.
async fn export(ctx: Ctx<'_>, req: &Request, filters: &Filters, json: bool) -> Result<(), CommandError> {
    let (runs, truncated) = visible_runs(ctx, req, &filters.query, EXPORT_MAX).await?;
    let mut newest_first: Vec<String> = Vec::with_capacity(runs.len());
    // A file is posted like a message: redacted (runs recorded before parameters were redacted
    // at record time may hold a secret's shape).
    let redactor = ctx.out().redactor();
    for run in &runs {
        let line = if json {
            let mut line = serde_json::to_string(run)
                .map_err(|e| CommandError::Refused(format!("A run could not be written: {e}.")))?;
            line.push('\n');
            line
        } else {
            crate::render::csv::run_row(run)
        };
        newest_first.push(redactor.redact(&line).into_owned());
    }
    drop(runs);
    let count = newest_first.len();
    let mut text = if json { String::new() } else { crate::render::csv::run_header() };
    for line in newest_first.into_iter().rev() {
        text.push_str(&line);
    }
    let (name, mime) = if json { ("history.jsonl", "application/x-ndjson") } else { ("history.csv", "text/csv") };
    let mut caption = format!("📜 {count} run(s){}", describe(filters, &None, &filters.query.project.as_deref(), &filters.query.template.as_deref()));
    if truncated {
        caption.push_str(&format!(", the newest {EXPORT_MAX} (narrow it with filters for the rest)"));
    }
    let file = chatrixcd_ports::chat::FileUpload { file_name: name.into(), mime_type: mime.into(), bytes: text.into_bytes(), caption: Some(caption) };
    ctx.out().upload(&req.room, file).await?;
    ctx.audit(req, "history.export", format!("{count} run(s) as {name}")).await;
    Ok(())
}

fn describe(filters: &Filters, instance: &Option<&str>, project: &Option<&str>, template: &Option<&str>) -> String {
    let mut parts: Vec<String> = filters.typed.clone();
    for (name, value) in [("instance", instance), ("project", project), ("template", template)] {
        if let Some(v) = value {
            parts.push(format!("{name} {v}"));
        }
    }
    if let Some(s) = filters.query.since.filter(|_| !filters.typed.iter().any(|w| ["today", "week", "month"].contains(&w.to_lowercase().as_str()))) {
        parts.push(format!("since {}", s.format("%Y-%m-%d %H:%M UTC")));
    }
    if let Some(u) = filters.query.until {
        parts.push(format!("until {}", u.format("%Y-%m-%d %H:%M UTC")));
    }
    if parts.is_empty() { String::new() } else { format!(" ({})", parts.join(", ")) }
}

/// One run: task, template, who, when, how long, result, and its link.
fn line(ctx: Ctx<'_>, reply: Reply, run: &RunRecord, zone: Tz, now: DateTime<Utc>) -> Reply {
    let label = task_label(ctx.instances(), run.instance, run.task);
    let when = run.started_at.with_timezone(&zone).format("%Y-%m-%d %H:%M").to_string();
    let took = crate::render::duration::human(run.ended_at.unwrap_or(now) - run.started_at);
    let result = match &run.result {
        Some(status) => format!("{} {status}", crate::render::reply::status_style(status).0),
        None => "🔄 not ended".to_owned(),
    };
    let text = format!("{label} {} · {} · {when} · {took} · {result}", run.template_name, run.requester);
    let url = ctx.instances().get(run.instance).and_then(|i| i.semaphore.task_url(run.project, run.template, run.task));
    match url {
        Some(url) => reply.push(&text).push(" · ").link("open", &url),
        None => reply.push(&text),
    }
}

#[cfg(test)]
mod tests {
    use chatrixcd_ports::UserId;
    use chrono::{Duration, TimeZone as _, Utc};
    use chrono_tz::Tz;

    use chatrixcd_ports::Store as _;

    use super::parse_filters;
    use crate::testing::{Harness, admin};

    #[test]
    fn filters_combine_and_contradictions_bad_dates_and_unknown_words_are_named() {
        let me = admin();
        let now = Utc.with_ymd_and_hms(2026, 12, 3, 10, 0, 0).unwrap();
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let words = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
        let ok = parse_filters(&words("me failed today"), None, None, &me, now, berlin).unwrap();
        assert_eq!(ok.query.requester, Some(me.clone()));
        assert_eq!(ok.query.outcome, Some(chatrixcd_ports::RunOutcome::Failed));
        assert_eq!(ok.query.since, Some(Utc.with_ymd_and_hms(2026, 12, 2, 23, 0, 0).unwrap()), "Berlin's midnight");
        let dated = parse_filters(&[], Some("2026-11-01"), Some("2026-11-30"), &me, now, Tz::UTC).unwrap();
        assert_eq!(dated.query.since, Some(Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap()));
        assert_eq!(dated.query.until, Some(Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap()), "the whole last day");
        let bob = parse_filters(&words("@bob:test week"), None, None, &me, now, Tz::UTC).unwrap();
        assert_eq!(bob.query.requester, Some(UserId::parse("@bob:test").unwrap()));
        assert_eq!(bob.query.since, Some(now - Duration::days(7)));
        let table: &[(&str, Option<&str>, Option<&str>, &str)] = &[
            ("failed success", None, None, "`failed` and `success` contradict each other"),
            ("me @bob:test", None, None, "`me` and `@bob:test` contradict each other"),
            ("today week", None, None, "`today` and `week` contradict each other"),
            ("today", Some("2026-11-01"), None, "`today` and `--since 2026-11-01` contradict each other"),
            ("", Some("2026-11-30"), Some("2026-11-01"), "--since must be before --until"),
            ("", Some("yesterday"), None, "`yesterday` is not a date"),
            ("", None, Some("2026-13-01"), "`2026-13-01` is not a date"),
            ("@bob", None, None, "`@bob` is not a Matrix user id"),
            ("faild", None, None, "`faild` is not a filter. Did you mean `failed`?"),
        ];
        for (typed, since, until, wanted) in table {
            let err = parse_filters(&words(typed), *since, *until, &me, now, Tz::UTC).unwrap_err();
            assert!(err.to_string().contains(wanted), "{typed:?}: {err}");
        }
        assert!(parse_filters(&words("failed failures"), None, None, &me, now, Tz::UTC).is_ok(), "the same twice is fine");
    }

    #[tokio::test]
    async fn history_pages_newest_first_with_filters_and_a_stable_next_page() {
        let h = Harness::single().await;
        for i in 0..12 {
            let template = if i % 3 == 0 { "broken-deploy" } else { "deploy-web" };
            h.say(&admin(), &format!("!cd run ops {template} --yes")).await;
            h.advance(Duration::seconds(20)).await;
        }
        h.advance(Duration::seconds(60)).await;
        h.chat.take();
        h.say(&admin(), "!cd history").await;
        let page = h.chat.bodies().join("\n");
        assert!(page.starts_with("📜 History\n"), "{page}");
        let lines: Vec<&str> = page.lines().filter(|l| l.starts_with('#')).collect();
        assert_eq!(lines.len(), 10, "{page}");
        assert!(lines[0].contains("@alice:test") && lines[0].contains(" · open"), "{page}");
        assert!(page.contains("Older: `!cd history --before "), "{page}");
        let before: String = page.split("--before ").nth(1).unwrap().chars().take_while(char::is_ascii_digit).collect();
        h.say(&admin(), &format!("!cd history --before {before}")).await;
        let older = h.chat.bodies().join("\n");
        assert_eq!(older.lines().filter(|l| l.starts_with('#')).count(), 2, "{older}");
        assert!(!older.contains("Older:"), "{older}");
        h.say(&admin(), "!cd history failed").await;
        let failed = h.chat.bodies().join("\n");
        let rows: Vec<&str> = failed.lines().filter(|l| l.starts_with('#')).collect();
        assert_eq!(rows.len(), 4, "{failed}");
        assert!(rows.iter().all(|r| r.contains("broken-deploy") && r.contains("❌ error")), "{failed}");
        h.say(&admin(), "!cd history --template deploy-web --page 2").await;
        let second = h.chat.bodies().join("\n");
        assert!(second.contains("Page 2 is past the end: the last page is 1."), "8 deploy-web runs fit on one page: {second}");
        h.say(&admin(), "!cd history --page 2").await;
        let second = h.chat.bodies().join("\n");
        assert!(second.starts_with("📜 History · page 2"), "{second}");
        assert_eq!(second.lines().filter(|l| l.starts_with('#')).count(), 2, "{second}");
        h.say(&admin(), "!cd history --page 3").await;
        assert!(h.chat.bodies().join("\n").contains("Page 3 is past the end: the last page is 2."));
        h.say(&admin(), "!cd history @bob:test").await;
        assert!(h.chat.bodies().join("\n").contains("No runs match."));
    }

    #[tokio::test]
    async fn the_history_uploads_as_csv_or_json_lines_with_the_same_filters() {
        let h = Harness::single().await;
        h.say(&admin(), "!cd run ops deploy-web --yes").await;
        h.say(&admin(), "!cd run ops broken-deploy --yes").await;
        h.advance(Duration::seconds(60)).await;
        h.chat.take();
        h.say(&admin(), "!cd history failed --csv").await;
        h.say(&admin(), "!cd history --json").await;
        let uploads: Vec<chatrixcd_ports::chat::FileUpload> = h
            .chat
            .take()
            .into_iter()
            .filter_map(|p| match p {
                crate::testing::Posted::Upload(f) => Some(f),
                _ => None,
            })
            .collect();
        assert_eq!(uploads.len(), 2, "{uploads:?}");
        let csv = String::from_utf8(uploads[0].bytes.clone()).unwrap();
        assert_eq!(uploads[0].file_name, "history.csv");
        assert!(csv.starts_with("id,started_at,ended_at,result,room,requester"), "{csv}");
        assert_eq!(csv.lines().count(), 2, "the header and the one failure\n{csv}");
        assert!(csv.contains(",error,") && csv.contains("broken-deploy"), "{csv}");
        assert_eq!(uploads[0].caption.as_deref(), Some("📜 1 run(s) (failed)"));
        let json = String::from_utf8(uploads[1].bytes.clone()).unwrap();
        let runs: Vec<serde_json::Value> = json.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0]["template_name"], "deploy-web", "oldest first");
        let audit = h.store.audit(chatrixcd_ports::Page { limit: 20, before: None }).await.unwrap();
        assert!(audit.iter().any(|a| a.action == "history.export"));
    }

    #[tokio::test]
    async fn purging_a_persons_runs_asks_first_is_audited_and_needs_audit() {
        let h = Harness::single().await;
        h.say(&admin(), "!cd run ops deploy-web --yes").await;
        h.say(&UserId::parse("@bob:test").unwrap(), "!cd run ops deploy-web --yes").await;
        h.chat.take();
        h.say(&UserId::parse("@victor:test").unwrap(), "!cd history purge @alice:test").await;
        assert!(h.chat.bodies().join("\n").contains("audit"), "a viewer may not");
        h.say(&admin(), "!cd history purge @alice:test").await;
        let asked = h.chat.bodies().join("\n");
        assert!(asked.contains("🧹 Remove the 1 run(s) of @alice:test from the history?"), "{asked}");
        h.say(&admin(), "yes").await;
        assert!(h.chat.bodies().join("\n").contains("🧹 Removed 1 run(s) of @alice:test from the history."));
        let runs = h.store.runs(chatrixcd_ports::Page { limit: 10, before: None }).await.unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].requester.as_str(), "@bob:test");
        let audit = h.store.audit(chatrixcd_ports::Page { limit: 20, before: None }).await.unwrap();
        assert!(audit.iter().any(|a| a.action == "history.purge" && a.detail == "@alice:test: 1 run(s)"), "{audit:?}");
        h.say(&admin(), "!cd history purge @alice:test").await;
        assert!(h.chat.bodies().join("\n").contains("The history holds no runs of @alice:test."));
        h.say(&admin(), "!cd history purge bob").await;
        assert!(h.chat.bodies().join("\n").contains("`bob` is not a Matrix user id"));
    }
}
