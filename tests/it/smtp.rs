//! A real SMTP server for tests (Debian's aiosmtpd, driven by `smtp_server.py` beside this file),
//! and a parser for the mail it received or golive wrote to its outbox folder.
//!
//! ```ignore
//! let server = SmtpServer::start(SmtpOptions::starttls().with_auth("golive", "secret")).await;
//! // point golive at 127.0.0.1:server.port, trusting server.ca_pem() / server.ca_file()
//! let messages = server.wait_for(1, Duration::from_secs(10)).await;
//! assert_eq!(messages[0].recipients, ["bob@example.com"]);
//! assert_eq!(messages[0].email.subject, "Checkout is failing");
//! ```

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mail_parser::{MessageParser, MimeHeaders};

/// The only interpreter that can import Debian's aiosmtpd.
const PYTHON: &str = "/usr/bin/python3";

/// How the server behaves.
#[derive(Debug, Clone, Default)]
pub struct SmtpOptions {
    starttls: bool,
    credentials: Option<(String, String)>,
}

impl SmtpOptions {
    /// Plain SMTP, no TLS, no authentication.
    pub fn plain() -> SmtpOptions {
        SmtpOptions::default()
    }

    /// STARTTLS required before MAIL, with a certificate for `localhost` and `127.0.0.1` signed
    /// by a CA made for this server ([`SmtpServer::ca_pem`]).
    pub fn starttls() -> SmtpOptions {
        SmtpOptions {
            starttls: true,
            credentials: None,
        }
    }

    /// Requires AUTH (PLAIN or LOGIN, offered only after STARTTLS) with this username and password.
    pub fn with_auth(mut self, username: &str, password: &str) -> SmtpOptions {
        self.credentials = Some((username.to_string(), password.to_string()));
        self
    }
}

/// A running SMTP server on `127.0.0.1:port`; stopped when dropped.
pub struct SmtpServer {
    /// Always `127.0.0.1` (the certificate also names `localhost`).
    pub host: String,
    pub port: u16,
    ca_pem: Option<String>,
    ca_file: Option<PathBuf>,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

/// One message the server accepted, with its envelope.
#[derive(Debug, Clone)]
pub struct ReceivedMessage {
    /// `MAIL FROM`.
    pub mail_from: String,
    /// `RCPT TO`, in order.
    pub recipients: Vec<String>,
    /// The name the client gave in EHLO/HELO.
    pub helo: String,
    /// Whether the session was encrypted (STARTTLS) when the message was sent.
    pub tls: bool,
    /// The username the client authenticated as.
    pub login: Option<String>,
    pub email: ParsedEmail,
}

/// A parsed RFC 5322 message.
#[derive(Debug, Clone)]
pub struct ParsedEmail {
    pub raw: Vec<u8>,
    /// Every header as (name, raw value without the line folding), in order.
    pub headers: Vec<(String, String)>,
    pub from: Vec<Mailbox>,
    pub to: Vec<Mailbox>,
    pub subject: String,
    /// Without angle brackets.
    pub message_id: Option<String>,
    /// Without angle brackets.
    pub in_reply_to: Vec<String>,
    /// Without angle brackets, in order.
    pub references: Vec<String>,
    /// The top-level content type, e.g. `multipart/alternative`.
    pub content_type: String,
    /// The first `text/plain` part, decoded.
    pub text: Option<String>,
    /// The first `text/html` part, decoded.
    pub html: Option<String>,
    /// Every MIME part, the root first, depth first.
    pub parts: Vec<ParsedPart>,
}

/// An address with its display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    pub name: Option<String>,
    pub address: String,
}

/// One MIME part.
#[derive(Debug, Clone)]
pub struct ParsedPart {
    /// e.g. `multipart/related`, `text/html`, `image/png`.
    pub content_type: String,
    /// Without angle brackets.
    pub content_id: Option<String>,
    /// `inline` or `attachment`.
    pub disposition: Option<String>,
    /// The decoded body (empty for multiparts).
    pub body: Vec<u8>,
}

impl SmtpServer {
    /// Starts a server on a free loopback port and waits until it accepts connections.
    pub async fn start(options: SmtpOptions) -> SmtpServer {
        // The port is free when chosen but may be taken by a parallel test before the server binds
        // it: then try another one.
        let mut attempts = 0;
        loop {
            match SmtpServer::try_start(&options).await {
                Ok(server) => return server,
                Err(log) if log.contains("address already in use") && attempts < 5 => {
                    attempts += 1;
                }
                Err(log) => panic!("smtp server exited: {log}"),
            }
        }
    }

