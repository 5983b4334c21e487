//! The command-line interface: argument definitions and one module per group of subcommands.
//! `main.rs` parses [`Cli`] and calls [`execute`], which turns the parsed [`Command`] once into
//! work done here or a call to a running daemon ([`work`]). The top layer: it may call `demo`,
//! and reaches the daemon through `crate::client`.

pub mod check;
mod commands;
mod completions;
mod daemon;
mod format;
mod preflight;
mod probe;
mod remote;
mod report;
mod runbook;
mod schema;
mod verify;
mod work;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::PossibleValue;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::core::log::LogKind;
use crate::domain::Phase;
use crate::plan::checks::Severity;

/// golive runs a software launch the way a good go-live call does.
#[derive(Debug, Parser)]
#[command(name = "golive", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// How the daemon writes its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Where the CLI finds the daemon, and how it prints.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// The daemon's URL [default: from --plan, else http://127.0.0.1:9898].
    #[arg(long, env = "GOLIVE_SERVER", global = true)]
    pub server: Option<String>,
    /// A plan file whose running daemon to talk to.
    #[arg(long, env = "GOLIVE_PLAN", global = true)]
    pub plan: Option<PathBuf>,
    /// Print the daemon's JSON answer instead of readable text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Who is doing this (recorded in the launch log) [default: the token's name].
    #[arg(long, env = "GOLIVE_AUTHOR", global = true)]
    pub author: Option<String>,
}

/// The pipeline run making a change: `given` (`--run-id`, `GOLIVE_RUN_ID`; '' for none), else the
/// one the CI system names.
fn pipeline_run(given: Option<String>) -> Option<String> {
    given.or_else(run_id_from_ci)
}

