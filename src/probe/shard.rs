//! One probe shard: a single-threaded loop over the checks whose ids hash to it (see
//! [`super::scheduler`]).
//!
//! The shard keeps one [`Slot`] per check (its schedule and its [`ProbeMemory`]) and one queue of
//! due times. Each turn of the loop it starts every probe due by the current tick as a future the
//! loop itself polls (a `FuturesUnordered`, not a spawned task per probe: no task allocation and
//! run-queue round trip per probe; the memory moves into the future and comes back with the
//! result; a panic is caught and only restarts its check), and hands the
//! results gathered since the last tick to the engine in one go. A check never has two probes in
//! flight: its next due time is computed when its probe finishes, in [`Shard::reschedule`], the
//! one place that decides when a check is probed next: from the check's [`Cadence`], which follows
//! its state from the shard's own results and asks for the `retry_interval` while a failure is
//! being confirmed.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::cadence::Cadence;
use super::timing::{aligned, aligned_to, first_due, next_due, shard_of, spread_fraction};
use super::{ProbeContext, ProbeMemory, run_probe};
use crate::core::health::{Observation, ProbeResult};
use crate::core::plan_diff::{PublishedPlan, probes_alike};
use crate::domain::Phase;
use crate::metrics::Metrics;
use crate::plan::Plan;

/// How many results per check may wait in a shard while the engine's queue is full, before the
/// shard stops probing until the engine catches up: a few seconds of results at 1 s.
const MAX_WAITING: usize = 4;

/// How often a shard hands its results to the engine: each hand-over wakes the engine's thread,
/// which at a thousand probes a second cost more CPU per probe (at every 5 ms tick) than the
/// probe's own scheduling; 20 ms adds at most that to detection, far inside any interval.
const HAND_OVER_EVERY: Duration = Duration::from_millis(20);

/// How long a shard waits before offering results again to a full engine queue.
const TICK_RETRY: Duration = Duration::from_millis(5);

/// The emptied vectors of hand-overs, given back by the engine for the shards to fill again. A
/// hand-over's vector is made by a shard's thread; freed by the engine's, its memory stayed in
/// the engine thread's allocator cache (a size the engine never asks for itself): about 1 MiB at
/// 1,000 checks. Kept and reused instead: at most [`SPENT_KEPT`] wait here.
#[derive(Debug, Clone, Default)]
pub struct SpentResults(Arc<std::sync::Mutex<Vec<Vec<Observation>>>>);

/// Where the shards' results go: the engine's queue (one message per hand-over), and the
/// vectors the engine gives back.
#[derive(Debug, Clone)]
pub struct ResultsLink {
    pub observations: mpsc::Sender<Vec<Observation>>,
    pub spent: SpentResults,
}

/// How many emptied vectors are kept: a shard has one or two in flight at a time; more are made
/// only while the engine is behind, and dropped once it has caught up.
const SPENT_KEPT: usize = 8;

/// The largest vector kept for reuse (in results): one grown by a backlog is dropped instead of
/// being held for good. 20 ms of 8,000 checks at 1 s fit.
const SPENT_LARGEST: usize = 256;

impl SpentResults {
    /// Gives `results`, emptied, back for a shard to fill.
    pub fn give_back(&self, mut results: Vec<Observation>) {
        results.clear();
        if results.capacity() > SPENT_LARGEST {
            return;
        }
        if let Ok(mut kept) = self.0.lock()
            && kept.len() < SPENT_KEPT
        {
            kept.push(results);
        }
    }

    /// An emptied vector to fill, when one was given back.
    fn take(&self) -> Option<Vec<Observation>> {
        self.0.lock().ok()?.pop()
    }
}

/// What a shard shares with the daemon and the other shards.
pub(super) struct Link {
    pub plans: watch::Receiver<PublishedPlan>,
    pub phase: watch::Receiver<Phase>,
    pub observations: mpsc::Sender<Vec<Observation>>,
    /// Where the engine gives the vectors of earlier hand-overs back.
    pub spent: SpentResults,
    /// At most `max_concurrent_probes` probes at once, over all shards.
    pub permits: Arc<Semaphore>,
    pub metrics: Arc<Metrics>,
    pub shutdown: CancellationToken,
}

/// One check of the shard between probes.
struct Slot {
    /// The check's index in the shard's plan.
    index: usize,
    /// Where in its interval the check starts (see [`spread_fraction`]).
    fraction: f64,
    /// The memory between probes; `None` while a probe runs (it holds the memory). Boxed: it is
    /// ~350 bytes (the prepared request, sample windows), and the shard's slots are a `Vec` grown
    /// by doubling, so inline it cost up to twice that per check in capacity never used.
    memory: Option<Box<ProbeMemory>>,
    /// When the check is due next; `None` while it does not run in the phase, or is probing.
    due: Option<Instant>,
    /// When the last probe was due.
    last_start: Option<Instant>,
    /// The check's state as its results make it, for the delay before the next probe; kept
    /// across phase changes and reloads that leave the check alike, like the memory.
    cadence: Cadence,
    /// The check left the plan (or changed) while its probe ran: its result is dropped.
    removed: bool,
}

