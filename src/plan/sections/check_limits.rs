//! What the keys of every check kind are checked against ([`Limits`]), and the `url` that http
//! and scrape checks share. A leaf of `check_kinds.rs` and `check_http.rs`, so neither imports the
//! other's helpers.

use std::path::Path;
use std::time::Duration;

use crate::plan::reader::{Ids, Sink, TableReader};
use crate::plan::values;

/// What the kind-specific keys are checked against.
pub(in crate::plan) struct Limits<'k> {
    /// The longest interval the check probes at (`None` when the intervals were invalid).
    pub(in crate::plan) longest_interval: Option<Duration>,
    /// The check's timeout (`None` when it was invalid).
    pub(in crate::plan) timeout: Option<Duration>,
    /// The plan file's folder, for `ca_file`.
    pub(in crate::plan) base_dir: &'k Path,
    /// `[[prometheus]]` ids.
    pub(in crate::plan) server_ids: &'k Ids,
}

/// A required `url`: http or https.
pub(in crate::plan) fn read_url(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    example: &str,
) -> Option<String> {
    let url = table.req_str(sink, "url")?;
    match values::http_url(url.get_ref()) {
        Ok(_) => Some(url.into_inner()),
        Err(reason) => {
            sink.error(
                url.span(),
                &table.key_path("url"),
                format!("invalid URL `{}`: {reason}", url.get_ref()),
                Some(format!(
                    "write a full http:// or https:// URL, e.g. `{example}`"
                )),
            );
            None
        }
    }
}
