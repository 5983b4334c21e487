//! The post-launch review meeting (`[review]`): when the launch closes or rolls back, the
//! attendees receive an iCalendar invitation (its own email, queued in the same loop turn as the
//! final report), and the day before the meeting a reminder. Each message's outbox row and its
//! `review_messages` record are one transaction, so neither goes out twice across restarts; a
//! message whose moment passed while golive was down is not sent late (an invitation to a
//! meeting that is over, a reminder after the start).

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};

use super::{Engine, block, error_chain};
use crate::core::actions::ActionStatus;
use crate::core::log::{LogData, LogKind, NewEntry};
use crate::notify::{OutboxKind, OutboxPayload, OutgoingEmail};
use crate::plan::Plan;
use crate::plan::alerting::ChannelKind;
use crate::plan::recipients::{display_name, resolve_recipients};
use crate::plan::review::Review;
use crate::report::notice::{self, Notice, Thread};
use crate::report::review_invite::{self, Agenda, Meeting};
use crate::store::alerts::NewOutboxRow;
use crate::store::review::ReviewMessage;
use crate::store::{Store, StoreError};

/// A reminder goes out this long before the meeting.
const REMIND_BEFORE: SignedDuration = SignedDuration::from_hours(24);
/// After a failure to compose or record, wait this long before trying again.
const RETRY_AFTER: SignedDuration = SignedDuration::from_mins(5);

/// What the engine knows about the review's messages.
pub(super) struct ReviewState {
    sent: Vec<ReviewMessage>,
    /// Nothing is tried before this (after a failure).
    retry_at: Option<Timestamp>,
}

impl ReviewState {
    pub(super) fn load(store: &Store) -> Result<ReviewState, StoreError> {
        Ok(ReviewState {
            sent: store.review_messages_sent()?,
            retry_at: None,
        })
    }
}

impl Engine {
    /// Sends the invitation once the launch has ended, and the reminder the day before.
    pub(super) fn send_due_review_messages(&mut self) {
        let Some(review) = self.plan.review.clone() else {
            return;
        };
        let now = self.clock.now();
        if !self.state.phase.is_terminal() || self.review.retry_at.is_some_and(|at| now < at) {
            return;
        }
        let ended_at = self.state.phase_since;
        let zone = &self.plan.launch.timezone;
        let (starts, ends) = (
            review.starts_at(ended_at, zone),
            review.ends_at(ended_at, zone),
        );
        let due = if !self.review.sent.contains(&ReviewMessage::Invitation) {
            if now >= ends {
                self.skip_past_invitation(starts, now);
                return;
            }
            Some(ReviewMessage::Invitation)
        } else {
            let remind_at = starts.saturating_sub(REMIND_BEFORE).unwrap_or(starts);
            // A meeting less than a day after the end needs no reminder: the invitation is one.
            (!self.review.sent.contains(&ReviewMessage::Reminder)
                && remind_at > ended_at
                && now >= remind_at
                && now < starts)
                .then_some(ReviewMessage::Reminder)
        };
        let Some(message) = due else {
            return;
        };
        match self.send_review_message(&review, message, now) {
            Ok(()) => self.review.sent.push(message),
            Err(error) => {
                self.review.retry_at = now.checked_add(RETRY_AFTER).ok();
                tracing::error!(error = %error_chain(&error), message = message.as_str(), "could not queue the review meeting's message; will retry in 5 minutes");
            }
        }
    }

