//! Schedules at run time: each active schedule's next slot, handed out once when its time
//! comes (`take_due`), fired as its owner's run, and what happened to slots while the bot was
//! down.
//!
//! Exactly once per slot: the slot is claimed in the store (one transaction with the schedule's
//! last slot) before the task is started, and the task's id written after. A claim without a
//! task, found at start, is looked up in Semaphore by the task's message (which names the
//! schedule and the slot) before anything is started again: found, it is the slot's task;
//! not found, the start never happened and the slot is run now.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use chatrixcd_ports::schedule::{Missed, Schedule, SlotRun, slot_marker};
use chatrixcd_ports::{ChatError, EventId};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::commands::run;
use crate::core::{Core, Request, lock};
use crate::cron::CronExpr;
use crate::error::CommandError;
use crate::render::Reply;

/// Missed slots looked at per schedule at most (a minutely schedule down for a week is 10,080).
const MISSED_LOOK: usize = 10_000;

/// A schedule with its expression read.
#[derive(Debug)]
pub(crate) struct Live {
    pub schedule: Schedule,
    pub cron: CronExpr,
    pub zone: Tz,
    /// The next slot to fire; `None` when paused or never again.
    pub next: Option<DateTime<Utc>>,
    /// Slots to fire before `next` (missed ones the policy runs).
    pub backlog: VecDeque<DateTime<Utc>>,
    /// A slot of it is being fired: no second one starts until it is done.
    pub firing: bool,
    /// Where it is in the queue of due slots.
    queued: Option<DateTime<Utc>>,
}

impl Live {
    /// `None` when the stored expression or zone no longer reads (kept, not fired).
    pub(crate) fn new(schedule: Schedule, seconds: bool) -> Option<Self> {
        let zone = crate::cron::zone(&schedule.zone).ok()?;
        let cron = CronExpr::stored(&schedule.cron, seconds).ok()?;
        let mut live = Self { schedule, cron, zone, next: None, backlog: VecDeque::new(), firing: false, queued: None };
        live.plan_after(live.schedule.last_slot.unwrap_or(live.schedule.created_at));
        Some(live)
    }

    fn plan_after(&mut self, after: DateTime<Utc>) {
        self.next = match self.schedule.paused {
            Some(_) => None,
            None => self.cron.next_after(self.zone, after),
        };
    }

    fn due_slot(&self) -> Option<DateTime<Utc>> {
        self.backlog.front().copied().or(self.next)
    }
}

/// The schedules, and the due slots of those that may fire, in time order: the event loop asks
/// for the next deadline after every event, so it is the first entry, not a scan.
#[derive(Debug, Default)]
struct Loaded {
    all: BTreeMap<u64, Live>,
    queue: BTreeSet<(DateTime<Utc>, u64)>,
}

impl Loaded {
    /// Puts `id`'s entry in the queue where its due slot now is (or takes it out).
    fn reindex(&mut self, id: u64) {
        let Some(l) = self.all.get_mut(&id) else { return };
        if let Some(at) = l.queued.take() {
            self.queue.remove(&(at, id));
        }
        if !l.firing
            && l.schedule.paused.is_none()
            && let Some(at) = l.due_slot()
        {
            self.queue.insert((at, id));
            l.queued = Some(at);
        }
    }

    fn remove(&mut self, id: u64) {
        if let Some(l) = self.all.remove(&id)
            && let Some(at) = l.queued
        {
            self.queue.remove(&(at, id));
        }
    }
}

/// Every schedule, loaded once.
#[derive(Debug)]
pub(crate) struct Schedules {
    live: std::sync::Mutex<Option<Loaded>>,
    /// Six-field expressions (seconds) are read: the test mode of `Settings::schedule_seconds`.
    seconds: bool,
}

impl Schedules {
    pub(crate) fn new(seconds: bool) -> Self {
        Self { live: std::sync::Mutex::new(None), seconds }
    }

    pub(crate) fn next_deadline(&self) -> Option<DateTime<Utc>> {
        lock(&self.live).as_ref()?.queue.first().map(|(at, _)| *at)
    }

