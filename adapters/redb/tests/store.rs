#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

//! The redb store: what it keeps across reopening, how it fails, and a model-based test holding
//! it to the in-memory store for any sequence of operations.

use std::collections::BTreeMap;

use chatrixcd_ports::store::{AuditEntry, Page, RoomSettings, RunRecord, Store, TaskRef, TrackedTask};
use chatrixcd_ports::{InstanceId, Preset, PresetScope, ProjectId, RoomId, TaskId, TaskStatus, TemplateId, UserId};
use chatrixcd_store_memory::MemoryStore;
use chatrixcd_store_redb::{OpenError, RedbStore};
use chrono::{DateTime, Utc};
use proptest::prelude::*;

fn t(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600 + secs, 0).unwrap()
}

fn room(n: u8) -> RoomId {
    RoomId::parse(format!("!room{n}:test")).unwrap()
}

fn user() -> UserId {
    UserId::parse("@alice:test").unwrap()
}

/// The two instances the model-based test uses: the same task id on both is two tasks.
fn instance(i: u8) -> InstanceId {
    if i == 0 { InstanceId::default() } else { InstanceId::parse("staging").unwrap() }
}

fn tracked(task: u64, r: u8, at: i64, status: TaskStatus) -> TrackedTask {
    TrackedTask {
        instance: InstanceId::default(),
        project: ProjectId::new(1),
        task: TaskId::new(task),
        template: TemplateId::new(1),
        template_name: "deploy".into(),
        room: room(r),
        requester: user(),
        status_event: None,
        last_status: status,
        started_at: t(at),
        stop_requested_by: None,
    }
}

fn run(task: u64, at: i64) -> RunRecord {
    RunRecord {
        id: 0,
        room: room(1),
        requester: user(),
        instance: InstanceId::default(),
        project: ProjectId::new(1),
        project_name: "ops".into(),
        template: TemplateId::new(1),
        template_name: "deploy-web".into(),
        task: TaskId::new(task),
        parameters: BTreeMap::from([("who".to_owned(), "me".to_owned())]),
        started_at: t(at),
        ended_at: None,
        result: None,
    }
}

fn audit(action: &str) -> AuditEntry {
    AuditEntry { seq: 0, at: t(0), actor: user(), room: Some(room(1)), action: action.into(), detail: "x".into() }
}

const ALL: Page = Page { limit: usize::MAX, before: None };

#[tokio::test]
async fn everything_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = RedbStore::open(dir.path()).unwrap();
        store.set_alias("dw", "run 1 1").await.unwrap();
        store.track(tracked(7, 1, 0, TaskStatus::Running)).await.unwrap();
        store
            .set_last_task(&room(1), TaskRef::new(InstanceId::default(), ProjectId::new(1), TaskId::new(7)))
            .await
            .unwrap();
        store.set_room_settings(&room(1), RoomSettings { log_tailing: true, ..Default::default() }).await.unwrap();
        let id = store.record_run(run(7, 0)).await.unwrap();
        assert_eq!(id, 1);
        store
            .finish_run(
                TaskRef::new(InstanceId::default(), ProjectId::new(1), TaskId::new(7)),
                t(60),
                TaskStatus::Success,
            )
            .await
            .unwrap();
        assert_eq!(store.append_audit(audit("run.start")).await.unwrap(), 1);
        store.set_setting("aliases_imported", "yes").await.unwrap();
    }
    let store = RedbStore::open(dir.path()).unwrap();
    assert_eq!(store.aliases().await.unwrap()["dw"], "run 1 1");
    assert_eq!(store.tracked_tasks().await.unwrap().len(), 1);
    assert_eq!(store.last_task(&room(1)).await.unwrap().unwrap().task, TaskId::new(7));
    assert!(store.room_settings(&room(1)).await.unwrap().log_tailing);
    let runs = store.runs(ALL).await.unwrap();
    assert_eq!(runs[0].result, Some(TaskStatus::Success));
    assert_eq!(runs[0].ended_at, Some(t(60)));
    let seven = TaskRef::new(InstanceId::default(), ProjectId::new(1), TaskId::new(7));
    assert_eq!(
        store.run_of(seven).await.unwrap().map(|r| r.result),
        Some(Some(TaskStatus::Success)),
        "found by the index"
    );
    let other = TaskRef::new(InstanceId::default(), ProjectId::new(2), TaskId::new(7));
    assert_eq!(store.run_of(other).await.unwrap(), None, "same task id in another project is another task");
    assert_eq!(store.audit(ALL).await.unwrap()[0].action, "run.start");
    assert_eq!(store.setting("aliases_imported").await.unwrap().as_deref(), Some("yes"));
}

