//! Email: over SMTP with lettre (STARTTLS, implicit TLS or plain; AUTH when a username and
//! password are configured), or, with no `[smtp]` section, as `.eml` files in an outbox folder so
//! that demos and first tries work on any machine.
//!
//! # MIME layout
//! Text only: one `text/plain` part. With HTML: `multipart/alternative` (text, then HTML). With HTML
//! and inline images: `multipart/alternative` (text, then `multipart/related` holding the HTML and
//! each image as an inline part with its `Content-ID`), the layout mail clients expect for `cid:`
//! references. Inline images without HTML are left out (nothing could show them).
//!
//! # Trusted certificates
//! The server's certificate is checked by the platform verifier (the system's trust store). A
//! private CA can be added with [`EmailTransport::with_root_certificates`] or, for the daemon, by
//! pointing the environment variable `GOLIVE_SMTP_CA_FILE` ([`SMTP_CA_FILE_VARIABLE`]) at a PEM
//! file; its certificates are trusted in addition to the system's.
//!
//! # Outbox files
//! Named `<UTC time, ms>-<message id>.eml` (e.g. `20261127T154812.123Z-alert-12.3@golive.shop.eml`)
//! so a folder listing sorts by time; the writing itself lives in `outbox.rs`.

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::eml_folder::{run_blocking, tempfile_in, write_eml_file};
use super::http::chain;
use super::{Delivered, DeliveryError, OutgoingEmail};
use crate::plan::alerting::{Smtp, SmtpTls};
use crate::secrets::read_secret;

/// The environment variable naming a PEM file of extra CA certificates to trust for SMTP TLS.
pub const SMTP_CA_FILE_VARIABLE: &str = "GOLIVE_SMTP_CA_FILE";

/// The From address of emails written to the outbox folder.
pub const OUTBOX_FROM: &str = "golive <golive@localhost>";

/// Sends [`OutgoingEmail`]s through SMTP or writes them to the outbox folder.
#[derive(Clone)]
pub struct EmailTransport {
    target: Target,
}

#[derive(Clone)]
enum Target {
    Smtp(Box<SmtpTarget>),
    EmlFolder { dir: PathBuf },
}

#[derive(Clone)]
struct SmtpTarget {
    config: Smtp,
    /// Extra trusted CA certificates (PEM), added to the system's.
    extra_roots: Vec<Vec<u8>>,
    /// The transport and From mailbox, or why nothing can be sent (a missing password secret,
    /// an invalid From address, an unreadable CA file).
    ///
    /// With it, how to send over a connection of our own with `TCP_NODELAY` (plain and STARTTLS):
    /// lettre writes the message and its terminating `.` separately, and without `TCP_NODELAY`
    /// Nagle's algorithm waits for the server's delayed ACK (~40 ms) before sending the terminator
    /// — on every email. `None` for implicit TLS, which goes through lettre's transport.
    ready: Result<(AsyncSmtpTransport<Tokio1Executor>, Mailbox, Option<Direct>), String>,
}

/// What a direct SMTP session needs.
#[derive(Clone)]
struct Direct {
    starttls: Option<TlsParameters>,
    credentials: Option<Credentials>,
    hello: ClientId,
}

impl EmailTransport {
    /// Sends through `smtp` when it is given, otherwise writes `.eml` files into `outbox_dir`
    /// (created when the first email is written).
    ///
    /// It never fails: a problem with the configuration (the password's environment variable is
    /// not set, an invalid From address, an unreadable `GOLIVE_SMTP_CA_FILE`) is remembered and
    /// every send returns it as a [`DeliveryError::Permanent`]; [`EmailTransport::setup_problem`]
    /// tells it at start.
    pub fn new(smtp: Option<&Smtp>, outbox_dir: &Path) -> EmailTransport {
        let Some(config) = smtp else {
            return EmailTransport {
                target: Target::EmlFolder {
                    dir: outbox_dir.to_path_buf(),
                },
            };
        };
        let ca_file = std::env::var_os(SMTP_CA_FILE_VARIABLE).map(PathBuf::from);
        let (extra_roots, ready) = match read_ca_file(ca_file.as_deref()) {
            Ok(roots) => {
                let ready = prepare(config, &roots);
                (roots, ready)
            }
            Err(problem) => (Vec::new(), Err(problem)),
        };
        EmailTransport {
            target: Target::Smtp(Box::new(SmtpTarget {
                config: config.clone(),
                extra_roots,
                ready,
            })),
        }
    }

