use super::*;
use crate::core::actions::NewAction;

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

#[test]
fn state_transitions_and_log_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = Store::open(dir.path()).unwrap();
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
    let mut store = Store::open(dir.path()).unwrap();
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

#[test]
fn the_log_pages_backwards_and_filters_by_kind() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
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

#[test]
fn action_items_are_created_and_updated_with_their_log_entries() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
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
    let connection = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
    connection.pragma_update(None, "user_version", 99).unwrap();
    drop(connection);
    let Err(error) = Store::open(dir.path()) else {
        panic!("opened a too-new database")
    };
    assert!(
        error.to_string().contains("newer than this golive"),
        "{error}"
    );
}

#[test]
fn minute_history_merges_on_rewrite_and_stays_small() {
    use crate::core::health::{Outcome, ProbeResult};
    use crate::core::rollup::Rollup;
    use crate::store::rollups::MinuteRow;
    use std::time::Duration;

    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
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

    // A day of minutes for one check: measure what it costs on disk.
    let before: i64 = reader
        .connection
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    let rows: Vec<MinuteRow<'_>> = (0..1440)
        .map(|offset| MinuteRow {
            check: "checkout-latency",
            minute: minute + 10 + offset,
            rollup: &rollup,
        })
        .collect();
    store.write_rollups(&rows).unwrap();
    let after: i64 = reader
        .connection
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    let page_size: i64 = reader
        .connection
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .unwrap();
    let bytes_per_day = (after - before) * page_size;
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
    let connection =
        Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let error = insert_entry(&connection, &note("refused")).unwrap_err();
    assert_eq!(error.trouble(), StoreTrouble::ReadOnly, "{error}");
}

#[test]
fn a_write_while_another_program_holds_the_lock_is_busy_trouble() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let other = Connection::open(store.path()).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    store
        .connection
        .busy_timeout(std::time::Duration::ZERO)
        .unwrap();
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

#[test]
fn due_rows_are_read_per_channel_and_a_group_always_whole() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
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

#[test]
fn a_down_channel_is_probed_from_each_queue_released_at_once_and_expired_by_its_due_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
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

#[test]
fn an_unreadable_outbox_row_is_set_apart_and_holds_back_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
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
            [],
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

#[test]
fn an_alerts_labels_survive_reopening_and_golive_alerts_have_none() {
    use crate::core::alert::Alert;
    use crate::plan::checks::Severity;
    let dir = tempfile::tempdir().unwrap();
    let labels: std::collections::BTreeMap<String, String> = [
        ("alertname", "PaymentErrors"),
        ("service", "payments"),
        ("instance", "pay-1:8080"),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value.to_string()))
    .collect();
    {
        let mut store = Store::open(dir.path()).unwrap();
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
    let store = Store::open(dir.path()).unwrap();
    let alerts = store.open_alerts().unwrap();
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[0].labels, labels);
    assert!(alerts[1].labels.is_empty());
}
