//! The launch plan: the TOML file a release manager writes, read into typed, validated values.
//!
//! The TOML text is parsed into a spanned document tree, every section is read into typed values
//! while *every* problem is collected as a [`Diagnostic`] with its line, column, key path, bad
//! value and fix; then references between sections are resolved and warnings added. Nothing here
//! touches the network, the store or the clock: the one impure part, [`load`], only reads the
//! plan file.
//!
//! The files are layers, and a file imports only files of its own layer or below (never one
//! above, and no two files import each other; `layers_only_point_down` checks it):
//!
//! 1. **Values and typed sections**: `diagnostic` (positions and display), `values` (checks of
//!    single values), the typed sections `launch`, `alerting`, `checks`, `reports`, `runbook`,
//!    `alertmanager_match` (no reading here).
//! 2. **TOML-reading primitives**, `reader/`: the spanned tree reader and its sink, the one getter
//!    dialect (`req_*`, `get_*`), the one duration reader, fixed words, secrets as a source, ids
//!    and references, owners and recipients.
//! 3. **One reader per section**, `sections/`: `launch`, `people`, `checklist`, `risks`, `server`,
//!    `monitoring` (`[monitoring]`, `[[prometheus]]`), `checks` (with `check_kinds`, `check_http`,
//!    `check_limits`), `alerting` (`[smtp]`, `[[channels]]`, `[alerting]`, reading `escalation` and
//!    `silences`), `rollback`, `runbook`, `reports`, `heartbeat` (typed and read in one file);
//!    `context` is what the communication sections are checked against.
//! 4. **The typed plan**, `model`: one field per section.
//! 5. **Uses of a typed plan**: `lint` (warnings), `recipients` (who a list of recipients means);
//!    `schema`, the plan's JSON Schema from docs/plan.md's key table and the readers' fixed words.
//! 6. **Loading and cross-references**, `load`: reads the sections in order (`read_plan`, where a
//!    new section is hooked in), links risks and checks, runs `lint`, orders the diagnostics.
//! 7. **This file**: the public face (`load`, `parse`, re-exports).

pub mod alerting;
pub mod alertmanager_match;
pub mod checks;
mod diagnostic;
mod launch;
mod lint;
mod load;
mod model;
mod reader;
pub mod recipients;
pub mod reports;
pub mod runbook;
mod schema;
mod sections;
mod values;

use std::path::{Path, PathBuf};

use jiff::Timestamp;

pub use alerting::Rollback;
pub use diagnostic::{Diagnostic, DiagnosticLevel};
pub use launch::{
    ChecklistItem, DEFAULT_LISTEN, Launch, Person, Risk, SecretSource, Server, TlsFiles,
    TokenSource,
};
pub use lint::NO_API_TOKENS_KEY;
pub use model::{Loaded, Plan};
pub use schema::json_schema;
pub use sections::{heartbeat, review, store, updates};

/// What went wrong loading a plan.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read (exit code 66).
    #[error("cannot read plan {path}: {source}")]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The plan has errors (exit code 64); every one is listed.
    #[error("{} has {} error(s)", path.display(), diagnostics.iter().filter(|d| d.level == DiagnosticLevel::Error).count())]
    Invalid {
        path: PathBuf,
        diagnostics: Vec<Diagnostic>,
    },
}

/// Reads and validates the plan file at `path`.
pub fn load(path: &Path) -> Result<Loaded, LoadError> {
    load_as_of(path, None)
}

/// As [`load`]; with `now`, also warns about what depends on the time, such as a planned go-live
/// already in the past (what `golive check` does before a launch).
pub fn load_as_of(path: &Path, now: Option<Timestamp>) -> Result<Loaded, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Unreadable {
        path: path.to_path_buf(),
        source,
    })?;
    // A plan that is not UTF-8 was read fine but is written wrong: a 64 with the position, like
    // any other fault in the text, not a 66 "cannot read".
    let text = String::from_utf8(bytes).map_err(|error| LoadError::Invalid {
        path: path.to_path_buf(),
        diagnostics: vec![not_utf8(error.as_bytes(), error.utf8_error().valid_up_to())],
    })?;
    load::parse_and_validate(&text, path, now).map_err(|diagnostics| LoadError::Invalid {
        path: path.to_path_buf(),
        diagnostics,
    })
}

