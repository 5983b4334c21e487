//! Chat formats and rate limits end to end: the real daemon posts to loopback receivers that check
//! each body against the vendor's documented schema — a Microsoft Teams workflow webhook (a
//! `message` with one Adaptive Card) and a Discord webhook (content, embeds, `allowed_mentions`) —
//! through the whole life of an alert (opened, escalated, acknowledged, resolved), with hostile
//! alert text arriving as plain text; and a receiver that answers 429 with `Retry-After`, which
//! golive waits out before it posts again.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use serde_json::{Value, json};

use crate::alerting::open_alert;
use crate::helpers::{BASE_PLAN, Daemon, eventually};
use crate::monitoring::Switchable;
use crate::plans::{http_check, page_policy};

/// One request a receiver got: when (its own clock) and the JSON body.
#[derive(Debug, Clone)]
struct Arrival {
    at: Instant,
    body: Value,
}

/// A webhook receiver that records every request and answers from a script: the scripted
/// answers first (status and `Retry-After`), then `usual` for every later request.
struct ScriptedReceiver {
    /// Where webhooks post (`/hook`; every path is answered alike).
    url: String,
    /// The server's root, as an Alertmanager channel's `url` names it.
    base: String,
    arrivals: Arc<Mutex<Vec<Arrival>>>,
}

