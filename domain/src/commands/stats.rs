//! `stats [today|week|month] [--since …] [--until …] [--by user|template|project|instance]
//! [--template …]`: what the bot's runs add up to, over the runs the caller may read: how many,
//! the success rate, p50/p95 durations, failures by template, the busiest people and hours, a
//! table by the dimension asked for, and a chart (PNG, one bar per day, stacked by result; for
//! one template, its median duration per day) uploaded beside a text that holds the same numbers.

use std::collections::BTreeMap;

use chatrixcd_ports::store::RunRecord;
use chatrixcd_ports::TaskStatus;
use chrono::{DateTime, Duration, NaiveDate, Timelike as _, Utc};
use chrono_tz::Tz;

use crate::commands::history::parse_filters;
use crate::commands::{Command, CommandError, needs_nothing};
use crate::core::{Ctx, Request};
use crate::grammar::{ArgSpec, CommandSpec, FlagSpec, Parsed, ValueKind};
use crate::permissions::Permission;
use crate::render::chart::{self, BLUE, Bar, Chart, GREEN, GREY, RED};
use crate::render::duration::human;
use crate::render::Reply;

/// The most runs one `stats` reads (newest first); the reply says when there were more.
const MAX_RUNS: usize = 200_000;
/// The most days a chart shows (the newest).
const MAX_DAYS: usize = 62;

pub(crate) static SPEC: CommandSpec = CommandSpec {
    name: "stats",
    aliases: &["statistics"],
    summary: "What the bot's runs add up to, with a chart",
    args: &[ArgSpec {
        name: "period",
        kind: ValueKind::Words,
        required: false,
        help: "today, week or month (default: month), and any of history's filters (me, @user, failed…)",
    }],
    flags: &[
        FlagSpec::word("since", "from this day (2026-11-01) or time"),
        FlagSpec::word("until", "to the end of this day, or this time"),
        FlagSpec::word("by", "a table by user, template, project or instance"),
        FlagSpec::word("template", "one template (id or name): its duration trend"),
        FlagSpec::word("project", "only this project (id or name)"),
        FlagSpec::word("instance", "only this Semaphore instance"),
    ],
    subcommands: &[],
    examples: &["stats", "stats week --by template", "stats --since 2026-11-01 --by user", "stats month --template deploy-web"],
    hidden: false,
    permission: Some(Permission::Read),
};

pub(crate) static COMMAND: Command =
    Command { spec: &SPEC, needs: needs_nothing, run: |ctx, req, p| Box::pin(execute(ctx, req, p)) };

/// How `--by` groups runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum By {
    User,
    Template,
    Project,
    Instance,
}

impl By {
    fn parse(given: &str) -> Result<Self, CommandError> {
        match given.to_ascii_lowercase().as_str() {
            "user" | "users" | "who" => Ok(Self::User),
            "template" | "templates" => Ok(Self::Template),
            "project" | "projects" => Ok(Self::Project),
            "instance" | "instances" => Ok(Self::Instance),
            other => Err(CommandError::Usage(format!("`--by {other}` is not one of: user, template, project, instance."))),
        }
    }

    fn key(self, run: &RunRecord) -> String {
        match self {
            Self::User => run.requester.to_string(),
            Self::Template => run.template_name.clone(),
            Self::Project => run.project_name.clone(),
            Self::Instance => run.instance.to_string(),
        }
    }

    fn title(self) -> &'static str {
        match self {
            Self::User => "Who",
            Self::Template => "Template",
            Self::Project => "Project",
            Self::Instance => "Instance",
        }
    }
}

/// One group's figures.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Figures {
    pub runs: u64,
    pub finished: u64,
    pub succeeded: u64,
    pub failed: u64,
    /// Durations of the finished runs, in seconds.
    durations: Vec<i64>,
}

impl Figures {
    fn add(&mut self, run: &RunRecord) {
        self.runs += 1;
        if let (Some(result), Some(end)) = (&run.result, run.ended_at) {
            self.finished += 1;
            if *result == TaskStatus::Success {
                self.succeeded += 1;
            } else {
                self.failed += 1;
            }
            self.durations.push((end - run.started_at).num_seconds().max(0));
        }
    }

    /// The `p`th percentile of the finished runs' durations (nearest rank).
    pub(crate) fn percentile(&self, p: f64) -> Option<Duration> {
        let mut sorted = self.durations.clone();
        sorted.sort_unstable();
        let n = sorted.len();
        if n == 0 {
            return None;
        }
        let rank = ((p * n as f64).ceil() as usize).clamp(1, n);
        Some(Duration::seconds(sorted[rank - 1]))
    }

    fn success_rate(&self) -> Option<u64> {
        (self.succeeded * 100).checked_div(self.finished)
    }
}

