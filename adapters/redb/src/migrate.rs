//! Moving a file written by an older chatrixcd to today's layout, inside the one write
//! transaction that opens it: a crash half-way leaves the old file as it was, never a mix.
//!
//! Schema 1 → 2: tasks gained the Semaphore instance they run on, since task ids are unique per
//! instance only. Keys `{project}/{task}[/{room}]` become `{instance}/{project}/{task}[/{room}]`
//! with the instance `default` (the only one schema 1 knew). Values need no rewrite: a missing
//! or `null` instance reads as `default` (`InstanceId`'s serde), so runs, however many, and the
//! rooms' last tasks stay as they are.

use chatrixcd_ports::InstanceId;
use chatrixcd_ports::store::TrackedTask;
use redb::{ReadableTable as _, TableDefinition, WriteTransaction};

use crate::open::{ROOMS, RUN_BY_TASK, TRACKED};

/// Why a migration could not finish; the transaction is dropped, the file stays as it was.
#[derive(Debug, thiserror::Error)]
#[error("{table}: {detail}")]
pub(crate) struct MigrateError {
    table: &'static str,
    detail: String,
}

/// What a migration did, for the log line that tells the operator.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Migrated {
    pub tracked: usize,
    pub rooms: usize,
}

/// Rewrites every entry of a string-keyed JSON table: `change` gives each its new key and value.
fn rewrite(
    txn: &WriteTransaction,
    table: TableDefinition<'_, &str, &[u8]>,
    name: &'static str,
    change: impl Fn(&str, &[u8]) -> Result<(String, Vec<u8>), String>,
) -> Result<usize, MigrateError> {
    let fail = |detail: String| MigrateError { table: name, detail };
    let mut open = txn.open_table(table).map_err(|e| fail(e.to_string()))?;
    let mut changed = Vec::new();
    for item in open.iter().map_err(|e| fail(e.to_string()))? {
        let (k, v) = item.map_err(|e| fail(e.to_string()))?;
        let key = k.value().to_owned();
        let (new_key, value) = change(&key, v.value()).map_err(|e| fail(format!("record {key}: {e}")))?;
        changed.push((key, new_key, value));
    }
    for (old, new, value) in &changed {
        open.remove(old.as_str()).map_err(|e| fail(e.to_string()))?;
        open.insert(new.as_str(), value.as_slice()).map_err(|e| fail(e.to_string()))?;
    }
    Ok(changed.len())
}

/// Schema 1 → 2, in `txn`. Every record is kept.
pub(crate) fn v1_to_v2(txn: &WriteTransaction) -> Result<Migrated, MigrateError> {
    let default = InstanceId::default();
    let tracked = rewrite(txn, TRACKED, "tracked_tasks", |_, bytes| {
        let task: TrackedTask = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        Ok((crate::store::tracked_key(task.task_ref(), task.room.as_str()), bytes.to_vec()))
    })?;
    // The index of runs by task: the keys gain the instance, the run ids stay.
    let fail = |e: &dyn std::fmt::Display| MigrateError { table: "run_by_task", detail: e.to_string() };
    let mut index = txn.open_table(RUN_BY_TASK).map_err(|e| fail(&e))?;
    let mut old = Vec::new();
    for item in index.iter().map_err(|e| fail(&e))? {
        let (k, v) = item.map_err(|e| fail(&e))?;
        old.push((k.value().to_owned(), v.value()));
    }
    for (key, id) in old {
        index.remove(key.as_str()).map_err(|e| fail(&e))?;
        index.insert(format!("{default}/{key}").as_str(), id).map_err(|e| fail(&e))?;
    }
    // Schema 1 had a free-text `active_instance` that nothing set; a value that is not an
    // instance name now would make the room unreadable, so it goes back to the default.
    let rooms = rewrite(txn, ROOMS, "room_settings", |room, bytes| {
        let mut value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if let Some(active) = value.get_mut("active_instance")
            && active.as_str().is_some_and(|name| InstanceId::parse(name).is_err())
        {
            *active = serde_json::Value::Null;
        }
        Ok((room.to_owned(), serde_json::to_vec(&value).map_err(|e| e.to_string())?))
    })?;
    Ok(Migrated { tracked, rooms })
}
