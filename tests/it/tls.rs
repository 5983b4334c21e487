//! HTTPS served by golive itself (`[server] tls`): the API and `/healthz` over TLS with a client
//! that trusts the test CA, plain HTTP to the TLS port refused, and a renewed certificate served
//! after SIGHUP by the same process (a broken one refused, the old one served on). Also what a
//! missing certificate or a half-written `tls` table tells the operator.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::helpers::{self, BASE_PLAN, Daemon};

/// A test certificate authority whose certificates are written as PEM files, as an operator's
/// would be.
pub struct TestCa {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

/// A certificate written to disk: its files and its DER (to compare with what a client saw).
pub struct IssuedCertificate {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub der: Vec<u8>,
}

impl TestCa {
    pub fn new() -> TestCa {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "golive TLS test CA");
        let key = rcgen::KeyPair::generate().expect("ca key");
        let issuer = rcgen::CertifiedIssuer::self_signed(params, key).expect("ca");
        TestCa { issuer }
    }

    /// A leaf certificate for `names` (host names or IP addresses), written to `dir/{stem}.pem`
    /// (chain: leaf, then the CA) and `dir/{stem}.key`.
    pub fn issue(&self, dir: &Path, stem: &str, names: &[&str]) -> IssuedCertificate {
        let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
        let params = rcgen::CertificateParams::new(names).expect("leaf params");
        let key = rcgen::KeyPair::generate().expect("leaf key");
        let leaf = params.signed_by(&key, &self.issuer).expect("sign leaf");
        let cert = dir.join(format!("{stem}.pem"));
        let key_path = dir.join(format!("{stem}.key"));
        std::fs::write(&cert, format!("{}{}", leaf.pem(), self.issuer.pem())).expect("write cert");
        std::fs::write(&key_path, key.serialize_pem()).expect("write key");
        IssuedCertificate {
            cert,
            key: key_path,
            der: leaf.der().to_vec(),
        }
    }

    /// A client that trusts only this CA, opens a new connection for every request and never
    /// resumes a TLS session (a resumed session carries the certificate of its first handshake),
    /// so each request sees the certificate served at that moment; it keeps the peer certificate.
    pub fn client(&self) -> reqwest::ClientBuilder {
        use tokio_rustls::rustls;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.issuer.der().clone()).expect("trust the CA");
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_root_certificates(roots)
        .with_no_client_auth();
        config.resumption = rustls::client::Resumption::disabled();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        reqwest::Client::builder()
            .tls_backend_preconfigured(config)
            .tls_info(true)
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(20))
    }
}

/// The base plan with `line` added to its `[server]` table.
pub fn plan_with_server_line(line: &str) -> String {
    let listen = "listen = \"127.0.0.1:9898\"\n";
    assert!(BASE_PLAN.contains(listen));
    BASE_PLAN.replacen(listen, &format!("{listen}{line}\n"), 1)
}

/// The DER of the certificate the daemon served to a new connection.
async fn served_certificate(http: &reqwest::Client, url: &str) -> Vec<u8> {
    let response = http.get(url).send().await.expect("GET over https");
    assert_eq!(response.status(), 200);
    response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .expect("the peer certificate")
        .to_vec()
}

fn daemon_pid(dir: &Path) -> u64 {
    let text = std::fs::read_to_string(dir.join("data").join("daemon.json")).expect("daemon.json");
    let value: serde_json::Value = serde_json::from_str(&text).expect("daemon.json is JSON");
    value["pid"].as_u64().expect("pid")
}

