//! Section `[heartbeat]`: golive watched from outside. While golive is healthy it calls a
//! dead-man's-switch URL every `interval` (healthchecks.io, Cronitor, Dead Man's Snitch and the
//! like page someone when the calls stop), and posts an always-firing `GoliveWatchdog` alert to the
//! Alertmanager channels it names (whose absence a Watchdog receiver turns into a page). The typed
//! value and its reader live together here; the daemon's side is `crate::heartbeat`.

use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use crate::domain::closest;
use crate::plan::alerting::{Alerting, ChannelKind, MaybeSecret};
use crate::plan::reader::{
    Reported, Sink, TableReader, accepted_once, parse_choice_any_case, read_secret_url,
};
use crate::plan::values;

/// The default `interval`: short enough that a dead golive is noticed within a minute or two by a
/// switch whose period is a minute (the shortest healthchecks.io allows), and that one lost call
/// is tolerated by such a switch; cheap enough (two small requests a minute) to never matter.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
/// The shortest `interval`.
const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// The longest `interval`: a switch that hears from golive less than hourly notices too late.
const MAX_INTERVAL: Duration = Duration::from_secs(3600);
/// The default `timeout` (lowered to the interval when that is shorter).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The shortest `timeout`.
const MIN_TIMEOUT: Duration = Duration::from_secs(1);

/// Section `[heartbeat]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Heartbeat {
    /// `url`: the dead-man's-switch URL, called every `interval` while golive is healthy. Such
    /// URLs embed a token, so it is usually `{ env = "VAR" }` or `{ file = "path" }`.
    pub url: Option<MaybeSecret>,
    /// `method` (default `GET`): `GET`, `POST` or `HEAD`.
    pub method: HeartbeatMethod,
    /// `interval` (default 30s, 1s to 1h): time between calls.
    pub interval: Duration,
    /// `timeout` (default 10s, or the interval when shorter): time limit of one call.
    pub timeout: Duration,
    /// `alertmanager`: ids of alertmanager channels that carry the always-firing `GoliveWatchdog`
    /// alert.
    pub alertmanager: Vec<String>,
}

/// `method` of `[heartbeat]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HeartbeatMethod {
    #[default]
    Get,
    Post,
    Head,
}

impl HeartbeatMethod {
    const CHOICES: [(&'static str, HeartbeatMethod); 3] = [
        ("GET", HeartbeatMethod::Get),
        ("POST", HeartbeatMethod::Post),
        ("HEAD", HeartbeatMethod::Head),
    ];

    /// `GET`, `POST` or `HEAD`.
    pub fn as_str(self) -> &'static str {
        match self {
            HeartbeatMethod::Get => "GET",
            HeartbeatMethod::Post => "POST",
            HeartbeatMethod::Head => "HEAD",
        }
    }
}

/// The words of `method`, for the plan's JSON Schema.
pub(super) fn method_names() -> Vec<&'static str> {
    HeartbeatMethod::CHOICES
        .iter()
        .map(|(name, _)| *name)
        .collect()
}

/// Reads `[heartbeat]` (optional). `alerting` is `None` when the communication plan has errors
/// (reported there); then the `alertmanager` channels cannot be checked.
pub(in crate::plan) fn read_heartbeat(
    root: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    base_dir: &Path,
    alerting: Option<&Alerting>,
) -> Result<Option<Heartbeat>, Reported> {
    let Some(mut table) = root.get_table(sink, "heartbeat")? else {
        return Ok(None);
    };
    // A mistyped `url` key holds a token: never quote values of this section.
    table.redact_values();
    let url = read_secret_url(&mut table, sink, base_dir, "url", false);
    let method = read_method(&mut table, sink);
    let interval = table.duration_within(
        sink,
        "interval",
        DEFAULT_INTERVAL,
        MIN_INTERVAL,
        Some(MAX_INTERVAL),
    );
    let timeout = read_timeout(&mut table, sink, interval.ok());
    let alertmanager = read_alertmanager(&mut table, sink, alerting);
    let (span, path) = (table.span(), table.path().to_string());
    table.finish(sink);
    if matches!(url, Ok(None)) && matches!(alertmanager, Ok(ref channels) if channels.is_empty()) {
        sink.error(
            span,
            &path,
            "`[heartbeat]` calls nothing: it has neither `url` nor `alertmanager`",
            Some("add `url = { env = \"GOLIVE_HEARTBEAT_URL\" }` (a dead-man's-switch URL such as a healthchecks.io check's), `alertmanager = [\"channel-id\"]` (alertmanager channels for the GoliveWatchdog alert), or both".to_string()),
        );
        return Err(Reported);
    }
    Ok(Some(Heartbeat {
        url: url?,
        method: method?,
        interval: interval?,
        timeout: timeout?,
        alertmanager: alertmanager?,
    }))
}

