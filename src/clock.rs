//! The one place that reads the wall clock. Everything else is handed `now`.

use std::sync::atomic::{AtomicI64, Ordering};

use jiff::{SignedDuration, Timestamp};

/// A source of the current time; injected so the engine can be driven by tests and the demo.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;

    /// A number in `0.0..1.0` that spreads retries (jitter). Random by default; it sits on the
    /// clock's seam so a test that pins the time can pin the spread too.
    fn jitter(&self) -> f64 {
        crate::random::unit()
    }
}

/// The instant `duration` after `at` (`at` itself should the sum leave the time range).
pub fn instant_after(at: Timestamp, duration: std::time::Duration) -> Timestamp {
    SignedDuration::try_from(duration)
        .ok()
        .and_then(|duration| at.checked_add(duration).ok())
        .unwrap_or(at)
}

/// The real wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// The demo's clock: the wall clock plus an offset that only ever grows, so time runs at its
/// real pace between the demo's acts and jumps forward between them (a time-lapse over the night
/// of hypercare). It never goes backwards, so nothing that measures spans (rate windows,
/// escalation delays) sees negative time.
#[derive(Debug, Default)]
pub struct DemoClock {
    /// Milliseconds added to the wall clock.
    offset_ms: AtomicI64,
}

impl DemoClock {
    /// A clock that reads `start` now and runs at real pace from there.
    pub fn starting_at(start: Timestamp) -> DemoClock {
        let offset = start.duration_since(Timestamp::now());
        DemoClock {
            offset_ms: AtomicI64::new(offset.as_millis() as i64),
        }
    }

    /// Moves the clock forward so that it reads `target` now; a target in the clock's past
    /// changes nothing. Returns how far it jumped.
    pub fn jump_to(&self, target: Timestamp) -> SignedDuration {
        let wanted = target.duration_since(Timestamp::now()).as_millis() as i64;
        let before = self.offset_ms.fetch_max(wanted, Ordering::SeqCst);
        SignedDuration::from_millis(wanted.saturating_sub(before).max(0))
    }
}

impl Clock for DemoClock {
    fn now(&self) -> Timestamp {
        let offset = SignedDuration::from_millis(self.offset_ms.load(Ordering::SeqCst));
        Timestamp::now()
            .checked_add(offset)
            .unwrap_or_else(|_| Timestamp::now())
    }
}

/// A clock that stands still until it is moved: tests pin the time and step it forward
/// ([`ManualClock::advance`]) instead of sleeping, so "not before the delay" and "once a day" are
/// checked at exact instants. Public for the integration tests' harness; golive itself never
/// builds one.
#[derive(Debug)]
pub struct ManualClock {
    /// Milliseconds since the epoch.
    now_ms: AtomicI64,
}

impl ManualClock {
    /// A clock that reads `start` until it is advanced.
    pub fn starting_at(start: Timestamp) -> ManualClock {
        ManualClock {
            now_ms: AtomicI64::new(start.as_millisecond()),
        }
    }

    /// Moves the clock forward by `by` (a negative span moves nothing) and returns the new time.
    pub fn advance(&self, by: SignedDuration) -> Timestamp {
        let step = by.as_millis().clamp(0, i128::from(i64::MAX)) as i64;
        let after = self.now_ms.fetch_add(step, Ordering::SeqCst) + step;
        Timestamp::from_millisecond(after).unwrap_or(Timestamp::MAX)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millisecond(self.now_ms.load(Ordering::SeqCst)).unwrap_or(Timestamp::MAX)
    }

    /// No spread: a pinned clock makes retries due at exact instants.
    fn jitter(&self) -> f64 {
        0.5
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_clock_starts_where_it_is_told_and_runs_at_real_pace() {
        let start: Timestamp = "2030-05-01T19:45:00Z".parse().unwrap();
        let clock = DemoClock::starting_at(start);
        let read = clock.now();
        assert!(read >= start.checked_sub(SignedDuration::from_millis(5)).unwrap());
        assert!(read < start.checked_add(SignedDuration::from_secs(5)).unwrap());
    }

    #[test]
    fn demo_clock_jumps_forward_and_never_back() {
        let start: Timestamp = "2030-05-01T19:45:00Z".parse().unwrap();
        let clock = DemoClock::starting_at(start);
        let morning: Timestamp = "2030-05-02T09:00:00Z".parse().unwrap();
        let jumped = clock.jump_to(morning);
        assert!(jumped > SignedDuration::from_hours(13));
        assert!(clock.now() >= morning.checked_sub(SignedDuration::from_millis(5)).unwrap());
        // Back to the evening before: refused, the clock stays in the morning.
        assert_eq!(clock.jump_to(start), SignedDuration::ZERO);
        assert!(clock.now() >= morning.checked_sub(SignedDuration::from_millis(5)).unwrap());
    }

    #[test]
    fn manual_clock_stands_still_until_advanced_and_never_goes_back() {
        let start: Timestamp = "2030-05-01T19:45:00Z".parse().unwrap();
        let clock = ManualClock::starting_at(start);
        assert_eq!(clock.now(), start);
        assert_eq!(clock.now(), start, "no time passes by itself");
        let later = clock.advance(SignedDuration::from_mins(90));
        assert_eq!(later, "2030-05-01T21:15:00Z".parse::<Timestamp>().unwrap());
        assert_eq!(clock.now(), later);
        assert_eq!(clock.advance(SignedDuration::from_secs(-60)), later);
    }
}