/// Waits until the daemon's log says `text`; returns the log.
async fn wait_for_log(daemon: &Daemon, text: &str) -> String {
    for _ in 0..200 {
        let log = daemon.log();
        if log.contains(text) {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the log never said {text:?}: {}", daemon.log());
}

fn hang_up(pid: u64) {
    let status = std::process::Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golive_serves_https_and_a_renewed_certificate_after_sighup_without_a_restart() {
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = temp.path();
    let ca = TestCa::new();
    let first = ca.issue(dir, "first", &["localhost", "127.0.0.1"]);
    std::fs::copy(&first.cert, dir.join("cert.pem")).unwrap();
    std::fs::copy(&first.key, dir.join("key.pem")).unwrap();
    let plan = plan_with_server_line(r#"tls = { cert = "cert.pem", key = "key.pem" }"#);
    std::fs::write(dir.join("plan.toml"), plan).unwrap();
    let http = ca.client().build().expect("client");
    let daemon = Daemon::start_in_with_client(dir, &[], http.clone()).await;
    assert!(
        daemon.url.starts_with("https://127.0.0.1:"),
        "{}",
        daemon.url
    );

    // The API and /healthz answer over HTTPS with the plan's certificate.
    let healthz = daemon.at("/healthz");
    assert_eq!(served_certificate(&http, &healthz).await, first.der);
    let (status, plan) = daemon.get("/api/v1/plan").await;
    assert_eq!(status, 200, "{plan}");
    assert!(plan.to_string().contains("alice@example.com"));
    let (status, _) = daemon
        .post(
            "/api/v1/log",
            serde_json::json!({"kind": "note", "text": "written over https"}),
        )
        .await;
    assert_eq!(status, 201, "a write with the token works over https too");

    // Plain HTTP to the TLS port gets no answer.
    let plain = healthz.replacen("https://", "http://", 1);
    let answer = reqwest::Client::new().get(&plain).send().await;
    assert!(
        answer.is_err(),
        "plain HTTP must not be answered: {answer:?}"
    );

    let pid = daemon_pid(dir);
    // A renewed certificate whose key was not copied yet: refused, the old one is served on.
    let second = ca.issue(dir, "second", &["localhost", "127.0.0.1"]);
    std::fs::copy(&second.cert, dir.join("cert.pem")).unwrap();
    hang_up(pid);
    let log = wait_for_log(&daemon, "TLS certificate not reloaded").await;
    assert!(
        log.contains("tls.key") && log.contains("does not fit tls.cert"),
        "the log names the key to fix: {log}"
    );
    assert_eq!(served_certificate(&http, &healthz).await, first.der);

    // With its key in place, the next SIGHUP serves it: same process, new certificate.
    std::fs::copy(&second.key, dir.join("key.pem")).unwrap();
    hang_up(pid);
    wait_for_log(&daemon, "TLS certificate reloaded").await;
    assert_eq!(served_certificate(&http, &healthz).await, second.der);
    assert_eq!(daemon_pid(dir), pid, "no restart");
    let (status, _) = daemon.get("/api/v1/status").await;
    assert_eq!(status, 200);
}

#[test]
fn a_missing_certificate_file_stops_the_start_naming_the_key_and_the_file() {
    let temp = tempfile::tempdir().expect("temp dir");
    let plan = plan_with_server_line(r#"tls = { cert = "certs/missing.pem", key = "key.pem" }"#);
    std::fs::write(temp.path().join("plan.toml"), plan).unwrap();
    let (code, stdout, stderr) = helpers::cli(
        temp.path(),
        &["run", "plan.toml", "--listen", "127.0.0.1:0"],
    );
    assert_ne!(code, 0);
    let said = format!("{stdout}{stderr}");
    assert!(
        said.contains("[server] tls.cert") && said.contains("certs/missing.pem"),
        "{said}"
    );
}

#[test]
fn preflight_loads_the_certificate_and_a_missing_one_is_a_no_go_gap_naming_the_key() {
    let temp = tempfile::tempdir().expect("temp dir");
    let plan = plan_with_server_line(r#"tls = { cert = "certs/missing.pem", key = "key.pem" }"#);
    std::fs::write(temp.path().join("plan.toml"), plan).unwrap();
    let (code, stdout, stderr) = helpers::cli(temp.path(), &["preflight", "plan.toml"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stdout.contains("HTTPS: FAIL") && stdout.contains("certs/missing.pem"),
        "{stdout}"
    );
    assert!(stdout.contains("NO-GO:"), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|line| line.contains("- HTTPS:") && line.contains("(owner:")),
        "the missing certificate is a gap with an owner: {stdout}"
    );
}

#[test]
fn check_names_a_missing_tls_key_and_an_allowed_host_that_is_a_url() {
    let temp = tempfile::tempdir().expect("temp dir");
    let plan = plan_with_server_line(
        "tls = { cert = \"cert.pem\" }\nallowed_hosts = [\"https://golive.example.com/\"]",
    );
    std::fs::write(temp.path().join("plan.toml"), plan).unwrap();
    let (code, stdout, stderr) = helpers::cli(temp.path(), &["check", "plan.toml"]);
    assert_ne!(code, 0);
    let said = format!("{stdout}{stderr}");
    assert!(said.contains("server.tls.key"), "{said}");
    assert!(said.contains("server.allowed_hosts[0]"), "{said}");
    assert!(said.contains("not a host name"), "{said}");
}
