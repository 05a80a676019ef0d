//! The inbox: event files dropped into `inbox/` are ingested once, then moved
//! to `inbox/done/`, or to `inbox/failed/` with a `NAME.errors` file beside
//! them listing the rejected lines.
//!
//! Writers should write to a hidden or `.tmp` name and rename it to
//! `NAME.jsonl` when complete. A file written in place is safe too: only
//! whole lines are read (a last line without its line end waits for it), a
//! file that grew is read on from where the last pass stopped (the same file,
//! by device and inode), and a file is moved only once it is finished: its
//! size kept over the settle time and no process holding it open for writing
//! (see [`writers`]). A crash mid-file is harmless: the file stays in the
//! inbox, and on the next pass its applied events are skipped as duplicates.
//!
//! One process at a time works on an inbox (see [`lock`]).

pub mod lock;
pub mod writers;

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
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
    /// Where it was moved; `None` when processing stopped before its end,
    /// or while the file is still being written.
    pub moved_to: Option<String>,
    /// The file is still being written: it stays in the inbox, and is read on as it grows.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub still_written: bool,
    /// Lines read by this pass (a pass over a file that did not grow reads none).
    #[serde(skip)]
    pub lines_read: usize,
    /// Everything the file's lines did so far (all passes).
    pub summary: Summary,
}

/// How far a file still in the inbox has been read.
struct Reading {
    /// Device and inode: a file replaced under the same name is read from its start.
    identity: (u64, u64),
    /// Bytes read: whole lines only.
    offset: u64,
    lines: usize,
    summary: Summary,
}

pub struct Inbox {
    dir: PathBuf,
    /// Files read in part while their writer is at it, by path.
    reading: HashMap<PathBuf, Reading>,
}

impl Inbox {
    pub fn new(config_dir: &Path) -> Inbox {
        Inbox { dir: config_dir.join(INBOX), reading: HashMap::new() }
    }

    /// Take the inbox lock without waiting: `Ok(Err(holder))` when another process has it.
    pub fn try_lock(&self) -> Result<std::result::Result<lock::InboxLock, lock::Holder>> {
        lock::try_lock(&self.dir)
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

    /// Forget how far files not in `pending` were read (they were taken away).
    pub fn forget_all_but(&mut self, pending: &[PathBuf]) {
        self.reading.retain(|path, _| pending.contains(path));
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

    /// Ingest the whole lines of one inbox file not read yet, once it has kept
    /// its size over `settle`; once it is finished (no process has it open for
    /// writing either), its last line too, and move it out of the inbox.
    pub fn process(
        &mut self,
        path: &Path,
        store: &Store,
        playbook: &Current,
        stop: &AtomicBool,
        settle: Duration,
    ) -> Result<Processed> {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let source = format!("{INBOX}/{name}");
        let read_err = |source| Error::Read { path: path.to_path_buf(), source };
        let file = File::open(path).map_err(read_err)?;
        let meta = file.metadata().map_err(read_err)?;
        let identity = identity(&meta);
        let before = self.reading.remove(path).filter(|r| r.identity == identity && r.offset <= meta.len());
        let mut reading = before.unwrap_or(Reading { identity, offset: 0, lines: 0, summary: Summary::default() });
        let lines_before = reading.lines;
        // A file whose size changes is in the middle of a write: a later pass reads it.
        if !Inbox::is_settled(path, settle) {
            let summary = reading.summary.clone();
            self.reading.insert(path.to_path_buf(), reading);
            return Ok(Processed { file: source, moved_to: None, still_written: true, lines_read: 0, summary });
        }
        let mut last_line = false;
        loop {
            let size = file.metadata().map_err(read_err)?.len();
            let end = if last_line { size } else { last_line_end(&file, reading.offset, size).map_err(read_err)? };
            if end > reading.offset {
                let (summary, ended, lines) = match ingest_range(&file, &source, &reading, end, store, playbook, stop) {
                    Ok(r) => r,
                    Err(e) => {
                        // Read again from where the last good pass stopped (what this one applied is skipped then).
                        self.reading.insert(path.to_path_buf(), reading);
                        return Err(e);
                    }
                };
                let mut summary = summary;
                // Every rejection is listed in the .errors file, whatever the pass.
                let rejections = std::mem::take(&mut summary.rejections);
                reading.summary.add(&summary);
                reading.summary.rejections.extend(rejections);
                reading.summary.quarantined_rules = summary.quarantined_rules;
                if ended == Ended::Stopped {
                    // Where in the range it stopped is not known: the next run reads the file from its start.
                    return Ok(Processed {
                        file: source,
                        moved_to: None,
                        still_written: false,
                        lines_read: lines,
                        summary: reading.summary,
                    });
                }
                reading.offset = end;
                reading.lines += lines;
            }
            if last_line {
                break;
            }
            // Finished: it kept its size over the settle time and since, and nobody writes it.
            let finished = file.metadata().is_ok_and(|m| m.len() == size && !writers::open_for_writing(&m));
            if !finished {
                let lines_read = reading.lines - lines_before;
                let summary = reading.summary.clone();
                self.reading.insert(path.to_path_buf(), reading);
                return Ok(Processed { file: source, moved_to: None, still_written: true, lines_read, summary });
            }
            // Finished: what is left after the last line end is the last line.
            last_line = true;
        }
        let moved_to = self.move_out(path, &name, &reading.summary)?;
        Ok(Processed {
            file: source,
            moved_to: Some(moved_to),
            still_written: false,
            lines_read: reading.lines - lines_before,
            summary: reading.summary,
        })
    }

    /// Move a finished file to `done/`, or to `failed/` with its `.errors` beside it.
    fn move_out(&self, path: &Path, name: &str, summary: &Summary) -> Result<String> {
        let failed = summary.counts.rejected > 0;
        let target_dir = self.dir.join(if failed { "failed" } else { "done" });
        std::fs::create_dir_all(&target_dir).map_err(|source| Error::Write { path: target_dir.clone(), source })?;
        let target = free_name(&target_dir, name);
        if failed {
            let mut text = String::new();
            for r in &summary.rejections {
                text.push_str(&format!("{}:{}: {}\n", r.source, r.line, r.reason));
            }
            let errors = target.with_extension("errors");
            std::fs::write(&errors, text).map_err(|source| Error::Write { path: errors.clone(), source })?;
        }
        std::fs::rename(path, &target).map_err(|source| Error::Write { path: target.clone(), source })?;
        Ok(target.strip_prefix(self.dir.parent().unwrap_or(Path::new("."))).unwrap_or(&target).display().to_string())
    }
}

/// Ingest the bytes of `file` from where `reading` stopped up to `end`:
/// the summary, how it ended, and the lines read.
fn ingest_range(
    file: &File,
    source: &str,
    reading: &Reading,
    end: u64,
    store: &Store,
    playbook: &Current,
    stop: &AtomicBool,
) -> Result<(Summary, Ended, usize)> {
    let mut f = file;
    f.seek(SeekFrom::Start(reading.offset)).map_err(|e| Error::Read { path: source.into(), source: e })?;
    let mut lines = LineCount { inner: f.take(end - reading.offset), lines: 0, last: b'\n' };
    let mut ingest = Ingest::start(store, playbook)?.stop_when(stop);
    ingest.keep_all_rejections = true;
    let ended = match ingest.input_after(source, &mut lines, reading.lines) {
        Ok(ended) => ended,
        Err(e) => {
            ingest.abort();
            return Err(e);
        }
    };
    let summary = ingest.finish()?;
    // A last line without its line end is a line too.
    let read = lines.lines + usize::from(lines.last != b'\n');
    Ok((summary, ended, read))
}

/// Counts the line ends passing through a reader.
struct LineCount<R> {
    inner: R,
    lines: usize,
    last: u8,
}

impl<R: Read> Read for LineCount<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.lines += buf[..n].iter().filter(|b| **b == b'\n').count();
        if let Some(b) = buf[..n].last() {
            self.last = *b;
        }
        Ok(n)
    }
}

