//! The PostgreSQL backend: the same tables as SQLite's latest schema, on a
//! server several machines share. All SQL for PostgreSQL lives in this
//! module, and the `postgres` crate is used nowhere else.
//!
//! One synchronous [`Client`] per backend value, in a `RefCell` (the trait
//! takes `&self`, as SQLite's `Connection` does). Units of work are plain
//! `BEGIN` / `COMMIT` / `ROLLBACK`, nested units `SAVEPOINT sN` / `RELEASE` /
//! `ROLLBACK TO`: the crate's `Transaction` borrows the client mutably for its
//! whole life and does not fit the trait's begin/commit calls.
//!
//! Statements are prepared once per connection and kept by their SQL
//! ([`Postgres::stmt`]). Log rows (events, decisions, stage history) are
//! gathered and written many to a statement, as SQLite's are (see [`pending`]).

mod access;
mod backend_impl;
mod clock;
mod deliveries;
mod handovers;
mod health;
pub mod lease;
mod log;
mod notifications;
mod pending;
mod prune;
mod schema;
mod state;
mod tasks;
pub mod tls;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use postgres::types::ToSql;
use postgres::{Client, Row, Statement};

use crate::error::{Error, Result, StoreErrorKind};

/// Parameters of a statement.
type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

pub struct Postgres {
    client: RefCell<Client>,
    /// The connection's settings (TLS too): a connection lost is made again
    /// with them at the next unit or read (see [`Postgres::reconnect_if_lost`]).
    settings: tls::Settings,
    /// The server and database, without a password: what messages and `status` name.
    location: PathBuf,
    /// Prepared statements, by their SQL.
    stmts: RefCell<HashMap<String, Statement>>,
    /// 0: no unit; 1: a unit; 2 and more: nested units inside it (savepoint `s{depth}`).
    depth: Cell<u32>,
    /// The open unit wrote rows the working set keeps (accounts, deals and
    /// what their facts are made of): its commit moves the change clock.
    dirty: Cell<bool>,
    /// How many times this connection moved the change clock (see [`Postgres::change_token`]).
    own_ticks: Cell<i64>,
    /// Rows written, updated or deleted through this connection.
    changes: Cell<u64>,
    /// Log rows the open unit appended, written before it ends (see [`pending`]).
    pending: RefCell<pending::Pending>,
    /// The open transaction holds the unit lock (it is a unit of work).
    unit_locked: Cell<bool>,
    /// Task dedup keys the open unit has seen exist (asked, or written): the
    /// engine asks before each task it would make, often the same key again
    /// within a batch. Tasks are never deleted, no other process makes tasks
    /// while the unit holds the lock, so a key that exists goes on existing
    /// until the unit ends; forgotten at its end and at any rollback.
    known_keys: RefCell<std::collections::HashSet<String>>,
    /// Events looked up ahead in the open unit ([`Postgres::expect_events`]):
    /// by id, the stored row's (hash, source, line, body), or `None` where no
    /// such event was stored. Events are written only by units, which hold
    /// each other off, so the answers hold until the unit ends; this unit's
    /// own writes update them, and any rollback forgets them.
    looked_up: RefCell<HashMap<String, Option<log::StoredEvent>>>,
    /// How long a unit waits for another process's (`None`: as long as it takes).
    busy_timeout: Cell<Option<std::time::Duration>>,
    /// A statement failed in the open unit since its last savepoint was
    /// rolled back to: PostgreSQL has aborted the transaction, and would
    /// answer `COMMIT` with a silent rollback.
    aborted: Cell<bool>,
    /// The open unit made or freed tasks: its commit tells waiting workers (NOTIFY).
    tasks_made: Cell<bool>,
    /// This connection LISTENs for new tasks (see [`Postgres::wait_for_tasks`]).
    listening: Cell<bool>,
    /// The engine lease epoch this connection's units check (see [`lease`]).
    fence: Cell<Option<i64>>,
    /// The lease length the fence was set with (its idle timeout, set again on a new connection).
    fence_length: Cell<std::time::Duration>,
}