/// Everything `stats` says, computed from the runs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Summary {
    pub all: Figures,
    pub by: Vec<(String, Figures)>,
    pub failures_by_template: Vec<(String, u64)>,
    pub busiest_users: Vec<(String, u64)>,
    /// (hour of day in the bot's zone, runs), busiest first.
    pub busiest_hours: Vec<(u32, u64)>,
    /// Each day from the first to the last, oldest first.
    pub days: Vec<(NaiveDate, Figures)>,
}

fn top(counts: BTreeMap<String, u64>, n: usize) -> Vec<(String, u64)> {
    let mut list: Vec<(String, u64)> = counts.into_iter().filter(|(_, c)| *c > 0).collect();
    list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    list.truncate(n);
    list
}

/// Adds up `runs` (any order), with days from `first` to `last` in `zone`.
pub(crate) fn summarise(runs: &[RunRecord], by: By, zone: Tz, first: NaiveDate, last: NaiveDate) -> Summary {
    let mut all = Figures::default();
    let mut groups: BTreeMap<String, Figures> = BTreeMap::new();
    let mut failures: BTreeMap<String, u64> = BTreeMap::new();
    let mut users: BTreeMap<String, u64> = BTreeMap::new();
    let mut hours: BTreeMap<u32, u64> = BTreeMap::new();
    let mut days: BTreeMap<NaiveDate, Figures> = BTreeMap::new();
    let mut day = first;
    while day <= last {
        days.insert(day, Figures::default());
        match day.succ_opt() {
            Some(next) => day = next,
            None => break,
        }
    }
    for run in runs {
        all.add(run);
        groups.entry(by.key(run)).or_default().add(run);
        if run.result.as_ref().is_some_and(|r| *r != TaskStatus::Success) {
            *failures.entry(run.template_name.clone()).or_default() += 1;
        }
        *users.entry(run.requester.to_string()).or_default() += 1;
        let local = run.started_at.with_timezone(&zone);
        *hours.entry(local.hour()).or_default() += 1;
        if let Some(figures) = days.get_mut(&local.date_naive()) {
            figures.add(run);
        }
    }
    let mut by: Vec<(String, Figures)> = groups.into_iter().collect();
    by.sort_by(|a, b| b.1.runs.cmp(&a.1.runs).then_with(|| a.0.cmp(&b.0)));
    let mut busiest_hours: Vec<(u32, u64)> = hours.into_iter().collect();
    busiest_hours.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    busiest_hours.truncate(3);
    Summary {
        all,
        by,
        failures_by_template: top(failures, 5),
        busiest_users: top(users, 5),
        busiest_hours,
        days: days.into_iter().collect(),
    }
}

/// The chart of a summary: runs per day by result, or for one template its median duration.
pub(crate) fn chart_of(summary: &Summary, durations: bool) -> Chart {
    let days = &summary.days[summary.days.len().saturating_sub(MAX_DAYS)..];
    let bars = days
        .iter()
        .map(|(day, f)| {
            let label = day.format("%d").to_string();
            let segments = if durations {
                vec![(f.percentile(0.5).map_or(0, |d| d.num_seconds().max(0).unsigned_abs()), BLUE)]
            } else {
                vec![(f.succeeded, GREEN), (f.failed, RED), (f.runs - f.finished, GREY)]
            };
            Bar { label, segments }
        })
        .collect();
    Chart { bars, unit: if durations { "s" } else { "" } }
}

fn took(d: Option<Duration>) -> String {
    d.map_or_else(|| "—".to_owned(), human)
}