impl ScriptedReceiver {
    async fn start(script: Vec<(u16, Option<&'static str>)>, usual: u16) -> ScriptedReceiver {
        let arrivals: Arc<Mutex<Vec<Arrival>>> = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let record = arrivals.clone();
        let app = Router::new().fallback(post(move |body: axum::body::Bytes| {
            let (record, script) = (record.clone(), script.clone());
            async move {
                let at = Instant::now();
                let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                record.lock().unwrap().push(Arrival { at, body });
                let (status, retry_after) =
                    script.lock().unwrap().pop_front().unwrap_or((usual, None));
                let mut headers = HeaderMap::new();
                if let Some(wait) = retry_after {
                    headers.insert("retry-after", HeaderValue::from_static(wait));
                }
                (StatusCode::from_u16(status).unwrap(), headers, "").into_response()
            }
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        ScriptedReceiver {
            url: format!("{base}/hook"),
            base,
            arrivals,
        }
    }

    fn arrivals(&self) -> Vec<Arrival> {
        self.arrivals.lock().unwrap().clone()
    }

    /// Waits until at least `count` requests arrived, and returns them all.
    async fn wait_for(&self, count: usize) -> Vec<Arrival> {
        eventually(30, async || {
            let arrivals = self.arrivals();
            (arrivals.len() >= count).then_some(arrivals)
        })
        .await
    }
}

/// A `[[channels]]` webhook entry `id` of `format` posting to `url`.
fn webhook_channel(id: &str, format: &str, url: &str) -> String {
    format!(
        "\n[[channels]]\nid = \"{id}\"\nkind = \"webhook\"\nurl = \"{url}\"\nformat = \"{format}\"\ntimeout = \"2s\"\n"
    )
}

/// A plan whose only channel is the webhook `chat` of `format` at `hook`: critical alerts of the
/// check `web` (named `name`) page bob at once, alice after `level_two`.
fn chat_plan(target: &str, hook: &str, format: &str, name: &str, level_two: &str) -> String {
    format!(
        "{BASE_PLAN}{}{}{}",
        http_check("web", target)
            .named(name)
            .with(r#"risks = ["payments"]"#),
        webhook_channel("chat", format, hook),
        page_policy()
            .level("0s", &["bob"], &["chat"])
            .level(level_two, &["alice"], &["chat"])
            .repeat("10m"),
    )
}

/// Opens an alert paged through `channel` (a `[[channels]]` entry named `paged` whose URL is
/// given the receiver's root) and checks that after a 429 with `Retry-After: 3` the next request
/// comes no sooner, carrying the same message, which ends up delivered.
async fn retry_after_is_waited_out(channel: impl Fn(&ScriptedReceiver) -> String) {
    // golive's own first retry would come after about 2 s, so an early retry shows.
    let receiver = ScriptedReceiver::start(vec![(429, Some("3"))], 200).await;
    let target = Switchable::start(503).await;
    let plan = format!(
        "{BASE_PLAN}{}{}{}",
        http_check("web", &target.url()).named("Shop front page"),
        channel(&receiver),
        page_policy().level("0s", &["bob"], &["paged"]),
    );
    let daemon = Daemon::start(&plan).await;
    let arrivals = receiver.wait_for(2).await;
    let waited = arrivals[1].at.duration_since(arrivals[0].at);
    // The receiver's own clock; the wait starts when golive reads the 429, after the first arrival.
    assert!(
        waited >= Duration::from_millis(2950),
        "posted again after {waited:?}, before the 3 s the receiver asked for"
    );
    assert_eq!(
        arrivals[0].body, arrivals[1].body,
        "the refused message is the one posted again"
    );
    let id = open_alert(&daemon).await["id"].as_i64().unwrap();
    eventually(10, async || {
        let (_, detail) = daemon.get(&format!("/api/v1/alerts/{id}")).await;
        (detail["notifications"][0]["status"] == "delivered").then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_answering_429_with_retry_after_is_not_posted_to_again_before_the_wait() {
    // As Discord answers a webhook posted to too often.
    retry_after_is_waited_out(|receiver| webhook_channel("paged", "discord", &receiver.url)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alertmanager_answering_429_with_retry_after_is_not_forwarded_to_again_before_the_wait()
{
    retry_after_is_waited_out(|receiver| {
        format!(
            "\n[[channels]]\nid = \"paged\"\nkind = \"alertmanager\"\nurl = \"{}\"\ntimeout = \"2s\"\n",
            receiver.base
        )
    })
    .await;
}

/// A check name with everything chat apps would render: Markdown, a masked link, mentions, HTML
/// and a heading marker.
const HOSTILE: &str =
    "# Shop *bold* _it_ [bank](https://evil.example) @everyone @here <@123> <b>html</b>";

/// The escaped forms each app must receive of [`HOSTILE`]'s dangerous parts (a backslash before
/// each markup character; Discord also breaks `@everyone`).
const NEUTRALISED: &[&str] = &[
    r"\*bold\*",
    r"\_it\_",
    r"\[bank\]\(https://evil.example\)",
    r"\<b\>html\</b\>",
    r"\<@123\>",
];

/// Checks a body against Microsoft's documented schema of a Teams workflow message with an
/// Adaptive Card (<https://adaptivecards.io/explorer/>): required fields, types, enum values, no
/// property the schema does not know, at most 28 KB. Returns the card.
fn check_teams_schema(body: &Value) -> &Value {
    let bytes = serde_json::to_vec(body).unwrap().len();
    assert!(
        bytes <= 28 * 1024,
        "{bytes} bytes: Teams refuses over 28 KB"
    );
    only_keys(body, &["type", "attachments"]);
    assert_eq!(body["type"], "message");
    let attachments = body["attachments"].as_array().expect("attachments");
    assert_eq!(attachments.len(), 1, "{body}");
    let attachment = &attachments[0];
    only_keys(attachment, &["contentType", "contentUrl", "content"]);
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert!(attachment["contentUrl"].is_null());
    let card = &attachment["content"];
    only_keys(
        card,
        &["$schema", "type", "version", "body", "actions", "msteams"],
    );
    assert_eq!(card["type"], "AdaptiveCard");
    let version = card["version"].as_str().expect("version");
    assert!(
        ["1.4", "1.5"].contains(&version),
        "Teams renders 1.4 and 1.5: {version}"
    );
    let elements = card["body"].as_array().expect("body");
    assert!(!elements.is_empty());
    elements.iter().for_each(check_element);
    for action in card["actions"].as_array().into_iter().flatten() {
        only_keys(action, &["type", "title", "url"]);
        assert_eq!(action["type"], "Action.OpenUrl");
        assert!(action["title"].is_string());
        let url = action["url"].as_str().expect("url");
        reqwest::Url::parse(url).expect("an absolute URL");
    }
    card
}

/// One Adaptive Card element of the kinds golive uses, with its enums.
fn check_element(element: &Value) {
    let one_of = |key: &str, allowed: &[&str]| {
        if let Some(value) = element.get(key) {
            let value = value.as_str().expect("an enum is a string").to_lowercase();
            assert!(
                allowed.contains(&value.as_str()),
                "{key} = {value} not in {allowed:?}"
            );
        }
    };
    match element["type"].as_str().expect("type") {
        "TextBlock" => {
            only_keys(
                element,
                &[
                    "type", "text", "wrap", "weight", "size", "spacing", "color", "isSubtle",
                ],
            );
            assert!(element["text"].is_string(), "{element}");
            assert!(element.get("wrap").is_none_or(Value::is_boolean));
            one_of("weight", &["default", "lighter", "bolder"]);
            one_of(
                "size",
                &["default", "small", "medium", "large", "extralarge"],
            );
            one_of(
                "spacing",
                &[
                    "none",
                    "small",
                    "default",
                    "medium",
                    "large",
                    "extralarge",
                    "padding",
                ],
            );
            one_of(
                "color",
                &[
                    "default",
                    "dark",
                    "light",
                    "accent",
                    "good",
                    "warning",
                    "attention",
                ],
            );
        }
        "FactSet" => {
            only_keys(element, &["type", "facts"]);
            for fact in element["facts"].as_array().expect("facts") {
                only_keys(fact, &["title", "value"]);
                assert!(fact["title"].is_string() && fact["value"].is_string());
            }
        }
        "Container" => {
            only_keys(element, &["type", "style", "bleed", "items"]);
            one_of(
                "style",
                &[
                    "default",
                    "emphasis",
                    "good",
                    "attention",
                    "warning",
                    "accent",
                ],
            );
            assert!(element.get("bleed").is_none_or(Value::is_boolean));
            element["items"]
                .as_array()
                .expect("items")
                .iter()
                .for_each(check_element);
        }
        other => panic!("an element golive does not use: {other}"),
    }
}

/// Checks a body against Discord's documented webhook schema
/// (<https://discord.com/developers/docs/resources/webhook#execute-webhook>, embed limits): types,
/// limits, and `allowed_mentions` present with an empty `parse`. Returns the one embed.
fn check_discord_schema(body: &Value) -> &Value {
    only_keys(body, &["content", "allowed_mentions", "embeds"]);
    let length = |value: &Value| value.as_str().map_or(0, |text| text.chars().count());
    assert!(length(&body["content"]) <= 2000);
    assert_eq!(
        body["allowed_mentions"],
        json!({"parse": []}),
        "no mention may ping"
    );
    let embeds = body["embeds"].as_array().expect("embeds");
    assert!(embeds.len() == 1, "{body}");
    let embed = &embeds[0];
    only_keys(
        embed,
        &[
            "title",
            "url",
            "description",
            "color",
            "fields",
            "footer",
            "timestamp",
        ],
    );
    assert!(embed["title"].is_string() && length(&embed["title"]) <= 256);
    assert!(length(&embed["description"]) <= 4096);
    if let Some(url) = embed.get("url") {
        let url = reqwest::Url::parse(url.as_str().expect("url")).expect("an absolute URL");
        assert!(["http", "https"].contains(&url.scheme()));
    }
    assert!(
        embed["color"]
            .as_u64()
            .is_some_and(|color| color <= 0xFF_FFFF)
    );
    if let Some(at) = embed.get("timestamp") {
        at.as_str()
            .expect("timestamp")
            .parse::<jiff::Timestamp>()
            .expect("ISO 8601");
    }
    let fields = embed["fields"].as_array().cloned().unwrap_or_default();
    assert!(fields.len() <= 25);
    let mut total =
        length(&embed["title"]) + length(&embed["description"]) + length(&embed["footer"]["text"]);
    for field in &fields {
        only_keys(field, &["name", "value", "inline"]);
        let (name, value) = (length(&field["name"]), length(&field["value"]));
        assert!(
            (1..=256).contains(&name) && (1..=1024).contains(&value),
            "{field}"
        );
        assert!(field.get("inline").is_none_or(Value::is_boolean));
        total += name + value;
    }
    if let Some(footer) = embed.get("footer") {
        only_keys(footer, &["text"]);
        assert!((1..=2048).contains(&length(&footer["text"])));
    }
    assert!(total <= 6000, "embed total {total}");
    embed
}

/// Fails when `value` is not an object or has a key outside `known`.
fn only_keys(value: &Value, known: &[&str]) {
    let object = value
        .as_object()
        .unwrap_or_else(|| panic!("an object: {value}"));
    for key in object.keys() {
        assert!(
            known.contains(&key.as_str()),
            "unknown key {key:?} in {value}"
        );
    }
}

/// Drives one alert through its life — opened (bob), escalated (alice, 3 s later), acknowledged,
/// resolved — on a `format` channel whose receiver answers `status`, and returns the four posts.
async fn whole_life_of_an_alert(format: &str, status: u16) -> Vec<Value> {
    let hook = ScriptedReceiver::start(Vec::new(), status).await;
    let target = Switchable::start(503).await;
    let daemon = Daemon::start(&chat_plan(&target.url(), &hook.url, format, HOSTILE, "3s")).await;
    hook.wait_for(2).await;
    let id = open_alert(&daemon).await["id"].as_i64().unwrap();
    let (status, body) = daemon
        .post(
            &format!("/api/v1/alerts/{id}/ack"),
            json!({"author": "Bob <@999> Berg", "note": "on it _now_ @here"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    hook.wait_for(3).await;
    target.set(200);
    let arrivals = hook.wait_for(4).await;
    let bodies: Vec<Value> = arrivals.into_iter().map(|arrival| arrival.body).collect();
    assert_eq!(bodies.len(), 4, "{bodies:#?}");
    bodies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teams_channel_gets_a_valid_adaptive_card_at_each_step_with_alert_text_made_plain() {
    let bodies = whole_life_of_an_alert("teams", 202).await;
    let cards: Vec<&Value> = bodies.iter().map(check_teams_schema).collect();
    let headline = |card: &Value| {
        card["body"][0]["items"][0]["text"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let states: Vec<String> = cards
        .iter()
        .map(|card| headline(card).split(']').next().unwrap().to_string())
        .collect();
    assert_eq!(
        states,
        [
            r"\[CRITICAL\",
            r"\[ESCALATED L2\",
            r"\[ACKNOWLEDGED\",
            r"\[RESOLVED\"
        ],
        "opened, escalated, acknowledged, resolved in order"
    );
    let bands: Vec<&str> = cards
        .iter()
        .map(|card| card["body"][0]["style"].as_str().unwrap())
        .collect();
    assert_eq!(bands, ["attention", "attention", "accent", "good"]);
    let page = serde_json::to_string(cards[0]).unwrap();
    for escaped in NEUTRALISED {
        let in_json = serde_json::to_string(escaped).unwrap();
        assert!(
            page.contains(in_json.trim_matches('"')),
            "{escaped} in {page}"
        );
    }
    assert!(
        !page.contains("[bank](https"),
        "no link from alert text: {page}"
    );
    assert!(
        page.contains("Switch to the fallback provider"),
        "the contingency: {page}"
    );
    assert!(page.contains("golive ack"), "how to acknowledge: {page}");
    assert_eq!(cards[0]["actions"][0]["type"], "Action.OpenUrl");
    assert!(
        cards[0]["actions"][0]["url"]
            .as_str()
            .unwrap()
            .contains("/#alert-"),
        "the status page: {page}"
    );
    let acknowledged = serde_json::to_string(cards[2]).unwrap();
    assert!(
        acknowledged.contains(r"on it \\_now\\_ @here"),
        "the note, plain: {acknowledged}"
    );
    assert!(
        acknowledged.contains(r"Bob \\<@999\\> Berg"),
        "{acknowledged}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discord_channel_gets_valid_posts_at_each_step_that_can_mention_nobody() {
    let bodies = whole_life_of_an_alert("discord", 204).await;
    let embeds: Vec<&Value> = bodies.iter().map(check_discord_schema).collect();
    let states: Vec<String> = embeds
        .iter()
        .map(|embed| {
            let title = embed["title"].as_str().unwrap();
            title.split(']').next().unwrap().to_string()
        })
        .collect();
    assert_eq!(
        states,
        [
            r"\[CRITICAL\",
            r"\[ESCALATED L2\",
            r"\[ACKNOWLEDGED\",
            r"\[RESOLVED\"
        ],
        "opened, escalated, acknowledged, resolved in order"
    );
    let colours: Vec<u64> = embeds
        .iter()
        .map(|embed| embed["color"].as_u64().unwrap())
        .collect();
    assert_eq!(colours, [0xD9_3025, 0xD9_3025, 0x1A_73E8, 0x1E_8E3E]);
    for body in &bodies {
        let text = serde_json::to_string(body).unwrap();
        for mention in ["@everyone", "@here", "<@123>", "<@999>"] {
            assert!(!text.contains(mention), "{mention} unbroken in {text}");
        }
    }
    let page = serde_json::to_string(&bodies[0]).unwrap();
    for escaped in NEUTRALISED {
        let in_json = serde_json::to_string(escaped).unwrap();
        assert!(
            page.contains(in_json.trim_matches('"')),
            "{escaped} in {page}"
        );
    }
    assert!(page.contains("@\u{200B}everyone"), "{page}");
    assert!(page.contains("Switch to the fallback provider"), "{page}");
    assert!(
        embeds[0]["url"].as_str().unwrap().contains("/#alert-"),
        "the title links to the status page"
    );
    let acknowledged = serde_json::to_string(embeds[2]).unwrap();
    assert!(
        acknowledged.contains("on it \\\\_now\\\\_ @\u{200B}here"),
        "the note, plain: {acknowledged}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_test_posts_a_valid_test_card_to_teams_and_to_discord() {
    let teams = ScriptedReceiver::start(Vec::new(), 202).await;
    let discord = ScriptedReceiver::start(Vec::new(), 204).await;
    let target = Switchable::start(200).await;
    let plan = format!(
        "{BASE_PLAN}{}{}{}{}",
        http_check("web", &target.url()),
        webhook_channel("teams", "teams", &teams.url),
        webhook_channel("discord", "discord", &discord.url),
        page_policy().level("0s", &["bob"], &["teams", "discord"]),
    );
    let daemon = Daemon::start(&plan).await;
    let (code, out, err) = tokio::task::spawn_blocking({
        let (dir, url) = (daemon.dir.clone(), daemon.url.clone());
        move || crate::helpers::cli(&dir, &["notify", "test", "--server", &url])
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{out}{err}");
    for channel in ["teams ", "discord "] {
        let line = out.lines().find(|line| line.starts_with(channel));
        assert!(
            line.is_some_and(|line| line.contains("DELIVERED")),
            "{channel}: {out}"
        );
    }
    let card = teams.wait_for(1).await[0].body.clone();
    let card = check_teams_schema(&card);
    assert!(
        card["body"][0]["items"][0]["text"]
            .as_str()
            .unwrap()
            .contains("golive notification test via teams"),
        "{card}"
    );
    let post = discord.wait_for(1).await[0].body.clone();
    let embed = check_discord_schema(&post);
    assert!(
        embed["title"]
            .as_str()
            .unwrap()
            .contains("golive notification test via discord"),
        "{embed}"
    );
}