/// The run id a CI system gives the pipeline run (`--run-id` and `GOLIVE_RUN_ID` come first):
/// GitHub Actions' `GITHUB_RUN_ID` (the same for every re-run attempt of a workflow run) or
/// GitLab's `CI_PIPELINE_ID` (the same for every retried job of a pipeline), named by system so
/// two systems' numbers never meet.
fn run_id_from_ci() -> Option<String> {
    [("github", "GITHUB_RUN_ID"), ("gitlab", "CI_PIPELINE_ID")]
        .iter()
        .find_map(|(system, variable)| {
            let value = std::env::var(variable).ok()?;
            let value = value.trim();
            (!value.is_empty()).then(|| format!("{system}:{value}"))
        })
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon for a launch plan.
    Run {
        /// The launch plan (TOML).
        plan: PathBuf,
        /// Listen here instead of the plan's [server] listen (e.g. 127.0.0.1:0 for any free port).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Keep the launch's state in this PostgreSQL database (postgres://user:password@host/db)
        /// instead of SQLite in the data directory; overrides [store] url. Prefer the environment
        /// variable: a command line is visible to other users of the machine.
        #[arg(long, env = "GOLIVE_DATABASE_URL", hide_env_values = true)]
        database_url: Option<String>,
        /// Log format.
        #[arg(long, value_enum, default_value_t = LogFormat::Text)]
        log_format: LogFormat,
    },
    /// Validate a launch plan without starting anything.
    Check {
        /// The launch plan (TOML).
        plan: PathBuf,
        /// Treat warnings as errors.
        #[arg(long)]
        strict: bool,
    },
    /// Print the plan's JSON Schema, for editors (taplo / Even Better TOML): `golive schema >
    /// golive.schema.json`.
    Schema,
    /// Show the launch's phase, checklist progress and action items.
    Status {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Change the launch phase.
    Phase {
        #[command(subcommand)]
        action: PhaseAction,
        /// The pipeline run making the change: asked again by the same run after it moved the
        /// launch there (or on from there), it succeeds without a second log entry [default:
        /// GOLIVE_RUN_ID, else `github:` + GITHUB_RUN_ID, else `gitlab:` + CI_PIPELINE_ID; ''
        /// for none].
        #[arg(long, env = "GOLIVE_RUN_ID", global = true)]
        run_id: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show or confirm checklist items.
    Checklist {
        #[command(subcommand)]
        action: ChecklistAction,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Add a note to the launch log.
    Note {
        /// The note.
        #[arg(required = true, num_args = 1..)]
        text: Vec<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Record a decision in the launch log.
    Decision {
        #[arg(required = true, num_args = 1..)]
        text: Vec<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Record a lesson learned.
    Lesson {
        #[arg(required = true, num_args = 1..)]
        text: Vec<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Record feedback from users, support or stakeholders.
    Feedback {
        #[arg(required = true, num_args = 1..)]
        text: Vec<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Send a stakeholder update to the plan's `[updates]` audience (recorded in the log).
    Update {
        /// What people outside the call should know, e.g. "20 minutes behind plan, no customer impact".
        #[arg(required = true, num_args = 1..)]
        text: Vec<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Make the running daemon read its plan file again and apply it without a restart (like
    /// SIGHUP); an invalid plan or a change that needs a restart is refused, naming why.
    Reload {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Manage action items.
    Action {
        #[command(subcommand)]
        action: ActionCommand,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show the newest launch log entries.
    Log {
        /// Only these kinds (comma-separated).
        #[arg(long, value_enum, value_delimiter = ',')]
        kind: Vec<LogKind>,
        /// How many entries.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show every check's health and latest result.
    Checks {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List alerts (open by default).
    Alerts {
        /// Include resolved alerts.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Acknowledge alerts: stops their escalation and tells everyone already notified (a whole
    /// storm at once: `golive ack 12 13 14`).
    Ack {
        /// The alert numbers (`12` or `#12`).
        #[arg(required = true, num_args = 1.., value_parser = parse_alert_id)]
        alerts: Vec<i64>,
        /// A note, e.g. what you are doing about it.
        #[arg(long)]
        note: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Manage silences (they hold notifications back, never detection).
    Silence {
        #[command(subcommand)]
        action: SilenceAction,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Notification channels.
    Notify {
        #[command(subcommand)]
        action: NotifyAction,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Roll the launch back: records the decision, moves to rolled_back, runs the rollback hook.
    Rollback {
        /// Why (required).
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// The pre-launch readiness check: the plan, every check probed once, every channel tested,
    /// and one go/no-go summary with the owner of each gap (exit 0 on go, 1 on no-go).
    Preflight {
        /// The launch plan (TOML).
        plan: PathBuf,
    },
    /// Run the plan's checks once, without a daemon (the pre-launch dry run); exit 0 only if all
    /// are healthy.
    Probe {
        /// The launch plan (TOML).
        plan: PathBuf,
        /// Only these checks (ids); all when none are given.
        checks: Vec<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Start, complete, skip or fail a deployment runbook step.
    Step {
        #[command(subcommand)]
        action: StepCommand,
        /// The pipeline run making the change: repeated by the same run, a change already made
        /// succeeds without a second log entry [default: GOLIVE_RUN_ID, else `github:` +
        /// GITHUB_RUN_ID, else `gitlab:` + CI_PIPELINE_ID; '' for none].
        #[arg(long, env = "GOLIVE_RUN_ID", global = true)]
        run_id: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// The release pipeline's gate: wait until the launch has been healthy in a phase for a soak
    /// time (exit 0, advancing the phase with --advance); exit 3 as soon as the plan's rollback
    /// criteria hold, 4 on --timeout, 69 when golive cannot be reached.
    Verify {
        #[command(flatten)]
        options: verify::VerifyOptions,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show the deployment runbook: planned vs actual times, who did what, and lateness.
    Runbook {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Play a whole launch in about three minutes: a built-in demo service and golive on the
    /// demo plan, loopback only, no set-up (go/no-go, deployment, an incident, hypercare, close).
    Demo {
        /// About how long the demo takes, e.g. 3m or 90s.
        #[arg(long, default_value = "3m", value_parser = crate::demo::parse_duration)]
        duration: std::time::Duration,
        /// The folder for the plan, golive's store and the outbox; it must not exist or be empty
        /// [default: a fresh ./golive-demo].
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Keep golive and the demo service running after the launch closed, until Ctrl-C.
        #[arg(long)]
        keep_running: bool,
    },
    /// Print a shell completion script, e.g. `golive completions bash > /etc/bash_completion.d/golive`.
    Completions {
        /// The shell (bash, zsh, fish, elvish or powershell).
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page golive(1), or write it and one page per subcommand into a folder.
    Man {
        /// Write golive.1 and golive-SUBCOMMAND.1 pages into this folder instead.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Daily and final reports: preview from the store, or send now through the daemon.
    Report {
        #[command(subcommand)]
        action: ReportAction,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Export the launch timeline (the minutes of the launch) as Markdown.
    Timeline {
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReportAction {
    /// Write a report to standard output from the store, without sending it (works on a stopped
    /// daemon's data directory too; needs --plan).
    Preview {
        /// The local day of the daily report, YYYY-MM-DD [default: the day in progress].
        #[arg(long)]
        date: Option<String>,
        /// The final launch report instead.
        #[arg(long = "final")]
        final_report: bool,
        /// html, text or eml (the whole email).
        #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
        format: ReportFormat,
    },
    /// Send a report now through the running daemon (recorded like a scheduled one).
    Send {
        /// The local day of the daily report, YYYY-MM-DD [default: the day in progress].
        #[arg(long)]
        date: Option<String>,
        /// The final launch report instead.
        #[arg(long = "final")]
        final_report: bool,
    },
}

/// How `golive report preview` writes the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Html,
    Text,
    Eml,
}

#[derive(Debug, Subcommand)]
pub enum PhaseAction {
    /// Move to the next phase.
    Advance {
        /// Override the gate's blockers (needs --reason).
        #[arg(long)]
        force: bool,
        /// Why (required with --force).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Move to a named phase (the next one, or rolled_back).
    Set {
        #[arg(value_enum)]
        phase: Phase,
        #[arg(long)]
        force: bool,
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum StepCommand {
    /// Start a step (refused while the steps it depends on are not done, unless --force).
    Start {
        /// The step's id.
        id: String,
        /// Start although dependencies are not done (needs --reason).
        #[arg(long)]
        force: bool,
        /// Why (required with --force).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Mark a running step done.
    Done {
        id: String,
        /// A note, e.g. what was verified.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Skip a step that will not be carried out (needs --reason).
    Skip {
        id: String,
        #[arg(long)]
        reason: String,
    },
    /// Mark a running step failed (needs --reason); the applicable rollback procedure is sent.
    Fail {
        id: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum SilenceAction {
    /// Silence notifications for some checks/severities for a while.
    Add {
        /// Why (required).
        #[arg(long)]
        comment: String,
        /// How long, e.g. 30m or 2h.
        #[arg(long, default_value = "1h")]
        duration: String,
        /// Only these checks (repeatable; all when none).
        #[arg(long = "check")]
        checks: Vec<String>,
        /// Only these severities (repeatable; all when none).
        #[arg(long = "severity", value_enum)]
        severities: Vec<Severity>,
        /// An id for the silence (default: generated).
        #[arg(long)]
        id: Option<String>,
    },
    /// List silences.
    List,
    /// Remove a run-time silence.
    Remove { id: String },
}

#[derive(Debug, Subcommand)]
pub enum NotifyAction {
    /// Send a test message through every channel (or the named ones) and report each result.
    Test {
        /// Channel ids (all when none).
        channels: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ChecklistAction {
    /// List the checklist with who confirmed what.
    List,
    /// Confirm an item.
    Confirm {
        /// The item's id.
        id: String,
        /// A note, e.g. how it was verified.
        #[arg(long)]
        note: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ActionCommand {
    /// Open a new action item.
    Add {
        /// What needs doing.
        #[arg(required = true, num_args = 1..)]
        title: Vec<String>,
        /// A person id or role from the plan.
        #[arg(long)]
        owner: String,
        /// The day it is due, YYYY-MM-DD.
        #[arg(long)]
        due: Option<String>,
    },
    /// Mark an item done.
    Done {
        id: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Drop an item that will not be done.
    Drop {
        id: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Reopen a done or dropped item.
    Reopen {
        id: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// List action items.
    List {
        #[arg(long, value_enum, default_value_t = ActionFilter::All)]
        status: ActionFilter,
    },
}

/// Which action items `golive action list` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ActionFilter {
    Open,
    Done,
    Dropped,
    /// Open past their due day.
    Overdue,
    All,
}

/// clap reads a phase, a severity and a log kind by the name the plan and the API use (`as_str`),
/// offering them in the order of the type's `ALL`.
macro_rules! value_enum_by_name {
    ($($type:ty),*) => {$(
        impl ValueEnum for $type {
            fn value_variants<'a>() -> &'a [Self] {
                &<$type>::ALL
            }

            fn to_possible_value(&self) -> Option<PossibleValue> {
                Some(PossibleValue::new(self.as_str()))
            }
        }
    )*};
}

value_enum_by_name!(Phase, Severity, LogKind);

/// The name clap reads and the API takes for a value of one of the enums above.
pub(crate) fn value_name(value: &impl ValueEnum) -> String {
    value
        .to_possible_value()
        .map_or_else(String::new, |value| value.get_name().to_string())
}

/// An alert number as given on the command line: `12` or `#12`.
fn parse_alert_id(text: &str) -> Result<i64, String> {
    text.trim()
        .trim_start_matches('#')
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| format!("`{text}` is not an alert number (e.g. 12 or #12)"))
}

/// Runs a parsed command line and returns the process exit code.
pub fn execute(cli: Cli) -> ExitCode {
    match work::Work::from(cli.command) {
        work::Work::Local(local) => work::run_local(local),
        work::Work::Remote { client, request } => remote::run(&client, request),
        work::Work::Gate { client, options } => remote::run_gate(&client, options),
    }
}
