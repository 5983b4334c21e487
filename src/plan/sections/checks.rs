//! Section `[[checks]]`: the keys every check has (id, severity, thresholds, intervals,
//! `retry_interval`, phases, gate, risks, timeout), and the risks a check indicates (`load.rs`
//! links risks and checks both ways).
//!
//! The keys of one kind (`url` for http, `query` for prometheus, ...) are read in `check_kinds.rs` (http in `check_http.rs`);
//! a key of another kind is reported as belonging to that kind rather than as a typo.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::check_kinds::{self, KindName};
use super::check_limits::Limits;
use crate::domain::Phase;
use crate::plan::checks::{Check, DEFAULT_CHECK_PHASES, Severity};
use crate::plan::reader::{
    EmptyPhases, Got, IdRegistry, Ids, Reported, Sink, TableReader, duration_value, parse_name,
    push_or_poison, read_phase_list,
};
use crate::plan::values;

/// The shortest interval a check may have.
pub(in crate::plan) const MIN_INTERVAL: Duration = Duration::from_millis(100);
/// The interval of a check that sets none.
pub(in crate::plan) const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
/// The timeout of a check that sets none (lowered to its shortest interval when that is shorter).
pub(in crate::plan) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Ids defined elsewhere in the plan that checks may refer to.
pub(in crate::plan) struct Known<'k> {
    /// `[[risks]]` ids.
    pub(in crate::plan) risk_ids: &'k Ids,
    /// `[[prometheus]]` ids.
    pub(in crate::plan) server_ids: &'k Ids,
    /// The plan file's folder, for `ca_file`.
    pub(in crate::plan) base_dir: &'k Path,
}

/// Section `[[checks]]`. Returns the checks (if all are valid) and every well-formed id, so one
/// check's bad URL does not also make a risk that references it "unknown".
pub(in crate::plan) fn read_checks(
    root: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    known: &Known<'_>,
) -> (Option<Vec<Check>>, Ids) {
    let mut ids = IdRegistry::new("checks");
    let mut checks = Some(Vec::new());
    for mut table in root.array_of_tables(sink, "checks") {
        let id = ids.read(&mut table, sink);
        let check = read_check(&mut table, sink, known, id);
        table.finish(sink);
        push_or_poison(&mut checks, check);
    }
    (checks, ids.into_ids())
}