    /// The meeting is over before its invitation could go out (a fixed `when` before the end,
    /// or golive was down): say so in the log once, and record the invitation as done so the
    /// decision is not repeated nor a reminder sent.
    fn skip_past_invitation(&mut self, starts: Timestamp, now: Timestamp) {
        let local = crate::human::time(starts, &self.plan.launch.timezone);
        let entry = NewEntry {
            at: now,
            author: "golive".into(),
            kind: LogKind::Decision,
            text: format!("The review meeting at {local} is in the past; no invitation sent"),
            data: LogData::None,
        };
        let written = block(|| {
            self.store.write(|write| {
                write.log(&entry)?;
                write.record_review_message(ReviewMessage::Invitation, None, now)
            })
        });
        match written {
            Ok(_) => {
                self.review.sent.push(ReviewMessage::Invitation);
                tracing::warn!(starts = %starts, "the review meeting is in the past; no invitation sent");
            }
            Err(error) => {
                self.store_trouble(&error);
                self.review.retry_at = now.checked_add(RETRY_AFTER).ok();
            }
        }
    }

    fn send_review_message(
        &mut self,
        review: &Review,
        message: ReviewMessage,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let plan = Arc::clone(&self.plan);
        let meeting = meeting(
            &plan,
            review,
            self.state.phase_since,
            &self.message_ids,
            self.state.phase,
        );
        let organizer = organizer_person(&plan, review);
        let agenda = block(|| agenda(&self.store, &plan, now))?;
        let invitation_id = self.message_ids.once("review-invitation");
        let email = match message {
            ReviewMessage::Invitation => {
                let invitation = review_invite::invitation(&meeting, &agenda, now);
                let mut email = invitation_email(
                    &meeting,
                    organizer.as_ref(),
                    &invitation.subject,
                    &invitation.text,
                    invitation_id,
                    Thread::default(),
                );
                email.calendar = Some(invitation.calendar);
                email
            }
            ReviewMessage::Reminder => {
                let (subject, text) = review_invite::reminder(&meeting, &agenda);
                let thread = Thread {
                    root: Some(invitation_id.clone()),
                    parent: Some(invitation_id),
                };
                invitation_email(
                    &meeting,
                    organizer.as_ref(),
                    &subject,
                    &text,
                    self.message_ids.once("review-reminder"),
                    thread,
                )
            }
        };
        let row = (!email.to.is_empty()).then(|| NewOutboxRow {
            created_at: now,
            not_before: now,
            channel: email_channel(&plan),
            kind: match message {
                ReviewMessage::Invitation => OutboxKind::Report,
                ReviewMessage::Reminder => OutboxKind::Reminder,
            },
            alert_id: None,
            group_key: None,
            payload: OutboxPayload::email(email),
        });
        block(|| {
            self.store.write(|write| {
                let outbox_id = row.as_ref().map(|row| write.enqueue(row)).transpose()?;
                write.record_review_message(message, outbox_id, now)
            })
        })
        .inspect_err(|error| self.store_trouble(error))?;
        if row.is_some() {
            self.outbox_written.notify_one();
        }
        tracing::info!(message = message.as_str(), starts = %meeting.starts_at, attendees = meeting.attendees.len(), "review meeting message queued");
        Ok(())
    }
}

/// The meeting as the invitation describes it.
fn meeting(
    plan: &Plan,
    review: &Review,
    ended_at: Timestamp,
    ids: &crate::report::message_id::MessageIds,
    phase: crate::domain::Phase,
) -> Meeting {
    let zone = &plan.launch.timezone;
    let attendees = resolve_recipients(plan, &review.attendees)
        .into_iter()
        .filter_map(|addressee| Some((addressee.name, addressee.email?)))
        .collect();
    let organizer = organizer_person(plan, review)
        .unwrap_or_else(|| ("golive".to_string(), format!("golive@{}", ids.domain())));
    Meeting {
        uid: ids.once("review-meeting"),
        title: review
            .title
            .clone()
            .unwrap_or_else(|| format!("Launch review: {}", plan.launch.name)),
        starts_at: review.starts_at(ended_at, zone),
        ends_at: review.ends_at(ended_at, zone),
        zone: zone.clone(),
        zone_name: plan.launch.timezone_name.clone(),
        location: review.location.clone(),
        url: review.url.clone(),
        organizer,
        attendees,
        outcome: match phase {
            crate::domain::Phase::RolledBack => "been rolled back".to_string(),
            _ => "closed".to_string(),
        },
        launch: plan.launch.name.clone(),
    }
}

