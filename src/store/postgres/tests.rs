//! What the backend-generic suite cannot say: opening, migrating, errors in
//! the user's terms, and several connections (processes) on one database.
//! Each test gets a database of its own on the server `DEALFLOW_TEST_PG`
//! names, and is skipped (saying so) without one; the first two need no server.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};

use super::*;
use crate::model::{NewTask, Priority, RuleRef, Subject};
use crate::store::backend::Backend;
use crate::store::suite::pg::TestDatabase;
use postgres::NoTls;

fn open(db: &TestDatabase) -> Postgres {
    Postgres::connect(&db.config).unwrap()
}

fn new_task(key: &str) -> NewTask {
    NewTask {
        role: "sales_rep".into(),
        assignee: None,
        title: key.into(),
        priority: Priority::Normal,
        due_at: "2026-11-10".into(),
        subject: Subject::new("deal", "D"),
        rule: RuleRef { file: "rules/t.rhai".into(), function: "task_x".into() },
        reason: "because".into(),
        dedup_key: key.into(),
    }
}

#[test]
fn a_server_that_does_not_answer_is_a_clear_error() {
    // Port 1 on loopback: nothing listens there.
    let err = Postgres::open("postgres://dealflow@127.0.0.1:1/dealflow?connect_timeout=2").err().unwrap();
    assert!(matches!(&err, Error::Store { kind: StoreErrorKind::Unreachable, .. }), "{err:?}");
    let err = err.to_string();
    assert!(
        err.starts_with("database postgres://dealflow@127.0.0.1:1/dealflow: cannot reach the PostgreSQL server"),
        "{err}"
    );
    assert!(err.contains("is it running, and does the URL name its host and port?"), "{err}");
}

#[test]
fn a_url_that_is_not_one_says_how_to_write_it_and_a_password_is_never_shown() {
    let err = Postgres::open("postgres://a@b:notaport/db").err().unwrap().to_string();
    assert!(err.contains("write it as postgres://USER@HOST:PORT/DATABASE"), "{err}");
    let config: postgres::Config = "postgres://ana:s3cret@db.example:6543/sales".parse().unwrap();
    assert_eq!(redacted(&config), "postgres://ana@db.example:6543/sales");
}

#[test]
fn opens_migrates_once_and_is_sound() {
    let Some(db) = TestDatabase::create() else { return };
    let store = open(&db);
    assert_eq!(store.integrity_check().unwrap(), "ok");
    drop(store);
    let store = open(&db);
    let versions: Vec<i64> = store.all("SELECT version FROM schema_version", &[], |r| r.try_get(0)).unwrap();
    assert_eq!(versions, [schema::latest()]);
}

#[test]
fn several_processes_opening_a_new_database_at_once_migrate_it_once() {
    let Some(db) = TestDatabase::create() else { return };
    let start = Arc::new(Barrier::new(6));
    let openers: Vec<_> = (0..6)
        .map(|_| {
            let (config, start) = (db.config.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                Postgres::connect(&config).map(drop)
            })
        })
        .collect();
    for opener in openers {
        opener.join().unwrap().unwrap();
    }
    let versions: Vec<i64> = open(&db).all("SELECT version FROM schema_version", &[], |r| r.try_get(0)).unwrap();
    assert_eq!(versions, [schema::latest()]);
}

#[test]
fn a_database_from_a_newer_dealflow_is_refused_and_left_alone() {
    let Some(db) = TestDatabase::create() else { return };
    let store = open(&db);
    let newer = schema::latest() + 1;
    store.exec("UPDATE schema_version SET version = $1", &[&newer]).unwrap();
    drop(store);
    let err = Postgres::connect(&db.config).err().unwrap();
    assert!(matches!(&err, Error::Store { kind: StoreErrorKind::Schema, .. }), "{err:?}");
    assert!(err.to_string().contains(&format!("schema is version {newer}, newer than this dealflow knows")), "{err}");
    let mut client = db.config.connect(NoTls).unwrap();
    let version: i64 = client.query_one("SELECT version FROM schema_version", &[]).unwrap().get(0);
    assert_eq!(version, newer);
}

