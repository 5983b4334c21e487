//! The one conversion of a parsed command line into what it asks for: work done here (the
//! daemon, plan checks, probes, preflight, the demo, a report preview from the store, completions
//! and man pages) or one call to a running daemon with the options to reach it. After it, nothing
//! asks again which kind a command is (as ripgrep turns its low-level arguments into high-level
//! ones once).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use super::{
    ActionCommand, ChecklistAction, ClientArgs, Command, LogFormat, NotifyAction, PhaseAction,
    ReportAction, ReportFormat, SilenceAction, StepCommand,
};
use crate::core::log::LogKind;
use crate::demo::DemoOptions;

/// What a command line asks for.
pub enum Work {
    Local(Local),
    Remote {
        client: ClientArgs,
        request: Remote,
    },
    /// The release gate (`golive verify`), which polls a daemon until it has an outcome.
    Gate {
        client: ClientArgs,
        options: super::verify::VerifyOptions,
    },
}

/// Work that needs no running daemon.
pub enum Local {
    Run {
        plan: PathBuf,
        listen: Option<SocketAddr>,
        database_url: Option<String>,
        log_format: LogFormat,
    },
    Check {
        plan: PathBuf,
        strict: bool,
    },
    Schema,
    Probe {
        plan: PathBuf,
        checks: Vec<String>,
        json: bool,
    },
    Preflight {
        plan: PathBuf,
    },
    Demo(DemoOptions),
    Completions(clap_complete::Shell),
    Man {
        dir: Option<PathBuf>,
    },
    PreviewReport {
        plan: Option<PathBuf>,
        date: Option<String>,
        final_report: bool,
        format: ReportFormat,
    },
}

/// One call to a running daemon.
pub enum Remote {
    Status,
    Phase {
        action: PhaseAction,
        run_id: Option<String>,
    },
    Checklist(ChecklistAction),
    /// A note, decision, lesson or feedback written to the log.
    WriteLog {
        kind: LogKind,
        text: Vec<String>,
    },
    /// A stakeholder update sent to the `[updates]` audience.
    SendUpdate {
        text: Vec<String>,
    },
    /// The daemon reads its plan file again (`POST /api/v1/reload`).
    Reload,
    ReadLog {
        kinds: Vec<LogKind>,
        limit: usize,
    },
    Action(ActionCommand),
    Checks,
    Alerts {
        all: bool,
    },
    Ack {
        alerts: Vec<i64>,
        note: Option<String>,
    },
    Silence(SilenceAction),
    Notify(NotifyAction),
    Rollback {
        reason: String,
    },
    Step {
        action: StepCommand,
        run_id: Option<String>,
    },
    Runbook,
    SendReport {
        date: Option<String>,
        final_report: bool,
    },
    Timeline {
        output: Option<PathBuf>,
    },
}

impl From<Command> for Work {
    fn from(command: Command) -> Work {
        let remote = |client: ClientArgs, request: Remote| Work::Remote { client, request };
        let write = |client, kind, text| remote(client, Remote::WriteLog { kind, text });
        match command {
            Command::Run {
                plan,
                listen,
                database_url,
                log_format,
            } => Work::Local(Local::Run {
                plan,
                listen,
                database_url,
                log_format,
            }),
            Command::Check { plan, strict } => Work::Local(Local::Check { plan, strict }),
            Command::Schema => Work::Local(Local::Schema),
            Command::Probe { plan, checks, json } => {
                Work::Local(Local::Probe { plan, checks, json })
            }
            Command::Preflight { plan } => Work::Local(Local::Preflight { plan }),
            Command::Demo {
                duration,
                dir,
                keep_running,
            } => Work::Local(Local::Demo(DemoOptions {
                duration,
                dir,
                keep_running,
            })),
            Command::Completions { shell } => Work::Local(Local::Completions(shell)),
            Command::Man { dir } => Work::Local(Local::Man { dir }),
            Command::Report { action, client } => match action {
                ReportAction::Preview {
                    date,
                    final_report,
                    format,
                } => Work::Local(Local::PreviewReport {
                    plan: client.plan,
                    date,
                    final_report,
                    format,
                }),
                ReportAction::Send { date, final_report } => {
                    remote(client, Remote::SendReport { date, final_report })
                }
            },
            Command::Status { client } => remote(client, Remote::Status),
            Command::Phase {
                action,
                run_id,
                client,
            } => remote(client, Remote::Phase { action, run_id }),
            Command::Checklist { action, client } => remote(client, Remote::Checklist(action)),
            Command::Note { text, client } => write(client, LogKind::Note, text),
            Command::Decision { text, client } => write(client, LogKind::Decision, text),
            Command::Lesson { text, client } => write(client, LogKind::Lesson, text),
            Command::Feedback { text, client } => write(client, LogKind::Feedback, text),
            Command::Update { text, client } => remote(client, Remote::SendUpdate { text }),
            Command::Reload { client } => remote(client, Remote::Reload),
            Command::Action { action, client } => remote(client, Remote::Action(action)),
            Command::Log {
                kind,
                limit,
                client,
            } => remote(client, Remote::ReadLog { kinds: kind, limit }),
            Command::Checks { client } => remote(client, Remote::Checks),
            Command::Alerts { all, client } => remote(client, Remote::Alerts { all }),
            Command::Ack {
                alerts,
                note,
                client,
            } => remote(client, Remote::Ack { alerts, note }),
            Command::Silence { action, client } => remote(client, Remote::Silence(action)),
            Command::Notify { action, client } => remote(client, Remote::Notify(action)),
            Command::Rollback { reason, client } => remote(client, Remote::Rollback { reason }),
            Command::Step {
                action,
                run_id,
                client,
            } => remote(client, Remote::Step { action, run_id }),
            Command::Verify { options, client } => Work::Gate { client, options },
            Command::Runbook { client } => remote(client, Remote::Runbook),
            Command::Timeline { output, client } => remote(client, Remote::Timeline { output }),
        }
    }
}

/// Runs work that needs no daemon.
pub fn run_local(local: Local) -> ExitCode {
    match local {
        Local::Run {
            plan,
            listen,
            database_url,
            log_format,
        } => super::daemon::run(&plan, listen, database_url, log_format),
        Local::Check { plan, strict } => super::check::run(&plan, strict),
        Local::Schema => super::schema::run(),
        Local::Probe { plan, checks, json } => super::probe::run(&plan, &checks, json),
        Local::Preflight { plan } => super::preflight::run(&plan),
        Local::Demo(options) => crate::demo::run(options),
        Local::Completions(shell) => super::completions::print_completions(shell),
        Local::Man { dir } => super::completions::print_man(dir.as_deref()),
        Local::PreviewReport {
            plan,
            date,
            final_report,
            format,
        } => super::report::preview(plan.as_deref(), date.as_deref(), final_report, format),
    }
}
