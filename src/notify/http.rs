//! The one HTTP POST that webhooks and Alertmanager forwarding share, and how its outcome maps to
//! [`Delivered`] or a [`DeliveryError`]: 2xx delivered; 408, 429, 5xx, timeouts and connection
//! problems worth retrying; any other answer permanent.
//!
//! A 429 or 503 carrying `Retry-After` (delta-seconds or an HTTP-date) is
//! [`DeliveryError::RateLimited`] with the wait the server asked for, at most
//! [`RETRY_AFTER_MAX`]: the dispatcher sends nothing more to the channel before it has passed and
//! the engine retries the message no sooner (and never sooner than its own backoff). Without the
//! header, or with one that cannot be read, they stay plain retryable failures.
//!
//! URLs may carry tokens (chat incoming-webhook URLs do), so no text made here contains the URL:
//! reqwest's errors are stripped of it before they are described.

use std::error::Error as StdError;
use std::time::Duration;

use jiff::Timestamp;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};

use super::{Delivered, DeliveryError};

/// The most characters of a response body quoted in an error.
pub(crate) const EXCERPT_CHARS: usize = 200;

/// The most bytes of a response body read for the excerpt; the rest is never downloaded.
const EXCERPT_READ_BYTES: usize = 4096;

/// The longest `Retry-After` golive honours: a server asking for longer (or a wrong clock behind
/// an HTTP-date) must not silence a channel for hours; the backoff's own cap is the same.
pub(crate) const RETRY_AFTER_MAX: Duration = Duration::from_secs(300);

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
    let wait = (status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::SERVICE_UNAVAILABLE)
        .then(|| response.headers().get(RETRY_AFTER)?.to_str().ok())
        .flatten()
        .and_then(|value| retry_after(value, Timestamp::now()));
    let excerpt = body_excerpt(response).await;
    let answer = if excerpt.is_empty() {
        format!("HTTP {}", status.as_u16())
    } else {
        format!("HTTP {}: {excerpt}", status.as_u16())
    };
    if let Some(wait) = wait {
        return Err(DeliveryError::RateLimited {
            answer: format!(
                "{answer} (retry after {})",
                crate::human::std_duration(wait)
            ),
            wait,
        });
    }
    if is_retryable_status(status) {
        Err(DeliveryError::Retryable(answer))
    } else {
        Err(DeliveryError::Permanent(answer))
    }
}

/// The wait a `Retry-After` value asks for at `now`: delta-seconds (`120`; a fraction, which
/// some servers send, is rounded up) or an HTTP-date (`Wed, 21 Oct 2026 07:28:00 GMT`; one in
/// the past is no wait), at most [`RETRY_AFTER_MAX`]; `None` when it is neither.
pub(crate) fn retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    let value = value.trim();
    let wait = if let Ok(seconds) = value.parse::<u64>() {
        Duration::from_secs(seconds)
    } else if let Ok(seconds) = value.parse::<f64>()
        && seconds.is_finite()
        && seconds >= 0.0
    {
        Duration::from_secs_f64(seconds.min(RETRY_AFTER_MAX.as_secs_f64()).ceil())
    } else {
        let at = jiff::fmt::rfc2822::DateTimeParser::new()
            .parse_timestamp(value)
            .ok()?;
        Duration::try_from(at.duration_since(now)).unwrap_or(Duration::ZERO)
    };
    Some(wait.min(RETRY_AFTER_MAX))
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
    fn retry_after_is_read_as_seconds_or_an_http_date_and_capped_at_five_minutes() {
        let now = Timestamp::from_second(1_792_567_680).unwrap(); // Wed, 21 Oct 2026 07:28:00 GMT
        assert_eq!(retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(retry_after(" 120 ", now), Some(Duration::from_secs(120)));
        assert_eq!(retry_after("1.2", now), Some(Duration::from_secs(2)));
        assert_eq!(retry_after("0", now), Some(Duration::ZERO));
        assert_eq!(retry_after("86400", now), Some(RETRY_AFTER_MAX));
        assert_eq!(
            retry_after("Wed, 21 Oct 2026 07:28:45 GMT", now),
            Some(Duration::from_secs(45))
        );
        assert_eq!(
            retry_after("Wed, 21 Oct 2026 07:27:00 GMT", now),
            Some(Duration::ZERO),
            "a date in the past: no wait"
        );
        assert_eq!(
            retry_after("Thu, 22 Oct 2026 07:28:00 GMT", now),
            Some(RETRY_AFTER_MAX)
        );
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("-5", now), None);
        assert_eq!(retry_after("", now), None);
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
