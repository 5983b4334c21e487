//! `golive check PLAN` (placeholder).
use std::path::Path;
use std::process::ExitCode;

/// Validates the plan at `path`, prints every diagnostic, returns 0, 64 or 66.
pub fn run(_path: &Path, _strict: bool) -> ExitCode {
    ExitCode::from(64)
}

/// Prints diagnostics to standard error (placeholder).
pub fn print_diagnostics(_path: &Path, _diagnostics: &[crate::plan::Diagnostic]) {}
