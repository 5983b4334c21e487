//! What the demo prints: one line per event, stamped with the demo's clock, saying what happens
//! and why it matters; and, at the end, where everything the launch left behind is.

use std::fmt::Display;
use std::path::Path;
use std::sync::Arc;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::clock::{Clock, DemoClock};

/// How far an event line is indented after its time stamp (`[Fri 19:45:03] `).
const STAMP_WIDTH: usize = 15;
/// Chat messages are cut to this many characters in the narrative (the log has them whole).
const CHAT_WIDTH: usize = 110;

/// Prints the narrative to standard output.
#[derive(Clone)]
pub struct Narrator {
    clock: Arc<DemoClock>,
    timezone: TimeZone,
}

impl Narrator {
    pub fn new(clock: Arc<DemoClock>, timezone: TimeZone) -> Narrator {
        Narrator { clock, timezone }
    }

    /// A plain line (headings, the introduction, the summary).
    pub fn line(&self, text: impl Display) {
        println!("{text}");
    }

    /// An event, stamped with the demo's time.
    pub fn event(&self, text: impl Display) {
        println!("[{}] {text}", self.stamp(self.clock.now()));
    }

    /// A detail of the event before it, indented under its text.
    pub fn detail(&self, text: impl Display) {
        println!("{:width$}{text}", "", width = STAMP_WIDTH);
    }

    /// What the team chat received (the demo service's webhook receiver), one line, shortened.
    pub fn chat(&self, text: &str) {
        self.detail(format!("team chat ← {}", first_line_shortened(text)));
    }

    /// What the on-call pager received (the demo shop's PagerDuty-shaped receiver), one line.
    pub fn pager(&self, text: &str) {
        self.detail(format!("pagerduty ← {}", first_line_shortened(text)));
    }

    /// A time-lapse jump of the demo's clock.
    pub fn time_lapse(&self, to: Timestamp, why: impl Display) {
        println!(
            "{:>width$} time-lapse to {}: {why}",
            "»»",
            self.long_stamp(to),
            width = STAMP_WIDTH - 1
        );
    }

    /// `Fri 19:45:03`.
    pub fn stamp(&self, at: Timestamp) -> String {
        at.to_zoned_datetime(self.timezone.clone())
            .strftime("%a %H:%M:%S")
            .to_string()
    }

    /// `Sat 2026-11-28 09:00:00 UTC`: the weekday, as in [`Self::stamp`], then the time as people
    /// read it everywhere.
    pub fn long_stamp(&self, at: Timestamp) -> String {
        let weekday = at
            .to_zoned_datetime(self.timezone.clone())
            .strftime("%a")
            .to_string();
        format!("{weekday} {}", crate::human::time(at, &self.timezone))
    }
}

/// What the launch left behind, for the closing summary.
pub struct LeftBehind<'a> {
    pub folder: &'a Path,
    pub plan: &'a Path,
    pub outbox: &'a Path,
    pub emails: usize,
    pub timeline: &'a Path,
    pub webhook_log: &'a Path,
    pub webhooks: u64,
    pub daemon_log: &'a Path,
}

/// Prints where to find the emails, the timeline, the reports and the rest.
pub fn summary(narrator: &Narrator, left: &LeftBehind<'_>) {
    narrator.line("");
    narrator.line(format!(
        "The demo launch is over. Everything it left behind is in {}:",
        left.folder.display()
    ));
    narrator.line(format!(
        "  Emails:    {} .eml files in {} (open them with any mail client; sorted by time)",
        left.emails,
        left.outbox.display()
    ));
    narrator.line(
        "             the pages, the escalation to level 2, the acknowledgement and resolution notices,",
    );
    narrator.line("             the action-item reminder, and the reports");
    narrator.line(
        "  Reports:   the two daily reports and the final report are emails in that folder too",
    );
    narrator.line(format!(
        "  Timeline:  {} (the minutes of the launch, Markdown)",
        left.timeline.display()
    ));
    narrator.line(format!(
        "  Chat:      {} ({} messages the demo service's webhook received, and the pager's events, one JSON line each)",
        left.webhook_log.display(),
        left.webhooks
    ));
    narrator.line(format!(
        "  The plan:  {} (try `golive check {}`)",
        left.plan.display(),
        left.plan.display()
    ));
    narrator.line(format!("  golive's log: {}", left.daemon_log.display()));
}

/// The first line of `text`, at most [`CHAT_WIDTH`] characters, `…` marking anything left out.
fn first_line_shortened(text: &str) -> String {
    let first_line = text.lines().next().unwrap_or_default();
    let mut shown: String = first_line.chars().take(CHAT_WIDTH).collect();
    if shown.len() < first_line.len() || text.lines().nth(1).is_some() {
        shown.push_str(" …");
    }
    shown
}
