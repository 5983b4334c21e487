//! The scrape executor: fetch a target's `/metrics` text exposition, select a series by metric name
//! and exact labels, and turn it into one value (`value`, `rate` or `ratio` mode).
//!
//! Rates are computed here, not by PromQL: every probe keeps the selected series' samples in the
//! check's [`ProbeMemory`] ([`SampleWindow`]), bounded to the window. Increases are summed per
//! series with Prometheus' counter-reset rule (a drop means the counter restarted from zero, so the
//! new value is the increase). A target that is down is the launched system failing, so a failed
//! fetch is `failing`, unlike a Prometheus server that is down.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use jiff::Timestamp;

use super::clients::ClientSettings;
use super::errors::transport_reason;
use super::prometheus::{Series, evaluate, format_labels};
use super::{ProbeContext, ProbeMemory};
use crate::core::health::{Outcome, ProbeResult};
use crate::plan::checks::{EmptyResult, ScrapeCheck, ScrapeMode, SeriesSelector};

/// The most of a metrics page that is read; a bigger page is cut there.
const MAX_PAGE: usize = 8 * 1024 * 1024;
/// A hard cap on the samples one window keeps, whatever the interval.
const MAX_SAMPLES: usize = 512;

pub(super) async fn probe(
    check: &ScrapeCheck,
    context: &ProbeContext,
    memory: &mut ProbeMemory,
) -> ProbeResult {
    let page = match fetch(&check.url, context).await {
        Ok(page) => page,
        Err(result) => return result,
    };
    let lines = page.lines().map(|line| Ok(line.to_string()));
    let scrape = match prometheus_parse::Scrape::parse(lines) {
        Ok(scrape) => scrape,
        Err(error) => {
            return ProbeResult::new(
                Outcome::Failing,
                format!("metrics page unreadable: {error}"),
                Duration::ZERO,
            );
        }
    };
    let now = context.clock().now();
    let numerator = select(&scrape, &check.series);
    let empty_reason = format!("no series {} on the target", describe(&check.series));
    match &check.mode {
        ScrapeMode::Value => {
            let series: Vec<Series> = if numerator.is_empty() {
                Vec::new()
            } else {
                vec![Series {
                    labels: BTreeMap::new(),
                    value: numerator.values().sum(),
                }]
            };
            evaluate(&series, check.threshold, check.empty, &empty_reason)
        }
        ScrapeMode::Rate { window } => {
            if numerator.is_empty() {
                return empty(check.empty, &empty_reason);
            }
            memory.samples.push(now, numerator, *window);
            match memory.samples.rate() {
                Some(rate) => evaluate(
                    &[Series {
                        labels: BTreeMap::new(),
                        value: rate,
                    }],
                    check.threshold,
                    check.empty,
                    &empty_reason,
                ),
                None => collecting(),
            }
        }
        ScrapeMode::Ratio {
            denominator,
            window,
        } => {
            let denominator_values = select(&scrape, denominator);
            if denominator_values.is_empty() {
                let reason = format!("no series {} on the target", describe(denominator));
                return empty(check.empty, &reason);
            }
            // An absent numerator is a counter that has not been created yet (many client
            // libraries create a labelled series on its first increment): it counts as zero.
            memory.samples.push(now, numerator, *window);
            memory
                .denominator_samples
                .push(now, denominator_values, *window);
            let (Some(top), Some(bottom)) =
                (memory.samples.rate(), memory.denominator_samples.rate())
            else {
                return collecting();
            };
            if bottom <= 0.0 {
                // No traffic: nothing can have failed. Whether there should be traffic is the
                // business of a rate check on the denominator.
                return ProbeResult::new(
                    Outcome::Healthy,
                    format!(
                        "no traffic: {} did not increase in {}",
                        describe(denominator),
                        crate::human::std_duration(*window)
                    ),
                    Duration::ZERO,
                );
            }
            evaluate(
                &[Series {
                    labels: BTreeMap::new(),
                    value: top / bottom,
                }],
                check.threshold,
                check.empty,
                &empty_reason,
            )
        }
    }
}

