//! A real browser for tests: headless Chromium (Debian `chromium`) behind chromedriver (Debian
//! `chromium-driver`), spoken to over the W3C WebDriver HTTP API with reqwest — no automation
//! crate. One session per [`Browser`]; the driver runs in its own process group so the browser goes
//! with it even when a test fails. Also axe-core for accessibility checks and the folder for
//! screenshots.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::helpers::eventually;

/// Where tests leave files for people to look at: `target/test-artifacts/`.
pub fn artifacts() -> PathBuf {
    let directory = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&directory).expect("create target/test-artifacts");
    directory
}

/// axe-core, the accessibility rules engine (pinned; scripts/test installs it, else this does).
const AXE_CORE: &str = "axe-core@4.14.1";

/// The source of axe-core's browser build, installed into `target/status-page-check/` with npm
/// when missing.
fn axe_source() -> String {
    let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/status-page-check");
    let script = folder.join("node_modules/axe-core/axe.min.js");
    if !script.exists() {
        std::fs::create_dir_all(&folder).expect("create target/status-page-check");
        let status = Command::new("npm")
            .args([
                "install",
                "--no-save",
                "--no-audit",
                "--no-fund",
                "--prefix",
            ])
            .arg(&folder)
            .arg(AXE_CORE)
            .status()
            .expect("run npm (Debian package npm) to install axe-core");
        assert!(status.success(), "npm install {AXE_CORE} failed");
    }
    std::fs::read_to_string(&script).expect("read axe.min.js")
}

/// How long a browser step may take before the test fails.
const BROWSER_WAIT: u64 = 30;

/// Headless Chromium behind chromedriver, spoken to over the W3C WebDriver HTTP API. One session.
pub struct Browser {
    driver: Option<Child>,
    profile: tempfile::TempDir,
    session: String,
    base: String,
    http: reqwest::Client,
}

