//! Opening the database file: permissions, locks, corruption and schema versions, each with an
//! error that names the file and says what to do.

use std::path::{Path, PathBuf};

use redb::{
    Database, DatabaseError, MultimapTableDefinition, ReadableDatabase as _, ReadableTable as _, TableDefinition,
};

/// The layout this build reads and writes. Raise it with a migration when the layout changes.
pub const SCHEMA_VERSION: u64 = 2;

pub(crate) const META: TableDefinition<'_, &str, &str> = TableDefinition::new("meta");
pub(crate) const ALIASES: TableDefinition<'_, &str, &str> = TableDefinition::new("aliases");
pub(crate) const TRACKED: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("tracked_tasks");
pub(crate) const LAST_TASK: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("room_last_task");
pub(crate) const ROOMS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("room_settings");
pub(crate) const RUNS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("runs");
pub(crate) const RUN_BY_TASK: TableDefinition<'_, &str, u64> = TableDefinition::new("run_by_task");
pub(crate) const AUDIT: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("audit");
pub(crate) const SCHEDULES: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("schedules");
/// `{schedule:020}/{slot unix seconds:020}`: a schedule's slots in time order.
pub(crate) const SLOTS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("schedule_slots");
/// `{scope key}\0{name}`: names are unique within a scope; a scope key never holds a NUL.
/// Each requester's runs by id: `history @user` reads only that person's runs.
pub(crate) const RUNS_BY_REQUESTER: MultimapTableDefinition<'_, &str, u64> =
    MultimapTableDefinition::new("runs_by_requester");
/// Runs by template: `n:<name, lower case>` and `i:<id>` → run ids (`history --template`).
pub(crate) const RUNS_BY_TEMPLATE: MultimapTableDefinition<'_, &str, u64> =
    MultimapTableDefinition::new("runs_by_template");

/// The keys of a run in [`RUNS_BY_TEMPLATE`].
pub(crate) fn template_keys(run: &chatrixcd_ports::RunRecord) -> [String; 2] {
    [format!("n:{}", run.template_name.to_lowercase()), format!("i:{}", run.template)]
}

/// The keys a `--template` filter looks up: its name, and its id when it is a number.
pub(crate) fn template_lookup(given: &str) -> Vec<String> {
    let mut keys = vec![format!("n:{}", given.to_lowercase())];
    if given.parse::<u64>().is_ok() {
        keys.push(format!("i:{given}"));
    }
    keys
}

pub(crate) const PRESETS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("presets");

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot create the data directory {path}: {source}")]
    Directory { path: PathBuf, source: std::io::Error },
    #[error(
        "{path} is in use by another chatrixcd (only one process may open it): stop the other one, or give this one its own --data-dir"
    )]
    Locked { path: PathBuf },
    #[error(
        "{path} is damaged or not a chatrixcd database ({detail}): restore it from a backup, or move it away to start afresh"
    )]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "{path} was written by a newer chatrixcd (schema {found}, this one reads up to {supported}): upgrade chatrixcd, or point --data-dir elsewhere"
    )]
    Newer { path: PathBuf, found: u64, supported: u64 },
    #[error(
        "{path} could not be moved from schema {from} to this chatrixcd's layout ({detail}); it was left as it was: keep the older chatrixcd running, or report this with the file"
    )]
    Migration { path: PathBuf, from: u64, detail: String },
    #[error("cannot use {path}: {detail}")]
    Other { path: PathBuf, detail: String },
}

/// Creates the directory (owner only) and the file (owner read/write), then opens it.
pub(crate) fn open_database(dir: &Path) -> Result<(Database, PathBuf), OpenError> {
    create_private_dir(dir)?;
    let path = dir.join("chatrixcd.redb");
    create_private_file(&path)?;
    let db = Database::create(&path).map_err(|e| match e {
        DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch => {
            OpenError::Locked { path: path.clone() }
        }
        DatabaseError::Storage(s) => OpenError::Corrupt { path: path.clone(), detail: s.to_string() },
        other => OpenError::Other { path: path.clone(), detail: other.to_string() },
    })?;
    prepare(&db, &path)?;
    Ok((db, path))
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> Result<(), OpenError> {
    use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| OpenError::Directory { path: dir.to_owned(), source })?;
    }
    // Tighten a directory created elsewhere too: the database holds who did what.
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    Ok(())
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> Result<(), OpenError> {
    std::fs::create_dir_all(dir).map_err(|source| OpenError::Directory { path: dir.to_owned(), source })
}

