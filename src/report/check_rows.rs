//! What reports say about checks: the history read for a period (minutes and merged hours), each
//! check's row (how much of the period it was probed, how long it failed by its thresholds,
//! availability over the probed time against its objective with the error budget left, latency
//! percentiles, metric values against the threshold, the change from the period before), the
//! availability cells and latency bars of the charts, and which checks a large plan's report lists.
//! Pure: every figure is a function of its inputs.
//!
//! Availability is judged from the time a check *failed by its thresholds* (its health was
//! `failing`, from the log's health changes), not from single failed probes: a flap that never
//! turned the check failing costs no availability. It is taken over the time the check was
//! probed, and an objective is judged only when at least half the period was probed, or when the
//! failing time alone already exceeds the error budget of the whole period.

use jiff::Timestamp;
use serde::Serialize;

use super::format::{self, colors};
use super::value;
use crate::core::health::Health;
use crate::core::log::data::CheckEvent;
use crate::core::log::{LogEntry, LogKind};
use crate::core::rollup::{LatencyHistogram, Rollup};
use crate::plan::Plan;
use crate::plan::checks::Check;

/// The Unix minute an instant falls in.
pub fn minute_of(at: Timestamp) -> i64 {
    at.as_second().div_euclid(60)
}

/// One check's stored minutes, oldest first.
#[derive(Debug, Clone, Default)]
pub struct CheckHistory {
    pub minutes: Vec<(i64, Rollup)>,
    /// The minutes `[from, to)` whose rows are merged hours (keyed by their first minute).
    pub hourly: (i64, i64),
}

impl CheckHistory {
    /// Seconds of the minutes `[from, to)` with probe results: each row counts its known probes
    /// times the probe interval, at most the time the row spans (a minute, or a merged hour).
    pub fn covered_secs(&self, from: i64, to: i64, interval_secs: i64) -> i64 {
        self.range(from, to)
            .iter()
            .map(|(minute, rollup)| {
                let spans = if (self.hourly.0..self.hourly.1).contains(minute) {
                    3_600
                } else {
                    60
                };
                let known = i64::from(rollup.probes.saturating_sub(rollup.unknowns));
                (known * interval_secs.max(1)).min(spans)
            })
            .sum()
    }

    /// The minutes in `[from, to)` merged into one rollup.
    pub fn merged(&self, from: i64, to: i64) -> Rollup {
        let mut total = Rollup::default();
        for (_, rollup) in self.range(from, to) {
            total.merge(rollup);
        }
        total
    }

    /// The minutes in `[from, to)`.
    pub fn range(&self, from: i64, to: i64) -> &[(i64, Rollup)] {
        let start = self.minutes.partition_point(|(minute, _)| *minute < from);
        let end = self.minutes.partition_point(|(minute, _)| *minute < to);
        &self.minutes[start..end.max(start)]
    }
}

/// One chart cell: its colour and what it says when hovered (and in the text part).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Cell {
    pub color: &'static str,
    pub label: String,
    /// One character for the text part: `#` good, `+` below objective, `!` bad, `.` no data.
    pub mark: char,
}

/// Metric values over the period against the check's threshold, formatted as the alert messages
/// format them ([`value`]): `1%`, `850 ms`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ValuesRow {
    pub min: String,
    pub avg: String,
    pub max: String,
    /// When the check fails, in words: `fails above 5 %`.
    pub threshold: String,
    /// Whether the worst value breached the threshold.
    pub breached: bool,
    pub previous_avg: Option<String>,
}