impl Slot {
    fn probing(&self) -> bool {
        self.memory.is_none()
    }
}

/// A probe about to start: its slot, when it was due, its check and the memory it takes along.
struct Start {
    key: usize,
    due: Instant,
    index: usize,
    memory: Box<ProbeMemory>,
}

/// A finished probe, with the memory it took along.
struct Finished {
    key: usize,
    planned: Instant,
    memory: Box<ProbeMemory>,
    started: jiff::Timestamp,
    lag: Duration,
    result: ProbeResult,
}

pub(super) struct Shard {
    number: usize,
    count: usize,
    link: Link,
    plan: Arc<Plan>,
    generation: u64,
    phase: Phase,
    context: Arc<ProbeContext>,
    /// The shard's checks; a key (position) stays the check's while it is in the plan.
    slots: Vec<Option<Slot>>,
    /// Positions of `slots` free for a new check.
    free: Vec<usize>,
    /// Due times and slot keys, earliest first; an entry whose slot is no longer due then is
    /// stale and skipped.
    queue: BinaryHeap<Reverse<(Instant, usize)>>,
    /// Results waiting for the next tick to go to the engine together.
    outbox: Vec<Observation>,
    /// When `outbox` goes to the engine.
    flush_at: Option<Instant>,
}

impl Shard {
    pub(super) fn new(
        mut link: Link,
        number: usize,
        count: usize,
        published: &PublishedPlan,
        context: Arc<ProbeContext>,
    ) -> Shard {
        let phase = *link.phase.borrow_and_update();
        link.plans.borrow_and_update();
        let mut shard = Shard {
            number,
            count,
            link,
            plan: published.plan.clone(),
            generation: published.generation,
            phase,
            context,
            slots: Vec::new(),
            free: Vec::new(),
            queue: BinaryHeap::new(),
            outbox: Vec::new(),
            flush_at: None,
        };
        let now = Instant::now();
        for index in 0..shard.plan.checks.len() {
            if shard.owns(index) {
                shard.add(index, now);
            }
        }
        shard
    }

    /// Whether the check at `index` of the shard's plan belongs to this shard.
    fn owns(&self, index: usize) -> bool {
        shard_of(&self.plan.checks[index].id, self.count) == self.number
    }

    /// Adds a slot for the check at `index`: first due an offset into its interval from `now`.
    fn add(&mut self, index: usize, now: Instant) {
        let check = &self.plan.checks[index];
        let fraction = spread_fraction(&check.id);
        let due = check
            .runs_in(self.phase)
            .then(|| now + check.interval_in(self.phase).mul_f64(fraction));
        let slot = Slot {
            index,
            fraction,
            memory: Some(Box::default()),
            due,
            last_start: None,
            cadence: Cadence::default(),
            removed: false,
        };
        let key = match self.free.pop() {
            Some(key) => {
                self.slots[key] = Some(slot);
                key
            }
            None => {
                self.slots.push(Some(slot));
                self.slots.len() - 1
            }
        };
        if let Some(due) = due {
            self.queue.push(Reverse((due, key)));
        }
    }

