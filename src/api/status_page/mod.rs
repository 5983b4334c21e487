//! The live status page at `GET /`: one page for the people on the go-live call. It is rendered on
//! the server from the engine's snapshot, the checks' views and the store's reader (the same data
//! the JSON API serves), with minijinja templates compiled into the binary; it reads without
//! JavaScript (and then reloads itself every 30 s). With JavaScript, a small script fetches the
//! live part (`GET /status/live`) every few seconds and swaps it in place, and sends
//! acknowledgements, checklist confirmations and notes to the existing `/api/v1` write endpoints
//! with the API token as a bearer header, kept in the tab's sessionStorage.
//!
//! Viewers share one rendering ([`cache`]): the page and its live part are rendered once per state
//! on the blocking pool, gzip-compressed once, and answered as the same bytes to everyone, with an
//! ETag naming the rendering; a request never renders for itself alone.
//!
//! Cross-site request forgery has nothing to ride on: writes need the `Authorization` header,
//! which a browser never adds by itself and another site cannot set without a CORS preflight this
//! daemon never grants; there are no cookies. Every response here carries a strict
//! Content-Security-Policy (scripts, styles and fetches from this origin only, no inline script,
//! no framing, no form submissions) and no external asset is referenced.

mod cache;
mod view;

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, PoisonError};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use minijinja::Environment;
use serde::Serialize;
use tower_http::compression::CompressionLayer;

use super::AppState;
use super::error::ApiError;
use super::handlers::read;
use super::standby_reads::{Reads, StandbyState};
use crate::store::LogQuery;
use cache::Encoded;
pub use cache::{FRESH_FOR, PageCache};
pub use view::{COLLAPSE_ABOVE, HISTORY_MINUTES, StatusView};

/// How often the script fetches the live part.
pub const REFRESH_MS: u64 = 2000;
/// How many of the newest log entries the page shows.
const LOG_SHOWN: usize = 15;
/// How many open alerts the page shows at most (newest first).
const ALERTS_SHOWN: usize = 100;

/// The policy every status-page response carries: everything from this origin only, no inline
/// script or style, no plugins, no framing, no form posts, no `<base>` tricks.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const PAGE: &str = "page.html";
const LIVE: &str = "live.html";
const STYLESHEET: &str = include_str!("../../../templates/status/status.css");
const SCRIPT: &str = include_str!("../../../templates/status/status.js");

/// The templates, parsed once. `.html` names get HTML auto-escaping, so every value from the plan,
/// the log or a probe (notes, reasons, titles) is escaped.
static TEMPLATES: LazyLock<Result<Environment<'static>, minijinja::Error>> = LazyLock::new(|| {
    let mut environment = Environment::new();
    environment.add_template(PAGE, include_str!("../../../templates/status/page.html"))?;
    environment.add_template(LIVE, include_str!("../../../templates/status/live.html"))?;
    Ok(environment)
});

/// The status page's routes, each answered with the security headers. The page and its live part
/// come from `cache`, rendered once per state and compressed once; only the static assets go
/// through the compression layer, so nothing is compressed twice.
pub fn routes(cache: Arc<PageCache>) -> Router<AppState> {
    Router::new()
        .route("/", get(page))
        .route("/status/live", get(live))
        .layer(Extension(cache))
        .merge(assets())
        .layer(middleware::map_response(security_headers))
}

/// The stylesheet and the script, compressed by the layer.
fn assets<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/status/status.css", get(stylesheet))
        .route("/status/status.js", get(script))
        .layer(CompressionLayer::new())
}

/// A standby's status page: the same page, rendered from what the database holds, under a banner
/// naming the time it was read and the active's live page ([`view::mark_as_standby`]). One
/// rendering serves every viewer for [`FRESH_FOR`].
pub fn standby_routes() -> Router<StandbyState> {
    Router::new()
        .route("/", get(standby_page))
        .route("/status/live", get(standby_live))
        .layer(Extension(Arc::new(StoredPages::default())))
        .merge(assets())
        .layer(middleware::map_response(security_headers))
}

