//! The SQLite store in the plan's data directory: the only module that speaks SQL.
//!
//! One [`Store`] (the engine's) writes; any number of [`Reader`]s read through their own
//! connections, which WAL mode allows while the writer works. Timestamps are stored as integer
//! milliseconds since the Unix epoch. Every change that belongs together (a transition and its log
//! entry) is one transaction, committed with `synchronous = FULL` before the API answers, so an
//! acknowledged write survives `kill -9` and power loss alike.

pub mod alerts;
pub mod reports;
pub mod review;
pub mod rollups;
pub mod runbook;
mod schema;

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use jiff::civil::Date;
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::core::actions::{ActionItem, ActionStatus, NewAction};
use crate::core::log::{LogData, LogEntry, LogKind, NewEntry};
use crate::core::{Confirmation, LaunchState, Transition};
use crate::domain::Phase;

/// The database file's name inside the data directory.
pub const DATABASE_FILE: &str = "golive.db";
/// The lock file that keeps a second daemon off the same data directory.
pub const LOCK_FILE: &str = "golive.lock";

/// What can go wrong with the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create data directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "another golive daemon is already using the data directory {path} (lock file {lock} is held); stop it first, or give this plan another data_dir"
    )]
    Locked { path: PathBuf, lock: PathBuf },
    #[error("cannot open lock file {path}: {source}")]
    LockFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("database {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "database {path} has schema version {found}, newer than this golive understands ({supported}); use a newer golive"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("database holds an unreadable value in {what}: {value}")]
    Corrupt { what: &'static str, value: String },
}

/// What kind of trouble a [`StoreError`] is: whether something around golive keeps the store from
/// working (which a person can fix, after which the same request succeeds) or golive itself is
/// wrong. The API answers the first kinds with a reason and a remedy, the last opaquely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreTrouble {
    /// The disk holding the data directory is full (`SQLITE_FULL`, `ENOSPC`).
    DiskFull,
    /// The database or the disk holding it cannot be written (`SQLITE_READONLY`, `EROFS`,
    /// permissions).
    ReadOnly,
    /// The operating system failed a read or write (`SQLITE_IOERR`, `SQLITE_CANTOPEN`, `EIO`).
    Io,
    /// Another program holds the database locked for longer than the busy timeout
    /// (`SQLITE_BUSY`, `SQLITE_LOCKED`).
    Busy,
    /// Anything else: a bug, a damaged database, a schema golive does not understand.
    Other,
}

impl StoreTrouble {
    /// Whether the trouble lies around golive (disk, permissions, other programs) rather than in it.
    pub fn is_environmental(self) -> bool {
        self != StoreTrouble::Other
    }

    fn from_sql(error: &rusqlite::Error) -> StoreTrouble {
        use rusqlite::ErrorCode;
        match error.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => StoreTrouble::DiskFull,
            Some(ErrorCode::ReadOnly | ErrorCode::PermissionDenied) => StoreTrouble::ReadOnly,
            Some(ErrorCode::SystemIoFailure | ErrorCode::CannotOpen) => StoreTrouble::Io,
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreTrouble::Busy,
            _ => StoreTrouble::Other,
        }
    }

    fn from_io(error: &std::io::Error) -> StoreTrouble {
        use std::io::ErrorKind;
        match error.kind() {
            ErrorKind::StorageFull | ErrorKind::QuotaExceeded => StoreTrouble::DiskFull,
            ErrorKind::ReadOnlyFilesystem | ErrorKind::PermissionDenied => StoreTrouble::ReadOnly,
            // EIO has no kind of its own.
            _ if error.raw_os_error() == Some(5) => StoreTrouble::Io,
            _ => StoreTrouble::Other,
        }
    }
}

impl std::fmt::Display for StoreTrouble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StoreTrouble::DiskFull => "its disk is full",
            StoreTrouble::ReadOnly => "its database cannot be written (read-only)",
            StoreTrouble::Io => "the disk reported an I/O error",
            StoreTrouble::Busy => "another program holds its database locked",
            StoreTrouble::Other => "an unexpected database error",
        })
    }
}

impl StoreError {
    /// What kind of trouble this is, for deciding how to answer and whom to tell.
    pub fn trouble(&self) -> StoreTrouble {
        match self {
            StoreError::CreateDir { source, .. } | StoreError::LockFile { source, .. } => {
                StoreTrouble::from_io(source)
            }
            StoreError::Open { source, .. } | StoreError::Sql(source) => {
                StoreTrouble::from_sql(source)
            }
            StoreError::Locked { .. } | StoreError::TooNew { .. } | StoreError::Corrupt { .. } => {
                StoreTrouble::Other
            }
        }
    }
}

