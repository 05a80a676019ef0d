//! The lines applied since the last commit, kept so the batch can be applied
//! again (see [`super::Ingest`]). Each line's text goes into one buffer and
//! is parsed again only if the batch is: the parsed events themselves are
//! dropped as soon as they are applied.

use std::ops::Range;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::event::parse_line_within;
use crate::event_json::LineLimits;
use crate::event_source::{Line, Rejected};
use crate::playbook::Playbook;

#[derive(Default)]
pub(super) struct Uncommitted {
    /// The text of every line that parsed, one after another.
    text: String,
    /// The bytes of the rejected lines' text, kept with their reasons.
    rejected_bytes: usize,
    lines: Vec<Kept>,
}

struct Kept {
    source: Arc<str>,
    number: usize,
    /// The time the line was read at (what parsing compares times with).
    read_at: DateTime<Utc>,
    /// The limits it was read within.
    limits: LineLimits,
    /// Where the line's text is in the buffer, or why it was rejected when read.
    text: Result<Range<usize>, Rejected>,
    /// The playbook in force when the line was first applied.
    pub(super) playbook: Arc<Playbook>,
}

impl Uncommitted {
    pub(super) fn len(&self) -> usize {
        self.lines.len()
    }

    /// The bytes of text kept, of applied and rejected lines.
    pub(super) fn text_len(&self) -> usize {
        self.text.len() + self.rejected_bytes
    }

    pub(super) fn clear(&mut self) {
        self.text.clear();
        self.rejected_bytes = 0;
        self.lines.clear();
    }

    /// Keep `line`, read from `source` at `read_at` within `limits`; `text` is its text.
    pub(super) fn push(
        &mut self,
        source: &Arc<str>,
        read_at: DateTime<Utc>,
        limits: LineLimits,
        line: &Line,
        text: &str,
        playbook: Arc<Playbook>,
    ) {
        let text = match &line.parsed {
            Ok(_) => {
                let start = self.text.len();
                self.text.push_str(text);
                Ok(start..self.text.len())
            }
            Err(rejected) => {
                self.rejected_bytes += rejected.raw.len();
                Err(rejected.clone())
            }
        };
        self.lines.push(Kept { source: source.clone(), number: line.number, read_at, limits, text, playbook });
    }

    /// Keep only the first `n` lines.
    pub(super) fn truncate(&mut self, n: usize) {
        self.lines.truncate(n);
    }

    /// The playbooks the lines were applied with, each once.
    pub(super) fn playbooks(&self) -> Vec<&Arc<Playbook>> {
        let mut seen: Vec<&Arc<Playbook>> = Vec::new();
        for k in &self.lines {
            if !seen.iter().any(|p| Arc::ptr_eq(p, &k.playbook)) {
                seen.push(&k.playbook);
            }
        }
        seen
    }

    /// Each line as it was read, with its text and playbook.
    pub(super) fn lines(&self) -> impl Iterator<Item = (Line, &str, &Arc<Playbook>)> {
        self.lines.iter().map(|k| {
            let (parsed, text) = match &k.text {
                Ok(range) => {
                    let text = &self.text[range.clone()];
                    let parsed = parse_line_within(text, k.read_at, &k.limits)
                        .map_err(|reason| Rejected { reason, raw: text.to_string() });
                    (parsed, text)
                }
                Err(rejected) => (Err(rejected.clone()), ""),
            };
            (Line { source: k.source.to_string(), number: k.number, parsed }, text, &k.playbook)
        })
    }
}
