//! HTTP clients shared between checks.
//!
//! Building a reqwest client builds a TLS configuration with the system's root certificates, which
//! costs time and memory; a plan with a thousand checks usually has a handful of distinct settings.
//! So clients are cached by the settings that change how they connect ([`ClientSettings`]), and
//! checks with equal settings share one client and its connection pool.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use crate::plan::checks::HttpCheck;

/// The most redirects an http check follows before it fails with `too many redirects`.
pub const MAX_REDIRECTS: usize = 10;

/// How long an idle pooled connection is kept. A pool keeps as many connections as probes ran at
/// once on a host, so a burst (probes delayed by a busy moment and then started together) left
/// extra idle connections, each with its buffers (~30 KiB), for reqwest's default 90 s; with
/// 20 s they go soon after. A check probing a host less often than this opens a fresh connection
/// each time, which tests the whole path anyway and costs little at such rates.
pub const POOL_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// The most idle connections a client keeps per host: more than the probes a shard starts on one
/// host in a tick at thousands of checks a second, so only a burst beyond that opens connections
/// that are then closed rather than pooled.
pub const POOL_MAX_IDLE_PER_HOST: usize = 32;

/// The settings that make two checks need different HTTP clients.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientSettings {
    /// Verify the server's certificate chain and name.
    pub tls_verify: bool,
    /// Extra trusted CA certificates (PEM), as the plan resolved it (usable from here).
    pub ca_file: Option<PathBuf>,
    /// Follow up to [`MAX_REDIRECTS`] redirects.
    pub follow_redirects: bool,
    /// Open a new connection for every request (no idle connections are kept).
    pub fresh_connection: bool,
}

impl Default for ClientSettings {
    /// The settings of scrape checks and Prometheus queries: verified TLS, redirects followed,
    /// connections reused.
    fn default() -> Self {
        ClientSettings {
            tls_verify: true,
            ca_file: None,
            follow_redirects: true,
            fresh_connection: false,
        }
    }
}

impl ClientSettings {
    /// The client settings an http check needs.
    pub fn of(check: &HttpCheck) -> ClientSettings {
        ClientSettings {
            tls_verify: check.tls_verify,
            ca_file: check.ca_file.clone(),
            follow_redirects: check.follow_redirects,
            fresh_connection: check.fresh_connection,
        }
    }
}

/// A client, or why it could not be built (e.g. an unreadable `ca_file`).
pub(crate) type ClientSlot = Result<reqwest::Client, String>;

/// Clients by settings, built on first use and kept for the life of the context.
pub(crate) struct ClientCache {
    clients: Mutex<HashMap<ClientSettings, ClientSlot>>,
}

impl ClientCache {
    pub(crate) fn new() -> ClientCache {
        ClientCache {
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// The client for `settings`, building it the first time. Cloning a reqwest client is cheap
    /// (it is an `Arc`); the lock is never held across an await.
    pub(crate) fn get(&self, settings: &ClientSettings) -> ClientSlot {
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        clients
            .entry(settings.clone())
            .or_insert_with(|| build(settings))
            .clone()
    }

    pub(crate) fn len(&self) -> usize {
        self.clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }
}

fn build(settings: &ClientSettings) -> ClientSlot {
    let redirect = if settings.follow_redirects {
        reqwest::redirect::Policy::limited(MAX_REDIRECTS)
    } else {
        reqwest::redirect::Policy::none()
    };
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("golive/", env!("CARGO_PKG_VERSION")))
        .redirect(redirect)
        // A probe reports what it saw; it never retries behind the scheduler's back.
        .retry(reqwest::retry::never())
        // The peer certificate is read for its expiry date.
        .tls_info(true)
        .pool_idle_timeout(POOL_IDLE_TIMEOUT);
    builder = if settings.fresh_connection {
        // No idle connection is ever kept, so every request opens a new one.
        builder.pool_max_idle_per_host(0)
    } else {
        builder.pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
    };
    if !settings.tls_verify {
        builder = builder.tls_danger_accept_invalid_certs(true);
    }
    // The plan reader resolved a relative `ca_file` against the plan's folder already: joined
    // again, `config/certs/ca.pem` became `config/config/certs/ca.pem`.
    if let Some(path) = &settings.ca_file {
        let pem = std::fs::read(path)
            .map_err(|error| format!("cannot read ca_file {}: {error}", path.display()))?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem).map_err(|error| {
            format!(
                "ca_file {} is not a PEM certificate: {error}",
                path.display()
            )
        })?;
        if certificates.is_empty() {
            return Err(format!(
                "ca_file {} holds no PEM certificate",
                path.display()
            ));
        }
        builder = builder.tls_certs_merge(certificates);
    }
    builder.build().map_err(|error| {
        format!(
            "cannot build the HTTP client: {}",
            super::errors::chain(&error)
        )
    })
}
