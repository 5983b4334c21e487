//! Typed monitoring configuration: `[[checks]]`, `[[prometheus]]` servers and `[monitoring]`.
//!
//! These are the validated values the probes and the engine use; reading and validating them from
//! TOML lives beside the other sections' readers.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::launch::SecretSource;
use crate::domain::{Phase, UnknownName};

/// How serious a failing check is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 3] = [Severity::Info, Severity::Warning, Severity::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = UnknownName;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Severity::ALL
            .into_iter()
            .find(|severity| severity.as_str() == text)
            .ok_or_else(|| UnknownName::new(text, &["info", "warning", "critical"]))
    }
}

/// One `[[checks]]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// `id`: unique, lowercase; the label value in metrics.
    pub id: String,
    /// `name`: a readable name (defaults to the id).
    pub name: String,
    /// `severity` (default `warning`).
    pub severity: Severity,
    /// `failure_threshold` (default 2): consecutive failures before the check is failing.
    pub failure_threshold: u32,
    /// `success_threshold` (default 1): consecutive successes before it is healthy again.
    pub success_threshold: u32,
    /// `interval` (default 30s): time between probes, unless `intervals` names the phase.
    pub interval: Duration,
    /// `intervals`: per-phase intervals, e.g. `{ deploying = "5s", hypercare = "1m" }`.
    pub intervals: BTreeMap<Phase, Duration>,
    /// `retry_interval`: time between the probes that confirm a failure (after a failing probe
    /// of a check that is not failing); `None` for the default, see [`default_retry_interval`].
    pub retry_interval: Option<Duration>,
    /// `phases` (default go_no_go, deploying, verifying, hypercare): when the check runs.
    pub phases: BTreeSet<Phase>,
    /// `gate` (default false): leaving `go_no_go` waits until this check is healthy.
    pub gate: bool,
    /// `risks`: ids of the risks a failure of this check indicates.
    pub risks: Vec<String>,
    /// `timeout` (default 5s, at most the shortest interval): a hard limit on one probe.
    pub timeout: Duration,
    pub kind: CheckKind,
}

impl Check {
    /// The probe interval in `phase`.
    pub fn interval_in(&self, phase: Phase) -> Duration {
        self.intervals.get(&phase).copied().unwrap_or(self.interval)
    }

    /// The time between the probes that confirm a failure in `phase`: `retry_interval` or its
    /// default, never longer than the phase's interval.
    pub fn retry_interval_in(&self, phase: Phase) -> Duration {
        let interval = self.interval_in(phase);
        self.retry_interval
            .unwrap_or_else(|| default_retry_interval(interval))
            .min(interval)
    }

    /// How long after a failure starts the check is failing at the latest in `phase`, for a
    /// target that answers (probes that run into their timeout add to it): up to one interval to
    /// the first failing probe, then `failure_threshold - 1` retries.
    pub fn detection_in(&self, phase: Phase) -> Duration {
        let retries = self.failure_threshold.max(1) - 1;
        self.interval_in(phase) + self.retry_interval_in(phase) * retries
    }

    /// The phase in which [`Check::detection_in`] is longest, with that time.
    pub fn slowest_detection(&self) -> Option<(Phase, Duration)> {
        self.phases
            .iter()
            .map(|phase| (*phase, self.detection_in(*phase)))
            .max_by_key(|(_, detection)| *detection)
    }

    /// Whether the check runs in `phase`.
    pub fn runs_in(&self, phase: Phase) -> bool {
        self.phases.contains(&phase)
    }

    /// The threshold of a metric check (prometheus, scrape), if any.
    pub fn threshold(&self) -> Option<Threshold> {
        match &self.kind {
            CheckKind::Prometheus(check) => Some(check.threshold),
            CheckKind::Scrape(check) => Some(check.threshold),
            CheckKind::Http(_) | CheckKind::Tcp(_) => None,
        }
    }

    /// `http`, `prometheus`, `scrape` or `tcp`.
    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            CheckKind::Http(_) => "http",
            CheckKind::Prometheus(_) => "prometheus",
            CheckKind::Scrape(_) => "scrape",
            CheckKind::Tcp(_) => "tcp",
        }
    }
}

/// The retry interval of a check that sets none: a fifth of its interval, between 100 ms and 1 s
/// (and never longer than the interval). A fifth keeps the confirmation of a 1 s check under the
/// next regular probe (200 ms: paged about 0.7 s after the failure instead of 1.5 s); the 1 s cap
/// confirms a 30 s or 1 min check within seconds of its first failing probe; a failing target gets
/// at most `failure_threshold - 1` extra probes, a second apart at most.
pub fn default_retry_interval(interval: Duration) -> Duration {
    (interval / 5)
        .clamp(DEFAULT_RETRY_INTERVAL_FLOOR, DEFAULT_RETRY_INTERVAL_CAP)
        .min(interval)
}

/// The shortest default retry interval (the shortest interval a check may have).
pub const DEFAULT_RETRY_INTERVAL_FLOOR: Duration = Duration::from_millis(100);
/// The longest default retry interval.
pub const DEFAULT_RETRY_INTERVAL_CAP: Duration = Duration::from_secs(1);

