//! golive as a systemd service, without systemd: the test listens on a Unix datagram socket of its
//! own, passes it as `NOTIFY_SOCKET` (with `WATCHDOG_USEC`) to the real daemon, and reads what a
//! service manager would hear — `READY=1` once the listener is bound, `WATCHDOG=1` pings that stop
//! while the engine is wedged (through the test hook) and resume after, `STOPPING=1` at SIGTERM.
//! Also the daemon's log as a file or journald keeps it: no colour codes, one line per event
//! whatever a client writes into an author, JSON lines on request, and no false warning about
//! API tokens.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::net::UnixDatagram;

use crate::heartbeat::metric;
use crate::helpers::{BASE_PLAN, Daemon, eventually};

/// The test's end of the notify protocol: a datagram socket the daemon sends to.
pub(crate) struct NotifySocket {
    socket: UnixDatagram,
    /// What `NOTIFY_SOCKET` is set to: a path, or `@name` for an abstract socket.
    pub(crate) name: String,
    _dir: tempfile::TempDir,
}

/// One datagram and when it arrived.
#[derive(Debug)]
pub(crate) struct Message {
    at: Instant,
    pub(crate) text: String,
}

impl NotifySocket {
    /// A socket at a path in a fresh folder.
    pub(crate) fn at_a_path() -> NotifySocket {
        let dir = tempfile::tempdir().expect("temp dir");
        let path: PathBuf = dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind notify socket");
        NotifySocket {
            socket,
            name: path.display().to_string(),
            _dir: dir,
        }
    }

    /// A socket with an abstract name (`@...`), as systemd may hand out.
    fn abstract_named() -> NotifySocket {
        use std::os::linux::net::SocketAddrExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let unique = dir.path().file_name().expect("name").to_string_lossy();
        let name = format!("golive-test-{unique}");
        let address =
            std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).expect("name");
        let socket = std::os::unix::net::UnixDatagram::bind_addr(&address).expect("bind");
        socket.set_nonblocking(true).expect("nonblocking");
        NotifySocket {
            socket: UnixDatagram::from_std(socket).expect("tokio socket"),
            name: format!("@{name}"),
            _dir: dir,
        }
    }

    /// The next datagram, waiting at most `seconds`.
    pub(crate) async fn next(&self, seconds: u64) -> Message {
        let mut buffer = vec![0u8; 4096];
        let received =
            tokio::time::timeout(Duration::from_secs(seconds), self.socket.recv(&mut buffer))
                .await
                .unwrap_or_else(|_| panic!("no notification within {seconds} s"))
                .expect("recv");
        Message {
            at: Instant::now(),
            text: String::from_utf8_lossy(&buffer[..received]).into_owned(),
        }
    }

    /// Every datagram up to and including the first that holds the line `wanted`.
    pub(crate) async fn until(&self, wanted: &str, seconds: u64) -> Vec<Message> {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now()).as_secs() + 1;
            let message = self.next(left).await;
            let found = has_line(&message.text, wanted);
            seen.push(message);
            if found {
                return seen;
            }
            assert!(Instant::now() < deadline, "no {wanted} in {seen:?}");
        }
    }

    /// The datagrams already waiting, without waiting for more.
    fn drain(&self) -> Vec<Message> {
        let mut buffer = vec![0u8; 4096];
        let mut seen = Vec::new();
        while let Ok(received) = self.socket.try_recv(&mut buffer) {
            seen.push(Message {
                at: Instant::now(),
                text: String::from_utf8_lossy(&buffer[..received]).into_owned(),
            });
        }
        seen
    }
}

fn has_line(text: &str, line: &str) -> bool {
    text.lines().any(|one| one == line)
}

/// How long the engine is wedged: longer than `liveness::STUCK_AFTER` (10 s), so it is noticed.
const WEDGE_SECONDS: u64 = 16;

