//! Section `[runbook]` and its `[[runbook.steps]]`: ids (unique, well-formed), owners (person or
//! role, with the near name), planned starts (an offset such as `"+00:20"` from the go-live time,
//! or a date-time), durations, phases, `depends_on` (known steps, no cycles: the cycle is named),
//! rollback points with their procedure, and the checks to verify after a step.
//!
//! A step planned outside its phase's window is a warning. The plan fixes one instant of the
//! lifecycle, the go-live, which is when `deploying` begins; so steps of `planned` and `go_no_go`
//! must end by the go-live, steps of `deploying`, `verifying` and `hypercare` must not start
//! before it, and `hypercare` steps must end within `hypercare_days` of it. A step planned to
//! start before a step it depends on is planned to end is a warning too.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use toml::Spanned;
use toml::de::DeValue;

use crate::domain::Phase;
use crate::plan::reader::{
    Expected, IdRegistry, Ids, Owners, Reported, Sink, TableReader, parse_name, push_or_poison,
    reference_exists,
};
use crate::plan::runbook::{
    DEFAULT_ESCALATE_AFTER, DEFAULT_GRACE, PlannedStart, Runbook, RunbookStep,
};
use crate::plan::values::{self, GoLive};

/// The phases a step may belong to: every phase the launch passes through before it ends.
const STEP_PHASES: [Phase; 5] = [
    Phase::Planned,
    Phase::GoNoGo,
    Phase::Deploying,
    Phase::Verifying,
    Phase::Hypercare,
];

/// What the runbook is checked against.
pub(in crate::plan) struct Context<'k> {
    pub(in crate::plan) owners: &'k Owners<'k>,
    pub(in crate::plan) check_ids: &'k Ids,
    /// The planned go-live (`None` when it is invalid, which was reported).
    pub(in crate::plan) go_live: Option<Timestamp>,
    pub(in crate::plan) timezone: Option<&'k TimeZone>,
    pub(in crate::plan) hypercare_days: Option<f64>,
}

/// A step read so far, with the spans later checks point at.
struct Read {
    step: RunbookStep,
    path: String,
    start_span: std::ops::Range<usize>,
    depends_on: Vec<Spanned<String>>,
}

/// Section `[runbook]` (optional; absent means no runbook).
pub(in crate::plan) fn read_runbook(
    root: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    context: &Context<'_>,
) -> Option<Runbook> {
    // A `runbook` that is not a table was reported.
    let Some(mut table) = root.get_table(sink, "runbook").ok()? else {
        return Some(Runbook::default());
    };
    let min = Duration::from_secs(1);
    let grace = table.duration_within(sink, "grace", DEFAULT_GRACE, min, None);
    let escalate_after =
        table.duration_within(sink, "escalate_after", DEFAULT_ESCALATE_AFTER, min, None);
    let mut ids = IdRegistry::new("runbook.steps");
    let mut steps = Some(Vec::new());
    let mut read = Vec::new();
    for mut entry in table.array_of_tables(sink, "steps") {
        let step = read_step(&mut entry, sink, context, &mut ids);
        entry.finish(sink);
        match step {
            Some(step) => {
                push_or_poison(&mut steps, Some(step.step.clone()));
                read.push(step);
            }
            None => push_or_poison(&mut steps, None::<RunbookStep>),
        }
    }
    table.finish(sink);
    let ids = ids.into_ids();
    let dependencies_ok = check_dependencies(sink, &read, &ids);
    if dependencies_ok {
        warn_out_of_order(sink, &read);
    }
    warn_outside_window(sink, &read, context);
    if !dependencies_ok {
        return None;
    }
    Some(Runbook {
        grace: grace.ok()?,
        escalate_after: escalate_after.ok()?,
        steps: steps?,
    })
}

