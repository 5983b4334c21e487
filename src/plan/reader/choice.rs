//! Fixed words: one of a list of choices (`tls`, `format`, day names) or a name with a `FromStr`
//! (roles, phases, levels, severities), each unknown one reported with the near word or the list;
//! and the keys that belong to one kind of entry (a check's or a channel's `kind`).

use toml::Spanned;

use super::table::{Reported, Sink, TableReader};
use crate::domain::closest;

/// Parses one of a fixed set of words (`tls`, `format`, `kind`, day names), reporting an unknown
/// one with the near word or the list.
pub(in crate::plan) fn parse_choice<T: Copy>(
    sink: &mut Sink<'_>,
    path: &str,
    text: &Spanned<String>,
    what: &str,
    choices: &[(&'static str, T)],
) -> Result<T, Reported> {
    choose(sink, path, text, text.get_ref(), what, choices)
}

/// As [`parse_choice`] for upper-case words (HTTP methods) written in any case; the message
/// quotes the word as written.
pub(in crate::plan) fn parse_choice_any_case<T: Copy>(
    sink: &mut Sink<'_>,
    path: &str,
    text: &Spanned<String>,
    what: &str,
    choices: &[(&'static str, T)],
) -> Result<T, Reported> {
    let upper = text.get_ref().trim().to_ascii_uppercase();
    choose(sink, path, text, &upper, what, choices)
}

/// The choice named `word` (the text as written, or normalised), else reports `text`.
fn choose<T: Copy>(
    sink: &mut Sink<'_>,
    path: &str,
    text: &Spanned<String>,
    word: &str,
    what: &str,
    choices: &[(&'static str, T)],
) -> Result<T, Reported> {
    if let Some((_, value)) = choices.iter().find(|(name, _)| *name == word) {
        return Ok(*value);
    }
    let names: Vec<&str> = choices.iter().map(|(name, _)| *name).collect();
    let help = match closest(word, names.iter().copied()) {
        Some(near) => format!("did you mean `{near}`?"),
        None => format!("use one of: {}", names.join(", ")),
    };
    sink.error(
        text.span(),
        path,
        format!("unknown {what} `{}`", text.get_ref()),
        Some(help),
    );
    Err(Reported)
}
/// Parses a fixed name (role, phase, level), reporting an unknown one with its near name.
pub(in crate::plan) fn parse_name<T>(
    sink: &mut Sink<'_>,
    path: &str,
    text: &Spanned<String>,
    what: &str,
) -> Option<T>
where
    T: std::str::FromStr<Err = crate::domain::UnknownName>,
{
    match text.get_ref().parse::<T>() {
        Ok(value) => Some(value),
        Err(unknown) => {
            let help = match &unknown.suggestion {
                Some(near) => format!("did you mean `{near}`?"),
                None => format!("use one of: {}", unknown.allowed.join(", ")),
            };
            sink.error(
                text.span(),
                path,
                format!("unknown {what} `{}`", unknown.given),
                Some(help),
            );
            None
        }
    }
}

/// Each kind's name and the keys only entries of that kind have (a check's or a channel's `kind`).
pub(in crate::plan) type KindKeys = [(&'static str, &'static [&'static str])];

impl TableReader<'_, '_> {
    /// Reports every key of another kind than `mine` that this entry has, naming the kinds it
    /// belongs to, which says more than "unknown key"; `entry` is what the entries are (`check`).
    pub(in crate::plan) fn forbid_keys_of_other_kinds(
        &mut self,
        sink: &mut Sink<'_>,
        kinds: &KindKeys,
        mine: &str,
        entry: &str,
    ) {
        let my_keys = kinds
            .iter()
            .find(|(name, _)| *name == mine)
            .map_or(&[][..], |(_, keys)| *keys);
        let mut reported: Vec<&str> = Vec::new();
        for (_, keys) in kinds {
            for key in *keys {
                if my_keys.contains(key) || reported.contains(key) || self.key_span(key).is_none() {
                    continue;
                }
                reported.push(key);
                let owners: Vec<&str> = kinds
                    .iter()
                    .filter(|(_, keys)| keys.contains(key))
                    .map(|(name, _)| *name)
                    .collect();
                self.forbid(
                    sink,
                    key,
                    &format!(
                        "`{key}` belongs to {} {entry}s, not {mine} {entry}s",
                        owners.join(" and ")
                    ),
                    &format!(
                        "remove `{key}`, or change `kind` to `\"{}\"` if this {entry} is meant to be one",
                        owners.first().copied().unwrap_or_default()
                    ),
                );
            }
        }
    }

    /// Marks every kind's keys as known without judging them (the entry's kind is invalid, and
    /// its own error says enough).
    pub(in crate::plan) fn ignore_keys_of_kinds(&mut self, sink: &mut Sink<'_>, kinds: &KindKeys) {
        for (_, keys) in kinds {
            for key in *keys {
                self.value(sink, key);
            }
        }
    }
}
