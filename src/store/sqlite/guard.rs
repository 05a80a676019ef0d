//! What stops a store writing on: a database file found damaged, or
//! replaced under the running process (an older copy moved over it, say).
//!
//! SQLite reports damage on the pages it reads, and only those: a command
//! could find nothing wrong in what it reads and write on beside damage
//! elsewhere, or find damage half-way and commit what it did before. So:
//!
//! - at open, a writer checks what costs next to nothing: the header (SQLite
//!   reads it) and the file's length against its page count ([`Sqlite::check_file`]);
//!   every page read is checked too (`PRAGMA cell_size_check`);
//! - commands that apply events read the whole file once first
//!   ([`Sqlite::verify`], `PRAGMA quick_check`: its cost grows with the file,
//!   about 0.2 s at 100,000 events);
//! - once damage is seen, or the file is no longer the one opened, a commit
//!   hook refuses every commit on this connection, whichever code path asks
//!   for it; the error names the file and says what to do.
//!
//! A file moved over the database leaves the `-wal` file of the one it
//! replaced beside it, and SQLite would apply that to the file moved in on
//! its next open (an older copy would silently become a mix of both). So a
//! store that finds its file replaced first keeps what it holds in a file
//! beside it (`VACUUM INTO`), then empties the `-wal` file into the file it
//! has open (a `TRUNCATE` checkpoint): the file moved in is opened as it is.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use super::file_identity::FileIdentity;
use super::writable::companion;
use super::{SqlContext, Sqlite};
use crate::error::{Error, Result};

/// Why nothing more is written.
#[derive(Debug, Clone)]
enum Refusal {
    /// The path names another file, or none; what was kept of the one opened, once done.
    Replaced(Option<Kept>),
    Damaged(String),
}

/// What became of the data of a file that was replaced.
#[derive(Debug, Clone)]
enum Kept {
    /// Copied to this file beside it.
    CopiedTo(PathBuf),
    /// Deleted, not replaced: nothing to keep.
    Deleted,
    /// Could not be kept (why): the `-wal` file was left as it was.
    Failed(String),
}

/// The file a writer opened, and whether it still may write to it.
#[derive(Debug)]
pub(super) struct Guard {
    path: PathBuf,
    /// The file opened (unix: device and inode).
    identity: Option<FileIdentity>,
    refusal: Mutex<Option<Refusal>>,
}

impl Guard {
    pub(super) fn new(path: &Path) -> Arc<Guard> {
        Arc::new(Guard { path: path.to_path_buf(), identity: FileIdentity::of(path), refusal: Mutex::new(None) })
    }

    fn refuse(&self, why: Refusal) {
        let mut refusal = self.refusal.lock().unwrap_or_else(PoisonError::into_inner);
        refusal.get_or_insert(why);
    }

    /// Why this store writes nothing more, if it does not.
    pub(super) fn refusal(&self) -> Option<String> {
        let refusal = self.refusal.lock().unwrap_or_else(PoisonError::into_inner).clone();
        refusal.map(|r| match r {
            Refusal::Replaced(kept) => replaced_message(&self.path, kept.as_ref()),
            Refusal::Damaged(detail) => damaged_message(&self.path, &detail),
        })
    }

    /// The path still names the file opened; refuses from now on if not.
    pub(super) fn same_file(&self) -> bool {
        let same = self.identity.is_none() || FileIdentity::of(&self.path) == self.identity;
        if !same {
            self.refuse(Refusal::Replaced(None));
        }
        same
    }

    /// SQLite found the file damaged (`detail`, its words).
    pub(super) fn damaged(&self, detail: String) {
        self.refuse(Refusal::Damaged(detail));
    }

    /// The commit hook: whether a commit may go through.
    pub(super) fn allows_commit(&self) -> bool {
        self.same_file() && self.refusal.lock().unwrap_or_else(PoisonError::into_inner).is_none()
    }
}

fn name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

fn replaced_message(path: &Path, kept: Option<&Kept>) -> String {
    let name = name(path);
    let head = "the database file was deleted or replaced while dealflow was running: nothing more is written to it";
    let clear = format!(
        "Before you start dealflow again, stop every dealflow that uses it and delete {name}-wal and {name}-shm \
         beside it: they belong to the file that was there, and SQLite would apply them to the one there now"
    );
    match kept {
        Some(Kept::CopiedTo(copy)) => format!(
            "{head}. What this dealflow held is kept in {}; the file there now is left as it is (start dealflow \
             again to use it)",
            copy.display()
        ),
        Some(Kept::Deleted) => format!("{head} (start dealflow again to make a new one)"),
        Some(Kept::Failed(why)) => format!("{head}, and what this dealflow held could not be kept ({why}). {clear}"),
        None => format!("{head}. {clear}"),
    }
}

