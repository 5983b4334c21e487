//! Bearer-token authentication for write endpoints, compared in constant time.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::ApiError;
use crate::domain::Secret;

/// The environment variable whose value is always accepted as a write token.
pub const TOKEN_ENV: &str = "GOLIVE_API_TOKEN";

/// The accepted write tokens, each with the name that becomes the default author.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    tokens: Vec<(String, Secret)>,
}

impl Tokens {
    pub fn new(tokens: Vec<(String, Secret)>) -> Self {
        Tokens { tokens }
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The name of the token that matches `presented`, checking every token without stopping early
    /// so the time taken does not say which one (or how much of one) matched.
    pub fn identify(&self, presented: &str) -> Option<&str> {
        let mut found = None;
        for (name, secret) in &self.tokens {
            let matches: bool = secret
                .expose()
                .as_bytes()
                .ct_eq(presented.as_bytes())
                .into();
            if matches && found.is_none() {
                found = Some(name.as_str());
            }
        }
        found
    }
}

/// Proof that a request carried a valid write token; holds the token's name.
pub struct Writer(pub String);

impl FromRequestParts<AppState> for Writer {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let presented = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| {
                let (scheme, token) = value.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|token| !token.is_empty())
            .ok_or_else(ApiError::unauthorized)?;
        state
            .tokens
            .identify(presented)
            .map(|name| Writer(name.to_string()))
            .ok_or_else(ApiError::unauthorized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_identified_by_its_exact_value_only() {
        let tokens = Tokens::new(vec![
            ("release".into(), Secret::new("s3cret-one")),
            ("ops".into(), Secret::new("s3cret-two")),
        ]);
        assert_eq!(tokens.identify("s3cret-two"), Some("ops"));
        assert_eq!(tokens.identify("s3cret-one"), Some("release"));
        assert_eq!(tokens.identify("s3cret"), None);
        assert_eq!(tokens.identify("s3cret-one "), None);
        assert_eq!(tokens.identify(""), None);
    }
}
