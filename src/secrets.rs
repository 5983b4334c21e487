//! Reading secrets (SMTP password, webhook URLs and HMAC keys, Prometheus credentials) from where
//! the plan says they live: the one place that turns a [`SecretSource`] into a value. The value only ever exists as a [`Secret`]; the reasons a secret is
//! unavailable name the variable or file, never any part of the value.

use crate::domain::Secret;
use crate::plan::SecretSource;

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
}
