//! `golive schema`: prints the plan's JSON Schema (`plan::json_schema`) for an editor's TOML
//! language server; docs/plan.md ("Editor support") says how to point the editor at it.

use std::io::Write;
use std::process::ExitCode;

/// Prints the schema; exit 0, or 74 when stdout cannot be written.
pub fn run() -> ExitCode {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{}", crate::plan::json_schema()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        // `golive schema | head`: the reader has all it wanted.
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("golive schema: cannot write the schema: {error}");
            ExitCode::from(74)
        }
    }
}
