//! `golive completions SHELL` and `golive man`: the shell completion scripts and the man pages,
//! generated from the clap definitions in `cli/mod.rs`, so they always describe the CLI of the
//! binary that prints them. The Debian package (`packaging/build-deb`) installs their output in
//! the standard places; a source install can write them wherever the shell and `man` look.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;

use super::Cli;

/// Writes the completion script for `shell` to standard output.
pub fn print_completions(shell: Shell) -> ExitCode {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "golive", &mut script);
    write_stdout(&script)
}

/// Writes the man page `golive(1)` to standard output, or, with `dir`, writes it and one page per
/// subcommand (`golive-run.1`, `golive-phase-advance.1`, ...) into that folder.
pub fn print_man(dir: Option<&Path>) -> ExitCode {
    let result = match dir {
        Some(dir) => std::fs::create_dir_all(dir)
            .and_then(|()| clap_mangen::generate_to(Cli::command(), dir))
            .map_err(|error| format!("cannot write the man pages into {}: {error}", dir.display())),
        None => {
            let mut page = Vec::new();
            match clap_mangen::Man::new(Cli::command()).render(&mut page) {
                Ok(()) => return write_stdout(&page),
                Err(error) => Err(format!("cannot render the man page: {error}")),
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("golive: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Standard output, where a closed pipe (`golive man | head`) is not worth a panic.
fn write_stdout(bytes: &[u8]) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("golive: cannot write to standard output: {error}");
            ExitCode::FAILURE
        }
    }
}
