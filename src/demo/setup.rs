//! The demo's folder and plan: a fresh folder, the shipped `config/demo.toml` with its
//! placeholders filled in, and a random API token next to it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;

/// The demo plan, shipped in the binary.
pub const DEMO_PLAN: &str = include_str!("../../config/demo.toml");

/// The folder used when `--dir` is not given (or `golive-demo-2`, `-3`... when it exists).
pub const DEFAULT_DIR: &str = "golive-demo";
/// The plan file written into the demo's folder.
pub const PLAN_FILE: &str = "demo.toml";
/// The API token file the plan's `[[server.tokens]]` entry names.
pub const TOKEN_FILE: &str = "api-token";
/// The PagerDuty routing key file the plan's `pager` channel names (32 hex digits, as
/// PagerDuty's integration keys).
pub const PAGERDUTY_KEY_FILE: &str = "pagerduty-routing.key";

/// What the placeholders of the demo plan are filled with.
#[derive(Debug, Clone)]
pub struct PlanValues {
    /// The demo service's address, e.g. `127.0.0.1:40123`.
    pub service: String,
    /// The planned go-live.
    pub go_live: Timestamp,
    /// How long an unacknowledged alert waits before level 2.
    pub escalate_after: Duration,
}

/// Why the demo's folder could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(
        "--dir {}: the folder is not empty; the demo needs a fresh folder (remove it or name another)",
        .0.display()
    )]
    NotEmpty(PathBuf),
    #[error(
        "no free folder name: {DEFAULT_DIR} and {DEFAULT_DIR}-2 to -99 all exist here; remove some or pass --dir"
    )]
    NoFreeName,
    #[error("cannot create the demo folder {}: {source}", path.display())]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read random bytes for the demo's API token: {0}")]
    Random(#[source] std::io::Error),
}

/// Creates the demo's folder: `dir` when given (it must not exist or be empty), else the first
/// free one of `golive-demo`, `golive-demo-2`, ... in the current folder. Returns its absolute
/// path, so the plan's relative paths do not depend on the current folder later.
pub fn create_folder(dir: Option<&Path>) -> Result<PathBuf, SetupError> {
    let path = match dir {
        Some(dir) => {
            let empty = match std::fs::read_dir(dir) {
                Ok(mut entries) => entries.next().is_none(),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => true,
                Err(source) => {
                    return Err(SetupError::Create {
                        path: dir.to_path_buf(),
                        source,
                    });
                }
            };
            if !empty {
                return Err(SetupError::NotEmpty(dir.to_path_buf()));
            }
            dir.to_path_buf()
        }
        None => (1..100)
            .map(|n| {
                if n == 1 {
                    PathBuf::from(DEFAULT_DIR)
                } else {
                    PathBuf::from(format!("{DEFAULT_DIR}-{n}"))
                }
            })
            .find(|candidate| !candidate.exists())
            .ok_or(SetupError::NoFreeName)?,
    };
    std::fs::create_dir_all(&path).map_err(|source| SetupError::Create {
        path: path.clone(),
        source,
    })?;
    std::fs::canonicalize(&path).map_err(|source| SetupError::Create { path, source })
}

/// The demo plan with its placeholders filled in.
pub fn fill_plan(values: &PlanValues) -> String {
    DEMO_PLAN
        .replace("{service}", &values.service)
        .replace("{go_live}", &values.go_live.to_string())
        .replace(
            "{escalate_after}",
            &format!("{}s", values.escalate_after.as_secs().max(1)),
        )
}

/// Writes the filled plan, a fresh random API token and the PagerDuty routing key the demo shop's
/// pager expects (both readable only by their owner) into `folder`; returns the plan's path and
/// the token.
pub fn write_plan(folder: &Path, plan_text: &str) -> Result<(PathBuf, String), SetupError> {
    let token = random_token()?;
    for (file, secret) in [
        (TOKEN_FILE, token.clone()),
        (PAGERDUTY_KEY_FILE, random_token()?),
    ] {
        let path = folder.join(file);
        write_private(&path, secret.as_bytes())
            .map_err(|source| SetupError::Write { path, source })?;
    }
    let plan_path = folder.join(PLAN_FILE);
    std::fs::write(&plan_path, plan_text).map_err(|source| SetupError::Write {
        path: plan_path.clone(),
        source,
    })?;
    Ok((plan_path, token))
}

/// 32 random hex digits.
fn random_token() -> Result<String, SetupError> {
    let bytes = crate::random::secret::<16>().map_err(SetupError::Random)?;
    Ok(crate::random::to_hex(&bytes))
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
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

    fn values() -> PlanValues {
        PlanValues {
            service: "127.0.0.1:40123".to_string(),
            go_live: "2030-05-01T20:00:00Z".parse().unwrap(),
            escalate_after: Duration::from_secs(7),
        }
    }

    #[test]
    fn the_filled_demo_plan_is_valid_without_warnings() {
        let text = fill_plan(&values());
        assert!(!text.contains("{service}") && !text.contains("{go_live}"));
        let loaded = crate::plan::parse(&text, Path::new("/tmp/golive-demo/demo.toml"))
            .unwrap_or_else(|diagnostics| panic!("invalid demo plan: {diagnostics:#?}"));
        assert!(loaded.warnings.is_empty(), "{:#?}", loaded.warnings);
        let plan = loaded.plan;
        assert_eq!(plan.launch.go_live, values().go_live);
        assert!(
            plan.alerting.smtp.is_none(),
            "the demo writes emails to the outbox"
        );
        assert!(
            plan.checks
                .iter()
                .all(|check| format!("{check:?}").contains("127.0.0.1:40123")),
            "every check probes the demo service"
        );
    }

    #[test]
    fn an_explicit_folder_that_is_not_empty_is_refused() {
        let temp = tempfile::tempdir().unwrap();
        std::fs::write(temp.path().join("something"), "x").unwrap();
        let error = create_folder(Some(temp.path())).unwrap_err();
        assert!(matches!(error, SetupError::NotEmpty(_)), "{error}");
        let fresh = temp.path().join("demo");
        let created = create_folder(Some(&fresh)).unwrap();
        assert!(created.is_absolute() && created.is_dir());
    }
}
