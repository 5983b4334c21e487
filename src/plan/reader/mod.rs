//! The TOML-reading primitives every section reader uses, and nothing else of the plan: the
//! spanned tree reader and its sink (`table.rs`), the one getter dialect (`getters.rs`), the one
//! duration reader (`duration.rs`), fixed words (`choice.rs`), secrets as a source (`secret.rs`),
//! ids and references (`ids.rs`), lists of phases (`phases.rs`), owners and recipients (`who.rs`). Files here import only each
//! other (downwards in that order), `values`, `diagnostic` and the typed sections.

mod choice;
mod duration;
mod getters;
mod ids;
mod phases;
mod secret;
mod table;
mod who;

pub(super) use choice::{parse_choice, parse_choice_any_case, parse_name};
pub(super) use duration::duration_value;
pub(super) use ids::{IdRegistry, Ids, accepted_once, push_or_poison, reference_exists};
pub(super) use phases::{EmptyPhases, read_phase_list};
pub(super) use secret::{read_plain_url, read_secret, read_secret_source, read_secret_url};
pub(super) use table::{Expected, Got, Reported, Sink, TableReader};
pub(super) use who::{Owners, Recipients};
