//! `/feedback/{token}`: the feedback form of a report's personal link, for people without an API
//! token (stakeholders, support). Opening it changes nothing (mail scanners prefetch links); its
//! button POSTs the text to the same address, which records it once as a `feedback` log entry
//! authored by the person the link was sent to. Expired, changed and used links get a page that
//! says so and what to do instead. Every value shown is HTML-escaped; the pages carry the
//! acknowledgement pages' security headers (no framing, no referrer, no caching).

use axum::extract::{Path, RawForm, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::AppState;
use crate::ack_link::FeedbackLinkError;
use crate::core::log::LogData;
use crate::engine::EngineError;
use crate::engine::feedback::{
    FeedbackLinkView, FeedbackRefusal, MAX_FEEDBACK_CHARS, feedback_text_problem,
};
use crate::report::alert_message::escape;

/// `GET /feedback/{token}`: the form, or why the link does not work.
pub async fn feedback_page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let plan = state.plan();
    let launch = plan.launch.name.as_str();
    match state.engine.check_feedback_link(token).await {
        Ok(Ok(view)) => form_page(launch, &view, StatusCode::OK, "", None),
        Ok(Err(refusal)) => refusal_page(launch, &refusal),
        Err(error) => unavailable(launch, &error),
    }
}

/// `POST /feedback/{token}` (form field `text`): records the feedback once.
pub async fn feedback_submit(
    State(state): State<AppState>,
    Path(token): Path<String>,
    RawForm(body): RawForm,
) -> Response {
    let plan = state.plan();
    let launch = plan.launch.name.as_str();
    let text = form_text(&body);
    if let Some(problem) = feedback_text_problem(&text) {
        // The form again, with what they wrote, so nothing typed is lost.
        return match state.engine.check_feedback_link(token).await {
            Ok(Ok(view)) => form_page(
                launch,
                &view,
                StatusCode::BAD_REQUEST,
                &text,
                Some(&problem),
            ),
            Ok(Err(refusal)) => refusal_page(launch, &refusal),
            Err(error) => unavailable(launch, &error),
        };
    }
    match state.engine.submit_feedback(token, text).await {
        Ok(Ok(entry)) => {
            let from_daily =
                matches!(&entry.data, LogData::Feedback(link) if link.about.starts_with("daily "));
            let ended = state.engine.snapshot().state.phase.is_terminal();
            let goes = where_feedback_goes(from_daily && !ended, plan.review.is_some());
            page(
                launch,
                StatusCode::OK,
                "Thank you",
                &format!(
                    "<p>Your feedback is recorded as <strong>{}</strong> {goes}:</p>\
                     <blockquote id=\"feedback-text\" style=\"white-space:pre-wrap;border-left:4px solid #c8c8c8;margin:1em 0;padding:.25em 1em\">{}</blockquote>",
                    escape(&entry.author),
                    escape(&entry.text)
                ),
            )
        }
        Ok(Err(refusal)) => refusal_page(launch, &refusal),
        Err(error) => unavailable(launch, &error),
    }
}

/// Where recorded feedback shows, as the thank-you page says it: always the launch log, the
/// status page and the timeline; the next report only for a daily report's link while the launch
/// runs (a final report's link, or any after the launch ended, has no report after it); the
/// review meeting's agenda when `[review]` plans one.
fn where_feedback_goes(a_report_follows: bool, review_planned: bool) -> String {
    let mut places = vec!["on the status page", "in the timeline"];
    if a_report_follows {
        places.push("in the launch's next report");
    }
    if review_planned {
        places.push("on the agenda of the launch review meeting");
    }
    let last = places.pop().unwrap_or_default();
    format!(
        "in the launch log; the launch team sees it {} and {last}",
        places.join(", ")
    )
}

/// The `text` field of an `application/x-www-form-urlencoded` body (empty when absent).
fn form_text(body: &[u8]) -> String {
    let body = String::from_utf8_lossy(body);
    // The form decoding of a query string is that of a form body (`+` is a space).
    reqwest::Url::parse(&format!("http://form.invalid/?{body}"))
        .ok()
        .and_then(|url| {
            url.query_pairs()
                .find(|(name, _)| name == "text")
                .map(|(_, value)| value.into_owned())
        })
        .unwrap_or_default()
}

