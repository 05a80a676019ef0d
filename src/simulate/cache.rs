//! Replays remembered, so that a simulate does not replay the history under
//! the rules in force again when neither the rules nor the history changed
//! since the last one. What a replay ends with depends only on the playbook
//! (its version hashes `config.toml` and every rule file), on the history
//! (its length, and a digest of its text), and on the dealflow that replayed
//! it: those are the key.
//!
//! Watch keeps them in memory. The command line keeps them in a file beside
//! the database, `<database>.simulate-cache`: the history they describe is
//! that database's, so every simulate on it finds them whatever folder it
//! runs from, two databases never share one, and they go away with the
//! database's folder (a shared temporary folder would be read by other users
//! and emptied at any time). The file is a cache and nothing more: one that
//! cannot be read, is damaged or was written by another dealflow is ignored,
//! one that cannot be written (a read-only folder) is not, silently, and it
//! is written whole or not at all (a temporary file renamed over it).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::replay::Replayed;

/// The replays a cache keeps: the last simulate's two (the rules in force,
/// and the candidate, which is the rules in force once it is put in force).
const KEPT: usize = 2;

/// A replay, with what it depends on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Remembered {
    /// The playbook's version.
    pub version: String,
    /// How many events were replayed.
    pub events: usize,
    pub replayed: Replayed,
}

/// Replays remembered: in memory, and in a file if it has one.
pub struct ReplayCache {
    file: Option<PathBuf>,
    kept: Vec<Remembered>,
}

/// The file's content, as read.
#[derive(Deserialize)]
struct CacheFile {
    /// The dealflow that wrote it (see [`this_dealflow`]).
    dealflow: String,
    kept: Vec<Remembered>,
}

/// The file's content, as written.
#[derive(Serialize)]
struct Written<'a> {
    dealflow: &'a str,
    kept: &'a [Remembered],
}

impl ReplayCache {
    /// A cache that lasts as long as the value (watch's).
    pub fn in_memory() -> ReplayCache {
        ReplayCache { file: None, kept: Vec::new() }
    }

    /// The cache kept beside the database at `db`, read now.
    pub fn beside(db: &Path) -> ReplayCache {
        let mut name = db.as_os_str().to_owned();
        name.push(".simulate-cache");
        let file = PathBuf::from(name);
        let kept = read(&file).unwrap_or_default();
        ReplayCache { file: Some(file), kept }
    }

    /// Take out the replay of the first `events` events under `version`, if
    /// remembered. Whether it was of the same history is only known once the
    /// history is read.
    pub fn take(&mut self, version: &str, events: usize) -> Option<Remembered> {
        let i = self.kept.iter().position(|r| r.version == version && r.events == events)?;
        Some(self.kept.remove(i))
    }

    /// Remember these replays instead of the ones kept (saved in the file, if it can be).
    pub fn keep(&mut self, replays: Vec<Remembered>) {
        self.kept = replays;
        self.kept.dedup_by(|a, b| a.version == b.version && a.events == b.events);
        self.kept.truncate(KEPT);
        if let Some(file) = &self.file
            && let Err(e) = write(file, &self.kept)
        {
            tracing::debug!("the replays are not kept in {}: {e}", file.display());
        }
    }
}

/// This dealflow, as precisely as it can be told: its version and its
/// executable's size and time. A cache written by another build (whose
/// replays may end otherwise) is not used.
fn this_dealflow() -> Option<String> {
    let exe = std::env::current_exe().ok()?;
    let meta = std::fs::metadata(exe).ok()?;
    let modified = meta.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some(format!("{} {} {}", env!("CARGO_PKG_VERSION"), meta.len(), modified.as_nanos()))
}

fn read(file: &Path) -> Option<Vec<Remembered>> {
    let text = std::fs::read(file).ok()?;
    let cache: CacheFile = serde_json::from_slice(&text).ok()?;
    (Some(cache.dealflow) == this_dealflow()).then_some(cache.kept)
}

fn write(file: &Path, kept: &[Remembered]) -> std::io::Result<()> {
    let dealflow = this_dealflow().ok_or_else(|| std::io::Error::other("this dealflow's executable is not found"))?;
    let dir = file.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    let mut out = std::io::BufWriter::new(tmp.as_file_mut());
    serde_json::to_writer(&mut out, &Written { dealflow: &dealflow, kept })?;
    out.flush()?;
    drop(out);
    tmp.persist(file).map_err(|e| e.error)?;
    Ok(())
}