/// One check's row.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CheckRow {
    pub id: String,
    pub name: String,
    pub kind: &'static str,
    pub probes: u32,
    /// How much of the period had probe results: `3 min 05 s of 24 h`.
    pub coverage: String,
    #[serde(skip)]
    pub covered_secs: i64,
    /// How long the check failed by its thresholds in the period: `0 s`, `9 s`, `1 h 05 min`.
    pub failing: String,
    #[serde(skip)]
    pub failing_secs: i64,
    /// Availability over the probed time (the time not failing by the thresholds): `99.95 %`,
    /// or `–` without probe results.
    pub availability: String,
    /// The same as a fraction (for ordering), `None` without probe results.
    #[serde(skip)]
    pub availability_value: Option<f64>,
    /// The share of single probes that passed: `81.81 %` for a flap that never failed the check.
    pub probes_passed: String,
    /// Some probes failed without the check failing by its thresholds (a flap).
    pub flapped: bool,
    pub objective: Option<String>,
    /// Whether the objective is met (`None` without an objective, or when it cannot be judged).
    pub met: Option<bool>,
    /// `met`, `missed`, `not judged, probed 3 min 05 s of 24 h`, `no data`.
    pub verdict: Option<String>,
    /// `62 % left`, `exhausted`.
    pub budget: Option<String>,
    pub p50: String,
    pub p95: String,
    pub p99: String,
    pub values: Option<ValuesRow>,
    /// Compared with the previous period: availability change and p95 change.
    pub availability_change: Option<String>,
    pub p95_change: Option<String>,
    /// Availability per slot of the period (hours of a day, days of a launch).
    pub cells: Vec<Cell>,
    pub strip: String,
}

/// The availability objective of a check as a fraction, from the plan's percent.
pub fn objective_of(plan: &Plan, check: &str) -> Option<f64> {
    plan.reports
        .as_ref()
        .and_then(|reports| reports.objectives.get(check))
        .map(|percent| percent / 100.0)
}

fn quantile(histogram: &LatencyHistogram, q: f64) -> String {
    histogram
        .quantile(q)
        .map_or_else(|| "–".to_string(), crate::human::latency)
}

/// The times (Unix seconds, `[from, to)`) a check failed by its thresholds, from the log's
/// health changes: from each change to `failing` to the next change away from it (still failing:
/// open-ended).
pub fn failing_spans(log: &[LogEntry], check: &str) -> Vec<(i64, i64)> {
    let mut spans = Vec::new();
    let mut since: Option<i64> = None;
    let changes = log
        .iter()
        .filter(|entry| entry.kind == LogKind::Check)
        .filter_map(|entry| match entry.data.check() {
            Some(CheckEvent::HealthChanged(change)) if change.check == check => {
                Some((entry, change))
            }
            _ => None,
        });
    for (entry, change) in changes {
        let failing = change.to == Health::Failing;
        let at = entry.at.as_second();
        match (since, failing) {
            (None, true) => since = Some(at),
            (Some(start), false) => {
                spans.push((start, at));
                since = None;
            }
            _ => {}
        }
    }
    if let Some(start) = since {
        spans.push((start, i64::MAX));
    }
    spans
}

/// Seconds of `[from, to)` (Unix seconds) inside `spans`.
pub fn failing_secs(spans: &[(i64, i64)], from: i64, to: i64) -> i64 {
    spans
        .iter()
        .map(|&(start, end)| (end.min(to) - start.max(from)).max(0))
        .sum()
}

/// The longest probe interval of a check (its phases may probe faster): a probe result stands
/// for at most this long.
fn longest_interval_secs(check: &Check) -> i64 {
    let longest = check
        .intervals
        .values()
        .copied()
        .fold(check.interval, std::cmp::max);
    i64::try_from(longest.as_secs()).unwrap_or(i64::MAX).max(1)
}

/// A check over one period: probed time, failing time and availability over the probed time.
struct Judged {
    covered: i64,
    failing: i64,
    availability: Option<f64>,
}

fn judge(
    check: &Check,
    history: &CheckHistory,
    failing: &[(i64, i64)],
    (from, to): (i64, i64),
) -> Judged {
    let covered = history.covered_secs(from, to, longest_interval_secs(check));
    let failing = failing_secs(failing, from * 60, to * 60);
    let availability =
        (covered > 0).then(|| (covered - failing.min(covered)) as f64 / covered as f64);
    Judged {
        covered,
        failing,
        availability,
    }
}

