//! The launch lifecycle: phases, the gates between them, forced transitions and the automatic
//! end of hypercare. Pure functions of (state, plan, request, now).

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Serialize;

use crate::core::health::Health;
use crate::domain::{Owner, Phase};
use crate::plan::Plan;

/// What the gate knows about each check: its health and, when it is not healthy, why. Checks
/// missing from the map have not been probed yet (unknown).
pub type CheckHealthMap = BTreeMap<String, GateCheck>;

/// A check's health as the gate sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateCheck {
    pub health: Health,
    /// The latest probe's reason.
    pub reason: Option<String>,
    /// When its health last changed (the release gate's soak starts no earlier: a failure that
    /// came and went between two of its polls still counts).
    pub changed_at: Option<Timestamp>,
}

/// The durable state of the launch that the lifecycle rules read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LaunchState {
    /// The current phase.
    pub phase: Phase,
    /// When the current phase began.
    pub phase_since: Timestamp,
    /// Confirmed checklist items by id.
    pub confirmations: BTreeMap<String, Confirmation>,
}

impl LaunchState {
    /// The state of a launch nobody has touched yet.
    pub fn new(now: Timestamp) -> Self {
        LaunchState {
            phase: Phase::Planned,
            phase_since: now,
            confirmations: BTreeMap::new(),
        }
    }
}

/// Who confirmed a checklist item, when, and what they said.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Confirmation {
    pub by: String,
    pub at: Timestamp,
    pub note: Option<String>,
}

/// Where a phase change wants to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhaseRequest {
    /// To the phase after the current one.
    Advance,
    /// To a named phase (must be the next one, or `rolled_back`).
    To(Phase),
}

/// A request to change the phase.
#[derive(Debug, Clone, PartialEq)]
pub struct TransitionRequest {
    pub target: PhaseRequest,
    /// Override the gate's blockers; needs a reason.
    pub force: bool,
    pub reason: Option<String>,
    pub author: String,
    /// The pipeline run asking (`golive phase set --run-id`), recorded in the change's log entry
    /// so the same run repeating it is told from a new request.
    pub run_id: Option<String>,
}

/// A phase change that the rules allowed, ready to be recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transition {
    pub from: Phase,
    pub to: Phase,
    pub at: Timestamp,
    pub author: String,
    pub reason: Option<String>,
    /// Whether blockers were overridden.
    pub forced: bool,
    /// The blockers a forced transition overrode (empty otherwise).
    pub overridden: Vec<Blocker>,
}

/// Something that stands in the way of leaving a phase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Blocker {
    /// What kind of gate: `checklist`, `check` or `runbook_step`.
    pub kind: std::borrow::Cow<'static, str>,
    pub id: String,
    /// A sentence a person can act on.
    pub message: String,
    /// Who can clear it, when known.
    pub owner: Option<String>,
}

/// Why a phase change was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    /// The gate has blockers; a forced transition with a reason would override them.
    #[error("cannot leave {from} for {to}: {} blocker(s) remain", blockers.len())]
    Blocked {
        from: Phase,
        to: Phase,
        blockers: Vec<Blocker>,
    },
    /// The move is against the lifecycle (skip, backwards, out of a terminal phase); force does
    /// not help.
    #[error("{explanation}")]
    NotAllowed {
        from: Phase,
        to: Option<Phase>,
        explanation: String,
    },
    /// A forced transition or a rollback was asked for without a reason.
    #[error("{0}")]
    ReasonRequired(String),
}

