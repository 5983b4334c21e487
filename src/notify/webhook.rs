//! Chat and HTTP webhooks: posts a [`WebhookMessage`] as `{"text": ...}` (the `slack` format, which
//! Slack, Mattermost and Rocket.Chat accept), as golive's own JSON (the `golive` format), as an
//! Adaptive Card for a Microsoft Teams workflow (`teams`, [`super::teams`]) or as a Discord
//! webhook message (`discord`, [`super::discord`]), with the configured headers and, when a key is
//! configured, an HMAC-SHA256 signature of the body.
//!
//! # Signature
//! With `hmac_secret`, the header named by `hmac_header` (default `X-Golive-Signature`) carries
//! `sha256=<lowercase hex of HMAC-SHA256(key, body)>`, computed over the exact bytes of the body
//! as sent, the scheme GitHub uses for its webhooks. No timestamp is signed: receivers that need
//! replay protection can use the `golive` format, whose JSON carries the alert's times.
//!
//! # Secrets
//! The URL (which often carries a token) and the HMAC key are read once, when the sender is made.
//! When one is missing every send fails with [`DeliveryError::Permanent`] naming the variable or
//! file. No error or description ever contains the URL's path or query, or a key.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use sha2::Sha256;

use super::{Delivered, DeliveryError, WebhookMessage, http};
use crate::domain::Secret;
use crate::plan::alerting::{MaybeSecret, WebhookChannel, WebhookFormat};
use crate::secrets::read_secret;

/// Posts messages to one webhook channel.
#[derive(Debug, Clone)]
pub struct WebhookSender {
    client: reqwest::Client,
    format: WebhookFormat,
    timeout: Duration,
    /// The host the URL points at, for [`WebhookSender::describe`] (never the path or query).
    host: Option<String>,
    /// What a send needs, or why every send fails.
    setup: Result<Ready, String>,
}

/// Everything resolved from the channel's configuration.
#[derive(Debug, Clone)]
struct Ready {
    url: Secret,
    headers: HeaderMap,
    signing: Option<Signing>,
}

#[derive(Debug, Clone)]
struct Signing {
    header: HeaderName,
    key: Secret,
}

impl WebhookSender {
    /// Makes a sender for `channel`, reading its URL and HMAC key from their environment
    /// variables or files now. It never fails: a missing secret or an invalid header is
    /// remembered, and every [`send`](WebhookSender::send) returns it as a permanent error.
    pub fn new(channel: &WebhookChannel, client: reqwest::Client) -> WebhookSender {
        let url = match &channel.url {
            MaybeSecret::Plain(url) => Ok(Secret::new(url.clone())),
            MaybeSecret::Secret(source) => {
                read_secret(source).map_err(|reason| format!("webhook url unavailable: {reason}"))
            }
        };
        let host = url
            .as_ref()
            .ok()
            .and_then(|url| reqwest::Url::parse(url.expose()).ok())
            .and_then(|url| url.host_str().map(str::to_string));
        let setup = url.and_then(|url| resolve(channel, url));
        WebhookSender {
            client,
            format: channel.format,
            timeout: channel.timeout,
            host,
            setup,
        }
    }

    /// Posts `message`: `2xx` is delivered (`HTTP 200`); 408, 429, 5xx, timeouts and connection
    /// problems are [`DeliveryError::Retryable`]; other answers are [`DeliveryError::Permanent`].
    /// Errors quote the status and the start of the answer's body, never the URL.
    pub async fn send(&self, message: &WebhookMessage) -> Result<Delivered, DeliveryError> {
        let ready = self
            .setup
            .as_ref()
            .map_err(|reason| DeliveryError::Permanent(reason.clone()))?;
        let body = match self.format {
            WebhookFormat::Slack => {
                serde_json::to_vec(&serde_json::json!({ "text": message.text }))
            }
            WebhookFormat::Golive => serde_json::to_vec(&message.json),
            WebhookFormat::Teams => serde_json::to_vec(&super::teams::message(message)),
            WebhookFormat::Discord => serde_json::to_vec(&super::discord::message(message)),
        }
        .map_err(|error| DeliveryError::Permanent(format!("cannot encode the body: {error}")))?;
        let mut headers = ready.headers.clone();
        if let Some(signing) = &ready.signing {
            let signature = sign(&signing.key, &body)?;
            let value = HeaderValue::from_str(&signature).map_err(|error| {
                DeliveryError::Permanent(format!("cannot build the signature header: {error}"))
            })?;
            headers.insert(signing.header.clone(), value);
        }
        http::post_json(
            &self.client,
            ready.url.expose(),
            &headers,
            body,
            self.timeout,
        )
        .await
    }

