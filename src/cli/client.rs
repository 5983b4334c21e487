//! The HTTP client the CLI uses to talk to a running daemon.

use std::path::Path;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::api::auth::TOKEN_ENV;

/// The address used when neither `--server` nor a plan says otherwise.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:9898";

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
        blockers: Vec<Value>,
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

    /// Where the daemon is: `--server`, else the running daemon of `--plan` (its data directory's
    /// daemon file, else the plan's listen address), else the default.
    pub fn discover(server: Option<&str>, plan: Option<&Path>) -> Result<String, String> {
        if let Some(server) = server {
            return Ok(server.to_string());
        }
        let Some(plan_path) = plan else {
            return Ok(DEFAULT_SERVER.to_string());
        };
        let loaded = crate::plan::load(plan_path).map_err(|error| match error {
            crate::plan::LoadError::Invalid { .. } => format!(
                "{error}; run `golive check {}` for the details",
                plan_path.display()
            ),
            other => other.to_string(),
        })?;
        let daemon_file = loaded.plan.launch.data_dir.join(crate::app::DAEMON_FILE);
        if let Ok(text) = std::fs::read_to_string(&daemon_file)
            && let Ok(value) = serde_json::from_str::<Value>(&text)
            && let Some(url) = value.get("url").and_then(Value::as_str)
        {
            return Ok(url.to_string());
        }
        Ok(format!("http://{}", loaded.plan.server.listen))
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub async fn get(&self, path: &str) -> Result<Value, ClientError> {
        self.send(Method::GET, path, None).await
    }

    /// A GET whose answer is text (e.g. the Markdown timeline).
    pub async fn get_text(&self, path: &str) -> Result<String, ClientError> {
        self.exchange(Method::GET, path, None)
            .await
            .map(|(_, text)| text)
    }

    pub async fn post(&self, path: &str, body: Value) -> Result<Value, ClientError> {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Result<Value, ClientError> {
        self.send(Method::DELETE, path, None).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Result<Value, ClientError> {
        self.send(Method::PATCH, path, Some(body)).await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, ClientError> {
        let (status, text) = self.exchange(method, path, body).await?;
        serde_json::from_str(&text).map_err(|_| ClientError::Unexpected { status, body: text })
    }

    /// One request with the token (and a JSON body); the status and text of a 2xx answer, the
    /// daemon's refusal otherwise.
    async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(StatusCode, String), ClientError> {
        let unreachable = |source| ClientError::Unreachable {
            url: self.base.clone(),
            source,
        };
        let mut request = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let text = response.text().await.map_err(unreachable)?;
        if status.is_success() {
            Ok((status, text))
        } else {
            Err(refusal(status, &text, self.token.is_some()))
        }
    }
}

/// The daemon's refusal; a 401 says whether the CLI sent no token or one the daemon does not
/// know, since the two are fixed in different places.
fn refusal(status: StatusCode, text: &str, sent_a_token: bool) -> ClientError {
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        return ClientError::Unexpected {
            status,
            body: text.to_string(),
        };
    };
    let mut message = value
        .get("error")
        .and_then(Value::as_str)
        .unwrap_or("request refused")
        .to_string();
    if status == StatusCode::UNAUTHORIZED {
        message = if sent_a_token {
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
    }
    ClientError::Refused {
        status,
        message,
        field: value
            .get("field")
            .and_then(Value::as_str)
            .map(str::to_string),
        blockers: value
            .get("blockers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
    }
}
