//! The vocabulary every layer shares: launch phases, roles, owners and small value types.
//!
//! Nothing here does I/O or reads the clock; the plan, the pure core, the store and the API all
//! speak in these types.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// For a fixed name type with `ALL` and `as_str`: `names()` (for messages and suggestions),
/// `Display` as that name, and `FromStr` from it (an unknown one with the near name).
macro_rules! named_by_as_str {
    ($type:ident) => {
        impl $type {
            /// Every name, in the order of `ALL`, for error messages and suggestions.
            pub fn names() -> Vec<&'static str> {
                $type::ALL.iter().map(|value| value.as_str()).collect()
            }
        }

        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $type {
            type Err = UnknownName;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                $type::ALL
                    .into_iter()
                    .find(|value| value.as_str() == text)
                    .ok_or_else(|| UnknownName::new(text, &$type::names()))
            }
        }
    };
}

/// A phase of the launch lifecycle, in order. `rolled_back` is reachable from `deploying`,
/// `verifying` and `hypercare`; `closed` and `rolled_back` are terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Planned,
    GoNoGo,
    Deploying,
    Verifying,
    Hypercare,
    Closed,
    RolledBack,
}

impl Phase {
    /// Every phase, in lifecycle order (`rolled_back` last).
    pub const ALL: [Phase; 7] = [
        Phase::Planned,
        Phase::GoNoGo,
        Phase::Deploying,
        Phase::Verifying,
        Phase::Hypercare,
        Phase::Closed,
        Phase::RolledBack,
    ];

    /// The snake_case name used in plans, the API, metrics and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Planned => "planned",
            Phase::GoNoGo => "go_no_go",
            Phase::Deploying => "deploying",
            Phase::Verifying => "verifying",
            Phase::Hypercare => "hypercare",
            Phase::Closed => "closed",
            Phase::RolledBack => "rolled_back",
        }
    }

    /// The phase that normally follows this one, if any.
    pub fn next(self) -> Option<Phase> {
        match self {
            Phase::Planned => Some(Phase::GoNoGo),
            Phase::GoNoGo => Some(Phase::Deploying),
            Phase::Deploying => Some(Phase::Verifying),
            Phase::Verifying => Some(Phase::Hypercare),
            Phase::Hypercare => Some(Phase::Closed),
            Phase::Closed | Phase::RolledBack => None,
        }
    }

    /// Whether nothing can follow this phase.
    pub fn is_terminal(self) -> bool {
        matches!(self, Phase::Closed | Phase::RolledBack)
    }

    /// Whether a launch in this phase may be rolled back.
    pub fn can_roll_back(self) -> bool {
        matches!(self, Phase::Deploying | Phase::Verifying | Phase::Hypercare)
    }
}

named_by_as_str!(Phase);

/// The role a person plays on the launch, as the go-live guide names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    ProjectManager,
    DevLead,
    OpsLead,
    QaLead,
    SupportLead,
    Business,
    Security,
    Other,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 8] = [
        Role::ProjectManager,
        Role::DevLead,
        Role::OpsLead,
        Role::QaLead,
        Role::SupportLead,
        Role::Business,
        Role::Security,
        Role::Other,
    ];

    /// The snake_case name used in plans and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::ProjectManager => "project_manager",
            Role::DevLead => "dev_lead",
            Role::OpsLead => "ops_lead",
            Role::QaLead => "qa_lead",
            Role::SupportLead => "support_lead",
            Role::Business => "business",
            Role::Security => "security",
            Role::Other => "other",
        }
    }
}

named_by_as_str!(Role);

/// Who owns a checklist item, a risk or an action item: one person (by id) or everyone holding a
/// role.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "id")]
pub enum Owner {
    Person(String),
    Role(Role),
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Owner::Person(id) => f.write_str(id),
            Owner::Role(role) => f.write_str(role.as_str()),
        }
    }
}

/// A three-step scale for a risk's likelihood and impact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Low,
    Medium,
    High,
}

impl Level {
    /// The name used in plans and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
        }
    }
}

impl FromStr for Level {
    type Err = UnknownName;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "low" => Ok(Level::Low),
            "medium" => Ok(Level::Medium),
            "high" => Ok(Level::High),
            _ => Err(UnknownName::new(text, &["low", "medium", "high"])),
        }
    }
}

/// A name that is not one of the allowed ones, with the closest allowed name if one is close.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown name `{given}`; expected one of: {}", allowed.join(", "))]
pub struct UnknownName {
    pub given: String,
    pub allowed: Vec<String>,
    pub suggestion: Option<String>,
}

impl UnknownName {
    pub fn new(given: &str, allowed: &[&str]) -> Self {
        UnknownName {
            given: given.to_string(),
            allowed: allowed.iter().map(|name| name.to_string()).collect(),
            suggestion: closest(given, allowed.iter().copied()).map(str::to_string),
        }
    }
}

/// The candidate closest to `given`, if it is close enough to be a plausible typo.
pub fn closest<'a>(given: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|candidate| (strsim::damerau_levenshtein(given, candidate), candidate))
        .filter(|(distance, candidate)| {
            let longest = given.len().max(candidate.len());
            *distance <= 2.max(longest / 3) && *distance < longest
        })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// A secret (API token, password): it never prints its value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret's value; call only where it is used (comparison, authentication).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_round_trip_through_their_names() {
        for phase in Phase::ALL {
            assert_eq!(phase.as_str().parse::<Phase>(), Ok(phase));
        }
    }

    #[test]
    fn a_typo_in_a_phase_name_suggests_the_phase() {
        let error = "go-no-go".parse::<Phase>().unwrap_err();
        assert_eq!(error.suggestion.as_deref(), Some("go_no_go"));
        let error = "deploy".parse::<Phase>().unwrap_err();
        assert_eq!(error.suggestion.as_deref(), Some("deploying"));
    }

    #[test]
    fn closest_refuses_names_that_are_nothing_alike() {
        assert_eq!(closest("zzz", ["alice", "bob"]), None);
        assert_eq!(
            closest("chekclist", ["checklist", "people"]),
            Some("checklist")
        );
    }

    #[test]
    fn secrets_do_not_print_their_value() {
        let secret = Secret::new("hunter2");
        assert!(!format!("{secret:?}").contains("hunter2"));
    }
}
