//! A standby's reader (active/standby on PostgreSQL): a [`Reader`] on the database the active
//! writes whose every session is read-only (`default_transaction_read_only`), so
//! not even a bug could write through it, and which takes the schema only as this golive knows it:
//! missing (no active has created it yet), older (the active has not migrated it yet) or newer (an
//! active of a newer golive did) is refused, and the standby answers 503 naming the active. And the
//! reads a standby needs that the active does not: each check's newest health change and newest
//! stored minute.

use super::db::{self, Connection, params};
use super::rollups::{COLUMNS, rollup_row};
use super::{Reader, StoreError, schema};
use crate::core::log::LogEntry;
use crate::core::rollup::Rollup;
use crate::domain::Secret;

impl Reader {
    /// A read-only reader on the PostgreSQL database at `url`, for a standby: every session
    /// read-only (`default_transaction_read_only`, set for each new session after a lost one
    /// too), the schema checked ([`Reader::check_standby_schema`]).
    pub fn open_standby(url: &Secret) -> Result<Reader, StoreError> {
        let connection = Connection::Postgres(db::postgres::PgConnection::connect(
            url.expose(),
            db::postgres::READ_ONLY_SESSION,
            None,
        )?);
        let reader = Reader { connection };
        reader.check_standby_schema(url)?;
        Ok(reader)
    }

    /// Refuses a schema missing, older or newer than this golive's. A standby runs it before each
    /// read: a lost session is opened again without a word, and an active of a newer golive may
    /// migrate the schema while this reader stays connected.
    pub fn check_standby_schema(&self, url: &Secret) -> Result<(), StoreError> {
        let target = db::postgres::redact_url(url.expose());
        let found = schema::version(&self.connection)?;
        if found > schema::VERSION {
            return Err(StoreError::TooNew {
                path: target.into(),
                found,
                supported: schema::VERSION,
            });
        }
        schema::require_current(&self.connection, &target)
    }
}

impl Reader {
    /// The newest `check` log entry of each check that has one (a health change; entries
    /// without a check, such as dropped-change notices, are left out), oldest first: a standby's
    /// view of each check's health, in one query however long the log is.
    pub fn newest_health_changes(&self) -> Result<Vec<LogEntry>, StoreError> {
        let check = match self.connection.dialect() {
            db::Dialect::Sqlite => "json_extract(data, '$.check')",
            db::Dialect::Postgres => "(data::json ->> 'check')",
        };
        self.connection
            .query(
                &format!(
                    "SELECT id, at, author, kind, text, data FROM log WHERE id IN \
                     (SELECT MAX(id) FROM log WHERE kind = 'check' AND {check} IS NOT NULL GROUP BY {check}) \
                     ORDER BY id"
                ),
                params![],
            )?
            .iter()
            .map(super::entry_row)
            .collect()
    }

