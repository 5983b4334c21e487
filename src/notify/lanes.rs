//! Delivery lanes: one per channel, so a slow, hung or failing channel never holds back another.
//!
//! Each lane has its own concurrency limit ([`LANE_PARALLEL`] messages in flight), starts its due
//! messages oldest first, and never starts an alert's message while an older one of the same alert
//! is on its way on that channel: the messages one change wrote (a level paging several people, in
//! one transaction) go out in parallel, and a later level waits for the earlier one, so pages
//! arrive in escalation order. The launch's stakeholder updates form one such queue too (the
//! dispatcher gives them their own key), so they arrive in the order of the phases they announce.
//! Other messages of no alert are independent.
//!
//! A lane whose delivery fails because of the channel (the server cannot be reached, times out,
//! fails the TLS handshake, answers SMTP 421 or HTTP 5xx/429) is **down**: a circuit breaker. A
//! message refused for itself (an SMTP 4xx for one recipient, greylisting) only waits out its own
//! backoff and leaves the lane up. While down, its waiting messages
//! are not sent on their own backoff; instead one message at a time goes out as the probe, every
//! [`PROBE_EVERY`], taken in turn from the heads of the lane's queues (the oldest message of each
//! alert), so the channel is not hammered and one message that fails for reasons of its own cannot
//! keep the others back. The first success brings the lane up again: the dispatcher says so in
//! its report, the engine makes every waiting message of the channel due at once, and they leave
//! oldest first. The probe is a real page rather than a synthetic request, so "the channel works
//! again" means exactly "a page got through".
//!
//! A server that answers "too many requests, come back in N s" (HTTP 429 or 503 with
//! `Retry-After`) is not down — it answered — but asked for quiet: the lane is **paused** until
//! then (nothing starts on it, whatever is due), and then carries on as usual. A down lane's
//! probe answered so waits at least as long before the next probe.
//!
//! Pure: the dispatcher passes the time in.

use std::collections::HashMap;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

/// How many messages one channel has in flight at most.
pub const LANE_PARALLEL: usize = 8;
/// How often a down channel is tried again (with one message).
pub const PROBE_EVERY: Duration = Duration::from_secs(2);

/// Where a message stands in the order of its channel: an alert's, in the batch of the change
/// that wrote it (the rows' creation time: one level's fan-out is one batch), or a lone message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QueueKey {
    Alert { alert: i64, batch: i64 },
    Row(i64),
}

/// How a delivery ended, as far as the lane cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaneOutcome {
    Delivered,
    /// Worth retrying: says the channel is in trouble.
    Retryable,
    /// Worth retrying, but only this message was refused: says nothing about the channel.
    Deferred,
    /// The server asked for nothing more before `wait` has passed (`Retry-After`).
    RateLimited {
        wait: Duration,
    },
    /// This message will never go: says nothing about the channel.
    Permanent,
}

/// Every channel's lane.
#[derive(Debug, Default)]
pub struct Lanes {
    lanes: HashMap<String, Lane>,
}

#[derive(Debug, Default)]
struct Lane {
    in_flight: usize,
    /// The batches of each alert in flight.
    busy: HashMap<i64, Vec<i64>>,
    down: Option<Down>,
    /// Nothing starts before this time: the server's `Retry-After`.
    paused_until: Option<Timestamp>,
}

#[derive(Debug, Clone)]
struct Down {
    since: Timestamp,
    next_probe: Timestamp,
    /// The queues of the probe in flight, if one is.
    probe: Option<Vec<QueueKey>>,
    /// Which queue head the next probe takes (in turn).
    turn: usize,
}

/// What a finished delivery changed in its lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaneChange {
    None,
    /// The channel failed and is down from now on.
    WentDown,
    /// The channel was down since the given time and works again.
    CameUp {
        down_since: Timestamp,
    },
}

impl Lanes {
    pub fn new() -> Lanes {
        Lanes::default()
    }

    /// Takes `channel` as down since `since`, with a probe due at once: after a restart, a channel
    /// whose messages were being retried is probed now, and if the page gets through, everything
    /// that waited goes out at once instead of sleeping out the backoff from before the restart.
    pub fn assume_down(&mut self, channel: &str, since: Timestamp, now: Timestamp) {
        self.lanes.entry(channel.to_string()).or_default().down = Some(Down {
            since,
            next_probe: now,
            probe: None,
            turn: 0,
        });
    }

    /// Whether `channel` is down (its messages wait for a probe to get through).
    pub fn is_down(&self, channel: &str) -> bool {
        self.lanes
            .get(channel)
            .is_some_and(|lane| lane.down.is_some())
    }

