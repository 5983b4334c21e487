//! The probe scheduler: one lightweight task per check, spread over its interval, bounded by a
//! semaphore, following the launch phase.
//!
//! Each task sleeps until its check is due, takes a permit (at most `max_concurrent_probes` probes
//! run at once), probes with a hard timeout, and sends the [`Observation`] to the engine over the
//! bounded channel. A hung target therefore only ever holds its own task and one permit for its
//! timeout. Checks with the same interval start at different offsets (derived from their id), so
//! a thousand 1 s checks make a steady 1,000 probes/s rather than a burst each second. When the
//! phase changes, every task re-reads its interval and whether it runs, without restarting (rate
//! memory and connections stay).
//!
//! The plan itself can change under a running daemon (a reload): the tasks follow the plan the
//! engine publishes. A task whose check was removed or changed stops; a supervisor task starts
//! one for every new or changed check at once (with a fresh [`ProbeContext`] for the new plan);
//! a task whose check is unchanged keeps running with its memory and learns its new index. Every
//! observation carries the generation of the plan its index belongs to, so the engine drops one
//! made for an older plan.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::cadence::Cadence;
use super::{ProbeContext, ProbeMemory, run_probe};
use crate::core::health::{Observation, Outcome};
use crate::core::plan_diff::{PublishedPlan, probes_alike};
use crate::domain::Phase;
use crate::metrics::Metrics;
use crate::plan::Plan;
use crate::plan::checks::Check;

/// Starts one task per check of the plan in force on `tracker`, and the supervisor that starts
/// tasks for new and changed checks when a reload publishes a plan; all stop when `shutdown` is
/// cancelled.
pub fn spawn(
    mut plans: watch::Receiver<PublishedPlan>,
    context: Arc<ProbeContext>,
    observations: mpsc::Sender<Observation>,
    phase: watch::Receiver<Phase>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
) {
    let published = plans.borrow_and_update().clone();
    let permits = Arc::new(Semaphore::new(
        published.plan.monitoring.max_concurrent_probes.max(1),
    ));
    let starter = Starter {
        plans,
        observations,
        phase,
        permits,
        metrics,
        shutdown,
        tracker: tracker.clone(),
    };
    starter.start(&published, &context, |_| true);
    tracker.spawn(starter.follow_reloads(published, context));
}

/// What every check task is started with; the supervisor keeps it to start tasks after a reload.
struct Starter {
    plans: watch::Receiver<PublishedPlan>,
    observations: mpsc::Sender<Observation>,
    phase: watch::Receiver<Phase>,
    permits: Arc<Semaphore>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

impl Starter {
    /// Starts a task for every check of `published` that `wanted` selects.
    fn start(
        &self,
        published: &PublishedPlan,
        context: &Arc<ProbeContext>,
        wanted: impl Fn(&Check) -> bool,
    ) {
        for (index, check) in published.plan.checks.iter().enumerate() {
            if !wanted(check) {
                continue;
            }
            let task = CheckTask {
                index,
                plan: published.plan.clone(),
                generation: published.generation,
                plans: self.plans.clone(),
                context: context.clone(),
                observations: self.observations.clone(),
                phase: self.phase.clone(),
                permits: self.permits.clone(),
                metrics: self.metrics.clone(),
                shutdown: self.shutdown.clone(),
            };
            self.tracker.spawn(task.run());
        }
    }

    /// On every published plan, starts tasks for the checks that are new or probe differently
    /// (their old tasks stop by themselves, see [`CheckTask::follow`]).
    async fn follow_reloads(mut self, mut previous: PublishedPlan, context: Arc<ProbeContext>) {
        loop {
            tokio::select! {
                () = self.shutdown.cancelled() => return,
                changed = self.plans.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let published = self.plans.borrow_and_update().clone();
                    let context = Arc::new(ProbeContext::new(&published.plan, context.clock().clone()));
                    let old = &previous.plan;
                    let new = &published.plan;
                    self.start(&published, &context, |check| {
                        !old.checks.iter().any(|known| {
                            known.id == check.id && probes_alike(old, known, new, check)
                        })
                    });
                    tracing::info!(checks = new.checks.len(), generation = published.generation, "probes follow the reloaded plan");
                    previous = published;
                }
            }
        }
    }
}

