//! The per-check metric families (`golive_check_*` and `golive_alert_escalation_level`), kept compactly and written straight into the
//! `/metrics` text.
//!
//! With thousands of checks these families are almost all of `/metrics`. Through the `prometheus`
//! crate each labelled series carried its own copy of its family's description (name, help,
//! label names) and label strings — kilobytes per check — and every scrape built the whole
//! exposition twice over (gathered structs with owned label strings, then text). Here a check's
//! series are one block of atomics ([`CheckSeries`]: about 200 bytes plus its id), updated by the
//! engine without locks and read by a scrape that writes text directly into one buffer. The text
//! is the one the `prometheus` crate wrote (same names, help, types, label order and number
//! formatting), so nothing a user or a dashboard reads changes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::core::health::Health;
use crate::plan::checks::Check;

/// The upper bounds of `golive_check_duration_seconds`. Few buckets: with a thousand checks, each
/// bucket is a thousand lines on /metrics.
const DURATION_BUCKETS: [f64; 8] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

/// The `result` label values of `golive_check_results_total`, indexed like
/// [`CheckSeries::results`].
const RESULTS: [&str; 3] = ["healthy", "failing", "unknown"];

/// A gauge: an `f64` behind an atomic.
#[derive(Debug, Default)]
pub struct Gauge(AtomicU64);

impl Gauge {
    pub fn set(&self, value: f64) {
        self.0.store(value.to_bits(), Ordering::Relaxed);
    }

    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

/// A counter that only goes up.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A histogram over [`DURATION_BUCKETS`]: a count per bucket (the last one above every bound) and
/// the sum. The total count is the sum of the buckets, so a scrape never shows a `+Inf` bucket
/// that disagrees with `_count`.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; DURATION_BUCKETS.len() + 1],
    sum: Gauge,
}

