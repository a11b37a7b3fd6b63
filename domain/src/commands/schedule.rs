//! `schedule add|list|show|remove|pause|resume|next`: recurring runs made in chat. A schedule
//! runs its template as its owner (their grants at each slot), posts in its room like a run,
//! and is kept in the store; adding and removing ask first and need `schedule` on the target;
//! everything is audited. Firing is in `schedules.rs`.

use chatrixcd_ports::RoomId;
use chatrixcd_ports::schedule::{Missed, Schedule};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use chatrixcd_ports::semaphore::SurveyVarType;

use crate::commands::grant::capitalised;
use crate::commands::{Command, CommandError, needs_nothing};
use crate::confirm::Approver;
use crate::core::{Ctx, Request};
use crate::cron::CronExpr;
use crate::grammar::{ArgSpec, CommandSpec, FlagSpec, Parsed, ValueKind};
use crate::permissions::{Permission, Target};
use crate::plans::{PendingAction, ScheduleChange};
use crate::render::Reply;

static ADD_ARGS: [ArgSpec; 4] = [
    ArgSpec {
        name: "cron",
        kind: ValueKind::Word,
        required: true,
        help: "five fields in quotes, or @hourly, @daily, @weekly, @monthly, @yearly",
    },
    ArgSpec {
        name: "target",
        kind: ValueKind::Word,
        required: true,
        help: "the project and template, as run takes them: prod:1:5, staging:ops:deploy-web, or `1 5`",
    },
    ArgSpec {
        name: "template",
        kind: ValueKind::Word,
        required: false,
        help: "the template, when the target names only the project (else this is the name)",
    },
    ArgSpec { name: "name", kind: ValueKind::Word, required: false, help: "what it is, for people, in quotes" },
];

static ADD_FLAGS: [FlagSpec; 6] = [
    FlagSpec { name: "tz", aliases: &["zone"], value: Some(ValueKind::Word), repeatable: false, help: "the time zone the expression is read in (default: the bot's)" },
    FlagSpec { name: "var", aliases: &[], value: Some(ValueKind::Word), repeatable: true, help: "a survey variable, name=value" },
    FlagSpec { name: "preset", aliases: &[], value: Some(ValueKind::Word), repeatable: false, help: "start each run from this preset (looked up at each slot); --var overrides it" },
    FlagSpec { name: "missed", aliases: &[], value: Some(ValueKind::Word), repeatable: false, help: "slots missed while the bot is down: skip, once (default) or all" },
    FlagSpec { name: "room", aliases: &[], value: Some(ValueKind::Word), repeatable: false, help: "the room it posts in (its id, !…; default: here)" },
    FlagSpec { name: "yes", aliases: &["y"], value: None, repeatable: false, help: "do not ask for confirmation" },
];

static ID_ARG: [ArgSpec; 1] = [ArgSpec { name: "id", kind: ValueKind::Number, required: true, help: "the schedule's number, as `schedule list` shows it" }];

static YES: [FlagSpec; 1] = [FlagSpec { name: "yes", aliases: &["y"], value: None, repeatable: false, help: "do not ask for confirmation" }];

static LIST_FLAGS: [FlagSpec; 2] = [
    FlagSpec { name: "all", aliases: &[], value: None, repeatable: false, help: "every room's, not only this room's (with --semaphore: every instance's)" },
    FlagSpec { name: "semaphore", aliases: &["server"], value: None, repeatable: false, help: "also Semaphore's own schedules (read-only), of this room's instance" },
];

pub(crate) static SPEC: CommandSpec = CommandSpec {
    name: "schedule",
    aliases: &["schedules", "cron"],
    summary: "Recurring runs: add, list, show, pause, resume or remove a schedule",
    args: &[],
    flags: &[],
    subcommands: &[
        CommandSpec { name: "list", aliases: &["ls"], summary: "This room's schedules", flags: &LIST_FLAGS, ..CommandSpec::BASE },
        CommandSpec {
            name: "add",
            summary: "Run a template on a cron schedule (asks first)",
            args: &ADD_ARGS,
            flags: &ADD_FLAGS,
            examples: &["schedule add \"0 2 * * *\" prod:1:5 \"Nightly build\" --tz Europe/Berlin", "schedule add \"* * * * *\" 1 2 \"every minute\""],
            permission: Some(Permission::Schedule),
            ..CommandSpec::BASE
        },
        CommandSpec { name: "show", summary: "A schedule: its next five slots and last five runs", args: &ID_ARG, ..CommandSpec::BASE },
        CommandSpec {
            name: "remove",
            aliases: &["rm", "delete"],
            summary: "Remove a schedule (asks first)",
            args: &ID_ARG,
            flags: &YES,
            permission: Some(Permission::Schedule),
            ..CommandSpec::BASE
        },
        CommandSpec { name: "pause", summary: "Stop a schedule firing until resumed", args: &ID_ARG, permission: Some(Permission::Schedule), ..CommandSpec::BASE },
        CommandSpec { name: "resume", summary: "Let a paused schedule fire again", args: &ID_ARG, permission: Some(Permission::Schedule), ..CommandSpec::BASE },
        CommandSpec { name: "next", summary: "The next slots of this room's schedules", ..CommandSpec::BASE },
    ],
    examples: &["schedule list", "schedule add \"*/30 * * * *\" staging:ops:deploy-web \"Half-hourly deploy\""],
    hidden: false,
    permission: Some(Permission::Read),
};

