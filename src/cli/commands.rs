//! The client subcommands: each turns into one API call and prints the answer, readable by default
//! and as JSON with `--json`.

use std::process::ExitCode;

use serde_json::{Value, json};

use super::client::{Client, ClientError};
use super::{
    ActionAction, ChecklistAction, ClientArgs, Command, NotifyAction, PhaseAction, ReportAction,
    SilenceAction, format,
};

/// Runs a client subcommand against the daemon.
pub fn run(command: Command) -> ExitCode {
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
    runtime.block_on(run_async(command))
}

fn client_args(command: &Command) -> Option<&ClientArgs> {
    match command {
        Command::Status { client }
        | Command::Phase { client, .. }
        | Command::Checklist { client, .. }
        | Command::Note { client, .. }
        | Command::Decision { client, .. }
        | Command::Lesson { client, .. }
        | Command::Feedback { client, .. }
        | Command::Update { client, .. }
        | Command::Action { client, .. }
        | Command::Log { client, .. }
        | Command::Timeline { client, .. }
        | Command::Checks { client }
        | Command::Alerts { client, .. }
        | Command::Ack { client, .. }
        | Command::Silence { client, .. }
        | Command::Notify { client, .. }
        | Command::Rollback { client, .. }
        | Command::Step { client, .. }
        | Command::Runbook { client } => Some(client),
        Command::Report { client, .. } => Some(client),
        Command::Run { .. }
        | Command::Check { .. }
        | Command::Probe { .. }
        | Command::Preflight { .. }
        | Command::Demo { .. } => None,
    }
}