struct CheckTask {
    index: usize,
    plan: Arc<Plan>,
    /// The generation of `plan`, sent with every observation.
    generation: u64,
    plans: watch::Receiver<PublishedPlan>,
    context: Arc<ProbeContext>,
    observations: mpsc::Sender<Observation>,
    phase: watch::Receiver<Phase>,
    permits: Arc<Semaphore>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
}

/// Probe starts are aligned to this grid so that, at a thousand probes a second, one timer
/// wake-up starts several probes instead of each probe waking a sleeping worker thread (which
/// costs more CPU than the probe). The schedule lag this adds is at most one tick, well inside the
/// 20 ms target; lag is still measured against the unaligned planned time.
const TICK: Duration = Duration::from_millis(5);

/// `due`, rounded up to the next [`TICK`] boundary (counted from a fixed instant).
fn aligned(due: Instant) -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    let Some(offset) = due.checked_duration_since(epoch) else {
        return due;
    };
    let tick = TICK.as_nanos();
    let rounded = offset.as_nanos().div_ceil(tick) * tick;
    epoch + Duration::from_nanos(u64::try_from(rounded).unwrap_or(u64::MAX))
}

/// Where in its interval a check starts, as a fraction in [0, 1) derived from its id (FNV-1a,
/// then a SplitMix64 finaliser so ids differing in one character spread evenly), so the spread is
/// stable across restarts.
pub fn spread_fraction(id: &str) -> f64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash ^= hash >> 30;
    hash = hash.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash ^= hash >> 27;
    hash = hash.wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^= hash >> 31;
    (hash >> 11) as f64 / (1u64 << 53) as f64
}

/// The first due time after (re)activation: an offset into the interval, capped so a newly active
/// check is probed promptly (within a second) rather than a whole slow interval later.
fn first_due(now: Instant, interval: Duration, fraction: f64) -> Instant {
    now + interval.min(Duration::from_secs(1)).mul_f64(fraction)
}

/// The next due time after a probe that was due at `due`: one interval later, skipping slots that
/// already passed (a probe that overran its interval does not cause a burst of catch-up probes).
pub fn next_due(due: Instant, interval: Duration, now: Instant) -> Instant {
    let mut next = due + interval;
    if next <= now && !interval.is_zero() {
        let behind = now.duration_since(next);
        let skips = (behind.as_nanos() / interval.as_nanos()) as u32 + 1;
        next += interval * skips;
    }
    next
}

impl CheckTask {
    fn check(&self) -> &Check {
        &self.plan.checks[self.index]
    }

