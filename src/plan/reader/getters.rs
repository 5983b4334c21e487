//! The one getter dialect: `req_*` for keys that must be there, `get_*` for keys that may be.
//!
//! A `req_*` call returns `None` only after reporting the key as missing or wrong (both are
//! errors for a required key, so nothing is blurred); a `get_*` call returns a [`Got`]: absent,
//! valid, or present but wrong (reported). Typed reads beyond the basics: integers in a range,
//! lists of strings and tables of strings.

use toml::Spanned;
use toml::de::DeValue;

use super::table::{Expected, Got, Reported, Sink, TableReader};

/// One entry of a table with free-form keys (`headers`, `labels`, `intervals`).
pub(in crate::plan) struct Entry<'a, 'i> {
    /// The key as written, with the span of the key itself.
    pub(in crate::plan) key: Spanned<String>,
    pub(in crate::plan) value: &'a Spanned<DeValue<'i>>,
}

impl<'a, 'i> TableReader<'a, 'i> {
    /// A required, non-blank string.
    pub(in crate::plan) fn req_str(
        &mut self,
        sink: &mut Sink<'_>,
        key: &'static str,
    ) -> Option<Spanned<String>> {
        let value = self.required(sink, key, Expected::String)?;
        let text = self.as_str(sink, key, value)?;
        if text.get_ref().trim().is_empty() {
            sink.error(
                text.span(),
                &self.key_path(key),
                format!("`{key}` must not be empty"),
                Some(format!(
                    "write a value, e.g. `{key} = \"...\"`, or see the README section \"The launch plan\""
                )),
            );
            return None;
        }
        Some(text)
    }

    /// What a `get_*` read, made required: absent is reported as "missing required key", with
    /// `why` (what its absence would mean) after a colon when given, and `help`.
    pub(in crate::plan) fn require<T>(
        &self,
        sink: &mut Sink<'_>,
        key: &'static str,
        got: Got<T>,
        why: Option<&str>,
        help: String,
    ) -> Result<T, Reported> {
        if let Some(value) = got? {
            return Ok(value);
        }
        let message = match why {
            Some(why) => format!("missing required key `{key}`: {why}"),
            None => format!("missing required key `{key}`"),
        };
        sink.error(self.span(), &self.key_path(key), message, Some(help));
        Err(Reported)
    }

    /// A required number, integer or float.
    pub(in crate::plan) fn req_number(
        &mut self,
        sink: &mut Sink<'_>,
        key: &'static str,
    ) -> Option<Spanned<f64>> {
        let value = self.required(sink, key, Expected::Number)?;
        let number = match value.get_ref() {
            DeValue::Integer(integer) => i64::from_str_radix(integer.as_str(), integer.radix())
                .ok()
                // Plans hold small counts (days, seconds); precision loss past 2^53 is moot.
                .map(|integer| integer as f64),
            DeValue::Float(float) => float.as_str().parse::<f64>().ok(),
            _ => {
                self.wrong_type(sink, key, value, Expected::Number);
                return None;
            }
        };
        match number {
            Some(number) if number.is_finite() => Some(Spanned::new(value.span(), number)),
            _ => {
                sink.error(
                    value.span(),
                    &self.key_path(key),
                    format!(
                        "`{}` is not a usable number",
                        self.quote(sink, value.span())
                    ),
                    Some("write a finite number such as `3` or `1.5`".to_string()),
                );
                None
            }
        }
    }

    /// An optional sub-table (`[server]`, or an inline table).
    pub(in crate::plan) fn get_table(
        &mut self,
        sink: &mut Sink<'_>,
        key: &'static str,
    ) -> Got<TableReader<'a, 'i>> {
        let Some(value) = self.value(sink, key) else {
            return Ok(None);
        };
        match value.get_ref() {
            DeValue::Table(table) => Ok(Some(self.child(table, value.span(), self.key_path(key)))),
            _ => {
                self.wrong_type(sink, key, value, Expected::Table);
                Err(Reported)
            }
        }
    }

    /// A required sub-table.
    pub(in crate::plan) fn req_table(
        &mut self,
        sink: &mut Sink<'_>,
        key: &'static str,
    ) -> Option<TableReader<'a, 'i>> {
        let value = self.required(sink, key, Expected::Table)?;
        match value.get_ref() {
            DeValue::Table(table) => Some(self.child(table, value.span(), self.key_path(key))),
            _ => {
                self.wrong_type(sink, key, value, Expected::Table);
                None
            }
        }
    }

    fn as_str(
        &self,
        sink: &mut Sink<'_>,
        key: &str,
        value: &Spanned<DeValue<'_>>,
    ) -> Option<Spanned<String>> {
        match value.get_ref() {
            DeValue::String(text) => Some(Spanned::new(value.span(), text.to_string())),
            _ => {
                self.wrong_type(sink, key, value, Expected::String);
                None
            }
        }
    }
    /// An optional string; a value of another type is reported.
    pub(in crate::plan) fn get_str(
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
    pub(in crate::plan) fn get_bool(
        &mut self,
        sink: &mut Sink<'_>,
        key: &'static str,
    ) -> Got<bool> {
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
    pub(in crate::plan) fn get_int(
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

    /// An optional array (of anything); the caller checks the elements.
    pub(in crate::plan) fn get_array(
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
    pub(in crate::plan) fn get_str_list(
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
    pub(in crate::plan) fn get_entries(
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
    pub(in crate::plan) fn get_str_table(
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

#[cfg(test)]
mod tests {
    use toml::de::DeTable;

    use super::*;
    use crate::plan::diagnostic::Diagnostic;

    fn read(
        text: &str,
        body: impl FnOnce(&mut TableReader<'_, '_>, &mut Sink<'_>),
    ) -> Vec<Diagnostic> {
        let (root, errors) = DeTable::parse_recoverable(text);
        assert!(errors.is_empty(), "{errors:?}");
        let mut sink = Sink::new(text);
        let mut reader = TableReader::new(root.get_ref(), root.span(), "");
        body(&mut reader, &mut sink);
        reader.finish(&mut sink);
        sink.into_diagnostics()
    }

    #[test]
    fn unread_keys_are_unknown_and_the_near_key_is_suggested() {
        let diagnostics = read("nmae = \"x\"\n", |reader, sink| {
            let _ = reader.get_str(sink, "name");
        });
        assert_eq!(diagnostics.len(), 1);
        assert_eq!(diagnostics[0].message, "unknown section `nmae`");
        assert_eq!(diagnostics[0].help.as_deref(), Some("did you mean `name`?"));
    }

    #[test]
    fn a_wrong_type_names_the_expected_type_and_the_value() {
        let diagnostics = read("name = 3\n", |reader, sink| {
            assert!(reader.req_str(sink, "name").is_none());
        });
        assert_eq!(
            diagnostics[0].message,
            "expected a string, found integer `3`"
        );
        assert_eq!((diagnostics[0].line, diagnostics[0].column), (1, 8));
    }

    #[test]
    fn integers_in_any_radix_and_floats_are_numbers() {
        read("a = 0x10\nb = 1_000\nc = 2.5\n", |reader, sink| {
            assert_eq!(
                reader.req_number(sink, "a").map(|n| n.into_inner()),
                Some(16.0)
            );
            assert_eq!(
                reader.req_number(sink, "b").map(|n| n.into_inner()),
                Some(1000.0)
            );
            assert_eq!(
                reader.req_number(sink, "c").map(|n| n.into_inner()),
                Some(2.5)
            );
        });
    }
}