#[tokio::test]
async fn systemd_hears_ready_then_watchdog_pings_that_stop_while_the_engine_is_wedged_and_stopping_at_sigterm()
 {
    let notify = NotifySocket::at_a_path();
    let mut daemon = Daemon::start_with_env(
        BASE_PLAN,
        &[
            ("NOTIFY_SOCKET", notify.name.as_str()),
            ("WATCHDOG_USEC", "1000000"),
            ("GOLIVE_TEST_HOOKS", "1"),
        ],
    )
    .await;

    // The first thing systemd hears is READY=1, with a status naming the port really bound (the
    // daemon was asked for port 0, so only a bound listener knows it).
    let ready = notify.next(30).await;
    assert!(has_line(&ready.text, "READY=1"), "{ready:?}");
    let address = daemon.url.trim_start_matches("http://");
    assert!(
        has_line(
            &ready.text,
            &format!("STATUS=running \"Test shop\" on {address}")
        ),
        "{ready:?}"
    );

    // Then a ping every half second while golive works.
    let mut pings = 0;
    while pings < 3 {
        let message = notify.next(10).await;
        assert_eq!(message.text, "WATCHDOG=1\n");
        pings += 1;
    }

    // Wedge the engine: once it counts as stuck, the pings stop until it turns again.
    let wedged_at = Instant::now();
    let (status, _) = daemon
        .post(
            "/api/v1/test/wedge-engine",
            json!({"seconds": WEDGE_SECONDS}),
        )
        .await;
    assert_eq!(status, 202);
    eventually(30, async || {
        (metric(&daemon, "golive_component_stuck{component=\"engine\"}").await == Some(1.0))
            .then_some(())
    })
    .await;
    let before_stuck = notify.drain();
    assert!(
        before_stuck.iter().all(|m| m.text == "WATCHDOG=1\n"),
        "{before_stuck:?}"
    );
    let resumed = notify.next(40).await;
    assert_eq!(resumed.text, "WATCHDOG=1\n");
    assert!(
        resumed.at.duration_since(wedged_at) >= Duration::from_secs(WEDGE_SECONDS),
        "a ping came {:?} after the engine was wedged for {WEDGE_SECONDS} s",
        resumed.at.duration_since(wedged_at)
    );
    eventually(10, async || {
        (metric(&daemon, "golive_component_stuck{component=\"engine\"}").await == Some(0.0))
            .then_some(())
    })
    .await;
    notify.next(10).await;

    // SIGTERM: STOPPING=1, and no ping after it.
    assert!(daemon.terminate().success());
    let last = notify.drain();
    let stopping = last
        .iter()
        .position(|m| has_line(&m.text, "STOPPING=1"))
        .unwrap_or_else(|| panic!("no STOPPING=1 in {last:?}"));
    assert_eq!(stopping, last.len() - 1, "{last:?}");
    let log = daemon.log();
    assert!(log.contains("systemd watchdog pings stop"), "{log}");
    assert!(log.contains("systemd watchdog pings resume"), "{log}");
}

#[tokio::test]
async fn an_abstract_notify_socket_hears_ready_and_stopping_and_no_pings_for_another_process() {
    let notify = NotifySocket::abstract_named();
    let mut daemon = Daemon::start_with_env(
        BASE_PLAN,
        &[
            ("NOTIFY_SOCKET", notify.name.as_str()),
            ("WATCHDOG_USEC", "1000000"),
            ("WATCHDOG_PID", "1"),
        ],
    )
    .await;
    let ready = notify.next(30).await;
    assert!(has_line(&ready.text, "READY=1"), "{ready:?}");
    // A watchdog meant for another process (WATCHDOG_PID) is not pinged: had it been, the first
    // ping would follow READY=1 at once, well before this command's answer.
    let (status, _) = daemon
        .post("/api/v1/checklist/backup/confirm", json!({}))
        .await;
    assert_eq!(status, 200);
    assert!(daemon.terminate().success());
    let rest = notify.until("STOPPING=1", 10).await;
    assert_eq!(rest.len(), 1, "only STOPPING=1 after READY=1: {rest:?}");
}

