//! Reading event files line by line, with the file name and line number each
//! line came from. Streams: a file of any size is never loaded whole.

use std::io::{BufRead, BufReader, Read};

use chrono::{DateTime, Utc};

use crate::event::{Event, parse_line_within};
use crate::event_json::LineLimits;

/// One line of input: an event, or why it was rejected.
#[derive(Debug)]
pub struct Line {
    pub source: String,
    pub number: usize,
    pub parsed: Result<Event, Rejected>,
}

#[derive(Debug, Clone)]
pub struct Rejected {
    pub reason: String,
    /// The raw text (lossily decoded when it was not UTF-8), kept in the store.
    pub raw: String,
}

/// Iterates over the events of one input.
pub struct EventLines<R> {
    reader: BufReader<R>,
    source: String,
    number: usize,
    now: DateTime<Utc>,
    limits: LineLimits,
    buf: Vec<u8>,
}

impl<R: Read> EventLines<R> {
    pub fn new(source: impl Into<String>, reader: R, now: DateTime<Utc>) -> Self {
        EventLines {
            reader: BufReader::with_capacity(256 * 1024, reader),
            source: source.into(),
            number: 0,
            now,
            limits: LineLimits::default(),
            buf: Vec::new(),
        }
    }

    /// Read within `limits` (a longer line is rejected unread, a line that
    /// nests too deep or holds too many values is rejected as it is parsed).
    pub fn within(mut self, limits: LineLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Number the lines as if `n` lines came before them (reading on in a file that grew).
    pub fn after_line(mut self, n: usize) -> Self {
        self.number = n;
        self
    }
}

impl<R: Read> Iterator for EventLines<R> {
    type Item = std::io::Result<Line>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            self.buf.clear();
            let max = self.limits.max_bytes;
            let n = match (&mut self.reader).take((max as u64).saturating_add(1)).read_until(b'\n', &mut self.buf) {
                Ok(n) => n,
                Err(e) => return Some(Err(e)),
            };
            if n == 0 {
                return None;
            }
            self.number += 1;
            if self.buf.len() > max && !self.buf.ends_with(b"\n") {
                // Skip the rest of the oversized line without keeping it.
                loop {
                    self.buf.clear();
                    match (&mut self.reader).take(1 << 20).read_until(b'\n', &mut self.buf) {
                        Ok(0) => break,
                        Ok(_) if self.buf.ends_with(b"\n") => break,
                        Ok(_) => continue,
                        Err(e) => return Some(Err(e)),
                    }
                }
                let reason = format!("line is longer than {} (limits.max_event_line_bytes)", size_text(max));
                return Some(Ok(self.line(Err(Rejected { reason, raw: String::new() }))));
            }
            let bytes = line_text(&self.buf);
            if bytes.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let parsed = match std::str::from_utf8(bytes) {
                Ok(text) => parse_line_within(text, self.now, &self.limits)
                    .map_err(|reason| Rejected { reason, raw: text.to_string() }),
                Err(e) => Err(Rejected {
                    reason: format!("not valid UTF-8 (byte {})", e.valid_up_to() + 1),
                    raw: String::from_utf8_lossy(bytes).into_owned(),
                }),
            };
            return Some(Ok(self.line(parsed)));
        }
    }
}

/// A size as people read it: `16 MiB`, `64 KiB`, `1000 bytes`.
fn size_text(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

/// A line without its line end and byte order mark. A UTF-8 byte order mark
/// opens a file saved by some editors; files joined with `cat` carry one at
/// the start of a later line too.
fn line_text(line: &[u8]) -> &[u8] {
    let mut bytes = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    while let [rest @ .., b'\n' | b'\r'] = bytes {
        bytes = rest;
    }
    bytes
}

impl<R> EventLines<R> {
    /// The text of the line [`Iterator::next`] returned last, as the file
    /// holds it (lossily decoded when it is not UTF-8): what the store keeps
    /// of a line the engine rejects after it parsed.
    pub fn current_text(&self) -> String {
        self.current_str().into_owned()
    }

    /// [`EventLines::current_text`], borrowed when the line is valid UTF-8.
    pub fn current_str(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(line_text(&self.buf))
    }

    fn line(&self, parsed: Result<Event, Rejected>) -> Line {
        Line { source: self.source.clone(), number: self.number, parsed }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8]) -> Vec<(usize, Result<String, String>)> {
        EventLines::new("t.jsonl", input, Utc::now())
            .map(|l| {
                let l = l.unwrap();
                (l.number, l.parsed.map(|e| e.id).map_err(|r| r.reason))
            })
            .collect()
    }

    #[test]
    fn numbers_lines_skipping_blank_ones_and_handles_bom_and_crlf() {
        let input =
            b"\xEF\xBB\xBF{\"id\":\"a\",\"type\":\"clock.tick\"}\r\n\r\n   \n{\"id\":\"b\",\"type\":\"clock.tick\"}";
        let got = lines(input);
        assert_eq!(got, vec![(1, Ok("a".into())), (4, Ok("b".into()))]);
    }

    #[test]
    fn a_byte_order_mark_at_the_start_of_a_later_line_is_skipped_too() {
        let input =
            b"\xEF\xBB\xBF{\"id\":\"a\",\"type\":\"clock.tick\"}\n\xEF\xBB\xBF{\"id\":\"b\",\"type\":\"clock.tick\"}\n";
        assert_eq!(lines(input), vec![(1, Ok("a".into())), (2, Ok("b".into()))]);
    }

    #[test]
    fn the_current_line_reads_back_as_the_file_holds_it() {
        let mut lines =
            EventLines::new("t.jsonl", &b"\xEF\xBB\xBF{\"id\": 1, \"type\": \"clock.tick\"}\r\n"[..], Utc::now());
        assert!(lines.next().unwrap().unwrap().parsed.is_ok());
        assert_eq!(lines.current_text(), r#"{"id": 1, "type": "clock.tick"}"#);
    }

    #[test]
    fn a_line_longer_than_the_limit_is_rejected_unread_and_the_next_is_read() {
        let limits = LineLimits { max_bytes: 64, ..LineLimits::default() };
        let long = format!("{{\"id\":\"a\",\"type\":\"clock.tick\",\"pad\":\"{}\"}}\n", "x".repeat(100));
        let input = format!("{long}{{\"id\":\"b\",\"type\":\"clock.tick\"}}\n");
        let got: Vec<_> = EventLines::new("t.jsonl", input.as_bytes(), Utc::now())
            .within(limits)
            .map(|l| {
                let l = l.unwrap();
                (l.number, l.parsed.map(|e| e.id).map_err(|r| r.reason))
            })
            .collect();
        assert_eq!(
            got,
            vec![(1, Err("line is longer than 64 bytes (limits.max_event_line_bytes)".into())), (2, Ok("b".into()))]
        );
    }

    #[test]
    fn invalid_utf8_is_rejected_with_its_line() {
        let got = lines(b"{\"id\":\"a\",\"type\":\"clock.tick\"}\n\xff\xfe\n");
        assert_eq!(got.len(), 2);
        assert!(got[1].1.as_ref().unwrap_err().contains("UTF-8"));
        assert_eq!(got[1].0, 2);
    }
}
