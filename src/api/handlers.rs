//! Route handlers. Each one parses its input, calls the engine (writes) or a reader (reads), and
//! shapes the answer.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::auth::Writer;
use super::body::JsonBody;
use super::error::ApiError;
use super::params::{ApiPath, ApiQuery};
use super::standby_reads::Reads;
use crate::core::actions::{ActionStatus, is_overdue};
use crate::core::health::Health;
use crate::core::lifecycle::{blockers_leaving, hypercare_end, owner_label};
use crate::core::log::data::PhaseChange;
use crate::core::log::{LogEntry, LogKind};
use crate::core::{PhaseRequest, TransitionRequest};
use crate::domain::Phase;
use crate::engine::{ActionChange, EngineError};
use crate::plan::SecretSource;
use crate::store::{LogQuery, Reader};
use crate::wire;

/// The longest author name accepted.
const AUTHOR_MAX: usize = 100;
/// The longest text accepted for a log entry, title or note.
const TEXT_MAX: usize = 16 * 1024;

/// The author of a write: the `author` field when given, else the token's name.
pub(super) fn author(given: Option<String>, writer: &Writer) -> Result<String, ApiError> {
    match given.map(|author| author.trim().to_string()) {
        Some(author) if author.chars().count() > AUTHOR_MAX => Err(ApiError::field(
            "author",
            format!("the author is longer than {AUTHOR_MAX} characters"),
        )),
        Some(author) if !author.is_empty() => Ok(author),
        _ => Ok(writer.0.clone()),
    }
}

fn check_length(field: &'static str, text: Option<&str>) -> Result<(), ApiError> {
    match text {
        Some(text) if text.len() > TEXT_MAX => Err(ApiError::field(
            field,
            format!("`{field}` is longer than {} KiB", TEXT_MAX / 1024),
        )),
        _ => Ok(()),
    }
}

/// Runs a read against the store off the async workers (the active's reader, or a standby's:
/// [`Reads::on_reader`]).
pub(super) async fn read<S: Reads, T: Send + 'static>(
    state: &S,
    work: impl FnOnce(&Reader) -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let state = state.clone();
    let joined = tokio::task::spawn_blocking(move || state.on_reader(work)).await;
    joined.map_err(|error| ApiError::internal(&error))?
}

pub async fn healthz() -> &'static str {
    "ok\n"
}

pub async fn readyz(State(state): State<AppState>) -> Response {
    match read(&state, |reader| reader.state()).await {
        Ok(_) => (StatusCode::OK, "ready\n").into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "store not readable\n").into_response(),
    }
}

pub async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let snapshot = state.engine.snapshot();
    state
        .metrics
        .observe(&state.plan(), &snapshot, state.clock.now());
    let text = state
        .metrics
        .encode()
        .map_err(|error| ApiError::internal(&error))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

pub async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint; the API lives under /api/v1 (see docs/api.md)")
}

pub async fn method_not_allowed(method: axum::http::Method) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("this endpoint does not answer {method}; see the endpoint table in docs/api.md"),
    )
}

fn seconds_between(later: Timestamp, earlier: Timestamp) -> i64 {
    later.duration_since(earlier).as_secs()
}

fn checklist_items(
    plan: &crate::plan::Plan,
    snapshot: &crate::core::snapshot::Snapshot,
) -> Vec<wire::ChecklistItem> {
    plan.checklist
        .iter()
        .map(|item| {
            let confirmation = snapshot.state.confirmations.get(&item.id);
            wire::ChecklistItem {
                id: item.id.clone(),
                title: item.title.clone(),
                owner: item.owner.to_string(),
                owner_label: owner_label(plan, &item.owner),
                required: item.required,
                gates: super::answers::name(&item.gates),
                confirmed: confirmation.is_some(),
                confirmed_by: confirmation.map(|c| c.by.clone()),
                confirmed_at: confirmation.map(|c| c.at),
                note: confirmation.and_then(|c| c.note.clone()),
            }
        })
        .collect()
}

