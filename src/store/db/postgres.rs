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
    /// `BEGIN ...`: the transaction is bound to the session it begins on.
    Begin(String),
    /// `COMMIT` (true) or `ROLLBACK` (false) of the transaction begun last.
    End {
        commit: bool,
    },
    /// Release the writer lock and end the session (the connection is dropped).
    Close,
}

enum Answer {
    Changed(u64),
    Rows(Vec<Row>),
    Done,
}

type Reply = Result<Answer, StoreError>;

/// A connection to PostgreSQL, served by its own thread. Dropping it ends the thread, which closes
/// the session (and so releases its advisory locks). A session that was lost (the server
/// restarted, the network cut) fails the request that finds it lost; the next request opens a
/// new one — for the writer only if it can take the writer lock again — except inside a
/// transaction: a transaction belongs to the session it began on, so once that
/// session is gone each of its statements and its `COMMIT` fail, and a new session is opened only
/// after its end. Otherwise its later statements would run on the new session outside any
/// transaction, committed one by one without the lease's fence.
pub(crate) struct PgConnection {
    requests: mpsc::Sender<(Request, mpsc::SyncSender<Reply>)>,
}

/// How long a connection attempt may take (`connect_timeout` in the URL overrides it).
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long sent data may stay unacknowledged before the session counts as lost
/// (`tcp_user_timeout` in the URL overrides it).
const TCP_USER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// How long a session may sit inside a transaction doing nothing before the server ends it (the
/// store's transactions run statement after statement, never waiting on anything else).
const IDLE_IN_TRANSACTION_MS: u32 = 3_000;

/// How often (every 100 ms) a writer tries the writer lock before the database counts as taken.
pub(crate) const WRITER_LOCK_ATTEMPTS: u32 = 30;

/// How the connection's thread opens a session.
struct Session {
    config: postgres::Config,
    /// The URL without its password, for errors.
    target: String,
    /// The advisory lock a writer's session holds (none for a reader).
    writer_lock: Option<i64>,
}