impl Histogram {
    pub fn observe(&self, value: f64) {
        let bucket = DURATION_BUCKETS
            .iter()
            .position(|bound| value <= *bound)
            .unwrap_or(DURATION_BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        // One writer (the engine), so a load and a store add without losing an observation.
        self.sum.set(self.sum.get() + value);
    }

    /// Cumulative counts per bound, then the total.
    fn cumulative(&self) -> [u64; DURATION_BUCKETS.len() + 1] {
        let mut total = 0;
        self.buckets.each_ref().map(|bucket| {
            total += bucket.load(Ordering::Relaxed);
            total
        })
    }
}

/// One check's series.
#[derive(Debug, Default)]
pub struct CheckSeries {
    /// 1 healthy, 0 failing, NaN unknown.
    pub up: Gauge,
    /// Indexed like [`Health::ALL`].
    pub state: [Gauge; 3],
    pub duration: Histogram,
    /// The latest value a metric check read (exported only for checks with a threshold).
    pub value: Gauge,
    threshold: Gauge,
    /// Whether the check has a threshold (and so `value` and `threshold` series).
    compares: AtomicBool,
    /// healthy, failing, unknown.
    pub results: [Counter; 3],
    pub last_run: Gauge,
    pub cert_expiry: Gauge,
    /// The escalation level reached by the check's open alert (0 without one).
    pub escalation_level: Gauge,
}

impl CheckSeries {
    /// Sets `up` and the state gauges for a health.
    pub fn set_health(&self, health: Health) {
        self.up.set(match health {
            Health::Healthy => 1.0,
            Health::Failing => 0.0,
            Health::Unknown => f64::NAN,
        });
        for (gauge, candidate) in self.state.iter().zip(Health::ALL) {
            gauge.set(if candidate == health { 1.0 } else { 0.0 });
        }
    }
}

/// The per-check families: every check's series by id (sorted, as the `prometheus` crate listed
/// them).
#[derive(Debug, Default)]
pub struct CheckFamilies {
    checks: Mutex<BTreeMap<String, Arc<CheckSeries>>>,
}

impl CheckFamilies {
    fn checks(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<CheckSeries>>> {
        self.checks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The series of one check (threshold set, state unknown until probed). A check that was in
    /// the plan before (a reload changed it) keeps its counters, as a labelled series would.
    pub fn for_check(&self, check: &Check) -> Arc<CheckSeries> {
        let series = self.checks().entry(check.id.clone()).or_default().clone();
        series.set_health(Health::Unknown);
        match check.threshold() {
            Some(threshold) => {
                series.threshold.set(threshold.value);
                // A metric check has no value until probed.
                series.value.set(f64::NAN);
                series.compares.store(true, Ordering::Relaxed);
            }
            None => series.compares.store(false, Ordering::Relaxed),
        }
        series
    }

    /// Removes every series of the check `id` (a reload removed it from the plan).
    pub(super) fn forget(&self, id: &str) {
        self.checks().remove(id);
    }

    /// Writes the families in the text exposition format, each family's series by check id.
    pub(super) fn write_text(&self, out: &mut String) {
        // A snapshot of the handles, so the lock is not held while writing.
        let checks: Vec<(String, Arc<CheckSeries>)> = self
            .checks()
            .iter()
            .map(|(id, series)| (escape(id), series.clone()))
            .collect();
        if checks.is_empty() {
            return;
        }
        write_gauge(
            out,
            "golive_alert_escalation_level",
            "The escalation level reached by the check's open alert (0 without one)",
            checks.iter(),
            |series| series.escalation_level.get(),
        );
        write_durations(out, &checks);
        let compares = || {
            checks
                .iter()
                .filter(|(_, series)| series.compares.load(Ordering::Relaxed))
        };
        write_gauge(
            out,
            "golive_check_cert_expiry_timestamp_seconds",
            "When the TLS certificate of an HTTPS check expires",
            checks.iter(),
            |series| series.cert_expiry.get(),
        );
        write_gauge(
            out,
            "golive_check_last_run_timestamp_seconds",
            "When the check was last probed",
            checks.iter(),
            |series| series.last_run.get(),
        );
        write_results(out, &checks);
        write_states(out, &checks);
        write_gauge(
            out,
            "golive_check_threshold",
            "A metric check's threshold (it fails while the value breaches it)",
            compares(),
            |series| series.threshold.get(),
        );
        write_gauge(
            out,
            "golive_check_up",
            "1 while a check is healthy, 0 while failing, NaN while unknown",
            checks.iter(),
            |series| series.up.get(),
        );
        write_gauge(
            out,
            "golive_check_value",
            "The latest value a metric check compared with its threshold",
            compares(),
            |series| series.value.get(),
        );
    }
}

/// A label value escaped as the exposition format wants (backslash, double quote, newline).
fn escape(value: &str) -> String {
    if !value.contains(['\\', '"', '\n']) {
        return value.to_string();
    }
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn write_header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn write_gauge<'a>(
    out: &mut String,
    name: &str,
    help: &str,
    mut checks: impl Iterator<Item = &'a (String, Arc<CheckSeries>)>,
    value: impl Fn(&CheckSeries) -> f64,
) {
    let Some(first) = checks.next() else { return };
    write_header(out, name, help, "gauge");
    for (id, series) in std::iter::once(first).chain(checks) {
        let _ = writeln!(out, "{name}{{check=\"{id}\"}} {}", value(series));
    }
}

fn write_durations(out: &mut String, checks: &[(String, Arc<CheckSeries>)]) {
    let name = "golive_check_duration_seconds";
    write_header(out, name, "How long probes took, by check", "histogram");
    for (id, series) in checks {
        let cumulative = series.duration.cumulative();
        for (bound, count) in DURATION_BUCKETS.iter().zip(cumulative) {
            let _ = writeln!(
                out,
                "{name}_bucket{{check=\"{id}\",le=\"{bound}\"}} {count}"
            );
        }
        let total = cumulative[DURATION_BUCKETS.len()];
        let _ = writeln!(out, "{name}_bucket{{check=\"{id}\",le=\"+Inf\"}} {total}");
        let _ = writeln!(
            out,
            "{name}_sum{{check=\"{id}\"}} {}\n{name}_count{{check=\"{id}\"}} {total}",
            series.duration.sum.get()
        );
    }
}

fn write_results(out: &mut String, checks: &[(String, Arc<CheckSeries>)]) {
    let name = "golive_check_results_total";
    write_header(
        out,
        name,
        "Probe results by check and result (healthy, failing, unknown)",
        "counter",
    );
    for (id, series) in checks {
        // Sorted by label value, as before: failing, healthy, unknown.
        for slot in [1, 0, 2] {
            let (result, count) = (RESULTS[slot], series.results[slot].get());
            let _ = writeln!(out, "{name}{{check=\"{id}\",result=\"{result}\"}} {count}");
        }
    }
}

fn write_states(out: &mut String, checks: &[(String, Arc<CheckSeries>)]) {
    let name = "golive_check_state";
    write_header(
        out,
        name,
        "1 for the check's current state (healthy, failing, unknown), 0 for the others",
        "gauge",
    );
    // Sorted by label value, as before: failing, healthy, unknown.
    let order = [Health::Failing, Health::Healthy, Health::Unknown];
    for (id, series) in checks {
        for health in order {
            let slot = Health::ALL
                .iter()
                .position(|candidate| *candidate == health)
                .unwrap_or(0);
            let value = series.state[slot].get();
            let _ = writeln!(
                out,
                "{name}{{check=\"{id}\",state=\"{}\"}} {value}",
                health.as_str()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_lands_in_the_first_bucket_that_holds_it_and_counts_add_up() {
        let histogram = Histogram::default();
        for seconds in [0.001, 0.005, 0.3, 7.0] {
            histogram.observe(seconds);
        }
        let cumulative = histogram.cumulative();
        assert_eq!(cumulative[0], 2, "0.001 and 0.005 are within le=0.005");
        assert_eq!(cumulative[5], 2, "nothing up to 0.25");
        assert_eq!(cumulative[6], 3, "0.3 within le=1");
        assert_eq!(cumulative[8], 4, "7 s only in +Inf");
        assert!((histogram.sum.get() - 7.306).abs() < 1e-9);
    }

    #[test]
    fn every_check_shows_its_escalation_level_zero_until_an_alert_escalates() {
        let families = CheckFamilies::default();
        let first = crate::core::test_support::tcp_check(2, 1);
        let mut second = first.clone();
        second.id = "web".into();
        families.for_check(&first).escalation_level.set(2.0);
        families.for_check(&second);
        let mut text = String::new();
        families.write_text(&mut text);
        assert!(text.contains("# TYPE golive_alert_escalation_level gauge\n"));
        let level = |id: &str| format!("golive_alert_escalation_level{{check=\"{id}\"}} ");
        assert!(text.contains(&format!("{}2\n", level(&first.id))), "{text}");
        assert!(
            text.contains(&format!("{}0\n", level(&second.id))),
            "{text}"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("web"), "web");
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
