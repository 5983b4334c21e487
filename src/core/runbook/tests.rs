use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use super::*;
use crate::core::test_support::plan_with_checklist;
use crate::domain::{Owner, Role};
use crate::plan::runbook::{PlannedStart, Runbook, RunbookStep};

fn step(id: &str, offset_minutes: i64, minutes: u64, depends_on: &[&str]) -> RunbookStep {
    let go_live = Timestamp::from_second(1_800_000_000).unwrap_or_default();
    let offset = SignedDuration::from_mins(offset_minutes);
    RunbookStep {
        id: id.into(),
        title: format!("Step {id}"),
        owner: Owner::Role(Role::OpsLead),
        start: PlannedStart::Offset(offset),
        planned_start: go_live.checked_add(offset).unwrap_or(go_live),
        duration: Duration::from_secs(minutes * 60),
        phase: Phase::Deploying,
        depends_on: depends_on.iter().map(|id| id.to_string()).collect(),
        rollback_point: false,
        rollback_procedure: None,
        verify: vec![],
    }
}

fn plan() -> Plan {
    let mut plan = plan_with_checklist(vec![]);
    plan.rollback.procedure = "Redeploy 1.9".into();
    let mut migrate = step("migrate", 10, 10, &["freeze"]);
    migrate.rollback_point = true;
    migrate.rollback_procedure = Some("Restore the snapshot, then redeploy 1.9".into());
    plan.runbook = Runbook {
        grace: Duration::from_secs(300),
        escalate_after: Duration::from_secs(600),
        steps: vec![
            step("freeze", 0, 10, &[]),
            migrate,
            step("deploy", 20, 15, &["migrate"]),
        ],
    };
    plan
}

fn at(minutes: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + minutes * 60).unwrap_or_default()
}

fn request(step: &str, action: StepAction) -> StepRequest {
    StepRequest {
        step: step.into(),
        action,
        force: false,
        reason: None,
        author: "aylin".into(),
        run_id: None,
    }
}

fn record(records: &mut StepRecords, change: StepChange) {
    records.insert(change.step.clone(), change.record);
}

/// Applies a request that must be accepted and records it.
fn run(plan: &Plan, records: &mut StepRecords, request: &StepRequest, now: Timestamp) {
    let change = apply(plan, records, request, now).unwrap();
    record(records, change);
}

#[test]
fn steps_run_in_order_and_record_who_did_what_when() {
    let plan = plan();
    let mut records = StepRecords::new();
    let started = apply(
        &plan,
        &records,
        &request("freeze", StepAction::Start),
        at(1),
    )
    .unwrap();
    assert_eq!(
        (started.from, started.to),
        (StepState::Pending, StepState::Running)
    );
    record(&mut records, started);
    let done = apply(&plan, &records, &request("freeze", StepAction::Done), at(9)).unwrap();
    assert_eq!(done.record.started_at, Some(at(1)));
    assert_eq!(done.record.finished_at, Some(at(9)));
    assert_eq!(done.record.finished_by.as_deref(), Some("aylin"));
    record(&mut records, done);
    let migrate = apply(
        &plan,
        &records,
        &request("migrate", StepAction::Start),
        at(10),
    )
    .unwrap();
    assert!(!migrate.forced);
}

#[test]
fn a_step_cannot_start_before_its_dependencies_unless_forced_with_a_reason() {
    let plan = plan();
    let records = StepRecords::new();
    let refused = apply(
        &plan,
        &records,
        &request("migrate", StepAction::Start),
        at(10),
    );
    let Err(StepRefusal::Blocked { blockers, .. }) = refused else {
        panic!("expected blockers, got {refused:?}");
    };
    assert_eq!(blockers.len(), 1);
    assert_eq!(blockers[0].id, "freeze");
    assert_eq!(blockers[0].owner.as_deref(), Some("ops_lead"));
    assert!(
        blockers[0].message.contains("is pending"),
        "{}",
        blockers[0].message
    );

    let mut forced = request("migrate", StepAction::Start);
    forced.force = true;
    assert!(matches!(
        apply(&plan, &records, &forced, at(10)),
        Err(StepRefusal::ReasonRequired(_))
    ));
    forced.reason = Some("freeze done by hand".into());
    let change = apply(&plan, &records, &forced, at(10)).unwrap();
    assert!(change.forced);
    assert_eq!(change.overridden.len(), 1);
    assert_eq!(change.record.reason.as_deref(), Some("freeze done by hand"));
}

