//! The engine: the single writer of launch state.
//!
//! Commands from the API and observations from the probes arrive over bounded channels; the
//! engine applies the pure rules in `core`, commits the result to the store, and only then answers
//! and publishes a fresh [`Snapshot`] for readers (status, metrics). Because it is the only task
//! that changes state, no lock guards the state and no two writes interleave. It also owns the
//! timers that move the launch by itself (the end of hypercare) and the periodic writing of the
//! per-minute check history.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

pub(crate) mod alerts;
mod checks;
mod delivery;
pub mod feedback;
mod launch;
mod pending_log;
mod reload;
mod reminders;
mod reports;
mod review;
mod runbook;
mod takeover;
mod updates;

pub use takeover::Takeover;

use crate::clock::Clock;
use crate::core::actions::{ActionItem, ActionStatus, FieldError};
use crate::core::health::Observation;
use crate::core::lifecycle::{self, CheckHealthMap, ConfirmError};
use crate::core::log::{LogEntry, LogKind};
use crate::core::runbook::{StepRefusal, StepRequest};
use crate::core::snapshot::Snapshot;
use crate::core::{LaunchState, Refusal, Transition, TransitionRequest};
use crate::domain::Phase;
use crate::error_chain::error_chain;

use crate::liveness::Liveness;
use crate::metrics::Metrics;
pub use crate::notify::{DeliveryReport, DispatchLink};
use crate::plan::Plan;
use crate::probe::scheduler::{ResultsLink, SpentResults};
use crate::store::{Store, StoreError};
pub use alerts::{AckLinkView, AckOutcome, ExternalAlert, IntakeOutcome};
pub use checks::{CheckDetail, CheckView, RecentResult};
pub use reload::{ReloadError, Reloaded};
pub use runbook::{RollbackAdvice, StepOutcome};

use crate::core::alert::{Alert, Silence};

/// How many commands may wait for the engine before senders wait too.
const COMMAND_QUEUE: usize = 256;

/// How many hand-overs of observations (a shard's results of 20 ms, one message each) may wait
/// for the engine before the shards keep their results (and, past their limit, wait too).
const OBSERVATION_QUEUE: usize = 64;
/// How many hand-overs the engine takes at once.
const OBSERVATION_BATCH: usize = 16;
/// How often finished minutes are written and old history pruned.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(10);
/// The longest the loop waits without turning, so [`Liveness`] sees an idle engine as alive (a
/// turn with nothing due costs a few comparisons).
const TURN_AT_LEAST_EVERY: Duration = Duration::from_secs(1);
/// The longest a test may wedge the engine (`POST /api/v1/test/wedge-engine`).
pub const MAX_TEST_WEDGE: Duration = Duration::from_secs(300);

