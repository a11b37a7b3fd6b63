//! An in-memory store: the demo's default and the reference the persistent stores are compared
//! against in model-based tests. Nothing survives the process.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use chatrixcd_ports::schedule::{Schedule, SlotRun};
use chatrixcd_ports::store::{
    AuditEntry, Page, RoomSettings, RunQuery, RunRecord, Store, StoreError, TaskRef, TrackedTask,
};
use chatrixcd_ports::{Preset, PresetScope, RoomId, TaskStatus, UserId};
use chrono::{DateTime, Utc};

#[derive(Debug, Default)]
struct State {
    aliases: BTreeMap<String, String>,
    tracked: Vec<TrackedTask>,
    last_task: HashMap<RoomId, TaskRef>,
    room_settings: HashMap<RoomId, RoomSettings>,
    runs: BTreeMap<u64, RunRecord>,
    next_run: u64,
    audit: Vec<AuditEntry>,
    settings: BTreeMap<String, String>,
    schedules: BTreeMap<u64, Schedule>,
    next_schedule: u64,
    slots: BTreeMap<(u64, DateTime<Utc>), SlotRun>,
    presets: BTreeMap<(String, String), Preset>,
}

/// Newest first, below `page.before`, at most `page.limit`: the listing rule every store follows.
pub fn page_of<T: Clone>(items: impl DoubleEndedIterator<Item = (u64, T)>, page: Page) -> Vec<T> {
    items.rev().filter(|(id, _)| page.before.is_none_or(|b| *id < b)).take(page.limit).map(|(_, t)| t).collect()
}