    /// Also trusts the CA certificates in `pem` (one or more PEM certificates) for the SMTP
    /// server's TLS certificate, in addition to the system's. Meant for private CAs and tests; it
    /// changes nothing for the outbox folder. Invalid PEM becomes the transport's setup problem.
    pub fn with_root_certificates(mut self, pem: &[u8]) -> EmailTransport {
        if let Target::Smtp(target) = &mut self.target {
            target.extra_roots.push(pem.to_vec());
            // A problem found before (a missing password) stays the reason sends fail.
            if target.ready.is_ok() {
                target.ready = prepare(&target.config, &target.extra_roots);
            }
        }
        self
    }

    /// Sends `email`, dated `now` (the `Date` header and the outbox file name; the daemon's clock,
    /// so the demo's time-lapse shows in them too). Over SMTP the answer is the server's reply
    /// (e.g. `250 2.0.0 Ok: queued`); into the outbox it is `written to <path>`.
    ///
    /// SMTP 4xx replies, connection problems, timeouts and TLS handshake failures are
    /// [`DeliveryError::Retryable`]; 5xx replies, an invalid address and configuration problems
    /// are [`DeliveryError::Permanent`]. Errors carry the server's reply text, never a password.
    pub async fn send(
        &self,
        email: &OutgoingEmail,
        now: Timestamp,
    ) -> Result<Delivered, DeliveryError> {
        match &self.target {
            Target::Smtp(target) => {
                let (transport, from, direct) = target
                    .ready
                    .as_ref()
                    .map_err(|problem| DeliveryError::Permanent(problem.clone()))?;
                let message = build_message(email, from.clone(), now)?;
                let sent = match direct {
                    Some(direct) => send_direct(&target.config, direct, &message).await?,
                    // lettre's own timeout covers the connect only: a server that goes silent
                    // after it (implicit TLS's handshake, a reply) is bounded here, as the
                    // direct session is, so a send never outlasts `longest_session`.
                    None => {
                        let limit = longest_session(&target.config);
                        tokio::time::timeout(limit, transport.send(message))
                            .await
                            .map_err(|_| {
                                DeliveryError::Retryable(format!(
                                    "smtp {}:{}: timeout after {} in the SMTP session",
                                    target.config.host,
                                    target.config.port,
                                    crate::human::std_duration(limit)
                                ))
                            })?
                    }
                };
                match sent {
                    Ok(response) => Ok(Delivered {
                        answer: reply_text(response.code(), response.message()),
                    }),
                    Err(error) => Err(smtp_error(&error, &target.config)),
                }
            }
            Target::EmlFolder { dir } => {
                let from = OUTBOX_FROM
                    .parse::<Mailbox>()
                    .map_err(|error| DeliveryError::Permanent(format!("bad From: {error}")))?;
                let message = build_message(email, from, now)?;
                write_eml_file(
                    dir.clone(),
                    email.message_id.clone(),
                    message.formatted(),
                    now,
                )
                .await
            }
        }
    }

    /// Checks that email can go out, for `golive notify test`: over SMTP, connects, says EHLO,
    /// upgrades to TLS and authenticates (nothing is sent); for the outbox, checks that the folder
    /// can be created and written.
    pub async fn test_connection(&self) -> Result<Delivered, DeliveryError> {
        match &self.target {
            Target::Smtp(target) => {
                let (transport, _, _) = target
                    .ready
                    .as_ref()
                    .map_err(|problem| DeliveryError::Permanent(problem.clone()))?;
                match transport.test_connection().await {
                    Ok(true) => Ok(Delivered {
                        answer: format!("{} accepted the connection", self.describe()),
                    }),
                    Ok(false) => Err(DeliveryError::Retryable(format!(
                        "{} closed the connection",
                        self.describe()
                    ))),
                    Err(error) => Err(smtp_error(&error, &target.config)),
                }
            }
            Target::EmlFolder { dir } => {
                let dir = dir.clone();
                run_blocking(move || {
                    std::fs::create_dir_all(&dir)?;
                    let probe = tempfile_in(&dir)?;
                    std::fs::remove_file(&probe)?;
                    Ok(Delivered {
                        answer: format!("outbox folder {} is writable", dir.display()),
                    })
                })
                .await
            }
        }
    }

