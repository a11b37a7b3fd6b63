//! The `Store` port on redb. Every call is one transaction, run on tokio's blocking pool so a
//! disk flush never stalls the event loop.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use chatrixcd_ports::schedule::{Schedule, SlotRun};
use chatrixcd_ports::store::{AuditEntry, Page, RoomSettings, RunRecord, Store, StoreError, TaskRef, TrackedTask};
use chatrixcd_ports::{Preset, PresetScope, RoomId, TaskStatus};
use chrono::{DateTime, Utc};
use redb::{Database, ReadableDatabase as _, ReadableTable as _, ReadableTableMetadata as _};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::open::{
    ALIASES, AUDIT, LAST_TASK, META, OpenError, PRESETS, ROOMS, RUN_BY_TASK, RUNS, RUNS_BY_REQUESTER, RUNS_BY_TEMPLATE,
    SCHEDULES, SLOTS, TRACKED, open_database, template_keys, template_lookup,
};

/// A slot's key: its schedule, then its time, both zero-padded so keys sort in time order.
fn slot_key(schedule: u64, slot: DateTime<Utc>) -> String {
    // Slots are after 1970 (a schedule is made now and fires later).
    format!("{schedule:020}/{:020}", slot.timestamp().max(0))
}

/// A preset's key: its scope's stable key, a NUL, its name. No scope key holds a NUL, so the
/// first one ends the scope, and keys sort by scope, then name, as `(scope key, name)` pairs do.
fn preset_key(scope: &PresetScope, name: &str) -> String {
    format!("{}\u{0}{name}", scope.key())
}

/// The store in `<data dir>/chatrixcd.redb`. Clones share the open database.
#[derive(Clone)]
pub struct RedbStore {
    db: Arc<Database>,
    path: Arc<PathBuf>,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore").field("path", &self.path).finish_non_exhaustive()
    }
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Ids from lists that are each newest first, as one list newest first, each id once.
fn merge_newest_first<I>(mut lists: Vec<std::iter::Peekable<I>>) -> impl Iterator<Item = Result<u64, StoreError>>
where
    I: Iterator<Item = Result<u64, StoreError>>,
{
    let mut last: Option<u64> = None;
    std::iter::from_fn(move || {
        loop {
            let mut best: Option<(usize, u64)> = None;
            for (i, list) in lists.iter_mut().enumerate() {
                match list.peek() {
                    // An error first, so it is not lost.
                    Some(Err(_)) => return list.next(),
                    Some(Ok(id)) if best.is_none_or(|(_, b)| *id > b) => best = Some((i, *id)),
                    _ => {}
                }
            }
            let (i, id) = best?;
            lists[i].next();
            // The same run under its template's name and its id.
            if last == Some(id) {
                continue;
            }
            last = Some(id);
            return Some(Ok(id));
        }
    })
}

/// Every value of `table`, decoded, in key order; none when the table was never made (a file
/// written before the table existed).
fn all_values<K: redb::Key + 'static, T: DeserializeOwned>(
    txn: &redb::ReadTransaction,
    table: redb::TableDefinition<'_, K, &[u8]>,
) -> Result<Vec<T>, StoreError> {
    use redb::ReadableTable as _;
    let table = match txn.open_table(table) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(unavailable(e)),
    };
    let mut out = Vec::new();
    for item in table.iter().map_err(unavailable)? {
        let (_, value) = item.map_err(unavailable)?;
        out.push(decode(value.value())?);
    }
    Ok(out)
}

/// `{instance}/{project}/{task}/{room}`: a task may be tracked in several rooms.
pub(crate) fn tracked_key(task: TaskRef, room: &str) -> String {
    format!("{}/{}/{}/{room}", task.instance, task.project, task.task)
}

/// `{instance}/{project}/{task}`: task ids are unique per instance only.
fn task_key(task: TaskRef) -> String {
    format!("{}/{}/{}", task.instance, task.project, task.task)
}

fn run_ref(run: &RunRecord) -> TaskRef {
    TaskRef::new(run.instance, run.project, run.task)
}

