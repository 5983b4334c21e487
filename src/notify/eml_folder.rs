//! The `.eml` folder (people call it the outbox folder; it is not the store's outbox of pending
//! notifications): with no SMTP server configured, each email is written as an `.eml` file
//! named `<UTC time, ms>-<message id>.eml` (the time the sender was handed, from the daemon's
//! clock, so demo emails carry demo time), so a folder listing sorts by time. A file is written
//! under a temporary name and then hard-linked into place, so a reader never sees half a message
//! and two messages (or a retry of the same one) never overwrite each other.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Delivered, DeliveryError};

/// Process-wide counter that keeps temporary file names apart.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` as a new `.eml` file in `dir`, named after `now`.
pub(crate) async fn write_eml_file(
    dir: PathBuf,
    message_id: String,
    bytes: Vec<u8>,
    now: jiff::Timestamp,
) -> Result<Delivered, DeliveryError> {
    run_blocking(move || {
        std::fs::create_dir_all(&dir)?;
        let stamp = now.strftime("%Y%m%dT%H%M%S%.3fZ").to_string();
        let base = format!("{stamp}-{}", file_name_part(&message_id));
        let temp = tempfile_in(&dir)?;
        let written = (|| {
            let mut file = std::fs::OpenOptions::new().write(true).open(&temp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            link_without_overwriting(&temp, &dir, &base)
        })();
        // The temporary name goes whether or not the link worked.
        let _ = std::fs::remove_file(&temp);
        let path = written?;
        Ok(Delivered {
            answer: format!("written to {}", path.display()),
        })
    })
    .await
}

/// Creates an empty hidden temporary file in `dir` and returns its path.
pub(crate) fn tempfile_in(dir: &Path) -> std::io::Result<PathBuf> {
    loop {
        let path = dir.join(format!(
            ".golive-{}-{}.tmp",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(_) => return Ok(path),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(error),
        }
    }
}

/// Gives `temp` the name `<base>.eml`, or `<base>-2.eml`, `<base>-3.eml`... when taken. A hard
/// link never replaces an existing file, unlike a rename.
fn link_without_overwriting(temp: &Path, dir: &Path, base: &str) -> std::io::Result<PathBuf> {
    for attempt in 1..1000 {
        let name = if attempt == 1 {
            format!("{base}.eml")
        } else {
            format!("{base}-{attempt}.eml")
        };
        let path = dir.join(name);
        match std::fs::hard_link(temp, &path) {
            Ok(()) => return Ok(path),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(error),
        }
    }
    Err(std::io::Error::other(format!(
        "too many files named {base} in the outbox"
    )))
}

/// The message id made safe for a file name: letters, digits and `.@+-_`, at most 100 characters.
fn file_name_part(message_id: &str) -> String {
    let safe: String = message_id
        .trim_start_matches('<')
        .trim_end_matches('>')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '@' | '+' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    if safe.is_empty() {
        "message".to_string()
    } else {
        safe
    }
}

/// Runs file work off the async threads; an I/O error may clear (a full disk), so it is retryable.
pub(crate) async fn run_blocking(
    work: impl FnOnce() -> std::io::Result<Delivered> + Send + 'static,
) -> Result<Delivered, DeliveryError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(delivered)) => Ok(delivered),
        Ok(Err(error)) => Err(DeliveryError::Retryable(format!(
            "cannot write to the outbox folder: {error}"
        ))),
        Err(error) => Err(DeliveryError::Retryable(format!(
            "writing to the outbox folder stopped: {error}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_become_safe_file_names() {
        assert_eq!(
            file_name_part("alert-1.2@golive.test"),
            "alert-1.2@golive.test"
        );
        assert_eq!(file_name_part("<a/b c>"), "a_b_c");
        assert_eq!(file_name_part(""), "message");
    }
}
