//! Active/standby on PostgreSQL: the lease one daemon holds to be the active, and the fencing
//! epoch that keeps an old active out once it has lost it.
//!
//! The lease is one row of `golive_lease` (a PostgreSQL-only table created at open, like
//! `golive_schema`; SQLite keeps its lock file and has no lease): who holds it, its epoch, until
//! when (milliseconds by the DATABASE's clock, so the members' clocks never matter) and the
//! holder's advertised URL. A member takes it only when it has expired (the epoch goes up by one),
//! renews it every second, and each writing transaction of the store checks, under a row lock a
//! takeover must wait for (`FOR KEY SHARE`, which the renewal's update of a non-key column does
//! not wait for, while the takeover's `SELECT ... FOR UPDATE` does), that its epoch still holds
//! ([`fence_sql`]): a paused or
//! cut-off active can never commit after another member took over. A member is named by
//! [`member_id`] (host, data directory and a random id kept in the data directory): the same
//! member may take its own lease back at once after a restart (holding the data directory's lock
//! proves its earlier process is gone), a member that merely has the same host name and path may
//! not.

use std::path::Path;
use std::time::Duration;

use super::StoreError;
use super::db::{Connection, params};
use crate::domain::Secret;

/// The database's clock in milliseconds since the epoch, at the moment the statement runs.
const DB_NOW_MS: &str = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT";

const CREATE_SQL: &str = "CREATE TABLE IF NOT EXISTS golive_lease (\
     id BIGINT PRIMARY KEY CHECK (id = 1), holder TEXT NOT NULL, epoch BIGINT NOT NULL, \
     expires_at BIGINT NOT NULL, url TEXT NOT NULL, since BIGINT NOT NULL); \
     INSERT INTO golive_lease (id, holder, epoch, expires_at, url, since) \
     VALUES (1, '', 0, 0, '', 0) ON CONFLICT DO NOTHING";

/// Inside a writing transaction: the row while `?1` is still the epoch and the lease has not
/// expired, locked `FOR KEY SHARE`: a takeover (`SELECT ... FOR UPDATE`) waits until the
/// transaction ends, while a renewal (an `UPDATE` of `expires_at`, no key column) does not.
pub(crate) fn fence_sql() -> String {
    format!(
        "SELECT epoch FROM golive_lease WHERE id = 1 AND epoch = ?1 AND expires_at > {DB_NOW_MS} FOR KEY SHARE"
    )
}

/// Who holds the lease now, as a standby tells clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseHolder {
    /// The member's id (`host:data-dir#random`, [`member_id`]); empty when nobody ever held it.
    pub member: String,
    pub epoch: i64,
    /// The holder's advertised URL.
    pub url: String,
    /// Whether the lease has run out (the holder is gone or stuck; a standby takes it next).
    pub expired: bool,
}

/// A member's own connection for taking and renewing the lease (never the engine's writer
/// connection, which may be busy or waiting).
pub struct LeaseConnection {
    /// Behind a mutex so the connection can be shared with the renewing thread (one call at a
    /// time, as the connection serves them anyway). The mutex also holds whether this member has
    /// given the lease up ([`LeaseConnection::release`]): a renewal reads it under the same lock
    /// its statement runs under, so none can run after the release and take the lease back.
    connection: std::sync::Mutex<Held>,
    member: String,
    url: String,
    lease: Duration,
}

/// The lease's connection, and whether the lease was given up through it.
struct Held {
    connection: Connection,
    released: bool,
}

impl std::ops::Deref for Held {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        &self.connection
    }
}

/// Where a member stands for the lease ([`LeaseConnection::standing`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Another member holds it and it has not run out.
    HeldByAnother,
    /// It is free (or this member's own), but another session holds the writer lock.
    WriterLocked,
    /// This member may try to take it.
    MayTake,
}

/// What a renewal found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// The lease runs for another length from now.
    Renewed,
    /// Another member holds it now (or it ran out and its row changed): step down.
    Taken,
    /// This member gave it up (a clean stop): nothing was sent, the renewal ends.
    GivenUp,
}

impl LeaseConnection {
    /// Connects to the database at `url` as `member`, advertising `advertised_url`, with leases of
    /// `lease`; creates the lease table when it is missing.
    pub fn connect(
        url: &Secret,
        member: &str,
        advertised_url: &str,
        lease: Duration,
    ) -> Result<LeaseConnection, StoreError> {
        let connection = Connection::Postgres(super::db::postgres::PgConnection::connect(
            url.expose(),
            "golive-pg-lease",
            None,
        )?);
        // Two members starting together may race on creating the table: the loser's error goes,
        // the table is there on the second try.
        if connection.batch(CREATE_SQL).is_err() {
            connection.batch(CREATE_SQL)?;
        }
        Ok(LeaseConnection {
            connection: std::sync::Mutex::new(Held {
                connection,
                released: false,
            }),
            member: member.to_string(),
            url: advertised_url.to_string(),
            lease,
        })
    }

