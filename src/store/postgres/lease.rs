//! The engine lease on PostgreSQL: exactly one process at a time applies
//! events (a `watch`, or an `ingest`, `import`, `tick` or `run` for its run).
//!
//! - **Who holds it** is decided by a session-level advisory lock
//!   ([`schema::LEASE_LOCK`]) on a connection of its own. A standby waits on
//!   that lock in the server's lock manager; when the holder's session ends
//!   (a clean release, a SIGKILL, a crash: the server sees the socket close)
//!   the lock is free and the first waiter has it at once.
//! - **A holder that stalls** (SIGSTOP, a frozen VM, a network cut) keeps its
//!   session and the lock. It renews its lease every third of the lease from
//!   a thread of its own (`expires_at = now() + lease`, the server's clock).
//!   A standby waits at most until the lease would expire; once it has
//!   (`expires_at < now()`), it ends the holder's connections
//!   (`pg_terminate_backend` on the pids the lease row records), which frees
//!   the lock, and takes over.
//! - **Taking over** is one transaction: the row `FOR UPDATE`, `epoch + 1`,
//!   holder = this process. `FOR UPDATE` waits for a unit of the old holder
//!   still running (it holds the row `FOR KEY SHARE`), so no unit of it
//!   commits after the takeover.
//! - **Fencing**: the holder sets its epoch on each of its connections that
//!   write ([`EngineLease::adopt`] → `Postgres::set_fence`); every unit checks
//!   it first, in its own transaction, and a different epoch fails it with
//!   [`Error::LeaseLost`]. A process that lost its lease and carries on
//!   cannot write, whatever its threads believe.
//! - A clean release says so on `LEASE_CHANNEL` (`NOTIFY`), for listeners
//!   that do not wait on the lock; standbys are woken by the lock itself,
//!   which the release frees in the same instant.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::{Client, Row};

use super::tls::{self, ConnectError, Settings};
use super::{describe, redacted, schema};
use crate::error::{Error, Result};
use crate::store::backend::{LeaseRow, ProcessRow};

/// A connection of the lease's own, with the settings the store was opened
/// with (the one place the lease connects: a TLS connector goes here).
fn connect(settings: &Settings) -> Result<Client> {
    let location = PathBuf::from(redacted(&settings.config));
    settings.connect().map_err(|e| match e {
        ConnectError::Setup(e) => e,
        ConnectError::Server(e) => describe(&location, e, false),
    })
}

/// This process, as the lease row and `engine_processes` name it.
#[derive(Debug, Clone)]
pub struct Me {
    /// `"watch on HOST pid N"`.
    pub holder: String,
    pub host: String,
    pub pid: u32,
    /// The command: `watch`, `ingest`, …
    pub command: String,
    /// The rules version in force in this process, when it has one yet.
    pub rules_version: Option<String>,
    /// The process's row in `engine_processes`.
    pub key: String,
}

impl Me {
    /// This process running `command`.
    pub fn new(command: &str, rules_version: Option<&str>) -> Me {
        let host = hostname();
        let pid = std::process::id();
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        Me {
            holder: format!("{command} on {host} pid {pid}"),
            key: format!("{host}:{pid}:{nanos}"),
            host,
            pid,
            command: command.to_string(),
            rules_version: rules_version.map(str::to_string),
        }
    }
}

