//! Active/standby on PostgreSQL, end to end: two real golive daemons on the same plan and database
//! of the throw-away cluster (`postgres.rs`), each with its own data directory as on two hosts,
//! paging through a real SMTP server (aiosmtpd) about a real flip target. The one holding the
//! lease is active; the other waits, answers writes with 503 and the active's URL, and takes over
//! when the active is killed or paused past its lease — without a page lost or sent twice.

use std::path::Path;
use std::process::Child;
use std::time::Duration;

use crate::alerting::{Receiver, open_alert};
use crate::cut_proxy::{CutProxy, address_of, through_port};
use crate::helpers::{BASE_PLAN, Daemon, cli, eventually, spawn_with_env};
use crate::monitoring::Switchable;
use crate::plans::{channels, http_check, page_policy};
use crate::smtp::{ReceivedMessage, SmtpOptions, SmtpServer};

/// One member: a golive daemon in a folder of its own (its plan copy and data directory).
pub(crate) struct Member {
    child: Option<Child>,
    pub daemon: Daemon,
    _dir: Option<tempfile::TempDir>,
}

impl Member {
    /// Starts a member on `plan` and `database`, and waits until it answers `/healthz`, as an
    /// active or a standby.
    pub async fn start(plan: &str, database: &str) -> Member {
        Member::start_with_env(plan, database, &[]).await
    }