    /// Runs until shutdown (or until the engine is gone).
    pub(super) async fn run(mut self) {
        let mut probes = FuturesUnordered::new();
        loop {
            let wake = self.next_wake();
            let sleep = async {
                match wake {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = self.link.shutdown.cancelled() => return,
                changed = self.link.plans.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    self.follow_plan();
                }
                changed = self.link.phase.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    self.follow_phase();
                }
                Some(joined) = probes.next() => match joined {
                    Ok(finished) => self.finish(finished),
                    Err(key) => self.recover(key),
                },
                () = sleep => {}
            }
            let now = Instant::now();
            while let Some(start) = self.next_due_start(now) {
                probes.push(self.start(start));
            }
            if !self.flush(now).await {
                return;
            }
        }
    }

    /// The next instant the loop has work: the earliest due probe's tick, or sending results.
    fn next_wake(&self) -> Option<Instant> {
        let due = self.queue.peek().map(|Reverse((due, _))| aligned(*due));
        match (due, self.flush_at) {
            (Some(due), Some(flush)) => Some(due.min(flush)),
            (due, flush) => due.or(flush),
        }
    }

    /// The next check due by the tick `now` is in, taken out of the queue with its memory.
    fn next_due_start(&mut self, now: Instant) -> Option<Start> {
        while let Some(&Reverse((due, key))) = self.queue.peek() {
            if aligned(due) > now {
                return None;
            }
            self.queue.pop();
            let Some(slot) = self.slots.get_mut(key).and_then(Option::as_mut) else {
                continue;
            };
            if slot.due != Some(due) || slot.probing() {
                continue;
            }
            let Some(memory) = slot.memory.take() else {
                continue;
            };
            slot.due = None;
            return Some(Start {
                key,
                due,
                index: slot.index,
                memory,
            });
        }
        None
    }

    /// The probe of `start` as a future for the loop to poll: its finished probe, or its slot's
    /// key when it panicked.
    fn start(&self, start: Start) -> impl Future<Output = Result<Finished, usize>> + use<> {
        let key = start.key;
        let probe = probe(
            key,
            start.due,
            self.plan.clone(),
            start.index,
            self.context.clone(),
            self.link.permits.clone(),
            self.link.metrics.clone(),
            start.memory,
        );
        std::panic::AssertUnwindSafe(probe)
            .catch_unwind()
            .map(move |joined| joined.map_err(|_| key))
    }

    /// Takes a finished probe: its result goes to the engine with the next tick, its check is
    /// scheduled again.
    fn finish(&mut self, finished: Finished) {
        let Some(slot) = self.slots.get_mut(finished.key).and_then(Option::as_mut) else {
            return;
        };
        if slot.removed {
            self.slots[finished.key] = None;
            self.free.push(finished.key);
            return;
        }
        slot.memory = Some(finished.memory);
        slot.last_start = Some(finished.planned);
        let index = slot.index;
        self.reschedule(finished.key, finished.planned, &finished.result);
        self.outbox.push(Observation {
            check: index,
            generation: self.generation,
            started: finished.started,
            lag: finished.lag,
            result: finished.result,
        });
        if self.flush_at.is_none() {
            self.flush_at = Some(aligned_to(Instant::now(), HAND_OVER_EVERY));
        }
    }

    /// Decides when the check in slot `key`, whose probe due at `planned` just gave `result`, is
    /// probed next: the one place the schedule of a probed check is set. The check's cadence
    /// counts the result and gives the delay: the `retry_interval` after a failing probe of a
    /// check not (yet) failing, else the interval of the phase.
    fn reschedule(&mut self, key: usize, planned: Instant, result: &ProbeResult) {
        let Some(slot) = self.slots.get_mut(key).and_then(Option::as_mut) else {
            return;
        };
        let check = &self.plan.checks[slot.index];
        let delay = slot.cadence.after(check, self.phase, result.outcome);
        slot.due = check
            .runs_in(self.phase)
            .then(|| next_due(planned, delay, Instant::now()));
        if let Some(due) = slot.due {
            self.queue.push(Reverse((due, key)));
        }
    }

    /// A probe panicked (a defect): its check starts afresh, one interval from now.
    fn recover(&mut self, key: usize) {
        tracing::error!(
            shard = self.number,
            "a probe panicked; its check starts again with fresh memory"
        );
        if let Some(slot) = self.slots.get_mut(key).and_then(Option::as_mut) {
            slot.memory = Some(Box::default());
        }
        let slot = self.slots.get(key).and_then(Option::as_ref);
        if slot.is_some_and(|slot| slot.removed) {
            self.slots[key] = None;
            self.free.push(key);
            return;
        }
        let now = Instant::now();
        if let Some(slot) = self.slots.get_mut(key).and_then(Option::as_mut) {
            let check = &self.plan.checks[slot.index];
            slot.due = check
                .runs_in(self.phase)
                .then(|| now + check.interval_in(self.phase));
            if let Some(due) = slot.due {
                self.queue.push(Reverse((due, key)));
            }
        }
    }

    /// Sends the gathered results to the engine once their tick has come. False when the engine
    /// is gone or the daemon is stopping. While the engine's queue is full (the engine is writing
    /// a minute of history), results wait here and probing goes on; only when more than
    /// [`MAX_WAITING`] per check of the shard wait does the shard wait too (and start no probe),
    /// as backpressure.
    async fn flush(&mut self, now: Instant) -> bool {
        match self.flush_at {
            Some(at) if at <= now => self.flush_at = None,
            _ => return true,
        }
        if self.outbox.is_empty() {
            return true;
        }
        let limit = self.slots.len().max(1) * MAX_WAITING;
        // One message for the whole hand-over: sending result by result woke the engine's
        // thread for each while it was taking the ones before (about ten wake-ups a hand-over).
        let capacity = self.outbox.len();
        let results = std::mem::take(&mut self.outbox);
        let sent = match self.link.observations.try_send(results) {
            Ok(()) => true,
            Err(TrySendError::Closed(_)) => false,
            Err(TrySendError::Full(results)) if results.len() < limit => {
                // Try again next tick, with what finishes meanwhile.
                self.outbox = results;
                self.flush_at = Some(aligned(now + TICK_RETRY));
                return true;
            }
            Err(TrySendError::Full(results)) => {
                let sent = tokio::select! {
                    () = self.link.shutdown.cancelled() => return false,
                    sent = self.link.observations.send(results) => sent,
                };
                sent.is_ok()
            }
        };
        // The next hand-over fills a vector the engine gave back, taken only once this one left.
        self.outbox = (self.link.spent.take()).unwrap_or_else(|| Vec::with_capacity(capacity));
        sent
    }

    /// Takes the newly published plan: slots of removed or changed checks go (a probe in flight
    /// for one is discarded when it finishes), unchanged checks keep their slot with the new
    /// index, and new or changed checks of this shard get a fresh slot.
    fn follow_plan(&mut self) {
        let published = self.link.plans.borrow_and_update().clone();
        if published.generation == self.generation {
            return;
        }
        let old = self.plan.clone();
        let new = published.plan.clone();
        let positions: HashMap<&str, usize> = new
            .checks
            .iter()
            .enumerate()
            .map(|(index, check)| (check.id.as_str(), index))
            .collect();
        let mut kept = vec![false; new.checks.len()];
        for key in 0..self.slots.len() {
            let Some(slot) = self.slots[key].as_mut() else {
                continue;
            };
            if slot.removed {
                continue;
            }
            let check = &old.checks[slot.index];
            match positions.get(check.id.as_str()) {
                Some(&index) if probes_alike(&old, check, &new, &new.checks[index]) => {
                    slot.index = index;
                    kept[index] = true;
                }
                _ if slot.probing() => slot.removed = true,
                _ => {
                    self.slots[key] = None;
                    self.free.push(key);
                }
            }
        }
        self.plan = new;
        self.generation = published.generation;
        self.context = Arc::new(ProbeContext::new(&self.plan, self.context.clock().clone()));
        let now = Instant::now();
        for (index, kept) in kept.into_iter().enumerate() {
            if !kept && self.owns(index) {
                self.add(index, now);
            }
        }
        self.rebuild_queue();
    }

    /// Re-plans every check for a new phase: whether it runs, and its interval.
    fn follow_phase(&mut self) {
        let new_phase = *self.link.phase.borrow_and_update();
        if new_phase == self.phase {
            return;
        }
        let old_phase = std::mem::replace(&mut self.phase, new_phase);
        let now = Instant::now();
        for slot in self.slots.iter_mut().flatten() {
            // A probing check is scheduled when its probe finishes, in the new phase.
            if slot.probing() {
                continue;
            }
            let check = &self.plan.checks[slot.index];
            slot.due = if check.runs_in(new_phase) {
                let interval = check.interval_in(new_phase);
                match (slot.due, slot.last_start) {
                    // Newly active: probe promptly, spread.
                    (None, _) | (_, None) => Some(first_due(now, interval, slot.fraction)),
                    // A new interval counts from the last probe.
                    (Some(_), Some(last)) if interval != check.interval_in(old_phase) => {
                        Some((last + interval).max(now))
                    }
                    (Some(due), Some(_)) => Some(due),
                }
            } else {
                None
            };
        }
        self.rebuild_queue();
    }

    /// The queue again from the slots' due times (after a reload or a phase change).
    fn rebuild_queue(&mut self) {
        self.queue = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(key, slot)| Some(Reverse((slot.as_ref()?.due?, key))))
            .collect();
    }
}

