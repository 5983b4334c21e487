//! Per-minute history of a check: probe counts, failures, unknowns, a latency histogram (enough
//! for day-long p50/p95/p99) and min/max/last/sum of metric values. Pure: the engine accumulates,
//! the store persists the encoded form, reports merge minutes into days.

use std::time::Duration;

use super::health::{Outcome, ProbeResult};

/// Latency bucket upper bounds grow by this factor, so a percentile read from the histogram is
/// within about ±12% of the true value.
const GROWTH: f64 = 1.25;
/// The first bucket's upper bound, in microseconds.
const FIRST_BOUND_US: f64 = 100.0;
/// Bucket count: the last finite bound is 100 µs × 1.25^62 ≈ 102 s; the final bucket takes the rest.
pub const BUCKETS: usize = 64;

/// Upper bound (µs) of bucket `index`; the last bucket is unbounded.
pub fn bucket_upper_us(index: usize) -> f64 {
    if index + 1 >= BUCKETS {
        f64::INFINITY
    } else {
        FIRST_BOUND_US * GROWTH.powi(index as i32)
    }
}

/// The bucket a latency falls in.
pub fn bucket_of(latency: Duration) -> usize {
    let micros = latency.as_secs_f64() * 1e6;
    if micros <= FIRST_BOUND_US {
        return 0;
    }
    let index = ((micros / FIRST_BOUND_US).ln() / GROWTH.ln()).ceil() as usize;
    index.min(BUCKETS - 1)
}

/// A latency histogram with fixed log-scale buckets; histograms of any minutes merge by adding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencyHistogram {
    counts: [u32; BUCKETS],
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            counts: [0; BUCKETS],
        }
    }
}

impl LatencyHistogram {
    pub fn record(&mut self, latency: Duration) {
        let bucket = bucket_of(latency);
        self.counts[bucket] = self.counts[bucket].saturating_add(1);
    }

    pub fn merge(&mut self, other: &LatencyHistogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts.iter()) {
            *mine = mine.saturating_add(*theirs);
        }
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().map(|&count| u64::from(count)).sum()
    }

    /// The latency below which a fraction `q` (0..=1) of the probes fell, as the upper bound of the
    /// bucket holding that rank (the last bucket reports its lower bound). `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (index, &count) in self.counts.iter().enumerate() {
            seen += u64::from(count);
            if seen >= rank {
                let bound = if index + 1 >= BUCKETS {
                    bucket_upper_us(index - 1)
                } else {
                    bucket_upper_us(index)
                };
                return Some(Duration::from_secs_f64(bound / 1e6));
            }
        }
        None
    }

    /// A compact encoding: for each non-empty bucket, its index then its count as LEB128.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (index, &count) in self.counts.iter().enumerate() {
            if count > 0 {
                out.push(index as u8);
                let mut value = count;
                loop {
                    let byte = (value & 0x7f) as u8;
                    value >>= 7;
                    if value == 0 {
                        out.push(byte);
                        break;
                    }
                    out.push(byte | 0x80);
                }
            }
        }
        out
    }

    /// Decodes [`LatencyHistogram::encode`]'s form; `None` when the bytes are malformed.
    pub fn decode(bytes: &[u8]) -> Option<LatencyHistogram> {
        let mut histogram = LatencyHistogram::default();
        let mut position = 0;
        while position < bytes.len() {
            let index = usize::from(bytes[position]);
            position += 1;
            let mut value: u32 = 0;
            let mut shift = 0;
            loop {
                let byte = *bytes.get(position)?;
                position += 1;
                value |= u32::from(byte & 0x7f).checked_shl(shift)?;
                if byte & 0x80 == 0 {
                    break;
                }
                shift += 7;
                if shift > 28 {
                    return None;
                }
            }
            *histogram.counts.get_mut(index)? = value;
        }
        Some(histogram)
    }
}

/// Min, max, last, sum and count of a metric check's values.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ValueStats {
    pub min: f64,
    pub max: f64,
    pub last: f64,
    pub sum: f64,
    pub count: u32,
}

impl ValueStats {
    pub fn record(&mut self, value: f64) {
        if !value.is_finite() {
            return;
        }
        if self.count == 0 {
            self.min = value;
            self.max = value;
        } else {
            self.min = self.min.min(value);
            self.max = self.max.max(value);
        }
        self.last = value;
        self.sum += value;
        self.count = self.count.saturating_add(1);
    }

    /// Merges stats of a later period into these.
    pub fn merge(&mut self, later: &ValueStats) {
        if later.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = *later;
            return;
        }
        self.min = self.min.min(later.min);
        self.max = self.max.max(later.max);
        self.last = later.last;
        self.sum += later.sum;
        self.count = self.count.saturating_add(later.count);
    }

    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / f64::from(self.count))
    }
}

