//! Reloading the plan without a restart (`SIGHUP`, `golive reload`, `POST /api/v1/reload`)
//! through the real daemon: an invalid plan is refused with its line and column and the old plan
//! keeps running; a change that needs a restart is refused naming the key; a valid plan adds and
//! removes checks at once, keeps the checklist confirmations, and is recorded in the log.

use std::time::Duration;

use jiff::SignedDuration;
use serde_json::{Value, json};

use crate::alerting::{Receiver, emailed, for_recipient, healthy, open_alert};
use crate::harness::spawn_with_clock;
use crate::helpers::{BASE_PLAN, Daemon, cli, eventually};
use crate::monitoring::{Switchable, check_view};
use crate::plans::{channels, http_check, page_policy};
use crate::smtp::{SmtpOptions, SmtpServer};

/// A tcp check on a port nothing listens on (it fails, which is not the point here).
fn tcp_check(id: &str) -> String {
    format!(
        "\n[[checks]]\nid = \"{id}\"\nname = \"{id}\"\nkind = \"tcp\"\naddress = \"127.0.0.1:9\"\ninterval = \"200ms\"\ntimeout = \"150ms\"\nphases = [\"planned\", \"go_no_go\", \"deploying\", \"verifying\", \"hypercare\"]\n"
    )
}

fn write_plan(daemon: &Daemon, text: &str) {
    std::fs::write(daemon.dir.join("plan.toml"), text).expect("write plan");
}

