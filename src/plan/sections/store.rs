//! Section `[store]`: where golive keeps its state. Without it (and without `--database-url` /
//! `GOLIVE_DATABASE_URL`), SQLite in the data directory. `url` names where a PostgreSQL URL is
//! kept — `{ env = "VAR" }` or `{ file = "path" }` — never the URL itself, which usually carries a
//! password. The typed value and its reader live together here; the daemon's side is
//! `crate::store::Backend`.

use std::path::Path;

use crate::plan::launch::SecretSource;
use crate::plan::reader::{Reported, Sink, TableReader, read_secret};

/// Section `[store]`.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreSection {
    /// `url`: where the `postgres://` URL is read from at start (none: SQLite).
    pub url: Option<SecretSource>,
}

/// Reads `[store]` (optional).
pub(in crate::plan) fn read_store(
    root: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    base_dir: &Path,
) -> Result<Option<StoreSection>, Reported> {
    let Some(mut table) = root.get_table(sink, "store")? else {
        return Ok(None);
    };
    // A mistyped key may hold the URL: never quote values of this section.
    table.redact_values();
    let url = read_secret(&mut table, sink, base_dir, "url", "database URL");
    table.finish(sink);
    Ok(Some(StoreSection { url: url? }))
}