/// One `[[checks]]` entry after its `id`.
fn read_check(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    known: &Known<'_>,
    id: Option<String>,
) -> Option<Check> {
    let name = table.get_str(sink, "name");
    let kind = table.req_str(sink, "kind").and_then(|kind| {
        parse_name::<KindName>(sink, &table.key_path("kind"), &kind, "check kind")
    });
    let severity = match table.get_str(sink, "severity") {
        Ok(None) => Ok(Severity::Warning),
        Ok(Some(text)) => {
            parse_name::<Severity>(sink, &table.key_path("severity"), &text, "severity")
                .ok_or(Reported)
        }
        Err(reported) => Err(reported),
    };
    let failure_threshold = count(table.get_int(sink, "failure_threshold", 1, 10_000), 2);
    let success_threshold = count(table.get_int(sink, "success_threshold", 1, 10_000), 1);
    let phases = read_phases(table, sink);
    let interval = table
        .get_duration(sink, "interval")
        .and_then(|interval| match interval {
            None => Ok(DEFAULT_INTERVAL),
            Some(interval) => at_least_min_interval(sink, &table.key_path("interval"), &interval),
        });
    let intervals = read_intervals(table, sink, phases.as_ref().ok());
    let gate = table.get_bool(sink, "gate").map(Option::unwrap_or_default);
    if let (Ok(true), Ok(phases)) = (&gate, &phases)
        && !phases.contains(&Phase::GoNoGo)
    {
        let span = sink
            .span_of(&table.key_path("gate"))
            .unwrap_or(table.span());
        sink.error(
            span,
            &table.key_path("gate"),
            "a gate check must run in `go_no_go`, but its `phases` leave it out",
            Some("add `\"go_no_go\"` to `phases`, or remove `gate = true`".to_string()),
        );
    }
    let risks = read_risk_refs(table, sink, known.risk_ids);

    // The intervals the check really probes at, one per phase it runs in.
    let effective: Option<Vec<(Phase, Duration)>> = match (&phases, &interval, &intervals) {
        (Ok(phases), Ok(interval), Ok(intervals)) => Some(
            phases
                .iter()
                .map(|phase| (*phase, intervals.get(phase).copied().unwrap_or(*interval)))
                .collect(),
        ),
        _ => None,
    };
    let shortest = effective
        .as_ref()
        .and_then(|all| all.iter().min_by_key(|(_, every)| *every).copied());
    let longest = effective
        .as_ref()
        .and_then(|all| all.iter().map(|(_, every)| *every).max());
    let timeout = read_timeout(table, sink, shortest);
    let retry_interval = read_retry_interval(table, sink, longest);

    let kind = match kind {
        Some(kind) => {
            table.forbid_keys_of_other_kinds(
                sink,
                &KindName::keys_by_kind(),
                kind.as_str(),
                "check",
            );
            let limits = Limits {
                longest_interval: longest,
                timeout: timeout.ok(),
                base_dir: known.base_dir,
                server_ids: known.server_ids,
            };
            check_kinds::read_kind(kind, table, sink, &limits)
        }
        None => {
            // Without a valid kind, its keys cannot be judged; the kind's own error says enough.
            table.ignore_keys_of_kinds(sink, &KindName::keys_by_kind());
            None
        }
    };

    let id = id?;
    let name = match name.ok()? {
        Some(name) => name.into_inner(),
        None => id.clone(),
    };
    Some(Check {
        id,
        name,
        severity: severity.ok()?,
        failure_threshold: failure_threshold.ok()?,
        success_threshold: success_threshold.ok()?,
        interval: interval.ok()?,
        intervals: intervals.ok()?,
        retry_interval: retry_interval.ok()?,
        phases: phases.ok()?,
        gate: gate.ok()?,
        risks: risks.ok()?,
        timeout: timeout.ok()?,
        kind: kind?,
    })
}

/// A count such as `failure_threshold`, with its default.
fn count(value: Got<i64>, default: u32) -> Result<u32, Reported> {
    Ok(value?.map_or(default, |count| u32::try_from(count).unwrap_or(u32::MAX)))
}

/// An interval must leave the target some rest.
fn at_least_min_interval(
    sink: &mut Sink<'_>,
    path: &str,
    interval: &Spanned<Duration>,
) -> Result<Duration, Reported> {
    let every = *interval.get_ref();
    if every >= MIN_INTERVAL {
        return Ok(every);
    }
    sink.error(
        interval.span(),
        path,
        format!(
            "an interval of {} is too short",
            values::show_duration(every)
        ),
        Some("probe at most every 100 ms, e.g. `\"500ms\"` or `\"5s\"`".to_string()),
    );
    Err(Reported)
}

/// A phase a check may run in: a known phase, not a terminal one.
fn check_phase(sink: &mut Sink<'_>, path: &str, name: &Spanned<String>) -> Result<Phase, Reported> {
    let phase = parse_name::<Phase>(sink, path, name, "phase").ok_or(Reported)?;
    if !phase.is_terminal() {
        return Ok(phase);
    }
    sink.error(
        name.span(),
        path,
        format!("`{phase}` is a terminal phase: nothing is probed once the launch has ended"),
        Some(format!(
            "use some of: {}",
            DEFAULT_CHECK_PHASES
                .iter()
                .map(|phase| phase.as_str())
                .chain(["planned"])
                .collect::<Vec<_>>()
                .join(", ")
        )),
    );
    Err(Reported)
}

/// `phases` (default go_no_go, deploying, verifying, hypercare).
fn read_phases(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
) -> Result<BTreeSet<Phase>, Reported> {
    let empty = EmptyPhases {
        message: "a check with no phases never runs",
        help: "list the phases it runs in, e.g. `[\"deploying\", \"verifying\"]`, or remove `phases` for the default".to_string(),
    };
    Ok(
        match read_phase_list(table, sink, "phases", empty, check_phase)? {
            Some(phases) => phases.into_iter().collect(),
            None => DEFAULT_CHECK_PHASES.into_iter().collect(),
        },
    )
}