#[test]
fn a_database_that_does_not_exist_says_to_create_it() {
    let Some(db) = TestDatabase::create() else { return };
    let mut config = db.config.clone();
    config.dbname("dealflow_no_such_database");
    let err = Postgres::connect(&config).err().unwrap();
    assert!(matches!(&err, Error::Store { kind: StoreErrorKind::CannotOpen, .. }), "{err:?}");
    let err = err.to_string();
    assert!(err.contains("\"dealflow_no_such_database\" does not exist: create it first"), "{err}");
}

/// PostgreSQL answers `COMMIT` in a transaction where a statement failed with
/// a rollback, not an error: the unit's commit must say it failed.
#[test]
fn a_unit_in_which_a_write_failed_does_not_commit_silently() {
    let Some(db) = TestDatabase::create() else { return };
    let store = open(&db);
    store.begin_unit().unwrap();
    store.set_meta("k", "kept?").unwrap();
    // A CHECK the table has and the engine never breaks.
    assert!(store.exec("UPDATE change_clock SET n = n + 'x'::INT", &[]).is_err());
    let err = store.commit_unit().unwrap_err().to_string();
    assert!(err.contains("a write of this unit of work failed"), "{err}");
    assert!(!store.in_unit());
    assert_eq!(store.meta("k").unwrap(), None);
    // A nested unit undoes its failure, and the unit commits.
    store.begin_unit().unwrap();
    store.set_meta("k", "kept").unwrap();
    store.begin_nested().unwrap();
    assert!(store.exec("UPDATE change_clock SET n = n + 'x'::INT", &[]).is_err());
    store.rollback_nested().unwrap();
    store.commit_unit().unwrap();
    assert_eq!(store.meta("k").unwrap().as_deref(), Some("kept"));
}

#[test]
fn a_connection_lost_is_an_error_that_says_so_and_nothing_half_done_is_kept() {
    let Some(db) = TestDatabase::create() else { return };
    let store = open(&db);
    let pid: i32 = store.one("SELECT pg_backend_pid()", &[], |r| r.try_get(0)).unwrap().unwrap();
    store.begin_unit().unwrap();
    store.set_meta("k", "half").unwrap();
    let mut admin = db.config.connect(NoTls).unwrap();
    admin.execute("SELECT pg_terminate_backend($1)", &[&pid]).unwrap();
    // The server's last words may or may not have arrived before the next
    // statement finds the connection closed: either way the error says what happened.
    let err = store.set_meta("k2", "after").unwrap_err();
    assert!(matches!(&err, Error::Store { kind: StoreErrorKind::Unreachable, .. }), "{err:?}");
    let err = err.to_string();
    let said = [
        "the server ended the connection (terminating connection due to administrator command)",
        "the connection to the server was lost",
    ];
    assert!(said.iter().any(|s| err.contains(s)), "{err}");
    assert!(err.contains("nothing of the unit in progress was kept"), "{err}");
    let err = store.set_meta("k3", "later").unwrap_err().to_string();
    assert!(err.contains("the connection to the server was lost"), "{err}");
    assert!(store.commit_unit().is_err());
    let again = open(&db);
    assert_eq!(again.meta("k").unwrap(), None, "nothing of the unit was kept");
    // Outside a unit, the lost connection is made again: the store goes on.
    assert_eq!(store.meta("k").unwrap(), None);
    store.begin_unit().unwrap();
    store.set_meta("k", "after the loss").unwrap();
    store.commit_unit().unwrap();
    assert_eq!(again.meta("k").unwrap().as_deref(), Some("after the loss"));
}