/// (name, address) of the person who runs the meeting: `organizer`, else the first project
/// manager; `None` when golive itself is named as the organizer.
fn organizer_person(plan: &Plan, review: &Review) -> Option<(String, String)> {
    review
        .organizer
        .as_deref()
        .and_then(|id| plan.people.iter().find(|person| person.id == id))
        .or_else(|| {
            plan.people
                .iter()
                .find(|person| person.role == crate::domain::Role::ProjectManager)
        })
        .map(|person| (person.name.clone(), person.email.clone()))
}

/// The agenda from the launch's record: every incident, the open action items past their due
/// day, the lessons with who wrote them, and how much feedback came in.
fn agenda(store: &Store, plan: &Plan, now: Timestamp) -> Result<Agenda, StoreError> {
    let reader = store.reader()?;
    let zone = &plan.launch.timezone;
    let today = now.to_zoned_datetime(zone.clone()).date();
    let mut alerts = reader.alerts(false, 200)?;
    alerts.reverse();
    let incidents = alerts
        .iter()
        .map(|alert| {
            let lasted = match alert.resolved_at {
                Some(resolved) => crate::human::elapsed(alert.opened_at, resolved),
                None => "still open".to_string(),
            };
            format!(
                "#{} {} ({}), {lasted}",
                alert.id, alert.title, alert.severity
            )
        })
        .collect();
    let overdue_actions = reader
        .actions()?
        .iter()
        .filter(|item| item.status == ActionStatus::Open && item.due.is_some_and(|due| due < today))
        .map(|item| {
            format!(
                "#{} {} (owner {}, due {})",
                item.id,
                item.title,
                display_name(plan, &item.owner),
                item.due.map(|due| due.to_string()).unwrap_or_default()
            )
        })
        .collect();
    let log = reader.whole_log()?;
    let lessons = log
        .iter()
        .filter(|entry| entry.kind == LogKind::Lesson)
        .map(|entry| format!("{} ({})", entry.text, display_name(plan, &entry.author)))
        .collect();
    let feedback = log
        .iter()
        .filter(|entry| entry.kind == LogKind::Feedback)
        .count();
    Ok(Agenda {
        incidents,
        overdue_actions,
        lessons,
        feedback,
    })
}

fn invitation_email(
    meeting: &Meeting,
    organizer: Option<&(String, String)>,
    subject: &str,
    text: &str,
    message_id: String,
    thread: Thread,
) -> OutgoingEmail {
    let mut to: Vec<(Option<String>, String)> = meeting
        .attendees
        .iter()
        .map(|(name, address)| (Some(name.clone()), address.clone()))
        .collect();
    // The organizer gets the request too, so the event is in their calendar and the attendees'
    // replies, which go to them, match it.
    if let Some((name, address)) = organizer
        && !to.iter().any(|(_, to)| to.eq_ignore_ascii_case(address))
    {
        to.push((Some(name.clone()), address.clone()));
    }
    let notice = Notice {
        subject: subject.to_string(),
        text: text.to_string(),
        html: None,
        chat: String::new(),
        json: crate::core::message::GoliveBody::None,
    };
    notice::email(to, &notice, message_id, thread)
}

/// The reports' channel, else the plan's first email channel (the plan reader refuses `[review]`
/// without one, so the empty fallback is never used).
fn email_channel(plan: &Plan) -> String {
    plan.reports
        .as_ref()
        .map(|reports| reports.channel.clone())
        .or_else(|| {
            plan.alerting
                .channels
                .iter()
                .find(|channel| matches!(channel.kind, ChannelKind::Email { .. }))
                .map(|channel| channel.id.clone())
        })
        .unwrap_or_default()
}