async fn run_async(command: Command) -> ExitCode {
    let Some(args) = client_args(&command).cloned() else {
        return ExitCode::FAILURE;
    };
    let base = match Client::discover(args.server.as_deref(), args.plan.as_deref()) {
        Ok(base) => base,
        Err(message) => {
            eprintln!("golive: {message}");
            return ExitCode::from(64);
        }
    };
    let client = match Client::new(&base) {
        Ok(client) => client,
        Err(error) => {
            eprintln!("golive: cannot set up the HTTP client: {error}");
            return ExitCode::FAILURE;
        }
    };
    match call(&client, &args, command).await {
        Ok(output) => {
            print!("{output}");
            ExitCode::SUCCESS
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

fn report(error: &ClientError, json: bool) {
    if let ClientError::Refused {
        status,
        message,
        field,
        blockers,
    } = error
    {
        if json {
            let body = json!({"status": status.as_u16(), "error": message, "field": field, "blockers": blockers});
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
        return;
    }
    eprintln!("golive: {error}");
}

pub(super) fn with_author(mut body: Value, args: &ClientArgs) -> Value {
    if let Some(author) = &args.author {
        body["author"] = json!(author);
    }
    body
}

async fn call(client: &Client, args: &ClientArgs, command: Command) -> Result<String, ClientError> {
    let show = |value: &Value, readable: String| {
        if args.json {
            format!("{value:#}\n")
        } else {
            readable
        }
    };
    match command {
        Command::Status { .. } => {
            let status = client.get("/api/v1/status").await?;
            Ok(show(&status, format::status(&status)))
        }
        Command::Phase { action, .. } => {
            let (to, force, reason) = match action {
                PhaseAction::Advance { force, reason } => (None, force, reason),
                PhaseAction::Set {
                    phase,
                    force,
                    reason,
                } => (Some(phase), force, reason),
            };
            let body = with_author(json!({"to": to, "force": force, "reason": reason}), args);
            let answer = client.post("/api/v1/phase", body).await?;
            let transition = &answer["transition"];
            let forced = if transition["forced"].as_bool() == Some(true) {
                " (forced)"
            } else {
                ""
            };
            Ok(show(
                &answer,
                format!(
                    "Phase {} → {}{forced}\n",
                    transition["from"].as_str().unwrap_or(""),
                    transition["to"].as_str().unwrap_or("")
                ),
            ))
        }
        Command::Checklist { action, .. } => match action {
            ChecklistAction::List => {
                let answer = client.get("/api/v1/checklist").await?;
                let items = answer["items"].as_array().map_or(&[][..], Vec::as_slice);
                if args.json {
                    return Ok(show(&answer, String::new()));
                }
                let zone = launch_zone(client).await?;
                Ok(format::checklist_items(items, &zone))
            }
            ChecklistAction::Confirm { id, note } => {
                let body = with_author(json!({"note": note}), args);
                let path = format!("/api/v1/checklist/{}/confirm", encode(&id));
                let answer = client.post(&path, body).await?;
                let confirmation = &answer["confirmation"];
                let readable = if confirmation["newly_confirmed"].as_bool() == Some(true) {
                    format!("Confirmed `{id}`.\n")
                } else {
                    format!(
                        "`{id}` was already confirmed by {} at {}.\n",
                        confirmation["by"].as_str().unwrap_or(""),
                        super::format::when(&confirmation["at"], &super::format::zone_of(&answer))
                    )
                };
                Ok(show(&answer, readable))
            }
        },
        Command::Note { text, .. } => write_log(client, args, "note", text).await,
        Command::Decision { text, .. } => write_log(client, args, "decision", text).await,
        Command::Lesson { text, .. } => write_log(client, args, "lesson", text).await,
        Command::Feedback { text, .. } => write_log(client, args, "feedback", text).await,
        Command::Update { text, .. } => send_update(client, args, text).await,
        Command::Action { action, .. } => match action {
            ActionAction::Add { title, owner, due } => {
                let body = with_author(
                    json!({"title": title.join(" "), "owner": owner, "due": due}),
                    args,
                );
                let answer = client.post("/api/v1/actions", body).await?;
                Ok(show(
                    &answer,
                    format!("Opened action item #{}.\n", answer["action"]["id"]),
                ))
            }
            ActionAction::Done { id, note } => set_status(client, args, &id, "done", note).await,
            ActionAction::Drop { id, note } => set_status(client, args, &id, "dropped", note).await,
            ActionAction::Reopen { id, note } => set_status(client, args, &id, "open", note).await,
            ActionAction::List { status } => {
                let answer = client
                    .get(&format!("/api/v1/actions?status={}", encode(&status)))
                    .await?;
                let items = answer["actions"].as_array().map_or(&[][..], Vec::as_slice);
                let readable = if items.is_empty() {
                    "No action items.\n".to_string()
                } else {
                    items.iter().map(format::action_line).collect()
                };
                Ok(show(&answer, readable))
            }
        },
        Command::Log { kind, limit, .. } => {
            let mut path = format!("/api/v1/log?limit={limit}");
            if let Some(kind) = kind {
                path.push_str(&format!("&kind={}", encode(&kind)));
            }
            let answer = client.get(&path).await?;
            if args.json {
                return Ok(show(&answer, String::new()));
            }
            let zone = launch_zone(client).await?;
            let mut entries = answer["entries"].as_array().cloned().unwrap_or_default();
            entries.reverse();
            Ok(entries
                .iter()
                .map(|entry| format::log_entry(entry, &zone))
                .collect())
        }
        Command::Timeline { output, .. } => {
            let markdown = client.get_text("/api/v1/timeline").await?;
            match output {
                Some(path) => match std::fs::write(&path, &markdown) {
                    Ok(()) => Ok(format!("Timeline written to {}\n", path.display())),
                    Err(error) => {
                        eprintln!("golive: cannot write {}: {error}", path.display());
                        Ok(String::new())
                    }
                },
                None => Ok(markdown),
            }
        }
        Command::Alerts { all, .. } => {
            let answer = client
                .get(if all {
                    "/api/v1/alerts?state=all"
                } else {
                    "/api/v1/alerts"
                })
                .await?;
            if args.json {
                return Ok(show(&answer, String::new()));
            }
            let zone = launch_zone(client).await?;
            let alerts = answer["alerts"].as_array().map_or(&[][..], Vec::as_slice);
            if all {
                return Ok(format::alerts_table(alerts, &zone));
            }
            let recent = if alerts.is_empty() {
                let answer = client.get("/api/v1/alerts?state=all&limit=5").await?;
                answer["alerts"].as_array().cloned().unwrap_or_default()
            } else {
                Vec::new()
            };
            Ok(format::open_alerts(alerts, &recent, &zone))
        }
        Command::Ack { alerts, note, .. } => {
            let body = with_author(json!({"ids": alerts, "note": note}), args);
            let answer = client.post("/api/v1/alerts/ack", body).await?;
            let readable = format::acknowledged(&answer);
            let not_open: Vec<String> = answer["not_open"]
                .as_array()
                .map_or(&[][..], Vec::as_slice)
                .iter()
                .map(|id| format!("#{id}"))
                .collect();
            if not_open.is_empty() {
                Ok(show(&answer, readable))
            } else {
                Err(ClientError::Partly {
                    output: show(&answer, readable),
                    message: format!(
                        "not open (resolved, or no such alert): {}",
                        not_open.join(", ")
                    ),
                })
            }
        }
        Command::Silence { action, .. } => match action {
            SilenceAction::Add {
                comment,
                duration,
                checks,
                severities,
                id,
            } => {
                let body = with_author(
                    json!({"comment": comment, "duration": duration, "checks": checks, "severities": severities, "id": id}),
                    args,
                );
                let answer = client.post("/api/v1/silences", body).await?;
                Ok(show(
                    &answer,
                    format!(
                        "Silence `{}` added.\n",
                        answer["silence"]["id"].as_str().unwrap_or("")
                    ),
                ))
            }
            SilenceAction::List => {
                let answer = client.get("/api/v1/silences").await?;
                let silences = answer["silences"].as_array().map_or(&[][..], Vec::as_slice);
                let readable = if silences.is_empty() {
                    "No silences.\n".to_string()
                } else {
                    silences
                        .iter()
                        .map(|silence| {
                            format!(
                                "{} {} — {} (by {})\n",
                                if silence["active"].as_bool() == Some(true) {
                                    "ACTIVE  "
                                } else {
                                    "inactive"
                                },
                                silence["id"].as_str().unwrap_or(""),
                                silence["comment"].as_str().unwrap_or(""),
                                silence["author"].as_str().unwrap_or("")
                            )
                        })
                        .collect()
                };
                Ok(show(&answer, readable))
            }
            SilenceAction::Remove { id } => {
                let answer = client
                    .delete(&format!("/api/v1/silences/{}", encode(&id)))
                    .await?;
                Ok(show(&answer, format!("Silence `{id}` removed.\n")))
            }
        },
        Command::Notify {
            action: NotifyAction::Test { channels },
            ..
        } => {
            let body = with_author(json!({"channels": channels}), args);
            let answer = client.post("/api/v1/notify/test", body).await?;
            let results = answer["results"].as_array().map_or(&[][..], Vec::as_slice);
            let rows: Vec<[String; 4]> = results
                .iter()
                .map(|result| {
                    [
                        result["channel"].as_str().unwrap_or("").to_string(),
                        result["kind"].as_str().unwrap_or("").to_string(),
                        result["result"].as_str().unwrap_or("").to_uppercase(),
                        result["answer"].as_str().unwrap_or("").to_string(),
                    ]
                })
                .collect();
            Ok(show(
                &answer,
                format::table(&["CHANNEL", "KIND", "RESULT", "ANSWER"], &rows),
            ))
        }
        Command::Rollback { reason, .. } => {
            let body = with_author(json!({"reason": reason}), args);
            let answer = client.post("/api/v1/rollback", body).await?;
            let hook = if answer["hook"].as_bool() == Some(true) {
                "The rollback hook is running; its output goes to the launch log (`golive log --kind decision`)."
            } else {
                "No rollback hook is configured: follow the procedure."
            };
            Ok(show(
                &answer,
                format!(
                    "Launch rolled back ({} → rolled_back). {hook}\n\nProcedure:\n{}\n",
                    answer["transition"]["from"].as_str().unwrap_or(""),
                    answer["procedure"].as_str().unwrap_or("")
                ),
            ))
        }
        Command::Step { action, .. } => super::runbook::step(client, args, action).await,
        Command::Runbook { .. } => super::runbook::show(client, args).await,
        Command::Report { action, .. } => match action {
            ReportAction::Send { date, final_report } => {
                let body = with_author(json!({"date": date, "final": final_report}), args);
                let answer = client.post("/api/v1/reports/send", body).await?;
                let report = &answer["report"];
                let to = report["recipients"]
                    .as_array()
                    .map(|list| {
                        list.iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                Ok(show(
                    &answer,
                    format!(
                        "{} report for {} queued to {} (Message-ID <{}>).\n",
                        report["kind"].as_str().unwrap_or(""),
                        report["day"].as_str().unwrap_or(""),
                        if to.is_empty() { "nobody" } else { to.as_str() },
                        report["message_id"].as_str().unwrap_or("")
                    ),
                ))
            }
            // Handled without a daemon in `cli::report`.
            ReportAction::Preview { .. } => Ok(String::new()),
        },
        Command::Checks { .. } => {
            let answer = client.get("/api/v1/checks").await?;
            let checks = answer["checks"].as_array().map_or(&[][..], Vec::as_slice);
            Ok(show(&answer, format::checks_table(checks)))
        }
        Command::Run { .. }
        | Command::Check { .. }
        | Command::Probe { .. }
        | Command::Preflight { .. }
        | Command::Demo { .. } => Ok(String::new()),
    }
}

/// The launch's time zone, for times printed to people.
async fn launch_zone(client: &Client) -> Result<jiff::tz::TimeZone, ClientError> {
    let plan = client.get("/api/v1/plan").await?;
    Ok(format::zone_of(&plan))
}

async fn write_log(
    client: &Client,
    args: &ClientArgs,
    kind: &str,
    text: Vec<String>,
) -> Result<String, ClientError> {
    let body = with_author(json!({"kind": kind, "text": text.join(" ")}), args);
    let answer = client.post("/api/v1/log", body).await?;
    if args.json {
        return Ok(format!("{answer:#}\n"));
    }
    Ok(format!("Logged {kind} #{}.\n", answer["entry"]["id"]))
}

async fn send_update(
    client: &Client,
    args: &ClientArgs,
    text: Vec<String>,
) -> Result<String, ClientError> {
    let body = with_author(json!({"text": text.join(" ")}), args);
    let answer = client.post("/api/v1/updates", body).await?;
    if args.json {
        return Ok(format!("{answer:#}\n"));
    }
    let channels: Vec<&str> = answer["update"]["data"]["channels"]
        .as_array()
        .map(|list| list.iter().filter_map(|channel| channel.as_str()).collect())
        .unwrap_or_default();
    Ok(format!(
        "Update sent (log #{}) through {}.\n",
        answer["update"]["id"],
        channels.join(", ")
    ))
}

async fn set_status(
    client: &Client,
    args: &ClientArgs,
    id: &str,
    status: &str,
    note: Option<String>,
) -> Result<String, ClientError> {
    let body = with_author(json!({"status": status, "note": note}), args);
    let answer = client
        .patch(
            &format!("/api/v1/actions/{}", encode(id.trim_start_matches('#'))),
            body,
        )
        .await?;
    if args.json {
        return Ok(format!("{answer:#}\n"));
    }
    Ok(format!(
        "Action item #{} is {}.\n",
        answer["action"]["id"], status
    ))
}

/// An alert number as given on the command line: `12` or `#12`.
pub(super) fn parse_alert_id(text: &str) -> Result<i64, String> {
    text.trim()
        .trim_start_matches('#')
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| format!("`{text}` is not an alert number (e.g. 12 or #12)"))
}

/// Percent-encodes a path segment or query value.
pub(super) fn encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~,".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
