//! A list of phases (`phases`, `on`): the one reader behind checks, reports, updates and
//! rollback criteria. Every section reports an empty list, an unknown name and a repeated phase
//! the same way; what a section refuses (terminal phases, `planned`) is its own rule per item.

use toml::Spanned;

use super::table::{Got, Reported, Sink, TableReader};
use crate::domain::Phase;

/// What a section says when its list of phases is empty: the message and the help.
pub(in crate::plan) struct EmptyPhases<'t> {
    pub(in crate::plan) message: &'t str,
    pub(in crate::plan) help: String,
}

/// The phases listed under `key`, in the order written (`None` when absent). `read_item` reads
/// one name at its path (reporting an unknown or refused one); an empty list and a phase listed
/// twice are errors.
pub(in crate::plan) fn read_phase_list(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    key: &'static str,
    empty: EmptyPhases<'_>,
    mut read_item: impl FnMut(&mut Sink<'_>, &str, &Spanned<String>) -> Result<Phase, Reported>,
) -> Got<Vec<Phase>> {
    let Some(names) = table.get_str_list(sink, key)? else {
        return Ok(None);
    };
    let path = table.key_path(key);
    if names.get_ref().is_empty() {
        sink.error(names.span(), &path, empty.message, Some(empty.help));
        return Err(Reported);
    }
    let mut phases = Vec::new();
    let mut bad = false;
    for (index, name) in names.get_ref().iter().enumerate() {
        let item = format!("{path}[{index}]");
        match read_item(sink, &item, name) {
            Ok(phase) if phases.contains(&phase) => {
                sink.error(
                    name.span(),
                    &item,
                    format!("`{phase}` is listed twice"),
                    Some("list each phase once".to_string()),
                );
                bad = true;
            }
            Ok(phase) => phases.push(phase),
            Err(Reported) => bad = true,
        }
    }
    if bad { Err(Reported) } else { Ok(Some(phases)) }
}
