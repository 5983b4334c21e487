//! The HTTP API (axum): JSON under `/api/v1`, `/healthz`, `/readyz`, `/metrics`, and the live status
//! page at `/` ([`status_page`]).
//!
//! Handlers translate HTTP to engine commands and store reads; they hold no state of their own and
//! never write to the store directly. Writes need a bearer token ([`auth::Writer`]); bodies are
//! limited to 64 KiB; every error is JSON ([`error::ApiError`]).

mod alerts;
mod answers;
pub mod auth;
mod body;
pub mod error;
mod feedback;
mod handlers;
pub mod host_check;
mod pagerduty;
mod params;
mod reload;
mod reports;
mod runbook;
pub mod standby;
mod standby_reads;
mod standby_snapshot;
pub mod status_page;
mod test_hooks;
mod updates;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, get, patch, post};

use crate::clock::Clock;
use crate::engine::EngineHandle;
use crate::metrics::Metrics;
use crate::plan::Plan;
use crate::store::Reader;

pub use auth::Tokens;

/// The largest request body accepted; larger ones get 413.
pub const BODY_LIMIT: usize = 64 * 1024;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub engine: EngineHandle,
    pub reader: Arc<Mutex<Reader>>,
    pub metrics: Arc<Metrics>,
    pub tokens: Arc<Tokens>,
    pub clock: Arc<dyn Clock>,
    /// The notification senders of the plan in force (for `notify test`).
    pub senders: Arc<crate::notify::live::LiveSenders>,
    /// Whether the test-only hooks are served (`GOLIVE_TEST_HOOKS=1` at start).
    pub test_hooks: bool,
}

impl AppState {
    /// The plan in force (a reload swaps it; see `engine::reload`).
    pub fn plan(&self) -> Arc<Plan> {
        self.engine.plan()
    }
}

/// Builds the router with every route.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/status", get(handlers::status))
        .route("/plan", get(handlers::plan::<AppState>))
        .route("/phase", post(handlers::change_phase))
        .route("/checklist", get(handlers::checklist::<AppState>))
        .route("/checklist/{id}/confirm", post(handlers::confirm))
        .route(
            "/log",
            get(handlers::read_log::<AppState>).post(handlers::write_log),
        )
        .route(
            "/actions",
            get(handlers::list_actions::<AppState>).post(handlers::create_action),
        )
        .route(
            "/actions/{id}",
            patch(handlers::update_action).get(handlers::get_action::<AppState>),
        )
        .route("/timeline", get(handlers::timeline::<AppState>))
        .route("/checks", get(handlers::list_checks))
        .route("/checks/{id}", get(handlers::get_check))
        .route("/alerts", get(alerts::list_alerts::<AppState>))
        .route("/alerts/ack", post(alerts::acknowledge_many))
        .route("/alerts/{id}", get(alerts::get_alert::<AppState>))
        .route("/alerts/{id}/ack", post(alerts::acknowledge))
        .route(
            "/silences",
            get(alerts::list_silences).post(alerts::create_silence),
        )
        .route("/silences/{id}", delete(alerts::delete_silence))
        .route("/alertmanager", post(alerts::alertmanager_intake))
        .route("/integrations/pagerduty", post(pagerduty::webhook))
        .route("/rollback", post(alerts::rollback))
        .route("/notify/test", post(alerts::notify_test))
        .route("/runbook", get(runbook::list))
        .route("/runbook/{id}/start", post(runbook::start))
        .route("/runbook/{id}/done", post(runbook::done))
        .route("/runbook/{id}/skip", post(runbook::skip))
        .route("/runbook/{id}/fail", post(runbook::fail))
        .route("/reports", get(reports::list::<AppState>))
        .route("/reports/send", post(reports::send))
        .route("/updates", post(updates::send))
        .route("/reload", post(reload::reload));
    let api = if state.test_hooks {
        api.route("/test/wedge-engine", post(test_hooks::wedge_engine))
            .route(
                "/test/lose-alert-commit-answers",
                post(test_hooks::lose_alert_commit_answers),
            )
    } else {
        api
    };
    // axum answers a wrong method with an empty 405; the API answers every 4xx with its JSON body.
    let api = api.method_not_allowed_fallback(handlers::method_not_allowed);
    // The status page is rendered once per state; a write through the API renders it again.
    let page_cache = status_page::PageCache::new();
    Router::new()
        .nest("/api/v1", api)
        .merge(status_page::routes(page_cache.clone()))
        .route("/healthz", get(handlers::healthz))
        .route("/readyz", get(handlers::readyz))
        .route("/metrics", get(handlers::metrics))
        .merge(
            Router::new()
                .route(
                    "/ack/{token}",
                    get(alerts::ack_page).post(alerts::ack_submit),
                )
                .route(
                    "/feedback/{token}",
                    get(feedback::feedback_page).post(feedback::feedback_submit),
                )
                .layer(middleware::map_response(alerts::ack_page_headers)),
        )
        .fallback(handlers::not_found)
        .layer(middleware::from_fn_with_state(
            page_cache,
            status_page::note_writes,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// Counts requests by matched route (bounded: the route template, never the raw path) and status
/// class.
async fn count_requests(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |path| path.as_str().to_string());
    let response = next.run(request).await;
    let class = format!("{}xx", response.status().as_u16() / 100);
    state
        .metrics
        .http_requests
        .with_label_values(&[route.as_str(), class.as_str()])
        .inc();
    response
}
