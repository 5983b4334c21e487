//! Prometheus metrics: one registry, passed in (never global), with the families golive exports.
//!
//! Gauges that describe launch state (phase, checklist, action items) are set from the engine's
//! latest snapshot when `/metrics` is scraped, so they can never drift from the state. Per-check
//! metrics are updated by the engine as each probe result arrives, through handles looked up once
//! per check ([`CheckMetrics`]); counters are incremented where the thing happens.
//!
//! Labelled families whose label values the plan or the code fixes (channels × delivery results,
//! severities, report kinds, heartbeat results, components, log kinds) are created with value 0
//! at start ([`Metrics::start_at_zero`]), so `rate()` and `increase()` see the first event and a
//! dashboard shows 0 instead of nothing.

mod check_series;

use std::sync::atomic::{AtomicUsize, Ordering};

use prometheus::{
    Gauge, GaugeVec, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

pub use check_series::{CheckFamilies, CheckSeries};

use crate::core::actions::{ActionStatus, is_overdue};
use crate::core::log::LogKind;
use crate::core::runbook::{self, StepState};
use crate::core::snapshot::Snapshot;
use crate::domain::Phase;
use crate::liveness::{Component, Status};
use crate::plan::Plan;
use crate::plan::checks::Severity;
use crate::store::alerts::OutboxBacklog;

/// The `result` values of `golive_notifications_total`.
pub const NOTIFICATION_RESULTS: [&str; 3] = ["delivered", "retry", "failed"];
/// The `result` values of `golive_reports_total`.
pub const REPORT_RESULTS: [&str; 3] = ["sent", "failed", "no_recipients"];
/// The `kind` values of `golive_reports_total`.
pub const REPORT_KINDS: [&str; 2] = ["daily", "final"];
/// The `outcome` values of `golive_pagerduty_webhooks_total`: acted on, accepted but ignored,
/// refused (off, unreadable secret, bad signature), malformed (signed, but not a V3 webhook).
pub const PAGERDUTY_WEBHOOK_OUTCOMES: [&str; 4] =
    ["acknowledged", "ignored", "refused", "malformed"];
/// The `level` values of `golive_runbook_warnings_total`.
const RUNBOOK_WARNING_LEVELS: [&str; 2] = ["1", "2"];

/// What became of one heartbeat (`golive_heartbeat_total{result}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeartbeatResult {
    /// Every destination (the URL, each watchdog Alertmanager) accepted it.
    Ok,
    /// A destination refused it or could not be reached.
    Failed,
    /// Not sent: a component of golive is stuck.
    Skipped,
}

impl HeartbeatResult {
    pub const ALL: [HeartbeatResult; 3] = [
        HeartbeatResult::Ok,
        HeartbeatResult::Failed,
        HeartbeatResult::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HeartbeatResult::Ok => "ok",
            HeartbeatResult::Failed => "failed",
            HeartbeatResult::Skipped => "skipped",
        }
    }
}

/// Every metric family golive exports.
pub struct Metrics {
    registry: Registry,
    pub phase: GaugeVec,
    pub phase_started: Gauge,
    /// The plan's planned go-live, for countdowns.
    pub go_live: Gauge,
    pub checklist_items: GaugeVec,
    pub action_items: GaugeVec,
    pub log_entries: IntCounterVec,
    pub refused_transitions: IntCounter,
    pub http_requests: IntCounterVec,
    /// Renderings of the status page (once per state, shared by every viewer).
    pub status_page_renders: IntCounter,
    pub checks: CheckFamilies,
    /// How late probes start against their schedule.
    pub schedule_lag: Histogram,
    /// Probes running right now.
    pub probes_in_flight: IntGauge,
    /// Store writes that failed (history, log of health changes).
    pub store_errors: IntCounter,
    /// Health-change log entries waiting in memory for the store to write again.
    pub log_entries_pending: IntGauge,
    /// Open alerts by state (open, acknowledged) and severity.
    pub alerts: GaugeVec,
    /// Alerts opened since start, by severity.
    pub alerts_opened: IntCounterVec,
    /// Notifications by channel and result (delivered, retry, failed).
    pub notifications: IntCounterVec,
    /// Notifications waiting in the outbox.
    pub outbox_pending: IntGauge,
    /// How long the oldest notification that should have gone out has waited.
    pub outbox_oldest_pending: Gauge,
    /// Heartbeats by result (ok, failed, skipped).
    pub heartbeats: IntCounterVec,
    /// When a heartbeat last succeeded.
    pub heartbeat_last_success: Gauge,
    /// 1 while a component (engine, dispatcher, store) is stuck.
    pub component_stuck: GaugeVec,
    /// From queueing to delivery.
    pub delivery_seconds: Histogram,
    /// From opening to acknowledgement.
    pub time_to_ack: Histogram,
    /// The deployment runbook's families.
    pub runbook: RunbookMetrics,
    /// Reports by kind (daily, final) and result (sent, failed, no_recipients).
    pub reports: IntCounterVec,
    /// When each kind of report was last queued.
    pub report_last: GaugeVec,
    /// The plan's availability objectives (`[reports] objectives`), as fractions, by check.
    pub availability_objective: GaugeVec,
    /// PagerDuty V3 webhooks by outcome ([`PAGERDUTY_WEBHOOK_OUTCOMES`]).
    pub pagerduty_webhooks: IntCounterVec,
    /// 1 while this daemon is the active one, 0 while a standby (PostgreSQL leases).
    pub ha_role: IntGauge,
    /// The size of the last exposition, so the next is written into a buffer of the right size
    /// at once rather than grown by doubling.
    last_exposition: AtomicUsize,
}