/// The check whose failure is confirmed last ([`Check::slowest_detection`]), with the phase and
/// the time: what `golive check` and `golive preflight` say about detection.
pub fn slowest_detection(checks: &[Check]) -> Option<(&Check, Phase, Duration)> {
    checks
        .iter()
        .filter_map(|check| {
            check
                .slowest_detection()
                .map(|(phase, detection)| (check, phase, detection))
        })
        .max_by_key(|(_, _, detection)| *detection)
}

/// The phases a check runs in when `phases` is not given.
pub const DEFAULT_CHECK_PHASES: [Phase; 4] = [
    Phase::GoNoGo,
    Phase::Deploying,
    Phase::Verifying,
    Phase::Hypercare,
];

/// What a check probes (`kind = "http" | "prometheus" | "scrape" | "tcp"`).
#[derive(Debug, Clone, PartialEq)]
pub enum CheckKind {
    Http(HttpCheck),
    Prometheus(PrometheusCheck),
    Scrape(ScrapeCheck),
    Tcp(TcpCheck),
}

/// The value of an http check's request header.
#[derive(Debug, Clone, PartialEq)]
pub enum HeaderValue {
    /// `Accept = "application/json"`.
    Text(String),
    /// `Authorization = { env = "VAR" }` or `{ file = "path" }`: a credential, read when probing.
    Secret(SecretSource),
}

/// `kind = "http"`: an HTTP(S) health endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpCheck {
    /// `url`: http or https.
    pub url: String,
    /// `method` (default GET).
    pub method: String,
    /// `headers`: a table of header names to values, each written inline or (for credentials)
    /// read from the environment or a file.
    pub headers: Vec<(String, HeaderValue)>,
    /// `body`: sent with the request.
    pub body: Option<String>,
    /// `expect_status` (default 200-299): codes and ranges, e.g. `[200, "300-399"]`.
    pub expect_status: Vec<StatusRange>,
    /// `body_contains`: text the response body must contain.
    pub body_contains: Option<String>,
    /// `body_regex`: a regular expression the body must match (validated at load).
    pub body_regex: Option<String>,
    /// `json`: conditions on values in a JSON body.
    pub json: Vec<JsonCondition>,
    /// `max_latency`: slower responses fail.
    pub max_latency: Option<Duration>,
    /// `follow_redirects` (default true; at most 10).
    pub follow_redirects: bool,
    /// `tls_verify` (default true).
    pub tls_verify: bool,
    /// `ca_file`: PEM file of extra trusted CA certificates; written relative to the plan, kept
    /// here already joined to the plan's folder (so usable from the current folder as it is).
    pub ca_file: Option<PathBuf>,
    /// `cert_expiry_warning_days` (default 14): a certificate expiring sooner yields a warning.
    pub cert_expiry_warning_days: u32,
    /// `fresh_connection` (default false): open a new connection for every probe.
    pub fresh_connection: bool,
}

/// An inclusive range of HTTP status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusRange {
    pub low: u16,
    pub high: u16,
}

impl StatusRange {
    pub fn contains(self, status: u16) -> bool {
        (self.low..=self.high).contains(&status)
    }
}

impl fmt::Display for StatusRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.low == 200 && self.high == 299 {
            f.write_str("2xx")
        } else if self.low == self.high {
            write!(f, "{}", self.low)
        } else if self.low.is_multiple_of(100) && self.high == self.low + 99 {
            write!(f, "{}xx", self.low / 100)
        } else {
            write!(f, "{}-{}", self.low, self.high)
        }
    }
}

/// A condition on a value inside a JSON response: `{ path = "$.status", op = "==", value = "ok" }`.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonCondition {
    /// A JSONPath-like path: `$.a.b[0].c`.
    pub path: String,
    pub op: CompareOp,
    /// The expected value (string, number or boolean).
    pub value: serde_json::Value,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompareOp {
    #[serde(rename = "==")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
}

impl CompareOp {
    pub const ALL: [CompareOp; 6] = [
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Lt,
        CompareOp::Le,
        CompareOp::Gt,
        CompareOp::Ge,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "==",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
        }
    }

    /// `left op right` for numbers.
    pub fn holds(self, left: f64, right: f64) -> bool {
        match self {
            CompareOp::Eq => left == right,
            CompareOp::Ne => left != right,
            CompareOp::Lt => left < right,
            CompareOp::Le => left <= right,
            CompareOp::Gt => left > right,
            CompareOp::Ge => left >= right,
        }
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CompareOp {
    type Err = UnknownName;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        CompareOp::ALL
            .into_iter()
            .find(|op| op.as_str() == text)
            .ok_or_else(|| UnknownName::new(text, &["==", "!=", "<", "<=", ">", ">="]))
    }
}

/// A metric threshold, written `"> 0.05"`: the check **fails** while the value satisfies it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold {
    pub op: CompareOp,
    pub value: f64,
}

impl Threshold {
    /// Whether `value` breaches the threshold (the check fails).
    pub fn breached(self, value: f64) -> bool {
        self.op.holds(value, self.value)
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.op, self.value)
    }
}