/// Decides whether `request` may change the phase now. On success the caller records the returned
/// transition; nothing else changes state.
pub fn request_transition(
    plan: &Plan,
    state: &LaunchState,
    checks: &CheckHealthMap,
    request: &TransitionRequest,
    now: Timestamp,
) -> Result<Transition, Refusal> {
    let from = state.phase;
    let reason = request
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|reason| !reason.is_empty())
        .map(str::to_string);
    let to = match request.target {
        PhaseRequest::Advance => from.next().ok_or_else(|| Refusal::NotAllowed {
            from,
            to: None,
            explanation: format!("the launch is {from}, a final phase: nothing comes after it"),
        })?,
        PhaseRequest::To(to) => {
            check_allowed_move(from, to)?;
            to
        }
    };
    if to == Phase::RolledBack {
        // A rollback is a decision, never a gate question: it is always allowed from the phases
        // that permit it, and always needs a recorded reason.
        if reason.is_none() {
            return Err(Refusal::ReasonRequired(
                "a rollback needs a reason: say why the launch is being rolled back".to_string(),
            ));
        }
        return Ok(Transition {
            from,
            to,
            at: now,
            author: request.author.clone(),
            reason,
            forced: false,
            overridden: Vec::new(),
        });
    }
    let blockers = blockers_leaving(plan, state, checks, from);
    if request.force && reason.is_none() {
        return Err(Refusal::ReasonRequired(
            "a forced transition needs a reason: say why the gate is being overridden".to_string(),
        ));
    }
    if !blockers.is_empty() && !request.force {
        return Err(Refusal::Blocked { from, to, blockers });
    }
    Ok(Transition {
        from,
        to,
        at: now,
        author: request.author.clone(),
        reason,
        forced: request.force && !blockers.is_empty(),
        overridden: if request.force { blockers } else { Vec::new() },
    })
}

/// Refuses moves the lifecycle never allows, with an explanation.
fn check_allowed_move(from: Phase, to: Phase) -> Result<(), Refusal> {
    let refuse = |explanation: String| Refusal::NotAllowed {
        from,
        to: Some(to),
        explanation,
    };
    if from.is_terminal() {
        return Err(refuse(format!(
            "the launch is {from}, a final phase: it cannot move to {to}"
        )));
    }
    if to == from {
        return Err(refuse(format!("the launch is already {from}")));
    }
    if to == Phase::RolledBack {
        return if from.can_roll_back() {
            Ok(())
        } else {
            Err(refuse(format!(
                "a launch can be rolled back only while deploying, verifying or in hypercare; it is {from}"
            )))
        };
    }
    if Some(to) == from.next() {
        return Ok(());
    }
    let next = from
        .next()
        .map_or(String::new(), |next| format!("; the next phase is {next}"));
    if to < from {
        Err(refuse(format!(
            "phases never go backwards: the launch is {from} and cannot return to {to}{next}"
        )))
    } else {
        Err(refuse(format!(
            "phases cannot be skipped: the launch is {from} and cannot jump to {to}{next}"
        )))
    }
}

/// What stands in the way of leaving `phase`: every required checklist item gating it that is not
/// confirmed yet and, when leaving `go_no_go`, every `gate = true` check that is not healthy.
pub fn blockers_leaving(
    plan: &Plan,
    state: &LaunchState,
    checks: &CheckHealthMap,
    phase: Phase,
) -> Vec<Blocker> {
    let mut blockers = checklist_blockers(plan, state, phase);
    if phase == Phase::GoNoGo {
        for check in plan.checks.iter().filter(|check| check.gate) {
            let (health, reason) = checks
                .get(&check.id)
                .map_or((Health::Unknown, None), |gate| {
                    (gate.health, gate.reason.as_deref())
                });
            if health == Health::Healthy {
                continue;
            }
            let why = match (health, reason) {
                (Health::Unknown, None) => "has not been probed yet".to_string(),
                (health, Some(reason)) => format!("is {}: {reason}", health.as_str()),
                (health, None) => format!("is {}", health.as_str()),
            };
            blockers.push(Blocker {
                kind: "check".into(),
                id: check.id.clone(),
                message: format!("gate check `{}` ({}) {why}", check.id, check.name),
                owner: None,
            });
        }
    }
    blockers
}

fn checklist_blockers(plan: &Plan, state: &LaunchState, phase: Phase) -> Vec<Blocker> {
    plan.checklist
        .iter()
        .filter(|item| item.required && item.gates == phase)
        .filter(|item| !state.confirmations.contains_key(&item.id))
        .map(|item| Blocker {
            kind: "checklist".into(),
            id: item.id.clone(),
            message: format!(
                "checklist item `{}` ({}) is not confirmed; owner: {}",
                item.id,
                item.title,
                owner_label(plan, &item.owner)
            ),
            owner: Some(item.owner.to_string()),
        })
        .collect()
}

/// A readable name for an owner: the person's name, or the role.
pub fn owner_label(plan: &Plan, owner: &Owner) -> String {
    match owner {
        Owner::Person(id) => plan
            .people
            .iter()
            .find(|person| &person.id == id)
            .map_or_else(
                || id.clone(),
                |person| format!("{} ({})", person.name, person.id),
            ),
        Owner::Role(role) => role.to_string(),
    }
}

