//! Checks and conversions of single plan values: ids, email addresses, environment variable names,
//! the time zone and the go-live time.
//!
//! These are pure functions of one value (and, for the go-live time, the plan's time zone); the
//! caller decides where the diagnostic goes.

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::{self, TimeZone};
use toml::de::DeValue;

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
}
