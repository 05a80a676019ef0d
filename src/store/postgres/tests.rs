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