fn form_page(
    launch: &str,
    view: &FeedbackLinkView,
    status: StatusCode,
    text: &str,
    problem: Option<&str>,
) -> Response {
    let about = match view.claim.about.strip_prefix("daily ") {
        Some(day) => format!("the daily report of {day}"),
        None => "the final report".to_string(),
    };
    let problem = problem
        .map(|problem| {
            format!(
                "<p id=\"problem\" role=\"alert\" style=\"color:#9b1c1c\"><strong>{}.</strong></p>",
                escape(problem)
            )
        })
        .unwrap_or_default();
    page(
        launch,
        status,
        "What did you notice?",
        &format!(
            "<p>You received {about}. Tell the launch team what you noticed: customers' questions, something slow or broken, something that went well.</p>\
             {problem}<form method=\"post\"><label for=\"text\">Your feedback (at most {MAX_FEEDBACK_CHARS} characters), recorded as <strong>{author}</strong>:</label><br>\
             <textarea id=\"text\" name=\"text\" rows=\"8\" maxlength=\"{MAX_FEEDBACK_CHARS}\" required style=\"width:100%;font:inherit\">{text}</textarea>\
             <p><button type=\"submit\" style=\"font-size:1.2em;padding:.5em 1em\">Send feedback</button></p></form>\
             <p style=\"color:#4a4a4a;font-size:.9em\">This link is yours and records one piece of feedback.</p>",
            author = escape(&view.author),
            text = escape(text),
        ),
    )
}

fn refusal_page(launch: &str, refusal: &FeedbackRefusal) -> Response {
    let instead =
        "<p>Reply to the report email instead, or ask the launch team for a new link.</p>";
    match refusal {
        FeedbackRefusal::Link(FeedbackLinkError::Expired) => page(
            launch,
            StatusCode::GONE,
            "This feedback link has expired",
            &format!("<p>Feedback links work for 30 days after their report.</p>{instead}"),
        ),
        FeedbackRefusal::Link(error) => page(
            launch,
            StatusCode::BAD_REQUEST,
            "This link does not work",
            &format!("<p>{}.</p>{instead}", escape(&error.to_string())),
        ),
        FeedbackRefusal::Used => page(
            launch,
            StatusCode::CONFLICT,
            "This link was used already",
            "<p>Your feedback through this link is recorded. Each report brings a new link.</p>",
        ),
        FeedbackRefusal::Text(problem) => page(
            launch,
            StatusCode::BAD_REQUEST,
            "Nothing recorded",
            &format!("<p>{}.</p>", escape(problem)),
        ),
    }
}

fn unavailable(launch: &str, error: &EngineError) -> Response {
    tracing::warn!(error = %error, "feedback link could not be handled");
    page(
        launch,
        StatusCode::SERVICE_UNAVAILABLE,
        "Try again",
        "<p>golive cannot record feedback right now. Please try again in a few minutes.</p>",
    )
}

/// A page with the launch's name above the title.
fn page(launch: &str, status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title} · {launch}</title></head>\
         <body style=\"font-family:sans-serif;max-width:40em;margin:2em auto;padding:0 1em;color:#1a1a1a\"><p id=\"launch\" style=\"margin:0;color:#4a4a4a\">{launch} · golive</p><h1 style=\"margin-top:.25em\">{title}</h1>{body}</body></html>",
        title = escape(title),
        launch = escape(launch),
    );
    (status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_field_is_decoded_as_a_form_body() {
        assert_eq!(
            form_text(b"text=Checkout+is+fast%21+%3Cb%3E"),
            "Checkout is fast! <b>"
        );
        assert_eq!(form_text(b"other=1"), "");
        assert_eq!(form_text(b"text=a%26b&x=2"), "a&b");
    }

    #[test]
    fn the_thank_you_page_promises_a_report_only_when_one_follows_and_the_review_only_when_planned()
    {
        assert_eq!(
            where_feedback_goes(true, false),
            "in the launch log; the launch team sees it on the status page, in the timeline and in the launch's next report"
        );
        assert_eq!(
            where_feedback_goes(false, true),
            "in the launch log; the launch team sees it on the status page, in the timeline and on the agenda of the launch review meeting"
        );
        assert!(!where_feedback_goes(false, false).contains("report"));
    }
}
