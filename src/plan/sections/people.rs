//! Section `[[people]]`: who takes part, with a role and an email address each.

use toml::Spanned;

use crate::domain::Role;
use crate::plan::launch::Person;
use crate::plan::reader::{IdRegistry, Sink, TableReader, parse_name, push_or_poison};
use crate::plan::values;

/// Section `[[people]]`. Returns the people (if all are valid) and every well-formed id, so one
/// person's bad email does not also make every item they own "unknown".
pub(in crate::plan) fn read_people(
    root: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
) -> (Option<Vec<Person>>, Vec<String>) {
    let mut ids = IdRegistry::new("people");
    let mut people = Some(Vec::new());
    let mut person_ids = Vec::new();
    for mut table in root.array_of_tables(sink, "people") {
        let id = ids.read(&mut table, sink);
        if let Some(id) = &id {
            person_ids.push(id.clone());
            if Role::ALL.iter().any(|role| role.as_str() == id) {
                let span = sink.span_of(&table.key_path("id")).unwrap_or(table.span());
                sink.error(
                    span,
                    &table.key_path("id"),
                    format!("person id `{id}` is also a role name, so an owner `{id}` would be ambiguous"),
                    Some(format!("choose another id for this person, e.g. `{id}_1` or their first name")),
                );
            }
        }
        let name = table.req_str(sink, "name");
        let role = table
            .req_str(sink, "role")
            .and_then(|role| parse_name::<Role>(sink, &table.key_path("role"), &role, "role"));
        let email = table.req_str(sink, "email").and_then(|email| {
            if values::looks_like_email(email.get_ref()) {
                return Some(email.into_inner());
            }
            sink.error(
                email.span(),
                &table.key_path("email"),
                format!("`{}` is not an email address", email.get_ref()),
                Some("write one address like `alice@example.com`".to_string()),
            );
            None
        });
        let chat = table
            .get_str(sink, "chat")
            .ok()
            .flatten()
            .map(Spanned::into_inner);
        table.finish(sink);
        let person = (|| {
            Some(Person {
                id: id?,
                name: name?.into_inner(),
                role: role?,
                email: email?,
                chat,
            })
        })();
        push_or_poison(&mut people, person);
    }
    (people, person_ids)
}
