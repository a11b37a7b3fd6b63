//! Moving a file written by an older chatrixcd to today's layout, inside the one write
//! transaction that opens it: a crash half-way leaves the old file as it was, never a mix.
//!
//! Schema 1 → 2: tasks gained the Semaphore instance they run on, since task ids are unique per
//! instance only. Keys `{project}/{task}[/{room}]` become `{instance}/{project}/{task}[/{room}]`
//! with the instance `default` (the only one schema 1 knew), and values are re-encoded so the
//! instance is written out rather than left to a default on every read.

use chatrixcd_ports::InstanceId;
use chatrixcd_ports::store::{RoomSettings, RunRecord, TaskRef, TrackedTask};
use redb::{ReadableTable as _, WriteTransaction};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::open::{LAST_TASK, ROOMS, RUN_BY_TASK, RUNS, TRACKED};

/// Why a migration could not finish; the transaction is dropped, the file stays as it was.
#[derive(Debug, thiserror::Error)]
#[error("{table}: {detail}")]
pub(crate) struct MigrateError {
    table: &'static str,
    detail: String,
}

fn fail(table: &'static str) -> impl Fn(&dyn std::fmt::Display) -> MigrateError {
    move |e| MigrateError { table, detail: e.to_string() }
}

fn decode<T: DeserializeOwned>(table: &'static str, key: &str, bytes: &[u8]) -> Result<T, MigrateError> {
    serde_json::from_slice(bytes).map_err(|e| MigrateError { table, detail: format!("record {key}: {e}") })
}

fn encode<T: Serialize>(table: &'static str, value: &T) -> Result<Vec<u8>, MigrateError> {
    serde_json::to_vec(value).map_err(|e| fail(table)(&e))
}

/// What a migration did, for the log line that tells the operator.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Migrated {
    pub tracked: usize,
    pub runs: usize,
    pub rooms: usize,
}

/// Schema 1 → 2, in `txn`. Every record is kept: each is read, given the instance, written back.
pub(crate) fn v1_to_v2(txn: &WriteTransaction) -> Result<Migrated, MigrateError> {
    let mut done = Migrated::default();
    let default = InstanceId::default();

    let f = fail("tracked_tasks");
    let mut tracked = txn.open_table(TRACKED).map_err(|e| f(&e))?;
    let mut old = Vec::new();
    for item in tracked.iter().map_err(|e| f(&e))? {
        let (k, v) = item.map_err(|e| f(&e))?;
        old.push((k.value().to_owned(), v.value().to_vec()));
    }
    for (key, bytes) in old {
        let mut task: TrackedTask = decode("tracked_tasks", &key, &bytes)?;
        task.instance = default;
        tracked.remove(key.as_str()).map_err(|e| f(&e))?;
        let new_key = crate::store::tracked_key(task.task_ref(), task.room.as_str());
        tracked.insert(new_key.as_str(), encode("tracked_tasks", &task)?.as_slice()).map_err(|e| f(&e))?;
        done.tracked += 1;
    }

    let f = fail("run_by_task");
    let mut index = txn.open_table(RUN_BY_TASK).map_err(|e| f(&e))?;
    let mut old = Vec::new();
    for item in index.iter().map_err(|e| f(&e))? {
        let (k, v) = item.map_err(|e| f(&e))?;
        old.push((k.value().to_owned(), v.value()));
    }
    for (key, id) in old {
        index.remove(key.as_str()).map_err(|e| f(&e))?;
        index.insert(format!("{default}/{key}").as_str(), id).map_err(|e| f(&e))?;
    }

    let f = fail("runs");
    let mut runs = txn.open_table(RUNS).map_err(|e| f(&e))?;
    let mut old = Vec::new();
    for item in runs.iter().map_err(|e| f(&e))? {
        let (k, v) = item.map_err(|e| f(&e))?;
        old.push((k.value(), v.value().to_vec()));
    }
    for (id, bytes) in old {
        // `instance: null` in schema 1 reads as the default instance.
        let run: RunRecord = decode("runs", &id.to_string(), &bytes)?;
        runs.insert(id, encode("runs", &run)?.as_slice()).map_err(|e| f(&e))?;
        done.runs += 1;
    }

    let f = fail("room_last_task");
    let mut last = txn.open_table(LAST_TASK).map_err(|e| f(&e))?;
    let mut old = Vec::new();
    for item in last.iter().map_err(|e| f(&e))? {
        let (k, v) = item.map_err(|e| f(&e))?;
        old.push((k.value().to_owned(), v.value().to_vec()));
    }
    for (room, bytes) in old {
        let task: TaskRef = decode("room_last_task", &room, &bytes)?;
        last.insert(room.as_str(), encode("room_last_task", &task)?.as_slice()).map_err(|e| f(&e))?;
    }

    let f = fail("room_settings");
    let mut rooms = txn.open_table(ROOMS).map_err(|e| f(&e))?;
    let mut old = Vec::new();
    for item in rooms.iter().map_err(|e| f(&e))? {
        let (k, v) = item.map_err(|e| f(&e))?;
        old.push((k.value().to_owned(), v.value().to_vec()));
    }
    for (room, bytes) in old {
        // Schema 1 had a free-text `active_instance` that nothing set; a value that is not an
        // instance name now would make the room unreadable, so it goes back to the default.
        let mut value: serde_json::Value = decode("room_settings", &room, &bytes)?;
        if let Some(active) = value.get_mut("active_instance")
            && active.as_str().is_some_and(|name| InstanceId::parse(name).is_err())
        {
            *active = serde_json::Value::Null;
        }
        let settings: RoomSettings = serde_json::from_value(value)
            .map_err(|e| MigrateError { table: "room_settings", detail: format!("record {room}: {e}") })?;
        rooms.insert(room.as_str(), encode("room_settings", &settings)?.as_slice()).map_err(|e| f(&e))?;
        done.rooms += 1;
    }
    Ok(done)
}