/// The error for a plan whose bytes stop being UTF-8 at `valid_up_to`: its line and column
/// (counted in characters of the valid text before it).
fn not_utf8(bytes: &[u8], valid_up_to: usize) -> Diagnostic {
    let valid = std::str::from_utf8(&bytes[..valid_up_to]).unwrap_or_default();
    let line_start = valid.rfind('\n').map_or(0, |at| at + 1);
    Diagnostic {
        level: DiagnosticLevel::Error,
        line: valid.matches('\n').count() + 1,
        column: valid[line_start..].chars().count() + 1,
        path: String::new(),
        message: format!(
            "the plan is not valid UTF-8 (byte 0x{:02X})",
            bytes.get(valid_up_to).copied().unwrap_or_default()
        ),
        help: Some(
            "save the plan as UTF-8 (an editor's \"encoding\" setting, or `iconv -f latin1 -t utf-8`)"
                .to_string(),
        ),
    }
}

/// Parses and validates plan text; `path` names the file in diagnostics and anchors relative
/// paths (`data_dir`, token files). On failure, returns every diagnostic (errors and warnings).
pub fn parse(text: &str, path: &Path) -> Result<Loaded, Vec<Diagnostic>> {
    load::parse_and_validate(text, path, None)
}

/// Where the daemon of a plan runs, read leniently (see [`daemon_location`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonLocation {
    /// `[launch] data_dir` against the plan's folder (where `daemon.json` is), or the default.
    pub data_dir: PathBuf,
    /// `[server] listen` as written, or the default.
    pub listen: String,
}

/// Where the daemon of the plan `text` runs, without validating the rest: `golive reload --plan`
/// must reach the daemon of a plan that is now invalid, so the daemon's own diagnostics are what
/// the user reads. A key that is missing or not a string — or text that is not TOML at all —
/// gives the default.
pub fn daemon_location(text: &str, path: &Path) -> DaemonLocation {
    let table: Option<toml::Table> = text.parse().ok();
    let string = |section: &str, key: &str| match &table {
        Some(table) => table
            .get(section)
            .and_then(|section| section.get(key))
            .and_then(toml::Value::as_str)
            .map(str::to_string),
        // Not TOML as a whole (a duplicated key elsewhere, say): line by line.
        None => key_in_lines(text, section, key),
    };
    let base_dir = path.parent().unwrap_or(Path::new(""));
    DaemonLocation {
        data_dir: base_dir.join(
            string("launch", "data_dir")
                .unwrap_or_else(|| sections::launch::DEFAULT_DATA_DIR.to_string()),
        ),
        listen: string("server", "listen").unwrap_or_else(|| DEFAULT_LISTEN.to_string()),
    }
}

/// The string `key = "..."` written on a line of its own under the header `[section]`, for text
/// that does not parse as TOML as a whole.
fn key_in_lines(text: &str, section: &str, key: &str) -> Option<String> {
    let mut current = String::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            current = line
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_string();
        } else if current == section
            && let Some((name, value)) = line.split_once('=')
            && name.trim() == key
        {
            let value: toml::Table = format!("value = {}", value.trim()).parse().ok()?;
            return value.get("value")?.as_str().map(str::to_string);
        }
    }
    None
}

/// Every key path the plan reader knows, as it reads `text`: the keys it asked for in each
/// table, present or not, with array positions (`checks[0].url`). A plan that uses every
/// section (`config/example.toml`) yields them all; the docs test checks each is documented.
pub fn known_keys(text: &str) -> std::collections::BTreeSet<String> {
    load::known_keys(text)
}

/// As [`parse`], with the time for time-dependent warnings (see [`load_as_of`]).
pub fn parse_as_of(text: &str, path: &Path, now: Timestamp) -> Result<Loaded, Vec<Diagnostic>> {
    load::parse_and_validate(text, path, Some(now))
}

#[cfg(test)]
#[path = "layers_test.rs"]
mod layers;

#[cfg(test)]
mod daemon_location_tests {
    use super::*;

    #[test]
    fn the_daemon_of_a_plan_that_is_not_toml_as_a_whole_is_still_found() {
        let text = "[launch]\ndata_dir = \"state\" # here\n[server]\nlisten = \"127.0.0.1:7000\"\n[[checks]]\ninterval = \"1s\"\ninterval = \"soon\"\n";
        let location = daemon_location(text, Path::new("etc/plan.toml"));
        assert_eq!(location.data_dir, Path::new("etc/state"));
        assert_eq!(location.listen, "127.0.0.1:7000");
        let location = daemon_location("[launch]\nname = 1\n", Path::new("plan.toml"));
        assert_eq!(location.data_dir, Path::new("golive-data"));
        assert_eq!(location.listen, DEFAULT_LISTEN);
    }
}