/// A check's row for the period `[from, to)` (Unix minutes), compared with `previous` when given,
/// with availability cells of `slot` minutes; `failing` are the times it failed by its
/// thresholds ([`failing_spans`]).
pub fn check_row(
    check: &Check,
    objective: Option<f64>,
    history: &CheckHistory,
    failing: &[(i64, i64)],
    period: (i64, i64),
    previous: Option<(i64, i64)>,
    slot: i64,
) -> CheckRow {
    let current = history.merged(period.0, period.1);
    let before = previous.map(|(from, to)| history.merged(from, to));
    let now = judge(check, history, failing, period);
    let period_secs = (period.1 - period.0).max(1) * 60;
    let availability = now.availability;
    // Judged over the probed time when at least half the period was probed; the failing time
    // alone exceeding the budget of the whole period is a miss however little was probed.
    let judged_over = |goal: f64| -> Option<f64> {
        let whole_budget = (1.0 - goal) * period_secs as f64;
        if now.failing as f64 > whole_budget {
            Some(period_secs as f64)
        } else if now.covered > 0 && now.covered * 2 >= period_secs {
            Some(now.covered as f64)
        } else {
            None
        }
    };
    let met = objective.and_then(|goal| {
        let base = judged_over(goal)?;
        Some((base - now.failing as f64) / base >= goal)
    });
    let verdict = objective.map(|_| match (met, now.covered) {
        (Some(true), _) => "met".to_string(),
        (Some(false), _) => "missed".to_string(),
        (None, 0) => "no data".to_string(),
        (None, covered) => format!(
            "not judged, probed {}",
            format::coverage(covered, period_secs)
        ),
    });
    let budget = objective.and_then(|goal| {
        let base = judged_over(goal)?;
        let allowed = (1.0 - goal) * base;
        let used = now.failing as f64;
        Some(if allowed <= 0.0 {
            if used > 0.0 {
                "exhausted"
            } else {
                "100 % left"
            }
            .to_string()
        } else if used >= allowed {
            "exhausted".to_string()
        } else {
            format!("{:.0} % left", ((1.0 - used / allowed) * 100.0).floor())
        })
    });
    let values = check.threshold().and_then(|threshold| {
        let stats = current.values;
        let mean = stats.mean()?;
        let unit = value::value_unit(check);
        let shown = |number: f64| value::with_unit(number, unit);
        Some(ValuesRow {
            min: shown(stats.min),
            avg: shown(mean),
            max: shown(stats.max),
            threshold: value::fails_when(threshold, unit),
            breached: threshold.breached(stats.max) || threshold.breached(stats.min),
            previous_avg: before
                .as_ref()
                .and_then(|before| before.values.mean())
                .map(shown),
        })
    });
    let availability_change = previous
        .and_then(|previous| judge(check, history, failing, previous).availability)
        .zip(availability)
        .map(|(was, is)| format::points(is - was));
    let p95_change = before.as_ref().and_then(|before| {
        let was = before.latency.quantile(0.95)?;
        let is = current.latency.quantile(0.95)?;
        format::relative(is, was)
    });
    let probes_passed = current.availability();
    let cells = availability_cells(history, failing, period, slot);
    CheckRow {
        id: check.id.clone(),
        name: check.name.clone(),
        kind: check.kind_name(),
        probes: current.probes,
        coverage: format::coverage(now.covered, period_secs),
        covered_secs: now.covered,
        failing: crate::human::duration(jiff::SignedDuration::from_secs(now.failing)),
        failing_secs: now.failing,
        availability: availability.map_or_else(|| "–".to_string(), format::percent),
        availability_value: availability,
        probes_passed: probes_passed.map_or_else(|| "–".to_string(), format::percent),
        flapped: now.failing == 0 && probes_passed.is_some_and(|passed| passed < 1.0),
        objective: objective.map(format::percent),
        met,
        verdict,
        budget,
        p50: quantile(&current.latency, 0.50),
        p95: quantile(&current.latency, 0.95),
        p99: quantile(&current.latency, 0.99),
        values,
        availability_change,
        p95_change,
        strip: cells.iter().map(|cell| cell.mark).collect(),
        cells,
    }
}

