//! Loading: from plan text to a typed [`Plan`], or every problem in the file at once.
//!
//! [`parse_and_validate`] parses the TOML (recovering from syntax errors so they are all
//! reported), reads each section in the order their references need (`read_plan`: the one place a
//! new section reader is hooked in), resolves the references that span sections (risks and
//! checks, both ways), and finally runs the warning rules in `lint.rs`. A plan is returned only
//! when there is no error; otherwise every diagnostic, sorted by position, is.

use std::collections::HashSet;
use std::path::Path;

use toml::Spanned;
use toml::de::DeTable;

use super::checks::Check;
use super::diagnostic::{Diagnostic, sort_by_position};
use super::launch::Risk;
use super::lint;
use super::model::{Loaded, Plan};
use super::reader::{Ids, Owners, Recipients, Sink, TableReader, reference_exists};
use super::sections::context::Context;
use super::sections::risks::CheckRef;
use super::sections::{
    alerting, checklist, checks, heartbeat, launch, monitoring, people, reports, review, risks,
    rollback, runbook, server, store, updates,
};

/// Parses and validates plan text; see [`super::parse`].
/// The key of a "duplicate key" error at `offset` (the start of its line's key) and the line of
/// its first occurrence in the same table, found by looking back to the table's header.
fn duplicate_key(text: &str, offset: usize) -> Option<(String, Option<usize>)> {
    let key_of = |line: &str| -> Option<String> {
        let (key, _) = line.split_once('=')?;
        let key = key.trim();
        (!key.is_empty() && !key.starts_with('[') && !key.starts_with('#'))
            .then(|| key.trim_matches('"').to_string())
    };
    let line_start = text.get(..offset)?.rfind('\n').map_or(0, |at| at + 1);
    let key = key_of(text.get(line_start..)?.lines().next()?)?;
    let before: Vec<&str> = text.get(..line_start)?.lines().collect();
    let earlier = before
        .iter()
        .enumerate()
        .rev()
        .take_while(|(_, line)| !line.trim_start().starts_with('['))
        .find(|(_, line)| key_of(line).as_deref() == Some(key.as_str()))
        .map(|(index, _)| index + 1);
    Some((key, earlier))
}

/// Parses and validates plan text; see [`super::parse`].
pub(super) fn parse_and_validate(
    text: &str,
    path: &Path,
    now: Option<jiff::Timestamp>,
) -> Result<Loaded, Vec<Diagnostic>> {
    let (root, syntax_errors) = DeTable::parse_recoverable(text);
    let mut sink = Sink::new(text);
    let base_dir = path.parent().unwrap_or(Path::new(""));

    let plan = read_plan(&root, &mut sink, path, base_dir);
    if let Some(plan) = &plan {
        lint::warn(plan, &mut sink);
        if let Some(now) = now {
            lint::warn_as_of(plan, &mut sink, now);
        }
    }

    // The recovering parser still yields a tree, so the plan's other problems are reported too;
    // but a broken line usually produces a follow-on complaint about its own key, so on a line
    // with a syntax error only the syntax error is kept.
    let mut syntax = Sink::new(text);
    for error in &syntax_errors {
        let span = error.span().unwrap_or(0..0);
        let message = error.message().trim();
        if message == "duplicate key"
            && let Some((key, earlier)) = duplicate_key(text, span.start)
        {
            let help = match earlier {
                Some(line) => format!("`{key}` is already set on line {line}; keep one of the two"),
                None => format!("`{key}` is already set in this table; keep one of the two"),
            };
            syntax.error(span, "", format!("duplicate key `{key}`"), Some(help));
            continue;
        }
        syntax.error(span, "", message.to_string(), None);
    }
    let syntax = syntax.into_diagnostics();
    let broken_lines: HashSet<usize> = syntax.iter().map(|diagnostic| diagnostic.line).collect();
    let mut diagnostics = sink.into_diagnostics();
    diagnostics.retain(|diagnostic| !broken_lines.contains(&diagnostic.line));
    diagnostics.extend(syntax);
    sort_by_position(&mut diagnostics);

    match plan {
        Some(plan) if !diagnostics.iter().any(Diagnostic::is_error) => Ok(Loaded {
            plan,
            warnings: diagnostics,
        }),
        _ => Err(diagnostics),
    }
}

