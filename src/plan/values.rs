//! Checks and conversions of single plan values: ids, email addresses, environment variable names,
//! the time zone, the go-live time, durations, URLs, HTTP status ranges, JSON paths and
//! Prometheus names.
//!
//! These are pure functions of one value (and, for the go-live time, the plan's time zone); the
//! caller decides where the diagnostic goes.

use std::time::Duration;

use jiff::civil::DateTime;
use jiff::tz::{self, TimeZone};
use jiff::{SignedDuration, Timestamp};
use toml::de::DeValue;

use super::checks::StatusRange;
use crate::domain::closest;

/// The longest hypercare a plan may ask for, in days.
pub(super) const MAX_HYPERCARE_DAYS: f64 = 365.0;

/// The help shown for an invalid `go_live`, naming every accepted format.
pub(super) const GO_LIVE_FORMATS: &str = "write a local date-time in the launch time zone, e.g. \
    `go_live = 2026-12-01T20:00:00`, or one with an offset, e.g. `2026-12-01T20:00:00+01:00` \
    (TOML date-time or RFC 3339 string)";

/// Whether `id` matches `^[a-z0-9][a-z0-9_-]*$`.
pub(super) fn is_valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_lowercase() || first.is_ascii_digit())
        && chars.all(|rest| {
            rest.is_ascii_lowercase() || rest.is_ascii_digit() || rest == '_' || rest == '-'
        })
}

/// Whether `address` looks like one email address: one `@` with text on both sides and no
/// whitespace. Deliverability is the mail server's business.
pub(super) fn looks_like_email(address: &str) -> bool {
    match address.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !address.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

/// Whether `name` is a portable environment variable name (`[A-Za-z_][A-Za-z0-9_]*`).
pub(super) fn is_env_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|rest| rest.is_ascii_alphanumeric() || rest == '_')
}

/// Looks up an IANA time zone; returns its canonical name and the zone, or a help text that
/// suggests the nearest known name.
pub(super) fn time_zone(name: &str) -> Result<(String, TimeZone), String> {
    if let Ok(zone) = TimeZone::get(name) {
        let canonical = zone.iana_name().unwrap_or(name).to_string();
        return Ok((canonical, zone));
    }
    let database = tz::db();
    let names: Vec<String> = database
        .available()
        .map(|known| known.as_str().to_string())
        .collect();
    Err(match closest(name, names.iter().map(String::as_str)) {
        Some(near) => format!("did you mean `{near}`?"),
        None => "use an IANA time zone name such as `Europe/Berlin`, `America/New_York` or `UTC`"
            .to_string(),
    })
}

/// The outcome of reading `go_live`.
#[derive(Debug, PartialEq)]
pub(super) enum GoLive {
    /// A valid instant.
    At(Timestamp),
    /// A local time, but the plan's time zone is invalid (already reported).
    NeedsTimeZone,
    /// Not a usable date-time; the reason says why.
    Invalid(String),
}

/// Reads `go_live`: a TOML local or offset date-time, or a string holding one. A local time is
/// interpreted in `zone` (a time skipped or repeated by a daylight-saving change resolves the way
/// clocks do: forward for a gap, the earlier instant for a fold).
pub(super) fn go_live(value: &DeValue<'_>, zone: Option<&TimeZone>) -> GoLive {
    let text = match value {
        DeValue::Datetime(datetime) => {
            if datetime.date.is_none() || datetime.time.is_none() {
                return GoLive::Invalid("it needs both a date and a time of day".to_string());
            }
            datetime.to_string()
        }
        DeValue::String(text) => text.trim().to_string(),
        other => {
            return GoLive::Invalid(format!("expected a date-time, found {}", other.type_str()));
        }
    };
    if let Ok(instant) = text.parse::<Timestamp>() {
        return GoLive::At(instant);
    }
    // A date alone would parse as midnight, which is rarely what a go-live means.
    let has_time = text.len() > 10;
    match text.parse::<DateTime>() {
        Ok(local) if has_time => match zone {
            Some(zone) => match zone.to_timestamp(local) {
                Ok(instant) => GoLive::At(instant),
                Err(error) => GoLive::Invalid(error.to_string()),
            },
            None => GoLive::NeedsTimeZone,
        },
        Ok(_) => GoLive::Invalid("it needs both a date and a time of day".to_string()),
        Err(_) => GoLive::Invalid("not a date-time".to_string()),
    }
}

/// The help shown for an invalid duration.
pub(super) const DURATION_FORMATS: &str =
    "write a number and a unit in quotes, e.g. `\"500ms\"`, `\"30s\"`, `\"1m\"` or `\"1h30m\"`";

