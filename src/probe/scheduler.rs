//! The probe scheduler: the checks split into shards (one per couple of thousand checks, at most
//! one per core), each a single-threaded loop on its own OS thread that wakes once per tick for
//! every check of its shard that is due.
//!
//! A check belongs to the shard its id hashes to, so it stays there across reloads. Each shard
//! runs on its own current-thread Tokio runtime with its own [`ProbeContext`] (its own HTTP
//! clients, so a pooled connection is always driven by the thread that uses it: one connection
//! pool per target host and shard, shared by every check of the shard on that host). A shard keeps
//! its checks' due times in one queue, sleeps until the earliest (aligned to a 5 ms tick grid, so
//! one wake-up starts every probe due in that tick), starts those probes as futures its own loop
//! polls, and hands the finished results to the engine every 20 ms in one message, so the engine's
//! thread is woken at most 50 times a second per shard rather than once per probe. At most
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

use tokio::sync::{Semaphore, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::ProbeContext;
use super::shard::{Link, Shard};
pub use super::shard::{ResultsLink, SpentResults};
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
    results: ResultsLink,
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
            observations: results.observations.clone(),
            spent: results.spent.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_plans_probe_on_one_thread_and_large_ones_on_every_core_up_to_the_cap() {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        assert_eq!(shard_count(0), 1);
        assert_eq!(shard_count(1_000), 1);
        assert_eq!(shard_count(10_000), cores.clamp(1, MAX_SHARDS).min(5));
        assert_eq!(shard_count(1_000_000), cores.clamp(1, MAX_SHARDS));
    }
}
