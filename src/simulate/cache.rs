//! A replay remembered, so that a simulate does not replay the history under
//! the rules in force again when neither the rules nor the history changed
//! since the last one. What a replay ends with depends only on the playbook
//! (its version hashes `config.toml` and every rule file), on the history
//! (its length, and a digest of its text), and on the dealflow that replayed
//! it: those are the key.
//!
//! Watch keeps it in memory. The command line keeps it in a file beside the
//! database, `<database>.simulate-cache`: the history it describes is that
//! database's, so every simulate on it finds it whatever folder it runs
//! from, two databases never share one, and it goes away with the
//! database's folder (a shared temporary folder would be read by other users
//! and emptied at any time). The file is a cache and nothing more: one that
//! cannot be read, is damaged or was written by another dealflow is ignored,
//! one that cannot be written (a read-only folder) is not, silently, and it
//! is written whole or not at all (a temporary file renamed over it).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::replay::Replayed;
use crate::store::Location;

/// A replay, with what it depends on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Remembered {
    /// The playbook's version.
    pub version: String,
    /// How many events were replayed.
    pub events: usize,
    pub replayed: Replayed,
}

/// One replay remembered: the one under the rules that will most likely be
/// in force at the next simulate. A replay of a million events is tens of
/// megabytes: one is kept, not both.
pub struct ReplayCache {
    /// Where it is saved (the command line's), or `None` (watch's).
    file: Option<PathBuf>,
    /// Whether the candidate's replay is kept, rather than the one in force.
    keeps_candidate: bool,
    kept: Option<Remembered>,
}

/// The file's content, as read.
#[derive(Deserialize)]
struct CacheFile {
    /// The dealflow that wrote it (see [`this_dealflow`]).
    dealflow: String,
    kept: Remembered,
}

/// The file's content, as written.
#[derive(Serialize)]
struct Written<'a> {
    dealflow: &'a str,
    kept: &'a Remembered,
}

impl ReplayCache {
    /// Watch's, in memory. It keeps the candidate's replay: watch puts the
    /// candidate in force right after simulating it.
    pub fn for_reloads() -> ReplayCache {
        ReplayCache { file: None, keeps_candidate: true, kept: None }
    }

    /// The command line's, in a file beside the database at `db`, read now.
    /// It keeps the replay in force: the next candidate is most often compared
    /// with the same rules in force.
    /// For a PostgreSQL database, in the system's temporary folder, named
    /// after the database (a cache only: a replay of another history is never used).
    pub fn beside(db: &Location) -> ReplayCache {
        let file = match db {
            Location::File(path) => {
                let mut name = path.as_os_str().to_owned();
                name.push(".simulate-cache");
                PathBuf::from(name)
            }
            Location::Postgres(_) => {
                let name: String =
                    db.to_string().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
                std::env::temp_dir().join(format!("dealflow-{name}.simulate-cache"))
            }
        };
        let kept = read(&file);
        ReplayCache { file: Some(file), keeps_candidate: false, kept }
    }

    /// Take out the replay of the first `events` events under `version`, if
    /// remembered. Whether it was of the same history is only known once the
    /// history is read.
    pub fn take(&mut self, version: &str, events: usize) -> Option<Remembered> {
        self.kept.take_if(|r| r.version == version && r.events == events)
    }

    /// Remember the replay in force or the candidate's (`None`: the same
    /// playbook), instead of the one kept; saved in the file, if it can be.
    pub fn keep(&mut self, in_force: Remembered, candidate: Option<Remembered>) {
        let kept = match candidate {
            Some(candidate) if self.keeps_candidate => candidate,
            _ => in_force,
        };
        if let Some(file) = &self.file
            && let Err(e) = write(file, &kept)
        {
            tracing::debug!("the replay is not kept in {}: {e}", file.display());
        }
        self.kept = Some(kept);
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

fn read(file: &Path) -> Option<Remembered> {
    let text = std::io::BufReader::new(std::fs::File::open(file).ok()?);
    let cache: CacheFile = serde_json::from_reader(text).ok()?;
    (Some(cache.dealflow) == this_dealflow()).then_some(cache.kept)
}

fn write(file: &Path, kept: &Remembered) -> std::io::Result<()> {
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
