//! The pure core of chatrixcd.
//!
//! No I/O lives here: no sockets, no files, no async runtime. Everything the domain needs from the
//! world comes through the traits in `chatrixcd-ports`, so the whole bot can be driven by tests
//! with fakes and a manual clock.

pub mod access;
pub mod aliases;
pub mod bot;
pub mod commands;
pub mod confirm;
pub mod grammar;
pub mod personality;
pub mod redact;
pub mod render;
pub mod resolve;
pub mod settings;
mod tail;
mod watch;

pub use bot::{Bot, Deps, Outcome, Stats, strip_prefix};
pub use settings::{ConfirmPolicy, Settings};

#[cfg(test)]
mod bot_tests;
#[cfg(test)]
mod testing;
