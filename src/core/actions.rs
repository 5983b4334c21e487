//! Action items: follow-ups with an owner and an optional due date, and the rules for changing
//! their status. Pure: the engine records what these functions return.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::domain::{Role, UnknownName, closest};
use crate::plan::Plan;

/// The state of an action item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    Open,
    Done,
    Dropped,
}

impl ActionStatus {
    pub const ALL: [ActionStatus; 3] = [
        ActionStatus::Open,
        ActionStatus::Done,
        ActionStatus::Dropped,
    ];

    /// The name used in the API and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionStatus::Open => "open",
            ActionStatus::Done => "done",
            ActionStatus::Dropped => "dropped",
        }
    }
}

impl fmt::Display for ActionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ActionStatus {
    type Err = UnknownName;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        ActionStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or_else(|| UnknownName::new(text, &["open", "done", "dropped"]))
    }
}

/// An action item as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionItem {
    pub id: i64,
    pub title: String,
    /// A person id or a role from the plan.
    pub owner: String,
    /// The local day it is due, in the launch's time zone.
    pub due: Option<Date>,
    pub status: ActionStatus,
    pub created_at: Timestamp,
    pub created_by: String,
    pub updated_at: Timestamp,
}

/// A field of a request that is wrong, and why (answered as 400 with the field named).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        FieldError {
            field,
            message: message.into(),
        }
    }
}

/// A validated request to create an action item.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAction {
    pub title: String,
    pub owner: String,
    pub due: Option<Date>,
}

/// Checks a new action item against the plan: a non-empty title, an owner who is a person id or a
/// role of the plan, and a due date as `YYYY-MM-DD`.
pub fn validate_new_action(
    plan: &Plan,
    title: &str,
    owner: &str,
    due: Option<&str>,
) -> Result<NewAction, FieldError> {
    let title = title.trim();
    if title.is_empty() {
        return Err(FieldError::new(
            "title",
            "the title is empty; say what needs doing",
        ));
    }
    let owner = validate_owner(plan, owner.trim())?;
    let due = due.map(parse_due).transpose()?;
    Ok(NewAction {
        title: title.to_string(),
        owner,
        due,
    })
}

/// Checks that `owner` is a person id or a role of the plan, suggesting the near one otherwise.
pub fn validate_owner(plan: &Plan, owner: &str) -> Result<String, FieldError> {
    let known_person = plan.people.iter().any(|person| person.id == owner);
    if known_person || owner.parse::<Role>().is_ok() {
        return Ok(owner.to_string());
    }
    let candidates = plan
        .people
        .iter()
        .map(|person| person.id.as_str())
        .chain(Role::names());
    let hint = closest(owner, candidates).map_or_else(
        || "use a person id or a role from the plan".to_string(),
        |near| format!("did you mean `{near}`?"),
    );
    Err(FieldError::new(
        "owner",
        format!("unknown person or role `{owner}`; {hint}"),
    ))
}

/// Parses a due date given as `YYYY-MM-DD`.
pub fn parse_due(text: &str) -> Result<Date, FieldError> {
    text.trim().parse::<Date>().map_err(|_| {
        FieldError::new(
            "due",
            format!("`{text}` is not a date; write it as YYYY-MM-DD, e.g. 2026-12-03"),
        )
    })
}

/// What a status change does: the new status, or `None` when the item already has it.
pub fn change_status(
    item: &ActionItem,
    to: ActionStatus,
) -> Result<Option<ActionStatus>, FieldError> {
    if item.status == to {
        return Ok(None);
    }
    Ok(Some(to))
}

/// Whether an open item is overdue on `today` (its due day has passed).
pub fn is_overdue(item: &ActionItem, today: Date) -> bool {
    item.status == ActionStatus::Open && item.due.is_some_and(|due| due < today)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::test_support::plan_with_checklist;

    #[test]
    fn a_new_action_needs_a_title_a_known_owner_and_a_real_date() {
        let plan = plan_with_checklist(vec![]);
        let ok =
            validate_new_action(&plan, " Write post-mortem ", "alice", Some("2026-12-03")).unwrap();
        assert_eq!(ok.title, "Write post-mortem");
        assert_eq!(ok.due, Some(jiff::civil::date(2026, 12, 3)));
        assert!(validate_new_action(&plan, "x", "ops_lead", None).is_ok());

        assert_eq!(
            validate_new_action(&plan, "  ", "alice", None)
                .unwrap_err()
                .field,
            "title"
        );
        let owner = validate_new_action(&plan, "x", "alise", None).unwrap_err();
        assert_eq!(owner.field, "owner");
        assert!(owner.message.contains("did you mean `alice`"), "{owner}");
        let due = validate_new_action(&plan, "x", "alice", Some("next friday")).unwrap_err();
        assert_eq!(due.field, "due");
        assert!(due.message.contains("YYYY-MM-DD"));
    }

    #[test]
    fn only_open_items_past_their_day_are_overdue() {
        let t = Timestamp::UNIX_EPOCH;
        let mut item = ActionItem {
            id: 1,
            title: "x".into(),
            owner: "alice".into(),
            due: Some(jiff::civil::date(2026, 12, 3)),
            status: ActionStatus::Open,
            created_at: t,
            created_by: "alice".into(),
            updated_at: t,
        };
        assert!(!is_overdue(&item, jiff::civil::date(2026, 12, 3)));
        assert!(is_overdue(&item, jiff::civil::date(2026, 12, 4)));
        item.status = ActionStatus::Done;
        assert!(!is_overdue(&item, jiff::civil::date(2026, 12, 4)));
        assert_eq!(change_status(&item, ActionStatus::Done), Ok(None));
        assert_eq!(
            change_status(&item, ActionStatus::Open),
            Ok(Some(ActionStatus::Open))
        );
    }
}
