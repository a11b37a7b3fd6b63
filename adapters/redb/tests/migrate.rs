#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

//! Schema 1 → 2: a file written by chatrixcd before instances existed opens with every record
//! kept, each now on the `default` instance.
//!
//! `fixtures/schema1.redb` was written by the schema-1 store itself (commit 7eb27c0, the test that
//! made it is kept in `fixtures/make_schema1.rs.txt`); the property test writes schema-1 layouts
//! directly, key by key, as that code did.

use std::collections::BTreeMap;

use chatrixcd_ports::chat::EventId;
use chatrixcd_ports::store::{Page, Store, TaskRef};
use chatrixcd_ports::{InstanceId, ProjectId, RoomId, TaskId, TaskStatus, UserId};
use chatrixcd_store_redb::{OpenError, RedbStore, SCHEMA_VERSION};
use proptest::prelude::*;
use redb::{ReadableDatabase as _, TableDefinition};

const META: TableDefinition<'_, &str, &str> = TableDefinition::new("meta");
const TRACKED: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("tracked_tasks");
const LAST_TASK: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("room_last_task");
const ROOMS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("room_settings");
const RUNS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("runs");
const RUN_BY_TASK: TableDefinition<'_, &str, u64> = TableDefinition::new("run_by_task");

const ALL: Page = Page { limit: usize::MAX, before: None };

fn room(n: u8) -> RoomId {
    RoomId::parse(format!("!room{n}:test")).unwrap()
}

fn schema_of(dir: &std::path::Path) -> String {
    let db = redb::Database::create(dir.join("chatrixcd.redb")).unwrap();
    let read = db.begin_read().unwrap();
    read.open_table(META).unwrap().get("schema_version").unwrap().unwrap().value().to_owned()
}

fn fixture_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema1.redb");
    std::fs::copy(fixture, dir.path().join("chatrixcd.redb")).unwrap();
    dir
}

#[tokio::test]
async fn a_schema_1_file_opens_with_every_record_on_the_default_instance() {
    let dir = fixture_copy();
    assert_eq!(schema_of(dir.path()), "1");
    let store = RedbStore::open(dir.path()).unwrap();
    let default = InstanceId::default();

    let aliases = store.aliases().await.unwrap();
    assert_eq!(aliases, BTreeMap::from([("deploy".into(), "run 1 5".into()), ("last".into(), "logs".into())]));

    let tracked = store.tracked_tasks().await.unwrap();
    let seen: Vec<_> = tracked.iter().map(|t| (t.instance, t.project.get(), t.task.get(), t.room.clone())).collect();
    assert_eq!(
        seen,
        [(default, 1, 41, room(1)), (default, 1, 41, room(2)), (default, 2, 2_147_483_646, room(1))],
        "tracked tasks in start order"
    );
    assert_eq!(tracked[0].status_event, Some(EventId("$status41:test".into())));
    assert_eq!(tracked[0].last_status, TaskStatus::Running);
    assert_eq!(tracked[2].stop_requested_by, Some(UserId::parse("@bob:test").unwrap()));

    let last = store.last_task(&room(1)).await.unwrap();
    assert_eq!(last, Some(TaskRef::new(default, ProjectId::new(2), TaskId::new(2_147_483_646))));
    assert_eq!(
        store.last_task(&room(2)).await.unwrap(),
        Some(TaskRef::new(default, ProjectId::new(1), TaskId::new(41)))
    );
    let settings = store.room_settings(&room(1)).await.unwrap();
    assert!(settings.log_tailing);
    assert_eq!(settings.theme.as_deref(), Some("dark"));
    assert_eq!(settings.active_instance, None);

    let runs = store.runs(ALL).await.unwrap();
    assert_eq!(runs.iter().map(|r| (r.id, r.task.get())).collect::<Vec<_>>(), [(3, 2_147_483_646), (2, 41), (1, 40)]);
    assert!(runs.iter().all(|r| r.instance == default));
    assert_eq!(runs[2].result, Some(TaskStatus::Error));
    assert_eq!(runs[0].parameters.get("version").map(String::as_str), Some("1.2.3"));
    // The requester index, new within schema 2, is built from the runs the file already had.
    let mine = chatrixcd_ports::RunQuery { requester: Some(runs[0].requester.clone()), ..Default::default() };
    let found = store.find_runs(&mine, ALL).await.unwrap();
    let expected: Vec<u64> = runs.iter().filter(|r| r.requester == runs[0].requester).map(|r| r.id).collect();
    assert_eq!(found.iter().map(|r| r.id).collect::<Vec<_>>(), expected);
    assert!(!found.is_empty());
    let audit = store.audit(ALL).await.unwrap();
    assert_eq!(audit.iter().map(|a| a.action.as_str()).collect::<Vec<_>>(), ["task.stop", "run.start", "alias.add"]);
    assert_eq!(store.setting("greeted").await.unwrap().as_deref(), Some("yes"));

    // The migrated keys are the ones schema 2 looks up: untrack, finish and new ids all work.
    store.untrack(TaskRef::new(default, ProjectId::new(1), TaskId::new(41)), &room(2)).await.unwrap();
    assert_eq!(store.tracked_tasks().await.unwrap().len(), 2);
    store
        .finish_run(TaskRef::new(default, ProjectId::new(1), TaskId::new(41)), runs[1].started_at, TaskStatus::Success)
        .await
        .unwrap();
    let runs = store.runs(ALL).await.unwrap();
    assert_eq!(runs[1].result, Some(TaskStatus::Success));
    let mut next = runs[0].clone();
    next.task = TaskId::new(99);
    assert_eq!(store.record_run(next).await.unwrap(), 4, "the run counter survives the migration");
    drop(store);
    assert_eq!(schema_of(dir.path()), SCHEMA_VERSION.to_string());

    // Opening again does not migrate twice.
    let store = RedbStore::open(dir.path()).unwrap();
    assert_eq!(store.tracked_tasks().await.unwrap().len(), 2);
    assert_eq!(store.runs(ALL).await.unwrap().len(), 4);
}