#[tokio::test]
async fn purging_and_anonymising_keep_the_requester_index_true() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    let bob = UserId::parse("@bob:test").unwrap();
    for (task, at, who) in [(1, 0, user()), (2, 10, bob.clone()), (3, 20, user()), (4, 30, bob.clone())] {
        let mut r = run(task, at);
        r.requester = who;
        store.record_run(r).await.unwrap();
    }
    let of = |who: &UserId| chatrixcd_ports::RunQuery { requester: Some(who.clone()), ..Default::default() };
    assert_eq!(store.anonymise_runs(t(15)).await.unwrap(), 2, "the two runs before the cutoff");
    assert_eq!(store.anonymise_runs(t(15)).await.unwrap(), 0, "already anonymous");
    let anonymous = UserId::parse(chatrixcd_ports::store::ANONYMOUS).unwrap();
    let ids = |runs: Vec<RunRecord>| runs.iter().map(|r| r.task.get()).collect::<Vec<_>>();
    assert_eq!(ids(store.find_runs(&of(&anonymous), ALL).await.unwrap()), [2, 1]);
    assert_eq!(ids(store.find_runs(&of(&bob), ALL).await.unwrap()), [4]);
    assert_eq!(store.purge_runs_of(&bob).await.unwrap(), 1);
    assert!(store.find_runs(&of(&bob), ALL).await.unwrap().is_empty());
    assert_eq!(ids(store.runs(ALL).await.unwrap()), [3, 2, 1]);
    let template = |t: &str| chatrixcd_ports::RunQuery { template: Some(t.into()), ..Default::default() };
    assert_eq!(ids(store.find_runs(&template("DEPLOY-web"), ALL).await.unwrap()), [3, 2, 1], "by name, any case");
    assert_eq!(ids(store.find_runs(&template("1"), ALL).await.unwrap()), [3, 2, 1], "by id");
    assert!(store.find_runs(&template("nope"), ALL).await.unwrap().is_empty());
    assert_eq!(
        store.run_of(TaskRef::new(InstanceId::default(), ProjectId::new(1), TaskId::new(4))).await.unwrap(),
        None
    );
    drop(store);
    let store = RedbStore::open(dir.path()).unwrap();
    assert_eq!(ids(store.find_runs(&of(&user()), ALL).await.unwrap()), [3], "kept across reopening");
    assert_eq!(store.prune_runs(t(5)).await.unwrap(), 1);
    assert_eq!(
        ids(store.find_runs(&template("deploy-web"), ALL).await.unwrap()),
        [3, 2],
        "pruned out of the index too"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn files_are_private_to_their_owner() {
    use std::os::unix::fs::PermissionsExt as _;
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("data");
    let store = RedbStore::open(&dir).unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(store.path()), 0o600);
}

