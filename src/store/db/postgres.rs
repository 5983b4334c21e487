//! The PostgreSQL side of the store's connection. rust-postgres's blocking `Client` runs its own
//! small tokio runtime and panics when used (or dropped) on a thread that drives the daemon's
//! runtime; the store is called from such threads (the engine's `block_in_place`, a
//! current-thread test runtime, a `Drop` at shutdown). So each connection lives on its own
//! thread, which owns the client and runs the statements sent to it one by one; the caller waits
//! for the answer as it would for SQLite's disk. Rows come back as owned [`Value`]s.
//!
//! The URL (which may carry a password) never leaves this module except redacted
//! ([`redact_url`]).

use std::collections::HashMap;
use std::sync::mpsc;

use postgres::types::{IsNull, ToSql, Type};
use postgres::{Client, NoTls, Statement};

use super::{Row, Value};
use crate::store::StoreError;

/// What the connection's thread is asked to do.
enum Request {
    Execute(String, Vec<Value>),
    Query(String, Vec<Value>),
    Batch(String),
}

enum Answer {
    Changed(u64),
    Rows(Vec<Row>),
    Done,
}

type Reply = Result<Answer, postgres::Error>;

/// A connection to PostgreSQL, served by its own thread. Dropping it ends the thread, which closes
/// the session (and so releases its advisory locks).
pub(crate) struct PgConnection {
    requests: mpsc::Sender<(Request, mpsc::SyncSender<Reply>)>,
}

impl PgConnection {
    /// Connects to `url` (a `postgres://` URL or key=value string) on a new thread. `name` is the
    /// thread's name (`golive-pg-writer`, `golive-pg-reader`).
    pub(crate) fn connect(url: &str, name: &str) -> Result<PgConnection, StoreError> {
        let connect_error = |source| StoreError::Connect {
            target: redact_url(url),
            source,
        };
        let config: postgres::Config = url.parse().map_err(connect_error)?;
        let (requests, inbox) = mpsc::channel::<(Request, mpsc::SyncSender<Reply>)>();
        let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<(), postgres::Error>>(1);
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                let client = match config.connect(NoTls) {
                    Ok(client) => {
                        let _ = ready_tx.send(Ok(()));
                        client
                    }
                    Err(error) => {
                        let _ = ready_tx.send(Err(error));
                        return;
                    }
                };
                serve(client, inbox);
            })
            .map_err(|error| {
                StoreError::ConnectionLost(format!("cannot start its thread: {error}"))
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(PgConnection { requests }),
            Ok(Err(source)) => Err(connect_error(source)),
            Err(_) => Err(StoreError::ConnectionLost(
                "its thread ended while connecting".into(),
            )),
        }
    }

    fn ask(&self, request: Request) -> Result<Answer, StoreError> {
        let (reply_tx, reply_rx) = mpsc::sync_channel(1);
        self.requests
            .send((request, reply_tx))
            .map_err(|_| StoreError::ConnectionLost("its thread has ended".into()))?;
        match reply_rx.recv() {
            Ok(reply) => reply.map_err(StoreError::Postgres),
            Err(_) => Err(StoreError::ConnectionLost("its thread has ended".into())),
        }
    }

    pub(crate) fn execute(&self, sql: &str, params: &[Value]) -> Result<usize, StoreError> {
        match self.ask(Request::Execute(sql.to_string(), params.to_vec()))? {
            Answer::Changed(count) => Ok(usize::try_from(count).unwrap_or(usize::MAX)),
            _ => Ok(0),
        }
    }

    pub(crate) fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        match self.ask(Request::Query(sql.to_string(), params.to_vec()))? {
            Answer::Rows(rows) => Ok(rows),
            _ => Ok(Vec::new()),
        }
    }

    pub(crate) fn batch(&self, sql: &str) -> Result<(), StoreError> {
        self.ask(Request::Batch(sql.to_string())).map(|_| ())
    }
}

/// The connection thread's loop: one request at a time, statements prepared once and kept.
fn serve(mut client: Client, inbox: mpsc::Receiver<(Request, mpsc::SyncSender<Reply>)>) {
    let mut prepared: HashMap<String, Statement> = HashMap::new();
    while let Ok((request, reply)) = inbox.recv() {
        let answer = answer(&mut client, &mut prepared, request);
        if answer.is_err() && client.is_closed() {
            // The session is gone (server restarted, network cut): its statements with it.
            prepared.clear();
        }
        let _ = reply.send(answer);
    }
}

fn answer(
    client: &mut Client,
    prepared: &mut HashMap<String, Statement>,
    request: Request,
) -> Reply {
    let mut statement = |client: &mut Client, sql: String| -> Result<Statement, postgres::Error> {
        if let Some(statement) = prepared.get(&sql) {
            return Ok(statement.clone());
        }
        let statement = client.prepare(&sql)?;
        prepared.insert(sql, statement.clone());
        Ok(statement)
    };
    match request {
        Request::Execute(sql, params) => {
            let statement = statement(client, sql)?;
            Ok(Answer::Changed(client.execute(&statement, &bind(&params))?))
        }
        Request::Query(sql, params) => {
            let statement = statement(client, sql)?;
            let rows = client.query(&statement, &bind(&params))?;
            Ok(Answer::Rows(
                rows.iter().map(read_row).collect::<Result<_, _>>()?,
            ))
        }
        Request::Batch(sql) => {
            client.batch_execute(&sql)?;
            Ok(Answer::Done)
        }
    }
}

