//! The status page at `GET /`: plain HTTP (renders without JavaScript, escapes what people and
//! probes wrote, security headers, no write endpoint taking a cross-site form post) and a real
//! headless Chromium driven through chromedriver's W3C WebDriver API (live update without reload,
//! acknowledge, confirm and note from the page, screenshots as test artifacts).

use base64::Engine as _;
use serde_json::{Value, json};

use crate::browser::{Browser, artifacts};
use crate::helpers::{BASE_PLAN, Daemon, TOKEN, eventually};
use crate::monitoring::Switchable;
use crate::plans::http_check;

/// The base plan with a `web` check on `target` (two failures make it failing).
fn plan(target: &str) -> String {
    format!(
        r#"{BASE_PLAN}{}

[[runbook.steps]]
id = "freeze"
title = "Freeze <orders>"
owner = "bob"
start = "+00:00"
duration = "10m"

[[runbook.steps]]
id = "deploy"
title = "Deploy release 2.0"
owner = "alice"
start = "+00:10"
duration = "20m"
depends_on = ["freeze"]
"#,
        http_check("web", target).named("Shop front page")
    )
}

/// An Alertmanager webhook payload with one firing alert whose summary is `summary`.
fn alertmanager_alert(summary: &str) -> Value {
    json!({
        "version": "4",
        "groupKey": "{}:{alertname=\"HighErrorRate\"}",
        "status": "firing",
        "receiver": "golive",
        "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": {"alertname": "HighErrorRate", "severity": "warning"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.test:9093",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "HighErrorRate", "severity": "warning"},
            "annotations": {"summary": summary},
            "startsAt": "2026-11-27T10:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.test/graph",
            "fingerprint": "f00d"
        }]
    })
}

