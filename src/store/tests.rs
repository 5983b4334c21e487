//! The store's behaviour, on both backends: each test takes an [`Opener`] and runs once on SQLite
//! and once on a database of the throw-away PostgreSQL cluster (`tests/it/postgres.rs`, shared
//! with the integration tests); `on_both_backends!` at the end lists them. Tests of one backend's
//! own machinery (SQLite's lock file, pragmas and error codes) stay single.

use super::*;
use crate::core::actions::NewAction;

#[path = "../../tests/it/postgres.rs"]
#[allow(dead_code)]
pub(super) mod cluster;

/// Opens stores of one backend, as often as a test likes, on the same data directory and database.
struct Opener {
    dir: tempfile::TempDir,
    backend: Backend,
}

impl Opener {
    fn sqlite() -> Opener {
        Opener {
            dir: tempfile::tempdir().unwrap(),
            backend: Backend::Sqlite,
        }
    }

    fn postgres() -> Opener {
        Opener {
            dir: tempfile::tempdir().unwrap(),
            backend: Backend::from_url(&cluster::database_url()).unwrap(),
        }
    }

    /// A store on the opener's directory and database. A store just dropped may still count as
    /// holding the directory's lock for a moment: a process another test spawns (`psql`, the
    /// cluster's guard) shares the lock file's descriptor between its fork and its exec.
    fn open(&self) -> Store {
        for _ in 0..100 {
            match Store::open_with(self.dir.path(), &self.backend) {
                Err(StoreError::Locked { .. }) => {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                opened => return opened.unwrap(),
            }
        }
        panic!("the data directory stayed locked for 2 s")
    }

    /// A bare connection to the opener's database, without the store's locks or migrations.
    fn raw_connection(&self) -> Connection {
        match &self.backend {
            Backend::Sqlite => open_connection(&self.dir.path().join(DATABASE_FILE)).unwrap(),
            Backend::Postgres(url) => Connection::Postgres(
                db::postgres::PgConnection::connect(url.expose(), "golive-test", None).unwrap(),
            ),
        }
    }

    fn is_postgres(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }
}

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + seconds).unwrap()
}

fn note(text: &str) -> NewEntry {
    NewEntry {
        at: at(1),
        author: "alice".into(),
        kind: LogKind::Note,
        text: text.into(),
        data: crate::core::log::LogData::None,
    }
}

#[test]
fn a_second_store_on_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Store::open(dir.path()).unwrap();
    let Err(error) = Store::open(dir.path()) else {
        panic!("second open succeeded")
    };
    assert!(
        error
            .to_string()
            .contains("already using the data directory"),
        "{error}"
    );
}

fn state_transitions_and_log_survive_reopening(opener: &Opener) {
    {
        let mut store = opener.open();
        let state = store.load_or_init_state(at(0)).unwrap();
        assert_eq!(state.phase, Phase::Planned);
        let transition = Transition {
            from: Phase::Planned,
            to: Phase::GoNoGo,
            at: at(10),
            author: "alice".into(),
            reason: None,
            forced: false,
            overridden: vec![],
        };
        store
            .record_transition(&transition, &note("moved"))
            .unwrap();
        let confirmation = Confirmation {
            by: "bob".into(),
            at: at(11),
            note: Some("verified".into()),
        };
        store
            .record_confirmation("backup", &confirmation, &note("confirmed"))
            .unwrap();
        store.append(&note("third")).unwrap();
    }
    let mut store = opener.open();
    let state = store.load_or_init_state(at(99)).unwrap();
    assert_eq!(state.phase, Phase::GoNoGo);
    assert_eq!(state.phase_since, at(10));
    assert_eq!(state.confirmations["backup"].by, "bob");
    let reader = store.reader().unwrap();
    let log = reader.whole_log().unwrap();
    let texts: Vec<&str> = log.iter().map(|entry| entry.text.as_str()).collect();
    assert_eq!(texts, ["moved", "confirmed", "third"]);
    assert_eq!(reader.integrity_check().unwrap(), "ok");
}

fn the_log_pages_backwards_and_filters_by_kind(opener: &Opener) {
    let mut store = opener.open();
    for index in 0..10 {
        let mut entry = note(&format!("entry {index}"));
        if index % 2 == 0 {
            entry.kind = LogKind::Decision;
        }
        store.append(&entry).unwrap();
    }
    let reader = store.reader().unwrap();
    let newest = reader
        .log(&LogQuery {
            limit: 3,
            ..LogQuery::default()
        })
        .unwrap();
    assert_eq!(newest.iter().map(|e| e.id).collect::<Vec<_>>(), [10, 9, 8]);
    let older = reader
        .log(&LogQuery {
            limit: 3,
            before: Some(8),
            ..LogQuery::default()
        })
        .unwrap();
    assert_eq!(older.iter().map(|e| e.id).collect::<Vec<_>>(), [7, 6, 5]);
    let decisions = reader
        .log(&LogQuery {
            limit: 100,
            kinds: vec![LogKind::Decision],
            ..LogQuery::default()
        })
        .unwrap();
    assert_eq!(decisions.len(), 5);
    assert!(
        decisions
            .iter()
            .all(|entry| entry.kind == LogKind::Decision)
    );
}

fn action_items_are_created_and_updated_with_their_log_entries(opener: &Opener) {
    let mut store = opener.open();
    let action = NewAction {
        title: "Write post-mortem".into(),
        owner: "alice".into(),
        due: Some(jiff::civil::date(2026, 12, 3)),
    };
    let (mut item, entry) = store
        .create_action(&action, "bob", at(5), |item| {
            note(&format!("created {}", item.id))
        })
        .unwrap();
    assert_eq!(item.id, 1);
    assert_eq!(entry.text, "created 1");
    item.status = ActionStatus::Done;
    item.updated_at = at(6);
    store.update_action(&item, &note("done")).unwrap();
    let stored = store.action(1).unwrap().unwrap();
    assert_eq!(stored.status, ActionStatus::Done);
    assert_eq!(stored.due, Some(jiff::civil::date(2026, 12, 3)));
    assert_eq!(store.actions().unwrap().len(), 1);
}

