//! Who a name means: an owner (a person id from `[[people]]` or a role) or a recipient (also an
//! email address), each unknown one reported with the near name.

use toml::Spanned;

use super::table::{Got, Reported, Sink, TableReader};
use crate::domain::{Owner, Role, closest};
use crate::plan::alerting::Recipient;
use crate::plan::values;

/// Resolves `owner` values: a person id from `[[people]]`, else a role name.
pub(in crate::plan) struct Owners<'p> {
    person_ids: &'p [String],
}

impl<'p> Owners<'p> {
    pub(in crate::plan) fn new(person_ids: &'p [String]) -> Self {
        Owners { person_ids }
    }

    pub(in crate::plan) fn resolve(
        &self,
        sink: &mut Sink<'_>,
        path: &str,
        owner: &Spanned<String>,
    ) -> Option<Owner> {
        person_or_role(
            self.person_ids,
            sink,
            path,
            owner,
            owner.get_ref(),
            "unknown person or role",
            "an owner is a person id from [[people]] ({people}) or a role ({roles})",
        )
        .ok()
    }
}

/// `name` as a person id from `person_ids`, else as a role; else reports `unknown` (the message
/// before the quoted name) at `spanned`'s span, with the near name or `hint` (see
/// [`person_or_role_help`]).
fn person_or_role(
    person_ids: &[String],
    sink: &mut Sink<'_>,
    path: &str,
    spanned: &Spanned<String>,
    name: &str,
    unknown: &str,
    hint: &str,
) -> Result<Owner, Reported> {
    if person_ids.iter().any(|id| id == name) {
        return Ok(Owner::Person(name.to_string()));
    }
    if let Ok(role) = name.parse::<Role>() {
        return Ok(Owner::Role(role));
    }
    let help = person_or_role_help(person_ids, name, hint);
    sink.error(
        spanned.span(),
        path,
        format!("{unknown} `{name}`"),
        Some(help),
    );
    Err(Reported)
}

/// Who may be notified: person ids from `[[people]]`, role names, and email addresses.
pub(in crate::plan) struct Recipients<'p> {
    person_ids: &'p [String],
}

impl<'p> Recipients<'p> {
    /// Recipients among the people with these ids.
    pub(in crate::plan) fn new(person_ids: &'p [String]) -> Self {
        Recipients { person_ids }
    }

    /// Resolves one recipient: an address (it has an `@`), a person id, or a role name.
    pub(in crate::plan) fn resolve(
        &self,
        sink: &mut Sink<'_>,
        path: &str,
        name: &Spanned<String>,
    ) -> Result<Recipient, Reported> {
        let text = name.get_ref().trim();
        if text.contains('@') {
            if values::looks_like_email(text) {
                return Ok(Recipient::Address(text.to_string()));
            }
            sink.error(
                name.span(),
                path,
                format!("`{text}` is not an email address"),
                Some("write one address like `oncall@shop.example`".to_string()),
            );
            return Err(Reported);
        }
        let owner = person_or_role(
            self.person_ids,
            sink,
            path,
            name,
            text,
            "unknown recipient",
            "a recipient is a person id from [[people]] ({people}), a role ({roles}) or an email address",
        )?;
        Ok(match owner {
            Owner::Person(id) => Recipient::Person(id),
            Owner::Role(role) => Recipient::Role(role),
        })
    }

    /// An array of recipients under `key` (`None` when absent); `what` says what an empty list
    /// would mean, and an empty list is an error when it is given.
    pub(in crate::plan) fn read_list(
        &self,
        table: &mut TableReader<'_, '_>,
        sink: &mut Sink<'_>,
        key: &'static str,
        empty_means: Option<&str>,
    ) -> Got<Vec<Recipient>> {
        let Some(names) = table.get_str_list(sink, key)? else {
            return Ok(None);
        };
        let path = table.key_path(key);
        if let Some(meaning) = empty_means
            && names.get_ref().is_empty()
        {
            sink.error(
                names.span(),
                &path,
                format!("`{key}` is empty, so {meaning}"),
                Some(format!(
                    "list person ids, roles or email addresses, e.g. `{key} = [\"ops_lead\"]`"
                )),
            );
            return Err(Reported);
        }
        let mut recipients = Vec::new();
        let mut bad = false;
        for (index, name) in names.get_ref().iter().enumerate() {
            match self.resolve(sink, &format!("{path}[{index}]"), name) {
                Ok(recipient) if !recipients.contains(&recipient) => recipients.push(recipient),
                Ok(_) => {}
                Err(Reported) => bad = true,
            }
        }
        if bad {
            Err(Reported)
        } else {
            Ok(Some(recipients))
        }
    }

    /// As [`Recipients::read_list`] for a list that must be there and not be empty: `missing`
    /// says what its absence would mean, `example` is a list for the help (`["dev_lead"]`).
    pub(in crate::plan) fn read_required_list(
        &self,
        table: &mut TableReader<'_, '_>,
        sink: &mut Sink<'_>,
        key: &'static str,
        empty_means: &str,
        missing: &str,
        example: &str,
    ) -> Result<Vec<Recipient>, Reported> {
        let list = self.read_list(table, sink, key, Some(empty_means));
        let help = format!("list person ids, roles or email addresses, e.g. `{key} = {example}`");
        table.require(sink, key, list, Some(missing), help)
    }
}

/// The help for a name that is neither a person id nor a role: the near name when there is one,
/// else `hint` with `{people}` (the plan's person ids) and `{roles}` filled in.
pub(in crate::plan) fn person_or_role_help(
    person_ids: &[String],
    name: &str,
    hint: &str,
) -> String {
    let candidates = person_ids
        .iter()
        .map(String::as_str)
        .chain(Role::ALL.iter().map(|role| role.as_str()));
    match closest(name, candidates) {
        Some(near) => format!("did you mean `{near}`?"),
        None => hint
            .replace(
                "{people}",
                &if person_ids.is_empty() {
                    "none defined".to_string()
                } else {
                    person_ids.join(", ")
                },
            )
            .replace("{roles}", &Role::names().join(", ")),
    }
}
