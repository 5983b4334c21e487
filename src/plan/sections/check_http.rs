//! The keys of `kind = "http"` checks: the request (URL, method, headers, body), what a good
//! response looks like (status, body text, regular expression, JSON values, latency) and TLS.

use toml::Spanned;
use toml::de::DeValue;

use super::check_limits::{Limits, read_url};
use crate::plan::checks::{CompareOp, HeaderValue, HttpCheck, JsonCondition, StatusRange};
use crate::plan::reader::{
    Expected, Reported, Sink, TableReader, parse_choice_any_case, parse_name, push_or_poison,
    read_secret_source,
};
use crate::plan::values;

/// The HTTP methods a check may use.
pub(super) const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// `kind = "http"`.
pub(in crate::plan) fn read_http(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    limits: &Limits<'_>,
) -> Option<HttpCheck> {
    let url = read_url(table, sink, "https://shop.example/healthz");
    let method = table
        .get_str(sink, "method")
        .and_then(|method| match method {
            None => Ok("GET".to_string()),
            Some(method) => parse_choice_any_case(
                sink,
                &table.key_path("method"),
                &method,
                "HTTP method",
                &METHODS.map(|name| (name, name)),
            )
            .map(str::to_string),
        });
    let headers = read_headers(table, sink, limits);
    let body = table.get_str(sink, "body");
    let expect_status = read_expect_status(table, sink);
    let body_contains = table.get_str(sink, "body_contains");
    let body_regex = table.get_str(sink, "body_regex").and_then(|pattern| {
        let Some(pattern) = pattern else {
            return Ok(None);
        };
        match regex::Regex::new(pattern.get_ref()) {
            Ok(_) => Ok(Some(pattern.into_inner())),
            Err(error) => {
                let text = error.to_string();
                let reason = text
                    .lines()
                    .rev()
                    .find_map(|line| line.trim().strip_prefix("error: "))
                    .unwrap_or("it does not compile");
                sink.error(
                    pattern.span(),
                    &table.key_path("body_regex"),
                    format!("`{}` is not a valid regular expression: {reason}", pattern.get_ref()),
                    Some("fix the pattern (Rust `regex` syntax; escape `(`, `[`, `.` with `\\\\` to match them literally)".to_string()),
                );
                Err(Reported)
            }
        }
    });
    let json = read_json_conditions(table, sink);
    let max_latency = table.get_duration(sink, "max_latency").and_then(|latency| {
        let Some(latency) = latency else {
            return Ok(None);
        };
        match limits.timeout {
            Some(timeout) if *latency.get_ref() > timeout => {
                sink.error(
                    latency.span(),
                    &table.key_path("max_latency"),
                    format!(
                        "a latency limit of {} can never fire: the timeout of {} ends the probe first",
                        values::show_duration(*latency.get_ref()),
                        values::show_duration(timeout)
                    ),
                    Some("lower `max_latency` below `timeout`, or raise `timeout`".to_string()),
                );
                Err(Reported)
            }
            _ => Ok(Some(latency.into_inner())),
        }
    });
    let follow_redirects = table.get_bool(sink, "follow_redirects");
    let tls_verify = table.get_bool(sink, "tls_verify");
    let ca_file = table.get_str(sink, "ca_file").and_then(|file| match file {
        None => Ok(None),
        Some(file) if file.get_ref().trim().is_empty() => {
            sink.error(
                file.span(),
                &table.key_path("ca_file"),
                "`ca_file` must not be empty",
                Some("give the path of a PEM file of CA certificates, relative to the plan, or remove the key".to_string()),
            );
            Err(Reported)
        }
        // Whether the file exists is the daemon's business: `check` may run elsewhere.
        Some(file) => Ok(Some(limits.base_dir.join(file.get_ref()))),
    });
    let expiry_days = table.get_int(sink, "cert_expiry_warning_days", 0, 3650);
    let fresh_connection = table.get_bool(sink, "fresh_connection");
    Some(HttpCheck {
        url: url?,
        method: method.ok()?,
        headers: headers.ok()?,
        body: body.ok()?.map(Spanned::into_inner),
        expect_status: expect_status.ok()?,
        body_contains: body_contains.ok()?.map(Spanned::into_inner),
        body_regex: body_regex.ok()?,
        json: json.ok()?,
        max_latency: max_latency.ok()?,
        follow_redirects: follow_redirects.ok()?.unwrap_or(true),
        tls_verify: tls_verify.ok()?.unwrap_or(true),
        ca_file: ca_file.ok()?,
        cert_expiry_warning_days: expiry_days
            .ok()?
            .map_or(14, |days| u32::try_from(days).unwrap_or(u32::MAX)),
        fresh_connection: fresh_connection.ok()?.unwrap_or(false),
    })
}

