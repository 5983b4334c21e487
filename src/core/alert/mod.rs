//! Alerts and their escalation: when an alert opens, which level is due when, what an
//! acknowledgement stops, when it lapses, when a silence holds notifications back. Pure: the
//! engine applies these decisions, records them with their outbox rows in one transaction, and
//! sleeps until the next due time.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::plan::alerting::{EscalationPolicy, PlanSilence, SilenceWindow};
use crate::plan::checks::Severity;

/// An alert: one per failing check (or external alert, or golive's own trouble) at a time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub id: i64,
    /// What it is about: `check:<id>`, `alertmanager:<fingerprint>` or `golive:<topic>`.
    pub key: String,
    /// A readable name (the check's name, the alert name).
    pub title: String,
    pub severity: Severity,
    /// The escalation policy it follows (none: recorded and shown, nobody notified).
    pub policy: Option<String>,
    pub opened_at: Timestamp,
    /// The latest reason (what failed and why).
    pub reason: String,
    /// How many levels have been notified (0: none yet).
    pub level: usize,
    /// When escalation delays count from: the opening, moved when a lapsed acknowledgement
    /// re-opens the alert so later levels keep their spacing.
    pub escalation_base: Timestamp,
    /// When the last level was last notified (for repeats).
    pub last_notified_at: Option<Timestamp>,
    pub acknowledged: Option<Acknowledgement>,
    pub resolved_at: Option<Timestamp>,
    /// Everyone told so far (person ids and plain addresses), for the resolution notice.
    pub notified: BTreeSet<String>,
    /// The highest level notified at any time (for reports).
    pub max_level: usize,
    /// The labels of an alert from Alertmanager (empty for golive's own): what tells it from
    /// others of its name, and what the plan's `[[risks]] alertmanager` matchers match.
    pub labels: BTreeMap<String, String>,
}

/// Who took an alert and when; it lapses at `expires_at` if the alert is still open.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Acknowledgement {
    pub by: String,
    pub at: Timestamp,
    pub expires_at: Option<Timestamp>,
}

impl Alert {
    /// A new alert, not yet notified.
    pub fn open(
        id: i64,
        key: String,
        title: String,
        severity: Severity,
        policy: Option<String>,
        reason: String,
        now: Timestamp,
    ) -> Alert {
        Alert {
            id,
            key,
            title,
            severity,
            policy,
            opened_at: now,
            reason,
            level: 0,
            escalation_base: now,
            last_notified_at: None,
            acknowledged: None,
            resolved_at: None,
            notified: BTreeSet::new(),
            max_level: 0,
            labels: BTreeMap::new(),
        }
    }

    /// The same alert, carrying `labels` (an alert from Alertmanager).
    pub fn with_labels(self, labels: BTreeMap<String, String>) -> Alert {
        Alert { labels, ..self }
    }

    pub fn is_open(&self) -> bool {
        self.resolved_at.is_none()
    }

    /// Whether an acknowledgement currently stops escalation.
    pub fn is_acknowledged(&self, now: Timestamp) -> bool {
        self.acknowledged
            .as_ref()
            .is_some_and(|ack| ack.expires_at.is_none_or(|expires| now < expires))
    }

    /// The check id, for alerts about a check.
    pub fn check_id(&self) -> Option<&str> {
        self.key.strip_prefix("check:")
    }
}

/// What is due for an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Notify level `level` (0-based) for the first time.
    Level { level: usize, at: Timestamp },
    /// Notify the last level again.
    Repeat { level: usize, at: Timestamp },
    /// The acknowledgement lapsed while the alert is still open: re-open at the current level.
    AckLapsed { at: Timestamp },
}

impl Step {
    pub fn at(self) -> Timestamp {
        match self {
            Step::Level { at, .. } | Step::Repeat { at, .. } | Step::AckLapsed { at } => at,
        }
    }
}

fn after(base: Timestamp, delay: std::time::Duration) -> Timestamp {
    SignedDuration::try_from(delay)
        .ok()
        .and_then(|delay| base.checked_add(delay).ok())
        .unwrap_or(Timestamp::MAX)
}

