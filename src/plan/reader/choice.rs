//! Fixed words: one of a list of choices (`tls`, `format`, day names) or a name with a `FromStr`
//! (roles, phases, levels, severities), each unknown one reported with the near word or the list.

use toml::Spanned;

use super::table::{Reported, Sink};
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
    if let Some((_, value)) = choices.iter().find(|(name, _)| *name == text.get_ref()) {
        return Ok(*value);
    }
    let names: Vec<&str> = choices.iter().map(|(name, _)| *name).collect();
    let help = match closest(text.get_ref(), names.iter().copied()) {
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
