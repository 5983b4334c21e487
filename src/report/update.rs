//! Stakeholder updates as people outside the go-live call read them: on a phase change, what
//! changed, what it means for them, what happens next and whom to ask, in plain words (no check
//! ids, no commands); and a manual update, the release manager's own words with where the launch
//! stands. Pure: plain values and `now` in, a [`Notice`] out (email text, chat post, webhook JSON),
//! each kept as a reviewed snapshot in `tests/snapshots/notices/` (`UPDATE_SNAPSHOTS=1 cargo test
//! --lib report::update` rewrites them).

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::core::message::{GoliveBody, UpdateBody};
use crate::domain::Phase;
use crate::human;
use crate::plan::checks::{Check, CompareOp};
use crate::plan::review::Review;
use crate::report::notice::Notice;
use crate::report::value::{value_unit, with_unit};

/// The longest subject line taken from a manual update's text, in characters.
const SUBJECT_TEXT_CHARS: usize = 60;

/// What every update says around its news: the launch, whom to ask, where to look.
pub struct Audience<'a> {
    pub launch: &'a str,
    /// The contact's name and address: "Maria Keller <maria@shop.example>".
    pub contact: String,
    /// The status page, when people can reach it (`[alerting] public_url`).
    pub status_url: Option<&'a str>,
    pub timezone: &'a TimeZone,
    /// The phases whose start sends an update, to promise the next one only when it will come.
    pub announced: &'a [Phase],
    /// The plan's review meeting (`[review]`), announced when the launch ends.
    pub review: Option<&'a Review>,
}