#[tokio::test]
async fn a_locked_a_corrupt_and_a_newer_database_are_named_and_explained() {
    let dir = tempfile::tempdir().unwrap();
    let first = RedbStore::open(dir.path()).unwrap();
    let err = RedbStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, OpenError::Locked { .. }), "{err}");
    assert!(err.to_string().contains("chatrixcd.redb") && err.to_string().contains("--data-dir"), "{err}");
    drop(first);

    let bad = tempfile::tempdir().unwrap();
    std::fs::write(bad.path().join("chatrixcd.redb"), b"this is not a database, just some bytes that are long enough")
        .unwrap();
    let err = RedbStore::open(bad.path()).unwrap_err();
    assert!(matches!(err, OpenError::Corrupt { .. } | OpenError::Other { .. }), "{err}");
    assert!(err.to_string().contains("chatrixcd.redb"), "{err}");

    // A file stamped by a future chatrixcd.
    let newer = tempfile::tempdir().unwrap();
    {
        let db = redb::Database::create(newer.path().join("chatrixcd.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut meta = txn.open_table(redb::TableDefinition::<&str, &str>::new("meta")).unwrap();
            meta.insert("schema_version", "99").unwrap();
        }
        txn.commit().unwrap();
    }
    let err = RedbStore::open(newer.path()).unwrap_err();
    assert!(matches!(err, OpenError::Newer { found: 99, .. }), "{err}");
    assert!(err.to_string().contains("upgrade chatrixcd"), "{err}");
}

#[tokio::test]
async fn pages_are_newest_first_and_pruning_keeps_recent_runs() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path()).unwrap();
    for n in 0..10 {
        store.record_run(run(100 + n, i64::try_from(n).unwrap() * 3600)).await.unwrap();
    }
    let page = store.runs(Page { limit: 3, before: None }).await.unwrap();
    assert_eq!(page.iter().map(|r| r.id).collect::<Vec<_>>(), [10, 9, 8]);
    let next = store.runs(Page { limit: 3, before: Some(8) }).await.unwrap();
    assert_eq!(next.iter().map(|r| r.id).collect::<Vec<_>>(), [7, 6, 5]);
    assert_eq!(store.prune_runs(t(5 * 3600)).await.unwrap(), 5);
    assert_eq!(store.runs(ALL).await.unwrap().len(), 5);
    // Ids keep growing after a prune.
    assert_eq!(store.record_run(run(200, 99_999)).await.unwrap(), 11);
}

/// One operation of the model-based test.
#[derive(Debug, Clone)]
enum Op {
    SetAlias(u8, u8),
    RemoveAlias(u8),
    Track(u8, u8, u8, u8),
    Untrack(u8, u8, u8),
    SetLast(u8, u8, u8),
    Settings(u8, bool),
    RecordRun(u8, i16, u8),
    FinishRun(u8, bool, u8),
    Prune(i16),
    Audit(u8),
    Setting(u8, u8),
    PutPreset(u8, u8, u8),
    RemovePreset(u8, u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..4u8, 0..4u8).prop_map(|(a, b)| Op::SetAlias(a, b)),
        (0..4u8).prop_map(Op::RemoveAlias),
        (0..5u8, 0..3u8, 0..3u8, 0..2u8).prop_map(|(t, r, s, i)| Op::Track(t, r, s, i)),
        (0..5u8, 0..3u8, 0..2u8).prop_map(|(t, r, i)| Op::Untrack(t, r, i)),
        (0..3u8, 0..5u8, 0..2u8).prop_map(|(r, t, i)| Op::SetLast(r, t, i)),
        (0..3u8, any::<bool>()).prop_map(|(r, b)| Op::Settings(r, b)),
        (0..5u8, -100..100i16, 0..2u8).prop_map(|(t, at, i)| Op::RecordRun(t, at, i)),
        (0..5u8, any::<bool>(), 0..2u8).prop_map(|(t, ok, i)| Op::FinishRun(t, ok, i)),
        (-100..100i16).prop_map(Op::Prune),
        (0..3u8).prop_map(Op::Audit),
        (0..3u8, 0..3u8).prop_map(|(k, v)| Op::Setting(k, v)),
        (0..4u8, 0..3u8, 0..3u8).prop_map(|(s, n, v)| Op::PutPreset(s, n, v)),
        (0..4u8, 0..3u8).prop_map(|(s, n)| Op::RemovePreset(s, n)),
    ]
}

