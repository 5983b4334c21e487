//! Prometheus metrics: one registry, passed in (never global), with the families golive exports.
//!
//! Gauges that describe state (phase, checklist, action items) are set from the engine's latest
//! snapshot when `/metrics` is scraped, so they can never drift from the state; counters are
//! incremented where the thing happens.

use prometheus::{
    Encoder, Gauge, GaugeVec, IntCounter, IntCounterVec, Opts, Registry, TextEncoder,
};

use crate::core::actions::{ActionStatus, is_overdue};
use crate::domain::Phase;
use crate::engine::Snapshot;
use crate::plan::Plan;

/// Every metric family golive exports.
pub struct Metrics {
    registry: Registry,
    pub phase: GaugeVec,
    pub phase_started: Gauge,
    pub checklist_items: GaugeVec,
    pub action_items: GaugeVec,
    pub log_entries: IntCounterVec,
    pub refused_transitions: IntCounter,
    pub http_requests: IntCounterVec,
}

impl Metrics {
    /// Registers every family into a new registry.
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let phase = GaugeVec::new(
            Opts::new(
                "golive_phase",
                "1 for the launch's current phase, 0 for the others",
            ),
            &["phase"],
        )?;
        let phase_started = Gauge::new(
            "golive_phase_started_timestamp_seconds",
            "When the current phase began, as a Unix timestamp",
        )?;
        let checklist_items = GaugeVec::new(
            Opts::new(
                "golive_checklist_items",
                "Checklist items by state (confirmed, pending) and whether they are required",
            ),
            &["state", "required"],
        )?;
        let action_items = GaugeVec::new(
            Opts::new(
                "golive_action_items",
                "Action items by state (open, done, dropped, overdue; overdue items are also open)",
            ),
            &["state"],
        )?;
        let log_entries = IntCounterVec::new(
            Opts::new(
                "golive_log_entries_total",
                "Entries appended to the launch log since the daemon started, by kind",
            ),
            &["kind"],
        )?;
        let refused_transitions = IntCounter::new(
            "golive_phase_transitions_refused_total",
            "Phase changes refused (blockers, skips, missing reasons)",
        )?;
        let http_requests = IntCounterVec::new(
            Opts::new(
                "golive_http_requests_total",
                "API requests by route and status class",
            ),
            &["route", "status"],
        )?;
        let build_info = GaugeVec::new(
            Opts::new("golive_build_info", "Always 1; labels carry the version"),
            &["version"],
        )?;
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1.0);
        registry.register(Box::new(phase.clone()))?;
        registry.register(Box::new(phase_started.clone()))?;
        registry.register(Box::new(checklist_items.clone()))?;
        registry.register(Box::new(action_items.clone()))?;
        registry.register(Box::new(log_entries.clone()))?;
        registry.register(Box::new(refused_transitions.clone()))?;
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(build_info))?;
        Ok(Metrics {
            registry,
            phase,
            phase_started,
            checklist_items,
            action_items,
            log_entries,
            refused_transitions,
            http_requests,
        })
    }

    /// Sets the state gauges from a snapshot.
    pub fn observe(&self, plan: &Plan, snapshot: &Snapshot, now: jiff::Timestamp) {
        for phase in Phase::ALL {
            let value = if phase == snapshot.state.phase {
                1.0
            } else {
                0.0
            };
            self.phase.with_label_values(&[phase.as_str()]).set(value);
        }
        self.phase_started
            .set(snapshot.state.phase_since.as_millisecond() as f64 / 1000.0);
        let mut counts = [[0u32; 2]; 2]; // [confirmed?][required?]
        for item in &plan.checklist {
            let confirmed = snapshot.state.confirmations.contains_key(&item.id);
            counts[usize::from(confirmed)][usize::from(item.required)] += 1;
        }
        for (confirmed, state) in [(0, "pending"), (1, "confirmed")] {
            for (required, label) in [(0, "false"), (1, "true")] {
                self.checklist_items
                    .with_label_values(&[state, label])
                    .set(f64::from(counts[confirmed][required]));
            }
        }
        let today = now.to_zoned_datetime(plan.launch.timezone.clone()).date();
        for status in ActionStatus::ALL {
            let count = snapshot
                .actions
                .iter()
                .filter(|item| item.status == status)
                .count();
            self.action_items
                .with_label_values(&[status.as_str()])
                .set(count as f64);
        }
        let overdue = snapshot
            .actions
            .iter()
            .filter(|item| is_overdue(item, today))
            .count();
        self.action_items
            .with_label_values(&["overdue"])
            .set(overdue as f64);
    }

    /// The registry in Prometheus text exposition format.
    pub fn encode(&self) -> Result<String, prometheus::Error> {
        let mut buffer = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buffer)?;
        String::from_utf8(buffer).map_err(|error| prometheus::Error::Msg(error.to_string()))
    }
}