impl RedbStore {
    /// Opens (or creates) the database in `dir`.
    pub fn open(dir: &Path) -> Result<Self, OpenError> {
        let (db, path) = open_database(dir)?;
        Ok(Self { db: Arc::new(db), path: Arc::new(path) })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records many runs in one transaction (imports, benchmarks); returns their ids.
    pub async fn record_runs(&self, runs: Vec<RunRecord>) -> Result<Vec<u64>, StoreError> {
        self.write(move |txn| {
            let mut meta = txn.open_table(META).map_err(unavailable)?;
            let mut last = meta
                .get("last_run_id")
                .map_err(unavailable)?
                .map_or(Ok(0), |v| v.value().parse::<u64>().map_err(|e| StoreError::Corrupt(e.to_string())))?;
            let mut table = txn.open_table(RUNS).map_err(unavailable)?;
            let mut index = txn.open_table(RUN_BY_TASK).map_err(unavailable)?;
            let mut by_requester = txn.open_multimap_table(RUNS_BY_REQUESTER).map_err(unavailable)?;
            let mut by_template = txn.open_multimap_table(RUNS_BY_TEMPLATE).map_err(unavailable)?;
            let mut ids = Vec::with_capacity(runs.len());
            for mut run in runs {
                last += 1;
                run.id = last;
                table.insert(last, encode(&run)?.as_slice()).map_err(unavailable)?;
                let key = task_key(run_ref(&run));
                index.insert(key.as_str(), last).map_err(unavailable)?;
                by_requester.insert(run.requester.as_str(), last).map_err(unavailable)?;
                for key in template_keys(&run) {
                    by_template.insert(key.as_str(), last).map_err(unavailable)?;
                }
                ids.push(last);
            }
            meta.insert("last_run_id", last.to_string().as_str()).map_err(unavailable)?;
            Ok(ids)
        })
        .await
    }

    /// Runs `work` on the blocking pool with the database.
    async fn with<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || work(&db)).await.map_err(unavailable)?
    }

    /// A write transaction: `change` runs, then everything commits at once, durably.
    async fn write<T, F>(&self, change: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&redb::WriteTransaction) -> Result<T, StoreError> + Send + 'static,
    {
        self.with(move |db| {
            let txn = db.begin_write().map_err(unavailable)?;
            let out = change(&txn)?;
            txn.commit().map_err(unavailable)?;
            Ok(out)
        })
        .await
    }

    async fn read<T, F>(&self, look: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&redb::ReadTransaction) -> Result<T, StoreError> + Send + 'static,
    {
        self.with(move |db| {
            let txn = db.begin_read().map_err(unavailable)?;
            look(&txn)
        })
        .await
    }
}

/// Newest first, below `page.before`, at most `page.limit`.
fn page_rev<T: DeserializeOwned>(
    table: &impl redb::ReadableTable<u64, &'static [u8]>,
    page: Page,
) -> Result<Vec<T>, StoreError> {
    let upper = page.before.unwrap_or(u64::MAX);
    let mut out = Vec::new();
    for item in table.range(..upper).map_err(unavailable)?.rev().take(page.limit) {
        let (_, value) = item.map_err(unavailable)?;
        out.push(decode(value.value())?);
    }
    Ok(out)
}

#[async_trait]
impl Store for RedbStore {
    async fn aliases(&self) -> Result<BTreeMap<String, String>, StoreError> {
        self.read(|txn| {
            let table = txn.open_table(ALIASES).map_err(unavailable)?;
            let mut out = BTreeMap::new();
            for item in table.iter().map_err(unavailable)? {
                let (k, v) = item.map_err(unavailable)?;
                out.insert(k.value().to_owned(), v.value().to_owned());
            }
            Ok(out)
        })
        .await
    }

    async fn set_alias(&self, name: &str, command: &str) -> Result<(), StoreError> {
        let (name, command) = (name.to_owned(), command.to_owned());
        self.write(move |txn| {
            txn.open_table(ALIASES)
                .map_err(unavailable)?
                .insert(name.as_str(), command.as_str())
                .map_err(unavailable)?;
            Ok(())
        })
        .await
    }