/// Four workers claim in batches from their own connections while a fifth
/// creates the tasks: every task is claimed once, none twice, none lost.
#[test]
fn workers_on_their_own_connections_claim_every_task_once() {
    let Some(db) = TestDatabase::create() else { return };
    const TASKS: usize = 600;
    let creator = open(&db);
    let done = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (config, done) = (db.config.clone(), done.clone());
            std::thread::spawn(move || {
                let store = Postgres::connect(&config).unwrap();
                let who = format!("worker-{w}");
                let mut mine = Vec::new();
                loop {
                    let finished = done.load(Ordering::SeqCst);
                    let batch = store.claim_up_to("sales_rep", &who, "2026-11-01T09:00:00Z", None, 7).unwrap();
                    assert!(batch.iter().all(|t| t.claimed_by.as_deref() == Some(who.as_str())));
                    if batch.is_empty() && finished {
                        return mine;
                    }
                    mine.extend(batch.into_iter().map(|t| t.id));
                }
            })
        })
        .collect();
    for chunk in 0..TASKS / 50 {
        creator.begin_unit().unwrap();
        for i in 0..50 {
            creator.create_task(&new_task(&format!("k{chunk}-{i}")), "v", "e", "t").unwrap().unwrap();
        }
        creator.commit_unit().unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.join().unwrap());
    }
    let distinct: HashSet<i64> = all.iter().copied().collect();
    assert_eq!(distinct.len(), all.len(), "a task was claimed twice");
    assert_eq!(distinct, (1..=TASKS as i64).collect::<HashSet<_>>(), "every task is claimed");
    let open_left: i64 =
        creator.one("SELECT COUNT(*) FROM tasks WHERE status <> 'claimed'", &[], |r| r.try_get(0)).unwrap().unwrap();
    assert_eq!(open_left, 0);
    let loads: i64 = creator.one("SELECT SUM(open)::BIGINT FROM task_load", &[], |r| r.try_get(0)).unwrap().unwrap();
    assert_eq!(loads, TASKS as i64, "the load counts each claim once");
}

/// Two writers creating tasks at once take ids one after the other, with no
/// gap and no id twice (ids are the highest plus one, under a lock).
#[test]
fn writers_creating_tasks_at_once_take_distinct_ids_without_gaps() {
    let Some(db) = TestDatabase::create() else { return };
    let start = Arc::new(Barrier::new(3));
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let (config, start) = (db.config.clone(), start.clone());
            std::thread::spawn(move || {
                let store = Postgres::connect(&config).unwrap();
                start.wait();
                let mut ids = Vec::new();
                for unit in 0..10 {
                    store.begin_unit().unwrap();
                    for i in 0..5 {
                        ids.push(
                            store.create_task(&new_task(&format!("w{w}-{unit}-{i}")), "v", "e", "t").unwrap().unwrap(),
                        );
                    }
                    store.commit_unit().unwrap();
                }
                ids
            })
        })
        .collect();
    let mut all: Vec<i64> = writers.into_iter().flat_map(|w| w.join().unwrap()).collect();
    all.sort();
    assert_eq!(all, (1..=150).collect::<Vec<i64>>());
}

/// A unit holds another process's unit off until it ends (as SQLite's write
/// lock does), while claims from other connections go on.
#[test]
fn a_unit_holds_other_units_off_until_it_ends_and_claims_go_on() {
    let Some(db) = TestDatabase::create() else { return };
    let first = open(&db);
    first.create_task(&new_task("k"), "v", "e", "t").unwrap();
    first.begin_unit().unwrap();
    first.set_meta("k", "first").unwrap();
    let (config, began) = (db.config.clone(), Arc::new(AtomicBool::new(false)));
    let ready = Arc::new(Barrier::new(2));
    let second = {
        let (began, ready) = (began.clone(), ready.clone());
        std::thread::spawn(move || {
            let second = Postgres::connect(&config).unwrap();
            ready.wait();
            second.begin_unit().unwrap();
            began.store(true, Ordering::SeqCst);
            let seen = second.meta("k").unwrap();
            second.set_meta("k", "second").unwrap();
            second.commit_unit().unwrap();
            seen
        })
    };
    let worker = open(&db);
    let claimed = worker.claim_up_to("sales_rep", "Ana", "2026-11-01T09:00:00Z", None, 1).unwrap();
    assert_eq!(claimed.len(), 1, "a claim does not wait for the unit");
    ready.wait();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(!began.load(Ordering::SeqCst), "the second unit waits for the first");
    first.commit_unit().unwrap();
    assert_eq!(second.join().unwrap().as_deref(), Some("first"), "the second unit began after the first committed");
    assert_eq!(first.meta("k").unwrap().as_deref(), Some("second"));
}