    /// Where email goes, for logs and `golive notify test`: `smtp mail.example:587 (starttls)` or
    /// `outbox folder /var/lib/golive/outbox`.
    pub fn describe(&self) -> String {
        match &self.target {
            Target::Smtp(target) => {
                let mode = match target.config.tls {
                    SmtpTls::StartTls => "starttls",
                    SmtpTls::Tls => "tls",
                    SmtpTls::None => "none",
                };
                format!(
                    "smtp {}:{} ({mode})",
                    target.config.host, target.config.port
                )
            }
            Target::EmlFolder { dir } => format!("outbox folder {}", dir.display()),
        }
    }

    /// Why every send will fail, when the configuration could not be used (for a warning at
    /// start); `None` when sends can be tried.
    pub fn setup_problem(&self) -> Option<&str> {
        match &self.target {
            Target::Smtp(target) => target.ready.as_ref().err().map(String::as_str),
            Target::EmlFolder { .. } => None,
        }
    }

    /// Whether emails are written as `.eml` files (the outbox folder) rather than sent.
    pub fn writes_eml_files(&self) -> bool {
        matches!(self.target, Target::EmlFolder { .. })
    }
}

impl std::fmt::Debug for EmailTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The transport holds the credentials; only the description is shown.
        f.debug_struct("EmailTransport")
            .field("target", &self.describe())
            .finish_non_exhaustive()
    }
}

/// The PEM certificates of `GOLIVE_SMTP_CA_FILE`, when it is set.
fn read_ca_file(path: Option<&Path>) -> Result<Vec<Vec<u8>>, String> {
    let Some(path) = path else {
        return Ok(Vec::new());
    };
    std::fs::read(path).map(|pem| vec![pem]).map_err(|error| {
        format!(
            "cannot read {SMTP_CA_FILE_VARIABLE} {}: {error}",
            path.display()
        )
    })
}

/// Reads the password and builds the transport and the From mailbox.
fn prepare(
    config: &Smtp,
    extra_roots: &[Vec<u8>],
) -> Result<(AsyncSmtpTransport<Tokio1Executor>, Mailbox, Option<Direct>), String> {
    let password = match &config.password {
        None => None,
        Some(source) => Some(
            read_secret(source).map_err(|reason| format!("smtp password unavailable: {reason}"))?,
        ),
    };
    let from = config.from.parse::<Mailbox>().map_err(|error| {
        format!(
            "smtp from {:?} is not a valid address: {error}",
            config.from
        )
    })?;
    let tls_parameters = || -> Result<TlsParameters, String> {
        let mut builder = TlsParameters::builder(config.host.clone());
        for pem in extra_roots {
            let certificate = Certificate::from_pem(pem)
                .map_err(|error| format!("extra smtp CA certificates: {}", chain(&error)))?;
            builder = builder.add_root_certificate(certificate);
        }
        builder
            .build_rustls()
            .map_err(|error| format!("cannot set up TLS for smtp: {}", chain(&error)))
    };
    let starttls = match config.tls {
        SmtpTls::StartTls => Some(tls_parameters()?),
        _ => None,
    };
    let tls = match config.tls {
        SmtpTls::StartTls => Tls::Required(starttls.clone().ok_or("no TLS parameters")?),
        SmtpTls::Tls => Tls::Wrapper(tls_parameters()?),
        SmtpTls::None => Tls::None,
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.clone())
        .port(config.port)
        .tls(tls)
        .timeout(Some(config.timeout));
    let credentials = match (&config.username, &password) {
        (Some(username), Some(password)) => Some(Credentials::new(
            username.clone(),
            password.expose().to_string(),
        )),
        _ => None,
    };
    if let Some(credentials) = &credentials {
        builder = builder.credentials(credentials.clone());
    }
    let hello = match &config.helo {
        Some(helo) => ClientId::Domain(helo.clone()),
        None => ClientId::default(),
    };
    builder = builder.hello_name(hello.clone());
    let direct = (config.tls != SmtpTls::Tls).then(|| Direct {
        starttls,
        credentials,
        hello,
    });
    Ok((builder.build(), from, direct))
}