/// Something the engine was asked to do.
#[derive(Debug)]
pub enum Command {
    Transition {
        request: TransitionRequest,
        reply: oneshot::Sender<Result<Transition, EngineError>>,
    },
    Confirm {
        item: String,
        author: String,
        note: Option<String>,
        reply: oneshot::Sender<Result<ConfirmOutcome, EngineError>>,
    },
    Append {
        kind: LogKind,
        text: String,
        author: String,
        reply: oneshot::Sender<Result<LogEntry, EngineError>>,
    },
    CreateAction {
        title: String,
        owner: String,
        due: Option<String>,
        author: String,
        reply: oneshot::Sender<Result<ActionItem, EngineError>>,
    },
    UpdateAction {
        id: i64,
        change: ActionChange,
        author: String,
        reply: oneshot::Sender<Result<ActionItem, EngineError>>,
    },
    /// Every check with its state and latest result.
    Checks {
        reply: oneshot::Sender<Vec<CheckView>>,
    },
    /// One check with its recent results.
    Check {
        id: String,
        reply: oneshot::Sender<Option<CheckDetail>>,
    },
    /// Acknowledge an open alert.
    Acknowledge {
        id: i64,
        by: String,
        note: Option<String>,
        /// How: `api`, `cli`, `email link`.
        via: String,
        reply: oneshot::Sender<Result<Alert, EngineError>>,
    },
    /// Acknowledge several open alerts at once.
    AcknowledgeMany {
        ids: Vec<i64>,
        by: String,
        note: Option<String>,
        via: String,
        reply: oneshot::Sender<Result<AckOutcome, EngineError>>,
    },
    /// Check an acknowledgement link without using it (the confirmation page).
    CheckAckLink {
        token: String,
        reply: oneshot::Sender<Result<AckLinkView, EngineError>>,
    },
    /// Acknowledge through a link (the confirmation page's button).
    AckLink {
        token: String,
        reply: oneshot::Sender<Result<AckOutcome, EngineError>>,
    },
    /// Check a report's feedback link without using it (the form).
    CheckFeedbackLink {
        token: String,
        reply: oneshot::Sender<FeedbackAnswer<feedback::FeedbackLinkView>>,
    },
    /// Record the feedback of a report's link (the form's button).
    SubmitFeedback {
        token: String,
        text: String,
        reply: oneshot::Sender<FeedbackAnswer<LogEntry>>,
    },
    AddSilence {
        silence: Silence,
        reply: oneshot::Sender<Result<Silence, EngineError>>,
    },
    RemoveSilence {
        id: String,
        by: String,
        reply: oneshot::Sender<Result<(), EngineError>>,
    },
    /// Every silence known (plan and run time, current or not).
    Silences {
        reply: oneshot::Sender<Vec<Silence>>,
    },
    /// Alerts from Alertmanager's webhook.
    Intake {
        alerts: Vec<ExternalAlert>,
        reply: oneshot::Sender<Result<IntakeOutcome, EngineError>>,
    },
    /// Roll the launch back (manual decision).
    RollBack {
        reason: String,
        by: String,
        reply: oneshot::Sender<Result<Transition, EngineError>>,
    },
    /// Start, complete, skip or fail a runbook step.
    Step {
        request: StepRequest,
        reply: oneshot::Sender<Result<StepOutcome, EngineError>>,
    },
    /// Send a report now (`golive report send`): the daily report of a day, or the final report.
    SendReport {
        day: Option<jiff::civil::Date>,
        final_report: bool,
        reply: oneshot::Sender<Result<crate::store::reports::ReportRecord, EngineError>>,
    },
    /// Send a stakeholder update by hand (`[updates]`).
    SendUpdate {
        text: String,
        author: String,
        reply: oneshot::Sender<Result<LogEntry, EngineError>>,
    },
    /// A delivery attempt's outcome, from the dispatcher.
    Delivery {
        report: DeliveryReport,
        reply: oneshot::Sender<Result<(), EngineError>>,
    },
    /// Do now what is due now (timers, housekeeping), then answer: after the clock jumped
    /// forward (the demo's time-lapse), the engine must not wait out a sleep computed before it.
    Tick { reply: oneshot::Sender<()> },
    /// Apply an edited plan (`golive reload`, `SIGHUP`): see [`reload`].
    Reload {
        plan: Box<Plan>,
        /// Who asked (the API token's name, `signal` for `SIGHUP`), for the launch log.
        author: String,
        reply: oneshot::Sender<Result<Reloaded, ReloadError>>,
    },
    /// Test hook only (served with `GOLIVE_TEST_HOOKS=1`): answer, then block the engine's thread
    /// for `duration`, as a store call that hangs would, so tests can see golive stop calling out.
    TestWedge {
        duration: Duration,
        reply: oneshot::Sender<()>,
    },
    /// Test hook only: while `lose` is on, every write that changes alerts commits and then
    /// reports an error, as when PostgreSQL's answer to `COMMIT` is lost with the connection, so
    /// tests can see the engine learn what the store holds.
    TestLoseAlertCommitAnswers {
        lose: bool,
        reply: oneshot::Sender<Result<(), EngineError>>,
    },
}

impl Command {
    /// Whether carrying out the command may append to the launch log (so the entries waiting for
    /// the store are written before it). Every variant is named: a new command has to say.
    pub fn may_write_log(&self) -> bool {
        match self {
            Command::Checks { .. }
            | Command::Check { .. }
            | Command::Silences { .. }
            | Command::CheckAckLink { .. }
            | Command::CheckFeedbackLink { .. }
            | Command::TestWedge { .. }
            | Command::TestLoseAlertCommitAnswers { .. } => false,
            Command::Transition { .. }
            | Command::Confirm { .. }
            | Command::Append { .. }
            | Command::CreateAction { .. }
            | Command::UpdateAction { .. }
            | Command::Acknowledge { .. }
            | Command::AcknowledgeMany { .. }
            | Command::AckLink { .. }
            | Command::SubmitFeedback { .. }
            | Command::AddSilence { .. }
            | Command::RemoveSilence { .. }
            | Command::Intake { .. }
            | Command::RollBack { .. }
            | Command::Step { .. }
            | Command::SendReport { .. }
            | Command::SendUpdate { .. }
            | Command::Delivery { .. }
            | Command::Tick { .. }
            | Command::Reload { .. } => true,
        }
    }
}