async fn check_ids(daemon: &Daemon) -> Vec<String> {
    let (status, body) = daemon.get("/api/v1/checks").await;
    assert_eq!(status, 200, "{body}");
    body.as_array()
        .or_else(|| body["checks"].as_array())
        .expect("checks")
        .iter()
        .map(|check| check["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn an_invalid_plan_is_refused_with_line_and_column_and_the_old_plan_keeps_running() {
    let plan = format!("{BASE_PLAN}{}", tcp_check("db"));
    let daemon = Daemon::start(&plan).await;
    write_plan(
        &daemon,
        &format!("{plan}{}interval = \"soon\"\n", tcp_check("api")),
    );
    let (status, body) = daemon.post("/api/v1/reload", json!({})).await;
    assert_eq!(status, 422, "{body}");
    let diagnostic = &body["diagnostics"][0];
    assert!(diagnostic["line"].as_u64().unwrap_or(0) > 0, "{body}");
    assert!(diagnostic["col"].as_u64().unwrap_or(0) > 0, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("plan.toml:"),
        "{body}"
    );
    assert_eq!(check_ids(&daemon).await, vec!["db"]);
    let (code, _, err) = cli(&daemon.dir, &["reload", "--server", &daemon.url]);
    assert_ne!(code, 0);
    assert!(err.contains("plan.toml:"), "{err}");
    // With `--plan`, the CLI finds the daemon although the plan is invalid now, and shows the
    // daemon's diagnostics (the line and column of the bad interval).
    let (code, _, err) = cli(&daemon.dir, &["reload", "--plan", "plan.toml"]);
    assert_ne!(code, 0);
    let line = diagnostic["line"].as_u64().unwrap_or(0);
    assert!(err.contains(&format!("plan.toml:{line}:")), "{err}");
    assert!(err.contains("422"), "{err}");
}

#[tokio::test]
async fn changing_the_listen_address_or_data_dir_is_refused_naming_the_key() {
    let plan = format!("{BASE_PLAN}{}", tcp_check("db"));
    let daemon = Daemon::start(&plan).await;
    write_plan(&daemon, &plan.replace("127.0.0.1:9898", "127.0.0.1:9899"));
    let (status, body) = daemon.post("/api/v1/reload", json!({})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["field"], "server.listen", "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("restart"),
        "{body}"
    );
    assert_eq!(check_ids(&daemon).await, vec!["db"]);
}

#[tokio::test]
async fn sighup_adds_and_removes_checks_at_once_keeps_confirmations_and_action_items_and_drops_the_removed_checks_metrics()
 {
    let plan = format!("{BASE_PLAN}{}", tcp_check("db"));
    let daemon = Daemon::start(&plan).await;
    let (status, body) = daemon
        .post("/api/v1/checklist/backup/confirm", json!({"author": "bob"}))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, action) = daemon
        .post(
            "/api/v1/actions",
            json!({"title": "Rotate the payment keys", "owner": "bob"}),
        )
        .await;
    assert_eq!(status, 201, "{action}");
    // The removed check's series are on /metrics before the reload (probed, with results).
    eventually(15, async || {
        let (_, metrics) = daemon.get_text("/metrics").await;
        metrics
            .contains("golive_check_results_total{check=\"db\",result=\"failing\"}")
            .then_some(())
    })
    .await;
    write_plan(&daemon, &format!("{BASE_PLAN}{}", tcp_check("api")));
    daemon.hangup();
    // The new check is probed (it has a last result) and the removed one is gone.
    eventually(15, async || {
        let (_, body) = daemon.get("/api/v1/checks").await;
        let checks = body
            .as_array()
            .or_else(|| body["checks"].as_array())?
            .clone();
        let ids: Vec<&str> = checks.iter().filter_map(|c| c["id"].as_str()).collect();
        (ids == ["api"] && !checks[0]["last"].is_null()).then_some(())
    })
    .await;
    let (_, checklist) = daemon.get("/api/v1/checklist").await;
    let confirmed = checklist
        .as_array()
        .or_else(|| checklist["items"].as_array())
        .expect("checklist")
        .iter()
        .find(|item| item["id"] == "backup")
        .map(|item| item["confirmed"].clone());
    assert!(
        confirmed.is_some_and(|value| value != Value::Null && value != Value::Bool(false)),
        "{checklist}"
    );
    let (_, log) = daemon.get("/api/v1/log?kind=decision").await;
    assert!(
        log.to_string()
            .contains("checks: 1 added (api), 1 removed (db)"),
        "{log}"
    );
    let (_, actions) = daemon.get("/api/v1/actions").await;
    assert!(
        actions.to_string().contains("Rotate the payment keys"),
        "{actions}"
    );
    let (_, metrics) = daemon.get_text("/metrics").await;
    assert!(metrics.contains("check=\"api\""), "{metrics}");
    assert!(!metrics.contains("check=\"db\""), "{metrics}");
    let (code, out, err) = cli(&daemon.dir, &["reload", "--plan", "plan.toml"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Plan reloaded from"), "{out}");
    assert!(out.contains("nothing changed"), "{out}");
}

/// A `chat` webhook channel to `hook`, without `[smtp]`.
fn chat_channel(hook: &str) -> String {
    format!(
        "\n[[channels]]\nid = \"chat\"\nkind = \"webhook\"\nurl = \"{hook}\"\ntimeout = \"2s\"\n"
    )
}

/// Waits until the launch log records a reload whose summary contains `what`.
async fn reloaded(daemon: &Daemon, what: &str) {
    eventually(15, async || {
        let (_, log) = daemon.get("/api/v1/log?kind=decision").await;
        let text = log.to_string();
        (text.contains("Plan reloaded") && text.contains(what)).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_url_changed_by_sighup_sends_the_next_page_to_the_new_receiver() {
    let old_hook = Receiver::start().await;
    let new_hook = Receiver::start().await;
    let first = Switchable::start(503).await;
    let second = Switchable::start(200).await;
    let plan = |hook: &str| {
        format!(
            "{BASE_PLAN}{}{}{}{}",
            http_check("first", &first.url()).named("First shop"),
            http_check("second", &second.url()).named("Second shop"),
            chat_channel(hook),
            page_policy().level("0s", &["bob"], &["chat"]),
        )
    };
    let daemon = Daemon::start(&plan(&old_hook.url)).await;
    eventually(15, async || {
        old_hook
            .texts()
            .iter()
            .any(|text| text.contains("First shop"))
            .then_some(())
    })
    .await;
    healthy(&daemon, "second").await;

    write_plan(&daemon, &plan(&new_hook.url));
    daemon.hangup();
    reloaded(&daemon, "channels: 1 changed (chat)").await;
    second.set(503);
    eventually(15, async || {
        new_hook
            .texts()
            .iter()
            .any(|text| text.contains("Second shop"))
            .then_some(())
    })
    .await;
    assert!(
        !old_hook
            .texts()
            .iter()
            .any(|text| text.contains("Second shop")),
        "the old receiver got the page after the reload: {:?}",
        old_hook.texts()
    );
    // `golive notify test` uses the reloaded channel too.
    let (status, body) = daemon
        .post("/api/v1/notify/test", json!({"channels": ["chat"]}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        new_hook
            .texts()
            .iter()
            .any(|text| text.contains("notification test")),
        "{body}: {:?}",
        new_hook.texts()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_checks_open_alert_resolves_removed_from_the_plan_and_the_people_told_hear_it() {
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    let hook = Receiver::start().await;
    let failing = Switchable::start(503).await;
    let steady = Switchable::start(200).await;
    let rest = format!(
        "{}{}{}",
        http_check("steady", &steady.url()),
        channels(smtp.port, &hook.url, "2s"),
        page_policy().level("0s", &["bob"], &["email"]),
    );
    let plan = format!(
        "{BASE_PLAN}{}{rest}",
        http_check("web", &failing.url()).named("Shop front page")
    );
    let daemon = Daemon::start(&plan).await;
    let messages = smtp.wait_for(1, Duration::from_secs(15)).await;
    assert_eq!(messages[0].recipients, ["bob@example.com"]);
    let id = open_alert(&daemon).await["id"]
        .as_i64()
        .expect("an alert id");

    write_plan(&daemon, &format!("{BASE_PLAN}{rest}"));
    daemon.hangup();
    let messages = smtp.wait_for(2, Duration::from_secs(15)).await;
    let resolved: Vec<_> = for_recipient(&messages, "bob@example.com")
        .into_iter()
        .filter(|message| message.email.subject.starts_with("[RESOLVED] "))
        .collect();
    assert_eq!(resolved.len(), 1, "bob hears the resolution once");
    let text = resolved[0].email.text.clone().unwrap_or_default();
    assert!(text.contains("removed from the plan"), "{text}");
    assert!(text.contains("Shop front page"), "{text}");
    let (_, open) = daemon.get("/api/v1/alerts").await;
    assert_eq!(open["alerts"].as_array().map(Vec::len), Some(0), "{open}");
    let (_, detail) = daemon.get(&format!("/api/v1/alerts/{id}")).await;
    assert!(
        detail.to_string().contains("removed from the plan"),
        "{detail}"
    );
    reloaded(&daemon, "1 removed (web)").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_escalation_applies_to_an_open_alert_from_its_next_step() {
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    let hook = Receiver::start().await;
    let target = Switchable::start(200).await;
    let plan = |policy: String| {
        format!(
            "{BASE_PLAN}{}{}{policy}",
            http_check("web", &target.url()).named("Shop front page"),
            channels(smtp.port, &hook.url, "2s"),
        )
    };
    let before = page_policy()
        .level("0s", &["bob"], &["email"])
        .level("60s", &["alice"], &["email"])
        .to_string();
    let golive = spawn_with_clock(&plan(before)).await;
    let daemon = &golive.api;
    healthy(daemon, "web").await;
    target.set(503);
    smtp.wait_for(1, Duration::from_secs(15)).await;
    let id = open_alert(daemon).await["id"]
        .as_i64()
        .expect("an alert id");

    // Level 2 now pages carol after 10 s instead of alice after 60 s.
    golive.advance(SignedDuration::from_secs(5)).await;
    let after = page_policy()
        .level("0s", &["bob"], &["email"])
        .level("10s", &["carol"], &["email"])
        .to_string();
    let reloaded = golive
        .reload(&plan(after))
        .await
        .expect("the reload applies");
    assert!(
        reloaded.summary.contains("escalation"),
        "{}",
        reloaded.summary
    );
    // Level 1 is not paged again; level 2 is not early.
    golive.advance(SignedDuration::from_millis(4999)).await;
    assert_eq!(emailed(daemon, id).await, ["bob@example.com"]);
    golive.advance(SignedDuration::from_millis(1)).await;
    let messages = smtp.wait_for(2, Duration::from_secs(15)).await;
    assert_eq!(for_recipient(&messages, "carol@example.com").len(), 1);
    assert_eq!(open_alert(daemon).await["level"], 2);
    // Alice's old level never comes.
    golive.advance(SignedDuration::from_secs(120)).await;
    assert_eq!(
        emailed(daemon, id).await,
        ["bob@example.com", "carol@example.com"]
    );
    golive.stop().await;
}

/// The count of `result` probes of the check `id` on `/metrics` (0 before the first).
async fn probes_of(daemon: &Daemon, id: &str, result: &str) -> f64 {
    let series = format!("golive_check_results_total{{check=\"{id}\",result=\"{result}\"}}");
    crate::monitoring::metric(daemon, &series)
        .await
        .unwrap_or(0.0)
}

#[tokio::test]
async fn a_check_changed_by_a_reload_probes_its_new_target_while_unchanged_checks_keep_their_count()
{
    let down = Switchable::start(503).await;
    let up = Switchable::start(200).await;
    // Several unchanged checks, so both probe threads of a two-core machine hold some.
    let unchanged: Vec<String> = (1..=6).map(|n| format!("steady-{n}")).collect();
    let steady: String = unchanged
        .iter()
        .map(|id| http_check(id, &up.url()).to_string())
        .collect();
    let plan = |web_url: &str| format!("{BASE_PLAN}{steady}{}", http_check("web", web_url));
    let daemon = Daemon::start(&plan(&down.url())).await;
    eventually(15, async || {
        (check_view(&daemon, "web").await["health"] == "failing").then_some(())
    })
    .await;
    let mut before = Vec::new();
    for id in &unchanged {
        before.push(
            eventually(15, async || {
                let count = probes_of(&daemon, id, "healthy").await;
                (count > 0.0).then_some(count)
            })
            .await,
        );
    }
    write_plan(&daemon, &plan(&up.url()));
    daemon.hangup();
    // The changed check follows its new URL: healthy again, without a restart.
    eventually(15, async || {
        (check_view(&daemon, "web").await["health"] == "healthy").then_some(())
    })
    .await;
    // Every unchanged check is still probed, its count carried on rather than started again.
    for (id, before) in unchanged.iter().zip(before) {
        eventually(15, async || {
            (probes_of(&daemon, id, "healthy").await > before + 2.0).then_some(())
        })
        .await;
    }
    assert_eq!(probes_of(&daemon, "steady-1", "failing").await, 0.0);
}