/// A standby's latest rendering and when it was made. The lock is not held while the database is
/// read (it may be unreachable, each attempt waiting out a timeout): viewers arriving at a stale
/// page each render it, their reads taking turns on the standby's one connection, which answers
/// at once while a failure is fresh (`standby_reads`).
#[derive(Default)]
struct StoredPages {
    latest: std::sync::Mutex<Option<(std::time::Instant, Arc<PageAndLive>)>>,
}

/// The whole page and its live part, rendered together, and the ETag naming that rendering.
struct PageAndLive {
    etag: HeaderValue,
    page: Encoded,
    live: Encoded,
}

impl StoredPages {
    async fn current(&self, state: &StandbyState) -> Result<Arc<PageAndLive>, ApiError> {
        let fresh = |latest: &Option<(std::time::Instant, Arc<PageAndLive>)>| {
            latest
                .as_ref()
                .filter(|(at, _)| at.elapsed() < FRESH_FOR)
                .map(|(_, rendered)| rendered.clone())
        };
        if let Some(rendered) = fresh(&self.latest.lock().unwrap_or_else(PoisonError::into_inner)) {
            return Ok(rendered);
        }
        let mut gathered = gather(state).await?;
        gathered.standby = Some(active_link(state.active_url().as_deref()));
        let (page, live) = render_gathered(gathered).await?;
        // Random per rendering: never the same tag as another rendering or another member's.
        let etag = HeaderValue::from_str(&format!("W/\"s{}\"", crate::random::hex::<8>()))
            .map_err(|error| ApiError::internal(&error))?;
        let rendered = Arc::new(PageAndLive { etag, page, live });
        *self.latest.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((std::time::Instant::now(), rendered.clone()));
        Ok(rendered)
    }
}

async fn standby_page(
    State(state): State<StandbyState>,
    Extension(pages): Extension<Arc<StoredPages>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let rendered = pages.current(&state).await?;
    Ok(shared_response(&rendered.etag, &rendered.page, &headers))
}

async fn standby_live(
    State(state): State<StandbyState>,
    Extension(pages): Extension<Arc<StoredPages>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let rendered = pages.current(&state).await?;
    Ok(shared_response(&rendered.etag, &rendered.live, &headers))
}

/// A sentence linking to the active's status page (HTML, escaped; only an http(s) URL is a link),
/// for a standby's banner and its refusals.
pub fn active_link(active_url: Option<&str>) -> String {
    match active_url {
        Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
            let url = crate::report::alert_message::escape(url);
            format!("The live status page is on the active golive: <a href=\"{url}/\">{url}</a>.")
        }
        _ => "No golive is active right now (a takeover is under way).".to_string(),
    }
}

/// Middleware: a successful write through the API (a note, an acknowledgement, a silence) may
/// change what the page shows without a new snapshot, so the next view renders again.
pub async fn note_writes(
    State(cache): State<Arc<PageCache>>,
    request: Request,
    next: Next,
) -> Response {
    let writes = !request.method().is_safe();
    let response = next.run(request).await;
    if writes && !response.status().is_client_error() && !response.status().is_server_error() {
        cache.written();
    }
    response
}

/// The whole page, with the live part in it.
async fn page(
    State(state): State<AppState>,
    Extension(cache): Extension<Arc<PageCache>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let rendered = cache.current(&state).await?;
    Ok(shared_response(&rendered.etag, &rendered.page, &headers))
}

/// The live part alone, as the script polls it.
async fn live(
    State(state): State<AppState>,
    Extension(cache): Extension<Arc<PageCache>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let rendered = cache.current(&state).await?;
    Ok(shared_response(&rendered.etag, &rendered.live, &headers))
}

