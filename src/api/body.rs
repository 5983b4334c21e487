//! A JSON body extractor whose rejections are [`ApiError`]s naming the field at fault, with 413 for
//! bodies over the limit.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// A request body parsed as JSON into `T`; an empty body is read as `{}`.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let RawBody(bytes) = RawBody::from_request(request, state).await?;
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        let value = parse_json(bytes)?;
        Ok(JsonBody(value))
    }
}

/// A request body as sent (for signatures over the exact bytes), with the API's errors (413 over
/// the limit).
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!(
                            "request body is larger than {} KiB",
                            super::BODY_LIMIT / 1024
                        ),
                    )
                } else {
                    ApiError::new(rejection.status(), rejection.body_text())
                }
            })?;
        Ok(RawBody(bytes))
    }
}

/// `bytes` parsed as JSON into `T`; a failure is a 400 naming the field at fault (its path, e.g.
/// `event.data`), or `body` when the bytes are not JSON.
pub(super) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let message = inner.to_string();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::field("body", format!("the body is not valid JSON: {message}"))
        } else if path == "." {
            // A missing or unknown field is reported at the top level; name it when serde does.
            let field = quoted_name(&message).unwrap_or_else(|| "body".to_string());
            ApiError::field(field, message)
        } else if let Some(name) =
            quoted_name(&message).filter(|_| message.starts_with("missing field"))
        {
            // A missing field is reported at its parent (`event`); name the field (`event.event_type`).
            ApiError::field(format!("{path}.{name}"), message)
        } else {
            ApiError::field(path, message)
        }
    })
}

/// The first backquoted name in a serde message (`missing field `text``).
fn quoted_name(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let end = start + message[start..].find('`')?;
    Some(message[start..end].to_string())
}