impl FromStr for Threshold {
    type Err = String;

    /// Parses `"> 0.05"`, `"<=300"`, `"== 1"`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let split = text
            .find(|c: char| !matches!(c, '<' | '>' | '=' | '!'))
            .unwrap_or(text.len());
        let (op, number) = text.split_at(split);
        let op = op.parse::<CompareOp>().map_err(|_| {
            format!("`{text}` does not start with a comparison (==, !=, <, <=, >, >=)")
        })?;
        let value = number
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("`{}` is not a number", number.trim()))?;
        if !value.is_finite() {
            return Err(format!("`{}` is not a finite number", number.trim()));
        }
        Ok(Threshold { op, value })
    }
}

/// What an empty query result means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EmptyResult {
    Ok,
    Fail,
    #[default]
    Unknown,
}

/// `kind = "prometheus"`: a PromQL instant query with a threshold applied to every series.
#[derive(Debug, Clone, PartialEq)]
pub struct PrometheusCheck {
    /// `server`: the id of a `[[prometheus]]` entry (default: the only one).
    pub server: String,
    /// `query`: PromQL.
    pub query: String,
    /// `threshold`: e.g. `"> 0.05"`.
    pub threshold: Threshold,
    /// `empty` (default `unknown`): what an empty result means (`ok`, `fail`, `unknown`).
    pub empty: EmptyResult,
}

/// A series selector for scrape checks: a metric name and exact label matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesSelector {
    pub metric: String,
    pub labels: BTreeMap<String, String>,
}

/// How a scrape check turns samples into one value.
#[derive(Debug, Clone, PartialEq)]
pub enum ScrapeMode {
    /// The selected series' value (summed over matching series).
    Value,
    /// The per-second increase of the selected counter over `window`.
    Rate { window: Duration },
    /// rate(selected) / rate(denominator) over `window` (e.g. errors / requests).
    Ratio {
        denominator: SeriesSelector,
        window: Duration,
    },
}

/// `kind = "scrape"`: fetch a `/metrics` text exposition and evaluate a series.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeCheck {
    /// `url`: the target's metrics endpoint.
    pub url: String,
    /// `metric` and `labels`.
    pub series: SeriesSelector,
    /// `mode` (`value`, `rate`, `ratio`) with `window` (default 1m) and, for ratio,
    /// `denominator = { metric = ..., labels = {...} }`.
    pub mode: ScrapeMode,
    pub threshold: Threshold,
    /// `empty` (default `unknown`): what no matching series means.
    pub empty: EmptyResult,
}

/// `kind = "tcp"`: connect to `address` (host:port) within the timeout.
#[derive(Debug, Clone, PartialEq)]
pub struct TcpCheck {
    pub address: String,
}

/// One `[[prometheus]]` entry: a Prometheus-compatible server prometheus checks query.
#[derive(Debug, Clone, PartialEq)]
pub struct PrometheusServer {
    /// `id` (unique).
    pub id: String,
    /// `url`: the server's base URL, e.g. `http://127.0.0.1:9090`.
    pub url: String,
    /// `timeout` (default 5s).
    pub timeout: Duration,
    /// `bearer_token = { env = ... }` or `basic = { username = ..., password = { env = ... } }`.
    pub auth: Option<PrometheusAuth>,
}

/// How golive authenticates to a Prometheus server.
#[derive(Debug, Clone, PartialEq)]
pub enum PrometheusAuth {
    Bearer(SecretSource),
    Basic {
        username: String,
        password: SecretSource,
    },
}

/// Section `[monitoring]`: how probing runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Monitoring {
    /// `max_concurrent_probes` (default 256): probes in flight at once.
    pub max_concurrent_probes: usize,
    /// `history_retention_days` (default 90): how long per-minute history is kept.
    pub history_retention_days: u32,
}

impl Default for Monitoring {
    fn default() -> Self {
        Monitoring {
            max_concurrent_probes: 256,
            history_retention_days: 90,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_parse_and_say_when_they_are_breached() {
        let threshold: Threshold = "> 0.05".parse().unwrap();
        assert!(threshold.breached(0.071));
        assert!(!threshold.breached(0.05));
        let threshold: Threshold = "<=300".parse().unwrap();
        assert!(threshold.breached(300.0));
        assert_eq!(threshold.to_string(), "<= 300");
        assert!("~ 3".parse::<Threshold>().is_err());
        assert!("> lots".parse::<Threshold>().is_err());
        assert!("> inf".parse::<Threshold>().is_err());
    }

    #[test]
    fn status_ranges_print_the_way_people_write_them() {
        assert_eq!(
            StatusRange {
                low: 200,
                high: 299
            }
            .to_string(),
            "2xx"
        );
        assert_eq!(
            StatusRange {
                low: 301,
                high: 301
            }
            .to_string(),
            "301"
        );
        assert_eq!(
            StatusRange {
                low: 300,
                high: 399
            }
            .to_string(),
            "3xx"
        );
        assert_eq!(
            StatusRange {
                low: 200,
                high: 204
            }
            .to_string(),
            "200-204"
        );
    }
}
