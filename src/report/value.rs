//! How a metric check's value reads for people, the same in alert messages, reports and the status
//! page: a ratio as a percentage, a latency with its unit (ms below one second), three significant
//! digits, and the threshold in words (`fails above 5 %`). Pure.

use crate::plan::checks::{Check, CheckKind, CompareOp, ScrapeMode, Threshold};

/// What a value means, for formatting it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueUnit {
    /// A fraction of 1, shown as a percentage.
    Ratio,
    /// Seconds, shown in ms below one second.
    Seconds,
    /// A plain number.
    Plain,
}

/// What a metric check's value means: a scrape check in `ratio` mode, or a Prometheus query that
/// divides with a threshold between 0 and 1, is a ratio; a quantile or a `_seconds` series is a
/// latency; anything else a plain number.
pub fn value_unit(check: &Check) -> ValueUnit {
    let fraction = |threshold: Threshold| threshold.value > 0.0 && threshold.value < 1.0;
    match &check.kind {
        CheckKind::Scrape(scrape) => match scrape.mode {
            ScrapeMode::Ratio { .. } => ValueUnit::Ratio,
            ScrapeMode::Value if scrape.series.metric.ends_with("_seconds") => ValueUnit::Seconds,
            _ => ValueUnit::Plain,
        },
        CheckKind::Prometheus(query) => {
            let text = query.query.to_ascii_lowercase();
            if text.contains("histogram_quantile")
                || (text.contains("_seconds") && !text.contains("_count")) && !text.contains('/')
            {
                ValueUnit::Seconds
            } else if text.contains('/') && fraction(query.threshold) {
                ValueUnit::Ratio
            } else {
                ValueUnit::Plain
            }
        }
        CheckKind::Http(_) | CheckKind::Tcp(_) => ValueUnit::Plain,
    }
}

/// A number with sensible digits: three significant ones, none after the point from 100 up, no
/// trailing zeros (`0.2017` → `0.202`, `1234.5` → `1235`, `5.0` → `5`).
pub fn number(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    if value == 0.0 {
        return "0".to_string();
    }
    let magnitude = value.abs().log10().floor() as i32;
    let decimals = (2 - magnitude).clamp(0, 9) as usize;
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// A value in its unit: `20.2%`, `850 ms`, `1.25 s`, `42`.
pub fn with_unit(value: f64, unit: ValueUnit) -> String {
    match unit {
        ValueUnit::Ratio => format!("{} %", number(value * 100.0)),
        ValueUnit::Seconds if value.abs() < 1.0 => format!("{} ms", number(value * 1000.0)),
        ValueUnit::Seconds => format!("{} s", number(value)),
        ValueUnit::Plain => number(value),
    }
}

/// When a threshold fails, in words: `fails above 5 %`.
pub fn fails_when(threshold: Threshold, unit: ValueUnit) -> String {
    let limit = with_unit(threshold.value, unit);
    match threshold.op {
        CompareOp::Gt => format!("fails above {limit}"),
        CompareOp::Ge => format!("fails at {limit} or above"),
        CompareOp::Lt => format!("fails below {limit}"),
        CompareOp::Le => format!("fails at {limit} or below"),
        CompareOp::Eq => format!("fails at exactly {limit}"),
        CompareOp::Ne => format!("fails at anything but {limit}"),
    }
}

/// A metric check's value against its rule, as a new alert's message and the status page say it:
/// `20.2% (fails above 5%)`; `None` for a check without a threshold (HTTP, TCP).
pub fn reading(check: &Check, value: f64) -> Option<String> {
    let threshold = check.threshold()?;
    let unit = value_unit(check);
    Some(format!(
        "{} ({})",
        with_unit(value, unit),
        fails_when(threshold, unit)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::checks::{EmptyResult, PrometheusCheck};

    fn prometheus(query: &str, threshold: &str) -> Check {
        let mut check = crate::core::test_support::tcp_check(2, 1);
        check.kind = CheckKind::Prometheus(PrometheusCheck {
            server: "prod".into(),
            query: query.into(),
            threshold: threshold.parse().expect("a valid threshold"),
            empty: EmptyResult::Unknown,
        });
        check
    }

    #[test]
    fn a_reading_gives_the_value_and_the_rule_in_the_checks_unit() {
        let ratio = prometheus(
            "sum(rate(errors_total[5m])) / sum(rate(requests_total[5m]))",
            "> 0.05",
        );
        assert_eq!(
            reading(&ratio, 0.0105).as_deref(),
            Some("1.05 % (fails above 5 %)")
        );
        let latency = prometheus(
            "histogram_quantile(0.95, sum by (le) (rate(request_seconds_bucket[5m])))",
            ">= 0.5",
        );
        assert_eq!(
            reading(&latency, 0.8514).as_deref(),
            Some("851 ms (fails at 500 ms or above)")
        );
        assert_eq!(
            reading(&latency, 2.345).as_deref(),
            Some("2.35 s (fails at 500 ms or above)")
        );
        let queue = prometheus("sum(queue_depth)", "> 300");
        assert_eq!(
            reading(&queue, 1234.6).as_deref(),
            Some("1235 (fails above 300)")
        );
        let http = crate::core::test_support::tcp_check(2, 1);
        assert_eq!(reading(&http, 1.0), None);
    }
}