/// The engine's answer about a feedback link: a refusal people read, or a failure.
pub type FeedbackAnswer<T> = Result<Result<T, feedback::FeedbackRefusal>, EngineError>;

/// What to change on an action item; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ActionChange {
    pub status: Option<ActionStatus>,
    pub owner: Option<String>,
    /// `Some(None)` clears the due date.
    pub due: Option<Option<String>>,
    pub title: Option<String>,
    /// Why, recorded in the log.
    pub note: Option<String>,
}

/// The result of confirming a checklist item.
#[derive(Debug, Clone, Serialize)]
pub struct ConfirmOutcome {
    pub item: String,
    pub by: String,
    pub at: Timestamp,
    pub note: Option<String>,
    /// False when the item had already been confirmed (the first confirmation stands).
    pub newly_confirmed: bool,
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Confirm(#[from] ConfirmError),
    #[error(transparent)]
    Field(#[from] FieldError),
    #[error(transparent)]
    Step(#[from] StepRefusal),
    #[error("{0}")]
    NotFound(String),
    /// The request cannot be carried out with this plan (e.g. no `[reports]` section).
    #[error("{0}")]
    Unavailable(String),
    /// Carrying out the request failed unexpectedly (e.g. the store could not be read for a
    /// report); the text is the error chain, for the log only: the API answers an opaque 500.
    #[error("{0}")]
    Failed(String),
    #[error("store write failed")]
    Store(#[from] StoreError),
    /// The store cannot write for a reason around golive (a full disk, a read-only disk, an I/O
    /// error, another program's lock): nothing was recorded, and the same request succeeds once
    /// that is fixed. [`EngineHandle`] turns such `Store` errors into this.
    #[error("golive's store cannot write: {}", .source.trouble())]
    StoreUnavailable {
        /// The plan's data directory, for the person who has to free or repair its disk.
        data_dir: PathBuf,
        #[source]
        source: StoreError,
    },
    #[error("the engine has stopped")]
    Stopped,
}

/// The engine's address: send commands, read the latest snapshot.
#[derive(Clone)]
pub struct EngineHandle {
    commands: mpsc::Sender<Command>,
    snapshot: watch::Receiver<Arc<Snapshot>>,
    /// Named in answers when the store cannot write.
    data_dir: Arc<Path>,
    /// Told when a command's write failed for the store's sake (the heartbeat stops), and
    /// counted in `golive_store_errors_total`, like the engine's own failed writes.
    liveness: Arc<Liveness>,
    store_errors: prometheus::IntCounter,
    /// The plan in force (the engine swaps it on a reload).
    plans: watch::Receiver<crate::core::plan_diff::PublishedPlan>,
}

impl EngineHandle {
    /// The latest published snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.borrow().clone()
    }

    /// The plan in force; after a reload, the new one.
    pub fn plan(&self) -> Arc<Plan> {
        self.plans.borrow().plan.clone()
    }

    /// A receiver that wakes when a reload puts a new plan in force.
    pub fn plans(&self) -> watch::Receiver<crate::core::plan_diff::PublishedPlan> {
        self.plans.clone()
    }

    /// A receiver that wakes on every new snapshot.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.snapshot.clone()
    }

    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, EngineError>>) -> Command,
    ) -> Result<T, EngineError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(make(reply))
            .await
            .map_err(|_| EngineError::Stopped)?;
        let answer = answer.await.map_err(|_| EngineError::Stopped)?;
        answer.map_err(|error| self.store_trouble_named(error))
    }

    /// A store error whose cause lies around golive (disk, permissions, an unreachable
    /// database) as [`EngineError::StoreUnavailable`], which the API answers with the reason
    /// and a remedy; counted as a failed store write.
    pub(crate) fn store_trouble_named(&self, error: EngineError) -> EngineError {
        match error {
            EngineError::Store(source) if source.trouble().is_environmental() => {
                self.liveness.store_failed();
                self.store_errors.inc();
                EngineError::StoreUnavailable {
                    data_dir: self.data_dir.to_path_buf(),
                    source,
                }
            }
            other => other,
        }
    }

    pub async fn transition(&self, request: TransitionRequest) -> Result<Transition, EngineError> {
        self.call(|reply| Command::Transition { request, reply })
            .await
    }

    pub async fn confirm(
        &self,
        item: String,
        author: String,
        note: Option<String>,
    ) -> Result<ConfirmOutcome, EngineError> {
        self.call(|reply| Command::Confirm {
            item,
            author,
            note,
            reply,
        })
        .await
    }

    pub async fn append(
        &self,
        kind: LogKind,
        text: String,
        author: String,
    ) -> Result<LogEntry, EngineError> {
        self.call(|reply| Command::Append {
            kind,
            text,
            author,
            reply,
        })
        .await
    }

    pub async fn create_action(
        &self,
        title: String,
        owner: String,
        due: Option<String>,
        author: String,
    ) -> Result<ActionItem, EngineError> {
        self.call(|reply| Command::CreateAction {
            title,
            owner,
            due,
            author,
            reply,
        })
        .await
    }

    pub async fn checks(&self) -> Result<Vec<CheckView>, EngineError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Checks { reply })
            .await
            .map_err(|_| EngineError::Stopped)?;
        answer.await.map_err(|_| EngineError::Stopped)
    }

    pub async fn check(&self, id: String) -> Result<Option<CheckDetail>, EngineError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Check { id, reply })
            .await
            .map_err(|_| EngineError::Stopped)?;
        answer.await.map_err(|_| EngineError::Stopped)
    }

    pub async fn acknowledge(
        &self,
        id: i64,
        by: String,
        note: Option<String>,
        via: &str,
    ) -> Result<Alert, EngineError> {
        let via = via.to_string();
        self.call(|reply| Command::Acknowledge {
            id,
            by,
            note,
            via,
            reply,
        })
        .await
    }

    pub async fn acknowledge_many(
        &self,
        ids: Vec<i64>,
        by: String,
        note: Option<String>,
        via: &str,
    ) -> Result<AckOutcome, EngineError> {
        let via = via.to_string();
        self.call(|reply| Command::AcknowledgeMany {
            ids,
            by,
            note,
            via,
            reply,
        })
        .await
    }

    pub async fn check_ack_link(&self, token: String) -> Result<AckLinkView, EngineError> {
        self.call(|reply| Command::CheckAckLink { token, reply })
            .await
    }

    pub async fn ack_link(&self, token: String) -> Result<AckOutcome, EngineError> {
        self.call(|reply| Command::AckLink { token, reply }).await
    }

    pub async fn check_feedback_link(
        &self,
        token: String,
    ) -> FeedbackAnswer<feedback::FeedbackLinkView> {
        self.call(|reply| Command::CheckFeedbackLink { token, reply })
            .await
    }

    pub async fn submit_feedback(&self, token: String, text: String) -> FeedbackAnswer<LogEntry> {
        self.call(|reply| Command::SubmitFeedback { token, text, reply })
            .await
    }

    pub async fn add_silence(&self, silence: Silence) -> Result<Silence, EngineError> {
        self.call(|reply| Command::AddSilence { silence, reply })
            .await
    }

    pub async fn remove_silence(&self, id: String, by: String) -> Result<(), EngineError> {
        self.call(|reply| Command::RemoveSilence { id, by, reply })
            .await
    }

    pub async fn silences(&self) -> Result<Vec<Silence>, EngineError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Silences { reply })
            .await
            .map_err(|_| EngineError::Stopped)?;
        answer.await.map_err(|_| EngineError::Stopped)
    }

    pub async fn intake(&self, alerts: Vec<ExternalAlert>) -> Result<IntakeOutcome, EngineError> {
        self.call(|reply| Command::Intake { alerts, reply }).await
    }

    pub async fn roll_back(&self, reason: String, by: String) -> Result<Transition, EngineError> {
        self.call(|reply| Command::RollBack { reason, by, reply })
            .await
    }

    pub async fn change_step(&self, request: StepRequest) -> Result<StepOutcome, EngineError> {
        self.call(|reply| Command::Step { request, reply }).await
    }
    pub async fn send_report(
        &self,
        day: Option<jiff::civil::Date>,
        final_report: bool,
    ) -> Result<crate::store::reports::ReportRecord, EngineError> {
        self.call(|reply| Command::SendReport {
            day,
            final_report,
            reply,
        })
        .await
    }

    /// Sends a stakeholder update to the `[updates]` audience; answers its log entry.
    pub async fn send_update(&self, text: String, author: String) -> Result<LogEntry, EngineError> {
        self.call(|reply| Command::SendUpdate {
            text,
            author,
            reply,
        })
        .await
    }

    pub async fn report_delivery(&self, report: DeliveryReport) -> Result<(), EngineError> {
        self.call(|reply| Command::Delivery { report, reply }).await
    }

    /// Runs what is due at the clock's current time (transitions, escalations, reminders,
    /// housekeeping) and returns when it is done; see [`Command::Tick`].
    pub async fn tick(&self) -> Result<(), EngineError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Tick { reply })
            .await
            .map_err(|_| EngineError::Stopped)?;
        answer.await.map_err(|_| EngineError::Stopped)
    }

    /// Test hook only: blocks the engine for `duration` (at most [`MAX_TEST_WEDGE`]) once it has
    /// answered; see [`Command::TestWedge`].
    pub async fn test_wedge(&self, duration: Duration) -> Result<(), EngineError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::TestWedge {
                duration: duration.min(MAX_TEST_WEDGE),
                reply,
            })
            .await
            .map_err(|_| EngineError::Stopped)?;
        answer.await.map_err(|_| EngineError::Stopped)
    }

    /// Test hook only: see [`Command::TestLoseAlertCommitAnswers`].
    pub async fn test_lose_alert_commit_answers(&self, lose: bool) -> Result<(), EngineError> {
        self.call(|reply| Command::TestLoseAlertCommitAnswers { lose, reply })
            .await
    }

    pub async fn update_action(
        &self,
        id: i64,
        change: ActionChange,
        author: String,
    ) -> Result<ActionItem, EngineError> {
        self.call(|reply| Command::UpdateAction {
            id,
            change,
            author,
            reply,
        })
        .await
    }
}