/// The next step of an open alert under its policy, whenever it is due (it may be in the past:
/// a level that fell due while the daemon was down is due at once). `None` when nothing will
/// happen by itself (resolved, no policy, or acknowledged without a timeout).
pub fn next_step(alert: &Alert, policy: Option<&EscalationPolicy>) -> Option<Step> {
    if !alert.is_open() {
        return None;
    }
    let policy = policy?;
    if policy.levels.is_empty() {
        return None;
    }
    if let Some(ack) = &alert.acknowledged {
        return ack.expires_at.map(|at| Step::AckLapsed { at });
    }
    if alert.level < policy.levels.len() {
        let level = alert.level;
        return Some(Step::Level {
            level,
            at: after(alert.escalation_base, policy.levels[level].after),
        });
    }
    let last = policy.levels.len() - 1;
    let since = alert.last_notified_at.unwrap_or(alert.escalation_base);
    Some(Step::Repeat {
        level: last,
        at: after(since, policy.repeat),
    })
}

/// Records that `step` was carried out at `now` (its notifications written): advances the level,
/// remembers the time, or clears a lapsed acknowledgement and re-opens at the current level.
pub fn apply_step(alert: &mut Alert, policy: &EscalationPolicy, step: Step, now: Timestamp) {
    match step {
        Step::Level { level, .. } => {
            alert.level = level + 1;
            alert.max_level = alert.max_level.max(alert.level);
            alert.last_notified_at = Some(now);
        }
        Step::Repeat { .. } => alert.last_notified_at = Some(now),
        Step::AckLapsed { .. } => {
            alert.acknowledged = None;
            // The lapse notifies the current level; an alert acknowledged before any level went out
            // counts level 1 as notified now, so it is not sent twice.
            alert.level = alert.level.max(1);
            alert.max_level = alert.max_level.max(alert.level);
            // The current level is notified again now; the next one keeps its spacing.
            let current = alert
                .level
                .saturating_sub(1)
                .min(policy.levels.len().saturating_sub(1));
            let delay = SignedDuration::try_from(policy.levels[current].after).unwrap_or_default();
            alert.escalation_base = now.checked_sub(delay).unwrap_or(now);
            alert.last_notified_at = Some(now);
        }
    }
}

/// Acknowledges an alert. `Err` with a reason when it cannot be (already resolved); `Ok(false)`
/// when it was already acknowledged (the first acknowledgement stands).
pub fn acknowledge(
    alert: &mut Alert,
    policy: Option<&EscalationPolicy>,
    by: &str,
    now: Timestamp,
) -> Result<bool, String> {
    if !alert.is_open() {
        return Err(format!("alert #{} is already resolved", alert.id));
    }
    if alert.is_acknowledged(now) {
        return Ok(false);
    }
    let expires_at = policy
        .and_then(|policy| policy.ack_timeout)
        .map(|timeout| after(now, timeout));
    alert.acknowledged = Some(Acknowledgement {
        by: by.to_string(),
        at: now,
        expires_at,
    });
    Ok(true)
}

/// A silence as the engine sees it: from the plan or created at run time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Silence {
    pub id: String,
    /// Check ids (all when empty).
    pub checks: Vec<String>,
    /// Severities (all when empty).
    pub severities: Vec<Severity>,
    pub window: Window,
    pub author: String,
    pub comment: String,
}

/// When a silence holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Window {
    Once {
        start: Timestamp,
        end: Timestamp,
    },
    /// Every listed weekday from `from` to `to` local time (crossing midnight when `to < from`).
    Recurring {
        #[serde(serialize_with = "weekday_names")]
        days: Vec<jiff::civil::Weekday>,
        from: jiff::civil::Time,
        to: jiff::civil::Time,
        #[serde(skip)]
        timezone: jiff::tz::TimeZone,
    },
}

fn weekday_names<S: serde::Serializer>(
    days: &[jiff::civil::Weekday],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = serializer.serialize_seq(Some(days.len()))?;
    for day in days {
        seq.serialize_element(weekday_name(*day))?;
    }
    seq.end()
}