    /// The slots whose time has come, each schedule's at most once, marked as firing.
    pub(crate) fn take_due(&self, now: DateTime<Utc>) -> Vec<(Schedule, DateTime<Utc>)> {
        let mut live = lock(&self.live);
        let Some(loaded) = live.as_mut() else { return Vec::new() };
        let mut due = Vec::new();
        while let Some(&(at, id)) = loaded.queue.first() {
            if at > now {
                break;
            }
            loaded.queue.remove(&(at, id));
            let Some(l) = loaded.all.get_mut(&id) else { continue };
            l.queued = None;
            let Some(mut slot) = l.due_slot() else { continue };
            if l.backlog.front() == Some(&slot) {
                l.backlog.pop_front();
            } else {
                // Several slots due at once (the machine slept, the bot was stalled): the
                // latest runs, as if the others had been missed under `once`; no burst.
                let mut skipped = 0_usize;
                while let Some(later) = l.cron.next_after(l.zone, slot).filter(|s| *s <= now) {
                    slot = later;
                    skipped += 1;
                    if skipped >= MISSED_LOOK {
                        break;
                    }
                }
                if skipped > 0 {
                    tracing::info!(
                        schedule = l.schedule.id,
                        skipped,
                        "slots passed while the bot was stalled; running the latest"
                    );
                }
                l.plan_after(slot);
            }
            l.firing = true;
            due.push((l.schedule.clone(), slot));
        }
        due
    }

    fn done(&self, id: u64) {
        if let Some(loaded) = lock(&self.live).as_mut() {
            if let Some(l) = loaded.all.get_mut(&id) {
                l.firing = false;
            }
            loaded.reindex(id);
        }
    }

    /// The live schedules (a copy), for the commands.
    pub(crate) fn list(&self) -> Vec<Schedule> {
        lock(&self.live).as_ref().map(|l| l.all.values().map(|l| l.schedule.clone()).collect()).unwrap_or_default()
    }

    /// A schedule's next slots.
    pub(crate) fn upcoming(&self, id: u64, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let live = lock(&self.live);
        let Some(l) = live.as_ref().and_then(|loaded| loaded.all.get(&id)) else { return Vec::new() };
        if l.schedule.paused.is_some() {
            return Vec::new();
        }
        let mut out: Vec<_> = l.backlog.iter().copied().collect();
        out.extend(l.cron.upcoming(
            l.zone,
            l.next.map_or(after, |n| n - chrono::Duration::seconds(1)).max(after - chrono::Duration::seconds(1)),
            n,
        ));
        out.truncate(n);
        out
    }

    /// Puts (or replaces) a schedule as stored.
    pub(crate) fn put(&self, schedule: Schedule) {
        let id = schedule.id;
        let Some(mut fresh) = Live::new(schedule, self.seconds) else { return };
        let mut live = lock(&self.live);
        let loaded = live.get_or_insert_with(Loaded::default);
        if let Some(old) = loaded.all.get(&id) {
            fresh.firing = old.firing;
        }
        loaded.remove(id);
        loaded.all.insert(id, fresh);
        loaded.reindex(id);
    }

    pub(crate) fn remove(&self, id: u64) {
        if let Some(loaded) = lock(&self.live).as_mut() {
            loaded.remove(id);
        }
    }
}

/// Loads the schedules, reconciles claims left without a task, and applies each schedule's
/// policy to the slots missed while the bot was down. Called once, at start.
pub(crate) async fn resume(core: &Core) {
    let stored = match core.store().schedules().await {
        Ok(stored) => stored,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the schedules; none will fire until the next start");
            return;
        }
    };
    let now = core.now();
    let mut loaded = Loaded::default();
    for schedule in stored {
        reconcile(core, &schedule).await;
        let id = schedule.id;
        let Some(mut live) = Live::new(schedule, core.schedules.seconds) else {
            tracing::error!(schedule = id, "a stored schedule's expression or zone cannot be read; it is not fired");
            continue;
        };
        catch_up(core, &mut live, now).await;
        loaded.all.insert(id, live);
        loaded.reindex(id);
    }
    if !loaded.all.is_empty() {
        tracing::info!(schedules = loaded.all.len(), "schedules loaded");
    }
    *lock(&core.schedules.live) = Some(loaded);
}

