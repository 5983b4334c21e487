//! Reaching golive from off the launch host: behind Debian's nginx terminating TLS (the status
//! page, an API read, an acknowledgement link from an email, all on the `https` public URL), and
//! only by the names it serves, so a web page using DNS rebinding cannot read the plan.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use reqwest::header::HOST;

use crate::helpers::{BASE_PLAN, Daemon, TOKEN, eventually};
use crate::plans::{http_check, page_policy};
use crate::targets::refused_address;
use crate::tls::{TestCa, plan_with_server_line};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_on_another_name_cannot_read_the_plan_through_dns_rebinding() {
    let daemon = Daemon::start(BASE_PLAN).await;
    for path in ["/api/v1/plan", "/", "/healthz", "/metrics"] {
        let response = daemon
            .http
            .get(daemon.at(path))
            .header(HOST, "rebind.evil.example:9898")
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status(), 421, "{path}");
        let body = response.text().await.expect("body");
        assert!(!body.contains("alice@example.com"), "{path}: {body}");
        assert!(
            body.contains("rebind.evil.example") && body.contains("[server] allowed_hosts"),
            "{path}: the answer names the host and the key to set: {body}"
        );
    }
    // Its own address is still answered.
    let (status, plan) = daemon.get("/api/v1/plan").await;
    assert_eq!(status, 200);
    assert!(plan.to_string().contains("alice@example.com"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localhost_the_public_url_host_and_allowed_hosts_are_answered() {
    let plan = format!(
        "{}\n[alerting]\npublic_url = \"https://launch.example.com\"\n",
        plan_with_server_line(r#"allowed_hosts = ["golive.internal"]"#)
    );
    let daemon = Daemon::start(&plan).await;
    let port = daemon.url.rsplit(':').next().expect("port").to_string();
    for host in [
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
        "launch.example.com".to_string(),
        format!("Golive.Internal:{port}"),
    ] {
        let response = daemon
            .http
            .get(daemon.at("/api/v1/plan"))
            .header(HOST, &host)
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status(), 200, "{host}");
    }
    let response = daemon
        .http
        .get(daemon.at("/api/v1/plan"))
        .header(HOST, "golive.internal.evil.example")
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 421);
}

/// nginx in the foreground with its own prefix in `dir`, terminating TLS on `port` and
/// proxying to `upstream` as docs/operations.md shows; stopped when dropped.
struct Nginx(Child);

impl Nginx {
    fn start(dir: &Path, port: u16, upstream: &str, cert: &Path, key: &Path) -> Nginx {
        let prefix = dir.join("nginx");
        std::fs::create_dir_all(prefix.join("logs")).expect("nginx folder");
        let config = format!(
            r#"
daemon off;
master_process off;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log info;
events {{}}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name golive.test;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        location / {{
            proxy_pass {upstream};
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_buffering off;
        }}
    }}
}}
"#,
            prefix = prefix.display(),
            cert = cert.display(),
            key = key.display(),
        );
        let config_path = prefix.join("nginx.conf");
        std::fs::write(&config_path, config).expect("nginx.conf");
        let child = Command::new("/usr/sbin/nginx")
            .arg("-p")
            .arg(&prefix)
            .arg("-c")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx (Debian's nginx-light, installed by scripts/test)");
        Nginx(child)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The first acknowledgement link in the emails golive wrote to its outbox folder.
fn ack_link_in_outbox(outbox: &Path) -> Option<String> {
    let mut paths: Vec<_> = std::fs::read_dir(outbox)
        .ok()?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
        .collect();
    paths.sort();
    paths.iter().find_map(|path| {
        let bytes = std::fs::read(path).ok()?;
        let message = mail_parser::MessageParser::default().parse(&bytes)?;
        let text = message.body_text(0)?.into_owned();
        text.split_whitespace()
            .find(|word| word.contains("/ack/"))
            .map(str::to_string)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_nginx_on_https_the_status_page_the_api_and_an_ack_link_work() {
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = temp.path();
    let ca = TestCa::new();
    let certificate = ca.issue(dir, "golive.test", &["golive.test"]);
    let proxy_address = refused_address().await;
    let public_url = format!("https://golive.test:{}", proxy_address.port());
    // A failing check pages bob by email (written to the outbox: no [smtp]), with an ack link.
    let plan = format!(
        "{BASE_PLAN}{}\n[[channels]]\nid = \"email\"\nkind = \"email\"\n{}",
        http_check("web", &format!("http://{}/", refused_address().await)),
        page_policy()
            .level("0s", &["bob"], &["email"])
            .alerting(&format!("public_url = \"{public_url}\"")),
    );
    std::fs::write(dir.join("plan.toml"), plan).expect("plan");
    let daemon = Daemon::start_in(dir).await;
    let _nginx = Nginx::start(
        dir,
        proxy_address.port(),
        &daemon.url,
        &certificate.cert,
        &certificate.key,
    );
    let http = ca
        .client()
        .resolve("golive.test", proxy_address)
        .build()
        .expect("client");
    let at = |path: &str| format!("{public_url}{path}");

    // nginx is up once the status page answers through it.
    let page = eventually(20, async || {
        let response = http.get(at("/")).send().await.ok()?;
        (response.status() == 200).then_some(response.text().await.ok()?)
    })
    .await;
    assert!(page.contains("Test shop"), "{page}");

    let response = http
        .get(at("/api/v1/plan"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("API read through nginx");
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("alice@example.com"));

    // X-Forwarded-* headers are not a credential: a write without a token is refused.
    let response = http
        .post(at("/api/v1/log"))
        .header("X-Forwarded-For", "127.0.0.1")
        .json(&serde_json::json!({"kind": "note", "text": "no token"}))
        .send()
        .await
        .expect("POST through nginx");
    assert_eq!(response.status(), 401);

    // The page's link points at the public https URL and works through the proxy.
    let outbox = dir.join("data").join("outbox");
    let link = eventually(20, async || ack_link_in_outbox(&outbox)).await;
    assert!(
        link.starts_with(&format!("{public_url}/ack/")),
        "the link uses public_url: {link}"
    );
    let response = http.get(&link).send().await.expect("GET ack page");
    assert_eq!(response.status(), 200);
    let response = http.post(&link).send().await.expect("POST ack");
    assert_eq!(response.status(), 200);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("acknowledged by Bob Berg")
    );
}
