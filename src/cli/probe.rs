//! `golive probe PLAN [CHECK...]`: runs checks once without a daemon and prints a table — the
//! pre-launch dry run. Exit 0 when every probed check is healthy, 1 otherwise.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use serde_json::json;

use super::check::{EXIT_INVALID, load_or_exit};
use super::format;
use crate::clock::SystemClock;
use crate::core::health::{Outcome, ProbeResult};
use crate::domain::closest;
use crate::probe::{ProbeContext, ProbeMemory, run_probe};

pub fn run(plan_path: &Path, wanted: &[String], as_json: bool) -> ExitCode {
    let loaded = match load_or_exit(plan_path, None, "") {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let plan = Arc::new(loaded.plan);
    let mut selected = Vec::new();
    for id in wanted {
        match plan.checks.iter().position(|check| &check.id == id) {
            Some(index) => selected.push(index),
            None => {
                let hint = closest(id, plan.checks.iter().map(|check| check.id.as_str()))
                    .map_or_else(String::new, |near| format!("; did you mean `{near}`?"));
                eprintln!("golive: the plan has no check `{id}`{hint}");
                return ExitCode::from(EXIT_INVALID);
            }
        }
    }
    if wanted.is_empty() {
        selected = (0..plan.checks.len()).collect();
    }
    if selected.is_empty() {
        println!("The plan has no checks.");
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("golive: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let results = runtime.block_on(probe_once(plan.clone(), selected.clone()));
    let results = match results {
        Ok(results) => results,
        Err(error) => {
            eprintln!("golive: {error}");
            return ExitCode::FAILURE;
        }
    };
    let all_healthy = results.len() == selected.len()
        && results
            .iter()
            .all(|(_, result)| result.outcome == Outcome::Healthy);
    if as_json {
        let rows: Vec<_> = results
            .iter()
            .map(|(index, result)| {
                let check = &plan.checks[*index];
                json!({
                    "id": check.id,
                    "kind": check.kind_name(),
                    "outcome": result.outcome,
                    "reason": result.reason,
                    "latency_ms": result.latency.as_secs_f64() * 1000.0,
                    "value": result.value,
                    "warning": result.warning,
                })
            })
            .collect();
        println!(
            "{:#}",
            json!({ "results": rows, "all_healthy": all_healthy })
        );
    } else {
        let rows: Vec<[String; 5]> = results
            .iter()
            .map(|(index, result)| {
                let check = &plan.checks[*index];
                let mut reason = result.reason.clone();
                if let Some(warning) = &result.warning {
                    reason.push_str(&format!(" (warning: {warning})"));
                }
                [
                    check.id.clone(),
                    check.kind_name().to_string(),
                    result.outcome.as_str().to_uppercase(),
                    format!("{:.0}ms", result.latency.as_secs_f64() * 1000.0),
                    reason,
                ]
            })
            .collect();
        print!(
            "{}",
            format::table(&["CHECK", "KIND", "RESULT", "LATENCY", "REASON"], &rows)
        );
        let healthy = results
            .iter()
            .filter(|(_, result)| result.outcome == Outcome::Healthy)
            .count();
        println!("{healthy} of {} checks healthy", selected.len());
    }
    if all_healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Probes the `selected` checks of `plan` once, concurrently (bounded like the daemon), and
/// returns their results in plan order.
pub(super) async fn probe_once(
    plan: Arc<crate::plan::Plan>,
    selected: Vec<usize>,
) -> Result<Vec<(usize, ProbeResult)>, String> {
    let context = Arc::new(ProbeContext::new(&plan, Arc::new(SystemClock)));
    let limit = Arc::new(tokio::sync::Semaphore::new(
        plan.monitoring.max_concurrent_probes.max(1),
    ));
    let mut tasks = tokio::task::JoinSet::new();
    for index in selected {
        let (plan, context, limit) = (plan.clone(), context.clone(), limit.clone());
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await.ok();
            let mut memory = ProbeMemory::default();
            (
                index,
                run_probe(&plan.checks[index], &context, &mut memory).await,
            )
        });
    }
    let mut results: Vec<(usize, ProbeResult)> = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        if let Ok(result) = joined {
            results.push(result);
        }
    }
    results.sort_by_key(|(index, _)| *index);
    Ok(results)
}
