//! Probes: turning a [`Check`] into a [`ProbeResult`] by talking to the launched system.
//!
//! (Skeleton: the executors for http, prometheus, scrape and tcp fill this in.)

use std::sync::Arc;

use crate::clock::Clock;
use crate::core::health::{Outcome, ProbeResult};
use crate::plan::Plan;
use crate::plan::checks::Check;

/// Shared, long-lived probe resources built once from the plan: HTTP clients (shared by checks
/// with the same TLS and redirect settings, so connections are reused), Prometheus servers with
/// their resolved credentials, and the clock.
pub struct ProbeContext {
    clock: Arc<dyn Clock>,
}

impl ProbeContext {
    /// Builds the context for every check of the plan.
    pub fn new(_plan: &Plan, clock: Arc<dyn Clock>) -> Result<ProbeContext, ProbeSetupError> {
        Ok(ProbeContext { clock })
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }
}

/// Why the probe resources could not be built.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ProbeSetupError(pub String);

/// Per-check memory between probes (e.g. earlier counter samples for rates). Owned by the check's
/// scheduler task.
#[derive(Debug, Default)]
pub struct ProbeMemory {}

/// Runs one probe of `check`, never taking longer than the check's timeout.
pub async fn run_probe(
    check: &Check,
    _context: &ProbeContext,
    _memory: &mut ProbeMemory,
) -> ProbeResult {
    ProbeResult::new(
        Outcome::Unknown,
        format!("{} probes are not implemented yet", check.kind_name()),
        std::time::Duration::ZERO,
    )
}
pub mod scheduler;
