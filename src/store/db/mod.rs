//! The store's one way to the database, whichever it is: SQLite in the data directory (the
//! default) or PostgreSQL. The rest of `store/` writes SQL in one dialect (SQLite's, with `?N`
//! placeholders, `ON CONFLICT` upserts and `RETURNING id`, which both understand), binds
//! [`Value`]s and reads [`Row`]s; what differs between the two — placeholders, the DDL's types,
//! the schema version's home, transactions, error codes — is decided here and in `dialect.rs`.
//!
//! Rows are read whole into memory: the store's queries are bounded (pages of the log, a day of
//! one check's minutes), and owned rows let the PostgreSQL connection live on its own thread
//! (`postgres.rs`), where its blocking client cannot meet the daemon's tokio runtime.

pub(crate) mod dialect;
pub(crate) mod postgres;
pub(crate) mod sqlite;

use super::StoreError;

/// One value bound to a statement or read from a row. Integers are 64-bit on both backends
/// (PostgreSQL `BIGINT`); booleans are stored as integers 0 and 1 on both.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Value {
    fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Integer(_) => "integer",
            Value::Real(_) => "real",
            Value::Text(_) => "text",
            Value::Blob(_) => "blob",
        }
    }
}

/// A Rust value bound to a placeholder. Taken by reference, so `params![alert.key]` borrows.
pub(crate) trait ToValue {
    fn to_value(&self) -> Value;
}

macro_rules! integer_to_value {
    ($($integer:ty),*) => {$(
        impl ToValue for $integer {
            fn to_value(&self) -> Value {
                Value::Integer(i64::from(*self))
            }
        }
    )*};
}
integer_to_value!(i64, i32, u32, u8, bool);

impl ToValue for f64 {
    fn to_value(&self) -> Value {
        Value::Real(*self)
    }
}

impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_string())
    }
}

impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}

impl ToValue for Vec<u8> {
    fn to_value(&self) -> Value {
        Value::Blob(self.clone())
    }
}

impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}

impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToValue::to_value)
    }
}

/// The values of a statement's `?1`, `?2`, ... in order.
macro_rules! params {
    ($($value:expr),* $(,)?) => {
        &[$($crate::store::db::ToValue::to_value(&$value)),*] as &[$crate::store::db::Value]
    };
}
pub(crate) use params;

/// One row of a result, its columns in the order the query named them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row(pub(crate) Vec<Value>);

impl Row {
    /// Column `index` as a `T`; a value of another type is a damaged row, not a panic.
    pub(crate) fn get<T: FromValue>(&self, index: usize) -> Result<T, StoreError> {
        let value = self.0.get(index).unwrap_or(&Value::Null);
        T::from_value(value).ok_or_else(|| StoreError::Corrupt {
            what: "column",
            value: format!(
                "column {index} holds {} where {} was expected",
                value.type_name(),
                std::any::type_name::<T>()
            ),
        })
    }
}

/// A Rust type a column can be read as.
pub(crate) trait FromValue: Sized {
    fn from_value(value: &Value) -> Option<Self>;
}

impl FromValue for i64 {
    fn from_value(value: &Value) -> Option<i64> {
        match value {
            Value::Integer(integer) => Some(*integer),
            _ => None,
        }
    }
}

macro_rules! from_value_narrow {
    ($($integer:ty),*) => {$(
        impl FromValue for $integer {
            fn from_value(value: &Value) -> Option<$integer> {
                i64::from_value(value).and_then(|integer| <$integer>::try_from(integer).ok())
            }
        }
    )*};
}
from_value_narrow!(u32, u8);

impl FromValue for bool {
    fn from_value(value: &Value) -> Option<bool> {
        i64::from_value(value).map(|integer| integer != 0)
    }
}

impl FromValue for f64 {
    fn from_value(value: &Value) -> Option<f64> {
        match value {
            Value::Real(real) => Some(*real),
            Value::Integer(integer) => Some(*integer as f64),
            _ => None,
        }
    }
}