/// Answers with the shared bytes: 304 when the viewer has this rendering already (its ETag), the
/// gzip bytes when the request takes gzip, else the plain ones. Stored but revalidated every time,
/// so a poll of an unchanged page costs a 304.
fn shared_response(etag: &HeaderValue, body: &Encoded, request: &HeaderMap) -> Response {
    let mut response = if etag_matches(request, etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else if accepts_gzip(request) {
        let mut response = html_response(body.gzip.clone());
        response
            .headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        response
    } else {
        html_response(body.identity.clone())
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, etag.clone());
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn html_response(body: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

/// Whether `If-None-Match` names this ETag (weak comparison: the tag is weak, one for both
/// encodings) or is `*`.
fn etag_matches(request: &HeaderMap, etag: &HeaderValue) -> bool {
    let Ok(etag) = etag.to_str() else {
        return false;
    };
    let opaque = etag.trim_start_matches("W/");
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|tag| tag.trim())
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == opaque)
}

/// Whether `Accept-Encoding` takes gzip (`gzip` or `*`, with a q-value above 0).
fn accepts_gzip(request: &HeaderMap) -> bool {
    request
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or("");
            let weight = parts
                .filter_map(|parameter| parameter.strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            (name.eq_ignore_ascii_case("gzip") || name == "*") && weight > 0.0
        })
}

async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", STYLESHEET)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// Renders the page and its live part from one moment's data, each plain and gzip-compressed.
/// Reading happens here (the engine's check views, the store on the blocking pool); building the
/// view, both templates and compressing run on the blocking pool, off the runtime's threads.
async fn render_both(state: &AppState) -> Result<(Encoded, Encoded), ApiError> {
    render_gathered(gather(state).await?).await
}

/// [`render_both`] from what was read.
async fn render_gathered(gathered: Gathered) -> Result<(Encoded, Encoded), ApiError> {
    let joined = tokio::task::spawn_blocking(move || {
        let view = gathered.view();
        let live = render(LIVE, &view)?;
        let page = render(
            PAGE,
            &minijinja::context! {
                refresh_ms => REFRESH_MS,
                live_html => minijinja::Value::from_safe_string(live.clone()),
                ..minijinja::Value::from_serialize(&view)
            },
        )?;
        let encode = |html| Encoded::new(html).map_err(|error| ApiError::internal(&error));
        Ok::<_, ApiError>((encode(page)?, encode(live)?))
    })
    .await;
    joined.map_err(|error| ApiError::internal(&error))?
}

/// Everything the page shows, read at one moment.
struct Gathered {
    plan: Arc<crate::plan::Plan>,
    snapshot: Arc<crate::core::snapshot::Snapshot>,
    checks: Vec<crate::engine::CheckView>,
    history: HashMap<String, Vec<(i64, crate::core::rollup::Rollup)>>,
    alerts: Vec<crate::core::alert::Alert>,
    log: Vec<crate::core::log::LogEntry>,
    update: Option<crate::core::log::LogEntry>,
    now: jiff::Timestamp,
    /// On a standby: the sentence linking to the active's live page (escaped HTML).
    standby: Option<String>,
}

impl Gathered {
    fn view(&self) -> StatusView {
        let mut view = view::build(&view::Inputs {
            plan: &self.plan,
            snapshot: &self.snapshot,
            checks: &self.checks,
            history: &self.history,
            alerts: &self.alerts,
            log: &self.log,
            now: self.now,
        });
        view.latest_update = self
            .update
            .as_ref()
            .map(|entry| view::log_row(entry, self.now, &self.plan.launch.timezone));
        if let Some(active_link) = &self.standby {
            view::mark_as_standby(
                &mut view,
                &self.snapshot.checks,
                self.log.first().map(|entry| entry.at),
                active_link.clone(),
                &self.plan.launch.timezone,
                self.now,
            );
        }
        view
    }
}

