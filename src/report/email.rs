//! A composed report as the email it is sent as: to the plan's `[reports] to`, with its own
//! Message-ID, outside any alert's thread. Pure composition, shared by the engine (scheduled and
//! requested reports) and `golive report preview --format eml`, so both show the same message.

use crate::core::message::OutgoingEmail;
use crate::plan::Plan;
use crate::plan::recipients::resolve_recipients;
use crate::report::compose::Composed;
use crate::report::message_id::MessageIds;
use crate::report::notice::{self, Notice, Thread};

/// The email of a composed report to the plan's report recipients (nobody without `[reports]`).
pub fn report_email(plan: &Plan, composed: &Composed, message_ids: &MessageIds) -> OutgoingEmail {
    let recipients = plan
        .reports
        .as_ref()
        .map(|reports| resolve_recipients(plan, &reports.to))
        .unwrap_or_default();
    let notice = Notice {
        subject: composed.rendered.subject.clone(),
        text: composed.rendered.text.clone(),
        html: Some(composed.rendered.html.clone()),
        chat: String::new(),
        json: crate::core::message::GoliveBody::None,
    };
    notice::email(
        notice::mailboxes(&recipients),
        &notice,
        message_ids.fresh(&format!(
            "report-{}-{}",
            composed.kind.as_str(),
            composed.day
        )),
        Thread::default(),
    )
}
