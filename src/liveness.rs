//! Whether golive itself is working: a small handle shared by the engine, the dispatcher and the
//! heartbeat. The engine and the dispatcher note each turn of their loop, the engine notes each
//! failed store write; the heartbeat asks [`Liveness::status`] before it calls out, so an outside
//! dead-man's switch stops hearing from golive exactly when one of them is stuck.
//!
//! Times are read from the monotonic clock (tokio's `Instant`), not the injected wall clock: how
//! long a loop has been silent is a span, and a wall clock that steps (NTP, the demo's time-lapse
//! jumps) must not make a working golive look stuck. They are kept as milliseconds since the
//! handle was made, in atomics: noting a turn costs one relaxed store, and nothing here can block
//! the loops it watches.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

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
    /// What the other times count from.
    origin: Instant,
    engine_turned_ms: AtomicU64,
    dispatcher_turned_ms: AtomicU64,
    /// When a store write last failed, plus one (0: never).
    store_failed_ms: AtomicU64,
    /// The PostgreSQL lease this daemon acts under (active/standby), if any.
    lease: std::sync::OnceLock<Arc<LeaseDeadline>>,
}

/// Until when this daemon may act on its lease, by the boot clock ([`boot_clock`]: the time
/// since boot, counting a system suspend and a stopped process alike, so a daemon woken from
/// `SIGSTOP`, a frozen VM or a suspended host finds its deadline passed): the start of the last
/// successful renewal plus the lease, less a margin. Written by the renewing thread, read before
/// every send (the dispatcher) with one relaxed load.
pub struct LeaseDeadline {
    /// The clock it is read on: [`boot_clock`], or a test's.
    clock: fn() -> Duration,
    /// The clock's reading (in milliseconds) until which acting is safe (0: never renewed).
    until_ms: AtomicU64,
}

/// The time since the host booted, suspend included (Linux's `CLOCK_BOOTTIME`). The monotonic
/// clock (`Instant`) stops while the host is suspended or its VM frozen: a deadline on it would
/// still hold after waking, though the lease ran out long ago in the database's time.
pub fn boot_clock() -> Duration {
    #[cfg(target_os = "linux")]
    {
        let now = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
        Duration::new(
            u64::try_from(now.tv_sec).unwrap_or(0),
            u32::try_from(now.tv_nsec).unwrap_or(0),
        )
    }
    #[cfg(not(target_os = "linux"))]
    {
        static ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        ORIGIN.get_or_init(std::time::Instant::now).elapsed()
    }
}

impl LeaseDeadline {
    /// A deadline already passed: nothing may be sent before the first renewal.
    pub fn new() -> Arc<LeaseDeadline> {
        Arc::new(LeaseDeadline::on_clock(boot_clock))
    }

    fn on_clock(clock: fn() -> Duration) -> LeaseDeadline {
        LeaseDeadline {
            clock,
            until_ms: AtomicU64::new(0),
        }
    }

    /// Now, on the deadline's clock: read it before a renewal's statement is sent.
    pub fn now(&self) -> Duration {
        (self.clock)()
    }

    /// A renewal that started at `started` ([`LeaseDeadline::now`]) succeeded: acting is safe
    /// until `started + safe_for`.
    pub fn renewed(&self, started: Duration, safe_for: Duration) {
        self.until_ms
            .fetch_max(millis(started + safe_for), Ordering::Relaxed);
    }

    /// Whether the lease surely still holds now.
    pub fn holds(&self) -> bool {
        millis(self.now()) < self.until_ms.load(Ordering::Relaxed)
    }

    /// How long until the lease may be lost unless renewed before then (zero once passed).
    pub fn remaining(&self) -> Duration {
        Duration::from_millis(self.until_ms.load(Ordering::Relaxed)).saturating_sub(self.now())
    }

    /// How long ago the deadline passed (zero while it holds).
    pub fn overdue(&self) -> Duration {
        self.now()
            .saturating_sub(Duration::from_millis(self.until_ms.load(Ordering::Relaxed)))
    }

    /// When the lease may be lost unless renewed before then, on the runtime's clock (in the past
    /// before the first renewal). A send in flight is stopped at this moment (see
    /// [`Liveness::lease_lost`]).
    pub fn until(&self) -> Instant {
        Instant::now() + self.remaining()
    }
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
    pub fn new() -> Arc<Liveness> {
        Arc::new(Liveness::starting_at(Instant::now()))
    }

    fn starting_at(origin: Instant) -> Liveness {
        Liveness {
            origin,
            engine_turned_ms: AtomicU64::new(0),
            dispatcher_turned_ms: AtomicU64::new(0),
            store_failed_ms: AtomicU64::new(0),
            lease: std::sync::OnceLock::new(),
        }
    }