#[test]
fn a_database_from_a_newer_golive_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let _store = Store::open(dir.path()).unwrap();
    }
    let connection = rusqlite::Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
    connection.pragma_update(None, "user_version", 99).unwrap();
    drop(connection);
    // The lock of the store just dropped may linger a moment in a process another test forks
    // (see `Opener::open`).
    let opened = (0..100)
        .map(|_| Store::open(dir.path()))
        .find(|opened| {
            let locked = matches!(opened, Err(StoreError::Locked { .. }));
            if locked {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            !locked
        })
        .expect("the data directory stayed locked for 2 s");
    let Err(error) = opened else {
        panic!("opened a too-new database")
    };
    assert!(
        error.to_string().contains("newer than this golive"),
        "{error}"
    );
}

fn minute_history_merges_on_rewrite_and_stays_small(opener: &Opener) {
    use crate::core::health::{Outcome, ProbeResult};
    use crate::core::rollup::Rollup;
    use crate::store::rollups::MinuteRow;
    use std::time::Duration;

    let mut store = opener.open();
    let mut rollup = Rollup::default();
    for latency in [12, 15, 40] {
        let mut result = ProbeResult::new(Outcome::Healthy, "ok", Duration::from_millis(latency));
        result.value = Some(0.01);
        rollup.record(&result);
    }
    rollup.record(&ProbeResult::new(
        Outcome::Failing,
        "503",
        Duration::from_millis(900),
    ));
    let minute = 29_000_000;
    store
        .write_rollups(&[MinuteRow {
            check: "web",
            minute,
            rollup: &rollup,
        }])
        .unwrap();
    // The same minute written again (after a restart) adds up instead of replacing.
    store
        .write_rollups(&[MinuteRow {
            check: "web",
            minute,
            rollup: &rollup,
        }])
        .unwrap();
    let reader = store.reader().unwrap();
    let minutes = reader.check_minutes("web", minute, minute + 1).unwrap();
    assert_eq!(minutes.len(), 1);
    let (_, stored) = &minutes[0];
    assert_eq!((stored.probes, stored.failures), (8, 2));
    assert_eq!(stored.latency.total(), 8);
    assert_eq!(stored.latency_max, Duration::from_millis(900));
    assert_eq!(stored.values.count, 6);

    // A day of minutes for one check: measure what it costs on disk (SQLite's pages).
    let pragma = |reader: &Reader, name: &str| -> i64 {
        if opener.is_postgres() {
            return 0;
        }
        reader
            .connection
            .query_row(&format!("PRAGMA {name}"), params![])
            .unwrap()
            .get(0)
            .unwrap()
    };
    let before = pragma(&reader, "page_count");
    let rows: Vec<MinuteRow<'_>> = (0..1440)
        .map(|offset| MinuteRow {
            check: "checkout-latency",
            minute: minute + 10 + offset,
            rollup: &rollup,
        })
        .collect();
    store.write_rollups(&rows).unwrap();
    let bytes_per_day = (pragma(&reader, "page_count") - before) * pragma(&reader, "page_size");
    println!("minute history: {bytes_per_day} bytes per check per day");
    assert!(
        bytes_per_day < 200_000,
        "{bytes_per_day} bytes per check per day"
    );
    assert_eq!(
        store
            .prune_rollups(["web", "checkout-latency"], minute + 10)
            .unwrap(),
        1
    );
    assert_eq!(
        reader
            .check_minutes("checkout-latency", 0, i64::MAX)
            .unwrap()
            .len(),
        1440
    );
}

#[test]
fn a_write_to_a_read_only_database_is_read_only_trouble() {
    let dir = tempfile::tempdir().unwrap();
    let path = {
        let mut store = Store::open(dir.path()).unwrap();
        store.append(&note("before")).unwrap();
        store.path().to_path_buf()
    };
    let connection = Connection::Sqlite(
        rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap(),
    );
    let error = insert_entry(&connection, &note("refused")).unwrap_err();
    assert_eq!(error.trouble(), StoreTrouble::ReadOnly, "{error}");
}

#[test]
fn a_write_while_another_program_holds_the_lock_is_busy_trouble() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let other = rusqlite::Connection::open(store.path()).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let Connection::Sqlite(connection) = &store.connection else {
        unreachable!("an SQLite store")
    };
    connection.busy_timeout(std::time::Duration::ZERO).unwrap();
    let error = store.append(&note("waits")).unwrap_err();
    assert_eq!(error.trouble(), StoreTrouble::Busy, "{error}");
    other.execute_batch("ROLLBACK").unwrap();
    store.append(&note("after")).unwrap();
}

#[test]
fn sqlite_and_os_codes_map_to_the_trouble_a_person_can_fix() {
    let sql = |code| {
        StoreError::Sql(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(code),
            None,
        ))
        .trouble()
    };
    assert_eq!(sql(rusqlite::ffi::SQLITE_FULL), StoreTrouble::DiskFull);
    assert_eq!(sql(rusqlite::ffi::SQLITE_IOERR_WRITE), StoreTrouble::Io);
    assert_eq!(sql(rusqlite::ffi::SQLITE_READONLY), StoreTrouble::ReadOnly);
    assert_eq!(sql(rusqlite::ffi::SQLITE_LOCKED), StoreTrouble::Busy);
    assert_eq!(sql(rusqlite::ffi::SQLITE_CONSTRAINT), StoreTrouble::Other);
    assert_eq!(sql(rusqlite::ffi::SQLITE_CORRUPT), StoreTrouble::Other);
    let io = |errno| {
        StoreError::CreateDir {
            path: "data".into(),
            source: std::io::Error::from_raw_os_error(errno),
        }
        .trouble()
    };
    assert_eq!(io(28), StoreTrouble::DiskFull, "ENOSPC");
    assert_eq!(io(30), StoreTrouble::ReadOnly, "EROFS");
    assert_eq!(io(5), StoreTrouble::Io, "EIO");
    assert_eq!(io(2), StoreTrouble::Other, "ENOENT");
    let corrupt = StoreError::Corrupt {
        what: "log.kind",
        value: "?".into(),
    };
    assert_eq!(corrupt.trouble(), StoreTrouble::Other);
    assert!(!StoreTrouble::Other.is_environmental());
    assert!(StoreTrouble::DiskFull.is_environmental());
}

fn outbox_row(channel: &str, group: Option<&str>) -> alerts::NewOutboxRow {
    alerts::NewOutboxRow {
        created_at: at(0),
        not_before: at(0),
        channel: channel.into(),
        kind: crate::core::message::OutboxKind::Opened,
        alert_id: None,
        group_key: group.map(str::to_string),
        payload: crate::core::message::OutboxPayload::Alertmanager { alerts: Vec::new() },
    }
}

