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
pub mod updates;
