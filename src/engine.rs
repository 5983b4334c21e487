//! The engine: the single writer of launch state.
//!
//! Commands (from the API, later also probe observations) arrive over one bounded channel; the
//! engine applies the pure rules in `core`, commits the result to the store, and only then answers
//! and publishes a fresh [`Snapshot`] for readers (status, metrics). Because it is the only task
//! that changes state, no lock guards the state and no two writes interleave. It also owns the
//! timers that move the launch by itself (the end of hypercare).

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;
use serde_json::json;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::core::actions::{self, ActionItem, ActionStatus, FieldError};
use crate::core::lifecycle::{self, ConfirmError};
use crate::core::log::{LogEntry, LogKind, NewEntry};
use crate::core::{LaunchState, Refusal, Transition, TransitionRequest};
use crate::domain::Phase;
use crate::metrics::Metrics;
use crate::plan::Plan;
use crate::store::{Store, StoreError};

/// How many commands may wait for the engine before senders wait too.
const COMMAND_QUEUE: usize = 256;

/// What the engine publishes after every change: everything status and metrics need, without
/// touching the store.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub state: LaunchState,
    pub actions: Vec<ActionItem>,
}

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
}

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
    #[error("{0}")]
    NotFound(String),
    #[error("store write failed")]
    Store(#[from] StoreError),
    #[error("the engine has stopped")]
    Stopped,
}

/// The engine's address: send commands, read the latest snapshot.
#[derive(Clone)]
pub struct EngineHandle {
    commands: mpsc::Sender<Command>,
    snapshot: watch::Receiver<Arc<Snapshot>>,
}

impl EngineHandle {
    /// The latest published snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.borrow().clone()
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
        answer.await.map_err(|_| EngineError::Stopped)?
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
    commands: mpsc::Receiver<Command>,
    publish: watch::Sender<Arc<Snapshot>>,
}

