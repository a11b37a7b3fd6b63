#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stdout)] // test helpers may fail loudly

//! Crash safety: a child process writes through the store and is killed (SIGKILL) at random
//! points, many times. After every kill the database must open cleanly, hold every write the
//! child acknowledged, number its audit log without gaps, and hold no tracked task twice.
//!
//! The child is this test binary itself, re-run with `CHATRIXCD_CRASH_DIR` set.

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Command, Stdio};

use chatrixcd_ports::store::{AuditEntry, Page, RunRecord, Store, TaskRef, TrackedTask};
use chatrixcd_ports::{InstanceId, ProjectId, RoomId, TaskId, TaskStatus, TemplateId, UserId};
use chatrixcd_store_redb::RedbStore;
use chrono::DateTime;

const ALL: Page = Page { limit: usize::MAX, before: None };

fn room() -> RoomId {
    RoomId::parse("!ops:test").unwrap()
}

fn user() -> UserId {
    UserId::parse("@alice:test").unwrap()
}

/// The child: writes forever (bounded), printing `ack <seq>` after each committed audit entry.
#[test]
fn crash_writer_child() {
    let Ok(dir) = std::env::var("CHATRIXCD_CRASH_DIR") else { return };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    runtime.block_on(async {
        let store = RedbStore::open(std::path::Path::new(&dir)).unwrap();
        let mut out = std::io::stdout().lock();
        for n in 0..20_000u64 {
            let at = DateTime::from_timestamp(1_767_225_600 + i64::try_from(n).unwrap(), 0).unwrap();
            let task = TaskId::new(1_000 + n % 7);
            let tracked = TrackedTask {
                instance: InstanceId::default(),
                project: ProjectId::new(1),
                task,
                template: TemplateId::new(1),
                template_name: "deploy".into(),
                room: room(),
                requester: user(),
                status_event: None,
                last_status: TaskStatus::Running,
                started_at: at,
                stop_requested_by: None,
            };
            store.track(tracked).await.unwrap();
            if n % 3 == 0 {
                store.untrack(TaskRef::new(InstanceId::default(), ProjectId::new(1), task), &room()).await.unwrap();
            }
            let run = RunRecord {
                id: 0,
                room: room(),
                requester: user(),
                instance: InstanceId::default(),
                project: ProjectId::new(1),
                project_name: "ops".into(),
                template: TemplateId::new(1),
                template_name: "deploy".into(),
                task,
                parameters: Default::default(),
                started_at: at,
                ended_at: None,
                result: None,
            };
            let run_id = store.record_run(run).await.unwrap();
            let entry = AuditEntry {
                seq: 0,
                at,
                actor: user(),
                room: Some(room()),
                action: "run.start".into(),
                detail: format!("run {run_id}"),
            };
            let seq = store.append_audit(entry).await.unwrap();
            writeln!(out, "ack {seq} run {run_id}").unwrap();
            out.flush().unwrap();
        }
    });
}

#[test]
fn killing_the_writer_at_any_moment_loses_nothing_acknowledged() {
    if std::env::var("CHATRIXCD_CRASH_DIR").is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut acked_total = 0;
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    for round in 0..12 {
        // Where to kill: after a pseudo-random number of acknowledged writes.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let kill_after = 1 + seed % 40;
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_writer_child", "--nocapture", "--test-threads=1"])
            .env("CHATRIXCD_CRASH_DIR", dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut last_ack = 0u64;
        let mut last_run = 0u64;
        let mut seen = 0;
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let Some(rest) = line.strip_prefix("ack ") else { continue };
            let mut words = rest.split(' ');
            last_ack = words.next().unwrap().parse().unwrap();
            last_run = words.nth(1).unwrap().parse().unwrap();
            seen += 1;
            if seen >= kill_after {
                // SIGKILL: no destructor, no flush, mid-write of the next round.
                child.kill().unwrap();
                break;
            }
        }
        child.wait().unwrap();
        acked_total += seen;

        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let store = RedbStore::open(dir.path()).unwrap_or_else(|e| panic!("round {round}: {e}"));
            let audit = store.audit(ALL).await.unwrap();
            let seqs: Vec<u64> = audit.iter().rev().map(|e| e.seq).collect();
            assert!(seqs.len() as u64 >= last_ack, "round {round}: acknowledged {last_ack}, found {}", seqs.len());
            assert!(seqs.iter().enumerate().all(|(i, s)| *s == i as u64 + 1), "round {round}: audit has gaps");
            let runs = store.runs(ALL).await.unwrap();
            assert!(runs.iter().any(|r| r.id == last_run), "round {round}: run {last_run} was acknowledged");
            let ids: Vec<u64> = runs.iter().map(|r| r.id).collect();
            assert!(ids.windows(2).all(|w| w[0] > w[1]), "round {round}: run ids repeat or go back");
            let tracked = store.tracked_tasks().await.unwrap();
            let mut keys: Vec<_> = tracked.iter().map(|t| (t.project, t.task, t.room.clone())).collect();
            keys.sort();
            keys.dedup();
            assert_eq!(keys.len(), tracked.len(), "round {round}: a tracked task is there twice");
        });
    }
    assert!(acked_total >= 12);
}
