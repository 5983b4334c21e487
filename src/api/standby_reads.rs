//! What the read handlers need, written once for the active and a standby: [`Reads`] — a reader
//! of the store, the plan, the time, the launch as a snapshot and the checks' views. The active's
//! [`AppState`] provides it from the engine; a standby's [`StandbyState`] from the PostgreSQL
//! database alone, through a read-only [`Reader`] (`Reader::open_standby`) opened at the first read
//! — the active may not have created the schema yet; a schema missing, older or newer than this
//! golive's is refused — and never writing: no [`crate::store::Store`], no migration. A failed
//! read drops the connection, so the next one connects afresh, though not within 2 s of the
//! failure: meanwhile reads are refused at once (503) rather than queued for a connect timeout.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use jiff::Timestamp;

use super::AppState;
use super::error::ApiError;
use crate::clock::Clock;
use crate::core::snapshot::Snapshot;
use crate::domain::Secret;
use crate::engine::CheckView;
use crate::plan::Plan;
use crate::store::{Reader, StoreError};

/// What the read handlers shared by the active and a standby need.
pub trait Reads: Clone + Send + Sync + 'static {
    /// Runs `work` on a reader of the store, on the calling (blocking) thread.
    fn on_reader<T>(
        &self,
        work: impl FnOnce(&Reader) -> Result<T, StoreError>,
    ) -> Result<T, ApiError>;
    /// The plan in force.
    fn plan(&self) -> Arc<Plan>;
    /// The time now.
    fn now(&self) -> Timestamp;
    /// The launch as readers see it: the engine's latest snapshot, or on a standby the one the
    /// store holds ([`super::standby_snapshot::stored`]).
    fn snapshot(&self) -> impl Future<Output = Result<Arc<Snapshot>, ApiError>> + Send;
    /// Every check of the plan as the status page shows it.
    fn checks(
        &self,
        snapshot: &Snapshot,
    ) -> impl Future<Output = Result<Vec<CheckView>, ApiError>> + Send;
}

impl Reads for AppState {
    fn on_reader<T>(
        &self,
        work: impl FnOnce(&Reader) -> Result<T, StoreError>,
    ) -> Result<T, ApiError> {
        let reader = self.reader.lock().map_err(|_| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "store reader poisoned")
        })?;
        work(&reader).map_err(|error| ApiError::internal(&error))
    }

    fn plan(&self) -> Arc<Plan> {
        self.engine.plan()
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    async fn snapshot(&self) -> Result<Arc<Snapshot>, ApiError> {
        Ok(self.engine.snapshot())
    }

    async fn checks(&self, _snapshot: &Snapshot) -> Result<Vec<CheckView>, ApiError> {
        Ok(self.engine.checks().await?)
    }
}

/// How long a standby that could not read the database answers 503 at once instead of trying
/// again: reads arriving while the database is unreachable do not each wait out a connect
/// timeout, queued one behind the other.
const REMEMBER_FAILURE: Duration = Duration::from_secs(2);

/// The standby's reader, when open, and when the last attempt to read failed.
#[derive(Default)]
struct ReaderSlot {
    reader: Option<Reader>,
    failed_at: Option<Instant>,
}

/// Tells the active's URL as the lease row names it (`None` while no member holds the lease).
pub type ActiveUrl = Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// What a standby's handlers reach.
#[derive(Clone)]
pub struct StandbyState {
    inner: Arc<StandbyInner>,
}

/// The plan a standby serves, swapped when it reads the plan file again (SIGHUP).
pub type PlanSlot = Arc<RwLock<Arc<Plan>>>;

struct StandbyInner {
    plan: PlanSlot,
    clock: Arc<dyn Clock>,
    database: Secret,
    /// Opened at the first read (the active may not have created the schema yet), dropped after a
    /// failed read so the next one connects afresh — but not within [`REMEMBER_FAILURE`].
    reader: Mutex<ReaderSlot>,
    active: ActiveUrl,
}

impl StandbyState {
    /// A standby reading the PostgreSQL database at `database`, for the plan in `plan`.
    pub fn new(
        plan: PlanSlot,
        clock: Arc<dyn Clock>,
        database: Secret,
        active: ActiveUrl,
    ) -> StandbyState {
        StandbyState {
            inner: Arc::new(StandbyInner {
                plan,
                clock,
                database,
                reader: Mutex::new(ReaderSlot::default()),
                active,
            }),
        }
    }

    /// The active's URL, when a member holds the lease.
    pub fn active_url(&self) -> Option<String> {
        (self.inner.active)()
    }
}

impl Reads for StandbyState {
    fn on_reader<T>(
        &self,
        work: impl FnOnce(&Reader) -> Result<T, StoreError>,
    ) -> Result<T, ApiError> {
        let inner = &self.inner;
        let mut slot = inner.reader.lock().unwrap_or_else(PoisonError::into_inner);
        let reader = match slot.reader.take() {
            Some(reader) => reader,
            None if slot
                .failed_at
                .is_some_and(|at| at.elapsed() < REMEMBER_FAILURE) =>
            {
                return Err(unreadable_now());
            }
            None => Reader::open_standby(&inner.database).map_err(|error| {
                slot.failed_at = Some(Instant::now());
                unreadable(&error)
            })?,
        };
        // Before every read: the session may have been opened again since the last one.
        let outcome = reader
            .check_standby_schema(&inner.database)
            .and_then(|()| work(&reader))
            .map_err(|error| {
                slot.failed_at = Some(Instant::now());
                unreadable(&error)
            })?;
        slot.reader = Some(reader);
        slot.failed_at = None;
        Ok(outcome)
    }

    fn plan(&self) -> Arc<Plan> {
        self.inner
            .plan
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    async fn snapshot(&self) -> Result<Arc<Snapshot>, ApiError> {
        let state = self.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let plan = state.plan();
            state.on_reader(|reader| super::standby_snapshot::stored(reader, &plan))
        })
        .await;
        joined
            .map_err(|error| ApiError::internal(&error))?
            .map(Arc::new)
    }

    async fn checks(&self, snapshot: &Snapshot) -> Result<Vec<CheckView>, ApiError> {
        Ok(super::standby_snapshot::check_views(&self.plan(), snapshot))
    }
}

fn unreadable_now() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "this standby cannot read the database right now",
    )
}

/// A standby that cannot read the database answers as one that serves nothing: 503, naming the
/// active (`standby::answer_as_standby` turns it into `standby::not_active`'s answer). The cause goes to the log.
fn unreadable(error: &StoreError) -> ApiError {
    tracing::warn!(error = %crate::error_chain::error_chain(error), "standby: cannot read the database");
    unreadable_now()
}
