//! The client subcommands other than the runbook's: each makes one API call (two for `alerts`
//! with none open) and prints the answer, readable by default and as the daemon's JSON with
//! `--json`.

use std::path::PathBuf;

use super::format::{self, shown};
use super::{
    ActionCommand, ActionFilter, ChecklistAction, ClientArgs, NotifyAction, PhaseAction,
    SilenceAction, value_name,
};
use crate::client::{Answer, Client, ClientError, encode};
use crate::core::log::{LogData, LogKind};
use crate::wire;

pub async fn status(client: &Client, args: &ClientArgs) -> Result<String, ClientError> {
    let answer: Answer<wire::Status> = client.get("/api/v1/status").await?;
    Ok(shown(&answer, args.json, format::status))
}

pub async fn phase(
    client: &Client,
    args: &ClientArgs,
    action: PhaseAction,
    run_id: Option<String>,
) -> Result<String, ClientError> {
    let (to, force, reason) = match action {
        PhaseAction::Advance { force, reason } => (None, force, reason),
        PhaseAction::Set {
            phase,
            force,
            reason,
        } => (Some(value_name(&phase)), force, reason),
    };
    let body = wire::PhaseChange {
        to,
        force,
        reason,
        author: args.author.clone(),
        run_id: super::pipeline_run(run_id),
    };
    let answer: Answer<wire::PhaseChanged> = client.post("/api/v1/phase", &body).await?;
    Ok(shown(&answer, args.json, |changed| {
        let transition = &changed.transition;
        if changed.already_recorded {
            return format!(
                "This run moved the launch to {} already ({} → {}); it is in {}; nothing written.\n",
                transition.to, transition.from, transition.to, changed.phase
            );
        }
        let forced = if transition.forced { " (forced)" } else { "" };
        format!("Phase {} → {}{forced}\n", transition.from, transition.to)
    }))
}

pub async fn checklist(
    client: &Client,
    args: &ClientArgs,
    action: ChecklistAction,
) -> Result<String, ClientError> {
    match action {
        ChecklistAction::List => {
            let answer: Answer<wire::Checklist> = client.get("/api/v1/checklist").await?;
            Ok(shown(&answer, args.json, |checklist| {
                format::checklist_items(&checklist.items, &format::zone(&checklist.timezone))
            }))
        }
        ChecklistAction::Confirm { id, note } => {
            let body = wire::Confirm {
                note,
                author: args.author.clone(),
            };
            let path = format!("/api/v1/checklist/{}/confirm", encode(&id));
            let answer: Answer<wire::Confirmed> = client.post(&path, &body).await?;
            Ok(shown(&answer, args.json, |confirmed| {
                let confirmation = &confirmed.confirmation;
                if confirmation.newly_confirmed {
                    return format!("Confirmed `{id}`.\n");
                }
                let at = crate::human::time(confirmation.at, &format::zone(&confirmed.timezone));
                format!(
                    "`{id}` was already confirmed by {} at {at}.\n",
                    confirmation.by
                )
            }))
        }
    }
}

pub async fn write_log(
    client: &Client,
    args: &ClientArgs,
    kind: LogKind,
    text: Vec<String>,
) -> Result<String, ClientError> {
    let kind = value_name(&kind);
    let body = wire::NewLogEntry {
        kind: kind.clone(),
        text: text.join(" "),
        author: args.author.clone(),
    };
    let answer: Answer<wire::LogWritten> = client.post("/api/v1/log", &body).await?;
    Ok(shown(&answer, args.json, |written| {
        format!("Logged {kind} #{}.\n", written.entry.id)
    }))
}

pub async fn send_update(
    client: &Client,
    args: &ClientArgs,
    text: Vec<String>,
) -> Result<String, ClientError> {
    let body = wire::NewUpdate {
        text: text.join(" "),
        author: args.author.clone(),
    };
    let answer: Answer<wire::UpdateSent> = client.post("/api/v1/updates", &body).await?;
    Ok(shown(&answer, args.json, |sent| {
        let channels = match LogData::read(LogKind::Update, sent.update.data.clone()) {
            LogData::Update(update) => update.channels,
            _ => Vec::new(),
        };
        format!(
            "Update sent (log #{}) through {}.\n",
            sent.update.id,
            channels.join(", ")
        )
    }))
}