/// `intervals = { deploying = "5s", hypercare = "1m" }`: per-phase intervals for phases the
/// check runs in (`phases` is `None` when it was invalid, which was reported).
fn read_intervals(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    phases: Option<&BTreeSet<Phase>>,
) -> Result<BTreeMap<Phase, Duration>, Reported> {
    let Some(entries) = table.get_entries(sink, "intervals")? else {
        return Ok(BTreeMap::new());
    };
    let mut intervals = BTreeMap::new();
    let mut bad = false;
    for entry in entries.get_ref() {
        let path = format!("{}.{}", table.key_path("intervals"), entry.key.get_ref());
        let phase = check_phase(sink, &path, &entry.key);
        let every = duration_value(sink, &path, entry.value, false)
            .and_then(|every| at_least_min_interval(sink, &path, &every));
        match (phase, every) {
            (Ok(phase), Ok(every)) => {
                if phases.is_some_and(|phases| !phases.contains(&phase)) {
                    sink.error(
                        entry.key.span(),
                        &path,
                        format!("`intervals` sets `{phase}`, but the check does not run in it"),
                        Some(format!(
                            "add `\"{phase}\"` to `phases`, or remove `{phase}` from `intervals`"
                        )),
                    );
                    bad = true;
                }
                intervals.insert(phase, every);
            }
            _ => bad = true,
        }
    }
    if bad { Err(Reported) } else { Ok(intervals) }
}

/// `retry_interval` (default: see `plan::checks::default_retry_interval`): at least 100 ms, and
/// not longer than the longest interval the check probes at (`longest`, when the intervals were
/// valid), which would never confirm a failure sooner; in a phase with a shorter interval, that
/// interval is used (`Check::retry_interval_in`).
fn read_retry_interval(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    longest: Option<Duration>,
) -> Result<Option<Duration>, Reported> {
    let path = table.key_path("retry_interval");
    let Some(retry) = table.get_duration(sink, "retry_interval")? else {
        return Ok(None);
    };
    let every = at_least_min_interval(sink, &path, &retry)?;
    match longest {
        Some(longest) if every > longest => {
            sink.error(
                retry.span(),
                &path,
                format!(
                    "a retry interval of {} is longer than the check's interval of {}",
                    values::show_duration(every),
                    values::show_duration(longest)
                ),
                Some(format!(
                    "retries confirm a failure sooner than the next regular probe: use at most {}, or remove `retry_interval` for the default",
                    values::show_duration(longest)
                )),
            );
            Err(Reported)
        }
        _ => Ok(Some(every)),
    }
}

/// `risks`: ids of `[[risks]]` entries this check's failure indicates.
fn read_risk_refs(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    risk_ids: &Ids,
) -> Result<Vec<String>, Reported> {
    let risks = table.get_refs(sink, "risks", risk_ids, "risk", "[[risks]]")?;
    Ok(risks.map(Spanned::into_inner).unwrap_or_default())
}
/// `timeout` (default 5s, lowered to the shortest interval): a probe must end before the next.
fn read_timeout(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    shortest: Option<(Phase, Duration)>,
) -> Result<Duration, Reported> {
    let Some(timeout) = table.get_duration(sink, "timeout")? else {
        return Ok(shortest.map_or(DEFAULT_TIMEOUT, |(_, every)| every.min(DEFAULT_TIMEOUT)));
    };
    match shortest {
        Some((phase, every)) if *timeout.get_ref() > every => {
            sink.error(
                timeout.span(),
                &table.key_path("timeout"),
                format!(
                    "the timeout of {} is longer than the interval of {} in `{phase}`",
                    values::show_duration(*timeout.get_ref()),
                    values::show_duration(every)
                ),
                Some(format!(
                    "a probe must end before the next one starts: lower `timeout` to at most {}, or lengthen the interval",
                    values::show_duration(every)
                )),
            );
            Err(Reported)
        }
        _ => Ok(timeout.into_inner()),
    }
}