pub(crate) static COMMAND: Command =
    Command { spec: &SPEC, needs: needs_nothing, run: |ctx, req, p| Box::pin(execute(ctx, req, p)) };

/// What a schedule is about, for the policy.
pub(crate) fn target(s: &Schedule) -> Target<'_> {
    Target {
        instance: Some(s.instance),
        project_id: Some(s.project.get()),
        project: Some(&s.project_name),
        template_id: Some(s.template.get()),
        template: Some(&s.template_name),
        some_of: false,
    }
}

async fn execute(ctx: Ctx<'_>, req: &Request, p: &Parsed) -> Result<(), CommandError> {
    match p.sub() {
        Some("add") => add(ctx, req, p).await,
        Some("show") => show(ctx, req, p).await,
        Some("remove") => remove(ctx, req, p).await,
        Some("pause") => set_paused(ctx, req, p, true).await,
        Some("resume") => set_paused(ctx, req, p, false).await,
        Some("next") => next(ctx, req).await,
        _ => list(ctx, req, p.switch("all"), p.switch("semaphore")).await,
    }
}

fn zone_of(s: &Schedule) -> Tz {
    crate::cron::zone(&s.zone).unwrap_or(Tz::UTC)
}

fn local(at: DateTime<Utc>, zone: Tz) -> String {
    at.with_timezone(&zone).format("%a %Y-%m-%d %H:%M %Z").to_string()
}

fn visible(ctx: &Ctx<'_>, req: &Request, s: &Schedule) -> bool {
    ctx.may(req, Permission::Read, &target(s))
}

/// A schedule being added, as typed: everything but the values a dialog may still ask for.
#[derive(Debug, Clone)]
pub(crate) struct Draft {
    cron: String,
    zone: Tz,
    missed: Missed,
    room: RoomId,
    name: Option<String>,
    preset: Option<String>,
    /// The schedule's own variables (a preset's stay in the preset).
    pub(crate) vars: Vec<(String, String)>,
    pub(crate) yes: bool,
}

async fn add(ctx: Ctx<'_>, req: &Request, p: &Parsed) -> Result<(), CommandError> {
    let now = ctx.now();
    let zone_name = p.flag("tz").map(str::to_owned).unwrap_or_else(|| ctx.settings().schedule_zone.clone());
    let zone = crate::cron::zone(&zone_name).map_err(|e| CommandError::Usage(format!("{e}.")))?;
    let seconds = ctx.settings().schedule_seconds;
    let cron = CronExpr::parse_with(p.arg("cron").unwrap_or_default(), zone, now, seconds)
        .map_err(|e| CommandError::Usage(format!("{e}.")))?;
    let missed = match p.flag("missed").map(str::to_ascii_lowercase).as_deref() {
        None | Some("once") => Missed::Once,
        Some("skip") => Missed::Skip,
        Some("all") => Missed::All { at_most: ctx.settings().schedule_missed_at_most },
        Some(other) => return Err(CommandError::Usage(format!("`--missed {other}` is not one of: skip, once, all."))),
    };
    let room = match p.flag("room") {
        None => req.room.clone(),
        Some(r) => RoomId::parse(r).map_err(|e| CommandError::Usage(format!("{e}. Name the room by its id (!…).")))?,
    };
    let allowed = &ctx.settings().allowed_rooms;
    if !allowed.is_empty() && !allowed.contains(&room) {
        return Err(CommandError::Refused(format!("I do not answer in {room} (bot.allowed_rooms), so a schedule cannot post there.")));
    }
    let in_room = ctx.core().schedules.list().iter().filter(|s| s.room == room).count();
    let max = ctx.settings().max_schedules_per_room;
    if in_room >= max {
        return Err(CommandError::Refused(format!("{room} already has {in_room} schedule(s), the most a room may have ({max}); remove one first.")));
    }
    let vars = crate::commands::run::vars(p)?;
    // Resolved and checked as a run would be (names, variables, the run permission), now.
    // `prod:1:5 "Nightly"` names the template in the reference; `1 5 "Nightly"` in the next word.
    let reference = p.arg("target").unwrap_or_default().to_owned();
    let names_template = reference.split(':').count() == 3;
    let (template, name_given) = if names_template {
        (None, p.arg("template").or(p.arg("name")).map(str::to_owned))
    } else {
        (p.arg("template"), p.arg("name").map(str::to_owned))
    };
    let draft = Draft {
        cron: cron.as_str().to_owned(),
        zone,
        missed,
        room,
        name: name_given,
        preset: p.flag("preset").map(str::to_owned),
        vars,
        yes: p.switch("yes"),
    };
    let args = crate::commands::run::Args::scheduled(&reference, template, &draft.vars, String::new())?;
    let (args, preset) = match &draft.preset {
        Some(name) => {
            let (args, preset) = crate::commands::preset::apply(ctx, &req.sender, &draft.room, name, args).await?;
            (args, Some(preset))
        }
        None => (args, None),
    };
    let resolved = crate::commands::run::resolve(ctx, req, args.project.as_ref(), args.template.as_deref(), Permission::Run).await?;
    // Refused below or not, the secret stays out of the room's history.
    crate::commands::run::delete_typed_secret(ctx, req, &resolved.template, &draft.vars).await;
    if let Some(preset) = &preset {
        crate::commands::preset::check(preset, &resolved)?;
    }
    // A schedule keeps its own variables in the store as they are: secrets belong in a preset,
    // where they are sealed.
    let is_secret = |name: &str| resolved.template.survey_vars.iter().any(|v| v.name == name && v.var_type == SurveyVarType::Secret);
    if let Some((name, _)) = draft.vars.iter().find(|(k, _)| is_secret(k)) {
        return Err(CommandError::Refused(format!(
            "`{name}` is secret, and a schedule keeps its variables as they are; save it in a preset (its secrets are sealed) and use --preset."
        )));
    }
    let missing = crate::commands::run::missing_required(&resolved.template, &args.vars);
    if let Some(secret) = missing.iter().find(|v| v.var_type == SurveyVarType::Secret) {
        return Err(CommandError::Refused(format!(
            "{} needs the secret `{}`, which a schedule cannot keep; save it in a preset and use --preset.",
            resolved.template.name, secret.name
        )));
    }
    if !missing.is_empty() && req.via_hook.is_none() {
        crate::commands::run::build_request(&resolved.template, &args, true)?;
        crate::dialog::start_schedule(ctx, req, resolved, args, draft).await;
        return Ok(());
    }
    finish_add(ctx, req, draft, resolved, &args).await
}