/// What to do about a damaged file: the advice is the same wherever it was found.
pub(super) fn damaged_message(path: &Path, detail: &str) -> String {
    let name = name(path);
    format!(
        "the database file is damaged ({detail}): dealflow stopped, and writes nothing more to it. Stop every \
         dealflow that uses it, then restore it from a backup: copy the backup over {name} and delete {name}-wal \
         and {name}-shm beside it (`sqlite3 {name} .recover` may save what is still readable)"
    )
}

/// What to do about a file that is not a database at all (or whose header is damaged).
pub(super) fn not_a_database_message(path: &Path) -> String {
    format!(
        "this file is not a dealflow (SQLite) database, or its header is damaged: if it held dealflow's data, \
         restore it from a backup (copy the backup over {})",
        name(path)
    )
}

impl Sqlite {
    /// What can be checked of the file without reading it: it is still the
    /// file opened, and it is as long as its pages need (a file cut off, at
    /// the end of a page or in one, is found here; SQLite would only see it
    /// on reading a missing page). Pages not yet copied from the `-wal`
    /// file may lie past the file's end: they are counted in.
    pub fn check_file(&self) -> Result<()> {
        if !self.guard.same_file() {
            self.keep_replaced();
            return Err(self.refused());
        }
        let count = |pragma: &str| self.conn.query_row(pragma, [], |r| r.get::<_, i64>(0)).ctx(self);
        let (page_size, pages) = (count("PRAGMA page_size")?.max(0) as u64, count("PRAGMA page_count")?.max(0) as u64);
        let len = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
        let (file, wal) = (len(&self.path), len(&companion(&self.path, "-wal")));
        // A -wal file: a 32-byte header, then frames of a 24-byte header and a page.
        let in_wal = wal.saturating_sub(32) / (page_size + 24);
        if page_size == 0 || file % page_size != 0 || file / page_size + in_wal < pages {
            self.guard.damaged(format!(
                "it is {file} bytes long, and its {pages} pages of {page_size} bytes need {}: it was cut off",
                pages * page_size
            ));
            return Err(self.refused());
        }
        Ok(())
    }

    /// Read the whole file and check its structure (`PRAGMA quick_check`:
    /// every page of every table and index, not whether indexes match their
    /// tables). The commands that apply events call it once, after opening.
    pub fn verify(&self) -> Result<()> {
        let started = std::time::Instant::now();
        let found: Vec<String> = self.all("PRAGMA quick_check(3)", [], |r| r.get(0))?;
        tracing::debug!("quick_check of {} took {:?}", self.path.display(), started.elapsed());
        if found.iter().any(|f| f != "ok") {
            self.guard.damaged(format!("PRAGMA quick_check: {}", found.join("; ")));
            return Err(self.refused());
        }
        Ok(())
    }

