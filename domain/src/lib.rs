//! The pure core of chatrixcd.
//!
//! No I/O lives here: no sockets, no files, no async runtime. Everything the domain needs from the
//! world comes through the traits in `chatrixcd-ports`, so the whole bot can be driven by tests
//! with fakes and a manual clock.

pub mod personality;
pub mod redact;
pub mod render;
