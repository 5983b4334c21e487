//! The post-launch review meeting as people receive it: the iCalendar request (RFC 5545 with
//! iTIP `METHOD:REQUEST`, RFC 5546) that mail clients show as an invitation, the invitation's
//! text with the agenda drawn from the launch (incidents, overdue action items, lessons), and the
//! reminder the day before. Pure: the meeting, the agenda and `now` are passed in.
//!
//! The calendar is written here rather than with a crate: the one maintained Rust iCalendar
//! crate builds on chrono (golive uses jiff) and does not write a `VTIMEZONE` from the time-zone
//! database, which Outlook needs for a `TZID`. What RFC 5545 asks of a writer is small and is
//! done in [`Calendar`]: CRLF line ends, lines folded at 75 octets (never inside a UTF-8
//! character), TEXT values escaped (`\\`, `;`, `,`, newlines), parameter values quoted.

use jiff::Timestamp;
use jiff::tz::TimeZone;

/// What the invitation is about.
#[derive(Debug, Clone, PartialEq)]
pub struct Meeting {
    /// Stable per launch, so a client that receives the invitation twice keeps one event.
    pub uid: String,
    pub title: String,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    /// The launch's zone and its IANA name.
    pub zone: TimeZone,
    pub zone_name: String,
    pub location: Option<String>,
    pub url: Option<String>,
    /// (name, address) of whoever runs the meeting.
    pub organizer: (String, String),
    /// (name, address) of everyone invited.
    pub attendees: Vec<(String, String)>,
    /// How the launch ended: `closed` or `rolled back`.
    pub outcome: String,
    pub launch: String,
}

/// What the review should talk about, from the launch's record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Agenda {
    /// One line per incident: `#3 Checkout API (critical), 14 min`.
    pub incidents: Vec<String>,
    /// One line per overdue action item: `#4 Tune the pool (owner bob, due 2026-12-03)`.
    pub overdue_actions: Vec<String>,
    /// One line per lesson, with its author.
    pub lessons: Vec<String>,
    /// How many pieces of feedback were recorded.
    pub feedback: usize,
}

/// The invitation's subject, plain text and calendar.
#[derive(Debug, Clone, PartialEq)]
pub struct Invitation {
    pub subject: String,
    pub text: String,
    pub calendar: String,
}

/// The invitation to `meeting`, sent at `now`.
pub fn invitation(meeting: &Meeting, agenda: &Agenda, now: Timestamp) -> Invitation {
    let when = when_text(meeting);
    let agenda_text = agenda_text(agenda);
    let mut text = format!(
        "The launch {} has {}. You are invited to its review: what went well, what did not, and what is left to do.\n\nWhen: {when}\n",
        meeting.launch, meeting.outcome
    );
    push_place(&mut text, meeting);
    text.push_str(&format!(
        "Organizer: {} <{}>\n\n{agenda_text}",
        meeting.organizer.0, meeting.organizer.1
    ));
    let calendar = calendar(meeting, &agenda_text, now);
    Invitation {
        subject: format!("Invitation: {} — {when}", meeting.title),
        text,
        calendar,
    }
}

/// The reminder the day before: subject and plain text.
pub fn reminder(meeting: &Meeting, agenda: &Agenda) -> (String, String) {
    let when = when_text(meeting);
    let mut text = format!(
        "Reminder: the review of the launch {} is tomorrow.\n\nWhen: {when}\n",
        meeting.launch
    );
    push_place(&mut text, meeting);
    text.push('\n');
    text.push_str(&agenda_text(agenda));
    (format!("Tomorrow: {} — {when}", meeting.title), text)
}

fn push_place(text: &mut String, meeting: &Meeting) {
    if let Some(location) = &meeting.location {
        text.push_str(&format!("Where: {location}\n"));
    }
    if let Some(url) = &meeting.url {
        text.push_str(&format!("Call: {url}\n"));
    }
}

/// `2026-12-03 10:00–11:00 CET` (the end's date is given when it is another day).
fn when_text(meeting: &Meeting) -> String {
    let start = meeting.starts_at.to_zoned_datetime(meeting.zone.clone());
    let end = meeting.ends_at.to_zoned_datetime(meeting.zone.clone());
    let end_text = if end.date() == start.date() {
        end.strftime("%H:%M %Z").to_string()
    } else {
        end.strftime("%Y-%m-%d %H:%M %Z").to_string()
    };
    format!("{}–{end_text}", start.strftime("%Y-%m-%d %H:%M"))
}