/// One check's history for one minute (or, merged, for any longer period).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rollup {
    pub probes: u32,
    pub failures: u32,
    pub unknowns: u32,
    pub latency_sum: Duration,
    pub latency_max: Duration,
    pub latency: LatencyHistogram,
    pub values: ValueStats,
}

impl Rollup {
    pub fn record(&mut self, result: &ProbeResult) {
        self.probes = self.probes.saturating_add(1);
        match result.outcome {
            Outcome::Healthy => {}
            Outcome::Failing => self.failures = self.failures.saturating_add(1),
            Outcome::Unknown => self.unknowns = self.unknowns.saturating_add(1),
        }
        self.latency_sum += result.latency;
        self.latency_max = self.latency_max.max(result.latency);
        self.latency.record(result.latency);
        if let Some(value) = result.value {
            self.values.record(value);
        }
    }

    pub fn merge(&mut self, later: &Rollup) {
        self.probes = self.probes.saturating_add(later.probes);
        self.failures = self.failures.saturating_add(later.failures);
        self.unknowns = self.unknowns.saturating_add(later.unknowns);
        self.latency_sum += later.latency_sum;
        self.latency_max = self.latency_max.max(later.latency_max);
        self.latency.merge(&later.latency);
        self.values.merge(&later.values);
    }

    /// The share of probes with a known result that were healthy; `None` with no known result.
    pub fn availability(&self) -> Option<f64> {
        let known = self.probes.saturating_sub(self.unknowns);
        (known > 0).then(|| f64::from(known - self.failures.min(known)) / f64::from(known))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(value: u64) -> Duration {
        Duration::from_millis(value)
    }

    #[test]
    fn buckets_cover_latencies_in_order() {
        assert_eq!(bucket_of(Duration::from_micros(50)), 0);
        assert!(bucket_of(ms(10)) < bucket_of(ms(11)) || bucket_of(ms(10)) == bucket_of(ms(11)));
        assert_eq!(bucket_of(Duration::from_secs(3600)), BUCKETS - 1);
        for micros in [150u64, 999, 12_345, 2_000_000] {
            let bucket = bucket_of(Duration::from_micros(micros));
            assert!((micros as f64) <= bucket_upper_us(bucket));
            assert!(bucket == 0 || (micros as f64) > bucket_upper_us(bucket - 1));
        }
    }

    #[test]
    fn quantiles_are_within_a_bucket_of_the_truth() {
        let mut histogram = LatencyHistogram::default();
        for value in 1..=100 {
            histogram.record(ms(value));
        }
        let p50 = histogram.quantile(0.5).unwrap().as_secs_f64() * 1000.0;
        let p99 = histogram.quantile(0.99).unwrap().as_secs_f64() * 1000.0;
        assert!((50.0..=62.5).contains(&p50), "p50 {p50}");
        assert!((99.0..=124.0).contains(&p99), "p99 {p99}");
        assert_eq!(LatencyHistogram::default().quantile(0.5), None);
    }

    #[test]
    fn histograms_round_trip_through_their_encoding_and_reject_garbage() {
        let mut histogram = LatencyHistogram::default();
        for value in [1, 1, 5, 300, 300, 300] {
            histogram.record(ms(value));
        }
        for _ in 0..1000 {
            histogram.record(ms(40));
        }
        let bytes = histogram.encode();
        assert!(bytes.len() < 16, "{} bytes", bytes.len());
        assert_eq!(LatencyHistogram::decode(&bytes), Some(histogram));
        assert_eq!(LatencyHistogram::decode(&[200, 1]), None);
        assert_eq!(LatencyHistogram::decode(&[3, 0x80]), None);
    }

    #[test]
    fn availability_ignores_unknown_probes() {
        let mut rollup = Rollup::default();
        let result = |outcome| ProbeResult::new(outcome, "", ms(10));
        for _ in 0..8 {
            rollup.record(&result(Outcome::Healthy));
        }
        rollup.record(&result(Outcome::Failing));
        rollup.record(&result(Outcome::Failing));
        rollup.record(&result(Outcome::Unknown));
        assert_eq!(rollup.probes, 11);
        assert_eq!(rollup.availability(), Some(0.8));
        let mut merged = Rollup::default();
        merged.merge(&rollup);
        merged.merge(&rollup);
        assert_eq!(merged.probes, 22);
        assert_eq!(merged.availability(), Some(0.8));
    }

    #[test]
    fn value_stats_track_min_max_last_and_mean() {
        let mut stats = ValueStats::default();
        for value in [0.02, 0.07, 0.01, f64::NAN] {
            stats.record(value);
        }
        assert_eq!(
            (stats.min, stats.max, stats.last, stats.count),
            (0.01, 0.07, 0.01, 3)
        );
        assert!((stats.mean().unwrap() - 0.0333).abs() < 0.001);
    }
}