/// Adds the schedule of `draft` (after its dialog, if it needed one): checked as its run will
/// be, then confirmed.
pub(crate) async fn finish_add(
    ctx: Ctx<'_>,
    req: &Request,
    draft: Draft,
    resolved: crate::commands::run::Resolved,
    args: &crate::commands::run::Args,
) -> Result<(), CommandError> {
    let now = ctx.now();
    let (plan, policy) = crate::commands::run::plan(ctx, resolved, args)?;
    let name = draft.name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()).unwrap_or_else(|| plan.template.name.clone());
    let cron = CronExpr::stored(&draft.cron, ctx.settings().schedule_seconds).map_err(|e| CommandError::Usage(format!("{e}.")))?;
    let zone = draft.zone;
    let schedule = Schedule {
        id: 0,
        room: draft.room,
        owner: req.sender.clone(),
        name,
        cron: draft.cron.clone(),
        zone: zone.name().to_owned(),
        instance: plan.instance,
        project: plan.project.id,
        project_name: plan.project.name.clone(),
        template: plan.template.id,
        template_name: plan.template.name.clone(),
        vars: draft.vars,
        preset: draft.preset,
        missed: draft.missed,
        paused: None,
        created_at: now,
        last_slot: None,
    };
    ctx.authorize(req, Permission::Schedule, &target(&schedule)).await?;
    let change = ScheduleChange::Add(schedule);
    let two_person = policy == crate::settings::ConfirmPolicy::TwoPerson;
    if draft.yes && !two_person {
        return perform(ctx, req, change).await;
    }
    let first = cron.upcoming(zone, now, 3).into_iter().map(|t| local(t, zone)).collect::<Vec<_>>().join(", ");
    let action = PendingAction::Schedule(Box::new(change));
    let mut question = Reply::notice()
        .bold(&format!("⏰ {}?", capitalised(&action.describe())))
        .line()
        .push(&format!("First slots: {first}."));
    let approver = if two_person {
        question = question.line().push("🔐 Its template needs a second person's approval: someone else who may schedule it confirms.");
        Approver::OtherAdmin
    } else {
        Approver::Requester
    };
    ctx.ask(req, action, approver, ctx.settings().short_confirm_timeout, question).await;
    Ok(())
}

/// Adds or removes, once confirmed.
pub(crate) async fn perform(ctx: Ctx<'_>, req: &Request, change: ScheduleChange) -> Result<(), CommandError> {
    match change {
        ScheduleChange::Add(mut schedule) => {
            schedule.id = ctx.store().put_schedule(schedule.clone()).await?;
            let zone = zone_of(&schedule);
            let next = CronExpr::stored(&schedule.cron, ctx.settings().schedule_seconds)
                .ok()
                .and_then(|c| c.next_after(zone, ctx.now()))
                .map_or_else(|| "never".to_owned(), |t| local(t, zone));
            ctx.audit(req, "schedule.add", format!("#{} {} {} {}", schedule.id, schedule.cron, schedule.zone, schedule.template_name)).await;
            let reply = Reply::notice().push(&format!(
                "⏰ Schedule #{} “{}” added: {} ({}), first at {next}.",
                schedule.id, schedule.name, schedule.cron, schedule.zone
            ));
            ctx.core().schedules.put(schedule);
            ctx.reply(req, reply).await;
        }
        ScheduleChange::Remove(schedule) => {
            ctx.store().remove_schedule(schedule.id).await?;
            ctx.core().schedules.remove(schedule.id);
            ctx.audit(req, "schedule.remove", format!("#{} {}", schedule.id, schedule.name)).await;
            ctx.reply(req, Reply::notice().push(&format!("🗑️ Schedule #{} “{}” removed.", schedule.id, schedule.name))).await;
        }
    }
    Ok(())
}

