//! Health-change log entries the store could not write yet (a full disk, an I/O error), kept in
//! memory with their own times until it can.
//!
//! The queue is bounded so an outage of days cannot exhaust memory: past its capacity it keeps the
//! oldest entries (how the trouble began) and the newest (how things stand now) and counts the
//! ones in between, which become one entry saying how many were dropped and over what span. What
//! it hands out to write is in order, oldest first; the dropped-count entry sits where the dropped
//! ones were. Pure: no store, no clock.

use std::collections::VecDeque;

use jiff::Timestamp;

use crate::core::log::LogData;
use crate::core::log::data::CheckEvent;
use crate::core::log::{LogKind, NewEntry};

/// How many entries wait at most; beyond it the middle ones are dropped and counted.
pub(super) const PENDING_LOG_CAPACITY: usize = 10_000;

/// Entries waiting for the store, oldest first.
#[derive(Debug)]
pub(super) struct PendingLog {
    /// The oldest entries, kept whatever comes after them (half the capacity).
    oldest: Vec<NewEntry>,
    oldest_capacity: usize,
    /// The newest entries; when full, its oldest gives way to a newer one.
    newest: VecDeque<NewEntry>,
    newest_capacity: usize,
    dropped: Option<Dropped>,
}

/// The entries given up between the oldest and newest kept.
#[derive(Debug, Clone, Copy)]
struct Dropped {
    count: u64,
    first: Timestamp,
    last: Timestamp,
}

impl PendingLog {
    /// A queue that keeps at most `capacity` entries (at least two: the oldest and the newest).
    pub(super) fn new(capacity: usize) -> PendingLog {
        let capacity = capacity.max(2);
        let oldest_capacity = capacity / 2;
        PendingLog {
            oldest: Vec::new(),
            oldest_capacity,
            newest: VecDeque::new(),
            newest_capacity: capacity - oldest_capacity,
            dropped: None,
        }
    }

    /// Adds an entry after every one already waiting.
    pub(super) fn push(&mut self, entry: NewEntry) {
        if self.oldest.len() < self.oldest_capacity {
            self.oldest.push(entry);
            return;
        }
        self.newest.push_back(entry);
        if self.newest.len() > self.newest_capacity
            && let Some(given_up) = self.newest.pop_front()
        {
            let dropped = self.dropped.get_or_insert(Dropped {
                count: 0,
                first: given_up.at,
                last: given_up.at,
            });
            dropped.count += 1;
            dropped.last = given_up.at;
        }
    }

    /// How many entries wait (not counting the one that would say how many were dropped).
    pub(super) fn len(&self) -> usize {
        self.oldest.len() + self.newest.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many entries were given up since the queue was last emptied.
    pub(super) fn dropped(&self) -> u64 {
        self.dropped.map_or(0, |dropped| dropped.count)
    }

    /// What to write, oldest first: the oldest kept, one entry for those dropped (if any), the
    /// newest kept.
    pub(super) fn to_write(&self) -> Vec<NewEntry> {
        let mut entries = Vec::with_capacity(self.len() + 1);
        entries.extend(self.oldest.iter().cloned());
        if let Some(dropped) = self.dropped {
            entries.push(dropped_entry(
                dropped,
                self.oldest_capacity + self.newest_capacity,
            ));
        }
        entries.extend(self.newest.iter().cloned());
        entries
    }

    /// Forgets everything (after it was written).
    pub(super) fn clear(&mut self) {
        self.oldest.clear();
        self.newest.clear();
        self.dropped = None;
    }
}

/// The entry that stands for the dropped ones, dated at the last of them so the log stays in time
/// order.
fn dropped_entry(dropped: Dropped, capacity: usize) -> NewEntry {
    NewEntry {
        at: dropped.last,
        author: "golive".to_string(),
        kind: LogKind::Check,
        text: format!(
            "{} check health {} between {} and {} {} missing from this log: golive's store could not write for so long that more than {capacity} waited, and golive keeps only the first and the last of them in memory",
            dropped.count,
            if dropped.count == 1 {
                "change"
            } else {
                "changes"
            },
            dropped.first,
            dropped.last,
            if dropped.count == 1 { "is" } else { "are" },
        ),
        data: LogData::Check(CheckEvent::Dropped {
            dropped: dropped.count,
            first: dropped.first,
            last: dropped.last,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(second: i64) -> NewEntry {
        NewEntry {
            at: Timestamp::from_second(1_800_000_000 + second).unwrap(),
            author: "golive".into(),
            kind: LogKind::Check,
            text: format!("change {second}"),
            data: LogData::None,
        }
    }

    fn texts(pending: &PendingLog) -> Vec<String> {
        pending
            .to_write()
            .into_iter()
            .map(|entry| entry.text)
            .collect()
    }

    #[test]
    fn entries_within_capacity_are_written_in_the_order_they_came() {
        let mut pending = PendingLog::new(10);
        assert!(pending.is_empty());
        for second in 0..7 {
            pending.push(entry(second));
        }
        assert_eq!(pending.len(), 7);
        assert_eq!(pending.dropped(), 0);
        let written = pending.to_write();
        let seconds: Vec<i64> = written.iter().map(|entry| entry.at.as_second()).collect();
        assert_eq!(
            seconds,
            (0..7).map(|s| 1_800_000_000 + s).collect::<Vec<_>>()
        );
        assert!(written.iter().all(|entry| entry.kind == LogKind::Check));
    }

    #[test]
    fn past_capacity_the_oldest_and_newest_are_kept_and_the_middle_counted_in_one_entry() {
        let mut pending = PendingLog::new(4);
        for second in 0..10 {
            pending.push(entry(second));
        }
        assert_eq!(pending.len(), 4);
        assert_eq!(pending.dropped(), 6);
        let texts = texts(&pending);
        assert_eq!(texts.len(), 5, "{texts:?}");
        assert_eq!(&texts[..2], ["change 0", "change 1"]);
        assert!(
            texts[2].starts_with("6 check health changes between 2027-01-15T08:00:02Z and 2027-01-15T08:00:07Z are missing"),
            "{}",
            texts[2]
        );
        assert_eq!(&texts[3..], ["change 8", "change 9"]);
        let written = pending.to_write();
        assert!(
            written.windows(2).all(|pair| pair[0].at <= pair[1].at),
            "the dropped-count entry keeps the log in time order"
        );
        assert!(matches!(
            written[2].data,
            LogData::Check(CheckEvent::Dropped { dropped: 6, .. })
        ));
    }

    #[test]
    fn clearing_forgets_the_entries_and_the_dropped_count() {
        let mut pending = PendingLog::new(2);
        for second in 0..5 {
            pending.push(entry(second));
        }
        assert_eq!(pending.dropped(), 3);
        pending.clear();
        assert!(pending.is_empty());
        assert_eq!(pending.dropped(), 0);
        assert!(pending.to_write().is_empty());
        pending.push(entry(9));
        assert_eq!(texts(&pending), ["change 9"]);
    }

    #[test]
    fn the_default_capacity_holds_ten_thousand() {
        let mut pending = PendingLog::new(PENDING_LOG_CAPACITY);
        for second in 0..10_001 {
            pending.push(entry(second));
        }
        assert_eq!(pending.len(), 10_000);
        assert_eq!(pending.dropped(), 1);
        let written = pending.to_write();
        assert_eq!(written.len(), 10_001);
        assert_eq!(written[0].text, "change 0");
        assert_eq!(written[4_999].text, "change 4999");
        assert!(
            written[5_000]
                .text
                .starts_with("1 check health change between")
        );
        assert_eq!(written[10_000].text, "change 10000");
    }
}