    /// The file opened was replaced (or deleted): keep what this store holds
    /// in a file beside the path, then empty the `-wal` file into the file
    /// opened, so the file there now is opened as it is (see above). Once,
    /// between transactions.
    pub(super) fn keep_replaced(&self) {
        let mut refusal = self.guard.refusal.lock().unwrap_or_else(PoisonError::into_inner);
        if !matches!(*refusal, Some(Refusal::Replaced(None))) || !self.conn.is_autocommit() {
            return;
        }
        let kept = if self.path.exists() { self.copy_aside() } else { Ok(Kept::Deleted) };
        let kept = kept.and_then(|kept| {
            // (busy, frames in the -wal, frames copied): 0 busy means the -wal is empty now.
            let busy: i64 = self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
            match busy {
                0 => Ok(kept),
                _ => Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                    Some("another process kept the -wal file busy".into()),
                )),
            }
        });
        *refusal = Some(Refusal::Replaced(Some(kept.unwrap_or_else(|e| Kept::Failed(e.to_string())))));
    }

    /// `VACUUM INTO` a new file beside the path, named for now.
    fn copy_aside(&self) -> rusqlite::Result<Kept> {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
        let copy = self.path.with_file_name(format!("{}.replaced-{stamp}", name(&self.path)));
        // The commit hook refuses every commit now, and VACUUM INTO commits the copy.
        self.conn.commit_hook(None::<fn() -> bool>)?;
        let copied = self.conn.execute("VACUUM INTO ?1", [copy.to_string_lossy()]);
        let guard = self.guard.clone();
        self.conn.commit_hook(Some(move || !guard.allows_commit()))?;
        copied.map(|_| Kept::CopiedTo(copy))
    }

    /// The error for a store that writes nothing more.
    pub(super) fn refused(&self) -> Error {
        crate::error::Error::store(
            &self.path,
            crate::error::StoreErrorKind::Damaged,
            self.guard.refusal().unwrap_or_else(|| "nothing more is written to it".into()),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::model::Account;

    const PAGE: usize = 4096;

    /// A database of 400 accounts, closed.
    fn accounts_db(dir: &tempfile::TempDir) -> PathBuf {
        let path = dir.path().join("t.db");
        let store = Sqlite::open(&path, Duration::from_secs(1)).unwrap();
        store.begin().unwrap();
        for i in 0..400 {
            let a = Account { id: format!("A-{i:03}"), created_at: "t0".into(), ..Account::default() };
            store.write_account(&a, &format!("name {i} {}", "x".repeat(200))).unwrap();
        }
        store.commit().unwrap();
        path
    }

    /// Overwrite a leaf page in the middle of the accounts table with zeros.
    fn zero_an_accounts_page(path: &Path) {
        let conn = rusqlite::Connection::open(path).unwrap();
        let page: i64 = conn
            .query_row(
                "SELECT pageno FROM dbstat WHERE name = 'accounts' AND pagetype = 'leaf' ORDER BY pageno
                 LIMIT 1 OFFSET (SELECT COUNT(*) / 2 FROM dbstat WHERE name = 'accounts' AND pagetype = 'leaf')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        drop(conn);
        let mut bytes = std::fs::read(path).unwrap();
        let at = (page as usize - 1) * PAGE;
        bytes[at..at + PAGE].fill(0);
        std::fs::write(path, bytes).unwrap();
    }

    fn rejected(store: &Sqlite) -> usize {
        store.rejected().unwrap().len()
    }

    #[test]
    fn damage_found_half_way_stops_every_commit_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = accounts_db(&dir);
        zero_an_accounts_page(&path);
        // Opening checks what is cheap: this damage is in the middle, and passes.
        let store = Sqlite::open(&path, Duration::from_secs(1)).unwrap();
        store.begin().unwrap();
        store.record_rejected("f", 1, "a line before the damage was found", "{}", "t").unwrap();
        let err = store.accounts(false).unwrap_err().to_string();
        assert!(err.contains("the database file is damaged (database disk image is malformed)"), "{err}");
        assert!(err.contains("restore it from a backup") && err.contains("t.db-wal"), "{err}");
        // Whatever asks to commit now is refused, with the same reason: a batch, a lone statement.
        let err = store.commit().unwrap_err().to_string();
        assert!(err.contains("the database file is damaged"), "{err}");
        store.rollback().unwrap();
        assert!(store.begin().unwrap_err().to_string().contains("the database file is damaged"));
        let err = store.record_rules_version("v9", "[]", "t").unwrap_err().to_string();
        assert!(err.contains("the database file is damaged"), "{err}");
        drop(store);
        let reader = Sqlite::open_read_only(&path, Duration::from_secs(1)).unwrap();
        assert_eq!(rejected(&reader), 0, "nothing was written");
        assert!(reader.current_rules_version().unwrap().is_none());
    }

    #[test]
    fn verify_reads_the_whole_file_and_finds_what_opening_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = accounts_db(&dir);
        Sqlite::open(&path, Duration::from_secs(1)).unwrap().verify().unwrap();
        zero_an_accounts_page(&path);
        let store = Sqlite::open(&path, Duration::from_secs(1)).unwrap();
        let err = store.verify().unwrap_err().to_string();
        assert!(err.contains("the database file is damaged (PRAGMA quick_check: "), "{err}");
        assert!(store.begin().is_err(), "a store found damaged does not write");
    }

    #[test]
    fn a_file_cut_off_is_found_at_open_even_where_sqlite_reads_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = accounts_db(&dir);
        let len = std::fs::metadata(&path).unwrap().len();
        // In a page: SQLite itself opens it and would read on.
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(len - 100).unwrap();
        let err = Sqlite::open(&path, Duration::from_secs(1)).err().unwrap().to_string();
        assert!(err.contains(&format!("it is {} bytes long, and its {} pages", len - 100, len / 4096)), "{err}");
        assert!(err.contains("it was cut off") && err.contains("restore it from a backup"), "{err}");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), len - 100, "nothing was written");
    }

    #[test]
    #[cfg(unix)]
    fn a_file_moved_over_the_database_stops_every_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = accounts_db(&dir);
        let store = Sqlite::open(&path, Duration::from_secs(1)).unwrap();
        std::fs::copy(&path, dir.path().join("copy.db")).unwrap();
        std::fs::rename(dir.path().join("copy.db"), &path).unwrap();
        // A lone statement (no batch, so no check before it) is refused as it commits.
        let err = store.record_rules_version("v9", "[]", "t").unwrap_err().to_string();
        assert!(err.contains("deleted or replaced while dealflow was running"), "{err}");
        assert!(store.check_file().unwrap_err().to_string().contains("deleted or replaced"));
        assert!(store.begin().unwrap_err().to_string().contains("deleted or replaced"));
        drop(store);
        let reader = Sqlite::open_read_only(&path, Duration::from_secs(1)).unwrap();
        assert!(reader.current_rules_version().unwrap().is_none(), "nothing was written to the file moved in");
    }
}