/// Turns a PostgreSQL error into one that names the database and says what to do.
pub(crate) trait PgContext<T> {
    fn ctx(self, store: &Postgres) -> Result<T>;
}

impl<T> PgContext<T> for std::result::Result<T, postgres::Error> {
    fn ctx(self, store: &Postgres) -> Result<T> {
        self.map_err(|e| {
            if store.depth.get() > 0 {
                store.aborted.set(true);
            }
            describe(&store.location, e, true)
        })
    }
}

/// `postgres://user@host:port/db` for a connection's settings, without its password.
pub fn redacted(config: &postgres::Config) -> String {
    use postgres::config::Host;
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().map(|u| format!("{u}@")).unwrap_or_default();
    let db = config.get_dbname().or(config.get_user()).unwrap_or("");
    format!("postgres://{user}{host}:{port}/{db}")
}

/// An error and its causes, as one line.
fn chain(e: &postgres::Error) -> String {
    let mut said = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let text = c.to_string();
        if !said.contains(&text) {
            said.push_str(": ");
            said.push_str(&text);
        }
        cause = c.source();
    }
    said
}

/// A PostgreSQL error in the user's terms: which kind of trouble, and what to do.
/// `connected`: the connection was made (so one that fails now was lost).
fn describe(location: &Path, e: postgres::Error, connected: bool) -> Error {
    use StoreErrorKind as Kind;
    use postgres::error::SqlState;
    let (kind, message) = match e.as_db_error() {
        Some(db) => {
            let code = db.code();
            let said = db.message().to_string();
            if *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED
                || *code == SqlState::LOCK_NOT_AVAILABLE
                || *code == SqlState::QUERY_CANCELED
            {
                let message = format!("the database is busy with another process ({said}); try again");
                return Error::Busy { path: location.to_path_buf(), message };
            }
            if *code == SqlState::INVALID_CATALOG_NAME {
                (
                    Kind::CannotOpen,
                    format!("{said}: create it first (createdb, or CREATE DATABASE as a user allowed to)"),
                )
            } else if *code == SqlState::INVALID_PASSWORD || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION {
                (
                    Kind::CannotOpen,
                    format!("the server refused the login ({said}): check the user and password in the URL"),
                )
            } else if *code == SqlState::INSUFFICIENT_PRIVILEGE || *code == SqlState::READ_ONLY_SQL_TRANSACTION {
                (
                    Kind::ReadOnly,
                    format!(
                        "the database refused a write ({said}): grant the user in the URL the right to create and \
                         write dealflow's tables, or connect to a primary, not a standby"
                    ),
                )
            } else if *code == SqlState::DISK_FULL || *code == SqlState::OUT_OF_MEMORY {
                (Kind::Full, format!("the server has no room left ({said})"))
            } else if *code == SqlState::DATA_CORRUPTED || *code == SqlState::INDEX_CORRUPTED {
                (Kind::Damaged, format!("the server found its data damaged ({said}): restore it from a backup"))
            } else if *code == SqlState::ADMIN_SHUTDOWN
                || *code == SqlState::CRASH_SHUTDOWN
                || *code == SqlState::CANNOT_CONNECT_NOW
            {
                (
                    Kind::Unreachable,
                    format!(
                        "the server ended the connection ({said}): nothing of the unit in progress was kept; run \
                         again once the server is up"
                    ),
                )
            } else {
                (Kind::Other, format!("{said} (SQLSTATE {})", code.code()))
            }
        }
        None if !connected && chain(&e).contains("TLS handshake") => (
            Kind::CannotOpen,
            format!(
                "the TLS handshake with the server failed ({}): check the URL's sslmode, and sslrootcert names the \
                 authority that signed the server's certificate",
                chain(&e)
            ),
        ),
        None if connected || e.is_closed() => (
            Kind::Unreachable,
            format!(
                "the connection to the server was lost ({e}): nothing of the unit in progress was kept; run again \
                 once the server is reachable"
            ),
        ),
        None => (
            Kind::Unreachable,
            format!(
                "cannot reach the PostgreSQL server ({}): is it running, and does the URL name its host and port?",
                chain(&e)
            ),
        ),
    };
    Error::Store { path: location.to_path_buf(), kind, message, cause: Some(Box::new(e)) }
}