/// Every key path the readers ask for when reading `text` (see [`super::known_keys`]).
pub(super) fn known_keys(text: &str) -> std::collections::BTreeSet<String> {
    let (root, _) = DeTable::parse_recoverable(text);
    let mut sink = Sink::new(text);
    read_plan(&root, &mut sink, Path::new("plan.toml"), Path::new(""));
    sink.into_known_keys()
}

/// Reads every section; `None` when anything is wrong (the reason is in `sink`).
fn read_plan(
    root: &Spanned<DeTable<'_>>,
    sink: &mut Sink<'_>,
    path: &Path,
    base_dir: &Path,
) -> Option<Plan> {
    let mut reader = TableReader::new(root.get_ref(), 0..0, "");
    let launch = launch::read_launch(&mut reader, sink, base_dir);
    let (people, person_ids) = people::read_people(&mut reader, sink);
    let owners = Owners::new(&person_ids);
    let checklist = checklist::read_checklist(&mut reader, sink, &owners);
    let (mut risks, risk_ids, check_refs) = risks::read_risks(&mut reader, sink, &owners);
    let server = server::read_server(&mut reader, sink, base_dir);
    let monitoring = monitoring::read_monitoring(&mut reader, sink);
    let (prometheus, server_ids) = monitoring::read_prometheus(&mut reader, sink, base_dir);
    let known = checks::Known {
        risk_ids: &risk_ids,
        server_ids: &server_ids,
        base_dir,
    };
    let (mut checks, check_ids) = checks::read_checks(&mut reader, sink, &known);
    link_risks_and_checks(
        sink,
        &check_refs,
        &check_ids,
        risks.as_mut(),
        checks.as_mut(),
    );
    let context = Context {
        recipients: Recipients::new(&person_ids),
        check_ids: &check_ids,
        base_dir,
        timezone: launch.as_ref().map(|launch| &launch.timezone),
    };
    let rollback = rollback::read_rollback(&mut reader, sink, &context);
    let alerting = alerting::read_alerting(&mut reader, sink, &context);
    let runbook = runbook::read_runbook(
        &mut reader,
        sink,
        &runbook::Context {
            owners: &owners,
            check_ids: &check_ids,
            go_live: launch.as_ref().map(|launch| launch.go_live),
            timezone: launch.as_ref().map(|launch| &launch.timezone),
            hypercare_days: launch.as_ref().map(|launch| launch.hypercare_days),
        },
    );
    let reports = reports::read_reports(&mut reader, sink, &context, alerting.as_ref());
    let heartbeat = heartbeat::read_heartbeat(&mut reader, sink, base_dir, alerting.as_ref());
    let updates = updates::read_updates(
        &mut reader,
        sink,
        &context,
        alerting.as_ref(),
        people.as_deref(),
    );
    let review = review::read_review(&mut reader, sink, &context, alerting.as_ref());
    let store = store::read_store(&mut reader, sink, base_dir);
    reader.finish(sink);
    Some(Plan {
        source: path.to_path_buf(),
        launch: launch?,
        people: people?,
        checklist: checklist?,
        risks: risks?,
        rollback: rollback?,
        server: server?,
        checks: checks?,
        prometheus: prometheus?,
        monitoring: monitoring?,
        alerting: alerting?,
        runbook: runbook?,
        reports: reports.ok()?,
        heartbeat: heartbeat.ok()?,
        updates: updates.ok()?,
        review: review.ok()?,
        store: store.ok()?,
    })
}

/// Validates every `risks[].checks` entry against the check ids, then makes the links
/// symmetric: a risk lists every check that indicates it, and a check every risk it indicates,
/// whichever side of the plan wrote the link.
fn link_risks_and_checks(
    sink: &mut Sink<'_>,
    refs: &[CheckRef],
    check_ids: &Ids,
    risks: Option<&mut Vec<Risk>>,
    checks: Option<&mut Vec<Check>>,
) {
    for reference in refs {
        reference_exists(
            sink,
            &reference.path,
            &reference.id,
            check_ids,
            "check",
            "[[checks]]",
        );
    }
    let (Some(risks), Some(checks)) = (risks, checks) else {
        return;
    };
    for risk in risks.iter_mut() {
        for check in checks.iter_mut() {
            let from_risk = risk.checks.contains(&check.id);
            let from_check = check.risks.contains(&risk.id);
            if from_risk && !from_check {
                check.risks.push(risk.id.clone());
            }
            if from_check && !from_risk {
                risk.checks.push(check.id.clone());
            }
        }
    }
}
