//! The inbox: event files dropped into `inbox/` are ingested once, then moved
//! to `inbox/done/`, or to `inbox/failed/` with a `NAME.errors` file beside
//! them listing the rejected lines.
//!
//! Writers should write to a hidden or `.tmp` name and rename it to
//! `NAME.jsonl` when complete; a file whose size still changes is left for
//! the next round anyway. A crash mid-file is harmless: the file stays in the
//! inbox, and on the next pass its applied events are skipped as duplicates.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::ingest::{Ended, Ingest, Summary};
use crate::playbook::Current;
use crate::store::Store;

pub const INBOX: &str = "inbox";

/// What became of one inbox file.
#[derive(Debug, Clone, Serialize)]
pub struct Processed {
    pub file: String,
    /// Where it was moved; `None` when processing stopped before its end.
    pub moved_to: Option<String>,
    pub summary: Summary,
}

pub struct Inbox {
    dir: PathBuf,
}

impl Inbox {
    pub fn new(config_dir: &Path) -> Inbox {
        Inbox { dir: config_dir.join(INBOX) }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether `name` (a file name in the inbox) is an event file to process.
    pub fn is_event_file(name: &str) -> bool {
        name.ends_with(".jsonl") && !name.starts_with('.') && !name.starts_with('~')
    }

    /// Event files waiting, oldest name first (name them by time to keep order).
    pub fn pending(&self) -> Result<Vec<PathBuf>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(Error::Read { path: self.dir.clone(), source }),
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter(|e| Self::is_event_file(&e.file_name().to_string_lossy()))
            .map(|e| e.path())
            .collect();
        files.sort();
        Ok(files)
    }

    /// Whether the file keeps its size over `settle` (a writer may still be at it).
    pub fn is_settled(path: &Path, settle: Duration) -> bool {
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).ok();
        let before = size(path);
        if settle.is_zero() {
            return before.is_some();
        }
        std::thread::sleep(settle);
        before.is_some() && before == size(path)
    }

    /// Ingest one inbox file and move it out of the inbox.
    pub fn process(&self, path: &Path, store: &Store, playbook: &Current, stop: &AtomicBool) -> Result<Processed> {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let source = format!("{INBOX}/{name}");
        let file = File::open(path).map_err(|source| Error::Read { path: path.to_path_buf(), source })?;
        let mut ingest = Ingest::start(store, playbook)?.stop_when(stop);
        ingest.keep_all_rejections = true;
        let ended = match ingest.input(&source, file) {
            Ok(ended) => ended,
            Err(e) => {
                ingest.abort();
                return Err(e);
            }
        };
        let summary = ingest.finish()?;
        if ended == Ended::Stopped {
            return Ok(Processed { file: source, moved_to: None, summary });
        }
        let failed = summary.counts.rejected > 0;
        let target_dir = self.dir.join(if failed { "failed" } else { "done" });
        std::fs::create_dir_all(&target_dir).map_err(|source| Error::Write { path: target_dir.clone(), source })?;
        let target = free_name(&target_dir, &name);
        if failed {
            let mut text = String::new();
            for r in &summary.rejections {
                text.push_str(&format!("{}:{}: {}\n", r.source, r.line, r.reason));
            }
            let errors = target.with_extension("errors");
            std::fs::write(&errors, text).map_err(|source| Error::Write { path: errors.clone(), source })?;
        }
        std::fs::rename(path, &target).map_err(|source| Error::Write { path: target.clone(), source })?;
        let moved_to =
            target.strip_prefix(self.dir.parent().unwrap_or(Path::new("."))).unwrap_or(&target).display().to_string();
        Ok(Processed { file: source, moved_to: Some(moved_to), summary })
    }
}

/// `dir/name`, or `dir/stem-2.jsonl`, ... when that is taken.
fn free_name(dir: &Path, name: &str) -> PathBuf {
    let first = dir.join(name);
    if !first.exists() {
        return first;
    }
    let stem = name.trim_end_matches(".jsonl");
    (2..).map(|n| dir.join(format!("{stem}-{n}.jsonl"))).find(|p| !p.exists()).unwrap_or(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_finished_event_files_are_picked_up() {
        assert!(Inbox::is_event_file("2026-11-02.jsonl"));
        for name in [".2026-11-02.jsonl", "x.jsonl.tmp", "x.json", "~x.jsonl", "x.errors"] {
            assert!(!Inbox::is_event_file(name), "{name}");
        }
    }

    #[test]
    fn pending_files_come_in_name_order_and_a_taken_name_gets_a_number() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = Inbox::new(dir.path());
        assert!(inbox.pending().unwrap().is_empty(), "no inbox folder is an empty inbox");
        std::fs::create_dir_all(inbox.dir().join("done")).unwrap();
        for n in ["b.jsonl", "a.jsonl", ".c.jsonl"] {
            std::fs::write(inbox.dir().join(n), "").unwrap();
        }
        let names: Vec<_> = inbox.pending().unwrap().iter().map(|p| p.file_name().unwrap().to_owned()).collect();
        assert_eq!(names, ["a.jsonl", "b.jsonl"]);
        std::fs::write(inbox.dir().join("done/a.jsonl"), "").unwrap();
        assert_eq!(free_name(&inbox.dir().join("done"), "a.jsonl"), inbox.dir().join("done/a-2.jsonl"));
    }
}
