//! When checks are probed, as pure functions of instants and ids: the 5 ms tick probe starts are
//! aligned to, where in its interval a check starts and which shard it belongs to (both from a
//! hash of its id, stable across restarts), the first due time after a phase makes a check
//! active, and [`next_due`], the next due time after a probe.

use std::time::Duration;

use tokio::time::Instant;

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
