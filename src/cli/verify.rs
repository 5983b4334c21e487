//! `golive verify`: the release pipeline's gate. Polls `GET /api/v1/status`, hands each answer
//! to the pure judgement (`core::verification`), prints a progress line when something changes
//! (a JSON object per line with `--json`), and ends with a documented exit code: proven (and the
//! phase advanced with `--advance`), roll back, timed out, golive unreachable. Every time in the
//! judgement is the daemon's; only the timeout and the pauses between polls use this machine's
//! monotonic clock.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use jiff::SignedDuration;
use serde::Serialize;
use tokio::time::Instant;

use super::ClientArgs;
use crate::client::{Client, ClientError};
use crate::core::log::data::PhaseChange;
use crate::core::verification::{GateReading, GateRules, Soak, Verdict, judge};
use crate::domain::Phase;
use crate::wire;

/// Proven healthy for the soak (and advanced, with `--advance`).
pub const EXIT_PROVEN: u8 = 0;
/// Not proven: the launch moved past the phase otherwise than by a rollback, the daemon refused
/// the advance, or its answer could not be used.
pub const EXIT_NOT_PROVEN: u8 = 1;
/// The plan's rollback criteria hold (or the launch was rolled back): run the rollback job.
pub const EXIT_ROLL_BACK: u8 = 3;
/// `--timeout` passed before the launch was proven.
pub const EXIT_TIMEOUT: u8 = 4;
/// Bad usage: a `--timeout` not longer than `--soak`, a zero `--interval` (as clap's own).
const EXIT_USAGE: u8 = 2;
/// golive could not be reached (or answered 5xx) this many times in a row.
const ATTEMPTS: u32 = 5;
/// A progress line that says nothing new is repeated at most this often.
const REPEAT_EVERY: Duration = Duration::from_secs(30);

/// What `golive verify` waits for.
#[derive(Debug, Clone, Args)]
pub struct VerifyOptions {
    /// The phase the launch must be healthy in: deploying, verifying or hypercare.
    #[arg(long, env = "GOLIVE_VERIFY_PHASE", default_value = "verifying", value_parser = gate_phase)]
    pub phase: Phase,
    /// How long every gate and critical check must stay healthy, with no critical alert open.
    #[arg(long, env = "GOLIVE_VERIFY_SOAK", default_value = "5m", value_parser = duration)]
    pub soak: Duration,
    /// Give up (exit 4) when not proven after this long.
    #[arg(long, env = "GOLIVE_VERIFY_TIMEOUT", default_value = "30m", value_parser = duration)]
    pub timeout: Duration,
    /// How often to ask golive.
    #[arg(long, env = "GOLIVE_VERIFY_INTERVAL", default_value = "5s", value_parser = interval)]
    pub interval: Duration,
    /// Once proven, move the launch to the phase after (verifying → hypercare).
    #[arg(long)]
    pub advance: bool,
    /// The pipeline run advancing the phase: a re-run finding the launch advanced by this run
    /// already exits 0 [default: GOLIVE_RUN_ID, else `github:` + GITHUB_RUN_ID, else `gitlab:` +
    /// CI_PIPELINE_ID; '' for none].
    #[arg(long, env = "GOLIVE_RUN_ID")]
    pub run_id: Option<String>,
}

/// A duration as `5m`, `90s`, `1h30m` (jiff's friendly format).
fn duration(text: &str) -> Result<Duration, String> {
    let parsed: SignedDuration = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 30s, 10m or 1h"))?;
    Duration::try_from(parsed).map_err(|_| format!("`{text}` is negative"))
}

/// A pause between polls: a duration over zero.
fn interval(text: &str) -> Result<Duration, String> {
    let pause = duration(text)?;
    if pause.is_zero() {
        return Err(format!("`{text}`: the interval must be longer than 0s"));
    }
    Ok(pause)
}

/// A phase the gate can wait in: one the rollback criteria apply to.
fn gate_phase(text: &str) -> Result<Phase, String> {
    text.parse::<Phase>()
        .ok()
        .filter(|phase| phase.can_roll_back())
        .ok_or_else(|| format!("`{text}` is not one of deploying, verifying, hypercare"))
}

