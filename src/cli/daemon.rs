//! `golive run PLAN`: load the plan, set up logging, run the daemon until SIGINT/SIGTERM.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

use super::LogFormat;
use super::check::load_or_exit;
use crate::app::{Application, Options, StartError, shutdown_signal};
use crate::error_chain::error_chain;
use crate::log_lines::OneLinePerEvent;
use crate::plan::NO_API_TOKENS_KEY;
use crate::store::StoreError;

/// Exit code when a required service (port, data directory) is unavailable (EX_UNAVAILABLE).
pub const EXIT_UNAVAILABLE: u8 = 69;

fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_env("GOLIVE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a person at a terminal: a file or journald would keep the escape codes.
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(OneLinePerEvent { colour });
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Worker threads of the daemon's runtime.
const GOLIVE_WORKERS: usize = 1;

pub fn run(
    plan_path: &Path,
    listen: Option<SocketAddr>,
    database_url: Option<String>,
    advertise_url: Option<String>,
    log_format: LogFormat,
) -> ExitCode {
    init_tracing(log_format);
    let loaded = match load_or_exit(
        plan_path,
        None,
        "the plan is invalid; fix it and start again",
    ) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    // Whether anyone can write is known only now, from the tokens really readable here: the
    // plan's guess (no `[[server.tokens]]`) leaves out GOLIVE_API_TOKEN, and a start without any
    // usable token says so itself (`Application::build`).
    for warning in loaded
        .warnings
        .iter()
        .filter(|warning| warning.path != NO_API_TOKENS_KEY)
    {
        tracing::warn!(line = warning.line, column = warning.column, key = %warning.path, "{}", warning.message);
    }
    // One worker thread: at a thousand probes a second, waking a second worker for each probe
    // costs more CPU than the probe itself. Blocking store writes still move off it
    // (`block_in_place`), and reads run on the blocking pool.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(GOLIVE_WORKERS)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("golive: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        // Installed before anything announces the daemon as started.
        let signal = shutdown_signal();
        let shutdown = CancellationToken::new();
        let trigger = shutdown.clone();
        tokio::spawn(async move {
            signal.await;
            trigger.cancel();
        });
        let options = Options {
            listen,
            database_url: database_url.map(crate::domain::Secret::new),
            advertise_url,
            // A standby waiting for the lease stops on SIGTERM too.
            stop: shutdown.clone(),
        };
        let application = match Application::build(loaded.plan, options).await {
            Ok(application) => application,
            Err(StartError::StoppedAsStandby) => {
                tracing::info!("stopped while a standby");
                return ExitCode::SUCCESS;
            }
            Err(error) => {
                tracing::error!(error = %error_chain(&error), "golive cannot start");
                eprintln!("golive: {}", error_chain(&error));
                let code = match error {
                    StartError::Store(
                        StoreError::Locked { .. } | StoreError::DatabaseLocked { .. },
                    )
                    | StartError::Bind { .. } => EXIT_UNAVAILABLE,
                    // A store newer than this golive does not mend itself (the unit's
                    // RestartPreventExitStatus): upgrade golive.
                    StartError::Store(StoreError::TooNew { .. }) => 65,
                    _ => 1,
                };
                return ExitCode::from(code);
            }
        };
        match application.run_until_stopped(shutdown).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                tracing::error!(error = format!("{error:#}"), "golive stopped with an error");
                ExitCode::FAILURE
            }
        }
    })
}
