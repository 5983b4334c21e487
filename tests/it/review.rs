//! The post-launch review meeting end to end: when the launch closes (or rolls back) the real
//! daemon sends the attendees an invitation over real SMTP (aiosmtpd) whose `text/calendar`
//! part Python's `icalendar` package (another ecosystem's parser) reads with the right fields and
//! the right instant on the far side of a daylight-saving change; the reminder the day before
//! arrives once, and a restart sends nothing again.

use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use crate::harness::spawn_with_clock_at;
use crate::helpers::{BASE_PLAN, Daemon};
use crate::smtp::{ReceivedMessage, SmtpOptions, SmtpServer};

fn review_plan(smtp_port: u16, review: &str) -> String {
    format!(
        r#"{BASE_PLAN}
[smtp]
host = "127.0.0.1"
port = {smtp_port}
tls = "none"
allow_insecure = true
from = "golive <golive@test.example>"
timeout = "5s"

[[channels]]
id = "email"
kind = "email"

[review]
{review}
attendees = ["project_manager", "bob", "cfo@test.example"]
"#
    )
}

/// The next daylight-saving change in Berlin, and a local date-time three days after it.
fn across_the_next_dst_change() -> (Timestamp, String) {
    let zone = TimeZone::get("Europe/Berlin").unwrap();
    let change = zone
        .following(Timestamp::now())
        .next()
        .expect("Berlin changes its clocks");
    let day = change.timestamp().to_zoned_datetime(zone.clone()).date() + jiff::Span::new().days(3);
    let local = day.at(10, 0, 0, 0);
    let instant = zone.to_timestamp(local).unwrap();
    (instant, local.strftime("%Y-%m-%dT%H:%M:%S").to_string())
}

