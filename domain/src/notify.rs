//! Following tasks the bot did not start: a room follows a scope (`prod:ops:deploy-*`) and is
//! told when tasks there fail, end, or also start and wait for approval, whoever started them
//! (in Semaphore's UI, by its schedules, through its API). What tells the bot is a push:
//! Semaphore's websocket or its alerts; the task is then read from Semaphore for the truth, as
//! the watcher does. The bot's own runs are left out: their rooms hear of them already.
//!
//! Follows come from config (`bot.notify`, read-only) and from chat (`notify add`, stored under
//! the setting `follows`; entries this version cannot read are kept as they are).

use std::collections::{HashSet, VecDeque};
use std::hash::Hash;

use chatrixcd_ports::StoreError;
use chatrixcd_ports::semaphore::Task;
use chatrixcd_ports::store::TaskRef;
use chatrixcd_ports::{InstanceId, ProjectId, RoomId, TaskId, TaskStatus, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::core::{Core, lock};
use crate::instances::{tag, task_arg};
use crate::permissions::{Origin, Scope, Target};
use crate::render::Reply;
use crate::render::duration::human;
use crate::render::reply::status_style;

/// What a follow is told of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum On {
    /// Tasks that failed.
    Failures,
    /// Tasks that ended, however.
    Finished,
    /// Also tasks that started, and plans waiting for approval.
    All,
}

impl On {
    pub const NAMES: [&'static str; 3] = ["failures", "finished", "all"];

    pub fn parse(word: &str) -> Option<Self> {
        match word.trim().to_ascii_lowercase().as_str() {
            "failures" | "failed" | "failure" | "errors" => Some(Self::Failures),
            "finished" | "ends" | "ended" | "done" => Some(Self::Finished),
            "all" | "everything" => Some(Self::All),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Failures => "failures",
            Self::Finished => "finished",
            Self::All => "all",
        }
    }

    fn wants(self, phase: Phase) -> bool {
        match self {
            Self::Failures => phase == Phase::Failed,
            Self::Finished => matches!(phase, Phase::Failed | Phase::Ended),
            Self::All => true,
        }
    }
}

/// The moments of a task a room can be told of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Phase {
    Started,
    Approval,
    Ended,
    Failed,
}

impl Phase {
    pub(crate) fn of(status: &TaskStatus) -> Option<Self> {
        match status {
            TaskStatus::Running => Some(Self::Started),
            TaskStatus::WaitingConfirmation => Some(Self::Approval),
            TaskStatus::Success | TaskStatus::Stopped => Some(Self::Ended),
            TaskStatus::Error => Some(Self::Failed),
            _ => None,
        }
    }
}

/// A room following a scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Follow {
    pub room: RoomId,
    pub scope: Scope,
    pub on: On,
    pub origin: Origin,
}

impl Follow {
    pub fn new(room: RoomId, scope: Scope, on: On) -> Self {
        Self { room, scope, on, origin: Origin::Config }
    }
}

/// A chat follow as stored.
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    room: String,
    scope: String,
    on: String,
    by: String,
    at: DateTime<Utc>,
}

impl Stored {
    fn read(self) -> Result<Follow, String> {
        let room = RoomId::parse(&self.room).map_err(|e| e.to_string())?;
        let scope = Scope::parse(&self.scope).map_err(|e| e.to_string())?;
        let on = On::parse(&self.on).ok_or_else(|| format!("`{}` is not a follow kind", self.on))?;
        let by = UserId::parse(&self.by).map_err(|e| e.to_string())?;
        Ok(Follow { room, scope, on, origin: Origin::Chat { by, at: self.at } })
    }
}

const KEY: &str = "follows";

/// The most announcements remembered (to announce each once though both the websocket and an
/// alert tell of it, and the websocket twice), and the most of the bot's own finished runs.
const REMEMBERED: usize = 4096;

/// A bounded set, oldest forgotten first.
#[derive(Debug)]
struct Recent<T> {
    order: VecDeque<T>,
    set: HashSet<T>,
}

impl<T: Clone + Eq + Hash> Recent<T> {
    fn new() -> Self {
        Self { order: VecDeque::new(), set: HashSet::new() }
    }

    fn contains(&self, item: &T) -> bool {
        self.set.contains(item)
    }

    fn insert(&mut self, item: T) {
        if !self.set.insert(item.clone()) {
            return;
        }
        self.order.push_back(item);
        if self.order.len() > REMEMBERED
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
    }
}

/// The live follows, and what was announced.
#[derive(Debug)]
pub(crate) struct Followers {
    /// Config's, then chat's; `None` until chat's are read from the store.
    follows: std::sync::Mutex<Option<Vec<Follow>>>,
    baseline: Vec<Follow>,
    /// Stored entries this version cannot read: written back untouched.
    unreadable: std::sync::Mutex<Vec<serde_json::Value>>,
    /// One change at a time (read, change, save).
    writing: futures::lock::Mutex<()>,
    announced: std::sync::Mutex<Recent<(TaskRef, Phase)>>,
    own: std::sync::Mutex<Recent<TaskRef>>,
}