/// Why the phase changed, as people outside the call read it (said only for a rollback, where
/// people ask why).
#[derive(Debug, Clone, Copy)]
pub enum Why<'a> {
    /// A person changed it, with the reason they gave, if any.
    Decided(Option<&'a str>),
    /// golive rolled back by itself: a check crossed the plan's rollback criteria (`auto = true`).
    Automatic(&'a AutomaticRollback),
}

/// An automatic rollback in plain words: no alert numbers, no raw comparisons.
#[derive(Debug, Clone, PartialEq)]
pub struct AutomaticRollback {
    /// The check's human name (`Checkout error rate`).
    pub check: String,
    /// How it crossed its limit, for a check with one: `went above its limit (15 % against 5 %)`.
    pub crossed: Option<String>,
}

impl AutomaticRollback {
    /// The rollback caused by the check named `name` (its plan entry, when the alert is a check's)
    /// reading `value`.
    pub fn new(name: &str, check: Option<&Check>, value: Option<f64>) -> AutomaticRollback {
        let crossed = check.zip(value).and_then(|(check, value)| {
            let threshold = check.threshold()?;
            let unit = value_unit(check);
            let direction = match threshold.op {
                CompareOp::Gt | CompareOp::Ge => "went above its limit",
                CompareOp::Lt | CompareOp::Le => "went below its limit",
                CompareOp::Eq | CompareOp::Ne => "left its allowed range",
            };
            Some(format!(
                "{direction} ({} against {})",
                with_unit(value, unit),
                with_unit(threshold.value, unit)
            ))
        });
        AutomaticRollback {
            check: name.trim().to_string(),
            crossed,
        }
    }
}

/// Where the launch stands, for the words of an update.
pub struct Standing {
    pub phase: Phase,
    /// When the phase began.
    pub since: Timestamp,
    /// The planned go-live.
    pub go_live: Timestamp,
    /// `launch.hypercare_days`: how long hypercare lasts.
    pub hypercare_days: f64,
}

/// The update sent when the launch enters `standing.phase`; `why` is said only for a rollback.
pub fn phase_update(audience: &Audience<'_>, standing: &Standing, why: Why<'_>) -> Notice {
    let tz = audience.timezone;
    let launch = audience.launch;
    let at = human::minute(standing.since, tz);
    let hypercare = hypercare_length(standing.hypercare_days);
    let you_will_hear = |phase: Phase, when: &str| {
        if audience.announced.contains(&phase) {
            format!(" You will hear {when}.")
        } else {
            String::new()
        }
    };
    let (headline, changed, means, next) = match standing.phase {
        Phase::Planned | Phase::GoNoGo => (
            "the go/no-go decision is being taken".to_string(),
            format!(
                "The go-live call for {launch} has started: the team is checking that everything is ready (go-live planned for {}).",
                human::minute(standing.go_live, tz)
            ),
            "Nothing changes for you yet.".to_string(),
            format!(
                "If everything is ready, the team decides to go and the deployment starts.{}",
                you_will_hear(Phase::Deploying, "when the decision is taken")
            ),
        ),
        Phase::Deploying => (
            "go — the deployment has started".to_string(),
            format!("The team decided to go ahead: the deployment of {launch} started at {at}."),
            "Nothing to do yet. Until the new version has been checked, please do not announce it to customers.".to_string(),
            format!(
                "As soon as it is deployed, the team checks that everything works.{}",
                you_will_hear(Phase::Verifying, "when it is live")
            ),
        ),
        Phase::Verifying => (
            "live — the new version is being checked".to_string(),
            format!(
                "The deployment is done: {launch} has been live since {at}, and the team is checking that everything works."
            ),
            "You can look at it now. If something looks wrong, say so at once (see below) rather than waiting.".to_string(),
            format!(
                "When the checks pass, {hypercare} of close monitoring (hypercare) begin.{}",
                you_will_hear(Phase::Hypercare, "then")
            ),
        ),
        Phase::Hypercare => (
            "live and checked — close monitoring has begun".to_string(),
            format!(
                "The checks passed: {launch} is live and working. Close monitoring (hypercare) began at {at}."
            ),
            "Use it as normal and announce it as planned. Problems customers report get the team's full attention during hypercare: pass them on (see below).".to_string(),
            format!(
                "Hypercare lasts {hypercare}, until {}; then the launch closes.{}",
                human::minute(hypercare_end(standing), tz),
                you_will_hear(Phase::Closed, "then")
            ),
        ),
        Phase::Closed => (
            "launch complete".to_string(),
            format!("Hypercare has ended and the launch of {launch} is complete ({at})."),
            format!("{launch} is now in normal operation: report problems the usual way."),
            format!(
                "The team reviews the launch and writes down what it learned.{}",
                review_meeting(audience, standing)
            ),
        ),
        Phase::RolledBack => (
            "rolled back — the previous version is being restored".to_string(),
            rolled_back(launch, &at, why),
            "The new version is not available. Please do not announce it; if you already have, tell the contact below.".to_string(),
            format!(
                "The team finds out what went wrong and plans a new date; you will hear about it.{}",
                review_meeting(audience, standing)
            ),
        ),
    };
    let text = format!(
        "What changed: {changed}\n\nWhat it means for you: {means}\n\nWhat happens next: {next}\n\n{}",
        footer(audience)
    );
    notice(
        audience,
        &headline,
        text,
        UpdateBody::Phase {
            launch: launch.to_string(),
            phase: standing.phase,
            since: standing.since,
        },
    )
}

/// What changed in a rollback, and why: a person's reason as given, or golive's own in plain words.
fn rolled_back(launch: &str, at: &str, why: Why<'_>) -> String {
    match why {
        Why::Decided(reason) => format!(
            "The team rolled the launch of {launch} back at {at}: the previous version is being restored.{}",
            reason
                .map(str::trim)
                .filter(|reason| !reason.is_empty())
                .map_or_else(String::new, |reason| format!("\nWhy: {reason}"))
        ),
        Why::Automatic(rollback) => format!(
            "golive rolled the launch of {launch} back automatically at {at}, as the plan says when a check crosses its rollback criteria: the previous version is being restored.\nWhy: {} {}, which the plan names as a reason to roll back.",
            rollback.check,
            rollback.crossed.as_deref().unwrap_or("failed")
        ),
    }
}

/// The review meeting's announcement when the launch ends and `[review]` plans one (its
/// invitation goes out with the final report).
fn review_meeting(audience: &Audience<'_>, standing: &Standing) -> String {
    audience.review.map_or_else(String::new, |review| {
        format!(
            " The launch review meeting is planned for {}; everyone invited gets a calendar invitation by email.",
            human::minute(review.starts_at(standing.since, audience.timezone), audience.timezone)
        )
    })
}

/// A manual update (`golive update "TEXT"`): the text as written, who wrote it, and where the
/// launch stands.
pub fn manual_update(
    audience: &Audience<'_>,
    standing: &Standing,
    text: &str,
    author: &str,
    now: Timestamp,
) -> Notice {
    let text = text.trim();
    let body = format!(
        "{text}\n\n— {author}, {}\n\nWhere the launch stands: {}.\n\n{}",
        human::minute(now, audience.timezone),
        where_it_stands(standing, audience.timezone),
        footer(audience)
    );
    notice(
        audience,
        &headline_of(text),
        body,
        UpdateBody::Manual {
            launch: audience.launch.to_string(),
            phase: standing.phase,
            text: text.to_string(),
            author: author.to_string(),
        },
    )
}

/// The subject's news from a manual text: its first line, cut at a word near
/// [`SUBJECT_TEXT_CHARS`] with an ellipsis.
pub fn headline_of(text: &str) -> String {
    let first = text.trim().lines().next().unwrap_or("").trim();
    if first.chars().count() <= SUBJECT_TEXT_CHARS {
        return first.to_string();
    }
    let cut: String = first.chars().take(SUBJECT_TEXT_CHARS).collect();
    let cut = match cut.rfind(' ') {
        Some(space) if space > SUBJECT_TEXT_CHARS / 2 => &cut[..space],
        _ => cut.as_str(),
    };
    format!("{}…", cut.trim_end_matches([',', '.', ';', ':', ' ']))
}

/// The phase in words for people outside the call.
fn where_it_stands(standing: &Standing, tz: &TimeZone) -> String {
    let since = human::minute(standing.since, tz);
    match standing.phase {
        Phase::Planned => format!("planned, go-live {}", human::minute(standing.go_live, tz)),
        Phase::GoNoGo => format!("the go/no-go decision is being taken (since {since})"),
        Phase::Deploying => format!("deploying (since {since})"),
        Phase::Verifying => format!("live since {since}, being checked"),
        Phase::Hypercare => format!(
            "live, under close monitoring (hypercare) until {}",
            human::minute(hypercare_end(standing), tz)
        ),
        Phase::Closed => format!("complete (since {since})"),
        Phase::RolledBack => format!("rolled back (since {since})"),
    }
}

fn hypercare_end(standing: &Standing) -> Timestamp {
    let length = jiff::SignedDuration::from_secs_f64(standing.hypercare_days * 86_400.0);
    standing.since.checked_add(length).unwrap_or(standing.since)
}

/// `14 days`, `1 day`, or a duration for a fraction of days (`12 h`).
fn hypercare_length(days: f64) -> String {
    if days.fract() == 0.0 && days >= 1.0 {
        let whole = days as i64;
        return format!("{whole} day{}", if whole == 1 { "" } else { "s" });
    }
    human::duration(jiff::SignedDuration::from_secs_f64(days * 86_400.0))
}

fn footer(audience: &Audience<'_>) -> String {
    let mut footer = format!("Questions: {}\n", audience.contact);
    if let Some(url) = audience.status_url {
        footer.push_str(&format!("Live status: {}/\n", url.trim_end_matches('/')));
    }
    footer
}

fn notice(audience: &Audience<'_>, headline: &str, text: String, body: UpdateBody) -> Notice {
    Notice::plain(
        format!("[UPDATE] {}: {headline}", audience.launch),
        text,
        GoliveBody::Update(body),
    )
}

#[cfg(test)]
#[path = "update_tests.rs"]
mod tests;