/// One line of output: progress while waiting, then the outcome (with its exit code).
#[derive(Debug, Serialize)]
struct Line {
    /// waiting, soaking, unreachable, proven, advanced, roll_back, phase_left, not_proven,
    /// timeout.
    event: &'static str,
    phase: Option<String>,
    reasons: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    soak_remaining_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exit_code: Option<u8>,
}

impl Line {
    fn new(event: &'static str, phase: Option<Phase>, reasons: Vec<String>) -> Line {
        Line {
            event,
            phase: phase.map(|phase| phase.to_string()),
            reasons,
            soak_remaining_seconds: None,
            exit_code: None,
        }
    }

    fn ending(mut self, code: u8) -> Line {
        self.exit_code = Some(code);
        self
    }

    fn text(&self) -> String {
        let phase = self
            .phase
            .as_deref()
            .map_or(String::new(), |phase| format!(" [{phase}]"));
        let reasons = match self.reasons.as_slice() {
            [] => String::new(),
            [one] => format!(": {one}"),
            many => format!(":\n  - {}", many.join("\n  - ")),
        };
        let exit = self
            .exit_code
            .map_or(String::new(), |code| format!(" (exit {code})"));
        format!("golive verify: {}{phase}{reasons}{exit}", self.event)
    }
}

/// Prints lines, leaving out a repeat of the last one until `REPEAT_EVERY` has passed.
struct Progress {
    json: bool,
    last: Option<(String, Instant)>,
}

impl Progress {
    fn print(&mut self, line: &Line, key: String) {
        let now = Instant::now();
        let repeat = self.last.as_ref().is_some_and(|(last, at)| {
            *last == key && now.duration_since(*at) < REPEAT_EVERY && line.exit_code.is_none()
        });
        if repeat {
            return;
        }
        self.last = Some((key, now));
        if self.json {
            println!("{}", serde_json::to_string(line).unwrap_or_default());
        } else {
            println!("{}", line.text());
        }
    }

    /// Prints the outcome and answers its exit code.
    fn end(&mut self, line: Line, code: u8) -> ExitCode {
        let line = line.ending(code);
        self.print(&line, String::new());
        ExitCode::from(code)
    }
}

/// Runs the gate against `client` until it has an outcome.
pub(super) async fn run(client: &Client, args: &ClientArgs, options: VerifyOptions) -> ExitCode {
    if options.timeout <= options.soak {
        eprintln!(
            "golive verify: --timeout ({}) must be longer than --soak ({}), or the gate could never pass",
            crate::human::std_duration(options.timeout),
            crate::human::std_duration(options.soak)
        );
        return ExitCode::from(EXIT_USAGE);
    }
    let run_id = super::pipeline_run(options.run_id.clone())
        .map(|run_id| run_id.trim().to_string())
        .filter(|run_id| !run_id.is_empty());
    let rules = GateRules {
        phase: options.phase,
        soak: options.soak,
        blockers_count: options.advance,
    };
    let deadline = Instant::now() + options.timeout;
    let mut progress = Progress {
        json: args.json,
        last: None,
    };
    let mut soak: Option<Soak> = None;
    let mut failures = 0;
    loop {
        let mut pause = options.interval;
        match client.get::<wire::Status>("/api/v1/status").await {
            Ok(answer) => {
                failures = 0;
                let reading = match gate_reading(&answer.value, rules.phase) {
                    Ok(reading) => reading,
                    Err(why) => {
                        let line = Line::new("not_proven", None, vec![why]);
                        return progress.end(line, EXIT_NOT_PROVEN);
                    }
                };
                let (verdict, next) = judge(&rules, &reading, soak);
                soak = next;
                let gate = Gate {
                    client,
                    args,
                    rules: &rules,
                    zone: super::format::zone(&answer.value.launch.timezone),
                    run_id: run_id.as_deref(),
                };
                if let Some(code) = gate.conclude(verdict, &mut progress).await {
                    return code;
                }
            }
            Err(error) if retryable(&error) => {
                // What happened while golive could not be asked is unknown: soak again.
                soak = None;
                failures += 1;
                let line = Line::new("unreachable", None, vec![error.to_string()]);
                if failures >= ATTEMPTS {
                    return progress.end(line, 69);
                }
                progress.print(&line, format!("unreachable {failures}"));
                pause = Duration::from_secs(1 << (failures - 1));
            }
            Err(error) => {
                refused(&error);
                let line = Line::new("refused", None, vec![error.to_string()]);
                return progress.end(line, error.exit_code());
            }
        }
        let now = Instant::now();
        if now >= deadline {
            let why = format!(
                "not proven within {}",
                crate::human::std_duration(options.timeout)
            );
            let line = Line::new("timeout", Some(rules.phase), vec![why]);
            return progress.end(line, EXIT_TIMEOUT);
        }
        tokio::time::sleep(pause.min(deadline - now)).await;
    }
}