fn agenda_text(agenda: &Agenda) -> String {
    let mut out = String::from("Agenda\n");
    let mut section = |title: &str, lines: &[String], none: &str| {
        out.push_str(&format!("\n{title}\n"));
        if lines.is_empty() {
            out.push_str(&format!("- {none}\n"));
        }
        for line in lines {
            out.push_str(&format!("- {line}\n"));
        }
    };
    section(
        "1. Incidents",
        &agenda.incidents,
        "none: no alert was opened",
    );
    section(
        "2. Overdue action items",
        &agenda.overdue_actions,
        "none overdue",
    );
    section("3. Lessons learned", &agenda.lessons, "none recorded yet");
    out.push_str(&format!(
        "\n4. What people said: {}\n",
        match agenda.feedback {
            0 => "no feedback was recorded".to_string(),
            1 => "1 piece of feedback (in the final report)".to_string(),
            many => format!("{many} pieces of feedback (in the final report)"),
        }
    ));
    out
}

/// The `text/calendar; method=REQUEST` body.
fn calendar(meeting: &Meeting, description: &str, now: Timestamp) -> String {
    let mut cal = Calendar::default();
    cal.line("BEGIN", "VCALENDAR");
    cal.line("PRODID", "-//golive//launch review//EN");
    cal.line("VERSION", "2.0");
    cal.line("CALSCALE", "GREGORIAN");
    cal.line("METHOD", "REQUEST");
    time_zone(&mut cal, meeting);
    cal.line("BEGIN", "VEVENT");
    cal.line("UID", &meeting.uid);
    cal.line("DTSTAMP", &utc(now));
    cal.line("SEQUENCE", "0");
    let tzid = format!("TZID={}", param(&meeting.zone_name));
    cal.with_params("DTSTART", &tzid, &local(meeting.starts_at, &meeting.zone));
    cal.with_params("DTEND", &tzid, &local(meeting.ends_at, &meeting.zone));
    cal.text("SUMMARY", &meeting.title);
    if let Some(location) = &meeting.location {
        cal.text("LOCATION", location);
    } else if let Some(url) = &meeting.url {
        cal.text("LOCATION", url);
    }
    if let Some(url) = &meeting.url {
        cal.line("URL", url);
    }
    cal.text("DESCRIPTION", description);
    let (name, address) = &meeting.organizer;
    cal.with_params(
        "ORGANIZER",
        &format!("CN={}", param(name)),
        &format!("mailto:{address}"),
    );
    for (name, address) in &meeting.attendees {
        // The organizer runs the meeting (RFC 5545 ROLE=CHAIR) and has accepted it already: no
        // reply is asked of them, as calendar servers write the organizer among the attendees.
        let role = if address.eq_ignore_ascii_case(&meeting.organizer.1) {
            "ROLE=CHAIR;PARTSTAT=ACCEPTED;RSVP=FALSE"
        } else {
            "ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE"
        };
        cal.with_params(
            "ATTENDEE",
            &format!("CN={};CUTYPE=INDIVIDUAL;{role}", param(name)),
            &format!("mailto:{address}"),
        );
    }
    cal.line("STATUS", "CONFIRMED");
    cal.line("TRANSP", "OPAQUE");
    cal.line("END", "VEVENT");
    cal.line("END", "VCALENDAR");
    cal.out
}

/// The `VTIMEZONE` of the launch's zone around the meeting: the transition in force at its start
/// and the next one (explicit observances, which RFC 5545 allows in place of rules), so a client
/// without the zone in its database places the meeting right.
fn time_zone(cal: &mut Calendar, meeting: &Meeting) {
    let zone = &meeting.zone;
    cal.line("BEGIN", "VTIMEZONE");
    cal.line("TZID", &meeting.zone_name);
    let after_start = meeting
        .starts_at
        .saturating_add(jiff::SignedDuration::from_secs(1))
        .unwrap_or(meeting.starts_at);
    let current = zone.preceding(after_start).next();
    let next = zone.following(meeting.starts_at).next();
    match &current {
        None => {
            let info = zone.to_offset_info(meeting.starts_at);
            let offset = info.offset().seconds();
            observance(
                cal,
                info.dst().is_dst(),
                "19700101T000000",
                offset,
                offset,
                info.abbreviation(),
            );
        }
        Some(transition) => {
            let before = zone.to_offset(
                transition
                    .timestamp()
                    .saturating_sub(jiff::SignedDuration::from_secs(1))
                    .unwrap_or(transition.timestamp()),
            );
            transition_observance(cal, transition, before);
        }
    }
    if let Some(transition) = next {
        let before = zone.to_offset(meeting.starts_at);
        transition_observance(cal, &transition, before);
    }
    cal.line("END", "VTIMEZONE");
}