/// A role that may only read opens a database already migrated, reads it,
/// and is told, in dealflow's words, when it tries to write.
#[test]
fn a_role_that_may_only_read_opens_reads_and_is_told_why_it_cannot_write() {
    let Some(db) = TestDatabase::create() else { return };
    let owner = open(&db);
    owner.set_meta("k", "v").unwrap();
    let role = format!("reader_{}", db.config.get_dbname().unwrap_or_default());
    let dbname = db.config.get_dbname().unwrap_or_default().to_string();
    let mut admin = db.config.connect(NoTls).unwrap();
    admin
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN; GRANT CONNECT ON DATABASE {dbname} TO {role};
             GRANT USAGE ON SCHEMA public TO {role}; GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role};"
        ))
        .unwrap();
    let mut config = db.config.clone();
    config.user(&role);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let reader = Postgres::connect(&config).unwrap();
        assert_eq!(reader.meta("k").unwrap().as_deref(), Some("v"));
        let err = reader.set_meta("k", "w").unwrap_err();
        assert!(matches!(&err, Error::Store { kind: StoreErrorKind::ReadOnly, .. }), "{err:?}");
        assert!(err.to_string().contains("the database refused a write (permission denied for table meta)"), "{err}");
    }));
    drop(owner);
    admin.batch_execute(&format!("DROP OWNED BY {role}; DROP ROLE {role}")).unwrap();
    if let Err(e) = outcome {
        std::panic::resume_unwind(e);
    }
}

/// With a busy timeout, a unit waits that long for another process's, then
/// says the database is busy; without one it waits (see the test above).
#[test]
fn a_unit_waits_up_to_the_busy_timeout_and_no_longer() {
    let Some(db) = TestDatabase::create() else { return };
    let holder = open(&db);
    let hasty = open(&db);
    hasty.set_busy_timeout(std::time::Duration::from_millis(100)).unwrap();
    holder.begin_unit().unwrap();
    let started = std::time::Instant::now();
    let err = hasty.begin_unit().unwrap_err();
    assert!(matches!(&err, Error::Busy { .. }), "{err:?}");
    assert!(err.to_string().contains("another process is writing to the database (waited 100 ms)"), "{err}");
    assert!((100..2000).contains(&started.elapsed().as_millis()), "{:?}", started.elapsed());
    assert!(!hasty.in_unit());
    holder.commit_unit().unwrap();
    hasty.begin_unit().unwrap();
    hasty.set_meta("k", "v").unwrap();
    hasty.commit_unit().unwrap();
}

/// The server's own TLS certificate authority, when it speaks TLS: `.ci/pg-cluster`
/// puts `root.crt` beside the certificate it gives the server (`None`: said so).
fn server_authority(db: &TestDatabase) -> Option<std::path::PathBuf> {
    let mut client = db.config.connect(postgres::NoTls).unwrap();
    let on: String = client.query_one("SHOW ssl", &[]).unwrap().get(0);
    let cert: String = client.query_one("SHOW ssl_cert_file", &[]).unwrap().get(0);
    let root = std::path::Path::new(&cert).with_file_name("root.crt");
    if on != "on" || !root.is_file() {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: the PostgreSQL server does not speak TLS with a root.crt beside its certificate (.ci/pg-cluster makes one where openssl is installed)"
        );
        return None;
    }
    Some(root)
}

