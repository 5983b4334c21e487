//! `golive report preview`: renders a report straight from a data directory's store, without
//! sending it and without a running daemon (it reads beside a running one too). `golive report
//! send` goes through the daemon's API instead (see `commands.rs`).

use std::path::Path;
use std::process::ExitCode;

use super::ReportFormat;
use super::check::load_or_exit;
use crate::clock::{Clock, SystemClock};
use crate::report::compose;
use crate::report::email::report_email;
use crate::report::schedule;
use crate::store::Reader;

/// Prints the daily report of `date` (default: the day in progress) or the final report.
pub fn preview(
    plan_path: Option<&Path>,
    date: Option<&str>,
    final_report: bool,
    format: ReportFormat,
) -> ExitCode {
    let Some(plan_path) = plan_path else {
        eprintln!(
            "golive: `report preview` reads the store directly and needs the plan: add --plan PLAN (or set GOLIVE_PLAN)"
        );
        return ExitCode::from(64);
    };
    let loaded = match load_or_exit(plan_path, None, "") {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let plan = loaded.plan;
    let now = SystemClock.now();
    let day = match date.map(str::trim) {
        Some(text) => match text.parse::<jiff::civil::Date>() {
            Ok(day) => Some(day),
            Err(_) => {
                eprintln!(
                    "golive: --date `{text}` is not a date; write it as YYYY-MM-DD, e.g. 2026-12-03"
                );
                return ExitCode::from(64);
            }
        },
        None => None,
    };
    if day.is_some() && final_report {
        eprintln!(
            "golive: the final report covers the whole launch; leave out --date with --final"
        );
        return ExitCode::from(64);
    }
    let given = std::env::var("GOLIVE_DATABASE_URL")
        .ok()
        .map(crate::domain::Secret::new);
    let opened = crate::app::store_backend(&plan, given.as_ref())
        .map_err(|error| error.to_string())
        .and_then(|backend| {
            Reader::open_backend(&plan.launch.data_dir, &backend)
                .map_err(|error| crate::error_chain::error_chain(&error))
        });
    let reader = match opened {
        Ok(reader) => reader,
        Err(error) => {
            eprintln!(
                "golive: cannot read the store in {}: {error}",
                plan.launch.data_dir.display(),
            );
            return ExitCode::from(66);
        }
    };
    let composed = if final_report {
        compose::final_report(&reader, &plan, now, false).map(|(_, composed)| composed)
    } else {
        let time = plan
            .reports
            .as_ref()
            .map_or(crate::plan::reports::DEFAULT_SEND_TIME, |reports| {
                reports.time
            });
        let day =
            day.unwrap_or_else(|| schedule::day_in_progress(now, time, &plan.launch.timezone));
        compose::daily(&reader, &plan, day, now, false).map(|(_, composed)| composed)
    };
    let composed = match composed {
        Ok(composed) => composed,
        Err(error) => {
            eprintln!("golive: {}", crate::error_chain::error_chain(&error));
            return ExitCode::FAILURE;
        }
    };
    let output = match format {
        ReportFormat::Text => composed.rendered.text.into_bytes(),
        ReportFormat::Html => composed.rendered.html.into_bytes(),
        ReportFormat::Eml => {
            let mut email = report_email(
                &plan,
                &composed,
                &crate::report::message_id::MessageIds::ephemeral(&plan),
            );
            if email.to.is_empty() {
                // A preview still shows the message, addressed to nobody in particular.
                email
                    .to
                    .push((None, "undisclosed-recipients@localhost".to_string()));
            }
            match crate::notify::email::to_eml(&email, now) {
                Ok(bytes) => bytes,
                Err(error) => {
                    eprintln!("golive: cannot build the email: {error}");
                    return ExitCode::FAILURE;
                }
            }
        }
    };
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(&output).and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("golive: cannot write the report: {error}");
            ExitCode::FAILURE
        }
    }
}
