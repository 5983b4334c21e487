//! `golive preflight PLAN`: the pre-launch readiness check the go-live guide asks for — the plan
//! (with its warnings), every check probed once, every communication channel tested — ending in
//! one go/no-go summary that says what is not ready and who owns each gap. Exit 0 on go, 1 on
//! no-go. No daemon is needed.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use super::check::load_or_exit;
use super::probe::probe_once;
use crate::core::health::{Outcome, ProbeResult};
use crate::core::lifecycle::owner_label;
use crate::domain::Role;
use crate::notify::dispatcher::ChannelTest;
use crate::notify::dispatcher::{Senders, test_channels};
use crate::plan::Plan;
use crate::report::message_id::MessageIds;

/// One thing that is not ready, and who should fix it.
struct Gap {
    what: String,
    owner: String,
}

/// The people holding `role` (by name), or the role itself when nobody does.
fn role_holders(plan: &Plan, role: Role) -> String {
    let names: Vec<String> = plan
        .people
        .iter()
        .filter(|person| person.role == role)
        .map(|person| format!("{} ({})", person.name, person.id))
        .collect();
    if names.is_empty() {
        format!("{role} (nobody holds it)")
    } else {
        names.join(", ")
    }
}

/// Who owns a failing check: the owners of the risks it indicates, else the ops lead.
fn check_owner(plan: &Plan, check: &crate::plan::checks::Check) -> String {
    let owners: Vec<String> = plan
        .risks
        .iter()
        .filter(|risk| check.risks.contains(&risk.id) || risk.checks.contains(&check.id))
        .map(|risk| owner_label(plan, &risk.owner))
        .collect();
    if owners.is_empty() {
        role_holders(plan, Role::OpsLead)
    } else {
        owners.join(", ")
    }
}

pub fn run(plan_path: &Path) -> ExitCode {
    let now = jiff::Timestamp::now();
    let loaded = match load_or_exit(
        plan_path,
        Some(now),
        "NO-GO: the plan has errors; fix them first",
    ) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let plan = Arc::new(loaded.plan);
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
    let all: Vec<usize> = (0..plan.checks.len()).collect();
    let (probes, channels) = runtime.block_on(async {
        let probes = probe_once(plan.clone(), all).await;
        let client = reqwest::Client::new();
        let senders = Senders::new(&plan, client, MessageIds::ephemeral(&plan));
        let channels = test_channels(&plan, &senders, &[], "golive preflight", now).await;
        (probes, channels)
    });
    let mut gaps: Vec<Gap> = Vec::new();
    let manager = role_holders(&plan, Role::ProjectManager);
    let ops = role_holders(&plan, Role::OpsLead);

    println!("PREFLIGHT {}", plan.launch.name);
    println!(
        "go-live {} ({})\n",
        crate::human::time(plan.launch.go_live, &plan.launch.timezone),
        plan.launch.timezone_name
    );

    println!("Plan: valid, {} warning(s)", loaded.warnings.len());
    for warning in &loaded.warnings {
        println!("  - {}: {}", warning.path, warning.message);
        gaps.push(Gap {
            what: format!("plan: {}", warning.message),
            owner: manager.clone(),
        });
    }

    print_checks(&plan, &probes, &ops, &mut gaps);
    print_channels(&channels, &ops, &mut gaps);
    print_tls(&plan, &ops, &mut gaps);

    let required = plan.checklist.iter().filter(|item| item.required).count();
    println!(
        "\nChecklist: {required} required item(s) to confirm on the call (`golive checklist confirm ID`)"
    );
    for item in plan.checklist.iter().filter(|item| item.required) {
        println!(
            "  [ ] {:<20} {} — {}",
            item.id,
            item.title,
            owner_label(&plan, &item.owner)
        );
    }

    println!();
    if gaps.is_empty() {
        println!("GO: the plan, every check and every channel are ready.");
        ExitCode::SUCCESS
    } else {
        println!("NO-GO: {} gap(s):", gaps.len());
        for gap in &gaps {
            println!("  - {} (owner: {})", gap.what, gap.owner);
        }
        ExitCode::from(1)
    }
}

/// `[server] tls`: loads the certificate and key as `golive run` will, so a missing or mismatched
/// file is a gap found before the go-live rather than a daemon that stops at start.
fn print_tls(plan: &Plan, ops: &str, gaps: &mut Vec<Gap>) {
    let Some(files) = &plan.server.tls else {
        return;
    };
    match crate::app::tls::TlsCertificate::load(files) {
        Ok(certificate) => println!(
            "\nHTTPS: ok   {} (sha256 {})",
            files.cert.display(),
            certificate.fingerprint()
        ),
        Err(error) => {
            let problem = crate::error_chain::error_chain(&error);
            println!("\nHTTPS: FAIL {problem}");
            gaps.push(Gap {
                what: format!("HTTPS: {problem}"),
                owner: ops.to_string(),
            });
        }
    }
}

/// Prints each check's result; a check that is not healthy is a gap for its risk's owner.
fn print_checks(
    plan: &Plan,
    probes: &Result<Vec<(usize, ProbeResult)>, String>,
    ops: &str,
    gaps: &mut Vec<Gap>,
) {
    let results = match probes {
        Ok(results) => results,
        Err(error) => {
            println!("\nChecks: cannot run: {error}");
            gaps.push(Gap {
                what: format!("checks cannot run: {error}"),
                owner: ops.to_string(),
            });
            return;
        }
    };
    let healthy = results
        .iter()
        .filter(|(_, result)| result.outcome == Outcome::Healthy)
        .count();
    println!("\nChecks: {healthy} of {} healthy", plan.checks.len());
    if let Some(detection) = super::check::detection(plan) {
        println!("  ({detection})");
    }
    for (index, result) in results {
        let check = &plan.checks[*index];
        let mark = match result.outcome {
            Outcome::Healthy => "ok  ",
            Outcome::Failing => "FAIL",
            Outcome::Unknown => "??  ",
        };
        println!("  {mark} {:<20} {}", check.id, result.reason);
        if result.outcome != Outcome::Healthy {
            gaps.push(Gap {
                what: format!(
                    "check `{}` is {}: {}",
                    check.id,
                    result.outcome.as_str(),
                    result.reason
                ),
                owner: check_owner(plan, check),
            });
        }
        if let Some(warning) = &result.warning {
            println!("       warning: {warning}");
        }
    }
}

/// Prints each channel's test; a failed one is a gap for the ops lead.
fn print_channels(channels: &[ChannelTest], ops: &str, gaps: &mut Vec<Gap>) {
    println!("\nChannels:");
    if channels.is_empty() {
        println!("  (none)");
    }
    for channel in channels {
        println!(
            "  {} {:<16} {:<12} {}",
            if channel.delivered { "ok  " } else { "FAIL" },
            channel.channel,
            channel.kind,
            channel.answer
        );
        if !channel.delivered {
            gaps.push(Gap {
                what: format!("channel `{}` failed: {}", channel.channel, channel.answer),
                owner: ops.to_string(),
            });
        }
    }
}