impl Browser {
    pub async fn start() -> Browser {
        let profile = tempfile::tempdir().expect("browser profile dir");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("http client");
        let (driver, base) = start_driver(&http).await;
        let mut browser = Browser {
            driver: Some(driver),
            profile,
            session: String::new(),
            base,
            http,
        };
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--window-size=1280,1800",
        ]
        .iter()
        .map(|arg| arg.to_string())
        .chain([format!(
            "--user-data-dir={}",
            browser.profile.path().display()
        )])
        .collect::<Vec<_>>();
        let answer = browser
            .call(
                reqwest::Method::POST,
                "/session",
                json!({"capabilities": {"alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args},
                }}}),
            )
            .await
            .expect("a browser session");
        browser.session = answer["sessionId"]
            .as_str()
            .expect("session id")
            .to_string();
        browser
    }

    /// One WebDriver command; `Err` with the driver's error text.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> Result<Value, String> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if method != reqwest::Method::GET && method != reqwest::Method::DELETE {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|error| error.to_string())?;
        let status = response.status();
        let body: Value = response.json().await.map_err(|error| error.to_string())?;
        if status.is_success() {
            Ok(body["value"].clone())
        } else {
            Err(format!(
                "{}: {}",
                body["value"]["error"], body["value"]["message"]
            ))
        }
    }

    async fn session_call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> Result<Value, String> {
        self.call(method, &format!("/session/{}{path}", self.session), body)
            .await
    }

    pub async fn navigate(&self, url: &str) {
        self.session_call(reqwest::Method::POST, "/url", json!({"url": url}))
            .await
            .expect("navigate");
    }

    pub async fn script(&self, script: &str) -> Value {
        self.session_call(
            reqwest::Method::POST,
            "/execute/sync",
            json!({"script": script, "args": []}),
        )
        .await
        .unwrap_or_else(|error| panic!("script failed: {error}\n{script}"))
    }

    /// Waits until `script` returns true in the page.
    pub async fn wait_for(&self, what: &str, script: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(BROWSER_WAIT);
        while self.script(script).await != true {
            assert!(
                std::time::Instant::now() < deadline,
                "the page did not show {what} within {BROWSER_WAIT} s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Finds the element and does `action` to it, again if the live update replaced it meanwhile.
    async fn on_element(&self, selector: &str, action: &str, body: Value) {
        eventually(BROWSER_WAIT, async || {
            let found = self
                .session_call(
                    reqwest::Method::POST,
                    "/element",
                    json!({"using": "css selector", "value": selector}),
                )
                .await
                .ok()?;
            let id = found.as_object()?.values().next()?.as_str()?.to_string();
            self.session_call(
                reqwest::Method::POST,
                &format!("/element/{id}/{action}"),
                body.clone(),
            )
            .await
            .ok()
        })
        .await;
    }

    pub async fn click(&self, selector: &str) {
        self.on_element(selector, "click", json!({})).await;
    }

    pub async fn type_into(&self, selector: &str, text: &str) {
        self.on_element(selector, "value", json!({"text": text}))
            .await;
    }

    pub async fn set_size(&self, width: u32, height: u32) {
        self.session_call(
            reqwest::Method::POST,
            "/window/rect",
            json!({"width": width, "height": height}),
        )
        .await
        .expect("window size");
    }

    /// Runs axe-core in the page and returns its WCAG 2.1 A/AA violations as `rule: help (nodes)`.
    pub async fn accessibility_violations(&self) -> Vec<String> {
        let source = axe_source();
        let loaded = self
            .session_call(
                reqwest::Method::POST,
                "/execute/sync",
                json!({"script": format!("{source}\nreturn typeof window.axe;"), "args": []}),
            )
            .await
            .expect("load axe-core into the page");
        assert_eq!(loaded, "object", "axe-core did not load");
        let answer = self
            .session_call(
                reqwest::Method::POST,
                "/execute/async",
                json!({"script": r#"
                    const done = arguments[arguments.length - 1];
                    window.axe
                        .run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
                        .then(result => done(result.violations.map(v =>
                            v.id + ': ' + v.help + ' — ' + v.nodes.map(n => n.target.join(' ')).join(', '))))
                        .catch(error => done(['axe failed: ' + error]));
                "#, "args": []}),
            )
            .await
            .expect("run axe-core");
        answer
            .as_array()
            .map(|violations| {
                violations
                    .iter()
                    .map(|v| v.as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Saves a PNG of the viewport at `path` and returns the path.
    pub async fn screenshot(&self, path: &std::path::Path) -> PathBuf {
        let encoded = self
            .session_call(reqwest::Method::GET, "/screenshot", Value::Null)
            .await
            .expect("screenshot");
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().expect("base64 text"))
            .expect("base64 PNG");
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::write(path, png).expect("write screenshot");
        path.to_path_buf()
    }

    /// Ends the session (the browser quits), then the driver.
    pub async fn close(mut self) {
        let _ = self
            .session_call(reqwest::Method::DELETE, "", Value::Null)
            .await;
        self.stop_driver();
    }

    fn stop_driver(&mut self) {
        if let Some(mut driver) = self.driver.take() {
            // The whole group: the driver and any browser it started.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", driver.id())])
                .status();
            let _ = driver.kill();
            let _ = driver.wait();
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.stop_driver();
    }
}

/// Starts chromedriver on a free port and waits until it is ready. A port free when chosen can be
/// taken by a parallel test before chromedriver binds it; it then exits, and another port is tried.
async fn start_driver(http: &reqwest::Client) -> (Child, String) {
    for _ in 0..5 {
        let port = free_port();
        // Its own process group, so the browser it starts goes with it if the test fails.
        let mut driver = {
            use std::os::unix::process::CommandExt;
            Command::new("/usr/bin/chromedriver")
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .expect("start /usr/bin/chromedriver (Debian package chromium-driver)")
        };
        let base = format!("http://127.0.0.1:{port}");
        let deadline = std::time::Instant::now() + Duration::from_secs(BROWSER_WAIT);
        loop {
            let ready = match http.get(format!("{base}/status")).send().await {
                Ok(response) => response
                    .json::<Value>()
                    .await
                    .is_ok_and(|body| body["value"]["ready"] == true),
                Err(_) => false,
            };
            if ready {
                return (driver, base);
            }
            if driver.try_wait().ok().flatten().is_some() {
                break;
            }
            if std::time::Instant::now() > deadline {
                let _ = driver.kill();
                let _ = driver.wait();
                panic!("chromedriver not ready in {BROWSER_WAIT} s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    panic!("chromedriver exited at start five times (ports taken?)");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}
