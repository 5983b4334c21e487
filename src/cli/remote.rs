//! Calls to a running daemon: finds it (`--server`, the plan's daemon file, the default), makes
//! the one call a [`Remote`] asks for, prints the answer, and turns failures into exit codes.

use std::path::Path;
use std::process::ExitCode;

use serde::Deserialize;

use super::work::Remote;
use super::{ClientArgs, commands, format, runbook};
use crate::client::{Client, ClientError};

/// The address used when neither `--server` nor a plan says otherwise.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:9898";

/// Runs one call against the daemon.
pub fn run(args: &ClientArgs, request: Remote) -> ExitCode {
    on_daemon(args, async |client| one_call(client, args, request).await)
}

/// Runs the release gate (`golive verify`) against the daemon: it polls until it has an
/// outcome and ends with its own exit codes.
pub fn run_gate(args: &ClientArgs, options: super::verify::VerifyOptions) -> ExitCode {
    on_daemon(args, async |client| {
        super::verify::run(client, args, options).await
    })
}

/// Finds the daemon, sets up its client and runs `work` with it on a runtime of its own.
fn on_daemon(args: &ClientArgs, work: impl AsyncFnOnce(&Client) -> ExitCode) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("golive: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        match connect(args) {
            Ok(client) => work(&client).await,
            Err(code) => code,
        }
    })
}

/// The client of the daemon `args` point to; the exit code when there is none.
fn connect(args: &ClientArgs) -> Result<Client, ExitCode> {
    let base = match discover(args.server.as_deref(), args.plan.as_deref()) {
        Ok(base) => base,
        Err(message) => {
            eprintln!("golive: {message}");
            return Err(ExitCode::from(64));
        }
    };
    Client::new(&base).map_err(|error| {
        eprintln!("golive: cannot set up the HTTP client: {error}");
        ExitCode::FAILURE
    })
}

/// Makes one call and prints its answer, or why it failed.
async fn one_call(client: &Client, args: &ClientArgs, request: Remote) -> ExitCode {
    let result = match request {
        Remote::Step { action, run_id } => runbook::step(client, args, action, run_id).await,
        request => call(client, args, request).await.map(|output| (output, 0)),
    };
    match result {
        Ok((output, code)) => {
            print!("{output}");
            ExitCode::from(code)
        }
        Err(ClientError::Partly { output, message }) => {
            print!("{output}");
            eprintln!("golive: {message}");
            ExitCode::FAILURE
        }
        Err(error) => {
            report(&error, args.json);
            ExitCode::from(error.exit_code())
        }
    }
}

/// The call a request asks for; the output to print.
async fn call(client: &Client, args: &ClientArgs, request: Remote) -> Result<String, ClientError> {
    match request {
        Remote::Status => commands::status(client, args).await,
        Remote::Phase { action, run_id } => commands::phase(client, args, action, run_id).await,
        Remote::Checklist(action) => commands::checklist(client, args, action).await,
        Remote::WriteLog { kind, text } => commands::write_log(client, args, kind, text).await,
        Remote::SendUpdate { text } => commands::send_update(client, args, text).await,
        Remote::ReadLog { kinds, limit } => commands::read_log(client, args, &kinds, limit).await,
        Remote::Action(action) => commands::action(client, args, action).await,
        Remote::Reload => commands::reload(client, args).await,
        Remote::Checks => commands::checks(client, args).await,
        Remote::Alerts { all } => commands::alerts(client, args, all).await,
        Remote::Ack { alerts, note } => commands::acknowledge(client, args, alerts, note).await,
        Remote::Silence(action) => commands::silence(client, args, action).await,
        Remote::Notify(action) => commands::notify(client, args, action).await,
        Remote::Rollback { reason } => commands::rollback(client, args, reason).await,
        Remote::SendReport { date, final_report } => {
            commands::send_report(client, args, date, final_report).await
        }
        Remote::Timeline { output } => commands::timeline(client, output).await,
        // `one_call` sends step changes itself, for their exit code.
        Remote::Step { action, run_id } => runbook::step(client, args, action, run_id)
            .await
            .map(|(output, _)| output),
        Remote::Runbook => runbook::show(client, args).await,
    }
}

/// Says why the daemon refused (as JSON with `--json`), or why the call failed.
fn report(error: &ClientError, json: bool) {
    let ClientError::Refused {
        status,
        message,
        field,
        blockers,
    } = error
    else {
        eprintln!("golive: {error}");
        return;
    };
    if json {
        let body = serde_json::json!({
            "status": status.as_u16(), "error": message, "field": field, "blockers": blockers,
        });
        eprintln!("{body}");
        return;
    }
    match field {
        Some(field) => eprintln!("golive: refused ({status}): {field}: {message}"),
        None => eprintln!("golive: refused ({status}): {message}"),
    }
    if !blockers.is_empty() {
        eprint!("{}", format::blocker_lines(blockers));
    }
}

/// What the CLI reads of the daemon file `golive run` writes in its data directory.
#[derive(Deserialize)]
struct DaemonFile {
    url: String,
}

/// Where the daemon is: `--server`, else the running daemon of `--plan` (its data directory's
/// daemon file, else the plan's listen address), else the default.
fn discover(server: Option<&str>, plan: Option<&Path>) -> Result<String, String> {
    if let Some(server) = server {
        return Ok(server.to_string());
    }
    let Some(plan_path) = plan else {
        return Ok(DEFAULT_SERVER.to_string());
    };
    // Only where the daemon runs, leniently: a plan being edited may be invalid now, and the
    // daemon's answer (`golive reload`: its diagnostics) is what the user should read.
    let text = std::fs::read_to_string(plan_path)
        .map_err(|error| format!("cannot read plan {}: {error}", plan_path.display()))?;
    let location = crate::plan::daemon_location(&text, plan_path);
    let daemon_file = location.data_dir.join(crate::app::DAEMON_FILE);
    if let Ok(text) = std::fs::read_to_string(&daemon_file)
        && let Ok(daemon) = serde_json::from_str::<DaemonFile>(&text)
    {
        return Ok(daemon.url);
    }
    Ok(format!("http://{}", location.listen.trim()))
}