impl Followers {
    pub(crate) fn new(baseline: Vec<Follow>) -> Self {
        Self {
            follows: std::sync::Mutex::new(None),
            baseline,
            unreadable: std::sync::Mutex::new(Vec::new()),
            writing: futures::lock::Mutex::new(()),
            announced: std::sync::Mutex::new(Recent::new()),
            own: std::sync::Mutex::new(Recent::new()),
        }
    }

    /// A run of the bot's own has ended: events about it that come later are not announced.
    pub(crate) fn mark_own(&self, task: TaskRef) {
        lock(&self.own).insert(task);
    }

    /// The follows in force (config's until chat's are loaded).
    pub(crate) fn all(&self) -> Vec<Follow> {
        lock(&self.follows).clone().unwrap_or_else(|| self.baseline.clone())
    }

    /// Whether any follow could want `phase` of a task on `instance`: most events need no work.
    pub(crate) fn any_wants(&self, instance: InstanceId, phase: Phase) -> bool {
        let follows = lock(&self.follows);
        let list = follows.as_deref().unwrap_or(&self.baseline);
        list.iter().any(|f| f.on.wants(phase) && f.scope.instance.matches(instance.as_str()))
    }
}

/// Reads chat's follows from the store, once.
pub(crate) async fn ensure_loaded(core: &Core) {
    if lock(&core.followers.follows).is_some() {
        return;
    }
    let _writing = core.followers.writing.lock().await;
    if lock(&core.followers.follows).is_some() {
        return;
    }
    let text = match core.store().setting(KEY).await {
        Ok(text) => text,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the rooms' follows; only config's apply for now");
            return;
        }
    };
    let loaded = crate::stored_list::read(text, "follows", |entry| {
        serde_json::from_value::<Stored>(entry).map_err(|e| e.to_string()).and_then(Stored::read)
    });
    lock(&core.followers.unreadable).extend(loaded.unreadable);
    let mut follows = core.followers.baseline.clone();
    follows.extend(loaded.entries);
    *lock(&core.followers.follows) = Some(follows);
}

/// Applies `change` to chat's follows and saves them; nothing changes if the save fails.
/// Returns what `change` returned. A failed save is a store error, so the room hears only that
/// the storage failed and the operator's log has the store's own words.
pub(crate) async fn change<R>(core: &Core, change: impl FnOnce(&mut Vec<Follow>) -> R) -> Result<R, StoreError> {
    ensure_loaded(core).await;
    let _writing = core.followers.writing.lock().await;
    let mut follows = core.followers.all();
    let result = change(&mut follows);
    let mut stored: Vec<serde_json::Value> = follows
        .iter()
        .filter_map(|f| match &f.origin {
            Origin::Config => None,
            Origin::Chat { by, at } => serde_json::to_value(Stored {
                room: f.room.to_string(),
                scope: f.scope.to_string(),
                on: f.on.as_str().to_owned(),
                by: by.to_string(),
                at: *at,
            })
            .ok(),
        })
        .collect();
    stored.extend(lock(&core.followers.unreadable).iter().cloned());
    let text = serde_json::to_string(&stored)
        .map_err(|e| StoreError::Corrupt(format!("the follows cannot be written as JSON: {e}")))?;
    core.store().set_setting(KEY, &text).await?;
    *lock(&core.followers.follows) = Some(follows);
    Ok(result)
}

