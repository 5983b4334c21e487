//! Feedback as a stakeholder without a token gives it in the demo: the support lead opens the
//! personal link at the foot of her copy of the daily report (an `.eml` file in the demo's outbox
//! folder) and sends the form, as her browser would.

use super::{Scenario, ScenarioError};

impl Scenario {
    /// Sends `text` through the feedback link of the newest report copy addressed to `address`.
    pub(super) async fn send_feedback_by_link(
        &self,
        address: &str,
        text: &str,
    ) -> Result<(), ScenarioError> {
        let folder = crate::notify::dispatcher::outbox_dir(&self.plan);
        let link = newest_feedback_link(&folder, address).ok_or_else(|| {
            ScenarioError::Unexpected(format!(
                "no report with a feedback link for {address} in {}",
                folder.display()
            ))
        })?;
        let mut form = reqwest::Url::parse("http://form.invalid/")
            .map_err(|error| ScenarioError::Unexpected(error.to_string()))?;
        form.query_pairs_mut().append_pair("text", text);
        let response = reqwest::Client::new()
            .post(&link)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.query().unwrap_or_default().to_string())
            .send()
            .await
            .map_err(|error| ScenarioError::Unexpected(format!("feedback form: {error}")))?;
        if !response.status().is_success() {
            return Err(ScenarioError::Unexpected(format!(
                "the feedback form answered {}",
                response.status()
            )));
        }
        Ok(())
    }
}

/// The feedback link of the newest `.eml` addressed to `address` (file names sort by time).
fn newest_feedback_link(folder: &std::path::Path, address: &str) -> Option<String> {
    let mut paths: Vec<_> = std::fs::read_dir(folder)
        .ok()?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
        .collect();
    paths.sort();
    paths.iter().rev().find_map(|path| {
        let raw = std::fs::read_to_string(path).ok()?;
        let (headers, _) = raw.split_once("\r\n\r\n")?;
        if !headers.contains(address) {
            return None;
        }
        // The text part is quoted-printable: undo soft line breaks and `=3D`; the token itself
        // is hex and dots, which the encoding leaves alone.
        let body = raw.replace("=\r\n", "").replace("=3D", "=");
        let at = body.find("/feedback/")?;
        let begin = body[..at].rfind("http")?;
        let end = body[at + "/feedback/".len()..]
            .find(|c: char| !(c.is_ascii_hexdigit() || c == '.'))
            .map_or(body.len(), |end| at + "/feedback/".len() + end);
        Some(body[begin..end].to_string())
    })
}