async fn execute(ctx: Ctx<'_>, req: &Request, p: &Parsed) -> Result<(), CommandError> {
    let words: Vec<String> = p.arg("period").map(crate::grammar::split_words).unwrap_or_default();
    let zone = crate::cron::zone(&ctx.settings().schedule_zone).unwrap_or(Tz::UTC);
    let now = ctx.now();
    let mut filters = parse_filters(&words, p.flag("since"), p.flag("until"), &req.sender, now, zone)?;
    if filters.query.since.is_none() {
        filters.query.since = Some(now - Duration::days(30));
    }
    if let Some(name) = p.flag("instance") {
        let instance = ctx.instances().resolve(name).map_err(|e| CommandError::Usage(e.describe()))?;
        filters.query.instance = Some(instance.id);
    }
    filters.query.project = p.flag("project").map(str::to_owned);
    filters.query.template = p.flag("template").map(str::to_owned);
    let by = p.flag("by").map(By::parse).transpose()?.unwrap_or(if filters.query.template.is_some() { By::User } else { By::Template });
    let (runs, truncated) = crate::commands::history::visible_runs(ctx, req, &filters.query, MAX_RUNS).await?;
    let since: DateTime<Utc> = filters.query.since.unwrap_or(now);
    let until = filters.query.until.unwrap_or(now).min(now);
    let first = since.with_timezone(&zone).date_naive();
    let last = (until - Duration::seconds(1)).max(since).with_timezone(&zone).date_naive();
    let summary = summarise(&runs, by, zone, first, last);
    let period = format!("{} – {}", first.format("%Y-%m-%d"), last.format("%Y-%m-%d"));
    let text = describe(&summary, by, &period, truncated);
    let one_template = filters.query.template.is_some();
    ctx.reply(req, text.clone()).await;
    if summary.all.runs == 0 {
        return Ok(());
    }
    let chart = chart_of(&summary, one_template);
    let png = chart::png(&chart).map_err(|e| CommandError::Refused(format!("The chart could not be drawn: {e}.")))?;
    let caption = if one_template {
        format!("Median duration per day, {period} (the numbers are in the message above)")
    } else {
        format!("Runs per day, {period}: green succeeded, red failed, grey not ended (the numbers are in the message above)")
    };
    let file = chatrixcd_ports::chat::FileUpload { file_name: "stats.png".into(), mime_type: "image/png".into(), bytes: png, caption: Some(caption) };
    // Through the outbox, like everything the bot sends: counted, its caption redacted.
    ctx.out().upload(&req.room, file).await?;
    Ok(())
}

fn describe(s: &Summary, by: By, period: &str, truncated: bool) -> Reply {
    let a = &s.all;
    let mut reply = Reply::notice().bold(&format!("📊 Runs {period}"));
    if a.runs == 0 {
        return reply.line().push("No runs in that period.");
    }
    let rate = a.success_rate().map_or_else(|| "—".to_owned(), |r| format!("{r}%"));
    reply = reply.line().push(&format!(
        "{} run(s), {} ended: {} succeeded, {} failed ({rate} successful). Duration p50 {}, p95 {}.",
        a.runs,
        a.finished,
        a.succeeded,
        a.failed,
        took(a.percentile(0.5)),
        took(a.percentile(0.95))
    ));
    if truncated {
        reply = reply.line().push(&format!("(The newest {MAX_RUNS} runs only: narrow the period for the rest.)"));
    }
    let rows: Vec<Vec<String>> = s
        .by
        .iter()
        .take(15)
        .map(|(name, f)| {
            vec![
                name.clone(),
                f.runs.to_string(),
                f.success_rate().map_or_else(|| "—".to_owned(), |r| format!("{r}%")),
                took(f.percentile(0.5)),
                took(f.percentile(0.95)),
            ]
        })
        .collect();
    reply = reply.line().table(&[by.title(), "Runs", "Success", "p50", "p95"], &rows);
    let list = |items: &[(String, u64)]| items.iter().map(|(k, n)| format!("{k} ({n})")).collect::<Vec<_>>().join(", ");
    if !s.failures_by_template.is_empty() {
        reply = reply.line().push(&format!("Failures by template: {}.", list(&s.failures_by_template)));
    }
    reply = reply.line().push(&format!("Busiest: {}.", list(&s.busiest_users)));
    let hours: Vec<String> = s.busiest_hours.iter().map(|(h, n)| format!("{h:02}:00 ({n})")).collect();
    reply = reply.line().push(&format!("Busiest hours: {}.", hours.join(", ")));
    let per_day: Vec<String> = s.days.iter().filter(|(_, f)| f.runs > 0).map(|(d, f)| format!("{} {}/{}", d.format("%m-%d"), f.succeeded, f.runs)).collect();
    if !per_day.is_empty() {
        reply = reply.line().push(&format!("Per day (succeeded/runs): {}.", per_day.join(", ")));
    }
    reply
}

#[cfg(test)]
mod tests {
    use chatrixcd_ports::{InstanceId, ProjectId, RoomId, TaskId, TemplateId, UserId};
    use chrono::{Duration, NaiveDate, TimeZone as _, Utc};
    use chrono_tz::Tz;

    use super::*;
    use crate::testing::{Harness, admin};