#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts with these aliases (e.g. read from an existing `aliases.json`).
    pub fn with_aliases(aliases: BTreeMap<String, String>) -> Self {
        Self { state: Mutex::new(State { aliases, ..State::default() }) }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every method leaves the state consistent before it can panic, so a poisoned lock still
        // guards valid data.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn aliases(&self) -> Result<BTreeMap<String, String>, StoreError> {
        Ok(self.state().aliases.clone())
    }

    async fn set_alias(&self, name: &str, command: &str) -> Result<(), StoreError> {
        self.state().aliases.insert(name.to_owned(), command.to_owned());
        Ok(())
    }

    async fn remove_alias(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self.state().aliases.remove(name).is_some())
    }

    async fn tracked_tasks(&self) -> Result<Vec<TrackedTask>, StoreError> {
        let mut tracked = self.state().tracked.clone();
        tracked.sort_by_key(|t| t.started_at);
        Ok(tracked)
    }

    async fn track(&self, task: TrackedTask) -> Result<(), StoreError> {
        let mut state = self.state();
        match state.tracked.iter_mut().find(|t| t.task_ref() == task.task_ref() && t.room == task.room) {
            // The tracking start stays the first one, whatever the updates.
            Some(existing) => {
                let started_at = existing.started_at;
                *existing = task;
                existing.started_at = started_at;
            }
            None => state.tracked.push(task),
        }
        Ok(())
    }

    async fn untrack(&self, task: TaskRef, room: &RoomId) -> Result<(), StoreError> {
        self.state().tracked.retain(|t| !(t.task_ref() == task && &t.room == room));
        Ok(())
    }

    async fn last_task(&self, room: &RoomId) -> Result<Option<TaskRef>, StoreError> {
        Ok(self.state().last_task.get(room).copied())
    }

    async fn set_last_task(&self, room: &RoomId, task: TaskRef) -> Result<(), StoreError> {
        self.state().last_task.insert(room.clone(), task);
        Ok(())
    }

    async fn room_settings(&self, room: &RoomId) -> Result<RoomSettings, StoreError> {
        Ok(self.state().room_settings.get(room).cloned().unwrap_or_default())
    }

    async fn set_room_settings(&self, room: &RoomId, settings: RoomSettings) -> Result<(), StoreError> {
        self.state().room_settings.insert(room.clone(), settings);
        Ok(())
    }

    async fn record_run(&self, mut run: RunRecord) -> Result<u64, StoreError> {
        let mut state = self.state();
        state.next_run += 1;
        run.id = state.next_run;
        state.runs.insert(run.id, run);
        Ok(state.next_run)
    }

    async fn finish_run(&self, task: TaskRef, ended_at: DateTime<Utc>, result: TaskStatus) -> Result<(), StoreError> {
        let mut state = self.state();
        // The newest run of that task: a task id belongs to one run.
        if let Some(run) = state
            .runs
            .values_mut()
            .rev()
            .find(|r| r.instance == task.instance && r.project == task.project && r.task == task.task)
        {
            run.ended_at = Some(ended_at);
            run.result = Some(result);
        }
        Ok(())
    }

    async fn run_of(&self, task: TaskRef) -> Result<Option<RunRecord>, StoreError> {
        let state = self.state();
        let run = state
            .runs
            .values()
            .rev()
            .find(|r| r.instance == task.instance && r.project == task.project && r.task == task.task);
        Ok(run.cloned())
    }

    async fn find_runs(&self, query: &RunQuery, page: Page) -> Result<Vec<RunRecord>, StoreError> {
        let state = self.state();
        let matching = state.runs.iter().filter(|(_, r)| query.matches(r)).map(|(id, r)| (*id, r.clone()));
        Ok(page_of(matching, page))
    }

    async fn purge_runs_of(&self, user: &UserId) -> Result<usize, StoreError> {
        let mut state = self.state();
        let before = state.runs.len();
        state.runs.retain(|_, r| &r.requester != user);
        Ok(before - state.runs.len())
    }

    async fn anonymise_runs(&self, cutoff: DateTime<Utc>) -> Result<usize, StoreError> {
        let anonymous =
            UserId::parse(chatrixcd_ports::store::ANONYMOUS).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut changed = 0;
        for run in self.state().runs.values_mut().filter(|r| r.started_at < cutoff && r.requester != anonymous) {
            run.requester = anonymous.clone();
            changed += 1;
        }
        Ok(changed)
    }

    async fn runs(&self, page: Page) -> Result<Vec<RunRecord>, StoreError> {
        let state = self.state();
        Ok(page_of(state.runs.iter().map(|(id, r)| (*id, r.clone())), page))
    }

    async fn prune_runs(&self, cutoff: DateTime<Utc>) -> Result<usize, StoreError> {
        let mut state = self.state();
        let before = state.runs.len();
        state.runs.retain(|_, r| r.started_at >= cutoff);
        Ok(before - state.runs.len())
    }

    async fn append_audit(&self, mut entry: AuditEntry) -> Result<u64, StoreError> {
        let mut state = self.state();
        entry.seq = state.audit.len() as u64 + 1;
        let seq = entry.seq;
        state.audit.push(entry);
        Ok(seq)
    }

    async fn audit(&self, page: Page) -> Result<Vec<AuditEntry>, StoreError> {
        let state = self.state();
        Ok(page_of(state.audit.iter().map(|e| (e.seq, e.clone())), page))
    }

    async fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self.state().settings.get(key).cloned())
    }

    async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.state().settings.insert(key.to_owned(), value.to_owned());
        Ok(())
    }

    async fn presets(&self) -> Result<Vec<Preset>, StoreError> {
        Ok(self.state().presets.values().cloned().collect())
    }

    async fn put_preset(&self, preset: Preset) -> Result<(), StoreError> {
        self.state().presets.insert((preset.scope.key(), preset.name.clone()), preset);
        Ok(())
    }

    async fn remove_preset(&self, scope: &PresetScope, name: &str) -> Result<bool, StoreError> {
        Ok(self.state().presets.remove(&(scope.key(), name.to_owned())).is_some())
    }

    async fn schedules(&self) -> Result<Vec<Schedule>, StoreError> {
        Ok(self.state().schedules.values().cloned().collect())
    }

    async fn put_schedule(&self, mut schedule: Schedule) -> Result<u64, StoreError> {
        let mut state = self.state();
        if schedule.id == 0 {
            state.next_schedule += 1;
            schedule.id = state.next_schedule;
        }
        let id = schedule.id;
        state.schedules.insert(id, schedule);
        Ok(id)
    }

    async fn remove_schedule(&self, id: u64) -> Result<bool, StoreError> {
        let mut state = self.state();
        state.slots.retain(|(s, _), _| *s != id);
        Ok(state.schedules.remove(&id).is_some())
    }

    async fn claim_slot(&self, run: SlotRun) -> Result<bool, StoreError> {
        let mut state = self.state();
        let key = (run.schedule, run.slot);
        if state.slots.contains_key(&key) {
            return Ok(false);
        }
        if let Some(schedule) = state.schedules.get_mut(&run.schedule) {
            schedule.last_slot = Some(schedule.last_slot.map_or(run.slot, |last| last.max(run.slot)));
        }
        state.slots.insert(key, run);
        Ok(true)
    }

    async fn update_slot(&self, run: SlotRun) -> Result<(), StoreError> {
        self.state().slots.insert((run.schedule, run.slot), run);
        Ok(())
    }

    async fn slots(&self, schedule: u64, limit: usize) -> Result<Vec<SlotRun>, StoreError> {
        let state = self.state();
        Ok(state
            .slots
            .range((schedule, DateTime::<Utc>::MIN_UTC)..=(schedule, DateTime::<Utc>::MAX_UTC))
            .rev()
            .take(limit)
            .map(|(_, r)| r.clone())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chatrixcd_ports::{InstanceId, ProjectId, TaskId, TaskStatus, TemplateId, UserId};

    fn tracked(task: u64, room: &str) -> TrackedTask {
        TrackedTask {
            instance: InstanceId::default(),
            project: ProjectId::new(1),
            task: TaskId::new(task),
            template: TemplateId::new(1),
            template_name: "deploy".into(),
            room: RoomId::parse(room).unwrap(),
            requester: UserId::parse("@a:x").unwrap(),
            status_event: None,
            last_status: TaskStatus::Waiting,
            started_at: chrono::DateTime::from_timestamp(0, 0).unwrap(),
            stop_requested_by: None,
        }
    }

    #[tokio::test]
    async fn track_replaces_same_task_in_same_room_only() {
        let store = MemoryStore::new();
        store.track(tracked(1, "!a:x")).await.unwrap();
        store.track(tracked(1, "!b:x")).await.unwrap();
        let mut again = tracked(1, "!a:x");
        again.last_status = TaskStatus::Running;
        store.track(again).await.unwrap();
        let all = store.tracked_tasks().await.unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].last_status, TaskStatus::Running);
        let r = TaskRef::new(InstanceId::default(), ProjectId::new(1), TaskId::new(1));
        store.untrack(r, &RoomId::parse("!a:x").unwrap()).await.unwrap();
        assert_eq!(store.tracked_tasks().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn aliases_round_trip_and_last_task_is_per_room() {
        let store = MemoryStore::new();
        store.set_alias("deploy", "run 1 1").await.unwrap();
        assert_eq!(store.aliases().await.unwrap()["deploy"], "run 1 1");
        assert!(store.remove_alias("deploy").await.unwrap());
        assert!(!store.remove_alias("deploy").await.unwrap());
        let a = RoomId::parse("!a:x").unwrap();
        let r = TaskRef::new(InstanceId::default(), ProjectId::new(1), TaskId::new(7));
        store.set_last_task(&a, r).await.unwrap();
        assert_eq!(store.last_task(&a).await.unwrap(), Some(r));
        assert_eq!(store.last_task(&RoomId::parse("!b:x").unwrap()).await.unwrap(), None);
    }
}
