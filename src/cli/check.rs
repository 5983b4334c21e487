//! `golive check PLAN` (placeholder).
use std::path::Path;
use std::process::ExitCode;

/// Validates the plan at `path`, prints every diagnostic, returns 0, 64 or 66.
pub fn run(_path: &Path, _strict: bool) -> ExitCode {
    ExitCode::from(64)
}