/// The writing side of the store, held by the engine alone. Holding it holds the data-directory
/// lock.
pub struct Store {
    connection: Connection,
    path: PathBuf,
    // Keeps the advisory lock for as long as the store lives; released by the OS on exit or crash.
    _lock: File,
}

impl Store {
    /// Opens (creating if needed) the store in `data_dir`, takes the directory lock, and applies
    /// pending schema migrations.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::CreateDir {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let lock_path = data_dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| StoreError::LockFile {
                path: lock_path.clone(),
                source,
            })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Locked {
                    path: data_dir.to_path_buf(),
                    lock: lock_path,
                });
            }
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(StoreError::LockFile {
                    path: lock_path,
                    source,
                });
            }
        }
        let path = data_dir.join(DATABASE_FILE);
        let mut connection = open_connection(&path)?;
        schema::migrate(&mut connection, &path)?;
        Ok(Store {
            connection,
            path,
            _lock: lock,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A new reading connection to the same database.
    pub fn reader(&self) -> Result<Reader, StoreError> {
        Ok(Reader {
            connection: open_connection(&self.path)?,
        })
    }

    /// Loads the launch state, creating it (phase `planned` since `now`) on first start.
    pub fn load_or_init_state(&mut self, now: Timestamp) -> Result<LaunchState, StoreError> {
        let transaction = self.connection.transaction()?;
        transaction.execute(
            "INSERT OR IGNORE INTO launch_state (id, phase, phase_since) VALUES (1, ?1, ?2)",
            params![Phase::Planned.as_str(), millis(now)],
        )?;
        transaction.commit()?;
        read_state(&self.connection)
    }

    /// Records a phase transition and its log entry in one transaction.
    pub fn record_transition(
        &mut self,
        transition: &Transition,
        entry: &NewEntry,
    ) -> Result<LogEntry, StoreError> {
        self.write(|write| {
            write.record_phase(transition)?;
            write.log(entry)
        })
    }

    /// Records a checklist confirmation and its log entry in one transaction.
    pub fn record_confirmation(
        &mut self,
        item_id: &str,
        confirmation: &Confirmation,
        entry: &NewEntry,
    ) -> Result<LogEntry, StoreError> {
        let transaction = self.connection.transaction()?;
        transaction.execute(
            "INSERT INTO checklist_confirmations (item_id, confirmed_by, confirmed_at, note) VALUES (?1, ?2, ?3, ?4)",
            params![item_id, confirmation.by, millis(confirmation.at), confirmation.note],
        )?;
        let stored = insert_entry(&transaction, entry)?;
        transaction.commit()?;
        Ok(stored)
    }

    /// Appends several entries in one transaction.
    pub fn append_many(&mut self, entries: &[NewEntry]) -> Result<Vec<LogEntry>, StoreError> {
        let transaction = self.connection.transaction()?;
        let stored = entries
            .iter()
            .map(|entry| insert_entry(&transaction, entry))
            .collect::<Result<Vec<_>, _>>()?;
        transaction.commit()?;
        Ok(stored)
    }

    /// Appends one entry to the log.
    pub fn append(&mut self, entry: &NewEntry) -> Result<LogEntry, StoreError> {
        let transaction = self.connection.transaction()?;
        let stored = insert_entry(&transaction, entry)?;
        transaction.commit()?;
        Ok(stored)
    }

    /// Creates an action item and logs it, in one transaction. `entry_for` builds the log entry
    /// once the item's id is known.
    pub fn create_action(
        &mut self,
        action: &NewAction,
        author: &str,
        now: Timestamp,
        entry_for: impl FnOnce(&ActionItem) -> NewEntry,
    ) -> Result<(ActionItem, LogEntry), StoreError> {
        let transaction = self.connection.transaction()?;
        transaction.execute(
            "INSERT INTO action_items (title, owner, due, status, created_at, created_by, updated_at) VALUES (?1, ?2, ?3, 'open', ?4, ?5, ?4)",
            params![action.title, action.owner, action.due.map(|due| due.to_string()), millis(now), author],
        )?;
        let id = transaction.last_insert_rowid();
        let item = read_action(&transaction, id)?.ok_or(StoreError::Corrupt {
            what: "action_items",
            value: format!("row {id} vanished after insert"),
        })?;
        let stored = insert_entry(&transaction, &entry_for(&item))?;
        transaction.commit()?;
        Ok((item, stored))
    }

    /// Changes an action item's status (and optionally owner/due) and logs it, in one transaction.
    pub fn update_action(
        &mut self,
        item: &ActionItem,
        entry: &NewEntry,
    ) -> Result<LogEntry, StoreError> {
        let transaction = self.connection.transaction()?;
        transaction.execute(
            "UPDATE action_items SET title = ?2, owner = ?3, due = ?4, status = ?5, updated_at = ?6 WHERE id = ?1",
            params![
                item.id,
                item.title,
                item.owner,
                item.due.map(|due| due.to_string()),
                item.status.as_str(),
                millis(item.updated_at)
            ],
        )?;
        let stored = insert_entry(&transaction, entry)?;
        transaction.commit()?;
        Ok(stored)
    }

    /// One action item by id.
    pub fn action(&self, id: i64) -> Result<Option<ActionItem>, StoreError> {
        read_action(&self.connection, id)
    }

    /// Every action item, oldest first.
    pub fn actions(&self) -> Result<Vec<ActionItem>, StoreError> {
        read_actions(&self.connection)
    }
}

/// A reading connection for the API and exports; never writes.
pub struct Reader {
    connection: Connection,
}

/// Which log entries to read.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    /// Only these kinds (all when empty).
    pub kinds: Vec<LogKind>,
    /// Only entries with an id below this (for paging backwards from the newest).
    pub before: Option<i64>,
    /// Only entries with an id above this (for reading forwards).
    pub after: Option<i64>,
    /// At most this many entries.
    pub limit: usize,
    /// Oldest first instead of newest first.
    pub ascending: bool,
}

