//! A standby's reader (active/standby on PostgreSQL): a [`Reader`] on the database the active
//! writes whose session is read-only (`SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY`), so
//! not even a bug could write through it, and which takes the schema only as this golive knows it:
//! missing (no active has created it yet), older (the active has not migrated it yet) or newer (an
//! active of a newer golive did) is refused, and the standby answers 503 naming the active. And the
//! one read a standby needs that the active does not: each check's newest health change.

use super::db::{self, Connection, params};
use super::{Reader, StoreError, schema};
use crate::core::log::LogEntry;
use crate::domain::Secret;

impl Reader {
    /// A read-only reader on the PostgreSQL database at `url`, for a standby.
    pub fn open_standby(url: &Secret) -> Result<Reader, StoreError> {
        let target = db::postgres::redact_url(url.expose());
        let connection = Connection::Postgres(db::postgres::PgConnection::connect(
            url.expose(),
            "golive-pg-standby",
            None,
        )?);
        connection.batch("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")?;
        let found = schema::version(&connection)?;
        if found > schema::VERSION {
            return Err(StoreError::TooNew {
                path: target.into(),
                found,
                supported: schema::VERSION,
            });
        }
        schema::require_current(&connection, &target)?;
        Ok(Reader { connection })
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
