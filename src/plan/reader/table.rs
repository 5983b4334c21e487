//! The spanned tree reader: one TOML table at a time, key by key, every problem collected.
//!
//! The plan is not deserialized with serde's `deny_unknown_fields`, which stops at the first
//! problem. Instead a [`TableReader`] wraps one TOML table: each getter (see `getters.rs`) marks
//! the key as known, returns the value with its span, and records a diagnostic when the key is
//! missing or has the wrong type; [`TableReader::finish`] then reports every key nobody asked for
//! as unknown, with the closest known key as a suggestion. All diagnostics go to one [`Sink`],
//! which also remembers where each key path was found so later checks (cross-references,
//! warnings) can point at it.

use std::collections::{BTreeSet, HashMap};
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::domain::closest;
use crate::plan::diagnostic::{Diagnostic, DiagnosticLevel, LineIndex};

/// A problem that was already recorded in the sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::plan) struct Reported;

/// The outcome of reading an optional key: `Ok(None)` when the key is absent (the caller applies
/// its default), `Ok(Some(value))` when it is valid, and `Err(Reported)` when it is present but
/// wrong, in which case the diagnostic is already in the [`Sink`]. Keeping "absent" and "wrong"
/// apart lets callers skip follow-on checks (e.g. timeout against interval) that would only
/// repeat the first complaint.
pub(in crate::plan) type Got<T> = Result<Option<T>, Reported>;

/// Collects diagnostics for one plan file and remembers the span of every key path read.
pub(in crate::plan) struct Sink<'t> {
    lines: LineIndex<'t>,
    diagnostics: Vec<Diagnostic>,
    spans: HashMap<String, Range<usize>>,
    /// Every key path a reader asked for, present or not: what the plan reference must document.
    known: BTreeSet<String>,
}

impl<'t> Sink<'t> {
    /// A sink for diagnostics about `text`.
    pub(in crate::plan) fn new(text: &'t str) -> Self {
        Sink {
            lines: LineIndex::new(text),
            diagnostics: Vec::new(),
            spans: HashMap::new(),
            known: BTreeSet::new(),
        }
    }

    /// Every key path the readers asked for (see `plan::known_keys`).
    pub(in crate::plan) fn into_known_keys(self) -> BTreeSet<String> {
        self.known
    }

    /// Records an error at `span` for the key `path`.
    pub(in crate::plan) fn error(
        &mut self,
        span: Range<usize>,
        path: &str,
        message: impl Into<String>,
        help: Option<String>,
    ) {
        self.push(DiagnosticLevel::Error, span, path, message.into(), help);
    }

    /// Records a warning at `span` for the key `path`.
    pub(in crate::plan) fn warning(
        &mut self,
        span: Range<usize>,
        path: &str,
        message: impl Into<String>,
        help: Option<String>,
    ) {
        self.push(DiagnosticLevel::Warning, span, path, message.into(), help);
    }

    fn push(
        &mut self,
        level: DiagnosticLevel,
        span: Range<usize>,
        path: &str,
        message: String,
        help: Option<String>,
    ) {
        let (line, column) = self.lines.position(span.start);
        self.diagnostics.push(Diagnostic {
            level,
            line,
            column,
            path: path.to_string(),
            message,
            help,
        });
    }

    /// The span where the key `path` (e.g. `rollback.procedure`) was found, if it was read.
    pub(in crate::plan) fn span_of(&self, path: &str) -> Option<Range<usize>> {
        self.spans.get(path).cloned()
    }

    /// The 1-based line of a byte offset.
    pub(in crate::plan) fn line_of(&self, offset: usize) -> usize {
        self.lines.position(offset).0
    }

    /// The source text of `span`, shortened for a message.
    pub(in crate::plan) fn snippet(&self, span: Range<usize>) -> String {
        self.lines.snippet(span)
    }

    /// Every diagnostic recorded so far, in the order found.
    pub(in crate::plan) fn into_diagnostics(self) -> Vec<Diagnostic> {
        self.diagnostics
    }

    pub(super) fn remember(&mut self, path: &str, span: Range<usize>) {
        self.spans.insert(path.to_string(), span);
    }
}