/// `method`: `GET`, `POST` or `HEAD`, in any case.
fn read_method(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
) -> Result<HeartbeatMethod, Reported> {
    let Some(text) = table.get_str(sink, "method")? else {
        return Ok(HeartbeatMethod::default());
    };
    let path = table.key_path("method");
    parse_choice_any_case(
        sink,
        &path,
        &text,
        "heartbeat method",
        &HeartbeatMethod::CHOICES,
    )
}
/// `timeout`: at least 1s and at most the interval, so a call ends before the next one starts.
fn read_timeout(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    interval: Option<Duration>,
) -> Result<Duration, Reported> {
    let default = interval.map_or(DEFAULT_TIMEOUT, |every| every.min(DEFAULT_TIMEOUT));
    let timeout = table.duration_within(sink, "timeout", default, MIN_TIMEOUT, None)?;
    match interval {
        Some(every) if timeout > every => {
            let path = table.key_path("timeout");
            let span = sink.span_of(&path).unwrap_or(table.span());
            sink.error(
                span,
                &path,
                format!(
                    "the timeout of {} is longer than the interval of {}",
                    values::show_duration(timeout),
                    values::show_duration(every)
                ),
                Some(format!(
                    "lower `timeout` to at most {}, or raise `interval`: a call must end before the next one starts",
                    values::show_duration(every)
                )),
            );
            Err(Reported)
        }
        _ => Ok(timeout),
    }
}

/// `alertmanager`: ids of the plan's alertmanager channels, not empty when given.
fn read_alertmanager(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    alerting: Option<&Alerting>,
) -> Result<Vec<String>, Reported> {
    let Some(names) = table.get_str_list(sink, "alertmanager")? else {
        return Ok(Vec::new());
    };
    let path = table.key_path("alertmanager");
    if names.get_ref().is_empty() {
        sink.error(
            names.span(),
            &path,
            "`alertmanager` is empty, so no watchdog alert would be sent",
            Some("name alertmanager channels, e.g. `alertmanager = [\"alertmanager\"]`, or remove the key".to_string()),
        );
        return Err(Reported);
    }
    let Some(alerting) = alerting else {
        // The communication plan has errors of its own; the channels cannot be checked.
        return Err(Reported);
    };
    accepted_once(names.get_ref(), &path, |at, name| {
        check_channel(sink, at, name, alerting)
    })
}

