//! What a standby serves (active/standby on PostgreSQL): the reads of stored data and the status
//! page, from the same database the active writes, through a [`Reader`] of its own. The handlers
//! are the active's own, written once over [`Reads`] (what a read handler needs: a reader, the
//! plan, the time and the launch as a snapshot), which the active's [`AppState`] and the standby's
//! [`StandbyState`] both provide — so a standby's answer has the active's shape, field for field.
//!
//! A standby never writes: it opens no [`crate::store::Store`], runs no migration, and answers
//! every write (any method but GET and HEAD) 503 naming the active ([`not_active`]), so the CLI
//! retries there. Reads that depend on the engine's live state (`/api/v1/status`, the checks, the
//! runbook with its checks' health, silences) are not served: they too are 503. Every answer
//! carries `X-Golive-Role: standby` and, while one is known, `X-Golive-Active: <active url>`.
//! While the database cannot be read (not reachable, its schema missing or newer than this
//! golive), the reads are 503 naming the active as well.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jiff::Timestamp;

use super::error::ApiError;
use super::{AppState, alerts, handlers, reports, status_page};
use crate::clock::Clock;
use crate::core::snapshot::Snapshot;
use crate::engine::CheckView;
use crate::plan::Plan;
use crate::store::{Backend, Reader, StoreError};

/// The header a standby names the active's URL in.
pub const ACTIVE_HEADER: &str = "x-golive-active";
/// The header that tells a client it read from a standby.
pub const ROLE_HEADER: &str = "x-golive-role";

/// What the read handlers shared by the active and a standby need.
pub trait Reads: Clone + Send + Sync + 'static {
    /// Runs `work` on a reader of the store, on the calling (blocking) thread.
    fn on_reader<T>(
        &self,
        work: impl FnOnce(&Reader) -> Result<T, StoreError>,
    ) -> Result<T, ApiError>;
    /// The plan in force.
    fn plan(&self) -> Arc<Plan>;
    /// The time now.
    fn now(&self) -> Timestamp;
    /// The launch as readers see it: the engine's latest snapshot, or on a standby the one the
    /// store holds ([`super::standby_snapshot::stored`]).
    fn snapshot(&self) -> impl Future<Output = Result<Arc<Snapshot>, ApiError>> + Send;
    /// Every check of the plan as the status page shows it.
    fn checks(
        &self,
        snapshot: &Snapshot,
    ) -> impl Future<Output = Result<Vec<CheckView>, ApiError>> + Send;
}

impl Reads for AppState {
    fn on_reader<T>(
        &self,
        work: impl FnOnce(&Reader) -> Result<T, StoreError>,
    ) -> Result<T, ApiError> {
        let reader = self.reader.lock().map_err(|_| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "store reader poisoned")
        })?;
        work(&reader).map_err(|error| ApiError::internal(&error))
    }

    fn plan(&self) -> Arc<Plan> {
        self.engine.plan()
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    async fn snapshot(&self) -> Result<Arc<Snapshot>, ApiError> {
        Ok(self.engine.snapshot())
    }

    async fn checks(&self, _snapshot: &Snapshot) -> Result<Vec<CheckView>, ApiError> {
        Ok(self.engine.checks().await?)
    }
}

/// Tells the active's URL as the lease row names it (`None` while no member holds the lease).
pub type ActiveUrl = Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// What a standby's handlers reach.
#[derive(Clone)]
pub struct StandbyState {
    inner: Arc<StandbyInner>,
}

struct StandbyInner {
    plan: Arc<Plan>,
    clock: Arc<dyn Clock>,
    data_dir: PathBuf,
    backend: Backend,
    /// Opened at the first read (the active may not have created the schema yet), dropped after a
    /// failed read so the next one connects afresh.
    reader: Mutex<Option<Reader>>,
    active: ActiveUrl,
}

impl StandbyState {
    /// A standby reading the PostgreSQL database `backend`, for the plan it was started with.
    pub fn new(
        plan: Arc<Plan>,
        clock: Arc<dyn Clock>,
        backend: Backend,
        active: ActiveUrl,
    ) -> StandbyState {
        StandbyState {
            inner: Arc::new(StandbyInner {
                data_dir: plan.launch.data_dir.clone(),
                plan,
                clock,
                backend,
                reader: Mutex::new(None),
                active,
            }),
        }
    }

    /// The active's URL, when a member holds the lease.
    pub fn active_url(&self) -> Option<String> {
        (self.inner.active)()
    }
}

impl Reads for StandbyState {
    fn on_reader<T>(
        &self,
        work: impl FnOnce(&Reader) -> Result<T, StoreError>,
    ) -> Result<T, ApiError> {
        let inner = &self.inner;
        let mut slot = inner.reader.lock().unwrap_or_else(PoisonError::into_inner);
        let reader = match slot.take() {
            Some(reader) => reader,
            None => Reader::open_backend(&inner.data_dir, &inner.backend)
                .map_err(|error| unreadable(&error))?,
        };
        let outcome = work(&reader).map_err(|error| unreadable(&error))?;
        *slot = Some(reader);
        Ok(outcome)
    }

    fn plan(&self) -> Arc<Plan> {
        self.inner.plan.clone()
    }

    fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    async fn snapshot(&self) -> Result<Arc<Snapshot>, ApiError> {
        let plan = self.plan();
        handlers::read(self, move |reader| {
            super::standby_snapshot::stored(reader, &plan)
        })
        .await
        .map(Arc::new)
    }