/// Applies `op` and returns everything observable afterwards, as text.
async fn apply(store: &dyn Store, op: &Op) -> String {
    let status = [TaskStatus::Waiting, TaskStatus::Running, TaskStatus::Success];
    let task_ref = |t: u8, i: u8| TaskRef::new(instance(i), ProjectId::new(1), TaskId::new(u64::from(t)));
    let answer = match op {
        Op::SetAlias(a, b) => format!("{:?}", store.set_alias(&format!("a{a}"), &format!("run 1 {b}")).await),
        Op::RemoveAlias(a) => format!("{:?}", store.remove_alias(&format!("a{a}")).await),
        Op::Track(t, r, s, i) => {
            let at = i64::from(*t) * 10 + i64::from(*r) + i64::from(*i) * 100;
            let mut task = tracked(u64::from(*t), *r, at, status[usize::from(*s)].clone());
            task.instance = instance(*i);
            format!("{:?}", store.track(task).await)
        }
        Op::Untrack(t, r, i) => format!("{:?}", store.untrack(task_ref(*t, *i), &room(*r)).await),
        Op::SetLast(r, t, i) => format!("{:?}", store.set_last_task(&room(*r), task_ref(*t, *i)).await),
        Op::Settings(r, b) => {
            format!(
                "{:?}",
                store.set_room_settings(&room(*r), RoomSettings { log_tailing: *b, ..Default::default() }).await
            )
        }
        Op::RecordRun(t, at, i) => {
            let mut record = run(u64::from(*t), i64::from(*at) * 60);
            record.instance = instance(*i);
            format!("{:?}", store.record_run(record).await)
        }
        Op::FinishRun(task, ok, i) => {
            let result = if *ok { TaskStatus::Success } else { TaskStatus::Error };
            format!("{:?}", store.finish_run(task_ref(*task, *i), t(1000), result).await)
        }
        Op::Prune(at) => format!("{:?}", store.prune_runs(t(i64::from(*at) * 60)).await),
        Op::Audit(a) => format!("{:?}", store.append_audit(audit(&format!("action{a}"))).await),
        Op::Setting(k, v) => format!("{:?}", store.set_setting(&format!("k{k}"), &format!("v{v}")).await),
        Op::PutPreset(s, n, v) => {
            let mut p = preset(&format!("p{n}"), scope(*s));
            p.vars = vec![("v".into(), v.to_string())];
            p.dry_run = *v == 1;
            format!("{:?}", store.put_preset(p).await)
        }
        Op::RemovePreset(s, n) => format!("{:?}", store.remove_preset(&scope(*s), &format!("p{n}")).await),
    };
    let mut rooms = Vec::new();
    for r in 0..3 {
        rooms.push(format!("{:?} {:?}", store.last_task(&room(r)).await, store.room_settings(&room(r)).await));
    }
    let settings: Vec<_> = futures_settings(store).await;
    let presets = presets_text(store).await;
    format!(
        "{answer}\n{:?}\n{:?}\n{rooms:?}\n{:?}\n{:?}\n{:?}\n{settings:?}\n{presets}",
        store.aliases().await,
        store.tracked_tasks().await,
        store.runs(ALL).await,
        store.runs(Page { limit: 2, before: Some(4) }).await,
        store.audit(Page { limit: 3, before: None }).await,
    )
}

async fn futures_settings(store: &dyn Store) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for k in 0..3 {
        out.push(store.setting(&format!("k{k}")).await.unwrap());
    }
    out
}

/// Every preset, whole (their `Debug` leaves fields out), in one order: the port promises none.
async fn presets_text(store: &dyn Store) -> String {
    match store.presets().await {
        Ok(mut presets) => {
            presets.sort_by_key(|p| (p.scope.key(), p.name.clone()));
            serde_json::to_string(&presets).unwrap()
        }
        Err(e) => format!("{e:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// The redb store and the in-memory store agree after every operation of any sequence.
    #[test]
    fn redb_behaves_like_the_in_memory_model(ops in prop::collection::vec(op(), 1..40)) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        runtime.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let redb = RedbStore::open(dir.path()).unwrap();
            let model = MemoryStore::new();
            for op in &ops {
                let want = apply(&model, op).await;
                let got = apply(&redb, op).await;
                prop_assert_eq!(got, want, "after {:?}", op);
            }
            Ok(())
        })?;
    }
}