impl Reader {
    /// Reads the launch state.
    pub fn state(&self) -> Result<LaunchState, StoreError> {
        read_state(&self.connection)
    }

    /// Reads log entries as the query says.
    pub fn log(&self, query: &LogQuery) -> Result<Vec<LogEntry>, StoreError> {
        let mut sql = String::from("SELECT id, at, author, kind, text, data FROM log WHERE 1 = 1");
        let mut values: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(before) = query.before {
            sql.push_str(" AND id < ?");
            values.push(before.into());
        }
        if let Some(after) = query.after {
            sql.push_str(" AND id > ?");
            values.push(after.into());
        }
        if !query.kinds.is_empty() {
            let placeholders = vec!["?"; query.kinds.len()].join(", ");
            sql.push_str(&format!(" AND kind IN ({placeholders})"));
            values.extend(
                query
                    .kinds
                    .iter()
                    .map(|kind| kind.as_str().to_string().into()),
            );
        }
        sql.push_str(if query.ascending {
            " ORDER BY id ASC"
        } else {
            " ORDER BY id DESC"
        });
        sql.push_str(" LIMIT ?");
        values.push(i64::try_from(query.limit).unwrap_or(i64::MAX).into());
        let mut statement = self.connection.prepare(&sql)?;
        let rows = statement.query_map(rusqlite::params_from_iter(values), entry_row)?;
        rows.map(|row| row?).collect()
    }

    /// Every log entry, oldest first.
    pub fn whole_log(&self) -> Result<Vec<LogEntry>, StoreError> {
        self.log(&LogQuery {
            limit: usize::MAX >> 1,
            ascending: true,
            ..LogQuery::default()
        })
    }

    /// Every action item, oldest first.
    pub fn actions(&self) -> Result<Vec<ActionItem>, StoreError> {
        read_actions(&self.connection)
    }

    /// `PRAGMA integrity_check`: `ok` when the database is sound.
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        Ok(self
            .connection
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))?)
    }
}

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let open = |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    };
    let connection = Connection::open(path).map_err(open)?;
    connection
        .busy_timeout(std::time::Duration::from_secs(5))
        .map_err(open)?;
    // WAL lets readers work beside the writer; FULL makes every commit durable before the API
    // answers success.
    connection
        .pragma_update(None, "journal_mode", "WAL")
        .map_err(open)?;
    connection
        .pragma_update(None, "synchronous", "FULL")
        .map_err(open)?;
    connection
        .pragma_update(None, "foreign_keys", "ON")
        .map_err(open)?;
    Ok(connection)
}

pub(crate) fn millis(at: Timestamp) -> i64 {
    at.as_millisecond()
}

pub(crate) fn timestamp(ms: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_millisecond(ms).map_err(|_| StoreError::Corrupt {
        what: "timestamp",
        value: ms.to_string(),
    })
}

