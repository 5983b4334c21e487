//! The store: SQLite in the plan's data directory (the default), or a PostgreSQL database
//! (`postgres://`, see [`Backend`]); the only module that speaks SQL, through `db/`.
//!
//! One [`Store`] (the engine's) writes; any number of [`Reader`]s read through their own
//! connections, which WAL mode (or PostgreSQL) allows while the writer works. Timestamps are stored
//! as integer milliseconds since the Unix epoch. Every change that belongs together (a transition
//! and its log entry) is one transaction, committed (SQLite with `synchronous = FULL`, PostgreSQL
//! with its default `synchronous_commit`) before the API answers, so an acknowledged write survives
//! `kill -9` and power loss alike.
//!
//! One writer: on SQLite the data directory's lock file keeps a second daemon out. On PostgreSQL
//! the daemon writes under a lease with a fencing epoch ([`lease`], [`Store::open_leased`]),
//! checked in every writing transaction: in [`Store::begin`], the one place a writing transaction
//! starts. A store opened without a lease ([`Store::open_with`], tools and tests) holds an
//! advisory lock on the database instead ([`WRITER_LOCK`]).

pub mod alerts;
pub(crate) mod db;
pub mod lease;
pub mod reports;
pub mod review;
pub mod rollups;
pub mod runbook;
mod schema;
mod standby_reads;

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use db::{Connection, Row, ToValue, Transaction, params};
use jiff::Timestamp;
use jiff::civil::Date;

use crate::core::actions::{ActionItem, ActionStatus, NewAction};
use crate::core::log::{LogData, LogEntry, LogKind, NewEntry};
use crate::core::{Confirmation, LaunchState, Transition};
use crate::domain::Phase;

/// The database file's name inside the data directory.
pub const DATABASE_FILE: &str = "golive.db";
/// The lock file that keeps a second daemon off the same data directory.
pub const LOCK_FILE: &str = "golive.lock";
/// The PostgreSQL advisory lock (session level) the writer holds on its database: one writer per
/// database, as the lock file is one per data directory. ("golive" in ASCII.)
pub const WRITER_LOCK: i64 = 0x676f_6c69_7665;

/// Where the store lives.
#[derive(Clone, PartialEq, Eq)]
pub enum Backend {
    /// `golive.db` in the data directory.
    Sqlite,
    /// A PostgreSQL database, by its URL (`postgres://user:password@host/db`); the URL may carry
    /// a password and is shown only redacted.
    Postgres(crate::domain::Secret),
}

impl Backend {
    /// The backend a database URL selects: `postgres://` or `postgresql://` → PostgreSQL.
    /// Anything else is refused, naming the scheme (never the rest of the URL).
    pub fn from_url(url: &str) -> Result<Backend, String> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres(crate::domain::Secret::new(url)))
        } else {
            let scheme = url.split_once("://").map_or("", |(scheme, _)| scheme);
            Err(format!(
                "the database URL must start with postgres:// or postgresql:// (found `{scheme}`); leave it out to use SQLite in the data directory"
            ))
        }
    }

    /// What the backend is, for logs and status: `sqlite` or the URL without its password.
    pub fn describe(&self) -> String {
        match self {
            Backend::Sqlite => "sqlite".to_string(),
            Backend::Postgres(url) => db::postgres::redact_url(url.expose()),
        }
    }
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

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
    #[error(
        "another golive daemon is already writing to the database {target} (it holds golive's advisory lock); stop it first, or give this launch its own database"
    )]
    DatabaseLocked { target: String },
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
    #[error("cannot connect to the database {target}: {source}")]
    Connect {
        /// The URL without its password.
        target: String,
        #[source]
        source: postgres::Error,
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
    #[error("database: {0}")]
    Postgres(#[source] postgres::Error),
    #[error("the connection to the database is lost: {0}")]
    ConnectionLost(String),
    #[error("database holds an unreadable value in {what}: {value}")]
    Corrupt { what: &'static str, value: String },
    #[error(
        "this golive no longer holds the lease (epoch {epoch}): another member has taken over or may have, so it writes nothing more"
    )]
    Fenced { epoch: i64 },
}

