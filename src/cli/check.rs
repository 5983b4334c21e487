//! `golive check PLAN`: validates a launch plan without starting anything.
//!
//! It prints every problem (errors and warnings) to stderr as `file:line:col: level: path:
//! message` with a `help:` line, and a one-line summary of a valid plan to stdout. Exit codes
//! follow sysexits: 0 valid, 64 invalid (`EX_USAGE`), 66 unreadable (`EX_NOINPUT`).

use std::path::Path;
use std::process::ExitCode;

use crate::human;
use crate::plan::{self, Diagnostic, DiagnosticLevel, LoadError, Plan};

/// Exit code for a plan with errors (`EX_USAGE`).
pub const EXIT_INVALID: u8 = 64;
/// Exit code for a plan file that cannot be read (`EX_NOINPUT`).
pub const EXIT_UNREADABLE: u8 = 66;

/// Validates the plan at `path`, prints every diagnostic, returns 0, 64 or 66. With `strict`,
/// warnings count as errors.
pub fn run(path: &Path, strict: bool) -> ExitCode {
    match plan::load_as_of(path, Some(jiff::Timestamp::now())) {
        Ok(loaded) if strict && !loaded.warnings.is_empty() => {
            report_invalid(path, loaded.warnings, strict);
            ExitCode::from(EXIT_INVALID)
        }
        Ok(loaded) => {
            for warning in &loaded.warnings {
                eprintln!("{}", warning.display(path));
            }
            println!("{}", summary(&loaded.plan));
            ExitCode::SUCCESS
        }
        Err(LoadError::Invalid { diagnostics, .. }) => {
            report_invalid(path, diagnostics, strict);
            ExitCode::from(EXIT_INVALID)
        }
        Err(error @ LoadError::Unreadable { .. }) => {
            eprintln!("error: {error}");
            ExitCode::from(EXIT_UNREADABLE)
        }
    }
}

/// Loads the plan for a command that needs a valid one: on failure, prints why (every diagnostic
/// of an invalid plan, then `advice`) and returns the exit code (64 invalid, 66 unreadable).
pub fn load_or_exit(
    path: &Path,
    now: Option<jiff::Timestamp>,
    advice: &str,
) -> Result<plan::Loaded, ExitCode> {
    match plan::load_as_of(path, now) {
        Ok(loaded) => Ok(loaded),
        Err(LoadError::Unreadable { path, source }) => {
            eprintln!("golive: cannot read plan {}: {source}", path.display());
            Err(ExitCode::from(EXIT_UNREADABLE))
        }
        Err(LoadError::Invalid { path, diagnostics }) => {
            print_diagnostics(&path, &diagnostics);
            if !advice.is_empty() {
                eprintln!("golive: {advice} (`golive check {}`)", path.display());
            }
            Err(ExitCode::from(EXIT_INVALID))
        }
    }
}

/// Prints every diagnostic and the error count (used by `golive run` on an invalid plan too).
pub fn print_diagnostics(path: &Path, diagnostics: &[Diagnostic]) {
    report_invalid(path, diagnostics.to_vec(), false);
}

/// Prints every diagnostic and the error count; with `strict`, warnings are shown as errors.
fn report_invalid(path: &Path, diagnostics: Vec<Diagnostic>, strict: bool) {
    let mut errors = 0;
    for mut diagnostic in diagnostics {
        if strict {
            diagnostic.level = DiagnosticLevel::Error;
        }
        if diagnostic.is_error() {
            errors += 1;
        }
        eprintln!("{}", diagnostic.display(path));
    }
    eprintln!("{errors} error(s)");
}

/// One line describing a valid plan, e.g. `plan ok: "Web shop 2.0", 6 people, 8 checklist items
/// (7 required), 4 risks, go-live 2026-12-01 20:00:00 CET (Europe/Berlin)`, and how soon a failure
/// is confirmed ([`detection`]).
pub fn summary(plan: &Plan) -> String {
    let required = plan.checklist.iter().filter(|item| item.required).count();
    let go_live = crate::human::time(plan.launch.go_live, &plan.launch.timezone);
    let gates = plan.checks.iter().filter(|check| check.gate).count();
    format!(
        "plan ok: {:?}, {}, {} ({required} required), {}, {} ({gates} gating), go-live {go_live} ({})",
        plan.launch.name,
        count(plan.people.len(), "person", "people"),
        count(plan.checklist.len(), "checklist item", "checklist items"),
        count(plan.risks.len(), "risk", "risks"),
        count(plan.checks.len(), "check", "checks"),
        plan.launch.timezone_name,
    ) + &match plan.runbook.steps.len() {
        0 => String::new(),
        steps => format!(", {}", count(steps, "runbook step", "runbook steps")),
    } + &detection(plan).map_or_else(String::new, |detection| format!("; {detection}"))
}

/// How soon the slowest check confirms a failure (`plan::checks::slowest_detection`), e.g.
/// `a failing target is confirmed within 32 s at most (check `db` in hypercare: interval 30 s,
/// 2 retries 1 s apart)`; `golive preflight` says the same.
pub fn detection(plan: &Plan) -> Option<String> {
    let (check, phase, within) = plan::checks::slowest_detection(&plan.checks)?;
    let retries = check.failure_threshold.max(1) - 1;
    let how = match retries {
        0 => format!("interval {}", human::exact(check.interval_in(phase))),
        _ => format!(
            "interval {}, {} {} apart",
            human::exact(check.interval_in(phase)),
            count(retries as usize, "retry", "retries"),
            human::exact(check.retry_interval_in(phase))
        ),
    };
    // The phase matters only to a check whose interval depends on it.
    let place = if check.intervals.is_empty() {
        String::new()
    } else {
        format!(" in {phase}")
    };
    Some(format!(
        "a failing target is confirmed within {} at most (check `{}`{place}: {how})",
        human::exact(within),
        check.id
    ))
}

/// `1 risk`, `4 risks`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
