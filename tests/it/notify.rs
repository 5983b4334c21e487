//! The notification senders against real servers: aiosmtpd (plain, STARTTLS, AUTH, temporary
//! refusals), an HTTP receiver that records webhook requests, and a real Alertmanager.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use golive::core::message::GoliveBody;
use golive::notify::{
    AlertmanagerForwarder, DeliveryError, EmailTransport, ForwardedAlert, InlineImage,
    OutgoingEmail, WebhookMessage, WebhookSender,
};
use golive::plan::SecretSource;
use golive::plan::alerting::{MaybeSecret, Smtp, SmtpTls, WebhookChannel, WebhookFormat};
use hmac::{KeyInit, Mac};
use jiff::Timestamp;
use serde_json::json;

use crate::smtp::{Mailbox, ParsedEmail, SmtpOptions, SmtpServer};
use crate::targets::refused_address;

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR fake chart bytes";
const PASSWORD: &str = "correct horse battery staple";

/// When the emails are sent, from the daemon's clock (here a fixed time, as a demo clock might
/// read): their `Date` header and outbox file names show it, not the wall clock.
fn sent_at() -> Timestamp {
    "2030-05-01T19:45:00.250Z".parse().expect("timestamp")
}

/// An alert email with every header and part golive uses.
fn alert_email() -> OutgoingEmail {
    OutgoingEmail {
        to: vec![
            (Some("Bob Berg".to_string()), "bob@example.com".to_string()),
            (None, "oncall@example.com".to_string()),
        ],
        subject: "[critical] checkout failing — Grüße".to_string(),
        text: "checkout failed 3 times\nAcknowledge: https://golive.test/ack/abc".to_string(),
        html: Some(
            "<p>checkout failed 3 times</p><img src=\"cid:chart-1@golive.test\" alt=\"chart\">"
                .to_string(),
        ),
        message_id: "alert-12.3@golive.test".to_string(),
        in_reply_to: Some("alert-12.1@golive.test".to_string()),
        references: vec![
            "alert-12.1@golive.test".to_string(),
            "alert-12.2@golive.test".to_string(),
        ],
        inline_images: vec![InlineImage {
            content_id: "chart-1@golive.test".to_string(),
            content_type: "image/png".to_string(),
            bytes: PNG.to_vec(),
        }],
        calendar: None,
    }
}

fn text_email(message_id: &str) -> OutgoingEmail {
    OutgoingEmail {
        to: vec![(None, "carol@example.com".to_string())],
        subject: "Daily report".to_string(),
        text: "all good".to_string(),
        html: None,
        message_id: message_id.to_string(),
        in_reply_to: None,
        references: Vec::new(),
        inline_images: Vec::new(),
        calendar: None,
    }
}

fn smtp_config(server: &SmtpServer, tls: SmtpTls) -> Smtp {
    Smtp {
        host: server.host.clone(),
        port: server.port,
        tls,
        username: None,
        password: None,
        from: "golive <golive@shop.example>".to_string(),
        helo: None,
        timeout: Duration::from_secs(5),
    }
}

/// An SMTP config that logs in as `golive` with `password`, read from a file in `dir`.
fn smtp_with_login(server: &SmtpServer, dir: &Path, password: &str) -> Smtp {
    let password_file = dir.join("smtp-password");
    std::fs::write(&password_file, format!("{password}\n")).expect("write password");
    Smtp {
        username: Some("golive".to_string()),
        password: Some(SecretSource::File(password_file)),
        helo: Some("golive-test.example".to_string()),
        ..smtp_config(server, SmtpTls::StartTls)
    }
}

/// A transport to `server` that trusts the CA of its test certificate.
fn trusting(server: &SmtpServer, smtp: &Smtp) -> EmailTransport {
    EmailTransport::new(Some(smtp), Path::new("/nonexistent-outbox"))
        .with_root_certificates(server.ca_pem().expect("ca").as_bytes())
}

