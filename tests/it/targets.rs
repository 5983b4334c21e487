//! Loopback targets that misbehave the way real services do (slow, 5xx, resets, hangs, redirect
//! loops, bad certificates), a `/metrics` endpoint the test drives, and a real Prometheus.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::rustls;

/// What a target does with one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Answers with a status, a content type and a body after `delay`.
    Respond {
        status: u16,
        content_type: &'static str,
        body: String,
        delay: Duration,
        location: Option<String>,
    },
    /// Closes the connection with a TCP reset (SO_LINGER 0) instead of answering.
    Reset,
    /// Reads the request and never answers.
    Hang,
}

impl Reply {
    pub fn ok(body: impl Into<String>) -> Reply {
        Reply::status(200, body)
    }

    pub fn status(status: u16, body: impl Into<String>) -> Reply {
        Reply::Respond {
            status,
            content_type: "text/plain",
            body: body.into(),
            delay: Duration::ZERO,
            location: None,
        }
    }

    pub fn json(body: serde_json::Value) -> Reply {
        Reply::Respond {
            status: 200,
            content_type: "application/json",
            body: body.to_string(),
            delay: Duration::ZERO,
            location: None,
        }
    }

    pub fn slow(delay: Duration) -> Reply {
        Reply::Respond {
            status: 200,
            content_type: "text/plain",
            body: "ok".to_string(),
            delay,
            location: None,
        }
    }

    pub fn redirect(location: &str) -> Reply {
        Reply::Respond {
            status: 302,
            content_type: "text/plain",
            body: String::new(),
            delay: Duration::ZERO,
            location: Some(location.to_string()),
        }
    }
}

type Handler = Arc<dyn Fn(&str) -> Reply + Send + Sync>;

/// A running loopback target; stops when dropped.
pub struct Target {
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Target {
    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `https://localhost:PORT{path}` (the certificates are made for `localhost`).
    pub fn https_url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    /// How many TCP connections the target has accepted.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves plain HTTP/1.1 (keep-alive) with `handler` choosing the reply for each request path.
pub async fn serve(handler: impl Fn(&str) -> Reply + Send + Sync + 'static) -> Target {
    start(Arc::new(handler), None).await
}

/// Serves HTTPS with `tls`, otherwise as [`serve`].
pub async fn serve_tls(
    tls: Arc<rustls::ServerConfig>,
    handler: impl Fn(&str) -> Reply + Send + Sync + 'static,
) -> Target {
    start(
        Arc::new(handler),
        Some(tokio_rustls::TlsAcceptor::from(tls)),
    )
    .await
}

/// A target that accepts connections and never reads or answers.
pub async fn accept_and_hang() -> Target {
    serve(|_| Reply::Hang).await
}

/// An address nothing listens on.
pub async fn refused_address() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    addr
}

async fn start(handler: Handler, tls: Option<tokio_rustls::TlsAcceptor>) -> Target {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let handler = handler.clone();
            let tls = tls.clone();
            connections.spawn(async move {
                match tls {
                    None => connection(stream, handler).await,
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(stream).await {
                            connection(stream, handler).await;
                        }
                    }
                }
            });
        }
    });
    Target {
        addr,
        accepted,
        task,
    }
}

/// Answers requests on one connection until the client closes it.
async fn connection<S>(mut stream: S, handler: Handler)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + LingerZero,
{
    loop {
        let Some(path) = read_request(&mut stream).await else {
            return;
        };
        match handler(&path) {
            Reply::Hang => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return;
            }
            Reply::Reset => {
                stream.linger_zero();
                return;
            }
            Reply::Respond {
                status,
                content_type,
                body,
                delay,
                location,
            } => {
                tokio::time::sleep(delay).await;
                let location = location
                    .map(|to| format!("location: {to}\r\n"))
                    .unwrap_or_default();
                let head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n{location}\r\n",
                    body.len()
                );
                if stream.write_all(head.as_bytes()).await.is_err()
                    || stream.write_all(body.as_bytes()).await.is_err()
                    || stream.flush().await.is_err()
                {
                    return;
                }
            }
        }
    }
}

/// Reads one request head (and its body, if it has a content-length); returns the path.
async fn read_request<S: AsyncRead + Unpin>(stream: &mut S) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await.ok()?;
    head.split_whitespace().nth(1).map(str::to_string)
}

/// Closing with a reset needs the TCP socket under a TLS stream too.
pub trait LingerZero {
    fn linger_zero(&self);
}

impl LingerZero for TcpStream {
    fn linger_zero(&self) {
        let _ = self.set_zero_linger();
    }
}

impl LingerZero for tokio_rustls::server::TlsStream<TcpStream> {
    fn linger_zero(&self) {
        let _ = self.get_ref().0.set_zero_linger();
    }
}

