use serde_json::json;

use super::*;

/// Stored JSON of each shape the engine writes, as earlier versions wrote it with `json!`.
fn stored_shapes() -> Vec<(LogKind, serde_json::Value)> {
    vec![
        (
            LogKind::Phase,
            json!({"from": "planned", "to": "go_no_go", "forced": true, "reason": "ok by Bob",
                   "overridden": [{"kind": "checklist", "id": "backup", "message": "not confirmed", "owner": null}]}),
        ),
        (LogKind::Checklist, json!({"item": "backup", "note": null})),
        (
            LogKind::Update,
            json!({"event": "phase", "phase": "verifying", "subject": "[UPDATE] Shop: live", "to": ["ceo@shop.example"], "channels": ["team-chat"]}),
        ),
        (
            LogKind::Update,
            json!({"event": "manual", "subject": "[UPDATE] Shop: 20 minutes behind", "to": [], "channels": []}),
        ),
        (
            LogKind::Feedback,
            json!({"via": "feedback link", "about": "daily 2026-12-02", "recipient": "sofia@shop.example"}),
        ),
        (
            LogKind::Action,
            json!({"action": 3, "status": "done", "owner": "bob", "due": "2026-12-02", "note": "fixed"}),
        ),
        (
            LogKind::Action,
            json!({"action": 3, "status": "open", "owner": "bob", "due": null}),
        ),
        (
            LogKind::Action,
            json!({"action": 3, "status": "done", "owner": "bob", "due": null, "note": null}),
        ),
        (
            LogKind::Action,
            json!({"action": 3, "event": "reminder", "day": "2026-12-02", "overdue": true}),
        ),
        (
            LogKind::Check,
            json!({"check": "api", "from": "healthy", "to": "failing", "reason": "HTTP 503", "severity": "critical"}),
        ),
        (
            LogKind::Check,
            json!({"dropped": 6, "first": "2026-12-01T20:00:00Z", "last": "2026-12-01T21:00:00Z"}),
        ),
        (
            LogKind::Alert,
            json!({"alert": 2, "event": "opened", "key": "check:api", "severity": "critical", "reason": "HTTP 503", "silenced_by": null}),
        ),
        (
            LogKind::Alert,
            json!({"alert": 2, "event": "opened", "level": 1, "told": ["bob"], "channels": ["email"]}),
        ),
        (
            LogKind::Alert,
            json!({"alert": 2, "event": "acknowledged", "via": "link", "seconds_to_ack": 270.0, "note": null}),
        ),
        (
            LogKind::Alert,
            json!({"event": "channel_up", "channel": "email", "down_since": "2026-12-01T20:00:00Z", "released": 4}),
        ),
        (
            LogKind::Runbook,
            json!({"step": "migrate", "action": "done", "from": "running", "to": "done", "forced": false,
                   "reason": null, "overridden": [], "verify": [{"check": "api", "health": "healthy"}]}),
        ),
        (
            LogKind::Runbook,
            json!({"step": "migrate", "event": "late", "late": "not_started", "level": 2}),
        ),
        (
            LogKind::Decision,
            json!({"event": "rollback_hook", "result": "started"}),
        ),
        (
            LogKind::Decision,
            json!({"event": "rollback", "automatic": false}),
        ),
    ]
}

#[test]
fn every_shape_the_engine_writes_reads_typed_and_is_stored_again_unchanged() {
    for (kind, stored) in stored_shapes() {
        let data = LogData::read(kind, stored.clone());
        assert!(
            !matches!(data, LogData::Unreadable(_) | LogData::None),
            "{kind} entry did not read: {stored}"
        );
        let again: serde_json::Value = serde_json::from_str(&data.to_stored().unwrap()).unwrap();
        assert_eq!(again, stored, "{kind} entry changed on the way through");
    }
}

#[test]
fn a_page_is_told_from_the_opening_of_its_alert_by_its_told_list() {
    let opening = LogData::read(
        LogKind::Alert,
        json!({"alert": 2, "event": "opened", "reason": "HTTP 503"}),
    );
    assert!(matches!(
        opening.alert(),
        Some(AlertLog::Event(AlertEvent::Opened { alert: 2, .. }))
    ));
    let page = LogData::read(
        LogKind::Alert,
        json!({"alert": 2, "event": "opened", "told": ["bob"]}),
    );
    let Some(AlertLog::Paged(paged)) = page.alert() else {
        panic!("not a page: {page:?}");
    };
    assert_eq!(
        (paged.event, paged.level, paged.alert),
        (PageKind::Opened, 1, 2)
    );
}

#[test]
fn an_older_entry_without_what_it_is_about_stays_as_stored_and_reads_as_no_details() {
    // A phase entry of a version that wrote only the new phase, under another name.
    let stored = json!({"phase": "hypercare"});
    let data = LogData::read(LogKind::Phase, stored.clone());
    assert_eq!(data, LogData::Unreadable(stored.clone()));
    assert_eq!(data.phase(), None);
    assert_eq!(serde_json::to_value(&data).unwrap(), stored);
}

#[test]
fn an_older_entry_missing_only_details_still_reads() {
    let data = LogData::read(
        LogKind::Phase,
        json!({"from": "verifying", "to": "hypercare"}),
    );
    let change = data
        .phase()
        .expect("reads without forced, reason and overridden");
    assert_eq!(
        (change.to, change.forced, change.reason.as_deref()),
        (Phase::Hypercare, false, None)
    );
}

#[test]
fn an_entry_without_details_is_stored_as_null() {
    assert_eq!(LogData::None.to_stored(), None);
    assert_eq!(
        LogData::read(LogKind::Note, serde_json::Value::Null),
        LogData::None
    );
}

#[test]
fn a_silence_is_logged_as_the_silence_itself_serializes() {
    let at = |second| Timestamp::from_second(second).unwrap();
    for window in [
        Window::Once {
            start: at(1_800_000_000),
            end: at(1_800_003_600),
        },
        Window::Recurring {
            days: vec![jiff::civil::Weekday::Monday, jiff::civil::Weekday::Sunday],
            from: jiff::civil::time(22, 0, 0, 0),
            to: jiff::civil::time(6, 0, 0, 0),
            timezone: jiff::tz::TimeZone::UTC,
        },
    ] {
        let silence = Silence {
            id: "maintenance".into(),
            checks: vec!["api".into()],
            severities: vec![Severity::Warning],
            window,
            author: "alice".into(),
            comment: "database upgrade".into(),
        };
        assert_eq!(
            serde_json::to_value(LoggedSilence::from(&silence)).unwrap(),
            serde_json::to_value(&silence).unwrap()
        );
    }
}