pub async fn status(State(state): State<AppState>) -> Result<Json<wire::Status>, ApiError> {
    let snapshot = state.engine.snapshot();
    let now = state.clock.now();
    let phase_since = snapshot.state.phase_since;
    // The open alerts are live state, as the engine published them; the phase's resolved
    // alerts (for when the last critical one was resolved) are read from the store.
    let open_alerts = &snapshot.open_alerts[..snapshot.open_alerts.len().min(OPEN_ALERTS_MAX)];
    let alerts_in_phase = read(&state, move |reader| {
        reader.alerts_between(phase_since, now)
    })
    .await?;
    let plan = &state.plan();
    let launch_state = &snapshot.state;
    let confirmed = plan
        .checklist
        .iter()
        .filter(|item| launch_state.confirmations.contains_key(&item.id))
        .count();
    let required = plan.checklist.iter().filter(|item| item.required).count();
    let required_confirmed = plan
        .checklist
        .iter()
        .filter(|item| item.required && launch_state.confirmations.contains_key(&item.id))
        .count();
    let today = now.to_zoned_datetime(plan.launch.timezone.clone()).date();
    let health_count = |health: Health| {
        snapshot
            .checks
            .values()
            .filter(|gate| gate.health == health)
            .count()
    };
    let count = |status: ActionStatus| {
        snapshot
            .actions
            .iter()
            .filter(|item| item.status == status)
            .count()
    };
    let overdue = snapshot
        .actions
        .iter()
        .filter(|item| is_overdue(item, today))
        .count();
    let healthy = health_count(Health::Healthy);
    let failing = health_count(Health::Failing);
    Ok(Json(wire::Status {
        launch: wire::LaunchSummary {
            name: plan.launch.name.clone(),
            timezone: plan.launch.timezone_name.clone(),
            go_live: plan.launch.go_live,
            hypercare_days: plan.launch.hypercare_days,
        },
        phase: super::answers::name(&launch_state.phase),
        phase_since: launch_state.phase_since,
        time_in_phase_seconds: seconds_between(now, launch_state.phase_since),
        go_live_in_seconds: seconds_between(plan.launch.go_live, now),
        next_phase: launch_state
            .phase
            .next()
            .map(|phase| super::answers::name(&phase)),
        hypercare_ends_at: hypercare_end(plan, launch_state),
        blockers: blockers_leaving(plan, launch_state, &snapshot.checks, launch_state.phase)
            .iter()
            .map(wire::Blocker::from)
            .collect(),
        checks: wire::CheckCounts {
            total: plan.checks.len(),
            healthy,
            failing,
            unknown: plan.checks.len() - healthy - failing,
            failing_ids: plan
                .checks
                .iter()
                .filter_map(|check| {
                    let gate = snapshot.checks.get(&check.id)?;
                    (gate.health == Health::Failing).then(|| wire::FailingCheck {
                        id: check.id.clone(),
                        reason: gate.reason.clone(),
                    })
                })
                .collect(),
        },
        checklist: wire::ChecklistSummary {
            total: plan.checklist.len(),
            confirmed,
            required,
            required_confirmed,
            items: checklist_items(plan, &snapshot),
        },
        actions: wire::ActionCounts {
            open: count(ActionStatus::Open),
            done: count(ActionStatus::Done),
            dropped: count(ActionStatus::Dropped),
            overdue,
            open_items: snapshot
                .actions
                .iter()
                .filter(|item| item.status == ActionStatus::Open)
                .map(wire::ActionItem::from)
                .collect(),
        },
        now,
        verification: Some(verification(plan, &snapshot, open_alerts, &alerts_in_phase)),
    }))
}

/// The most open alerts the status answer's `verification` looks at (newest first).
const OPEN_ALERTS_MAX: usize = 1000;

