//! The one way a plan value becomes a duration: a string such as `"500ms"`, `"30s"` or `"1h30m"`
//! ([`duration_value`]), read from a key either as it is ([`TableReader::get_duration`]) or with a
//! default and bounds ([`TableReader::duration_within`]).

use std::time::Duration;

use toml::Spanned;
use toml::de::DeValue;

use super::table::{Got, Reported, Sink, TableReader};
use crate::plan::values;

impl TableReader<'_, '_> {
    /// An optional duration, more than zero.
    pub(in crate::plan) fn get_duration(
        &mut self,
        sink: &mut Sink<'_>,
        key: &'static str,
    ) -> Got<Spanned<Duration>> {
        let Some(value) = self.value(sink, key) else {
            return Ok(None);
        };
        duration_value(sink, &self.key_path(key), value, false).map(Some)
    }

    /// A duration key with a default and a lower bound (`min` may be zero, which allows `"0s"`).
    pub(in crate::plan) fn duration_within(
        &mut self,
        sink: &mut Sink<'_>,
        key: &'static str,
        default: Duration,
        min: Duration,
        max: Option<Duration>,
    ) -> Result<Duration, Reported> {
        let Some(value) = self.value(sink, key) else {
            return Ok(default);
        };
        let path = self.key_path(key);
        let duration = duration_value(sink, &path, value, min.is_zero())?.into_inner();
        let limit = |bound: Duration| values::show_duration(bound);
        let problem = if duration < min {
            Some((
                format!(
                    "`{key}` of {} is too short",
                    values::show_duration(duration)
                ),
                format!(
                    "use at least {}, e.g. `{key} = \"{}\"`",
                    limit(min),
                    limit(min)
                ),
            ))
        } else {
            max.filter(|max| duration > *max).map(|max| {
                (
                    format!("`{key}` of {} is too long", values::show_duration(duration)),
                    format!(
                        "use at most {}, e.g. `{key} = \"{}\"`",
                        limit(max),
                        limit(max)
                    ),
                )
            })
        };
        match problem {
            None => Ok(duration),
            Some((message, help)) => {
                sink.error(value.span(), &path, message, Some(help));
                Err(Reported)
            }
        }
    }
}

/// A duration value (a string such as `"500ms"`, `"30s"`, `"1h30m"`), more than zero; `"0s"` is
/// accepted too when `zero_ok` (delays counted from a start, such as an escalation level's `after`).
pub(in crate::plan) fn duration_value(
    sink: &mut Sink<'_>,
    path: &str,
    value: &Spanned<DeValue<'_>>,
    zero_ok: bool,
) -> Result<Spanned<Duration>, Reported> {
    if zero_ok
        && let DeValue::String(text) = value.get_ref()
        && let Ok(duration) = values::duration_or_zero(text)
    {
        return Ok(Spanned::new(value.span(), duration));
    }
    let help = Some(values::DURATION_FORMATS.to_string());
    let DeValue::String(text) = value.get_ref() else {
        sink.error(
            value.span(),
            path,
            format!(
                "expected a duration string, found {} `{}`",
                value.get_ref().type_str(),
                sink.snippet(value.span())
            ),
            help,
        );
        return Err(Reported);
    };
    match values::duration(text) {
        Ok(duration) => Ok(Spanned::new(value.span(), duration)),
        Err(reason) => {
            sink.error(
                value.span(),
                path,
                format!("invalid duration `{text}`: {reason}"),
                help,
            );
            Err(Reported)
        }
    }
}