/// What concluding a verdict needs: the daemon, the rules, and the launch's time zone (times
/// are shown in it, as everywhere in the CLI).
struct Gate<'a> {
    client: &'a Client,
    args: &'a ClientArgs,
    rules: &'a GateRules,
    zone: jiff::tz::TimeZone,
    /// The pipeline run (`--run-id`): it names the advance, so a re-run knows its own.
    run_id: Option<&'a str>,
}

impl Gate<'_> {
    /// Prints a verdict; the exit code when it ends the gate.
    async fn conclude(&self, verdict: Verdict, progress: &mut Progress) -> Option<ExitCode> {
        let rules = self.rules;
        match verdict {
            Verdict::Proven { healthy_since } => {
                let why = format!(
                    "healthy in {} since {} (soak {})",
                    rules.phase,
                    crate::human::time(healthy_since, &self.zone),
                    crate::human::std_duration(rules.soak)
                );
                let line = Line::new("proven", Some(rules.phase), vec![why]);
                // The rules count the phase's blockers exactly when the gate is to advance.
                if !rules.blockers_count {
                    return Some(progress.end(line, EXIT_PROVEN));
                }
                progress.print(&line, "proven".into());
                Some(self.advance(progress).await)
            }
            Verdict::RollBack { reasons } => {
                let line = Line::new("roll_back", None, reasons);
                Some(progress.end(line, EXIT_ROLL_BACK))
            }
            Verdict::PhaseLeft { phase } => {
                if rules.blockers_count && self.advanced_by_this_run(phase).await {
                    let why = format!("this run moved the launch on to {phase} already");
                    let line = Line::new("advanced", Some(phase), vec![why]);
                    return Some(progress.end(line, EXIT_PROVEN));
                }
                let why = format!(
                    "the launch moved on to {phase} before it was proven healthy in {}",
                    rules.phase
                );
                let line = Line::new("phase_left", Some(phase), vec![why]);
                Some(progress.end(line, EXIT_NOT_PROVEN))
            }
            Verdict::Waiting { reasons, remaining } => {
                let event = if remaining.is_some() {
                    "soaking"
                } else {
                    "waiting"
                };
                let key = if remaining.is_some() {
                    event.to_string()
                } else {
                    reasons.join("\n")
                };
                let mut line = Line::new(event, Some(rules.phase), reasons);
                line.soak_remaining_seconds = remaining.map(|left| left.as_secs());
                progress.print(&line, key);
                None
            }
        }
    }
}

