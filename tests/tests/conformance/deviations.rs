//! Every known difference between the simulator and the recorded Semaphore 2.10.32, with its
//! reason. The conformance test fails on any difference not listed here, and on any entry here
//! that no longer happens, so this file is always the true list.
//!
//! An entry matches a difference by scenario, route (method and path with ids as `{n}`) and a
//! fragment of the difference's description.

pub(crate) struct Deviation {
    pub scenario: &'static str,
    pub route: &'static str,
    pub fragment: &'static str,
    pub reason: &'static str,
}

pub(crate) const DEVIATIONS: &[Deviation] = &[];