fn schedule(name: &str) -> chatrixcd_ports::schedule::Schedule {
    chatrixcd_ports::schedule::Schedule {
        id: 0,
        room: room(1),
        owner: user(),
        name: name.into(),
        cron: "0 2 * * *".into(),
        zone: "Europe/Berlin".into(),
        instance: InstanceId::default(),
        project: ProjectId::new(1),
        project_name: "ops".into(),
        template: TemplateId::new(5),
        template_name: "deploy".into(),
        vars: vec![("env".into(), "prod".into())],
        preset: None,
        missed: chatrixcd_ports::schedule::Missed::Once,
        paused: None,
        created_at: t(0),
        last_slot: None,
    }
}

fn slot(schedule: u64, at: i64) -> chatrixcd_ports::schedule::SlotRun {
    chatrixcd_ports::schedule::SlotRun {
        schedule,
        slot: t(at),
        claimed_at: t(at),
        task: None,
        result: None,
        skipped: None,
    }
}

/// Both stores: a slot is claimed once, in one transaction with the schedule's last slot; slots
/// list newest first; removing a schedule removes its slots; and redb keeps it all on reopening.
#[tokio::test]
async fn schedules_and_their_slots_are_claimed_once_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let redb = RedbStore::open(dir.path()).unwrap();
    let memory = MemoryStore::new();
    let stores: [&dyn Store; 2] = [&redb, &memory];
    for store in stores {
        assert!(store.schedules().await.unwrap().is_empty());
        let a = store.put_schedule(schedule("nightly")).await.unwrap();
        let b = store.put_schedule(schedule("weekly")).await.unwrap();
        assert_eq!((a, b), (1, 2));
        assert!(store.claim_slot(slot(a, 60)).await.unwrap());
        assert!(!store.claim_slot(slot(a, 60)).await.unwrap(), "a slot is claimed once");
        assert!(store.claim_slot(slot(a, 120)).await.unwrap());
        assert!(store.claim_slot(slot(b, 60)).await.unwrap());
        let stored = store.schedules().await.unwrap();
        assert_eq!(stored[0].last_slot, Some(t(120)));
        let mut started = slot(a, 120);
        started.task = Some(TaskId::new(42));
        store.update_slot(started).await.unwrap();
        let slots = store.slots(a, 10).await.unwrap();
        assert_eq!(slots.iter().map(|s| s.slot).collect::<Vec<_>>(), [t(120), t(60)]);
        assert_eq!(slots[0].task, Some(TaskId::new(42)));
        assert!(store.remove_schedule(a).await.unwrap());
        assert!(store.slots(a, 10).await.unwrap().is_empty(), "its slots go with it");
        assert_eq!(store.slots(b, 10).await.unwrap().len(), 1, "the other's stay");
        assert!(!store.remove_schedule(a).await.unwrap());
        let c = store.put_schedule(schedule("again")).await.unwrap();
        assert_eq!(c, 3, "ids are not reused");
    }
    drop(redb);
    let reopened = RedbStore::open(dir.path()).unwrap();
    let names: Vec<String> = reopened.schedules().await.unwrap().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["weekly", "again"]);
    assert!(!reopened.claim_slot(slot(2, 60)).await.unwrap(), "a claim survives reopening");
}

/// The scopes the preset tests use: two rooms, a person, everybody.
fn scope(n: u8) -> PresetScope {
    match n {
        0 => PresetScope::Room(room(0)),
        1 => PresetScope::Room(room(1)),
        2 => PresetScope::User(user()),
        _ => PresetScope::All,
    }
}