/// A weekday as the plan writes it (`mon` ... `sun`).
pub fn weekday_name(day: jiff::civil::Weekday) -> &'static str {
    match day {
        jiff::civil::Weekday::Monday => "mon",
        jiff::civil::Weekday::Tuesday => "tue",
        jiff::civil::Weekday::Wednesday => "wed",
        jiff::civil::Weekday::Thursday => "thu",
        jiff::civil::Weekday::Friday => "fri",
        jiff::civil::Weekday::Saturday => "sat",
        jiff::civil::Weekday::Sunday => "sun",
    }
}

impl Silence {
    /// A plan silence, in the launch's time zone.
    pub fn from_plan(silence: &PlanSilence, timezone: &jiff::tz::TimeZone) -> Silence {
        Silence {
            id: silence.id.clone(),
            checks: silence.checks.clone(),
            severities: silence.severities.clone(),
            window: match &silence.window {
                SilenceWindow::Once { start, end } => Window::Once {
                    start: *start,
                    end: *end,
                },
                SilenceWindow::Recurring { days, from, to } => Window::Recurring {
                    days: days.clone(),
                    from: *from,
                    to: *to,
                    timezone: timezone.clone(),
                },
            },
            author: "plan".to_string(),
            comment: silence.comment.clone(),
        }
    }

    /// Whether the silence covers an alert about `check` with `severity`.
    pub fn matches(&self, check: Option<&str>, severity: Severity) -> bool {
        let check_ok = self.checks.is_empty()
            || check.is_some_and(|check| self.checks.iter().any(|id| id == check));
        let severity_ok = self.severities.is_empty() || self.severities.contains(&severity);
        check_ok && severity_ok
    }

    /// Whether the silence holds at `now`.
    pub fn active(&self, now: Timestamp) -> bool {
        self.active_until(now).is_some()
    }

    /// When the silence currently holding at `now` ends; `None` when it does not hold.
    pub fn active_until(&self, now: Timestamp) -> Option<Timestamp> {
        match &self.window {
            Window::Once { start, end } => (*start <= now && now < *end).then_some(*end),
            Window::Recurring {
                days,
                from,
                to,
                timezone,
            } => {
                let local = now.to_zoned_datetime(timezone.clone());
                let time = local.time();
                let today = local.date();
                let day_ok =
                    |date: jiff::civil::Date| days.is_empty() || days.contains(&date.weekday());
                let end_on = |date: jiff::civil::Date| {
                    date.to_datetime(*to)
                        .to_zoned_datetime(timezone.clone())
                        .ok()
                        .map(|zoned| zoned.timestamp())
                };
                if from < to {
                    if day_ok(today) && *from <= time && time < *to {
                        return end_on(today);
                    }
                    None
                } else {
                    // Crosses midnight: started today (after `from`) or yesterday (before `to`).
                    if day_ok(today) && time >= *from {
                        return today.tomorrow().ok().and_then(end_on);
                    }
                    let yesterday = today.yesterday().ok()?;
                    if day_ok(yesterday) && time < *to {
                        return end_on(today);
                    }
                    None
                }
            }
        }
    }
}

/// The silences covering an alert at `now`, if any, with the latest end among them.
pub fn silenced_until<'a>(
    silences: impl IntoIterator<Item = &'a Silence>,
    check: Option<&str>,
    severity: Severity,
    now: Timestamp,
) -> Option<(Timestamp, &'a Silence)> {
    silences
        .into_iter()
        .filter(|silence| silence.matches(check, severity))
        .filter_map(|silence| silence.active_until(now).map(|end| (end, silence)))
        .max_by_key(|(end, _)| *end)
}

#[cfg(test)]
mod tests;

/// Whether the plan's rollback criteria hold for `alert` in `phase`: a procedure exists and a
/// criterion matches the alert's severity, the phase and (when it names checks) the alert's check.
/// The engine sends the recommendation from this; the status page shows it on the alert.
pub fn rollback_recommended(
    rollback: &crate::plan::Rollback,
    phase: crate::domain::Phase,
    alert: &Alert,
) -> bool {
    !rollback.procedure.is_empty()
        && rollback.criteria.iter().any(|criterion| {
            alert.severity >= criterion.severity
                && criterion.phases.contains(&phase)
                && (criterion.checks.is_empty()
                    || alert
                        .check_id()
                        .is_some_and(|id| criterion.checks.iter().any(|c| c == id)))
        })
}