fn find(ctx: &Ctx<'_>, req: &Request, p: &Parsed) -> Result<Schedule, CommandError> {
    let id: u64 = p.arg("id").unwrap_or_default().trim_start_matches('#').parse().map_err(|_| CommandError::Usage("A schedule's number, e.g. `3`.".into()))?;
    ctx.core()
        .schedules
        .list()
        .into_iter()
        .find(|s| s.id == id && visible(ctx, req, s))
        .ok_or_else(|| CommandError::Refused(format!("There is no schedule #{id} (`{} schedule list` shows them).", ctx.settings().prefix)))
}

async fn list(ctx: Ctx<'_>, req: &Request, all: bool, semaphore: bool) -> Result<(), CommandError> {
    let now = ctx.now();
    let schedules: Vec<Schedule> = ctx.core().schedules.list().into_iter().filter(|s| (all || s.room == req.room) && visible(&ctx, req, s)).collect();
    let prefix = &ctx.settings().prefix;
    let reply = if schedules.is_empty() {
        Reply::notice()
            .push(if all { "No schedules." } else { "This room has no schedules. " })
            .code(&format!("{prefix} schedule add \"0 2 * * *\" <project> <template> <name>"))
            .push(" adds one.")
    } else {
        let rows: Vec<Vec<String>> = schedules
            .iter()
            .map(|s| {
                let next = ctx.core().schedules.upcoming(s.id, now, 1).first().map_or_else(|| "—".to_owned(), |t| local(*t, zone_of(s)));
                let state = s.paused.as_ref().map_or_else(|| next, |why| format!("paused: {why}"));
                vec![format!("#{}", s.id), s.name.clone(), format!("{} ({})", s.cron, s.zone), s.template_name.clone(), state]
            })
            .collect();
        Reply::notice().bold("Schedules").table(&["", "Name", "When", "Template", "Next"], &rows)
    };
    let reply = if semaphore { server_schedules(ctx, req, all, reply.line()).await? } else { reply };
    ctx.reply(req, reply).await;
    Ok(())
}

/// Semaphore's own schedules, read-only: of the room's instance, or of every instance with
/// `--all`; only projects and templates the caller may read. An instance that cannot be read
/// is named, the others are still shown.
async fn server_schedules(ctx: Ctx<'_>, req: &Request, all: bool, mut reply: Reply) -> Result<Reply, CommandError> {
    let instances: Vec<&crate::instances::Instance> =
        if all { ctx.instances().iter().collect() } else { vec![ctx.instance_for(&req.room, None).await?] };
    let multi = ctx.instances().is_multi();
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for instance in instances {
        let projects = match instance.semaphore.projects().await {
            Ok(projects) => ctx.readable_projects(req, instance.id, projects),
            Err(e) => {
                failures.push(format!("{}: {}", instance.id, crate::bot::shown(ctx.core(), &e)));
                continue;
            }
        };
        for project in projects {
            let schedules = match instance.semaphore.schedules(project.id).await {
                Ok(list) => list,
                Err(e) => {
                    failures.push(format!("{} / {}: {}", instance.id, project.name, crate::bot::shown(ctx.core(), &e)));
                    continue;
                }
            };
            for s in schedules {
                let template = s.template_name.clone().unwrap_or_else(|| format!("template {}", s.template_id));
                let readable = Target {
                    instance: Some(instance.id),
                    project_id: Some(project.id.get()),
                    project: Some(&project.name),
                    template_id: Some(s.template_id.get()),
                    template: Some(&template),
                    some_of: false,
                };
                if !ctx.may(req, Permission::Read, &readable) {
                    continue;
                }
                let when = match s.run_at {
                    Some(at) => format!("once, {}", at.format("%Y-%m-%d %H:%M UTC")),
                    None => s.cron.clone(),
                };
                let mut state = if s.active { "active".to_owned() } else { "inactive".to_owned() };
                if s.repository_id.is_some() {
                    state.push_str(", on new commits only");
                }
                let place = if multi { format!("{}:{}", instance.id, project.name) } else { project.name.clone() };
                let name = if s.name.is_empty() { "—".to_owned() } else { s.name.clone() };
                rows.push(vec![format!("{}", s.id), name, when, format!("{template} ({})", s.template_id), place, state]);
            }
        }
    }
    reply = reply.bold("Semaphore's own schedules");
    reply = if rows.is_empty() {
        reply.push(": none.")
    } else {
        reply
            .push(" (read-only; in the server's time zone, and they post nothing here)")
            .table(&["ID", "Name", "When", "Template", "Project", "State"], &rows)
    };
    for failure in failures {
        reply = reply.line().push(&format!("⚠️ Could not read {failure}."));
    }
    Ok(reply)
}

