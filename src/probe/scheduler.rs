//! The probe scheduler: the checks split into shards (one per couple of thousand checks, at most
//! one per core), each a single-threaded loop on its own OS thread that wakes once per tick for
//! every check of its shard that is due.
//!
//! A check belongs to the shard its id hashes to, so it stays there across reloads. Each shard
//! runs on its own current-thread Tokio runtime with its own [`ProbeContext`] (its own HTTP
//! clients, so a pooled connection is always driven by the thread that uses it: one connection
//! pool per target host and shard, shared by every check of the shard on that host). A shard keeps
//! its checks' due times in one queue, sleeps until the earliest (aligned to a [`TICK`] grid, so
//! one wake-up starts every probe due in that tick), starts those probes as tasks of its runtime,
//! and hands the finished results to the engine together every 20 ms, so the engine's thread is
//! woken at most 50 times a second per shard rather than once per probe. At most
//! `max_concurrent_probes` probes run at once over all shards (one semaphore), and each probe has
//! its hard timeout, so a hung target holds only its own check and one permit.
//!
//! Checks with the same interval start at different offsets (derived from their id), so a
//! thousand 1 s checks make a steady 1,000 probes/s rather than a burst each second. When the
//! phase changes, each shard (not each check) is woken and re-plans its checks' intervals and
//! whether they run, keeping their memory (rate samples, prepared requests).
//!
//! The plan itself can change under a running daemon (a reload): each shard follows the plan the
//! engine publishes. A check that was removed or now probes differently is dropped (a probe still
//! running for it finishes and is discarded) and, if changed, starts afresh; an unchanged check
//! keeps its memory and schedule and learns its new index. Every observation carries the
//! generation of the plan its index belongs to, so the engine drops one made for an older plan.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::ProbeContext;
use super::shard::{Link, Shard};
use crate::core::health::Observation;
use crate::core::plan_diff::PublishedPlan;
use crate::domain::Phase;
use crate::metrics::Metrics;

/// The most shards (probe threads), however many cores the machine has: beyond a few thousand
/// probes a second per core, the engine, not probing, is the limit.
const MAX_SHARDS: usize = 8;

/// How many checks one shard takes before another core is used. One thread probes a couple of
/// thousand checks at 1 s well inside the lag target; below that a second shard only adds
/// wake-ups (two threads waking each tick, and the engine woken by both), which cost more CPU per
/// probe than they save.
const CHECKS_PER_SHARD: usize = 2_000;

/// How many shards probe `checks` checks: one per [`CHECKS_PER_SHARD`], at most one per core the
/// process may use and at most [`MAX_SHARDS`]. Fixed at start: a reload that adds checks spreads
/// them over the shards already running.
pub fn shard_count(checks: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    checks
        .div_ceil(CHECKS_PER_SHARD)
        .clamp(1, cores.clamp(1, MAX_SHARDS))
}

/// Starts the probe shards for the plan in force, each on its own thread (awaited through
/// `tracker`); they follow reloads and phase changes and stop when `shutdown` is cancelled.
pub fn spawn(
    plans: watch::Receiver<PublishedPlan>,
    context: Arc<ProbeContext>,
    observations: mpsc::Sender<Observation>,
    phase: watch::Receiver<Phase>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
) {
    let published = plans.borrow().clone();
    let permits = Arc::new(Semaphore::new(
        published.plan.monitoring.max_concurrent_probes.max(1),
    ));
    let count = shard_count(published.plan.checks.len());
    for number in 0..count {
        let link = Link {
            plans: plans.clone(),
            phase: phase.clone(),
            observations: observations.clone(),
            permits: permits.clone(),
            metrics: metrics.clone(),
            shutdown: shutdown.clone(),
        };
        // Shard 0 takes the context the application built; the others build their own, so no
        // connection is shared between threads.
        let context = if number == 0 {
            context.clone()
        } else {
            Arc::new(ProbeContext::new(&published.plan, context.clock().clone()))
        };
        let shard = Shard::new(link, number, count, &published, context);
        start_on_own_thread(shard, number, tracker);
    }
}

