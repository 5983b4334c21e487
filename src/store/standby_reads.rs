//! A standby's reader (active/standby on PostgreSQL): a [`Reader`] on the database the active
//! writes whose session is read-only (`SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY`), so
//! not even a bug could write through it, and which takes the schema only as this golive knows it:
//! missing (no active has created it yet), older (the active has not migrated it yet) or newer (an
//! active of a newer golive did) is refused, and the standby answers 503 naming the active.

use super::db::{self, Connection};
use super::{Reader, StoreError, schema};
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
