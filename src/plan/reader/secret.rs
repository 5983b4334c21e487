//! Secrets as a source, never as a value: `{ env = "VAR" }` or `{ file = "path" }`, and URLs that
//! may carry a secret. A secret written inline is an error whose message never quotes it.

use std::path::Path;

use toml::de::DeValue;

use super::table::{Expected, Got, Reported, Sink, TableReader};
use crate::plan::alerting::MaybeSecret;
use crate::plan::launch::SecretSource;
use crate::plan::values;

/// Exactly one of `env = "VAR"` or `file = "path"` in a table naming where a secret comes from
/// (a `[[server.tokens]]` entry, a Prometheus server's `bearer_token` or basic `password`);
/// `what` names the secret in messages ("token", "password").
pub(in crate::plan) fn read_secret_source(
    entry: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    base_dir: &Path,
    what: &str,
) -> Option<SecretSource> {
    // A value of the wrong type is reported, and then counts as not set.
    let env = entry.get_str(sink, "env").ok().flatten();
    let file = entry.get_str(sink, "file").ok().flatten();
    match (env, file) {
        (Some(_), Some(file)) => {
            let span = entry.key_span("file").unwrap_or(file.span());
            sink.error(
                span,
                &entry.key_path("file"),
                format!("a {what} has both `env` and `file`"),
                Some(format!("keep one: `env = \"VAR\"` reads the {what} from an environment variable, `file = \"path\"` from a file")),
            );
            None
        }
        (None, None) => {
            sink.error(
                entry.span(),
                entry.path(),
                format!("a {what} needs a source: neither `env` nor `file` is set"),
                Some(format!("add `env = \"VAR\"` (an environment variable) or `file = \"path\"` (a file holding the {what})")),
            );
            None
        }
        (Some(env), None) => {
            let name = env.get_ref();
            if values::is_env_var_name(name) {
                return Some(SecretSource::Env(name.clone()));
            }
            sink.error(
                env.span(),
                &entry.key_path("env"),
                format!("`{name}` is not an environment variable name"),
                Some(
                    "use letters, digits and `_`, not starting with a digit, e.g. `GOLIVE_TOKEN`"
                        .to_string(),
                ),
            );
            None
        }
        (None, Some(file)) => {
            if file.get_ref().trim().is_empty() {
                sink.error(
                    file.span(),
                    &entry.key_path("file"),
                    "`file` must not be empty",
                    Some(format!(
                        "give the path of a file holding the {what}, relative to the plan"
                    )),
                );
                return None;
            }
            // Whether the file exists is the daemon's business: `check` may run elsewhere.
            Some(SecretSource::File(base_dir.join(file.get_ref())))
        }
    }
}

/// A secret reference `key = { env = "VAR" }` or `{ file = "path" }`; a plain string is an
/// inline secret and reported without its value.
pub(in crate::plan) fn read_secret(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    base_dir: &Path,
    key: &'static str,
    what: &str,
) -> Result<Option<SecretSource>, Reported> {
    let Some(value) = table.value(sink, key) else {
        return Ok(None);
    };
    if !matches!(value.get_ref(), DeValue::Table(_)) {
        let span = table.key_span(key).unwrap_or(value.span());
        sink.error(
            span,
            &table.key_path(key),
            format!("a {what} must not be written in the plan"),
            Some(format!(
                "put it in an environment variable or a file and write `{key} = {{ env = \"VAR\" }}` or `{key} = {{ file = \"path\" }}`"
            )),
        );
        return Err(Reported);
    }
    let mut source = table.get_table(sink, key)?.ok_or(Reported)?;
    let found = read_secret_source(&mut source, sink, base_dir, what);
    source.finish(sink);
    found.map(Some).ok_or(Reported)
}

/// A URL that may be secret: a plain `http(s)` URL that visibly carries no credential, or
/// `{ env = "VAR" }` / `{ file = "path" }`. The URL is never quoted in messages.
pub(in crate::plan) fn read_secret_url(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    base_dir: &Path,
    key: &'static str,
    required: bool,
) -> Got<MaybeSecret> {
    let value = if required {
        table.required(sink, key, Expected::String)
    } else {
        table.value(sink, key)
    };
    let Some(value) = value else {
        return if required { Err(Reported) } else { Ok(None) };
    };
    let path = table.key_path(key);
    let move_it = format!(
        "put the whole URL in an environment variable or a file and write `{key} = {{ env = \"VAR\" }}` or `{key} = {{ file = \"path\" }}`"
    );
    match value.get_ref() {
        DeValue::String(text) => match values::http_url(text) {
            Ok(url) => match values::visible_secret(&url) {
                None => Ok(Some(MaybeSecret::Plain(text.trim().to_string()))),
                Some(what) => {
                    sink.error(
                        value.span(),
                        &path,
                        format!(
                            "the URL carries a secret ({what}), which must not be written in the plan"
                        ),
                        Some(move_it),
                    );
                    Err(Reported)
                }
            },
            Err(reason) => {
                sink.error(
                    value.span(),
                    &path,
                    format!("invalid URL: {reason}"),
                    Some(format!(
                        "write a full http:// or https:// URL, or {}",
                        move_it.replacen("put", "when it carries a token, put", 1)
                    )),
                );
                Err(Reported)
            }
        },
        DeValue::Table(_) => {
            let mut source = table.get_table(sink, key)?.ok_or(Reported)?;
            let found = read_secret_source(&mut source, sink, base_dir, "URL");
            source.finish(sink);
            found
                .map(|source| Some(MaybeSecret::Secret(source)))
                .ok_or(Reported)
        }
        other => {
            sink.error(
                value.span(),
                &path,
                format!(
                    "expected a URL string or a secret source, found {}",
                    other.type_str()
                ),
                Some(move_it),
            );
            Err(Reported)
        }
    }
}

/// A plain `http(s)` URL (Alertmanager, `public_url`) without credentials in it.
pub(in crate::plan) fn read_plain_url(
    table: &mut TableReader<'_, '_>,
    sink: &mut Sink<'_>,
    key: &'static str,
    required: bool,
    example: &str,
) -> Got<String> {
    let url = if required {
        match table.req_str(sink, key) {
            Some(url) => url,
            None => return Err(Reported),
        }
    } else {
        match table.get_str(sink, key)? {
            Some(url) => url,
            None => return Ok(None),
        }
    };
    let path = table.key_path(key);
    match values::http_url(url.get_ref()) {
        Ok(parsed) if values::visible_secret(&parsed).is_some() => {
            sink.error(
                url.span(),
                &path,
                "the URL carries credentials, which must not be written in the plan",
                Some(format!(
                    "remove them; write the address alone, e.g. `{example}`"
                )),
            );
            Err(Reported)
        }
        Ok(_) => Ok(Some(url.get_ref().trim().to_string())),
        Err(reason) => {
            sink.error(
                url.span(),
                &path,
                format!("invalid URL `{}`: {reason}", url.get_ref()),
                Some(format!(
                    "write a full http:// or https:// URL, e.g. `{example}`"
                )),
            );
            Err(Reported)
        }
    }
}