    async fn remove_alias(&self, name: &str) -> Result<bool, StoreError> {
        let name = name.to_owned();
        self.write(move |txn| {
            let mut table = txn.open_table(ALIASES).map_err(unavailable)?;
            let removed = table.remove(name.as_str()).map_err(unavailable)?.is_some();
            Ok(removed)
        })
        .await
    }

    async fn tracked_tasks(&self) -> Result<Vec<TrackedTask>, StoreError> {
        self.read(|txn| {
            let table = txn.open_table(TRACKED).map_err(unavailable)?;
            let mut out: Vec<TrackedTask> = Vec::new();
            for item in table.iter().map_err(unavailable)? {
                out.push(decode(item.map_err(unavailable)?.1.value())?);
            }
            // In the order they were started, as the in-memory store keeps them.
            out.sort_by_key(|t| t.started_at);
            Ok(out)
        })
        .await
    }

    async fn track(&self, task: TrackedTask) -> Result<(), StoreError> {
        let key = tracked_key(task.task_ref(), task.room.as_str());
        let mut bytes = encode(&task)?;
        self.write(move |txn| {
            let mut table = txn.open_table(TRACKED).map_err(unavailable)?;
            // A re-track keeps the original start, so the order of tracked tasks is stable.
            if let Some(existing) = table.get(key.as_str()).map_err(unavailable)? {
                let old: TrackedTask = decode(existing.value())?;
                drop(existing);
                let mut task = task;
                task.started_at = old.started_at;
                bytes = encode(&task)?;
            }
            table.insert(key.as_str(), bytes.as_slice()).map_err(unavailable)?;
            Ok(())
        })
        .await
    }

    async fn untrack(&self, task: TaskRef, room: &RoomId) -> Result<(), StoreError> {
        let key = tracked_key(task, room.as_str());
        self.write(move |txn| {
            txn.open_table(TRACKED).map_err(unavailable)?.remove(key.as_str()).map_err(unavailable)?;
            Ok(())
        })
        .await
    }

    async fn last_task(&self, room: &RoomId) -> Result<Option<TaskRef>, StoreError> {
        let room = room.to_string();
        self.read(move |txn| {
            let table = txn.open_table(LAST_TASK).map_err(unavailable)?;
            match table.get(room.as_str()).map_err(unavailable)? {
                Some(v) => Ok(Some(decode(v.value())?)),
                None => Ok(None),
            }
        })
        .await
    }

    async fn set_last_task(&self, room: &RoomId, task: TaskRef) -> Result<(), StoreError> {
        let (room, bytes) = (room.to_string(), encode(&task)?);
        self.write(move |txn| {
            txn.open_table(LAST_TASK)
                .map_err(unavailable)?
                .insert(room.as_str(), bytes.as_slice())
                .map_err(unavailable)?;
            Ok(())
        })
        .await
    }

    async fn room_settings(&self, room: &RoomId) -> Result<RoomSettings, StoreError> {
        let room = room.to_string();
        self.read(move |txn| {
            let table = txn.open_table(ROOMS).map_err(unavailable)?;
            match table.get(room.as_str()).map_err(unavailable)? {
                Some(v) => decode(v.value()),
                None => Ok(RoomSettings::default()),
            }
        })
        .await
    }

    async fn set_room_settings(&self, room: &RoomId, settings: RoomSettings) -> Result<(), StoreError> {
        let (room, bytes) = (room.to_string(), encode(&settings)?);
        self.write(move |txn| {
            txn.open_table(ROOMS).map_err(unavailable)?.insert(room.as_str(), bytes.as_slice()).map_err(unavailable)?;
            Ok(())
        })
        .await
    }