    /// From now on this daemon acts only while `lease` holds (see [`Liveness::may_send`]).
    pub fn act_under_lease(&self, lease: Arc<LeaseDeadline>) {
        let _ = self.lease.set(lease);
    }

    /// Whether messages may go out now: always without a lease (SQLite), else only while the
    /// lease surely holds, so an active that lost it (paused, cut off) sends nothing more.
    pub fn may_send(&self) -> bool {
        self.lease.get().is_none_or(|lease| lease.holds())
    }

    /// Until when messages may go out: `None` without a lease (SQLite), else the lease's
    /// current deadline (it moves on with every renewal).
    pub fn send_until(&self) -> Option<Instant> {
        self.lease.get().map(|lease| lease.until())
    }

    /// Resolves once messages may no longer go out, never without a lease (SQLite). A delivery
    /// races this: an SMTP send may take 40 s and the lease's margin is far shorter, so one
    /// started in time must still stop when the deadline passes (a renewal meanwhile moves the
    /// deadline on, and the send goes on).
    pub async fn lease_lost(&self) {
        let Some(lease) = self.lease.get() else {
            return std::future::pending().await;
        };
        // The runtime's timers run on the monotonic clock, which stops in a suspend: wake at
        // least every quarter second to read the boot clock again, so a send in flight stops
        // within that of a host waking.
        while lease.holds() {
            tokio::time::sleep(lease.remaining().min(Duration::from_millis(250))).await;
        }
    }

    /// The engine's loop turned.
    pub fn engine_turned(&self) {
        self.note(&self.engine_turned_ms, Instant::now());
    }

    /// The dispatcher's loop turned.
    pub fn dispatcher_turned(&self) {
        self.note(&self.dispatcher_turned_ms, Instant::now());
    }

    /// A store write failed.
    pub fn store_failed(&self) {
        self.store_failed_ms
            .store(self.since_origin(Instant::now()) + 1, Ordering::Relaxed);
    }

    /// Which components are stuck now.
    pub fn status(&self) -> Status {
        self.status_at(Instant::now())
    }

    fn status_at(&self, now: Instant) -> Status {
        let now = self.since_origin(now);
        // A turn noted after `now` was read is fresh.
        let silent_for = |at: &AtomicU64| now.saturating_sub(at.load(Ordering::Relaxed));
        let failed = self.store_failed_ms.load(Ordering::Relaxed);
        Status {
            engine_stuck: silent_for(&self.engine_turned_ms) > millis(STUCK_AFTER),
            dispatcher_stuck: silent_for(&self.dispatcher_turned_ms) > millis(STUCK_AFTER),
            store_failing: failed > 0
                && now.saturating_sub(failed - 1) <= millis(STORE_FAILING_FOR),
        }
    }

    fn note(&self, slot: &AtomicU64, at: Instant) {
        slot.store(self.since_origin(at), Ordering::Relaxed);
    }