/// The engine task's state. Build with [`Engine::start`], then run [`Engine::run`].
pub struct Engine {
    plan: Arc<Plan>,
    store: Store,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    state: LaunchState,
    actions: Vec<ActionItem>,
    /// The gate's view of every check's health (also published in the snapshot).
    gate: CheckHealthMap,
    checks: checks::Checks,
    alerts: alerts::Alerts,
    /// Every email's Message-ID, unique to this launch's store.
    message_ids: crate::report::message_id::MessageIds,
    /// Woken whenever outbox rows are written, so the dispatcher sends them at once.
    outbox_written: Arc<Notify>,
    /// golive's own trouble for the dispatcher to send directly (the store may be failing).
    trouble: mpsc::Sender<String>,
    last_trouble: Option<Timestamp>,
    /// Action-item reminders already sent.
    reminded: reminders::Reminded,
    /// The runbook's steps and the lateness warnings sent.
    runbook: runbook::RunbookState,
    /// Daily and final reports sent, and when to look again.
    reports: reports::ReportState,
    /// The review meeting's invitation and reminder sent.
    review: review::ReviewState,
    commands: mpsc::Receiver<Command>,
    observations: mpsc::Receiver<Vec<Observation>>,
    spent: SpentResults,
    publish: watch::Sender<Arc<Snapshot>>,
    phase: watch::Sender<Phase>,
    /// Told of every loop turn and failed store write (the heartbeat reads it).
    liveness: Arc<Liveness>,
    /// Where the plan in force is published; the engine is its only writer (see [`reload`]).
    plans: watch::Sender<crate::core::plan_diff::PublishedPlan>,
    /// A takeover record the store could not write yet, retried with backoff ([`takeover`]).
    takeover: Option<takeover::PendingTakeover>,
}