/// Reads everything the page shows at one moment: the snapshot (phase, checklist, action items,
/// the gate's view of checks), the checks' views from the engine (on a standby, from the stored
/// snapshot), and from the store the open alerts, the newest log entries and each check's recent
/// minutes.
async fn gather<S: Reads>(state: &S) -> Result<Gathered, ApiError> {
    let plan = state.plan();
    let snapshot = state.snapshot().await?;
    let checks = state.checks(&snapshot).await?;
    let ids: Vec<String> = checks.iter().map(|check| check.id.clone()).collect();
    let now = state.now();
    let current_minute = now.as_second().div_euclid(60);
    let (alerts, log, history, update) = read(state, move |reader| {
        let alerts = reader.alerts(true, ALERTS_SHOWN)?;
        let log = reader.log(&LogQuery {
            limit: LOG_SHOWN,
            ..LogQuery::default()
        })?;
        let update = reader.log(&LogQuery {
            kinds: vec![crate::core::log::LogKind::Update],
            limit: 1,
            ..LogQuery::default()
        })?;
        let mut history = HashMap::with_capacity(ids.len());
        for id in ids {
            // Up to the minute in progress: one flushed at a shutdown and continued after the
            // restart is partly stored, partly still in the engine.
            let minutes = reader.check_minutes(
                &id,
                current_minute - HISTORY_MINUTES + 1,
                current_minute + 1,
            )?;
            history.insert(id, minutes);
        }
        Ok((alerts, log, history, update.into_iter().next()))
    })
    .await?;
    Ok(Gathered {
        plan,
        snapshot,
        checks,
        history,
        alerts,
        log,
        update,
        now,
        standby: None,
    })
}

fn render(name: &str, context: &impl Serialize) -> Result<String, ApiError> {
    let environment = TEMPLATES
        .as_ref()
        .map_err(|error| ApiError::internal(error))?;
    environment
        .get_template(name)
        .and_then(|template| template.render(context))
        .map_err(|error| ApiError::internal(&error))
}

/// Adds the security headers to every status-page response (errors included).
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (
            header::HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ),
        (
            header::HeaderName::from_static("cross-origin-resource-policy"),
            HeaderValue::from_static("same-origin"),
        ),
    ] {
        headers.insert(name, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_templates_parse() {
        let environment = TEMPLATES.as_ref().expect("templates parse");
        assert!(environment.get_template(PAGE).is_ok());
        assert!(environment.get_template(LIVE).is_ok());
    }

    fn headers(pairs: &[(header::HeaderName, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| (name.clone(), HeaderValue::from_static(value)))
            .collect()
    }

    #[test]
    fn gzip_is_taken_when_named_or_starred_unless_its_weight_is_zero() {
        for (given, takes) in [
            ("gzip", true),
            ("gzip, deflate, br", true),
            ("br;q=1.0, GZIP;q=0.5", true),
            ("*", true),
            ("gzip;q=0", false),
            ("br, deflate", false),
            ("identity", false),
        ] {
            let request = headers(&[(header::ACCEPT_ENCODING, given)]);
            assert_eq!(accepts_gzip(&request), takes, "{given}");
        }
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn if_none_match_matches_the_tag_weakly_in_a_list_or_as_a_star() {
        let etag = HeaderValue::from_static("W/\"ab12-7\"");
        for (given, matches) in [
            ("W/\"ab12-7\"", true),
            ("\"ab12-7\"", true),
            ("\"x\", W/\"ab12-7\"", true),
            ("*", true),
            ("W/\"ab12-6\"", false),
        ] {
            let request = headers(&[(header::IF_NONE_MATCH, given)]);
            assert_eq!(etag_matches(&request, &etag), matches, "{given}");
        }
        assert!(!etag_matches(&HeaderMap::new(), &etag));
    }

    #[test]
    fn the_page_references_no_external_asset_and_no_inline_script_or_style() {
        for (name, text) in [
            (PAGE, include_str!("../../../templates/status/page.html")),
            (LIVE, include_str!("../../../templates/status/live.html")),
        ] {
            for forbidden in [
                "http://",
                "https://",
                "//cdn",
                " style=",
                "<style",
                "onclick",
                "javascript:",
            ] {
                assert!(!text.contains(forbidden), "{name} contains `{forbidden}`");
            }
            assert!(
                !text.contains("<script>") && !text.contains("<script >"),
                "{name} has an inline script"
            );
        }
        assert!(!STYLESHEET.contains("url("), "the stylesheet loads nothing");
        assert!(
            !SCRIPT.contains("http"),
            "the script talks to this origin only"
        );
    }
}
