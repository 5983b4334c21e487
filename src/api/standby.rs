//! What a standby serves (active/standby on PostgreSQL): the reads of stored data and the status
//! page, from the same database the active writes, through a reader of its own. The handlers are
//! the active's own, written once over [`Reads`] (`standby_reads.rs`), which the active's state and
//! the standby's [`StandbyState`] both provide — so a standby's answer has the active's shape,
//! field for field.
//!
//! A standby never writes: it opens no [`crate::store::Store`], runs no migration, and answers
//! every write (any method but GET and HEAD) 503 naming the active ([`not_active`]), so the CLI
//! retries there. Reads that depend on the engine's live state (`/api/v1/status`, the checks, the
//! runbook with its checks' health, silences) are not served: they too are 503. Every answer
//! carries `X-Golive-Role: standby` and, while one is known, `X-Golive-Active: <active url>`; an
//! acknowledgement or feedback link (`/ack/…`, `/feedback/…`) is redirected (307) to the active.
//! While the database cannot be read (not reachable, its schema missing or newer than this
//! golive), the reads are 503 naming the active as well.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub use super::standby_reads::{ActiveUrl, PlanSlot, Reads, StandbyState};
use super::{alerts, handlers, reports, status_page};

/// The header a standby names the active's URL in.
pub const ACTIVE_HEADER: &str = "x-golive-active";
/// The header that tells a client it read from a standby.
pub const ROLE_HEADER: &str = "x-golive-role";

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
    if let Some(redirect) = to_the_active(request.uri(), active.as_deref()) {
        return redirect;
    }
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

/// An acknowledgement or feedback link (`/ack/{token}`, `/feedback/{token}`, from an email or a
/// chat message) opened at a standby: 307 to the same path on the active, method and form kept,
/// rather than a refusal that loses the token. `None` for other paths, or while no member holds
/// the lease (then the standby's 503 page says to try again).
fn to_the_active(uri: &axum::http::Uri, active: Option<&str>) -> Option<Response> {
    let path = uri.path();
    if !(path.starts_with("/ack/") || path.starts_with("/feedback/")) {
        return None;
    }
    let active = active.filter(|url| url.starts_with("http://") || url.starts_with("https://"))?;
    let target = format!(
        "{}{}",
        active.trim_end_matches('/'),
        uri.path_and_query().map_or(path, |whole| whole.as_str())
    );
    let location = HeaderValue::from_str(&target).ok()?;
    let mut response = (
        StatusCode::TEMPORARY_REDIRECT,
        [(header::LOCATION, location)],
    )
        .into_response();
    name_the_active(&mut response, Some(active));
    Some(response)
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
            status_page::active_link(active_url)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

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

    #[tokio::test]
    async fn a_standby_that_cannot_read_the_database_and_every_write_answer_503_naming_the_active()
    {
        // Nothing listens on port 1: the reads cannot connect.
        let database = crate::domain::Secret::new("postgres://golive@127.0.0.1:1/golive");
        let url = serve_a_standby(database).await;
        let client = reqwest::Client::new();
        for request in [
            client.get(format!("{url}/api/v1/log?limit=5")),
            client.get(format!("{url}/api/v1/status")),
            client.post(format!("{url}/api/v1/log")).body("{}"),
            client.delete(format!("{url}/api/v1/silences/x")),
        ] {
            let response = request.send().await.expect("the standby answers");
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(response.headers()[ACTIVE_HEADER], "http://10.0.0.1:9898");
            assert_eq!(response.headers()[ROLE_HEADER], "standby");
            let text = response.text().await.unwrap_or_default();
            assert!(
                text.contains("\"active_url\":\"http://10.0.0.1:9898\""),
                "{text}"
            );
        }
        let page = client
            .get(format!("{url}/"))
            .header(header::ACCEPT, "text/html")
            .send()
            .await
            .expect("the standby answers");
        assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
        let page = page.text().await.unwrap_or_default();
        assert!(
            page.contains("<a href=\"http://10.0.0.1:9898/\">"),
            "{page}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_arriving_while_the_database_is_silent_are_refused_after_one_attempt_to_reach_it()
    {
        // A "database" slow to fail: it takes each connection and closes it a second later
        // without a word, as an unreachable one fails only after its connect timeout. It counts
        // the attempts.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let port = silent.local_addr().expect("its address").port();
        let attempts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = attempts.clone();
        tokio::spawn(async move {
            while let Ok((connection, _)) = silent.accept().await {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    drop(connection);
                });
            }
        });
        let database =
            crate::domain::Secret::new(format!("postgres://golive@127.0.0.1:{port}/golive"));
        let url = serve_a_standby(database).await;
        let client = reqwest::Client::new();
        let reads = ["/api/v1/log", "/", "/api/v1/alerts", "/"]
            .map(|path| client.get(format!("{url}{path}")).send());
        for answer in futures_util::future::join_all(reads).await {
            let answer = answer.expect("the standby answers");
            assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(answer.headers()[ACTIVE_HEADER], "http://10.0.0.1:9898");
        }
        assert_eq!(
            attempts.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "the reads behind the first are refused at once, without reaching for the database again"
        );
    }

    /// A standby's router over `database` on a free loopback port, naming the active
    /// `http://10.0.0.1:9898`: its URL.
    async fn serve_a_standby(database: crate::domain::Secret) -> String {
        let plan = crate::core::test_support::plan_with_checklist(Vec::new());
        let state = StandbyState::new(
            Arc::new(std::sync::RwLock::new(Arc::new(plan))),
            Arc::new(crate::clock::SystemClock),
            database,
            Arc::new(|| Some("http://10.0.0.1:9898".to_string())),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let url = format!("http://{}", listener.local_addr().expect("its address"));
        tokio::spawn(async move { axum::serve(listener, router(state)).await });
        url
    }
}