fn preset(name: &str, scope: PresetScope) -> Preset {
    Preset {
        name: name.into(),
        scope,
        owner: user(),
        instance: InstanceId::default(),
        project: ProjectId::new(1),
        project_name: "ops".into(),
        template: TemplateId::new(5),
        template_name: "deploy".into(),
        vars: vec![("env".into(), "prod".into())],
        sealed: vec![("token".into(), "v1:c2VhbGVk".into())],
        tags: vec!["web".into()],
        skip_tags: vec!["slow".into()],
        limit: vec!["web1".into()],
        arguments: vec!["--check".into()],
        branch: Some("main".into()),
        dry_run: true,
        diff: true,
        debug: false,
        created_at: t(0),
    }
}

fn sorted(mut presets: Vec<Preset>) -> Vec<Preset> {
    presets.sort_by_key(|p| (p.scope.key(), p.name.clone()));
    presets
}

/// Both stores: a name is unique within a scope only, a put replaces, a remove says whether
/// there was one; and redb keeps every field on reopening.
#[tokio::test]
async fn presets_are_kept_per_scope_and_name() {
    let dir = tempfile::tempdir().unwrap();
    let redb = RedbStore::open(dir.path()).unwrap();
    let memory = MemoryStore::new();
    let stores: [&dyn Store; 2] = [&redb, &memory];
    for store in stores {
        assert!(store.presets().await.unwrap().is_empty());
        for n in 0..4 {
            store.put_preset(preset("nightly", scope(n))).await.unwrap();
        }
        assert_eq!(store.presets().await.unwrap().len(), 4, "the same name in four scopes is four presets");
        let mut changed = preset("nightly", scope(1));
        changed.vars = vec![("env".into(), "staging".into())];
        changed.dry_run = false;
        store.put_preset(changed.clone()).await.unwrap();
        let stored = store.presets().await.unwrap();
        assert_eq!(stored.len(), 4, "a put replaces the one of the same scope and name");
        assert!(stored.contains(&changed));
        assert!(stored.contains(&preset("nightly", scope(0))), "the other scopes' are untouched");
        assert!(store.remove_preset(&scope(2), "nightly").await.unwrap());
        assert!(!store.remove_preset(&scope(2), "nightly").await.unwrap(), "removed once");
        assert!(!store.remove_preset(&scope(3), "weekly").await.unwrap(), "never there");
        store.put_preset(preset("weekly", scope(3))).await.unwrap();
    }
    let want = sorted(memory.presets().await.unwrap());
    assert_eq!(sorted(redb.presets().await.unwrap()), want);
    drop(redb);
    let reopened = RedbStore::open(dir.path()).unwrap();
    assert_eq!(sorted(reopened.presets().await.unwrap()), want, "every field survives reopening");
    assert_eq!(want.len(), 4);
}

