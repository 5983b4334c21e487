//! DNS-rebinding protection: the daemon answers only requests whose `Host` names it.
//!
//! A web page on `rebind.evil.example` can make its name resolve to 127.0.0.1 and then read the
//! daemon's answers from the visitor's browser, since to the browser it is the page's own origin.
//! The browser still sends `Host: rebind.evil.example`, so a name the daemon does not serve is
//! refused with 421 Misdirected Request before any handler runs (reads included: the plan holds
//! people's email addresses).
//!
//! Answered: any IP address literal (a rebinding attack needs a name; Prometheus scraping
//! `IP:port` is answered), `localhost`, the `[alerting] public_url` host, and the names in
//! `[server] allowed_hosts`. Ports are not compared: an attacker's page differs by name, and a
//! proxy may pass the host with or without its port. A request with no `Host` at all (HTTP/1.0
//! tools) is answered; browsers always send one.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// The host names the daemon answers for, besides IP literals and `localhost`.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts {
    names: BTreeSet<String>,
}

impl AllowedHosts {
    /// The names of `[server] allowed_hosts` (already lowercase) and the `public_url` host.
    pub fn new(allowed_hosts: &[String], public_url: Option<&str>) -> AllowedHosts {
        let mut names: BTreeSet<String> = allowed_hosts.iter().cloned().collect();
        if let Some(host) = public_url
            .and_then(|url| reqwest::Url::parse(url).ok())
            .and_then(|url| url.host_str().map(normalize))
        {
            names.insert(host);
        }
        AllowedHosts { names }
    }

    /// Whether a request with this `Host` header value is answered.
    pub fn allows(&self, host: &str) -> bool {
        let name = normalize(without_port(host.trim()));
        name == "localhost"
            || name.parse::<Ipv4Addr>().is_ok()
            || name
                .strip_prefix('[')
                .and_then(|rest| rest.strip_suffix(']'))
                .is_some_and(|inside| inside.parse::<Ipv6Addr>().is_ok())
            || self.names.contains(&name)
    }
}

/// `name:port` → `name`; `[v6]:port` → `[v6]`.
fn without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    }
}

/// Lowercase, without the trailing dot of a fully qualified name.
fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Wraps every route of `router` in the `Host` check.
pub fn guard(router: Router, allowed: AllowedHosts) -> Router {
    router.layer(middleware::from_fn_with_state(
        Arc::new(allowed),
        check_host,
    ))
}

async fn check_host(
    State(allowed): State<Arc<AllowedHosts>>,
    request: Request,
    next: Next,
) -> Response {
    let host = match request.headers().get(header::HOST) {
        None => return next.run(request).await,
        Some(value) => value.to_str().unwrap_or_default(),
    };
    if allowed.allows(host) {
        return next.run(request).await;
    }
    // The name is quoted back (shortened, in a JSON string) so the operator sees what was sent.
    let shown: String = host.chars().take(100).collect();
    ApiError {
        field: Some("Host".to_string()),
        ..ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            format!(
                "golive does not answer for the host `{shown}`; if people reach it by this name, add it to `[server] allowed_hosts` in the plan (or set `[alerting] public_url`) and restart"
            ),
        )
    }
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::AllowedHosts;

    #[test]
    fn ip_literals_localhost_the_public_url_host_and_listed_names_are_answered() {
        let allowed = AllowedHosts::new(
            &["golive.internal".to_string()],
            Some("https://Launch.Example.com:8443/"),
        );
        for host in [
            "127.0.0.1:9898",
            "10.1.2.3",
            "[::1]:9898",
            "[fe80::1]",
            "localhost:9898",
            "LOCALHOST",
            "launch.example.com",
            "launch.example.com.:443",
            "golive.internal:9898",
        ] {
            assert!(allowed.allows(host), "{host} must be answered");
        }
    }

    #[test]
    fn other_names_are_refused() {
        let allowed = AllowedHosts::new(&[], Some("https://launch.example.com"));
        for host in [
            "rebind.evil.example",
            "rebind.evil.example:9898",
            "127.0.0.1.evil.example",
            "localhost.evil.example",
            "launch.example.com.evil.example",
            "[::1",
            "",
        ] {
            assert!(!allowed.allows(host), "{host} must be refused");
        }
    }
}
