//! Section `[server]`: the listen address, where API tokens come from, the TLS certificate and
//! key files, and the extra host names the daemon answers for (DNS-rebinding protection).
//!
//! Tokens are secrets, so this section never quotes a value in a message: a token written
//! inline by mistake must not end up in a terminal, a CI log or a chat paste.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::plan::launch::{DEFAULT_LISTEN, Server, TlsFiles, TokenSource};
use crate::plan::reader::{Reported, Sink, TableReader, push_or_poison, read_secret_source};

/// Keys that would hold a secret inline; the plan must reference secrets, never contain them.
const INLINE_SECRET_KEYS: [&str; 3] = ["token", "value", "secret"];

/// Section `[server]` (optional) and its `[[server.tokens]]`.
pub(in crate::plan) fn read_server(
    root: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    base_dir: &Path,
) -> Option<Server> {
    let default_listen = DEFAULT_LISTEN.parse::<SocketAddr>().ok()?;
    // A `server` that is not a table was reported; the default is usable either way.
    let Ok(Some(mut table)) = root.get_table(sink, "server") else {
        return Some(Server {
            listen: default_listen,
            tokens: Vec::new(),
            tls: None,
            allowed_hosts: Vec::new(),
        });
    };
    table.redact_values();
    forbid_inline_secrets(&mut table, sink);
    let listen = match table.get_str(sink, "listen").ok().flatten() {
        None => Some(default_listen),
        Some(listen) => match listen.get_ref().trim().parse::<SocketAddr>() {
            Ok(address) => Some(address),
            Err(_) => {
                sink.error(
                    listen.span(),
                    &table.key_path("listen"),
                    format!("`{}` is not a socket address", listen.get_ref()),
                    Some(format!(
                        "write an IP address and a port, e.g. `{DEFAULT_LISTEN}` (host names such as `localhost` are not accepted)"
                    )),
                );
                None
            }
        },
    };

    let mut tokens = Some(Vec::new());
    let mut names: HashMap<String, Range<usize>> = HashMap::new();
    for mut entry in table.array_of_tables(sink, "tokens") {
        forbid_inline_secrets(&mut entry, sink);
        let name = entry.req_str(sink, "name").and_then(|name| {
            if let Some(first) = names.get(name.get_ref()) {
                let first_line = sink.line_of(first.start);
                sink.error(
                    name.span(),
                    &entry.key_path("name"),
                    format!("duplicate token name `{}`", name.get_ref()),
                    Some(format!("the first token with this name is on line {first_line}; token names must be unique")),
                );
                return None;
            }
            names.insert(name.get_ref().clone(), name.span());
            Some(name.into_inner())
        });
        let source = read_secret_source(&mut entry, sink, base_dir, "token");
        entry.finish(sink);
        let token = (|| {
            Some(TokenSource {
                name: name?,
                source: source?,
            })
        })();
        push_or_poison(&mut tokens, token);
    }
    let tls = read_tls(&mut table, sink, base_dir);
    let allowed_hosts = read_allowed_hosts(&mut table, sink);
    table.finish(sink);
    Some(Server {
        listen: listen?,
        tokens: tokens?,
        tls: tls.ok()?,
        allowed_hosts: allowed_hosts.ok()?,
    })
}

/// `tls = { cert = "...", key = "..." }`. Whether the files exist and hold a matching certificate
/// and key is the daemon's business (it reads them at start and on SIGHUP): `check` may run
/// elsewhere.
fn read_tls(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    base_dir: &Path,
) -> Result<Option<TlsFiles>, Reported> {
    let Some(mut tls) = table.get_table(sink, "tls")? else {
        return Ok(None);
    };
    let mut file = |tls: &mut TableReader<'_, '_>, key: &'static str| {
        let path = tls.req_str(sink, key)?;
        Some(base_dir.join(PathBuf::from(path.get_ref().trim())))
    };
    let cert = file(&mut tls, "cert");
    let key = file(&mut tls, "key");
    tls.finish(sink);
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(Some(TlsFiles { cert, key })),
        _ => Err(Reported),
    }
}

/// `allowed_hosts = ["golive.example.com"]`: bare host names, kept lowercase without a trailing
/// dot, as the `Host` header is compared.
fn read_allowed_hosts(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
) -> Result<Vec<String>, Reported> {
    let Some(list) = table.get_str_list(sink, "allowed_hosts")? else {
        return Ok(Vec::new());
    };
    let mut hosts = Vec::new();
    let mut bad = false;
    for (index, host) in list.into_inner().into_iter().enumerate() {
        let name = host
            .get_ref()
            .trim()
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let plain = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if plain {
            hosts.push(name);
            continue;
        }
        bad = true;
        sink.error(
            host.span(),
            &format!("{}[{index}]", table.key_path("allowed_hosts")),
            format!("`{}` is not a host name", host.get_ref()),
            Some(
                "write a bare host name such as `golive.example.com`: no scheme, port or path (IP addresses are always answered)"
                    .to_string(),
            ),
        );
    }
    if bad { Err(Reported) } else { Ok(hosts) }
}

/// Reports `token = "..."` and friends without ever echoing the secret.
fn forbid_inline_secrets(table: &mut TableReader<'_, '_>, sink: &mut Sink<'_>) {
    for key in INLINE_SECRET_KEYS {
        table.forbid(
            sink,
            key,
            &format!("a token must not be written in the plan (`{key} = ...`)"),
            "move the token to an environment variable or a file, and reference it with `env = \"VAR\"` or `file = \"path\"` in a `[[server.tokens]]` entry",
        );
    }
}
