//! Section `[[checklist]]`: what must be confirmed, by whom, before the launch leaves a phase.

use toml::Spanned;

use crate::domain::Phase;
use crate::plan::launch::ChecklistItem;
use crate::plan::reader::{IdRegistry, Owners, Sink, TableReader, parse_name, push_or_poison};

/// Section `[[checklist]]`.
pub(in crate::plan) fn read_checklist(
    root: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    owners: &Owners<'_>,
) -> Option<Vec<ChecklistItem>> {
    let mut ids = IdRegistry::new("checklist");
    let mut items = Some(Vec::new());
    for mut table in root.array_of_tables(sink, "checklist") {
        let id = ids.read(&mut table, sink);
        let title = table.req_str(sink, "title");
        let owner = table
            .req_str(sink, "owner")
            .and_then(|owner| owners.resolve(sink, &table.key_path("owner"), &owner));
        let required = table
            .get_bool(sink, "required")
            .ok()
            .flatten()
            .unwrap_or(true);
        let gates = match table.get_str(sink, "gates").ok().flatten() {
            None => Some(Phase::GoNoGo),
            Some(gates) => read_gated_phase(sink, &table.key_path("gates"), &gates),
        };
        table.finish(sink);
        let item = (|| {
            Some(ChecklistItem {
                id: id?,
                title: title?.into_inner(),
                owner: owner?,
                required,
                gates: gates?,
            })
        })();
        push_or_poison(&mut items, item);
    }
    items
}

/// A checklist item's `gates`: a phase the launch can leave.
fn read_gated_phase(sink: &mut Sink<'_>, path: &str, gates: &Spanned<String>) -> Option<Phase> {
    let phase = parse_name::<Phase>(sink, path, gates, "phase")?;
    if !phase.is_terminal() {
        return Some(phase);
    }
    let gateable: Vec<&str> = Phase::ALL
        .iter()
        .filter(|phase| !phase.is_terminal())
        .map(|phase| phase.as_str())
        .collect();
    sink.error(
        gates.span(),
        path,
        format!(
            "`{phase}` is a terminal phase: the launch never leaves it, so nothing can gate it"
        ),
        Some(format!("gate one of: {}", gateable.join(", "))),
    );
    None
}
