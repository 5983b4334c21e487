//! Who a notification reaches: the people and plain addresses a list of recipients (persons,
//! roles, addresses) means, each once. A pure lookup on the plan, used by the engine when it
//! writes notifications and by the channel test.

use std::collections::BTreeSet;

use super::Plan;
use super::alerting::Recipient;

/// A person or address told about an alert.
#[derive(Debug, Clone)]
pub struct Addressee {
    /// Person id or address: the key in `Alert::notified`.
    pub key: String,
    pub name: String,
    pub email: Option<String>,
    pub chat: Option<String>,
}

/// Who did something, as people read it: a person's name where `who` is a person id of the plan
/// (the CLI and API authors often are), else `who` as given.
pub fn display_name(plan: &Plan, who: &str) -> String {
    plan.people
        .iter()
        .find(|person| person.id == who)
        .map_or_else(|| who.to_string(), |person| person.name.clone())
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

fn person_addressee(person: &super::Person) -> Addressee {
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