/// The machine's name, for people (never trusted for anything).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// The lease row's columns, times as UTC text, and whether it has expired.
pub(super) const LEASE_SELECT: &str = "SELECT epoch, holder, host, pid, command, \
     to_char(taken_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
     to_char(renewed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
     to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
     to_char(released_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
     EXTRACT(EPOCH FROM (expires_at - now()))::FLOAT8, backend_pids \
     FROM engine_lease WHERE id = 1";

pub(super) fn lease_row(r: &Row) -> std::result::Result<LeaseRow, postgres::Error> {
    let expires_in: Option<f64> = r.try_get(9)?;
    let released_at: Option<String> = r.try_get(8)?;
    let holder: Option<String> = r.try_get(1)?;
    Ok(LeaseRow {
        epoch: r.try_get(0)?,
        held: holder.is_some() && released_at.is_none(),
        holder,
        host: r.try_get(2)?,
        pid: r.try_get(3)?,
        command: r.try_get(4)?,
        taken_at: r.try_get(5)?,
        renewed_at: r.try_get(6)?,
        expires_at: r.try_get(7)?,
        released_at,
        expires_in_seconds: expires_in,
        expired: expires_in.is_some_and(|s| s < 0.0),
        backend_pids: r.try_get::<_, Option<Vec<i32>>>(10)?.unwrap_or_default(),
    })
}

pub(super) const PROCESSES_SELECT: &str = "SELECT key, host, pid, command, role, rules_version, \
     to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
     to_char(last_seen AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
     EXTRACT(EPOCH FROM (now() - last_seen))::FLOAT8 \
     FROM engine_processes ORDER BY started_at, key";

pub(super) fn process_row(r: &Row) -> std::result::Result<ProcessRow, postgres::Error> {
    Ok(ProcessRow {
        key: r.try_get(0)?,
        host: r.try_get(1)?,
        pid: r.try_get(2)?,
        command: r.try_get(3)?,
        role: r.try_get(4)?,
        rules_version: r.try_get(5)?,
        started_at: r.try_get(6)?,
        last_seen: r.try_get(7)?,
        seconds_since_seen: r.try_get(8)?,
    })
}

/// The lease this process holds, renewed by a thread of its own until it is
/// released (on drop too) or lost.
pub struct EngineLease {
    conn: Arc<Mutex<Client>>,
    settings: Settings,
    location: PathBuf,
    me: Me,
    epoch: i64,
    length: Duration,
    lost: Arc<AtomicBool>,
    renewer: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
}

/// What [`EngineLease::take`] says while it waits: the lease row as it is
/// (said again when the holder changes).
pub type OnWait<'a> = &'a mut dyn FnMut(&LeaseRow);

fn seconds(d: Duration) -> f64 {
    d.as_secs_f64()
}

impl EngineLease {
    /// Take the engine lease of the database at `config`, waiting while
    /// another process holds it (`on_wait` is told who, once per holder);
    /// `None` when `stop` was set first.
    pub fn take(
        settings: &Settings,
        me: Me,
        length: Duration,
        stop: &AtomicBool,
        on_wait: OnWait,
    ) -> Result<Option<EngineLease>> {
        let location = PathBuf::from(redacted(&settings.config));
        let err = |e: postgres::Error| describe(&location, e, true);
        // Opening through the backend migrates the schema (this connection only reads and locks).
        drop(super::Postgres::connect_with(settings)?);
        let mut client = connect(settings)?;
        client
            .batch_execute(&format!(
                "SET application_name = 'dealflow lease'; LISTEN {}; \
                 DELETE FROM engine_processes WHERE last_seen < now() - interval '1 day'",
                schema::LEASE_CHANNEL
            ))
            .map_err(err)?;
        client
            .execute(
                "INSERT INTO engine_processes (key, host, pid, command, role, rules_version, started_at, last_seen) \
                 VALUES ($1, $2, $3, $4, 'standby', $5, now(), now()) \
                 ON CONFLICT (key) DO UPDATE SET role = 'standby', last_seen = now()",
                &[&me.key, &me.host, &i64::from(me.pid), &me.command, &me.rules_version],
            )
            .map_err(err)?;
        // A stop signal cancels the wait at once (the lock wait is in the server).
        let done = AtomicBool::new(false);
        let cancel = client.cancel_token();
        let waited = std::thread::scope(|s| {
            s.spawn(|| {
                while !done.load(Ordering::SeqCst) {
                    if stop.load(Ordering::SeqCst) {
                        let _ = tls::connector(settings).map(|tls| cancel.cancel_query(tls));
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            });
            let waited = Self::wait_for_lock(&mut client, &location, &me, length, stop, on_wait);
            done.store(true, Ordering::SeqCst);
            waited
        });
        match waited {
            Ok(true) if !stop.load(Ordering::SeqCst) => {}
            Ok(_) => {
                let _ = client.execute("DELETE FROM engine_processes WHERE key = $1", &[&me.key]);
                return Ok(None);
            }
            // The stop's cancel may have hit another statement than the wait.
            Err(_) if stop.load(Ordering::SeqCst) => return Ok(None),
            Err(e) => return Err(e),
        }
        // The lock is ours: the holder before is gone, or ended. Take over.
        client.batch_execute("SET lock_timeout = 0").map_err(err)?;
        // Should this process stall, the server ends this session itself once it has been idle for a
        // lease (renewals come every third of one), which frees the lock even where a standby may not
        // end other sessions (pg_terminate_backend). Servers before PostgreSQL 14 lack the setting.
        if let Err(e) = client.batch_execute(&format!("SET idle_session_timeout = {}", length.as_millis().max(1))) {
            tracing::debug!("no idle_session_timeout on this server: {e}");
        }
        let epoch = {
            let mut tx = client.transaction().map_err(err)?;
            tx.query_one("SELECT epoch FROM engine_lease WHERE id = 1 FOR UPDATE", &[]).map_err(err)?;
            let epoch: i64 = tx
                .query_one(
                    "UPDATE engine_lease SET epoch = epoch + 1, holder = $1, host = $2, pid = $3, command = $4, \
                     backend_pid = pg_backend_pid(), backend_pids = ARRAY[pg_backend_pid()], taken_at = now(), \
                     renewed_at = now(), expires_at = now() + $5 * interval '1 second', released_at = NULL \
                     WHERE id = 1 RETURNING epoch",
                    &[&me.holder, &me.host, &i64::from(me.pid), &me.command, &seconds(length)],
                )
                .and_then(|r| r.try_get(0))
                .map_err(err)?;
            tx.execute("UPDATE engine_processes SET role = 'leader', last_seen = now() WHERE key = $1", &[&me.key])
                .map_err(err)?;
            tx.execute("SELECT pg_notify($1, $2)", &[&schema::LEASE_CHANNEL, &format!("taken {epoch}")])
                .map_err(err)?;
            tx.commit().map_err(err)?;
            epoch
        };
        let conn = Arc::new(Mutex::new(client));
        let lost = Arc::new(AtomicBool::new(false));
        let renewer = {
            let (conn, lost, key) = (conn.clone(), lost.clone(), me.key.clone());
            let (tx, rx) = mpsc::channel::<()>();
            let handle = std::thread::Builder::new()
                .name("lease".into())
                .spawn(move || renew_loop(&conn, epoch, length, &key, &rx, &lost))
                .map_err(|e| Error::Usage(format!("cannot start the thread that renews the engine lease: {e}")))?;
            (tx, handle)
        };
        Ok(Some(EngineLease {
            conn,
            settings: settings.clone(),
            location,
            me,
            epoch,
            length,
            lost,
            renewer: Some(renewer),
        }))
    }

    /// Wait until the advisory lock is this connection's (`true`), or `stop` (`false`).
    fn wait_for_lock(
        client: &mut Client,
        location: &std::path::Path,
        me: &Me,
        length: Duration,
        stop: &AtomicBool,
        on_wait: OnWait,
    ) -> Result<bool> {
        let err = |e: postgres::Error| describe(location, e, true);
        let mut said: Option<(i64, Option<String>)> = None;
        let mut ended: Option<i64> = None;
        loop {
            if stop.load(Ordering::SeqCst) {
                return Ok(false);
            }
            let free: bool = client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&schema::LEASE_LOCK])
                .and_then(|r| r.try_get(0))
                .map_err(err)?;
            if free {
                return Ok(true);
            }
            let row = client.query_one(LEASE_SELECT, &[]).and_then(|r| lease_row(&r)).map_err(err)?;
            let who = (row.epoch, row.holder.clone());
            if said.as_ref() != Some(&who) {
                on_wait(&row);
                said = Some(who);
            }
            // The holder stalled past its lease: end its connections (its lock goes with them).
            if row.expired && row.released_at.is_none() && ended != Some(row.epoch) {
                let n: i64 = client
                    .query_one(
                        "SELECT count(*) FILTER (WHERE pg_terminate_backend(p)) FROM engine_lease, \
                         unnest(backend_pids) AS p WHERE id = 1 AND epoch = $1 AND expires_at < now() \
                         AND released_at IS NULL",
                        &[&row.epoch],
                    )
                    .and_then(|r| r.try_get(0))
                    .map_err(err)?;
                tracing::debug!("the lease of epoch {} expired: ended {n} of its holder's connections", row.epoch);
                ended = Some(row.epoch);
            }
            // Wait in the lock manager until the lock is free, at most until the lease would expire
            // (just after) and at most a third of a lease, so a stalled holder is seen in time.
            let until_expiry = row.expires_in_seconds.unwrap_or(0.0).max(0.0) + 0.05;
            let slice = until_expiry.min(seconds(length) / 3.0).max(0.05);
            client.batch_execute(&format!("SET lock_timeout = {}", (slice * 1000.0).ceil() as u64)).map_err(err)?;
            match client.execute("SELECT pg_advisory_lock($1)", &[&schema::LEASE_LOCK]) {
                Ok(_) => return Ok(true),
                Err(e)
                    if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE)
                        || e.code() == Some(&SqlState::QUERY_CANCELED) => {}
                Err(e) => return Err(err(e)),
            }
            let _ = postgres::fallible_iterator::FallibleIterator::count(client.notifications().iter());
            client.execute("UPDATE engine_processes SET last_seen = now() WHERE key = $1", &[&me.key]).map_err(err)?;
        }
    }

    pub fn epoch(&self) -> i64 {
        self.epoch
    }

    pub fn length(&self) -> Duration {
        self.length
    }

    pub fn me(&self) -> &Me {
        &self.me
    }

    /// Fence a connection that writes for this process with its epoch, and
    /// record it as the holder's (a standby ends it if the holder stalls).
    pub fn adopt(&self, store: &dyn crate::store::Backend) -> Result<()> {
        store.set_fence(Some(self.epoch), self.length)?;
        if let Some(pid) = store.connection_id() {
            let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
            let mut conn = conn;
            conn.execute(
                "UPDATE engine_lease SET backend_pids = array_append(backend_pids, $1) WHERE id = 1 AND epoch = $2",
                &[&pid, &self.epoch],
            )
            .map_err(|e| describe(&self.location, e, true))?;
        }
        Ok(())
    }

    /// Record the rules version in force in this process (for `status`).
    pub fn set_rules_version(&self, version: &str) {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = conn.execute(
            "UPDATE engine_processes SET rules_version = $1, last_seen = now() WHERE key = $2",
            &[&version, &self.me.key],
        ) {
            tracing::debug!("rules version {version} not recorded for status: {e}");
        }
    }

    /// Whether a renewal found the lease taken, or could not be made.
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Whether this process still holds the lease: its renewals go through,
    /// and the row still has its epoch.
    pub fn still_held(&self) -> bool {
        if self.lost.load(Ordering::SeqCst) {
            return false;
        }
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        match conn.query_one("SELECT epoch FROM engine_lease WHERE id = 1", &[]).and_then(|r| r.try_get::<_, i64>(0)) {
            Ok(e) if e == self.epoch => true,
            _ => {
                self.lost.store(true, Ordering::SeqCst);
                false
            }
        }
    }

    /// The error that says this process lost the lease, and to whom (read
    /// on a new connection: this one may have been ended).
    pub fn lost_error(&self) -> Error {
        let now = connect(&self.settings)
            .ok()
            .and_then(|mut c| c.query_one(LEASE_SELECT, &[]).ok().and_then(|r| lease_row(&r).ok()));
        match now {
            Some(row) if row.epoch != self.epoch => {
                Error::LeaseLost { holder: row.holder.unwrap_or_else(|| "another process".into()), epoch: row.epoch }
            }
            _ => Error::LeaseLost { holder: "another process".into(), epoch: self.epoch + 1 },
        }
    }

    /// Let the lease go: the next standby takes over at once. Nothing is
    /// said when it was lost already.
    pub fn release(mut self) -> Result<()> {
        self.release_now()
    }

    fn release_now(&mut self) -> Result<()> {
        let Some((tx, handle)) = self.renewer.take() else { return Ok(()) };
        drop(tx);
        let _ = handle.join();
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let err = |e: postgres::Error| describe(&self.location, e, true);
        let mut tx = conn.transaction().map_err(err)?;
        let n = tx
            .execute(
                "UPDATE engine_lease SET released_at = now(), expires_at = now() WHERE id = 1 AND epoch = $1",
                &[&self.epoch],
            )
            .map_err(err)?;
        if n == 1 {
            tx.execute("SELECT pg_notify($1, $2)", &[&schema::LEASE_CHANNEL, &format!("released {}", self.epoch)])
                .map_err(err)?;
        }
        tx.execute("DELETE FROM engine_processes WHERE key = $1", &[&self.me.key]).map_err(err)?;
        tx.commit().map_err(err)?;
        conn.execute("SELECT pg_advisory_unlock_all()", &[]).map_err(err)?;
        Ok(())
    }
}

impl Drop for EngineLease {
    fn drop(&mut self) {
        if let Err(e) = self.release_now() {
            tracing::debug!("the engine lease was not released cleanly: {e}");
        }
    }
}

/// Renew every third of the lease until told to stop; a renewal that finds
/// another epoch, or fails, marks the lease lost and ends.
fn renew_loop(
    conn: &Mutex<Client>,
    epoch: i64,
    length: Duration,
    key: &str,
    rx: &mpsc::Receiver<()>,
    lost: &AtomicBool,
) {
    loop {
        match rx.recv_timeout(length / 3) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        let mut c = conn.lock().unwrap_or_else(|p| p.into_inner());
        let renewed = c.execute(
            "UPDATE engine_lease SET renewed_at = now(), expires_at = now() + $2 * interval '1 second' \
             WHERE id = 1 AND epoch = $1 AND released_at IS NULL",
            &[&epoch, &seconds(length)],
        );
        let _ = c.execute("UPDATE engine_processes SET last_seen = now() WHERE key = $1", &[&key]);
        match renewed {
            Ok(1) => {}
            other => {
                tracing::debug!("the engine lease of epoch {epoch} is lost: {other:?}");
                lost.store(true, Ordering::SeqCst);
                return;
            }
        }
    }
}
