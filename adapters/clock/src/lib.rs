//! Clocks: the real one, and a manual one that tests move by hand.

use std::sync::{Arc, Mutex, PoisonError};

use chatrixcd_ports::Clock;
use chrono::{DateTime, Duration, Utc};

/// The operating system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to. Clones share the same time, so a test can keep one
/// handle and give another to the code under test.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self { now: Arc::new(Mutex::new(start)) }
    }

    /// A fixed, readable starting point for tests: 2026-01-01T00:00:00Z.
    pub fn at_epoch() -> Self {
        // 1_767_225_600 is 2026-01-01T00:00:00Z, well inside chrono's range.
        Self::new(DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default())
    }

    pub fn advance(&self, by: Duration) {
        // A poisoned lock only means another test thread panicked; the time value is still valid.
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        *now += by;
    }

    pub fn set(&self, to: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told_and_clones_share_time() {
        let clock = ManualClock::at_epoch();
        let other = clock.clone();
        let start = clock.now();
        assert_eq!(other.now(), start);
        clock.advance(Duration::seconds(5));
        assert_eq!(other.now() - start, Duration::seconds(5));
    }

    #[test]
    fn system_clock_is_close_to_now() {
        let delta = SystemClock.now() - Utc::now();
        assert!(delta.num_seconds().abs() < 5);
    }
}