/// Fetches the metrics page; a target that does not answer properly is failing.
async fn fetch(url: &str, context: &ProbeContext) -> Result<String, ProbeResult> {
    let failing = |reason: String| ProbeResult::new(Outcome::Failing, reason, Duration::ZERO);
    let client = context
        .clients
        .get(&ClientSettings::default())
        .map_err(|problem| ProbeResult::new(Outcome::Unknown, problem, Duration::ZERO))?;
    let mut response = client
        .get(url)
        .header("accept", "text/plain;version=0.0.4")
        .send()
        .await
        .map_err(|error| failing(transport_reason(&error)))?;
    let status = response.status().as_u16();
    if !response.status().is_success() {
        return Err(failing(format!("status {status} (expected 2xx)")));
    }
    let mut page = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = MAX_PAGE.saturating_sub(page.len());
                page.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if page.len() >= MAX_PAGE {
                    break;
                }
            }
            Ok(None) => break,
            Err(error) => {
                return Err(failing(format!(
                    "reading the metrics page: {}",
                    transport_reason(&error)
                )));
            }
        }
    }
    Ok(String::from_utf8_lossy(&page).into_owned())
}

fn empty(empty: EmptyResult, reason: &str) -> ProbeResult {
    match empty {
        EmptyResult::Ok => ProbeResult::new(Outcome::Healthy, reason, Duration::ZERO),
        EmptyResult::Fail => ProbeResult::new(Outcome::Failing, reason, Duration::ZERO),
        EmptyResult::Unknown => ProbeResult::new(Outcome::Unknown, reason, Duration::ZERO),
    }
}

fn collecting() -> ProbeResult {
    ProbeResult::new(
        Outcome::Unknown,
        "collecting samples (rate needs two scrapes)",
        Duration::ZERO,
    )
}

/// `http_requests_total{status="500"}`.
fn describe(selector: &SeriesSelector) -> String {
    if selector.labels.is_empty() {
        selector.metric.clone()
    } else {
        format!("{}{}", selector.metric, format_labels(&selector.labels))
    }
}

/// The value of every series that matches `selector`, by its labels. Histogram buckets
/// (`x_bucket{le="0.5"}`) and summary quantiles (`x{quantile="0.9"}`) are selectable too.
fn select(scrape: &prometheus_parse::Scrape, selector: &SeriesSelector) -> BTreeMap<String, f64> {
    use prometheus_parse::Value;
    let mut found = BTreeMap::new();
    for sample in &scrape.samples {
        let labels_match = |ignored: &str| {
            selector
                .labels
                .iter()
                .filter(|(name, _)| name.as_str() != ignored)
                .all(|(name, value)| sample.labels.get(name) == Some(value.as_str()))
        };
        let value = match &sample.value {
            Value::Counter(value) | Value::Gauge(value) | Value::Untyped(value) => {
                (sample.metric == selector.metric && labels_match("")).then_some(*value)
            }
            Value::Histogram(buckets) => {
                let bound = selector.labels.get("le").and_then(|le| parse_bound(le));
                match (selector.metric.strip_suffix("_bucket"), bound) {
                    (Some(base), Some(bound)) if base == sample.metric && labels_match("le") => {
                        buckets
                            .iter()
                            .find(|bucket| bucket.less_than == bound)
                            .map(|bucket| bucket.count)
                    }
                    _ => None,
                }
            }
            Value::Summary(quantiles) => {
                let quantile = selector.labels.get("quantile").and_then(|q| parse_bound(q));
                match quantile {
                    Some(quantile)
                        if sample.metric == selector.metric && labels_match("quantile") =>
                    {
                        quantiles
                            .iter()
                            .find(|one| one.quantile == quantile)
                            .map(|one| one.count)
                    }
                    _ => None,
                }
            }
        };
        if let Some(value) = value {
            *found.entry(sample.labels.to_string()).or_insert(0.0) += value;
        }
    }
    found
}

fn parse_bound(text: &str) -> Option<f64> {
    match text {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        _ => text.parse().ok(),
    }
}

/// Recent samples of a set of counters (one value per series), oldest first, kept only as long as
/// the window needs them: every sample inside the window plus the newest one before it, which is
/// the baseline of the increase.
#[derive(Debug, Default)]
pub struct SampleWindow {
    samples: VecDeque<(Timestamp, BTreeMap<String, f64>)>,
}

