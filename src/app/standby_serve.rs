//! What a standby serves while it waits for the lease (see `standby.rs`): `/healthz`, `/metrics`
//! (`golive_ha_role` 0), and `api::standby`'s router — the reads of stored data and the status
//! page from the database, everything else 503 naming the active — on a second handle of the
//! daemon's listener, dropped when this member becomes active. Every answer goes through the
//! active's `Host` check (`api::host_check`): a name the plan does not serve gets 421.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::{StartError, tls};
use crate::api::host_check::{self, AllowedHosts};
use crate::api::standby::{ActiveUrl, StandbyState};
use crate::clock::Clock;
use crate::domain::Secret;
use crate::metrics::Metrics;
use crate::plan::Plan;
use crate::store::lease::LeaseHolder;

/// What a standby reads the stored launch with: the plan it was started with and the clock.
pub struct StoredView {
    pub plan: Arc<Plan>,
    pub clock: Arc<dyn Clock>,
}

impl StoredView {
    pub fn of(plan: &Arc<Plan>, clock: &Arc<dyn Clock>) -> StoredView {
        StoredView {
            plan: plan.clone(),
            clock: clock.clone(),
        }
    }
}

/// Serves the standby's answers on a second handle of `listener` until `stop`. `holder` is the
/// lease's holder as last read, which names the active.
pub(super) fn serve_standby(
    listener: &TcpListener,
    tls_certificate: Option<&Arc<tls::TlsCertificate>>,
    holder: Arc<Mutex<Option<LeaseHolder>>>,
    metrics: Arc<Metrics>,
    (view, database): (&StoredView, &Secret),
    stop: CancellationToken,
) -> Result<tokio::task::JoinHandle<std::io::Result<()>>, StartError> {
    let bind_error = |source| StartError::Bind {
        address: listener
            .local_addr()
            .unwrap_or_else(|_| std::net::SocketAddr::from(([0, 0, 0, 0], 0))),
        source,
    };
    let second = socket2_clone(listener).map_err(bind_error)?;
    let active: ActiveUrl = Arc::new(move || {
        holder
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .filter(|holder| !holder.expired && !holder.url.is_empty())
            .map(|holder| holder.url.clone())
    });
    // The active's DNS-rebinding check, on every route (`/healthz` and `/metrics` too): the
    // plan holds people's email addresses, whichever member serves it.
    let allowed_hosts = AllowedHosts::new(
        &view.plan.server.allowed_hosts,
        view.plan.alerting.public_url.as_deref(),
    );
    let state = StandbyState::new(
        view.plan.clone(),
        view.clock.clone(),
        database.clone(),
        active,
    );
    let router = Router::new()
        .route(
            "/healthz",
            axum::routing::get(|| async {
                axum::Json(serde_json::json!({"status": "ok", "role": "standby"}))
            }),
        )
        .route(
            "/metrics",
            axum::routing::get(move || async move {
                match metrics.encode() {
                    Ok(text) => (StatusCode::OK, text).into_response(),
                    Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                }
            }),
        )
        .merge(crate::api::standby::router(state));
    let router = host_check::guard(router, allowed_hosts);
    tls::serve(second, tls_certificate, router, stop).map_err(|error| StartError::Bind {
        address: std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
        source: std::io::Error::other(error.to_string()),
    })
}

/// A second handle on the same listening socket: the standby serves on it and drops it when it
/// becomes active, while the daemon keeps the first (the port stays the same, even when 0 was
/// asked for).
fn socket2_clone(listener: &TcpListener) -> std::io::Result<TcpListener> {
    use std::os::fd::{AsFd, OwnedFd};
    let fd: OwnedFd = listener.as_fd().try_clone_to_owned()?;
    let std_listener = std::net::TcpListener::from(fd);
    std_listener.set_nonblocking(true)?;
    TcpListener::from_std(std_listener)
}