/// What the probe scheduler needs from the engine: where to send observations and the current
/// phase (which changes only on transitions, so probe tasks are not woken by other changes).
pub struct ProbeLink {
    /// A shard sends its results in one message per hand-over, so the engine's thread wakes
    /// once per hand-over, not once per result.
    pub results: ResultsLink,
    pub phase: watch::Receiver<Phase>,
    /// The plan in force: probe tasks follow reloads through it.
    pub plans: watch::Receiver<crate::core::plan_diff::PublishedPlan>,
}

/// How often at most golive tells the ops lead that its store is failing.
const TROUBLE_EVERY: SignedDuration = SignedDuration::from_mins(10);

impl Engine {
    /// Loads the state from the store and returns the engine, its handle, and the link the probe
    /// scheduler uses.
    pub fn start(
        plan: Arc<Plan>,
        mut store: Store,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        ack_key: Vec<u8>,
        public_url: String,
    ) -> Result<(Engine, EngineHandle, ProbeLink, DispatchLink), StoreError> {
        let now = clock.now();
        let state = store.load_or_init_state(now)?;
        let actions = store.actions()?;
        let mut alerts = alerts::Alerts::new(
            store.open_alerts()?,
            &plan,
            store.silences()?,
            ack_key,
            public_url.trim_end_matches('/').to_string(),
        );
        let message_ids = crate::report::message_id::MessageIds::new(&plan, &store.identity()?);
        let outbox_written = Arc::new(Notify::new());
        let (trouble, trouble_rx) = mpsc::channel(16);
        let reminded: reminders::Reminded = store
            .reminders_sent()?
            .into_iter()
            .filter_map(|(id, day)| day.parse::<jiff::civil::Date>().ok().map(|day| (id, day)))
            .collect();
        let runbook = runbook::RunbookState {
            records: store.runbook_steps()?,
            warned: store.runbook_warnings()?,
            retry_after: None,
        };
        let reports = reports::ReportState::load(&store)?;
        let review = review::ReviewState::load(&store)?;
        metrics.set_availability_objectives(&plan);
        let gate = CheckHealthMap::new();
        let snapshot = Arc::new(Snapshot {
            state: state.clone(),
            actions: actions.clone(),
            checks: gate.clone(),
            runbook: runbook.records.clone(),
            open_alerts: alerts.published(),
        });
        let (publish, snapshot_rx) = watch::channel(snapshot);
        let (phase, phase_rx) = watch::channel(state.phase);
        let (commands_tx, commands) = mpsc::channel(COMMAND_QUEUE);
        let (observations_tx, observations) = mpsc::channel(OBSERVATION_QUEUE);
        let checks = checks::Checks::new(&plan, &metrics, now);
        let liveness = Liveness::new();
        let (plans, plans_rx) = watch::channel(crate::core::plan_diff::PublishedPlan {
            plan: plan.clone(),
            generation: 0,
        });
        let mut engine = Engine {
            plans,
            plan,
            store,
            clock,
            metrics,
            state,
            actions,
            gate,
            checks,
            alerts,
            message_ids: message_ids.clone(),
            outbox_written: outbox_written.clone(),
            trouble,
            last_trouble: None,
            reminded,
            runbook,
            reports,
            review,
            commands,
            observations,
            spent: SpentResults::default(),
            publish,
            phase,
            liveness: liveness.clone(),
            takeover: None,
        };
        engine.update_alert_metrics();
        // A hypercare that ended while golive was down is closed before anyone can read the state.
        engine.apply_due_transitions();
        let handle = EngineHandle {
            commands: commands_tx,
            snapshot: snapshot_rx,
            liveness: engine.liveness.clone(),
            store_errors: engine.metrics.store_errors.clone(),
            plans: plans_rx.clone(),
            // Absolute, so the person reading an answer knows which disk to free.
            data_dir: Arc::from(
                std::path::absolute(&engine.plan.launch.data_dir)
                    .unwrap_or_else(|_| engine.plan.launch.data_dir.clone()),
            ),
        };
        let link = ProbeLink {
            results: ResultsLink {
                observations: observations_tx,
                spent: engine.spent.clone(),
            },
            phase: phase_rx,
            plans: plans_rx,
        };
        let recorder = handle.clone();
        let dispatch = DispatchLink {
            outbox_written,
            record: Arc::new(move |report| {
                let engine = recorder.clone();
                Box::pin(async move {
                    engine
                        .report_delivery(report)
                        .await
                        .map_err(|error| error.to_string())
                })
            }),
            trouble: trouble_rx,
            message_ids,
            liveness,
        };
        Ok((engine, handle, link, dispatch))
    }