/// The slots between the last handled one and now, by the schedule's policy.
async fn catch_up(core: &Core, live: &mut Live, now: DateTime<Utc>) {
    if live.schedule.paused.is_some() {
        return;
    }
    let mut missed = Vec::new();
    let mut at = live.schedule.last_slot.unwrap_or(live.schedule.created_at);
    while let Some(slot) = live.cron.next_after(live.zone, at).filter(|s| *s <= now) {
        missed.push(slot);
        at = slot;
        if missed.len() >= MISSED_LOOK {
            break;
        }
    }
    if missed.is_empty() {
        return;
    }
    let run: usize = match live.schedule.missed {
        Missed::Skip => 0,
        Missed::Once => 1,
        Missed::All { at_most } => usize::try_from(at_most).unwrap_or(usize::MAX),
    };
    let keep = run.min(missed.len());
    let skipped = missed.len() - keep;
    let id = live.schedule.id;
    for _ in 0..skipped {
        core.meter.schedule_fired("missed");
    }
    if skipped > 0 {
        // The newest skipped slot is claimed as skipped: the schedule's last slot moves past
        // them all in one write.
        let last_skipped = missed[skipped - 1];
        let why =
            format!("missed while the bot was down ({skipped} slot(s), policy {})", missed_name(live.schedule.missed));
        let claim =
            SlotRun { schedule: id, slot: last_skipped, claimed_at: now, task: None, result: None, skipped: Some(why) };
        if let Err(e) = core.store().claim_slot(claim).await {
            tracing::warn!(schedule = id, error = %e, "cannot record skipped slots");
        }
    }
    live.backlog = missed[skipped..].iter().copied().collect();
    live.plan_after(*missed.last().unwrap_or(&at));
    let text = match (skipped, keep) {
        (s, 0) => {
            format!("⏰ Schedule #{id} “{}” missed {s} slot(s) while I was down; they are skipped.", live.schedule.name)
        }
        (0, k) => {
            format!("⏰ Schedule #{id} “{}” missed {k} slot(s) while I was down; running them now.", live.schedule.name)
        }
        (s, k) => format!(
            "⏰ Schedule #{id} “{}” missed {} slot(s) while I was down; running the latest {k}, skipping {s}.",
            live.schedule.name,
            s + k
        ),
    };
    core.out.post(&live.schedule.room, Reply::notice().push(&text).build()).await;
}

fn missed_name(missed: Missed) -> String {
    match missed {
        Missed::Skip => "skip".into(),
        Missed::Once => "once".into(),
        Missed::All { at_most } => format!("all, at most {at_most}"),
    }
}

/// Claims of this schedule left without a task (the process died between claim and write):
/// each is looked up in Semaphore by its marker; found, it is recorded; not found, run now.
async fn reconcile(core: &Core, schedule: &Schedule) {
    let Ok(slots) = core.store().slots(schedule.id, 5).await else { return };
    let open: Vec<SlotRun> = slots.into_iter().filter(|s| s.task.is_none() && s.skipped.is_none()).collect();
    if open.is_empty() {
        return;
    }
    let Some(instance) = core.instances().get(schedule.instance) else { return };
    let recent = match instance.semaphore.recent_tasks(schedule.project, 200).await {
        Ok(recent) => recent,
        Err(e) => {
            tracing::warn!(schedule = schedule.id, error = %e, "cannot look up a claimed slot's task; it is not run again");
            return;
        }
    };
    for mut claim in open {
        let marker = slot_marker(schedule.id, claim.slot);
        match recent.iter().find(|t| t.message.as_deref().is_some_and(|m| m.contains(&marker))) {
            Some(task) => {
                tracing::info!(schedule = schedule.id, task = %task.id, "a claimed slot's task was found in Semaphore");
                claim.task = Some(task.id);
                let _ = core.store().update_slot(claim).await;
            }
            None => {
                tracing::info!(schedule = schedule.id, slot = %claim.slot, "a claimed slot was never started; starting it now");
                start(core, schedule, claim).await;
            }
        }
    }
}

/// Fires `slot` of `schedule`: claims it, then starts the run.
pub(crate) async fn fire(core: &Core, schedule: Schedule, slot: DateTime<Utc>) {
    let claim =
        SlotRun { schedule: schedule.id, slot, claimed_at: core.now(), task: None, result: None, skipped: None };
    match core.store().claim_slot(claim.clone()).await {
        Ok(true) => start(core, &schedule, claim).await,
        Ok(false) => tracing::debug!(schedule = schedule.id, %slot, "a slot was claimed before; not run again"),
        Err(e) => tracing::error!(schedule = schedule.id, %slot, error = %e, "cannot claim a slot; it is not run"),
    }
    core.schedules.done(schedule.id);
}

