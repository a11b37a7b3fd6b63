//! Run-history throughput on redb: durable single writes (as the bot makes them), a bulk load of
//! one million runs, and page queries over them.
//!
//! `cargo bench -p chatrixcd-store-redb --bench history` (release build; writes to a temporary
//! directory on the machine's disk). Results go to docs/performance.md.
#![allow(clippy::unwrap_used, clippy::print_stdout)] // a benchmark reports on stdout and may fail loudly

use std::time::{Duration, Instant};

use chatrixcd_ports::store::{Page, RunRecord, Store as _};
use chatrixcd_ports::{InstanceId, ProjectId, RoomId, TaskId, TemplateId, UserId};
use chatrixcd_store_redb::RedbStore;
use chrono::DateTime;

fn run(n: u64) -> RunRecord {
    RunRecord {
        id: 0,
        room: RoomId::parse("!ops:example.org").unwrap(),
        // One run in a thousand is Bob's: `history @bob` must not read the other 999.
        requester: UserId::parse(if n.is_multiple_of(1000) { "@bob:example.org" } else { "@alice:example.org" })
            .unwrap(),
        instance: InstanceId::parse("production").unwrap(),
        project: ProjectId::new(1 + n % 5),
        project_name: "ops".into(),
        template: TemplateId::new(1 + n % 40),
        template_name: "deploy-web".into(),
        task: TaskId::new(2_147_483_646 - n),
        parameters: [("var.version".to_owned(), format!("1.{n}")), ("limit".to_owned(), "web".to_owned())].into(),
        started_at: DateTime::from_timestamp(1_767_225_600 + i64::try_from(n).unwrap(), 0).unwrap(),
        ended_at: None,
        // One in twenty failed.
        result: n.is_multiple_of(20).then_some(chatrixcd_ports::TaskStatus::Error),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(dir.path()).unwrap();

        // 1. Durable single writes: one transaction and fsync each, as `run` records them.
        const SINGLE: u64 = 2_000;
        let mut latencies = Vec::with_capacity(SINGLE as usize);
        let start = Instant::now();
        for n in 0..SINGLE {
            let t = Instant::now();
            store.record_run(run(n)).await.unwrap();
            latencies.push(t.elapsed());
        }
        let elapsed = start.elapsed();
        latencies.sort();
        println!(
            "single durable writes: {SINGLE} in {:.2?} = {:.0}/s, p50 {:.2?}, p99 {:.2?}",
            elapsed,
            SINGLE as f64 / elapsed.as_secs_f64(),
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99)
        );

        // 2. One million runs, 10,000 per transaction.
        const TOTAL: u64 = 1_000_000;
        const BATCH: u64 = 10_000;
        let start = Instant::now();
        let mut n = SINGLE;
        while n < SINGLE + TOTAL {
            let batch: Vec<RunRecord> = (n..n + BATCH).map(run).collect();
            store.record_runs(batch).await.unwrap();
            n += BATCH;
        }
        let elapsed = start.elapsed();
        println!("bulk load: {TOTAL} runs in {:.2?} = {:.0} runs/s", elapsed, TOTAL as f64 / elapsed.as_secs_f64());
        let size = std::fs::metadata(store.path()).unwrap().len();
        println!("database file: {:.1} MiB for {} runs", size as f64 / 1_048_576.0, TOTAL + SINGLE);

        // 3. Queries: the newest page, and a page deep in the past.
        for (name, before) in [("newest page of 50", None), ("page of 50 before run 500,000", Some(500_000))] {
            let mut times = Vec::new();
            for _ in 0..200 {
                let t = Instant::now();
                let page = store.runs(Page { limit: 50, before }).await.unwrap();
                times.push(t.elapsed());
                assert_eq!(page.len(), 50);
            }
            times.sort();
            println!("{name}: p50 {:.2?}, p99 {:.2?}", percentile(&times, 0.5), percentile(&times, 0.99));
        }
        // 4. `history` filters over the million: by the requester index, by walking back, and
        // the worst case (a filter nothing matches, without an index: every run is read).
        let bob = UserId::parse("@bob:example.org").unwrap();
        let last_hour =
            DateTime::from_timestamp(1_767_225_600 + i64::try_from(SINGLE + TOTAL).unwrap() - 3600, 0).unwrap();
        let queries = [
            (
                "history @bob (1 run in 1,000; index)",
                chatrixcd_ports::RunQuery { requester: Some(bob.clone()), ..Default::default() },
                50,
            ),
            (
                "history failed (1 in 20)",
                chatrixcd_ports::RunQuery { outcome: Some(chatrixcd_ports::RunOutcome::Failed), ..Default::default() },
                50,
            ),
            (
                "history --template 7 (1 in 40; index)",
                chatrixcd_ports::RunQuery { template: Some("7".into()), ..Default::default() },
                50,
            ),
            (
                "history @bob failed --template 1 (1 in 1,000, all match)",
                chatrixcd_ports::RunQuery {
                    requester: Some(bob),
                    outcome: Some(chatrixcd_ports::RunOutcome::Failed),
                    template: Some("1".into()),
                    ..Default::default()
                },
                50,
            ),
            (
                "history --project nope --since <an hour ago> (walk stops at the hour: 3,600 runs)",
                chatrixcd_ports::RunQuery {
                    since: Some(last_hour),
                    project: Some("nope".into()),
                    ..Default::default()
                },
                10,
            ),
            (
                "history --template nope (no such template; index)",
                chatrixcd_ports::RunQuery { template: Some("nope".into()), ..Default::default() },
                50,
            ),
            (
                "history --project nope (no match, no index, no date: reads all)",
                chatrixcd_ports::RunQuery { project: Some("nope".into()), ..Default::default() },
                3,
            ),
        ];
        for (name, query, rounds) in queries {
            let mut times = Vec::new();
            for _ in 0..rounds {
                let t = Instant::now();
                let page = store.find_runs(&query, Page { limit: 11, before: None }).await.unwrap();
                times.push(t.elapsed());
                std::hint::black_box(page);
            }
            times.sort();
            println!(
                "{name}: page of 10 (+1): p50 {:.2?}, max {:.2?}",
                percentile(&times, 0.5),
                times[times.len() - 1]
            );
        }
        let t = Instant::now();
        let all = store.runs(Page { limit: usize::MAX, before: None }).await.unwrap();
        println!("read all {} runs: {:.2?}", all.len(), t.elapsed());
    });
}