    async fn record_run(&self, mut run: RunRecord) -> Result<u64, StoreError> {
        self.write(move |txn| {
            // A counter of its own: pruning old runs must never let an id be used twice.
            let mut meta = txn.open_table(META).map_err(unavailable)?;
            let id = meta
                .get("last_run_id")
                .map_err(unavailable)?
                .map_or(Ok(0), |v| v.value().parse::<u64>().map_err(|e| StoreError::Corrupt(e.to_string())))?
                + 1;
            meta.insert("last_run_id", id.to_string().as_str()).map_err(unavailable)?;
            let mut runs = txn.open_table(RUNS).map_err(unavailable)?;
            run.id = id;
            runs.insert(id, encode(&run)?.as_slice()).map_err(unavailable)?;
            let key = task_key(run_ref(&run));
            txn.open_table(RUN_BY_TASK).map_err(unavailable)?.insert(key.as_str(), id).map_err(unavailable)?;
            txn.open_multimap_table(RUNS_BY_REQUESTER)
                .map_err(unavailable)?
                .insert(run.requester.as_str(), id)
                .map_err(unavailable)?;
            let mut by_template = txn.open_multimap_table(RUNS_BY_TEMPLATE).map_err(unavailable)?;
            for key in template_keys(&run) {
                by_template.insert(key.as_str(), id).map_err(unavailable)?;
            }
            Ok(id)
        })
        .await
    }

    async fn finish_run(&self, task: TaskRef, ended_at: DateTime<Utc>, result: TaskStatus) -> Result<(), StoreError> {
        let key = task_key(task);
        self.write(move |txn| {
            let index = txn.open_table(RUN_BY_TASK).map_err(unavailable)?;
            let indexed = index.get(key.as_str()).map_err(unavailable)?.map(|v| v.value());
            let mut runs = txn.open_table(RUNS).map_err(unavailable)?;
            let mut found = match indexed {
                Some(id) => runs.get(id).map_err(unavailable)?.map(|v| (id, v.value().to_vec())),
                None => None,
            };
            if found.is_none() {
                // The indexed run was pruned: an older run of the same task may remain.
                for item in runs.iter().map_err(unavailable)?.rev() {
                    let (id, value) = item.map_err(unavailable)?;
                    let run: RunRecord = decode(value.value())?;
                    if run_ref(&run) == task {
                        found = Some((id.value(), value.value().to_vec()));
                        break;
                    }
                }
            }
            let Some((id, bytes)) = found else { return Ok(()) };
            let mut run: RunRecord = decode(&bytes)?;
            run.ended_at = Some(ended_at);
            run.result = Some(result);
            runs.insert(id, encode(&run)?.as_slice()).map_err(unavailable)?;
            Ok(())
        })
        .await
    }

    async fn run_of(&self, task: TaskRef) -> Result<Option<RunRecord>, StoreError> {
        let key = task_key(task);
        self.read(move |txn| {
            let index = txn.open_table(RUN_BY_TASK).map_err(unavailable)?;
            let Some(id) = index.get(key.as_str()).map_err(unavailable)?.map(|v| v.value()) else { return Ok(None) };
            let runs = txn.open_table(RUNS).map_err(unavailable)?;
            let run = runs.get(id).map_err(unavailable)?.map(|v| decode::<RunRecord>(v.value())).transpose()?;
            Ok(run.filter(|r| run_ref(r) == task))
        })
        .await
    }

