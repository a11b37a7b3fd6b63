use std::collections::BTreeMap;
use std::sync::Arc;

use chatrixcd_clock::ManualClock;
use chatrixcd_ports::semaphore::StopMode;
use chatrixcd_ports::{ProjectId, TaskId, TaskStatus, TemplateId};
use chrono::Duration;

use super::*;

fn setup(mode: Mode) -> (SimModel, ManualClock) {
    let clock = ManualClock::at_epoch();
    let config =
        SimConfig { mode, queue_tick: Duration::seconds(5), step: Duration::milliseconds(100), ..SimConfig::default() };
    (SimModel::demo(config, Arc::new(clock.clone())), clock)
}

const OPS: ProjectId = ProjectId::new(1);

fn start(m: &mut SimModel, template: u64) -> TaskId {
    m.start_task(OPS, TemplateId::new(template), BTreeMap::new(), Vec::new(), None).unwrap().id
}

fn status(m: &mut SimModel, id: TaskId) -> TaskStatus {
    m.task(OPS, id).unwrap().status
}

/// Moves the clock in small steps, collecting every distinct status seen.
fn run_until_done(m: &mut SimModel, clock: &ManualClock, id: TaskId, limit: Duration) -> Vec<TaskStatus> {
    let mut seen = vec![status(m, id)];
    let mut waited = Duration::zero();
    while waited < limit {
        clock.advance(Duration::milliseconds(100));
        waited += Duration::milliseconds(100);
        let s = status(m, id);
        if seen.last() != Some(&s) {
            seen.push(s.clone());
        }
        if s.is_terminal() || s == TaskStatus::WaitingConfirmation {
            break;
        }
    }
    seen
}

#[test]
fn a_deploy_goes_from_waiting_to_success_with_a_recap() {
    let (mut m, clock) = setup(Mode::V2_10);
    let id = start(&mut m, 1);
    assert_eq!(id, TaskId::new(2_147_483_646));
    let seen = run_until_done(&mut m, &clock, id, Duration::seconds(60));
    assert_eq!(seen, [TaskStatus::Waiting, TaskStatus::Running, TaskStatus::Success]);
    // Like the real server, `end` is stamped a moment after the status turns terminal.
    assert!(m.task(OPS, id).unwrap().end.is_none());
    clock.advance(Duration::milliseconds(300));
    let task = m.task(OPS, id).unwrap();
    assert!(task.start.is_some() && task.end.is_some());
    let text: Vec<&str> = task.output.iter().map(|(_, l)| l.as_str()).collect();
    assert_eq!(
        text[..4],
        [
            format!("Task {id} added to queue"),
            format!("Started: {id}"),
            "Run TaskRunner with template: deploy-web\n".into(),
            format!("Preparing: {id}")
        ]
    );
    assert!(text.iter().any(|l| l.starts_with("PLAY RECAP")));
    // Starting was announced on the way, and the terminal update came twice, first without end.
    let updates: Vec<_> = m.updates_since(0).iter().map(|u| (u.status.clone(), u.end.is_some())).collect();
    assert_eq!(
        updates,
        [
            (TaskStatus::Waiting, false),
            (TaskStatus::Starting, false),
            (TaskStatus::Running, false),
            (TaskStatus::Success, false),
            (TaskStatus::Success, true)
        ]
    );
}

#[test]
fn the_queue_waits_for_its_tick() {
    let (mut m, clock) = setup(Mode::V2_10);
    let id = start(&mut m, 1);
    clock.advance(Duration::milliseconds(4_900));
    assert_eq!(status(&mut m, id), TaskStatus::Waiting);
    clock.advance(Duration::milliseconds(100));
    assert_eq!(status(&mut m, id), TaskStatus::Running);
}

#[test]
fn broken_deploy_fails() {
    let (mut m, clock) = setup(Mode::V2_10);
    let id = start(&mut m, 3);
    let seen = run_until_done(&mut m, &clock, id, Duration::seconds(60));
    assert_eq!(seen.last(), Some(&TaskStatus::Error));
    assert!(m.task(OPS, id).unwrap().output.iter().any(|(_, l)| l.contains("fatal: [localhost]: FAILED!")));
}

#[test]
fn two_runs_of_one_template_never_overlap() {
    let (mut m, clock) = setup(Mode::V2_10);
    let first = start(&mut m, 4);
    let second = start(&mut m, 4);
    clock.advance(Duration::seconds(30));
    assert_eq!(status(&mut m, first), TaskStatus::Running);
    assert_eq!(status(&mut m, second), TaskStatus::Waiting);
    run_until_done(&mut m, &clock, first, Duration::seconds(700));
    run_until_done(&mut m, &clock, second, Duration::seconds(700));
    clock.advance(Duration::seconds(1));
    let (a, b) = (m.task(OPS, first).unwrap(), m.task(OPS, second).unwrap());
    assert!(b.start.unwrap() >= a.end.unwrap());
}

#[test]
fn ids_count_down_on_2_10_and_up_on_current_and_lists_are_newest_first() {
    let (mut m, _) = setup(Mode::V2_10);
    let a = start(&mut m, 1);
    let b = start(&mut m, 2);
    assert!(b < a);
    let recent: Vec<TaskId> = m.recent_tasks(OPS, 10).unwrap().iter().map(|t| t.id).collect();
    assert_eq!(recent, [b, a]);
    let (mut m, _) = setup(Mode::Current);
    assert_eq!(start(&mut m, 1), TaskId::new(1));
    assert_eq!(start(&mut m, 1), TaskId::new(2));
}