/// Joins a table path and a key: `("checklist[2]", "owner")` → `checklist[2].owner`.
pub(in crate::plan) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// The kind of value a key expects, for "expected X, found Y" messages.
#[derive(Debug, Clone, Copy)]
pub(in crate::plan) enum Expected {
    String,
    Boolean,
    Number,
    Table,
    ArrayOfTables,
    DateTime,
    Integer,
    Array,
}

impl Expected {
    fn describe(self) -> &'static str {
        match self {
            Expected::String => "a string",
            Expected::Boolean => "a boolean (true or false)",
            Expected::Number => "a number",
            Expected::Table => "a table",
            Expected::ArrayOfTables => "an array of tables",
            Expected::DateTime => "a date-time",
            Expected::Integer => "an integer",
            Expected::Array => "an array",
        }
    }
}

/// Reads one TOML table, tracking which keys were read.
pub(in crate::plan) struct TableReader<'a, 'i> {
    table: &'a DeTable<'i>,
    /// Where the table starts (its header, or the inline table), for "missing key" errors.
    span: Range<usize>,
    /// The table's key path, e.g. `checklist[2]`; empty for the document root.
    path: String,
    known: Vec<&'static str>,
    /// Keys that must not be present (inline secrets): not unknown, but never offered as known.
    forbidden: Vec<&'static str>,
    /// Whether values must not be quoted in messages (tables that may hold secrets).
    redact: bool,
}

impl<'a, 'i> TableReader<'a, 'i> {
    /// A reader over `table`, found at `span` under the key path `path`.
    pub(in crate::plan) fn new(
        table: &'a DeTable<'i>,
        span: Range<usize>,
        path: impl Into<String>,
    ) -> Self {
        TableReader {
            table,
            span,
            path: path.into(),
            known: Vec::new(),
            forbidden: Vec::new(),
            redact: false,
        }
    }

    /// Stops quoting values in messages for this table and the tables read from it, because a
    /// mistyped key there may hold a secret.
    pub(in crate::plan) fn redact_values(&mut self) {
        self.redact = true;
    }

    /// A reader for a table found inside this one, inheriting redaction.
    pub(super) fn child(
        &self,
        table: &'a DeTable<'i>,
        span: Range<usize>,
        path: String,
    ) -> TableReader<'a, 'i> {
        TableReader {
            redact: self.redact,
            ..TableReader::new(table, span, path)
        }
    }

    /// The source text of a value for a message, or a placeholder when redacting.
    pub(in crate::plan) fn quote(&self, sink: &Sink<'_>, span: Range<usize>) -> String {
        if self.redact {
            "(value not shown)".to_string()
        } else {
            sink.snippet(span)
        }
    }

    /// The table's key path.
    pub(in crate::plan) fn path(&self) -> &str {
        &self.path
    }

    /// Where the table starts.
    pub(in crate::plan) fn span(&self) -> Range<usize> {
        self.span.clone()
    }