    /// Each check's newest stored minute with a probe in it (check id, Unix minute, rollup), in
    /// one query: with the newest health change, a standby's view of each check's health (the
    /// engine logs no change from unknown to healthy, so a calm check has none).
    pub fn newest_minutes(&self) -> Result<Vec<(String, i64, Rollup)>, StoreError> {
        self.connection
            .query(
                &format!(
                    "SELECT {COLUMNS}, check_id FROM check_minutes WHERE (check_id, minute) IN \
                     (SELECT check_id, MAX(minute) FROM check_minutes WHERE probes > 0 GROUP BY check_id) \
                     ORDER BY check_id"
                ),
                params![],
            )?
            .iter()
            .map(|row| {
                let (minute, rollup) = rollup_row(row)?;
                Ok((row.get(12)?, minute, rollup))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::Store;
    use crate::core::health::Health;
    use crate::core::log::data::{CheckEvent, HealthChanged};
    use crate::core::log::{LogData, LogKind, NewEntry};

    fn change(second: i64, check: &str, to: Health) -> NewEntry {
        let at = jiff::Timestamp::from_second(1_800_000_000 + second).expect("a time");
        NewEntry {
            at,
            author: "golive".into(),
            kind: LogKind::Check,
            text: format!("{check} is {}", to.as_str()),
            data: LogData::Check(CheckEvent::HealthChanged(HealthChanged {
                check: check.into(),
                from: Health::Unknown,
                to,
                reason: Some(format!("{check} at {second}")),
                severity: None,
            })),
        }
    }

    #[test]
    fn each_checks_newest_health_change_is_read_and_dropped_change_notices_are_not() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut store = Store::open(dir.path()).expect("a store");
        let dropped = NewEntry {
            data: LogData::Check(CheckEvent::Dropped {
                dropped: 3,
                first: jiff::Timestamp::from_second(1_800_000_000).expect("a time"),
                last: jiff::Timestamp::from_second(1_800_000_010).expect("a time"),
            }),
            ..change(40, "-", Health::Unknown)
        };
        store
            .append_many(&[
                change(10, "web", Health::Healthy),
                change(20, "api", Health::Failing),
                change(30, "web", Health::Failing),
                dropped,
            ])
            .expect("written");
        let newest = store
            .reader()
            .expect("a reader")
            .newest_health_changes()
            .expect("read");
        let changes: Vec<(String, Health)> = newest
            .iter()
            .filter_map(|entry| match entry.data.check() {
                Some(CheckEvent::HealthChanged(change)) => Some((change.check.clone(), change.to)),
                _ => None,
            })
            .collect();
        assert_eq!(
            changes,
            vec![
                ("api".to_string(), Health::Failing),
                ("web".to_string(), Health::Failing)
            ]
        );
        assert_eq!(newest.len(), 2, "the dropped-change notice is left out");
    }
}

#[cfg(test)]
mod minute_tests {
    use super::super::Store;
    use super::super::rollups::MinuteRow;
    use crate::core::rollup::Rollup;

    #[test]
    fn each_checks_newest_minute_with_a_probe_is_read() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut store = Store::open(dir.path()).expect("a store");
        let probes = |probes, failures| Rollup {
            probes,
            failures,
            ..Rollup::default()
        };
        let (old, newer, empty) = (probes(60, 60), probes(60, 0), probes(0, 0));
        store
            .write_rollups(&[
                MinuteRow {
                    check: "web",
                    minute: 100,
                    rollup: &old,
                },
                MinuteRow {
                    check: "web",
                    minute: 101,
                    rollup: &newer,
                },
                MinuteRow {
                    check: "web",
                    minute: 102,
                    rollup: &empty,
                },
                MinuteRow {
                    check: "api",
                    minute: 90,
                    rollup: &old,
                },
            ])
            .expect("written");
        let newest: Vec<(String, i64, u32)> = store
            .reader()
            .expect("a reader")
            .newest_minutes()
            .expect("read")
            .into_iter()
            .map(|(check, minute, rollup)| (check, minute, rollup.failures))
            .collect();
        assert_eq!(
            newest,
            vec![("api".to_string(), 90, 60), ("web".to_string(), 101, 0)]
        );
    }
}

#[cfg(test)]
mod postgres_tests {
    use super::super::tests::cluster;
    use super::super::{Backend, Reader, Store};
    use super::db::params;
    use crate::domain::Secret;

    #[test]
    fn a_standby_reader_stays_read_only_after_its_session_is_ended_and_opened_again() {
        let url = Secret::new(cluster::database_url());
        let dir = tempfile::tempdir().expect("a temp dir");
        let backend = Backend::from_url(url.expose()).expect("a backend");
        let store = Store::open_with(dir.path(), &backend).expect("the schema created");
        let reader = Reader::open_standby(&url).expect("a standby reader");
        let pid: i64 = reader
            .connection
            .query_row("SELECT pg_backend_pid()::bigint", params![])
            .and_then(|row| row.get(0))
            .expect("its session");
        let ended: bool = store
            .reader()
            .expect("another session")
            .connection
            .query_row("SELECT pg_terminate_backend($1::int)", params![pid])
            .and_then(|row| row.get(0))
            .expect("ended");
        assert!(ended);
        // The read that finds the session gone fails; the next one opens a new session.
        let read_only: String = (0..50)
            .find_map(|_| {
                std::thread::sleep(std::time::Duration::from_millis(50));
                reader
                    .connection
                    .query_row("SHOW transaction_read_only", params![])
                    .and_then(|row| row.get(0))
                    .ok()
            })
            .expect("read again");
        assert_eq!(read_only, "on");
        let write = reader.connection.execute(
            "UPDATE golive_schema SET version = version WHERE id = 1",
            params![],
        );
        assert!(write.is_err(), "a write through the standby's reader fails");
        reader
            .check_standby_schema(&url)
            .expect("the schema is this golive's");
    }
}