impl Gate<'_> {
    /// Moves the launch on from the proven phase to the next, naming it (so a repeated call
    /// cannot skip a phase) and this run (so a re-run finds its own advance). When the answer is
    /// lost (golive unreachable, 5xx), the status is read again: advanced by this run is success.
    async fn advance(&self, progress: &mut Progress) -> ExitCode {
        let rules = self.rules;
        let Some(next) = rules.phase.next() else {
            return ExitCode::from(EXIT_PROVEN);
        };
        let body = wire::PhaseChange {
            to: Some(next.to_string()),
            force: false,
            reason: Some(format!(
                "golive verify: healthy in {} for {}",
                rules.phase,
                crate::human::std_duration(rules.soak)
            )),
            author: self.args.author.clone(),
            run_id: self.run_id.map(str::to_string),
        };
        let error = match self
            .client
            .post::<wire::PhaseChanged>("/api/v1/phase", &body)
            .await
        {
            Ok(answer) => {
                let transition = &answer.value.transition;
                let why = format!("{} → {}", transition.from, transition.to);
                let line = Line::new("advanced", Some(next), vec![why]);
                return progress.end(line, EXIT_PROVEN);
            }
            Err(error) => error,
        };
        if retryable(&error) && self.advanced_by_this_run(next).await {
            let why = format!("{} → {next} (its answer was lost: {error})", rules.phase);
            let line = Line::new("advanced", Some(next), vec![why]);
            return progress.end(line, EXIT_PROVEN);
        }
        refused(&error);
        let code = match error.exit_code() {
            1 => EXIT_NOT_PROVEN,
            code => code,
        };
        let line = Line::new(
            "advance_refused",
            Some(rules.phase),
            vec![error.to_string()],
        );
        progress.end(line, code)
    }

    /// Whether the launch's latest phase change moved it into `phase` and was made by this run
    /// (false without a run id, or when golive cannot tell).
    async fn advanced_by_this_run(&self, phase: Phase) -> bool {
        let Some(run_id) = self.run_id else {
            return false;
        };
        let path = "/api/v1/log?kind=phase&limit=1";
        let Ok(page) = self.client.get::<wire::LogPage>(path).await else {
            return false;
        };
        page.value.entries.first().is_some_and(|entry| {
            serde_json::from_value::<PhaseChange>(entry.data.clone())
                .is_ok_and(|change| change.to == phase && change.run_id.as_deref() == Some(run_id))
        })
    }
}

/// Says why golive refused or failed (the blockers of a refused advance too).
fn refused(error: &ClientError) {
    eprintln!("golive: {error}");
    if let ClientError::Refused { blockers, .. } = error
        && !blockers.is_empty()
    {
        eprint!("{}", super::format::blocker_lines(blockers));
    }
}

/// Whether a failed poll is worth repeating: golive unreachable or answering 5xx (a restart, a
/// store in trouble).
fn retryable(error: &ClientError) -> bool {
    match error {
        ClientError::Unreachable { .. } => true,
        ClientError::Refused { status, .. } | ClientError::Unexpected { status, .. } => {
            status.is_server_error()
        }
        ClientError::Partly { .. } => false,
    }
}

/// The status answer as the judgement reads it, each problem as a sentence; a sentence instead
/// when it cannot be judged, or when the launch is in the awaited phase `awaited` with no gate or
/// critical check probed there (the gate would pass on nothing).
fn gate_reading(status: &wire::Status, awaited: Phase) -> Result<GateReading, String> {
    let phase = status
        .phase
        .parse::<Phase>()
        .map_err(|_| format!("golive answered an unknown phase `{}`", status.phase))?;
    let Some(verification) = &status.verification else {
        return Err(
            "this golive daemon is older than `golive verify` (its status has no `verification`)"
                .to_string(),
        );
    };
    if phase == awaited && verification.checks.is_empty() {
        return Err(format!(
            "no gate or critical check is probed in {phase}: nothing could prove the release (give a check `gate = true` or severity `critical` and {phase} in its phases)"
        ));
    }
    let unhealthy_checks = verification
        .checks
        .iter()
        .filter(|check| check.health != "healthy")
        .map(|check| {
            let kind = if check.gate { "gate" } else { "critical" };
            match (&check.reason, check.health.as_str()) {
                (Some(reason), health) => {
                    format!("{kind} check `{}` is {health}: {reason}", check.id)
                }
                (None, "unknown") => format!("{kind} check `{}` has no result yet", check.id),
                (None, health) => format!("{kind} check `{}` is {health}", check.id),
            }
        })
        .collect();
    let alert = |alert: &wire::AlertBrief| {
        format!(
            "alert #{} {} ({}): {}",
            alert.id, alert.title, alert.severity, alert.reason
        )
    };
    Ok(GateReading {
        phase,
        phase_since: status.phase_since,
        now: status.now,
        unhealthy_checks,
        open_critical_alerts: verification
            .open_critical_alerts
            .iter()
            .map(|brief| format!("{} is open", alert(brief)))
            .collect(),
        rollback_criteria: verification
            .rollback_criteria_hold
            .iter()
            .map(alert)
            .collect(),
        blockers: status
            .blockers
            .iter()
            .map(|blocker| blocker.message.clone())
            .collect(),
        last_change: verification
            .checks
            .iter()
            .filter_map(|check| check.changed_at)
            .chain(verification.critical_alert_resolved_at)
            .max(),
    })
}
