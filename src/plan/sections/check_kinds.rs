//! The keys of each check kind: `http`, `prometheus`, `scrape` and `tcp`.
//!
//! A check's `kind` decides which keys it may have. A key that belongs to another kind (`query` on
//! an http check) is reported as such, which says more than "unknown key".

use std::str::FromStr;
use std::time::Duration;

use super::check_http;
use super::check_limits::{Limits, read_url};
use crate::domain::{UnknownName, closest};
use crate::plan::checks::{
    CheckKind, CompareOp, EmptyResult, PrometheusCheck, ScrapeCheck, ScrapeMode, SeriesSelector,
    TcpCheck, Threshold,
};
use crate::plan::reader::{Got, Reported, Sink, TableReader};
use crate::plan::values;

/// The value of `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::plan) enum KindName {
    Http,
    Prometheus,
    Scrape,
    Tcp,
}

impl KindName {
    const ALL: [KindName; 4] = [
        KindName::Http,
        KindName::Prometheus,
        KindName::Scrape,
        KindName::Tcp,
    ];

    pub(in crate::plan) fn as_str(self) -> &'static str {
        match self {
            KindName::Http => "http",
            KindName::Prometheus => "prometheus",
            KindName::Scrape => "scrape",
            KindName::Tcp => "tcp",
        }
    }

    /// Each kind with the keys only checks of that kind have.
    pub(in crate::plan) fn keys_by_kind() -> [(&'static str, &'static [&'static str]); 4] {
        KindName::ALL.map(|kind| (kind.as_str(), kind.keys()))
    }

    /// The keys only checks of this kind have.
    fn keys(self) -> &'static [&'static str] {
        match self {
            KindName::Http => &[
                "url",
                "method",
                "headers",
                "body",
                "expect_status",
                "body_contains",
                "body_regex",
                "json",
                "max_latency",
                "follow_redirects",
                "tls_verify",
                "ca_file",
                "cert_expiry_warning_days",
                "fresh_connection",
            ],
            KindName::Prometheus => &["server", "query", "threshold", "empty"],
            KindName::Scrape => &[
                "url",
                "metric",
                "labels",
                "mode",
                "window",
                "denominator",
                "threshold",
                "empty",
            ],
            KindName::Tcp => &["address"],
        }
    }
}

impl FromStr for KindName {
    type Err = UnknownName;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        KindName::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| UnknownName::new(text, &["http", "prometheus", "scrape", "tcp"]))
    }
}

/// Reads the keys of `kind`.
pub(in crate::plan) fn read_kind(
    kind: KindName,
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    limits: &Limits<'_>,
) -> Option<CheckKind> {
    match kind {
        KindName::Http => check_http::read_http(table, sink, limits).map(CheckKind::Http),
        KindName::Prometheus => read_prometheus(table, sink, limits).map(CheckKind::Prometheus),
        KindName::Scrape => read_scrape(table, sink, limits).map(CheckKind::Scrape),
        KindName::Tcp => read_tcp(table, sink).map(CheckKind::Tcp),
    }
}

/// `kind = "prometheus"`.
fn read_prometheus(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    limits: &Limits<'_>,
) -> Option<PrometheusCheck> {
    let ids = &limits.server_ids.list;
    let server = match table.get_str(sink, "server") {
        Err(Reported) => None,
        Ok(Some(name)) if ids.contains(name.get_ref()) => Some(name.into_inner()),
        // A server without a well-formed id may be the one meant; its own error says enough.
        Ok(_) if !limits.server_ids.complete => None,
        Ok(_) if ids.is_empty() => {
            let span = sink
                .span_of(&table.key_path("server"))
                .unwrap_or(table.span());
            sink.error(
                span,
                &table.key_path("server"),
                "no [[prometheus]] server is defined; add one with id and url",
                Some("add a `[[prometheus]]` section with `id` and `url` (e.g. `http://127.0.0.1:9090`) for this check to query".to_string()),
            );
            None
        }
        Ok(None) => match ids.as_slice() {
            [only] => Some(only.clone()),
            _ => {
                sink.error(
                    table.span(),
                    &table.key_path("server"),
                    "several [[prometheus]] servers are defined, and this check does not say which one to query",
                    Some(format!("add `server = \"...\"`, one of: {}", ids.join(", "))),
                );
                None
            }
        },
        Ok(Some(name)) => {
            let help = match closest(name.get_ref(), ids.iter().map(String::as_str)) {
                Some(near) => format!("did you mean `{near}`?"),
                None => format!("use one of the [[prometheus]] ids: {}", ids.join(", ")),
            };
            sink.error(
                name.span(),
                &table.key_path("server"),
                format!("unknown prometheus server `{}`", name.get_ref()),
                Some(help),
            );
            None
        }
    };
    let query = table.req_str(sink, "query");
    let threshold = read_threshold(table, sink, None);
    let empty = read_empty(table, sink);
    Some(PrometheusCheck {
        server: server?,
        query: query?.into_inner(),
        threshold: threshold?,
        empty: empty.ok()?,
    })
}

