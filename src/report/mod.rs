//! Documents rendered from the store: the launch timeline now, the daily and final reports later.
//! Rendering is pure: it takes what was read from the store and returns text.

pub mod alert_message;
pub mod schedule;
pub mod timeline;