/// One check's metric handles, looked up once so a probe result costs no label lookup.
pub type CheckMetrics = std::sync::Arc<CheckSeries>;

/// The deployment runbook's metric families (registered into the daemon's registry by
/// `Metrics::new`; the engine counts the warnings it sends).
pub struct RunbookMetrics {
    /// `golive_runbook_steps{state}`.
    steps: GaugeVec,
    /// `golive_runbook_step_late_seconds{step}`.
    late_seconds: GaugeVec,
    /// `golive_runbook_warnings_total{level}`: lateness warnings sent since start.
    pub warnings: IntCounterVec,
}

impl RunbookMetrics {
    /// Creates the families and registers them.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let steps = GaugeVec::new(
            Opts::new(
                "golive_runbook_steps",
                "Runbook steps by state (pending, running, done, skipped, failed)",
            ),
            &["state"],
        )?;
        let late_seconds = GaugeVec::new(
            Opts::new(
                "golive_runbook_step_late_seconds",
                "How far behind plan each runbook step is: for a pending step (once its phase has begun) the seconds since its planned start, for a running step the seconds past its expected end, else 0",
            ),
            &["step"],
        )?;
        let warnings = IntCounterVec::new(
            Opts::new(
                "golive_runbook_warnings_total",
                "Runbook lateness warnings sent since the daemon started, by level (1 owner, 2 project manager)",
            ),
            &["level"],
        )?;
        registry.register(Box::new(steps.clone()))?;
        registry.register(Box::new(late_seconds.clone()))?;
        registry.register(Box::new(warnings.clone()))?;
        Ok(RunbookMetrics {
            steps,
            late_seconds,
            warnings,
        })
    }

    /// Sets the gauges from a snapshot.
    pub fn observe(&self, plan: &Plan, snapshot: &Snapshot, now: jiff::Timestamp) {
        let views = runbook::view(plan, &snapshot.runbook, snapshot.state.phase, now);
        for state in StepState::ALL {
            let count = views
                .iter()
                .filter(|view| view.record.state == state)
                .count();
            self.steps
                .with_label_values(&[state.as_str()])
                .set(count as f64);
        }
        for view in &views {
            self.late_seconds
                .with_label_values(&[view.id.as_str()])
                .set(view.late_seconds as f64);
        }
    }
}