async fn end_launch(daemon: &Daemon, how: &str) {
    for to in ["go_no_go", "deploying", "verifying", "hypercare"] {
        let (status, body) = daemon
            .post(
                "/api/v1/phase",
                json!({"to": to, "force": true, "reason": "review test"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = match how {
        "close" => daemon.post("/api/v1/phase", json!({"to": "closed"})).await,
        _ => {
            daemon
                .post("/api/v1/rollback", json!({"reason": "checkout errors"}))
                .await
        }
    };
    assert_eq!(status, 200, "{body}");
}

/// The `text/calendar` part of `message`, read by Python's `icalendar`.
fn parse_calendar(message: &ReceivedMessage) -> Value {
    let part = message
        .email
        .parts
        .iter()
        .find(|part| part.content_type.starts_with("text/calendar"))
        .expect("a text/calendar part");
    // iTIP over email (RFC 6047): the method is on the part's content type too.
    let raw = String::from_utf8_lossy(&message.email.raw).to_lowercase();
    assert!(
        raw.contains("content-type: text/calendar; method=request"),
        "{raw}"
    );
    // RFC 5545 §3.1: every line ends in CRLF and has at most 75 octets.
    let body = &part.body;
    assert!(body.ends_with(b"\r\n"), "no CRLF at the end");
    for line in body.split(|byte| *byte == b'\n') {
        assert!(line.is_empty() || line.ends_with(b"\r"), "a bare LF");
        assert!(line.len() <= 76, "a line of {} octets", line.len() - 1);
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("invite.ics");
    std::fs::write(&file, &part.body).unwrap();
    let script = r#"
import datetime, json, sys
import icalendar
cal = icalendar.Calendar.from_ical(open(sys.argv[1], 'rb').read())
event = next(iter(cal.walk('VEVENT')))
attendees = event.get('ATTENDEE')
attendees = attendees if isinstance(attendees, list) else [attendees]
start, end = event.decoded('DTSTART'), event.decoded('DTEND')
utc = datetime.timezone.utc

def vtimezone_utc(cal, local):
    # The instant of `local` by the VTIMEZONE golive wrote alone (as Outlook reads it), not by
    # Python's own tz database: the latest onset of a STANDARD/DAYLIGHT observance, each onset
    # (DTSTART, RDATE, RRULE) in the local time before it, gives the offset.
    from dateutil import rrule
    best = None
    for tz in cal.walk('VTIMEZONE'):
        for sub in tz.subcomponents:
            onset = sub.decoded('DTSTART').replace(tzinfo=None)
            frm, to = sub.decoded('TZOFFSETFROM'), sub.decoded('TZOFFSETTO')
            onsets = [onset]
            for rdate in (sub.get('RDATE') or []) if isinstance(sub.get('RDATE'), list) else ([sub.get('RDATE')] if sub.get('RDATE') else []):
                onsets += [d.dt.replace(tzinfo=None) for d in rdate.dts]
            if sub.get('RRULE'):
                rule = rrule.rrulestr(sub['RRULE'].to_ical().decode(), dtstart=onset)
                onsets += [d for d in rule.between(onset, local + datetime.timedelta(days=400), inc=True)]
            for at in onsets:
                at_utc = at - frm
                if at_utc <= local - to and (best is None or at_utc > best[0]):
                    best = (at_utc, to)
    assert best is not None, 'no observance in force'
    return (local - best[1]).strftime('%Y-%m-%dT%H:%M:%SZ')
print(json.dumps({
    'method': str(cal.get('METHOD')),
    'uid': str(event.get('UID')),
    'summary': str(event.get('SUMMARY')),
    'location': str(event.get('LOCATION')),
    'description': str(event.get('DESCRIPTION')),
    'organizer': str(event.get('ORGANIZER')),
    'organizer_name': str(event.get('ORGANIZER').params.get('CN')),
    'attendees': sorted(str(a) for a in attendees),
    'rsvp': sorted(str(a.params.get('RSVP')) for a in attendees),
    'tzid': str(event.get('DTSTART').params.get('TZID')),
    'timezones': [str(tz.get('TZID')) for tz in cal.walk('VTIMEZONE')],
    'start_utc': start.astimezone(utc).strftime('%Y-%m-%dT%H:%M:%SZ'),
    'end_utc': end.astimezone(utc).strftime('%Y-%m-%dT%H:%M:%SZ'),
    'start_local': start.strftime('%Y-%m-%dT%H:%M:%S'),
    'vtimezone_start_utc': vtimezone_utc(cal, event['DTSTART'].dt.replace(tzinfo=None)),
    'sequence': str(event.get('SEQUENCE')),
    'dtstamp': 'DTSTAMP' in event,
    'roles': sorted('%s %s %s' % (a, a.params.get('ROLE'), a.params.get('PARTSTAT')) for a in attendees),
}))
"#;
    let output = std::process::Command::new("/usr/bin/python3")
        .args(["-c", script])
        .arg(&file)
        .output()
        .expect("python3 (apt-get install python3-icalendar, or run scripts/test)");
    assert!(
        output.status.success(),
        "icalendar refused the invitation: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&part.body)
    );
    serde_json::from_slice(&output.stdout).expect("the script's JSON")
}

#[tokio::test]
async fn closing_the_launch_invites_the_attendees_with_a_calendar_request_at_the_right_instant_across_a_dst_change()
 {
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    let (instant, local) = across_the_next_dst_change();
    let review = format!(
        "when = {local}\nduration = \"90m\"\nlocation = \"Room 4.12; east wing\"\nurl = \"https://meet.test.example/review\""
    );
    let daemon = Daemon::start(&review_plan(smtp.port, &review)).await;
    let (status, _) = daemon
        .post(
            "/api/v1/log",
            json!({"kind": "lesson", "text": "Rehearse the rollback"}),
        )
        .await;
    assert_eq!(status, 201);
    end_launch(&daemon, "close").await;

    let messages = smtp.wait_for(1, Duration::from_secs(30)).await;
    let invitation = &messages[0];
    let mut recipients = invitation.recipients.clone();
    recipients.sort();
    assert_eq!(
        recipients,
        ["alice@example.com", "bob@example.com", "cfo@test.example"]
    );
    assert!(
        invitation
            .email
            .subject
            .starts_with("Invitation: Launch review: Test shop — "),
        "{}",
        invitation.email.subject
    );
    let text = invitation.email.text.clone().unwrap_or_default();
    assert!(text.contains("The launch Test shop has closed"), "{text}");
    assert!(text.contains("- Rehearse the rollback ("), "{text}");

    let calendar = parse_calendar(invitation);
    assert_eq!(calendar["method"], "REQUEST");
    assert_eq!(calendar["summary"], "Launch review: Test shop");
    assert_eq!(calendar["location"], "Room 4.12; east wing");
    assert_eq!(calendar["tzid"], "Europe/Berlin");
    assert_eq!(calendar["timezones"], json!(["Europe/Berlin"]));
    // The instant is right although the meeting is on the other side of a clock change.
    assert_eq!(calendar["start_local"], local);
    assert_eq!(
        calendar["start_utc"],
        instant.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    );
    let end = instant + jiff::SignedDuration::from_mins(90);
    assert_eq!(
        calendar["end_utc"],
        end.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    );
    assert_eq!(calendar["organizer"], "mailto:alice@example.com");
    assert_eq!(calendar["organizer_name"], "Alice Adler");
    assert_eq!(
        calendar["attendees"],
        json!([
            "mailto:alice@example.com",
            "mailto:bob@example.com",
            "mailto:cfo@test.example"
        ])
    );
    // The organizer (Alice, the project manager) is also an attendee: the chair, accepted.
    assert_eq!(calendar["rsvp"], json!(["FALSE", "TRUE", "TRUE"]));
    assert_eq!(
        calendar["roles"],
        json!([
            "mailto:alice@example.com CHAIR ACCEPTED",
            "mailto:bob@example.com REQ-PARTICIPANT NEEDS-ACTION",
            "mailto:cfo@test.example REQ-PARTICIPANT NEEDS-ACTION"
        ])
    );
    assert_eq!(calendar["sequence"], "0");
    assert_eq!(calendar["dtstamp"], true);
    // What a client without the zone in its database (Outlook) computes from the VTIMEZONE.
    assert_eq!(
        calendar["vtimezone_start_utc"],
        instant.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    );
    let description = calendar["description"].as_str().unwrap_or_default();
    assert!(description.contains("1. Incidents"), "{description}");
    assert!(
        description.contains("Rehearse the rollback"),
        "{description}"
    );
    let uid = calendar["uid"].as_str().unwrap_or_default().to_string();
    assert!(uid.starts_with("review-meeting."), "{uid}");
    assert!(uid.ends_with("@test.example"), "{uid}");
}

#[tokio::test]
async fn a_rolled_back_launch_sends_the_invitation_for_the_next_working_day_then_one_reminder_the_day_before_and_a_restart_sends_nothing_again()
 {
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    // Rolled back on Thursday 2030-01-03 at 19:00 in Berlin: two days later is a Saturday, so the
    // review is on Monday the 7th at 10:00 (the default time), and the reminder on Sunday.
    let start: Timestamp = "2030-01-03T18:00:00Z".parse().unwrap();
    let golive =
        spawn_with_clock_at(&review_plan(smtp.port, "when = \"2d after close\""), start).await;
    end_launch(&golive.api, "roll back").await;

    let messages = smtp.wait_for(1, Duration::from_secs(30)).await;
    let invitation = messages[0].clone();
    assert!(
        invitation
            .email
            .subject
            .ends_with("2030-01-07 10:00–11:00 CET"),
        "{}",
        invitation.email.subject
    );
    let text = invitation.email.text.clone().unwrap_or_default();
    assert!(text.contains("has been rolled back"), "{text}");
    let calendar = parse_calendar(&invitation);
    assert_eq!(calendar["start_utc"], "2030-01-07T09:00:00Z");

    // Sunday 10:00, a day before the meeting: the reminder.
    let reminder_at: Timestamp = "2030-01-06T09:00:00Z".parse().unwrap();
    golive
        .advance(reminder_at.duration_since(golive.now()))
        .await;
    let messages = smtp.wait_for(2, Duration::from_secs(30)).await;
    let reminder = &messages[1];
    assert!(
        reminder
            .email
            .subject
            .starts_with("Tomorrow: Launch review: Test shop — "),
        "{}",
        reminder.email.subject
    );
    assert_eq!(reminder.recipients.len(), 3);
    assert!(
        reminder
            .email
            .parts
            .iter()
            .all(|part| !part.content_type.starts_with("text/calendar")),
        "the reminder is no second invitation"
    );
    // The reminder continues the invitation's thread.
    assert_eq!(
        Some(
            reminder
                .email
                .in_reply_to
                .first()
                .cloned()
                .unwrap_or_default()
        ),
        invitation.email.message_id.clone()
    );

    let again = golive.restart().await;
    again.advance(SignedDuration::from_mins(1)).await;
    assert_eq!(smtp.messages().len(), 2, "nothing was sent twice");
    again.stop().await;
}

#[tokio::test]
async fn a_fixed_review_already_past_at_the_end_is_logged_as_a_decision_and_not_sent() {
    let smtp = SmtpServer::start(SmtpOptions::plain()).await;
    // Ended on 2030-01-03; the meeting was on the 2nd.
    let start: Timestamp = "2030-01-03T18:00:00Z".parse().unwrap();
    let golive =
        spawn_with_clock_at(&review_plan(smtp.port, "when = 2030-01-02T10:00:00"), start).await;
    end_launch(&golive.api, "close").await;
    golive.advance(SignedDuration::from_mins(1)).await;
    let (status, log) = golive.api.get("/api/v1/log").await;
    assert_eq!(status, 200);
    let log = log.to_string();
    assert!(
        log.contains("The review meeting at 2030-01-02 10:00")
            && log.contains("is in the past; no invitation sent"),
        "{log}"
    );
    assert!(log.contains("\"decision\""), "{log}");
    // The decision and a queued invitation would be one engine turn: nothing was queued.
    assert!(
        smtp.messages().is_empty(),
        "no invitation to a past meeting"
    );
    golive.stop().await;
}