    fn since_origin(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.origin).as_millis()).unwrap_or(u64::MAX)
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn after(origin: Instant, seconds: u64) -> Instant {
        origin + Duration::from_secs(seconds)
    }

    #[test]
    fn a_daemon_that_just_started_is_healthy() {
        let origin = Instant::now();
        let liveness = Liveness::starting_at(origin);
        let status = liveness.status_at(after(origin, 1));
        assert!(status.healthy(), "{status:?}");
        assert_eq!(status.describe(), "");
    }

    #[test]
    fn a_loop_that_stopped_turning_is_stuck_and_the_other_is_not() {
        let origin = Instant::now();
        let liveness = Liveness::starting_at(origin);
        liveness.note(&liveness.dispatcher_turned_ms, after(origin, 9));
        let status = liveness.status_at(after(origin, 11));
        assert!(status.engine_stuck);
        assert!(!status.dispatcher_stuck);
        assert!(!status.healthy());
        assert_eq!(status.describe(), "engine");
        liveness.note(&liveness.engine_turned_ms, after(origin, 11));
        assert!(liveness.status_at(after(origin, 12)).healthy());
    }

    #[test]
    fn a_failed_store_write_marks_the_store_until_it_has_not_failed_for_a_while() {
        let origin = Instant::now();
        let liveness = Liveness::starting_at(origin);
        liveness.store_failed_ms.store(
            liveness.since_origin(after(origin, 2)) + 1,
            Ordering::Relaxed,
        );
        let at = |seconds| {
            let now = after(origin, seconds);
            liveness.note(&liveness.engine_turned_ms, now);
            liveness.note(&liveness.dispatcher_turned_ms, now);
            liveness.status_at(now)
        };
        assert_eq!(at(3).describe(), "store");
        assert_eq!(at(31).describe(), "store");
        assert!(at(33).healthy());
    }

    #[test]
    fn a_turn_noted_after_now_was_read_counts_as_fresh() {
        let origin = Instant::now();
        let liveness = Liveness::starting_at(origin);
        liveness.note(&liveness.engine_turned_ms, after(origin, 30));
        liveness.note(&liveness.dispatcher_turned_ms, after(origin, 30));
        assert!(liveness.status_at(after(origin, 20)).healthy());
    }

    /// A test's boot clock, in milliseconds: moved by hand, as a suspend would move it.
    static TEST_BOOT_MS: AtomicU64 = AtomicU64::new(10_000);

    fn test_boot_clock() -> Duration {
        Duration::from_millis(TEST_BOOT_MS.load(Ordering::Relaxed))
    }

    #[test]
    fn a_lease_holds_until_its_renewal_start_plus_the_safe_span_and_never_shrinks() {
        let deadline = LeaseDeadline::on_clock(test_boot_clock);
        let origin = deadline.now();
        assert!(!deadline.holds(), "nothing before the first renewal");
        deadline.renewed(origin + Duration::from_secs(1), Duration::from_secs(4));
        let at = |span: Duration| TEST_BOOT_MS.store(millis(origin + span), Ordering::Relaxed);
        at(Duration::from_millis(4_900));
        assert!(deadline.holds());
        assert_eq!(deadline.remaining(), Duration::from_millis(100));
        at(Duration::from_secs(5));
        assert!(!deadline.holds());
        deadline.renewed(origin, Duration::from_secs(1));
        at(Duration::from_secs(3));
        assert!(deadline.holds(), "a late answer keeps the later deadline");
        // The host is suspended for a minute right after a renewal: the monotonic clock stood
        // still, the boot clock did not, so the deadline has passed when it wakes.
        deadline.renewed(deadline.now(), Duration::from_millis(3_500));
        at(Duration::from_secs(63));
        assert!(!deadline.holds(), "a woken host may not send");
        assert_eq!(deadline.remaining(), Duration::ZERO);
        assert!(
            deadline.overdue() > Duration::from_secs(50),
            "and steps down"
        );
        let liveness = Liveness::new();
        assert!(liveness.may_send(), "no lease (SQLite): always");
        liveness.act_under_lease(LeaseDeadline::new());
        assert!(!liveness.may_send(), "not renewed yet");
    }

    /// Another test's boot clock (tests run at once: each moves its own).
    static LOSS_TEST_BOOT_MS: AtomicU64 = AtomicU64::new(10_000);

    fn loss_test_boot_clock() -> Duration {
        Duration::from_millis(LOSS_TEST_BOOT_MS.load(Ordering::Relaxed))
    }

    // (No test of `boot_clock` itself: without a suspend, which a test cannot cause, the boot
    // clock and the monotonic one agree, so it could not fail.)

    #[tokio::test]
    async fn the_lease_is_lost_at_its_deadline_and_a_renewal_moves_the_deadline_on() {
        let liveness = Liveness::new();
        assert_eq!(
            liveness.send_until(),
            None,
            "no lease (SQLite): no deadline"
        );
        let never = tokio::spawn({
            let liveness = liveness.clone();
            async move { liveness.lease_lost().await }
        });
        let deadline = Arc::new(LeaseDeadline::on_clock(loss_test_boot_clock));
        // Not renewed yet: lost at once.
        let under_lease = Liveness::new();
        under_lease.act_under_lease(deadline.clone());
        assert!(
            under_lease
                .send_until()
                .is_some_and(|until| until <= Instant::now())
        );
        under_lease.lease_lost().await;
        // Renewed: it holds while the (test's) boot clock stands before the deadline.
        deadline.renewed(deadline.now(), Duration::from_secs(3));
        assert!(under_lease.may_send());
        let lost = tokio::spawn({
            let under_lease = under_lease.clone();
            async move { under_lease.lease_lost().await }
        });
        tokio::task::yield_now().await;
        assert!(!lost.is_finished(), "held: not lost");
        LOSS_TEST_BOOT_MS.fetch_add(3_000, Ordering::Relaxed);
        // (Within a poll of the boot clock, 250 ms; the bound only turns a hang into a failure.)
        tokio::time::timeout(Duration::from_secs(10), lost)
            .await
            .expect("lost once the deadline passed")
            .expect("the task ran");
        assert!(
            !under_lease.may_send(),
            "lost only once the deadline passed"
        );
        assert!(!never.is_finished(), "without a lease it is never lost");
        never.abort();
    }

    #[test]
    fn the_real_clock_is_read_when_a_loop_turns() {
        let liveness = Liveness::new();
        liveness.engine_turned();
        liveness.dispatcher_turned();
        assert!(liveness.status().healthy());
        liveness.store_failed();
        assert!(liveness.status().store_failing);
    }
}
