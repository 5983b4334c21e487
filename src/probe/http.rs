//! The http executor: one request, then status, body, JSON, latency and certificate expiry checked
//! in that order; the first problem found is the reason.

use std::time::Instant;

use jiff::Timestamp;
use serde_json::Value;

use super::clients::ClientSettings;
use super::errors::transport_reason;
use super::{ProbeContext, ProbeMemory};
use crate::core::health::{Outcome, ProbeResult};
use crate::plan::SecretSource;
use crate::plan::checks::{CompareOp, HeaderValue, HttpCheck, JsonCondition, StatusRange};

/// The most of a response body that is read and matched (health endpoints are small); the rest is
/// ignored, so a huge page cannot exhaust memory with hundreds of probes in flight.
const MAX_BODY: usize = 256 * 1024;

/// An http check's request parts that do not change between probes.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    client: reqwest::Client,
    method: reqwest::Method,
    url: reqwest::Url,
    /// The headers written in the plan; those read from the environment or a file are read at
    /// each probe, so a rotated token is picked up.
    headers: reqwest::header::HeaderMap,
}

/// Looks up the client and parses the method and URL once per check (they were validated with
/// the plan, so a failure here is unexpected and reported as unknown).
fn prepare(check: &HttpCheck, context: &ProbeContext) -> Result<Prepared, String> {
    let client = context.clients.get(&ClientSettings::of(check))?;
    let method = reqwest::Method::from_bytes(check.method.as_bytes())
        .map_err(|_| format!("`{}` is not an HTTP method", check.method))?;
    let url = reqwest::Url::parse(&check.url).map_err(|error| format!("bad url: {error}"))?;
    let mut headers = reqwest::header::HeaderMap::new();
    for (name, value) in &check.headers {
        if let HeaderValue::Text(text) = value {
            let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("`{name}` is not an HTTP header name"))?;
            let value = reqwest::header::HeaderValue::from_str(text)
                .map_err(|_| format!("the value of header `{name}` is not valid"))?;
            headers.append(name, value);
        }
    }
    Ok(Prepared {
        client,
        method,
        url,
        headers,
    })
}

/// A header value read from the environment or a file, marked sensitive so it is never logged.
/// A missing or unusable secret makes the probe unknown (golive cannot tell), not failing.
fn secret_header(source: &SecretSource) -> Result<reqwest::header::HeaderValue, String> {
    let secret = crate::secrets::read_secret(source)?;
    let mut value = reqwest::header::HeaderValue::from_str(secret.expose())
        .map_err(|_| "the value is not a valid HTTP header value".to_string())?;
    value.set_sensitive(true);
    Ok(value)
}

pub(super) async fn probe(
    check: &HttpCheck,
    context: &ProbeContext,
    memory: &mut ProbeMemory,
    started: Instant,
) -> ProbeResult {
    if memory.http.is_none() {
        match prepare(check, context) {
            Ok(prepared) => memory.http = Some(prepared),
            Err(problem) => return ProbeResult::new(Outcome::Unknown, problem, started.elapsed()),
        }
    }
    let Some(prepared) = memory.http.as_ref() else {
        return ProbeResult::new(
            Outcome::Unknown,
            "internal: no prepared request",
            started.elapsed(),
        );
    };
    let mut request = prepared
        .client
        .request(prepared.method.clone(), prepared.url.clone())
        .headers(prepared.headers.clone());
    for (name, value) in &check.headers {
        if let HeaderValue::Secret(source) = value {
            match secret_header(source) {
                Ok(value) => request = request.header(name, value),
                Err(problem) => {
                    return ProbeResult::new(
                        Outcome::Unknown,
                        format!("header {name}: {problem}"),
                        started.elapsed(),
                    );
                }
            }
        }
    }
    if let Some(body) = &check.body {
        request = request.body(body.clone());
    }
    let mut response = match request.send().await {
        Ok(response) => response,
        Err(error) => {
            return ProbeResult::new(
                Outcome::Failing,
                transport_reason(&error),
                started.elapsed(),
            );
        }
    };
    let status = response.status().as_u16();
    let cert_not_after = response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(reqwest::tls::TlsInfo::peer_certificate)
        .and_then(not_after);
    let body = match read_body(&mut response).await {
        Ok(body) => body,
        Err(error) => {
            return ProbeResult::new(
                Outcome::Failing,
                format!("reading the body: {}", transport_reason(&error)),
                started.elapsed(),
            );
        }
    };
    let latency = started.elapsed();

    let problem = status_problem(status, &check.expect_status)
        .or_else(|| body_problem(check, memory, &body))
        .or_else(|| {
            check.max_latency.filter(|max| latency > *max).map(|max| {
                format!(
                    "slow: {} > {}",
                    crate::human::latency(latency),
                    crate::human::latency(max)
                )
            })
        });
    let mut result = match problem {
        Some(reason) => ProbeResult::new(Outcome::Failing, reason, latency),
        None => ProbeResult::new(
            Outcome::Healthy,
            format!("status {status} in {}", crate::human::latency(latency)),
            latency,
        ),
    };
    result.cert_not_after = cert_not_after;
    if let Some(expires) = cert_not_after {
        result.warning = expiry_warning(
            expires,
            context.clock().now(),
            check.cert_expiry_warning_days,
        );
    }
    result
}

