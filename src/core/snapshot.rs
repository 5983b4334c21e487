//! The launch as readers see it: the value the engine publishes after every change of launch
//! state, of a check's health or of its open alerts. It holds only core types, so the layers that read it (metrics,
//! the API, the status page) need nothing of the engine to understand it.

use serde::Serialize;

use std::sync::Arc;

use crate::core::LaunchState;
use crate::core::actions::ActionItem;
use crate::core::alert::Alert;
use crate::core::lifecycle::CheckHealthMap;
use crate::core::runbook::StepRecords;
use crate::domain::Phase;

/// Everything status and metrics need, without touching the store. (Probe results that change
/// no health are not published; they go to metrics directly.)
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub state: LaunchState,
    pub actions: Vec<ActionItem>,
    /// Every probed check's health, as the go/no-go gate sees it.
    pub checks: CheckHealthMap,
    /// The runbook steps recorded so far (a step absent here is pending).
    pub runbook: StepRecords,
    /// The open alerts, newest first (shared between snapshots while they do not change; not
    /// serialized, as the snapshot was before them).
    #[serde(skip)]
    pub open_alerts: Arc<Vec<Alert>>,
}

impl Snapshot {
    /// The phase the launch is in; convenience for readers.
    pub fn phase(&self) -> Phase {
        self.state.phase
    }
}