/// Parses a duration such as `500ms`, `30s`, `1m` or `1h30m` (jiff's friendly format, or ISO 8601
/// `PT30S`); it must be more than zero.
pub(super) fn duration(text: &str) -> Result<Duration, String> {
    let signed: SignedDuration = text
        .trim()
        .parse()
        .map_err(|_| "not a number followed by a unit (ms, s, m, h)".to_string())?;
    if signed.is_negative() || signed.is_zero() {
        return Err("it must be more than zero".to_string());
    }
    Duration::try_from(signed).map_err(|error| error.to_string())
}

/// Parses a duration like [`duration`], but also accepts zero (`"0s"`), for delays counted from a
/// start such as an escalation level's `after`.
pub(super) fn duration_or_zero(text: &str) -> Result<Duration, String> {
    match text.trim().parse::<SignedDuration>() {
        Ok(signed) if signed.is_zero() => Ok(Duration::ZERO),
        _ => duration(text),
    }
}

/// Checks a From address: `golive@shop.example` or `golive <golive@shop.example>`.
pub(super) fn mailbox(text: &str) -> Result<(), String> {
    let text = text.trim();
    let address = match text.strip_suffix('>') {
        Some(rest) => match rest.rsplit_once('<') {
            Some((_, address)) => address,
            None => return Err("a `>` without a `<`".to_string()),
        },
        None if text.contains('<') => return Err("a `<` without a `>`".to_string()),
        None => text,
    };
    if looks_like_email(address) {
        Ok(())
    } else {
        Err(format!("`{address}` is not an email address"))
    }
}

/// Parses a local time of day, `HH:MM` or `HH:MM:SS` (24-hour clock).
pub(super) fn time_of_day(text: &str) -> Result<jiff::civil::Time, String> {
    let parts: Vec<&str> = text.trim().split(':').collect();
    let number = |part: &str, max: i8| -> Option<i8> {
        if part.len() != 2 || !part.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        part.parse::<i8>().ok().filter(|value| *value <= max)
    };
    let (hour, minute, second) = match parts.as_slice() {
        [hour, minute] => (number(hour, 23), number(minute, 59), Some(0)),
        [hour, minute, second] => (number(hour, 23), number(minute, 59), number(second, 59)),
        _ => (None, None, None),
    };
    match (hour, minute, second) {
        (Some(hour), Some(minute), Some(second)) => {
            jiff::civil::Time::new(hour, minute, second, 0).map_err(|error| error.to_string())
        }
        _ => Err("not a time of day such as `22:30` (24-hour clock)".to_string()),
    }
}

/// Query parameters whose value is a credential.
const SECRET_QUERY_NAMES: [&str; 8] = [
    "token",
    "key",
    "secret",
    "password",
    "passwd",
    "sig",
    "signature",
    "auth",
];

/// What in `url` visibly carries a secret, if anything: credentials before the host, a query
/// parameter such as `token=`, or a chat service's secret webhook path. The answer never quotes
/// the secret itself.
pub(super) fn visible_secret(url: &reqwest::Url) -> Option<String> {
    if !url.username().is_empty() || url.password().is_some() {
        return Some("a user name or password before the host".to_string());
    }
    for (name, _) in url.query_pairs() {
        let lower = name.to_ascii_lowercase();
        let secret = SECRET_QUERY_NAMES.contains(&lower.as_str())
            || ["token", "key", "secret"]
                .iter()
                .any(|part| lower.contains(part));
        if secret {
            return Some(format!("a `{name}` query parameter"));
        }
    }
    let host = url.host_str().unwrap_or_default();
    let path = url.path();
    if host == "hooks.slack.com" && path.starts_with("/services/") {
        return Some("a Slack webhook path, which is its token".to_string());
    }
    if (host == "discord.com" || host == "discordapp.com") && path.starts_with("/api/webhooks/") {
        return Some("a Discord webhook path, which is its token".to_string());
    }
    None
}

/// A duration in a message about the plan, in the style people read everywhere but exact, since
/// the person wrote it (`500 ms`, `30 s`, `1 min 30 s`, `1 h 00 min 30 s`); it is also a value the
/// plan accepts, so a help line can suggest it.
pub(super) fn show_duration(duration: Duration) -> String {
    crate::human::exact(duration)
}