/// The URL of `db` with `query` (sslmode and the like) after it.
fn url_of(db: &TestDatabase, query: &str) -> String {
    let location = redacted(&db.config);
    format!("{location}?{query}")
}

/// Whether the connection of `store` is encrypted, as the server sees it.
fn encrypted(store: &Postgres) -> bool {
    store.client.borrow_mut().query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]).unwrap().get(0)
}

#[test]
fn tls_as_libpq_has_it_encrypted_by_default_and_checked_when_asked() {
    let Some(db) = TestDatabase::create() else { return };
    let Some(root) = server_authority(&db) else { return };
    // prefer (the default) and require: encrypted, the certificate not checked.
    assert!(encrypted(&Postgres::open(&url_of(&db, "")).unwrap()), "the default is TLS where the server offers it");
    assert!(encrypted(&Postgres::open(&url_of(&db, "sslmode=require")).unwrap()));
    assert!(!encrypted(&Postgres::open(&url_of(&db, "sslmode=disable")).unwrap()), "disable means plain TCP");
    // verify-full with the server's authority: checked, and encrypted.
    let checked = format!("sslmode=verify-full&sslrootcert={}", root.display());
    assert!(encrypted(&Postgres::open(&url_of(&db, &checked)).unwrap()));
    // verify-ca checks the chain, not the name: a name the certificate does not carry passes.
    let mut by_name = db.config.clone();
    by_name.host("localhost");
    let localhost = format!("{}?sslmode=verify-ca&sslrootcert={}", redacted(&by_name), root.display());
    assert!(encrypted(&Postgres::open(&localhost).unwrap()));
    // verify-full against the system's authorities: the test authority is not one of them.
    let err = Postgres::open(&url_of(&db, "sslmode=verify-full")).err().expect("an unknown authority is refused");
    let said = err.to_string();
    assert!(
        said.contains("the TLS handshake with the server failed") && said.contains("UnknownIssuer")
            || said.contains("no trusted certificate authorities"),
        "{said}"
    );
}

#[test]
fn a_worker_waiting_for_tasks_is_woken_by_the_commit_that_makes_them_and_not_before() {
    let Some(db) = TestDatabase::create() else { return };
    let (worker, engine) = (open(&db), open(&db));
    // The first call starts listening and says to look.
    assert!(worker.wait_for_tasks(std::time::Duration::ZERO).unwrap());
    // A commit that makes no task wakes nobody.
    engine.begin_unit().unwrap();
    engine.commit().unwrap();
    assert!(!worker.wait_for_tasks(std::time::Duration::from_millis(200)).unwrap(), "woken by a commit without tasks");
    // A task made in a unit not yet committed wakes nobody either.
    engine.begin_unit().unwrap();
    engine.create_task(&new_task("k1"), "v", "e", "t").unwrap().unwrap();
    assert!(!worker.wait_for_tasks(std::time::Duration::from_millis(200)).unwrap(), "woken before the commit");
    // Its commit does (within the 30 s the worker waits; at once in practice).
    let (tx, rx) = std::sync::mpsc::channel();
    let waiting = std::thread::spawn(move || {
        tx.send(()).unwrap();
        worker.wait_for_tasks(std::time::Duration::from_secs(30)).unwrap()
    });
    rx.recv().unwrap();
    engine.commit().unwrap();
    assert!(waiting.join().unwrap(), "the commit that made a task woke the worker");
}

// ---- the engine lease ----

fn take_lease(db: &TestDatabase, name: &str, length: std::time::Duration) -> lease::EngineLease {
    let stop = AtomicBool::new(false);
    lease::EngineLease::take(&db.config.clone().into(), lease::Me::new(name, None), length, &stop, &mut |_| {})
        .unwrap()
        .unwrap()
}

fn tasks_kept(db: &TestDatabase) -> Vec<String> {
    let mut admin = db.config.connect(NoTls).unwrap();
    admin.query("SELECT dedup_key FROM tasks ORDER BY id", &[]).unwrap().iter().map(|r| r.get(0)).collect()
}