/// Starts a claimed slot's run as the schedule's owner, and writes its task to the claim.
async fn start(core: &Core, schedule: &Schedule, mut claim: SlotRun) {
    let ctx = core.ctx();
    let when = claim.slot.with_timezone(&crate::cron::zone(&schedule.zone).unwrap_or(Tz::UTC));
    let notice = Reply::notice().push(&format!(
        "⏰ Schedule #{} “{}” ({} {}): slot {}",
        schedule.id,
        schedule.name,
        schedule.cron,
        schedule.zone,
        when.format("%Y-%m-%d %H:%M %Z")
    ));
    let mut message = notice.build();
    message.idempotency_key = Some(format!("slot:{}:{}", schedule.id, claim.slot.timestamp()));
    let event_id = core.out.post(&schedule.room, message).await.unwrap_or_else(|| EventId(String::new()));
    let req = Request {
        room: schedule.room.clone(),
        sender: schedule.owner.clone(),
        sender_name: Some(format!("schedule #{}", schedule.id)),
        event_id,
        via_hook: None,
        thread: None,
    };
    let reference = format!("{}:{}:{}", schedule.instance, schedule.project, schedule.template);
    let outcome = scheduled_run(ctx, &req, schedule, &reference, claim.slot).await;
    core.meter.schedule_fired(if outcome.is_ok() { "started" } else { "failed" });
    match outcome {
        Ok(task) => {
            claim.task = Some(task.task);
            if let Err(e) = core.store().update_slot(claim).await {
                tracing::error!(schedule = schedule.id, error = %e, "cannot record a slot's task");
            }
        }
        Err(error) => {
            let broken = is_broken(&error);
            claim.skipped = Some(error.to_string());
            let _ = core.store().update_slot(claim).await;
            crate::bot::report_error(core, &req, &["schedule"], error).await;
            if broken {
                pause(core, schedule.id, "its run cannot start (see above)").await;
            }
        }
    }
}

/// A slot's run: the schedule's target and variables, on top of its preset if it has one
/// (looked up now, as its owner in its room, and checked against the template as it is now).
async fn scheduled_run(
    ctx: crate::core::Ctx<'_>,
    req: &Request,
    schedule: &Schedule,
    reference: &str,
    slot: DateTime<Utc>,
) -> Result<chatrixcd_ports::TaskRef, CommandError> {
    let args = run::Args::scheduled(reference, None, &schedule.vars, slot_marker(schedule.id, slot))?;
    let (args, preset) = match &schedule.preset {
        Some(name) => {
            let (args, preset) =
                crate::commands::preset::apply(ctx, &schedule.owner, &schedule.room, name, args).await?;
            (args, Some(preset))
        }
        None => (args, None),
    };
    let resolved =
        run::resolve(ctx, req, args.project.as_ref(), args.template.as_deref(), crate::permissions::Permission::Run)
            .await?;
    if let Some(preset) = &preset {
        crate::commands::preset::check(preset, &resolved)?;
    }
    let (plan, _) = run::plan(ctx, resolved, &args)?;
    run::launch(ctx, req, plan, &schedule.owner).await
}

/// Errors no retry will mend: the target is gone, or the owner may no longer run it.
fn is_broken(error: &CommandError) -> bool {
    use chatrixcd_ports::SemaphoreError as S;
    match error {
        CommandError::Usage(_) | CommandError::Refused(_) | CommandError::Denied(_) => true,
        CommandError::Semaphore { error, .. } => matches!(error, S::NotFound(_) | S::Forbidden(_) | S::Rejected(_)),
        CommandError::Chat(ChatError::Refused(_)) => false,
        _ => false,
    }
}

/// Pauses a schedule with a notice in its room.
pub(crate) async fn pause(core: &Core, id: u64, why: &str) {
    let Some(mut schedule) = core.schedules.list().into_iter().find(|s| s.id == id) else { return };
    schedule.paused = Some(why.to_owned());
    if let Err(e) = core.store().put_schedule(schedule.clone()).await {
        tracing::error!(schedule = id, error = %e, "cannot pause a schedule");
        return;
    }
    let text = format!(
        "⏸️ Schedule #{id} “{}” is paused: {why}. `{} schedule resume {id}` starts it again.",
        schedule.name, core.settings.prefix
    );
    core.out.post(&schedule.room, Reply::notice().push(&text).build()).await;
    core.schedules.put(schedule);
}
