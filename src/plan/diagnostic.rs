//! A problem found in a plan, with where it is and how to fix it.
//!
//! This module owns the [`Diagnostic`] value every check produces, its one-line rendering
//! (`file:line:col: error: path: message` and an indented `help:` line), and [`LineIndex`], which
//! turns the byte offsets the TOML parser reports into the 1-based line and column (counted in
//! characters) people see in their editor.

use std::fmt;
use std::ops::Range;
use std::path::Path;

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DiagnosticLevel {
    /// The plan cannot be used as written.
    Error,
    /// The plan works but probably not as intended; `golive check --strict` treats it as an error.
    Warning,
}

impl DiagnosticLevel {
    /// The lowercase word used in output: `error` or `warning`.
    pub fn as_str(self) -> &'static str {
        match self {
            DiagnosticLevel::Error => "error",
            DiagnosticLevel::Warning => "warning",
        }
    }
}

impl fmt::Display for DiagnosticLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem in a plan file.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub level: DiagnosticLevel,
    /// 1-based line of the offending key, value or table header.
    pub line: usize,
    /// 1-based column, counted in characters (not bytes).
    pub column: usize,
    /// The key path, e.g. `checklist[2].owner` (array indexes are 0-based); empty for TOML
    /// syntax errors, which belong to no key.
    pub path: String,
    /// What is wrong, naming the bad value.
    pub message: String,
    /// How to fix it, with the near name when the value looks like a typo.
    pub help: Option<String>,
}

impl Diagnostic {
    /// Whether this diagnostic is an error (as opposed to a warning).
    pub fn is_error(&self) -> bool {
        self.level == DiagnosticLevel::Error
    }

    /// Renders the diagnostic for a terminal, prefixed with the plan file's name:
    ///
    /// ```text
    /// plan.toml:12:9: error: checklist[2].owner: unknown person or role `bobb`
    ///   help: did you mean `bob`?
    /// ```
    pub fn display<'a>(&'a self, file: &'a Path) -> impl fmt::Display + 'a {
        DisplayDiagnostic {
            diagnostic: self,
            file,
        }
    }
}

/// A diagnostic together with the file name it is shown with.
struct DisplayDiagnostic<'a> {
    diagnostic: &'a Diagnostic,
    file: &'a Path,
}

impl fmt::Display for DisplayDiagnostic<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let diagnostic = self.diagnostic;
        write!(
            f,
            "{}:{}:{}: {}: ",
            self.file.display(),
            diagnostic.line,
            diagnostic.column,
            diagnostic.level
        )?;
        if !diagnostic.path.is_empty() {
            write!(f, "{}: ", diagnostic.path)?;
        }
        f.write_str(&diagnostic.message)?;
        if let Some(help) = &diagnostic.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

/// Sorts diagnostics by position in the file; at one position errors come before warnings, and
/// otherwise the order in which they were found is kept.
pub(super) fn sort_by_position(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by_key(|diagnostic| (diagnostic.line, diagnostic.column, diagnostic.level));
}

/// Maps byte offsets in a text to 1-based lines and character columns.
#[derive(Debug, Clone)]
pub struct LineIndex<'t> {
    text: &'t str,
    /// Byte offset at which each line starts; the first entry is 0.
    line_starts: Vec<usize>,
}

impl<'t> LineIndex<'t> {
    /// Indexes the line starts of `text`.
    pub fn new(text: &'t str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(offset, _)| offset + 1))
            .collect();
        LineIndex { text, line_starts }
    }

    /// The 1-based line and 1-based character column of the byte `offset`.
    ///
    /// Offsets past the end map to the end of the text, and an offset inside a multibyte
    /// character maps to that character, so a parser's span can never make this panic.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        // `line_starts` is sorted and starts with 0, so the partition point is at least 1.
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let line_start = self.line_starts[line - 1];
        let column = self.text[line_start..offset].chars().count() + 1;
        (line, column)
    }

    /// The source text of `span`, on one line and shortened to at most 40 characters, for
    /// quoting a bad value in a message.
    pub fn snippet(&self, span: Range<usize>) -> String {
        let text = self.text.get(span).unwrap_or_default();
        let first_line = text.lines().next().unwrap_or_default().trim();
        let mut snippet: String = first_line.chars().take(40).collect();
        if snippet.len() < text.trim().len() {
            snippet.push('…');
        }
        snippet
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_to_one_based_lines_and_columns() {
        let index = LineIndex::new("ab\ncd\n\nef");
        assert_eq!(index.position(0), (1, 1));
        assert_eq!(index.position(1), (1, 2));
        assert_eq!(index.position(2), (1, 3));
        assert_eq!(index.position(3), (2, 1));
        assert_eq!(index.position(6), (3, 1));
        assert_eq!(index.position(7), (4, 1));
        assert_eq!(index.position(8), (4, 2));
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        // "é" is two bytes and "🚀" four; the `x` after them is the fourth character.
        let text = "a\néa🚀x = 1";
        let index = LineIndex::new(text);
        let x = text.find('x').unwrap();
        assert_eq!(index.position(x), (2, 4));
    }

    #[test]
    fn offsets_inside_a_character_or_past_the_end_do_not_panic() {
        let text = "é\n🚀";
        let index = LineIndex::new(text);
        assert_eq!(index.position(1), (1, 1));
        assert_eq!(index.position(5), (2, 1));
        assert_eq!(index.position(1000), (2, 2));
    }

    #[test]
    fn a_diagnostic_renders_file_position_path_message_and_help() {
        let diagnostic = Diagnostic {
            level: DiagnosticLevel::Error,
            line: 12,
            column: 9,
            path: "checklist[2].owner".to_string(),
            message: "unknown person or role `bobb`".to_string(),
            help: Some("did you mean `bob`?".to_string()),
        };
        assert_eq!(
            diagnostic.display(Path::new("plan.toml")).to_string(),
            "plan.toml:12:9: error: checklist[2].owner: unknown person or role `bobb`\n  help: did you mean `bob`?"
        );
    }

    #[test]
    fn snippets_are_one_line_and_short() {
        let text = "\"a very long value that goes on and on and on and on\"\nnext";
        let index = LineIndex::new(text);
        let snippet = index.snippet(0..text.len());
        assert!(snippet.ends_with('…'));
        assert!(!snippet.contains('\n'));
    }
}