    /// Runs until `shutdown` is cancelled or every command handle is dropped; flushes the minute
    /// history and returns the store so the caller closes it last.
    pub async fn run(mut self, shutdown: CancellationToken) -> Store {
        let mut handed: Vec<Vec<Observation>> = Vec::with_capacity(OBSERVATION_BATCH);
        let mut housekeeping = tokio::time::interval(HOUSEKEEPING_EVERY);
        housekeeping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut turn = tokio::time::interval(TURN_AT_LEAST_EVERY);
        turn.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut observations_open = true;
        loop {
            self.liveness.engine_turned();
            // Alerts opened, changed or resolved by the last turn (observations, housekeeping),
            // published before the due work, which may take a while (a report), and again after it.
            self.publish_changed_alerts();
            self.do_due_work();
            self.publish_changed_alerts();
            let wait = self.time_to_next_deadline();
            tokio::select! {
                () = shutdown.cancelled() => break,
                command = self.commands.recv() => match command {
                    Some(command) => self.handle(command),
                    None => break,
                },
                received = self.observations.recv_many(&mut handed, OBSERVATION_BATCH), if observations_open => {
                    if received == 0 {
                        observations_open = false;
                    } else {
                        // All that waited in one pass (one write of their health changes), each
                        // hand-over's vector given back to the shards after it.
                        self.observe(&mut handed);
                        handed.drain(..).for_each(|results| self.spent.give_back(results));
                    }
                }
                _ = housekeeping.tick() => self.housekeeping(false),
                _ = turn.tick() => {}
                () = sleep_or_forever(wait) => {}
            }
        }
        // Results already queued still count.
        let mut waiting = Vec::new();
        while let Ok(results) = self.observations.try_recv() {
            waiting.push(results);
        }
        self.observe(&mut waiting);
        self.housekeeping(true);
        self.store
    }

