//! The personal feedback link at the foot of a report email, in text and HTML: where to click,
//! that the feedback is recorded under the reader's name, and until when the link works. Pure:
//! the link and the times are passed in.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::alert_message::escape as html_escape;

/// The signature delimiter (RFC 3676 §4.3): mail clients grey out what follows and drop it when
/// quoting, so the link goes above it.
const SIGNATURE_DELIMITER: &str = "\n-- \n";

/// The report's text and HTML with the reader's feedback link added: in the text at the end of
/// the body, above the signature delimiter when there is one; in the HTML before `</body>`.
pub fn with_feedback_link(
    text: &str,
    html: Option<&str>,
    url: &str,
    expires_at: Timestamp,
    zone: &TimeZone,
) -> (String, Option<String>) {
    let until = crate::human::time(expires_at, zone);
    let (body, signature) = match text.rfind(SIGNATURE_DELIMITER) {
        Some(at) => (&text[..at], &text[at..]),
        None => (text, ""),
    };
    let text = format!(
        "{}\n\nWhat did you notice? Tell the launch team: {url}\n(This link is yours: what you write is recorded under your name, once. It works until {until}.)\n{}",
        body.trim_end(),
        signature
    );
    let html = html.map(|html| {
        let block = format!(
            "<div id=\"feedback\" style=\"margin:1.5em 0;padding:1em;border:1px solid #c8c8c8;border-radius:4px\">\
             <p style=\"margin:0 0 .5em 0\"><strong>What did you notice?</strong> <a href=\"{url}\">Tell the launch team</a>.</p>\
             <p style=\"margin:0;color:#4a4a4a;font-size:.9em\">This link is yours: what you write is recorded under your name, once. It works until {until}.</p></div>",
            url = html_escape(url),
            until = html_escape(&until),
        );
        match html.rfind("</body>") {
            Some(at) => format!("{}{block}{}", &html[..at], &html[at..]),
            None => format!("{html}{block}"),
        }
    });
    (text, html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_link_goes_at_the_end_of_the_text_above_the_signature_and_before_the_end_of_the_html_body()
     {
        let zone = TimeZone::get("Europe/Berlin").unwrap();
        let expires: Timestamp = "2026-12-31T08:00:00Z".parse().unwrap();
        let (text, html) = with_feedback_link(
            "Report\n",
            Some("<html><body><p>Report</p></body></html>"),
            "http://golive.example/feedback/a.b&c",
            expires,
            &zone,
        );
        assert!(
            text.ends_with("It works until 2026-12-31 09:00:00 CET.)\n"),
            "{text}"
        );
        let (signed, _) = with_feedback_link(
            "Report\n\n-- \ngolive · generated today\n",
            None,
            "http://golive.example/feedback/x",
            expires,
            &zone,
        );
        assert_eq!(
            signed,
            "Report\n\nWhat did you notice? Tell the launch team: http://golive.example/feedback/x\n(This link is yours: what you write is recorded under your name, once. It works until 2026-12-31 09:00:00 CET.)\n\n-- \ngolive · generated today\n",
            "the link sits above the signature delimiter, where clients keep it when quoting"
        );
        assert!(text.contains("Tell the launch team: http://golive.example/feedback/a.b&c"));
        let html = html.unwrap();
        assert!(html.ends_with("</div></body></html>"), "{html}");
        assert!(
            html.contains("href=\"http://golive.example/feedback/a.b&amp;c\""),
            "{html}"
        );
    }
}