/// What kind of trouble a [`StoreError`] is: whether something around golive keeps the store from
/// working (which a person can fix, after which the same request succeeds) or golive itself is
/// wrong. The API answers the first kinds with a reason and a remedy, the last opaquely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreTrouble {
    /// The disk holding the data directory is full (`SQLITE_FULL`, `ENOSPC`; PostgreSQL's
    /// `disk_full`, `53100`).
    DiskFull,
    /// The database or the disk holding it cannot be written (`SQLITE_READONLY`, `EROFS`,
    /// permissions; PostgreSQL's read-only transaction `25006` on a standby or a
    /// `default_transaction_read_only` database, `42501` insufficient privilege).
    ReadOnly,
    /// The operating system failed a read or write (`SQLITE_IOERR`, `SQLITE_CANTOPEN`, `EIO`;
    /// PostgreSQL's `58030`).
    Io,
    /// Another program holds the database locked for longer than the busy timeout
    /// (`SQLITE_BUSY`, `SQLITE_LOCKED`; PostgreSQL's lock timeouts and serialization failures).
    Busy,
    /// The PostgreSQL server cannot be reached or went away (connection refused or lost, server
    /// shutting down or starting, too many connections).
    Unreachable,
    /// This daemon has lost (or may have lost) its PostgreSQL lease: another member is or may be
    /// the active one, so this one must not write; it steps down.
    Fenced,
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

    fn from_postgres(error: &postgres::Error) -> StoreTrouble {
        let Some(code) = error.code() else {
            // No SQLSTATE: the error came from the connection, not the server.
            return if error.is_closed() || std::error::Error::source(error).is_some() {
                StoreTrouble::Unreachable
            } else {
                StoreTrouble::Other
            };
        };
        StoreTrouble::from_sqlstate(code.code())
    }

    /// A PostgreSQL SQLSTATE as trouble (Appendix A of PostgreSQL's documentation).
    fn from_sqlstate(code: &str) -> StoreTrouble {
        match code {
            "53100" => StoreTrouble::DiskFull,
            "25006" | "42501" => StoreTrouble::ReadOnly,
            "58030" => StoreTrouble::Io,
            "55P03" | "40001" | "40P01" | "57014" => StoreTrouble::Busy,
            "53300" | "57P01" | "57P02" | "57P03" => StoreTrouble::Unreachable,
            _ if code.starts_with("08") => StoreTrouble::Unreachable,
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
            StoreTrouble::Unreachable => "its database server cannot be reached",
            StoreTrouble::Fenced => "it is no longer the active golive (it lost its lease)",
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
            StoreError::Connect { source, .. } | StoreError::Postgres(source) => {
                StoreTrouble::from_postgres(source)
            }
            StoreError::ConnectionLost(_) => StoreTrouble::Unreachable,
            StoreError::Fenced { .. } => StoreTrouble::Fenced,
            StoreError::Locked { .. }
            | StoreError::DatabaseLocked { .. }
            | StoreError::TooNew { .. }
            | StoreError::Corrupt { .. } => StoreTrouble::Other,
        }
    }
}

/// Where a [`Reader`] connects to: the same database as its store.
#[derive(Clone)]
enum Location {
    Sqlite(PathBuf),
    Postgres(crate::domain::Secret),
}

/// The writing side of the store, held by the engine alone. Holding it holds the data-directory
/// lock (and, on PostgreSQL, the database's writer lock).
pub struct Store {
    connection: Connection,
    path: PathBuf,
    location: Location,
    // Keeps the data directory's lock for as long as the store lives.
    _lock: DataDirLock,
    /// The lease epoch every writing transaction checks (PostgreSQL under a lease only).
    fence: Option<i64>,
}

/// A member's schema check and migration, in ONE transaction that first takes the writer lock
/// ([`WRITER_LOCK`]) until it ends, so it never interleaves with a golive from before high
/// availability (or golive's tools), which hold the same lock for their session: one that started
/// after the member's check ([`lease::LeaseConnection::may_compete`]) keeps the member from
/// upgrading the store under it ([`StoreError::DatabaseLocked`]; the member gives the lease up),
/// and one starting during the migration waits for the lock, then finds the schema newer than it
/// knows. Transaction-scoped, the lock is bounded like every row lock of the member: a member
/// frozen midway (SIGSTOP, a paused VM) loses it with its session after the server's idle
/// timeout (3 s, see `db::postgres`), instead of keeping the standbys from competing until TCP
/// keepalive notices (hours); and a session lost midway fails the rest of the migration (a
/// transaction never continues on a new session), which commits all of it or none. The member's
/// later writes are fenced by the lease instead; the standbys probe the lock to see such writers.
fn migrate_holding_writer_lock(
    connection: &mut Connection,
    path: &Path,
    url: &crate::domain::Secret,
) -> Result<(), StoreError> {
    let transaction = begin_holding_writer_lock(connection, url)?;
    schema::migrate_within(&transaction, path)?;
    transaction.commit()
}