    fn connection(&self) -> std::sync::MutexGuard<'_, Held> {
        self.connection
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lease_ms(&self) -> i64 {
        i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX)
    }

    /// Takes the lease if it has expired (or is this member's own): the new epoch, else `None`.
    /// The row is first locked `FOR UPDATE`, which waits for every writing transaction in flight
    /// (their fences hold it `FOR KEY SHARE`), then updated, in one transaction.
    pub fn try_acquire(&self) -> Result<Option<i64>, StoreError> {
        let mut held = self.connection();
        let transaction = held.connection.transaction()?;
        let free = transaction.query_optional(
            &format!(
                "SELECT epoch FROM golive_lease WHERE id = 1 AND (expires_at <= {DB_NOW_MS} OR holder = ?1) FOR UPDATE"
            ),
            params![&self.member],
        )?;
        if free.is_none() {
            return Ok(None); // the transaction rolls back when dropped
        }
        let epoch = transaction
            .query_row(
                &format!(
                    "UPDATE golive_lease SET holder = ?1, url = ?2, epoch = epoch + 1, since = {DB_NOW_MS}, \
                     expires_at = {DB_NOW_MS} + ?3 WHERE id = 1 RETURNING epoch"
                ),
                params![&self.member, &self.url, self.lease_ms()],
            )?
            .get(0)?;
        transaction.commit()?;
        Ok(Some(epoch))
    }

    /// Whether this member may compete for the lease now. [`StoreError::TooNew`] when the
    /// database's schema is newer than this golive's: it must not take the lease only to fail
    /// opening the store (and hold back the member that can). `Ok(false)` while another session
    /// holds the writer lock ([`super::WRITER_LOCK`]): a golive from before high availability
    /// (started before the store was marked, schema 10), or golive's tools, writing without the
    /// lease's fence (or a member checking and migrating the schema). The lock is tried shared,
    /// for one statement only (`pg_try_advisory_xact_lock_shared` outside a transaction: released
    /// as the statement ends, so a standby frozen or cut off never keeps it): the writers take it
    /// exclusively, so the probe fails only while one of them holds it, never because another
    /// standby is probing at the same instant.
    pub fn may_compete(&self, path: &Path) -> Result<bool, StoreError> {
        let connection = self.connection();
        super::schema::refuse_too_new(&connection, path)?;
        let writer_lock = super::WRITER_LOCK;
        connection
            .query_row(
                &format!(
                    "SELECT CASE WHEN pg_try_advisory_xact_lock_shared({writer_lock}) THEN 1 ELSE 0 END::BIGINT"
                ),
                params![],
            )?
            .get(0)
    }

    /// Where this member stands for the lease `holder` shows ([`LeaseConnection::holder`]). The
    /// schema is checked every time ([`StoreError::TooNew`]: a member older than the database
    /// exits within a renewal of an upgrade, even as a standby). While another member's lease
    /// runs, nothing more: the writer lock is not probed, as the active takes it for a moment
    /// whenever it opens the store (and there is nothing to take anyway). Otherwise (the lease
    /// ran out, or is this member's own) as [`LeaseConnection::may_compete`].
    pub fn standing(&self, path: &Path, holder: &LeaseHolder) -> Result<Standing, StoreError> {
        if !holder.expired && holder.member != self.member {
            super::schema::refuse_too_new(&self.connection(), path)?;
            return Ok(Standing::HeldByAnother);
        }
        Ok(if self.may_compete(path)? {
            Standing::MayTake
        } else {
            Standing::WriterLocked
        })
    }

    /// Renews the lease held at `epoch`: [`Renewal::Taken`] when another member has taken it
    /// since, [`Renewal::GivenUp`] (no statement sent) once [`LeaseConnection::release`] ran.
    pub fn renew(&self, epoch: i64) -> Result<Renewal, StoreError> {
        let sql = format!(
            "UPDATE golive_lease SET expires_at = {DB_NOW_MS} + ?3 WHERE id = 1 AND epoch = ?1 AND holder = ?2"
        );
        let held = self.connection();
        if held.released {
            return Ok(Renewal::GivenUp);
        }
        let changed = held.execute(&sql, params![epoch, &self.member, self.lease_ms()])?;
        Ok(if changed == 1 {
            Renewal::Renewed
        } else {
            Renewal::Taken
        })
    }

    /// Gives the lease held at `epoch` up (a clean stop), so a standby takes over at once. No
    /// renewal runs after it (they check, under the connection's lock, that it has not run), even
    /// when the statement fails: the lease then runs out by itself.
    pub fn release(&self, epoch: i64) -> Result<(), StoreError> {
        let mut held = self.connection();
        held.released = true;
        held.execute(
            "UPDATE golive_lease SET expires_at = 0 WHERE id = 1 AND epoch = ?1 AND holder = ?2",
            params![epoch, &self.member],
        )?;
        Ok(())
    }

    /// Who holds the lease now.
    pub fn holder(&self) -> Result<LeaseHolder, StoreError> {
        let row = self.connection().query_row(
            &format!(
                "SELECT holder, epoch, url, CASE WHEN expires_at <= {DB_NOW_MS} THEN 1 ELSE 0 END FROM golive_lease WHERE id = 1"
            ),
            params![],
        )?;
        Ok(LeaseHolder {
            member: row.get(0)?,
            epoch: row.get(1)?,
            url: row.get(2)?,
            expired: row.get(3)?,
        })
    }
}

