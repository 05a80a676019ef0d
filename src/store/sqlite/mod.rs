//! The SQLite backend: one WAL file holds the state, the event history, the
//! decisions log and the task queues. All SQL of the project lives in this
//! module, and `rusqlite` is used nowhere else.
//!
//! Writes happen inside [`Sqlite::begin`] / [`Sqlite::commit`] batches. An
//! event that fails half way is undone by rolling the batch back and
//! applying it again with a savepoint per event (see [`crate::ingest`]).

mod access;
mod backend_impl;
mod clock;
mod deliveries;
mod file_identity;
mod guard;
mod handovers;
mod health;
mod log;
mod notifications;
mod pending;
mod prune;
mod schema;
mod state;
mod tasks;
mod writable;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::error::{Error, Result, StoreErrorKind};

pub struct Sqlite {
    conn: Connection,
    path: PathBuf,
    busy_timeout: Duration,
    /// Log rows the open unit appended, written when it commits (see [`pending`]).
    pending: std::cell::RefCell<pending::Pending>,
    /// The file opened, and whether this store still writes to it (checked before each commit).
    guard: std::sync::Arc<guard::Guard>,
}

/// Turns a SQLite error into one that names the database and says what to do.
pub(crate) trait SqlContext<T> {
    fn ctx(self, store: &Sqlite) -> Result<T>;
}

impl<T> SqlContext<T> for rusqlite::Result<T> {
    fn ctx(self, store: &Sqlite) -> Result<T> {
        self.map_err(|e| store.error(e))
    }
}

impl Sqlite {
    /// Open (creating if needed) and migrate the database at `path`.
    pub fn open(path: &Path, busy_timeout: Duration) -> Result<Sqlite> {
        Self::open_with(path, busy_timeout, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE)
    }

    /// Open an existing database without creating it (for commands that
    /// mostly read). One this user may not write is opened for reading only,
    /// so listings and `status` still work; a write through it is refused
    /// with an error that says why.
    pub fn open_existing(path: &Path, busy_timeout: Duration) -> Result<Sqlite> {
        if !path.exists() {
            return Err(Error::NotFound(format!(
                "no database at {} yet: ingest some events first (dealflow ingest FILE)",
                path.display()
            )));
        }
        if writable::obstacle(path).is_none() {
            return Self::open(path, busy_timeout);
        }
        let store = Self::open_for_reading(path, busy_timeout)?;
        let version = schema::version(&store.conn).map_err(|e| store.error(e))?;
        if version < schema::latest() {
            return Err(Error::store(
                path,
                StoreErrorKind::Schema,
                format!(
                    "its schema is older than this dealflow's and must be upgraded first, which needs write access: {}",
                    Sqlite::read_only_message(path)
                ),
            ));
        }
        Ok(store)
    }

    /// Open for reading a database this user may not write. A WAL database
    /// is read through its `-shm` file, which SQLite creates when missing: one
    /// made here would belong to this user, and could stop the database's
    /// owner from writing later (or fail, in a read-only folder). So when
    /// neither `-wal` nor `-shm` exists, which means no writer has the
    /// database open (a writer keeps both), it is read as an unchanging file
    /// (`immutable=1`), creating nothing; else through the files there.
    fn open_for_reading(path: &Path, busy_timeout: Duration) -> Result<Sqlite> {
        let in_use = ["-wal", "-shm"].iter().any(|s| writable::companion(path, s).exists());
        let Some(uri_path) = path.to_str().filter(|_| cfg!(unix) && !in_use).map(uri_path) else {
            return Self::open_read_only(path, busy_timeout);
        };
        let uri = format!("file:{uri_path}?immutable=1");
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(uri, flags).map_err(|e| Sqlite::describe(path, busy_timeout, e))?;
        Ok(Sqlite::over(conn, path, busy_timeout))
    }