/// Counts a probe in `golive_probes_in_flight` while it lives (also if its task is dropped).
struct InFlight<'a>(&'a prometheus::IntGauge);

impl<'a> InFlight<'a> {
    fn new(gauge: &'a prometheus::IntGauge) -> InFlight<'a> {
        gauge.inc();
        InFlight(gauge)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// One probe of the check at `index` of `plan`, due at `planned`: waits for a permit, probes
/// with the check's hard timeout and gives back the memory with the result.
#[allow(clippy::too_many_arguments)]
async fn probe(
    key: usize,
    planned: Instant,
    plan: Arc<Plan>,
    index: usize,
    context: Arc<ProbeContext>,
    permits: Arc<Semaphore>,
    metrics: Arc<Metrics>,
    mut memory: Box<ProbeMemory>,
) -> Finished {
    // The semaphore is never closed; without a permit the probe runs anyway.
    let permit = permits.acquire().await.ok();
    let lag = Instant::now().saturating_duration_since(planned);
    let started = context.clock().now();
    let result = {
        let _in_flight = InFlight::new(&metrics.probes_in_flight);
        run_probe(&plan.checks[index], &context, &mut memory).await
    };
    drop(permit);
    Finished {
        key,
        planned,
        memory,
        started,
        lag,
        result,
    }
}