/// The observance `transition` begins, from the offset `before` it: its onset is written in
/// the local time before the transition, as RFC 5545 wants.
fn transition_observance(
    cal: &mut Calendar,
    transition: &jiff::tz::TimeZoneTransition<'_>,
    before: jiff::tz::Offset,
) {
    let onset = transition
        .timestamp()
        .to_zoned_datetime(TimeZone::fixed(before))
        .datetime();
    observance(
        cal,
        transition.dst().is_dst(),
        &onset.strftime("%Y%m%dT%H%M%S").to_string(),
        before.seconds(),
        transition.offset().seconds(),
        transition.abbreviation(),
    );
}

fn observance(cal: &mut Calendar, dst: bool, onset: &str, from: i32, to: i32, name: &str) {
    let kind = if dst { "DAYLIGHT" } else { "STANDARD" };
    cal.line("BEGIN", kind);
    cal.line("DTSTART", onset);
    cal.line("TZOFFSETFROM", &utc_offset(from));
    cal.line("TZOFFSETTO", &utc_offset(to));
    if !name.is_empty() {
        cal.text("TZNAME", name);
    }
    cal.line("END", kind);
}

/// `+0100`, `-0330`, `+053730` (seconds only when there are any).
fn utc_offset(seconds: i32) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let seconds = seconds.unsigned_abs();
    let (hours, minutes, rest) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    if rest == 0 {
        format!("{sign}{hours:02}{minutes:02}")
    } else {
        format!("{sign}{hours:02}{minutes:02}{rest:02}")
    }
}

/// `20261203T090000Z`.
fn utc(at: Timestamp) -> String {
    at.strftime("%Y%m%dT%H%M%SZ").to_string()
}

/// `20261203T100000`, the local time in `zone`.
fn local(at: Timestamp, zone: &TimeZone) -> String {
    at.to_zoned_datetime(zone.clone())
        .strftime("%Y%m%dT%H%M%S")
        .to_string()
}

/// A parameter value: quoted when it holds `:`, `;` or `,`; double quotes (not allowed inside)
/// and control characters dropped.
fn param(value: &str) -> String {
    let clean: String = value
        .chars()
        .filter(|c| *c != '"' && !c.is_control())
        .collect();
    if clean.contains([':', ';', ',']) {
        format!("\"{clean}\"")
    } else {
        clean
    }
}

/// An iCalendar text being written: content lines folded and ended with CRLF.
#[derive(Default)]
struct Calendar {
    out: String,
}

impl Calendar {
    fn line(&mut self, name: &str, value: &str) {
        self.fold(&format!("{name}:{value}"));
    }

    fn with_params(&mut self, name: &str, params: &str, value: &str) {
        self.fold(&format!("{name};{params}:{value}"));
    }

    /// A TEXT value, escaped.
    fn text(&mut self, name: &str, value: &str) {
        let mut escaped = String::with_capacity(value.len());
        for character in value.chars() {
            match character {
                '\\' => escaped.push_str("\\\\"),
                ';' => escaped.push_str("\\;"),
                ',' => escaped.push_str("\\,"),
                '\n' => escaped.push_str("\\n"),
                '\r' => {}
                other => escaped.push(other),
            }
        }
        self.line(name, &escaped);
    }

