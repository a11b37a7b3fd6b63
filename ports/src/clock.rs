//! Time, behind a port so that tests drive it by hand instead of sleeping.

use chrono::{DateTime, Utc};

/// The current wall-clock time. Deadlines in the domain are computed from it; the runtime asks the
/// domain for its next deadline and wakes it then, so a manual clock makes every timer testable.
#[cfg_attr(feature = "mocks", mockall::automock)]
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}