/// The headers and parts every alert email carries, wherever it was delivered.
fn assert_alert_email(email: &ParsedEmail, from: &str) {
    assert_eq!(email.from.len(), 1);
    assert_eq!(email.from[0].address, from);
    assert_eq!(
        email.to,
        vec![
            Mailbox {
                name: Some("Bob Berg".to_string()),
                address: "bob@example.com".to_string()
            },
            Mailbox {
                name: None,
                address: "oncall@example.com".to_string()
            },
        ]
    );
    assert_eq!(email.subject, "[critical] checkout failing — Grüße");
    assert_eq!(email.message_id.as_deref(), Some("alert-12.3@golive.test"));
    assert_eq!(email.in_reply_to, ["alert-12.1@golive.test"]);
    assert_eq!(
        email.references,
        ["alert-12.1@golive.test", "alert-12.2@golive.test"]
    );
    assert_eq!(email.header("Message-ID"), Some("<alert-12.3@golive.test>"));
    assert_eq!(
        email.header("Date"),
        Some("Wed, 01 May 2030 19:45:00 +0000")
    );
    assert_eq!(email.content_type, "multipart/alternative");
    assert!(
        email
            .text
            .as_deref()
            .is_some_and(|text| text.contains("Acknowledge: https://golive.test/ack/abc")),
        "{:?}",
        email.text
    );
    let html = email.html.as_deref().expect("html part");
    assert!(html.contains("cid:chart-1@golive.test"), "{html}");
    assert!(
        email.part("multipart/related").is_some(),
        "{:?}",
        email.parts
    );
    let image = email.part("image/png").expect("inline image");
    assert_eq!(image.content_id.as_deref(), Some("chart-1@golive.test"));
    assert_eq!(image.disposition.as_deref(), Some("inline"));
    assert_eq!(image.body, PNG);
}