fn due_rows_are_read_per_channel_and_a_group_always_whole(opener: &Opener) {
    let mut store = opener.open();
    store
        .write(|write| {
            // A long email queue: a group of 30 rows for bob interleaved with 30 for alice, then
            // singles; and one chat message queued last.
            for _ in 0..30 {
                write.enqueue(&outbox_row("email", Some("bob")))?;
                write.enqueue(&outbox_row("email", Some("alice")))?;
            }
            for _ in 0..10 {
                write.enqueue(&outbox_row("email", None))?;
            }
            write.enqueue(&outbox_row("chat", None))?;
            Ok(())
        })
        .unwrap();
    let reader = store.reader().unwrap();
    let due = reader.due_outbox_per_channel(at(1), 3).unwrap();
    let count = |channel: &str, group: Option<&str>| {
        due.rows
            .iter()
            .filter(|row| row.channel == channel && row.group_key.as_deref() == group)
            .count()
    };
    assert_eq!(count("email", Some("bob")), 30, "a group comes whole");
    assert_eq!(count("email", Some("alice")), 30);
    assert_eq!(
        count("email", None),
        1,
        "three messages of the email channel"
    );
    assert_eq!(
        count("chat", None),
        1,
        "the long email queue hides no chat message"
    );
    assert!(
        due.rows.windows(2).all(|pair| pair[0].id < pair[1].id),
        "oldest first"
    );
}

fn a_down_channel_is_probed_from_each_queue_released_at_once_and_expired_by_its_due_time(
    opener: &Opener,
) {
    let mut store = opener.open();
    let alert_row = |alert: i64, created: i64| alerts::NewOutboxRow {
        created_at: at(created),
        not_before: at(created),
        alert_id: Some(alert),
        ..outbox_row("email", None)
    };
    let ids = store
        .write(|write| {
            let first = write.enqueue(&alert_row(1, 0))?;
            let second = write.enqueue(&alert_row(1, 10))?;
            let other = write.enqueue(&alert_row(2, 20))?;
            // Both of alert 1's rows failed and wait out a backoff.
            write.mark_retry(first, "421 down", at(1_000))?;
            write.mark_retry(second, "421 down", at(1_000))?;
            Ok([first, second, other])
        })
        .unwrap();
    let reader = store.reader().unwrap();
    let heads: Vec<i64> = reader
        .outbox_heads("email", at(30), 10)
        .unwrap()
        .iter()
        .map(|row| row.id)
        .collect();
    assert_eq!(heads, [ids[0], ids[2]], "the oldest row of each alert");
    assert_eq!(
        reader.channels_retrying().unwrap(),
        [("email".to_string(), at(0))]
    );
    let released = store
        .write(|write| write.release_channel("email", at(30)))
        .unwrap();
    assert_eq!(released, 2);
    let due: Vec<i64> = reader
        .due_outbox_per_channel(at(30), 10)
        .unwrap()
        .rows
        .iter()
        .map(|row| row.id)
        .collect();
    assert_eq!(due, ids, "released rows are due at once, oldest first");
    assert_eq!(
        store.waiting_before("email", at(15)).unwrap(),
        [(ids[0], Some(1)), (ids[1], Some(1))]
    );
    let expired = store
        .write(|write| write.fail_waiting(&[ids[0], ids[1]], "gone", at(30)))
        .unwrap();
    assert_eq!(expired, [ids[0], ids[1]]);
    let due = reader.due_outbox_per_channel(at(30), 10).unwrap().rows;
    assert_eq!(due.len(), 1);
}

fn an_unreadable_outbox_row_is_set_apart_and_holds_back_nothing(opener: &Opener) {
    let mut store = opener.open();
    store
        .write(|write| {
            write.enqueue(&outbox_row("email", None))?;
            write.enqueue(&outbox_row("chat", None))?;
            Ok(())
        })
        .unwrap();
    store
        .connection
        .execute(
            "UPDATE outbox SET payload = '{\"type\": \"pager\"}' WHERE channel = 'email'",
            params![],
        )
        .unwrap();
    let due = store
        .reader()
        .unwrap()
        .due_outbox_per_channel(at(1), 10)
        .unwrap();
    assert_eq!(due.rows.len(), 1);
    assert_eq!(due.rows[0].channel, "chat");
    assert_eq!(due.unreadable.len(), 1);
    assert_eq!(due.unreadable[0].channel, "email");
    assert!(
        due.unreadable[0].error.contains("outbox.payload"),
        "{:?}",
        due.unreadable
    );
}

fn an_alerts_labels_survive_reopening_and_golive_alerts_have_none(opener: &Opener) {
    use crate::core::alert::Alert;
    use crate::plan::checks::Severity;
    let labels: std::collections::BTreeMap<String, String> = [
        ("alertname", "PaymentErrors"),
        ("service", "payments"),
        ("instance", "pay-1:8080"),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value.to_string()))
    .collect();
    {
        let mut store = opener.open();
        let open = |key: &str| {
            Alert::open(
                0,
                key.into(),
                "t".into(),
                Severity::Critical,
                None,
                "r".into(),
                at(0),
            )
        };
        store
            .write(|write| {
                write.insert_alert(&open("alertmanager:4f2a").with_labels(labels.clone()))?;
                write.insert_alert(&open("check:web"))
            })
            .unwrap();
    }
    let store = opener.open();
    let alerts = store.open_alerts().unwrap();
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[0].labels, labels);
    assert!(alerts[1].labels.is_empty());
}

#[test]
fn a_second_writer_on_the_same_postgres_database_is_refused() {
    let first = Opener::postgres();
    let _store = first.open();
    // Another daemon (its own data directory) on the same database.
    let second = Opener {
        dir: tempfile::tempdir().unwrap(),
        backend: first.backend.clone(),
    };
    let Err(error) = Store::open_with(second.dir.path(), &second.backend) else {
        panic!("a second writer opened the database")
    };
    assert!(
        error
            .to_string()
            .contains("already writing to the database"),
        "{error}"
    );
}

#[test]
fn a_postgres_database_from_a_newer_golive_is_refused() {
    let opener = Opener::postgres();
    {
        let store = opener.open();
        store
            .connection
            .execute("UPDATE golive_schema SET version = 99", params![])
            .unwrap();
    }
    let Err(error) = Store::open_with(opener.dir.path(), &opener.backend) else {
        panic!("opened a too-new database")
    };
    assert!(
        error.to_string().contains("newer than this golive"),
        "{error}"
    );
}

