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
        data: serde_json::Value::Null,
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