fn bind(params: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|value| value as &(dyn ToSql + Sync))
        .collect()
}

fn read_row(row: &postgres::Row) -> Result<Row, postgres::Error> {
    let mut values = Vec::with_capacity(row.len());
    for (index, column) in row.columns().iter().enumerate() {
        let ty = column.type_();
        let value = if *ty == Type::INT8 {
            row.try_get::<_, Option<i64>>(index)?.map(Value::Integer)
        } else if *ty == Type::INT4 {
            row.try_get::<_, Option<i32>>(index)?
                .map(|integer| Value::Integer(i64::from(integer)))
        } else if *ty == Type::INT2 {
            row.try_get::<_, Option<i16>>(index)?
                .map(|integer| Value::Integer(i64::from(integer)))
        } else if *ty == Type::BOOL {
            row.try_get::<_, Option<bool>>(index)?
                .map(|flag| Value::Integer(i64::from(flag)))
        } else if *ty == Type::FLOAT8 {
            row.try_get::<_, Option<f64>>(index)?.map(Value::Real)
        } else if *ty == Type::BYTEA {
            row.try_get::<_, Option<Vec<u8>>>(index)?.map(Value::Blob)
        } else {
            // TEXT, VARCHAR, NAME and anything else PostgreSQL can give as text.
            row.try_get::<_, Option<String>>(index)?.map(Value::Text)
        };
        values.push(value.unwrap_or(Value::Null));
    }
    Ok(Row(values))
}

impl ToSql for Value {
    /// Binds to whatever type PostgreSQL inferred for the placeholder: the store's columns are
    /// `BIGINT`, `DOUBLE PRECISION`, `TEXT` and `BYTEA`, and a NULL fits any of them.
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut postgres::types::private::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Integer(integer) if *ty == Type::INT4 => {
                i32::try_from(*integer)?.to_sql(ty, out)
            }
            Value::Integer(integer) if *ty == Type::INT2 => {
                i16::try_from(*integer)?.to_sql(ty, out)
            }
            Value::Integer(integer) if *ty == Type::BOOL => (*integer != 0).to_sql(ty, out),
            Value::Integer(integer) if *ty == Type::FLOAT8 => (*integer as f64).to_sql(ty, out),
            Value::Integer(integer) => integer.to_sql(ty, out),
            Value::Real(real) => real.to_sql(ty, out),
            // PostgreSQL's text cannot hold NUL, which SQLite's can: one sent by a client is kept
            // as U+FFFD rather than failing the whole change.
            Value::Text(text) if text.contains('\0') => {
                text.replace('\0', "\u{fffd}").to_sql(ty, out)
            }
            Value::Text(text) => text.as_str().to_sql(ty, out),
            Value::Blob(bytes) => bytes.as_slice().to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

/// `url` with its password replaced by `***` (in `user:password@` and in `password=`), for
/// errors and logs.
pub(crate) fn redact_url(url: &str) -> String {
    let mut redacted = url.to_string();
    if let Some(scheme_end) = redacted.find("://") {
        let authority_start = scheme_end + 3;
        let authority_end = redacted[authority_start..]
            .find(['/', '?'])
            .map_or(redacted.len(), |end| authority_start + end);
        if let Some(at) = redacted[authority_start..authority_end].rfind('@') {
            let userinfo = &redacted[authority_start..authority_start + at];
            if let Some(colon) = userinfo.find(':') {
                redacted.replace_range(authority_start + colon + 1..authority_start + at, "***");
            }
        }
    }
    // `password=...` as a query parameter or a key=value word.
    let mut result = String::with_capacity(redacted.len());
    let mut rest = redacted.as_str();
    while let Some(found) = rest.find("password=") {
        let value_start = found + "password=".len();
        result.push_str(&rest[..value_start]);
        result.push_str("***");
        let value_end = rest[value_start..]
            .find(['&', ' '])
            .map_or(rest.len(), |end| value_start + end);
        rest = &rest[value_end..];
    }
    result.push_str(rest);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_shown_without_its_password() {
        assert_eq!(
            redact_url("postgres://golive:s3cr%40t@db.example:5432/launch?sslmode=disable"),
            "postgres://golive:***@db.example:5432/launch?sslmode=disable"
        );
        assert_eq!(
            redact_url("postgresql://db/launch?user=golive&password=hunter2&application_name=x"),
            "postgresql://db/launch?user=golive&password=***&application_name=x"
        );
        assert_eq!(
            redact_url("host=/run/pg user=golive password=hunter2 dbname=launch"),
            "host=/run/pg user=golive password=*** dbname=launch"
        );
        assert_eq!(
            redact_url("postgres://golive@localhost/launch"),
            "postgres://golive@localhost/launch"
        );
    }
}