impl Metrics {
    /// Registers every family into a new registry.
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let register = Register(&registry);
        register
            .gauge_vec(&family::BUILD_INFO)?
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1.0);
        // The process's own CPU, memory, file descriptors and start time (`process_*`).
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(Metrics {
            phase: register.gauge_vec(&family::PHASE)?,
            phase_started: register.gauge(&family::PHASE_STARTED)?,
            go_live: register.gauge(&family::GO_LIVE)?,
            checklist_items: register.gauge_vec(&family::CHECKLIST_ITEMS)?,
            action_items: register.gauge_vec(&family::ACTION_ITEMS)?,
            log_entries: register.int_counter_vec(&family::LOG_ENTRIES)?,
            refused_transitions: register.int_counter(&family::REFUSED_TRANSITIONS)?,
            http_requests: register.int_counter_vec(&family::HTTP_REQUESTS)?,
            status_page_renders: register.int_counter(&family::STATUS_PAGE_RENDERS)?,
            schedule_lag: register.histogram(&family::SCHEDULE_LAG)?,
            probes_in_flight: register.int_gauge(&family::PROBES_IN_FLIGHT)?,
            store_errors: register.int_counter(&family::STORE_ERRORS)?,
            log_entries_pending: register.int_gauge(&family::LOG_ENTRIES_PENDING)?,
            alerts: register.gauge_vec(&family::ALERTS)?,
            alerts_opened: register.int_counter_vec(&family::ALERTS_OPENED)?,
            notifications: register.int_counter_vec(&family::NOTIFICATIONS)?,
            outbox_pending: register.int_gauge(&family::OUTBOX_PENDING)?,
            outbox_oldest_pending: register.gauge(&family::OUTBOX_OLDEST_PENDING)?,
            heartbeats: register.int_counter_vec(&family::HEARTBEATS)?,
            heartbeat_last_success: register.gauge(&family::HEARTBEAT_LAST_SUCCESS)?,
            component_stuck: register.gauge_vec(&family::COMPONENT_STUCK)?,
            delivery_seconds: register.histogram(&family::DELIVERY_SECONDS)?,
            time_to_ack: register.histogram(&family::TIME_TO_ACK)?,
            reports: register.int_counter_vec(&family::REPORTS)?,
            report_last: register.gauge_vec(&family::REPORT_LAST)?,
            availability_objective: register.gauge_vec(&family::AVAILABILITY_OBJECTIVE)?,
            pagerduty_webhooks: register.int_counter_vec(&family::PAGERDUTY_WEBHOOKS)?,
            ha_role: register.int_gauge(&family::HA_ROLE)?,
            checks: CheckFamilies::default(),
            runbook: RunbookMetrics::register(&registry)?,
            registry,
            last_exposition: AtomicUsize::new(0),
        })
    }

    /// Creates, with value 0, every series of the labelled families whose label values the plan
    /// or the code fixes; called once at start.
    pub fn start_at_zero(&self, plan: &Plan) {
        let mut channels: Vec<&str> = plan
            .alerting
            .channels
            .iter()
            .map(|channel| channel.id.as_str())
            .collect();
        if plan.rollback.hook.is_some() {
            channels.push(crate::core::message::ROLLBACK_HOOK);
        }
        for channel in channels {
            for result in NOTIFICATION_RESULTS {
                self.notifications.with_label_values(&[channel, result]);
            }
        }
        for severity in Severity::ALL {
            self.alerts_opened.with_label_values(&[severity.as_str()]);
        }
        if plan.reports.is_some() {
            for kind in REPORT_KINDS {
                for result in REPORT_RESULTS {
                    self.reports.with_label_values(&[kind, result]);
                }
            }
        }
        if plan.heartbeat.is_some() {
            for result in HeartbeatResult::ALL {
                self.heartbeats.with_label_values(&[result.as_str()]);
            }
        }
        for component in Component::ALL {
            self.component_stuck
                .with_label_values(&[component.as_str()])
                .set(0.0);
        }
        for kind in LogKind::ALL {
            self.log_entries.with_label_values(&[kind.as_str()]);
        }
        if (plan.alerting.channels.iter()).any(|channel| channel.kind.name() == "pagerduty") {
            for outcome in PAGERDUTY_WEBHOOK_OUTCOMES {
                self.pagerduty_webhooks.with_label_values(&[outcome]);
            }
        }
        if !plan.runbook.steps.is_empty() {
            for level in RUNBOOK_WARNING_LEVELS {
                self.runbook.warnings.with_label_values(&[level]);
            }
        }
    }

    /// Sets `golive_outbox_pending` and `golive_outbox_oldest_pending_seconds`.
    pub fn set_outbox_backlog(&self, backlog: &OutboxBacklog) {
        self.outbox_pending.set(backlog.pending);
        self.outbox_oldest_pending.set(backlog.oldest_due_seconds);
    }

    /// Sets `golive_component_stuck` from a liveness status.
    pub fn set_components(&self, status: Status) {
        for component in Component::ALL {
            self.component_stuck
                .with_label_values(&[component.as_str()])
                .set(if status.is_stuck(component) { 1.0 } else { 0.0 });
        }
    }

    /// Counts one heartbeat; a successful one also sets its time.
    pub fn count_heartbeat(&self, result: HeartbeatResult, now: jiff::Timestamp) {
        self.heartbeats.with_label_values(&[result.as_str()]).inc();
        if result == HeartbeatResult::Ok {
            self.heartbeat_last_success
                .set(now.as_millisecond() as f64 / 1000.0);
        }
    }

    /// Removes every per-check series of the checks `ids` (removed from the plan by a reload).
    pub fn forget_checks(&self, ids: &[String]) {
        for id in ids {
            self.checks.forget(id);
            let _ = self
                .availability_objective
                .remove_label_values(&[id.as_str()]);
        }
    }

    /// Sets `golive_check_availability_objective` from the plan's `[reports] objectives`.
    pub fn set_availability_objectives(&self, plan: &Plan) {
        let objectives = plan.reports.iter().flat_map(|reports| &reports.objectives);
        for (check, percent) in objectives {
            self.availability_objective
                .with_label_values(&[check.as_str()])
                .set(percent / 100.0);
        }
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
        self.go_live
            .set(plan.launch.go_live.as_millisecond() as f64 / 1000.0);
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
        self.runbook.observe(plan, snapshot, now);
    }

    /// Every family in the Prometheus text exposition format: the registry's (launch-wide, small),
    /// then the per-check families written directly, into one buffer sized like the last one.
    pub fn encode(&self) -> Result<String, prometheus::Error> {
        let expected = self.last_exposition.load(Ordering::Relaxed);
        let mut text = String::with_capacity(expected + expected / 8);
        TextEncoder::new().encode_utf8(&self.registry.gather(), &mut text)?;
        self.checks.write_text(&mut text);
        self.last_exposition.store(text.len(), Ordering::Relaxed);
        Ok(text)
    }
}

