//! What a standby serves, end to end: two real golive daemons on the same plan and database of the
//! throw-away PostgreSQL cluster (`postgres.rs`, members from `ha.rs`), paging through a real SMTP
//! server about a real flip target. The standby answers the stored reads with the active's bodies,
//! shows the launch on its status page under a banner naming the active, refuses writes with the
//! active's URL (the CLI completes them there), and after a failover serves the live page.

use std::time::Duration;

use serde_json::Value;

use crate::alerting::{Receiver, open_alert};
use crate::ha::{Member, plan};
use crate::helpers::{Daemon, cli, eventually};
use crate::monitoring::Switchable;
use crate::plans::http_check;
use crate::smtp::{SmtpOptions, SmtpServer};

/// A GET with its status, the two headers a standby adds, and the body as text.
struct Read {
    status: u16,
    role: Option<String>,
    active: Option<String>,
    text: String,
}

async fn read(daemon: &Daemon, path: &str, accept: &str) -> Read {
    let response = daemon
        .http
        .get(daemon.at(path))
        .header("accept", accept)
        .send()
        .await
        .expect("the daemon answers");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(String::from)
    };
    let (role, active) = (header("x-golive-role"), header("x-golive-active"));
    Read {
        status: response.status().as_u16(),
        role,
        active,
        text: response.text().await.expect("a body"),
    }
}

/// `value` with every time in it to the millisecond. The active may answer a time it keeps in
/// memory to the nanosecond (a checklist confirmation's no longer: see
/// `a_checklist_confirmation_time_reads_the_same_on_the_active_and_from_the_store`); the store,
/// and so a standby, keeps milliseconds.
fn to_the_millisecond(value: Value) -> Value {
    match value {
        Value::String(text) => match text.parse::<jiff::Timestamp>() {
            Ok(at) => Value::from(at.as_millisecond()),
            Err(_) => Value::String(text),
        },
        Value::Array(items) => items.into_iter().map(to_the_millisecond).collect(),
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(key, value)| (key, to_the_millisecond(value)))
                .collect(),
        ),
        other => other,
    }
}

/// Waits until the standby answers `path` with the same JSON as the active (read before and
/// after it, unchanged meanwhile: the active keeps writing), and returns that body, its times to
/// the millisecond.
async fn same_on_both(active: &Member, standby: &Member, path: &str) -> Value {
    let json = |read: &Read| {
        serde_json::from_str::<Value>(&read.text)
            .ok()
            .map(to_the_millisecond)
    };
    eventually(30, async || {
        let before = read(&active.daemon, path, "application/json").await;
        let from_standby = read(&standby.daemon, path, "application/json").await;
        let after = read(&active.daemon, path, "application/json").await;
        assert_eq!(before.role, None, "the active answers as itself");
        let stable = before.status == 200 && before.text == after.text;
        (stable && from_standby.status == 200 && json(&from_standby) == json(&before)).then(|| {
            assert_eq!(from_standby.role.as_deref(), Some("standby"), "{path}");
            assert_eq!(
                from_standby.active.as_deref(),
                Some(active.daemon.url.as_str()),
                "{path}"
            );
            json(&before).unwrap_or_default()
        })
    })
    .await
}

/// An active member and a standby waiting beside it on the throw-away cluster, their plan's check
/// probing `target` and paging through `smtp` and `hook` (kept alive as long as the test holds
/// them).
struct Pair {
    smtp: SmtpServer,
    hook: Receiver,
    target: Switchable,
    plan: String,
    active: Member,
    standby: Member,
}

