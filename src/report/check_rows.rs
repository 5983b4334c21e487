//! What reports say about checks: the history read for a period (minutes and merged hours), each
//! check's row (availability against its objective with the error budget left, latency
//! percentiles, metric values against the threshold, the change from the period before), the
//! availability cells and latency bars of the charts, and which checks a large plan's report lists.
//! Pure: every figure is a function of its inputs.

use jiff::Timestamp;
use serde::Serialize;

use super::format::{self, colors};
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
}

impl CheckHistory {
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

/// Metric values over the period against the check's threshold.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ValuesRow {
    pub min: String,
    pub avg: String,
    pub max: String,
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
    /// `99.95 %`, or `–` without a known result.
    pub availability: String,
    /// The same as a fraction (for ordering), `None` without a known result.
    #[serde(skip)]
    pub availability_value: Option<f64>,
    pub objective: Option<String>,
    /// Whether the objective is met (`None` without an objective or data).
    pub met: Option<bool>,
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
        .map_or_else(|| "–".to_string(), format::latency)
}

/// A check's row for the period `[from, to)` (Unix minutes), compared with `previous` when given,
/// with availability cells of `slot` minutes.
pub fn check_row(
    check: &Check,
    objective: Option<f64>,
    history: &CheckHistory,
    period: (i64, i64),
    previous: Option<(i64, i64)>,
    slot: i64,
) -> CheckRow {
    let current = history.merged(period.0, period.1);
    let before = previous.map(|(from, to)| history.merged(from, to));
    let availability = current.availability();
    let met = objective
        .zip(availability)
        .map(|(goal, actual)| actual >= goal);
    let budget = objective.and_then(|goal| {
        let known = current.probes.saturating_sub(current.unknowns);
        if known == 0 {
            return None;
        }
        let allowed = (1.0 - goal) * f64::from(known);
        let used = f64::from(current.failures.min(known));
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
        Some(ValuesRow {
            min: format::value(stats.min),
            avg: format::value(mean),
            max: format::value(stats.max),
            threshold: threshold.to_string(),
            breached: threshold.breached(stats.max) || threshold.breached(stats.min),
            previous_avg: before
                .as_ref()
                .and_then(|before| before.values.mean())
                .map(format::value),
        })
    });
    let availability_change = before
        .as_ref()
        .and_then(Rollup::availability)
        .zip(availability)
        .map(|(was, is)| format::points(is - was));
    let p95_change = before.as_ref().and_then(|before| {
        let was = before.latency.quantile(0.95)?;
        let is = current.latency.quantile(0.95)?;
        format::relative(is, was)
    });
    let cells = availability_cells(history, period, slot, objective);
    CheckRow {
        id: check.id.clone(),
        name: check.name.clone(),
        kind: check.kind_name(),
        probes: current.probes,
        availability: availability.map_or_else(|| "–".to_string(), format::percent),
        availability_value: availability,
        objective: objective.map(format::percent),
        met,
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

/// Availability per slot of `slot` minutes: green when every probe passed (or the objective
/// held), amber below the objective but above 99 % of it, red below, grey without data.
pub fn availability_cells(
    history: &CheckHistory,
    period: (i64, i64),
    slot: i64,
    objective: Option<f64>,
) -> Vec<Cell> {
    let mut cells = Vec::new();
    let mut start = period.0;
    while start < period.1 {
        let end = (start + slot).min(period.1);
        let rollup = history.merged(start, end);
        cells.push(match rollup.availability() {
            None => Cell {
                color: colors::NONE,
                label: "no data".into(),
                mark: '.',
            },
            Some(value) => {
                let goal = objective.unwrap_or(1.0);
                let (color, mark) = if value >= goal {
                    (colors::GOOD, '#')
                } else if value >= goal - 0.01 {
                    (colors::WARN, '+')
                } else {
                    (colors::BAD, '!')
                };
                Cell {
                    color,
                    label: format::percent(value),
                    mark,
                }
            }
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
    values
        .into_iter()
        .map(|(label, value)| {
            let fraction = match value {
                Some(value) if longest > 0.0 => value.as_secs_f64() / longest,
                _ => 0.0,
            };
            Bar {
                label,
                value: value.map_or_else(|| "–".to_string(), format::latency),
                width: (fraction * 100.0).round() as u32,
                text: "#".repeat((fraction * 30.0).round() as usize),
            }
        })
        .collect()
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
        || row.values.as_ref().is_some_and(|values| values.breached)
        || (row.availability != "100 %" && row.availability != "–")
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
            availability: availability.map_or_else(|| "–".to_string(), format::percent),
            availability_value: availability,
            objective: None,
            met: None,
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
