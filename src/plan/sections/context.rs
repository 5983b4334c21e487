//! What the communication sections (`[[channels]]`, `[[silences]]`, `[rollback]`, `[reports]`)
//! are checked against: the names read before them.

use std::path::Path;

use jiff::tz::TimeZone;

use crate::plan::reader::{Ids, Recipients};

/// What the communication sections are checked against.
pub(in crate::plan) struct Context<'k> {
    /// Who may be notified.
    pub(in crate::plan) recipients: Recipients<'k>,
    /// `[[checks]]` ids, for silences and rollback criteria.
    pub(in crate::plan) check_ids: &'k Ids,
    /// The plan file's folder, for `file = ...` secrets, `outbox_dir` and the rollback command.
    pub(in crate::plan) base_dir: &'k Path,
    /// The launch time zone (`None` when it is invalid, which was reported).
    pub(in crate::plan) timezone: Option<&'k TimeZone>,
}