/// A push told of `task` on `instance` (`status` as the push says; the task is read for the
/// truth): announces it in the rooms that follow it, once per phase.
pub(crate) async fn on_push(
    core: &Core,
    instance: InstanceId,
    project: Option<ProjectId>,
    task: TaskId,
    status: &TaskStatus,
) {
    let Some(pushed) = Phase::of(status) else { return };
    if !core.followers.any_wants(instance, pushed) {
        return;
    }
    ensure_loaded(core).await;
    let Some(project) = project else {
        tracing::debug!(%instance, %task, "a pushed task names no project; it cannot be read to announce it");
        return;
    };
    let task_ref = TaskRef::new(instance, project, task);
    if lock(&core.followers.own).contains(&task_ref) {
        return;
    }
    match core.store().tracked_tasks().await {
        Ok(tracked) if tracked.iter().any(|t| t.task_ref() == task_ref) => return,
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(error = %e, "cannot read watched tasks; a followed task is not announced");
            return;
        }
    }
    let Some(semaphore) = core.instances().get(instance).map(|i| std::sync::Arc::clone(&i.semaphore)) else {
        return;
    };
    let read = match semaphore.task(project, task).await {
        Ok(read) => read,
        Err(e) => {
            tracing::warn!(%instance, %task, error = %e, "cannot read a followed task; it is not announced");
            return;
        }
    };
    // The task as read is the truth; a push may be late or out of order.
    let Some(phase) = Phase::of(&read.status) else { return };
    if lock(&core.followers.announced).contains(&(task_ref, phase)) {
        return;
    }
    let project_name =
        semaphore.projects().await.ok().and_then(|ps| ps.into_iter().find(|p| p.id == project)).map(|p| p.name);
    // A 2.10 server's task carries no template name: the project's templates have it.
    let mut read = read;
    if read.template_name.is_none()
        && let Ok(templates) = semaphore.templates(project).await
    {
        read.template_name = templates.into_iter().find(|t| t.id == read.template_id).map(|t| t.name);
    }
    let target = Target {
        instance: Some(instance),
        project_id: Some(project.get()),
        project: project_name.as_deref(),
        template_id: Some(read.template_id.get()),
        template: read.template_name.as_deref(),
        some_of: false,
    };
    let allowed = &core.settings.allowed_rooms;
    let mut rooms: Vec<RoomId> = core
        .followers
        .all()
        .into_iter()
        .filter(|f| f.on.wants(phase) && f.scope.covers(&target))
        .map(|f| f.room)
        .filter(|r| allowed.is_empty() || allowed.contains(r))
        .collect();
    rooms.sort();
    rooms.dedup();
    if rooms.is_empty() {
        return;
    }
    lock(&core.followers.announced).insert((task_ref, phase));
    let url = semaphore.task_url(project, read.template_id, task);
    let message = announcement(core, instance, project_name.as_deref(), &read, phase, url.as_deref());
    for room in &rooms {
        let mut message = message.clone();
        message.idempotency_key = Some(format!("follow:{room}:{instance}:{task}:{phase:?}"));
        if core.out.post(room, message).await.is_none() {
            tracing::warn!(room = %room, %task, "could not announce a followed task");
        }
    }
}

/// `❌ [prod] ops / deploy-web · task #42 failed · took 3m · started by alice in Semaphore · open`
fn announcement(
    core: &Core,
    instance: InstanceId,
    project: Option<&str>,
    task: &Task,
    phase: Phase,
    url: Option<&str>,
) -> chatrixcd_ports::chat::OutgoingMessage {
    let instances = core.instances();
    let (emoji, color) = status_style(&task.status);
    let template = task.template_name.clone().unwrap_or_else(|| format!("template {}", task.template_id));
    let verdict = match phase {
        Phase::Started => "started".to_owned(),
        Phase::Approval => "waits for approval".to_owned(),
        Phase::Ended | Phase::Failed => match task.status {
            TaskStatus::Success => "succeeded".to_owned(),
            TaskStatus::Stopped => "was stopped".to_owned(),
            TaskStatus::Error => "failed".to_owned(),
            ref other => format!("ended with status {other}"),
        },
    };
    let mut reply = Reply::notice().push(emoji).push(" ").push(&tag(instances, instance));
    if let Some(project) = project {
        reply = reply.push(project).push(" / ");
    }
    reply = reply.bold(&template).push(&format!(" · task #{} ", task.id)).colored(&verdict, color);
    if let (Some(start), Some(end)) = (task.start, task.end) {
        reply = reply.push(&format!(" · took {}", human(end - start)));
    }
    match task.user_name.as_deref().filter(|u| !u.is_empty()) {
        Some(who) => reply = reply.push(&format!(" · started by {who} in Semaphore")),
        None => reply = reply.push(" · started in Semaphore"),
    }
    if phase == Phase::Approval {
        let arg = task_arg(instances, instance, task.id);
        let prefix = &core.settings.prefix;
        reply = reply
            .push(" · ")
            .code(&format!("{prefix} approve {arg}"))
            .push(" / ")
            .code(&format!("{prefix} reject {arg}"));
    }
    if let Some(url) = url {
        reply = reply.push(" · ").link("open in Semaphore", url);
    }
    reply.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_wants_its_phases() {
        assert!(On::Failures.wants(Phase::Failed) && !On::Failures.wants(Phase::Ended));
        assert!(On::Finished.wants(Phase::Ended) && On::Finished.wants(Phase::Failed));
        assert!(!On::Finished.wants(Phase::Started) && !On::Finished.wants(Phase::Approval));
        assert!(On::All.wants(Phase::Started) && On::All.wants(Phase::Approval));
        for name in On::NAMES {
            assert_eq!(On::parse(name).map(On::as_str), Some(name));
        }
        assert_eq!(Phase::of(&TaskStatus::Waiting), None, "a queued task is not news");
    }

    #[test]
    fn the_remembered_set_forgets_the_oldest() {
        let mut recent = Recent::new();
        for n in 0..=REMEMBERED {
            recent.insert(n);
        }
        assert!(!recent.contains(&0) && recent.contains(&1) && recent.contains(&REMEMBERED));
        assert_eq!(recent.order.len(), REMEMBERED);
    }
}