impl SampleWindow {
    /// Adds the values seen at `at` and forgets what the window no longer needs.
    pub fn push(&mut self, at: Timestamp, values: BTreeMap<String, f64>, window: Duration) {
        if self.samples.back().is_some_and(|(last, _)| *last >= at) {
            // The clock went backwards (or two probes at once): start over rather than divide
            // by a negative span.
            self.samples.clear();
        }
        self.samples.push_back((at, values));
        let window = jiff::SignedDuration::try_from(window).unwrap_or(jiff::SignedDuration::MAX);
        let start = at.checked_sub(window).unwrap_or(Timestamp::MIN);
        while self.samples.len() > 2 && self.samples[1].0 <= start {
            self.samples.pop_front();
        }
        while self.samples.len() > MAX_SAMPLES {
            self.samples.pop_front();
        }
    }

    /// The per-second increase over the kept samples, or `None` before there are two.
    pub fn rate(&self) -> Option<f64> {
        let (first, _) = self.samples.front()?;
        let (last, _) = self.samples.back()?;
        let span = last.duration_since(*first).as_secs_f64();
        if self.samples.len() < 2 || span <= 0.0 {
            return None;
        }
        let increase: f64 = self
            .samples
            .iter()
            .zip(self.samples.iter().skip(1))
            .map(|((_, before), (_, after))| increase(before, after))
            .sum();
        Some(increase / span)
    }

    /// How many samples are kept.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether no sample is kept.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }
}

/// The increase of every series present in both samples; a drop is a counter reset, so the new
/// value is all increase. A series seen for the first time has no baseline and adds nothing (as in
/// Prometheus).
fn increase(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>) -> f64 {
    after
        .iter()
        .filter_map(|(series, now)| {
            let earlier = before.get(series)?;
            Some(if now >= earlier { now - earlier } else { *now })
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + second).unwrap()
    }

    fn values(value: f64) -> BTreeMap<String, f64> {
        BTreeMap::from([(String::new(), value)])
    }

    #[test]
    fn a_rate_needs_two_samples_and_survives_a_counter_reset() {
        let mut window = SampleWindow::default();
        let minute = Duration::from_secs(60);
        window.push(at(0), values(100.0), minute);
        assert_eq!(window.rate(), None);
        window.push(at(10), values(150.0), minute);
        assert_eq!(window.rate(), Some(5.0));
        // The process restarted: the counter went back to 20, which is all increase.
        window.push(at(20), values(20.0), minute);
        assert_eq!(window.rate(), Some(3.5));
    }

    #[test]
    fn a_window_keeps_only_the_samples_it_needs() {
        let mut window = SampleWindow::default();
        let window_length = Duration::from_secs(30);
        for second in 0..100 {
            window.push(at(second * 10), values(second as f64), window_length);
        }
        assert!(window.len() <= 5, "kept {}", window.len());
        assert_eq!(window.rate(), Some(0.1));
    }

    #[test]
    fn selection_sums_matching_series_and_reads_buckets() {
        let page = "# TYPE req counter\nreq{code=\"500\",route=\"/a\"} 3\nreq{code=\"500\",route=\"/b\"} 4\nreq{code=\"200\",route=\"/a\"} 90\n# TYPE lat histogram\nlat_bucket{le=\"0.5\"} 7\nlat_bucket{le=\"+Inf\"} 9\nlat_sum 3.2\nlat_count 9\n";
        let scrape =
            prometheus_parse::Scrape::parse(page.lines().map(|line| Ok(line.to_string()))).unwrap();
        let selector = |metric: &str, labels: &[(&str, &str)]| SeriesSelector {
            metric: metric.to_string(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let errors = select(&scrape, &selector("req", &[("code", "500")]));
        assert_eq!(errors.values().sum::<f64>(), 7.0);
        let bucket = select(&scrape, &selector("lat_bucket", &[("le", "0.5")]));
        assert_eq!(bucket.values().sum::<f64>(), 7.0);
        let count = select(&scrape, &selector("lat_count", &[]));
        assert_eq!(count.values().sum::<f64>(), 9.0);
        assert!(select(&scrape, &selector("nothing", &[])).is_empty());
    }
}
