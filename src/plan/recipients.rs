//! Who a notification reaches: the people and plain addresses a list of recipients (persons,
//! roles, addresses) means, each once. A pure lookup on the plan, used by the engine when it
//! writes notifications and by the channel test.

use std::collections::BTreeSet;

use super::alerting::Recipient;
use super::model::Plan;

/// A person or address told about an alert.
#[derive(Debug, Clone)]
pub struct Addressee {
    /// Person id or address: the key in `Alert::notified`.
    pub key: String,
    pub name: String,
    pub email: Option<String>,
    pub chat: Option<String>,
}

/// Who did something, as people read it: a person's name for a person id of the plan (the CLI
/// and API authors often are), the people of a role for a role name (`ops lead (Bob Berg)`), and
/// anything else (`golive`, a plain address, a free-form author) as it is.
pub fn display_name(plan: &Plan, who: &str) -> String {
    if let Some(person) = plan.people.iter().find(|person| person.id == who) {
        return person.name.clone();
    }
    if let Ok(role) = who.parse::<crate::domain::Role>() {
        let names = names_with_role(plan, role);
        let role = role.as_str().replace('_', " ");
        return if names.is_empty() {
            role
        } else {
            format!("{role} ({})", names.join(", "))
        };
    }
    who.to_string()
}

/// The names of everyone holding `role`.
pub fn names_with_role(plan: &Plan, role: crate::domain::Role) -> Vec<String> {
    plan.people
        .iter()
        .filter(|person| person.role == role)
        .map(|person| person.name.clone())
        .collect()
}

/// The people (and plain addresses) a list of recipients means, each once.
pub fn resolve_recipients(plan: &Plan, recipients: &[Recipient]) -> Vec<Addressee> {
    let mut out: Vec<Addressee> = Vec::new();
    let mut push = |addressee: Addressee| {
        if !out.iter().any(|known| known.key == addressee.key) {
            out.push(addressee);
        }
    };
    for recipient in recipients {
        match recipient {
            Recipient::Person(id) => {
                if let Some(person) = plan.people.iter().find(|person| &person.id == id) {
                    push(person_addressee(person));
                }
            }
            Recipient::Role(role) => {
                for person in plan.people.iter().filter(|person| person.role == *role) {
                    push(person_addressee(person));
                }
            }
            Recipient::Address(address) => push(Addressee {
                key: address.clone(),
                name: address.clone(),
                email: Some(address.clone()),
                chat: None,
            }),
        }
    }
    out
}

fn person_addressee(person: &super::launch::Person) -> Addressee {
    Addressee {
        key: person.id.clone(),
        name: person.name.clone(),
        email: Some(person.email.clone()),
        chat: person.chat.clone(),
    }
}

pub fn addressees_by_key(plan: &Plan, keys: &BTreeSet<String>) -> Vec<Addressee> {
    keys.iter()
        .map(
            |key| match plan.people.iter().find(|person| &person.id == key) {
                Some(person) => person_addressee(person),
                None => Addressee {
                    key: key.clone(),
                    name: key.clone(),
                    email: key.contains('@').then(|| key.clone()),
                    chat: None,
                },
            },
        )
        .collect()
}
