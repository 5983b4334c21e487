//! Documents rendered from the store: the launch timeline, alert messages (one alert, or a burst of
//! them grouped into one compact message: `alert_group`), and the daily and final
//! reports (`schedule` says when a daily report is due, `daily`/`final_report` gather and build the
//! figures, `check_rows` and `sections` hold what both share, `value` formats a metric value as every
//! document shows it, `render` applies the minijinja templates, and
//! `compose` puts a report together), and what every rendering becomes on the channels: `notice`
//! (an email in its thread, a chat post, the outbox payloads for the plan's channels) with the
//! Message-IDs of `message_id`, so the engine and the dispatcher build every email the same way.
//! Building and rendering are pure; only `gather` reads the store.

pub mod alert_group;
pub mod alert_message;
pub mod check_rows;
pub mod compose;
pub mod daily;
pub mod email;
pub mod feedback_link;
pub mod final_report;
pub mod format;
pub mod judgement;
pub mod message_id;
pub mod notice;
pub mod notices;
pub mod postmortem;
pub mod render;
pub mod review_invite;
pub mod runbook_rows;
pub mod schedule;
pub mod sections;
pub mod timeline;
pub mod update;
pub mod value;

#[cfg(test)]
mod snapshots;
#[cfg(test)]
mod tests;
