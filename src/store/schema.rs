//! Versioned schema migrations, applied in order at start. A migration is never edited once
//! released, only followed by a new one. They are written for SQLite; PostgreSQL runs the same
//! list translated by `db::dialect::postgres_ddl` (the same tables and columns in its types), so
//! one version number describes both. The version lives in SQLite's `user_version`, and in
//! PostgreSQL in the one-row table `golive_schema`.

use std::path::Path;

use super::StoreError;
use super::db::{Connection, Dialect, dialect, params};

/// Each migration moves the schema from version `index` to `index + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: launch state, checklist confirmations, the launch log and action items.
    "
    CREATE TABLE launch_state (
        id          INTEGER PRIMARY KEY CHECK (id = 1),
        phase       TEXT    NOT NULL,
        phase_since INTEGER NOT NULL
    );
    CREATE TABLE checklist_confirmations (
        item_id      TEXT    PRIMARY KEY,
        confirmed_by TEXT    NOT NULL,
        confirmed_at INTEGER NOT NULL,
        note         TEXT
    );
    CREATE TABLE log (
        id     INTEGER PRIMARY KEY AUTOINCREMENT,
        at     INTEGER NOT NULL,
        author TEXT    NOT NULL,
        kind   TEXT    NOT NULL,
        text   TEXT    NOT NULL,
        data   TEXT
    );
    CREATE INDEX log_kind ON log (kind, id);
    CREATE TABLE action_items (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        title      TEXT    NOT NULL,
        owner      TEXT    NOT NULL,
        due        TEXT,
        status     TEXT    NOT NULL,
        created_at INTEGER NOT NULL,
        created_by TEXT    NOT NULL,
        updated_at INTEGER NOT NULL
    );
    ",
    // 2: per-check, per-minute probe history (see core::rollup).
    "
    CREATE TABLE check_minutes (
        check_id       TEXT    NOT NULL,
        minute         INTEGER NOT NULL,
        probes         INTEGER NOT NULL,
        failures       INTEGER NOT NULL,
        unknowns       INTEGER NOT NULL,
        latency_sum_us INTEGER NOT NULL,
        latency_max_us INTEGER NOT NULL,
        latency_hist   BLOB    NOT NULL,
        value_count    INTEGER NOT NULL,
        value_min      REAL,
        value_max      REAL,
        value_last     REAL,
        value_sum      REAL,
        PRIMARY KEY (check_id, minute)
    ) WITHOUT ROWID;
    ",
    // 3: alerts, the notification outbox, run-time silences and used acknowledgement links.
    "
    CREATE TABLE alerts (
        id               INTEGER PRIMARY KEY AUTOINCREMENT,
        key              TEXT    NOT NULL,
        title            TEXT    NOT NULL,
        severity         TEXT    NOT NULL,
        policy           TEXT,
        opened_at        INTEGER NOT NULL,
        reason           TEXT    NOT NULL,
        level            INTEGER NOT NULL,
        escalation_base  INTEGER NOT NULL,
        last_notified_at INTEGER,
        acked_by         TEXT,
        acked_at         INTEGER,
        ack_expires_at   INTEGER,
        resolved_at      INTEGER,
        notified         TEXT    NOT NULL,
        max_level        INTEGER NOT NULL
    );
    CREATE INDEX alerts_open ON alerts (resolved_at, id);
    CREATE TABLE outbox (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        created_at      INTEGER NOT NULL,
        not_before      INTEGER NOT NULL,
        next_attempt_at INTEGER NOT NULL,
        channel         TEXT    NOT NULL,
        kind            TEXT    NOT NULL,
        alert_id        INTEGER,
        group_key       TEXT,
        payload         TEXT    NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        status          TEXT    NOT NULL,
        last_error      TEXT,
        answer          TEXT,
        finished_at     INTEGER
    );
    CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
    CREATE TABLE silences (
        id          TEXT    PRIMARY KEY,
        checks      TEXT    NOT NULL,
        severities  TEXT    NOT NULL,
        starts_at   INTEGER NOT NULL,
        ends_at     INTEGER NOT NULL,
        author      TEXT    NOT NULL,
        comment     TEXT    NOT NULL,
        created_at  INTEGER NOT NULL,
        removed_at  INTEGER
    );
    CREATE TABLE used_ack_links (
        nonce   TEXT    PRIMARY KEY,
        used_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    ",
    // 4: action-item reminders sent, one per item and local day (no duplicates across restarts).
    "
    CREATE TABLE action_reminders (
        action_id INTEGER NOT NULL,
        day       TEXT    NOT NULL,
        sent_at   INTEGER NOT NULL,
        PRIMARY KEY (action_id, day)
    ) WITHOUT ROWID;
    ",
    // 5: the deployment runbook: each step's state with who started and finished it and why, and
    // the lateness warnings sent (once per step, kind and level, across restarts).
    "
    CREATE TABLE runbook_steps (
        step_id     TEXT    PRIMARY KEY,
        state       TEXT    NOT NULL,
        started_at  INTEGER,
        started_by  TEXT,
        finished_at INTEGER,
        finished_by TEXT,
        reason      TEXT,
        forced      INTEGER NOT NULL DEFAULT 0,
        updated_at  INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE runbook_warnings (
        step_id TEXT    NOT NULL,
        kind    TEXT    NOT NULL,
        level   INTEGER NOT NULL,
        sent_at INTEGER NOT NULL,
        PRIMARY KEY (step_id, kind, level)
    ) WITHOUT ROWID;
    ",
    // 6: reports sent (daily and final). A scheduled report is unique per kind and day, so a
    // restart never sends one twice; manual sends (`golive report send`) are recorded beside them.
    // Per-check hourly history (merged from the minutes once an hour is over) lets a report read a
    // day of a thousand checks as 24 rows each instead of 1,440.
    "
    CREATE TABLE reports_sent (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        kind       TEXT    NOT NULL,
        day        TEXT    NOT NULL,
        trigger    TEXT    NOT NULL,
        recipients TEXT    NOT NULL,
        message_id TEXT    NOT NULL,
        sent_at    INTEGER NOT NULL,
        late       INTEGER NOT NULL,
        outbox_id  INTEGER
    );
    CREATE UNIQUE INDEX reports_scheduled ON reports_sent (kind, day) WHERE trigger = 'schedule';
    CREATE TABLE check_hours (
        check_id       TEXT    NOT NULL,
        hour           INTEGER NOT NULL,
        probes         INTEGER NOT NULL,
        failures       INTEGER NOT NULL,
        unknowns       INTEGER NOT NULL,
        latency_sum_us INTEGER NOT NULL,
        latency_max_us INTEGER NOT NULL,
        latency_hist   BLOB    NOT NULL,
        value_count    INTEGER NOT NULL,
        value_min      REAL,
        value_max      REAL,
        value_last     REAL,
        value_sum      REAL,
        PRIMARY KEY (check_id, hour)
    ) WITHOUT ROWID;
    CREATE TABLE hours_rolled_up (
        id    INTEGER PRIMARY KEY CHECK (id = 1),
        until INTEGER NOT NULL
    );
    ",
    // 7: this store's identity: a random id made once, when the store is created, so the
    // Message-IDs of one launch never repeat those of another (a rehearsal and the real launch
    // from the same domain), while an alert's thread stays the same across restarts.
    "
    CREATE TABLE store_identity (
        id  INTEGER PRIMARY KEY CHECK (id = 1),
        uid TEXT    NOT NULL
    );
    INSERT INTO store_identity (id, uid) VALUES (1, lower(hex(randomblob(8))));
    ",
    // 8: an alert's labels (from Alertmanager; `{}` for golive's own), as a JSON object, so its
    // messages can name the risks whose `alertmanager` matchers they match, also after a restart.
    "
    ALTER TABLE alerts ADD COLUMN labels TEXT NOT NULL DEFAULT '{}';
    ",
    // 9: the review meeting's messages sent (`invitation`, `reminder`), each once per launch, so
    // a restart never sends one twice (see `store::review`).
    "
    CREATE TABLE review_messages (
        kind      TEXT    PRIMARY KEY,
        sent_at   INTEGER NOT NULL,
        outbox_id INTEGER
    ) WITHOUT ROWID;
    ",
    // 10: active/standby on PostgreSQL (the lease and its fence). Nothing changes in the tables
    // (the lease's own table is made by `lease.rs`); the version goes up so a golive from before
    // high availability, which would write without the lease's fence beside the members, refuses
    // the database as newer than it understands instead of running.
    "
    -- active/standby: golives without the lease's fence are kept out
    ",
];

/// The schema version this build writes.
pub const VERSION: i64 = MIGRATIONS.len() as i64;

/// Applies every migration the database has not seen yet, each in its own transaction.
pub fn migrate(connection: &mut Connection, path: &Path) -> Result<(), StoreError> {
    migrate_until(connection, path, VERSION)
}

/// Applies the migrations the database has not seen yet up to version `until` (tests build an
/// older golive's store with it), each in its own transaction.
pub(super) fn migrate_until(
    connection: &mut Connection,
    path: &Path,
    until: i64,
) -> Result<(), StoreError> {
    let found = refuse_too_new(connection, path)?;
    for (index, sql) in pending(found, until) {
        let transaction = connection.transaction()?;
        apply(&transaction, index, sql)?;
        transaction.commit()?;
    }
    Ok(())
}

/// Checks the schema and applies every migration the database has not seen yet inside the
/// transaction `transaction` is (the caller's, which commits them all or none).
pub(super) fn migrate_within(transaction: &Connection, path: &Path) -> Result<(), StoreError> {
    let found = refuse_too_new(transaction, path)?;
    for (index, sql) in pending(found, VERSION) {
        apply(transaction, index, sql)?;
    }
    Ok(())
}

/// The migrations after version `found` up to version `until`, with their index.
fn pending(found: i64, until: i64) -> impl Iterator<Item = (usize, &'static &'static str)> {
    let until = usize::try_from(until).unwrap_or(0);
    let found = usize::try_from(found).unwrap_or(0);
    MIGRATIONS.iter().enumerate().take(until).skip(found)
}

/// Migration `index` and the version it reaches, run on `transaction` (inside a transaction).
fn apply(transaction: &Connection, index: usize, sql: &str) -> Result<(), StoreError> {
    let next = index as i64 + 1;
    match transaction.dialect() {
        Dialect::Sqlite => {
            transaction.batch(sql)?;
            transaction.batch(&format!("PRAGMA user_version = {next}"))?;
        }
        Dialect::Postgres => {
            transaction.batch(&dialect::postgres_ddl(sql))?;
            transaction.execute(
                "UPDATE golive_schema SET version = ?1 WHERE id = 1",
                params![next],
            )?;
        }
    }
    Ok(())
}

/// The schema version the database has ([`StoreError::TooNew`] when newer than this golive's),
/// creating PostgreSQL's version table (at 0) when it is missing.
pub(super) fn refuse_too_new(connection: &Connection, path: &Path) -> Result<i64, StoreError> {
    if connection.dialect() == Dialect::Postgres {
        connection.batch(
            "CREATE TABLE IF NOT EXISTS golive_schema (\
                 id BIGINT PRIMARY KEY CHECK (id = 1), version BIGINT NOT NULL); \
             INSERT INTO golive_schema (id, version) VALUES (1, 0) ON CONFLICT DO NOTHING",
        )?;
    }
    let found = version(connection)?;
    if found > VERSION {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found,
            supported: VERSION,
        });
    }
    Ok(found)
}

/// The schema version the database has.
pub(super) fn version(connection: &Connection) -> Result<i64, StoreError> {
    let sql = match connection.dialect() {
        Dialect::Sqlite => "PRAGMA user_version",
        Dialect::Postgres => "SELECT version FROM golive_schema WHERE id = 1",
    };
    connection.query_row(sql, params![])?.get(0)
}

/// Refuses a database older than this golive (a reader does not migrate): `golive run` upgrades it.
pub(super) fn require_current(connection: &Connection, name: &str) -> Result<(), StoreError> {
    let found = version(connection)?;
    if found < VERSION {
        return Err(StoreError::Corrupt {
            what: "schema version",
            value: format!(
                "{found} in {name} is older than this golive's {VERSION}; start the daemon once (`golive run`) so it upgrades the store"
            ),
        });
    }
    Ok(())
}