/// The class (first key) of the transaction-scoped advisory locks a takeover record takes, its
/// epoch being the second key ("goli" in ASCII; the two-key space never meets [`super::WRITER_LOCK`]'s).
const TAKEOVER_LOCK_CLASS: i32 = 0x676f_6c69;

impl super::alerts::Write<'_> {
    /// Whether the takeover record of lease `epoch` (a `decision` entry by golive whose text
    /// holds `marker`) is in the log already: each attempt looks in the same transaction it writes
    /// in, so a retry after a commit whose answer was lost (the server committed it) writes
    /// nothing twice. On PostgreSQL it first takes a lock keyed by the epoch for the rest of the
    /// transaction: a retry on a new session whose earlier attempt's COMMIT is still in flight on
    /// the old one waits for it to end, then sees its record (READ COMMITTED: each statement sees
    /// what was committed before it began). SQLite has one writer connection and one transaction
    /// at a time: no attempt is ever in flight beside another. `marker` holds no `%` or `_`.
    pub fn has_takeover_record(&self, epoch: i64, marker: &str) -> Result<bool, StoreError> {
        if self.transaction().dialect() == super::db::Dialect::Postgres {
            let key = epoch.rem_euclid(1 << 31);
            self.transaction().batch(&format!(
                "SELECT pg_advisory_xact_lock({TAKEOVER_LOCK_CLASS}, {key})"
            ))?;
        }
        let found = self.transaction().query_optional(
            "SELECT id FROM log WHERE kind = 'decision' AND author = 'golive' AND text LIKE ?1 LIMIT 1",
            params![format!("%{marker}%")],
        )?;
        Ok(found.is_some())
    }
}

/// The file in the data directory that holds this member's random id.
pub const MEMBER_ID_FILE: &str = "member-id";

/// This member's id, the lease's holder: the host and the data directory for people to read,
/// then `#` and a random id created once in the data directory (`member-id`, created exclusively),
/// so two members never share an id even when containers or cloned machines give them the same
/// host name and path. The same data directory keeps its id across restarts: holding its lock
/// proves the earlier process is gone, so a restarted member may take its own lease back at once.
pub fn member_id(data_dir: &Path) -> std::io::Result<String> {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|host| host.trim().to_string())
        .filter(|host| !host.is_empty())
        .unwrap_or_else(|| "localhost".to_string());
    let dir = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    Ok(format!("{host}:{}#{}", dir.display(), random_id(data_dir)?))
}

/// The data directory's random id, created on first use.
fn random_id(data_dir: &Path) -> std::io::Result<String> {
    use std::io::Write;

    let path = data_dir.join(MEMBER_ID_FILE);
    let read = |path: &Path| -> std::io::Result<String> {
        let id = std::fs::read_to_string(path)?.trim().to_string();
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(std::io::Error::other(format!(
                "{} holds no member id; remove it and golive makes a new one",
                path.display()
            )));
        }
        Ok(id)
    };
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
    {
        Ok(mut file) => {
            let id = crate::random::hex::<8>();
            file.write_all(format!("{id}\n").as_bytes())?;
            file.sync_all()?;
            Ok(id)
        }
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => read(&path),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_data_dirs_with_the_same_path_on_hosts_of_one_name_get_different_member_ids() {
        let (first, second) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let first_id = member_id(first.path()).unwrap();
        assert!(
            first_id.contains(&format!(
                "{}#",
                first.path().canonicalize().unwrap().display()
            )),
            "{first_id}"
        );
        // The same host and path on a cloned machine or container: only the random part differs.
        let id_part = |id: &str| id.rsplit_once('#').map(|(_, id)| id.to_string()).unwrap();
        assert_ne!(
            id_part(&first_id),
            id_part(&member_id(second.path()).unwrap())
        );
        assert_eq!(
            member_id(first.path()).unwrap(),
            first_id,
            "a restart keeps the id"
        );
    }
}