#[test]
fn a_skipped_dependency_clears_the_way() {
    let plan = plan();
    let mut records = StepRecords::new();
    let mut skip = request("freeze", StepAction::Skip);
    assert!(matches!(
        apply(&plan, &records, &skip, at(0)),
        Err(StepRefusal::ReasonRequired(_))
    ));
    skip.reason = Some("no writes to freeze".into());
    run(&plan, &mut records, &skip, at(0));
    assert!(
        apply(
            &plan,
            &records,
            &request("migrate", StepAction::Start),
            at(10)
        )
        .is_ok()
    );
}

#[test]
fn changes_that_do_not_fit_the_state_are_refused() {
    let plan = plan();
    let mut records = StepRecords::new();
    assert!(matches!(
        apply(&plan, &records, &request("freeze", StepAction::Done), at(0)),
        Err(StepRefusal::NotAllowed(_))
    ));
    assert!(matches!(
        apply(&plan, &records, &request("frezee", StepAction::Start), at(0)),
        Err(StepRefusal::UnknownStep(message)) if message.contains("did you mean `freeze`")
    ));
    run(
        &plan,
        &mut records,
        &request("freeze", StepAction::Start),
        at(0),
    );
    assert!(matches!(
        apply(
            &plan,
            &records,
            &request("freeze", StepAction::Start),
            at(1)
        ),
        Err(StepRefusal::NotAllowed(_))
    ));
    assert!(matches!(
        apply(&plan, &records, &request("freeze", StepAction::Fail), at(1)),
        Err(StepRefusal::ReasonRequired(_))
    ));
    let mut fail = request("freeze", StepAction::Fail);
    fail.reason = Some("lock timeout".into());
    run(&plan, &mut records, &fail, at(2));
    // A failed step may be retried.
    let retry = apply(
        &plan,
        &records,
        &request("freeze", StepAction::Start),
        at(3),
    )
    .unwrap();
    assert_eq!(retry.from, StepState::Failed);
    assert_eq!(retry.record.finished_at, None);
}

#[test]
fn a_pending_step_is_late_after_the_grace_period_once_its_phase_has_begun() {
    let plan = plan();
    let records = StepRecords::new();
    assert!(warnings(&plan, &records, Phase::GoNoGo, |_, _| None).is_empty());
    // The project manager's warning is not due before the owner's went out.
    let due = warnings(&plan, &records, Phase::Deploying, |_, _| None);
    let freeze: Vec<_> = due
        .iter()
        .filter(|warning| warning.step == "freeze")
        .collect();
    assert_eq!(freeze.len(), 1);
    assert_eq!((freeze[0].level, freeze[0].due), (1, at(5)));
    let due = warnings(&plan, &records, Phase::Deploying, |_, _| Some(at(5)));
    let freeze: Vec<_> = due
        .iter()
        .filter(|warning| warning.step == "freeze")
        .collect();
    assert_eq!((freeze[1].level, freeze[1].due), (2, at(15)));
    assert_eq!(freeze[0].kind, LateKind::NotStarted);
    assert!(warnings(&plan, &records, Phase::RolledBack, |_, _| None).is_empty());
    let freeze_step = &plan.runbook.steps[0];
    assert_eq!(
        late_by(freeze_step, &StepRecord::default(), Phase::Deploying, at(7)),
        Duration::from_secs(7 * 60)
    );
}

