//! Query-string and path extractors whose rejections are [`ApiError`]s: axum's own answer a bad
//! `?limit=abc` or an undecodable path segment with `text/plain`, which a client reading the JSON
//! error body cannot parse; these answer 400 with the JSON body naming the parameter.

use axum::extract::path::ErrorKind;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// The query string parsed into `T`; a value of the wrong type is a 400 naming the parameter.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::try_from_uri(&parts.uri)
            .map(|Query(value)| ApiQuery(value))
            .map_err(|rejection| query_error(&rejection.body_text()))
    }
}

/// axum says `Failed to deserialize query string: limit: invalid digit found in string`; the
/// parameter is the part before the second colon when serde knew it.
fn query_error(text: &str) -> ApiError {
    let detail = text
        .strip_prefix("Failed to deserialize query string: ")
        .unwrap_or(text);
    match detail.split_once(": ") {
        Some((name, message))
            if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            ApiError::field(name, format!("query parameter `{name}`: {message}"))
        }
        _ => ApiError::field("query", format!("the query string is invalid: {detail}")),
    }
}

/// The path parameters parsed into `T`; a segment that does not decode is a 400 naming it.
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| ApiPath(value))
            .map_err(|rejection| path_error(&rejection))
    }
}

fn path_error(rejection: &PathRejection) -> ApiError {
    let PathRejection::FailedToDeserializePathParams(failure) = rejection else {
        return ApiError::new(rejection.status(), rejection.body_text());
    };
    let key = match failure.kind() {
        ErrorKind::InvalidUtf8InPathParam { key }
        | ErrorKind::ParseErrorAtKey { key, .. }
        | ErrorKind::DeserializeError { key, .. } => Some(key.clone()),
        _ => None,
    };
    match key {
        Some(key) => ApiError::field(
            key.clone(),
            format!("path segment `{key}`: {}", failure.kind()),
        ),
        None if rejection.status().is_client_error() => {
            ApiError::field("path", failure.kind().to_string())
        }
        None => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, rejection.body_text()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_error_names_the_parameter() {
        let error =
            query_error("Failed to deserialize query string: limit: invalid digit found in string");
        assert_eq!(error.field.as_deref(), Some("limit"));
        assert_eq!(
            error.message,
            "query parameter `limit`: invalid digit found in string"
        );
    }
}