/// One `[[runbook.steps]]` entry.
fn read_step(
    entry: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    context: &Context<'_>,
    ids: &mut IdRegistry,
) -> Option<Read> {
    let id = ids.read(entry, sink);
    let title = entry.req_str(sink, "title");
    let owner = entry.req_str(sink, "owner").and_then(|owner| {
        context
            .owners
            .resolve(sink, &entry.key_path("owner"), &owner)
    });
    let start = read_start(entry, sink, context);
    let duration = entry.get_duration(sink, "duration");
    let duration = entry
        .require(
            sink,
            "duration",
            duration,
            None,
            "say how long the step is expected to take, e.g. `duration = \"15m\"`; a step running past it warns its owner".to_string(),
        )
        .ok()
        .map(Spanned::into_inner);
    let phase = match entry.get_str(sink, "phase") {
        Ok(None) => Some(Phase::Deploying),
        Ok(Some(name)) => read_phase(sink, &entry.key_path("phase"), &name),
        Err(Reported) => None,
    };
    let depends_on = entry.get_str_list(sink, "depends_on");
    let verify = read_verify(entry, sink, context);
    let rollback_point = entry.get_bool(sink, "rollback_point");
    let procedure = entry.get_str(sink, "rollback_procedure");
    let rollback = match (rollback_point, procedure) {
        (Ok(flag), Ok(procedure)) => {
            read_rollback_point(entry, sink, flag.unwrap_or(false), procedure)
        }
        _ => None,
    };
    let (start_span, start) = start?;
    let depends_on = depends_on
        .ok()?
        .map(Spanned::into_inner)
        .unwrap_or_default();
    let (rollback_point, rollback_procedure) = rollback?;
    let mut dependency_ids: Vec<String> = Vec::new();
    for dependency in &depends_on {
        if !dependency_ids.contains(dependency.get_ref()) {
            dependency_ids.push(dependency.get_ref().clone());
        }
    }
    let (start, planned_start) = start?;
    Some(Read {
        path: entry.path().to_string(),
        start_span,
        depends_on,
        step: RunbookStep {
            id: id?,
            title: title?.into_inner(),
            owner: owner?,
            start,
            planned_start,
            duration: duration?,
            phase: phase?,
            depends_on: dependency_ids,
            rollback_point,
            rollback_procedure,
            verify: verify.ok()?,
        },
    })
}

/// `start`: `"+HH:MM"` / `"-HH:MM"` from the go-live, or a date-time. The outer `None` means the
/// key is wrong (reported); the inner one that it cannot be resolved because the go-live or the
/// time zone is invalid (reported there).
#[allow(clippy::type_complexity)]
fn read_start(
    entry: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    context: &Context<'_>,
) -> Option<(std::ops::Range<usize>, Option<(PlannedStart, Timestamp)>)> {
    let path = entry.key_path("start");
    let value = entry.required(sink, "start", Expected::String)?;
    let span = value.span();
    let help = "write an offset from the go-live time as `start = \"+00:20\"` (hours:minutes; `-00:30` for before it), or a date-time such as `start = 2027-03-10T09:20:00` (in the launch time zone) or with an offset";
    if let DeValue::String(text) = value.get_ref() {
        let text = text.trim();
        if text.starts_with('+') || text.starts_with('-') {
            return match offset(text) {
                Ok(offset) => Some((
                    span,
                    context.go_live.and_then(|go_live| {
                        go_live
                            .checked_add(offset)
                            .ok()
                            .map(|at| (PlannedStart::Offset(offset), at))
                    }),
                )),
                Err(reason) => {
                    sink.error(
                        span,
                        &path,
                        format!("invalid start offset `{text}`: {reason}"),
                        Some(help.to_string()),
                    );
                    None
                }
            };
        }
    }
    match values::go_live(value.get_ref(), context.timezone) {
        GoLive::At(instant) => Some((span, Some((PlannedStart::At(instant), instant)))),
        GoLive::NeedsTimeZone => Some((span, None)),
        GoLive::Invalid(reason) => {
            sink.error(
                span.clone(),
                &path,
                format!("invalid start `{}`: {reason}", sink.snippet(span)),
                Some(help.to_string()),
            );
            None
        }
    }
}

/// Parses `+HH:MM` or `-HH:MM` (minutes below 60).
fn offset(text: &str) -> Result<SignedDuration, String> {
    let negative = text.starts_with('-');
    let rest = &text[1..];
    let Some((hours, minutes)) = rest.split_once(':') else {
        return Err("expected hours and minutes such as `+00:20`".to_string());
    };
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_digit());
    if !digits(hours) || minutes.len() != 2 || !digits(minutes) {
        return Err("expected hours and minutes such as `+00:20`".to_string());
    }
    let hours: i64 = hours.parse().map_err(|_| "too many hours".to_string())?;
    let minutes: i64 = minutes
        .parse()
        .map_err(|_| "expected two digits of minutes".to_string())?;
    if minutes >= 60 {
        return Err(format!("{minutes} minutes is not below 60"));
    }
    if hours > 24 * 366 {
        return Err("it is more than a year away from the go-live".to_string());
    }
    let total = SignedDuration::from_mins(hours * 60 + minutes);
    Ok(if negative { -total } else { total })
}

