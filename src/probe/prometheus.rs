//! The prometheus executor: an instant query against a `[[prometheus]]` server, with the check's
//! threshold applied to every returned series.
//!
//! Anything wrong with the monitoring itself (server down, HTTP error, bad JSON, a query error, a
//! missing credential) is `unknown`: nobody is paged because Prometheus is down.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::clients::{ClientCache, ClientSettings};
use super::errors::transport_reason;
use crate::core::health::{Outcome, ProbeResult};
use crate::domain::Secret;
use crate::plan::checks::{
    CompareOp, EmptyResult, PrometheusAuth, PrometheusCheck, PrometheusServer, Threshold,
};

/// A Prometheus server with its credentials read once, when the context is built.
pub(crate) struct Server {
    url: String,
    timeout: Duration,
    /// The credentials, or why they are unavailable (never the secret itself).
    auth: Result<Option<Credentials>, String>,
}

enum Credentials {
    Bearer(Secret),
    Basic { username: String, password: Secret },
}

impl Server {
    pub(crate) fn new(server: &PrometheusServer) -> Server {
        let auth = match &server.auth {
            None => Ok(None),
            Some(PrometheusAuth::Bearer(source)) => crate::secrets::read_secret(source)
                .map(|token| Some(Credentials::Bearer(token)))
                .map_err(|why| {
                    format!("prometheus `{}` bearer token unavailable: {why}", server.id)
                }),
            Some(PrometheusAuth::Basic { username, password }) => {
                crate::secrets::read_secret(password)
                    .map(|password| {
                        Some(Credentials::Basic {
                            username: username.clone(),
                            password,
                        })
                    })
                    .map_err(|why| {
                        format!("prometheus `{}` password unavailable: {why}", server.id)
                    })
            }
        };
        if let Err(problem) = &auth {
            tracing::warn!(server = %server.id, problem = %problem, "prometheus credentials missing");
        }
        Server {
            url: server.url.trim_end_matches('/').to_string(),
            timeout: server.timeout,
            auth,
        }
    }
}

pub(super) async fn probe(
    check: &PrometheusCheck,
    check_timeout: Duration,
    servers: &HashMap<String, Server>,
    clients: &ClientCache,
) -> ProbeResult {
    let unknown = |reason: String| ProbeResult::new(Outcome::Unknown, reason, Duration::ZERO);
    // An empty `server` means the only one, when the plan has exactly one.
    let only = (check.server.is_empty() && servers.len() == 1)
        .then(|| servers.values().next())
        .flatten();
    let Some(server) = servers.get(&check.server).or(only) else {
        return unknown(format!(
            "prometheus server `{}` is not configured",
            check.server
        ));
    };
    let credentials = match &server.auth {
        Ok(credentials) => credentials,
        Err(problem) => return unknown(problem.clone()),
    };
    let client = match clients.get(&ClientSettings::default()) {
        Ok(client) => client,
        Err(problem) => return unknown(problem),
    };
    let limit = server.timeout.min(check_timeout);
    let mut request = client
        .get(format!("{}/api/v1/query", server.url))
        .query(&[("query", check.query.as_str())])
        .timeout(limit);
    request = match credentials {
        None => request,
        Some(Credentials::Bearer(token)) => request.bearer_auth(token.expose()),
        Some(Credentials::Basic { username, password }) => {
            request.basic_auth(username, Some(password.expose()))
        }
    };
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) if error.is_timeout() => {
            return unknown(format!(
                "prometheus unreachable: timeout after {}",
                crate::human::std_duration(limit)
            ));
        }
        Err(error) => {
            return unknown(format!(
                "prometheus unreachable: {}",
                transport_reason(&error)
            ));
        }
    };
    let status = response.status();
    let body = match response.bytes().await {
        Ok(body) => body,
        Err(error) => {
            return unknown(format!(
                "prometheus unreachable: {}",
                transport_reason(&error)
            ));
        }
    };
    let answer: Answer = match serde_json::from_slice(&body) {
        Ok(answer) => answer,
        Err(_) if !status.is_success() => {
            return unknown(format!("prometheus error: HTTP {}", status.as_u16()));
        }
        Err(error) => return unknown(format!("prometheus returned invalid JSON: {error}")),
    };
    if answer.status != "success" {
        let message = answer
            .error
            .unwrap_or_else(|| format!("status {}", answer.status));
        return unknown(format!("prometheus error: {message}"));
    }
    if !status.is_success() {
        return unknown(format!("prometheus error: HTTP {}", status.as_u16()));
    }
    let series = match answer.data.map(series_of) {
        Some(Ok(series)) => series,
        Some(Err(problem)) => return unknown(problem),
        None => return unknown("prometheus returned no data".to_string()),
    };
    evaluate(
        &series,
        check.threshold,
        check.empty,
        "prometheus returned no series",
    )
}

/// One labelled value of a query result.
pub(crate) struct Series {
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) value: f64,
}

#[derive(Deserialize)]
struct Answer {
    status: String,
    data: Option<Data>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Value,
}

fn series_of(data: Data) -> Result<Vec<Series>, String> {
    match data.result_type.as_str() {
        "vector" => {
            let items: Vec<VectorItem> = serde_json::from_value(data.result)
                .map_err(|error| format!("prometheus returned an unreadable vector: {error}"))?;
            items
                .into_iter()
                .map(|item| {
                    Ok(Series {
                        labels: item.metric,
                        value: sample_value(&item.value)?,
                    })
                })
                .collect()
        }
        "scalar" => {
            let sample: (Value, Value) = serde_json::from_value(data.result)
                .map_err(|error| format!("prometheus returned an unreadable scalar: {error}"))?;
            Ok(vec![Series {
                labels: BTreeMap::new(),
                value: sample_value(&sample)?,
            }])
        }
        other => Err(format!(
            "prometheus returned a {other}; the query must give an instant vector or a scalar"
        )),
    }
}

