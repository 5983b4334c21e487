//! One reader per section of the plan, each from a `TableReader` over the document root to the
//! section's typed value, every problem reported to the `Sink`. They use the primitives in
//! `reader/` and the typed values; `load.rs` calls them in order. A section reader imports no
//! other section reader, except where one section is read as part of another (`alerting` reads
//! `escalation` and `silences`, `rollback` shares `silences`' check references, `checks` reads
//! `check_kinds`, which reads `check_http`, both over the leaf `check_limits`); `context` is the
//! leaf the communication sections are checked against.

pub(super) mod alerting;
mod check_http;
mod check_kinds;
mod check_limits;
pub(super) mod checklist;
pub(super) mod checks;
pub(super) mod context;
mod escalation;
pub mod heartbeat;
pub(super) mod launch;
pub(super) mod monitoring;
pub(super) mod people;
pub(super) mod reports;
pub mod review;
pub(super) mod risks;
pub(super) mod rollback;
pub(super) mod runbook;
pub(super) mod server;
mod silences;
pub mod store;
pub mod updates;

/// The words and keys the readers fix, for the plan's JSON Schema (`plan::schema`), so the schema
/// takes them from the readers instead of a copy.
pub(super) mod words {
    /// Each check kind with the keys only checks of that kind have.
    pub(in crate::plan) fn check_kinds() -> [(&'static str, &'static [&'static str]); 4] {
        super::check_kinds::KindName::keys_by_kind()
    }

    /// Each channel kind with the keys only channels of that kind have.
    pub(in crate::plan) fn channel_kinds() -> [(&'static str, &'static [&'static str]); 5] {
        super::alerting::channel_keys_by_kind()
    }

    /// The day names of `silences[].days`.
    pub(in crate::plan) fn days() -> Vec<&'static str> {
        super::silences::DAYS
            .iter()
            .map(|(name, _)| *name)
            .collect()
    }

    /// The methods of an http check's `method` (any case).
    pub(in crate::plan) fn http_methods() -> Vec<&'static str> {
        super::check_http::METHODS.to_vec()
    }

    /// The methods of `heartbeat.method` (any case).
    pub(in crate::plan) fn heartbeat_methods() -> Vec<&'static str> {
        super::heartbeat::method_names()
    }
}