#[tokio::test]
async fn email_over_starttls_with_login_arrives_with_threading_headers_and_inline_images() {
    let server = SmtpServer::start(SmtpOptions::starttls().with_auth("golive", PASSWORD)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let transport = trusting(&server, &smtp_with_login(&server, dir.path(), PASSWORD));

    let delivered = transport
        .send(&alert_email(), sent_at())
        .await
        .expect("delivered");
    assert!(delivered.answer.starts_with("250"), "{}", delivered.answer);

    let messages = server.wait_for(1, Duration::from_secs(10)).await;
    let message = &messages[0];
    assert!(message.tls, "sent before STARTTLS");
    assert_eq!(message.login.as_deref(), Some("golive"));
    assert_eq!(message.helo, "golive-test.example");
    assert_eq!(message.mail_from, "golive@shop.example");
    assert_eq!(
        message.recipients,
        ["bob@example.com", "oncall@example.com"]
    );
    assert_alert_email(&message.email, "golive@shop.example");
    assert_eq!(message.email.from[0].name.as_deref(), Some("golive"));
    assert_eq!(
        transport.describe(),
        format!("smtp 127.0.0.1:{} (starttls)", server.port)
    );
}

#[tokio::test]
async fn a_wrong_smtp_password_fails_permanently_with_the_servers_reply() {
    let server = SmtpServer::start(SmtpOptions::starttls().with_auth("golive", PASSWORD)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let transport = trusting(
        &server,
        &smtp_with_login(&server, dir.path(), "not-the-password"),
    );

    let error = transport
        .send(&alert_email(), sent_at())
        .await
        .expect_err("refused");
    assert!(matches!(error, DeliveryError::Permanent(_)), "{error:?}");
    let text = error.to_string();
    assert!(text.contains("535"), "{text}");
    assert!(
        text.contains("Authentication credentials invalid"),
        "{text}"
    );
    assert!(!text.contains("not-the-password"), "{text}");

    let error = transport.test_connection().await.expect_err("refused");
    assert!(!error.is_retryable(), "{error}");
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn a_connection_test_logs_in_without_sending_anything() {
    let server = SmtpServer::start(SmtpOptions::starttls().with_auth("golive", PASSWORD)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = std::fs::read(server.ca_file().expect("ca file")).expect("read ca");
    let transport = EmailTransport::new(
        Some(&smtp_with_login(&server, dir.path(), PASSWORD)),
        Path::new("/nonexistent-outbox"),
    )
    .with_root_certificates(&ca);

    let answer = transport.test_connection().await.expect("connected");
    assert!(answer.answer.contains("accepted"), "{}", answer.answer);
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn an_smtp_certificate_from_an_unknown_ca_is_a_retryable_tls_error() {
    let server = SmtpServer::start(SmtpOptions::starttls()).await;
    let transport = EmailTransport::new(
        Some(&smtp_config(&server, SmtpTls::StartTls)),
        Path::new("/nonexistent-outbox"),
    );

    let error = transport
        .send(&text_email("tls@golive.test"), sent_at())
        .await
        .expect_err("untrusted");
    assert!(error.is_retryable(), "{error}");
    let text = error.to_string();
    assert!(text.contains("tls handshake failed"), "{text}");
    assert!(text.contains("UnknownIssuer"), "{text}");
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn an_smtp_server_that_is_down_is_a_retryable_error() {
    let mut server = SmtpServer::start(SmtpOptions::plain()).await;
    server.stop();
    let transport = EmailTransport::new(
        Some(&smtp_config(&server, SmtpTls::None)),
        Path::new("/nonexistent-outbox"),
    );

    let error = transport
        .send(&text_email("down@golive.test"), sent_at())
        .await
        .expect_err("down");
    assert!(error.is_retryable(), "{error}");
    assert!(
        error
            .to_string()
            .contains(&format!("127.0.0.1:{}", server.port)),
        "{error}"
    );
}

#[tokio::test]
async fn a_temporary_smtp_refusal_is_retryable_and_a_later_attempt_is_delivered() {
    let server = SmtpServer::start(SmtpOptions::plain()).await;
    let transport = EmailTransport::new(
        Some(&smtp_config(&server, SmtpTls::None)),
        Path::new("/nonexistent-outbox"),
    );

    server.refuse_with("451 4.7.1 Greylisted, please try again later");
    let error = transport
        .send(&text_email("grey@golive.test"), sent_at())
        .await
        .expect_err("refused");
    assert!(error.is_retryable(), "{error}");
    assert!(error.to_string().contains("451"), "{error}");
    assert!(error.to_string().contains("Greylisted"), "{error}");

    server.refuse_with("421 4.3.2 Service shutting down");
    let error = transport
        .send(&text_email("grey@golive.test"), sent_at())
        .await
        .expect_err("refused");
    assert!(error.is_retryable(), "{error}");
    assert!(error.to_string().contains("421"), "{error}");

    server.accept();
    transport
        .send(&text_email("grey@golive.test"), sent_at())
        .await
        .expect("delivered");
    assert_eq!(server.wait_for(1, Duration::from_secs(10)).await.len(), 1);
}

#[tokio::test]
async fn plain_smtp_delivers_a_text_only_email_introduced_with_the_host_name() {
    let server = SmtpServer::start(SmtpOptions::plain()).await;
    let transport = EmailTransport::new(
        Some(&smtp_config(&server, SmtpTls::None)),
        Path::new("/nonexistent-outbox"),
    );

    transport
        .send(&text_email("report-1@golive.test"), sent_at())
        .await
        .expect("delivered");

    let messages = server.wait_for(1, Duration::from_secs(10)).await;
    let message = &messages[0];
    assert!(!message.tls);
    assert_eq!(message.login, None);
    assert_eq!(message.recipients, ["carol@example.com"]);
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("host name");
    assert_eq!(message.helo, host_name.trim());
    assert_eq!(message.email.content_type, "text/plain");
    assert_eq!(
        message.email.text.as_deref().map(str::trim),
        Some("all good")
    );
    assert_eq!(message.email.html, None);
    assert_eq!(
        message.email.message_id.as_deref(),
        Some("report-1@golive.test")
    );
}

#[tokio::test]
async fn without_smtp_each_email_becomes_a_parseable_eml_file_in_the_outbox_folder() {
    let dir = tempfile::tempdir().expect("temp dir");
    let outbox = dir.path().join("data").join("outbox");
    let transport = EmailTransport::new(None, &outbox);
    assert_eq!(
        transport.describe(),
        format!("outbox folder {}", outbox.display())
    );

    let first = transport
        .send(&alert_email(), sent_at())
        .await
        .expect("written");
    // The same message twice (a retry) must not overwrite the first file.
    let second = transport
        .send(&alert_email(), sent_at())
        .await
        .expect("written");
    assert_ne!(first.answer, second.answer);

    let mut names: Vec<String> = std::fs::read_dir(&outbox)
        .expect("outbox")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    assert_eq!(names.len(), 2, "{names:?}");
    for name in &names {
        // Named after the time it was sent (the second one gets `-2`: same time, same message).
        assert!(
            name.starts_with("20300501T194500.250Z-alert-12.3@golive.test"),
            "{name}"
        );
        assert!(name.ends_with(".eml"), "{name}");
        let path = outbox.join(name);
        assert!(first.answer.contains(name) || second.answer.contains(name));
        let email = ParsedEmail::parse(&std::fs::read(path).expect("eml"));
        assert_alert_email(&email, "golive@localhost");
        assert!(email.raw.ends_with(b"\r\n"), "not CRLF-terminated");
    }
}

/// One request a [`Receiver`] got.
#[derive(Debug, Clone)]
struct Recorded {
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// An HTTP receiver that records every request: `/hang` never answers, `/fail` answers 500,
/// `/gone/...` 404, anything else 200.
struct Receiver {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start() -> Receiver {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorder = requests.clone();
        let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
            let recorder = recorder.clone();
            async move {
                recorder.lock().expect("requests").push(Recorded {
                    path: uri.path().to_string(),
                    headers,
                    body: body.to_vec(),
                });
                match uri.path() {
                    "/hang" => {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        (StatusCode::OK, String::new())
                    }
                    "/fail" => (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        format!("database is down {}", "x".repeat(400)),
                    ),
                    path if path.starts_with("/gone/") => {
                        (StatusCode::NOT_FOUND, "no_such_hook".to_string())
                    }
                    _ => (StatusCode::OK, "ok".to_string()),
                }
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            addr,
            requests,
            task,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().expect("requests").clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn webhook(url: MaybeSecret, format: WebhookFormat) -> WebhookChannel {
    WebhookChannel {
        url,
        format,
        headers: Vec::new(),
        hmac_secret: None,
        hmac_header: "X-Golive-Signature".to_string(),
        timeout: Duration::from_secs(5),
    }
}

fn message() -> WebhookMessage {
    WebhookMessage {
        text: "🔴 checkout failing since 15:48 (critical)".to_string(),
        json: GoliveBody::from_value(
            json!({"alert": {"check": "checkout", "severity": "critical", "level": 1}}),
        ),
    }
}

#[tokio::test]
async fn a_slack_webhook_posts_the_text_with_the_configured_headers() {
    let receiver = Receiver::start().await;
    let mut channel = webhook(
        MaybeSecret::Plain(receiver.url("/hooks/chat")),
        WebhookFormat::Slack,
    );
    channel.headers = vec![("X-Team".to_string(), "shop".to_string())];
    let sender = WebhookSender::new(&channel, reqwest::Client::new());

    let delivered = sender
        .send(&message(), jiff::Timestamp::now())
        .await
        .expect("delivered");
    assert_eq!(delivered.answer, "HTTP 200");

    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.path, "/hooks/chat");
    assert_eq!(request.headers["content-type"], "application/json");
    assert_eq!(request.headers["x-team"], "shop");
    assert!(request.headers.get("x-golive-signature").is_none());
    let body: serde_json::Value = serde_json::from_slice(&request.body).expect("json");
    assert_eq!(
        body,
        json!({"text": "🔴 checkout failing since 15:48 (critical)"})
    );
}

#[tokio::test]
async fn a_golive_webhook_posts_the_alert_json_signed_with_hmac_sha256() {
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let url_file = dir.path().join("webhook-url");
    std::fs::write(&url_file, receiver.url("/hooks/golive")).expect("write url");
    let key_file = dir.path().join("webhook-key");
    std::fs::write(&key_file, "s3cret-signing-key\n").expect("write key");
    let mut channel = webhook(
        MaybeSecret::Secret(SecretSource::File(url_file)),
        WebhookFormat::Golive,
    );
    channel.hmac_secret = Some(SecretSource::File(key_file));
    channel.hmac_header = "X-Hub-Signature-256".to_string();
    let sender = WebhookSender::new(&channel, reqwest::Client::new());

    sender
        .send(&message(), jiff::Timestamp::now())
        .await
        .expect("delivered");

    let request = receiver.requests().pop().expect("a request");
    let body: serde_json::Value = serde_json::from_slice(&request.body).expect("json");
    assert_eq!(body, message().json.to_value().expect("json"));
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"s3cret-signing-key").expect("key");
    mac.update(&request.body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    assert_eq!(
        request.headers["x-hub-signature-256"],
        format!("sha256={expected}").as_str()
    );
}

#[tokio::test]
async fn a_webhook_answering_500_is_retryable_with_the_status_and_a_short_excerpt() {
    let receiver = Receiver::start().await;
    let sender = WebhookSender::new(
        &webhook(
            MaybeSecret::Plain(receiver.url("/fail")),
            WebhookFormat::Slack,
        ),
        reqwest::Client::new(),
    );

    let error = sender
        .send(&message(), jiff::Timestamp::now())
        .await
        .expect_err("500");
    assert!(error.is_retryable(), "{error}");
    let text = error.to_string();
    assert!(text.starts_with("HTTP 500: database is down"), "{text}");
    assert!(text.chars().count() <= "HTTP 500: ".len() + 200, "{text}");
}

#[tokio::test]
async fn a_webhook_answering_404_is_permanent_and_never_shows_the_url() {
    let receiver = Receiver::start().await;
    let sender = WebhookSender::new(
        &webhook(
            MaybeSecret::Plain(receiver.url("/gone/T0KEN-in-the-path")),
            WebhookFormat::Slack,
        ),
        reqwest::Client::new(),
    );

    let error = sender
        .send(&message(), jiff::Timestamp::now())
        .await
        .expect_err("404");
    assert_eq!(
        error,
        DeliveryError::Permanent("HTTP 404: no_such_hook".to_string())
    );
    assert!(!sender.describe().contains("T0KEN"));
}

#[tokio::test]
async fn a_hanging_webhook_is_a_retryable_timeout_within_the_channel_timeout() {
    let receiver = Receiver::start().await;
    let mut channel = webhook(
        MaybeSecret::Plain(receiver.url("/hang")),
        WebhookFormat::Slack,
    );
    channel.timeout = Duration::from_millis(300);
    let sender = WebhookSender::new(&channel, reqwest::Client::new());

    let started = Instant::now();
    let error = sender
        .send(&message(), jiff::Timestamp::now())
        .await
        .expect_err("timeout");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        error,
        DeliveryError::Retryable("timeout after 300 ms".to_string())
    );
}

#[tokio::test]
async fn a_webhook_whose_url_cannot_be_reached_is_retryable() {
    let addr = refused_address().await;
    let sender = WebhookSender::new(
        &webhook(
            MaybeSecret::Plain(format!("http://{addr}/hooks/T0KEN")),
            WebhookFormat::Slack,
        ),
        reqwest::Client::new(),
    );

    let error = sender
        .send(&message(), jiff::Timestamp::now())
        .await
        .expect_err("refused");
    assert!(error.is_retryable(), "{error}");
    assert!(!error.to_string().contains("T0KEN"), "{error}");
}

#[tokio::test]
async fn a_webhook_whose_secrets_are_missing_fails_permanently_without_sending() {
    let receiver = Receiver::start().await;
    let sender = WebhookSender::new(
        &webhook(
            MaybeSecret::Secret(SecretSource::Env(
                "GOLIVE_TEST_NOTIFY_UNSET_WEBHOOK_URL".to_string(),
            )),
            WebhookFormat::Slack,
        ),
        reqwest::Client::new(),
    );
    let error = sender
        .send(&message(), jiff::Timestamp::now())
        .await
        .expect_err("missing url");
    assert_eq!(
        error,
        DeliveryError::Permanent(
            "webhook url unavailable: environment variable GOLIVE_TEST_NOTIFY_UNSET_WEBHOOK_URL is not set"
                .to_string()
        )
    );

    let mut channel = webhook(
        MaybeSecret::Plain(receiver.url("/hooks/signed")),
        WebhookFormat::Golive,
    );
    channel.hmac_secret = Some(SecretSource::Env(
        "GOLIVE_TEST_NOTIFY_UNSET_HMAC_KEY".to_string(),
    ));
    let sender = WebhookSender::new(&channel, reqwest::Client::new());
    let error = sender
        .send(&message(), jiff::Timestamp::now())
        .await
        .expect_err("missing key");
    assert!(!error.is_retryable());
    assert!(
        error
            .to_string()
            .contains("GOLIVE_TEST_NOTIFY_UNSET_HMAC_KEY"),
        "{error}"
    );
    assert!(receiver.requests().is_empty());
}

/// A real Alertmanager on a free loopback port with a receiver that sends nowhere.
pub struct Alertmanager {
    pub url: String,
    child: Option<Child>,
    _storage: tempfile::TempDir,
}

impl Alertmanager {
    pub async fn start() -> Alertmanager {
        let binary = "/usr/bin/prometheus-alertmanager";
        assert!(
            Path::new(binary).exists(),
            "{binary} is missing: run scripts/test, or apt-get install prometheus-alertmanager"
        );
        let storage = tempfile::tempdir().expect("temp dir");
        let config = storage.path().join("alertmanager.yml");
        std::fs::write(
            &config,
            "route:\n  receiver: nowhere\nreceivers:\n  - name: nowhere\n",
        )
        .expect("write config");
        let (port, child) = crate::helpers::start_ready_server("alertmanager", |port| {
            Command::new(binary)
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.path={}",
                    storage.path().join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--cluster.listen-address=")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start alertmanager")
        })
        .await;
        Alertmanager {
            url: format!("http://127.0.0.1:{port}"),
            child: Some(child),
            _storage: storage,
        }
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn forwarded(check: &str, severity: &str) -> ForwardedAlert {
    ForwardedAlert {
        labels: BTreeMap::from([
            ("alertname".to_string(), "GoliveCheckFailing".to_string()),
            ("check".to_string(), check.to_string()),
            ("severity".to_string(), severity.to_string()),
            ("launch".to_string(), "test-shop".to_string()),
        ]),
        annotations: BTreeMap::from([("summary".to_string(), format!("{check} is failing"))]),
        starts_at: jiff::Timestamp::now(),
        ends_at: None,
        generator_url: Some("http://golive.test/status".to_string()),
    }
}

#[tokio::test]
async fn alerts_forwarded_to_alertmanager_show_up_in_its_api_with_their_labels() {
    let alertmanager = Alertmanager::start().await;
    let forwarder = AlertmanagerForwarder::new(
        &format!("{}/", alertmanager.url),
        Duration::from_secs(5),
        reqwest::Client::new(),
    );

    let delivered = forwarder
        .send(
            &[
                forwarded("checkout", "critical"),
                forwarded("search", "warning"),
            ],
            jiff::Timestamp::now(),
        )
        .await
        .expect("forwarded");
    assert_eq!(delivered.answer, "HTTP 200");

    let alerts: serde_json::Value = reqwest::get(format!("{}/api/v2/alerts", alertmanager.url))
        .await
        .expect("alerts")
        .json()
        .await
        .expect("json");
    let mut seen: Vec<(String, String)> = alerts
        .as_array()
        .expect("a list")
        .iter()
        .map(|alert| {
            assert_eq!(alert["labels"]["alertname"], "GoliveCheckFailing");
            assert_eq!(alert["labels"]["launch"], "test-shop");
            assert_eq!(alert["status"]["state"], "active");
            (
                alert["labels"]["check"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                alert["labels"]["severity"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("checkout".to_string(), "critical".to_string()),
            ("search".to_string(), "warning".to_string())
        ]
    );
}

#[tokio::test]
async fn an_alertmanager_that_refuses_an_alert_fails_permanently_and_one_that_is_down_retryably() {
    let alertmanager = Alertmanager::start().await;
    let forwarder = AlertmanagerForwarder::new(
        &alertmanager.url,
        Duration::from_secs(5),
        reqwest::Client::new(),
    );
    let mut nameless = forwarded("checkout", "critical");
    nameless.labels.clear();
    let error = forwarder
        .send(&[nameless], jiff::Timestamp::now())
        .await
        .expect_err("refused");
    assert!(!error.is_retryable(), "{error}");
    assert!(error.to_string().starts_with("HTTP 400"), "{error}");

    let down = AlertmanagerForwarder::new(
        &format!("http://{}", refused_address().await),
        Duration::from_secs(5),
        reqwest::Client::new(),
    );
    let error = down
        .send(&[forwarded("checkout", "critical")], jiff::Timestamp::now())
        .await
        .expect_err("down");
    assert!(error.is_retryable(), "{error}");
}