async fn show(ctx: Ctx<'_>, req: &Request, p: &Parsed) -> Result<(), CommandError> {
    let s = find(&ctx, req, p)?;
    let zone = zone_of(&s);
    let now = ctx.now();
    let next: Vec<String> = ctx.core().schedules.upcoming(s.id, now, 5).into_iter().map(|t| local(t, zone)).collect();
    let runs = ctx.store().slots(s.id, 5).await?;
    let mut reply = Reply::notice()
        .bold(&format!("⏰ Schedule #{} “{}”", s.id, s.name))
        .line()
        .push(&format!(
            "{} ({}) · {} in {} · by {} · missed slots: {}",
            s.cron,
            s.zone,
            s.template_name,
            s.project_name,
            s.owner,
            match s.missed {
                Missed::Skip => "skip".to_owned(),
                Missed::Once => "run once".to_owned(),
                Missed::All { at_most } => format!("run each, at most {at_most}"),
            }
        ));
    if let Some(preset) = &s.preset {
        reply = reply.line().push(&format!("Starts from preset `{preset}` (looked up at each slot)."));
    }
    if let Some(why) = &s.paused {
        reply = reply.line().push(&format!("⏸️ Paused: {why}."));
    } else {
        reply = reply.line().push(&format!("Next: {}.", if next.is_empty() { "never".to_owned() } else { next.join(", ") }));
    }
    if runs.is_empty() {
        reply = reply.line().push("No runs yet.");
    } else {
        let mut rows = Vec::with_capacity(runs.len());
        for r in &runs {
            let what = match (&r.task, &r.skipped) {
                (Some(task), _) => {
                    let task_ref = chatrixcd_ports::TaskRef { instance: s.instance, project: s.project, task: *task };
                    // How it ended, from the history (kept by the task index; pruned runs show none).
                    let result = match ctx.store().run_of(task_ref).await {
                        Ok(Some(run)) => match run.result {
                            Some(status) => format!("{} {status}", crate::render::reply::status_style(&status).0),
                            None => "running".to_owned(),
                        },
                        _ => String::new(),
                    };
                    if result.is_empty() { format!("task #{task}") } else { format!("task #{task} · {result}") }
                }
                (None, Some(why)) => format!("not run: {why}"),
                (None, None) => "starting".to_owned(),
            };
            rows.push(vec![local(r.slot, zone), what]);
        }
        reply = reply.line().table(&["Slot", "Run"], &rows);
    }
    ctx.reply(req, reply).await;
    Ok(())
}

async fn remove(ctx: Ctx<'_>, req: &Request, p: &Parsed) -> Result<(), CommandError> {
    let s = find(&ctx, req, p)?;
    ctx.authorize(req, Permission::Schedule, &target(&s)).await?;
    let change = ScheduleChange::Remove(s);
    if p.switch("yes") {
        return perform(ctx, req, change).await;
    }
    let action = PendingAction::Schedule(Box::new(change));
    let question = Reply::notice().bold(&format!("🗑️ {}?", capitalised(&action.describe())));
    ctx.ask(req, action, Approver::Requester, ctx.settings().short_confirm_timeout, question).await;
    Ok(())
}

async fn set_paused(ctx: Ctx<'_>, req: &Request, p: &Parsed, pause: bool) -> Result<(), CommandError> {
    let mut s = find(&ctx, req, p)?;
    ctx.authorize(req, Permission::Schedule, &target(&s)).await?;
    if pause == s.paused.is_some() {
        let state = if pause { "paused already" } else { "not paused" };
        return Err(CommandError::Refused(format!("Schedule #{} is {state}.", s.id)));
    }
    s.paused = pause.then(|| format!("by {}", req.sender));
    if !pause {
        // Slots that passed while paused are not run: it goes on from now.
        s.last_slot = Some(ctx.now());
    }
    ctx.store().put_schedule(s.clone()).await?;
    ctx.audit(req, if pause { "schedule.pause" } else { "schedule.resume" }, format!("#{}", s.id)).await;
    let text = if pause {
        format!("⏸️ Schedule #{} “{}” is paused.", s.id, s.name)
    } else {
        format!("▶️ Schedule #{} “{}” fires again.", s.id, s.name)
    };
    ctx.core().schedules.put(s);
    ctx.reply(req, Reply::notice().push(&text)).await;
    Ok(())
}