/// Whether `name` is an alertmanager channel of the plan; reports why not.
fn check_channel(
    sink: &mut Sink<'_>,
    path: &str,
    name: &Spanned<String>,
    alerting: &Alerting,
) -> bool {
    let alertmanagers =
        alerting.channel_ids_where(|kind| matches!(kind, ChannelKind::Alertmanager { .. }));
    if alertmanagers.contains(&name.get_ref().as_str()) {
        return true;
    }
    let add_one = "add a `[[channels]]` entry with `kind = \"alertmanager\"` and its `url`";
    let listed = |what: &str| {
        if alertmanagers.is_empty() {
            format!("{what}; {add_one}")
        } else {
            format!("{what}: {}", alertmanagers.join(", "))
        }
    };
    let other_kind = alerting
        .channels
        .iter()
        .find(|channel| channel.id == *name.get_ref());
    let (message, help) = match other_kind {
        Some(channel) => (
            format!(
                "`{}` is {} channel, but the watchdog alert goes only to alertmanager channels",
                channel.id,
                match channel.kind {
                    ChannelKind::Email { .. } => "an email",
                    ChannelKind::Webhook(_) => "a webhook",
                    ChannelKind::Alertmanager { .. } => "an alertmanager",
                    ChannelKind::PagerDuty(_) => "a pagerduty",
                    ChannelKind::Opsgenie(_) => "an opsgenie",
                }
            ),
            listed("name an alertmanager channel of the plan instead"),
        ),
        None => (
            format!("unknown channel `{}`", name.get_ref()),
            match closest(
                name.get_ref(),
                alerting.channels.iter().map(|channel| channel.id.as_str()),
            ) {
                Some(near) => format!("did you mean `{near}`?"),
                None => listed("use one of the alertmanager channels"),
            },
        ),
    };
    sink.error(name.span(), path, message, Some(help));
    false
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::{Heartbeat, HeartbeatMethod};
    use crate::plan::alerting::MaybeSecret;
    use crate::plan::{Diagnostic, SecretSource, parse};

    const BASE: &str = r#"
[launch]
name = "Shop"
timezone = "Europe/Berlin"
go_live = 2026-12-01T20:00:00
hypercare_days = 14

[[people]]
id = "alice"
name = "Alice"
role = "ops_lead"
email = "alice@example.com"

[[channels]]
id = "am"
kind = "alertmanager"
url = "http://127.0.0.1:9093"

[[channels]]
id = "chat"
kind = "webhook"
url = "http://127.0.0.1:9000/hook"
"#;

    fn heartbeat(section: &str) -> Result<Option<Heartbeat>, Vec<Diagnostic>> {
        parse(&format!("{BASE}\n{section}"), Path::new("plan.toml")).map(|loaded| {
            // The channels are used by nothing else here; that is only a warning.
            loaded.plan.heartbeat
        })
    }

    fn errors(section: &str) -> Vec<Diagnostic> {
        match heartbeat(section) {
            Ok(_) => Vec::new(),
            Err(diagnostics) => diagnostics
                .into_iter()
                .filter(Diagnostic::is_error)
                .collect(),
        }
    }

    #[test]
    fn a_plan_without_heartbeat_has_none() {
        assert_eq!(heartbeat(""), Ok(None));
    }

    #[test]
    fn a_heartbeat_is_read_with_its_defaults() {
        let read = heartbeat("[heartbeat]\nurl = { env = \"HB_URL\" }\n")
            .expect("valid")
            .expect("heartbeat");
        assert_eq!(
            read,
            Heartbeat {
                url: Some(MaybeSecret::Secret(SecretSource::Env("HB_URL".into()))),
                method: HeartbeatMethod::Get,
                interval: Duration::from_secs(30),
                timeout: Duration::from_secs(10),
                alertmanager: Vec::new(),
            }
        );
    }

    #[test]
    fn a_short_interval_lowers_the_default_timeout_and_names_are_deduplicated() {
        let read = heartbeat(
            "[heartbeat]\ninterval = \"2s\"\nmethod = \"post\"\nalertmanager = [\"am\", \"am\"]\n",
        )
        .expect("valid")
        .expect("heartbeat");
        assert_eq!(read.url, None);
        assert_eq!(read.method, HeartbeatMethod::Post);
        assert_eq!(read.timeout, Duration::from_secs(2));
        assert_eq!(read.alertmanager, vec!["am".to_string()]);
    }

    #[test]
    fn a_channel_that_only_carries_the_watchdog_alert_counts_as_used() {
        let loaded = parse(
            &format!("{BASE}\n[heartbeat]\nalertmanager = [\"am\"]\n"),
            Path::new("plan.toml"),
        )
        .expect("valid");
        let unused: Vec<&str> = loaded
            .warnings
            .iter()
            .filter(|warning| warning.message.contains("is not used"))
            .map(|warning| warning.message.as_str())
            .collect();
        assert_eq!(
            unused,
            vec!["channel `chat` is not used by any escalation level"]
        );
    }

    #[test]
    fn every_problem_of_a_heartbeat_is_reported_with_its_fix() {
        let found = errors(
            "[heartbeat]\nurl = \"https://hc-ping.example/x?token=abc\"\nmethod = \"PUTT\"\ninterval = \"500ms\"\nalertmanager = [\"chat\", \"amm\"]\n",
        );
        let paths: Vec<&str> = found.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "heartbeat.url",
                "heartbeat.method",
                "heartbeat.interval",
                "heartbeat.alertmanager[0]",
                "heartbeat.alertmanager[1]",
            ],
            "{found:#?}"
        );
        assert!(!found[0].message.contains("abc"), "{}", found[0].message);
        assert!(
            found[1]
                .help
                .as_deref()
                .is_some_and(|help| help.contains("POST")),
            "{:?}",
            found[1].help
        );
        assert!(
            found[3].message.contains("is a webhook channel"),
            "{}",
            found[3].message
        );
        assert_eq!(found[4].help.as_deref(), Some("did you mean `am`?"));
    }

    #[test]
    fn a_timeout_longer_than_the_interval_and_a_heartbeat_to_nowhere_are_errors() {
        let found = errors(
            "[heartbeat]\nurl = \"http://127.0.0.1:8000/ping\"\ninterval = \"5s\"\ntimeout = \"10s\"\n",
        );
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(found[0].message.contains("longer than the interval of 5 s"));
        let found = errors("[heartbeat]\ninterval = \"5s\"\n");
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(found[0].message.contains("calls nothing"));
    }
}
