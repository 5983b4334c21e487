//! Section `[rollback]`: the procedure, the criteria under which alerts recommend rolling back,
//! who gets the procedure then, and the hook that rolls back (never run by itself unless
//! `auto = true`).

use std::time::Duration;

use super::context::Context;
use super::silences::read_check_refs;
use crate::domain::{Phase, Role};
use crate::plan::alerting::{Recipient, Rollback, RollbackCriterion, RollbackHook};
use crate::plan::checks::Severity;
use crate::plan::reader::{
    EmptyPhases, Reported, Sink, TableReader, parse_name, read_phase_list, read_secret_url,
};

/// How long a rollback hook may run by default.
const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// The phases a launch can be rolled back from, and a criterion's default.
const ROLLBACK_PHASES: [Phase; 3] = [Phase::Deploying, Phase::Verifying, Phase::Hypercare];

/// Section `[rollback]` (optional).
pub(in crate::plan) fn read_rollback(
    root: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    context: &Context<'_>,
) -> Option<Rollback> {
    let default_notify = vec![
        Recipient::Role(Role::ProjectManager),
        Recipient::Role(Role::DevLead),
    ];
    let Ok(Some(mut table)) = root.get_table(sink, "rollback") else {
        // A `rollback` that is not a table was reported; either way the default is usable.
        return Some(Rollback {
            notify: default_notify,
            ..Rollback::default()
        });
    };
    // A `procedure` of the wrong type is reported; the rest of the section is still checked.
    let procedure = table
        .get_str(sink, "procedure")
        .ok()
        .flatten()
        .map(|text| text.into_inner());
    let criteria = read_criteria(&mut table, sink, context);
    let notify = context.recipients.read_list(
        &mut table,
        sink,
        "notify",
        Some("nobody would get the procedure when the criteria hold"),
    );
    let hook = read_hook(&mut table, sink, context);
    let auto = table.get_bool(sink, "auto").map(Option::unwrap_or_default);
    if let Ok(true) = auto
        && table.key_span("hook").is_none()
    {
        let span = sink
            .span_of(&table.key_path("auto"))
            .unwrap_or(table.span());
        sink.error(
            span,
            &table.key_path("auto"),
            "`auto = true` but there is no `[rollback.hook]` to run",
            Some("add a `[rollback.hook]` with `command = [...]` or `webhook = ...`, or remove `auto = true` so people roll back by hand".to_string()),
        );
    }
    table.finish(sink);
    Some(Rollback {
        procedure: procedure.unwrap_or_default(),
        criteria: criteria.ok()?,
        notify: notify.ok()?.unwrap_or(default_notify),
        hook: hook.ok()?,
        auto: auto.ok()?,
    })
}

/// `criteria = [{ checks = [...], severity = "critical", phases = [...] }]`.
fn read_criteria(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    context: &Context<'_>,
) -> Result<Vec<RollbackCriterion>, Reported> {
    let mut criteria = Vec::new();
    let mut bad = false;
    for mut entry in table.array_of_tables(sink, "criteria") {
        let checks = read_check_refs(&mut entry, sink, context);
        let severity = match entry.get_str(sink, "severity") {
            Ok(None) => Ok(Severity::Critical),
            Ok(Some(text)) => {
                parse_name::<Severity>(sink, &entry.key_path("severity"), &text, "severity")
                    .ok_or(Reported)
            }
            Err(reported) => Err(reported),
        };
        let phases = read_phases(&mut entry, sink);
        entry.finish(sink);
        match (checks, severity, phases) {
            (Ok(checks), Ok(severity), Ok(phases)) => criteria.push(RollbackCriterion {
                checks,
                severity,
                phases,
            }),
            _ => bad = true,
        }
    }
    if bad { Err(Reported) } else { Ok(criteria) }
}

/// A criterion's `phases`: only those a launch can be rolled back from.
fn read_phases(
    entry: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
) -> Result<Vec<Phase>, Reported> {
    let allowed: Vec<&str> = ROLLBACK_PHASES.iter().map(|phase| phase.as_str()).collect();
    let empty = EmptyPhases {
        message: "a criterion with no phases never holds",
        help: format!(
            "list some of {}, or remove `phases` for all three",
            allowed.join(", ")
        ),
    };
    let phases = read_phase_list(entry, sink, "phases", empty, |sink, item, name| {
        let phase = parse_name::<Phase>(sink, item, name, "phase").ok_or(Reported)?;
        if phase.can_roll_back() {
            return Ok(phase);
        }
        sink.error(
            name.span(),
            item,
            format!("a launch cannot be rolled back from `{phase}`"),
            Some(format!(
                "rolling back is only possible from {}; use some of them",
                allowed.join(", ")
            )),
        );
        Err(Reported)
    })?;
    Ok(phases.unwrap_or_else(|| ROLLBACK_PHASES.to_vec()))
}

/// `[rollback.hook]`: `command` or `webhook`, with `timeout`.
fn read_hook(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    context: &Context<'_>,
) -> Result<Option<RollbackHook>, Reported> {
    let Some(mut hook) = table.get_table(sink, "hook")? else {
        return Ok(None);
    };
    hook.redact_values();
    let command = hook.get_str_list(sink, "command").and_then(|argv| {
        let Some(argv) = argv else {
            return Ok(None);
        };
        if argv.get_ref().first().is_none_or(|program| program.get_ref().trim().is_empty()) {
            sink.error(
                argv.span(),
                &hook.key_path("command"),
                "`command` names no program",
                Some("write the program and its arguments, e.g. `command = [\"./rollback.sh\", \"--to\", \"1.9.4\"]` (run in the plan's folder)".to_string()),
            );
            return Err(Reported);
        }
        Ok(Some(
            argv.into_inner()
                .into_iter()
                .map(|arg| arg.into_inner())
                .collect::<Vec<_>>(),
        ))
    });
    let webhook = read_secret_url(&mut hook, sink, context.base_dir, "webhook", false);
    let timeout = hook.duration_within(
        sink,
        "timeout",
        DEFAULT_HOOK_TIMEOUT,
        Duration::from_secs(1),
        None,
    );
    let found = match (hook.key_span("command"), hook.key_span("webhook")) {
        (Some(_), Some(span)) => {
            sink.error(
                span,
                &hook.key_path("webhook"),
                "a rollback hook has both `command` and `webhook`",
                Some("keep one: `command` runs a program in the plan's folder, `webhook` POSTs to a URL".to_string()),
            );
            Err(Reported)
        }
        (None, None) => {
            sink.error(
                hook.span(),
                hook.path(),
                "a rollback hook needs `command` or `webhook`",
                Some(
                    "add `command = [\"./rollback.sh\"]` or `webhook = { env = \"VAR\" }`"
                        .to_string(),
                ),
            );
            Err(Reported)
        }
        _ => Ok(()),
    };
    hook.finish(sink);
    found?;
    let timeout = timeout?;
    match (command?, webhook?) {
        (Some(argv), _) => Ok(Some(RollbackHook::Command { argv, timeout })),
        (None, Some(url)) => Ok(Some(RollbackHook::Webhook { url, timeout })),
        (None, None) => Err(Reported),
    }
}