/// One cell per slot of `slot` minutes: red when the check failed by its thresholds in it,
/// yellow when single probes failed but the check did not (a flap), green when every probe
/// passed, grey without data.
pub fn availability_cells(
    history: &CheckHistory,
    failing: &[(i64, i64)],
    period: (i64, i64),
    slot: i64,
) -> Vec<Cell> {
    let mut cells = Vec::new();
    let mut start = period.0;
    while start < period.1 {
        let end = (start + slot).min(period.1);
        let rollup = history.merged(start, end);
        let failed_for = failing_secs(failing, start * 60, end * 60);
        cells.push(match rollup.availability() {
            None if failed_for == 0 => Cell {
                color: colors::NONE,
                label: "no data".into(),
                mark: '.',
            },
            _ if failed_for > 0 => Cell {
                color: colors::BAD,
                label: format!(
                    "failing for {}",
                    crate::human::duration(jiff::SignedDuration::from_secs(failed_for))
                ),
                mark: '!',
            },
            Some(passed) if passed < 1.0 => Cell {
                color: colors::WARN,
                label: format!(
                    "{} of probes passed, never failing",
                    format::percent(passed)
                ),
                mark: '+',
            },
            _ => Cell {
                color: colors::GOOD,
                label: "every probe passed".into(),
                mark: '#',
            },
        });
        start = end;
    }
    cells
}

/// One bar of the latency chart.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Bar {
    pub label: String,
    pub value: String,
    /// Width in percent of the longest bar (0..=100).
    pub width: u32,
    /// The same bar in characters for the text part.
    pub text: String,
}

/// p95 latency of all checks together per slot of `slot` minutes, as bars.
pub fn latency_bars(
    histories: &[&CheckHistory],
    period: (i64, i64),
    slot: i64,
    label: impl Fn(i64) -> String,
) -> Vec<Bar> {
    let mut values = Vec::new();
    let mut start = period.0;
    while start < period.1 {
        let end = (start + slot).min(period.1);
        let mut merged = LatencyHistogram::default();
        for history in histories {
            for (_, rollup) in history.range(start, end) {
                merged.merge(&rollup.latency);
            }
        }
        values.push((label(start), merged.quantile(0.95)));
        start = end;
    }
    let longest = values
        .iter()
        .filter_map(|(_, value)| value.map(|value| value.as_secs_f64()))
        .fold(0.0, f64::max);
    // Slots without data in a row fold into one bar: `21:00–08:00 no data`.
    let mut bars: Vec<Bar> = Vec::new();
    let mut empty_run: Option<(String, String)> = None;
    let fold = |bars: &mut Vec<Bar>, run: Option<(String, String)>| {
        if let Some((first, last)) = run {
            bars.push(Bar {
                label: if first == last {
                    first
                } else {
                    format!("{first}–{last}")
                },
                value: "no data".to_string(),
                width: 0,
                text: String::new(),
            });
        }
    };
    for (label, value) in values {
        let Some(value) = value else {
            empty_run = Some(match empty_run.take() {
                Some((first, _)) => (first, label),
                None => (label.clone(), label),
            });
            continue;
        };
        fold(&mut bars, empty_run.take());
        let fraction = if longest > 0.0 {
            value.as_secs_f64() / longest
        } else {
            0.0
        };
        bars.push(Bar {
            label,
            value: crate::human::latency(value),
            width: (fraction * 100.0).round() as u32,
            text: "#".repeat((fraction * 30.0).round() as usize),
        });
    }
    fold(&mut bars, empty_run);
    bars
}

/// Up to this many checks a report lists every check; with more, only the checks that need
/// attention (worst availability first) are listed, so the email stays readable and small.
pub const LIST_ALL_UP_TO: usize = 50;
/// The most checks a report lists when it lists only those needing attention.
pub const LIST_AT_MOST: usize = 30;