    async fn run(mut self) {
        let fraction = spread_fraction(&self.check().id);
        let mut memory = ProbeMemory::default();
        let mut cadence = Cadence::default();
        let mut phase = *self.phase.borrow_and_update();
        let mut last_start: Option<Instant> = None;
        let mut due: Option<Instant> = self
            .check()
            .runs_in(phase)
            .then(|| Instant::now() + self.check().interval_in(phase).mul_f64(fraction));
        loop {
            let sleep = async {
                match due {
                    Some(due) => tokio::time::sleep_until(aligned(due)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = self.shutdown.cancelled() => return,
                changed = self.plans.changed() => {
                    if changed.is_err() || !self.follow() {
                        return;
                    }
                }
                changed = self.phase.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let new_phase = *self.phase.borrow_and_update();
                    if new_phase == phase {
                        continue;
                    }
                    let old_interval = self.check().interval_in(phase);
                    phase = new_phase;
                    let check = self.check();
                    let now = Instant::now();
                    due = if !check.runs_in(phase) {
                        None
                    } else {
                        let interval = check.interval_in(phase);
                        match (due, last_start) {
                            // Newly active: probe promptly, spread.
                            (None, _) | (_, None) => Some(first_due(now, interval, fraction)),
                            // A new interval counts from the last probe.
                            (Some(_), Some(last)) if interval != old_interval => {
                                Some((last + interval).max(now))
                            }
                            (Some(due), Some(_)) => Some(due),
                        }
                    };
                }
                () = sleep => {
                    let Some(planned) = due else { continue };
                    let Some(outcome) = self.probe(planned, &mut memory).await else {
                        return;
                    };
                    last_start = Some(planned);
                    let interval = cadence.after(self.check(), phase, outcome);
                    due = Some(next_due(planned, interval, Instant::now()));
                }
            }
        }
    }

    /// Takes the newly published plan: false when this task's check was removed or probes
    /// differently now (a new task runs it), else the task carries on with its new index.
    fn follow(&mut self) -> bool {
        let published = self.plans.borrow_and_update().clone();
        let check = self.check();
        let Some(index) = published
            .plan
            .checks
            .iter()
            .position(|candidate| candidate.id == check.id)
        else {
            return false;
        };
        if !probes_alike(
            &self.plan,
            check,
            &published.plan,
            &published.plan.checks[index],
        ) {
            return false;
        }
        self.index = index;
        self.plan = published.plan;
        self.generation = published.generation;
        true
    }

    /// Runs one probe and hands the result to the engine; its outcome, or `None` when the daemon
    /// is stopping.
    async fn probe(&self, planned: Instant, memory: &mut ProbeMemory) -> Option<Outcome> {
        let permit = tokio::select! {
            () = self.shutdown.cancelled() => return None,
            permit = self.permits.acquire() => match permit {
                Ok(permit) => permit,
                Err(_) => return None,
            },
        };
        let lag = Instant::now().saturating_duration_since(planned);
        let started = self.context.clock().now();
        self.metrics.probes_in_flight.inc();
        let result = tokio::select! {
            () = self.shutdown.cancelled() => None,
            result = run_probe(self.check(), &self.context, memory) => Some(result),
        };
        self.metrics.probes_in_flight.dec();
        drop(permit);
        let result = result?;
        let outcome = result.outcome;
        let observation = Observation {
            check: self.index,
            generation: self.generation,
            started,
            lag,
            result,
        };
        self.observations.send(observation).await.ok()?;
        Some(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_spread_over_their_interval_stably() {
        let fractions: Vec<f64> = (0..1000)
            .map(|i| spread_fraction(&format!("check-{i}")))
            .collect();
        assert!(fractions.iter().all(|f| (0.0..1.0).contains(f)));
        // Roughly uniform: every tenth of the interval gets some checks.
        for decile in 0..10 {
            let count = fractions
                .iter()
                .filter(|f| (**f * 10.0) as usize == decile)
                .count();
            assert!((60..=140).contains(&count), "decile {decile}: {count}");
        }
        assert_eq!(spread_fraction("web"), spread_fraction("web"));
    }

    #[test]
    fn probe_starts_are_aligned_to_the_tick_without_moving_earlier() {
        let _ = aligned(Instant::now());
        let base = aligned(Instant::now() + Duration::from_secs(1));
        for offset in [0u64, 1, 4_999_999, 5_000_000, 5_000_001] {
            let due = base + Duration::from_nanos(offset);
            let start = aligned(due);
            assert!(start >= due);
            assert!(start - due < TICK);
            assert_eq!((start - base).as_nanos() % TICK.as_nanos(), 0);
        }
    }

    #[test]
    fn an_overrunning_probe_skips_missed_slots_instead_of_bursting() {
        let start = Instant::now();
        let second = Duration::from_secs(1);
        assert_eq!(next_due(start, second, start), start + second);
        // The probe took 3.5 s: the next slot is 4 s after the planned start, not 1 s.
        let now = start + Duration::from_millis(3500);
        assert_eq!(next_due(start, second, now), start + Duration::from_secs(4));
    }
}
