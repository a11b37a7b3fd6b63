//! The binary's integration tests, one test binary for all of them: each module is one
//! scenario group (a real Synapse, the simulated Semaphore over HTTP, the demo, webhooks), and
//! `support` is what they share. One binary links the whole stack once instead of once per file,
//! which keeps a cold build's disk use and link time down (CI has both on a budget).
//! `cargo test -p chatrixcd --test integration synapse_e2ee::` runs one group.

// The Matrix stack's futures and types nest deeply (matrix-sdk's room and sync types).
#![recursion_limit = "256"]

mod support;

mod demo;
mod instances;
mod schedule_crash;
mod synapse;
mod synapse_accounts;
mod synapse_dialogs;
mod synapse_e2ee;
mod synapse_instances;
mod synapse_logs;
mod synapse_permissions;
mod synapse_schedules;
mod synapse_webhooks;
mod webhooks;
