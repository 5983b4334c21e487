//! Whether golive itself is working: a small handle shared by the engine, the dispatcher and the
//! heartbeat. The engine and the dispatcher note each turn of their loop, the engine notes each
//! failed store write; the heartbeat asks [`Liveness::status`] before it calls out, so an outside
//! dead-man's switch stops hearing from golive exactly when one of them is stuck.
//!
//! Times are read from the injected clock and kept as milliseconds in atomics: noting a turn costs
//! one relaxed store, and nothing here can block the loops it watches.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use jiff::Timestamp;

use crate::clock::Clock;

/// A loop that has not turned for this long is stuck. The engine and the dispatcher turn at least
/// every second when idle, and one turn's work (a store commit, a report composed) takes well
/// under a second, so ten seconds without a turn means a loop is blocked, not busy.
pub const STUCK_AFTER: Duration = Duration::from_secs(10);

/// The store counts as failing this long after a failed write. Success is not reported back from
/// every write site, but a failing store is retried at least every ten seconds (the minute
/// history, alert and runbook writes keep what failed and try again), so while it keeps failing it
/// stays marked, and it is healthy again at most this long after it works again.
pub const STORE_FAILING_FOR: Duration = Duration::from_secs(30);

/// The parts of golive whose health decides whether it calls out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// The engine's loop (commands, probe results, escalations).
    Engine,
    /// The dispatcher's loop (delivering the outbox).
    Dispatcher,
    /// The store's writes.
    Store,
}

impl Component {
    pub const ALL: [Component; 3] = [Component::Engine, Component::Dispatcher, Component::Store];

    /// The `component` label: `engine`, `dispatcher` or `store`.
    pub fn as_str(self) -> &'static str {
        match self {
            Component::Engine => "engine",
            Component::Dispatcher => "dispatcher",
            Component::Store => "store",
        }
    }
}

/// The shared handle; see the module documentation.
pub struct Liveness {
    clock: Arc<dyn Clock>,
    engine_turned_ms: AtomicI64,
    dispatcher_turned_ms: AtomicI64,
    /// When a store write last failed (`i64::MIN`: never).
    store_failed_ms: AtomicI64,
}

/// Which components are stuck at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    pub engine_stuck: bool,
    pub dispatcher_stuck: bool,
    pub store_failing: bool,
}

impl Status {
    /// Whether nothing is stuck.
    pub fn healthy(self) -> bool {
        Component::ALL
            .into_iter()
            .all(|component| !self.is_stuck(component))
    }

    /// Whether `component` is stuck (for the store: failing).
    pub fn is_stuck(self, component: Component) -> bool {
        match component {
            Component::Engine => self.engine_stuck,
            Component::Dispatcher => self.dispatcher_stuck,
            Component::Store => self.store_failing,
        }
    }

    /// The stuck components' names, e.g. `engine, store` (for the log).
    pub fn describe(self) -> String {
        Component::ALL
            .into_iter()
            .filter(|component| self.is_stuck(*component))
            .map(Component::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl Liveness {
    /// A handle whose loops count as having just turned: a daemon that is starting is healthy.
    pub fn new(clock: Arc<dyn Clock>) -> Arc<Liveness> {
        let now = clock.now().as_millisecond();
        Arc::new(Liveness {
            clock,
            engine_turned_ms: AtomicI64::new(now),
            dispatcher_turned_ms: AtomicI64::new(now),
            store_failed_ms: AtomicI64::new(i64::MIN),
        })
    }

    /// The engine's loop turned.
    pub fn engine_turned(&self) {
        self.engine_turned_ms
            .store(self.now_ms(), Ordering::Relaxed);
    }

    /// The dispatcher's loop turned.
    pub fn dispatcher_turned(&self) {
        self.dispatcher_turned_ms
            .store(self.now_ms(), Ordering::Relaxed);
    }

    /// A store write failed.
    pub fn store_failed(&self) {
        self.store_failed_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// Which components are stuck at `now`.
    pub fn status(&self, now: Timestamp) -> Status {
        let now = now.as_millisecond();
        let older_than = |at: &AtomicI64, limit: Duration| {
            // A turn noted after `now` was read (or before a clock step back) is fresh.
            now.saturating_sub(at.load(Ordering::Relaxed)) > millis(limit)
        };
        Status {
            engine_stuck: older_than(&self.engine_turned_ms, STUCK_AFTER),
            dispatcher_stuck: older_than(&self.dispatcher_turned_ms, STUCK_AFTER),
            store_failing: !older_than(&self.store_failed_ms, STORE_FAILING_FOR),
        }
    }

    fn now_ms(&self) -> i64 {
        self.clock.now().as_millisecond()
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::DemoClock;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_900_000_000 + seconds).expect("time")
    }

    fn liveness() -> (Arc<DemoClock>, Arc<Liveness>) {
        let clock = Arc::new(DemoClock::starting_at(at(0)));
        let liveness = Liveness::new(clock.clone());
        (clock, liveness)
    }

    #[test]
    fn a_daemon_that_just_started_is_healthy() {
        let (clock, liveness) = liveness();
        let status = liveness.status(clock.now());
        assert!(status.healthy(), "{status:?}");
        assert_eq!(status.describe(), "");
    }

    #[test]
    fn a_loop_that_stopped_turning_is_stuck_and_the_other_is_not() {
        let (clock, liveness) = liveness();
        clock.jump_to(at(11));
        liveness.dispatcher_turned();
        let status = liveness.status(clock.now());
        assert!(status.engine_stuck);
        assert!(!status.dispatcher_stuck);
        assert!(!status.healthy());
        assert_eq!(status.describe(), "engine");
        liveness.engine_turned();
        assert!(liveness.status(clock.now()).healthy());
    }

    #[test]
    fn a_failed_store_write_marks_the_store_until_it_has_not_failed_for_a_while() {
        let (clock, liveness) = liveness();
        liveness.store_failed();
        assert!(liveness.status(clock.now()).store_failing);
        clock.jump_to(at(25));
        liveness.engine_turned();
        liveness.dispatcher_turned();
        assert_eq!(liveness.status(clock.now()).describe(), "store");
        clock.jump_to(at(32));
        liveness.engine_turned();
        liveness.dispatcher_turned();
        assert!(liveness.status(clock.now()).healthy());
    }

    #[test]
    fn a_turn_noted_after_now_was_read_counts_as_fresh() {
        let (clock, liveness) = liveness();
        let earlier = clock.now();
        clock.jump_to(at(5));
        liveness.engine_turned();
        assert!(!liveness.status(earlier).engine_stuck);
    }
}