/// The release gate's view: gate and critical checks with their health, open critical alerts,
/// the open alerts that meet the plan's rollback criteria in the current phase, and when the
/// latest critical alert of the phase (`alerts_in_phase`) was resolved.
fn verification(
    plan: &crate::plan::Plan,
    snapshot: &crate::core::snapshot::Snapshot,
    open_alerts: &[crate::core::alert::Alert],
    alerts_in_phase: &[crate::core::alert::Alert],
) -> wire::Verification {
    use crate::plan::checks::Severity;
    let brief = |alert: &crate::core::alert::Alert| wire::AlertBrief {
        id: alert.id,
        title: alert.title.clone(),
        severity: alert.severity.as_str().to_string(),
        reason: alert.reason.clone(),
    };
    let checks = plan
        .checks
        .iter()
        .filter(|check| check.gate || check.severity == Severity::Critical)
        // A check not probed in this phase stays unknown: it cannot hold the gate.
        .filter(|check| check.phases.contains(&snapshot.phase()))
        .map(|check| {
            let gate = snapshot.checks.get(&check.id);
            wire::GateCheck {
                id: check.id.clone(),
                health: gate
                    .map_or(Health::Unknown, |gate| gate.health)
                    .as_str()
                    .to_string(),
                reason: gate.and_then(|gate| gate.reason.clone()),
                gate: check.gate,
                severity: check.severity.as_str().to_string(),
                changed_at: gate.and_then(|gate| gate.changed_at),
            }
        })
        .collect();
    wire::Verification {
        checks,
        open_critical_alerts: open_alerts
            .iter()
            .filter(|alert| alert.severity == Severity::Critical)
            .map(brief)
            .collect(),
        rollback_criteria_hold: open_alerts
            .iter()
            .filter(|alert| {
                crate::core::alert::rollback_recommended(&plan.rollback, snapshot.phase(), alert)
            })
            .map(brief)
            .collect(),
        critical_alert_resolved_at: alerts_in_phase
            .iter()
            .filter(|alert| alert.severity == Severity::Critical)
            .filter_map(|alert| alert.resolved_at)
            .max(),
    }
}

pub async fn checklist<S: Reads>(
    State(state): State<S>,
) -> Result<Json<wire::Checklist>, ApiError> {
    let snapshot = state.snapshot().await?;
    Ok(Json(wire::Checklist {
        items: checklist_items(&state.plan(), &snapshot),
        timezone: state.plan().launch.timezone_name.clone(),
    }))
}