/// Begins a transaction and takes the writer lock until it ends, trying for a while (a golive
/// killed a moment ago may still hold it while its session ends on the server);
/// [`StoreError::DatabaseLocked`] when another session keeps it.
fn begin_holding_writer_lock<'c>(
    connection: &'c mut Connection,
    url: &crate::domain::Secret,
) -> Result<Transaction<'c>, StoreError> {
    let transaction = connection.transaction()?;
    let try_lock = format!(
        "SELECT CASE WHEN pg_try_advisory_xact_lock({WRITER_LOCK}) THEN 1 ELSE 0 END::BIGINT"
    );
    for attempt in 0..db::postgres::WRITER_LOCK_ATTEMPTS {
        if transaction.query_row(&try_lock, params![])?.get(0)? {
            return Ok(transaction);
        }
        if attempt + 1 < db::postgres::WRITER_LOCK_ATTEMPTS {
            // Well under the idle timeout that would end the transaction's session.
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    Err(StoreError::DatabaseLocked {
        target: db::postgres::redact_url(url.expose()),
    })
}

/// The data directory's lock file, held: released by the OS on exit or crash.
pub struct DataDirLock(#[allow(dead_code)] File);

impl Store {
    /// Opens (creating if needed) the SQLite store in `data_dir`, takes the directory lock, and
    /// applies pending schema migrations.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        Store::open_with(data_dir, &Backend::Sqlite)
    }

    /// Opens the store on `backend`: takes the data directory's lock (created if needed; it keeps
    /// the daemon's other files), connects, takes the writer lock and applies pending migrations.
    pub fn open_with(data_dir: &Path, backend: &Backend) -> Result<Store, StoreError> {
        let lock = lock_data_dir(data_dir)?;
        let path = data_dir.join(DATABASE_FILE);
        let (mut connection, location) = match backend {
            Backend::Sqlite => (open_connection(&path)?, Location::Sqlite(path.clone())),
            Backend::Postgres(url) => {
                let connection = Connection::Postgres(db::postgres::PgConnection::connect(
                    url.expose(),
                    "golive-pg-writer",
                    Some(WRITER_LOCK),
                )?);
                (connection, Location::Postgres(url.clone()))
            }
        };
        schema::migrate(&mut connection, &path)?;
        Ok(Store {
            connection,
            path,
            location,
            _lock: lock,
            fence: None,
        })
    }

    /// Opens the PostgreSQL store at `url` as the active member holding the lease at `epoch`
    /// (taken with [`lease::LeaseConnection`]): no advisory lock, and every writing transaction
    /// checks the epoch still holds ([`StoreError::Fenced`] otherwise).
    pub fn open_leased(
        data_dir: &Path,
        lock: DataDirLock,
        url: &crate::domain::Secret,
        epoch: i64,
    ) -> Result<Store, StoreError> {
        let path = data_dir.join(DATABASE_FILE);
        let mut connection = Connection::Postgres(db::postgres::PgConnection::connect(
            url.expose(),
            "golive-pg-writer",
            None,
        )?);
        migrate_holding_writer_lock(&mut connection, &path, url)?;
        Ok(Store {
            connection,
            path,
            location: Location::Postgres(url.clone()),
            _lock: lock,
            fence: Some(epoch),
        })
    }

    /// The database file (SQLite; on PostgreSQL the file that would be, for messages only).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A new reading connection to the same database.
    pub fn reader(&self) -> Result<Reader, StoreError> {
        Ok(Reader {
            connection: match &self.location {
                Location::Sqlite(path) => open_connection(path)?,
                Location::Postgres(url) => Connection::Postgres(
                    db::postgres::PgConnection::connect(url.expose(), "golive-pg-reader", None)?,
                ),
            },
        })
    }

    /// Begins a writing transaction: the one way every change starts. Under a lease it first
    /// checks, inside the transaction and holding the lease row so a takeover waits for it to end,
    /// that its epoch still holds; otherwise nothing is written ([`StoreError::Fenced`]).
    fn begin(&mut self) -> Result<Transaction<'_>, StoreError> {
        let fence = self.fence;
        let transaction = self.connection.transaction()?;
        if let Some(epoch) = fence
            && transaction
                .query_optional(&lease::fence_sql(), params![epoch])?
                .is_none()
        {
            return Err(StoreError::Fenced { epoch });
        }
        Ok(transaction)
    }

    /// Loads the launch state, creating it (phase `planned` since `now`) on first start.
    pub fn load_or_init_state(&mut self, now: Timestamp) -> Result<LaunchState, StoreError> {
        let transaction = self.begin()?;
        transaction.execute(
            "INSERT INTO launch_state (id, phase, phase_since) VALUES (1, ?1, ?2) ON CONFLICT DO NOTHING",
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
        let transaction = self.begin()?;
        transaction.execute(
            "INSERT INTO checklist_confirmations (item_id, confirmed_by, confirmed_at, note) VALUES (?1, ?2, ?3, ?4)",
            params![item_id, &confirmation.by, millis(confirmation.at), &confirmation.note],
        )?;
        let stored = insert_entry(&transaction, entry)?;
        transaction.commit()?;
        Ok(stored)
    }

    /// Appends several entries in one transaction.
    pub fn append_many(&mut self, entries: &[NewEntry]) -> Result<Vec<LogEntry>, StoreError> {
        let transaction = self.begin()?;
        let stored = entries
            .iter()
            .map(|entry| insert_entry(&transaction, entry))
            .collect::<Result<Vec<_>, _>>()?;
        transaction.commit()?;
        Ok(stored)
    }

    /// Appends one entry to the log.
    pub fn append(&mut self, entry: &NewEntry) -> Result<LogEntry, StoreError> {
        let transaction = self.begin()?;
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
        let transaction = self.begin()?;
        let id = transaction.insert(
            "INSERT INTO action_items (title, owner, due, status, created_at, created_by, updated_at) VALUES (?1, ?2, ?3, 'open', ?4, ?5, ?4)",
            params![&action.title, &action.owner, action.due.map(|due| due.to_string()), millis(now), author],
        )?;
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
        let transaction = self.begin()?;
        transaction.execute(
            "UPDATE action_items SET title = ?2, owner = ?3, due = ?4, status = ?5, updated_at = ?6 WHERE id = ?1",
            params![
                item.id,
                &item.title,
                &item.owner,
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

/// Creates `data_dir` and takes its lock file, which keeps a second daemon off the directory.
pub fn lock_data_dir(data_dir: &Path) -> Result<DataDirLock, StoreError> {
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
        Ok(()) => Ok(DataDirLock(lock)),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Locked {
            path: data_dir.to_path_buf(),
            lock: lock_path,
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(StoreError::LockFile {
            path: lock_path,
            source,
        }),
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
    /// Opens a reader on `backend` without taking the daemon's lock (for `golive report preview`):
    /// SQLite's as [`Reader::open_data_dir`], PostgreSQL's through a connection of its own.
    pub fn open_backend(data_dir: &Path, backend: &Backend) -> Result<Reader, StoreError> {
        match backend {
            Backend::Sqlite => Reader::open_data_dir(data_dir),
            Backend::Postgres(url) => {
                let connection = Connection::Postgres(db::postgres::PgConnection::connect(
                    url.expose(),
                    "golive-pg-reader",
                    None,
                )?);
                schema::require_current(&connection, &backend.describe())?;
                Ok(Reader { connection })
            }
        }
    }

    /// Reads the launch state.
    pub fn state(&self) -> Result<LaunchState, StoreError> {
        read_state(&self.connection)
    }

    /// Reads log entries as the query says.
    pub fn log(&self, query: &LogQuery) -> Result<Vec<LogEntry>, StoreError> {
        let mut sql = String::from("SELECT id, at, author, kind, text, data FROM log WHERE 1 = 1");
        let mut values: Vec<db::Value> = Vec::new();
        let placeholder = |values: &mut Vec<db::Value>, value: db::Value| {
            values.push(value);
            format!("?{}", values.len())
        };
        if let Some(before) = query.before {
            let before = placeholder(&mut values, before.to_value());
            sql.push_str(&format!(" AND id < {before}"));
        }
        if let Some(after) = query.after {
            let after = placeholder(&mut values, after.to_value());
            sql.push_str(&format!(" AND id > {after}"));
        }
        if !query.kinds.is_empty() {
            let placeholders: Vec<String> = query
                .kinds
                .iter()
                .map(|kind| placeholder(&mut values, kind.as_str().to_value()))
                .collect();
            sql.push_str(&format!(" AND kind IN ({})", placeholders.join(", ")));
        }
        sql.push_str(if query.ascending {
            " ORDER BY id ASC"
        } else {
            " ORDER BY id DESC"
        });
        let limit = placeholder(
            &mut values,
            i64::try_from(query.limit).unwrap_or(i64::MAX).to_value(),
        );
        sql.push_str(&format!(" LIMIT {limit}"));
        self.connection
            .query(&sql, &values)?
            .iter()
            .map(entry_row)
            .collect()
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

    /// SQLite's `PRAGMA integrity_check`: `ok` when the database is sound. PostgreSQL checks its
    /// own pages (checksums, WAL); there it is `ok` when the database answers.
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        match self.connection.dialect() {
            db::Dialect::Sqlite => self
                .connection
                .query_row("PRAGMA integrity_check", params![])?
                .get(0),
            db::Dialect::Postgres => self.connection.query_row("SELECT 'ok'", params![])?.get(0),
        }
    }
}

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let open = |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    };
    let connection = rusqlite::Connection::open(path).map_err(open)?;
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
    // Each connection (the writer and its readers) caches pages up to SQLite's default of 2 MB,
    // which it reaches slowly as the history grows: up to 10 MB in a daemon that holds ~10 MB
    // otherwise at 1,000 checks. The pages it re-reads come from the OS's file cache.
    connection
        .pragma_update(None, "cache_size", SQLITE_CACHE_KIB)
        .map_err(open)?;
    Ok(Connection::Sqlite(connection))
}

/// The page cache of each SQLite connection, in KiB (SQLite's `cache_size` takes KiB as a negative
/// number).
const SQLITE_CACHE_KIB: i64 = -512;

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
    let row = connection.query_row(
        "SELECT phase, phase_since FROM launch_state WHERE id = 1",
        params![],
    )?;
    let (phase, since): (String, i64) = (row.get(0)?, row.get(1)?);
    let phase = phase.parse::<Phase>().map_err(|_| StoreError::Corrupt {
        what: "launch_state.phase",
        value: phase.clone(),
    })?;
    let rows = connection.query(
        "SELECT item_id, confirmed_by, confirmed_at, note FROM checklist_confirmations ORDER BY confirmed_at",
        params![],
    )?;
    let mut confirmations = std::collections::BTreeMap::new();
    for row in rows {
        confirmations.insert(
            row.get::<String>(0)?,
            Confirmation {
                by: row.get(1)?,
                at: timestamp(row.get(2)?)?,
                note: row.get(3)?,
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
    let id = connection.insert(
        "INSERT INTO log (at, author, kind, text, data) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            millis(entry.at),
            &entry.author,
            entry.kind.as_str(),
            &entry.text,
            data
        ],
    )?;
    Ok(LogEntry {
        id,
        at: entry.at,
        author: entry.author.clone(),
        kind: entry.kind,
        text: entry.text.clone(),
        data: entry.data.clone(),
    })
}

fn entry_row(row: &Row) -> Result<LogEntry, StoreError> {
    let kind: String = row.get(3)?;
    let data: Option<String> = row.get(5)?;
    let kind: LogKind = kind.parse().map_err(|_| StoreError::Corrupt {
        what: "log.kind",
        value: kind.clone(),
    })?;
    Ok(LogEntry {
        id: row.get(0)?,
        at: timestamp(row.get(1)?)?,
        author: row.get(2)?,
        kind,
        text: row.get(4)?,
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
}

const ACTION_COLUMNS: &str = "id, title, owner, due, status, created_at, created_by, updated_at";

fn action_row(row: &Row) -> Result<ActionItem, StoreError> {
    let due: Option<String> = row.get(3)?;
    let status: String = row.get(4)?;
    Ok(ActionItem {
        id: row.get(0)?,
        title: row.get(1)?,
        owner: row.get(2)?,
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
        created_at: timestamp(row.get(5)?)?,
        created_by: row.get(6)?,
        updated_at: timestamp(row.get(7)?)?,
    })
}

fn read_action(connection: &Connection, id: i64) -> Result<Option<ActionItem>, StoreError> {
    connection
        .query_optional(
            &format!("SELECT {ACTION_COLUMNS} FROM action_items WHERE id = ?1"),
            params![id],
        )?
        .as_ref()
        .map(action_row)
        .transpose()
}

fn read_actions(connection: &Connection) -> Result<Vec<ActionItem>, StoreError> {
    connection
        .query(
            &format!("SELECT {ACTION_COLUMNS} FROM action_items ORDER BY id"),
            params![],
        )?
        .iter()
        .map(action_row)
        .collect()
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod cache_tests {
    use super::*;

    #[test]
    fn every_sqlite_connection_bounds_its_page_cache() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let reader = store.reader().unwrap();
        for connection in [&store.connection, &reader.connection] {
            let kib: i64 = connection
                .query_row("PRAGMA cache_size", params![])
                .unwrap()
                .get(0)
                .unwrap();
            assert_eq!(kib, SQLITE_CACHE_KIB);
        }
    }
}