/// A step's `phase`: a phase the launch passes through before it ends.
fn read_phase(sink: &mut Sink<'_>, path: &str, name: &Spanned<String>) -> Option<Phase> {
    let phase = parse_name::<Phase>(sink, path, name, "phase")?;
    if STEP_PHASES.contains(&phase) {
        return Some(phase);
    }
    let allowed: Vec<&str> = STEP_PHASES.iter().map(|phase| phase.as_str()).collect();
    sink.error(
        name.span(),
        path,
        format!("`{phase}` is where a launch ends, so no step can be carried out in it"),
        Some(format!("use one of: {}", allowed.join(", "))),
    );
    None
}

/// `verify`: ids of `[[checks]]`.
fn read_verify(
    entry: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    context: &Context<'_>,
) -> Result<Vec<String>, Reported> {
    let checks = entry.get_refs(sink, "verify", context.check_ids, "check", "[[checks]]")?;
    Ok(checks.map(Spanned::into_inner).unwrap_or_default())
}
/// `rollback_point` and `rollback_procedure` go together.
fn read_rollback_point(
    entry: &TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    rollback_point: bool,
    procedure: Option<Spanned<String>>,
) -> Option<(bool, Option<String>)> {
    match (rollback_point, procedure) {
        (true, Some(text)) if !text.get_ref().trim().is_empty() => {
            Some((true, Some(text.into_inner())))
        }
        (true, Some(text)) => {
            sink.error(
                text.span(),
                &entry.key_path("rollback_procedure"),
                "`rollback_procedure` must not be empty",
                Some("write how to roll back once this step is done, e.g. `rollback_procedure = \"restore the database from the 09:00 snapshot, then redeploy 1.9.4\"`".to_string()),
            );
            None
        }
        (true, None) => {
            let span = sink
                .span_of(&entry.key_path("rollback_point"))
                .unwrap_or(entry.span());
            sink.error(
                span,
                &entry.key_path("rollback_procedure"),
                "a rollback point needs the procedure that applies once it is passed",
                Some("add `rollback_procedure = \"...\"`: how to roll back after this step (the plan's [rollback] procedure applies before it)".to_string()),
            );
            None
        }
        (false, Some(text)) => {
            sink.error(
                text.span(),
                &entry.key_path("rollback_procedure"),
                "`rollback_procedure` is only used on a rollback point",
                Some("add `rollback_point = true` if rolling back changes once this step is done, or remove `rollback_procedure`".to_string()),
            );
            None
        }
        (false, None) => Some((false, None)),
    }
}

/// `depends_on`: known steps, not the step itself, and no cycles. Returns whether all is well.
fn check_dependencies(sink: &mut Sink<'_>, read: &[Read], ids: &Ids) -> bool {
    let mut ok = true;
    for step in read {
        for (index, dependency) in step.depends_on.iter().enumerate() {
            let path = format!("{}.depends_on[{index}]", step.path);
            if dependency.get_ref() == &step.step.id {
                sink.error(
                    dependency.span(),
                    &path,
                    format!("step `{}` depends on itself", step.step.id),
                    Some("remove it from its own `depends_on`".to_string()),
                );
                ok = false;
            } else if !reference_exists(
                sink,
                &path,
                dependency,
                ids,
                "runbook step",
                "[[runbook.steps]]",
            ) {
                ok = false;
            }
        }
    }
    if !ok {
        return false;
    }
    // Every step read has valid dependencies now; look for a cycle among them.
    let graph: BTreeMap<&str, &Read> = read
        .iter()
        .map(|step| (step.step.id.as_str(), step))
        .collect();
    if let Some(cycle) = find_cycle(&graph) {
        let first = graph[cycle[0]];
        let span = first
            .depends_on
            .iter()
            .find(|dependency| dependency.get_ref() == cycle[1])
            .map_or(first.start_span.clone(), Spanned::span);
        sink.error(
            span,
            &format!("{}.depends_on", first.path),
            format!(
                "the runbook's `depends_on` form a cycle: {}, so none of these steps could ever start",
                cycle.join(" → ")
            ),
            Some("remove one of these dependencies so the steps have an order".to_string()),
        );
        return false;
    }
    true
}

