//! Reading secrets (API tokens, SMTP password, webhook URLs and HMAC keys, Prometheus
//! credentials, the acknowledgement-link key) from where the plan says they live: the one place
//! that turns a [`SecretSource`] into a value, and the one place that reads or creates the
//! acknowledgement-link key kept in the data directory. The value only ever exists as a
//! [`Secret`] (or key bytes handed straight to the engine); the reasons a secret is unavailable
//! name the variable or file, never any part of the value.

use std::path::{Path, PathBuf};

use crate::domain::Secret;
use crate::plan::SecretSource;

/// The file in the data directory that keeps the generated acknowledgement-link key.
pub const ACK_LINK_KEY_FILE: &str = "ack-link.key";

/// Reads a secret from its environment variable or file. Surrounding whitespace (the newline at the
/// end of a file) is dropped; an empty value counts as missing.
///
/// The error says where the secret should have come from, e.g. `environment variable SMTP_PASSWORD
/// is not set`, and never contains the value.
pub fn read_secret(source: &SecretSource) -> Result<Secret, String> {
    let value = match source {
        SecretSource::Env(variable) => match std::env::var(variable) {
            Ok(value) => value,
            Err(std::env::VarError::NotPresent) => {
                return Err(format!("environment variable {variable} is not set"));
            }
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(format!(
                    "environment variable {variable} is not valid UTF-8"
                ));
            }
        },
        SecretSource::File(path) => std::fs::read_to_string(path)
            .map_err(|error| format!("cannot read {}: {error}", path.display()))?,
    };
    let value = value.trim();
    if value.is_empty() {
        return Err(match source {
            SecretSource::Env(variable) => format!("environment variable {variable} is empty"),
            SecretSource::File(path) => format!("{} is empty", path.display()),
        });
    }
    Ok(Secret::new(value))
}

/// The key that signs acknowledgement links: the plan's `ack_link_secret` when it can be read,
/// else a random key kept in `data_dir` (created on first start, readable only by its owner), so
/// links sent before a restart still work after it.
pub fn ack_link_key(
    configured: Option<&SecretSource>,
    data_dir: &Path,
) -> Result<Vec<u8>, KeyFileError> {
    if let Some(source) = configured {
        match read_secret(source) {
            Ok(secret) => return Ok(secret.expose().as_bytes().to_vec()),
            Err(reason) => tracing::warn!(
                %reason,
                "ack_link_secret is unavailable; acknowledgement links are signed with the key kept in the data directory"
            ),
        }
    }
    let path = data_dir.join(ACK_LINK_KEY_FILE);
    if let Ok(bytes) = std::fs::read(&path)
        && bytes.len() >= 32
    {
        return Ok(bytes);
    }
    let key = crate::random::secret::<32>()
        .map_err(|source| KeyFileError {
            path: path.clone(),
            source,
        })?
        .to_vec();
    write_owner_only(&path, &key).map_err(|source| KeyFileError { path, source })?;
    Ok(key)
}

/// Why the acknowledgement-link key could not be created.
#[derive(Debug, thiserror::Error)]
#[error("cannot create the acknowledgement-link key {path}")]
pub struct KeyFileError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Writes `bytes` to a file only its owner can read (on Unix).
fn write_owner_only(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_file_is_read_without_its_trailing_newline() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("password");
        std::fs::write(&path, "hunter2\n").expect("write");
        let secret = read_secret(&SecretSource::File(path)).expect("secret");
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn a_missing_variable_is_named_in_the_reason() {
        let reason = read_secret(&SecretSource::Env(
            "GOLIVE_TEST_SURELY_UNSET_VARIABLE".to_string(),
        ))
        .expect_err("missing");
        assert_eq!(
            reason,
            "environment variable GOLIVE_TEST_SURELY_UNSET_VARIABLE is not set"
        );
    }

    #[test]
    fn an_empty_secret_file_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("empty");
        std::fs::write(&path, "\n").expect("write");
        let reason = read_secret(&SecretSource::File(path.clone())).expect_err("empty");
        assert_eq!(reason, format!("{} is empty", path.display()));
    }

    #[test]
    fn the_generated_ack_link_key_is_kept_across_starts() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = ack_link_key(None, dir.path()).expect("created");
        let second = ack_link_key(None, dir.path()).expect("read back");
        assert_eq!(first.len(), 32);
        assert_eq!(first, second);
    }

    #[test]
    fn a_configured_ack_link_secret_wins_over_the_kept_key() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("ack-secret");
        std::fs::write(&path, "configured-key\n").expect("write");
        let key = ack_link_key(Some(&SecretSource::File(path)), dir.path()).expect("key");
        assert_eq!(key, b"configured-key");
        assert!(!dir.path().join(ACK_LINK_KEY_FILE).exists());
    }
}
