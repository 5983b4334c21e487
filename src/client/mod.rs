//! The HTTP client of a running daemon, shared by the CLI and the demo (both above it): requests
//! and answers are the API's own [`crate::wire`] types, so what the daemon answers and what a
//! client reads cannot drift apart. Below `cli` and `demo`, above `wire`; it knows nothing of how
//! answers are printed.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::api::auth::TOKEN_ENV;
use crate::wire;

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "cannot reach golive at {url}: {source}; is `golive run` running there? (use --server URL)"
    )]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{message}")]
    Refused {
        status: StatusCode,
        message: String,
        field: Option<String>,
        blockers: Vec<wire::Blocker>,
    },
    #[error("unexpected answer from golive ({status}): {body}")]
    Unexpected { status: StatusCode, body: String },
    /// The request was done, but not all of it could be: `output` is what was done, `message`
    /// what was not.
    #[error("{message}")]
    Partly { output: String, message: String },
}

impl ClientError {
    /// The process exit code for this failure: 69 (unavailable) when the daemon cannot be reached,
    /// 77 (no permission) for 401, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            ClientError::Unreachable { .. } => 69,
            ClientError::Refused { status, .. } if *status == StatusCode::UNAUTHORIZED => 77,
            _ => 1,
        }
    }
}

/// An answer read as its type, with the JSON as the daemon sent it (for `--json`, which shows
/// every field, also those a newer daemon added).
#[derive(Debug, Clone)]
pub struct Answer<T> {
    pub value: T,
    pub json: Value,
}

impl<T> Answer<T> {
    /// The JSON, pretty-printed, with a final newline.
    pub fn pretty(&self) -> String {
        format!("{:#}\n", self.json)
    }
}

/// A client for one daemon.
pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Client {
    /// A client for `base` (e.g. `http://127.0.0.1:9898`), with the token from `GOLIVE_API_TOKEN`.
    pub fn new(base: &str) -> Result<Client, reqwest::Error> {
        let token = std::env::var(TOKEN_ENV)
            .ok()
            .map(|token| token.trim().to_string())
            .filter(|token| !token.is_empty());
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Client {
            base: base.trim_end_matches('/').to_string(),
            token,
            http,
        })
    }

    /// A client for `base` with a given token (the demo, which made its own).
    pub fn with_token(base: &str, token: String) -> Result<Client, reqwest::Error> {
        let mut client = Client::new(base)?;
        client.token = Some(token);
        Ok(client)
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<Answer<T>, ClientError> {
        self.send(Method::GET, path, None::<&()>).await
    }

    /// A GET whose answer is text (e.g. the Markdown timeline, `/metrics`).
    pub async fn get_text(&self, path: &str) -> Result<String, ClientError> {
        self.exchange(Method::GET, path, None::<&()>)
            .await
            .map(|(_, text)| text)
    }

    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<Answer<T>, ClientError> {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<Answer<T>, ClientError> {
        self.send(Method::DELETE, path, None::<&()>).await
    }

    pub async fn patch<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<Answer<T>, ClientError> {
        self.send(Method::PATCH, path, Some(body)).await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<Answer<T>, ClientError> {
        let (status, text) = self.exchange(method, path, body).await?;
        let unexpected = || ClientError::Unexpected {
            status,
            body: text.clone(),
        };
        let json: Value = serde_json::from_str(&text).map_err(|_| unexpected())?;
        let value = T::deserialize(&json).map_err(|_| unexpected())?;
        Ok(Answer { value, json })
    }

    /// One request with the token (and a JSON body); the status and text of a 2xx answer, the
    /// daemon's refusal otherwise. A standby (PostgreSQL active/standby) answers 503 naming the
    /// active daemon in `X-Golive-Active`: the request is sent there once more.
    async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<(StatusCode, String), ClientError> {
        let (status, text, active) = self
            .exchange_at(&self.base, method.clone(), path, body)
            .await?;
        let (status, text) = match active {
            Some(active) if status == StatusCode::SERVICE_UNAVAILABLE && active != self.base => {
                let (status, text, _) = self.exchange_at(&active, method, path, body).await?;
                (status, text)
            }
            _ => (status, text),
        };
        if status.is_success() {
            Ok((status, text))
        } else {
            Err(refusal(status, &text, self.token.is_some()))
        }
    }

    /// One request to the daemon at `base`: its status, text and the active daemon it names.
    async fn exchange_at(
        &self,
        base: &str,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<(StatusCode, String, Option<String>), ClientError> {
        let unreachable = |source| ClientError::Unreachable {
            url: base.to_string(),
            source,
        };
        let mut request = self.http.request(method, format!("{base}{path}"));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let active = response
            .headers()
            .get(ACTIVE_HEADER)
            .and_then(|value| value.to_str().ok())
            .map(|url| url.trim_end_matches('/').to_string());
        let text = response.text().await.map_err(unreachable)?;
        Ok((status, text, active))
    }
}

/// The header a standby names the active daemon's URL in.
const ACTIVE_HEADER: &str = "x-golive-active";

/// The daemon's refusal; a 401 says whether the client sent no token or one the daemon does not
/// know, since the two are fixed in different places.
fn refusal(status: StatusCode, text: &str, sent_a_token: bool) -> ClientError {
    let Ok(body) = serde_json::from_str::<wire::ErrorBody>(text) else {
        return ClientError::Unexpected {
            status,
            body: text.to_string(),
        };
    };
    let message = if status != StatusCode::UNAUTHORIZED {
        body.error
    } else if sent_a_token {
        format!(
            "the daemon refused the token in {TOKEN_ENV}: check it is the daemon's \
             {TOKEN_ENV} or one of the plan's [[server.tokens]]"
        )
    } else {
        format!(
            "no API token: set {TOKEN_ENV} to the daemon's {TOKEN_ENV} or to one of the \
             plan's [[server.tokens]]"
        )
    };
    ClientError::Refused {
        status,
        message,
        field: body.field,
        blockers: body.blockers,
    }
}

/// Percent-encodes a path segment or query value.
pub fn encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~,".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