/// Where the last whole line of `file` between `from` and `to` ends (just
/// after its `\n`); `from` when there is none.
fn last_line_end(file: &File, from: u64, to: u64) -> std::io::Result<u64> {
    const CHUNK: u64 = 64 * 1024;
    let mut f = file;
    let mut buf = vec![0; CHUNK as usize];
    let mut hi = to;
    while hi > from {
        let lo = hi.saturating_sub(CHUNK).max(from);
        let part = &mut buf[..(hi - lo) as usize];
        f.seek(SeekFrom::Start(lo))?;
        f.read_exact(part)?;
        if let Some(i) = part.iter().rposition(|b| *b == b'\n') {
            return Ok(lo + i as u64 + 1);
        }
        hi = lo;
    }
    Ok(from)
}

/// Device and inode of an open file (unix); elsewhere all files look alike
/// and a file is told apart by its size alone.
fn identity(meta: &std::fs::Metadata) -> (u64, u64) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        (meta.dev(), meta.ino())
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        (0, 0)
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
    fn only_whole_lines_are_taken_whatever_their_length() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        let long = "x".repeat(150_000);
        std::fs::write(&path, format!("one\n{long}\ntwo\n{long}")).unwrap();
        let file = File::open(&path).unwrap();
        let size = file.metadata().unwrap().len();
        let whole = 4 + long.len() as u64 + 1 + 4;
        assert_eq!(last_line_end(&file, 0, size).unwrap(), whole, "the last line has no end yet");
        assert_eq!(last_line_end(&file, whole, size).unwrap(), whole, "nothing whole after it");
        assert_eq!(last_line_end(&file, 0, 3).unwrap(), 0, "no line end at all");
        assert_eq!(last_line_end(&file, 0, 4).unwrap(), 4);

        let mut counted = LineCount { inner: &b"a\nb\nc"[..], lines: 0, last: b'\n' };
        std::io::copy(&mut counted, &mut std::io::sink()).unwrap();
        assert_eq!((counted.lines, counted.last), (2, b'c'));
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
