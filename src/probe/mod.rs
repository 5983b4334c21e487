//! Probes: turning a [`Check`] into a [`ProbeResult`] by talking to the launched system.
//!
//! This module owns the executors (`http`, `prometheus`, `scrape`, `tcp`), the long-lived
//! resources they share ([`ProbeContext`]: HTTP clients, Prometheus credentials, the clock) and the
//! per-check memory between probes ([`ProbeMemory`]: counter samples for rates, a compiled body
//! regex). [`run_probe`] is the one entry point: it dispatches by kind, enforces the check's hard
//! timeout around the whole probe and measures latency. A probe never panics and never returns an
//! error: whatever happened becomes an [`Outcome`] with a reason a person can act on. Problems of
//! the monitoring itself (Prometheus down, a missing secret) are `unknown`, never `failing`.

mod cadence;
mod clients;
mod errors;
mod http;
mod prometheus;
mod scrape;
mod shard;
mod tcp;
mod timing;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::clock::Clock;
use crate::core::health::{Outcome, ProbeResult};
use crate::plan::Plan;
use crate::plan::checks::{Check, CheckKind};

pub use clients::ClientSettings;
pub use scrape::SampleWindow;
pub use timing::{next_due, shard_of, spread_fraction};

/// Shared, long-lived probe resources built once from the plan: HTTP clients (shared by checks
/// with the same TLS and redirect settings, so connections are reused), Prometheus servers with
/// their resolved credentials, and the clock.
pub struct ProbeContext {
    clock: Arc<dyn Clock>,
    clients: clients::ClientCache,
    prometheus: HashMap<String, prometheus::Server>,
}

impl ProbeContext {
    /// Builds the context for every check of the plan.
    ///
    /// Nothing here fails the daemon: a client that cannot be built (an unreadable `ca_file`) or
    /// a Prometheus secret that is missing is remembered, and the probes that need it report
    /// `unknown` with the reason.
    pub fn new(plan: &Plan, clock: Arc<dyn Clock>) -> ProbeContext {
        let clients = clients::ClientCache::new();
        let mut settings = vec![ClientSettings::default()];
        settings.extend(plan.checks.iter().filter_map(|check| match &check.kind {
            CheckKind::Http(http) => Some(ClientSettings::of(http)),
            _ => None,
        }));
        for one in settings {
            // A client that cannot be built is remembered; its checks report why.
            if let Err(problem) = clients.get(&one) {
                tracing::warn!(problem = %problem, "an HTTP client for checks cannot be built");
            }
        }
        let prometheus = plan
            .prometheus
            .iter()
            .map(|server| (server.id.clone(), prometheus::Server::new(server)))
            .collect();
        ProbeContext {
            clock,
            clients,
            prometheus,
        }
    }

    /// The clock probes read `now` from (certificate expiry, rate windows).
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// How many distinct HTTP clients the context holds (checks with equal settings share one).
    pub fn http_client_count(&self) -> usize {
        self.clients.len()
    }
}

/// Per-check memory between probes (e.g. earlier counter samples for rates). Owned by the check's
/// scheduler task.
#[derive(Debug, Default)]
pub struct ProbeMemory {
    /// Samples of a scrape check's selected series (the numerator of a ratio).
    pub(crate) samples: SampleWindow,
    /// Samples of a ratio's denominator.
    pub(crate) denominator_samples: SampleWindow,
    /// The compiled `body_regex` of an http check, with its pattern.
    pub(crate) body_regex: Option<(String, regex::Regex)>,
    /// An http check's client, method and parsed URL, looked up once rather than every probe.
    pub(crate) http: Option<http::Prepared>,
}

/// Runs one probe of `check`, never taking longer than the check's timeout.
pub async fn run_probe(
    check: &Check,
    context: &ProbeContext,
    memory: &mut ProbeMemory,
) -> ProbeResult {
    let started = Instant::now();
    let probe = async {
        match &check.kind {
            CheckKind::Http(http) => http::probe(http, context, memory, started).await,
            CheckKind::Prometheus(query) => {
                prometheus::probe(query, check.timeout, &context.prometheus, &context.clients).await
            }
            CheckKind::Scrape(scrape) => scrape::probe(scrape, context, memory).await,
            CheckKind::Tcp(tcp) => tcp::probe(tcp).await,
        }
    };
    let mut result = match tokio::time::timeout(check.timeout, probe).await {
        // An http probe times itself from `started` and says so in its reason (`status 200 in
        // 3 ms`): timed again here, the two disagreed, and no two results of a check could share
        // their reason in the engine's memory.
        Ok(result) if matches!(check.kind, CheckKind::Http(_)) => return result,
        Ok(result) => result,
        Err(_elapsed) => timed_out(check, check.timeout),
    };
    result.latency = started.elapsed();
    result
}

/// The result of a probe that hit its hard timeout: the target did not answer in time, or for a
/// prometheus check, the monitoring did not.
fn timed_out(check: &Check, timeout: Duration) -> ProbeResult {
    let after = format!("timeout after {}", crate::human::std_duration(timeout));
    match check.kind {
        CheckKind::Prometheus(_) => ProbeResult::new(
            Outcome::Unknown,
            format!("prometheus unreachable: {after}"),
            timeout,
        ),
        _ => ProbeResult::new(Outcome::Failing, after, timeout),
    }
}
pub mod scheduler;