impl Session {
    fn open(&self) -> Result<Client, StoreError> {
        let mut client = self
            .config
            .connect(NoTls)
            .map_err(|source| StoreError::Connect {
                target: self.target.clone(),
                source,
            })?;
        let Some(key) = self.writer_lock else {
            return Ok(client);
        };
        // The session of a daemon killed a moment ago may still be ending on the server, its lock
        // with it: wait a little before calling the database taken.
        for attempt in 0..WRITER_LOCK_ATTEMPTS {
            let locked: bool = client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
                .and_then(|row| row.try_get(0))
                .map_err(StoreError::Postgres)?;
            if locked {
                return Ok(client);
            }
            if attempt + 1 < WRITER_LOCK_ATTEMPTS {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
        Err(StoreError::DatabaseLocked {
            target: self.target.clone(),
        })
    }
}

/// The thread name of a standby's reader, whose sessions are all read-only.
pub(crate) const READ_ONLY_SESSION: &str = "golive-pg-standby";

impl PgConnection {
    /// Connects to `url` (a `postgres://` URL or key=value string) on a new thread named `name`
    /// (`golive-pg-writer`, `golive-pg-reader`). A writer passes its `writer_lock`, which its
    /// session takes (and every new session after a lost one takes again) or is refused.
    pub(crate) fn connect(
        url: &str,
        name: &str,
        writer_lock: Option<i64>,
    ) -> Result<PgConnection, StoreError> {
        let target = redact_url(url);
        let mut config: postgres::Config = url.parse().map_err(|source| StoreError::Connect {
            target: target.clone(),
            source,
        })?;
        // Bounds on a dead network, unless the URL sets its own: the engine waits on these calls,
        // so a server that went silent must fail them (503) rather than hold the engine for the
        // operating system's minutes of retransmissions.
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_tcp_user_timeout().is_none() {
            config.tcp_user_timeout(TCP_USER_TIMEOUT);
        }
        // A golive paused inside a transaction (SIGSTOP, a frozen VM) would hold its row locks,
        // among them the lease row a takeover must update, for as long as it stays paused: the
        // server ends such a session instead (every session, each new one after a lost one too).
        let options = config.get_options().unwrap_or_default().to_string();
        if !options.contains("idle_in_transaction_session_timeout") {
            config.options(
                format!(
                    "{options} -c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_MS}"
                )
                .trim(),
            );
        }
        // A standby's reader: every session read-only, each new one after a lost one too.
        if name == READ_ONLY_SESSION {
            let options = config.get_options().unwrap_or_default().to_string();
            config.options(format!("{options} -c default_transaction_read_only=on").trim());
        }
        let session = Session {
            config,
            target,
            writer_lock,
        };
        let (requests, inbox) = mpsc::channel::<(Request, mpsc::SyncSender<Reply>)>();
        let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<(), StoreError>>(1);
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || match session.open() {
                Ok(client) => {
                    let _ = ready_tx.send(Ok(()));
                    serve(&session, client, inbox);
                }
                Err(error) => {
                    let _ = ready_tx.send(Err(error));
                }
            })
            .map_err(|error| {
                StoreError::ConnectionLost(format!("cannot start its thread: {error}"))
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(PgConnection { requests }),
            Ok(Err(error)) => Err(error),
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
            Ok(reply) => reply,
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

    /// Begins a transaction with `sql` (`BEGIN ...`), bound to the current session.
    pub(crate) fn begin(&self, sql: &str) -> Result<(), StoreError> {
        self.ask(Request::Begin(sql.to_string())).map(|_| ())
    }

    /// Commits (or rolls back) the transaction begun last; a commit fails when its session ended.
    pub(crate) fn end(&self, commit: bool) -> Result<(), StoreError> {
        self.ask(Request::End { commit }).map(|_| ())
    }
}

impl Drop for PgConnection {
    /// Ends the session before returning, its writer lock released first, so a store opened
    /// right after this one was dropped finds the database free.
    fn drop(&mut self) {
        let _ = self.ask(Request::Close);
    }
}

/// The connection thread's loop: one request at a time, statements prepared once and kept; a
/// lost session is opened again for the request after the one that found it lost.
fn serve(
    session: &Session,
    mut client: Client,
    inbox: mpsc::Receiver<(Request, mpsc::SyncSender<Reply>)>,
) {
    let mut prepared: HashMap<String, Statement> = HashMap::new();
    let mut lost = false;
    // Whether a transaction is open on the current session (a new session is opened only
    // outside one, so an open transaction always began on the current session).
    let mut in_transaction = false;
    while let Ok((request, reply)) = inbox.recv() {
        if matches!(request, Request::Close) {
            if session.writer_lock.is_some() && !lost && !client.is_closed() {
                let _ = client.batch_execute("SELECT pg_advisory_unlock_all()");
            }
            drop(client);
            let _ = reply.send(Ok(Answer::Done));
            return;
        }
        let gone = lost || client.is_closed();
        if in_transaction && gone {
            // The transaction's session is gone: nothing of it runs anywhere else.
            let answer = match request {
                Request::End { commit: false } => Ok(Answer::Done),
                _ => Err(StoreError::ConnectionLost(
                    "the session this transaction began on has ended; nothing of it was committed"
                        .into(),
                )),
            };
            if matches!(request, Request::End { .. }) {
                in_transaction = false;
            }
            let _ = reply.send(answer);
            continue;
        }
        if gone && matches!(request, Request::End { commit: false }) {
            // The rollback after a failed COMMIT: its session ended, and the transaction with it.
            let _ = reply.send(Ok(Answer::Done));
            continue;
        }
        if gone {
            match session.open() {
                Ok(new) => {
                    client = new;
                    prepared.clear();
                    lost = false;
                }
                Err(error) => {
                    let _ = reply.send(Err(error));
                    continue;
                }
            }
        }
        let begins = matches!(request, Request::Begin(_));
        if matches!(request, Request::End { .. }) {
            in_transaction = false;
        }
        let answer = answer(&mut client, &mut prepared, request);
        match &answer {
            Ok(_) if begins => in_transaction = true,
            Ok(_) => {}
            Err(error) => lost = session_lost(error),
        }
        let _ = reply.send(answer.map_err(StoreError::Postgres));
    }
}

fn answer(
    client: &mut Client,
    prepared: &mut HashMap<String, Statement>,
    request: Request,
) -> Result<Answer, postgres::Error> {
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
        Request::Batch(sql) | Request::Begin(sql) => {
            client.batch_execute(&sql)?;
            Ok(Answer::Done)
        }
        Request::End { commit } => {
            client.batch_execute(if commit { "COMMIT" } else { "ROLLBACK" })?;
            Ok(Answer::Done)
        }
        Request::Close => Ok(Answer::Done),
    }
}

/// Whether `error` means the session is gone: an error without SQLSTATE comes from the connection
/// (reset, closed), and class 08 and 57P01–57P03 are the server ending it.
fn session_lost(error: &postgres::Error) -> bool {
    match error.code() {
        None => true,
        Some(code) => {
            let code = code.code();
            code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03")
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
        let start = scheme_end + 3;
        // The last `@`, so a password holding `/`, `?` or `@` unescaped is still hidden (at worst,
        // with an `@` in the query and no user, more than the password is).
        if let Some(at) = redacted[start..].rfind('@') {
            let userinfo = &redacted[start..start + at];
            if let Some(colon) = userinfo.find(':') {
                redacted.replace_range(start + colon + 1..start + at, "***");
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
        assert_eq!(
            redact_url("postgres://golive:a/b?c@d@db/launch"),
            "postgres://golive:***@db/launch"
        );
    }
}