/// A preset written before the options with `#[serde(default)]` existed still reads, with their
/// defaults, and is found under the key the store uses.
#[tokio::test]
async fn a_preset_without_the_later_fields_still_reads() {
    let dir = tempfile::tempdir().unwrap();
    drop(RedbStore::open(dir.path()).unwrap());
    let bare = Preset {
        sealed: Vec::new(),
        tags: Vec::new(),
        skip_tags: Vec::new(),
        limit: Vec::new(),
        arguments: Vec::new(),
        branch: None,
        dry_run: false,
        diff: false,
        debug: false,
        ..preset("old", PresetScope::Room(room(1)))
    };
    let mut json = serde_json::to_value(&bare).unwrap();
    let fields = json.as_object_mut().unwrap();
    for later in ["sealed", "tags", "skip_tags", "limit", "arguments", "branch", "dry_run", "diff", "debug"] {
        assert!(fields.remove(later).is_some(), "{later}");
    }
    {
        let db = redb::Database::create(dir.path().join("chatrixcd.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut table = txn.open_table(redb::TableDefinition::<&str, &[u8]>::new("presets")).unwrap();
            let key = format!("{}\u{0}old", PresetScope::Room(room(1)).key());
            table.insert(key.as_str(), serde_json::to_vec(&json).unwrap().as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }
    let store = RedbStore::open(dir.path()).unwrap();
    assert_eq!(store.presets().await.unwrap(), [bare]);
    assert!(store.remove_preset(&PresetScope::Room(room(1)), "old").await.unwrap());
    assert!(store.presets().await.unwrap().is_empty());
}

/// A random run: one of three people, three templates on two instances, any result.
fn history_run() -> impl Strategy<Value = (u8, u8, u8, Option<u8>, i64)> {
    (0..3u8, 0..3u8, 0..2u8, prop::option::of(0..3u8), 1..600i64)
}

/// A random query over those.
fn history_query() -> impl Strategy<Value = chatrixcd_ports::RunQuery> {
    use chatrixcd_ports::RunOutcome;
    (
        prop::option::of(0..3u8),
        prop::option::of(0..2u8),
        prop::option::of(prop::sample::select(vec!["1", "2", "deploy-web", "HELLO", "9"])),
        prop::option::of(prop::sample::select(vec![RunOutcome::Success, RunOutcome::Failed, RunOutcome::Running])),
        prop::option::of(0..40_000i64),
        prop::option::of(0..40_000i64),
    )
        .prop_map(|(who, inst, template, outcome, since, until)| chatrixcd_ports::RunQuery {
            requester: who.map(|w| UserId::parse(format!("@u{w}:test")).unwrap()),
            instance: inst.map(instance),
            project: None,
            template: template.map(str::to_owned),
            outcome,
            since: since.map(t),
            until: until.map(t),
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// `find_runs` in redb returns exactly what a plain filter of every run returns, newest
    /// first, page by page, for any history and any combination of filters.
    #[test]
    fn history_filters_match_a_plain_reference(
        runs in prop::collection::vec(history_run(), 0..120),
        query in history_query(),
        limit in 1..15usize,
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        runtime.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let redb = RedbStore::open(dir.path()).unwrap();
            let mut all = Vec::new();
            let mut at = 0;
            for (i, (who, template, inst, result, gap)) in runs.into_iter().enumerate() {
                at += gap;
                let mut r = run(i as u64 + 1, at);
                r.requester = UserId::parse(format!("@u{who}:test")).unwrap();
                r.instance = instance(inst);
                r.template = TemplateId::new(u64::from(template) + 1);
                r.template_name = ["deploy-web", "hello", "slow"][usize::from(template)].into();
                r.id = redb.record_run(r.clone()).await.unwrap();
                if let Some(result) = result {
                    let status = [TaskStatus::Success, TaskStatus::Error, TaskStatus::Stopped][usize::from(result)].clone();
                    redb.finish_run(TaskRef::new(r.instance, r.project, r.task), t(at + 5), status.clone()).await.unwrap();
                    r.ended_at = Some(t(at + 5));
                    r.result = Some(status);
                }
                all.push(r);
            }
            let want: Vec<u64> = all.iter().rev().filter(|r| query.matches(r)).map(|r| r.id).collect();
            let mut got = Vec::new();
            let mut before = None;
            loop {
                let page = redb.find_runs(&query, Page { limit, before }).await.unwrap();
                assert!(page.len() <= limit);
                if page.is_empty() {
                    break;
                }
                before = page.last().map(|r| r.id);
                got.extend(page.iter().map(|r| r.id));
            }
            assert_eq!(got, want, "{query:?}");
            let model = MemoryStore::new();
            for r in &all {
                model.record_run(r.clone()).await.unwrap();
                if let Some(result) = &r.result {
                    model.finish_run(TaskRef::new(r.instance, r.project, r.task), r.ended_at.unwrap(), result.clone()).await.unwrap();
                }
            }
            let first = model.find_runs(&query, Page { limit: usize::MAX, before: None }).await.unwrap();
            assert_eq!(first.iter().map(|r| r.id).collect::<Vec<_>>(), want, "the memory store too");
        });
    }
}