/// A `/metrics` page whose text the test sets.
pub struct MetricsTarget {
    pub target: Target,
    page: Arc<Mutex<String>>,
}

impl MetricsTarget {
    pub async fn start(page: &str) -> MetricsTarget {
        let page = Arc::new(Mutex::new(page.to_string()));
        let shared = page.clone();
        let target = serve(move |_| {
            let text = shared.lock().expect("page").clone();
            Reply::Respond {
                status: 200,
                content_type: "text/plain; version=0.0.4",
                body: text,
                delay: Duration::ZERO,
                location: None,
            }
        })
        .await;
        MetricsTarget { target, page }
    }

    pub fn set(&self, page: &str) {
        *self.page.lock().expect("page") = page.to_string();
    }
}

/// Certificates made for the test: a private CA and leaves it signs.
pub struct Certificates {
    ca: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl Certificates {
    pub fn new() -> Certificates {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "golive test CA");
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let key = rcgen::KeyPair::generate().expect("ca key");
        let ca = rcgen::CertifiedIssuer::self_signed(params, key).expect("ca");
        Certificates { ca }
    }

    /// Writes the CA certificate as PEM into `dir` and returns its path (for `ca_file`).
    pub fn write_ca(&self, dir: &Path) -> PathBuf {
        let path = dir.join("ca.pem");
        std::fs::write(&path, self.ca.pem()).expect("write ca");
        path
    }

    /// A server config with a leaf for `name`, signed by the CA, valid until `not_after`
    /// (`(year, month, day)`), or until 4096 when `None`.
    pub fn signed(
        &self,
        name: &str,
        not_after: Option<(i32, u8, u8)>,
    ) -> Arc<rustls::ServerConfig> {
        let mut params = rcgen::CertificateParams::new(vec![name.to_string()]).expect("params");
        if let Some((year, month, day)) = not_after {
            params.not_before = rcgen::date_time_ymd(2019, 1, 1);
            params.not_after = rcgen::date_time_ymd(year, month, day);
        }
        let key = rcgen::KeyPair::generate().expect("key");
        let leaf = params.signed_by(&key, &self.ca).expect("sign");
        server_config(vec![leaf.der().clone(), self.ca.der().clone()], &key)
    }

    /// A server config with a self-signed certificate for `localhost`.
    pub fn self_signed() -> Arc<rustls::ServerConfig> {
        let key = rcgen::KeyPair::generate().expect("key");
        let leaf = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .expect("params")
            .self_signed(&key)
            .expect("self-signed");
        server_config(vec![leaf.der().clone()], &key)
    }
}

fn server_config(
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: &rcgen::KeyPair,
) -> Arc<rustls::ServerConfig> {
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocols")
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .expect("server config");
    Arc::new(config)
}

/// A real Prometheus on a free loopback port, scraping `target` every second. Stops when dropped.
pub struct Prometheus {
    pub url: String,
    child: Option<Child>,
    _storage: tempfile::TempDir,
}

impl Prometheus {
    pub async fn start(target: SocketAddr) -> Prometheus {
        Prometheus::start_with(
            &format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ['{target}']\n"
            ),
            &[],
        )
        .await
    }

    /// A Prometheus with the configuration `config`; `files` (name, text) are written beside it
    /// first, so the configuration can name them (`rule_files: [rules.yml]`).
    pub async fn start_with(config: &str, files: &[(&str, &str)]) -> Prometheus {
        let binary = "/usr/bin/prometheus";
        assert!(
            Path::new(binary).exists(),
            "{binary} is missing: run scripts/test, or apt-get install prometheus"
        );
        let storage = tempfile::tempdir().expect("temp dir");
        for (name, text) in files {
            std::fs::write(storage.path().join(name), text).expect("write file");
        }
        let config_text = config;
        let config = storage.path().join("prometheus.yml");
        std::fs::write(&config, config_text).expect("write config");
        let (port, child) = crate::helpers::start_ready_server("prometheus", |port| {
            Command::new(binary)
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    storage.path().join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start prometheus")
        })
        .await;
        Prometheus {
            url: format!("http://127.0.0.1:{port}"),
            child: Some(child),
            _storage: storage,
        }
    }

    /// Waits until `query` returns at least one series.
    pub async fn wait_for(&self, query: &str) {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let answer = http
                .get(format!("{}/api/v1/query", self.url))
                .query(&[("query", query)])
                .send()
                .await;
            if let Ok(response) = answer
                && let Ok(value) = response.json::<serde_json::Value>().await
                && value["data"]["result"]
                    .as_array()
                    .is_some_and(|result| !result.is_empty())
            {
                return;
            }
            assert!(Instant::now() < deadline, "no data for {query} in 30 s");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Stops Prometheus and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.stop();
    }
}