/// A cycle as the step ids along it, the first repeated at the end; `None` when there is none.
fn find_cycle<'a>(graph: &BTreeMap<&'a str, &'a Read>) -> Option<Vec<&'a str>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    fn visit<'a>(
        id: &'a str,
        graph: &BTreeMap<&'a str, &'a Read>,
        marks: &mut HashMap<&'a str, Mark>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<&'a str>> {
        match marks.get(id) {
            Some(Mark::Done) => return None,
            Some(Mark::Visiting) => {
                let from = stack.iter().position(|seen| *seen == id).unwrap_or(0);
                let mut cycle = stack[from..].to_vec();
                cycle.push(id);
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(id, Mark::Visiting);
        stack.push(id);
        if let Some(step) = graph.get(id) {
            for dependency in &step.step.depends_on {
                if let Some((&key, _)) = graph.get_key_value(dependency.as_str())
                    && let Some(cycle) = visit(key, graph, marks, stack)
                {
                    return Some(cycle);
                }
            }
        }
        stack.pop();
        marks.insert(id, Mark::Done);
        None
    }
    let mut marks = HashMap::new();
    for &id in graph.keys() {
        let mut stack = Vec::new();
        if let Some(cycle) = visit(id, graph, &mut marks, &mut stack) {
            return Some(cycle);
        }
    }
    None
}

/// A step planned to start before a step it depends on is planned to end.
fn warn_out_of_order(sink: &mut Sink<'_>, read: &[Read]) {
    for step in read {
        for dependency in &step.depends_on {
            let Some(before) = read
                .iter()
                .find(|other| &other.step.id == dependency.get_ref())
            else {
                continue;
            };
            if step.step.planned_start < before.step.planned_end() {
                sink.warning(
                    step.start_span.clone(),
                    &format!("{}.start", step.path),
                    format!(
                        "step `{}` is planned to start before `{}`, which it depends on, is planned to end",
                        step.step.id, before.step.id
                    ),
                    Some(format!(
                        "plan `{}` to start at or after `{}` ends ({} after its start)",
                        step.step.id,
                        before.step.id,
                        values::show_duration(before.step.duration)
                    )),
                );
            }
        }
    }
}

/// A step planned outside its phase's window (see the module documentation).
fn warn_outside_window(sink: &mut Sink<'_>, read: &[Read], context: &Context<'_>) {
    let Some(go_live) = context.go_live else {
        return;
    };
    for step in read {
        let path = format!("{}.start", step.path);
        let id = &step.step.id;
        let phase = step.step.phase;
        let problem = match phase {
            Phase::Planned | Phase::GoNoGo if step.step.planned_end() > go_live => Some((
                format!(
                    "step `{id}` belongs to `{phase}` but is planned to end after the go-live, when `deploying` begins"
                ),
                "plan it to end by the go-live (e.g. a negative offset such as `start = \"-00:30\"`), or give it the phase it really belongs to".to_string(),
            )),
            Phase::Deploying | Phase::Verifying | Phase::Hypercare
                if step.step.planned_start < go_live =>
            {
                Some((
                    format!(
                        "step `{id}` belongs to `{phase}` but is planned to start before the go-live, when `deploying` begins"
                    ),
                    "plan it at or after the go-live (`start = \"+00:00\"` or later), or give it the phase it really belongs to (`go_no_go` for preparation)".to_string(),
                ))
            }
            Phase::Hypercare => context.hypercare_days.and_then(|days| {
                let end = go_live
                    .checked_add(SignedDuration::from_secs_f64(days * 86_400.0))
                    .ok()?;
                (step.step.planned_end() > end).then(|| {
                    (
                        format!(
                            "step `{id}` is planned to end after hypercare ({days} day(s) from the go-live)"
                        ),
                        "plan it earlier, or lengthen `launch.hypercare_days`".to_string(),
                    )
                })
            }),
            _ => None,
        };
        if let Some((message, help)) = problem {
            let span = step.start_span.clone();
            sink.warning(span, &path, message, Some(help));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::offset;
    use jiff::SignedDuration;

    #[test]
    fn offsets_are_signed_hours_and_minutes() {
        assert_eq!(offset("+00:20"), Ok(SignedDuration::from_mins(20)));
        assert_eq!(offset("-01:30"), Ok(SignedDuration::from_mins(-90)));
        assert_eq!(offset("+26:00"), Ok(SignedDuration::from_hours(26)));
        assert!(offset("+0:75").is_err());
        assert!(offset("+20").is_err());
        assert!(offset("+1h").is_err());
        assert!(offset("+00:5").is_err());
    }
}
