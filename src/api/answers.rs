//! The engine's and the store's values as the API answers them: conversions into the shared
//! [`crate::wire`] types, so each handler returns a type the client reads back.

use serde::Serialize;

use crate::core;
use crate::engine;
use crate::wire;

/// The name an enum of the engine serializes to (`hypercare`, `failing`, `critical`): the one
/// spelling the API has always answered, taken from serde so it cannot drift.
pub(super) fn name(value: &impl Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

impl From<&core::lifecycle::Blocker> for wire::Blocker {
    fn from(blocker: &core::lifecycle::Blocker) -> Self {
        wire::Blocker {
            kind: blocker.kind.to_string(),
            id: blocker.id.clone(),
            message: blocker.message.clone(),
            owner: blocker.owner.clone(),
        }
    }
}

fn blockers(list: &[core::lifecycle::Blocker]) -> Vec<wire::Blocker> {
    list.iter().map(wire::Blocker::from).collect()
}

impl From<&core::lifecycle::Transition> for wire::Transition {
    fn from(transition: &core::lifecycle::Transition) -> Self {
        wire::Transition {
            from: name(&transition.from),
            to: name(&transition.to),
            at: transition.at,
            author: transition.author.clone(),
            reason: transition.reason.clone(),
            forced: transition.forced,
            overridden: blockers(&transition.overridden),
        }
    }
}

impl From<&engine::ConfirmOutcome> for wire::Confirmation {
    fn from(outcome: &engine::ConfirmOutcome) -> Self {
        wire::Confirmation {
            item: outcome.item.clone(),
            by: outcome.by.clone(),
            at: outcome.at,
            note: outcome.note.clone(),
            newly_confirmed: outcome.newly_confirmed,
        }
    }
}

impl From<&core::log::LogEntry> for wire::LogEntry {
    fn from(entry: &core::log::LogEntry) -> Self {
        wire::LogEntry {
            id: entry.id,
            at: entry.at,
            author: entry.author.clone(),
            kind: name(&entry.kind),
            text: entry.text.clone(),
            // The details as stored: their shape depends on `kind`, which the reader (the
            // CLI through `LogData::read`) knows.
            data: serde_json::to_value(&entry.data).unwrap_or_default(),
        }
    }
}

impl From<&core::actions::ActionItem> for wire::ActionItem {
    fn from(item: &core::actions::ActionItem) -> Self {
        wire::ActionItem {
            id: item.id,
            title: item.title.clone(),
            owner: item.owner.clone(),
            due: item.due,
            status: name(&item.status),
            created_at: item.created_at,
            created_by: item.created_by.clone(),
            updated_at: item.updated_at,
            overdue: None,
        }
    }
}

impl From<&engine::RecentResult> for wire::ProbeResult {
    fn from(result: &engine::RecentResult) -> Self {
        wire::ProbeResult {
            at: result.at,
            outcome: name(&result.outcome),
            reason: result.reason.clone(),
            latency_ms: result.latency_ms,
            value: result.value,
            warning: result.warning.clone(),
            cert_not_after: result.cert_not_after,
        }
    }
}

impl From<&engine::CheckView> for wire::CheckView {
    fn from(check: &engine::CheckView) -> Self {
        wire::CheckView {
            id: check.id.clone(),
            name: check.name.clone(),
            kind: check.kind.to_string(),
            severity: name(&check.severity),
            health: name(&check.health),
            since: check.since,
            gate: check.gate,
            active: check.active,
            interval_seconds: check.interval_seconds,
            threshold: check.threshold.clone(),
            risks: check.risks.clone(),
            last: check.last.as_ref().map(wire::ProbeResult::from),
        }
    }
}

impl From<&engine::CheckDetail> for wire::CheckDetail {
    fn from(detail: &engine::CheckDetail) -> Self {
        wire::CheckDetail {
            view: wire::CheckView::from(&detail.view),
            failure_threshold: detail.failure_threshold,
            success_threshold: detail.success_threshold,
            consecutive_failures: detail.consecutive_failures,
            consecutive_successes: detail.consecutive_successes,
            recent: detail.recent.iter().map(wire::ProbeResult::from).collect(),
        }
    }
}

impl From<&core::alert::Alert> for wire::Alert {
    fn from(alert: &core::alert::Alert) -> Self {
        wire::Alert {
            id: alert.id,
            key: alert.key.clone(),
            title: alert.title.clone(),
            severity: name(&alert.severity),
            policy: alert.policy.clone(),
            opened_at: alert.opened_at,
            reason: alert.reason.clone(),
            level: alert.level,
            escalation_base: alert.escalation_base,
            last_notified_at: alert.last_notified_at,
            acknowledged: alert
                .acknowledged
                .as_ref()
                .map(|ack| wire::Acknowledgement {
                    by: ack.by.clone(),
                    at: ack.at,
                    expires_at: ack.expires_at,
                }),
            resolved_at: alert.resolved_at,
            notified: alert.notified.clone(),
            max_level: alert.max_level,
            labels: alert.labels.clone(),
        }
    }
}

/// A weekday as silences name it (`mon`).
fn weekday(day: jiff::civil::Weekday) -> &'static str {
    const NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    NAMES[usize::from(day.to_monday_zero_offset().unsigned_abs())]
}