fn read_state(connection: &Connection) -> Result<LaunchState, StoreError> {
    let (phase, since): (String, i64) = connection.query_row(
        "SELECT phase, phase_since FROM launch_state WHERE id = 1",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    let phase = phase.parse::<Phase>().map_err(|_| StoreError::Corrupt {
        what: "launch_state.phase",
        value: phase.clone(),
    })?;
    let mut statement = connection.prepare(
        "SELECT item_id, confirmed_by, confirmed_at, note FROM checklist_confirmations ORDER BY confirmed_at",
    )?;
    let rows = statement.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, i64>(2)?,
            row.get::<_, Option<String>>(3)?,
        ))
    })?;
    let mut confirmations = std::collections::BTreeMap::new();
    for row in rows {
        let (id, by, at, note) = row?;
        confirmations.insert(
            id,
            Confirmation {
                by,
                at: timestamp(at)?,
                note,
            },
        );
    }
    Ok(LaunchState {
        phase,
        phase_since: timestamp(since)?,
        confirmations,
    })
}

impl alerts::Write<'_> {
    /// Records a phase transition, for a transaction that writes what comes with it (the log
    /// entry, a stakeholder update's outbox rows).
    pub fn record_phase(&mut self, transition: &Transition) -> Result<(), StoreError> {
        self.transaction.execute(
            "UPDATE launch_state SET phase = ?1, phase_since = ?2 WHERE id = 1",
            params![transition.to.as_str(), millis(transition.at)],
        )?;
        Ok(())
    }
}

pub(crate) fn insert_entry(
    connection: &Connection,
    entry: &NewEntry,
) -> Result<LogEntry, StoreError> {
    let data = entry.data.to_stored();
    connection.execute(
        "INSERT INTO log (at, author, kind, text, data) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            millis(entry.at),
            entry.author,
            entry.kind.as_str(),
            entry.text,
            data
        ],
    )?;
    Ok(LogEntry {
        id: connection.last_insert_rowid(),
        at: entry.at,
        author: entry.author.clone(),
        kind: entry.kind,
        text: entry.text.clone(),
        data: entry.data.clone(),
    })
}

fn entry_row(row: &Row<'_>) -> rusqlite::Result<Result<LogEntry, StoreError>> {
    let id: i64 = row.get(0)?;
    let at: i64 = row.get(1)?;
    let author: String = row.get(2)?;
    let kind: String = row.get(3)?;
    let text: String = row.get(4)?;
    let data: Option<String> = row.get(5)?;
    Ok((|| {
        let kind: LogKind = kind.parse().map_err(|_| StoreError::Corrupt {
            what: "log.kind",
            value: kind.clone(),
        })?;
        Ok(LogEntry {
            id,
            at: timestamp(at)?,
            author,
            kind,
            text,
            data: match data {
                None => LogData::None,
                Some(data) => LogData::read(
                    kind,
                    serde_json::from_str(&data).map_err(|_| StoreError::Corrupt {
                        what: "log.data",
                        value: data.clone(),
                    })?,
                ),
            },
        })
    })())
}

const ACTION_COLUMNS: &str = "id, title, owner, due, status, created_at, created_by, updated_at";

fn action_row(row: &Row<'_>) -> rusqlite::Result<Result<ActionItem, StoreError>> {
    let id: i64 = row.get(0)?;
    let title: String = row.get(1)?;
    let owner: String = row.get(2)?;
    let due: Option<String> = row.get(3)?;
    let status: String = row.get(4)?;
    let created_at: i64 = row.get(5)?;
    let created_by: String = row.get(6)?;
    let updated_at: i64 = row.get(7)?;
    Ok((|| {
        Ok(ActionItem {
            id,
            title,
            owner,
            due: due
                .map(|due| {
                    due.parse::<Date>().map_err(|_| StoreError::Corrupt {
                        what: "action_items.due",
                        value: due.clone(),
                    })
                })
                .transpose()?,
            status: status
                .parse::<ActionStatus>()
                .map_err(|_| StoreError::Corrupt {
                    what: "action_items.status",
                    value: status.clone(),
                })?,
            created_at: timestamp(created_at)?,
            created_by,
            updated_at: timestamp(updated_at)?,
        })
    })())
}

fn read_action(connection: &Connection, id: i64) -> Result<Option<ActionItem>, StoreError> {
    connection
        .query_row(
            &format!("SELECT {ACTION_COLUMNS} FROM action_items WHERE id = ?1"),
            [id],
            action_row,
        )
        .optional()?
        .transpose()
}

fn read_actions(connection: &Connection) -> Result<Vec<ActionItem>, StoreError> {
    let mut statement = connection.prepare(&format!(
        "SELECT {ACTION_COLUMNS} FROM action_items ORDER BY id"
    ))?;
    let rows = statement.query_map([], action_row)?;
    rows.map(|row| row?).collect()
}

#[cfg(test)]
mod tests;
