//! `golive step start|done|skip|fail ID` and `golive runbook` (the runbook as a table: planned vs
//! actual times in the launch's time zone, who did what, and how late each step is).

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::{Value, json};

use super::client::{Client, ClientError};
use super::commands::{encode, with_author};
use super::{ClientArgs, StepCommand, format};

/// Sends a step change and says what happened.
pub(super) async fn step(
    client: &Client,
    args: &ClientArgs,
    command: StepCommand,
) -> Result<String, ClientError> {
    let (id, action, force, reason) = match command {
        StepCommand::Start { id, force, reason } => (id, "start", force, reason),
        StepCommand::Done { id, reason } => (id, "done", false, reason),
        StepCommand::Skip { id, reason } => (id, "skip", false, Some(reason)),
        StepCommand::Fail { id, reason } => (id, "fail", false, Some(reason)),
    };
    let mut body = json!({"reason": reason});
    if force {
        body["force"] = json!(true);
    }
    let body = with_author(body, args);
    let answer = client
        .post(&format!("/api/v1/runbook/{}/{action}", encode(&id)), body)
        .await?;
    if args.json {
        return Ok(format!("{answer:#}\n"));
    }
    let change = &answer["change"];
    let to = change["to"].as_str().unwrap_or("");
    let mut out = format!(
        "Step `{id}` is {to}{}.\n",
        if change["forced"].as_bool() == Some(true) {
            " (forced past unfinished dependencies)"
        } else {
            ""
        }
    );
    if let Some(rollback) = answer.get("rollback") {
        let which = match rollback["after_rollback_point"].as_str() {
            Some(point) => format!("the procedure after rollback point `{point}`"),
            None => "the plan's rollback procedure (no rollback point passed)".to_string(),
        };
        let sent: Vec<&str> = rollback["sent_to"]
            .as_array()
            .map(|names| names.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        out.push_str(&format!(
            "\nRollback: {which} applies{}:\n{}\n",
            if sent.is_empty() {
                String::new()
            } else {
                format!(" (sent to {})", sent.join(", "))
            },
            rollback["procedure"].as_str().unwrap_or("").trim_end()
        ));
    }
    Ok(out)
}

/// Prints the runbook table.
pub(super) async fn show(client: &Client, args: &ClientArgs) -> Result<String, ClientError> {
    let answer = client.get("/api/v1/runbook").await?;
    if args.json {
        return Ok(format!("{answer:#}\n"));
    }
    Ok(table(&answer))
}

/// The runbook answer as a table.
pub(super) fn table(answer: &Value) -> String {
    let steps = answer["steps"].as_array().map_or(&[][..], Vec::as_slice);
    if steps.is_empty() {
        return "The plan has no runbook steps.\n".to_string();
    }
    let tz = answer["timezone"]
        .as_str()
        .and_then(|name| TimeZone::get(name).ok())
        .unwrap_or(TimeZone::UTC);
    let instant = |value: &Value| -> Option<jiff::ZonedDateTime> {
        value
            .as_str()
            .and_then(|text| text.parse::<Timestamp>().ok())
            .map(|at| at.to_zoned_datetime(tz.clone()))
    };
    let time = |value: &Value| -> String {
        instant(value)
            .map(|at| at.strftime("%H:%M").to_string())
            .unwrap_or_default()
    };
    let rows: Vec<[String; 9]> = steps
        .iter()
        .map(|step| {
            let text = |key: &str| step[key].as_str().unwrap_or("").to_string();
            // Actual times on another day than planned carry their date.
            let planned_day = instant(&step["planned_start"]).map(|at| at.date());
            let actual_time = |value: &Value| match instant(value) {
                Some(at) if Some(at.date()) != planned_day => {
                    at.strftime("%Y-%m-%d %H:%M").to_string()
                }
                Some(at) => at.strftime("%H:%M").to_string(),
                None => String::new(),
            };
            let started = actual_time(&step["started_at"]);
            let same_day = |a: &Value, b: &Value| {
                instant(a).map(|at| at.date()) == instant(b).map(|at| at.date())
            };
            // An end on the day of its start needs no date again.
            let finished = if same_day(&step["started_at"], &step["finished_at"]) {
                time(&step["finished_at"])
            } else {
                actual_time(&step["finished_at"])
            };
            let actual = if started.is_empty() && finished.is_empty() {
                String::new()
            } else {
                format!("{started}–{finished}")
            };
            let by = match (text("started_by"), text("finished_by")) {
                (started, finished) if finished.is_empty() || started == finished => started,
                (started, finished) if started.is_empty() => finished,
                (started, finished) => format!("{started}/{finished}"),
            };
            let late = step["late_seconds"].as_i64().unwrap_or(0);
            let mut note = Vec::new();
            if step["forced"].as_bool() == Some(true) {
                note.push("forced".to_string());
            }
            if let Some(reason) = step["reason"].as_str() {
                note.push(reason.to_string());
            }
            let blocked: Vec<&str> = step["blocked_by"]
                .as_array()
                .map(|ids| ids.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if !blocked.is_empty() && text("state") == "pending" {
                note.push(format!("waits for {}", blocked.join(", ")));
            }
            if step["rollback_point"].as_bool() == Some(true) {
                note.push("rollback point".to_string());
            }
            [
                text("id"),
                text("phase"),
                text("owner"),
                text("state").to_uppercase(),
                format!(
                    "{}–{}",
                    time(&step["planned_start"]),
                    time(&step["planned_end"])
                ),
                actual,
                by,
                if late > 0 {
                    crate::human::seconds(late)
                } else {
                    String::new()
                },
                note.join("; "),
            ]
        })
        .collect();
    format::table(
        &[
            "STEP", "PHASE", "OWNER", "STATE", "PLANNED", "ACTUAL", "BY", "LATE", "NOTE",
        ],
        &rows,
    )
}