/// A line a client tries to slip into the log through an author's name.
const FORGED: &str = "\r\n2026-01-01T00:00:00Z  INFO golive: phase changed to=closed forged=yes";

#[tokio::test]
async fn a_client_cannot_forge_log_lines_and_a_log_file_has_no_colour_codes() {
    let daemon = Daemon::start(BASE_PLAN).await;
    let (status, body) = daemon
        .post(
            "/api/v1/checklist/backup/confirm",
            json!({"author": format!("Mallory{FORGED}")}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = daemon
        .post(
            "/api/v1/phase",
            json!({"to": "closed", "author": format!("Mallory{FORGED}")}),
        )
        .await;
    assert_eq!(status, 409);

    let log = eventually(10, async || {
        let log = daemon.log();
        log.contains("phase change refused").then_some(log)
    })
    .await;
    let forged: Vec<&str> = log.lines().filter(|l| l.contains("forged=yes")).collect();
    assert_eq!(forged.len(), 2, "{log}");
    assert!(forged[0].contains("checklist item confirmed"), "{log}");
    assert!(forged[1].contains("phase change refused"), "{log}");
    assert!(
        forged
            .iter()
            .all(|line| line.contains("Mallory\\r\\n2026-01-01T00:00:00")),
        "{log}"
    );
    assert!(!log.contains('\r'), "{log:?}");
    assert!(
        !log.lines().any(|line| line.starts_with("2026-01-01")),
        "{log}"
    );
    assert!(
        !log.contains('\u{1b}'),
        "colour codes in a log file: {log:?}"
    );
}

#[tokio::test]
async fn log_format_json_writes_one_json_object_per_line_with_user_text_inside_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("plan.toml"), BASE_PLAN).expect("plan");
    let daemon = Daemon::start_in_with_args(dir.path(), &["--log-format", "json"], &[]).await;
    let (status, _) = daemon
        .post(
            "/api/v1/checklist/backup/confirm",
            json!({"author": format!("Mallory{FORGED}")}),
        )
        .await;
    assert_eq!(status, 200);
    let log = eventually(10, async || {
        let log = daemon.log();
        log.contains("checklist item confirmed").then_some(log)
    })
    .await;
    let events: Vec<Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    assert!(
        events
            .iter()
            .any(|event| event["message"] == "golive is running" && event["level"] == "INFO"),
        "{log}"
    );
    let confirmed = events
        .iter()
        .find(|event| event["message"] == "checklist item confirmed")
        .expect("confirmation logged");
    assert_eq!(
        confirmed["author"],
        format!("Mallory{FORGED}"),
        "{confirmed}"
    );
}

/// [`BASE_PLAN`] without its `[[server.tokens]]`: only `GOLIVE_API_TOKEN` lets a client write.
fn plan_without_tokens() -> String {
    let (plan, _) = BASE_PLAN
        .split_once("[[server.tokens]]")
        .expect("base plan has tokens");
    plan.to_string()
}

#[tokio::test]
async fn no_token_warning_at_start_when_golive_api_token_is_set_and_one_when_no_token_is_usable() {
    let daemon = Daemon::start(&plan_without_tokens()).await;
    let (status, _) = daemon
        .post("/api/v1/checklist/backup/confirm", json!({}))
        .await;
    assert_eq!(status, 200, "GOLIVE_API_TOKEN is accepted");
    let log = daemon.log();
    assert!(log.contains("golive is running"), "{log}");
    assert!(!log.contains("no API tokens are configured"), "{log}");
    assert!(!log.contains("no usable API token"), "{log}");

    let without = Daemon::start_with_env(&plan_without_tokens(), &[("GOLIVE_API_TOKEN", "")]).await;
    let (status, _) = without
        .post("/api/v1/checklist/backup/confirm", json!({}))
        .await;
    assert_eq!(status, 401);
    let log = without.log();
    assert!(log.contains("no usable API token"), "{log}");
}