    /// [`Member::start`] with more environment variables.
    async fn start_with_env(plan: &str, database: &str, env: &[(&str, &str)]) -> Member {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("plan.toml"), plan).expect("write plan");
        let mut member = Member::start_in_with_env(dir.path(), database, env).await;
        member._dir = Some(dir);
        member
    }

    /// Starts a member again in `dir` (a restart of the same member).
    async fn start_in(dir: &Path, database: &str) -> Member {
        Member::start_in_with_env(dir, database, &[]).await
    }

    async fn start_in_with_env(dir: &Path, database: &str, env: &[(&str, &str)]) -> Member {
        let daemon_file = dir.join("data").join("daemon.json");
        let _ = std::fs::remove_file(&daemon_file);
        let child = spawn_with_env(
            dir,
            &["run", "plan.toml", "--listen", "127.0.0.1:0"],
            // The test hooks keep a member that lost its lease a few seconds before it exits, so
            // the fences are seen to hold by themselves.
            &[
                &[
                    ("GOLIVE_DATABASE_URL", database),
                    ("GOLIVE_ACK_SECRET", "the-same-key-on-every-member"),
                    ("GOLIVE_TEST_HOOKS", "1"),
                ],
                env,
            ]
            .concat(),
        );
        let pid = u64::from(child.id());
        let announced = || {
            let text = std::fs::read_to_string(&daemon_file).ok()?;
            let value: serde_json::Value = serde_json::from_str(&text).ok()?;
            (value["pid"].as_u64() == Some(pid)).then(|| value["url"].as_str().map(String::from))?
        };
        let started = std::time::Instant::now();
        let url = loop {
            if let Some(url) = announced() {
                break url;
            }
            let log = std::fs::read_to_string(dir.join(crate::helpers::DAEMON_LOG));
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the member did not announce itself: {log:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let daemon = Daemon::client_of(url, dir);
        eventually(30, async || {
            (daemon.get_text("/healthz").await.0 == 200).then_some(())
        })
        .await;
        Member {
            child: Some(child),
            daemon,
            _dir: None,
        }
    }

    /// `golive_ha_role` as this member's `/metrics` says: 1 active, 0 standby.
    pub async fn role(&self) -> Option<u8> {
        // A connection the standby's server closes as it hands over to the active's is no answer.
        let response = (self
            .daemon
            .http
            .get(self.daemon.at("/metrics"))
            .send()
            .await)
            .ok()?;
        if response.status().as_u16() != 200 {
            return None;
        }
        let text = response.text().await.ok()?;
        text.lines()
            .find_map(|line| line.strip_prefix("golive_ha_role "))
            .and_then(|value| value.trim().parse().ok())
    }

    pub async fn wait_until_active(&self) {
        eventually(30, async || (self.role().await == Some(1)).then_some(())).await;
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("running member").id()
    }

    fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .args([&format!("-{name}"), &self.pid().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{name}");
    }

    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits for the member to end by itself and returns its exit code.
    async fn exited(&mut self) -> Option<i32> {
        let child = self.child.as_mut().expect("running member");
        let status = eventually(30, async || child.try_wait().ok().flatten()).await;
        self.child = None;
        status.code()
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// What every member on PostgreSQL must share (golive refuses to start without): the key that
/// signs acknowledgement links, read from `GOLIVE_ACK_SECRET`, and the address in them.
pub const SHARED_LINKS: &str = "public_url = \"https://golive.shop.example\"\nack_link_secret = { env = \"GOLIVE_ACK_SECRET\" }";

/// The launch most tests run: one critical check of `target` that pages Bob at once and Alice
/// (level 2) `level_two` after the opening, by email.
pub(crate) fn plan(
    smtp: &SmtpServer,
    hook: &Receiver,
    target: &Switchable,
    level_two: &str,
) -> String {
    let check = http_check("shop", &target.url())
        .named("Shop front page")
        .in_phases(&["planned"]);
    format!(
        "{BASE_PLAN}{check}{}{}",
        channels(smtp.port, &hook.url, "30s"),
        page_policy()
            .level("0s", &["bob"], &["email"])
            .level(level_two, &["alice"], &["email"])
            .repeat("1h")
            .alerting(SHARED_LINKS),
    )
}

/// Messages to `address` other than resolutions and the failover notice: its pages (and any
/// other warning).
fn pages_to(messages: &[ReceivedMessage], address: &str) -> usize {
    messages
        .iter()
        .filter(|message| message.recipients.iter().any(|to| to == address))
        .filter(|message| !message.email.subject.starts_with("[RESOLVED]"))
        .filter(|message| !is_failover_notice(message))
        .count()
}

fn is_failover_notice(message: &ReceivedMessage) -> bool {
    message.email.subject.ends_with("golive failed over")
}

/// Waits until every notification of alert `id` is delivered, as `member` reads them; returns
/// how many there are.
async fn all_delivered(member: &Member, id: i64) -> usize {
    eventually(20, async || {
        let (_, detail) = member.daemon.get(&format!("/api/v1/alerts/{id}")).await;
        let rows = detail["notifications"].as_array().cloned()?;
        (!rows.is_empty() && rows.iter().all(|row| row["status"] == "delivered"))
            .then_some(rows.len())
    })
    .await
}

/// Resolves the alert and waits for the resolution to reach Alice: everything sent before it
/// has arrived.
async fn resolve_and_wait(smtp: &SmtpServer, target: &Switchable) -> Vec<ReceivedMessage> {
    target.set(200);
    eventually(30, async || {
        let messages = smtp.messages();
        messages
            .iter()
            .any(|message| {
                message.email.subject.starts_with("[RESOLVED]")
                    && message
                        .recipients
                        .iter()
                        .any(|to| to == "alice@example.com")
            })
            .then_some(messages)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_active_is_killed_mid_escalation_the_standby_sends_level_two_once() {
    let database = crate::postgres::database_url();
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    let hook = Receiver::start().await;
    let target = Switchable::start(200).await;
    // Level 2 falls due while no member is active (the takeover takes the 5 s lease): it goes out
    // at once from the new active, once.
    let plan = plan(&smtp, &hook, &target, "4s");
    let mut first = Member::start(&plan, &database).await;
    first.wait_until_active().await;
    let second = Member::start(&plan, &database).await;
    assert_eq!(second.role().await, Some(0), "the second member waits");
    // A write sent to the standby is refused with the active's address.
    let refused = second
        .daemon
        .http
        .post(second.daemon.at("/api/v1/log"))
        .bearer_auth(crate::helpers::TOKEN)
        .json(&serde_json::json!({"kind": "note", "text": "to the standby"}))
        .send()
        .await
        .expect("standby answers");
    assert_eq!(refused.status(), 503);
    assert_eq!(
        refused.headers()["x-golive-active"].to_str().ok(),
        Some(first.daemon.url.as_str())
    );
    // A person opening the standby's status page sees the stored view, pointing at the active's.
    let page = second
        .daemon
        .http
        .get(second.daemon.at("/"))
        .header("accept", "text/html")
        .send()
        .await
        .expect("standby answers");
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap_or_default();
    assert!(
        page.contains(&format!("<a href=\"{}/\">", first.daemon.url)),
        "{page}"
    );
    // The CLI pointed at the standby retries at the active.
    let (code, _, stderr) = cli(
        &first.daemon.dir,
        &[
            "note",
            "Kept across the failover",
            "--server",
            &second.daemon.url,
        ],
    );
    assert_eq!(code, 0, "{stderr}");

    target.set(503);
    smtp.wait_for(1, Duration::from_secs(20)).await;
    let id = open_alert(&first.daemon).await["id"]
        .as_i64()
        .expect("an alert id");
    // Level 1 is recorded as delivered before the kill (else it is sent again: at least once).
    all_delivered(&first, id).await;
    assert_eq!(
        pages_to(&smtp.messages(), "alice@example.com"),
        0,
        "level 2 is not due yet at the kill"
    );
    first.kill9();

    second.wait_until_active().await;
    let (_, log) = second.daemon.get("/api/v1/log?kind=note").await;
    assert!(
        log.to_string().contains("Kept across the failover"),
        "a write the old active accepted survives: {log}"
    );
    let (_, decisions) = second.daemon.get("/api/v1/log?kind=decision").await;
    assert!(
        decisions.to_string().contains("became the active daemon"),
        "{decisions}"
    );
    eventually(30, async || {
        (pages_to(&smtp.messages(), "alice@example.com") >= 1).then_some(())
    })
    .await;
    let messages = resolve_and_wait(&smtp, &target).await;
    assert_eq!(pages_to(&messages, "alice@example.com"), 1, "level 2 once");
    assert_eq!(
        pages_to(&messages, "bob@example.com"),
        1,
        "level 1 not again"
    );
    let notices: Vec<&ReceivedMessage> =
        messages.iter().filter(|m| is_failover_notice(m)).collect();
    assert_eq!(notices.len(), 1, "the ops lead hears of the failover once");
    assert_eq!(notices[0].recipients, ["bob@example.com"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_active_paused_past_its_lease_sends_and_writes_nothing_when_it_wakes_and_steps_down() {
    let database = crate::postgres::database_url();
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    let hook = Receiver::start().await;
    let target = Switchable::start(200).await;
    let plan = plan(&smtp, &hook, &target, "10s");
    let mut first = Member::start(&plan, &database).await;
    first.wait_until_active().await;
    let second = Member::start(&plan, &database).await;
    target.set(503);
    smtp.wait_for(1, Duration::from_secs(20)).await;
    let id = open_alert(&first.daemon).await["id"]
        .as_i64()
        .expect("an alert id");
    all_delivered(&first, id).await;
    // Paused before level 2 is due: when it wakes, level 2 is due in its memory.
    first.signal("STOP");
    second.wait_until_active().await;
    eventually(30, async || {
        (pages_to(&smtp.messages(), "alice@example.com") == 1).then_some(())
    })
    .await;
    first.signal("CONT");
    assert_eq!(first.exited().await, Some(75), "{}", first.daemon.log());
    let log = first.daemon.log();
    assert!(log.contains("stepping down"), "{log}");
    // Level 2 was due in its memory when it woke: it tried to write it and was refused.
    assert!(log.contains("no longer holds the lease"), "{log}");
    let messages = resolve_and_wait(&smtp, &target).await;
    assert_eq!(pages_to(&messages, "alice@example.com"), 1, "level 2 once");
    assert_eq!(pages_to(&messages, "bob@example.com"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_restarted_together_agree_on_one_active() {
    let database = crate::postgres::database_url();
    let target = Switchable::start(200).await;
    let check = http_check("shop", &target.url()).in_phases(&["planned"]);
    let plan = format!("{BASE_PLAN}{check}\n[alerting]\n{SHARED_LINKS}\n");
    let mut first = Member::start(&plan, &database).await;
    first.wait_until_active().await;
    let mut second = Member::start(&plan, &database).await;
    let dirs = [first.daemon.dir.clone(), second.daemon.dir.clone()];
    first.kill9();
    second.kill9();
    let (first, second) = tokio::join!(
        Member::start_in(&dirs[0], &database),
        Member::start_in(&dirs[1], &database)
    );
    let roles = eventually(30, async || {
        let roles = (first.role().await?, second.role().await?);
        (roles.0 + roles.1 == 1).then_some(roles)
    })
    .await;
    let (active, standby) = if roles.0 == 1 {
        (&first, &second)
    } else {
        (&second, &first)
    };
    let (status, _) = standby.daemon.get("/api/v1/status").await;
    assert_eq!(status, 503, "the standby does not answer as the active");
    let (status, _) = active.daemon.get("/api/v1/status").await;
    assert_eq!(status, 200);
    assert_eq!(standby.role().await, Some(0), "still one active");
    // A standby stops cleanly on SIGTERM.
    standby.signal("TERM");
    let mut standby = if roles.0 == 1 { second } else { first };
    assert_eq!(standby.exited().await, Some(0), "{}", standby.daemon.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn systemd_hears_a_standby_ready_and_pinging_while_it_waits_and_active_when_it_takes_over() {
    let database = crate::postgres::database_url();
    let target = Switchable::start(200).await;
    let check = http_check("shop", &target.url()).in_phases(&["planned"]);
    let plan = format!("{BASE_PLAN}{check}\n[alerting]\n{SHARED_LINKS}\n");
    let mut active = Member::start(&plan, &database).await;
    active.wait_until_active().await;
    let notify = crate::service::NotifySocket::at_a_path();
    let standby = Member::start_with_env(
        &plan,
        &database,
        &[
            ("NOTIFY_SOCKET", notify.name.as_str()),
            ("WATCHDOG_USEC", "1000000"),
        ],
    )
    .await;
    // systemd (Type=notify) counts the standby as started, and its watchdog is fed while it waits.
    let heard = notify.until("READY=1", 30).await;
    let ready = heard.last().expect("READY=1");
    assert!(
        ready
            .text
            .contains("STATUS=standby: waiting for the lease held by"),
        "{ready:?}"
    );
    notify.until("WATCHDOG=1", 10).await;
    assert_eq!(standby.role().await, Some(0));
    active.kill9();
    let heard = notify.until("READY=1", 30).await;
    assert!(
        heard
            .iter()
            .any(|message| message.text.contains("STATUS=active")),
        "{heard:?}"
    );
    standby.wait_until_active().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_active_cut_off_from_the_database_sends_and_writes_nothing_more_and_steps_down() {
    let database = crate::postgres::database_url();
    // The first member reaches PostgreSQL only through a proxy the test cuts, and mails through
    // a server of its own, so what it sends is counted apart from the second member's mail.
    let proxy = CutProxy::start(address_of(&database)).await;
    let (smtp_of_first, smtp) = (
        SmtpServer::start(SmtpOptions::plain()).await,
        SmtpServer::start(SmtpOptions::plain()).await,
    );
    let hook = Receiver::start().await;
    let target = Switchable::start(200).await;
    let mut first = Member::start(
        &plan(&smtp_of_first, &hook, &target, "10s"),
        &through_port(&database, proxy.port),
    )
    .await;
    first.wait_until_active().await;
    let second = Member::start(&plan(&smtp, &hook, &target, "10s"), &database).await;
    target.set(503);
    smtp_of_first.wait_for(1, Duration::from_secs(20)).await;
    let id = open_alert(&first.daemon).await["id"]
        .as_i64()
        .expect("an alert id");
    all_delivered(&first, id).await;
    // The network drops everything between the active and the database, silently.
    proxy.cut();
    let sent_by_first = smtp_of_first.messages().len();
    second.wait_until_active().await;
    eventually(30, async || {
        (pages_to(&smtp.messages(), "alice@example.com") >= 1).then_some(())
    })
    .await;
    // The old active finds out by itself, still cut off (its database just went silent), that
    // its lease ran out, and steps down.
    assert_eq!(first.exited().await, Some(75), "{}", first.daemon.log());
    assert!(first.daemon.log().contains("stepping down"));
    // The network comes back and the old member is restarted (as systemd would): it serves as a
    // standby, and nothing is sent twice.
    proxy.heal();
    let first_dir = first.daemon.dir.clone();
    let restarted = Member::start_in(&first_dir, &through_port(&database, proxy.port)).await;
    assert_eq!(restarted.role().await, Some(0), "back as a standby");
    let messages = resolve_and_wait(&smtp, &target).await;
    assert_eq!(
        smtp_of_first.messages().len(),
        sent_by_first,
        "the cut-off member sent nothing more"
    );
    assert_eq!(pages_to(&messages, "alice@example.com"), 1, "level 2 once");
    assert_eq!(
        pages_to(&messages, "bob@example.com"),
        0,
        "level 1 not again"
    );
    // What the database holds: one level-2 notification, from the new active.
    let (_, detail) = second.daemon.get(&format!("/api/v1/alerts/{id}")).await;
    let to_alice = detail["notifications"]
        .as_array()
        .expect("notifications")
        .iter()
        .filter(|row| row["kind"] == "escalated" && row["to"].to_string().contains("alice@"))
        .count();
    assert_eq!(to_alice, 1, "{detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_active_stopped_during_a_slow_send_hands_over_after_it_so_the_page_arrives_once() {
    let database = crate::postgres::database_url();
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    let hook = Receiver::start().await;
    let target = Switchable::start(200).await;
    let plan = plan(&smtp, &hook, &target, "1h");
    let notify = crate::service::NotifySocket::at_a_path();
    let mut first =
        Member::start_with_env(&plan, &database, &[("NOTIFY_SOCKET", notify.name.as_str())]).await;
    first.wait_until_active().await;
    let second = Member::start(&plan, &database).await;
    // The relay takes the page at once but answers only after longer than a stop used to wait
    // for sends in flight (3 s).
    smtp.answer_after(Duration::from_secs(6));
    target.set(503);
    smtp.wait_for(1, Duration::from_secs(20)).await;
    first.signal("TERM");
    // systemd is asked to wait for the send beyond the unit's TimeoutStopSec=, not to kill it.
    assert!(extension_heard(&notify).await >= Duration::from_secs(6));
    assert_eq!(first.exited().await, Some(0), "{}", first.daemon.log());
    smtp.answer_after(Duration::ZERO);
    second.wait_until_active().await;
    // The resolution goes out behind the page: once it arrived, a page sent again would have too.
    target.set(200);
    let messages = eventually(30, async || {
        let messages = smtp.messages();
        messages
            .iter()
            .any(|message| message.email.subject.starts_with("[RESOLVED]"))
            .then_some(messages)
    })
    .await;
    assert_eq!(pages_to(&messages, "bob@example.com"), 1, "the page once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_takeover_record_the_database_refuses_at_first_is_written_and_told_once_it_can_be() {
    let database = crate::postgres::database_url();
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    let hook = Receiver::start().await;
    let target = Switchable::start(200).await;
    let plan = plan(&smtp, &hook, &target, "1h");
    let mut first = Member::start(&plan, &database).await;
    first.wait_until_active().await;
    let second = Member::start(&plan, &database).await;
    // The database refuses golive's decision entries for now (a trigger; the test lifts it).
    crate::postgres::run_sql(
        &database,
        "CREATE TABLE refuse_decisions (refused INT); INSERT INTO refuse_decisions VALUES (1); \
         CREATE FUNCTION refuse_decision() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
         IF EXISTS (SELECT 1 FROM refuse_decisions) THEN RAISE EXCEPTION 'refused by the test'; \
         END IF; RETURN NEW; END $$; \
         CREATE TRIGGER refuse_decision BEFORE INSERT ON log FOR EACH ROW \
         WHEN (NEW.kind = 'decision') EXECUTE FUNCTION refuse_decision()",
    );
    first.kill9();
    second.wait_until_active().await;
    eventually(30, async || {
        second
            .daemon
            .log()
            .contains("could not record the takeover; trying again")
            .then_some(())
    })
    .await;
    crate::postgres::run_sql(&database, "DELETE FROM refuse_decisions");
    // Once the daemon says the record is written, it tries no more: count after that.
    eventually(30, async || {
        second
            .daemon
            .log()
            .contains("recorded the takeover")
            .then_some(())
    })
    .await;
    let (_, decisions) = second.daemon.get("/api/v1/log?kind=decision").await;
    let took_over = decisions.to_string().matches("it took over from").count();
    assert_eq!(took_over, 1, "recorded once");
    let notices = eventually(30, async || {
        let notices = smtp
            .messages()
            .iter()
            .filter(|message| is_failover_notice(message))
            .count();
        (notices > 0).then_some(notices)
    })
    .await;
    assert_eq!(notices, 1, "the ops lead hears of the failover once");
}

/// The time a stopping daemon asked systemd to wait for it (`EXTEND_TIMEOUT_USEC`).
async fn extension_heard(notify: &crate::service::NotifySocket) -> Duration {
    loop {
        let message = notify.next(30).await;
        let asked = (message.text.lines())
            .find_map(|line| line.strip_prefix("EXTEND_TIMEOUT_USEC="))
            .map(|usec| usec.parse::<u64>().expect("microseconds"));
        if let Some(usec) = asked {
            return Duration::from_micros(usec);
        }
    }
}

/// A stop is a clean stop on SQLite too: a rollback hook that was running is let finish (it is
/// recorded as started and never run again, so a killed one would stay half-done unnoticed), its
/// outcome recorded, and systemd asked to wait for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_hook_running_at_a_stop_finishes_is_recorded_and_systemd_waits_for_it() {
    let hook = "\n[rollback.hook]\ncommand = [\"sh\", \"-c\", \"touch started; sleep 6; echo rolled back > rollback.out; echo done\"]\ntimeout = \"30s\"\n";
    let plan = format!("{BASE_PLAN}{hook}");
    let notify = crate::service::NotifySocket::at_a_path();
    let mut daemon =
        Daemon::start_with_env(&plan, &[("NOTIFY_SOCKET", notify.name.as_str())]).await;
    for _ in 0..2 {
        daemon
            .post(
                "/api/v1/phase",
                serde_json::json!({"force": true, "reason": "test"}),
            )
            .await;
    }
    let (code, out, err) = tokio::task::spawn_blocking({
        let (dir, url) = (daemon.dir.clone(), daemon.url.clone());
        move || {
            let arguments = ["rollback", "--reason", "checkout failing", "--server", &url];
            cli(&dir, &[&arguments[..], &["--author", "alice"]].concat())
        }
    })
    .await
    .expect("cli");
    assert_eq!(code, 0, "{out}{err}");
    let dir = daemon.dir.clone();
    eventually(30, async || dir.join("started").exists().then_some(())).await;
    let status = tokio::task::block_in_place(|| daemon.terminate());
    assert!(status.success(), "{status}");
    assert_eq!(
        std::fs::read_to_string(dir.join("rollback.out"))
            .ok()
            .as_deref(),
        Some("rolled back\n"),
        "the hook ran to its end: {}",
        daemon.log()
    );
    assert!(extension_heard(&notify).await >= Duration::from_secs(6));
    let restarted = Daemon::start_in(&dir).await;
    let (_, log) = restarted.get("/api/v1/log?kind=decision").await;
    let ran = log.to_string();
    assert!(
        ran.contains("Rollback hook ran") && ran.contains("exited with 0: done"),
        "{ran}"
    );
}

/// A golive older than the database's schema (here: a schema "from the future") refuses to
/// compete for the lease at all, and says so, instead of taking it and failing to open the store
/// while it holds it (which kept a member that could open it out until the lease ran out, again
/// at every restart).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_golive_older_than_the_schema_never_takes_the_lease_and_exits_saying_why() {
    let database = crate::postgres::database_url();
    crate::postgres::run_sql(
        &database,
        "CREATE TABLE golive_schema (id BIGINT PRIMARY KEY CHECK (id = 1), version BIGINT NOT NULL); \
         INSERT INTO golive_schema VALUES (1, 99)",
    );
    let (status, log) = run_a_member_until_it_exits(&database).await;
    assert_eq!(status.code(), Some(65), "{log}");
    assert!(log.contains("newer than this golive"), "{log}");
    assert_eq!(
        crate::postgres::query_sql(&database, "SELECT epoch FROM golive_lease"),
        "0",
        "the lease was never taken"
    );
}

/// A golive from before high availability that was already running when the store was marked
/// (schema 10) holds the writer lock and writes without the lease's fence: no member becomes
/// active beside it (here golive's own store, opened the tools' way, holds the lock), and one
/// does once it is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_member_becomes_active_while_a_writer_without_the_lease_holds_the_writer_lock() {
    use golive::store::{Backend, Store};
    let database = crate::postgres::database_url();
    let tools_dir = tempfile::tempdir().expect("temp dir");
    let backend = Backend::Postgres(golive::domain::Secret::new(database.clone()));
    let store = tokio::task::block_in_place(|| Store::open_with(tools_dir.path(), &backend))
        .expect("the tools' store");
    let target = Switchable::start(200).await;
    let check = http_check("shop", &target.url()).in_phases(&["planned"]);
    let plan = format!("{BASE_PLAN}{check}\n[alerting]\n{SHARED_LINKS}\n");
    let member = Member::start(&plan, &database).await;
    eventually(30, async || {
        member
            .daemon
            .log()
            .contains("holds golive's writer lock")
            .then_some(())
    })
    .await;
    assert_eq!(
        member.role().await,
        Some(0),
        "a standby while the lock is held"
    );
    drop(store);
    member.wait_until_active().await;
}

/// A member that took the lease and then cannot open the store (here a migration fails: a table
/// it creates is already there) gives the lease up before it exits, so another member (or its
/// own restart) is not kept out until the lease runs out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_cannot_open_the_store_after_taking_the_lease_gives_it_up() {
    let database = crate::postgres::database_url();
    crate::postgres::run_sql(&database, "CREATE TABLE launch_state (id BIGINT)");
    let (status, log) = run_a_member_until_it_exits(&database).await;
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(log.contains("giving the lease up"), "{log}");
    assert_eq!(
        crate::postgres::query_sql(
            &database,
            "SELECT epoch || ' ' || expires_at FROM golive_lease"
        ),
        "1 0",
        "taken once, then given up"
    );
}

/// Starts one member on `database` with an empty plan and waits until it exits: its status and
/// its log.
async fn run_a_member_until_it_exits(database: &str) -> (std::process::ExitStatus, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let plan = format!("{BASE_PLAN}\n[alerting]\n{SHARED_LINKS}\n");
    std::fs::write(dir.path().join("plan.toml"), plan).expect("write plan");
    let mut child = spawn_with_env(
        dir.path(),
        &["run", "plan.toml", "--listen", "127.0.0.1:0"],
        &[
            ("GOLIVE_DATABASE_URL", database),
            ("GOLIVE_ACK_SECRET", "the-same-key-on-every-member"),
        ],
    );
    let status = eventually(30, async || child.try_wait().ok().flatten()).await;
    let log =
        std::fs::read_to_string(dir.path().join(crate::helpers::DAEMON_LOG)).unwrap_or_default();
    (status, log)
}
