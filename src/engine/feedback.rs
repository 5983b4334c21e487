//! Feedback from people without tokens: every report email carries a personal, signed, expiring
//! link (`/feedback/TOKEN`, signed with the acknowledgement links' key for a distinct purpose,
//! see `crate::ack_link`). Opening it shows a form and changes nothing; sending the form records
//! one `feedback` log entry, authored by the person the link was sent to, and uses the link up
//! (its nonce and the entry are one transaction). The entry then appears wherever feedback does:
//! the next daily report, the final report, the timeline and the status page.

use jiff::{SignedDuration, Timestamp};

use super::{Engine, EngineError, block};
use crate::ack_link::{FeedbackClaim, FeedbackLinkError};
use crate::core::log::data::FeedbackByLink;
use crate::core::log::{LogData, LogEntry, LogKind, NewEntry};
use crate::notify::OutgoingEmail;
use crate::plan::recipients::resolve_recipients;
use crate::report::feedback_link::with_feedback_link;

/// How long a report's feedback link works: long enough to answer the final report after a
/// holiday, short enough that an old forwarded email does not speak for someone for ever.
pub const FEEDBACK_LINK_TTL: SignedDuration = SignedDuration::from_hours(30 * 24);
/// The longest feedback a link takes, in characters (the form says so, and so does the refusal).
pub const MAX_FEEDBACK_CHARS: usize = 2000;

/// A feedback link that works: who it was sent to and what about.
#[derive(Debug, Clone)]
pub struct FeedbackLinkView {
    pub claim: FeedbackClaim,
    /// The person's name from the plan, else the address the link was sent to.
    pub author: String,
}

/// Why a feedback link does nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedbackRefusal {
    /// Expired, changed, or not golive's.
    Link(FeedbackLinkError),
    /// It recorded feedback already.
    Used,
    /// The text is empty or too long (the message says which).
    Text(String),
}

impl Engine {
    /// The report's email as one copy per recipient, each with its own feedback link about
    /// `about` (`daily 2026-12-02`, `final`). The copies share the report's Message-ID: they are
    /// one report, each person receives one copy, as with one message to many (and as mailing
    /// lists that personalise messages do).
    pub(super) fn personal_copies(
        &self,
        email: &OutgoingEmail,
        about: &str,
        now: Timestamp,
    ) -> Vec<OutgoingEmail> {
        let Some(reports) = &self.plan.reports else {
            return Vec::new();
        };
        let expires = now.saturating_add(FEEDBACK_LINK_TTL).unwrap_or(now);
        resolve_recipients(&self.plan, &reports.to)
            .into_iter()
            .filter_map(|addressee| {
                let address = addressee.email?;
                let url = self.feedback_url(about, &addressee.key, now);
                let (text, html) = with_feedback_link(
                    &email.text,
                    email.html.as_deref(),
                    &url,
                    expires,
                    &self.plan.launch.timezone,
                );
                Some(OutgoingEmail {
                    to: vec![(Some(addressee.name), address)],
                    text,
                    html,
                    ..email.clone()
                })
            })
            .collect()
    }

    /// A personal feedback link about `about` (a report) for `recipient` (person id or address).
    fn feedback_url(&self, about: &str, recipient: &str, now: Timestamp) -> String {
        let expires = now.saturating_add(FEEDBACK_LINK_TTL).unwrap_or(now);
        let token = crate::ack_link::issue_feedback(
            &self.alerts.ack_key,
            about,
            recipient,
            expires,
            &crate::random::bytes::<12>(),
        );
        format!("{}/feedback/{token}", self.public_url())
    }

    /// What a feedback link says, checked (signature, expiry, not used) without using it.
    pub(super) fn check_feedback_link(
        &self,
        token: &str,
    ) -> Result<Result<FeedbackLinkView, FeedbackRefusal>, EngineError> {
        let claim =
            match crate::ack_link::verify_feedback(&self.alerts.ack_key, token, self.clock.now()) {
                Ok(claim) => claim,
                Err(error) => return Ok(Err(FeedbackRefusal::Link(error))),
            };
        if self.store.ack_nonce_used(&claim.nonce)? {
            return Ok(Err(FeedbackRefusal::Used));
        }
        let author = crate::plan::recipients::display_name(&self.plan, &claim.recipient);
        Ok(Ok(FeedbackLinkView { claim, author }))
    }

    /// Records the feedback of a link, once: the link's nonce and the log entry in one transaction.
    pub(super) fn submit_feedback(
        &mut self,
        token: &str,
        text: &str,
    ) -> Result<Result<LogEntry, FeedbackRefusal>, EngineError> {
        let view = match self.check_feedback_link(token)? {
            Ok(view) => view,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let text = text.trim();
        if let Some(problem) = feedback_text_problem(text) {
            return Ok(Err(FeedbackRefusal::Text(problem)));
        }
        let now = self.clock.now();
        let entry = NewEntry {
            at: now,
            author: view.author.clone(),
            kind: LogKind::Feedback,
            text: text.to_string(),
            data: LogData::Feedback(FeedbackByLink {
                via: "feedback link".to_string(),
                about: view.claim.about.clone(),
                recipient: view.claim.recipient.clone(),
            }),
        };
        let stored = block(|| {
            self.store.write(|write| {
                if !write.use_ack_nonce(&view.claim.nonce, now)? {
                    return Ok(None);
                }
                write.log(&entry).map(Some)
            })
        })?;
        let Some(stored) = stored else {
            return Ok(Err(FeedbackRefusal::Used));
        };
        self.logged(&stored);
        self.publish();
        tracing::info!(about = %view.claim.about, "feedback recorded through a report's link");
        Ok(Ok(stored))
    }
}

/// Why a piece of feedback cannot be recorded as written, if it cannot.
pub fn feedback_text_problem(text: &str) -> Option<String> {
    let length = text.trim().chars().count();
    if length == 0 {
        return Some("the feedback is empty; write what you noticed".to_string());
    }
    (length > MAX_FEEDBACK_CHARS).then(|| {
        format!(
            "the feedback is {length} characters long; at most {MAX_FEEDBACK_CHARS} fit (shorten it, or send several)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feedback_must_say_something_and_fit_the_limit() {
        assert!(feedback_text_problem("  \n ").is_some());
        assert_eq!(feedback_text_problem("Checkout is faster"), None);
        assert_eq!(feedback_text_problem(&"é".repeat(MAX_FEEDBACK_CHARS)), None);
        let too_long = feedback_text_problem(&"a".repeat(MAX_FEEDBACK_CHARS + 1)).unwrap();
        assert!(too_long.contains("2001 characters"), "{too_long}");
    }
}