    /// A store over an opened connection to the file at `path`.
    fn over(conn: Connection, path: &Path, busy_timeout: Duration) -> Sqlite {
        let guard = guard::Guard::new(path);
        Sqlite { conn, path: path.to_path_buf(), busy_timeout, pending: Default::default(), guard }
    }

    /// Open an existing database for reading only: no migration, no write, ever.
    pub fn open_read_only(path: &Path, busy_timeout: Duration) -> Result<Sqlite> {
        if !path.exists() {
            return Err(Error::NotFound(format!("no database at {}", path.display())));
        }
        let conn =
            Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
                .map_err(|e| Sqlite::describe(path, busy_timeout, e))?;
        conn.busy_timeout(busy_timeout).map_err(|e| Sqlite::describe(path, busy_timeout, e))?;
        Ok(Sqlite::over(conn, path, busy_timeout))
    }

    fn open_with(path: &Path, busy_timeout: Duration, flags: OpenFlags) -> Result<Sqlite> {
        let err = |message: String| Error::store(path, StoreErrorKind::ReadOnly, message);
        let conn = Connection::open_with_flags(path, flags).map_err(|e| Sqlite::describe(path, busy_timeout, e))?;
        // SQLite falls back to reading a file it may not write: say so now, not at the first write.
        if conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(false) {
            return Err(err(Sqlite::read_only_message(path)));
        }
        conn.busy_timeout(busy_timeout).map_err(|e| err(e.to_string()))?;
        conn.set_prepared_statement_cache_capacity(128);
        let store_err = |e: rusqlite::Error| Sqlite::describe(path, busy_timeout, e);
        // WAL lets readers work while a writer ingests; NORMAL sync is durable
        // across process crashes (which is what the queue promises).
        // Switching a new file to WAL needs the whole file to itself, and SQLite
        // answers "busy" at once, without waiting, while another process opening
        // it at the same moment reads it: so this waits in naps too.
        while_busy(&conn, busy_timeout, |c| c.pragma_update(None, "journal_mode", "WAL")).map_err(store_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(store_err)?;
        conn.pragma_update(None, "foreign_keys", "OFF").map_err(store_err)?;
        // Savepoint journals (one per event) stay in memory, not in temp files.
        conn.pragma_update(None, "temp_store", "MEMORY").map_err(store_err)?;
        // 24 MiB of page cache (the default is 2 MiB). The facts rules read come
        // from ledgers kept in memory (see `ledger`), and the cache is what makes
        // room for them: with 32 MiB a million-event ingest peaked at 107 MB,
        // with 24 MiB at 94 MB (goal: under 100 MB).
        conn.pragma_update(None, "cache_size", -24576).map_err(store_err)?;
        // Each page is checked as it is read from the file, so damage is found
        // before it is built on (the cost did not show in a full read).
        conn.pragma_update(None, "cell_size_check", "ON").map_err(store_err)?;
        let store = Sqlite::over(conn, path, busy_timeout);
        // No commit on a file found damaged or replaced, whoever asks for it (see `guard`).
        let guard = store.guard.clone();
        store.conn.commit_hook(Some(move || !guard.allows_commit())).ctx(&store)?;
        store.check_file()?;
        store.migrate()?;
        Ok(store)
    }

    /// Bring the schema up to date. The version is read again under the
    /// write lock, so of several processes opening a new database at once one
    /// creates the schema and the others find it made (see [`schema`]).
    fn migrate(&self) -> Result<()> {
        let newer = |version: i64| {
            Error::store(
                &self.path,
                StoreErrorKind::Schema,
                format!(
                    "its schema is version {version}, newer than this dealflow knows (version {}): it was written by \
                 a newer dealflow; use that one (or a newer one) with this database",
                    schema::latest()
                ),
            )
        };
        let version = schema::version(&self.conn).ctx(self)?;
        if version == schema::latest() {
            return Ok(());
        }
        if version > schema::latest() {
            return Err(newer(version));
        }
        self.begin_immediate()?;
        let migrated = schema::version(&self.conn).ctx(self).and_then(|version| match version {
            v if v > schema::latest() => Err(newer(v)),
            v if v == schema::latest() => Ok(()),
            v => schema::migrate_from(&self.conn, v).ctx(self),
        });
        match migrated {
            Ok(()) => self.commit(),
            Err(e) => {
                let _ = self.rollback();
                Err(e)
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn describe(path: &Path, busy_timeout: Duration, e: rusqlite::Error) -> Error {
        use StoreErrorKind as Kind;
        use rusqlite::ErrorCode::*;
        let (kind, message) = match e.sqlite_error_code() {
            Some(DatabaseBusy | DatabaseLocked) => {
                let message = format!(
                    "the database is locked by another process (waited {} ms); try again when it is done",
                    busy_timeout.as_millis()
                );
                return Error::Busy { path: path.to_path_buf(), message };
            }
            Some(ReadOnly) => (Kind::ReadOnly, Sqlite::read_only_message(path)),
            Some(CannotOpen) if path.exists() && writable::obstacle(path).is_some() => {
                (Kind::ReadOnly, Sqlite::read_only_message(path))
            }
            Some(CannotOpen) => {
                (Kind::CannotOpen, "cannot open the database file (does its folder exist and is it writable?)".into())
            }
            Some(NotADatabase) => (Kind::NotADatabase, guard::not_a_database_message(path)),
            Some(DatabaseCorrupt) => (Kind::Damaged, guard::damaged_message(path, &e.to_string())),
            Some(DiskFull) => (Kind::Full, "the disk is full".into()),
            _ => (Kind::Other, e.to_string()),
        };
        Error::Store { path: path.to_path_buf(), kind, message, cause: Some(Box::new(e)) }
    }

    /// Why a database cannot be written, and what to do about it.
    fn read_only_message(path: &Path) -> String {
        let why = writable::obstacle(path).unwrap_or_else(|| "SQLite opened it for reading only".into());
        format!(
            "the database is read-only for this user: {why}. dealflow needs to write the file and to create its -wal \
             and -shm files beside it: give the user that runs dealflow write access to the file and its folder (or \
             run dealflow as their owner)"
        )
    }

    fn error(&self, e: rusqlite::Error) -> Error {
        use rusqlite::ErrorCode::*;
        if let Some(DatabaseCorrupt | NotADatabase) = e.sqlite_error_code() {
            self.guard.damaged(e.to_string());
        }
        // Once a store refuses to write, that is the error, whatever failed after.
        match self.guard.refusal() {
            Some(why) => Error::store(&self.path, StoreErrorKind::Damaged, why),
            None => Sqlite::describe(&self.path, self.busy_timeout, e),
        }
    }

    /// An error about this database that SQLite did not raise.
    pub fn fault(&self, message: String) -> Error {
        Error::store(&self.path, StoreErrorKind::Other, message)
    }

    /// The connection, for tests that reach under the store (say, to make a write fail).
    #[cfg(test)]
    pub(crate) fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Rows written, updated or deleted through this connection since it was opened.
    /// Rows gathered for the unit's commit count from when they are gathered.
    pub fn total_changes(&self) -> u64 {
        self.conn.total_changes() + self.pending.borrow().unwritten_count()
    }

    /// Start a write batch. `IMMEDIATE` takes the write lock now, so a busy
    /// database is reported here and not half-way through a batch.
    pub fn begin(&self) -> Result<()> {
        if !self.guard.allows_commit() {
            self.keep_replaced();
            return Err(self.refused());
        }
        self.pending.borrow_mut().clear();
        self.begin_immediate()
    }

    /// `BEGIN IMMEDIATE`, waiting for another writer up to the busy timeout
    /// (see [`while_busy`]).
    fn begin_immediate(&self) -> Result<()> {
        while_busy(&self.conn, self.busy_timeout, |c| c.execute_batch("BEGIN IMMEDIATE")).ctx(self)
    }

    /// `PRAGMA data_version`: changes when another connection commits.
    fn data_version(&self) -> Result<i64> {
        self.conn.query_row("PRAGMA data_version", [], |r| r.get(0)).ctx(self)
    }

    /// Write the gathered rows, then commit. When they cannot be written the
    /// unit is rolled back here, so no later commit can keep part of it.
    pub fn commit(&self) -> Result<()> {
        if let Err(e) = self.write_pending() {
            let _ = self.rollback();
            return Err(e);
        }
        self.run("COMMIT")
    }

    /// Gather a log row for the open unit's commit; outside a unit, write it now.
    fn gather(&self, add: impl FnOnce(&mut pending::Pending)) -> Result<()> {
        add(&mut self.pending.borrow_mut());
        if self.conn.is_autocommit() { self.write_pending() } else { Ok(()) }
    }

    /// Write the rows gathered so far into the open transaction (before a
    /// read of their tables, a nested unit, a release or the commit).
    fn write_pending(&self) -> Result<()> {
        let mut pending = self.pending.borrow_mut();
        if pending.is_empty() {
            return Ok(());
        }
        pending.write(&self.conn).ctx(self)
    }

    /// A statement with no parameters and no rows, prepared once
    /// (`execute_batch` prepares it again on every call).
    fn run(&self, sql: &str) -> Result<()> {
        self.conn.prepare_cached(sql).ctx(self)?.execute([]).ctx(self)?;
        Ok(())
    }

    pub fn rollback(&self) -> Result<()> {
        self.pending.borrow_mut().clear();
        if !self.conn.is_autocommit() {
            self.conn.execute_batch("ROLLBACK").ctx(self)?;
        }
        Ok(())
    }

    /// A savepoint around one event. The rows gathered before it are
    /// written first: the gathered rows always belong to the innermost unit,
    /// so undoing it drops exactly them.
    pub fn savepoint(&self) -> Result<()> {
        self.write_pending()?;
        self.run("SAVEPOINT event")
    }

    /// Keep the event: its gathered rows are written now, so a row SQLite
    /// refuses fails this event (the caller then undoes it), not a later commit.
    pub fn release(&self) -> Result<()> {
        self.write_pending()?;
        self.run("RELEASE event")
    }

    pub fn rollback_savepoint(&self) -> Result<()> {
        self.pending.borrow_mut().clear();
        self.conn.execute_batch("ROLLBACK TO event; RELEASE event").ctx(self)
    }

    /// Run a read in its own snapshot.
    fn one<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        f: impl FnOnce(&rusqlite::Row) -> rusqlite::Result<T>,
    ) -> Result<Option<T>> {
        let mut st = self.conn.prepare_cached(sql).ctx(self)?;
        st.query_row(params, f).optional().ctx(self)
    }

    /// Every row a read returns, each made by `f`.
    fn all<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        f: impl FnMut(&rusqlite::Row) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        let mut st = self.conn.prepare_cached(sql).ctx(self)?;
        st.query_map(params, f).ctx(self)?.collect::<rusqlite::Result<Vec<_>>>().ctx(self)
    }

    /// `PRAGMA integrity_check`: "ok" when the file is sound.
    pub fn integrity_check(&self) -> Result<String> {
        Ok(self.one("PRAGMA integrity_check", [], |r| r.get(0))?.unwrap_or_default())
    }
}

/// Run `f` until the database is not busy, for up to `busy_timeout`, in
/// short naps. SQLite's own wait looks ever more rarely (every 100 ms after a
/// while), and a worker among others that commit claims every few hundred
/// microseconds could wait out its whole timeout without once finding the lock
/// free; and some statements (switching the journal mode) answer "busy"
/// without waiting at all.
fn while_busy<T>(
    conn: &Connection,
    busy_timeout: Duration,
    mut f: impl FnMut(&Connection) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    let deadline = std::time::Instant::now() + busy_timeout;
    // Without a handler a busy database answers at once; this loop does the waiting.
    conn.busy_handler(None)?;
    let mut nap = Duration::from_micros(20);
    let done = loop {
        match f(conn) {
            Err(e)
                if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                    && std::time::Instant::now() < deadline =>
            {
                // A little jitter, so waiting workers do not all look at the same moment.
                let jitter = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
                let jitter = jitter.map_or(0, |d| d.subsec_nanos() as u64 % 1000);
                std::thread::sleep(nap + Duration::from_nanos(jitter * nap.as_nanos() as u64 / 1000));
                nap = (nap * 2).min(Duration::from_millis(2));
            }
            other => break other,
        }
    };
    conn.busy_timeout(busy_timeout)?;
    done
}

/// A path as the path part of an SQLite `file:` URI (`%`, `?` and `#` escaped).
fn uri_path(path: &str) -> String {
    let mut out = String::new();
    for c in path.chars() {
        match c {
            '%' | '?' | '#' => out.push_str(&format!("%{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

fn json_map(text: &str) -> serde_json::Map<String, serde_json::Value> {
    serde_json::from_str(text).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_migrates_and_is_sound() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let store = Sqlite::open(&path, Duration::from_millis(100)).unwrap();
        assert_eq!(store.integrity_check().unwrap(), "ok");
        drop(store);
        // Opening again runs no migration twice.
        Sqlite::open(&path, Duration::from_millis(100)).unwrap();
    }

    #[test]
    fn a_database_from_a_newer_dealflow_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        drop(Sqlite::open(&path, Duration::from_millis(100)).unwrap());
        let newer = schema::latest() + 1;
        Connection::open(&path).unwrap().pragma_update(None, "user_version", newer).unwrap();
        let err = Sqlite::open(&path, Duration::from_millis(100)).err().unwrap();
        assert!(matches!(&err, Error::Store { kind: StoreErrorKind::Schema, .. }), "{err:?}");
        let err = err.to_string();
        assert!(err.contains(&format!("schema is version {newer}, newer than this dealflow knows")), "{err}");
        assert_eq!(schema::version(&Connection::open(&path).unwrap()).unwrap(), newer);
    }

    #[test]
    fn a_file_that_is_not_a_database_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        std::fs::write(
            &path,
            "hello, this is not sqlite at all, not even close.......................................................",
        )
        .unwrap();
        let err = Sqlite::open(&path, Duration::from_millis(100)).err().unwrap();
        assert!(matches!(&err, Error::Store { kind: StoreErrorKind::NotADatabase, .. }), "the kind is kept: {err:?}");
        assert!(err.backend_cause().is_some_and(|c| c.to_string().contains("not a database")), "{err:?}");
        assert!(!err.to_string().contains("file is not a database"), "SQLite's words stay out of the message: {err}");
        let err = err.to_string();
        assert!(err.contains("not a dealflow (SQLite) database"), "{err}");
    }

    #[test]
    fn a_writer_waits_for_another_up_to_the_busy_timeout_and_no_longer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let holder = Sqlite::open(&path, Duration::from_secs(1)).unwrap();
        let hasty = Sqlite::open(&path, Duration::from_millis(100)).unwrap();
        let patient = Sqlite::open(&path, Duration::from_secs(5)).unwrap();
        holder.begin().unwrap();
        let started = std::time::Instant::now();
        let err = hasty.begin().unwrap_err().to_string();
        assert!(err.contains("locked by another process (waited 100 ms)"), "{err}");
        assert!((100..2000).contains(&started.elapsed().as_millis()), "{:?}", started.elapsed());
        // The other writer commits while this one waits: it gets in then, not at its timeout.
        let committer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            holder.commit().unwrap();
        });
        let started = std::time::Instant::now();
        patient.begin().unwrap();
        assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
        patient.commit().unwrap();
        committer.join().unwrap();
    }
}
