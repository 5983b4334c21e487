//! Warnings: plans that work but probably not as intended.
//!
//! Each rule is a function of the validated [`Plan`] that records warnings in the [`Sink`],
//! pointing at the key it is about (or at the top of the file when that key is absent). A new
//! warning is one more function in [`RULES`]. `golive check --strict` turns warnings into errors.

use std::ops::Range;

use super::checks::{CheckKind, Severity};
use super::model::Plan;
use super::reader::Sink;

/// A warning rule.
type Rule = fn(&Plan, &mut Sink<'_>);

/// Every warning rule, run in this order on a plan that has no errors.
const RULES: &[Rule] = &[
    empty_checklist,
    missing_rollback_procedure,
    no_api_tokens,
    no_checks,
    informational_gate,
    retry_interval_without_retries,
    unused_prometheus_server,
    severity_without_policy,
    unused_escalation_policy,
    single_level_policy,
    unused_channel,
    missing_key_roles,
    no_risks,
    no_channels,
    level_notifying_nobody,
    ack_links_on_a_local_address,
    review_before_hypercare_ends,
];

/// Runs every warning rule on `plan`.
pub(super) fn warn(plan: &Plan, sink: &mut Sink<'_>) {
    for rule in RULES {
        rule(plan, sink);
    }
}

/// The warnings that depend on the time (`golive check` passes the current time).
pub(super) fn warn_as_of(plan: &Plan, sink: &mut Sink<'_>, now: jiff::Timestamp) {
    if plan.launch.go_live < now {
        let local = crate::human::time(plan.launch.go_live, &plan.launch.timezone);
        sink.warning(
            span_of_first(sink, &["launch.go_live", "launch"]),
            "launch.go_live",
            format!("the planned go-live {local} is in the past"),
            Some("if the launch has not started yet (phase `planned`), move `go_live` to when it will happen".to_string()),
        );
    }
}

/// A fixed review `when` before the planned end of hypercare: the launch is not over yet when
/// the meeting would be, so its invitation (sent at the close) would never go out.
fn review_before_hypercare_ends(plan: &Plan, sink: &mut Sink<'_>) {
    let Some(review) = &plan.review else { return };
    let super::review::ReviewWhen::At(at) = review.when else {
        return;
    };
    let ends = plan
        .launch
        .go_live
        .saturating_add(plan.launch.hypercare())
        .unwrap_or(plan.launch.go_live);
    if at < ends {
        let zone = &plan.launch.timezone;
        sink.warning(
            span_of_first(sink, &["review.when", "review"]),
            "review.when",
            format!(
                "the review meeting at {} is before the planned end of hypercare ({}): if the launch closes after the meeting, no invitation is sent",
                crate::human::time(at, zone),
                crate::human::time(ends, zone)
            ),
            Some("hold the review after the launch closes, e.g. `when = \"2d after close\"`".to_string()),
        );
    }
}

/// The span of the first of `paths` that was present in the file, else the start of the file.
fn span_of_first(sink: &Sink<'_>, paths: &[&str]) -> Range<usize> {
    paths
        .iter()
        .find_map(|path| sink.span_of(path))
        .unwrap_or(0..0)
}

/// Nothing gates the go-live decision.
fn empty_checklist(plan: &Plan, sink: &mut Sink<'_>) {
    if plan.checklist.is_empty() {
        let span = span_of_first(sink, &["checklist"]);
        sink.warning(
            span,
            "checklist",
            "the checklist is empty, so nothing has to be confirmed before deploying",
            Some(
                "add `[[checklist]]` items (id, title, owner) for what must be true before go-live"
                    .to_string(),
            ),
        );
    }
}

/// Nobody has written down how to go back.
fn missing_rollback_procedure(plan: &Plan, sink: &mut Sink<'_>) {
    if plan.rollback.procedure.trim().is_empty() {
        let span = span_of_first(sink, &["rollback.procedure", "rollback"]);
        sink.warning(
            span,
            "rollback.procedure",
            "there is no rollback procedure",
            Some("describe how to roll back in `[rollback]` `procedure = \"\"\"...\"\"\"`, before you need it".to_string()),
        );
    }
}

/// The key of the "no API tokens" warning: `golive run` leaves it out, as it knows better.
pub const NO_API_TOKENS_KEY: &str = "server.tokens";

/// Without tokens the API refuses every write (phase changes, confirmations, acknowledgements).
fn no_api_tokens(plan: &Plan, sink: &mut Sink<'_>) {
    if plan.server.tokens.is_empty() {
        let span = span_of_first(sink, &["server.tokens", "server"]);
        sink.warning(
            span,
            NO_API_TOKENS_KEY,
            "no API tokens are configured in the plan, so only a token in GOLIVE_API_TOKEN (where golive runs) can change anything",
            Some("add a `[[server.tokens]]` entry with `name` and `env = \"VAR\"` or `file = \"path\"`".to_string()),
        );
    }
}

/// Nothing is probed, so golive cannot see the launch going wrong.
fn no_checks(plan: &Plan, sink: &mut Sink<'_>) {
    if plan.checks.is_empty() {
        sink.warning(
            0..0,
            "checks",
            "there are no checks, so golive cannot see whether the launch is healthy",
            Some(
                "add `[[checks]]` entries (id, kind, and e.g. `url` for an http health endpoint)"
                    .to_string(),
            ),
        );
    }
}

/// A gate holds up the go-live decision, which is odd for a check that is only informational.
fn informational_gate(plan: &Plan, sink: &mut Sink<'_>) {
    for (index, check) in plan.checks.iter().enumerate() {
        if check.gate && check.severity == Severity::Info {
            let path = format!("checks[{index}].gate");
            let span = span_of_first(sink, &[&path]);
            sink.warning(
                span,
                &path,
                format!(
                    "check `{}` gates the go-live decision but its severity is `info`",
                    check.id
                ),
                Some(
                    "raise `severity` to `warning` or `critical`, or remove `gate = true`"
                        .to_string(),
                ),
            );
        }
    }
}

/// With `failure_threshold = 1` the first failing probe already makes the check failing, so
/// there is nothing left to confirm and `retry_interval` never applies.
fn retry_interval_without_retries(plan: &Plan, sink: &mut Sink<'_>) {
    for (index, check) in plan.checks.iter().enumerate() {
        if check.retry_interval.is_some() && check.failure_threshold <= 1 {
            let path = format!("checks[{index}].retry_interval");
            let span = span_of_first(sink, &[&path]);
            sink.warning(
                span,
                &path,
                format!(
                    "check `{}` sets `retry_interval`, but with `failure_threshold = 1` its first failing probe already makes it failing, so it never retries",
                    check.id
                ),
                Some(
                    "raise `failure_threshold` to confirm failures with quick retries, or remove `retry_interval`"
                        .to_string(),
                ),
            );
        }
    }
}

/// A server nobody queries is probably a check that names the wrong one.
fn unused_prometheus_server(plan: &Plan, sink: &mut Sink<'_>) {
    for (index, server) in plan.prometheus.iter().enumerate() {
        let used = plan.checks.iter().any(|check| {
            matches!(&check.kind, CheckKind::Prometheus(query) if query.server == server.id)
        });
        if !used {
            let path = format!("prometheus[{index}].id");
            let span = span_of_first(sink, &[&path]);
            sink.warning(
                span,
                &path,
                format!("prometheus server `{}` is not used by any check", server.id),
                Some(
                    "add a `kind = \"prometheus\"` check that queries it, or remove the server"
                        .to_string(),
                ),
            );
        }
    }
}

/// Checks of a severity that maps to no escalation policy open alerts nobody hears about. `info`
/// is left out: informational checks are usually meant to be recorded, not to page anyone.
fn severity_without_policy(plan: &Plan, sink: &mut Sink<'_>) {
    for severity in [Severity::Critical, Severity::Warning] {
        let used = plan.checks.iter().any(|check| check.severity == severity);
        if !used || plan.alerting.severity_policies.contains_key(&severity) {
            continue;
        }
        let span = span_of_first(sink, &["alerting.policies", "alerting"]);
        let help = match plan.alerting.policies.first() {
            Some(policy) => format!(
                "map it to an escalation policy in `[alerting]`, e.g. `policies = {{ {severity} = \"{}\" }}`",
                policy.id
            ),
            None => format!(
                "add an `[[escalation]]` policy and map it in `[alerting]`: `policies = {{ {severity} = \"policy-id\" }}`"
            ),
        };
        sink.warning(
            span,
            "alerting.policies",
            format!("checks of severity {severity} notify nobody"),
            Some(help),
        );
    }
}

/// A policy no severity uses is probably one a severity was meant to name.
fn unused_escalation_policy(plan: &Plan, sink: &mut Sink<'_>) {
    for (index, policy) in plan.alerting.policies.iter().enumerate() {
        let used = plan
            .alerting
            .severity_policies
            .values()
            .any(|id| *id == policy.id);
        if !used {
            let path = format!("escalation[{index}].id");
            let span = span_of_first(sink, &[&path]);
            sink.warning(
                span,
                &path,
                format!(
                    "escalation policy `{}` is not used by any severity",
                    policy.id
                ),
                Some(format!(
                    "map a severity to it in `[alerting] policies`, e.g. `{{ critical = \"{}\" }}`, or remove it",
                    policy.id
                )),
            );
        }
    }
}

/// With one level, an alert nobody acknowledges never reaches anyone else.
fn single_level_policy(plan: &Plan, sink: &mut Sink<'_>) {
    for (index, policy) in plan.alerting.policies.iter().enumerate() {
        if policy.levels.len() == 1 {
            let path = format!("escalation[{index}].levels");
            let span = span_of_first(sink, &[&path]);
            sink.warning(
                span,
                &path,
                format!(
                    "escalation policy `{}` has a single level, so an alert nobody acknowledges never reaches anyone else",
                    policy.id
                ),
                Some("add a later level for someone else, e.g. `{ after = \"15m\", notify = [\"project_manager\"], channels = [\"email\"] }`".to_string()),
            );
        }
    }
}

/// A channel no level and no fallback names is never used.
fn unused_channel(plan: &Plan, sink: &mut Sink<'_>) {
    for (index, channel) in plan.alerting.channels.iter().enumerate() {
        let in_level = plan.alerting.policies.iter().any(|policy| {
            policy
                .levels
                .iter()
                .any(|level| level.channels.contains(&channel.id))
        });
        let fallback = plan.alerting.fallback_channel.as_deref() == Some(channel.id.as_str());
        let watchdog = plan
            .heartbeat
            .as_ref()
            .is_some_and(|heartbeat| heartbeat.alertmanager.contains(&channel.id));
        let updates = plan
            .updates
            .as_ref()
            .is_some_and(|updates| updates.channels.contains(&channel.id));
        if !in_level && !fallback && !watchdog && !updates {
            let path = format!("channels[{index}].id");
            let span = span_of_first(sink, &[&path]);
            sink.warning(
                span,
                &path,
                format!("channel `{}` is not used by any escalation level", channel.id),
                Some("add it to a level's `channels`, name it as `[alerting] fallback_channel`, or remove it".to_string()),
            );
        }
    }
}

/// The roles the go-live guide says belong on the call.
const KEY_ROLES: [crate::domain::Role; 6] = [
    crate::domain::Role::ProjectManager,
    crate::domain::Role::DevLead,
    crate::domain::Role::OpsLead,
    crate::domain::Role::QaLead,
    crate::domain::Role::SupportLead,
    crate::domain::Role::Business,
];

/// "The wrong people": a key role of the go-live call that nobody holds.
fn missing_key_roles(plan: &Plan, sink: &mut Sink<'_>) {
    let missing: Vec<&str> = KEY_ROLES
        .iter()
        .filter(|role| !plan.people.iter().any(|person| person.role == **role))
        .map(|role| role.as_str())
        .collect();
    if missing.is_empty() {
        return;
    }
    let span = span_of_first(sink, &["people"]);
    sink.warning(
        span,
        "people",
        format!(
            "nobody holds the role{} {} that a go-live call needs",
            if missing.len() == 1 { "" } else { "s" },
            missing
                .iter()
                .map(|role| format!("`{role}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Some(
            "add a `[[people]]` entry for each, or give the role to someone who is on the call"
                .to_string(),
        ),
    );
}

/// "No preparation": nothing was thought through that could go wrong.
fn no_risks(plan: &Plan, sink: &mut Sink<'_>) {
    if plan.risks.is_empty() {
        sink.warning(
            span_of_first(sink, &["risks"]),
            "risks",
            "there are no risks, so no alert carries a contingency plan",
            Some("add `[[risks]]` (id, title, likelihood, impact, contingency, owner) for what could go wrong".to_string()),
        );
    }
}

/// Nobody can be told anything.
fn no_channels(plan: &Plan, sink: &mut Sink<'_>) {
    if plan.alerting.channels.is_empty() {
        sink.warning(
            span_of_first(sink, &["channels"]),
            "channels",
            "there is no communication channel, so alerts reach nobody",
            Some("add `[[channels]]` (an `email` channel needs no more set-up; without `[smtp]` it writes .eml files)".to_string()),
        );
    }
}

/// A level that names only roles nobody holds notifies nobody.
fn level_notifying_nobody(plan: &Plan, sink: &mut Sink<'_>) {
    use super::alerting::Recipient;
    for (policy_index, policy) in plan.alerting.policies.iter().enumerate() {
        for (level_index, level) in policy.levels.iter().enumerate() {
            let reaches_someone = level.notify.iter().any(|recipient| match recipient {
                Recipient::Person(_) | Recipient::Address(_) => true,
                Recipient::Role(role) => plan.people.iter().any(|person| person.role == *role),
            });
            if !reaches_someone {
                let path = format!("escalation[{policy_index}].levels[{level_index}].notify");
                let span = span_of_first(
                    sink,
                    &[&path, &format!("escalation[{policy_index}].levels")],
                );
                sink.warning(
                    span,
                    &path,
                    format!(
                        "level {} of escalation policy `{}` notifies nobody: no one holds the roles it names",
                        level_index + 1,
                        policy.id
                    ),
                    Some("name a person, or give someone the role in `[[people]]`".to_string()),
                );
            }
        }
    }
}

/// Acknowledgement links in emails point at `alerting.public_url`, else at the listen address. A
/// loopback or wildcard listen address makes links nobody on a phone can open. A port chosen at
/// start (`:0`) is left out: such a plan runs on one machine (the demo), where the links work.
fn ack_links_on_a_local_address(plan: &Plan, sink: &mut Sink<'_>) {
    use super::alerting::ChannelKind;
    let emails = plan
        .alerting
        .channels
        .iter()
        .any(|channel| matches!(channel.kind, ChannelKind::Email { .. }));
    let listen = plan.server.listen;
    let local = listen.ip().is_loopback() || listen.ip().is_unspecified();
    if !emails || plan.alerting.public_url.is_some() || !local || listen.port() == 0 {
        return;
    }
    sink.warning(
        span_of_first(sink, &["alerting", "server.listen", "server"]),
        "alerting.public_url",
        format!(
            "acknowledgement links in emails would point at {}, which nobody can open from a phone",
            if listen.ip().is_unspecified() {
                format!("the wildcard address `{listen}`")
            } else {
                format!("the loopback address `{listen}`")
            }
        ),
        Some("set `[alerting]` `public_url` to the address people reach golive at, e.g. `public_url = \"https://golive.shop.example\"`".to_string()),
    );
}