async fn check_health(daemon: &Daemon, id: &str) -> String {
    let (_, body) = daemon.get("/api/v1/checks").await;
    body["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|check| check["id"] == id))
        .and_then(|check| check["health"].as_str())
        .unwrap_or("")
        .to_string()
}

/// Starts a daemon whose `web` check is healthy, with one open Alertmanager alert.
async fn seeded(target: &Switchable, alert_summary: &str) -> Daemon {
    let daemon = Daemon::start(&plan(&target.url())).await;
    let (status, body) = daemon
        .post("/api/v1/alertmanager", alertmanager_alert(alert_summary))
        .await;
    assert_eq!(status, 200, "{body}");
    eventually(10, async || {
        (check_health(&daemon, "web").await == "healthy").then_some(())
    })
    .await;
    daemon
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_the_launch_without_javascript_and_escapes_what_people_wrote() {
    let target = Switchable::start(200).await;
    let daemon = seeded(&target, "5xx rate <b>above</b> 5%").await;
    let (status, body) = daemon
        .post(
            "/api/v1/checklist/backup/confirm",
            json!({"note": "<script>alert('note')</script>", "author": "bob"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = daemon
        .post(
            "/api/v1/log",
            json!({"kind": "decision", "text": "Go <img src=x onerror=alert(1)>"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    let response = daemon.http.get(daemon.at("/")).send().await.expect("GET /");
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    let html = response.text().await.expect("page");
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    for expected in [
        "<h1>Test shop",
        r#"<span class="badge phase phase-planned">planned</span>"#,
        "Shop front page",
        "✓</span> healthy",
        "Database backup taken",
        "Bob Berg (bob)",
        "✓</span> confirmed",
        "Smoke test on production",
        "○</span> not confirmed",
        "#1 HighErrorRate",
        "not acknowledged",
        "Go-live",
        "2030-01-01 20:00:00 CET",
        // Without JavaScript the page reloads itself and says how to act from the CLI.
        r#"<noscript><meta http-equiv="refresh" content="30"></noscript>"#,
        "golive ack ID",
        // The runbook and the rollback procedure that applies now.
        "Deployment steps",
        "Freeze &lt;orders&gt;",
        r#"data-step="deploy" data-state="pending""#,
        "waits for freeze",
        "Redeploy release 1.9 and restore the database snapshot",
    ] {
        assert!(
            html.contains(expected),
            "the page lacks `{expected}`:\n{html}"
        );
    }
    // What people and probes wrote is text, never markup.
    assert!(html.contains("&lt;script&gt;alert(&#x27;note&#x27;)&lt;&#x2f;script&gt;"));
    assert!(html.contains("Go &lt;img src=x onerror=alert(1)&gt;"));
    assert!(html.contains("5xx rate &lt;b&gt;above&lt;&#x2f;b&gt; 5%"));
    for raw in ["<script>alert", "<img src=x", "<b>above"] {
        assert!(!html.contains(raw), "unescaped `{raw}` in the page");
    }
    // Only this origin's assets: one stylesheet, one script, nothing inline.
    assert!(html.contains(r#"<link rel="stylesheet" href="/status/status.css">"#));
    assert!(html.contains(r#"<script src="/status/status.js" defer></script>"#));
    for external in [
        "src=\"http",
        "href=\"http",
        "src=\"//",
        "href=\"//",
        " style=\"",
    ] {
        assert!(!html.contains(external), "the page has `{external}`");
    }
    assert!(!html.contains(TOKEN), "the page shows a token");

    let csp = headers["content-security-policy"].to_str().expect("ascii");
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'none'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(directive), "CSP lacks {directive}: {csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert!(headers.get("set-cookie").is_none());

    // The live part alone, as the script fetches it.
    let response = daemon
        .http
        .get(daemon.at("/status/live"))
        .send()
        .await
        .expect("GET /status/live");
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("content-security-policy"));
    let live = response.text().await.expect("live part");
    assert!(!live.contains("<html"), "the live part is a fragment");
    assert!(live.contains("Shop front page") && live.contains("HighErrorRate"));
    // An unchanged live part costs a 304 (retried: durations in seconds change it now and then).
    eventually(15, async || {
        let first = daemon
            .http
            .get(daemon.at("/status/live"))
            .send()
            .await
            .ok()?;
        let etag = first.headers().get("etag")?.clone();
        let again = daemon
            .http
            .get(daemon.at("/status/live"))
            .header("if-none-match", etag)
            .send()
            .await
            .ok()?;
        (again.status() == 304).then_some(())
    })
    .await;

    // Compressed for browsers that take it (a plan with hundreds of checks makes a large page).
    let response = daemon
        .http
        .get(daemon.at("/status/live"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("GET /status/live gzip");
    assert_eq!(response.headers()["content-encoding"], "gzip");

    for (path, content_type) in [
        ("/status/status.css", "text/css; charset=utf-8"),
        ("/status/status.js", "text/javascript; charset=utf-8"),
    ] {
        let response = daemon.http.get(daemon.at(path)).send().await.expect(path);
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["content-type"], content_type, "{path}");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_write_endpoint_takes_a_cross_site_form_post_or_ambient_credentials() {
    let target = Switchable::start(200).await;
    let daemon = seeded(&target, "seeded").await;
    let (status, _) = daemon
        .post(
            "/api/v1/actions",
            json!({"title": "Keep me", "owner": "bob"}),
        )
        .await;
    assert_eq!(status, 201);
    let writes = [
        ("POST", "/api/v1/phase"),
        ("POST", "/api/v1/checklist/backup/confirm"),
        ("POST", "/api/v1/log"),
        ("POST", "/api/v1/actions"),
        ("PATCH", "/api/v1/actions/1"),
        ("POST", "/api/v1/alerts/1/ack"),
        ("POST", "/api/v1/silences"),
        ("DELETE", "/api/v1/silences/any"),
        ("POST", "/api/v1/alertmanager"),
        ("POST", "/api/v1/rollback"),
        ("POST", "/api/v1/notify/test"),
        ("POST", "/api/v1/runbook/freeze/start"),
        ("POST", "/api/v1/runbook/freeze/done"),
        ("POST", "/api/v1/runbook/freeze/skip"),
        ("POST", "/api/v1/runbook/freeze/fail"),
        ("POST", "/api/v1/reports/send"),
    ];
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("api:{TOKEN}"));
    for (method, path) in writes {
        // What a hostile page's form can send: a urlencoded body, the browser's cookies, its
        // origin; and a browser's remembered basic credentials.
        for authorization in [None, Some(format!("Basic {basic}"))] {
            let mut request = daemon
                .http
                .request(method.parse().expect("method"), daemon.at(path))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("origin", "http://evil.example")
                .header("cookie", format!("token={TOKEN}; golive_token={TOKEN}"))
                .body("kind=note&text=forged&to=deploying&reason=forged");
            if let Some(authorization) = &authorization {
                request = request.header("authorization", authorization);
            }
            let response = request.send().await.expect("write");
            assert_eq!(
                response.status(),
                401,
                "{method} {path} with {authorization:?} was not refused"
            );
            assert!(
                response
                    .headers()
                    .get("access-control-allow-origin")
                    .is_none()
            );
        }
    }
    // Nothing changed.
    let (_, status) = daemon.get("/api/v1/status").await;
    assert_eq!(status["phase"], "planned");
    assert_eq!(status["checklist"]["confirmed"], 0);
    let (_, log) = daemon.get("/api/v1/log").await;
    assert!(!log.to_string().contains("forged"), "{log}");
    let (_, alert) = daemon.get("/api/v1/alerts/1").await;
    assert!(alert["alert"]["acknowledged"].is_null(), "{alert}");
    let (_, runbook) = daemon.get("/api/v1/runbook").await;
    assert_eq!(runbook["steps"][0]["state"], "pending", "{runbook}");
    // A preflight from another origin is not granted, so its script cannot send the header.
    let response = daemon
        .http
        .request(reqwest::Method::OPTIONS, daemon.at("/api/v1/log"))
        .header("origin", "http://evil.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .expect("preflight");
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    assert!(
        response
            .headers()
            .get("access-control-allow-headers")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_real_browser_the_page_follows_a_failing_check_and_acknowledges_confirms_starts_a_step_and_notes()
 {
    let target = Switchable::start(200).await;
    let daemon = seeded(&target, "5xx rate above 5%").await;
    let browser = Browser::start().await;
    browser.navigate(&daemon.at("/")).await;

    // The seeded state.
    browser
        .wait_for(
            "the healthy check",
            "return document.querySelector('#check-web')?.dataset.state === 'healthy'",
        )
        .await;
    let seeded = browser
        .script(
            "return {
                alert: document.querySelector('#alert-1')?.textContent ?? '',
                backup: document.querySelector('#item-backup')?.dataset.state ?? '',
                phase: document.querySelector('.badge.phase')?.textContent ?? '',
                title: document.title,
            }",
        )
        .await;
    assert!(
        seeded["alert"]
            .as_str()
            .unwrap_or("")
            .contains("HighErrorRate"),
        "{seeded}"
    );
    assert_eq!(seeded["backup"], "not confirmed", "{seeded}");
    assert_eq!(seeded["phase"], "planned", "{seeded}");
    assert!(
        seeded["title"]
            .as_str()
            .unwrap_or("")
            .starts_with("Test shop"),
        "{seeded}"
    );

    // A failing check shows up without a reload: the marker set now survives.
    browser
        .script("window.goliveMarker = 'still here'; return true")
        .await;
    target.set(503);
    browser
        .wait_for(
            "the failing check",
            "return document.querySelector('#check-web')?.dataset.state === 'failing'",
        )
        .await;
    assert_eq!(
        browser.script("return window.goliveMarker ?? null").await,
        "still here"
    );
    let sync = browser
        .script("return document.querySelector('#sync').textContent")
        .await;
    assert!(
        sync.as_str()
            .unwrap_or("")
            .starts_with("Live: updates every 2 s"),
        "{sync}"
    );
    let row = browser
        .script("return document.querySelector('#check-web').textContent")
        .await;
    assert!(row.as_str().unwrap_or("").contains("status 503"), "{row}");

    // The token, once for this tab: the form is folded away until asked for.
    assert_eq!(
        browser
            .script("return document.querySelector('#token-panel').open")
            .await,
        false
    );
    browser.click("#token-panel summary").await;
    browser.type_into("#token-input", TOKEN).await;
    browser.type_into("#author-input", "Browser Tester").await;
    browser.click("#token-form button[type=submit]").await;
    browser
        .wait_for(
            "the token to be kept",
            "return !document.querySelector('#token-set').hidden",
        )
        .await;
    assert_eq!(
        browser
            .script("return sessionStorage.getItem('golive.token')")
            .await,
        TOKEN
    );
    assert_eq!(browser.script("return document.cookie").await, "");

    // Acknowledge alert #1 from the page.
    browser.click("button[data-act='ack'][data-id='1']").await;
    eventually(20, async || {
        let (_, body) = daemon.get("/api/v1/alerts/1").await;
        (body["alert"]["acknowledged"]["by"] == "Browser Tester").then_some(())
    })
    .await;
    browser
        .wait_for(
            "the acknowledgement on the page",
            "return document.querySelector('#alert-1')?.dataset.acknowledged === 'yes'",
        )
        .await;

    // Confirm a checklist item.
    browser
        .click("button[data-act='confirm'][data-id='backup']")
        .await;
    eventually(20, async || {
        let (_, body) = daemon.get("/api/v1/checklist").await;
        let items = body["items"].as_array()?;
        let backup = items.iter().find(|item| item["id"] == "backup")?;
        (backup["confirmed_by"] == "Browser Tester").then_some(())
    })
    .await;
    browser
        .wait_for(
            "the confirmation on the page",
            "return document.querySelector('#item-backup')?.dataset.state === 'confirmed'",
        )
        .await;

    // Start a runbook step.
    browser
        .click("button[data-act='step-start'][data-id='freeze']")
        .await;
    eventually(20, async || {
        let (_, body) = daemon.get("/api/v1/runbook").await;
        let steps = body["steps"].as_array()?;
        let freeze = steps.iter().find(|step| step["id"] == "freeze")?;
        (freeze["state"] == "running" && freeze["started_by"] == "Browser Tester").then_some(())
    })
    .await;
    browser
        .wait_for("the running step on the page", "return document.querySelector('#step-freeze')?.dataset.state === 'running' && !!document.querySelector(\"button[data-act='step-done'][data-id='freeze']\")")
        .await;

    // Add a note; it comes back as text, not markup.
    let note = "Error rate back to normal <b>after</b> the cache flush";
    browser.type_into("#note-text", note).await;
    browser.click("#note-form button[type=submit]").await;
    eventually(20, async || {
        let (_, body) = daemon.get("/api/v1/log?kind=note").await;
        let entries = body["entries"].as_array()?;
        entries
            .iter()
            .any(|entry| entry["text"] == note && entry["author"] == "Browser Tester")
            .then_some(())
    })
    .await;
    let shown = format!(
        "return [...document.querySelectorAll('#log .text')].some(e => e.textContent === {}) && !document.querySelector('#log b')",
        json!(note)
    );
    browser.wait_for("the note in the page's log", &shown).await;
    assert_eq!(
        browser.script("return window.goliveMarker ?? null").await,
        "still here",
        "the page reloaded"
    );

    // Accessibility: axe-core's WCAG 2.1 A and AA rules (contrast, labels, names, landmarks) find
    // nothing, at desktop and at phone width.
    for (width, height) in [(1280, 1800), (420, 1800)] {
        browser.set_size(width, height).await;
        let violations = browser.accessibility_violations().await;
        assert!(
            violations.is_empty(),
            "accessibility problems at {width} px: {violations:#?}"
        );
    }

    let directory = artifacts();
    browser.script("window.scrollTo(0, 0); return true").await;
    browser.set_size(1280, 1800).await;
    let desktop = browser.screenshot(&directory.join("status-page.png")).await;
    browser.set_size(420, 1800).await;
    let phone = browser
        .screenshot(&directory.join("status-page-phone.png"))
        .await;
    println!(
        "status page screenshots: {} {}",
        desktop.display(),
        phone.display()
    );
    browser.close().await;
}

/// The base plan's `web` check linked to the `payments` risk, with rollback criteria for it, so
/// a failing check while deploying opens an alert with a contingency and rollback advice.
fn plan_with_risk_and_rollback(target: &str) -> String {
    plan(target)
        .replace(
            "failure_threshold = 2\n",
            "failure_threshold = 2\nrisks = [\"payments\"]\n",
        )
        .replace(
            "[rollback]\nprocedure = \"Redeploy release 1.9 and restore the database snapshot\"",
            "[rollback]\nprocedure = \"Redeploy release 1.9 and restore the database snapshot\"\ncriteria = [{ checks = [\"web\"], severity = \"critical\" }]",
        )
}

/// Waits until the `web` check's alert is open and returns its id.
async fn open_check_alert(daemon: &Daemon) -> i64 {
    eventually(20, async || {
        let (_, body) = daemon.get("/api/v1/alerts").await;
        body["alerts"]
            .as_array()?
            .iter()
            .find(|alert| alert["key"] == "check:web")
            .and_then(|alert| alert["id"].as_i64())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_phone_the_open_alert_with_its_contingency_and_rollback_advice_is_on_the_first_screen()
{
    let target = Switchable::start(200).await;
    let daemon = Daemon::start(&plan_with_risk_and_rollback(&target.url())).await;
    for _ in 0..2 {
        let (status, body) = daemon
            .post("/api/v1/phase", json!({"force": true, "reason": "test"}))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(daemon.get("/api/v1/status").await.1["phase"], "deploying");
    target.set(503);
    let id = open_check_alert(&daemon).await;
    let browser = Browser::start().await;
    browser.set_size(390, 844).await;
    browser.navigate(&daemon.at("/")).await;
    let row = format!("#alert-{id}");
    browser
        .wait_for(
            "the open alert and the failing check",
            &format!(
                "return !!document.querySelector('{row}') && document.querySelector('#check-web')?.dataset.state === 'failing'"
            ),
        )
        .await;
    let seen = browser
        .script(&format!(
            "const row = document.querySelector('{row}');
             const input = document.querySelector('#token-input');
             return {{
                 top: row.getBoundingClientRect().top,
                 height: window.innerHeight,
                 width: window.innerWidth,
                 scroll_width: document.documentElement.scrollWidth,
                 text: row.textContent.replace(/\\s+/g, ' '),
                 form_open: document.querySelector('#token-panel').open,
                 input_shown: input.checkVisibility(),
                 panel_height: document.querySelector('#token-panel').getBoundingClientRect().height,
                 strip: document.querySelector('#check-web .strip').getAttribute('aria-label'),
             }}"
        ))
        .await;
    let top = seen["top"].as_f64().unwrap_or(f64::MAX);
    let height = seen["height"].as_f64().unwrap_or(0.0);
    assert!(
        top < height,
        "the open alert starts below the first screen: {seen}"
    );
    assert_eq!(seen["form_open"], false, "{seen}");
    assert_eq!(
        seen["input_shown"], false,
        "the token form is folded: {seen}"
    );
    assert!(
        seen["panel_height"].as_f64().unwrap_or(f64::MAX) < 80.0,
        "the folded sign-in takes one line: {seen}"
    );
    assert!(
        seen["scroll_width"].as_f64() <= seen["width"].as_f64(),
        "the page is wider than the phone: {seen}"
    );
    let text = seen["text"].as_str().unwrap_or("");
    assert!(
        text.contains("Contingency") && text.contains("Switch to the fallback provider"),
        "{text}"
    );
    assert!(text.contains("Rollback recommended"), "{text}");
    // The check fails, and the strip says so (not "no probes", not "without failures"). Whether
    // the failures still fall in "this minute" depends on the wall clock: a page rendered just
    // after a minute turned, before the new minute's first probe, rightly shows them in the last
    // minute ("1 of 1 min with failures"), which the unit tests of the view cover.
    let strip = seen["strip"].as_str().unwrap_or("");
    assert!(
        strip.starts_with("this minute: failing") || strip.ends_with("min with failures"),
        "{strip}"
    );
    assert!(
        !strip.contains("without failures") && !strip.contains("no probes"),
        "{strip}"
    );

    // Acting without a token opens the form by itself.
    browser
        .click(&format!("button[data-act='ack'][data-id='{id}']"))
        .await;
    browser
        .wait_for(
            "the sign-in form to open",
            "return document.querySelector('#token-panel').open && document.activeElement?.id === 'token-input'",
        )
        .await;
    let violations = browser.accessibility_violations().await;
    assert!(violations.is_empty(), "{violations:#?}");
    browser.script("window.scrollTo(0, 0); return true").await;
    browser.click("#token-panel summary").await;
    let shot = browser
        .screenshot(&artifacts().join("status-page-phone-first-screen.png"))
        .await;
    println!("status page on a phone: {}", shot.display());
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_launch_closes_the_page_says_its_checks_are_no_longer_watched() {
    let target = Switchable::start(200).await;
    let daemon = seeded(&target, "5xx rate above 5%").await;
    let (_, html) = daemon.get_text("/").await;
    assert!(html.contains("data-state=\"healthy\""), "{html}");
    for _ in 0..5 {
        let (status, body) = daemon
            .post("/api/v1/phase", json!({"force": true, "reason": "test"}))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(daemon.get("/api/v1/status").await.1["phase"], "closed");
    let (_, html) = daemon.get_text("/").await;
    assert!(html.contains("data-state=\"no longer watched\""), "{html}");
    assert!(!html.contains("data-state=\"healthy\""), "{html}");
    assert!(html.contains("last known: healthy"), "{html}");
    assert!(html.contains("1 not watched"), "{html}");
}

/// `golive_status_page_renders_total` as the daemon exports it.
async fn renders(daemon: &Daemon) -> u64 {
    let (_, text) = daemon.get_text("/metrics").await;
    text.lines()
        .find_map(|line| line.strip_prefix("golive_status_page_renders_total "))
        .and_then(|value| value.trim().parse().ok())
        .expect("golive_status_page_renders_total is exported")
}

/// One view of `path`: its status, ETag, Content-Encoding, Vary and body bytes.
struct View {
    status: u16,
    etag: String,
    encoding: String,
    vary: String,
    body: Vec<u8>,
}

async fn view(daemon: &Daemon, path: &str, headers: &[(&str, &str)]) -> View {
    let mut request = daemon.http.get(daemon.at(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("GET the status page");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let (status, etag, encoding, vary) = (
        response.status().as_u16(),
        header("etag"),
        header("content-encoding"),
        header("vary"),
    );
    let body = response.bytes().await.expect("the page's bytes").to_vec();
    View {
        status,
        etag,
        encoding,
        vary,
        body,
    }
}

fn gunzip(bytes: &[u8]) -> String {
    use std::io::Read as _;
    let mut html = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut html)
        .expect("valid gzip of UTF-8 text");
    html
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_of_one_state_share_one_rendering_and_a_change_of_state_renders_again() {
    let target = Switchable::start(200).await;
    let daemon = seeded(&target, "5xx rate above 5%").await;

    // Eight viewers at once right after a write: one rendering, the same bytes for all. (Tried
    // again if the page's 5 s period turned in between, which renders once more.)
    let views = eventually(30, async || {
        let (status, _) = daemon
            .post("/api/v1/log", json!({"kind": "note", "text": "watching"}))
            .await;
        assert_eq!(status, 201);
        let before = renders(&daemon).await;
        let views = concurrent_views(&daemon, 8).await;
        let after = renders(&daemon).await;
        let one_tag = views.iter().all(|view| view.etag == views[0].etag);
        (one_tag && after - before == 1).then_some(views)
    })
    .await;
    for view in &views {
        assert_eq!(view.status, 200);
        assert!(view.etag.starts_with("W/\""), "{}", view.etag);
        assert_eq!(
            view.body, views[0].body,
            "viewers of one state got different pages"
        );
    }
    let before = String::from_utf8(views[0].body.clone()).expect("UTF-8");
    assert!(before.contains(r#"data-item="backup" data-state="not confirmed""#));
    assert!(
        before.contains("watching"),
        "the note written before is shown"
    );

    // A change of state: a new ETag and the new content at once.
    let (status, body) = daemon
        .post("/api/v1/checklist/backup/confirm", json!({"author": "bob"}))
        .await;
    assert_eq!(status, 200, "{body}");
    let after = view(&daemon, "/", &[]).await;
    assert_eq!(after.status, 200);
    assert_ne!(after.etag, views[0].etag);
    let after = String::from_utf8(after.body).expect("UTF-8");
    assert!(
        after.contains(r#"data-item="backup" data-state="confirmed""#),
        "{after}"
    );
}

/// `count` concurrent views of `/`.
async fn concurrent_views(daemon: &Daemon, count: usize) -> Vec<View> {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..count {
        let (http, url) = (daemon.http.clone(), daemon.at("/"));
        tasks.spawn(async move {
            let response = http.get(url).send().await.expect("GET /");
            let status = response.status().as_u16();
            let etag = response.headers()["etag"]
                .to_str()
                .unwrap_or("")
                .to_string();
            let body = response.bytes().await.expect("body").to_vec();
            View {
                status,
                etag,
                encoding: String::new(),
                vary: String::new(),
                body,
            }
        });
    }
    tasks.join_all().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_comes_gzip_compressed_once_to_whoever_takes_it_and_unchanged_costs_a_304() {
    let target = Switchable::start(200).await;
    let daemon = seeded(&target, "5xx rate above 5%").await;
    for path in ["/", "/status/live"] {
        // The same rendering twice, plain and compressed (again if the 5 s period turned).
        let (plain, compressed) = eventually(30, async || {
            let plain = view(&daemon, path, &[]).await;
            let compressed = view(&daemon, path, &[("accept-encoding", "gzip, br")]).await;
            (plain.etag == compressed.etag).then_some((plain, compressed))
        })
        .await;
        assert_eq!(plain.encoding, "", "{path}");
        assert_eq!(compressed.encoding, "gzip", "{path}");
        for view in [&plain, &compressed] {
            assert!(view.vary.to_ascii_lowercase().contains("accept-encoding"));
        }
        // Compressed once: one gunzip gives the very HTML served plain.
        let html = gunzip(&compressed.body);
        assert_eq!(html.as_bytes(), plain.body.as_slice(), "{path}");
        assert!(compressed.body.len() * 4 < plain.body.len(), "{path}");
        // A poller that has this rendering gets a 304 with no body, either way.
        let unchanged = eventually(30, async || {
            let current = view(&daemon, path, &[]).await;
            let again = view(
                &daemon,
                path,
                &[
                    ("if-none-match", &current.etag),
                    ("accept-encoding", "gzip"),
                ],
            )
            .await;
            (again.etag == current.etag).then_some(again)
        })
        .await;
        assert_eq!(unchanged.status, 304, "{path}");
        assert!(unchanged.body.is_empty());
        assert!(
            unchanged
                .vary
                .to_ascii_lowercase()
                .contains("accept-encoding")
        );
    }
    // An ETag of another rendering is no match.
    let stale = view(&daemon, "/", &[("if-none-match", "W/\"0-0\"")]).await;
    assert_eq!(stale.status, 200);
}

/// The base plan with `count` checks on `healthy` and one, `broken`, on `failing`.
fn plan_with_many_checks(healthy: &str, failing: &str, count: usize) -> String {
    let mut plan = BASE_PLAN.to_string();
    for n in 0..count {
        let check = http_check(&format!("svc{n:03}"), healthy).every("1s", "500ms");
        plan.push_str(&check.to_string());
    }
    plan.push_str(
        &http_check("broken", failing)
            .named("Checkout API")
            .every("1s", "500ms")
            .to_string(),
    );
    plan
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_with_many_checks_folds_the_healthy_ones_with_a_count_and_shows_the_failing_one() {
    let healthy = Switchable::start(200).await;
    let failing = Switchable::start(503).await;
    let daemon = Daemon::start(&plan_with_many_checks(&healthy.url(), &failing.url(), 60)).await;
    let html = eventually(30, async || {
        let (_, html) = daemon.get_text("/").await;
        (html.contains(r#"data-check="broken" data-state="failing""#)
            && html.contains("60 healthy critical checks"))
        .then_some(html)
    })
    .await;
    let folded = html
        .find(r#"<details class="check-group" id="group-healthy-critical" data-count="60">"#)
        .expect("the healthy checks folded with their count");
    let broken = html
        .find(r#"id="check-broken""#)
        .expect("the failing check");
    assert!(
        broken < folded,
        "the failing check is shown before the fold"
    );
    assert!(!html[folded..].contains(r#"id="check-broken""#));
    assert!(html[folded..].contains(r#"id="check-svc000""#));
    assert!(html.contains("60 healthy, 1 failing, 0 unknown"));

    // In a browser: folded, opened by a click, still open after the live part is swapped in, and
    // accessible.
    let browser = Browser::start().await;
    browser.navigate(&daemon.at("/")).await;
    browser
        .wait_for(
            "the failing check in full",
            "return document.querySelector('#check-broken')?.checkVisibility() === true",
        )
        .await;
    let hidden = "return document.querySelector('#check-svc000')?.checkVisibility() === false";
    assert_eq!(browser.script(hidden).await, true);
    browser.click("#group-healthy-critical summary").await;
    browser
        .script("window.goliveSwaps = 0; new MutationObserver(() => window.goliveSwaps++).observe(document.querySelector('#live'), {childList: true}); return true")
        .await;
    browser
        .wait_for("a swap of the live part", "return window.goliveSwaps > 0")
        .await;
    assert_eq!(
        browser
            .script("return document.querySelector('#group-healthy-critical').open")
            .await,
        true,
        "the opened group closed when the live part was swapped"
    );
    let violations = browser.accessibility_violations().await;
    assert!(violations.is_empty(), "{violations:#?}");
    browser.close().await;
}