/// A process whose lease was taken over carries on with a connection that
/// is still alive (only its lease's session ended, as in a network cut of
/// that one connection): its units are refused, nothing of them is kept.
/// Without the fence the same connection writes (the last part shows it),
/// so this test fails without it.
#[test]
fn a_unit_fenced_with_an_old_epoch_cannot_commit_after_another_took_the_lease() {
    let Some(db) = TestDatabase::create() else { return };
    let length = std::time::Duration::from_secs(60);
    let a = take_lease(&db, "engine-a", length);
    assert_eq!(a.epoch(), 1);
    let engine_a = open(&db);
    a.adopt(&engine_a).unwrap();
    engine_a.begin_unit().unwrap();
    engine_a.create_task(&new_task("a-1"), "v1", "e1", "2026-11-02T09:00:00Z").unwrap();
    engine_a.commit().unwrap();

    // A's lease session ends; B, waiting on the lock, takes over.
    let mut admin = db.config.connect(NoTls).unwrap();
    admin.execute("SELECT pg_terminate_backend(backend_pid) FROM engine_lease WHERE id = 1", &[]).unwrap();
    let b = take_lease(&db, "engine-b", length);
    assert_eq!(b.epoch(), 2);
    assert!(!a.still_held(), "A must know it lost the lease");

    let err = engine_a.begin_unit().unwrap_err();
    assert!(matches!(&err, Error::LeaseLost { epoch: 2, .. }), "{err:?}");
    let said = err.to_string();
    assert!(said.starts_with("another process (engine-b on "), "{said}");
    assert!(
        said.ends_with("took over as the engine (epoch 2); this one stops applying: nothing of its unit was kept"),
        "{said}"
    );
    assert!(!engine_a.in_unit(), "the refused unit is not left open");
    // A write outside a unit is a unit of its own: refused too.
    let err = engine_a.create_task(&new_task("a-2"), "v1", "e2", "2026-11-02T09:00:00Z").unwrap_err();
    assert!(matches!(err, Error::LeaseLost { .. }), "{err:?}");
    assert_eq!(tasks_kept(&db), ["a-1"], "nothing of A after the takeover");
    // B, fenced with the new epoch, writes.
    let engine_b = open(&db);
    b.adopt(&engine_b).unwrap();
    engine_b.create_task(&new_task("b-1"), "v1", "e3", "2026-11-02T09:00:00Z").unwrap();
    assert_eq!(tasks_kept(&db), ["a-1", "b-1"]);
    // What the fence stops: the same connection without it writes.
    engine_a.set_fence(None, length).unwrap();
    engine_a.create_task(&new_task("a-3"), "v1", "e4", "2026-11-02T09:00:00Z").unwrap();
    assert_eq!(tasks_kept(&db), ["a-1", "b-1", "a-3"]);
}

/// A unit that began under the lease holds a takeover off until it ends
/// (`FOR KEY SHARE` against the takeover's `FOR UPDATE`): it commits, and
/// the takeover comes after it, never in its middle.
#[test]
fn a_takeover_waits_for_the_unit_in_progress_to_end() {
    let Some(db) = TestDatabase::create() else { return };
    let length = std::time::Duration::from_secs(60);
    let a = take_lease(&db, "engine-a", length);
    let engine_a = open(&db);
    a.adopt(&engine_a).unwrap();
    engine_a.begin_unit().unwrap();
    engine_a.create_task(&new_task("a-1"), "v1", "e1", "2026-11-02T09:00:00Z").unwrap();
    let mut admin = db.config.connect(NoTls).unwrap();
    admin.execute("SELECT pg_terminate_backend(backend_pid) FROM engine_lease WHERE id = 1", &[]).unwrap();
    let taker = {
        let config = db.config.clone();
        std::thread::spawn(move || {
            let stop = AtomicBool::new(false);
            let b = lease::EngineLease::take(
                &config.clone().into(),
                lease::Me::new("engine-b", None),
                length,
                &stop,
                &mut |_| {},
            )
            .unwrap()
            .unwrap();
            let epoch = b.epoch();
            drop(b);
            epoch
        })
    };
    // B has the advisory lock and waits on the row for A's unit (seen in pg_locks, not guessed by a sleep).
    loop {
        let waiting: bool = admin
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
                 AND query LIKE '%FROM engine_lease WHERE id = 1 FOR UPDATE%')",
                &[],
            )
            .unwrap()
            .get(0);
        if waiting {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    engine_a.commit().expect("A's unit began under its lease: it commits");
    assert_eq!(taker.join().unwrap(), 2);
    assert_eq!(tasks_kept(&db), ["a-1"]);
    assert!(matches!(engine_a.begin_unit().unwrap_err(), Error::LeaseLost { .. }));
}