/// The values a scrape check's value can take, for thresholds that can never fire.
#[derive(Debug, Clone, Copy)]
enum ValueRange {
    /// A rate: never negative.
    Rate,
    /// A ratio of two rates: between 0 and 1.
    Ratio,
}

/// A required `threshold` such as `"> 0.05"`; with `range`, one that can never fire is refused.
fn read_threshold(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    range: Option<ValueRange>,
) -> Option<Threshold> {
    let text = table.req_str(sink, "threshold")?;
    let path = table.key_path("threshold");
    let threshold = match text.get_ref().parse::<Threshold>() {
        Ok(threshold) => threshold,
        Err(reason) => {
            sink.error(
                text.span(),
                &path,
                format!("invalid threshold: {reason}"),
                Some("write a comparison and a number, e.g. `\"> 0.05\"` or `\"< 300\"`; the check fails while the value satisfies it".to_string()),
            );
            return None;
        }
    };
    let (low, high, what, help) = match range {
        None => return Some(threshold),
        Some(ValueRange::Rate) => (
            0.0,
            f64::INFINITY,
            "a rate is never negative",
            "compare with a positive number, e.g. `\"< 1\"` for less than one per second",
        ),
        Some(ValueRange::Ratio) => (
            0.0,
            1.0,
            "a ratio is between 0 and 1",
            "write the ratio as a fraction, e.g. `\"> 0.05\"` for more than 5 %",
        ),
    };
    let value = threshold.value;
    let can_fire = match threshold.op {
        CompareOp::Gt => value < high,
        CompareOp::Ge => value <= high,
        CompareOp::Lt => value > low,
        CompareOp::Le => value >= low,
        CompareOp::Eq => (low..=high).contains(&value),
        CompareOp::Ne => true,
    };
    if can_fire {
        return Some(threshold);
    }
    sink.error(
        text.span(),
        &path,
        format!("threshold `{threshold}` can never fire: {what}"),
        Some(help.to_string()),
    );
    None
}

/// `empty = "ok" | "fail" | "unknown"` (default unknown).
fn read_empty(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
) -> Result<EmptyResult, Reported> {
    let Some(text) = table.get_str(sink, "empty")? else {
        return Ok(EmptyResult::default());
    };
    match text.get_ref().as_str() {
        "ok" => Ok(EmptyResult::Ok),
        "fail" => Ok(EmptyResult::Fail),
        "unknown" => Ok(EmptyResult::Unknown),
        other => {
            let unknown = UnknownName::new(other, &["ok", "fail", "unknown"]);
            let help = match unknown.suggestion {
                Some(near) => format!("did you mean `{near}`?"),
                None => "use `ok`, `fail` or `unknown` (no data: the check's state is unknown)"
                    .to_string(),
            };
            sink.error(
                text.span(),
                &table.key_path("empty"),
                format!("unknown meaning of an empty result `{other}`"),
                Some(help),
            );
            Err(Reported)
        }
    }
}

/// `kind = "scrape"`.
fn read_scrape(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    limits: &Limits<'_>,
) -> Option<ScrapeCheck> {
    let url = read_url(table, sink, "http://192.0.2.5:8080/metrics");
    let series = read_selector(table, sink);
    let mode = table.get_str(sink, "mode").and_then(|mode| match mode {
        None => Ok(None),
        Some(mode) => match mode.get_ref().as_str() {
            "value" => Ok(None),
            "rate" => Ok(Some(ValueRange::Rate)),
            "ratio" => Ok(Some(ValueRange::Ratio)),
            other => {
                let unknown = UnknownName::new(other, &["value", "rate", "ratio"]);
                let help = match unknown.suggestion {
                    Some(near) => format!("did you mean `{near}`?"),
                    None => "use `value` (the series as is), `rate` (per second over `window`) or `ratio` (rate over the rate of `denominator`)".to_string(),
                };
                sink.error(mode.span(), &table.key_path("mode"), format!("unknown scrape mode `{other}`"), Some(help));
                Err(Reported)
            }
        },
    });
    let mode_name = match &mode {
        Ok(None) => "value",
        Ok(Some(ValueRange::Rate)) => "rate",
        Ok(Some(ValueRange::Ratio)) => "ratio",
        Err(_) => "",
    };
    let window = read_window(table, sink, limits, mode_name);
    let denominator = read_denominator(table, sink, mode_name);
    let threshold = read_threshold(table, sink, mode.ok().flatten());
    let empty = read_empty(table, sink);
    let mode = match mode_name {
        "value" => ScrapeMode::Value,
        "rate" => ScrapeMode::Rate {
            window: window.ok()?,
        },
        "ratio" => ScrapeMode::Ratio {
            denominator: denominator.ok()??,
            window: window.ok()?,
        },
        _ => return None,
    };
    Some(ScrapeCheck {
        url: url?,
        series: series?,
        mode,
        threshold: threshold?,
        empty: empty.ok()?,
    })
}