pub async fn read_log(
    client: &Client,
    args: &ClientArgs,
    kinds: &[LogKind],
    limit: usize,
) -> Result<String, ClientError> {
    let mut path = format!("/api/v1/log?limit={limit}");
    if !kinds.is_empty() {
        let names: Vec<String> = kinds.iter().map(value_name).collect();
        path.push_str(&format!("&kind={}", encode(&names.join(","))));
    }
    let answer: Answer<wire::LogPage> = client.get(&path).await?;
    Ok(shown(&answer, args.json, |page| {
        let zone = format::zone(&page.timezone);
        // The API answers newest first; people read the log top down.
        page.entries
            .iter()
            .rev()
            .map(|entry| format::log_entry(entry, &zone))
            .collect()
    }))
}

pub async fn action(
    client: &Client,
    args: &ClientArgs,
    action: ActionCommand,
) -> Result<String, ClientError> {
    let (id, status, note) = match action {
        ActionCommand::Add { title, owner, due } => {
            let body = wire::NewAction {
                title: title.join(" "),
                owner,
                due,
                author: args.author.clone(),
            };
            let answer: Answer<wire::OneAction> = client.post("/api/v1/actions", &body).await?;
            return Ok(shown(&answer, args.json, |opened| {
                format!("Opened action item #{}.\n", opened.action.id)
            }));
        }
        ActionCommand::List { status } => return list_actions(client, args, status).await,
        ActionCommand::Done { id, note } => (id, "done", note),
        ActionCommand::Drop { id, note } => (id, "dropped", note),
        ActionCommand::Reopen { id, note } => (id, "open", note),
    };
    let body = wire::ActionUpdate {
        status: Some(status.to_string()),
        note,
        author: args.author.clone(),
        ..wire::ActionUpdate::default()
    };
    let path = format!("/api/v1/actions/{}", encode(id.trim_start_matches('#')));
    let answer: Answer<wire::OneAction> = client.patch(&path, &body).await?;
    Ok(shown(&answer, args.json, |changed| {
        format!("Action item #{} is {status}.\n", changed.action.id)
    }))
}

async fn list_actions(
    client: &Client,
    args: &ClientArgs,
    status: ActionFilter,
) -> Result<String, ClientError> {
    let path = format!("/api/v1/actions?status={}", value_name(&status));
    let answer: Answer<wire::Actions> = client.get(&path).await?;
    Ok(shown(&answer, args.json, |list| {
        if list.actions.is_empty() {
            return "No action items.\n".to_string();
        }
        list.actions.iter().map(format::action_line).collect()
    }))
}

pub async fn checks(client: &Client, args: &ClientArgs) -> Result<String, ClientError> {
    let answer: Answer<wire::Checks> = client.get("/api/v1/checks").await?;
    Ok(shown(&answer, args.json, |list| {
        format::checks_table(&list.checks)
    }))
}

pub async fn alerts(client: &Client, args: &ClientArgs, all: bool) -> Result<String, ClientError> {
    let path = if all {
        "/api/v1/alerts?state=all"
    } else {
        "/api/v1/alerts"
    };
    let answer: Answer<wire::Alerts> = client.get(path).await?;
    let list = &answer.value;
    let zone = format::zone(&list.timezone);
    if args.json {
        return Ok(answer.pretty());
    }
    if all {
        return Ok(format::alerts_table(&list.alerts, &zone));
    }
    // With none open, the most recent ones say that something did happen.
    let recent = if list.alerts.is_empty() {
        let answer: Answer<wire::Alerts> = client.get("/api/v1/alerts?state=all&limit=5").await?;
        answer.value.alerts
    } else {
        Vec::new()
    };
    Ok(format::open_alerts(&list.alerts, &recent, &zone))
}

pub async fn acknowledge(
    client: &Client,
    args: &ClientArgs,
    ids: Vec<i64>,
    note: Option<String>,
) -> Result<String, ClientError> {
    let body = wire::AcknowledgeMany {
        ids,
        note,
        author: args.author.clone(),
    };
    let answer: Answer<wire::Acknowledgements> = client.post("/api/v1/alerts/ack", &body).await?;
    let output = shown(&answer, args.json, format::acknowledged);
    let not_open = &answer.value.not_open;
    if not_open.is_empty() {
        return Ok(output);
    }
    let ids: Vec<String> = not_open.iter().map(|id| format!("#{id}")).collect();
    Err(ClientError::Partly {
        output,
        message: format!("not open (resolved, or no such alert): {}", ids.join(", ")),
    })
}