/// The plan as JSON, with secrets redacted: token sources say where a token comes from, never
/// its value.
pub async fn plan<S: Reads>(State(state): State<S>) -> Json<Value> {
    let plan = &state.plan();
    Json(json!({
        "source": plan.source,
        "launch": {
            "name": plan.launch.name,
            "timezone": plan.launch.timezone_name,
            "go_live": plan.launch.go_live,
            "hypercare_days": plan.launch.hypercare_days,
            "data_dir": plan.launch.data_dir,
        },
        "people": plan.people.iter().map(|person| json!({
            "id": person.id, "name": person.name, "role": person.role,
            "email": person.email, "chat": person.chat,
        })).collect::<Vec<_>>(),
        "checklist": plan.checklist.iter().map(|item| json!({
            "id": item.id, "title": item.title, "owner": item.owner.to_string(),
            "required": item.required, "gates": item.gates,
        })).collect::<Vec<_>>(),
        "risks": plan.risks.iter().map(|risk| json!({
            "id": risk.id, "title": risk.title, "likelihood": risk.likelihood,
            "impact": risk.impact, "contingency": risk.contingency, "owner": risk.owner.to_string(),
            "checks": risk.checks,
            "alertmanager": risk.alertmanager.iter().map(|matcher| &matcher.labels).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "rollback": { "procedure": plan.rollback.procedure },
        "server": {
            "listen": plan.server.listen.to_string(),
            "tokens": plan.server.tokens.iter().map(|token| match &token.source {
                SecretSource::Env(variable) => json!({"name": token.name, "env": variable, "value": "[redacted]"}),
                SecretSource::File(path) => json!({"name": token.name, "file": path, "value": "[redacted]"}),
            }).collect::<Vec<_>>(),
        },
    }))
}

pub async fn change_phase(
    State(state): State<AppState>,
    writer: Writer,
    JsonBody(body): JsonBody<wire::PhaseChange>,
) -> Result<Json<wire::PhaseChanged>, ApiError> {
    check_length("reason", body.reason.as_deref())?;
    let target = match body.to.as_deref().map(str::trim) {
        None | Some("next") | Some("") => PhaseRequest::Advance,
        Some(name) => PhaseRequest::To(name.parse::<Phase>().map_err(|error| {
            let hint = error
                .suggestion
                .map_or_else(String::new, |near| format!("; did you mean `{near}`?"));
            ApiError::field(
                "to",
                format!(
                    "unknown phase `{name}`{hint} (phases: {})",
                    Phase::names().join(", ")
                ),
            )
        })?),
    };
    let run_id = run_id(body.run_id)?;
    let request = TransitionRequest {
        target,
        force: body.force,
        reason: body.reason,
        author: author(body.author, &writer)?,
        run_id: run_id.clone(),
    };
    match state.engine.transition(request).await {
        Ok(transition) => Ok(Json(wire::PhaseChanged {
            transition: wire::Transition::from(&transition),
            phase: super::answers::name(&transition.to),
            already_recorded: false,
        })),
        // Refused: maybe because this run moved the launch there already (a re-run CI job
        // starts from its first command). Asked after the refusal, as for runbook steps.
        Err(EngineError::Refused(refusal)) => match (target, run_id) {
            (PhaseRequest::To(phase), Some(run_id)) => {
                repeated_transition(&state, phase, run_id, refusal).await
            }
            _ => Err(EngineError::Refused(refusal).into()),
        },
        Err(error) => Err(error.into()),
    }
}

/// How many phase changes are read looking for the one a run repeats (a launch has a handful).
const PHASE_CHANGES_MAX: usize = 200;

/// A move to `phase` the engine refused: success without a new entry when run `run_id` moved the
/// launch there already (`lifecycle::already_moved_by_run`), the refusal otherwise.
async fn repeated_transition(
    state: &AppState,
    phase: Phase,
    run_id: String,
    refusal: crate::core::Refusal,
) -> Result<Json<wire::PhaseChanged>, ApiError> {
    let current = state.engine.snapshot().phase();
    let entries = read(state, |reader| {
        reader.log(&LogQuery {
            kinds: vec![LogKind::Phase],
            before: None,
            after: None,
            limit: PHASE_CHANGES_MAX,
            ascending: false,
        })
    })
    .await?;
    let changes: Vec<(&LogEntry, &PhaseChange)> = entries
        .iter()
        .filter_map(|entry| entry.data.phase().map(|change| (entry, change)))
        .collect();
    let trail: Vec<(Phase, Option<&str>)> = changes
        .iter()
        .map(|(_, change)| (change.to, change.run_id.as_deref()))
        .collect();
    if !crate::core::lifecycle::already_moved_by_run(phase, current, &trail, &run_id) {
        return Err(EngineError::Refused(refusal).into());
    }
    let Some((entry, change)) = changes.into_iter().find(|(_, change)| change.to == phase) else {
        return Err(EngineError::Refused(refusal).into());
    };
    Ok(Json(wire::PhaseChanged {
        transition: wire::Transition {
            from: super::answers::name(&change.from),
            to: super::answers::name(&change.to),
            at: entry.at,
            author: entry.author.clone(),
            reason: change.reason.clone(),
            forced: change.forced,
            overridden: change.overridden.iter().map(wire::Blocker::from).collect(),
        },
        phase: super::answers::name(&current),
        already_recorded: true,
    }))
}

/// The longest run id accepted.
const RUN_ID_MAX: usize = 200;

/// A request's pipeline run id, trimmed (blank is none); 400 naming `run_id` when too long or
/// not printable.
pub(super) fn run_id(given: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(run_id) = given.map(|run_id| run_id.trim().to_string()) else {
        return Ok(None);
    };
    if run_id.chars().count() > RUN_ID_MAX || run_id.chars().any(char::is_control) {
        return Err(ApiError::field(
            "run_id",
            format!("`run_id` must be printable and at most {RUN_ID_MAX} characters"),
        ));
    }
    Ok(Some(run_id).filter(|run_id| !run_id.is_empty()))
}

pub async fn confirm(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    writer: Writer,
    JsonBody(body): JsonBody<wire::Confirm>,
) -> Result<Json<wire::Confirmed>, ApiError> {
    check_length("note", body.note.as_deref())?;
    let author = author(body.author, &writer)?;
    let outcome = state.engine.confirm(id, author, body.note).await?;
    // The zone lets a client write `confirmation.at` for people (`golive checklist confirm`).
    Ok(Json(wire::Confirmed {
        confirmation: wire::Confirmation::from(&outcome),
        timezone: state.plan().launch.timezone_name.clone(),
    }))
}

#[derive(Deserialize)]
pub struct LogParams {
    /// Comma-separated kinds.
    kind: Option<String>,
    before: Option<i64>,
    after: Option<i64>,
    limit: Option<usize>,
    /// `asc` for oldest first; newest first by default.
    order: Option<String>,
}

const LOG_PAGE_DEFAULT: usize = 50;
const LOG_PAGE_MAX: usize = 500;

pub async fn read_log<S: Reads>(
    State(state): State<S>,
    ApiQuery(params): ApiQuery<LogParams>,
) -> Result<Json<wire::LogPage>, ApiError> {
    let kinds = match params.kind.as_deref() {
        None | Some("") => Vec::new(),
        Some(kinds) => kinds
            .split(',')
            .map(|kind| {
                kind.trim()
                    .parse::<LogKind>()
                    .map_err(|error| ApiError::field("kind", format!("{error}")))
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    let limit = params.limit.unwrap_or(LOG_PAGE_DEFAULT);
    if limit == 0 || limit > LOG_PAGE_MAX {
        return Err(ApiError::field(
            "limit",
            format!("limit must be between 1 and {LOG_PAGE_MAX}"),
        ));
    }
    let ascending = match params.order.as_deref() {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(other) => {
            return Err(ApiError::field(
                "order",
                format!("unknown order `{other}`; use `asc` or `desc`"),
            ));
        }
    };
    let query = LogQuery {
        kinds,
        before: params.before,
        after: params.after,
        // One more than asked tells whether another page exists.
        limit: limit + 1,
        ascending,
    };
    let mut entries = read(&state, move |reader| reader.log(&query)).await?;
    let more = entries.len() > limit;
    entries.truncate(limit);
    let last = entries.last().map(|entry| entry.id);
    Ok(Json(wire::LogPage {
        entries: entries.iter().map(wire::LogEntry::from).collect(),
        next_before: if more && !ascending { last } else { None },
        next_after: if more && ascending { last } else { None },
        timezone: state.plan().launch.timezone_name.clone(),
    }))
}

pub async fn write_log(
    State(state): State<AppState>,
    writer: Writer,
    JsonBody(body): JsonBody<wire::NewLogEntry>,
) -> Result<Response, ApiError> {
    check_length("text", Some(&body.text))?;
    let kind = body.kind.trim().parse::<LogKind>().map_err(|error| {
        ApiError::field(
            "kind",
            format!(
                "unknown kind `{}`; write one of: note, decision, lesson, feedback",
                error.given
            ),
        )
    })?;
    let author = author(body.author, &writer)?;
    let entry = state.engine.append(kind, body.text, author).await?;
    Ok((
        StatusCode::CREATED,
        Json(wire::LogWritten {
            entry: wire::LogEntry::from(&entry),
        }),
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct ActionParams {
    status: Option<String>,
}

pub async fn list_actions<S: Reads>(
    State(state): State<S>,
    ApiQuery(params): ApiQuery<ActionParams>,
) -> Result<Json<wire::Actions>, ApiError> {
    let snapshot = state.snapshot().await?;
    let today = state
        .now()
        .to_zoned_datetime(state.plan().launch.timezone.clone())
        .date();
    let filter = match params.status.as_deref() {
        None | Some("") | Some("all") => None,
        Some("overdue") => Some("overdue"),
        Some(status) => {
            status.parse::<ActionStatus>().map_err(|_| {
                ApiError::field(
                    "status",
                    format!("unknown status `{status}`; use open, done, dropped, overdue or all"),
                )
            })?;
            Some(status)
        }
    };
    let actions = snapshot
        .actions
        .iter()
        .filter(|item| match filter {
            None => true,
            Some("overdue") => is_overdue(item, today),
            Some(status) => item.status.as_str() == status,
        })
        .map(|item| wire::ActionItem {
            overdue: Some(is_overdue(item, today)),
            ..wire::ActionItem::from(item)
        })
        .collect();
    Ok(Json(wire::Actions { actions }))
}

fn parse_action_id(id: &str) -> Result<i64, ApiError> {
    id.trim_start_matches('#')
        .parse::<i64>()
        .map_err(|_| ApiError::field("id", format!("`{id}` is not an action item number")))
}

pub async fn get_action<S: Reads>(
    State(state): State<S>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<wire::OneAction>, ApiError> {
    let id = parse_action_id(&id)?;
    let snapshot = state.snapshot().await?;
    let item = snapshot
        .actions
        .iter()
        .find(|item| item.id == id)
        .ok_or_else(|| ApiError::not_found(format!("no action item #{id}")))?;
    Ok(Json(wire::OneAction {
        action: wire::ActionItem::from(item),
    }))
}

pub async fn create_action(
    State(state): State<AppState>,
    writer: Writer,
    JsonBody(body): JsonBody<wire::NewAction>,
) -> Result<Response, ApiError> {
    check_length("title", Some(&body.title))?;
    let author = author(body.author, &writer)?;
    let item = state
        .engine
        .create_action(body.title, body.owner, body.due, author)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(wire::OneAction {
            action: wire::ActionItem::from(&item),
        }),
    )
        .into_response())
}

pub async fn update_action(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    writer: Writer,
    JsonBody(body): JsonBody<wire::ActionUpdate>,
) -> Result<Json<wire::OneAction>, ApiError> {
    let id = parse_action_id(&id)?;
    check_length("note", body.note.as_deref())?;
    check_length("title", body.title.as_deref())?;
    let status = body
        .status
        .as_deref()
        .map(|status| {
            status.trim().parse::<ActionStatus>().map_err(|_| {
                ApiError::field(
                    "status",
                    format!("unknown status `{status}`; use open, done or dropped"),
                )
            })
        })
        .transpose()?;
    let change = ActionChange {
        status,
        owner: body.owner,
        due: body.due,
        title: body.title,
        note: body.note,
    };
    let author = author(body.author, &writer)?;
    let item = state.engine.update_action(id, change, author).await?;
    Ok(Json(wire::OneAction {
        action: wire::ActionItem::from(&item),
    }))
}

pub async fn timeline<S: Reads>(State(state): State<S>) -> Result<Response, ApiError> {
    let snapshot = state.snapshot().await?;
    let plan = state.plan().clone();
    let now = state.now();
    let entries = read(&state, |reader| reader.whole_log()).await?;
    let text =
        crate::report::timeline::render(&plan, &snapshot.state, &entries, &snapshot.actions, now);
    Ok((
        [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
        text,
    )
        .into_response())
}

pub async fn list_checks(State(state): State<AppState>) -> Result<Json<wire::Checks>, ApiError> {
    let checks = state.engine.checks().await?;
    Ok(Json(wire::Checks {
        checks: checks.iter().map(wire::CheckView::from).collect(),
    }))
}

#[derive(Deserialize)]
pub struct CheckParams {
    /// How many minutes of history (default 60, at most 1440).
    minutes: Option<i64>,
}

const HISTORY_MINUTES_MAX: i64 = 24 * 60;

pub async fn get_check(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<CheckParams>,
) -> Result<Json<wire::OneCheck>, ApiError> {
    let minutes = params.minutes.unwrap_or(60);
    if !(1..=HISTORY_MINUTES_MAX).contains(&minutes) {
        return Err(ApiError::field(
            "minutes",
            format!("minutes must be between 1 and {HISTORY_MINUTES_MAX}"),
        ));
    }
    let Some(detail) = state.engine.check(id.clone()).await? else {
        let suggestion =
            crate::domain::closest(&id, state.plan().checks.iter().map(|c| c.id.as_str()))
                .map_or_else(String::new, |near| format!("; did you mean `{near}`?"));
        return Err(ApiError::not_found(format!("no check `{id}`{suggestion}")));
    };
    let now_minute = state.clock.now().as_second().div_euclid(60);
    let check_id = id.clone();
    let rows = read(&state, move |reader| {
        reader.check_minutes(&check_id, now_minute - minutes + 1, now_minute + 1)
    })
    .await?;
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    let history = rows
        .iter()
        .map(|(minute, rollup)| wire::CheckMinute {
            minute: jiff::Timestamp::from_second(minute * 60).ok(),
            probes: rollup.probes,
            failures: rollup.failures,
            unknowns: rollup.unknowns,
            availability: rollup.availability(),
            latency_ms: wire::LatencySummary {
                mean: (rollup.probes > 0)
                    .then(|| ms(rollup.latency_sum) / f64::from(rollup.probes)),
                max: ms(rollup.latency_max),
                p50: rollup.latency.quantile(0.5).map(ms),
                p95: rollup.latency.quantile(0.95).map(ms),
                p99: rollup.latency.quantile(0.99).map(ms),
            },
            value: (rollup.values.count > 0).then(|| wire::ValueSummary {
                min: rollup.values.min,
                max: rollup.values.max,
                last: rollup.values.last,
                mean: rollup.values.mean(),
            }),
        })
        .collect();
    Ok(Json(wire::OneCheck {
        check: wire::CheckDetail::from(&detail),
        history,
    }))
}
