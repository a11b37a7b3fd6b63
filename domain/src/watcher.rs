//! The watcher's state: per instance, when to poll next, whether a poll is under way, whether
//! Semaphore's websocket is open, and what the last polls learnt; across instances, when each
//! status message was last edited and the plan summaries shown in them. The logic that uses it
//! is in `watch.rs`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chatrixcd_ports::store::TaskRef;
use chatrixcd_ports::{InstanceId, ProjectId, RoomId};
use chrono::{DateTime, Duration, Utc};

/// What the watcher knows about one instance.
#[derive(Debug, Default)]
pub(crate) struct InstanceWatch {
    /// When the next poll is due; `None` while nothing is watched or while a poll runs.
    pub next_poll: Option<DateTime<Utc>>,
    /// A poll of this instance is under way: no second one starts until it is done.
    pub polling: bool,
    /// Whether Semaphore's websocket is open, which makes polling a slower safety net.
    pub push_open: bool,
    /// When a watched task outside its project's newest tasks was last fetched on its own.
    pub checked_alone: HashMap<TaskRef, DateTime<Utc>>,
    /// Projects whose watched tasks did not all fit in the newest 200 at the last poll: they are
    /// polled through the longer task list.
    pub deep_listing: BTreeSet<ProjectId>,
}

#[derive(Debug, Default)]
pub(crate) struct Watchers {
    instances: BTreeMap<InstanceId, InstanceWatch>,
    /// The plan summary of runs waiting for approval, shown in their status message.
    pub plan_summaries: HashMap<TaskRef, String>,
    /// When each run's status message was last edited, for the edit gap and the refresh.
    pub status_edited: HashMap<(RoomId, TaskRef), DateTime<Utc>>,
}

impl Watchers {
    pub(crate) fn new(instances: impl IntoIterator<Item = InstanceId>) -> Self {
        Self { instances: instances.into_iter().map(|i| (i, InstanceWatch::default())).collect(), ..Self::default() }
    }

    pub(crate) fn of(&mut self, instance: InstanceId) -> &mut InstanceWatch {
        self.instances.entry(instance).or_default()
    }

    pub(crate) fn push_open(&self, instance: InstanceId) -> bool {
        self.instances.get(&instance).is_some_and(|w| w.push_open)
    }

    /// The earliest poll due on an instance that is not being polled right now (one under way
    /// plans the next itself when it ends).
    pub(crate) fn next_deadline(&self) -> Option<DateTime<Utc>> {
        self.instances.values().filter(|w| !w.polling).filter_map(|w| w.next_poll).min()
    }

    /// Whether any instance has tasks being watched (a poll due or under way).
    pub(crate) fn is_watching(&self) -> bool {
        self.instances.values().any(|w| w.next_poll.is_some() || w.polling)
    }

    /// Polls `instance` within `interval` from `now` (sooner if already due sooner).
    pub(crate) fn soon(&mut self, instance: InstanceId, now: DateTime<Utc>, interval: Duration) {
        let w = self.of(instance);
        if w.polling {
            // The poll under way reschedules itself when done, and sees the change.
            w.next_poll = Some(w.next_poll.map_or(now + interval, |at| at.min(now + interval)));
            return;
        }
        let next = now + interval;
        w.next_poll = Some(w.next_poll.map_or(next, |at| at.min(next)));
    }

    /// Polls `instance` at once, if anything is watched there.
    pub(crate) fn now_if_watching(&mut self, instance: InstanceId, now: DateTime<Utc>) {
        let w = self.of(instance);
        if w.next_poll.is_some() {
            w.next_poll = Some(now);
        }
    }

    /// The instances whose poll is due, each marked as polling so that it is not started twice.
    pub(crate) fn take_due(&mut self, now: DateTime<Utc>) -> Vec<InstanceId> {
        let mut due = Vec::new();
        for (id, w) in &mut self.instances {
            if !w.polling && w.next_poll.is_some_and(|at| at <= now) {
                w.polling = true;
                w.next_poll = None;
                due.push(*id);
            }
        }
        due
    }

    /// A poll of `instance` ended; `next` is when the following one is due (`None`: nothing left
    /// to watch). A poll asked for meanwhile (`soon`) is kept if it is earlier.
    pub(crate) fn poll_done(&mut self, instance: InstanceId, next: Option<DateTime<Utc>>) {
        let w = self.of(instance);
        w.polling = false;
        w.next_poll = match (w.next_poll, next) {
            (Some(asked), Some(planned)) => Some(asked.min(planned)),
            (asked, planned) => asked.or(planned),
        };
    }

    /// Forgets what was kept about a finished run.
    pub(crate) fn forget(&mut self, room: &RoomId, task: TaskRef) {
        self.status_edited.remove(&(room.clone(), task));
        self.plan_summaries.remove(&task);
        self.of(task.instance).checked_alone.remove(&task);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_000_000 + s, 0).unwrap()
    }

    #[test]
    fn a_due_poll_is_taken_once_and_rescheduled_when_done() {
        let prod = InstanceId::parse("production").unwrap();
        let staging = InstanceId::parse("staging").unwrap();
        let mut w = Watchers::new([prod, staging]);
        assert!(!w.is_watching());
        w.soon(prod, at(0), Duration::seconds(5));
        w.soon(staging, at(0), Duration::seconds(10));
        assert_eq!(w.next_deadline(), Some(at(5)));
        assert_eq!(w.take_due(at(5)), [prod]);
        assert!(w.take_due(at(6)).is_empty(), "not twice while it runs");
        assert!(w.is_watching(), "a poll under way is watching");
        assert_eq!(w.next_deadline(), Some(at(10)), "the other instance is unaffected");
        w.soon(prod, at(6), Duration::seconds(5));
        assert_eq!(w.next_deadline(), Some(at(10)), "a poll asked for while one runs is not due before it ends");
        w.poll_done(prod, Some(at(20)));
        assert_eq!(w.of(prod).next_poll, Some(at(11)), "a poll asked for meanwhile wins if earlier");
        assert_eq!(w.take_due(at(10)), [staging]);
        w.poll_done(staging, None);
        assert_eq!(w.of(staging).next_poll, None, "nothing left to watch there");
    }
}
