//! The live status page at `GET /`: one page for the people on the go-live call. It is rendered on
//! the server from the engine's snapshot, the checks' views and the store's reader (the same data
//! the JSON API serves), with minijinja templates compiled into the binary; it reads without
//! JavaScript (and then reloads itself every 30 s). With JavaScript, a small script fetches the
//! live part (`GET /status/live`) every few seconds and swaps it in place, and sends
//! acknowledgements, checklist confirmations and notes to the existing `/api/v1` write endpoints
//! with the API token as a bearer header, kept in the tab's sessionStorage.
//!
//! Cross-site request forgery has nothing to ride on: writes need the `Authorization` header,
//! which a browser never adds by itself and another site cannot set without a CORS preflight this
//! daemon never grants; there are no cookies. Every response here carries a strict
//! Content-Security-Policy (scripts, styles and fetches from this origin only, no inline script,
//! no framing, no form submissions) and no external asset is referenced.

mod view;

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::LazyLock;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use minijinja::Environment;
use serde::Serialize;
use tower_http::compression::CompressionLayer;

use super::AppState;
use super::error::ApiError;
use super::handlers::read;
use crate::store::LogQuery;
pub use view::{HISTORY_MINUTES, StatusView};

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

/// The status page's routes, each answered with the security headers.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(page))
        .route("/status/live", get(live))
        .route("/status/status.css", get(stylesheet))
        .route("/status/status.js", get(script))
        .layer(middleware::map_response(security_headers))
        // The live part of a plan with hundreds of checks is repetitive HTML (history strips):
        // gzip shrinks a poll to a few percent, which matters on a phone.
        .layer(CompressionLayer::new())
}

/// The whole page, with the live part in it.
async fn page(State(state): State<AppState>) -> Result<Response, ApiError> {
    #[derive(Serialize)]
    struct PageContext {
        #[serde(flatten)]
        view: StatusView,
        refresh_ms: u64,
    }
    let view = gather(&state).await?;
    let html = render(
        PAGE,
        &PageContext {
            view,
            refresh_ms: REFRESH_MS,
        },
    )?;
    Ok(html_response(html, "no-store"))
}

/// The live part alone. It carries an ETag, so a browser polling an unchanged page gets a 304.
async fn live(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let view = gather(&state).await?;
    let html = render(LIVE, &view)?;
    let mut hasher = DefaultHasher::new();
    html.hash(&mut hasher);
    // Weak: the same content is served gzip-compressed or not.
    let etag = format!("W/\"{:016x}\"", hasher.finish());
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|given| given.split(',').any(|tag| tag.trim() == etag));
    let mut response = if unchanged {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        // Stored but revalidated every time: the poll then costs a 304 when nothing changed.
        html_response(html, "no-cache")
    };
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    Ok(response)
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

fn html_response(html: String, cache: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, cache),
        ],
        html,
    )
        .into_response()
}

/// Reads everything the page shows at one moment: the snapshot (phase, checklist, action items,
/// the gate's view of checks), the checks' views from the engine, and from the store the open
/// alerts, the newest log entries and each check's recent minutes.
async fn gather(state: &AppState) -> Result<StatusView, ApiError> {
    let snapshot = state.engine.snapshot();
    let checks = state.engine.checks().await?;
    let ids: Vec<String> = checks.iter().map(|check| check.id.clone()).collect();
    let now = state.clock.now();
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
        Ok((alerts, log, history, update))
    })
    .await?;
    let mut view = view::build(&view::Inputs {
        plan: &state.plan(),
        snapshot: &snapshot,
        checks: &checks,
        history: &history,
        alerts: &alerts,
        log: &log,
        now,
    });
    let timezone = &state.plan().launch.timezone;
    view.latest_update = update
        .first()
        .map(|entry| view::log_row(entry, now, timezone));
    Ok(view)
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