/// Whether pipeline run `run_id`, asking again to move the launch to `requested`, finds it moved
/// there by itself already: the launch is in `requested` or further along the normal path (not
/// rolled back, unless that was asked), this run made a change into `requested`, and every
/// change since was this run's too. `changes` are the phase changes, newest first: (to, run id).
/// A re-run CI job starts from its first command, so `phase set deploying` after the run moved
/// on to `verifying` must succeed without a change, as a repeated step change does.
pub fn already_moved_by_run(
    requested: Phase,
    current: Phase,
    changes: &[(Phase, Option<&str>)],
    run_id: &str,
) -> bool {
    let further = current == requested
        || (current != Phase::RolledBack && current != Phase::Closed && current > requested);
    if !further {
        return false;
    }
    for (to, by) in changes {
        if *by != Some(run_id) {
            return false;
        }
        if *to == requested {
            return true;
        }
    }
    false
}

/// The automatic transition that is due at `now`, if any: hypercare ends by itself
/// `hypercare_days` after it began (measured from the recorded start, so restarts do not reset it).
pub fn due_transition(plan: &Plan, state: &LaunchState, now: Timestamp) -> Option<Transition> {
    let end = hypercare_end(plan, state)?;
    (now >= end).then(|| Transition {
        from: Phase::Hypercare,
        to: Phase::Closed,
        at: now,
        author: "golive".to_string(),
        reason: Some(format!(
            "hypercare of {} day(s) ended",
            format_days(plan.launch.hypercare_days)
        )),
        forced: false,
        overridden: Vec::new(),
    })
}

/// When hypercare ends, if the launch is in hypercare.
pub fn hypercare_end(plan: &Plan, state: &LaunchState) -> Option<Timestamp> {
    if state.phase != Phase::Hypercare {
        return None;
    }
    state.phase_since.checked_add(plan.launch.hypercare()).ok()
}

fn format_days(days: f64) -> String {
    if days.fract() == 0.0 {
        format!("{days:.0}")
    } else {
        format!("{days}")
    }
}

/// Why a checklist confirmation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfirmError {
    #[error("unknown checklist item `{id}`{}", suggestion.as_ref().map_or(String::new(), |s| format!("; did you mean `{s}`?")))]
    UnknownItem {
        id: String,
        suggestion: Option<String>,
    },
}

