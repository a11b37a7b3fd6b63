//! chatrixcd's persistent store: one redb file, every write durable when the call returns.
//!
//! redb commits are atomic and fsynced, so a process killed at any moment leaves the database as
//! of the last acknowledged write: nothing acknowledged is lost, nothing half-written shows.
//! Values are JSON, keyed for the lookups the bot makes; the schema version lives in the file and
//! a newer file is refused rather than misread.

mod migrate;
mod open;
mod store;

pub use open::{OpenError, SCHEMA_VERSION};
pub use store::RedbStore;