    /// What this sender delivers to, for logs and `golive notify test`, e.g. `webhook (slack) to
    /// hooks.slack.com`. Only the host is shown: the path may carry a token.
    pub fn describe(&self) -> String {
        let format = match self.format {
            WebhookFormat::Slack => "slack",
            WebhookFormat::Golive => "golive",
            WebhookFormat::Teams => "teams",
            WebhookFormat::Discord => "discord",
        };
        match &self.host {
            Some(host) => format!("webhook ({format}) to {host}"),
            None => format!("webhook ({format})"),
        }
    }

    /// Why every send will fail, when the configuration could not be resolved (a missing
    /// secret, an invalid URL or header), for a warning at start.
    pub fn setup_problem(&self) -> Option<&str> {
        self.setup.as_ref().err().map(String::as_str)
    }
}

/// Checks the URL and builds the headers and the signing key of `channel`.
fn resolve(channel: &WebhookChannel, url: Secret) -> Result<Ready, String> {
    match reqwest::Url::parse(url.expose()) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {}
        Ok(_) => return Err("webhook url must start with http:// or https://".to_string()),
        Err(error) => return Err(format!("webhook url is not a valid URL: {error}")),
    }
    let mut headers = HeaderMap::new();
    for (name, value) in &channel.headers {
        let header_name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("webhook header {name:?} is not a valid header name"))?;
        // The value may be a credential (Authorization), so it is never quoted.
        let mut header_value = HeaderValue::from_str(value).map_err(|_| {
            format!("the value of webhook header {name} is not a valid header value")
        })?;
        header_value.set_sensitive(true);
        headers.append(header_name, header_value);
    }
    let signing = match &channel.hmac_secret {
        None => None,
        Some(source) => {
            let key = read_secret(source)
                .map_err(|reason| format!("webhook hmac_secret unavailable: {reason}"))?;
            let header = HeaderName::from_bytes(channel.hmac_header.as_bytes()).map_err(|_| {
                format!(
                    "hmac_header {:?} is not a valid header name",
                    channel.hmac_header
                )
            })?;
            Some(Signing { header, key })
        }
    };
    Ok(Ready {
        url,
        headers,
        signing,
    })
}

/// `sha256=<hex of HMAC-SHA256(key, body)>`.
fn sign(key: &Secret, body: &[u8]) -> Result<String, DeliveryError> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.expose().as_bytes())
        .map_err(|_| DeliveryError::Permanent("the hmac key cannot be used".to_string()))?;
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    Ok(format!("sha256={}", crate::random::to_hex(&digest)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_matches_a_published_hmac_sha256_vector() {
        // RFC 4231, test case 2.
        let signature = sign(&Secret::new("Jefe"), b"what do ya want for nothing?").expect("sign");
        assert_eq!(
            signature,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn an_unusable_url_is_reported_without_quoting_it() {
        let channel = WebhookChannel {
            url: MaybeSecret::Plain("ftp://chat.example/hooks/T0KEN".to_string()),
            format: WebhookFormat::Slack,
            headers: Vec::new(),
            hmac_secret: None,
            hmac_header: "X-Golive-Signature".to_string(),
            timeout: Duration::from_secs(1),
        };
        let sender = WebhookSender::new(&channel, reqwest::Client::new());
        let problem = sender.setup_problem().expect("a problem");
        assert!(!problem.contains("T0KEN"), "{problem}");
        assert_eq!(sender.describe(), "webhook (slack) to chat.example");
    }
}