    async fn checks(&self, snapshot: &Snapshot) -> Result<Vec<CheckView>, ApiError> {
        Ok(super::standby_snapshot::check_views(&self.plan(), snapshot))
    }
}

/// A standby that cannot read the database answers as one that serves nothing: 503, naming the
/// active ([`answer_as_standby`] turns it into [`not_active`]'s answer). The cause goes to the log.
fn unreadable(error: &StoreError) -> ApiError {
    tracing::warn!(error = %crate::error_chain::error_chain(error), "standby: cannot read the database");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "this standby cannot read the database right now",
    )
}

/// The standby's router: the stored reads under `/api/v1`, the status page from the store, and
/// everything else (writes above all) 503 naming the active.
pub fn router(state: StandbyState) -> Router {
    let api = Router::new()
        .route("/plan", get(handlers::plan::<StandbyState>))
        .route("/checklist", get(handlers::checklist::<StandbyState>))
        .route("/log", get(handlers::read_log::<StandbyState>))
        .route("/actions", get(handlers::list_actions::<StandbyState>))
        .route("/actions/{id}", get(handlers::get_action::<StandbyState>))
        .route("/timeline", get(handlers::timeline::<StandbyState>))
        .route("/alerts", get(alerts::list_alerts::<StandbyState>))
        .route("/alerts/{id}", get(alerts::get_alert::<StandbyState>))
        .route("/reports", get(reports::list::<StandbyState>));
    Router::new()
        .nest("/api/v1", api)
        .merge(status_page::standby_routes())
        .fallback(
            |State(state): State<StandbyState>, headers: HeaderMap| async move {
                not_active(state.active_url().as_deref(), wants_html(&headers))
            },
        )
        .layer(middleware::from_fn_with_state(
            state.clone(),
            answer_as_standby,
        ))
        .with_state(state)
}

/// Middleware: writes are refused before any handler runs; a 503 (the database unreadable) is
/// the standby's refusal; every answer says it came from a standby and names the active.
async fn answer_as_standby(
    State(state): State<StandbyState>,
    request: Request,
    next: Next,
) -> Response {
    let browser = wants_html(request.headers());
    let active = state.active_url();
    let mut response = if request.method() != Method::GET && request.method() != Method::HEAD {
        not_active(active.as_deref(), browser)
    } else {
        let response = next.run(request).await;
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            not_active(active.as_deref(), browser)
        } else {
            response
        }
    };
    name_the_active(&mut response, active.as_deref());
    response
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

/// `X-Golive-Role: standby`, and `X-Golive-Active` while a member holds the lease.
pub fn name_the_active(response: &mut Response, active: Option<&str>) {
    let headers = response.headers_mut();
    headers.insert(ROLE_HEADER, HeaderValue::from_static("standby"));
    if let Some(value) = active.and_then(|url| HeaderValue::from_str(url).ok()) {
        headers.insert(ACTIVE_HEADER, value);
    }
}

/// The standby's answer to what it does not serve: 503, naming the active (header
/// `X-Golive-Active`, field `active_url`), so the CLI retries there; to a browser a small page
/// that links to the active's status page and reloads itself.
pub fn not_active(active_url: Option<&str>, browser: bool) -> Response {
    let body = serde_json::json!({
        "error": match active_url {
            Some(url) => format!("this golive is a standby; the active golive is at {url}"),
            None => "this golive is a standby and no golive is active right now (a takeover is under way); try again in a few seconds".to_string(),
        },
        "role": "standby",
        "active_url": active_url,
    });
    let mut response = if browser {
        let page = format!(
            "<!doctype html>\n<meta charset=\"utf-8\">\n<meta http-equiv=\"refresh\" content=\"5\">\n\
             <title>golive: standby</title>\n<p>This golive is a standby. {}</p>\n",
            active_link(active_url)
        );
        (StatusCode::SERVICE_UNAVAILABLE, axum::response::Html(page)).into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
    };
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    name_the_active(&mut response, active_url);
    response
}

/// A sentence linking to the active's status page (HTML, escaped; only an http(s) URL is a link).
pub fn active_link(active_url: Option<&str>) -> String {
    match active_url {
        Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
            let url = escape_html(url);
            format!("The live status page is on the active golive: <a href=\"{url}/\">{url}</a>.")
        }
        _ => "No golive is active right now (a takeover is under way).".to_string(),
    }
}

/// `text` safe inside HTML text and double-quoted attributes.
fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[tokio::test]
    async fn a_browser_at_a_standby_gets_a_link_to_the_active_with_the_url_escaped() {
        let response = not_active(Some("https://a.example/?x=\"<b>"), true);
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let page = body(response).await;
        assert!(
            page.contains("<a href=\"https://a.example/?x=&quot;&lt;b&gt;/\">"),
            "{page}"
        );
        let page = body(not_active(Some("javascript:alert(1)"), true)).await;
        assert!(!page.contains("<a "), "only http(s) links: {page}");
    }

    #[tokio::test]
    async fn a_client_at_a_standby_gets_the_active_in_a_header_and_none_while_the_lease_is_free() {
        let response = not_active(Some("http://10.0.0.1:9898"), false);
        assert_eq!(response.headers()[ACTIVE_HEADER], "http://10.0.0.1:9898");
        assert_eq!(response.headers()[ROLE_HEADER], "standby");
        assert!(
            body(response)
                .await
                .contains("\"active_url\":\"http://10.0.0.1:9898\"")
        );
        let response = not_active(None, false);
        assert!(response.headers().get(ACTIVE_HEADER).is_none());
        assert!(body(response).await.contains("\"active_url\":null"));
    }
}