/// A family's name, help and labels (and a histogram's buckets): what `/metrics` shows.
struct Family {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    buckets: &'static [f64],
}

impl Family {
    const fn new(
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Family {
        Family {
            name,
            help,
            labels,
            buckets: &[],
        }
    }

    const fn histogram(name: &'static str, help: &'static str, buckets: &'static [f64]) -> Family {
        Family {
            name,
            help,
            labels: &[],
            buckets,
        }
    }

    fn opts(&self) -> Opts {
        Opts::new(self.name, self.help)
    }
}

/// Creates families from their [`Family`] and registers them, so each is described once.
struct Register<'a>(&'a Registry);

impl Register<'_> {
    fn add<T: prometheus::core::Collector + Clone + 'static>(
        &self,
        family: T,
    ) -> Result<T, prometheus::Error> {
        self.0.register(Box::new(family.clone()))?;
        Ok(family)
    }

    fn gauge(&self, family: &Family) -> Result<Gauge, prometheus::Error> {
        self.add(Gauge::with_opts(family.opts())?)
    }

    fn gauge_vec(&self, family: &Family) -> Result<GaugeVec, prometheus::Error> {
        self.add(GaugeVec::new(family.opts(), family.labels)?)
    }

    fn int_gauge(&self, family: &Family) -> Result<IntGauge, prometheus::Error> {
        self.add(IntGauge::with_opts(family.opts())?)
    }

    fn int_counter(&self, family: &Family) -> Result<IntCounter, prometheus::Error> {
        self.add(IntCounter::with_opts(family.opts())?)
    }

    fn int_counter_vec(&self, family: &Family) -> Result<IntCounterVec, prometheus::Error> {
        self.add(IntCounterVec::new(family.opts(), family.labels)?)
    }

    fn histogram(&self, family: &Family) -> Result<Histogram, prometheus::Error> {
        self.add(Histogram::with_opts(
            HistogramOpts::new(family.name, family.help).buckets(family.buckets.to_vec()),
        )?)
    }
}

/// The families of [`Metrics`] whose handles are fields of it, in one table.
mod family {
    use super::Family;