#[test]
fn a_write_to_a_read_only_postgres_database_is_read_only_trouble() {
    let opener = Opener::postgres();
    let mut store = opener.open();
    store.append(&note("before")).unwrap();
    store
        .connection
        .batch("SET default_transaction_read_only = on")
        .unwrap();
    let error = store.append(&note("refused")).unwrap_err();
    assert_eq!(error.trouble(), StoreTrouble::ReadOnly, "{error}");
}

#[test]
fn an_unreachable_postgres_server_is_unreachable_trouble_and_its_password_is_not_shown() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let backend = Backend::from_url(&format!(
        "postgres://golive:hunter2@127.0.0.1:{port}/launch"
    ))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let Err(error) = Store::open_with(dir.path(), &backend) else {
        panic!("connected to nothing")
    };
    assert_eq!(error.trouble(), StoreTrouble::Unreachable, "{error}");
    let shown = crate::error_chain::error_chain(&error);
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("golive:***@127.0.0.1"), "{shown}");
    assert_eq!(
        format!("{backend:?}"),
        format!("postgres://golive:***@127.0.0.1:{port}/launch")
    );
}

#[test]
fn postgres_sqlstates_map_to_the_trouble_a_person_can_fix() {
    for (code, trouble) in [
        ("53100", StoreTrouble::DiskFull),
        ("25006", StoreTrouble::ReadOnly),
        ("58030", StoreTrouble::Io),
        ("55P03", StoreTrouble::Busy),
        ("57P01", StoreTrouble::Unreachable),
        ("08006", StoreTrouble::Unreachable),
        ("23505", StoreTrouble::Other),
    ] {
        assert_eq!(StoreTrouble::from_sqlstate(code), trouble, "{code}");
    }
    assert!(
        Backend::from_url("mysql://x@y/z")
            .unwrap_err()
            .contains("`mysql`")
    );
}

fn runbook_steps_and_warnings_sent_survive_reopening(opener: &Opener) {
    use crate::core::runbook::{LateKind, StepRecord, StepState};
    let record = StepRecord {
        state: StepState::Failed,
        started_at: Some(at(1)),
        started_by: Some("bob".into()),
        finished_at: Some(at(60)),
        finished_by: Some("alice".into()),
        reason: Some("pods crash-loop".into()),
        forced: true,
    };
    opener
        .open()
        .write(|write| {
            write.save_step("deploy", &StepRecord::default(), at(0))?;
            write.save_step("deploy", &record, at(60))?;
            write.record_runbook_warning("deploy", LateKind::Overrunning, 1, at(30))?;
            write.record_runbook_warning("deploy", LateKind::Overrunning, 1, at(31))?;
            write.record_runbook_warning("smoke", LateKind::NotStarted, 2, at(40))
        })
        .unwrap();
    let mut store = opener.open();
    assert_eq!(store.runbook_steps().unwrap()["deploy"], record);
    assert_eq!(store.reader().unwrap().runbook_steps().unwrap().len(), 1);
    let sent = store.runbook_warnings().unwrap();
    assert_eq!(sent.len(), 2);
    // The first record of a warning stands.
    assert_eq!(
        sent[&("deploy".to_string(), "overrunning".to_string(), 1)],
        at(30)
    );
    store
        .write(|write| write.clear_runbook_warnings("deploy"))
        .unwrap();
    assert_eq!(store.runbook_warnings().unwrap().len(), 1);
}

fn reports_are_recorded_once_per_scheduled_day_and_hours_roll_up(opener: &Opener) {
    use crate::core::health::{Outcome, ProbeResult};
    use crate::core::rollup::Rollup;
    use crate::store::reports::NewReportRecord;
    use crate::store::rollups::MinuteRow;
    let mut store = opener.open();
    let report = |trigger: &str| NewReportRecord {
        kind: "daily".into(),
        day: "2026-12-01".into(),
        trigger: trigger.into(),
        recipients: vec!["ops@example.com".into()],
        message_id: "<r@golive>".into(),
        sent_at: at(5),
        late: true,
        outbox_id: None,
    };
    let record = |store: &mut Store, trigger: &str| {
        store.write(|write| {
            write.enqueue(&outbox_row("email", None))?;
            write.record_report(&report(trigger))
        })
    };
    record(&mut store, "schedule").unwrap();
    assert!(
        record(&mut store, "schedule").is_err(),
        "a day's report is recorded once"
    );
    record(&mut store, "manual").unwrap();
    let reader = store.reader().unwrap();
    assert_eq!(
        reader.outbox_backlog(at(1)).unwrap().pending,
        2,
        "the refused report's row went with it"
    );
    assert_eq!(
        store.scheduled_reports().unwrap(),
        [("daily".to_string(), "2026-12-01".to_string())]
    );
    let records = reader.reports(10).unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(
        (records[0].trigger.as_str(), records[0].late),
        ("manual", true)
    );
    assert_eq!(records[0].recipients, ["ops@example.com"]);

    let mut rollup = Rollup::default();
    rollup.record(&ProbeResult::new(
        Outcome::Healthy,
        "ok",
        std::time::Duration::from_millis(20),
    ));
    let hour = 480_000;
    let minutes: Vec<MinuteRow<'_>> = (0..3)
        .map(|offset| MinuteRow {
            check: "web",
            minute: hour * 60 + offset,
            rollup: &rollup,
        })
        .collect();
    store.write_rollups(&minutes).unwrap();
    assert_eq!(store.first_minute().unwrap(), Some(hour * 60));
    assert_eq!(store.hours_rolled_up_until().unwrap(), None);
    assert_eq!(store.roll_up_hours(["web"], hour, hour + 1).unwrap(), 1);
    store.roll_up_hours(["web"], hour - 5, hour - 4).unwrap();
    assert_eq!(
        reader.hours_rolled_up_until().unwrap(),
        Some(hour + 1),
        "never moves back"
    );
    let hours = reader.check_hours("web", hour, hour + 1).unwrap();
    assert_eq!(hours.len(), 1);
    assert_eq!((hours[0].0, hours[0].1.probes), (hour * 60, 3));
}

