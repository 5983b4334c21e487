//! Section `[server]`: the listen address and where API tokens come from.
//!
//! Tokens are secrets, so this section never quotes a value in a message: a token written
//! inline by mistake must not end up in a terminal, a CI log or a chat paste.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::Path;

use crate::plan::launch::{DEFAULT_LISTEN, Server, TokenSource};
use crate::plan::reader::{Sink, TableReader, push_or_poison, read_secret_source};

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
    table.finish(sink);
    Some(Server {
        listen: listen?,
        tokens: tokens?,
    })
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