impl FromValue for String {
    fn from_value(value: &Value) -> Option<String> {
        match value {
            Value::Text(text) => Some(text.clone()),
            _ => None,
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(value: &Value) -> Option<Vec<u8>> {
        match value {
            Value::Blob(bytes) => Some(bytes.clone()),
            _ => None,
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: &Value) -> Option<Option<T>> {
        match value {
            Value::Null => Some(None),
            other => T::from_value(other).map(Some),
        }
    }
}

/// Which database a connection talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// A connection to the store's database.
pub(crate) enum Connection {
    Sqlite(rusqlite::Connection),
    Postgres(postgres::PgConnection),
}

impl Connection {
    pub(crate) fn dialect(&self) -> Dialect {
        match self {
            Connection::Sqlite(_) => Dialect::Sqlite,
            Connection::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Runs a statement; returns how many rows it changed.
    pub(crate) fn execute(&self, sql: &str, params: &[Value]) -> Result<usize, StoreError> {
        match self {
            Connection::Sqlite(connection) => sqlite::execute(connection, sql, params),
            Connection::Postgres(connection) => {
                connection.execute(&dialect::postgres_placeholders(sql), params)
            }
        }
    }

    /// Runs a query; returns its rows.
    pub(crate) fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        match self {
            Connection::Sqlite(connection) => sqlite::query(connection, sql, params),
            Connection::Postgres(connection) => {
                connection.query(&dialect::postgres_placeholders(sql), params)
            }
        }
    }

    /// A query's first row, if any.
    pub(crate) fn query_optional(
        &self,
        sql: &str,
        params: &[Value],
    ) -> Result<Option<Row>, StoreError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// A query's first row; no row is an error (the query always has one).
    pub(crate) fn query_row(&self, sql: &str, params: &[Value]) -> Result<Row, StoreError> {
        self.query_optional(sql, params)?
            .ok_or_else(|| StoreError::Corrupt {
                what: "query",
                value: format!("no row from `{sql}`"),
            })
    }

    /// Runs an `INSERT` into a table with an `id` column and returns the id the row got
    /// (`RETURNING id`, which SQLite and PostgreSQL both understand).
    pub(crate) fn insert(&self, sql: &str, params: &[Value]) -> Result<i64, StoreError> {
        self.query_row(&format!("{sql} RETURNING id"), params)?
            .get(0)
    }

    /// Runs several statements without parameters (migrations).
    pub(crate) fn batch(&self, sql: &str) -> Result<(), StoreError> {
        match self {
            Connection::Sqlite(connection) => Ok(connection.execute_batch(sql)?),
            Connection::Postgres(connection) => connection.batch(sql),
        }
    }

    /// Begins a transaction, rolled back unless committed. On PostgreSQL at READ COMMITTED: one
    /// writer (the engine, which holds the store's writer lock) changes the database, so no two
    /// writing transactions ever race, and each reader's statement sees committed data only, as
    /// with SQLite's WAL.
    /// On PostgreSQL the transaction is bound to the session it began on (see
    /// [`postgres::PgConnection`]): a session lost midway fails the rest of it, never runs it on
    /// the next session.
    pub(crate) fn transaction(&mut self) -> Result<Transaction<'_>, StoreError> {
        match self {
            Connection::Sqlite(connection) => connection.execute_batch("BEGIN")?,
            Connection::Postgres(connection) => {
                connection.begin("BEGIN ISOLATION LEVEL READ COMMITTED")?
            }
        }
        Ok(Transaction {
            connection: self,
            finished: false,
        })
    }
}

/// An open transaction: dereferences to its connection for statements; rolled back when dropped
/// without [`Transaction::commit`].
pub(crate) struct Transaction<'a> {
    connection: &'a Connection,
    finished: bool,
}

impl Transaction<'_> {
    /// Commits everything written in the transaction.
    pub(crate) fn commit(mut self) -> Result<(), StoreError> {
        self.finished = true;
        match self.end(true) {
            Ok(()) => Ok(()),
            Err(error) => {
                // A failed COMMIT may leave the transaction open on SQLite (SQLITE_BUSY): end it so
                // the connection can begin the next one.
                let _ = self.end(false);
                Err(error)
            }
        }
    }

    fn end(&self, commit: bool) -> Result<(), StoreError> {
        match self.connection {
            Connection::Sqlite(connection) => {
                Ok(connection.execute_batch(if commit { "COMMIT" } else { "ROLLBACK" })?)
            }
            Connection::Postgres(connection) => connection.end(commit),
        }
    }
}

impl std::ops::Deref for Transaction<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.connection
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.end(false);
        }
    }
}