#[cfg(unix)]
fn create_private_file(path: &Path) -> Result<(), OpenError> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    if !path.exists() {
        std::fs::OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| OpenError::Other { path: path.to_owned(), detail: e.to_string() })?;
    }
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    Ok(())
}

#[cfg(not(unix))]
fn create_private_file(_path: &Path) -> Result<(), OpenError> {
    Ok(())
}

/// Creates missing tables, stamps a new file with the schema version, refuses newer ones.
fn prepare(db: &Database, path: &Path) -> Result<(), OpenError> {
    let corrupt = |e: &dyn std::fmt::Display| OpenError::Corrupt { path: path.to_owned(), detail: e.to_string() };
    let found: Option<u64> = {
        let read = db.begin_read().map_err(|e| corrupt(&e))?;
        match read.open_table(META) {
            Ok(meta) => match meta.get("schema_version").map_err(|e| corrupt(&e))? {
                Some(v) => Some(v.value().parse().map_err(|_| corrupt(&"unreadable schema version"))?),
                None => None,
            },
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(corrupt(&e)),
        }
    };
    if let Some(found) = found
        && found > SCHEMA_VERSION
    {
        return Err(OpenError::Newer { path: path.to_owned(), found, supported: SCHEMA_VERSION });
    }
    let write = db.begin_write().map_err(|e| corrupt(&e))?;
    {
        // Opening a table in a write transaction creates it.
        write.open_table(ALIASES).map_err(|e| corrupt(&e))?;
        write.open_table(TRACKED).map_err(|e| corrupt(&e))?;
        write.open_table(LAST_TASK).map_err(|e| corrupt(&e))?;
        write.open_table(ROOMS).map_err(|e| corrupt(&e))?;
        write.open_table(RUNS).map_err(|e| corrupt(&e))?;
        write.open_table(RUN_BY_TASK).map_err(|e| corrupt(&e))?;
        write.open_table(AUDIT).map_err(|e| corrupt(&e))?;
        // A table added within schema 2: created empty here, so no migration is needed.
        write.open_table(PRESETS).map_err(|e| corrupt(&e))?;
        // Indexes added within schema 2: each built from the runs the first time it is missing.
        let missing = |table: MultimapTableDefinition<'_, &str, u64>| -> Result<bool, OpenError> {
            let read = db.begin_read().map_err(|e| corrupt(&e))?;
            match read.open_multimap_table(table) {
                Ok(_) => Ok(false),
                Err(redb::TableError::TableDoesNotExist(_)) => Ok(true),
                Err(e) => Err(corrupt(&e)),
            }
        };
        let (by_requester, by_template) = (missing(RUNS_BY_REQUESTER)?, missing(RUNS_BY_TEMPLATE)?);
        if by_requester || by_template {
            let mut requesters = write.open_multimap_table(RUNS_BY_REQUESTER).map_err(|e| corrupt(&e))?;
            let mut templates = write.open_multimap_table(RUNS_BY_TEMPLATE).map_err(|e| corrupt(&e))?;
            let runs = write.open_table(RUNS).map_err(|e| corrupt(&e))?;
            let mut count = 0usize;
            for item in runs.iter().map_err(|e| corrupt(&e))? {
                let (id, value) = item.map_err(|e| corrupt(&e))?;
                let run: chatrixcd_ports::RunRecord = serde_json::from_slice(value.value()).map_err(|e| corrupt(&e))?;
                if by_requester {
                    requesters.insert(run.requester.as_str(), id.value()).map_err(|e| corrupt(&e))?;
                }
                if by_template {
                    for key in template_keys(&run) {
                        templates.insert(key.as_str(), id.value()).map_err(|e| corrupt(&e))?;
                    }
                }
                count += 1;
            }
            if count > 0 {
                tracing::info!(path = %path.display(), runs = count, "indexed the run history");
            }
        }
        let mut meta = write.open_table(META).map_err(|e| corrupt(&e))?;
        // Migrations run in order, in this transaction, so the file is either all old or all new.
        if found == Some(1) {
            let done = crate::migrate::v1_to_v2(&write).map_err(|e| OpenError::Migration {
                path: path.to_owned(),
                from: 1,
                detail: e.to_string(),
            })?;
            tracing::info!(
                path = %path.display(),
                tracked = done.tracked,
                rooms = done.rooms,
                "migrated the database from schema 1 to 2 (tasks now name their Semaphore instance)"
            );
        }
        if found != Some(SCHEMA_VERSION) {
            meta.insert("schema_version", SCHEMA_VERSION.to_string().as_str()).map_err(|e| corrupt(&e))?;
        }
    }
    write.commit().map_err(|e| corrupt(&e))?;
    Ok(())
}