fn silences_nonces_reminders_and_review_messages_are_kept_once(opener: &Opener) {
    use crate::core::alert::{Alert, Silence, Window};
    use crate::plan::checks::Severity;
    use crate::store::review::ReviewMessage;
    let mut store = opener.open();
    let identity = store.identity().unwrap();
    assert_eq!(identity.len(), 16, "{identity}");
    assert!(
        identity.chars().all(|c| c.is_ascii_hexdigit()),
        "{identity}"
    );
    let silence = |comment: &str| Silence {
        id: "maintenance".into(),
        checks: vec!["web".into()],
        severities: vec![Severity::Critical],
        window: Window::Once {
            start: at(0),
            end: at(600),
        },
        author: "alice".into(),
        comment: comment.into(),
    };
    let alert = Alert::open(
        0,
        "check:web".into(),
        "t".into(),
        Severity::Critical,
        None,
        "r".into(),
        at(0),
    );
    let (alert_id, row_id) = store
        .write(|write| {
            write.insert_silence(&silence("first"), at(1))?;
            write.insert_silence(&silence("second"), at(2))?;
            assert!(write.use_ack_nonce("n1", at(3))?);
            assert!(!write.use_ack_nonce("n1", at(4))?);
            write.record_reminder(7, "2026-12-01", at(5))?;
            write.record_reminder(7, "2026-12-01", at(6))?;
            assert!(write.record_review_message(ReviewMessage::Invitation, None, at(7))?);
            assert!(!write.record_review_message(ReviewMessage::Invitation, Some(1), at(8))?);
            let alert_id = write.insert_alert(&alert)?;
            let row = alerts::NewOutboxRow {
                alert_id: Some(alert_id),
                not_before: at(100),
                ..outbox_row("email", Some("bob"))
            };
            let row_id = write.enqueue(&row)?;
            write.enqueue(&row)?;
            assert_eq!(write.release_held(alert_id, at(10))?, 2);
            Ok((alert_id, row_id))
        })
        .unwrap();
    let silences = store.silences().unwrap();
    assert_eq!(silences.len(), 1);
    assert_eq!(silences[0].comment, "second");
    assert!(store.ack_nonce_used("n1").unwrap());
    assert!(!store.ack_nonce_used("n2").unwrap());
    assert_eq!(
        store.reminders_sent().unwrap(),
        [(7, "2026-12-01".to_string())]
    );
    assert_eq!(
        store.review_messages_sent().unwrap(),
        [ReviewMessage::Invitation]
    );
    assert_eq!(store.alerts_in_group("bob").unwrap(), [alert_id]);
    let mut resolved = store.open_alerts().unwrap().remove(0);
    resolved.resolved_at = Some(at(20));
    store
        .write(|write| {
            write.update_alert(&resolved)?;
            write.mark_delivered(row_id, "250 ok", at(11))?;
            write.mark_failed(row_id + 1, "550 no", at(12))?;
            assert!(write.remove_silence("maintenance", at(13))?);
            assert!(!write.remove_silence("maintenance", at(14))?);
            Ok(())
        })
        .unwrap();
    assert!(store.open_alerts().unwrap().is_empty());
    assert!(store.silences().unwrap().is_empty());
    let reader = store.reader().unwrap();
    assert_eq!(
        reader.alert(alert_id).unwrap().unwrap().resolved_at,
        Some(at(20))
    );
    assert_eq!(reader.alerts(false, 10).unwrap().len(), 1);
    assert_eq!(reader.alerts_between(at(0), at(30)).unwrap().len(), 1);
    let rows = reader.alert_outbox(alert_id).unwrap();
    let states: Vec<(&str, u32)> = rows
        .iter()
        .map(|row| (row.status.as_str(), row.attempts))
        .collect();
    assert_eq!(states, [("delivered", 1), ("failed", 1)]);
    assert_eq!(rows[0].answer.as_deref(), Some("250 ok"));
    assert_eq!(reader.outbox_between(at(0), at(1)).unwrap().len(), 2);
    assert_eq!(reader.outbox_backlog(at(50)).unwrap().pending, 0);
    // A silence put in again after its removal holds again.
    store
        .write(|write| write.insert_silence(&silence("third"), at(15)))
        .unwrap();
    assert_eq!(reader.silences().unwrap().len(), 1);
    drop(store);
    assert_eq!(
        opener.open().identity().unwrap(),
        identity,
        "the identity stays"
    );
}

#[test]
fn a_lost_postgres_session_fails_one_write_as_unreachable_and_the_next_write_reconnects() {
    let opener = Opener::postgres();
    let mut store = opener.open();
    store.append(&note("before")).unwrap();
    let reader = store.reader().unwrap();
    // The database server ends the writer's session (as a restart or a cut network would).
    reader
        .connection
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            params![],
        )
        .unwrap();
    if let Err(error) = store.append(&note("lost")) {
        assert_eq!(error.trouble(), StoreTrouble::Unreachable, "{error}");
    }
    store.append(&note("after")).unwrap();
    let reader = store.reader().unwrap();
    let texts: Vec<String> = reader
        .whole_log()
        .unwrap()
        .into_iter()
        .map(|entry| entry.text)
        .filter(|text| text != "lost")
        .collect();
    assert_eq!(texts, ["before", "after"]);
    // The new session holds the writer lock again: a second writer is still refused.
    let other = tempfile::tempdir().unwrap();
    assert!(matches!(
        Store::open_with(other.path(), &opener.backend),
        Err(StoreError::DatabaseLocked { .. })
    ));
}