    pub const PHASE: Family = Family::new(
        "golive_phase",
        "1 for the launch's current phase, 0 for the others",
        &["phase"],
    );
    pub const PHASE_STARTED: Family = Family::new(
        "golive_phase_started_timestamp_seconds",
        "When the current phase began, as a Unix timestamp",
        &[],
    );
    pub const GO_LIVE: Family = Family::new(
        "golive_go_live_timestamp_seconds",
        "The planned go-live (the plan's launch.go_live), as a Unix timestamp",
        &[],
    );
    pub const CHECKLIST_ITEMS: Family = Family::new(
        "golive_checklist_items",
        "Checklist items by state (confirmed, pending) and whether they are required",
        &["state", "required"],
    );
    pub const ACTION_ITEMS: Family = Family::new(
        "golive_action_items",
        "Action items by state (open, done, dropped, overdue; overdue items are also open)",
        &["state"],
    );
    pub const LOG_ENTRIES: Family = Family::new(
        "golive_log_entries_total",
        "Entries appended to the launch log since the daemon started, by kind",
        &["kind"],
    );
    pub const REFUSED_TRANSITIONS: Family = Family::new(
        "golive_phase_transitions_refused_total",
        "Phase changes refused (blockers, skips, missing reasons)",
        &[],
    );
    pub const HTTP_REQUESTS: Family = Family::new(
        "golive_http_requests_total",
        "API requests by route and status class",
        &["route", "status"],
    );
    pub const STATUS_PAGE_RENDERS: Family = Family::new(
        "golive_status_page_renders_total",
        "Status page renderings (once per state, shared by every viewer)",
        &[],
    );
    pub const BUILD_INFO: Family = Family::new(
        "golive_build_info",
        "Always 1; labels carry the version",
        &["version"],
    );
    pub const SCHEDULE_LAG: Family = Family::histogram(
        "golive_probe_schedule_lag_seconds",
        "How late probes start against their planned time",
        &[
            0.0005, 0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            5.0,
        ],
    );
    pub const PROBES_IN_FLIGHT: Family =
        Family::new("golive_probes_in_flight", "Probes running right now", &[]);
    pub const STORE_ERRORS: Family = Family::new(
        "golive_store_errors_total",
        "Writes to the store that failed (history, log)",
        &[],
    );
    pub const LOG_ENTRIES_PENDING: Family = Family::new(
        "golive_log_entries_pending",
        "Launch-log entries (check health changes) kept in memory because the store could not write them; written, with their own times, once it can",
        &[],
    );
    pub const ALERTS: Family = Family::new(
        "golive_alerts",
        "Open alerts by state (open, acknowledged) and severity",
        &["state", "severity"],
    );
    pub const ALERTS_OPENED: Family = Family::new(
        "golive_alerts_opened_total",
        "Alerts opened since the daemon started, by severity",
        &["severity"],
    );
    pub const NOTIFICATIONS: Family = Family::new(
        "golive_notifications_total",
        "Notification delivery attempts by channel and result (delivered, retry, failed)",
        &["channel", "result"],
    );
    pub const OUTBOX_PENDING: Family = Family::new(
        "golive_outbox_pending",
        "Notifications waiting in the outbox",
        &[],
    );
    pub const OUTBOX_OLDEST_PENDING: Family = Family::new(
        "golive_outbox_oldest_pending_seconds",
        "How long the oldest notification that should have gone out by now has been waiting (0 when none)",
        &[],
    );
    pub const HEARTBEATS: Family = Family::new(
        "golive_heartbeat_total",
        "Heartbeats ([heartbeat]) by result: ok, failed (a destination refused it or was unreachable), skipped (not sent because a component of golive is stuck)",
        &["result"],
    );
    pub const HEARTBEAT_LAST_SUCCESS: Family = Family::new(
        "golive_heartbeat_last_success_timestamp_seconds",
        "When a heartbeat last reached every destination (0 before the first)",
        &[],
    );
    pub const HA_ROLE: Family = Family::new(
        "golive_ha_role",
        "1 while this golive is the active one (it probes, escalates and sends), 0 while it is a standby waiting for the lease",
        &[],
    );
    pub const COMPONENT_STUCK: Family = Family::new(
        "golive_component_stuck",
        "1 while a component of golive is stuck (engine or dispatcher loop not turning for 10 s, store writes failing), else 0",
        &["component"],
    );
    pub const DELIVERY_SECONDS: Family = Family::histogram(
        "golive_notification_delivery_seconds",
        "Time from queueing a notification to its delivery",
        &[
            0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
        ],
    );
    pub const TIME_TO_ACK: Family = Family::histogram(
        "golive_alert_time_to_ack_seconds",
        "Time from an alert opening to its acknowledgement",
        &[
            10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
        ],
    );
    pub const REPORTS: Family = Family::new(
        "golive_reports_total",
        "Reports by kind (daily, final) and result (sent, failed, no_recipients)",
        &["kind", "result"],
    );
    pub const REPORT_LAST: Family = Family::new(
        "golive_report_last_timestamp_seconds",
        "When the last report of each kind (daily, final) was queued",
        &["kind"],
    );
    pub const AVAILABILITY_OBJECTIVE: Family = Family::new(
        "golive_check_availability_objective",
        "A check's availability objective from [reports] objectives, as a fraction (0.999 for 99.9 %)",
        &["check"],
    );
    pub const PAGERDUTY_WEBHOOKS: Family = Family::new(
        "golive_pagerduty_webhooks_total",
        "PagerDuty V3 webhooks by outcome: acknowledged, ignored (accepted, nothing to do), refused (off, unreadable secret, bad signature), malformed",
        &["outcome"],
    );
}