    async fn find_runs(&self, query: &chatrixcd_ports::RunQuery, page: Page) -> Result<Vec<RunRecord>, StoreError> {
        let query = query.clone();
        self.read(move |txn| {
            let runs = txn.open_table(RUNS).map_err(unavailable)?;
            let upper = page.before.unwrap_or(u64::MAX);
            let mut out = Vec::new();
            // One person's or one template's runs come from their index; the rest by walking
            // back from `before`.
            let ids: Box<dyn Iterator<Item = Result<u64, StoreError>>> = match (&query.requester, &query.template) {
                (None, Some(template)) => {
                    let index = txn.open_multimap_table(RUNS_BY_TEMPLATE).map_err(unavailable)?;
                    // A name and maybe an id: each key's ids newest first, merged as they are
                    // read, so a page costs a page, however common the template.
                    let mut lists = Vec::new();
                    for key in template_lookup(template) {
                        let ids = index.get(key.as_str()).map_err(unavailable)?;
                        lists.push(ids.rev().map(|v| v.map(|v| v.value()).map_err(unavailable)).peekable());
                    }
                    Box::new(merge_newest_first(lists).filter(move |id| id.as_ref().map_or(true, |id| *id < upper)))
                }
                (Some(requester), _) => {
                    let index = txn.open_multimap_table(RUNS_BY_REQUESTER).map_err(unavailable)?;
                    let values = index.get(requester.as_str()).map_err(unavailable)?;
                    Box::new(
                        values
                            .rev()
                            .map(|v| v.map(|v| v.value()).map_err(unavailable))
                            .filter(move |id| id.as_ref().map_or(true, |id| *id < upper)),
                    )
                }
                (None, None) => Box::new(
                    runs.range(..upper)
                        .map_err(unavailable)?
                        .rev()
                        .map(|item| item.map(|(id, _)| id.value()).map_err(unavailable)),
                ),
            };
            for id in ids {
                if out.len() >= page.limit {
                    break;
                }
                let Some(value) = runs.get(id?).map_err(unavailable)? else { continue };
                let run: RunRecord = decode(value.value())?;
                // Numbered in start order: everything further down started earlier still.
                if query.since.is_some_and(|since| run.started_at < since) {
                    break;
                }
                if query.matches(&run) {
                    out.push(run);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn runs(&self, page: Page) -> Result<Vec<RunRecord>, StoreError> {
        self.read(move |txn| page_rev(&txn.open_table(RUNS).map_err(unavailable)?, page)).await
    }

    async fn purge_runs_of(&self, user: &chatrixcd_ports::UserId) -> Result<usize, StoreError> {
        let user = user.clone();
        self.write(move |txn| {
            let mut runs = txn.open_table(RUNS).map_err(unavailable)?;
            let mut index = txn.open_table(RUN_BY_TASK).map_err(unavailable)?;
            let mut by_requester = txn.open_multimap_table(RUNS_BY_REQUESTER).map_err(unavailable)?;
            let mut by_template = txn.open_multimap_table(RUNS_BY_TEMPLATE).map_err(unavailable)?;
            let ids: Vec<u64> = by_requester
                .remove_all(user.as_str())
                .map_err(unavailable)?
                .map(|v| v.map(|v| v.value()).map_err(unavailable))
                .collect::<Result<_, _>>()?;
            for id in &ids {
                let Some(run) =
                    runs.remove(*id).map_err(unavailable)?.map(|v| decode::<RunRecord>(v.value())).transpose()?
                else {
                    continue;
                };
                let key = task_key(run_ref(&run));
                if index.get(key.as_str()).map_err(unavailable)?.map(|v| v.value()) == Some(*id) {
                    index.remove(key.as_str()).map_err(unavailable)?;
                }
                for key in template_keys(&run) {
                    by_template.remove(key.as_str(), *id).map_err(unavailable)?;
                }
            }
            Ok(ids.len())
        })
        .await
    }

    async fn anonymise_runs(&self, cutoff: DateTime<Utc>) -> Result<usize, StoreError> {
        self.write(move |txn| {
            let anonymous = chatrixcd_ports::UserId::parse(chatrixcd_ports::store::ANONYMOUS)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            // Runs up to this id were anonymised (or checked) at an earlier start: each start reads
            // only the runs that have come of age since, not the whole old history again.
            let mut meta = txn.open_table(META).map_err(unavailable)?;
            let done: u64 = meta
                .get("anonymised_through")
                .map_err(unavailable)?
                .map_or(Ok(0), |v| v.value().parse::<u64>().map_err(|e| StoreError::Corrupt(e.to_string())))?;
            let mut runs = txn.open_table(RUNS).map_err(unavailable)?;
            let mut by_requester = txn.open_multimap_table(RUNS_BY_REQUESTER).map_err(unavailable)?;
            let mut changed = Vec::new();
            let mut through = done;
            for item in runs.range(done.saturating_add(1)..).map_err(unavailable)? {
                let (id, value) = item.map_err(unavailable)?;
                let run: RunRecord = decode(value.value())?;
                // Numbered in start order: the first run at or after the cutoff ends the walk.
                if run.started_at >= cutoff {
                    break;
                }
                through = id.value();
                if run.requester != anonymous {
                    changed.push((id.value(), run));
                }
            }
            let count = changed.len();
            for (id, mut run) in changed {
                by_requester.remove(run.requester.as_str(), id).map_err(unavailable)?;
                run.requester = anonymous.clone();
                runs.insert(id, encode(&run)?.as_slice()).map_err(unavailable)?;
                by_requester.insert(anonymous.as_str(), id).map_err(unavailable)?;
            }
            meta.insert("anonymised_through", through.to_string().as_str()).map_err(unavailable)?;
            Ok(count)
        })
        .await
    }

    async fn prune_runs(&self, cutoff: DateTime<Utc>) -> Result<usize, StoreError> {
        self.write(move |txn| {
            let mut runs = txn.open_table(RUNS).map_err(unavailable)?;
            let mut index = txn.open_table(RUN_BY_TASK).map_err(unavailable)?;
            let mut by_requester = txn.open_multimap_table(RUNS_BY_REQUESTER).map_err(unavailable)?;
            let mut doomed = Vec::new();
            for item in runs.iter().map_err(unavailable)? {
                let (id, value) = item.map_err(unavailable)?;
                let run: RunRecord = decode(value.value())?;
                if run.started_at < cutoff {
                    doomed.push((id.value(), task_key(run_ref(&run)), template_keys(&run), run.requester));
                }
            }
            let mut by_template = txn.open_multimap_table(RUNS_BY_TEMPLATE).map_err(unavailable)?;
            for (id, key, templates, requester) in &doomed {
                for template in templates {
                    by_template.remove(template.as_str(), *id).map_err(unavailable)?;
                }
                runs.remove(*id).map_err(unavailable)?;
                if index.get(key.as_str()).map_err(unavailable)?.map(|v| v.value()) == Some(*id) {
                    index.remove(key.as_str()).map_err(unavailable)?;
                }
                by_requester.remove(requester.as_str(), *id).map_err(unavailable)?;
            }
            Ok(doomed.len())
        })
        .await
    }

    async fn append_audit(&self, mut entry: AuditEntry) -> Result<u64, StoreError> {
        self.write(move |txn| {
            let mut audit = txn.open_table(AUDIT).map_err(unavailable)?;
            // Numbered inside the transaction: a crash can never leave a gap.
            let seq = audit.len().map_err(unavailable)? + 1;
            entry.seq = seq;
            audit.insert(seq, encode(&entry)?.as_slice()).map_err(unavailable)?;
            Ok(seq)
        })
        .await
    }

    async fn audit(&self, page: Page) -> Result<Vec<AuditEntry>, StoreError> {
        self.read(move |txn| page_rev(&txn.open_table(AUDIT).map_err(unavailable)?, page)).await
    }

    async fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        let key = format!("setting:{key}");
        self.read(move |txn| {
            let table = txn.open_table(META).map_err(unavailable)?;
            Ok(table.get(key.as_str()).map_err(unavailable)?.map(|v| v.value().to_owned()))
        })
        .await
    }

    async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let (key, value) = (format!("setting:{key}"), value.to_owned());
        self.write(move |txn| {
            txn.open_table(META).map_err(unavailable)?.insert(key.as_str(), value.as_str()).map_err(unavailable)?;
            Ok(())
        })
        .await
    }

    async fn presets(&self) -> Result<Vec<Preset>, StoreError> {
        self.read(|txn| all_values(txn, PRESETS)).await
    }

    async fn put_preset(&self, preset: Preset) -> Result<(), StoreError> {
        let (key, bytes) = (preset_key(&preset.scope, &preset.name), encode(&preset)?);
        self.write(move |txn| {
            txn.open_table(PRESETS)
                .map_err(unavailable)?
                .insert(key.as_str(), bytes.as_slice())
                .map_err(unavailable)?;
            Ok(())
        })
        .await
    }

    async fn remove_preset(&self, scope: &PresetScope, name: &str) -> Result<bool, StoreError> {
        let key = preset_key(scope, name);
        self.write(move |txn| {
            let existed =
                txn.open_table(PRESETS).map_err(unavailable)?.remove(key.as_str()).map_err(unavailable)?.is_some();
            Ok(existed)
        })
        .await
    }

    async fn schedules(&self) -> Result<Vec<Schedule>, StoreError> {
        self.read(|txn| all_values(txn, SCHEDULES)).await
    }

    async fn put_schedule(&self, mut schedule: Schedule) -> Result<u64, StoreError> {
        self.write(move |txn| {
            if schedule.id == 0 {
                let mut meta = txn.open_table(META).map_err(unavailable)?;
                let last = meta
                    .get("last_schedule_id")
                    .map_err(unavailable)?
                    .map_or(Ok(0), |v| v.value().parse::<u64>().map_err(|e| StoreError::Corrupt(e.to_string())))?;
                schedule.id = last + 1;
                meta.insert("last_schedule_id", schedule.id.to_string().as_str()).map_err(unavailable)?;
            }
            let mut table = txn.open_table(SCHEDULES).map_err(unavailable)?;
            table.insert(schedule.id, encode(&schedule)?.as_slice()).map_err(unavailable)?;
            Ok(schedule.id)
        })
        .await
    }

    async fn remove_schedule(&self, id: u64) -> Result<bool, StoreError> {
        self.write(move |txn| {
            let existed = txn.open_table(SCHEDULES).map_err(unavailable)?.remove(id).map_err(unavailable)?.is_some();
            let mut slots = txn.open_table(SLOTS).map_err(unavailable)?;
            let (from, to) = (format!("{id:020}/"), format!("{id:020}0"));
            slots.retain_in(from.as_str()..to.as_str(), |_, _| false).map_err(unavailable)?;
            Ok(existed)
        })
        .await
    }

    async fn claim_slot(&self, run: SlotRun) -> Result<bool, StoreError> {
        self.write(move |txn| {
            let key = slot_key(run.schedule, run.slot);
            let mut slots = txn.open_table(SLOTS).map_err(unavailable)?;
            if slots.get(key.as_str()).map_err(unavailable)?.is_some() {
                return Ok(false);
            }
            slots.insert(key.as_str(), encode(&run)?.as_slice()).map_err(unavailable)?;
            let mut schedules = txn.open_table(SCHEDULES).map_err(unavailable)?;
            let stored = schedules.get(run.schedule).map_err(unavailable)?.map(|v| v.value().to_vec());
            if let Some(bytes) = stored {
                let mut schedule: Schedule = decode(&bytes)?;
                schedule.last_slot = Some(schedule.last_slot.map_or(run.slot, |last| last.max(run.slot)));
                schedules.insert(run.schedule, encode(&schedule)?.as_slice()).map_err(unavailable)?;
            }
            Ok(true)
        })
        .await
    }

    async fn update_slot(&self, run: SlotRun) -> Result<(), StoreError> {
        self.write(move |txn| {
            let key = slot_key(run.schedule, run.slot);
            txn.open_table(SLOTS)
                .map_err(unavailable)?
                .insert(key.as_str(), encode(&run)?.as_slice())
                .map_err(unavailable)?;
            Ok(())
        })
        .await
    }

    async fn slots(&self, schedule: u64, limit: usize) -> Result<Vec<SlotRun>, StoreError> {
        self.read(move |txn| {
            let table = match txn.open_table(SLOTS) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
                Err(e) => return Err(unavailable(e)),
            };
            let (from, to) = (format!("{schedule:020}/"), format!("{schedule:020}0"));
            let mut out = Vec::new();
            for item in table.range(from.as_str()..to.as_str()).map_err(unavailable)?.rev().take(limit) {
                let (_, value) = item.map_err(unavailable)?;
                out.push(decode(value.value())?);
            }
            Ok(out)
        })
        .await
    }
}