/// Runs `shard` on a new OS thread with its own current-thread runtime; if either cannot be had,
/// the shard runs on the daemon's runtime instead (slower, but every check is still probed).
fn start_on_own_thread(shard: Shard, number: usize, tracker: &TaskTracker) {
    let (hand_over, taken) = std::sync::mpsc::channel::<Shard>();
    let (finished, done) = oneshot::channel::<Option<Shard>>();
    let thread = std::thread::Builder::new()
        .name(format!("golive-probe-{number}"))
        .spawn(move || {
            let Ok(shard) = taken.recv() else { return };
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => {
                    runtime.block_on(shard.run());
                    let _ = finished.send(None);
                }
                Err(error) => {
                    tracing::warn!(shard = number, error = %error, "a probe thread has no runtime; its checks run on the daemon's");
                    let _ = finished.send(Some(shard));
                }
            }
        });
    let shard = match thread {
        Ok(_) => match hand_over.send(shard) {
            Ok(()) => None,
            Err(returned) => Some(returned.0),
        },
        Err(error) => {
            tracing::warn!(shard = number, error = %error, "no probe thread could be started; its checks run on the daemon's runtime");
            Some(shard)
        }
    };
    tracker.spawn(async move {
        let returned = match shard {
            Some(shard) => Some(shard),
            None => done.await.ok().flatten(),
        };
        if let Some(shard) = returned {
            shard.run().await;
        }
    });
}

/// Probe starts are aligned to this grid, so that at a thousand probes a second one wake-up of a
/// shard starts several probes rather than each probe waking the thread (waking a sleeping thread
/// costs more CPU than a probe). The schedule lag this adds is at most one tick, well inside the
/// 20 ms target; lag is still measured against the unaligned planned time.
const TICK: Duration = Duration::from_millis(5);

/// `due`, rounded up to the next [`TICK`] boundary (counted from a fixed instant).
pub(super) fn aligned(due: Instant) -> Instant {
    aligned_to(due, TICK)
}

/// `due`, rounded up to the next boundary of a `grid` counted from a fixed instant (the same for
/// every grid, so a coarser grid's boundaries are also [`TICK`] boundaries).
pub(super) fn aligned_to(due: Instant, grid: Duration) -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    let Some(offset) = due.checked_duration_since(epoch) else {
        return due;
    };
    let tick = grid.as_nanos().max(1);
    let rounded = offset.as_nanos().div_ceil(tick) * tick;
    epoch + Duration::from_nanos(u64::try_from(rounded).unwrap_or(u64::MAX))
}

/// A check id's hash (FNV-1a, then a SplitMix64 finaliser so ids differing in one character
/// spread evenly): stable across restarts and reloads.
fn id_hash(id: &str) -> u64 {
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
    hash
}

/// Where in its interval a check starts, as a fraction in [0, 1) derived from its id (the top 53
/// bits of its hash), so the spread is stable across restarts.
pub fn spread_fraction(id: &str) -> f64 {
    (id_hash(id) >> 11) as f64 / (1u64 << 53) as f64
}

/// Which of `count` shards probes the check `id` (the low bits of its hash, independent of its
/// spread): the same shard for the life of the daemon, across reloads.
pub fn shard_of(id: &str, count: usize) -> usize {
    (id_hash(id) % count.max(1) as u64) as usize
}

/// The first due time after (re)activation: an offset into the interval, capped so a newly active
/// check is probed promptly (within a second) rather than a whole slow interval later.
pub(super) fn first_due(now: Instant, interval: Duration, fraction: f64) -> Instant {
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
    fn checks_divide_evenly_between_shards_and_stay_in_theirs() {
        let mut counts = [0usize; 2];
        for i in 0..1000 {
            counts[shard_of(&format!("check-{i}"), 2)] += 1;
        }
        assert!(
            counts.iter().all(|count| (440..=560).contains(count)),
            "{counts:?}"
        );
        // Within a shard, checks still spread over the whole interval.
        let in_shard_zero: Vec<f64> = (0..1000)
            .map(|i| format!("check-{i}"))
            .filter(|id| shard_of(id, 2) == 0)
            .map(|id| spread_fraction(&id))
            .collect();
        for half in [0.0..0.5, 0.5..1.0] {
            let count = in_shard_zero.iter().filter(|f| half.contains(*f)).count();
            assert!(
                count > in_shard_zero.len() / 3,
                "{count} of {}",
                in_shard_zero.len()
            );
        }
        assert_eq!(shard_of("web", 2), shard_of("web", 2));
        assert_eq!(shard_of("web", 1), 0);
    }

    #[test]
    fn small_plans_probe_on_one_thread_and_large_ones_on_every_core_up_to_the_cap() {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        assert_eq!(shard_count(0), 1);
        assert_eq!(shard_count(1_000), 1);
        assert_eq!(shard_count(10_000), cores.clamp(1, MAX_SHARDS).min(5));
        assert_eq!(shard_count(1_000_000), cores.clamp(1, MAX_SHARDS));
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