async fn next(ctx: Ctx<'_>, req: &Request) -> Result<(), CommandError> {
    let now = ctx.now();
    let mut slots: Vec<(DateTime<Utc>, Schedule)> = ctx
        .core()
        .schedules
        .list()
        .into_iter()
        .filter(|s| s.room == req.room && visible(&ctx, req, s))
        .flat_map(|s| ctx.core().schedules.upcoming(s.id, now, 3).into_iter().map(move |t| (t, s.clone())))
        .collect();
    slots.sort_by_key(|(t, _)| *t);
    slots.truncate(10);
    let reply = if slots.is_empty() {
        Reply::notice().push("Nothing is scheduled in this room.")
    } else {
        let rows: Vec<Vec<String>> = slots.iter().map(|(t, s)| vec![local(*t, zone_of(s)), format!("#{} {}", s.id, s.name)]).collect();
        Reply::notice().bold("Next slots").table(&["When", "Schedule"], &rows)
    };
    ctx.reply(req, reply).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use chatrixcd_ports::{Clock as _, Store as _};
    use chrono::Duration;

    use crate::testing::{Harness, admin, room};

    #[tokio::test]
    async fn a_schedule_fires_each_slot_once_and_catches_up_after_a_restart() {
        let h = Harness::single().await;
        h.say(&admin(), "!cd schedule add \"*/5 * * * *\" default:ops:deploy-web \"Five-minutely deploy\"").await;
        let asked = h.chat.bodies().join("\n");
        assert!(asked.contains("Schedule deploy-web “Five-minutely deploy” at `*/5 * * * *` (UTC)"), "{asked}");
        h.say(&admin(), "yes").await;
        let added = h.chat.bodies().join("\n");
        assert!(added.contains("⏰ Schedule #1 “Five-minutely deploy” added"), "{added}");
        // Each five minutes, one run, with its status message and end.
        for _ in 0..2 {
            h.advance(Duration::minutes(5)).await;
            for _ in 0..20 {
                h.advance(Duration::seconds(5)).await;
            }
        }
        let said = h.chat.bodies().join("\n");
        assert_eq!(said.matches("⏰ Schedule #1 “Five-minutely deploy”").count(), 2, "{said}");
        assert_eq!(said.matches("finished successfully").count(), 2, "{said}");
        let slots = h.store.slots(1, 10).await.unwrap();
        assert_eq!(slots.len(), 2);
        assert!(slots.iter().all(|s| s.task.is_some()), "{slots:?}");
        h.say(&admin(), "!cd schedule show 1").await;
        let shown = h.chat.bodies().join("\n");
        assert!(shown.contains("Next:") && shown.matches("task #").count() == 2, "{shown}");
        assert_eq!(shown.matches("· ✅ success").count(), 2, "each run's result, from the history\n{shown}");

        // Down for 22 minutes (from 13:20 past the start): five slots missed; the policy (once)
        // runs the latest only.
        let later = h.clock.now() + Duration::minutes(22);
        let store = h.store.clone();
        drop(h);
        let h = Harness::restarted(&[("default", chatrixcd_sim_semaphore::Mode::V2_10)], crate::testing::settings(), store, later).await;
        let told = h.chat.bodies().join("\n");
        assert!(told.contains("missed 5 slot(s) while I was down; running the latest 1, skipping 4"), "{told}");
        h.advance(Duration::seconds(1)).await;
        for _ in 0..20 {
            h.advance(Duration::seconds(5)).await;
        }
        let said = h.chat.bodies().join("\n");
        assert_eq!(said.matches("finished successfully").count(), 1, "{said}");
        let slots = h.store.slots(1, 10).await.unwrap();
        assert_eq!(slots.len(), 4, "two runs, the skipped ones as one, and the one run now: {slots:?}");
        assert!(slots[1].skipped.as_deref().is_some_and(|w| w.contains("missed")), "{slots:?}");
        // Another restart at the same moment runs nothing again.
        let now = h.clock.now();
        let store = h.store.clone();
        drop(h);
        let h = Harness::restarted(&[("default", chatrixcd_sim_semaphore::Mode::V2_10)], crate::testing::settings(), store, now).await;
        h.advance(Duration::seconds(30)).await;
        assert!(!h.chat.bodies().join("\n").contains("⏰ Schedule #1"), "no slot twice");
    }

    #[tokio::test]
    async fn the_project_and_template_may_be_two_words_and_bad_input_is_named() {
        let h = Harness::single().await;
        h.say(&admin(), "!cd schedule add \"* * * * *\" 1 1 \"every minute\" --yes").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("⏰ Schedule #1 “every minute” added: * * * * * (UTC)"), "{said}");
        let cases = [
            ("!cd schedule add \"0 25 * * *\" 1 1", "field 2 (hour), `25`"),
            ("!cd schedule add \"0 0 30 2 *\" 1 1", "never fires"),
            ("!cd schedule add \"0 2 * * *\" 1 1 x --tz Europe/Berln", "did you mean `Europe/Berlin`"),
            ("!cd schedule add \"0 2\" 1 1", "has 2 field(s)"),
            ("!cd schedule add \"0 2 * * *\" 1 99", "99"),
            ("!cd schedule add \"0 2 * * *\" nowhere:1:1", "nowhere"),
            ("!cd schedule add \"0 2 * * *\" 1 1 x --missed sometimes", "`--missed sometimes` is not one of"),
            ("!cd schedule show 42", "There is no schedule #42"),
        ];
        for (line, says) in cases {
            h.say(&admin(), line).await;
            let said = h.chat.bodies().join("\n");
            assert!(said.contains(says), "{line}: {said}");
        }
        h.say(&admin(), "!cd schedule pause 1").await;
        assert!(h.chat.bodies().join("\n").contains("is paused"));
        h.advance(Duration::minutes(3)).await;
        assert!(!h.chat.bodies().join("\n").contains("⏰ Schedule #1"), "a paused schedule does not fire");
        h.say(&admin(), "!cd schedule remove 1 --yes").await;
        assert!(h.chat.bodies().join("\n").contains("🗑️ Schedule #1 “every minute” removed."));
        assert!(h.store.schedules().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_claim_left_without_a_task_is_looked_up_then_run_once() {
        use chatrixcd_ports::schedule::SlotRun;
        let h = Harness::single().await;
        h.say(&admin(), "!cd schedule add \"0 * * * *\" default:ops:deploy-web \"Hourly\" --yes").await;
        let slot = h.clock.now() + Duration::hours(1);
        // The process died between the claim and the start: the slot is claimed, no task.
        let claim = SlotRun { schedule: 1, slot, claimed_at: slot, task: None, result: None, skipped: None };
        assert!(h.store.claim_slot(claim).await.unwrap());
        let store = h.store.clone();
        drop(h);
        let at = slot + Duration::minutes(1);
        let h = Harness::restarted(&[("default", chatrixcd_sim_semaphore::Mode::V2_10)], crate::testing::settings(), store, at).await;
        for _ in 0..20 {
            h.advance(Duration::seconds(5)).await;
        }
        let said = h.chat.bodies().join("\n");
        assert_eq!(said.matches("⏰ Schedule #1 “Hourly”").count(), 1, "started once, at the restart: {said}");
        assert!(said.contains("finished successfully"), "{said}");
        let slots = h.store.slots(1, 10).await.unwrap();
        assert_eq!(slots.len(), 1, "{slots:?}");
        assert!(slots[0].task.is_some(), "the claim has its task now: {slots:?}");
        // Restarted again: the claim has a task; nothing starts.
        let store = h.store.clone();
        let at = h.clock.now();
        drop(h);
        let h = Harness::restarted(&[("default", chatrixcd_sim_semaphore::Mode::V2_10)], crate::testing::settings(), store, at).await;
        h.advance(Duration::seconds(30)).await;
        assert!(!h.chat.bodies().join("\n").contains("⏰ Schedule #1"));
    }

    #[tokio::test]
    async fn a_stalled_bot_runs_the_latest_due_slot_not_a_burst() {
        let h = Harness::single().await;
        h.say(&admin(), "!cd schedule add \"* * * * *\" default:ops:deploy-web \"Minutely\" --yes").await;
        // An hour passes with no tick (the machine slept): one run, not sixty.
        h.clock.advance(Duration::hours(1));
        for _ in 0..10 {
            h.advance(Duration::seconds(5)).await;
        }
        let said = h.chat.bodies().join("\n");
        assert_eq!(said.matches("“Minutely” (* * * * * UTC): slot").count(), 1, "{said}");
        assert!(said.contains("slot 2026-01-01 01:00 UTC"), "the latest due slot: {said}");
    }

    #[tokio::test]
    async fn a_schedule_whose_template_is_gone_is_paused_with_a_notice_not_retried() {
        let h = Harness::single().await;
        h.say(&admin(), "!cd schedule add \"* * * * *\" default:ops:deploy-web \"Minutely\" --yes").await;
        // The template was deleted in Semaphore (here: the schedule names one that is not there).
        let mut stored = h.store.schedules().await.unwrap().remove(0);
        stored.template = chatrixcd_ports::TemplateId::new(99);
        h.store.put_schedule(stored.clone()).await.unwrap();
        h.bot.core.schedules.put(stored);
        h.advance(Duration::minutes(1)).await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("99"), "the run's refusal names what is missing: {said}");
        assert!(said.contains("⏸️ Schedule #1 “Minutely” is paused: its run cannot start"), "{said}");
        assert!(h.store.schedules().await.unwrap()[0].paused.is_some(), "kept paused in the store");
        h.advance(Duration::minutes(3)).await;
        assert!(!h.chat.bodies().join("\n").contains("): slot"), "not tried again");
        assert!(h.store.slots(1, 5).await.unwrap()[0].skipped.is_some(), "the slot says why it did not run");
    }

    #[tokio::test]
    async fn a_claim_whose_task_was_started_is_found_in_semaphore_and_not_run_again() {
        use chatrixcd_ports::schedule::{SlotRun, slot_marker};
        use chatrixcd_ports::semaphore::{SemaphorePort as _, StartTask};
        let h = Harness::single().await;
        h.say(&admin(), "!cd schedule add \"0 * * * *\" default:ops:deploy-web \"Hourly\" --yes").await;
        let slot = h.clock.now() + Duration::hours(1);
        h.clock.advance(Duration::hours(1));
        // The process died after the start, before the task's id was written.
        let claim = SlotRun { schedule: 1, slot, claimed_at: slot, task: None, result: None, skipped: None };
        assert!(h.store.claim_slot(claim).await.unwrap());
        let request = StartTask {
            template_id: chatrixcd_ports::TemplateId::new(1),
            message: Some(slot_marker(1, slot)),
            ..StartTask::default()
        };
        let started = h.sims[0].start_task(chatrixcd_ports::ProjectId::new(1), request).await.unwrap();
        let h = h.restart(crate::testing::settings()).await;
        h.advance(Duration::seconds(30)).await;
        assert!(!h.chat.bodies().join("\n").contains("): slot"), "not started again");
        let slots = h.store.slots(1, 5).await.unwrap();
        assert_eq!(slots[0].task, Some(started.id), "the claim has the task found by its message");
    }

    #[tokio::test]
    async fn a_room_holds_at_most_the_configured_number_of_schedules() {
        let mut settings = crate::testing::settings();
        settings.max_schedules_per_room = 1;
        let h = Harness::with(&[("default", chatrixcd_sim_semaphore::Mode::V2_10)], settings).await;
        h.say(&admin(), "!cd schedule add \"@daily\" 1 1 \"one\" --yes").await;
        h.say(&admin(), "!cd schedule add \"@hourly\" 1 1 \"two\" --yes").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("already has 1 schedule(s), the most a room may have (1); remove one first"), "{said}");
        assert_eq!(h.store.schedules().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn semaphores_own_schedules_are_listed_read_only_for_what_the_caller_may_read() {
        use chatrixcd_ports::ProjectId;
        let h = Harness::two_instances().await;
        for (name, template, cron, active) in [("nightly", 1, "0 2 * * *", true), ("weekly", 2, "@weekly", false)] {
            let body = serde_json::json!({"template_id": template, "cron_format": cron, "name": name, "active": active});
            let serde_json::Value::Object(body) = body else { unreachable!() };
            h.sims[1].model().add_schedule(ProjectId::new(1), body).unwrap();
        }
        let bad = serde_json::json!({"template_id": 1, "cron_format": "0 2 * *"});
        let serde_json::Value::Object(bad) = bad else { unreachable!() };
        let refused = h.sims[1].model().add_schedule(ProjectId::new(1), bad).unwrap_err();
        assert_eq!(refused.message.as_deref(), Some("Cron: expected exactly 5 fields, found 4: [0 2 * *]"));

        h.say(&admin(), "!cd schedule list --semaphore").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("This room has no schedules.") && said.contains("Semaphore's own schedules: none."), "the room's instance (production) has none\n{said}");
        h.say(&admin(), "!cd schedule list --semaphore --all").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("Semaphore's own schedules (read-only"), "{said}");
        assert!(said.contains("nightly") && said.contains("0 2 * * *") && said.contains("deploy-web (1)") && said.contains("staging:ops"), "{said}");
        assert!(said.contains("weekly") && said.contains("@weekly") && said.contains("inactive"), "{said}");
        assert!(!h.sims[1].model().recent_tasks(ProjectId::new(1), 10).unwrap().iter().any(|_| true), "listing starts nothing");
    }

    #[tokio::test]
    async fn a_schedule_runs_from_its_preset_looked_up_at_each_slot() {
        use chatrixcd_ports::ProjectId;
        let h = Harness::single().await;
        h.say(&admin(), "!cd preset save greet ops hello --var who=preset").await;
        h.say(&admin(), "!cd schedule add \"*/5 * * * *\" default:ops:hello \"Greeting\" --preset greet --yes").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("⏰ Schedule #1 “Greeting” added"), "{said}");
        assert_eq!(h.store.schedules().await.unwrap()[0].preset.as_deref(), Some("greet"));
        h.advance(Duration::minutes(5)).await;
        let tasks = h.sims[0].model().recent_tasks(ProjectId::new(1), 10).unwrap();
        assert_eq!(tasks.len(), 1);
        assert_eq!(tasks[0].environment.get("who").map(String::as_str), Some("preset"));
        // The preset changed: the next slot uses it as it is then.
        h.say(&admin(), "!cd preset save greet ops hello --var who=changed").await;
        h.advance(Duration::minutes(5)).await;
        let tasks = h.sims[0].model().recent_tasks(ProjectId::new(1), 10).unwrap();
        assert_eq!(tasks[0].environment.get("who").map(String::as_str), Some("changed"));
        // Gone: the slot is not run, the room is told and the schedule pauses.
        h.say(&admin(), "!cd preset remove greet").await;
        h.chat.bodies();
        h.advance(Duration::minutes(5)).await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("There is no preset `greet` here.") && said.contains("is paused"), "{said}");
        h.say(&admin(), "!cd schedule add \"0 2 * * *\" default:ops:hello --preset nope --yes").await;
        assert!(h.chat.bodies().join("\n").contains("There is no preset `nope` here."));
    }

    #[tokio::test]
    async fn a_schedule_whose_template_needs_a_variable_asks_for_it_and_refuses_secrets() {
        use chatrixcd_ports::ProjectId;
        let h = Harness::single().await;
        h.say(&admin(), "!cd schedule add \"* * * * *\" 1 2 \"every minute\"").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("📝 The schedule of hello needs a few answers first (1 question).") && said.contains("❓ 1/1 · Who"), "{said}");
        h.say(&admin(), "world").await;
        let asked = h.chat.bodies().join("\n");
        assert!(asked.contains("⏰ Schedule hello “every minute” at `* * * * *` (UTC)"), "{asked}");
        h.say(&admin(), "yes").await;
        assert_eq!(h.store.schedules().await.unwrap()[0].vars, [("who".to_owned(), "world".to_owned())]);
        h.advance(Duration::minutes(1)).await;
        let tasks = h.sims[0].model().recent_tasks(ProjectId::new(1), 10).unwrap();
        assert_eq!(tasks[0].environment.get("who").map(String::as_str), Some("world"));
        let typed = h.say_in(&room(), &admin(), "!cd schedule add \"0 2 * * *\" ops hello-args --var who=a --var env=prod --var api_key=x --yes", None).await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("`api_key` is secret, and a schedule keeps its variables as they are; save it in a preset"), "{said}");
        assert!(h.chat.redacted.lock().unwrap().iter().any(|(_, e)| e == &typed), "the command holding the secret is deleted");
        // The dialog of a schedule never asks for a secret.
        h.say(&admin(), "!cd schedule add \"0 2 * * *\" ops hello-args --var env=prod").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("(2 questions)"), "who and count, not api_key\n{said}");
    }
}