/// What confirming a checklist item does: a new confirmation to record, or nothing when it was
/// already confirmed (confirming twice keeps the first confirmation).
pub fn confirm_item(
    plan: &Plan,
    state: &LaunchState,
    id: &str,
    by: &str,
    note: Option<String>,
    now: Timestamp,
) -> Result<Option<Confirmation>, ConfirmError> {
    if !plan.checklist.iter().any(|item| item.id == id) {
        let suggestion =
            crate::domain::closest(id, plan.checklist.iter().map(|item| item.id.as_str()))
                .map(str::to_string);
        return Err(ConfirmError::UnknownItem {
            id: id.to_string(),
            suggestion,
        });
    }
    if state.confirmations.contains_key(id) {
        return Ok(None);
    }
    Ok(Some(Confirmation {
        by: by.to_string(),
        at: now,
        note: note.filter(|note| !note.trim().is_empty()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::test_support::plan_with_checklist;
    use crate::domain::Role;
    use crate::plan::ChecklistItem;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    fn item(id: &str, required: bool, gates: Phase) -> ChecklistItem {
        ChecklistItem {
            id: id.to_string(),
            title: format!("{id} done"),
            owner: Owner::Role(Role::QaLead),
            required,
            gates,
        }
    }

    fn in_phase(phase: Phase) -> LaunchState {
        LaunchState {
            phase,
            phase_since: at(0),
            confirmations: BTreeMap::new(),
        }
    }

    fn none() -> CheckHealthMap {
        CheckHealthMap::new()
    }

    fn request(target: PhaseRequest) -> TransitionRequest {
        TransitionRequest {
            target,
            force: false,
            reason: None,
            author: "alice".to_string(),
            run_id: None,
        }
    }

    fn forced(target: PhaseRequest, reason: Option<&str>) -> TransitionRequest {
        TransitionRequest {
            force: true,
            reason: reason.map(str::to_string),
            ..request(target)
        }
    }

    #[test]
    fn advance_moves_to_the_next_phase_in_order() {
        let plan = plan_with_checklist(vec![]);
        let mut phase = Phase::Planned;
        for expected in [
            Phase::GoNoGo,
            Phase::Deploying,
            Phase::Verifying,
            Phase::Hypercare,
            Phase::Closed,
        ] {
            let transition = request_transition(
                &plan,
                &in_phase(phase),
                &none(),
                &request(PhaseRequest::Advance),
                at(5),
            )
            .unwrap();
            assert_eq!((transition.from, transition.to), (phase, expected));
            assert_eq!(transition.at, at(5));
            assert!(!transition.forced);
            phase = expected;
        }
    }

    #[test]
    fn leaving_go_no_go_is_refused_while_a_required_item_is_unconfirmed() {
        let plan = plan_with_checklist(vec![
            item("backup", true, Phase::GoNoGo),
            item("docs", false, Phase::GoNoGo),
            item("smoke", true, Phase::Verifying),
        ]);
        let refusal = request_transition(
            &plan,
            &in_phase(Phase::GoNoGo),
            &none(),
            &request(PhaseRequest::Advance),
            at(1),
        )
        .unwrap_err();
        let Refusal::Blocked { from, to, blockers } = refusal else {
            panic!("expected blockers, got {refusal:?}");
        };
        assert_eq!((from, to), (Phase::GoNoGo, Phase::Deploying));
        assert_eq!(
            blockers.len(),
            1,
            "only the required item gating go_no_go blocks"
        );
        assert_eq!(blockers[0].id, "backup");
        assert!(blockers[0].message.contains("not confirmed"));
        assert_eq!(blockers[0].owner.as_deref(), Some("qa_lead"));
    }

    #[test]
    fn confirmed_items_open_the_gate() {
        let plan = plan_with_checklist(vec![item("backup", true, Phase::GoNoGo)]);
        let mut state = in_phase(Phase::GoNoGo);
        let confirmation = confirm_item(&plan, &state, "backup", "carol", Some("ok".into()), at(2))
            .unwrap()
            .unwrap();
        state.confirmations.insert("backup".into(), confirmation);
        let transition = request_transition(
            &plan,
            &state,
            &none(),
            &request(PhaseRequest::Advance),
            at(3),
        )
        .unwrap();
        assert_eq!(transition.to, Phase::Deploying);
    }

    #[test]
    fn items_gate_the_phase_they_name_not_others() {
        let plan = plan_with_checklist(vec![item("smoke", true, Phase::Verifying)]);
        assert!(
            request_transition(
                &plan,
                &in_phase(Phase::GoNoGo),
                &none(),
                &request(PhaseRequest::Advance),
                at(1)
            )
            .is_ok()
        );
        assert!(matches!(
            request_transition(
                &plan,
                &in_phase(Phase::Verifying),
                &none(),
                &request(PhaseRequest::Advance),
                at(1)
            ),
            Err(Refusal::Blocked { .. })
        ));
    }

    #[test]
    fn a_forced_transition_overrides_blockers_and_records_them() {
        let plan = plan_with_checklist(vec![item("backup", true, Phase::GoNoGo)]);
        let transition = request_transition(
            &plan,
            &in_phase(Phase::GoNoGo),
            &none(),
            &forced(PhaseRequest::Advance, Some("backup verified by phone")),
            at(1),
        )
        .unwrap();
        assert!(transition.forced);
        assert_eq!(transition.overridden.len(), 1);
        assert_eq!(
            transition.reason.as_deref(),
            Some("backup verified by phone")
        );
    }

    #[test]
    fn a_forced_transition_without_a_reason_is_refused() {
        let plan = plan_with_checklist(vec![item("backup", true, Phase::GoNoGo)]);
        for reason in [None, Some("   ")] {
            let refusal = request_transition(
                &plan,
                &in_phase(Phase::GoNoGo),
                &none(),
                &forced(PhaseRequest::Advance, reason),
                at(1),
            )
            .unwrap_err();
            assert!(matches!(refusal, Refusal::ReasonRequired(_)), "{refusal:?}");
        }
    }

    #[test]
    fn force_does_not_allow_skipping_or_going_backwards() {
        let plan = plan_with_checklist(vec![]);
        let skip = request_transition(
            &plan,
            &in_phase(Phase::GoNoGo),
            &none(),
            &forced(PhaseRequest::To(Phase::Hypercare), Some("hurry")),
            at(1),
        )
        .unwrap_err();
        let Refusal::NotAllowed { explanation, .. } = skip else {
            panic!("{skip:?}")
        };
        assert!(explanation.contains("cannot be skipped"), "{explanation}");
        assert!(
            explanation.contains("next phase is deploying"),
            "{explanation}"
        );

        let back = request_transition(
            &plan,
            &in_phase(Phase::Verifying),
            &none(),
            &forced(PhaseRequest::To(Phase::Deploying), Some("redo")),
            at(1),
        )
        .unwrap_err();
        let Refusal::NotAllowed { explanation, .. } = back else {
            panic!("{back:?}")
        };
        assert!(explanation.contains("never go backwards"), "{explanation}");
    }

    #[test]
    fn setting_the_current_phase_is_refused() {
        let plan = plan_with_checklist(vec![]);
        let refusal = request_transition(
            &plan,
            &in_phase(Phase::Deploying),
            &none(),
            &request(PhaseRequest::To(Phase::Deploying)),
            at(1),
        )
        .unwrap_err();
        assert!(refusal.to_string().contains("already deploying"));
    }

    #[test]
    fn terminal_phases_cannot_be_left() {
        let plan = plan_with_checklist(vec![]);
        for terminal in [Phase::Closed, Phase::RolledBack] {
            for target in [
                PhaseRequest::Advance,
                PhaseRequest::To(Phase::Hypercare),
                PhaseRequest::To(Phase::RolledBack),
                PhaseRequest::To(Phase::Planned),
            ] {
                let refusal = request_transition(
                    &plan,
                    &in_phase(terminal),
                    &none(),
                    &request(target),
                    at(1),
                )
                .unwrap_err();
                assert!(
                    matches!(refusal, Refusal::NotAllowed { .. }),
                    "{terminal} {target:?}: {refusal:?}"
                );
                assert!(refusal.to_string().contains("final phase"), "{refusal}");
            }
        }
    }

    #[test]
    fn rollback_is_allowed_only_from_deploying_verifying_and_hypercare() {
        let plan = plan_with_checklist(vec![item("backup", true, Phase::Deploying)]);
        let rollback = TransitionRequest {
            reason: Some("payments failing".into()),
            ..request(PhaseRequest::To(Phase::RolledBack))
        };
        for phase in [Phase::Deploying, Phase::Verifying, Phase::Hypercare] {
            let transition =
                request_transition(&plan, &in_phase(phase), &none(), &rollback, at(1)).unwrap();
            assert_eq!(transition.to, Phase::RolledBack, "from {phase}");
        }
        for phase in [Phase::Planned, Phase::GoNoGo] {
            let refusal =
                request_transition(&plan, &in_phase(phase), &none(), &rollback, at(1)).unwrap_err();
            assert!(
                refusal.to_string().contains("only while deploying"),
                "{refusal}"
            );
        }
    }

    #[test]
    fn rollback_needs_a_reason() {
        let plan = plan_with_checklist(vec![]);
        let refusal = request_transition(
            &plan,
            &in_phase(Phase::Verifying),
            &none(),
            &request(PhaseRequest::To(Phase::RolledBack)),
            at(1),
        )
        .unwrap_err();
        assert!(matches!(refusal, Refusal::ReasonRequired(_)));
    }

    #[test]
    fn a_gate_check_blocks_leaving_go_no_go_until_it_is_healthy() {
        let mut plan = plan_with_checklist(vec![]);
        let mut check = crate::core::test_support::tcp_check(2, 1);
        check.gate = true;
        plan.checks.push(check);
        let state = in_phase(Phase::GoNoGo);
        let refusal = request_transition(
            &plan,
            &state,
            &none(),
            &request(PhaseRequest::Advance),
            at(1),
        )
        .unwrap_err();
        let Refusal::Blocked { blockers, .. } = refusal else {
            panic!("{refusal:?}")
        };
        assert_eq!(blockers[0].kind, "check");
        assert!(
            blockers[0].message.contains("has not been probed yet"),
            "{}",
            blockers[0].message
        );

        let mut checks = none();
        checks.insert(
            "db".into(),
            GateCheck {
                health: Health::Failing,
                reason: Some("connection refused".into()),
                changed_at: None,
            },
        );
        let refusal = request_transition(
            &plan,
            &state,
            &checks,
            &request(PhaseRequest::Advance),
            at(1),
        )
        .unwrap_err();
        let Refusal::Blocked { blockers, .. } = refusal else {
            panic!("{refusal:?}")
        };
        assert!(
            blockers[0]
                .message
                .contains("is failing: connection refused"),
            "{}",
            blockers[0].message
        );

        checks.insert(
            "db".into(),
            GateCheck {
                health: Health::Healthy,
                reason: None,
                changed_at: None,
            },
        );
        assert!(
            request_transition(
                &plan,
                &state,
                &checks,
                &request(PhaseRequest::Advance),
                at(1)
            )
            .is_ok()
        );
        // The gate only guards go_no_go.
        let deploying = in_phase(Phase::Deploying);
        assert!(
            request_transition(
                &plan,
                &deploying,
                &none(),
                &request(PhaseRequest::Advance),
                at(1)
            )
            .is_ok()
        );
    }

    #[test]
    fn hypercare_closes_by_itself_when_its_days_have_passed_since_it_began() {
        let plan = plan_with_checklist(vec![]); // hypercare_days = 14
        let state = in_phase(Phase::Hypercare);
        let fourteen_days = 14 * 86_400;
        assert_eq!(due_transition(&plan, &state, at(fourteen_days - 1)), None);
        let transition = due_transition(&plan, &state, at(fourteen_days)).unwrap();
        assert_eq!(
            (transition.from, transition.to),
            (Phase::Hypercare, Phase::Closed)
        );
        assert_eq!(transition.author, "golive");
        assert!(transition.reason.unwrap().contains("14 day"));
    }

    #[test]
    fn no_automatic_transition_outside_hypercare() {
        let plan = plan_with_checklist(vec![]);
        for phase in Phase::ALL
            .into_iter()
            .filter(|phase| *phase != Phase::Hypercare)
        {
            assert_eq!(
                due_transition(&plan, &in_phase(phase), at(100 * 86_400)),
                None
            );
        }
    }

    #[test]
    fn confirming_an_unknown_item_suggests_the_near_id() {
        let plan = plan_with_checklist(vec![item("db-backup", true, Phase::GoNoGo)]);
        let error = confirm_item(
            &plan,
            &in_phase(Phase::GoNoGo),
            "db-bakup",
            "bob",
            None,
            at(1),
        )
        .unwrap_err();
        assert!(
            error.to_string().contains("did you mean `db-backup`"),
            "{error}"
        );
    }

    #[test]
    fn confirming_twice_keeps_the_first_confirmation() {
        let plan = plan_with_checklist(vec![item("backup", true, Phase::GoNoGo)]);
        let mut state = in_phase(Phase::GoNoGo);
        let first = confirm_item(&plan, &state, "backup", "bob", None, at(1))
            .unwrap()
            .unwrap();
        state.confirmations.insert("backup".into(), first);
        assert_eq!(
            confirm_item(&plan, &state, "backup", "carol", None, at(2)).unwrap(),
            None
        );
    }

    #[test]
    fn a_run_repeating_a_phase_change_finds_it_made_only_when_every_later_change_is_its_own() {
        use Phase::*;
        let run = "github:7";
        let by_run = [(Verifying, Some(run)), (Deploying, Some(run))];
        assert!(already_moved_by_run(
            Deploying,
            Deploying,
            &by_run[1..],
            run
        ));
        assert!(already_moved_by_run(Deploying, Verifying, &by_run, run));
        assert!(already_moved_by_run(Verifying, Verifying, &by_run, run));
        // Another run, or a person, moved it since: a new request, refused as before.
        let other = [(Verifying, None), (Deploying, Some(run))];
        assert!(!already_moved_by_run(Deploying, Verifying, &other, run));
        assert!(!already_moved_by_run(
            Deploying,
            Deploying,
            &by_run[1..],
            "github:8"
        ));
        // Rolled back, or never moved there by this run: not a repeat.
        let rolled = [(RolledBack, Some(run)), (Deploying, Some(run))];
        assert!(!already_moved_by_run(Deploying, RolledBack, &rolled, run));
        assert!(already_moved_by_run(RolledBack, RolledBack, &rolled, run));
        assert!(!already_moved_by_run(Hypercare, Verifying, &by_run, run));
    }
}
