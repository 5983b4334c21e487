//! The pure core: launch state and the rules that change it.
//!
//! Invariant: nothing in `core` does I/O, reads the clock or touches the store. Every function takes
//! the current state, the plan, the request and `now`, and returns what should happen; the engine
//! persists it. This is what makes the rules unit-testable edge by edge.

pub mod actions;
pub mod alert;
pub mod health;
pub mod lifecycle;
pub mod log;
pub mod message;
pub mod plan_diff;
pub mod rollup;
pub mod runbook;
pub mod snapshot;
pub mod verification;

pub use lifecycle::{
    Blocker, Confirmation, LaunchState, PhaseRequest, Refusal, Transition, TransitionRequest,
};

#[cfg(test)]
pub(crate) mod test_support {
    //! A small in-memory plan for unit tests of the pure core.

    use std::path::PathBuf;

    use crate::domain::{Owner, Role};
    use crate::plan::{ChecklistItem, Launch, Person, Plan, Rollback, Server};

    /// A tcp check with the given thresholds.
    pub fn tcp_check(failure_threshold: u32, success_threshold: u32) -> crate::plan::checks::Check {
        use crate::plan::checks::{Check, CheckKind, DEFAULT_CHECK_PHASES, Severity, TcpCheck};
        Check {
            id: "db".into(),
            name: "Database port".into(),
            severity: Severity::Critical,
            failure_threshold,
            success_threshold,
            interval: std::time::Duration::from_secs(10),
            intervals: Default::default(),
            retry_interval: None,
            phases: DEFAULT_CHECK_PHASES.into_iter().collect(),
            gate: false,
            risks: vec![],
            timeout: std::time::Duration::from_secs(2),
            kind: CheckKind::Tcp(TcpCheck {
                address: "127.0.0.1:5432".into(),
            }),
        }
    }

    pub fn plan_with_checklist(checklist: Vec<ChecklistItem>) -> Plan {
        Plan {
            source: PathBuf::from("test.toml"),
            launch: Launch {
                name: "Test launch".into(),
                timezone_name: "Europe/Berlin".into(),
                timezone: jiff::tz::TimeZone::UTC,
                go_live: jiff::Timestamp::from_second(1_800_000_000).unwrap_or_default(),
                hypercare_days: 14.0,
                data_dir: PathBuf::from("data"),
            },
            people: vec![Person {
                id: "alice".into(),
                name: "Alice".into(),
                role: Role::ProjectManager,
                email: "alice@example.com".into(),
                chat: None,
            }],
            checklist,
            risks: vec![crate::plan::Risk {
                id: "r1".into(),
                title: "risk".into(),
                likelihood: crate::domain::Level::Low,
                impact: crate::domain::Level::High,
                contingency: "do things".into(),
                owner: Owner::Person("alice".into()),
                checks: vec![],
                alertmanager: vec![],
            }],
            rollback: Rollback::default(),
            server: Server {
                listen: ([127, 0, 0, 1], 0).into(),
                tokens: vec![],
                tls: None,
                allowed_hosts: vec![],
            },
            checks: vec![],
            prometheus: vec![],
            monitoring: crate::plan::checks::Monitoring::default(),
            alerting: Default::default(),
            runbook: Default::default(),
            reports: None,
            heartbeat: None,
            updates: None,
            review: None,
            store: None,
        }
    }
}