#[derive(Deserialize)]
struct VectorItem {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    value: (Value, Value),
}

/// Prometheus sends sample values as strings (`"0.071"`, `"NaN"`, `"+Inf"`).
fn sample_value(sample: &(Value, Value)) -> Result<f64, String> {
    let text = sample.1.as_str().unwrap_or_default();
    match text {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => text.parse::<f64>().map_err(|_| {
            format!(
                "prometheus returned a sample that is not a number: {}",
                sample.1
            )
        }),
    }
}

/// Applies `threshold` to every series: failing if any breaches, with the worst one as the value.
/// `empty_reason` is the reason used when there is no series and `empty` says unknown.
pub(crate) fn evaluate(
    series: &[Series],
    threshold: Threshold,
    empty: EmptyResult,
    empty_reason: &str,
) -> ProbeResult {
    let Some(worst) = worst(series, threshold) else {
        return match empty {
            EmptyResult::Ok => {
                ProbeResult::new(Outcome::Healthy, "no series (empty = ok)", Duration::ZERO)
            }
            EmptyResult::Fail => {
                ProbeResult::new(Outcome::Failing, "no series (empty = fail)", Duration::ZERO)
            }
            EmptyResult::Unknown => {
                ProbeResult::new(Outcome::Unknown, empty_reason, Duration::ZERO)
            }
        };
    };
    let labels = if series.len() > 1 && !worst.labels.is_empty() {
        format!(" {}", format_labels(&worst.labels))
    } else {
        String::new()
    };
    let mut result = if threshold.breached(worst.value) {
        ProbeResult::new(
            Outcome::Failing,
            format!("value {} {threshold}{labels}", format_value(worst.value)),
            Duration::ZERO,
        )
    } else {
        ProbeResult::new(
            Outcome::Healthy,
            format!(
                "value {}{labels} (fails when {threshold})",
                format_value(worst.value)
            ),
            Duration::ZERO,
        )
    };
    result.value = Some(worst.value);
    result
}

/// The series that breaches the threshold most, or when none does, the one closest to it.
fn worst(series: &[Series], threshold: Threshold) -> Option<&Series> {
    if let Some(breaching) = series
        .iter()
        .filter(|one| threshold.breached(one.value))
        .reduce(|a, b| {
            if more_extreme(b.value, a.value, threshold.op) {
                b
            } else {
                a
            }
        })
    {
        return Some(breaching);
    }
    series.iter().reduce(|a, b| {
        if more_extreme(b.value, a.value, threshold.op) {
            b
        } else {
            a
        }
    })
}

/// Whether `candidate` is further in the direction the threshold fails than `current`.
fn more_extreme(candidate: f64, current: f64, op: CompareOp) -> bool {
    if current.is_nan() {
        return !candidate.is_nan();
    }
    match op {
        CompareOp::Gt | CompareOp::Ge => candidate > current,
        CompareOp::Lt | CompareOp::Le => candidate < current,
        CompareOp::Eq | CompareOp::Ne => false,
    }
}

/// A value for people: about four significant digits (`0.07143`, `12`, `1235`).
pub(crate) fn format_value(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    if value == value.trunc() && value.abs() < 1e15 {
        return format!("{value:.0}");
    }
    let magnitude = value.abs().log10().floor() as i32;
    let decimals = (3 - magnitude).clamp(0, 12) as usize;
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// `{job="api",route="/checkout"}`.
pub(crate) fn format_labels(labels: &BTreeMap<String, String>) -> String {
    let inner = labels
        .iter()
        .map(|(name, value)| format!("{name}={value:?}"))
        .collect::<Vec<_>>()
        .join(",");
    format!("{{{inner}}}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(route: &str, value: f64) -> Series {
        Series {
            labels: BTreeMap::from([("route".to_string(), route.to_string())]),
            value,
        }
    }

    #[test]
    fn the_worst_breaching_series_is_the_value_with_its_labels() {
        let threshold: Threshold = "> 0.05".parse().unwrap();
        let all = [series("/a", 0.01), series("/b", 0.071), series("/c", 0.06)];
        let result = evaluate(&all, threshold, EmptyResult::Unknown, "none");
        assert_eq!(result.outcome, Outcome::Failing);
        assert_eq!(result.reason, r#"value 0.071 > 0.05 {route="/b"}"#);
        assert_eq!(result.value, Some(0.071));
    }

    #[test]
    fn a_single_series_within_the_threshold_is_healthy() {
        let threshold: Threshold = "< 1".parse().unwrap();
        let result = evaluate(
            &[series("/a", 3.0)],
            threshold,
            EmptyResult::Unknown,
            "none",
        );
        assert_eq!(result.outcome, Outcome::Healthy);
        assert_eq!(result.reason, "value 3 (fails when < 1)");
    }

    #[test]
    fn values_print_with_about_four_significant_digits() {
        assert_eq!(format_value(0.071), "0.071");
        assert_eq!(format_value(1.0 / 14.0), "0.07143");
        assert_eq!(format_value(12.0), "12");
        assert_eq!(format_value(1234.56), "1235");
    }

    #[test]
    fn no_series_follows_the_empty_setting() {
        let threshold: Threshold = "> 0".parse().unwrap();
        assert_eq!(
            evaluate(&[], threshold, EmptyResult::Unknown, "none").outcome,
            Outcome::Unknown
        );
        assert_eq!(
            evaluate(&[], threshold, EmptyResult::Fail, "none").outcome,
            Outcome::Failing
        );
        assert_eq!(
            evaluate(&[], threshold, EmptyResult::Ok, "none").outcome,
            Outcome::Healthy
        );
    }
}