    async fn try_start(options: &SmtpOptions) -> Result<SmtpServer, String> {
        assert!(
            Path::new(PYTHON).exists()
                && Path::new("/usr/lib/python3/dist-packages/aiosmtpd").exists(),
            "aiosmtpd is missing: run scripts/test, or apt-get install python3-aiosmtpd"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let port = crate::targets::refused_address().await.port();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/smtp_server.py");
        let mut command = Command::new(PYTHON);
        command
            .arg(script)
            .arg("--dir")
            .arg(dir.path())
            .arg("--port")
            .arg(port.to_string());
        let (mut ca_pem, mut ca_file) = (None, None);
        if options.starttls {
            let (ca, cert, key) = certificates();
            let paths = ["ca.pem", "cert.pem", "key.pem"].map(|name| dir.path().join(name));
            for (path, pem) in paths.iter().zip([&ca, &cert, &key]) {
                std::fs::write(path, pem).expect("write pem");
            }
            command
                .arg("--cert")
                .arg(&paths[1])
                .arg("--key")
                .arg(&paths[2]);
            ca_pem = Some(ca);
            ca_file = Some(paths[0].clone());
        }
        if let Some((username, password)) = &options.credentials {
            command
                .arg("--username")
                .arg(username)
                .arg("--password")
                .arg(password);
        }
        let log = std::fs::File::create(dir.path().join("server.log")).expect("log");
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start smtp_server.py");
        let mut server = SmtpServer {
            host: "127.0.0.1".to_string(),
            port,
            ca_pem,
            ca_file,
            child: Some(child),
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while !server.dir.path().join("ready").exists() {
            let exited = server
                .child
                .as_mut()
                .and_then(|child| child.try_wait().ok().flatten());
            if let Some(status) = exited {
                return Err(format!("{status}: {}", server.log()));
            }
            assert!(
                Instant::now() < deadline,
                "smtp server not ready in 15 s: {}",
                server.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(server)
    }

    /// The CA that signed the server's certificate (PEM), with STARTTLS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// The same CA as a file, e.g. for `GOLIVE_SMTP_CA_FILE`.
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_deref()
    }

    /// Every message accepted so far, oldest first.
    pub fn messages(&self) -> Vec<ReceivedMessage> {
        let Ok(log) = std::fs::read_to_string(self.dir.path().join("messages.jsonl")) else {
            return Vec::new();
        };
        log.lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .map(|record| {
                let text = |key: &str| record[key].as_str().unwrap_or_default().to_string();
                let raw = std::fs::read(self.dir.path().join(text("file"))).expect("message");
                ReceivedMessage {
                    mail_from: text("mail_from"),
                    recipients: record["rcpt_tos"]
                        .as_array()
                        .map(|list| {
                            list.iter()
                                .filter_map(|r| r.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default(),
                    helo: text("helo"),
                    tls: record["tls"].as_bool().unwrap_or(false),
                    login: record["login"].as_str().map(str::to_string),
                    email: ParsedEmail::parse(&raw),
                }
            })
            .collect()
    }

    /// Waits until at least `count` messages arrived and returns them all; panics after `timeout`.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<ReceivedMessage> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.messages();
            if messages.len() >= count {
                return messages;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {count} messages arrived in {timeout:?}: {}",
                messages.len(),
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Answers MAIL FROM with `reply` (e.g. `451 4.7.1 Try again later`) until [`accept`] is called.
    ///
    /// [`accept`]: SmtpServer::accept
    pub fn refuse_with(&self, reply: &str) {
        std::fs::write(self.dir.path().join("reply"), format!("{reply}\n")).expect("write reply");
    }

    /// Answers RCPT TO for `address` with `reply` (e.g. `450 4.2.1 Mailbox busy`) until
    /// [`SmtpServer::accept_recipients`]; other recipients are accepted.
    pub fn refuse_recipient(&self, address: &str, reply: &str) {
        std::fs::write(
            self.dir.path().join("refuse-rcpt"),
            format!("{address} {reply}\n"),
        )
        .expect("write refuse-rcpt");
    }

    /// Accepts every recipient again after [`SmtpServer::refuse_recipient`].
    pub fn accept_recipients(&self) {
        let _ = std::fs::remove_file(self.dir.path().join("refuse-rcpt"));
    }

    /// Records each message at once but answers it only after `delay` (a slow relay that already
    /// has the message: a client that gives up meanwhile does not know it was delivered).
    pub fn answer_after(&self, delay: Duration) {
        std::fs::write(
            self.dir.path().join("delay"),
            format!("{}\n", delay.as_secs_f64()),
        )
        .expect("write delay");
    }

    /// Accepts mail again after [`SmtpServer::refuse_with`].
    pub fn accept(&self) {
        let _ = std::fs::remove_file(self.dir.path().join("reply"));
    }

    /// Stops the server and waits for it to exit (its port then refuses connections).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// What the server printed (errors, tracebacks), for failure messages.
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

impl ParsedEmail {
    /// Parses `raw`; panics when it is not a message at all.
    pub fn parse(raw: &[u8]) -> ParsedEmail {
        let message = MessageParser::default()
            .parse(raw)
            .expect("a parseable RFC 5322 message");
        let mailboxes = |address: Option<&mail_parser::Address<'_>>| -> Vec<Mailbox> {
            address
                .map(|address| {
                    address
                        .iter()
                        .map(|addr| Mailbox {
                            name: addr.name.as_ref().map(|name| name.to_string()),
                            address: addr.address.as_deref().unwrap_or_default().to_string(),
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let ids = |value: &mail_parser::HeaderValue<'_>| -> Vec<String> {
            match (value.as_text_list(), value.as_text()) {
                (Some(list), _) => list.iter().map(|id| unangle(id)).collect(),
                (None, Some(id)) => vec![unangle(id)],
                (None, None) => Vec::new(),
            }
        };
        let parts: Vec<ParsedPart> = message
            .parts
            .iter()
            .map(|part| ParsedPart {
                content_type: part
                    .content_type()
                    .map(|ct| match ct.subtype() {
                        Some(subtype) => format!("{}/{subtype}", ct.ctype()),
                        None => ct.ctype().to_string(),
                    })
                    .unwrap_or_else(|| "text/plain".to_string())
                    .to_ascii_lowercase(),
                content_id: part.content_id().map(unangle),
                disposition: part
                    .content_disposition()
                    .map(|cd| cd.ctype().to_ascii_lowercase()),
                body: if part.is_multipart() {
                    Vec::new()
                } else {
                    part.contents().to_vec()
                },
            })
            .collect();
        let body_of = |content_type: &str| {
            parts
                .iter()
                .find(|part| part.content_type == content_type)
                .map(|part| String::from_utf8_lossy(&part.body).into_owned())
        };
        ParsedEmail {
            raw: raw.to_vec(),
            headers: message
                .headers_raw()
                .map(|(name, value)| (name.to_string(), unfold(value)))
                .collect(),
            from: mailboxes(message.from()),
            to: mailboxes(message.to()),
            subject: message.subject().unwrap_or_default().to_string(),
            message_id: message.message_id().map(unangle),
            in_reply_to: ids(message.in_reply_to()),
            references: ids(message.references()),
            content_type: parts
                .first()
                .map(|part| part.content_type.clone())
                .unwrap_or_default(),
            text: body_of("text/plain"),
            html: body_of("text/html"),
            parts,
        }
    }

    /// The raw value of the first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The first part with this content type.
    pub fn part(&self, content_type: &str) -> Option<&ParsedPart> {
        self.parts
            .iter()
            .find(|part| part.content_type == content_type)
    }
}

fn unangle(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_string()
}

fn unfold(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A CA and a leaf for `localhost` and `127.0.0.1` it signs: (CA PEM, leaf PEM, leaf key PEM).
fn certificates() -> (String, String, String) {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "golive test SMTP CA");
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca_key = rcgen::KeyPair::generate().expect("ca key");
    let ca = rcgen::CertifiedIssuer::self_signed(params, ca_key).expect("ca");
    let mut leaf_params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("leaf params");
    leaf_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    leaf_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_key = rcgen::KeyPair::generate().expect("leaf key");
    let leaf = leaf_params.signed_by(&leaf_key, &ca).expect("sign leaf");
    (ca.pem(), leaf.pem(), leaf_key.serialize_pem())
}
