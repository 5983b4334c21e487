//! Section `[store]`: where golive keeps its state. Without it (and without `--database-url` /
//! `GOLIVE_DATABASE_URL`), SQLite in the data directory. `url` names where a PostgreSQL URL is
//! kept — `{ env = "VAR" }` or `{ file = "path" }` — never the URL itself, which usually carries a
//! password. `lease` sets how long the active member's lease on PostgreSQL lasts (it renews it at a
//! fifth of that); one that stretches a takeover past 10 s is allowed, with a warning. The typed value and its reader live together here; the daemon's side is
//! `crate::store::Backend`.

use std::path::Path;
use std::time::Duration;

use crate::plan::launch::SecretSource;
use crate::plan::reader::{Reported, Sink, TableReader, read_secret};
use crate::plan::values;

/// The lease's length when `lease` is not given.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(5);
/// The shortest lease: renewed at a fifth of it, every 400 ms at least, which a database round
/// trip across a data centre still fits in.
const SHORTEST_LEASE: Duration = Duration::from_secs(2);
/// The longest lease: a takeover takes about that long. Over [`TAKEOVER_BOUND`] is allowed (a
/// database far away, a slow network), with a warning ([`takeover_at_worst`]).
const LONGEST_LEASE: Duration = Duration::from_secs(60);
/// How long after the active is lost a standby has taken over at worst, with the default lease.
pub const TAKEOVER_BOUND: Duration = Duration::from_secs(10);
/// How long a takeover waits at worst for a transaction a paused active left open (the server's
/// `idle_in_transaction_session_timeout` golive sets, `store/db/postgres.rs`).
const OPEN_TRANSACTION_WAIT: Duration = Duration::from_secs(3);

/// How long after the active is lost a standby has taken over at worst with a lease of `lease`:
/// the lease runs out, a transaction the old active left open ends, and the standby's next try
/// (every fifth of the lease) finds it free.
pub fn takeover_at_worst(lease: Duration) -> Duration {
    lease + OPEN_TRANSACTION_WAIT + lease / 5
}

/// Section `[store]`.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreSection {
    /// `url`: where the `postgres://` URL is read from at start (none: SQLite).
    pub url: Option<SecretSource>,
    /// `lease`: how long the active member's lease lasts without renewal (PostgreSQL only).
    pub lease: Duration,
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
    let lease = read_lease(&mut table, sink);
    table.finish(sink);
    Ok(Some(StoreSection {
        url: url?,
        lease: lease?,
    }))
}

/// `lease` (default 5 s), between 2 s and a minute.
fn read_lease(table: &mut TableReader<'_, '_>, sink: &mut Sink<'_>) -> Result<Duration, Reported> {
    let path = table.key_path("lease");
    let Some(lease) = table.get_duration(sink, "lease")? else {
        return Ok(DEFAULT_LEASE);
    };
    let length = *lease.get_ref();
    if (SHORTEST_LEASE..=LONGEST_LEASE).contains(&length) {
        let at_worst = takeover_at_worst(length);
        if at_worst > TAKEOVER_BOUND {
            sink.warning(
                lease.span(),
                &path,
                format!(
                    "with a lease of {} a standby takes over up to {} after the active is lost, longer than {}: pages wait that long",
                    values::show_duration(length),
                    values::show_duration(at_worst),
                    values::show_duration(TAKEOVER_BOUND)
                ),
                Some("keep the default `\"5s\"` unless the database is too far away to renew every second".into()),
            );
        }
        return Ok(length);
    }
    sink.error(
        lease.span(),
        &path,
        format!(
            "a lease of {} is out of range",
            values::show_duration(length)
        ),
        Some(format!(
            "use {} to {}: a standby takes over about a lease after the active is lost, and the active renews at a fifth of it (default `\"5s\"`)",
            values::show_duration(SHORTEST_LEASE),
            values::show_duration(LONGEST_LEASE)
        )),
    );
    Err(Reported)
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use crate::plan::{Diagnostic, parse};

    const BASE: &str = "[launch]\nname = \"Shop\"\ntimezone = \"Europe/Berlin\"\n\
        go_live = 2026-12-01T20:00:00\nhypercare_days = 14\n";

    fn lease(section: &str) -> Result<Option<Duration>, Vec<Diagnostic>> {
        parse(&format!("{BASE}\n{section}"), Path::new("plan.toml"))
            .map(|loaded| loaded.plan.store.map(|store| store.lease))
    }

    #[test]
    fn a_lease_that_stretches_the_takeover_past_ten_seconds_is_a_warning_naming_it() {
        let warnings = |section: &str| -> Vec<String> {
            let loaded =
                parse(&format!("{BASE}\n{section}"), Path::new("plan.toml")).expect("valid");
            loaded.warnings.iter().map(|w| format!("{w:?}")).collect()
        };
        let url = "url = { env = \"GOLIVE_DATABASE_URL\" }";
        assert!(
            warnings(&format!("[store]\n{url}\n"))
                .iter()
                .all(|w| !w.contains("store.lease"))
        );
        assert!(
            warnings(&format!("[store]\n{url}\nlease = \"5s\"\n"))
                .iter()
                .all(|w| !w.contains("store.lease"))
        );
        let long = warnings(&format!("[store]\n{url}\nlease = \"30s\"\n"));
        let named: Vec<&String> = long.iter().filter(|w| w.contains("store.lease")).collect();
        assert_eq!(named.len(), 1, "{long:?}");
        assert!(named[0].contains("takes over up to 39 s"), "{named:?}");
    }

    #[test]
    fn the_lease_is_five_seconds_unless_set_and_out_of_range_is_an_error_naming_it() {
        let url = "url = { env = \"GOLIVE_DATABASE_URL\" }";
        assert_eq!(
            lease(&format!("[store]\n{url}\n")),
            Ok(Some(Duration::from_secs(5)))
        );
        assert_eq!(
            lease(&format!("[store]\n{url}\nlease = \"10s\"\n")),
            Ok(Some(Duration::from_secs(10)))
        );
        for bad in ["500ms", "2m"] {
            let errors: Vec<String> = lease(&format!("[store]\n{url}\nlease = \"{bad}\"\n"))
                .expect_err(bad)
                .iter()
                .filter(|diagnostic| diagnostic.is_error())
                .map(|diagnostic| format!("{diagnostic:?}"))
                .collect();
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert!(errors[0].contains("store.lease"), "{errors:?}");
            assert!(errors[0].contains("out of range"), "{errors:?}");
        }
    }
}
