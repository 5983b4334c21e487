//! Section `[reports]`: the daily report's send time, recipients, phases, email channel,
//! availability objectives and template folder (see `reports.rs` for the typed values).

use std::collections::BTreeMap;

use toml::de::DeValue;

use super::context::Context;
use crate::domain::Phase;
use crate::plan::alerting::{Alerting, ChannelKind};
use crate::plan::reader::{
    EmptyPhases, Reported, Sink, TableReader, parse_name, read_phase_list, reference_exists,
};
use crate::plan::reports::{DEFAULT_PHASES, DEFAULT_SEND_TIME, Reports};
use crate::plan::values;

/// Section `[reports]` (optional). `alerting` is `None` when the communication plan has errors
/// (reported there), in which case the channel is not checked.
pub(in crate::plan) fn read_reports(
    root: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    context: &Context<'_>,
    alerting: Option<&Alerting>,
) -> Result<Option<Reports>, Reported> {
    let Some(mut table) = root.get_table(sink, "reports")? else {
        return Ok(None);
    };
    let time = match table.get_str(sink, "time") {
        Ok(None) => Ok(DEFAULT_SEND_TIME),
        Ok(Some(text)) => values::time_of_day(text.get_ref()).map_err(|reason| {
            sink.error(
                text.span(),
                &table.key_path("time"),
                format!("invalid send time `{}`: {reason}", text.get_ref()),
                Some("write the local time of day in the launch's time zone, e.g. `time = \"09:00\"`".to_string()),
            );
            Reported
        }),
        Err(reported) => Err(reported),
    };
    let to = context.recipients.read_required_list(
        &mut table,
        sink,
        "to",
        "nobody would receive the reports",
        "nobody would receive the reports",
        "[\"project_manager\", \"business\"]",
    );
    let phases = read_phases(&mut table, sink);
    let channel = read_channel(&mut table, sink, alerting);
    let objectives = read_objectives(&mut table, sink, context);
    let templates = match table.get_str(sink, "templates") {
        Ok(None) => Ok(None),
        Ok(Some(dir)) if dir.get_ref().trim().is_empty() => {
            sink.error(
                dir.span(),
                &table.key_path("templates"),
                "`templates` must not be empty",
                Some("name a folder holding daily.html, daily.txt, final.html or final.txt, or remove the key to use the built-in templates".to_string()),
            );
            Err(Reported)
        }
        Ok(Some(dir)) => Ok(Some(context.base_dir.join(dir.get_ref()))),
        Err(reported) => Err(reported),
    };
    table.finish(sink);
    Ok(Some(Reports {
        time: time?,
        to: to?,
        phases: phases?,
        channel: channel?,
        objectives: objectives?,
        templates: templates?,
    }))
}

/// `phases`: phases the launch can be in for a while (not the terminal ones).
fn read_phases(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
) -> Result<Vec<Phase>, Reported> {
    let empty = EmptyPhases {
        message: "`phases` is empty, so no daily report would ever go out",
        help:
            "list phases such as `[\"verifying\", \"hypercare\"]`, or remove the key for those two"
                .to_string(),
    };
    let phases = read_phase_list(table, sink, "phases", empty, |sink, item, name| {
        let phase = parse_name::<Phase>(sink, item, name, "phase").ok_or(Reported)?;
        if !phase.is_terminal() {
            return Ok(phase);
        }
        sink.error(
            name.span(),
            item,
            format!("daily reports cannot go out in `{phase}`: the launch is over then (the final report goes out once instead)"),
            Some("use phases before the end, e.g. `verifying` and `hypercare`".to_string()),
        );
        Err(Reported)
    })?;
    Ok(phases.unwrap_or_else(|| DEFAULT_PHASES.to_vec()))
}

/// `channel`: an email channel id; the first email channel by default.
fn read_channel(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    alerting: Option<&Alerting>,
) -> Result<String, Reported> {
    let given = table.get_str(sink, "channel")?;
    let Some(alerting) = alerting else {
        // The communication plan has errors of its own; the channel cannot be checked.
        return Err(Reported);
    };
    let emails = alerting.channel_ids_where(|kind| matches!(kind, ChannelKind::Email { .. }));
    match given {
        None => match emails.first() {
            Some(first) => Ok((*first).to_string()),
            None => {
                sink.error(
                    table.span(),
                    table.path(),
                    "reports go out by email, but the plan has no email channel",
                    Some("add a `[[channels]]` entry with `kind = \"email\"` (without `[smtp]` emails are written to the outbox folder)".to_string()),
                );
                Err(Reported)
            }
        },
        Some(name) if emails.contains(&name.get_ref().as_str()) => Ok(name.into_inner()),
        Some(name) => {
            let help = match crate::domain::closest(name.get_ref(), emails.iter().copied()) {
                Some(near) => format!("did you mean `{near}`?"),
                None if emails.is_empty() => {
                    "add a `[[channels]]` entry with `kind = \"email\"`".to_string()
                }
                None => format!("use one of the email channels: {}", emails.join(", ")),
            };
            sink.error(
                name.span(),
                &table.key_path("channel"),
                format!("`{}` is not an email channel of the plan", name.get_ref()),
                Some(help),
            );
            Err(Reported)
        }
    }
}