#[test]
fn stop_semantics_follow_the_real_server() {
    let (mut m, clock) = setup(Mode::V2_10);
    // Graceful stop of a running task: stopping, then error.
    let id = start(&mut m, 4);
    clock.advance(Duration::seconds(6));
    m.stop_task(OPS, id, StopMode::Graceful).unwrap();
    assert_eq!(status(&mut m, id), TaskStatus::Stopping);
    clock.advance(Duration::seconds(1));
    assert_eq!(status(&mut m, id), TaskStatus::Error);
    // Force stop: stopped at once.
    let id = start(&mut m, 4);
    clock.advance(Duration::seconds(6));
    m.stop_task(OPS, id, StopMode::Force).unwrap();
    assert_eq!(status(&mut m, id), TaskStatus::Stopped);
    // A queued task stopped gracefully stays stopping until its turn, then is stopped.
    let running = start(&mut m, 4);
    let queued = start(&mut m, 4);
    clock.advance(Duration::seconds(6));
    m.stop_task(OPS, queued, StopMode::Graceful).unwrap();
    assert_eq!(status(&mut m, queued), TaskStatus::Stopping);
    m.stop_task(OPS, running, StopMode::Force).unwrap();
    clock.advance(Duration::seconds(6));
    assert_eq!(status(&mut m, queued), TaskStatus::Stopped);
    // A finished task is rewritten to stopped.
    let done = start(&mut m, 1);
    run_until_done(&mut m, &clock, done, Duration::seconds(60));
    m.stop_task(OPS, done, StopMode::Graceful).unwrap();
    assert_eq!(status(&mut m, done), TaskStatus::Stopped);
}

#[test]
fn plans_wait_for_confirmation_and_apply_after_it() {
    let (mut m, clock) = setup(Mode::V2_10);
    let id = start(&mut m, 5);
    let seen = run_until_done(&mut m, &clock, id, Duration::seconds(60));
    assert_eq!(seen.last(), Some(&TaskStatus::WaitingConfirmation));
    let other = start(&mut m, 1);
    assert_eq!(m.confirm_task(OPS, other), Err(SimError::status(400)));
    m.confirm_task(OPS, id).unwrap();
    let seen = run_until_done(&mut m, &clock, id, Duration::seconds(60));
    assert_eq!(seen.last(), Some(&TaskStatus::Success));
    assert!(m.task(OPS, id).unwrap().output.iter().any(|(_, l)| l.contains("Apply complete!")));
    // A graceful stop at the prompt leaves it stuck in stopping, as on 2.10.
    let id = start(&mut m, 5);
    run_until_done(&mut m, &clock, id, Duration::seconds(60));
    m.stop_task(OPS, id, StopMode::Graceful).unwrap();
    clock.advance(Duration::minutes(10));
    assert_eq!(status(&mut m, id), TaskStatus::Stopping);
    // The no-change plan succeeds without asking.
    let id = start(&mut m, 6);
    assert_eq!(run_until_done(&mut m, &clock, id, Duration::seconds(60)).last(), Some(&TaskStatus::Success));
}

#[test]
fn shell_templates_print_their_arguments() {
    let (mut m, clock) = setup(Mode::V2_10);
    let mut env = BTreeMap::new();
    env.insert("who".to_owned(), "world".to_owned());
    env.insert("env".to_owned(), "prod".to_owned());
    let id = m.start_task(OPS, TemplateId::new(8), env, vec!["--extra".into()], None).unwrap().id;
    run_until_done(&mut m, &clock, id, Duration::seconds(60));
    let out = m.task(OPS, id).unwrap().output;
    assert!(out.iter().any(|(_, l)| l == "hello from bash: --from-template env=prod who=world --extra"), "{out:?}");
}

#[test]
fn errors_use_the_real_status_codes() {
    let (mut m, _) = setup(Mode::V2_10);
    assert_eq!(m.templates(ProjectId::new(99)).unwrap_err(), SimError::status(404));
    assert_eq!(m.task(OPS, TaskId::new(999_999)).unwrap_err(), SimError::status(400));
    assert_eq!(
        m.start_task(OPS, TemplateId::new(9999), BTreeMap::new(), Vec::new(), None).unwrap_err(),
        SimError::status(500)
    );
    assert_eq!(m.templates(ProjectId::new(2)).unwrap().len(), 2);
}

#[test]
fn zero_timings_finish_on_the_next_call() {
    let clock = ManualClock::at_epoch();
    let config = SimConfig { queue_tick: Duration::zero(), step: Duration::zero(), ..SimConfig::default() };
    let mut m = SimModel::demo(config, Arc::new(clock));
    let id = start(&mut m, 1);
    assert_eq!(status(&mut m, id), TaskStatus::Success);
    let a = start(&mut m, 2);
    let b = start(&mut m, 2);
    assert_eq!(status(&mut m, a), TaskStatus::Success);
    assert_eq!(status(&mut m, b), TaskStatus::Success);
}
