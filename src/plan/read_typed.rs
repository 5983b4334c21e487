//! Typed reads the monitoring sections need beyond [`TableReader`]'s basics: integers in a range,
//! durations, lists of strings and tables of strings.
//!
//! Each `get_*` call marks its key known and returns a [`Got`]: `Ok(None)` when the key is absent
//! (the caller applies its default), `Ok(Some(value))` when it is valid, and `Err(Reported)` when
//! it is present but wrong, in which case the diagnostic is already in the [`Sink`]. Keeping
//! "absent" and "wrong" apart lets callers skip follow-on checks (e.g. timeout against interval)
//! that would only repeat the first complaint.

use std::time::Duration;

use toml::Spanned;
use toml::de::DeValue;

use super::read::{Expected, Sink, TableReader};
use super::values;

/// A problem that was already recorded in the sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Reported;

/// The outcome of reading an optional key; see the module documentation.
pub(super) type Got<T> = Result<Option<T>, Reported>;

/// One entry of a table with free-form keys (`headers`, `labels`, `intervals`).
pub(super) struct Entry<'a, 'i> {
    /// The key as written, with the span of the key itself.
    pub(super) key: Spanned<String>,
    pub(super) value: &'a Spanned<DeValue<'i>>,
}

impl<'a, 'i> TableReader<'a, 'i> {
    /// An optional string; a value of another type is reported.
    pub(super) fn get_str(
        &mut self,
        sink: &mut Sink<'_>,
        key: &'static str,
    ) -> Got<Spanned<String>> {
        let Some(value) = self.value(sink, key) else {
            return Ok(None);
        };
        match value.get_ref() {
            DeValue::String(text) => Ok(Some(Spanned::new(value.span(), text.to_string()))),
            _ => {
                self.wrong_type(sink, key, value, Expected::String);
                Err(Reported)
            }
        }
    }

    /// An optional boolean; a value of another type is reported.
    pub(super) fn get_bool(&mut self, sink: &mut Sink<'_>, key: &'static str) -> Got<bool> {
        let Some(value) = self.value(sink, key) else {
            return Ok(None);
        };
        match value.get_ref() {
            DeValue::Boolean(flag) => Ok(Some(*flag)),
            _ => {
                self.wrong_type(sink, key, value, Expected::Boolean);
                Err(Reported)
            }
        }
    }

    /// An optional integer within `min..=max`.
    pub(super) fn get_int(
        &mut self,
        sink: &mut Sink<'_>,
        key: &'static str,
        min: i64,
        max: i64,
    ) -> Got<i64> {
        let Some(value) = self.value(sink, key) else {
            return Ok(None);
        };
        let DeValue::Integer(integer) = value.get_ref() else {
            self.wrong_type(sink, key, value, Expected::Integer);
            return Err(Reported);
        };
        match i64::from_str_radix(integer.as_str(), integer.radix()) {
            Ok(number) if (min..=max).contains(&number) => Ok(Some(number)),
            _ => {
                sink.error(
                    value.span(),
                    &self.key_path(key),
                    format!(
                        "`{key}` must be between {min} and {max}, found `{}`",
                        self.quote(sink, value.span())
                    ),
                    Some(format!("write a whole number from {min} to {max}")),
                );
                Err(Reported)
            }
        }
    }

    /// An optional duration string such as `"30s"`, more than zero.
    pub(super) fn get_duration(
        &mut self,
        sink: &mut Sink<'_>,
        key: &'static str,
    ) -> Got<Spanned<Duration>> {
        let Some(value) = self.value(sink, key) else {
            return Ok(None);
        };
        duration_value(sink, &self.key_path(key), value).map(Some)
    }

    /// An optional array (of anything); the caller checks the elements.
    pub(super) fn get_array(
        &mut self,
        sink: &mut Sink<'_>,
        key: &'static str,
    ) -> Got<Spanned<&'a [Spanned<DeValue<'i>>]>> {
        let Some(value) = self.value(sink, key) else {
            return Ok(None);
        };
        match value.get_ref() {
            DeValue::Array(array) => Ok(Some(Spanned::new(value.span(), &array[..]))),
            _ => {
                self.wrong_type(sink, key, value, Expected::Array);
                Err(Reported)
            }
        }
    }

    /// An optional array of strings, e.g. `phases = ["deploying", "verifying"]`.
    pub(super) fn get_str_list(
        &mut self,
        sink: &mut Sink<'_>,
        key: &'static str,
    ) -> Got<Spanned<Vec<Spanned<String>>>> {
        let Some(array) = self.get_array(sink, key)? else {
            return Ok(None);
        };
        let mut items = Vec::new();
        let mut bad = false;
        for (index, item) in array.get_ref().iter().enumerate() {
            match item.get_ref() {
                DeValue::String(text) => items.push(Spanned::new(item.span(), text.to_string())),
                other => {
                    sink.error(
                        item.span(),
                        &format!("{}[{index}]", self.key_path(key)),
                        format!(
                            "expected a string, found {} `{}`",
                            other.type_str(),
                            self.quote(sink, item.span())
                        ),
                        Some(format!("put each entry of `{key}` in quotes")),
                    );
                    bad = true;
                }
            }
        }
        if bad {
            return Err(Reported);
        }
        Ok(Some(Spanned::new(array.span(), items)))
    }

    /// An optional table with free-form keys (`{ deploying = "5s" }`), entries in file order.
    pub(super) fn get_entries(
        &mut self,
        sink: &mut Sink<'_>,
        key: &'static str,
    ) -> Got<Spanned<Vec<Entry<'a, 'i>>>> {
        let Some(value) = self.value(sink, key) else {
            return Ok(None);
        };
        let DeValue::Table(table) = value.get_ref() else {
            self.wrong_type(sink, key, value, Expected::Table);
            return Err(Reported);
        };
        let entries = table
            .iter()
            .map(|(name, value)| Entry {
                key: Spanned::new(name.span(), name.get_ref().to_string()),
                value,
            })
            .collect();
        Ok(Some(Spanned::new(value.span(), entries)))
    }

    /// An optional table of strings (`headers`, `labels`), as (name, value) pairs in file order.
    /// Values are never quoted in messages: a header may hold a credential.
    pub(super) fn get_str_table(
        &mut self,
        sink: &mut Sink<'_>,
        key: &'static str,
    ) -> Got<Vec<(Spanned<String>, Spanned<String>)>> {
        let Some(entries) = self.get_entries(sink, key)? else {
            return Ok(None);
        };
        let mut pairs = Vec::new();
        let mut bad = false;
        for entry in entries.into_inner() {
            match entry.value.get_ref() {
                DeValue::String(text) => pairs.push((
                    entry.key,
                    Spanned::new(entry.value.span(), text.to_string()),
                )),
                other => {
                    sink.error(
                        entry.value.span(),
                        &format!("{}.{}", self.key_path(key), entry.key.get_ref()),
                        format!("expected a string, found {}", other.type_str()),
                        Some(format!(
                            "put the value in quotes: `{} = \"...\"`",
                            entry.key.get_ref()
                        )),
                    );
                    bad = true;
                }
            }
        }
        if bad {
            return Err(Reported);
        }
        Ok(Some(pairs))
    }
}

/// A duration value (a string such as `"500ms"`, `"30s"`, `"1h30m"`), more than zero.
pub(super) fn duration_value(
    sink: &mut Sink<'_>,
    path: &str,
    value: &Spanned<DeValue<'_>>,
) -> Result<Spanned<Duration>, Reported> {
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
