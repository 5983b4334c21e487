//! Sections `[monitoring]` and `[[prometheus]]`: how probing runs, and the Prometheus-compatible
//! servers that prometheus checks query.
//!
//! A server's credentials are secrets, so a `[[prometheus]]` entry never quotes a value in a
//! message, and a credential written inline (a plain string for `bearer_token` or `password`, or a
//! `token`/`value`/`secret` key) is an error that names the key, not the value.

use std::path::Path;
use std::time::Duration;

use crate::plan::checks::{Monitoring, PrometheusAuth, PrometheusServer};
use crate::plan::reader::{
    IdRegistry, Ids, Reported, Sink, TableReader, push_or_poison, read_secret,
};
use crate::plan::values;

/// The default timeout of a query to a Prometheus server.
pub(in crate::plan) const DEFAULT_SERVER_TIMEOUT: Duration = Duration::from_secs(5);

/// Keys that would hold a credential inline.
const INLINE_SECRET_KEYS: [&str; 3] = ["token", "value", "secret"];

/// Section `[monitoring]` (optional).
pub(in crate::plan) fn read_monitoring(
    root: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
) -> Option<Monitoring> {
    let defaults = Monitoring::default();
    let Ok(Some(mut table)) = root.get_table(sink, "monitoring") else {
        return Some(defaults);
    };
    let probes = table.get_int(sink, "max_concurrent_probes", 1, 10_000);
    let retention = table.get_int(sink, "history_retention_days", 1, 3650);
    table.finish(sink);
    Some(Monitoring {
        max_concurrent_probes: probes
            .ok()?
            .and_then(|value| usize::try_from(value).ok())
            .unwrap_or(defaults.max_concurrent_probes),
        history_retention_days: retention
            .ok()?
            .and_then(|value| u32::try_from(value).ok())
            .unwrap_or(defaults.history_retention_days),
    })
}

/// Section `[[prometheus]]`. Returns the servers (if all are valid) and every well-formed id, so
/// a server with a bad URL does not also make the checks that use it "unknown".
pub(in crate::plan) fn read_prometheus(
    root: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    base_dir: &Path,
) -> (Option<Vec<PrometheusServer>>, Ids) {
    let mut ids = IdRegistry::new("prometheus");
    let mut servers = Some(Vec::new());
    for mut table in root.array_of_tables(sink, "prometheus") {
        table.redact_values();
        let id = ids.read(&mut table, sink);
        let url = table.req_str(sink, "url").and_then(|url| {
            let path = table.key_path("url");
            match values::http_url(url.get_ref()) {
                Ok(parsed) if parsed.password().is_some() => {
                    sink.error(
                        url.span(),
                        &path,
                        "the server URL holds a password",
                        Some("remove the credentials from the URL and use `basic = { username = \"...\", password = { env = \"VAR\" } }`".to_string()),
                    );
                    None
                }
                Ok(_) => Some(url.into_inner()),
                Err(reason) => {
                    sink.error(
                        url.span(),
                        &path,
                        format!("invalid server URL `{}`: {reason}", url.get_ref()),
                        Some("write the server's base URL, e.g. `http://127.0.0.1:9090`".to_string()),
                    );
                    None
                }
            }
        });
        let timeout = table
            .get_duration(sink, "timeout")
            .map(|timeout| timeout.map_or(DEFAULT_SERVER_TIMEOUT, |timeout| timeout.into_inner()));
        for key in INLINE_SECRET_KEYS {
            table.forbid(
                sink,
                key,
                &format!("a credential must not be written in the plan (`{key} = ...`)"),
                "put it in an environment variable or a file and reference it with `bearer_token = { env = \"VAR\" }` or `{ file = \"path\" }`",
            );
        }
        let auth = read_auth(&mut table, sink, base_dir);
        table.finish(sink);
        let server = (|| {
            Some(PrometheusServer {
                id: id?,
                url: url?,
                timeout: timeout.ok()?,
                auth: auth.ok()?,
            })
        })();
        push_or_poison(&mut servers, server);
    }
    (servers, ids.into_ids())
}

/// `bearer_token = { env | file }` or `basic = { username, password = { env | file } }`.
fn read_auth(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    base_dir: &Path,
) -> Result<Option<PrometheusAuth>, Reported> {
    let bearer = read_secret(table, sink, base_dir, "bearer_token", "bearer token");
    let basic = match table.value(sink, "basic") {
        None => Ok(None),
        Some(_) => match table.get_table(sink, "basic").ok().flatten() {
            None => Err(Reported),
            Some(mut basic) => {
                let username = basic.req_str(sink, "username");
                let password = read_secret(&mut basic, sink, base_dir, "password", "password");
                let (span, path) = (basic.span(), basic.path().to_string());
                basic.finish(sink);
                match (username, password) {
                    (Some(username), Ok(Some(password))) => Ok(Some(PrometheusAuth::Basic {
                        username: username.into_inner(),
                        password,
                    })),
                    (_, Ok(None)) => {
                        sink.error(
                            span,
                            &path,
                            "basic authentication needs a `password`",
                            Some("add `password = { env = \"VAR\" }` or `password = { file = \"path\" }`".to_string()),
                        );
                        Err(Reported)
                    }
                    _ => Err(Reported),
                }
            }
        },
    };
    match (bearer?, basic?) {
        (Some(_), Some(_)) => {
            let span = table.key_span("basic").unwrap_or(table.span());
            sink.error(
                span,
                &table.key_path("basic"),
                "a server has both `bearer_token` and `basic`",
                Some("keep one way to authenticate".to_string()),
            );
            Err(Reported)
        }
        (Some(source), None) => Ok(Some(PrometheusAuth::Bearer(source))),
        (None, basic) => Ok(basic),
    }
}