#[test]
fn a_writer_whose_lease_another_member_took_writes_nothing_more() {
    use lease::LeaseConnection;
    let url = crate::domain::Secret::new(cluster::database_url());
    // Long enough to open the store and write under it on a loaded machine (300 ms was not).
    let short = std::time::Duration::from_secs(2);
    let first = LeaseConnection::connect(&url, "host:/a", "http://a", short).unwrap();
    let epoch = first.try_acquire().unwrap().expect("a free lease is taken");
    let dir = tempfile::tempdir().unwrap();
    let lock = lock_data_dir(dir.path()).unwrap();
    let mut store = Store::open_leased(dir.path(), lock, &url, epoch).unwrap();
    store.append(&note("while holding")).unwrap();
    // A session paused inside a transaction is ended by the server, so it cannot hold the lease
    // row (and a takeover) for as long as it stays paused.
    let timeout: String = store
        .connection
        .query_row("SHOW idle_in_transaction_session_timeout", params![])
        .and_then(|row| row.get(0))
        .unwrap();
    assert_eq!(timeout, "3s");
    let second = LeaseConnection::connect(&url, "host:/b", "http://b", short * 20).unwrap();
    assert_eq!(second.try_acquire().unwrap(), None, "not while it holds");
    let taken = (0..200)
        .find_map(|_| {
            std::thread::sleep(std::time::Duration::from_millis(50));
            second.try_acquire().unwrap()
        })
        .expect("taken once expired");
    assert_eq!(taken, epoch + 1);
    let error = store.append(&note("after the takeover")).unwrap_err();
    assert_eq!(error.trouble(), StoreTrouble::Fenced, "{error}");
    assert_eq!(
        first.renew(epoch).unwrap(),
        lease::Renewal::Taken,
        "the old holder cannot renew"
    );
    let holder = first.holder().unwrap();
    assert_eq!(
        (holder.member.as_str(), holder.url.as_str()),
        ("host:/b", "http://b")
    );
    let texts: Vec<String> = store
        .reader()
        .unwrap()
        .whole_log()
        .unwrap()
        .into_iter()
        .map(|entry| entry.text)
        .collect();
    assert_eq!(texts, ["while holding"]);
}

/// A store a golive from before high availability left (schema 9, a launch under way and its log)
/// is upgraded to 10 when this golive opens it, every row kept (a golive of schema 9 then refuses
/// it as newer than it understands, so none writes beside the members without the lease's fence).
fn a_store_at_version_nine_is_upgraded_to_ten_with_its_rows_kept(opener: &Opener) {
    const BEFORE_HIGH_AVAILABILITY: i64 = 9;
    {
        let mut connection = opener.raw_connection();
        schema::migrate_until(
            &mut connection,
            Path::new("golive.db"),
            BEFORE_HIGH_AVAILABILITY,
        )
        .unwrap();
        assert_eq!(
            schema::version(&connection).unwrap(),
            BEFORE_HIGH_AVAILABILITY
        );
        connection
            .batch(
                "INSERT INTO launch_state (id, phase, phase_since) VALUES (1, 'deploying', 1000); \
                 INSERT INTO log (at, author, kind, text) VALUES (2000, 'alice', 'note', 'written by golive 9')",
            )
            .unwrap();
    }
    let mut store = opener.open();
    assert_eq!(schema::version(&store.connection).unwrap(), 10);
    let state = store.load_or_init_state(at(5)).unwrap();
    assert_eq!(
        (state.phase, state.phase_since),
        (Phase::Deploying, Timestamp::from_millisecond(1000).unwrap())
    );
    let texts: Vec<String> = (store.reader().unwrap().whole_log().unwrap().into_iter())
        .map(|entry| entry.text)
        .collect();
    assert_eq!(texts, ["written by golive 9"]);
}

/// A takeover record's retry finds, in its own transaction, the entry an earlier attempt
/// committed (its answer lost), by the epoch's marker; another epoch's, a note, or an entry by a
/// person do not count.
fn a_takeover_decision_is_found_by_its_epoch_in_the_next_transaction(opener: &Opener) {
    let mut store = opener.open();
    let decision = |text: &str| {
        NewEntry::by_golive(
            at(1),
            LogKind::Decision,
            text.into(),
            crate::core::log::LogData::None,
        )
    };
    store
        .write(|write| {
            write.log(&decision(
                "golive on a became the active daemon (lease epoch 7), advertised at x",
            ))?;
            write.log(&note("(lease epoch 8)"))?;
            Ok(())
        })
        .unwrap();
    let mut found =
        |marker: &str| (store.write(|write| write.has_takeover_record(7, marker))).unwrap();
    assert!(found("(lease epoch 7)"));
    assert!(!found("(lease epoch 70)"));
    assert!(!found("(lease epoch 8)"), "a note is not the record");
}

/// The store's behaviour tests, each once per backend.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(#[test]
            fn $name() {
                super::$name(&super::Opener::sqlite())
            })*
        }
        mod on_postgres {
            $(#[test]
            fn $name() {
                super::$name(&super::Opener::postgres())
            })*
        }
    };
}

on_both_backends!(
    state_transitions_and_log_survive_reopening,
    the_log_pages_backwards_and_filters_by_kind,
    action_items_are_created_and_updated_with_their_log_entries,
    minute_history_merges_on_rewrite_and_stays_small,
    due_rows_are_read_per_channel_and_a_group_always_whole,
    a_down_channel_is_probed_from_each_queue_released_at_once_and_expired_by_its_due_time,
    an_unreadable_outbox_row_is_set_apart_and_holds_back_nothing,
    an_alerts_labels_survive_reopening_and_golive_alerts_have_none,
    runbook_steps_and_warnings_sent_survive_reopening,
    reports_are_recorded_once_per_scheduled_day_and_hours_roll_up,
    silences_nonces_reminders_and_review_messages_are_kept_once,
    a_store_at_version_nine_is_upgraded_to_ten_with_its_rows_kept,
    a_takeover_decision_is_found_by_its_epoch_in_the_next_transaction,
);

#[test]
fn the_renewal_never_waits_behind_a_fenced_write_while_a_takeover_waits_for_it() {
    use lease::LeaseConnection;
    use std::sync::mpsc;
    use std::time::Duration;
    let url = crate::domain::Secret::new(cluster::database_url());
    // Long enough to open the store and begin under it on a loaded machine.
    let short = Duration::from_secs(1);
    let first = std::sync::Arc::new(
        LeaseConnection::connect(&url, "host:/renewing", "http://a", short).unwrap(),
    );
    let epoch = first.try_acquire().unwrap().expect("a free lease is taken");
    let dir = tempfile::tempdir().unwrap();
    let lock = lock_data_dir(dir.path()).unwrap();
    let mut store = Store::open_leased(dir.path(), lock, &url, epoch).unwrap();
    let reader = store.reader().unwrap();
    assert_eq!(
        first.renew(epoch).unwrap(),
        lease::Renewal::Renewed,
        "renewed just before the write begins"
    );
    // A writing transaction in flight, its fence checked; the server would end it after 3 s
    // idle, which a loaded machine could reach before the takeover is seen waiting: not here.
    let transaction = store.begin().unwrap();
    transaction
        .batch("SET LOCAL idle_in_transaction_session_timeout = 0")
        .unwrap();
    let (renewed, renewal) = mpsc::channel();
    let renewing = first.clone();
    std::thread::spawn(move || renewed.send(renewing.renew(epoch).unwrap()));
    // (A renewal that waited behind the write would wait until the transaction ends: never.)
    assert_eq!(
        renewal.recv_timeout(Duration::from_secs(30)),
        Ok(lease::Renewal::Renewed),
        "the renewal went through beside the write"
    );
    let second = LeaseConnection::connect(&url, "host:/taking", "http://b", short * 20).unwrap();
    eventually_true(|| first.holder().unwrap().expired);
    let (took, takeover) = mpsc::channel();
    std::thread::spawn(move || took.send(second.try_acquire().unwrap()));
    // The takeover is seen by the server waiting for a row lock, the write's.
    eventually_true(|| {
        !(reader.connection)
            .query(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
                 AND wait_event_type = 'Lock' AND query LIKE '%FOR UPDATE%'",
                params![],
            )
            .unwrap()
            .is_empty()
    });
    assert!(
        takeover.try_recv().is_err(),
        "the takeover waits for the write in flight"
    );
    drop(transaction);
    assert_eq!(
        takeover.recv_timeout(Duration::from_secs(5)),
        Ok(Some(epoch + 1)),
        "taken once the write ended"
    );
}

