//! Ids and references to them: each section's ids well-formed and unique ([`IdRegistry`]), a
//! reference to another section's entry checked against its [`Ids`], and lists that one invalid
//! entry poisons.

use std::collections::HashMap;
use std::ops::Range;

use toml::Spanned;

use super::table::{Got, Reported, Sink, TableReader};
use crate::domain::closest;
use crate::plan::values;

/// Appends `value` while every value so far was valid; one invalid value poisons the list.
pub(in crate::plan) fn push_or_poison<T>(list: &mut Option<Vec<T>>, value: Option<T>) {
    match (list.as_mut(), value) {
        (Some(items), Some(value)) => items.push(value),
        _ => *list = None,
    }
}

/// The ids seen in one section, to report malformed and duplicate ones.
pub(in crate::plan) struct IdRegistry {
    section: &'static str,
    first_seen: HashMap<String, Range<usize>>,
    ids: Ids,
}

/// The well-formed ids of a section, for validating references to its entries.
#[derive(Debug, Clone)]
pub(in crate::plan) struct Ids {
    /// Every well-formed id, in file order.
    pub(in crate::plan) list: Vec<String>,
    /// Whether every entry had a well-formed id. When one did not, a reference to an id not in
    /// `list` may be to that entry, so it is not reported: the id's own error says enough.
    pub(in crate::plan) complete: bool,
}

impl IdRegistry {
    pub(in crate::plan) fn new(section: &'static str) -> Self {
        IdRegistry {
            section,
            first_seen: HashMap::new(),
            ids: Ids {
                list: Vec::new(),
                complete: true,
            },
        }
    }

    /// The well-formed ids read so far.
    pub(in crate::plan) fn into_ids(self) -> Ids {
        self.ids
    }

    /// Reads the entry's `id`: required, well-formed and unique within the section.
    pub(in crate::plan) fn read(
        &mut self,
        table: &mut TableReader<'_, '_>,
        sink: &mut Sink<'_>,
    ) -> Option<String> {
        let Some(id) = table.req_str(sink, "id") else {
            self.ids.complete = false;
            return None;
        };
        let path = table.key_path("id");
        if !values::is_valid_id(id.get_ref()) {
            self.ids.complete = false;
            sink.error(
                id.span(),
                &path,
                format!("invalid id `{}`", id.get_ref()),
                Some("ids use lowercase letters, digits, `_` and `-`, starting with a letter or digit (e.g. `db-backup`)".to_string()),
            );
            return None;
        }
        if let Some(first) = self.first_seen.get(id.get_ref()) {
            let first_line = sink.line_of(first.start);
            sink.error(
                id.span(),
                &path,
                format!("duplicate id `{}`", id.get_ref()),
                Some(format!(
                    "`{}` is already used on line {first_line}; ids must be unique within [[{}]]",
                    id.get_ref(),
                    self.section
                )),
            );
            return None;
        }
        self.first_seen.insert(id.get_ref().clone(), id.span());
        self.ids.list.push(id.get_ref().clone());
        Some(id.into_inner())
    }
}

/// The names of a list that `accept` takes (it reports why it refuses one, given the item's
/// path, e.g. `updates.channels[1]`), each kept once in the order given; `Reported` when any was
/// refused.
pub(in crate::plan) fn accepted_once(
    names: &[Spanned<String>],
    path: &str,
    mut accept: impl FnMut(&str, &Spanned<String>) -> bool,
) -> Result<Vec<String>, Reported> {
    let mut kept: Vec<String> = Vec::new();
    let mut refused = false;
    for (index, name) in names.iter().enumerate() {
        if !accept(&format!("{path}[{index}]"), name) {
            refused = true;
        } else if !kept.contains(name.get_ref()) {
            kept.push(name.get_ref().clone());
        }
    }
    if refused { Err(Reported) } else { Ok(kept) }
}

/// Whether `name` is one of `ids`; otherwise reports it with the near id or the list of ids.
pub(in crate::plan) fn reference_exists(
    sink: &mut Sink<'_>,
    path: &str,
    name: &Spanned<String>,
    ids: &Ids,
    what: &str,
    section: &str,
) -> bool {
    if ids.list.iter().any(|id| id == name.get_ref()) {
        return true;
    }
    if !ids.complete {
        return false;
    }
    let ids = &ids.list;
    let help = match closest(name.get_ref(), ids.iter().map(String::as_str)) {
        Some(near) => format!("did you mean `{near}`?"),
        None if ids.is_empty() => format!("no {what} is defined; add a `{section}` entry first"),
        None => format!("use one of the {section} ids: {}", ids.join(", ")),
    };
    sink.error(
        name.span(),
        path,
        format!("unknown {what} `{}`", name.get_ref()),
        Some(help),
    );
    false
}

impl TableReader<'_, '_> {
    /// An optional list of ids of another section's entries (`checks = ["checkout"]`), each
    /// checked with [`reference_exists`], in file order without repeats; `what` and `section`
    /// name them in messages (`"check"`, `"[[checks]]"`).
    pub(in crate::plan) fn get_refs(
        &mut self,
        sink: &mut Sink<'_>,
        key: &'static str,
        ids: &Ids,
        what: &str,
        section: &str,
    ) -> Got<Spanned<Vec<String>>> {
        let Some(names) = self.get_str_list(sink, key)? else {
            return Ok(None);
        };
        let path = self.key_path(key);
        let mut found = Vec::new();
        let mut bad = false;
        for (index, name) in names.get_ref().iter().enumerate() {
            let item = format!("{path}[{index}]");
            if !reference_exists(sink, &item, name, ids, what, section) {
                bad = true;
            } else if !found.contains(name.get_ref()) {
                found.push(name.get_ref().clone());
            }
        }
        if bad {
            return Err(Reported);
        }
        Ok(Some(Spanned::new(names.span(), found)))
    }
}
