//! What a standby serves while it waits for the lease (see `standby.rs`): `/healthz`, `/metrics`
//! (`golive_ha_role` 0), and `api::standby`'s router — the reads of stored data and the status
//! page from the database, everything else 503 naming the active — on a second handle of the
//! daemon's listener, dropped when this member becomes active. Every answer goes through the
//! active's `Host` check (`api::host_check`): a name the plan does not serve gets 421. On SIGHUP
//! a standby reads its plan file again ([`StoredView`]); one that takes over runs the file as it
//! is then ([`StoredView::plan_at_takeover`]).

use std::sync::{Arc, Mutex, PoisonError, RwLock};

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::{Hangups, StartError, tls};
use crate::api::host_check::{self, AllowedHosts};
use crate::api::standby::{ActiveUrl, PlanSlot, StandbyState, name_the_active};
use crate::clock::Clock;
use crate::domain::Secret;
use crate::engine::ReloadError;
use crate::error_chain::error_chain;
use crate::metrics::Metrics;
use crate::plan::{LoadError, Plan};
use crate::store::lease::LeaseHolder;

/// What a standby reads the stored launch with: the plan (read again on SIGHUP, swapped in
/// here) and the clock; and the SIGHUP handler, installed when this is made — before the
/// standby waits for the lease, since an unhandled SIGHUP would end the process, and systemd's
/// `Restart=on-failure` does not restart a process a SIGHUP ended.
#[derive(Clone)]
pub struct StoredView {
    pub plan: PlanSlot,
    pub clock: Arc<dyn Clock>,
    hangups: Arc<Mutex<Hangups>>,
}

impl StoredView {
    pub fn of(plan: &Arc<Plan>, clock: &Arc<dyn Clock>) -> StoredView {
        StoredView {
            plan: Arc::new(RwLock::new(plan.clone())),
            clock: clock.clone(),
            hangups: Arc::new(Mutex::new(super::hangup_signal())),
        }
    }

    /// The plan a standby that took the lease runs: the plan file read afresh (an edit made
    /// without a SIGHUP counts too); when it is invalid or changes what needs a restart, the
    /// plan the standby had, as a reload on the active would keep it.
    pub async fn plan_at_takeover(&self) -> Arc<Plan> {
        reload_standby_plan(&self.plan).await;
        current(&self.plan)
    }
}

fn current(plan: &PlanSlot) -> Arc<Plan> {
    plan.read().unwrap_or_else(PoisonError::into_inner).clone()
}

/// Reads the plan file again and swaps it in; an invalid plan, or one changing keys that need a
/// restart, is logged ("standby: plan not reloaded") and the old one kept. Whether it was swapped.
async fn reload_standby_plan(slot: &PlanSlot) -> bool {
    let old = current(slot);
    let path = old.source.clone();
    let loaded = tokio::task::spawn_blocking(move || crate::plan::load(&path)).await;
    let refusal = match loaded {
        Ok(Ok(loaded)) => {
            let diff = crate::core::plan_diff::diff(&old, &loaded.plan);
            if diff.not_live.is_empty() {
                *slot.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(loaded.plan);
                tracing::info!(plan = %old.source.display(), "standby: plan reloaded");
                return true;
            }
            ReloadError::NotLive(diff.not_live).to_string()
        }
        Ok(Err(LoadError::Invalid { path, diagnostics })) => {
            for diagnostic in &diagnostics {
                tracing::error!(diagnostic = %diagnostic.display(&path), "standby: plan not reloaded");
            }
            ReloadError::Invalid { path, diagnostics }.to_string()
        }
        Ok(Err(error)) => error_chain(&error),
        Err(error) => error.to_string(),
    };
    tracing::error!(error = %refusal, "standby: plan not reloaded");
    false
}

/// On every SIGHUP until `stop`: the plan read again ([`reload_standby_plan`]), systemd told it
/// is reloading and then ready again, whatever the outcome.
async fn reload_on_hangup(view: StoredView, stop: CancellationToken) {
    #[cfg(unix)]
    {
        let taken = view
            .hangups
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(mut hangups) = taken else {
            return;
        };
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                received = hangups.recv() => {
                    if received.is_none() {
                        return;
                    }
                    tracing::info!("SIGHUP: the standby reads the plan again");
                    crate::sd_notify::notify_reloading();
                    reload_standby_plan(&view.plan).await;
                    crate::sd_notify::notify_ready("standby: waiting for the lease; plan read again");
                }
            }
        }
        // Handed back: a standby that serves again (its server restarted) listens with it.
        *view.hangups.lock().unwrap_or_else(PoisonError::into_inner) = Some(hangups);
    }
    #[cfg(not(unix))]
    {
        let _ = view;
        stop.cancelled().await;
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
    let plan = current(&view.plan);
    let allowed_hosts = AllowedHosts::new(
        &plan.server.allowed_hosts,
        plan.alerting.public_url.as_deref(),
    );
    tokio::spawn(reload_on_hangup(view.clone(), stop.clone()));
    let named = active.clone();
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
        // Said by every answer, these two included (the standby's router says it for its own).
        .layer(axum::middleware::map_response(
            move |mut response: Response| {
                let named = named.clone();
                async move {
                    name_the_active(&mut response, named().as_deref());
                    response
                }
            },
        ))
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