/// One SMTP session on a connection with `TCP_NODELAY`: connect, EHLO, STARTTLS when asked,
/// AUTH when configured, the message, QUIT. The outer error is a connection failure; the inner
/// result is lettre's, mapped like the transport's.
/// The longest one email delivery can take before its timeouts end it: the `[smtp] timeout` to
/// connect and three more for the session (the stop drain waits this long for a send in flight).
pub fn longest_session(config: &Smtp) -> std::time::Duration {
    config.timeout * 4
}

async fn send_direct(
    config: &Smtp,
    direct: &Direct,
    message: &Message,
) -> Result<
    Result<lettre::transport::smtp::response::Response, lettre::transport::smtp::Error>,
    DeliveryError,
> {
    use lettre::transport::smtp::authentication::Mechanism;
    use lettre::transport::smtp::client::AsyncSmtpConnection;
    let server = format!("{}:{}", config.host, config.port);
    let stream = match tokio::time::timeout(
        config.timeout,
        tokio::net::TcpStream::connect((config.host.as_str(), config.port)),
    )
    .await
    {
        Err(_) => {
            return Err(DeliveryError::Retryable(format!(
                "smtp {server}: timeout after {} connecting",
                crate::human::std_duration(config.timeout)
            )));
        }
        Ok(Err(error)) => {
            return Err(DeliveryError::Retryable(format!(
                "smtp {server}: cannot connect: {error}"
            )));
        }
        Ok(Ok(stream)) => stream,
    };
    // Best effort: without it the email still goes, only ~40 ms later.
    let _ = stream.set_nodelay(true);
    let session = async {
        let mut connection =
            AsyncSmtpConnection::connect_with_transport(Box::new(stream), &direct.hello).await?;
        if let Some(tls) = &direct.starttls {
            connection.starttls(tls.clone(), &direct.hello).await?;
        }
        if let Some(credentials) = &direct.credentials {
            connection
                .auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .await?;
        }
        let response = connection
            .send(message.envelope(), &message.formatted())
            .await?;
        let _ = connection.quit().await;
        Ok(response)
    };
    match tokio::time::timeout(config.timeout * 3, session).await {
        Ok(result) => Ok(result),
        Err(_) => Err(DeliveryError::Retryable(format!(
            "smtp {server}: timeout after {} in the SMTP session",
            crate::human::std_duration(config.timeout * 3)
        ))),
    }
}

/// The message as an `.eml` file would hold it, dated `now`, with the outbox folder's From
/// address (for `golive report preview --format eml`).
pub fn to_eml(email: &OutgoingEmail, now: Timestamp) -> Result<Vec<u8>, DeliveryError> {
    let from = OUTBOX_FROM
        .parse::<Mailbox>()
        .map_err(|error| DeliveryError::Permanent(format!("bad From: {error}")))?;
    Ok(build_message(email, from, now)?.formatted())
}