/// Reads at most [`MAX_BODY`] bytes of the body.
async fn read_body(response: &mut reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_BODY.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= MAX_BODY {
            break;
        }
    }
    Ok(body)
}

fn status_problem(status: u16, expected: &[StatusRange]) -> Option<String> {
    let default = [StatusRange {
        low: 200,
        high: 299,
    }];
    let expected = if expected.is_empty() {
        &default[..]
    } else {
        expected
    };
    if expected.iter().any(|range| range.contains(status)) {
        return None;
    }
    let wanted = expected
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    Some(format!("status {status} (expected {wanted})"))
}

fn body_problem(check: &HttpCheck, memory: &mut ProbeMemory, body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    if let Some(needle) = &check.body_contains
        && !text.contains(needle.as_str())
    {
        return Some(format!("body does not contain {needle:?}"));
    }
    if let Some(pattern) = &check.body_regex {
        let compiled = match &memory.body_regex {
            Some((cached, regex)) if cached == pattern => Ok(regex.clone()),
            _ => regex::Regex::new(pattern),
        };
        match compiled {
            Ok(regex) => {
                let matched = regex.is_match(&text);
                memory.body_regex = Some((pattern.clone(), regex));
                if !matched {
                    return Some(format!("body does not match /{pattern}/"));
                }
            }
            Err(error) => return Some(format!("body_regex is invalid: {error}")),
        }
    }
    if check.json.is_empty() {
        return None;
    }
    let Ok(document) = serde_json::from_slice::<Value>(body) else {
        return Some("body is not JSON".to_string());
    };
    check
        .json
        .iter()
        .find_map(|condition| json_problem(&document, condition))
}

/// What is wrong with `condition` in `document`, e.g. `body: $.status is "degraded" (expected ==
/// "ok")`.
pub(crate) fn json_problem(document: &Value, condition: &JsonCondition) -> Option<String> {
    let Some(found) = json_path(document, &condition.path) else {
        return Some(format!("body: {} missing", condition.path));
    };
    if compare(found, condition.op, &condition.value) {
        return None;
    }
    Some(format!(
        "body: {} is {} (expected {} {})",
        condition.path, found, condition.op, condition.value
    ))
}

fn compare(found: &Value, op: CompareOp, expected: &Value) -> bool {
    if let (Some(left), Some(right)) = (found.as_f64(), expected.as_f64()) {
        return op.holds(left, right);
    }
    match op {
        CompareOp::Eq => found == expected,
        CompareOp::Ne => found != expected,
        // Order is only defined between numbers and between strings.
        _ => match (found.as_str(), expected.as_str()) {
            (Some(left), Some(right)) => match op {
                CompareOp::Lt => left < right,
                CompareOp::Le => left <= right,
                CompareOp::Gt => left > right,
                _ => left >= right,
            },
            _ => false,
        },
    }
}