    /// Whether `channel` asked for quiet that has not passed at `now` (`Retry-After`).
    pub fn is_paused(&self, channel: &str, now: Timestamp) -> bool {
        self.lanes
            .get(channel)
            .and_then(|lane| lane.paused_until)
            .is_some_and(|until| now < until)
    }

    /// The channels that are down and due a probe at `now` (none in flight): only for these is
    /// it worth reading the queue heads.
    pub fn probes_due(&self, now: Timestamp) -> Vec<String> {
        let mut down: Vec<String> = self
            .lanes
            .iter()
            .filter(|(_, lane)| {
                lane.down
                    .as_ref()
                    .is_some_and(|down| down.probe.is_none() && now >= down.next_probe)
            })
            .map(|(channel, _)| channel.clone())
            .collect();
        down.sort();
        down
    }

    /// Whether a message of `keys` may start on an up `channel` now: the lane has room and none of
    /// its queues has a message in flight.
    pub fn may_start(&self, channel: &str, keys: &[QueueKey]) -> bool {
        match self.lanes.get(channel) {
            None => true,
            Some(lane) => {
                lane.down.is_none()
                    && lane.in_flight < LANE_PARALLEL
                    && keys.iter().all(|key| match key {
                        // Not while an older batch of the same alert is on its way.
                        QueueKey::Alert { alert, batch } => lane
                            .busy
                            .get(alert)
                            .is_none_or(|batches| batches.iter().all(|busy| busy >= batch)),
                        QueueKey::Row(_) => true,
                    })
            }
        }
    }

    /// For a down `channel` whose probe is due at `now`: the index of the queue head to probe
    /// among `heads` (oldest first), taking each queue in turn.
    pub fn probe_pick(&self, channel: &str, heads: usize, now: Timestamp) -> Option<usize> {
        let down = self.lanes.get(channel)?.down.as_ref()?;
        (heads > 0 && down.probe.is_none() && now >= down.next_probe).then_some(down.turn % heads)
    }

    /// Records that a message of `keys` started on `channel` (`probe`: as the down lane's probe).
    pub fn started(&mut self, channel: &str, keys: &[QueueKey], probe: bool) {
        let lane = self.lanes.entry(channel.to_string()).or_default();
        lane.in_flight += 1;
        for key in keys {
            if let QueueKey::Alert { alert, batch } = key {
                lane.busy.entry(*alert).or_default().push(*batch);
            }
        }
        if probe && let Some(down) = lane.down.as_mut() {
            down.probe = Some(keys.to_vec());
            down.turn = down.turn.wrapping_add(1);
        }
    }

    /// Records how a message of `keys` on `channel` ended at `now`, and what that changed.
    pub fn finished(
        &mut self,
        channel: &str,
        keys: &[QueueKey],
        outcome: LaneOutcome,
        now: Timestamp,
    ) -> LaneChange {
        let lane = self.lanes.entry(channel.to_string()).or_default();
        lane.in_flight = lane.in_flight.saturating_sub(1);
        for key in keys {
            if let QueueKey::Alert { alert, batch } = key
                && let Some(batches) = lane.busy.get_mut(alert)
            {
                if let Some(at) = batches.iter().position(|busy| busy == batch) {
                    batches.swap_remove(at);
                }
                if batches.is_empty() {
                    lane.busy.remove(alert);
                }
            }
        }
        let after = |wait: Duration| {
            now.checked_add(SignedDuration::try_from(wait).unwrap_or_default())
                .unwrap_or(now)
        };
        let next_probe = after(PROBE_EVERY);
        match (outcome, lane.down.as_mut()) {
            (LaneOutcome::Delivered, Some(down)) => {
                let since = down.since;
                lane.down = None;
                LaneChange::CameUp { down_since: since }
            }
            (LaneOutcome::Delivered, None) => LaneChange::None,
            (LaneOutcome::Retryable, Some(down)) => {
                // Only the probe's own end schedules the next probe; a message that was already
                // in flight when the lane went down changes nothing.
                if down.probe.as_deref() == Some(keys) {
                    down.probe = None;
                    down.next_probe = next_probe;
                }
                LaneChange::None
            }
            (LaneOutcome::Retryable, None) => {
                lane.down = Some(Down {
                    since: now,
                    next_probe,
                    probe: None,
                    turn: 0,
                });
                LaneChange::WentDown
            }
            (LaneOutcome::RateLimited { wait }, Some(down)) => {
                if down.probe.as_deref() == Some(keys) {
                    down.probe = None;
                    down.next_probe = after(wait.max(PROBE_EVERY));
                }
                LaneChange::None
            }
            (LaneOutcome::RateLimited { wait }, None) => {
                let until = after(wait);
                lane.paused_until = Some(lane.paused_until.map_or(until, |was| was.max(until)));
                LaneChange::None
            }
            (LaneOutcome::Deferred | LaneOutcome::Permanent, Some(down)) => {
                // The probe's message was refused for itself, not for the channel: probe with
                // the next one at once.
                if down.probe.as_deref() == Some(keys) {
                    down.probe = None;
                    down.next_probe = now;
                }
                LaneChange::None
            }
            (LaneOutcome::Deferred | LaneOutcome::Permanent, None) => LaneChange::None,
        }
    }