    fn run(day: u32, hour: u32, who: &str, template: &str, result: Option<TaskStatus>, secs: i64) -> RunRecord {
        let started = Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0).unwrap();
        RunRecord {
            id: 0,
            room: RoomId::parse("!ops:test").unwrap(),
            requester: UserId::parse(who).unwrap(),
            instance: InstanceId::parse("default").unwrap(),
            project: ProjectId::new(1),
            project_name: "ops".into(),
            template: TemplateId::new(1),
            template_name: template.into(),
            task: TaskId::new(u64::from(day * 100 + hour)),
            parameters: Default::default(),
            started_at: started,
            ended_at: result.is_some().then(|| started + Duration::seconds(secs)),
            result,
        }
    }

    #[test]
    fn a_summary_adds_up_rates_percentiles_tops_and_days_and_its_chart_holds_the_same_numbers() {
        let ok = Some(TaskStatus::Success);
        let bad = Some(TaskStatus::Error);
        let runs = vec![
            run(1, 9, "@ann:test", "deploy", ok.clone(), 60),
            run(1, 9, "@ann:test", "deploy", bad.clone(), 30),
            run(2, 14, "@bob:test", "deploy", ok.clone(), 120),
            run(3, 9, "@ann:test", "backup", ok.clone(), 600),
            run(3, 23, "@bob:test", "backup", None, 0),
        ];
        let day = |d| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
        let s = summarise(&runs, By::Template, Tz::UTC, day(1), day(4));
        assert_eq!((s.all.runs, s.all.finished, s.all.succeeded, s.all.failed), (5, 4, 3, 1));
        assert_eq!(s.all.success_rate(), Some(75));
        assert_eq!(s.all.percentile(0.5), Some(Duration::seconds(60)));
        assert_eq!(s.all.percentile(0.95), Some(Duration::seconds(600)));
        assert_eq!(s.by.iter().map(|(k, f)| (k.as_str(), f.runs)).collect::<Vec<_>>(), [("deploy", 3), ("backup", 2)]);
        assert_eq!(s.failures_by_template, [("deploy".to_owned(), 1)]);
        assert_eq!(s.busiest_users, [("@ann:test".to_owned(), 3), ("@bob:test".to_owned(), 2)]);
        assert_eq!(s.busiest_hours, [(9, 3), (14, 1), (23, 1)]);
        assert_eq!(s.days.len(), 4, "every day of the period, also an empty one");
        let chart = chart_of(&s, false);
        let bars: Vec<(String, Vec<u64>)> =
            chart.bars.iter().map(|b| (b.label.clone(), b.segments.iter().map(|(v, _)| *v).collect())).collect();
        insta::assert_debug_snapshot!("stats_chart_runs", bars);
        let trend = chart_of(&summarise(&runs[..3], By::User, Tz::UTC, day(1), day(2)), true);
        assert_eq!(trend.bars.iter().map(|b| b.segments[0].0).collect::<Vec<_>>(), [30, 120], "the median per day, in seconds");
        // A Berlin evening run counts on the next local day.
        let s = summarise(&[run(1, 23, "@ann:test", "deploy", ok, 5)], By::User, "Europe/Berlin".parse().unwrap(), day(1), day(2));
        assert_eq!(s.days.iter().map(|(_, f)| f.runs).collect::<Vec<_>>(), [0, 1]);
    }

    #[tokio::test]
    async fn stats_answers_with_text_and_a_chart_and_names_bad_input() {
        let h = Harness::single().await;
        h.say(&admin(), "!cd run ops deploy-web --yes").await;
        h.say(&admin(), "!cd run ops broken-deploy --yes").await;
        h.advance(Duration::seconds(60)).await;
        h.chat.take();
        h.say(&admin(), "!cd stats week --by template").await;
        let posted = h.chat.take();
        let text: Vec<String> = posted
            .iter()
            .filter_map(|p| match p {
                crate::testing::Posted::Message(_, m) => Some(m.body.clone()),
                _ => None,
            })
            .collect();
        let said = text.join("\n");
        assert!(said.contains("2 run(s), 2 ended: 1 succeeded, 1 failed (50% successful)"), "{said}");
        assert!(said.contains("Failures by template: broken-deploy (1)."), "{said}");
        let png = posted.iter().find_map(|p| match p {
            crate::testing::Posted::Upload(f) if f.mime_type == "image/png" => Some(f.bytes.clone()),
            _ => None,
        });
        let png = png.expect("a chart");
        let reader = png::Decoder::new(std::io::Cursor::new(png)).read_info().unwrap();
        assert_eq!((reader.info().width, reader.info().height), (chart::WIDTH, chart::HEIGHT));
        for (line, wanted) in [
            ("!cd stats --by colour", "`--by colour` is not one of"),
            ("!cd stats today week", "contradict"),
            ("!cd stats --since 2026-13-01", "is not a date"),
        ] {
            h.say(&admin(), line).await;
            assert!(h.chat.bodies().join("\n").contains(wanted), "{line}");
        }
        h.say(&admin(), "!cd stats --since 2020-01-01 --until 2020-01-02").await;
        let said = h.chat.take();
        assert!(said.iter().all(|p| !matches!(p, crate::testing::Posted::Upload(_))), "no chart of nothing");
    }
}