impl Engine {
    /// Loads the state from the store and returns the engine with its handle.
    pub fn start(
        plan: Arc<Plan>,
        mut store: Store,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Result<(Engine, EngineHandle), StoreError> {
        let state = store.load_or_init_state(clock.now())?;
        let actions = store.actions()?;
        let snapshot = Arc::new(Snapshot {
            state: state.clone(),
            actions: actions.clone(),
        });
        let (publish, snapshot_rx) = watch::channel(snapshot);
        let (commands_tx, commands) = mpsc::channel(COMMAND_QUEUE);
        let engine = Engine {
            plan,
            store,
            clock,
            metrics,
            state,
            actions,
            commands,
            publish,
        };
        let handle = EngineHandle {
            commands: commands_tx,
            snapshot: snapshot_rx,
        };
        Ok((engine, handle))
    }

    /// Runs until `shutdown` is cancelled or every handle is dropped; returns the store so the
    /// caller closes it last.
    pub async fn run(mut self, shutdown: CancellationToken) -> Store {
        loop {
            self.apply_due_transitions();
            let wait = self.time_to_next_deadline();
            tokio::select! {
                () = shutdown.cancelled() => break,
                command = self.commands.recv() => match command {
                    Some(command) => self.handle(command),
                    None => break,
                },
                () = sleep_or_forever(wait) => {}
            }
        }
        self.store
    }

    fn time_to_next_deadline(&self) -> Option<Duration> {
        let end = lifecycle::hypercare_end(&self.plan, &self.state)?;
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
            match self.record_transition(transition) {
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

    fn handle(&mut self, command: Command) {
        match command {
            Command::Transition { request, reply } => {
                let result = self.transition(request);
                let _ = reply.send(result);
            }
            Command::Confirm {
                item,
                author,
                note,
                reply,
            } => {
                let result = self.confirm(item, author, note);
                let _ = reply.send(result);
            }
            Command::Append {
                kind,
                text,
                author,
                reply,
            } => {
                let result = self.append(kind, text, author);
                let _ = reply.send(result);
            }
            Command::CreateAction {
                title,
                owner,
                due,
                author,
                reply,
            } => {
                let result = self.create_action(&title, &owner, due.as_deref(), &author);
                let _ = reply.send(result);
            }
            Command::UpdateAction {
                id,
                change,
                author,
                reply,
            } => {
                let result = self.update_action(id, change, &author);
                let _ = reply.send(result);
            }
        }
    }

    fn transition(&mut self, request: TransitionRequest) -> Result<Transition, EngineError> {
        let now = self.clock.now();
        match lifecycle::request_transition(&self.plan, &self.state, &request, now) {
            Ok(transition) => Ok(self.record_transition(transition)?),
            Err(refusal) => {
                self.metrics.refused_transitions.inc();
                tracing::warn!(phase = %self.state.phase, author = %request.author, reason = %refusal, "phase change refused");
                Err(refusal.into())
            }
        }
    }

    fn record_transition(&mut self, transition: Transition) -> Result<Transition, EngineError> {
        let mut text = format!("Phase {} → {}", transition.from, transition.to);
        if transition.forced {
            text.push_str(" (forced)");
        }
        if let Some(reason) = &transition.reason {
            text.push_str(": ");
            text.push_str(reason);
        }
        let entry = NewEntry {
            at: transition.at,
            author: transition.author.clone(),
            kind: LogKind::Phase,
            text,
            data: json!({
                "from": transition.from,
                "to": transition.to,
                "forced": transition.forced,
                "reason": transition.reason,
                "overridden": transition.overridden,
            }),
        };
        let stored = block(|| self.store.record_transition(&transition, &entry))?;
        self.state.phase = transition.to;
        self.state.phase_since = transition.at;
        self.logged(&stored);
        tracing::info!(from = %transition.from, to = %transition.to, author = %transition.author, forced = transition.forced, "phase changed");
        self.publish();
        Ok(transition)
    }

    fn confirm(
        &mut self,
        item: String,
        author: String,
        note: Option<String>,
    ) -> Result<ConfirmOutcome, EngineError> {
        let now = self.clock.now();
        let Some(confirmation) =
            lifecycle::confirm_item(&self.plan, &self.state, &item, &author, note, now)?
        else {
            let existing = &self.state.confirmations[&item];
            return Ok(ConfirmOutcome {
                item,
                by: existing.by.clone(),
                at: existing.at,
                note: existing.note.clone(),
                newly_confirmed: false,
            });
        };
        let title = self
            .plan
            .checklist
            .iter()
            .find(|entry| entry.id == item)
            .map_or("", |entry| entry.title.as_str());
        let mut text = format!("Checklist item `{item}` confirmed: {title}");
        if let Some(note) = &confirmation.note {
            text.push_str(" — ");
            text.push_str(note);
        }
        let entry = NewEntry {
            at: now,
            author: author.clone(),
            kind: LogKind::Checklist,
            text,
            data: json!({ "item": item, "note": confirmation.note }),
        };
        let stored = block(|| self.store.record_confirmation(&item, &confirmation, &entry))?;
        self.state
            .confirmations
            .insert(item.clone(), confirmation.clone());
        self.logged(&stored);
        tracing::info!(item = %item, author = %author, "checklist item confirmed");
        self.publish();
        Ok(ConfirmOutcome {
            item,
            by: confirmation.by,
            at: confirmation.at,
            note: confirmation.note,
            newly_confirmed: true,
        })
    }

    fn append(
        &mut self,
        kind: LogKind,
        text: String,
        author: String,
    ) -> Result<LogEntry, EngineError> {
        if !kind.is_writable() {
            return Err(FieldError::new(
                "kind",
                format!(
                    "`{kind}` entries are written by golive itself; write one of: note, decision, lesson, feedback"
                ),
            )
            .into());
        }
        let text = text.trim().to_string();
        if text.is_empty() {
            return Err(FieldError::new("text", "the text is empty; say what happened").into());
        }
        let entry = NewEntry {
            at: self.clock.now(),
            author,
            kind,
            text,
            data: serde_json::Value::Null,
        };
        let stored = block(|| self.store.append(&entry))?;
        self.logged(&stored);
        self.publish();
        Ok(stored)
    }

    fn create_action(
        &mut self,
        title: &str,
        owner: &str,
        due: Option<&str>,
        author: &str,
    ) -> Result<ActionItem, EngineError> {
        let action = actions::validate_new_action(&self.plan, title, owner, due)?;
        let now = self.clock.now();
        let (item, stored) = block(|| {
            self.store.create_action(&action, author, now, |item| NewEntry {
                at: now,
                author: author.to_string(),
                kind: LogKind::Action,
                text: format!(
                    "Action item #{} opened: {} (owner {}{})",
                    item.id,
                    item.title,
                    item.owner,
                    item.due.map_or(String::new(), |due| format!(", due {due}"))
                ),
                data: json!({ "action": item.id, "status": "open", "owner": item.owner, "due": item.due }),
            })
        })?;
        self.actions.push(item.clone());
        self.logged(&stored);
        self.publish();
        Ok(item)
    }

    fn update_action(
        &mut self,
        id: i64,
        change: ActionChange,
        author: &str,
    ) -> Result<ActionItem, EngineError> {
        let Some(index) = self.actions.iter().position(|item| item.id == id) else {
            return Err(EngineError::NotFound(format!("no action item #{id}")));
        };
        let current = &self.actions[index];
        let mut updated = current.clone();
        let mut changes = Vec::new();
        if let Some(title) = &change.title {
            let title = title.trim();
            if title.is_empty() {
                return Err(
                    FieldError::new("title", "the title is empty; say what needs doing").into(),
                );
            }
            if title != updated.title {
                changes.push(format!("title “{title}”"));
                updated.title = title.to_string();
            }
        }
        if let Some(owner) = &change.owner {
            let owner = actions::validate_owner(&self.plan, owner.trim())?;
            if owner != updated.owner {
                changes.push(format!("owner {owner}"));
                updated.owner = owner;
            }
        }
        if let Some(due) = &change.due {
            let due = due.as_deref().map(actions::parse_due).transpose()?;
            if due != updated.due {
                changes.push(due.map_or("no due date".to_string(), |due| format!("due {due}")));
                updated.due = due;
            }
        }
        if let Some(status) = change.status
            && let Some(status) = actions::change_status(current, status)?
        {
            changes.push(format!("status {status}"));
            updated.status = status;
        }
        if changes.is_empty() {
            return Ok(updated);
        }
        let now = self.clock.now();
        updated.updated_at = now;
        let mut text = format!(
            "Action item #{} ({}): {}",
            updated.id,
            updated.title,
            changes.join(", ")
        );
        if let Some(note) = change
            .note
            .as_deref()
            .filter(|note| !note.trim().is_empty())
        {
            text.push_str(" — ");
            text.push_str(note.trim());
        }
        let entry = NewEntry {
            at: now,
            author: author.to_string(),
            kind: LogKind::Action,
            text,
            data: json!({
                "action": updated.id,
                "status": updated.status,
                "owner": updated.owner,
                "due": updated.due,
                "note": change.note,
            }),
        };
        let stored = block(|| self.store.update_action(&updated, &entry))?;
        self.actions[index] = updated.clone();
        self.logged(&stored);
        self.publish();
        Ok(updated)
    }

    fn logged(&self, entry: &LogEntry) {
        self.metrics
            .log_entries
            .with_label_values(&[entry.kind.as_str()])
            .inc();
    }

    fn publish(&self) {
        self.publish.send_replace(Arc::new(Snapshot {
            state: self.state.clone(),
            actions: self.actions.clone(),
        }));
    }
}

/// Runs a short blocking store call on the engine's task, telling the runtime so it can move other
/// tasks off this worker meanwhile.
fn block<T>(work: impl FnOnce() -> T) -> T {
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

/// An error with its sources, on one line.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The phase a snapshot is in; convenience for readers.
impl Snapshot {
    pub fn phase(&self) -> Phase {
        self.state.phase
    }
}