/// Alerts as the API lists them.
pub(super) fn alerts(list: &[core::alert::Alert]) -> Vec<wire::Alert> {
    list.iter().map(wire::Alert::from).collect()
}

impl From<&engine::AckOutcome> for wire::Acknowledgements {
    fn from(outcome: &engine::AckOutcome) -> Self {
        wire::Acknowledgements {
            acknowledged: alerts(&outcome.acknowledged),
            already_acknowledged: alerts(&outcome.already_acknowledged),
            not_open: outcome.not_open.clone(),
        }
    }
}

impl From<&core::alert::Silence> for wire::Silence {
    fn from(silence: &core::alert::Silence) -> Self {
        let window = match &silence.window {
            core::alert::Window::Once { start, end } => wire::SilenceWindow::Once {
                start: *start,
                end: *end,
            },
            core::alert::Window::Recurring { days, from, to, .. } => {
                wire::SilenceWindow::Recurring {
                    days: days.iter().map(|day| weekday(*day).to_string()).collect(),
                    from: *from,
                    to: *to,
                }
            }
        };
        wire::Silence {
            id: silence.id.clone(),
            checks: silence.checks.clone(),
            severities: silence.severities.iter().map(name).collect(),
            window,
            author: silence.author.clone(),
            comment: silence.comment.clone(),
            active: None,
        }
    }
}

impl From<&core::runbook::StepView> for wire::StepView<String> {
    fn from(view: &core::runbook::StepView) -> Self {
        let record = &view.record;
        wire::StepView {
            id: view.id.clone(),
            title: view.title.clone(),
            owner: view.owner.clone(),
            phase: name(&view.phase),
            planned: view.planned.clone(),
            planned_start: view.planned_start,
            planned_end: view.planned_end,
            duration_seconds: view.duration_seconds,
            depends_on: view.depends_on.clone(),
            rollback_point: view.rollback_point,
            verify: view.verify.clone(),
            record: wire::StepRecord {
                state: name(&record.state),
                started_at: record.started_at,
                started_by: record.started_by.clone(),
                finished_at: record.finished_at,
                finished_by: record.finished_by.clone(),
                reason: record.reason.clone(),
                forced: record.forced,
            },
            late_seconds: view.late_seconds,
            blocked_by: view.blocked_by.clone(),
        }
    }
}

impl From<&engine::StepOutcome> for wire::StepChanged {
    fn from(outcome: &engine::StepOutcome) -> Self {
        let change = &outcome.change;
        wire::StepChanged {
            change: wire::StepChange {
                step: change.step.clone(),
                action: name(&change.action),
                from: name(&change.from),
                to: name(&change.to),
                at: change.at,
                by: change.by.clone(),
                reason: change.reason.clone(),
                forced: change.forced,
                overridden: blockers(&change.overridden),
                run_id: change.run_id.clone(),
            },
            step: wire::StepView::from(&outcome.step),
            rollback: outcome
                .rollback
                .as_ref()
                .map(|advice| wire::RollbackAdvice {
                    after_rollback_point: advice.after_rollback_point.clone(),
                    procedure: advice.procedure.clone(),
                    sent_to: advice.sent_to.clone(),
                }),
            already_recorded: false,
            already_done: false,
        }
    }
}

