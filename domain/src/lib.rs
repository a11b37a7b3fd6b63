//! The pure core of chatrixcd.
//!
//! No I/O lives here: no sockets, no files, no async runtime. Everything the domain needs from the
//! world comes through the traits in `chatrixcd-ports`, so the whole bot can be driven by tests
//! with fakes and a manual clock.

pub mod aliases;
pub mod bot;
pub mod commands;
pub mod confirm;
mod core;
pub mod cron;
mod dialog;
mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod grammar;
mod grants;
pub mod hjson;
pub mod instances;
pub mod metrics;
pub mod notify;
mod outbox;
pub mod permissions;
pub mod personality;
pub mod plans;
pub mod redact;
pub mod render;
pub mod resolve;
mod schedules;
pub mod settings;
mod stored_list;
mod survey;
mod tail;
mod watch;
mod watcher;
pub mod windows;

pub use bot::{Bot, Deps, Job, Lane, On, Outcome, strip_prefix};
pub use instances::{Instance, Instances};
pub use outbox::Stats;
pub use settings::{ConfirmPolicy, PolicyRule, Settings};

#[cfg(test)]
mod access_tests;
#[cfg(test)]
mod bot_tests;
#[cfg(test)]
mod dialog_tests;
#[cfg(test)]
mod html_tests;
#[cfg(test)]
mod leak_tests;
#[cfg(test)]
mod path_tests;
#[cfg(test)]
mod testing;
