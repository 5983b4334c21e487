//! Large plans fold their quiet checks: above [`COLLAPSE_ABOVE`] checks, the page lists the
//! failing and unknown ones in full and folds the healthy ones into one group per severity (the
//! plan has no notion of a service; severity is how people triage) and the unwatched ones into one
//! more, each with its count. What needs attention never hides behind a fold. Pure.

use serde::Serialize;

use super::CheckRow;

/// Above this many checks, healthy and unwatched ones are folded into groups.
pub const COLLAPSE_ABOVE: usize = 50;

/// Checks folded together, shown as one line with a count until opened.
#[derive(Debug, Clone, Serialize)]
pub struct CheckGroup {
    /// Stable across renders (`healthy-critical`, `unwatched`): the script keeps an opened group
    /// open when it swaps the live part.
    pub id: &'static str,
    /// `59 healthy critical checks`.
    pub label: String,
    /// The state class of the group's badge (`ok`, `idle`).
    pub class: &'static str,
    pub count: usize,
    pub checks: Vec<CheckRow>,
}

/// Splits the rows into those shown in full and the folded groups; plans of up to
/// [`COLLAPSE_ABOVE`] checks keep every row in full and no group. Order within each part is the
/// plan's.
pub fn fold(rows: Vec<CheckRow>) -> (Vec<CheckRow>, Vec<CheckGroup>) {
    if rows.len() <= COLLAPSE_ABOVE {
        return (rows, Vec::new());
    }
    let mut shown = Vec::new();
    let mut groups: Vec<CheckGroup> = Vec::new();
    for row in rows {
        let (id, class) = match (row.state.class, row.severity.class) {
            ("ok", "critical") => ("healthy-critical", "ok"),
            ("ok", "warning") => ("healthy-warning", "ok"),
            ("ok", _) => ("healthy-info", "ok"),
            ("idle", _) => ("unwatched", "idle"),
            _ => {
                shown.push(row);
                continue;
            }
        };
        match groups.iter_mut().find(|group| group.id == id) {
            Some(group) => group.checks.push(row),
            None => groups.push(CheckGroup {
                id,
                label: String::new(),
                class,
                count: 0,
                checks: vec![row],
            }),
        }
    }
    groups.sort_by_key(|group| GROUP_ORDER.iter().position(|id| *id == group.id));
    for group in &mut groups {
        group.count = group.checks.len();
        group.label = group_label(group);
    }
    (shown, groups)
}

const GROUP_ORDER: [&str; 4] = [
    "healthy-critical",
    "healthy-warning",
    "healthy-info",
    "unwatched",
];

fn group_label(group: &CheckGroup) -> String {
    let count = group.count;
    let checks = if count == 1 { "check" } else { "checks" };
    match group.checks.first() {
        // Every unwatched row says why in the same words (this phase, or the launch is over).
        Some(first) if group.id == "unwatched" => format!("{count} {checks} {}", first.state.label),
        Some(first) => format!("{count} healthy {} {checks}", first.severity.label),
        None => String::new(),
    }
}