/// `headers = { Accept = "application/json", Authorization = { env = "HEALTH_TOKEN" } }`: names and
/// values HTTP allows. A credential header (`Authorization`, `Proxy-Authorization`, `Cookie`) must
/// come from the environment or a file; any header may. Values are not quoted in messages.
fn read_headers(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    limits: &Limits<'_>,
) -> Result<Vec<(String, HeaderValue)>, Reported> {
    let Some(entries) = table.get_entries(sink, "headers")? else {
        return Ok(Vec::new());
    };
    let mut headers = Vec::new();
    let mut bad = false;
    for entry in entries.into_inner() {
        let name = entry.key;
        let path = format!("{}.{}", table.key_path("headers"), name.get_ref());
        match entry.value.get_ref() {
            DeValue::String(text) => {
                let value = Spanned::new(entry.value.span(), text.to_string());
                if is_credential_header(name.get_ref()) {
                    sink.error(
                        name.span(),
                        &path,
                        format!(
                            "the `{}` header is a credential and must not be written in the plan",
                            name.get_ref()
                        ),
                        Some(format!(
                            "read it from the environment or a file: `{} = {{ env = \"HEALTH_TOKEN\" }}` (the variable holds the whole value, e.g. `Bearer abc...`)",
                            name.get_ref()
                        )),
                    );
                    bad = true;
                } else if valid_header(sink, &path, &name, &value) {
                    headers.push((name.into_inner(), HeaderValue::Text(value.into_inner())));
                } else {
                    bad = true;
                }
            }
            DeValue::Table(source) => {
                let mut reader = TableReader::new(source, entry.value.span(), path.clone());
                reader.redact_values();
                let found = read_secret_source(&mut reader, sink, limits.base_dir, "header value");
                reader.finish(sink);
                let valid_name =
                    reqwest::header::HeaderName::from_bytes(name.get_ref().as_bytes()).is_ok();
                if !valid_name {
                    sink.error(
                        name.span(),
                        &path,
                        format!("`{}` is not an HTTP header name", name.get_ref()),
                        Some("use letters, digits and `-`, e.g. `Authorization`".to_string()),
                    );
                }
                match found {
                    Some(source) if valid_name => {
                        headers.push((name.into_inner(), HeaderValue::Secret(source)));
                    }
                    _ => bad = true,
                }
            }
            other => {
                sink.error(
                    entry.value.span(),
                    &path,
                    format!(
                        "expected a string or a secret source, found {}",
                        other.type_str()
                    ),
                    Some(format!(
                        "write `{0} = \"value\"`, or for a credential `{0} = {{ env = \"VAR\" }}`",
                        name.get_ref()
                    )),
                );
                bad = true;
            }
        }
    }
    if bad { Err(Reported) } else { Ok(headers) }
}

/// Headers that carry credentials and so must come from the environment or a file.
pub(in crate::plan) fn is_credential_header(name: &str) -> bool {
    ["authorization", "proxy-authorization", "cookie"]
        .iter()
        .any(|credential| name.eq_ignore_ascii_case(credential))
}

/// Whether `name: value` is a header HTTP allows; otherwise reports it (without the value, which
/// may be a credential).
pub(in crate::plan) fn valid_header(
    sink: &mut Sink<'_>,
    path: &str,
    name: &Spanned<String>,
    value: &Spanned<String>,
) -> bool {
    if reqwest::header::HeaderName::from_bytes(name.get_ref().as_bytes()).is_err() {
        sink.error(
            name.span(),
            path,
            format!("`{}` is not an HTTP header name", name.get_ref()),
            Some("use letters, digits and `-`, e.g. `Accept` or `X-Request-Id`".to_string()),
        );
        false
    } else if reqwest::header::HeaderValue::from_str(value.get_ref()).is_err() {
        sink.error(
            value.span(),
            path,
            format!(
                "the value of header `{}` is not a valid HTTP header value",
                name.get_ref()
            ),
            Some("use visible ASCII text without line breaks".to_string()),
        );
        false
    } else {
        true
    }
}