impl From<&crate::store::reports::ReportRecord> for wire::ReportRecord {
    fn from(record: &crate::store::reports::ReportRecord) -> Self {
        wire::ReportRecord {
            id: record.id,
            kind: record.kind.clone(),
            day: record.day.clone(),
            trigger: record.trigger.clone(),
            recipients: record.recipients.clone(),
            message_id: record.message_id.clone(),
            sent_at: record.sent_at,
            late: record.late,
            outbox_id: record.outbox_id,
        }
    }
}

impl From<&crate::notify::dispatcher::ChannelTest> for wire::ChannelTest {
    fn from(test: &crate::notify::dispatcher::ChannelTest) -> Self {
        wire::ChannelTest {
            channel: test.channel.clone(),
            kind: test.kind.to_string(),
            result: test.result.to_string(),
            answer: test.answer.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    //! The API's answers kept their shape when they became wire types: each conversion
    //! serializes exactly as the engine's own value did.

    use jiff::Timestamp;
    use serde_json::to_value;

    use super::*;
    use crate::plan::checks::Severity;

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + second).unwrap()
    }

    #[test]
    fn an_alert_answers_every_field_as_before() {
        let mut alert = core::alert::Alert::open(
            7,
            "check:web".to_string(),
            "Web".to_string(),
            Severity::Critical,
            Some("default".to_string()),
            "HTTP 500".to_string(),
            at(0),
        );
        alert.level = 2;
        alert.acknowledged = Some(core::alert::Acknowledgement {
            by: "Bob Berg".to_string(),
            at: at(60),
            expires_at: Some(at(3600)),
        });
        alert.notified.insert("bob".to_string());
        alert.labels.insert("team".to_string(), "shop".to_string());
        assert_eq!(
            to_value(wire::Alert::from(&alert)).unwrap(),
            to_value(&alert).unwrap()
        );
    }

    #[test]
    fn silences_and_their_windows_answer_as_before() {
        let recurring = core::alert::Silence {
            id: "nightly".to_string(),
            checks: vec!["web".to_string()],
            severities: vec![Severity::Warning],
            window: core::alert::Window::Recurring {
                days: vec![jiff::civil::Weekday::Monday, jiff::civil::Weekday::Sunday],
                from: jiff::civil::time(22, 0, 0, 0),
                to: jiff::civil::time(6, 0, 0, 0),
                timezone: jiff::tz::TimeZone::UTC,
            },
            author: "ops".to_string(),
            comment: "batch jobs".to_string(),
        };
        let once = core::alert::Silence {
            window: core::alert::Window::Once {
                start: at(0),
                end: at(600),
            },
            ..recurring.clone()
        };
        for silence in [recurring, once] {
            assert_eq!(
                to_value(wire::Silence::from(&silence)).unwrap(),
                to_value(&silence).unwrap()
            );
        }
    }

    #[test]
    fn action_items_transitions_and_log_entries_answer_as_before() {
        let item = core::actions::ActionItem {
            id: 3,
            title: "Fix the cart".to_string(),
            owner: "jonas".to_string(),
            due: Some(jiff::civil::date(2026, 12, 2)),
            status: core::actions::ActionStatus::Open,
            created_at: at(0),
            created_by: "maria".to_string(),
            updated_at: at(5),
        };
        assert_eq!(
            to_value(wire::ActionItem::from(&item)).unwrap(),
            to_value(&item).unwrap()
        );
        let transition = core::lifecycle::Transition {
            from: crate::domain::Phase::GoNoGo,
            to: crate::domain::Phase::Deploying,
            at: at(9),
            author: "maria".to_string(),
            reason: Some("sign-off by phone".to_string()),
            forced: true,
            overridden: vec![core::lifecycle::Blocker {
                kind: "checklist".into(),
                id: "backup".to_string(),
                message: "not confirmed".to_string(),
                owner: Some("bob".to_string()),
            }],
        };
        assert_eq!(
            to_value(wire::Transition::from(&transition)).unwrap(),
            to_value(&transition).unwrap()
        );
        let entry = core::log::LogEntry {
            id: 12,
            at: at(1),
            author: "golive".to_string(),
            kind: core::log::LogKind::Decision,
            text: "Go".to_string(),
            data: core::log::LogData::Decision(core::log::data::DecisionEvent::Rollback {
                automatic: true,
            }),
        };
        assert_eq!(
            to_value(wire::LogEntry::from(&entry)).unwrap(),
            to_value(&entry).unwrap()
        );
    }
}