    /// The key path of `key` in this table.
    pub(in crate::plan) fn key_path(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// Marks `key` as known and returns its value, if present.
    pub(in crate::plan) fn value(
        &mut self,
        sink: &mut Sink<'_>,
        key: &'static str,
    ) -> Option<&'a Spanned<DeValue<'i>>> {
        self.known.push(key);
        sink.known.insert(self.key_path(key));
        let value = self.table.get(key)?;
        sink.remember(&self.key_path(key), value.span());
        Some(value)
    }

    /// Marks `key` as known and returns its value, or records a "missing key" error.
    pub(in crate::plan) fn required(
        &mut self,
        sink: &mut Sink<'_>,
        key: &'static str,
        expected: Expected,
    ) -> Option<&'a Spanned<DeValue<'i>>> {
        let value = self.value(sink, key);
        if value.is_none() {
            let (what, help) = if self.path.is_empty() {
                (
                    format!("missing section `{key}`"),
                    format!("add a `[{key}]` section"),
                )
            } else {
                (
                    format!("missing required key `{key}`"),
                    format!("add `{key} = ...` ({})", expected.describe()),
                )
            };
            sink.error(self.span(), &self.key_path(key), what, Some(help));
        }
        value
    }

    /// An optional array of tables (`[[people]]`); absent means empty. Entries that are not
    /// tables are reported and skipped.
    pub(in crate::plan) fn array_of_tables(
        &mut self,
        sink: &mut Sink<'_>,
        key: &'static str,
    ) -> Vec<TableReader<'a, 'i>> {
        let Some(value) = self.value(sink, key) else {
            return Vec::new();
        };
        let DeValue::Array(array) = value.get_ref() else {
            self.wrong_type(sink, key, value, Expected::ArrayOfTables);
            return Vec::new();
        };
        let mut tables = Vec::new();
        for (index, entry) in array.iter().enumerate() {
            let path = format!("{}[{index}]", self.key_path(key));
            match entry.get_ref() {
                DeValue::Table(table) => tables.push(self.child(table, entry.span(), path)),
                other => sink.error(
                    entry.span(),
                    &path,
                    format!(
                        "expected a table, found {} `{}`",
                        other.type_str(),
                        self.quote(sink, entry.span())
                    ),
                    Some(format!(
                        "write each entry as a `[[{}]]` table",
                        self.key_path(key)
                    )),
                ),
            }
        }
        tables
    }

    /// Reports a key that must not be present (e.g. an inline secret), marking it known so it
    /// is not also reported as unknown. Returns whether it was present.
    pub(in crate::plan) fn forbid(
        &mut self,
        sink: &mut Sink<'_>,
        key: &'static str,
        message: &str,
        help: &str,
    ) -> bool {
        self.forbidden.push(key);
        let Some((name, _)) = self.table.get_key_value(key) else {
            return false;
        };
        sink.error(
            name.span(),
            &self.key_path(key),
            message,
            Some(help.to_string()),
        );
        true
    }

    /// The span of `key`'s name (not its value), if present.
    pub(in crate::plan) fn key_span(&self, key: &str) -> Option<Range<usize>> {
        self.table.get_key_value(key).map(|(name, _)| name.span())
    }

    /// Reports every key that was not read as unknown, suggesting the closest known key.
    pub(in crate::plan) fn finish(self, sink: &mut Sink<'_>) {
        for (name, _) in self.table.iter() {
            let name_text: &str = name.get_ref();
            if self.known.contains(&name_text) || self.forbidden.contains(&name_text) {
                continue;
            }
            let what = if self.path.is_empty() {
                "unknown section"
            } else {
                "unknown key"
            };
            let help = match closest(name_text, self.known.iter().copied()) {
                Some(near) => format!("did you mean `{near}`?"),
                None => format!("known keys here: {}", self.known.join(", ")),
            };
            sink.error(
                name.span(),
                &self.key_path(name_text),
                format!("{what} `{name_text}`"),
                Some(help),
            );
        }
    }

    /// Records "expected X, found Y `value`" for `key`.
    pub(in crate::plan) fn wrong_type(
        &self,
        sink: &mut Sink<'_>,
        key: &str,
        value: &Spanned<DeValue<'_>>,
        expected: Expected,
    ) {
        let help = match expected {
            Expected::String => Some(format!("put the value in quotes: `{key} = \"...\"`")),
            Expected::ArrayOfTables => {
                Some(format!("write each entry as `[[{}]]`", self.key_path(key)))
            }
            Expected::Table => Some(format!("write it as a `[{}]` section", self.key_path(key))),
            Expected::Array => Some(format!("write a list in brackets: `{key} = [...]`")),
            Expected::Number | Expected::Integer => Some(match value.get_ref() {
                // `"14"`: the number is right, the quotes are not.
                DeValue::String(text) if !self.redact && text.trim().parse::<f64>().is_ok() => {
                    format!("remove the quotes: `{key} = {}`", text.trim())
                }
                _ if matches!(expected, Expected::Integer) => {
                    format!("write a whole number without quotes, e.g. `{key} = 3`")
                }
                _ => format!("write a number without quotes, e.g. `{key} = 3` or `{key} = 1.5`"),
            }),
            Expected::Boolean => Some(match value.get_ref() {
                DeValue::String(text)
                    if !self.redact && matches!(text.trim(), "true" | "false") =>
                {
                    format!("remove the quotes: `{key} = {}`", text.trim())
                }
                _ => format!("write `{key} = true` or `{key} = false`, without quotes"),
            }),
            Expected::DateTime => Some(format!(
                "write a TOML date-time without quotes, e.g. `{key} = 2027-03-09T20:00:00`"
            )),
        };
        sink.error(
            value.span(),
            &self.key_path(key),
            format!(
                "expected {}, found {} `{}`",
                expected.describe(),
                value.get_ref().type_str(),
                self.quote(sink, value.span())
            ),
            help,
        );
    }
}