#[test]
fn a_running_step_is_late_past_its_expected_duration() {
    let plan = plan();
    let mut records = StepRecords::new();
    run(
        &plan,
        &mut records,
        &request("freeze", StepAction::Start),
        at(3),
    );
    let due = warnings(&plan, &records, Phase::Deploying, |_, _| Some(at(18)));
    let freeze: Vec<_> = due
        .iter()
        .filter(|warning| warning.step == "freeze")
        .collect();
    assert_eq!(freeze[0].kind, LateKind::Overrunning);
    // Started at +3 for 10 minutes: expected end +13, owner at +18, project manager at +28.
    assert_eq!((freeze[0].due, freeze[1].due), (at(18), at(28)));
    run(
        &plan,
        &mut records,
        &request("freeze", StepAction::Done),
        at(20),
    );
    assert!(
        warnings(&plan, &records, Phase::Deploying, |_, _| None)
            .iter()
            .all(|warning| warning.step != "freeze")
    );
}

#[test]
fn the_rollback_procedure_changes_once_a_rollback_point_is_done() {
    let plan = plan();
    let mut records = StepRecords::new();
    assert_eq!(applicable_rollback(&plan, &records), (None, "Redeploy 1.9"));
    let mut forced = request("migrate", StepAction::Start);
    forced.force = true;
    forced.reason = Some("test".into());
    run(&plan, &mut records, &forced, at(10));
    // Running is not passed: the migration may not have changed anything yet.
    assert_eq!(applicable_rollback(&plan, &records).0, None);
    run(
        &plan,
        &mut records,
        &request("migrate", StepAction::Done),
        at(19),
    );
    assert_eq!(
        applicable_rollback(&plan, &records),
        (Some("migrate"), "Restore the snapshot, then redeploy 1.9")
    );
}

#[test]
fn the_view_shows_plan_and_actual_side_by_side() {
    let plan = plan();
    let mut records = StepRecords::new();
    run(
        &plan,
        &mut records,
        &request("freeze", StepAction::Start),
        at(2),
    );
    let view = view(&plan, &records, Phase::Deploying, at(20));
    assert_eq!(view.len(), 3);
    assert_eq!(view[0].planned, "+00:00");
    assert_eq!(view[0].record.state, StepState::Running);
    assert_eq!(view[0].late_seconds, 8 * 60);
    assert_eq!(view[1].blocked_by, ["freeze"]);
    assert_eq!(view[2].planned_end, at(35));
}

#[test]
fn the_project_manager_hears_a_period_after_the_owner_was_actually_warned() {
    let plan = plan();
    let records = StepRecords::new();
    // The owner's warning for `freeze` went out late (at +40, e.g. the launch reached `deploying`
    // late): the project manager is due 10 minutes after that, not at once.
    let due = warnings(&plan, &records, Phase::Deploying, |step, kind| {
        (step == "freeze" && kind == LateKind::NotStarted).then_some(at(40))
    });
    let level_two = due
        .iter()
        .find(|warning| warning.step == "freeze" && warning.level == 2)
        .unwrap();
    assert_eq!(level_two.due, at(50));
}

#[test]
fn a_repeated_change_finds_the_step_where_it_leads_or_further_along_for_a_start() {
    use StepAction::{Done, Fail, Skip, Start};
    use StepState::{Done as IsDone, Failed, Pending, Running, Skipped};
    let reached: Vec<(StepAction, StepState)> = [Start, Done, Fail, Skip]
        .into_iter()
        .flat_map(|action| {
            [Pending, Running, IsDone, Skipped, Failed]
                .into_iter()
                .filter(move |state| already_reached(action, *state))
                .map(move |state| (action, state))
        })
        .collect();
    assert_eq!(
        reached,
        [
            (Start, Running),
            (Start, IsDone),
            (Done, IsDone),
            (Fail, Failed),
            (Skip, Skipped)
        ]
    );
}