/// The default rate window of a scrape check.
const DEFAULT_WINDOW: Duration = Duration::from_secs(60);

/// `window` (default 1m, at least the longest interval): only for rate and ratio.
fn read_window(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    limits: &Limits<'_>,
    mode: &str,
) -> Result<Duration, Reported> {
    let window = table.get_duration(sink, "window")?;
    let Some(window) = window else {
        // A window must hold at least two samples; by default it holds two intervals' worth.
        return Ok(limits
            .longest_interval
            .map_or(DEFAULT_WINDOW, |every| DEFAULT_WINDOW.max(every * 2)));
    };
    if mode == "value" {
        sink.error(
            window.span(),
            &table.key_path("window"),
            "`window` applies to `mode = \"rate\"` and `\"ratio\"`; a value is read as it is",
            Some("remove `window`, or set `mode = \"rate\"`".to_string()),
        );
        return Err(Reported);
    }
    match limits.longest_interval {
        Some(every) if *window.get_ref() < every => {
            sink.error(
                window.span(),
                &table.key_path("window"),
                format!(
                    "a window of {} is shorter than the interval of {}, so it never holds two samples",
                    values::show_duration(*window.get_ref()),
                    values::show_duration(every)
                ),
                Some(format!("make `window` at least {} (twice that is better)", values::show_duration(every))),
            );
            Err(Reported)
        }
        _ => Ok(window.into_inner()),
    }
}

/// `denominator = { metric = ..., labels = {...} }`: required for ratio, refused otherwise.
fn read_denominator(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    mode: &str,
) -> Result<Option<SeriesSelector>, Reported> {
    let present = table.key_span("denominator");
    match (mode, present) {
        ("ratio", None) => {
            table.value(sink, "denominator");
            sink.error(
                table.span(),
                &table.key_path("denominator"),
                "a ratio check needs a `denominator`",
                Some("add `denominator = { metric = \"http_requests_total\" }` (the series to divide by)".to_string()),
            );
            Err(Reported)
        }
        ("ratio", Some(_)) => {
            let mut inner = table.get_table(sink, "denominator")?.ok_or(Reported)?;
            let selector = read_selector(&mut inner, sink);
            inner.finish(sink);
            selector.map(Some).ok_or(Reported)
        }
        (_, Some(span)) => {
            table.value(sink, "denominator");
            if !mode.is_empty() {
                sink.error(
                    span,
                    &table.key_path("denominator"),
                    format!("`denominator` is only used with `mode = \"ratio\"`, not `{mode}`"),
                    Some("remove `denominator`, or set `mode = \"ratio\"`".to_string()),
                );
            }
            Err(Reported)
        }
        (_, None) => {
            table.value(sink, "denominator");
            Ok(None)
        }
    }
}

/// `metric` and `labels` of a series selector (a check, or its denominator).
fn read_selector(table: &mut TableReader<'_, '_>, sink: &mut Sink<'_>) -> Option<SeriesSelector> {
    let metric = table.req_str(sink, "metric").and_then(|metric| {
        if values::is_metric_name(metric.get_ref()) {
            return Some(metric.into_inner());
        }
        sink.error(
            metric.span(),
            &table.key_path("metric"),
            format!("`{}` is not a Prometheus metric name", metric.get_ref()),
            Some("use letters, digits, `_` and `:`, not starting with a digit, e.g. `http_requests_total`; put labels in `labels`".to_string()),
        );
        None
    });
    let labels: Got<Vec<_>> = table.get_str_table(sink, "labels");
    let mut selected = std::collections::BTreeMap::new();
    let mut bad = labels.is_err();
    for (name, value) in labels.ok().flatten().unwrap_or_default() {
        if values::is_label_name(name.get_ref()) {
            selected.insert(name.into_inner(), value.into_inner());
        } else {
            sink.error(
                name.span(),
                &format!("{}.{}", table.key_path("labels"), name.get_ref()),
                format!("`{}` is not a Prometheus label name", name.get_ref()),
                Some(
                    "use letters, digits and `_`, not starting with a digit, e.g. `status_class`"
                        .to_string(),
                ),
            );
            bad = true;
        }
    }
    if bad {
        return None;
    }
    Some(SeriesSelector {
        metric: metric?,
        labels: selected,
    })
}

/// `kind = "tcp"`.
fn read_tcp(table: &mut TableReader<'_, '_>, sink: &mut Sink<'_>) -> Option<TcpCheck> {
    let address = table.req_str(sink, "address")?;
    match values::host_port(address.get_ref()) {
        Ok(()) => Some(TcpCheck {
            address: address.into_inner(),
        }),
        Err(reason) => {
            sink.error(
                address.span(),
                &table.key_path("address"),
                format!("invalid address `{}`: {reason}", address.get_ref()),
                Some("write `host:port`, e.g. `db.internal:5432` or `[::1]:5432`".to_string()),
            );
            None
        }
    }
}