/// Builds the MIME message of `email`, dated `now` (see the module's documentation for its
/// layout).
fn build_message(
    email: &OutgoingEmail,
    from: Mailbox,
    now: Timestamp,
) -> Result<Message, DeliveryError> {
    if email.to.is_empty() {
        return Err(DeliveryError::Permanent(
            "the email has no recipients".to_string(),
        ));
    }
    let date = std::time::SystemTime::try_from(now).map_err(|error| {
        DeliveryError::Permanent(format!("cannot date the email at {now}: {error}"))
    })?;
    let mut builder = Message::builder()
        .from(from)
        .subject(email.subject.clone())
        .message_id(Some(angle(&email.message_id)))
        .date(date)
        // RFC 3834: tells auto-responders (out-of-office replies) not to answer.
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            "auto-generated".to_string(),
        ));
    for (name, address) in &email.to {
        let address = address.parse::<Address>().map_err(|error| {
            DeliveryError::Permanent(format!("invalid recipient address {address:?}: {error}"))
        })?;
        builder = builder.to(Mailbox::new(name.clone(), address));
    }
    if let Some(in_reply_to) = &email.in_reply_to {
        builder = builder.in_reply_to(angle(in_reply_to));
    }
    if !email.references.is_empty() {
        let references: Vec<String> = email.references.iter().map(|id| angle(id)).collect();
        builder = builder.references(references.join(" "));
    }
    // Outlook groups by these rather than by References (see `notice::outlook_thread_headers`).
    for (name, value) in
        crate::report::notice::outlook_thread_headers(&email.subject, &email.references, now)
    {
        builder = builder.raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str(name),
            value,
        ));
    }
    let invalid = |error: lettre::error::Error| {
        DeliveryError::Permanent(format!("cannot build the email: {error}"))
    };
    if let Some(calendar) = &email.calendar {
        return builder
            .multipart(with_calendar(email, calendar)?)
            .map_err(invalid);
    }
    let Some(html) = &email.html else {
        return builder
            .singlepart(SinglePart::plain(email.text.clone()))
            .map_err(invalid);
    };
    let alternative = MultiPart::alternative().singlepart(SinglePart::plain(email.text.clone()));
    let alternative = if email.inline_images.is_empty() {
        alternative.singlepart(SinglePart::html(html.clone()))
    } else {
        let mut related = MultiPart::related().singlepart(SinglePart::html(html.clone()));
        for image in &email.inline_images {
            let content_type = ContentType::parse(&image.content_type).map_err(|error| {
                DeliveryError::Permanent(format!(
                    "inline image {} has an invalid content type {:?}: {error}",
                    image.content_id, image.content_type
                ))
            })?;
            let content_id = image
                .content_id
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string();
            related = related.singlepart(
                Attachment::new_inline(content_id).body(image.bytes.clone(), content_type),
            );
        }
        alternative.multipart(related)
    };
    builder.multipart(alternative).map_err(invalid)
}

/// An invitation: `multipart/alternative` of the text (and HTML) and the iCalendar request, the
/// calendar last (the richest form, which clients that understand it show as the invitation),
/// with `method=REQUEST` on its content type as iTIP over email (RFC 6047) asks.
fn with_calendar(email: &OutgoingEmail, calendar: &str) -> Result<MultiPart, DeliveryError> {
    let content_type = ContentType::parse("text/calendar; method=REQUEST; charset=utf-8")
        .map_err(|error| DeliveryError::Permanent(format!("calendar content type: {error}")))?;
    let mut alternative =
        MultiPart::alternative().singlepart(SinglePart::plain(email.text.clone()));
    if let Some(html) = &email.html {
        alternative = alternative.singlepart(SinglePart::html(html.clone()));
    }
    Ok(alternative.singlepart(
        SinglePart::builder()
            .header(content_type)
            .body(calendar.to_string()),
    ))
}

/// `<id>`, whether or not `id` already has angle brackets.
fn angle(id: &str) -> String {
    format!("<{}>", id.trim_start_matches('<').trim_end_matches('>'))
}

/// An SMTP reply on one line: `250 2.0.0 Ok: queued`.
fn reply_text<'a>(
    code: lettre::transport::smtp::response::Code,
    lines: impl Iterator<Item = &'a str>,
) -> String {
    let text = lines.collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        code.to_string()
    } else {
        format!("{code} {text}")
    }
}

/// Maps a lettre error: 4xx, connection problems, timeouts and TLS handshakes may work later; 5xx
/// and client-side problems (no common AUTH mechanism, STARTTLS not offered) will not.
fn smtp_error(error: &lettre::transport::smtp::Error, config: &Smtp) -> DeliveryError {
    let server = format!("{}:{}", config.host, config.port);
    if let Some(code) = error.status() {
        // The source of a reply error is the server's text; the top level only repeats the code.
        let text = std::error::Error::source(error)
            .map(|source| source.to_string())
            .unwrap_or_default();
        let reply = format!(
            "smtp server {server} answered {}",
            reply_text(code, std::iter::once(text.as_str()))
        );
        // 421 closes the session: the server is unavailable for everyone. Other 4xx replies
        // refuse this message for now (greylisting, a full mailbox) while the relay works.
        return if !error.is_transient() {
            DeliveryError::Permanent(reply)
        } else if u16::from(code) == 421 {
            DeliveryError::Retryable(reply)
        } else {
            DeliveryError::Deferred(reply)
        };
    }
    if error.is_timeout() {
        return DeliveryError::Retryable(format!(
            "smtp server {server}: timeout after {}",
            crate::human::std_duration(config.timeout)
        ));
    }
    // A failed handshake after STARTTLS reaches us as a connection error wrapping rustls' error.
    if let Some(reason) = tls_failure(error) {
        return DeliveryError::Retryable(format!(
            "smtp server {server}: tls handshake failed: {reason}"
        ));
    }
    if error.is_tls() {
        return DeliveryError::Retryable(format!(
            "smtp server {server}: tls handshake failed: {}",
            chain(error)
        ));
    }
    if error.is_client() {
        return DeliveryError::Permanent(format!("smtp server {server}: {}", chain(error)));
    }
    DeliveryError::Retryable(format!("smtp server {server}: {}", chain(error)))
}