/// `objectives = { checkout = 99.9 }`: percentages above 0 and at most 100, by check id.
fn read_objectives(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    context: &Context<'_>,
) -> Result<BTreeMap<String, f64>, Reported> {
    let Some(entries) = table.get_entries(sink, "objectives")? else {
        return Ok(BTreeMap::new());
    };
    let path = table.key_path("objectives");
    let mut objectives = BTreeMap::new();
    let mut bad = false;
    for entry in entries.into_inner() {
        let item = format!("{path}.{}", entry.key.get_ref());
        if !reference_exists(
            sink,
            &item,
            &entry.key,
            context.check_ids,
            "check",
            "[[checks]]",
        ) {
            bad = true;
            continue;
        }
        let number = match entry.value.get_ref() {
            DeValue::Integer(integer) => i64::from_str_radix(integer.as_str(), integer.radix())
                .ok()
                .map(|value| value as f64),
            DeValue::Float(float) => float.as_str().parse::<f64>().ok(),
            _ => None,
        };
        match number {
            Some(percent) if percent > 0.0 && percent <= 100.0 => {
                objectives.insert(entry.key.get_ref().clone(), percent);
            }
            _ => {
                sink.error(
                    entry.value.span(),
                    &item,
                    format!(
                        "availability objective `{}` is not a percentage above 0 and at most 100",
                        sink.snippet(entry.value.span())
                    ),
                    Some(format!(
                        "write the objective in percent, e.g. `{} = 99.9`",
                        entry.key.get_ref()
                    )),
                );
                bad = true;
            }
        }
    }
    if bad { Err(Reported) } else { Ok(objectives) }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::plan::{Diagnostic, parse};

    const BASE: &str = r#"
[launch]
name = "Shop"
timezone = "Europe/Berlin"
go_live = 2026-12-01T20:00:00
hypercare_days = 14

[[people]]
id = "alice"
name = "Alice"
role = "project_manager"
email = "alice@example.com"

[[checks]]
id = "checkout"
name = "Checkout"
kind = "tcp"
address = "127.0.0.1:5432"
"#;

    const EMAIL: &str = "\n[[channels]]\nid = \"email\"\nkind = \"email\"\n";

    fn errors(text: &str) -> Vec<Diagnostic> {
        match parse(text, Path::new("plan.toml")) {
            Ok(_) => Vec::new(),
            Err(diagnostics) => diagnostics
                .into_iter()
                .filter(Diagnostic::is_error)
                .collect(),
        }
    }

    #[test]
    fn a_valid_reports_section_is_read_with_its_defaults() {
        let text = format!(
            "{BASE}{EMAIL}\n[reports]\nto = [\"alice\", \"business\", \"x@shop.example\"]\nobjectives = {{ checkout = 99.9 }}\n"
        );
        let plan = parse(&text, Path::new("plan.toml")).map(|loaded| loaded.plan);
        let reports = plan.ok().and_then(|plan| plan.reports).expect("reports");
        assert_eq!(reports.time.to_string(), "09:00:00");
        assert_eq!(reports.channel, "email");
        assert_eq!(
            reports.phases,
            crate::plan::reports::DEFAULT_PHASES.to_vec()
        );
        assert_eq!(reports.objectives.get("checkout"), Some(&99.9));
        assert_eq!(reports.to.len(), 3);
    }

    #[test]
    fn every_problem_in_reports_is_reported_with_its_fix() {
        let text = format!(
            "{BASE}{EMAIL}\n[reports]\ntime = \"25:00\"\nto = [\"alcie\"]\nphases = [\"closed\"]\nchannel = \"emial\"\nobjectives = {{ chekout = 99.9, checkout = 120 }}\ntempaltes = \"t\"\n"
        );
        let found = errors(&text);
        let paths: Vec<&str> = found.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "reports.time",
                "reports.to[0]",
                "reports.phases[0]",
                "reports.channel",
                "reports.objectives.chekout",
                "reports.objectives.checkout",
                "reports.tempaltes",
            ],
            "{found:#?}"
        );
        assert_eq!(found[1].help.as_deref(), Some("did you mean `alice`?"));
        assert_eq!(found[3].help.as_deref(), Some("did you mean `email`?"));
        assert_eq!(found[4].help.as_deref(), Some("did you mean `checkout`?"));
        assert_eq!(found[6].help.as_deref(), Some("did you mean `templates`?"));
    }

    #[test]
    fn a_phase_listed_twice_in_reports_is_an_error_naming_it() {
        let found = errors(&format!(
            "{BASE}{EMAIL}\n[reports]\nto = [\"alice\"]\nphases = [\"verifying\", \"hypercare\", \"verifying\"]\n"
        ));
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].path, "reports.phases[2]");
        assert_eq!(found[0].message, "`verifying` is listed twice");
        assert_eq!(found[0].help.as_deref(), Some("list each phase once"));
    }

    #[test]
    fn reports_need_recipients_and_an_email_channel() {
        let found = errors(&format!("{BASE}\n[reports]\nto = []\n"));
        let messages: Vec<&str> = found.iter().map(|d| d.message.as_str()).collect();
        assert!(
            messages.iter().any(|m| m.contains("nobody would receive")),
            "{messages:?}"
        );
        assert!(
            messages.iter().any(|m| m.contains("no email channel")),
            "{messages:?}"
        );
    }
}