/// A holder that stalls keeps its session and the lock, and stops renewing:
/// once its lease has expired, a standby ends its connections and takes
/// over. (A connection plays the stalled holder: it holds the lock, and its
/// lease expires in a moment.) Without the expiry check the standby would
/// wait for ever.
#[test]
fn a_standby_ends_a_stalled_holder_once_its_lease_expired() {
    let Some(db) = TestDatabase::create() else { return };
    drop(open(&db));
    let mut stalled = db.config.connect(NoTls).unwrap();
    stalled.execute("SELECT pg_advisory_lock($1)", &[&schema::LEASE_LOCK]).unwrap();
    stalled
        .execute(
            "UPDATE engine_lease SET epoch = 7, holder = 'watch on elsewhere pid 1', backend_pid = pg_backend_pid(), \
             backend_pids = ARRAY[pg_backend_pid()], taken_at = now(), renewed_at = now(), \
             expires_at = now() + interval '300 milliseconds' WHERE id = 1",
            &[],
        )
        .unwrap();
    let stop = AtomicBool::new(false);
    let mut seen = Vec::new();
    let b = lease::EngineLease::take(
        &db.config.clone().into(),
        lease::Me::new("engine-b", None),
        std::time::Duration::from_secs(60),
        &stop,
        &mut |row| seen.push((row.holder.clone(), row.epoch)),
    )
    .unwrap()
    .unwrap();
    assert_eq!(b.epoch(), 8);
    assert_eq!(seen, [(Some("watch on elsewhere pid 1".to_string()), 7)], "the standby says who it waits for, once");
    assert!(stalled.execute("SELECT 1", &[]).is_err(), "the stalled holder's connection was ended");
}

/// A standby waiting for the lock stops at once when told to.
#[test]
fn a_standby_stops_waiting_when_told() {
    let Some(db) = TestDatabase::create() else { return };
    let a = take_lease(&db, "engine-a", std::time::Duration::from_secs(60));
    let stop = Arc::new(AtomicBool::new(false));
    let waiter = {
        let (config, stop) = (db.config.clone(), stop.clone());
        std::thread::spawn(move || {
            lease::EngineLease::take(
                &config.clone().into(),
                lease::Me::new("engine-b", None),
                std::time::Duration::from_secs(60),
                &stop,
                &mut |_| {},
            )
            .map(|l| l.is_none())
        })
    };
    let mut admin = db.config.connect(NoTls).unwrap();
    while admin.query_one("SELECT count(*) FROM engine_processes WHERE role = 'standby'", &[]).unwrap().get::<_, i64>(0)
        == 0
    {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    stop.store(true, Ordering::SeqCst);
    assert!(waiter.join().unwrap().unwrap(), "stopped, without the lease");
    assert!(a.still_held());
    let left: i64 = admin.query_one("SELECT count(*) FROM engine_processes", &[]).unwrap().get(0);
    assert_eq!(left, 1, "the standby's row is gone");
    a.release().unwrap();
    let row = open(&db).engine_lease().unwrap().unwrap();
    assert!(!row.held && row.released_at.is_some(), "{row:?}");
}