#[tokio::test]
async fn a_schema_1_record_that_cannot_be_read_leaves_the_file_untouched() {
    let dir = fixture_copy();
    {
        let db = redb::Database::create(dir.path().join("chatrixcd.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(TRACKED).unwrap().insert("9/9/!room9:test", b"{not json".as_slice()).unwrap();
        txn.commit().unwrap();
    }
    let err = RedbStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, OpenError::Migration { from: 1, .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("tracked_tasks") && text.contains("9/9/!room9:test") && text.contains("left as it was"),
        "{text}"
    );
    assert_eq!(schema_of(dir.path()), "1", "a failed migration changes nothing");
}

/// One schema-1 record of each kind, as the schema-1 store wrote it.
#[derive(Debug, Clone)]
struct OldTracked {
    project: u64,
    task: u64,
    room: u8,
    at: i64,
}

fn old_tracked() -> impl Strategy<Value = OldTracked> {
    (1..4u64, 1..2_147_483_647u64, 0..3u8, 0..10_000i64).prop_map(|(project, task, room, at)| OldTracked {
        project,
        task,
        room,
        at,
    })
}

fn at(secs: i64) -> String {
    chrono::DateTime::from_timestamp(1_767_225_600 + secs, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Writes a schema-1 file: the JSON and keys the schema-1 store produced, no `instance` anywhere.
fn write_schema_1(dir: &std::path::Path, tracked: &[OldTracked], runs: &[(u64, u64, i64)], last: &[(u8, u64, u64)]) {
    let db = redb::Database::create(dir.join("chatrixcd.redb")).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut meta = txn.open_table(META).unwrap();
        meta.insert("schema_version", "1").unwrap();
        meta.insert("last_run_id", runs.len().to_string().as_str()).unwrap();
        let mut table = txn.open_table(TRACKED).unwrap();
        for t in tracked {
            let room = room(t.room);
            let value = serde_json::json!({
                "project": t.project, "task": t.task, "template": 5, "template_name": "deploy",
                "room": room.as_str(), "requester": "@alice:test", "status_event": null,
                "last_status": "running", "started_at": at(t.at), "stop_requested_by": null,
            });
            let key = format!("{}/{}/{}", t.project, t.task, room.as_str());
            table.insert(key.as_str(), serde_json::to_vec(&value).unwrap().as_slice()).unwrap();
        }
        let mut table = txn.open_table(RUNS).unwrap();
        let mut index = txn.open_table(RUN_BY_TASK).unwrap();
        for (i, (project, task, started)) in runs.iter().enumerate() {
            let id = i as u64 + 1;
            let value = serde_json::json!({
                "id": id, "room": "!room0:test", "requester": "@alice:test", "instance": null,
                "project": project, "project_name": "ops", "template": 5, "template_name": "deploy",
                "task": task, "parameters": {}, "started_at": at(*started), "ended_at": null, "result": null,
            });
            table.insert(id, serde_json::to_vec(&value).unwrap().as_slice()).unwrap();
            index.insert(format!("{project}/{task}").as_str(), id).unwrap();
        }
        let mut table = txn.open_table(LAST_TASK).unwrap();
        for (r, project, task) in last {
            let value = serde_json::json!({ "project": project, "task": task });
            table.insert(room(*r).as_str(), serde_json::to_vec(&value).unwrap().as_slice()).unwrap();
        }
        let mut table = txn.open_table(ROOMS).unwrap();
        // A free-text instance name schema 1 allowed but schema 2 cannot read.
        let value = serde_json::json!({ "active_instance": "Not A Name!", "log_tailing": true, "theme": null });
        table.insert(room(0).as_str(), serde_json::to_vec(&value).unwrap().as_slice()).unwrap();
    }
    txn.commit().unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Whatever a schema-1 file holds, every record is there after the migration, on `default`.
    #[test]
    fn the_migration_keeps_every_record(
        tracked in prop::collection::vec(old_tracked(), 0..12),
        runs in prop::collection::vec((1..4u64, 1..2_147_483_647u64, 0..10_000i64), 0..12),
        last in prop::collection::vec((0..3u8, 1..4u64, 1..1000u64), 0..4),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            write_schema_1(dir.path(), &tracked, &runs, &last);
            let store = RedbStore::open(dir.path()).unwrap();
            let default = InstanceId::default();

            // Same key, same record: the schema-1 store kept only the last write of a key.
            let mut want: BTreeMap<(u64, u64, u8), i64> = BTreeMap::new();
            for t in &tracked {
                want.insert((t.project, t.task, t.room), t.at);
            }
            let got = store.tracked_tasks().await.unwrap();
            prop_assert_eq!(got.len(), want.len());
            for task in &got {
                prop_assert_eq!(task.instance, default);
                let r: u8 = task.room.as_str()[5..6].parse().unwrap();
                prop_assert!(want.contains_key(&(task.project.get(), task.task.get(), r)));
                // Its migrated key is the one schema 2 uses.
                store.untrack(task.task_ref(), &task.room).await.unwrap();
            }
            prop_assert!(store.tracked_tasks().await.unwrap().is_empty());

            let got = store.runs(ALL).await.unwrap();
            prop_assert_eq!(got.len(), runs.len());
            for (record, (project, task, _)) in got.iter().rev().zip(&runs) {
                prop_assert_eq!((record.instance, record.project.get(), record.task.get()), (default, *project, *task));
            }
            if let Some((project, task, _)) = runs.last() {
                let r = TaskRef::new(default, ProjectId::new(*project), TaskId::new(*task));
                store.finish_run(r, got[0].started_at, TaskStatus::Success).await.unwrap();
                prop_assert_eq!(store.runs(ALL).await.unwrap()[0].result.clone(), Some(TaskStatus::Success));
            }

            let mut want_last = BTreeMap::new();
            for (r, project, task) in &last {
                want_last.insert(*r, (*project, *task));
            }
            for (r, (project, task)) in want_last {
                let got = store.last_task(&room(r)).await.unwrap();
                prop_assert_eq!(got, Some(TaskRef::new(default, ProjectId::new(project), TaskId::new(task))));
            }
            let settings = store.room_settings(&room(0)).await.unwrap();
            prop_assert!(settings.log_tailing);
            prop_assert_eq!(settings.active_instance, None);
            Ok(())
        })?;
    }
}