    /// Everything time makes due (the loop runs it every turn, `Command::Tick` at once): the end
    /// of hypercare, escalation steps, reminders, runbook warnings and reports.
    fn do_due_work(&mut self) {
        self.apply_due_transitions();
        self.process_due_alerts();
        self.send_due_reminders();
        self.send_due_runbook_warnings();
        self.send_due_reports();
        self.send_due_review_messages();
        self.retry_takeover_record();
    }

    fn time_to_next_deadline(&self) -> Option<Duration> {
        let end = [
            lifecycle::hypercare_end(&self.plan, &self.state),
            self.alert_deadline(),
            self.reminder_deadline(),
            self.runbook_deadline(),
            self.report_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()?;
        let left = end.duration_since(self.clock.now());
        // Wake at least once a minute so a clock jump (suspend, NTP step) is noticed promptly.
        Some(
            Duration::try_from(left)
                .unwrap_or(Duration::ZERO)
                .min(Duration::from_secs(60)),
        )
    }

    fn apply_due_transitions(&mut self) {
        let now = self.clock.now();
        if let Some(transition) = lifecycle::due_transition(&self.plan, &self.state, now) {
            match self.record_transition(transition, None, None) {
                Ok(transition) => tracing::info!(
                    from = %transition.from, to = %transition.to, reason = transition.reason.as_deref().unwrap_or(""),
                    "phase changed by itself"
                ),
                Err(error) => {
                    tracing::error!(error = %error_chain(&error), "could not record the end of hypercare; will retry");
                }
            }
        }
    }

    /// Carries out one command and answers it. Alerts the command opened, changed or resolved
    /// are published before the answer: a status read right after it lists them as they are.
    fn handle(&mut self, command: Command) {
        self.write_pending_log_before(&command);
        let send_answer = self.carry_out(command);
        self.publish_changed_alerts();
        send_answer();
    }

    /// Carries out one command; returns the sending of its answer.
    fn carry_out(&mut self, command: Command) -> Box<dyn FnOnce()> {
        match command {
            Command::Transition { request, reply } => later(reply, self.transition(request)),
            Command::Confirm {
                item,
                author,
                note,
                reply,
            } => later(reply, self.confirm(item, author, note)),
            Command::Append {
                kind,
                text,
                author,
                reply,
            } => later(reply, self.append(kind, text, author)),
            Command::CreateAction {
                title,
                owner,
                due,
                author,
                reply,
            } => later(
                reply,
                self.create_action(&title, &owner, due.as_deref(), &author),
            ),
            Command::UpdateAction {
                id,
                change,
                author,
                reply,
            } => later(reply, self.update_action(id, change, &author)),
            Command::Checks { reply } => later(reply, self.check_views()),
            Command::Check { id, reply } => later(reply, self.check_detail(&id)),
            Command::Acknowledge {
                id,
                by,
                note,
                via,
                reply,
            } => later(reply, self.acknowledge_alert(id, &by, note, &via)),
            Command::AcknowledgeMany {
                ids,
                by,
                note,
                via,
                reply,
            } => later(reply, self.acknowledge_alerts(&ids, &by, note, &via, None)),
            Command::CheckAckLink { token, reply } => later(reply, self.check_ack_link(&token)),
            Command::AckLink { token, reply } => later(reply, self.acknowledge_by_link(&token)),
            Command::CheckFeedbackLink { token, reply } => {
                later(reply, self.check_feedback_link(&token))
            }
            Command::SubmitFeedback { token, text, reply } => {
                later(reply, self.submit_feedback(&token, &text))
            }
            Command::AddSilence { silence, reply } => later(reply, self.add_silence(silence)),
            Command::RemoveSilence { id, by, reply } => later(reply, self.remove_silence(&id, &by)),
            Command::Silences { reply } => later(reply, self.alerts.silences().to_vec()),
            Command::Intake { alerts, reply } => later(reply, self.intake(alerts)),
            Command::RollBack { reason, by, reply } => {
                later(reply, self.roll_back(reason, by, None))
            }
            Command::Step { request, reply } => later(reply, self.change_step(request)),
            Command::SendReport {
                day,
                final_report,
                reply,
            } => later(reply, self.send_report_now(day, final_report)),
            Command::SendUpdate {
                text,
                author,
                reply,
            } => later(reply, self.send_update(&text, author)),
            Command::Delivery { report, reply } => later(reply, self.record_delivery(report)),
            Command::Tick { reply } => {
                self.housekeeping(false);
                self.do_due_work();
                later(reply, ())
            }
            Command::Reload {
                plan,
                author,
                reply,
            } => later(reply, self.reload(*plan, &author)),
            Command::TestWedge { duration, reply } => {
                let _ = reply.send(());
                tracing::warn!(
                    seconds = duration.as_secs_f64(),
                    "test hook: the engine blocks its thread now"
                );
                block(|| std::thread::sleep(duration));
                Box::new(|| {})
            }
            Command::TestLoseAlertCommitAnswers { lose, reply } => {
                tracing::warn!(lose, "test hook: alert writes lose their answers");
                self.alerts.lose_commit_answers = lose;
                later(reply, Ok(()))
            }
        }
    }

    /// A failed store write: counted, and at most every ten minutes the ops lead is told directly
    /// (not through the outbox, which lives in the failing store).
    pub(crate) fn store_trouble(&mut self, error: &dyn std::error::Error) {
        self.metrics.store_errors.inc();
        self.liveness.store_failed();
        let now = self.clock.now();
        let due = self
            .last_trouble
            .is_none_or(|last| now.duration_since(last) >= TROUBLE_EVERY);
        if due {
            self.last_trouble = Some(now);
            let text = format!(
                "golive cannot write its store ({}): {}. Alerts, escalations and the launch log may not be recorded until this is fixed (disk full? permissions?). Check the daemon's log.",
                self.plan.launch.data_dir.display(),
                error_chain(error)
            );
            let _ = self.trouble.try_send(text);
        }
    }

    fn logged(&self, entry: &LogEntry) {
        self.metrics
            .log_entries
            .with_label_values(&[entry.kind.as_str()])
            .inc();
    }

    /// Publishes the snapshot again when the open alerts changed since it was last published
    /// (every other part of it is published by the change itself).
    fn publish_changed_alerts(&mut self) {
        if self.alerts.changed {
            self.publish();
        }
    }

    fn publish(&mut self) {
        let open_alerts = self.alerts.published();
        self.publish.send_replace(Arc::new(Snapshot {
            state: self.state.clone(),
            actions: self.actions.clone(),
            checks: self.gate.clone(),
            runbook: self.runbook.records.clone(),
            open_alerts,
        }));
        self.phase.send_if_modified(|phase| {
            let changed = *phase != self.state.phase;
            *phase = self.state.phase;
            changed
        });
    }
}

/// The sending of a command's answer, for once the snapshot is published. The one who asked may
/// have stopped waiting (an API request that timed out or whose client went away): then there is
/// no one left to tell, and that is fine.
fn later<T: 'static>(reply: oneshot::Sender<T>, value: T) -> Box<dyn FnOnce()> {
    Box::new(move || {
        let _ = reply.send(value);
    })
}

/// Runs a short blocking store call on the engine's task, telling the runtime so it can move other
/// tasks off this worker meanwhile.
pub(crate) fn block<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

async fn sleep_or_forever(wait: Option<Duration>) {
    match wait {
        Some(wait) => tokio::time::sleep(wait).await,
        None => std::future::pending().await,
    }
}