pub async fn silence(
    client: &Client,
    args: &ClientArgs,
    action: SilenceAction,
) -> Result<String, ClientError> {
    match action {
        SilenceAction::Add {
            comment,
            duration,
            checks,
            severities,
            id,
        } => {
            let body = wire::NewSilence {
                id,
                checks,
                severities: severities.iter().map(value_name).collect(),
                duration: Some(duration),
                comment,
                author: args.author.clone(),
                ..wire::NewSilence::default()
            };
            let answer: Answer<wire::SilenceCreated> =
                client.post("/api/v1/silences", &body).await?;
            Ok(shown(&answer, args.json, |created| {
                format!("Silence `{}` added.\n", created.silence.id)
            }))
        }
        SilenceAction::List => {
            let answer: Answer<wire::Silences> = client.get("/api/v1/silences").await?;
            Ok(shown(&answer, args.json, |list| {
                format::silences(&list.silences)
            }))
        }
        SilenceAction::Remove { id } => {
            let path = format!("/api/v1/silences/{}", encode(&id));
            let answer: Answer<wire::SilenceRemoved> = client.delete(&path).await?;
            Ok(shown(&answer, args.json, |removed| {
                format!("Silence `{}` removed.\n", removed.removed)
            }))
        }
    }
}

pub async fn notify(
    client: &Client,
    args: &ClientArgs,
    action: NotifyAction,
) -> Result<String, ClientError> {
    let NotifyAction::Test { channels } = action;
    let body = wire::NotifyTest {
        channels,
        author: args.author.clone(),
    };
    let answer: Answer<wire::ChannelTests> = client.post("/api/v1/notify/test", &body).await?;
    Ok(shown(&answer, args.json, |tests| {
        format::channel_tests(&tests.results)
    }))
}

pub async fn rollback(
    client: &Client,
    args: &ClientArgs,
    reason: String,
) -> Result<String, ClientError> {
    let body = wire::Rollback {
        reason,
        author: args.author.clone(),
    };
    let answer: Answer<wire::RolledBack> = match client.post("/api/v1/rollback", &body).await {
        Ok(answer) => answer,
        // Refused: if the launch is rolled back already (a retried rollback job), the pipeline
        // got what it asked for, and exits 0 saying so.
        Err(error @ ClientError::Refused { .. }) => {
            let status = client.get::<wire::Status>("/api/v1/status").await;
            return match status {
                Ok(status) if status.value.phase == "rolled_back" => Ok(if args.json {
                    "{\"already_rolled_back\":true}\n".to_string()
                } else {
                    "The launch is rolled back already; nothing done.\n".to_string()
                }),
                _ => Err(error),
            };
        }
        Err(error) => return Err(error),
    };
    Ok(shown(&answer, args.json, |rolled_back| {
        let hook = if rolled_back.hook {
            "The rollback hook is running; its output goes to the launch log (`golive log --kind decision`)."
        } else {
            "No rollback hook is configured: follow the procedure."
        };
        format!(
            "Launch rolled back ({} → rolled_back). {hook}\n\nProcedure:\n{}\n",
            rolled_back.transition.from, rolled_back.procedure
        )
    }))
}

pub async fn send_report(
    client: &Client,
    args: &ClientArgs,
    date: Option<String>,
    final_report: bool,
) -> Result<String, ClientError> {
    let body = wire::SendReport {
        date,
        final_report,
        author: args.author.clone(),
    };
    let answer: Answer<wire::ReportSent> = client.post("/api/v1/reports/send", &body).await?;
    Ok(shown(&answer, args.json, |sent| {
        let report = &sent.report;
        let to = if report.recipients.is_empty() {
            "nobody".to_string()
        } else {
            report.recipients.join(", ")
        };
        format!(
            "{} report for {} queued to {to} (Message-ID <{}>).\n",
            report.kind, report.day, report.message_id
        )
    }))
}

/// The timeline as Markdown, printed or written to `output`.
pub async fn timeline(client: &Client, output: Option<PathBuf>) -> Result<String, ClientError> {
    let markdown = client.get_text("/api/v1/timeline").await?;
    let Some(path) = output else {
        return Ok(markdown);
    };
    match std::fs::write(&path, &markdown) {
        Ok(()) => Ok(format!("Timeline written to {}\n", path.display())),
        Err(error) => Err(ClientError::Partly {
            output: String::new(),
            message: format!("cannot write {}: {error}", path.display()),
        }),
    }
}

/// `golive reload`: what changed (the new plan's warnings on stderr, as `golive check` prints them).
pub async fn reload(client: &Client, args: &ClientArgs) -> Result<String, ClientError> {
    let answer: Answer<wire::Reloaded> = client.post("/api/v1/reload", &()).await?;
    for warning in &answer.value.warnings {
        eprintln!("{}", warning.text);
    }
    Ok(shown(&answer, args.json, |reloaded| {
        let mut text = format!(
            "Plan reloaded from {}: {}\n",
            reloaded.path, reloaded.summary
        );
        for alert in &reloaded.resolved_alerts {
            text.push_str(&format!(
                "Alert #{alert} resolved: its check was removed from the plan.\n"
            ));
        }
        text
    }))
}
