//! The launch plan: the TOML file a release manager writes, read into typed, validated values.
//!
//! Reading happens in two steps (see `read.rs` and `validate.rs`): the TOML text is parsed into a
//! spanned document tree, every section is read into typed values while *every* problem is collected
//! as a [`Diagnostic`] with its line, column, key path, bad value and fix; then cross-references
//! (owners, gated phases, ids) are validated. Nothing here touches the network, the store or the
//! clock: the one impure part, [`load`], only reads the plan file.

pub mod alerting;
pub mod alertmanager_match;
mod check_http;
mod check_kinds;
pub mod checks;
mod diagnostic;
pub mod heartbeat;
mod lint;
mod monitoring;
mod read;
mod read_alerting;
mod read_checks;
mod read_escalation;
mod read_reports;
mod read_rollback;
mod read_runbook;
mod read_silences;
mod read_typed;
pub mod recipients;
pub mod reports;
pub mod review;
pub mod runbook;
mod server;
pub mod updates;
mod validate;
mod values;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

pub use diagnostic::{Diagnostic, DiagnosticLevel};

use crate::domain::{Level, Owner, Phase, Role};

/// A validated launch plan.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The plan file this was read from.
    pub source: PathBuf,
    pub launch: Launch,
    pub people: Vec<Person>,
    pub checklist: Vec<ChecklistItem>,
    pub risks: Vec<Risk>,
    pub rollback: Rollback,
    pub server: Server,
    /// `[[checks]]`: what golive probes.
    pub checks: Vec<checks::Check>,
    /// `[[prometheus]]`: servers that prometheus checks query.
    pub prometheus: Vec<checks::PrometheusServer>,
    /// `[monitoring]`: how probing runs.
    pub monitoring: checks::Monitoring,
    /// The communication plan: `[smtp]`, `[[channels]]`, `[[escalation]]`, `[alerting]`,
    /// `[[silences]]`.
    pub alerting: alerting::Alerting,
    /// `[runbook]`: the deployment runbook walked through on the go-live call.
    pub runbook: runbook::Runbook,
    /// `[reports]`: the daily and final reports (none without the section).
    pub reports: Option<reports::Reports>,
    /// `[heartbeat]`: golive's own dead-man's switch (none without the section).
    pub heartbeat: Option<heartbeat::Heartbeat>,
    /// `[updates]`: stakeholder updates on phase changes and by hand (none without the section).
    pub updates: Option<updates::Updates>,
    /// `[review]`: the post-launch review meeting (none without the section).
    pub review: Option<review::Review>,
}

/// Section `[launch]`.
#[derive(Debug, Clone)]
pub struct Launch {
    /// `name`: what is being launched, shown everywhere.
    pub name: String,
    /// `timezone`: the IANA name, e.g. `Europe/Berlin`.
    pub timezone_name: String,
    /// The time zone itself.
    pub timezone: TimeZone,
    /// `go_live`: the planned go-live instant (a local time in `timezone`, or with an offset).
    pub go_live: Timestamp,
    /// `hypercare_days`: how long hypercare lasts before the launch closes by itself (> 0).
    pub hypercare_days: f64,
    /// `data_dir`: where the store lives, resolved against the plan file's folder.
    pub data_dir: PathBuf,
}

impl Launch {
    /// The length of hypercare as a duration.
    pub fn hypercare(&self) -> SignedDuration {
        SignedDuration::from_secs_f64(self.hypercare_days * 86_400.0)
    }
}

/// One entry of `[[people]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub email: String,
    /// `chat`: optional chat handle, e.g. `@alice`.
    pub chat: Option<String>,
}

/// One entry of `[[checklist]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChecklistItem {
    pub id: String,
    pub title: String,
    /// `owner`: a person id or a role.
    pub owner: Owner,
    /// `required` (default true): leaving the gated phase needs this item confirmed.
    pub required: bool,
    /// `gates` (default `go_no_go`): the phase this item must be confirmed before leaving.
    pub gates: Phase,
}

/// One entry of `[[risks]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Risk {
    pub id: String,
    pub title: String,
    pub likelihood: Level,
    pub impact: Level,
    /// `contingency`: what to do when the risk materialises.
    pub contingency: String,
    /// `owner`: a person id or a role.
    pub owner: Owner,
    /// `checks`: ids of checks whose failure means this risk has materialised.
    pub checks: Vec<String>,
    /// `alertmanager`: which alerts from Alertmanager mean it has materialised (any matcher).
    pub alertmanager: Vec<alertmanager_match::LabelMatcher>,
}

impl Risk {
    /// Whether an alert from Alertmanager with `labels` means this risk has materialised.
    pub fn matches_alertmanager(
        &self,
        labels: &std::collections::BTreeMap<String, String>,
    ) -> bool {
        alertmanager_match::any_matches(&self.alertmanager, labels)
    }
}

/// Section `[rollback]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rollback {
    /// `procedure`: the rollback procedure, as text people follow.
    pub procedure: String,
    /// `criteria`: when alerts recommend a rollback.
    pub criteria: Vec<alerting::RollbackCriterion>,
    /// `notify` (default the project manager and dev lead roles): who gets the procedure when the
    /// criteria hold.
    pub notify: Vec<alerting::Recipient>,
    /// `[rollback.hook]`.
    pub hook: Option<alerting::RollbackHook>,
    /// `auto` (default false): run the hook by itself when the criteria hold.
    pub auto: bool,
}

/// Section `[server]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Server {
    /// `listen` (default `127.0.0.1:9898`).
    pub listen: SocketAddr,
    /// `[[server.tokens]]`: where API write tokens come from.
    pub tokens: Vec<TokenSource>,
}

/// The default listen address: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9898";

/// One `[[server.tokens]]` entry: a named token read from an environment variable or a file,
/// never written in the plan itself.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenSource {
    /// `name`: who uses this token; it becomes the default author of writes made with it.
    pub name: String,
    pub source: SecretSource,
}

/// Where a secret comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum SecretSource {
    /// `env = "VAR"`.
    Env(String),
    /// `file = "path"`, resolved against the plan file's folder.
    File(PathBuf),
}

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

/// A plan that loaded, with any warnings found along the way.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub plan: Plan,
    pub warnings: Vec<Diagnostic>,
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
    validate::parse_and_validate(&text, path, now).map_err(|diagnostics| LoadError::Invalid {
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
    validate::parse_and_validate(text, path, None)
}

/// Every key path the plan reader knows, as it reads `text`: the keys it asked for in each
/// table, present or not, with array positions (`checks[0].url`). A plan that uses every
/// section (`config/example.toml`) yields them all; the docs test checks each is documented.
pub fn known_keys(text: &str) -> std::collections::BTreeSet<String> {
    validate::known_keys(text)
}

/// As [`parse`], with the time for time-dependent warnings (see [`load_as_of`]).
pub fn parse_as_of(text: &str, path: &Path, now: Timestamp) -> Result<Loaded, Vec<Diagnostic>> {
    validate::parse_and_validate(text, path, Some(now))
}