/// Polls `condition` every 20 ms, for at most 5 s.
fn eventually_true(condition: impl Fn() -> bool) {
    for _ in 0..250 {
        if condition() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("the condition never held");
}

#[test]
fn a_transaction_whose_session_ended_writes_nothing_on_the_next_session_and_fails_its_commit() {
    let opener = Opener::postgres();
    let mut store = opener.open();
    let reader = store.reader().unwrap();
    let transaction = store.begin().unwrap();
    insert_entry(&transaction, &note("before the session ended")).unwrap();
    let pid: i64 = transaction
        .query_row("SELECT pg_backend_pid()::BIGINT", params![])
        .and_then(|row| row.get(0))
        .unwrap();
    // The server ends the session in the middle of the transaction (as its
    // idle_in_transaction_session_timeout does to a paused golive, or a cut network).
    reader
        .connection
        .query("SELECT pg_terminate_backend(?1::INT)", params![pid])
        .unwrap();
    eventually_true(|| {
        reader
            .connection
            .query(
                "SELECT 1 FROM pg_stat_activity WHERE pid = ?1::INT",
                params![pid],
            )
            .unwrap()
            .is_empty()
    });
    // The rest of the transaction: none of it may run on a new session (outside the transaction
    // and its fence), and the commit says so.
    for text in ["after the session ended", "and once more"] {
        assert!(insert_entry(&transaction, &note(text)).is_err(), "{text}");
    }
    let error = transaction.commit().unwrap_err();
    assert_eq!(error.trouble(), StoreTrouble::Unreachable, "{error}");
    // Nothing was left to roll back: no session is opened (and the writer lock taken) for that.
    let sessions = reader
        .connection
        .query(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
             AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
            params![],
        )
        .unwrap();
    assert_eq!(
        sessions.len(),
        0,
        "a session opened after the failed commit"
    );
    // The next transaction runs on a new session.
    store.append(&note("next")).unwrap();
    let texts: Vec<String> = reader
        .whole_log()
        .unwrap()
        .into_iter()
        .map(|entry| entry.text)
        .collect();
    assert_eq!(texts, ["next"]);
}

#[test]
fn a_renewal_that_comes_after_the_release_does_not_take_the_lease_back() {
    use lease::LeaseConnection;
    let url = crate::domain::Secret::new(cluster::database_url());
    let lease = std::time::Duration::from_secs(60);
    let first = LeaseConnection::connect(&url, "host:/stopping", "http://a", lease).unwrap();
    let epoch = first.try_acquire().unwrap().expect("a free lease is taken");
    // A clean stop gives the lease up; the renewal thread, its stop checked just before, then
    // gets the connection.
    first.release(epoch).unwrap();
    let renewed = first.renew(epoch).unwrap();
    assert!(
        first.holder().unwrap().expired,
        "the lease was taken back after its release (renewal answered {renewed:?})"
    );
    assert_eq!(renewed, lease::Renewal::GivenUp, "not a step-down either");
    let second = LeaseConnection::connect(&url, "host:/standby", "http://b", lease).unwrap();
    assert_eq!(
        second.try_acquire().unwrap(),
        Some(epoch + 1),
        "a standby takes it at once"
    );
}

#[test]
fn a_takeover_record_retried_while_the_first_commit_is_in_flight_is_written_once() {
    use lease::LeaseConnection;
    use std::sync::mpsc;
    let url = crate::domain::Secret::new(cluster::database_url());
    let lease = LeaseConnection::connect(
        &url,
        "host:/taking",
        "http://a",
        std::time::Duration::from_secs(60),
    )
    .unwrap();
    let epoch = lease.try_acquire().unwrap().expect("a free lease is taken");
    let marker = format!("(lease epoch {epoch})");
    let record = NewEntry::by_golive(
        at(1),
        LogKind::Decision,
        format!("golive on a became the active daemon {marker}, advertised at x"),
        crate::core::log::LogData::None,
    );
    let open = || {
        let dir = tempfile::tempdir().unwrap();
        let lock = lock_data_dir(dir.path()).unwrap();
        let store = Store::open_leased(dir.path(), lock, &url, epoch).unwrap();
        (store, dir)
    };
    // Two sessions of the same epoch: the first attempt's, whose COMMIT is still on its way
    // (its answer will be lost), and the retry's, on a new session.
    let ((mut first, _first_dir), (mut retry, _retry_dir)) = (open(), open());
    let reader = first.reader().unwrap();
    let attempt = &|store: &mut Store, before_commit: &dyn Fn()| {
        store.write(|write| {
            if write.has_takeover_record(epoch, &marker)? {
                return Ok(false);
            }
            write.log(&record)?;
            before_commit();
            Ok(true)
        })
    };
    let (written, first_written) = mpsc::channel();
    let (commit, go) = mpsc::channel::<()>();
    std::thread::scope(|scope| {
        let first = &mut first;
        let first_attempt = scope.spawn(move || {
            attempt(first, &|| {
                written.send(()).unwrap();
                go.recv().unwrap();
            })
        });
        first_written.recv().unwrap();
        let (done, retry_done) = mpsc::channel();
        let retry = &mut retry;
        scope.spawn(move || done.send(attempt(retry, &|| {}).unwrap()));
        // The retry has run to its end, or waits for the first attempt's transaction to end.
        let outcome = std::sync::Mutex::new(None);
        eventually_true(|| {
            if let Ok(wrote) = retry_done.try_recv() {
                *outcome.lock().unwrap() = Some(wrote);
            }
            outcome.lock().unwrap().is_some()
                || !(reader.connection)
                    .query(
                        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
                         AND wait_event_type = 'Lock' AND wait_event = 'advisory'",
                        params![],
                    )
                    .unwrap()
                    .is_empty()
        });
        commit.send(()).unwrap();
        assert!(
            first_attempt.join().unwrap().unwrap(),
            "the first attempt wrote it"
        );
        let retry_wrote = outcome.into_inner().unwrap().unwrap_or_else(|| {
            retry_done
                .recv_timeout(std::time::Duration::from_secs(10))
                .unwrap()
        });
        assert!(!retry_wrote, "the retry found the first attempt's record");
    });
    let records = (reader.whole_log().unwrap().into_iter())
        .filter(|entry| entry.text.contains(&marker))
        .count();
    assert_eq!(records, 1);
}

#[test]
fn a_member_does_not_upgrade_a_store_beside_a_golive_from_before_high_availability() {
    use lease::LeaseConnection;
    let opener = Opener::postgres();
    let Backend::Postgres(url) = &opener.backend else {
        unreachable!()
    };
    {
        let mut connection = opener.raw_connection();
        schema::migrate_until(&mut connection, Path::new("golive.db"), 9).unwrap();
    }
    let lease = LeaseConnection::connect(
        url,
        "host:/member",
        "http://a",
        std::time::Duration::from_secs(60),
    )
    .unwrap();
    assert!(lease.may_compete(Path::new("golive.db")).unwrap());
    let epoch = lease.try_acquire().unwrap().expect("a free lease is taken");
    // A golive of schema 9 starts after the member's check: it holds the writer lock and found
    // the schema it knows.
    let old_golive = opener.raw_connection();
    old_golive
        .batch(&format!("SELECT pg_advisory_lock({WRITER_LOCK})"))
        .unwrap();
    let opened = Store::open_leased(
        opener.dir.path(),
        lock_data_dir(opener.dir.path()).unwrap(),
        url,
        epoch,
    );
    assert!(
        matches!(opened, Err(StoreError::DatabaseLocked { .. })),
        "opened beside a writer: {:?}",
        opened.as_ref().err()
    );
    assert_eq!(schema::version(&old_golive).unwrap(), 9, "not upgraded");
    drop(old_golive);
    // Once it has gone the member upgrades the store, and gives the writer lock back: a golive
    // of schema 9 started now finds the schema newer than it knows, holding the lock.
    let store = Store::open_leased(
        opener.dir.path(),
        lock_data_dir(opener.dir.path()).unwrap(),
        url,
        epoch,
    )
    .unwrap();
    assert_eq!(schema::version(&store.connection).unwrap(), 10);
    assert!(
        lease.may_compete(Path::new("golive.db")).unwrap(),
        "lock given back"
    );
}

#[test]
fn a_member_frozen_while_it_migrates_keeps_the_standbys_out_only_until_the_server_ends_its_session()
{
    use lease::LeaseConnection;
    let opener = Opener::postgres();
    let Backend::Postgres(url) = &opener.backend else {
        unreachable!()
    };
    let path = Path::new("golive.db");
    let standby = LeaseConnection::connect(
        url,
        "host:/standby",
        "http://b",
        std::time::Duration::from_secs(60),
    )
    .unwrap();
    assert!(standby.may_compete(path).unwrap());
    // A member takes the writer lock to check and migrate the schema, then freezes (SIGSTOP, a
    // paused VM): it sends nothing more, and its session stays open.
    let mut member = opener.raw_connection();
    let transaction = begin_holding_writer_lock(&mut member, url).unwrap();
    assert!(
        !standby.may_compete(path).unwrap(),
        "a member migrating the store keeps the standbys out"
    );
    // The server ends the frozen member's idle transaction (3 s), and its lock with it; a
    // session-level lock would stay until TCP keepalive notices, hours later.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !standby.may_compete(path).unwrap() {
        assert!(
            std::time::Instant::now() < deadline,
            "the frozen member still keeps the standbys out"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    drop(transaction);
}

#[test]
fn a_standby_probes_the_writer_lock_only_once_the_lease_has_run_out() {
    use lease::{LeaseConnection, Standing};
    let opener = Opener::postgres();
    let Backend::Postgres(url) = &opener.backend else {
        unreachable!()
    };
    let path = Path::new("golive.db");
    let connect = |member: &str| {
        LeaseConnection::connect(url, member, "http://x", std::time::Duration::from_secs(60))
            .unwrap()
    };
    let (active, standby) = (connect("host:/active"), connect("host:/standby"));
    let epoch = active
        .try_acquire()
        .unwrap()
        .expect("a free lease is taken");
    // The writer lock is held (the active opening the store; here a tool's session): a standby
    // facing a running lease does not look at it, so it does not report a writer beside it.
    let tool = opener.raw_connection();
    tool.batch(&format!("SELECT pg_advisory_lock({WRITER_LOCK})"))
        .unwrap();
    let standing =
        |standby: &LeaseConnection| standby.standing(path, &standby.holder().unwrap()).unwrap();
    assert_eq!(standing(&standby), Standing::HeldByAnother);
    // Once the lease is free, the writer keeps the standby from taking it, until it is gone.
    active.release(epoch).unwrap();
    assert_eq!(standing(&standby), Standing::WriterLocked);
    // The tool's session ends on the server a moment after its client closed the connection.
    drop(tool);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match standing(&standby) {
            Standing::MayTake => break,
            Standing::WriterLocked if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => panic!("the writer is gone, yet the standby sees {other:?}"),
        }
    }
    // A schema newer than the standby's is refused whoever holds the lease.
    let epoch = active.try_acquire().unwrap().expect("taken again");
    assert!(epoch > 0);
    opener
        .raw_connection()
        .execute(
            "UPDATE golive_schema SET version = ?1 WHERE id = 1",
            params![schema::VERSION + 1],
        )
        .unwrap();
    assert!(matches!(
        standby.standing(path, &standby.holder().unwrap()),
        Err(StoreError::TooNew { .. })
    ));
}