/// The connection settings of `url`, with `PGPASSWORD` when the URL has no password.
pub fn settings(url: &str) -> Result<tls::Settings> {
    let mut settings = tls::settings(url)?;
    // As psql and libpq do: a password kept out of the URL (and out of config.toml).
    if settings.config.get_password().is_none()
        && let Ok(password) = std::env::var("PGPASSWORD")
    {
        settings.config.password(password);
    }
    Ok(settings)
}

impl Postgres {
    /// Connect to the database at `url` (`postgres://USER@HOST:PORT/DB`) and
    /// bring its schema up to date (see [`schema`]).
    pub fn open(url: &str) -> Result<Postgres> {
        Postgres::connect_with(&settings(url)?)
    }

    /// Connect with these settings (TLS if the server offers it, its
    /// certificate not checked, as libpq's `prefer`) and bring the schema up to date.
    pub fn connect(config: &postgres::Config) -> Result<Postgres> {
        Postgres::connect_with(&tls::Settings::from(config.clone()))
    }

    /// Connect with these settings and TLS checks, and bring the schema up to date.
    pub(crate) fn connect_with(settings: &tls::Settings) -> Result<Postgres> {
        let config = &settings.config;
        let location = PathBuf::from(redacted(config));
        let connector = tls::connector(settings)?;
        let client = config.connect(connector).map_err(|e| describe(&location, e, false))?;
        let store = Postgres {
            client: RefCell::new(client),
            settings: settings.clone(),
            location,
            stmts: Default::default(),
            depth: Cell::new(0),
            dirty: Cell::new(false),
            own_ticks: Cell::new(0),
            changes: Cell::new(0),
            aborted: Cell::new(false),
            busy_timeout: Cell::new(None),
            unit_locked: Cell::new(false),
            tasks_made: Cell::new(false),
            listening: Cell::new(false),
            known_keys: Default::default(),
            looked_up: Default::default(),
            pending: Default::default(),
            fence: Cell::new(None),
            fence_length: Cell::new(std::time::Duration::ZERO),
        };
        store.migrate()?;
        Ok(store)
    }

