//! One line per event in golive's log, whatever text the event carries. Authors, reasons, notes
//! and names reach the log from clients and the plan; a CR or LF in them would end the event's line
//! and let the rest pass for a line golive wrote (a forged "phase changed", a fake error), in a log
//! file as in journald, which starts an entry at each newline. tracing's text format escapes
//! terminal escape sequences but not CR/LF, and offers no switch for it, so this writer does it:
//! the fmt layer formats each event into one buffer and writes it with one call, so every control
//! character but the event's final newline (and tabs, and the colours' ESC on a terminal) is
//! written escaped (`\n`, `\r`, `\u{7}`). JSON lines need nothing: serde escapes them already.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};

use tracing_subscriber::fmt::MakeWriter;

/// Makes the writer of each event: standard error, one line per event. `colour` says whether
/// ANSI colours are on (then their ESC characters are left alone).
#[derive(Debug, Clone, Copy)]
pub struct OneLinePerEvent {
    pub colour: bool,
}

impl<'a> MakeWriter<'a> for OneLinePerEvent {
    type Writer = EventWriter;

    fn make_writer(&'a self) -> EventWriter {
        EventWriter {
            inner: io::stderr(),
            colour: self.colour,
        }
    }
}

/// Writes one formatted event to standard error with its inner line breaks escaped.
pub struct EventWriter {
    inner: io::Stderr,
    colour: bool,
}

impl Write for EventWriter {
    fn write(&mut self, event: &[u8]) -> io::Result<usize> {
        match std::str::from_utf8(event) {
            Ok(text) => self
                .inner
                .write_all(one_line(text, self.colour).as_bytes())?,
            // tracing formats into a `String`; anything else is passed on as it came.
            Err(_) => self.inner.write_all(event)?,
        }
        Ok(event.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// `event` with every control character but its final newline, tabs and (with `colour`) ESC
/// escaped.
pub fn one_line(event: &str, colour: bool) -> Cow<'_, str> {
    let body = event.strip_suffix('\n').unwrap_or(event);
    let escaped = |c: char| c.is_control() && c != '\t' && !(colour && c == '\u{1b}');
    if !body.contains(escaped) {
        return Cow::Borrowed(event);
    }
    let mut line = String::with_capacity(event.len() + 16);
    for c in body.chars() {
        match c {
            '\n' => line.push_str("\\n"),
            '\r' => line.push_str("\\r"),
            c if escaped(c) => {
                let _ = write!(line, "\\u{{{:x}}}", u32::from(c));
            }
            c => line.push(c),
        }
    }
    if event.ends_with('\n') {
        line.push('\n');
    }
    Cow::Owned(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_stays_one_line_whatever_its_fields_hold() {
        let event = "INFO checklist item confirmed author=Mallory\r\nINFO forged\u{7}\u{85}\n";
        assert_eq!(
            one_line(event, false),
            "INFO checklist item confirmed author=Mallory\\r\\nINFO forged\\u{7}\\u{85}\n"
        );
    }

    #[test]
    fn an_ordinary_event_is_written_as_it_is() {
        let event = "INFO golive is running\tlaunch=Shop\n";
        assert!(matches!(one_line(event, false), Cow::Borrowed(_)));
    }

    #[test]
    fn colours_survive_on_a_terminal_and_are_escaped_elsewhere() {
        let event = "\u{1b}[32mINFO\u{1b}[0m ok\n";
        assert_eq!(one_line(event, true), event);
        assert_eq!(one_line(event, false), "\\u{1b}[32mINFO\\u{1b}[0m ok\n");
    }
}