    /// Folds at 75 octets: the continuation lines start with a space, which counts.
    fn fold(&mut self, line: &str) {
        let mut width = 0;
        for character in line.chars() {
            let size = character.len_utf8();
            if width + size > 75 {
                self.out.push_str("\r\n ");
                width = 1;
            }
            self.out.push(character);
            width += size;
        }
        self.out.push_str("\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meeting(start: &str) -> Meeting {
        let starts_at: Timestamp = start.parse().unwrap();
        Meeting {
            uid: "review.abc@shop.example".into(),
            title: "Launch review: Shop, v2".into(),
            starts_at,
            ends_at: starts_at + jiff::SignedDuration::from_hours(1),
            zone: TimeZone::get("Europe/Berlin").unwrap(),
            zone_name: "Europe/Berlin".into(),
            location: Some("Room 4; east wing".into()),
            url: None,
            organizer: ("Alice Adler".into(), "alice@shop.example".into()),
            attendees: vec![
                ("Alice Adler".into(), "Alice@shop.example".into()),
                ("Bob, the ops lead".into(), "bob@shop.example".into()),
            ],
            outcome: "closed".into(),
            launch: "Shop".into(),
        }
    }

    #[test]
    fn lines_end_in_crlf_and_fold_at_75_octets_without_splitting_a_character() {
        let mut cal = Calendar::default();
        cal.text("DESCRIPTION", &"é".repeat(60));
        for line in cal.out.split("\r\n").filter(|line| !line.is_empty()) {
            assert!(line.len() <= 75, "{line}");
        }
        let unfolded = cal.out.replace("\r\n ", "");
        assert_eq!(unfolded, format!("DESCRIPTION:{}\r\n", "é".repeat(60)));
    }

    #[test]
    fn the_request_names_method_uid_zone_organizer_and_attendees_escaped() {
        let now: Timestamp = "2026-12-01T12:00:00Z".parse().unwrap();
        let invitation = invitation(&meeting("2027-03-30T08:00:00Z"), &Agenda::default(), now);
        let cal = invitation.calendar.replace("\r\n ", "");
        for expected in [
            "METHOD:REQUEST\r\n",
            "UID:review.abc@shop.example\r\n",
            "DTSTAMP:20261201T120000Z\r\n",
            "DTSTART;TZID=Europe/Berlin:20270330T100000\r\n",
            "DTEND;TZID=Europe/Berlin:20270330T110000\r\n",
            "SUMMARY:Launch review: Shop\\, v2\r\n",
            "LOCATION:Room 4\\; east wing\r\n",
            "ORGANIZER;CN=Alice Adler:mailto:alice@shop.example\r\n",
            "ATTENDEE;CN=\"Bob, the ops lead\";CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:bob@shop.example\r\n",
            // The organizer among the attendees chairs and has accepted; no reply is asked.
            "ATTENDEE;CN=Alice Adler;CUTYPE=INDIVIDUAL;ROLE=CHAIR;PARTSTAT=ACCEPTED;RSVP=FALSE:mailto:Alice@shop.example\r\n",
            "SEQUENCE:0\r\n",
            // In force on 30 March 2027: summer time since the 28th, 02:00 CET.
            "BEGIN:DAYLIGHT\r\nDTSTART:20270328T020000\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nTZNAME:CEST\r\nEND:DAYLIGHT\r\n",
            "BEGIN:STANDARD\r\nDTSTART:20271031T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\n",
        ] {
            assert!(cal.contains(expected), "{expected} missing in\n{cal}");
        }
        assert!(!cal.replace("\r\n", "").contains('\n'), "bare LF in\n{cal}");
        assert_eq!(cal.matches("ORGANIZER").count(), 1, "{cal}");
        assert_eq!(cal.matches("RSVP=TRUE").count(), 1, "{cal}");
        // As sent (before unfolding): every line ends in CRLF and has at most 75 octets.
        let folded = &invitation.calendar;
        assert!(folded.ends_with("\r\n"));
        for line in folded.split("\r\n") {
            assert!(line.len() <= 75, "{} octets: {line}", line.len());
        }
        assert_eq!(
            invitation.subject,
            "Invitation: Launch review: Shop, v2 — 2027-03-30 10:00–11:00 CEST"
        );
    }

    #[test]
    fn the_agenda_lists_incidents_overdue_items_and_lessons() {
        let agenda = Agenda {
            incidents: vec!["#1 Checkout API (critical), 14 min".into()],
            overdue_actions: Vec::new(),
            lessons: vec!["Rehearse the rollback (Alice Adler)".into()],
            feedback: 2,
        };
        let text = agenda_text(&agenda);
        assert!(
            text.contains("1. Incidents\n- #1 Checkout API (critical), 14 min\n"),
            "{text}"
        );
        assert!(
            text.contains("2. Overdue action items\n- none overdue\n"),
            "{text}"
        );
        assert!(
            text.contains("- Rehearse the rollback (Alice Adler)\n"),
            "{text}"
        );
        assert!(
            text.contains("4. What people said: 2 pieces of feedback"),
            "{text}"
        );
    }
}