    /// Bring the schema up to date, once however many processes open the
    /// database at the same moment: under an advisory lock, in one
    /// transaction, reading the version again once the lock is held. A
    /// database already up to date is only read (a role that may not create
    /// tables can open it).
    fn migrate(&self) -> Result<()> {
        let newer = |version: i64| {
            Error::store(
                &self.location,
                StoreErrorKind::Schema,
                format!(
                    "its schema is version {version}, newer than this dealflow knows (version {}): it was written by \
                     a newer dealflow; use that one (or a newer one) with this database",
                    schema::latest()
                ),
            )
        };
        let version_sql = "SELECT COALESCE(MAX(version), 0) FROM schema_version";
        let made: Option<String> =
            self.one("SELECT to_regclass('schema_version')::TEXT", &[], |r| r.try_get(0))?.flatten();
        if made.is_some() {
            let version: i64 = self.one(version_sql, &[], |r| r.try_get(0))?.unwrap_or(0);
            match version {
                v if v > schema::latest() => return Err(newer(v)),
                v if v == schema::latest() => return Ok(()),
                _ => {}
            }
        }
        let mut client = self.client.borrow_mut();
        let mut tx = client.transaction().ctx(self)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&schema::MIGRATION_LOCK]).ctx(self)?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)").ctx(self)?;
        let version: i64 = tx.query_one(version_sql, &[]).and_then(|r| r.try_get(0)).ctx(self)?;
        if version > schema::latest() {
            return Err(newer(version));
        }
        for up in schema::after(version) {
            tx.batch_execute(up).ctx(self)?;
        }
        if version < schema::latest() {
            tx.execute("DELETE FROM schema_version", &[]).ctx(self)?;
            tx.execute("INSERT INTO schema_version (version) VALUES ($1)", &[&schema::latest()]).ctx(self)?;
        }
        tx.commit().ctx(self)
    }

    pub fn location(&self) -> &Path {
        &self.location
    }

    /// Wait at most `timeout` for a lock (another process's unit of work, a
    /// row another transaction is changing); then fail with [`Error::Busy`].
    /// Without it, a unit waits as long as the other one lasts.
    pub fn set_busy_timeout(&self, timeout: std::time::Duration) -> Result<()> {
        // Zero would mean "no limit" to PostgreSQL.
        let ms = timeout.as_millis().max(1);
        self.batch(&format!("SET lock_timeout = {ms}"))?;
        self.busy_timeout.set(Some(timeout));
        Ok(())
    }

    /// An error about this database that PostgreSQL did not raise.
    pub fn fault(&self, message: String) -> Error {
        Error::store(&self.location, StoreErrorKind::Other, message)
    }

    /// Outside a unit, a connection the server ended (a restart, a lost
    /// network) is made again, with its statements prepared anew and its
    /// busy timeout set again: a long-running process (`watch`) goes on
    /// once the server is back. Inside a unit nothing is made again: the
    /// unit was lost with the connection and fails whole.
    fn reconnect_if_lost(&self) -> Result<()> {
        if self.depth.get() > 0 || !self.client.borrow().is_closed() {
            return Ok(());
        }
        let client = self.settings.connect().map_err(|e| match e {
            tls::ConnectError::Setup(e) => e,
            tls::ConnectError::Server(e) => describe(&self.location, e, false),
        })?;
        *self.client.borrow_mut() = client;
        self.stmts.borrow_mut().clear();
        // What the session had: a LISTEN, the busy timeout, the fence's idle
        // timeout (which frees a stalled engine's locks for a standby).
        self.listening.set(false);
        if let Some(timeout) = self.busy_timeout.get() {
            self.set_busy_timeout(timeout)?;
        }
        if let Some(epoch) = self.fence.get() {
            self.set_fence(Some(epoch), self.fence_length.get())?;
        }
        Ok(())
    }

    /// The statement for `sql`, prepared once per connection.
    fn stmt(&self, sql: &str) -> Result<Statement> {
        self.reconnect_if_lost()?;
        if let Some(st) = self.stmts.borrow().get(sql) {
            return Ok(st.clone());
        }
        let st = self.client.borrow_mut().prepare(sql).ctx(self)?;
        self.stmts.borrow_mut().insert(sql.to_string(), st.clone());
        Ok(st)
    }

    /// Run a write; how many rows it changed.
    fn exec(&self, sql: &str, params: Params) -> Result<u64> {
        let st = self.stmt(sql)?;
        let n = self.client.borrow_mut().execute(&st, params).ctx(self)?;
        self.changes.set(self.changes.get() + n);
        Ok(n)
    }

    /// Run a write of rows the working set keeps (see [`Postgres::change_token`]):
    /// in the open unit, whose commit moves the clock; else in a unit of its
    /// own that moves it (and waits for another process's unit, which trusts
    /// the rows it keeps until it ends).
    fn exec_kept(&self, sql: &str, params: Params) -> Result<u64> {
        self.in_unit_or_own(|| {
            self.dirty.set(true);
            self.exec(sql, params)
        })
    }

    /// Every row of a read.
    fn rows(&self, sql: &str, params: Params) -> Result<Vec<Row>> {
        let st = self.stmt(sql)?;
        self.client.borrow_mut().query(&st, params).ctx(self)
    }

    /// The one row of a read, if any.
    fn opt(&self, sql: &str, params: Params) -> Result<Option<Row>> {
        let st = self.stmt(sql)?;
        self.client.borrow_mut().query_opt(&st, params).ctx(self)
    }

    /// Each row of a read made into a value by `f`.
    fn all<T>(
        &self,
        sql: &str,
        params: Params,
        f: impl Fn(&Row) -> std::result::Result<T, postgres::Error>,
    ) -> Result<Vec<T>> {
        self.rows(sql, params)?.iter().map(|r| f(r).ctx(self)).collect()
    }

    /// The row of a read made into a value by `f`, if there is one.
    fn one<T>(
        &self,
        sql: &str,
        params: Params,
        f: impl FnOnce(&Row) -> std::result::Result<T, postgres::Error>,
    ) -> Result<Option<T>> {
        self.opt(sql, params)?.map(|r| f(&r).ctx(self)).transpose()
    }

    /// Statements without parameters or rows (transaction control).
    fn batch(&self, sql: &str) -> Result<()> {
        self.client.borrow_mut().batch_execute(sql).ctx(self)
    }

    // ---- units of work ----

    /// Begin a unit of work, holding other processes' units off until it
    /// ends, as SQLite's `BEGIN IMMEDIATE` does: the working set trusts the
    /// rows it keeps for as long as its unit is open (see `Store::begin`), and
    /// the engine applies events one unit at a time. Claims and task closes
    /// outside a unit do not wait for it: they only meet a unit on the rows
    /// both change, and `FOR UPDATE SKIP LOCKED` passes those by.
    pub fn begin_unit(&self) -> Result<()> {
        self.begin()?;
        if let Err(e) = self.check_fence() {
            let _ = self.rollback();
            return Err(e);
        }
        if let Err(e) = self.lock_units() {
            let _ = self.rollback();
            return Err(match (e, self.busy_timeout.get()) {
                (Error::Busy { path, .. }, Some(waited)) => Error::Busy {
                    path,
                    message: format!(
                        "another process is writing to the database (waited {} ms); try again when it is done",
                        waited.as_millis()
                    ),
                },
                (e, _) => e,
            });
        }
        Ok(())
    }

    /// With a fence set: the lease still has this process's epoch, and keeps
    /// it until the unit ends. `FOR KEY SHARE` lets the holder's own renewal
    /// (an `UPDATE` of other columns) through, while a takeover's `FOR
    /// UPDATE` waits for this unit to end: no unit of a process that lost the
    /// lease commits after the takeover.
    fn check_fence(&self) -> Result<()> {
        let Some(mine) = self.fence.get() else { return Ok(()) };
        let row = self.one("SELECT epoch, holder FROM engine_lease WHERE id = 1 FOR KEY SHARE", &[], |r| {
            Ok((r.try_get::<_, i64>(0)?, r.try_get::<_, Option<String>>(1)?))
        })?;
        match row {
            Some((epoch, _)) if epoch == mine => Ok(()),
            Some((epoch, holder)) => {
                Err(Error::LeaseLost { holder: holder.unwrap_or_else(|| "another process".into()), epoch })
            }
            None => Err(self.fault("the engine lease row is missing (engine_lease, id 1)".into())),
        }
    }

    /// Fence this connection's units with `epoch` (see [`Postgres::check_fence`]);
    /// the server ends a transaction left idle for longer than `lease` (a
    /// stalled process's), so its locks do not outlive the lease.
    pub fn set_fence(&self, epoch: Option<i64>, lease: std::time::Duration) -> Result<()> {
        let ms = if epoch.is_some() { lease.as_millis().max(1) } else { 0 };
        self.batch(&format!("SET idle_in_transaction_session_timeout = {ms}"))?;
        self.fence.set(epoch);
        self.fence_length.set(lease);
        Ok(())
    }

    /// The server process of this connection.
    pub fn connection_id(&self) -> Option<i32> {
        self.one("SELECT pg_backend_pid()", &[], |r| r.try_get(0)).ok().flatten()
    }

    pub fn engine_lease(&self) -> Result<Option<crate::store::backend::LeaseRow>> {
        self.one(lease::LEASE_SELECT, &[], lease::lease_row)
    }

    pub fn engine_processes(&self) -> Result<Vec<crate::store::backend::ProcessRow>> {
        self.all(lease::PROCESSES_SELECT, &[], lease::process_row)
    }

    /// Hold other processes' units off to the end of the open transaction.
    /// Taken before any savepoint, so no nested rollback lets it go.
    fn lock_units(&self) -> Result<()> {
        self.rows("SELECT pg_advisory_xact_lock($1)", &[&schema::UNIT_LOCK])?;
        self.unit_locked.set(true);
        Ok(())
    }

    /// Run `f` in the open unit, or in a unit of its own outside one.
    fn in_unit_or_own<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        if self.depth.get() > 0 {
            return f();
        }
        self.begin_unit()?;
        match f() {
            Ok(v) => self.commit().map(|_| v),
            Err(e) => {
                let _ = self.rollback();
                Err(e)
            }
        }
    }

    /// A transaction of this connection's own (a claim), holding no other process off.
    fn begin(&self) -> Result<()> {
        if self.depth.get() > 0 {
            return Err(self.fault("a unit of work is already open on this connection".into()));
        }
        self.pending.borrow_mut().clear();
        self.reconnect_if_lost()?;
        self.known_keys.borrow_mut().clear();
        self.looked_up.borrow_mut().clear();
        self.batch("BEGIN")?;
        self.depth.set(1);
        self.dirty.set(false);
        self.aborted.set(false);
        self.unit_locked.set(false);
        Ok(())
    }

    /// Commit the unit. A unit in which a statement failed (and that no
    /// nested unit undid) is refused and rolled back: PostgreSQL would answer
    /// `COMMIT` with a silent rollback, and the caller must know.
    pub fn commit(&self) -> Result<()> {
        if self.depth.get() == 0 {
            return Err(self.fault("no unit of work to commit".into()));
        }
        if self.aborted.get() {
            let _ = self.rollback();
            return Err(self.fault(
                "a write of this unit of work failed (see the error before this one), so nothing of it was kept".into(),
            ));
        }
        let dirty = self.dirty.get();
        let tick = || if dirty { self.exec("UPDATE change_clock SET n = n + 1", &[]).map(|_| ()) } else { Ok(()) };
        // Workers waiting for tasks hear of them once they are there to claim: at the commit.
        let commit = if self.tasks_made.replace(false) { "NOTIFY dealflow_tasks; COMMIT" } else { "COMMIT" };
        if let Err(e) = self.write_pending().and_then(|_| tick()).and_then(|_| self.batch(commit)) {
            let _ = self.rollback();
            return Err(e);
        }
        self.depth.set(0);
        self.unit_locked.set(false);
        self.known_keys.borrow_mut().clear();
        self.looked_up.borrow_mut().clear();
        self.dirty.set(false);
        if dirty {
            self.own_ticks.set(self.own_ticks.get() + 1);
        }
        Ok(())
    }

    pub fn rollback(&self) -> Result<()> {
        self.pending.borrow_mut().clear();
        self.known_keys.borrow_mut().clear();
        self.looked_up.borrow_mut().clear();
        if self.depth.get() == 0 {
            return Ok(());
        }
        self.depth.set(0);
        self.dirty.set(false);
        self.aborted.set(false);
        self.unit_locked.set(false);
        self.tasks_made.set(false);
        self.batch("ROLLBACK")
    }

    pub fn savepoint(&self) -> Result<()> {
        let depth = self.depth.get();
        if depth == 0 {
            return Err(self.fault("a nested unit needs an open unit".into()));
        }
        // The gathered rows belong to the unit around it: written now, a rollback of this one keeps them.
        self.write_pending()?;
        self.batch(&format!("SAVEPOINT s{depth}"))?;
        self.depth.set(depth + 1);
        Ok(())
    }

    pub fn release(&self) -> Result<()> {
        let depth = self.depth.get();
        if depth < 2 {
            return Err(self.fault("no nested unit to release".into()));
        }
        // Written now, so a row the server refuses fails this nested unit, not a later commit.
        self.write_pending()?;
        self.batch(&format!("RELEASE SAVEPOINT s{}", depth - 1))?;
        self.depth.set(depth - 1);
        Ok(())
    }

    pub fn rollback_savepoint(&self) -> Result<()> {
        let depth = self.depth.get();
        if depth < 2 {
            return Err(self.fault("no nested unit to roll back".into()));
        }
        self.pending.borrow_mut().clear();
        // A task made or an event recorded in the nested unit is undone with it.
        self.known_keys.borrow_mut().clear();
        self.looked_up.borrow_mut().clear();
        let s = depth - 1;
        self.batch(&format!("ROLLBACK TO SAVEPOINT s{s}; RELEASE SAVEPOINT s{s}"))?;
        self.depth.set(depth - 1);
        // A savepoint opens only in a sound transaction: what failed, failed after it.
        self.aborted.set(false);
        Ok(())
    }

    /// A number that changes when another process commits rows the working
    /// set keeps: every unit that writes them moves `change_clock` by one as
    /// it commits; this connection's own moves are taken off.
    pub fn change_token(&self) -> Result<Option<i64>> {
        let n: i64 = self.one("SELECT n FROM change_clock", &[], |r| r.try_get(0))?.unwrap_or(0);
        Ok(Some(n - self.own_ticks.get()))
    }

    pub fn in_unit(&self) -> bool {
        self.depth.get() > 0
    }

    /// In a unit of work that holds the unit lock (not a claim's transaction).
    fn in_locked_unit(&self) -> bool {
        self.depth.get() > 0 && self.unit_locked.get()
    }

    /// Rows gathered for the unit's commit count from when they are gathered.
    pub fn total_changes(&self) -> u64 {
        self.changes.get() + self.pending.borrow().unwritten_count()
    }

    /// Gather a log row for the open unit; outside a unit, write it now.
    fn gather(&self, add: impl FnOnce(&mut pending::Pending)) -> Result<()> {
        add(&mut self.pending.borrow_mut());
        if self.depth.get() == 0 { self.write_pending() } else { Ok(()) }
    }

    /// Write the rows gathered so far (before a read of their tables, a
    /// nested unit, a release or the commit). On an error the rest are
    /// forgotten: the caller undoes the unit they belong to.
    fn write_pending(&self) -> Result<()> {
        if self.pending.borrow().is_empty() {
            return Ok(());
        }
        let taken = std::mem::take(&mut *self.pending.borrow_mut());
        self.write_rows(&taken.events)?;
        self.write_rows(&taken.decisions)?;
        self.write_rows(&taken.stages)
    }

    fn write_rows<R: pending::LogRow>(&self, rows: &[R]) -> Result<()> {
        for (n, run) in pending::runs(rows) {
            let values: Vec<&(dyn ToSql + Sync)> = run.iter().flat_map(|r| r.values()).collect();
            self.exec(&pending::insert_sql::<R>(n), &values)?;
        }
        Ok(())
    }

    /// PostgreSQL checks its own pages; this checks the schema is dealflow's and current.
    pub fn integrity_check(&self) -> Result<String> {
        let version: i64 =
            self.one("SELECT COALESCE(MAX(version), 0) FROM schema_version", &[], |r| r.try_get(0))?.unwrap_or(0);
        Ok(if version == schema::latest() {
            "ok".into()
        } else {
            format!("schema version {version}, expected {}", schema::latest())
        })
    }

    /// Nothing to check between events: the server keeps its own files.
    pub fn check_file(&self) -> Result<()> {
        Ok(())
    }

    /// The server answers.
    pub fn verify(&self) -> Result<()> {
        self.rows("SELECT 1", &[]).map(|_| ())
    }
}

fn json_map(text: &str) -> serde_json::Map<String, serde_json::Value> {
    serde_json::from_str(text).unwrap_or_default()
}

fn to_json(m: &serde_json::Map<String, serde_json::Value>) -> String {
    serde_json::to_string(m).unwrap_or_else(|_| "{}".into())
}

#[cfg(test)]
mod tests;