    /// Forgets what is in flight after a delivery task was lost (it panicked): its queues are free.
    pub fn abandoned(&mut self, channel: &str, keys: &[QueueKey], now: Timestamp) {
        self.finished(channel, keys, LaneOutcome::Permanent, now);
    }

    /// When the next probe of a down lane is due (for the dispatcher's sleep).
    pub fn next_probe(&self) -> Option<Timestamp> {
        self.lanes
            .values()
            .filter_map(|lane| lane.down.as_ref())
            .filter(|down| down.probe.is_none())
            .map(|down| down.next_probe)
            .min()
    }

    /// When the first lane paused at `now` may carry messages again (for the dispatcher's
    /// sleep); a pause that has passed is forgotten.
    pub fn next_resume(&mut self, now: Timestamp) -> Option<Timestamp> {
        for lane in self.lanes.values_mut() {
            if lane.paused_until.is_some_and(|until| until <= now) {
                lane.paused_until = None;
            }
        }
        self.lanes
            .values()
            .filter_map(|lane| lane.paused_until)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_900_000_000 + seconds).unwrap()
    }

    fn alert(id: i64) -> QueueKey {
        QueueKey::Alert {
            alert: id,
            batch: 0,
        }
    }

    #[test]
    fn an_alerts_messages_leave_one_after_the_other_on_a_channel() {
        let mut lanes = Lanes::new();
        assert!(lanes.may_start("email", &[alert(1)]));
        lanes.started("email", &[alert(1)], false);
        assert!(
            lanes.may_start("email", &[alert(1)]),
            "another person paged by the same change goes at once"
        );
        let next_level = QueueKey::Alert {
            alert: 1,
            batch: 10,
        };
        assert!(
            !lanes.may_start("email", &[next_level]),
            "the next level waits"
        );
        assert!(
            lanes.may_start("email", &[alert(2)]),
            "another alert does not"
        );
        assert!(
            lanes.may_start("chat", &[alert(1)]),
            "another channel does not"
        );
        lanes.finished("email", &[alert(1)], LaneOutcome::Delivered, at(0));
        assert!(lanes.may_start("email", &[alert(1)]));
    }

    #[test]
    fn a_lane_has_room_for_a_limited_number_of_messages() {
        let mut lanes = Lanes::new();
        for row in 0..LANE_PARALLEL as i64 {
            assert!(lanes.may_start("chat", &[QueueKey::Row(row)]));
            lanes.started("chat", &[QueueKey::Row(row)], false);
        }
        assert!(!lanes.may_start("chat", &[QueueKey::Row(99)]));
        assert!(lanes.may_start("email", &[QueueKey::Row(99)]));
    }

    #[test]
    fn a_failing_channel_goes_down_and_is_probed_with_one_message_at_a_time() {
        let mut lanes = Lanes::new();
        lanes.started("email", &[alert(1)], false);
        assert_eq!(
            lanes.finished("email", &[alert(1)], LaneOutcome::Retryable, at(0)),
            LaneChange::WentDown
        );
        assert!(lanes.is_down("email"));
        assert!(
            !lanes.may_start("email", &[alert(2)]),
            "nothing starts on its own"
        );
        assert_eq!(lanes.probe_pick("email", 2, at(1)), None, "not yet");
        assert_eq!(lanes.next_probe(), Some(at(2)));
        assert_eq!(lanes.probe_pick("email", 2, at(2)), Some(0));
        lanes.started("email", &[alert(1)], true);
        assert_eq!(
            lanes.probe_pick("email", 2, at(3)),
            None,
            "one probe at a time"
        );
        lanes.finished("email", &[alert(1)], LaneOutcome::Retryable, at(3));
        assert_eq!(
            lanes.probe_pick("email", 2, at(5)),
            Some(1),
            "the next probe takes the next alert's oldest message"
        );
    }

    #[test]
    fn the_first_delivery_brings_a_down_channel_up() {
        let mut lanes = Lanes::new();
        lanes.started("email", &[alert(1)], false);
        lanes.finished("email", &[alert(1)], LaneOutcome::Retryable, at(0));
        lanes.started("email", &[alert(1)], true);
        assert_eq!(
            lanes.finished("email", &[alert(1)], LaneOutcome::Delivered, at(30)),
            LaneChange::CameUp { down_since: at(0) }
        );
        assert!(!lanes.is_down("email"));
        assert!(lanes.may_start("email", &[alert(1)]));
        assert_eq!(lanes.next_probe(), None);
    }

    #[test]
    fn a_channel_taken_as_down_after_a_restart_is_probed_at_once() {
        let mut lanes = Lanes::new();
        lanes.assume_down("email", at(-100), at(0));
        assert!(!lanes.may_start("email", &[alert(1)]));
        assert_eq!(lanes.probe_pick("email", 1, at(0)), Some(0));
        lanes.started("email", &[alert(1)], true);
        assert_eq!(
            lanes.finished("email", &[alert(1)], LaneOutcome::Delivered, at(1)),
            LaneChange::CameUp {
                down_since: at(-100)
            }
        );
    }

    #[test]
    fn a_channel_asking_for_quiet_is_paused_until_then_and_not_taken_as_down() {
        let mut lanes = Lanes::new();
        lanes.started("chat", &[alert(1)], false);
        lanes.started("chat", &[alert(2)], false);
        let wait = Duration::from_secs(30);
        assert_eq!(
            lanes.finished(
                "chat",
                &[alert(1)],
                LaneOutcome::RateLimited { wait },
                at(0)
            ),
            LaneChange::None
        );
        // A shorter wait answered to a message in flight does not shorten the pause.
        let short = Duration::from_secs(5);
        lanes.finished(
            "chat",
            &[alert(2)],
            LaneOutcome::RateLimited { wait: short },
            at(1),
        );
        assert!(!lanes.is_down("chat"), "the server answered");
        assert!(lanes.is_paused("chat", at(29)));
        assert!(!lanes.is_paused("email", at(29)), "another channel is not");
        assert_eq!(lanes.next_resume(at(29)), Some(at(30)));
        assert!(!lanes.is_paused("chat", at(30)));
        assert_eq!(
            lanes.next_resume(at(30)),
            None,
            "a pause that passed is gone"
        );
    }

    #[test]
    fn a_down_channels_probe_answered_with_retry_after_waits_that_long_for_the_next() {
        let mut lanes = Lanes::new();
        lanes.started("chat", &[alert(1)], false);
        lanes.finished("chat", &[alert(1)], LaneOutcome::Retryable, at(0));
        lanes.started("chat", &[alert(1)], true);
        let wait = Duration::from_secs(20);
        lanes.finished(
            "chat",
            &[alert(1)],
            LaneOutcome::RateLimited { wait },
            at(2),
        );
        assert!(lanes.is_down("chat"));
        assert_eq!(lanes.probe_pick("chat", 1, at(21)), None);
        assert_eq!(lanes.next_probe(), Some(at(22)));
        assert_eq!(lanes.probe_pick("chat", 1, at(22)), Some(0));
    }

    #[test]
    fn a_message_refused_for_itself_leaves_the_lane_up() {
        let mut lanes = Lanes::new();
        lanes.started("email", &[alert(1)], false);
        assert_eq!(
            lanes.finished("email", &[alert(1)], LaneOutcome::Deferred, at(0)),
            LaneChange::None
        );
        assert!(!lanes.is_down("email"));
        assert!(lanes.may_start("email", &[alert(2)]));
    }

    #[test]
    fn only_the_probe_itself_schedules_the_next_probe() {
        let mut lanes = Lanes::new();
        lanes.started("email", &[alert(1)], false);
        lanes.started("email", &[alert(2)], false);
        lanes.finished("email", &[alert(1)], LaneOutcome::Retryable, at(0));
        lanes.started("email", &[alert(3)], true);
        // A message in flight since before the lane went down ends: the probe is still out.
        lanes.finished("email", &[alert(2)], LaneOutcome::Retryable, at(1));
        assert_eq!(lanes.probe_pick("email", 3, at(5)), None);
        lanes.finished("email", &[alert(3)], LaneOutcome::Retryable, at(5));
        assert!(lanes.probe_pick("email", 3, at(7)).is_some());
    }

    #[test]
    fn a_message_that_fails_for_itself_does_not_hold_the_probe() {
        let mut lanes = Lanes::new();
        lanes.started("email", &[alert(1)], false);
        lanes.finished("email", &[alert(1)], LaneOutcome::Retryable, at(0));
        lanes.started("email", &[alert(1)], true);
        assert_eq!(
            lanes.finished("email", &[alert(1)], LaneOutcome::Permanent, at(3)),
            LaneChange::None
        );
        assert!(lanes.is_down("email"));
        assert!(lanes.probe_pick("email", 1, at(3)).is_some());
    }
}