impl Pair {
    async fn start() -> Pair {
        let database = crate::postgres::database_url();
        let smtp = SmtpServer::start(SmtpOptions::plain()).await;
        let hook = Receiver::start().await;
        let target = Switchable::start(200).await;
        let plan = plan(&smtp, &hook, &target, "1h");
        let active = Member::start(&plan, &database).await;
        active.wait_until_active().await;
        let standby = Member::start(&plan, &database).await;
        assert_eq!(standby.role().await, Some(0), "the second member waits");
        Pair {
            smtp,
            hook,
            target,
            plan,
            active,
            standby,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_serves_the_stored_launch_as_the_active_wrote_it_and_the_live_page_after_failover()
 {
    let Pair {
        smtp,
        hook: _hook,
        target,
        plan: _,
        mut active,
        standby,
    } = Pair::start().await;

    // An alert raised on the active, paged to Bob.
    target.set(503);
    smtp.wait_for(1, Duration::from_secs(20)).await;
    let alert = open_alert(&active.daemon).await;
    let id = alert["id"].as_i64().expect("an alert id");
    let title = alert["title"].as_str().expect("a title").to_string();

    // The standby reads it from the database with the active's bodies, field for field.
    let detail = same_on_both(&active, &standby, &format!("/api/v1/alerts/{id}")).await;
    assert!(
        !detail["notifications"]
            .as_array()
            .is_none_or(|rows| rows.is_empty()),
        "with its delivery rows: {detail}"
    );
    let log = same_on_both(&active, &standby, "/api/v1/log?kind=alert,check&limit=20").await;
    assert!(log.to_string().contains(&title), "{log}");
    // A checklist confirmation and an action item made on the active, read back from the standby.
    let (status, body) = active
        .daemon
        .post(
            "/api/v1/checklist/backup/confirm",
            serde_json::json!({"author": "bob"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = active
        .daemon
        .post(
            "/api/v1/actions",
            serde_json::json!({"title": "Rotate the shop's keys", "owner": "bob"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let checklist = same_on_both(&active, &standby, "/api/v1/checklist").await;
    assert!(checklist.to_string().contains("\"bob\""), "{checklist}");
    let actions = same_on_both(&active, &standby, "/api/v1/actions").await;
    assert!(
        actions.to_string().contains("Rotate the shop's keys"),
        "{actions}"
    );
    for path in [
        "/api/v1/alerts",
        "/api/v1/plan",
        "/api/v1/timeline",
        "/api/v1/reports",
    ] {
        same_on_both(&active, &standby, path).await;
    }
    // Every answer says it came from a standby, /healthz and /metrics too.
    for path in ["/healthz", "/metrics"] {
        let answer = read(&standby.daemon, path, "text/plain").await;
        assert_eq!(answer.status, 200, "{path}");
        assert_eq!(answer.role.as_deref(), Some("standby"), "{path}");
        assert_eq!(answer.active.as_deref(), Some(active.daemon.url.as_str()));
    }
    // An acknowledgement or feedback link opened at the standby goes to the active, token kept.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    for path in ["/ack/a-token?from=mail", "/feedback/a-token"] {
        let answer = no_redirects
            .get(standby.daemon.at(path))
            .send()
            .await
            .expect("the standby answers");
        assert_eq!(answer.status(), 307, "{path}");
        assert_eq!(
            answer.headers()["location"],
            format!("{}{path}", active.daemon.url).as_str()
        );
    }
    // Reads of the engine's live state are the active's alone.
    let status = read(&standby.daemon, "/api/v1/status", "application/json").await;
    assert_eq!(status.status, 503, "{}", status.text);
    assert_eq!(status.active.as_deref(), Some(active.daemon.url.as_str()));

    // The standby's status page: the launch as stored, under the banner naming the active.
    let page = eventually(30, async || {
        let page = read(&standby.daemon, "/", "text/html").await;
        (page.status == 200 && page.text.contains(&title)).then_some(page)
    })
    .await;
    assert_eq!(page.role.as_deref(), Some("standby"));
    assert!(page.text.contains("Standby view"), "{}", page.text);
    assert!(
        page.text
            .contains(&format!("<a href=\"{}/\">", active.daemon.url)),
        "{}",
        page.text
    );
    assert!(
        page.text.contains("phase-planned"),
        "the phase: {}",
        page.text
    );
    assert!(
        page.text.contains("stored: failing since this change"),
        "the check's stored health: {}",
        page.text
    );
    assert!(
        page.text.contains("data-standby=\"1\"") && !page.text.contains("href=\"/api/v1/status\""),
        "no link to what a standby refuses: {}",
        page.text
    );

    // A write to the standby is refused, naming the active; the CLI completes it there.
    let (status, refusal) = standby
        .daemon
        .post(
            "/api/v1/log",
            serde_json::json!({"kind": "note", "text": "to the standby"}),
        )
        .await;
    assert_eq!(status, 503, "{refusal}");
    assert_eq!(refusal["active_url"], active.daemon.url.as_str());
    let (code, _, stderr) = cli(
        &standby.daemon.dir,
        &[
            "note",
            "Written through the standby",
            "--server",
            &standby.daemon.url,
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let notes = same_on_both(&active, &standby, "/api/v1/log?kind=note").await;
    assert!(
        notes.to_string().contains("Written through the standby"),
        "{notes}"
    );

    // After a failover the old standby serves the live page, without the banner.
    active.kill9();
    standby.wait_until_active().await;
    let page = eventually(30, async || {
        let page = read(&standby.daemon, "/", "text/html").await;
        (page.status == 200 && page.role.is_none()).then_some(page)
    })
    .await;
    assert!(!page.text.contains("Standby view"), "{}", page.text);
    assert!(page.text.contains(&title), "{}", page.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_refuses_a_host_name_it_does_not_serve_as_the_active_does() {
    let Pair {
        smtp: _smtp,
        hook: _hook,
        target: _target,
        plan: _,
        active,
        standby,
    } = Pair::start().await;
    for path in ["/api/v1/plan", "/", "/healthz", "/metrics", "/api/v1/log"] {
        for member in [&active, &standby] {
            let response = member
                .daemon
                .http
                .get(member.daemon.at(path))
                .header(reqwest::header::HOST, "rebind.evil.example:9898")
                .send()
                .await
                .expect("the member answers");
            assert_eq!(response.status(), 421, "{path} at {}", member.daemon.url);
            let body = response.text().await.expect("a body");
            assert!(!body.contains("bob@example.com"), "{path}: {body}");
            assert!(body.contains("[server] allowed_hosts"), "{path}: {body}");
        }
    }
    // Its own address is still answered, with the plan.
    let plan = read(&standby.daemon, "/api/v1/plan", "application/json").await;
    assert_eq!(plan.status, 200, "{}", plan.text);
    assert!(plan.text.contains("bob@example.com"), "{}", plan.text);
}

/// `data-state` of check `id`'s row on a status page.
fn check_state<'a>(page: &'a str, id: &str) -> Option<&'a str> {
    let row = page.split(&format!("id=\"check-{id}\"")).nth(1)?;
    row.split("data-state=\"").nth(1)?.split('"').next()
}

/// The reason cell of check `id`'s row on a status page.
fn check_reason<'a>(page: &'a str, id: &str) -> Option<&'a str> {
    let row = page.split(&format!("id=\"check-{id}\"")).nth(1)?;
    row.split("class=\"reason\">").nth(1)?.split("</td>").next()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_page_shows_a_calm_check_healthy_and_one_that_recovered_after_a_failover_healthy()
{
    let database = crate::postgres::database_url();
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    let hook = Receiver::start().await;
    let target = Switchable::start(503).await;
    let calm = Switchable::start(200).await;
    let calm_check = http_check("web", &calm.url()).in_phases(&["planned"]);
    // The shop check fails on the first active, which dies while it fails.
    let plan = format!("{}{calm_check}", plan(&smtp, &hook, &target, "1h"));
    let mut first = Member::start(&plan, &database).await;
    first.wait_until_active().await;
    let second = Member::start(&plan, &database).await;
    smtp.wait_for(1, Duration::from_secs(20)).await;
    first.kill9();
    target.set(200);
    second.wait_until_active().await;
    // A standby joins after the failover; the new active sees the shop healthy from its first
    // probe (unknown → healthy writes no log entry).
    let standby = Member::start(&plan, &database).await;
    assert_eq!(standby.role().await, Some(0), "the third member waits");
    let page = eventually(100, async || {
        let page = read(&standby.daemon, "/", "text/html").await;
        (page.status == 200
            && check_state(&page.text, "shop") == Some("healthy")
            && check_state(&page.text, "web") == Some("healthy"))
        .then_some(page)
    })
    .await;
    for id in ["shop", "web"] {
        let reason = check_reason(&page.text, id).unwrap_or_default();
        assert!(
            reason.starts_with("as of ") && reason.contains("stored"),
            "{id}: {reason}"
        );
    }
}

/// Sends `signal` to the member's process (its pid from the daemon file it wrote).
fn signal(member: &Member, signal: &str) {
    let announced = std::fs::read_to_string(member.daemon.dir.join("data").join("daemon.json"))
        .expect("the daemon file");
    let announced: Value = serde_json::from_str(&announced).expect("JSON");
    let pid = announced["pid"].as_u64().expect("a pid").to_string();
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{signal} {pid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_given_sighup_keeps_running_serves_the_edited_plan_keeps_it_over_a_broken_one_and_takes_over_with_the_file_as_it_is()
 {
    let Pair {
        smtp: _smtp,
        hook: _hook,
        target: _target,
        plan,
        mut active,
        standby,
    } = Pair::start().await;
    let plan_file = standby.daemon.dir.join("plan.toml");
    let edited = plan.replace(
        "Database backup taken",
        "Database backup taken and restored",
    );
    assert_ne!(edited, plan);
    std::fs::write(&plan_file, &edited).expect("the plan edited");
    signal(&standby, "HUP");
    eventually(30, async || {
        let read = read(&standby.daemon, "/api/v1/plan", "application/json").await;
        (read.status == 200 && read.text.contains("taken and restored")).then_some(())
    })
    .await;
    // A broken plan is refused; the standby keeps serving the one it had.
    std::fs::write(&plan_file, "this is [not a plan").expect("the plan broken");
    signal(&standby, "HUP");
    eventually(30, async || {
        (standby.daemon.log())
            .contains("standby: plan not reloaded")
            .then_some(())
    })
    .await;
    let after = read(&standby.daemon, "/api/v1/plan", "application/json").await;
    assert_eq!(after.status, 200, "{}", after.text);
    assert!(after.text.contains("taken and restored"), "{}", after.text);
    assert_eq!(standby.role().await, Some(0), "still a standby");

    // Taking over, it runs the plan file as it is then, edited without a SIGHUP.
    let again = plan.replace("Database backup taken", "Database backup taken twice");
    std::fs::write(&plan_file, &again).expect("the plan edited again");
    active.kill9();
    standby.wait_until_active().await;
    let (status, served) = standby.daemon.get("/api/v1/plan").await;
    assert_eq!(status, 200, "{served}");
    assert!(served.to_string().contains("taken twice"), "{served}");
}

/// The time of a checklist confirmation as the active answers it (from memory, when confirmed
/// and on reading the checklist) and as a standby reads it from the store: the same instant,
/// character for character (the store keeps milliseconds; the active once answered nanoseconds).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checklist_confirmation_time_reads_the_same_on_the_active_and_from_the_store() {
    let Pair {
        smtp: _smtp,
        hook: _hook,
        target: _target,
        plan: _plan,
        active,
        standby,
    } = Pair::start().await;
    let (status, confirmed) = active
        .daemon
        .post(
            "/api/v1/checklist/backup/confirm",
            serde_json::json!({"author": "bob"}),
        )
        .await;
    assert_eq!(status, 200, "{confirmed}");
    let confirmed_at = |checklist: &Value| {
        checklist["items"]
            .as_array()?
            .iter()
            .find(|item| item["id"] == "backup")?["confirmed_at"]
            .as_str()
            .map(String::from)
    };
    let (_, on_active) = active.daemon.get("/api/v1/checklist").await;
    let stored = eventually(30, async || {
        let (_, checklist) = standby.daemon.get("/api/v1/checklist").await;
        confirmed_at(&checklist)
    })
    .await;
    assert_eq!(confirmed_at(&on_active).as_deref(), Some(stored.as_str()));
    assert_eq!(
        confirmed["confirmation"]["at"].as_str(),
        Some(stored.as_str())
    );
}
