//! The one HTTP POST that webhooks and Alertmanager forwarding share, and how its outcome maps to
//! [`Delivered`] or a [`DeliveryError`]: 2xx delivered; 408, 429, 5xx, timeouts and connection
//! problems worth retrying; any other answer permanent.
//!
//! URLs may carry tokens (chat incoming-webhook URLs do), so no text made here contains the URL:
//! reqwest's errors are stripped of it before they are described.

use std::error::Error as StdError;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};

use super::{Delivered, DeliveryError};

/// The most characters of a response body quoted in an error.
pub(crate) const EXCERPT_CHARS: usize = 200;

/// The most bytes of a response body read for the excerpt; the rest is never downloaded.
const EXCERPT_READ_BYTES: usize = 4096;

/// POSTs `body` as `application/json` with `headers` to `url`, giving up after `timeout` (connect,
/// send and reading the answer together).
pub(crate) async fn post_json(
    client: &reqwest::Client,
    url: &str,
    headers: &HeaderMap,
    body: Vec<u8>,
    timeout: Duration,
) -> Result<Delivered, DeliveryError> {
    let request = client
        .post(url)
        .headers(headers.clone())
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .timeout(timeout)
        .body(body);
    let response = request
        .send()
        .await
        .map_err(|error| request_error(error, timeout))?;
    let status = response.status();
    if status.is_success() {
        return Ok(Delivered {
            answer: format!("HTTP {}", status.as_u16()),
        });
    }
    let excerpt = body_excerpt(response).await;
    let answer = if excerpt.is_empty() {
        format!("HTTP {}", status.as_u16())
    } else {
        format!("HTTP {}: {excerpt}", status.as_u16())
    };
    if is_retryable_status(status) {
        Err(DeliveryError::Retryable(answer))
    } else {
        Err(DeliveryError::Permanent(answer))
    }
}

/// Whether an HTTP answer says "try again later": 408, 429 and every 5xx.
pub(crate) fn is_retryable_status(status: StatusCode) -> bool {
    status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
}

/// Describes a request that got no answer. A malformed request (bad URL, bad header) fails the same
/// way every time; everything else (refused, reset, DNS, TLS, timeout) may work later.
fn request_error(error: reqwest::Error, timeout: Duration) -> DeliveryError {
    let error = error.without_url();
    if error.is_timeout() {
        return DeliveryError::Retryable(format!(
            "timeout after {}",
            crate::human::std_duration(timeout)
        ));
    }
    if error.is_builder() {
        return DeliveryError::Permanent(format!("invalid request: {}", chain(&error)));
    }
    if error.is_connect() {
        return DeliveryError::Retryable(format!("cannot connect: {}", chain(&error)));
    }
    DeliveryError::Retryable(format!("request failed: {}", chain(&error)))
}

/// The error and its causes on one line (`a: b: c`), skipping a cause whose text its parent
/// already contains (hyper and reqwest often repeat each other) and repeated segments.
pub(crate) fn chain(error: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if parts.last().is_none_or(|last| !last.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    // Some errors print their cause themselves as well (`Connection error: Connection error: x`).
    let mut segments: Vec<&str> = Vec::new();
    let joined = parts.join(": ");
    for segment in joined.split(": ") {
        if segments.last() != Some(&segment) {
            segments.push(segment);
        }
    }
    segments.join(": ")
}

/// The start of a response body on one line, at most [`EXCERPT_CHARS`] characters (`…` marks a
/// cut), or empty when there is no body or it cannot be read.
async fn body_excerpt(mut response: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < EXCERPT_READ_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    excerpt(&String::from_utf8_lossy(&bytes))
}

/// `text` with runs of whitespace made one space, cut to [`EXCERPT_CHARS`] characters.
pub(crate) fn excerpt(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= EXCERPT_CHARS {
        return one_line;
    }
    let mut cut: String = one_line.chars().take(EXCERPT_CHARS - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_bodies_are_cut_to_two_hundred_characters_on_one_line() {
        let body = format!("line one\n\n  line two {}", "x".repeat(500));
        let text = excerpt(&body);
        assert!(text.starts_with("line one line two x"));
        assert_eq!(text.chars().count(), EXCERPT_CHARS);
        assert!(text.ends_with('…'));
    }

    #[test]
    fn rate_limits_and_server_errors_are_worth_retrying() {
        assert!(is_retryable_status(StatusCode::TOO_MANY_REQUESTS));
        assert!(is_retryable_status(StatusCode::BAD_GATEWAY));
        assert!(is_retryable_status(StatusCode::REQUEST_TIMEOUT));
        assert!(!is_retryable_status(StatusCode::NOT_FOUND));
        assert!(!is_retryable_status(StatusCode::UNAUTHORIZED));
    }
}