/// The TLS error somewhere in `error`'s causes (rustls' own, or inside an I/O error), if any.
fn tls_failure(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut current = Some(error);
    while let Some(cause) = current {
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            return Some(tls.to_string());
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && let Some(tls) = io
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(tls.to_string());
        }
        current = cause.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> OutgoingEmail {
        OutgoingEmail {
            to: vec![(Some("Bob Berg".to_string()), "bob@example.com".to_string())],
            subject: "Checkout is failing".to_string(),
            text: "text".to_string(),
            html: None,
            message_id: "alert-1.2@golive.test".to_string(),
            in_reply_to: None,
            references: Vec::new(),
            inline_images: Vec::new(),
            calendar: None,
        }
    }

    #[test]
    fn an_unreadable_ca_file_is_named_in_the_reason() {
        let reason = read_ca_file(Some(Path::new("/nonexistent/ca.pem"))).expect_err("missing");
        assert!(
            reason.starts_with("cannot read GOLIVE_SMTP_CA_FILE /nonexistent/ca.pem:"),
            "{reason}"
        );
        assert_eq!(read_ca_file(None), Ok(Vec::new()));
    }

    #[test]
    fn an_invalid_recipient_is_a_permanent_error() {
        let mut email = email();
        email.to = vec![(None, "not an address".to_string())];
        let from = OUTBOX_FROM.parse::<Mailbox>().expect("from");
        let error = build_message(&email, from, Timestamp::UNIX_EPOCH).expect_err("invalid");
        assert!(!error.is_retryable());
        assert!(error.to_string().contains("not an address"), "{error}");
    }

    #[test]
    fn a_missing_password_is_remembered_without_revealing_anything() {
        let config = Smtp {
            host: "mail.example".to_string(),
            port: 587,
            tls: SmtpTls::StartTls,
            username: Some("golive".to_string()),
            password: Some(crate::plan::SecretSource::Env(
                "GOLIVE_TEST_UNSET_SMTP_PASSWORD".to_string(),
            )),
            from: "golive <golive@shop.example>".to_string(),
            helo: None,
            timeout: std::time::Duration::from_secs(5),
        };
        let transport = EmailTransport::new(Some(&config), Path::new("/nonexistent"));
        assert_eq!(
            transport.setup_problem(),
            Some(
                "smtp password unavailable: environment variable GOLIVE_TEST_UNSET_SMTP_PASSWORD is not set"
            )
        );
        assert_eq!(transport.describe(), "smtp mail.example:587 (starttls)");
    }

    /// Implicit TLS goes through lettre's transport, whose timeout covers only the connect: a
    /// server that accepts and then says nothing (no TLS handshake) must still end the send, as a
    /// retryable timeout, and not hold a lane (or the stop's drain) for ever.
    #[tokio::test]
    async fn an_smtps_server_that_accepts_and_goes_silent_ends_the_send_as_a_retryable_timeout() {
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let port = silent.local_addr().expect("its address").port();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((connection, _)) = silent.accept().await {
                held.push(connection);
            }
        });
        let config = Smtp {
            host: "127.0.0.1".to_string(),
            port,
            tls: SmtpTls::Tls,
            username: None,
            password: None,
            from: "golive <golive@shop.example>".to_string(),
            helo: None,
            timeout: std::time::Duration::from_millis(200),
        };
        let transport = EmailTransport::new(Some(&config), Path::new("/nonexistent"));
        // Far beyond the send's own bound: without it, the send never ends.
        let sent = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            transport.send(&email(), Timestamp::UNIX_EPOCH),
        )
        .await
        .expect("the send ends by its own timeout");
        let error = sent.expect_err("nothing was sent");
        assert!(error.is_retryable(), "{error}");
        assert!(error.to_string().contains("timeout after"), "{error}");
    }
}