/// Parses an `http://` or `https://` URL with a host; the error says what is wrong.
pub(super) fn http_url(text: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(text.trim()).map_err(|error| format!("not a URL ({error})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "the scheme is `{}`, not http or https",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("it has no host".to_string());
    }
    Ok(url)
}

/// Parses an expected HTTP status written as a string: `"200"`, `"200-299"` or `"2xx"`.
pub(super) fn status_range(text: &str) -> Result<StatusRange, String> {
    let text = text.trim();
    let code = |part: &str| -> Result<u16, String> {
        match part.trim().parse::<u16>() {
            Ok(code) if (100..=599).contains(&code) => Ok(code),
            _ => Err(format!(
                "`{}` is not a status code from 100 to 599",
                part.trim()
            )),
        }
    };
    if let Some(class) = text.strip_suffix("xx").or_else(|| text.strip_suffix("XX")) {
        return match class.parse::<u16>() {
            Ok(class @ 1..=5) => Ok(StatusRange {
                low: class * 100,
                high: class * 100 + 99,
            }),
            _ => Err(format!("`{text}` is not a status class such as `2xx`")),
        };
    }
    let (low, high) = match text.split_once('-') {
        Some((low, high)) => (code(low)?, code(high)?),
        None => {
            let single = code(text)?;
            (single, single)
        }
    };
    if low > high {
        return Err(format!("the range `{text}` runs backwards"));
    }
    Ok(StatusRange { low, high })
}

/// Checks a JSON path: `$` followed by `.name` and `[index]` segments, e.g. `$.checks[0].status`.
pub(super) fn json_path(path: &str) -> Result<(), String> {
    let Some(mut rest) = path.strip_prefix('$') else {
        return Err("it does not start with `$`".to_string());
    };
    while let Some(first) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[', ']']).unwrap_or(after.len());
            let name = &after[..end];
            if name.is_empty() || name.chars().any(char::is_whitespace) {
                return Err("a `.` must be followed by a name without spaces".to_string());
            }
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let Some(close) = after.find(']') else {
                return Err("a `[` is not closed".to_string());
            };
            let index = &after[..close];
            if index.is_empty() || !index.bytes().all(|byte| byte.is_ascii_digit()) {
                return Err(format!("`[{index}]` is not an array index such as `[0]`"));
            }
            rest = &after[close + 1..];
        } else {
            return Err(format!("unexpected `{first}`"));
        }
    }
    Ok(())
}

/// Whether `name` is a Prometheus metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
pub(super) fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_' || first == ':')
        && chars.all(|rest| rest.is_ascii_alphanumeric() || rest == '_' || rest == ':')
}

/// Whether `name` is a Prometheus label name (`[a-zA-Z_][a-zA-Z0-9_]*`).
pub(super) fn is_label_name(name: &str) -> bool {
    is_env_var_name(name)
}