/// The checks a report lists, and how many it leaves out because nothing happened to them.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Listed {
    /// Checks left out that had no failure, met their objective and breached no threshold.
    pub quiet: usize,
    /// Checks needing attention left out beyond [`LIST_AT_MOST`].
    pub more: usize,
}

/// Whether a check's row shows anything to look at.
fn needs_attention(row: &CheckRow) -> bool {
    row.met == Some(false)
        || row.failing_secs > 0
        || row.values.as_ref().is_some_and(|values| values.breached)
        || (row.probes_passed != "100 %" && row.probes_passed != "–")
}

/// Keeps every row for a small plan; for a large one, the rows needing attention, worst
/// availability first, at most [`LIST_AT_MOST`].
pub fn focus(
    rows: Vec<CheckRow>,
    availability: impl Fn(&CheckRow) -> f64,
) -> (Vec<CheckRow>, Listed) {
    if rows.len() <= LIST_ALL_UP_TO {
        return (rows, Listed::default());
    }
    let total = rows.len();
    let mut attention: Vec<CheckRow> = rows.into_iter().filter(needs_attention).collect();
    let quiet = total - attention.len();
    attention.sort_by(|a, b| availability(a).total_cmp(&availability(b)));
    let more = attention.len().saturating_sub(LIST_AT_MOST);
    attention.truncate(LIST_AT_MOST);
    (attention, Listed { quiet, more })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, availability: Option<f64>) -> CheckRow {
        CheckRow {
            id: id.into(),
            name: id.into(),
            kind: "http",
            probes: 10,
            coverage: String::new(),
            covered_secs: 0,
            failing: "0 s".into(),
            failing_secs: 0,
            availability: availability.map_or_else(|| "–".to_string(), format::percent),
            availability_value: availability,
            probes_passed: availability.map_or_else(|| "–".to_string(), format::percent),
            flapped: false,
            objective: None,
            met: None,
            verdict: None,
            budget: None,
            p50: "–".into(),
            p95: "–".into(),
            p99: "–".into(),
            values: None,
            availability_change: None,
            p95_change: None,
            cells: Vec::new(),
            strip: String::new(),
        }
    }

    #[test]
    fn hours_without_data_fold_into_one_bar() {
        let mut history = CheckHistory::default();
        let mut rollup = Rollup::default();
        rollup.record(&crate::core::health::ProbeResult::new(
            crate::core::health::Outcome::Healthy,
            "",
            std::time::Duration::from_millis(20),
        ));
        history.minutes = vec![(0, rollup.clone()), (300, rollup)];
        let bars = latency_bars(&[&history], (0, 360), 60, |minute| {
            format!("{:02}:00", minute / 60)
        });
        let labels: Vec<(&str, &str)> = bars
            .iter()
            .map(|bar| (bar.label.as_str(), bar.value.as_str()))
            .collect();
        assert_eq!(
            labels,
            [
                ("00:00", "21 ms"),
                ("01:00–04:00", "no data"),
                ("05:00", "21 ms")
            ]
        );
    }

    #[test]
    fn large_plans_list_the_checks_needing_attention_worst_first() {
        let small: Vec<CheckRow> = (0..LIST_ALL_UP_TO)
            .map(|i| row(&format!("c{i}"), Some(1.0)))
            .collect();
        let (listed, left_out) = focus(small, |row| row.availability_value.unwrap_or(1.0));
        assert_eq!((listed.len(), left_out.quiet), (LIST_ALL_UP_TO, 0));

        let mut large: Vec<CheckRow> = (0..500).map(|i| row(&format!("c{i}"), Some(1.0))).collect();
        large[7] = row("bad", Some(0.9));
        large[9] = row("worse", Some(0.5));
        large[11] = row("silent", None);
        let (listed, left_out) = focus(large, |row| row.availability_value.unwrap_or(1.0));
        let ids: Vec<&str> = listed.iter().map(|row| row.id.as_str()).collect();
        assert_eq!(ids, vec!["worse", "bad"]);
        assert_eq!((left_out.quiet, left_out.more), (498, 0));
    }
}
