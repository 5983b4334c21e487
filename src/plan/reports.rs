//! Typed `[reports]` section: when the daily report goes out (a local time in the launch's time
//! zone), to whom, during which phases, through which email channel, the per-check availability
//! objectives, and an optional folder of templates that replaces the built-in ones.

use std::collections::BTreeMap;
use std::path::PathBuf;

use jiff::civil::Time;

use super::alerting::Recipient;
use crate::domain::Phase;

/// The default send time when `[reports]` sets none (and of action-item reminders without a
/// `[reports]` section).
pub const DEFAULT_SEND_TIME: Time = jiff::civil::time(9, 0, 0, 0);

/// The phases daily reports go out in when `phases` is not given.
pub const DEFAULT_PHASES: [Phase; 2] = [Phase::Verifying, Phase::Hypercare];

/// Section `[reports]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Reports {
    /// `time` (default `09:00`): the local time of day the daily report goes out, in the launch's
    /// time zone.
    pub time: Time,
    /// `to`: people ids, roles and addresses that receive the daily and the final report.
    pub to: Vec<Recipient>,
    /// `phases` (default `verifying`, `hypercare`): daily reports go out while the launch is in
    /// one of these.
    pub phases: Vec<Phase>,
    /// `channel` (default: the plan's first email channel): the email channel reports go through.
    pub channel: String,
    /// `objectives = { checkout = 99.9 }`: availability objectives in percent, by check id.
    pub objectives: BTreeMap<String, f64>,
    /// `templates`: a folder whose `daily.html`, `daily.txt`, `final.html` and `final.txt` replace
    /// the built-in templates (each file is optional), resolved against the plan file's folder.
    pub templates: Option<PathBuf>,
}