/// Checks a `host:port` address; the error says what is wrong.
pub(super) fn host_port(address: &str) -> Result<(), String> {
    let Some((host, port)) = address.rsplit_once(':') else {
        return Err("it has no port".to_string());
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err("the host is missing".to_string());
    }
    if host.contains(':') && !address.starts_with('[') {
        return Err("an IPv6 address must be written in brackets, e.g. `[::1]:5432`".to_string());
    }
    match port.parse::<u16>() {
        Ok(1..) => Ok(()),
        _ => Err(format!("`{port}` is not a port from 1 to 65535")),
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    #[test]
    fn ids_are_lowercase_words_with_dashes_and_underscores() {
        for id in ["alice", "db-backup", "risk_1", "0day"] {
            assert!(is_valid_id(id), "{id}");
        }
        for id in ["", "Alice", "-x", "_x", "a b", "é"] {
            assert!(!is_valid_id(id), "{id}");
        }
    }

    #[test]
    fn an_email_needs_one_at_with_text_on_both_sides() {
        assert!(looks_like_email("alice@example.com"));
        for address in [
            "alice",
            "@example.com",
            "alice@",
            "a@b@c",
            "al ice@example.com",
        ] {
            assert!(!looks_like_email(address), "{address}");
        }
    }

    #[test]
    fn a_typo_in_a_time_zone_suggests_the_real_one() {
        assert!(time_zone("Europe/Berlin").is_ok());
        let help = time_zone("Europe/Berln").unwrap_err();
        assert_eq!(help, "did you mean `Europe/Berlin`?");
    }

    #[test]
    fn a_local_go_live_is_read_in_the_launch_time_zone() {
        let zone = TimeZone::get("Europe/Berlin").unwrap();
        let text = DeValue::String(Cow::Borrowed("2026-12-01T20:00:00"));
        let expected: Timestamp = "2026-12-01T19:00:00Z".parse().unwrap();
        assert_eq!(go_live(&text, Some(&zone)), GoLive::At(expected));
        let spaced = DeValue::String(Cow::Borrowed("2026-12-01 20:00"));
        assert_eq!(go_live(&spaced, Some(&zone)), GoLive::At(expected));
    }

    #[test]
    fn a_go_live_with_an_offset_ignores_the_time_zone() {
        let text = DeValue::String(Cow::Borrowed("2026-12-01T20:00:00+01:00"));
        let expected: Timestamp = "2026-12-01T19:00:00Z".parse().unwrap();
        assert_eq!(go_live(&text, None), GoLive::At(expected));
    }

    #[test]
    fn a_go_live_date_without_a_time_is_refused() {
        let zone = TimeZone::get("UTC").unwrap();
        let text = DeValue::String(Cow::Borrowed("2026-12-01"));
        assert!(matches!(go_live(&text, Some(&zone)), GoLive::Invalid(_)));
        let text = DeValue::String(Cow::Borrowed("next tuesday"));
        assert!(matches!(go_live(&text, Some(&zone)), GoLive::Invalid(_)));
    }

    #[test]
    fn durations_need_a_unit_and_must_be_positive() {
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert!(duration("5").is_err());
        assert!(duration("0s").is_err());
        assert!(duration("-5s").is_err());
        assert!(duration("fast").is_err());
        assert_eq!(show_duration(Duration::from_secs(90)), "1 min 30 s");
        assert_eq!(
            duration(&show_duration(Duration::from_secs(90))),
            Ok(Duration::from_secs(90))
        );
    }

    #[test]
    fn status_ranges_are_codes_ranges_or_classes() {
        assert_eq!(
            status_range("2xx"),
            Ok(StatusRange {
                low: 200,
                high: 299
            })
        );
        assert_eq!(
            status_range("301-308"),
            Ok(StatusRange {
                low: 301,
                high: 308
            })
        );
        assert_eq!(
            status_range("204"),
            Ok(StatusRange {
                low: 204,
                high: 204
            })
        );
        for bad in ["7xx", "299-200", "600", "ok", "2-3"] {
            assert!(status_range(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn json_paths_are_names_and_indexes_after_a_dollar() {
        for good in ["$", "$.status", "$.checks[0].status", "$[2]"] {
            assert_eq!(json_path(good), Ok(()), "{good}");
        }
        for bad in ["status", "$.", "$.a[x]", "$.a[0", "$..a", "$a"] {
            assert!(json_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn addresses_need_a_host_and_a_port() {
        assert_eq!(host_port("db.internal:5432"), Ok(()));
        assert_eq!(host_port("[::1]:5432"), Ok(()));
        for bad in ["db.internal", ":5432", "db:0", "db:70000", "::1:5432"] {
            assert!(host_port(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn zero_is_a_duration_only_where_a_delay_may_be_none() {
        assert_eq!(duration_or_zero("0s"), Ok(Duration::ZERO));
        assert_eq!(duration_or_zero("5m"), Ok(Duration::from_secs(300)));
        assert!(duration_or_zero("-5m").is_err());
    }

    #[test]
    fn a_from_address_is_an_address_or_a_name_and_an_address() {
        assert_eq!(mailbox("golive@shop.example"), Ok(()));
        assert_eq!(mailbox("golive <golive@shop.example>"), Ok(()));
        for bad in ["golive", "golive <golive>", "golive <a@b", "a@b>"] {
            assert!(mailbox(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn times_of_day_are_hours_and_minutes_on_a_24_hour_clock() {
        assert_eq!(
            time_of_day("22:30").map(|time| time.to_string()),
            Ok("22:30:00".to_string())
        );
        assert!(time_of_day("02:00:30").is_ok());
        for bad in ["24:00", "7:00", "22:60", "22", "noon"] {
            assert!(time_of_day(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn secrets_visible_in_a_url_are_found_without_quoting_them() {
        let found = |text: &str| http_url(text).ok().and_then(|url| visible_secret(&url));
        assert_eq!(found("https://chat.example/hooks/ops"), None);
        assert_eq!(found("https://chat.example/hooks?channel=ops"), None);
        for text in [
            "https://chat.example/hook?token=abc",
            "https://chat.example/hook?api_key=abc",
            "https://user:pw@chat.example/hook",
            "https://hooks.slack.com/services/T0/B0/xyz",
        ] {
            let what = found(text).unwrap_or_default();
            assert!(
                !what.is_empty() && !what.contains("abc") && !what.contains("xyz"),
                "{text}"
            );
        }
    }

    #[test]
    fn urls_must_be_http_or_https_with_a_host() {
        assert!(http_url("https://shop.example/healthz").is_ok());
        assert!(http_url("ftp://shop.example/").is_err());
        assert!(http_url("shop.example/healthz").is_err());
    }
}