/// Follows a path like `$.a.b[0].c` (also `$`, `a.b`, `$['a']`-free forms) into a document.
pub(crate) fn json_path<'a>(document: &'a Value, path: &str) -> Option<&'a Value> {
    let rest = path.strip_prefix('$').unwrap_or(path);
    let mut current = document;
    let mut chars = rest.char_indices().peekable();
    let mut key_start: Option<usize> = None;
    let mut segments: Vec<Segment<'_>> = Vec::new();
    while let Some((index, c)) = chars.next() {
        match c {
            '.' | '[' => {
                if let Some(start) = key_start.take() {
                    segments.push(Segment::Key(&rest[start..index]));
                }
                if c == '[' {
                    let end = rest[index..].find(']')? + index;
                    let inner = rest[index + 1..end].trim();
                    let inner_unquoted = inner.trim_matches(|q| q == '\'' || q == '"');
                    match inner.parse::<usize>() {
                        Ok(position) => segments.push(Segment::Index(position)),
                        Err(_) => segments.push(Segment::Key(inner_unquoted)),
                    }
                    while chars.peek().is_some_and(|(next, _)| *next <= end) {
                        chars.next();
                    }
                }
            }
            _ => {
                if key_start.is_none() {
                    key_start = Some(index);
                }
            }
        }
    }
    if let Some(start) = key_start {
        segments.push(Segment::Key(&rest[start..]));
    }
    for segment in segments {
        current = match segment {
            Segment::Key(key) => current.get(key)?,
            Segment::Index(position) => current.get(position)?,
        };
    }
    Some(current)
}

enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

/// The notAfter of a DER certificate.
fn not_after(der: &[u8]) -> Option<Timestamp> {
    use x509_cert::der::Decode;
    let certificate = x509_cert::Certificate::from_der(der).ok()?;
    let seconds = certificate
        .tbs_certificate()
        .validity()
        .not_after
        .to_unix_duration()
        .as_secs();
    Timestamp::from_second(i64::try_from(seconds).ok()?).ok()
}

/// `TLS: certificate expires 2026-12-03 (in 6 days)` when the certificate expires within
/// `warning_days` of `now`.
fn expiry_warning(expires: Timestamp, now: Timestamp, warning_days: u32) -> Option<String> {
    let left = expires.duration_since(now);
    if left > jiff::SignedDuration::from_hours(24 * i64::from(warning_days)) {
        return None;
    }
    let date = expires.strftime("%Y-%m-%d");
    let days = left.as_secs() / 86_400;
    Some(if left.is_negative() {
        format!("TLS: certificate expired {date}")
    } else if days == 0 {
        format!("TLS: certificate expires {date} (in less than a day)")
    } else if days == 1 {
        format!("TLS: certificate expires {date} (in 1 day)")
    } else {
        format!("TLS: certificate expires {date} (in {days} days)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_paths_reach_nested_keys_and_array_items() {
        let document = json!({"status": "ok", "checks": [{"name": "db", "up": true}], "n": 3});
        assert_eq!(json_path(&document, "$.status"), Some(&json!("ok")));
        assert_eq!(json_path(&document, "$.checks[0].up"), Some(&json!(true)));
        assert_eq!(json_path(&document, "$['n']"), Some(&json!(3)));
        assert_eq!(json_path(&document, "$.checks[1].up"), None);
        assert_eq!(json_path(&document, "$"), Some(&document));
    }

    #[test]
    fn a_degraded_status_names_the_value_and_the_expectation() {
        let condition = JsonCondition {
            path: "$.status".to_string(),
            op: CompareOp::Eq,
            value: json!("ok"),
        };
        assert_eq!(
            json_problem(&json!({"status": "degraded"}), &condition).as_deref(),
            Some(r#"body: $.status is "degraded" (expected == "ok")"#)
        );
        assert_eq!(
            json_problem(&json!({}), &condition).as_deref(),
            Some("body: $.status missing")
        );
        assert_eq!(json_problem(&json!({"status": "ok"}), &condition), None);
    }

    #[test]
    fn certificates_expiring_soon_warn_with_the_date_and_days_left() {
        let now: Timestamp = "2026-11-27T12:00:00Z".parse().unwrap();
        let expires: Timestamp = "2026-11-30T13:00:00Z".parse().unwrap();
        assert_eq!(
            expiry_warning(expires, now, 14).as_deref(),
            Some("TLS: certificate expires 2026-11-30 (in 3 days)")
        );
        assert_eq!(expiry_warning(expires, now, 2), None);
    }
}