/// `expect_status = [200, "300-399", "2xx"]` (default 200-299).
fn read_expect_status(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
) -> Result<Vec<StatusRange>, Reported> {
    let default = vec![StatusRange {
        low: 200,
        high: 299,
    }];
    let Some(items) = table.get_array(sink, "expect_status")? else {
        return Ok(default);
    };
    let path = table.key_path("expect_status");
    let help = "write status codes and ranges, e.g. `[200, 204, \"300-399\", \"2xx\"]`";
    if items.get_ref().is_empty() {
        sink.error(
            items.span(),
            &path,
            "`expect_status` is empty, so every response would fail",
            Some(help.to_string()),
        );
        return Err(Reported);
    }
    let mut ranges = Vec::new();
    let mut bad = false;
    for (index, item) in items.get_ref().iter().enumerate() {
        let parsed = match item.get_ref() {
            DeValue::Integer(_) | DeValue::String(_) => {
                let text = match item.get_ref() {
                    DeValue::String(text) => text.to_string(),
                    _ => sink.snippet(item.span()),
                };
                values::status_range(&text)
            }
            other => Err(format!(
                "expected a status code or a range, found {}",
                other.type_str()
            )),
        };
        match parsed {
            Ok(range) => ranges.push(range),
            Err(reason) => {
                sink.error(
                    item.span(),
                    &format!("{path}[{index}]"),
                    format!(
                        "invalid expected status `{}`: {reason}",
                        sink.snippet(item.span())
                    ),
                    Some(help.to_string()),
                );
                bad = true;
            }
        }
    }
    if bad { Err(Reported) } else { Ok(ranges) }
}

/// `json = [{ path = "$.status", op = "==", value = "ok" }, ...]`.
fn read_json_conditions(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
) -> Result<Vec<JsonCondition>, Reported> {
    let mut conditions = Some(Vec::new());
    let entries = table.array_of_tables(sink, "json");
    for mut entry in entries {
        let path = entry.req_str(sink, "path").and_then(|path| match values::json_path(path.get_ref()) {
            Ok(()) => Some(path.into_inner()),
            Err(reason) => {
                sink.error(
                    path.span(),
                    &entry.key_path("path"),
                    format!("invalid JSON path `{}`: {reason}", path.get_ref()),
                    Some("write `$` followed by `.name` and `[index]` segments, e.g. `$.checks[0].status`".to_string()),
                );
                None
            }
        });
        let op = entry
            .req_str(sink, "op")
            .and_then(|op| parse_name::<CompareOp>(sink, &entry.key_path("op"), &op, "comparison"));
        let value = entry
            .required(sink, "value", Expected::String)
            .and_then(|value| {
                let json = match value.get_ref() {
                    DeValue::String(text) => Some(serde_json::Value::String(text.to_string())),
                    DeValue::Boolean(flag) => Some(serde_json::Value::Bool(*flag)),
                    DeValue::Integer(_) | DeValue::Float(_) => sink
                        .snippet(value.span())
                        .replace('_', "")
                        .parse::<f64>()
                        .ok()
                        .and_then(serde_json::Number::from_f64)
                        .map(serde_json::Value::Number),
                    _ => None,
                };
                if json.is_none() {
                    sink.error(
                        value.span(),
                        &entry.key_path("value"),
                        format!(
                            "`{}` cannot be compared with a JSON value",
                            sink.snippet(value.span())
                        ),
                        Some("write a string, a decimal number or a boolean".to_string()),
                    );
                }
                json.map(|json| Spanned::new(value.span(), json))
            });
        let entry_path = entry.path().to_string();
        entry.finish(sink);
        let condition = match (path, op, value) {
            (Some(path), Some(op), Some(value)) => {
                let ordering = matches!(
                    op,
                    CompareOp::Lt | CompareOp::Le | CompareOp::Gt | CompareOp::Ge
                );
                if ordering && !value.get_ref().is_number() {
                    sink.error(
                        value.span(),
                        &format!("{entry_path}.value"),
                        format!("`{op}` compares numbers, but the value `{}` is not a number", sink.snippet(value.span())),
                        Some("write a number without quotes, e.g. `value = 5`, or compare text with `==` or `!=`".to_string()),
                    );
                    None
                } else {
                    Some(JsonCondition {
                        path,
                        op,
                        value: value.into_inner(),
                    })
                }
            }
            _ => None,
        };
        push_or_poison(&mut conditions, condition);
    }
    conditions.ok_or(Reported)
}
