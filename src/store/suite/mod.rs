//! One test suite for every backend: each test is a function of a fresh
//! [`Store`], and [`backend_suite!`] runs all of them against one backend
//! (SQLite, in memory and PostgreSQL below; a new backend adds one line).
//! PostgreSQL's run on the server `DEALFLOW_TEST_PG` names, a database of
//! their own per test (see `.ci/pg-cluster`); without it each one says
//! `SKIPPED: no PostgreSQL` on stderr and passes. What a backend
//! must do is what these tests say, so two backends cannot drift apart
//! unseen. The SQLite backend is the reference: where the trait's words
//! leave a detail open (an order, a count kept at zero, a time kept on an
//! update), these tests say what SQLite does and the engine relies on.
//!
//! One file per part of the interface: units of work ([`units`]), the
//! state events build ([`state`]), the clock's questions ([`clock`]), the
//! task queues ([`queues`]), assignment and hand-overs ([`assignment`]), the
//! logs ([`logs`]), and the facts after random writes ([`ledger`], a
//! property test, on a fresh store per case). Beside them, [`same_outcome`]
//! ingests the same events into both backends and compares what they hold.

mod access;
mod assignment;
mod clock;
mod deliveries;
mod ledger;
mod logs;
mod notifications;
mod prune;
mod queues;
mod same_outcome;
mod state;
mod units;

use std::any::Any;

use serde_json::{Map, Value, json};

use crate::event::Event;
use crate::model::{Account, Deal, NewTask, Priority, RuleRef, Subject};
use crate::store::Store;

/// Run every test of the suite against the backend `$open()` gives (a
/// `(guard, Store)` pair: the guard keeps what the store lives in, a
/// temporary folder, say). `$other` opens another connection to the same
/// store, as another process would (see [`Opener::other`]); a backend
/// without one leaves it out.
macro_rules! backend_suite {
    ($backend:ident, $open:path) => {
        backend_suite!($backend, $open, super::no_other_connection);
    };
    ($backend:ident, $open:path, $other:path) => {
        mod $backend {
            backend_suite!(@tests $open;
                notifications::a_notification_is_enqueued_once_per_target_and_key,
                notifications::a_claim_holds_what_is_due_until_its_time,
                notifications::an_attempt_ends_sent_failed_given_up_or_postponed,
                notifications::an_enqueue_rolled_back_leaves_nothing,
                notifications::the_cursors_find_tasks_quarantines_and_rejected_lines_after_a_mark,
                queues::dedup_key_creates_once_and_claim_takes_most_urgent,
                queues::a_batch_takes_the_most_urgent_in_order_and_no_more_than_asked,
                queues::a_batch_is_at_least_one_and_at_most_the_cap,
                queues::a_claim_takes_only_its_role_and_what_is_free_or_its_own,
                queues::a_claim_says_who_holds_it_and_since_when,
                queues::the_load_follows_every_change_of_a_task,
                queues::closing_twice_says_why,
                queues::closing_notes_who_when_and_how,
                queues::closing_as_someone_respects_the_claims_of_others,
                queues::a_lapsed_claim_goes_back_where_it_was_and_says_who_had_it,
                queues::lapsed_claims_are_counted_and_only_those_before_the_time,
                queues::cancelling_about_a_subject_takes_only_open_tasks,
                queues::listings_filter_and_put_the_most_urgent_first,
                queues::task_ids_count_up_and_a_key_stays_taken_when_its_task_closes,
                queues::open_work_is_counted_per_role_and_per_holder,
                queues::tasks_due_between_ids_and_times,
                assignment::turns_go_round_per_role_and_region,
                assignment::a_waiting_handover_keeps_its_first_time_for_the_same_role,
                assignment::waiting_handovers_are_listed_oldest_first,
                assignment::queued_tasks_about_a_subject_go_to_one_person,
                assignment::reassigning_moves_the_load,
                assignment::queued_tasks_are_the_open_ones_of_nobody_most_urgent_first,
                assignment::a_task_due_later_moves_back_in_the_queue,
                logs::an_applied_event_is_known_by_id_and_content,
                logs::history_pages_follow_the_order_of_application,
                logs::events_about_a_subject_in_order,
                logs::a_rejected_line_is_kept_once,
                logs::decisions_are_kept_in_order_and_filtered,
                logs::rules_versions_keep_their_first_files_and_their_loads,
                logs::rule_health_is_kept_per_version_updated_and_cleared,
                logs::meta_is_a_map_of_text,
                access::tokens_are_found_by_hash_listed_and_revoked_once,
                access::a_session_lives_until_it_expires_ends_or_its_token_is_revoked,
                state::an_account_round_trips_and_an_update_keeps_its_creation,
                state::accounts_are_listed_short_ids_first_and_counted,
                state::the_last_contact_only_moves_forward,
                state::a_contact_says_what_it_was_before,
                state::a_lead_keeps_its_creation,
                state::a_deal_round_trips_and_says_what_it_was_before,
                state::deals_are_listed_short_ids_first_and_open_ones_oldest_first,
                state::a_deals_life_is_kept_by_every_write_and_read,
                state::an_activity_sent_again_replaces_the_one_stored,
                state::an_order_sent_again_keeps_its_time,
                state::a_contract_or_target_sent_again_replaces_the_one_stored,
                state::the_ledger_rows_of_an_account,
                state::product_revenue_counts_orders_and_won_deals_in_the_window,
                clock::the_sweep_generation_lives_in_meta,
                clock::deals_in_a_stage_carry_the_generation_their_stage_was_set_in,
                clock::quiet_key_accounts_and_their_generation,
                clock::contracts_ending_in_their_window_by_end,
                clock::targets_keep_the_generation_they_were_first_set_in,
                clock::accounts_to_review_by_what_left_the_window_in_the_generations,
                units::a_committed_unit_keeps_every_kind_of_write,
                units::a_rolled_back_unit_undoes_every_kind_of_write,
                units::a_dropped_unit_undoes_every_kind_of_write,
                units::a_nested_unit_rolled_back_is_undone_alone,
                units::a_nested_unit_dropped_is_undone_alone,
                units::a_released_nested_unit_is_kept_only_if_the_unit_commits,
                units::kept_rows_follow_the_units_and_their_rollbacks,
                units::a_task_rolled_back_gives_its_id_again,
                units::a_unit_is_open_until_it_ends_and_own_commits_change_no_token,
                prune::pruning_removes_what_is_older_and_keeps_keys_ids_and_events,
                deliveries::a_delivery_is_stored_once_per_key_and_finished_with_its_reason,
                deliveries::a_delivery_rolled_back_with_its_unit_is_gone,
            );
            backend_suite!(@fresh $open, $other;
                notifications::two_senders_never_take_the_same_notification,
                ledger::ledger_facts_equal_the_facts_defined_from_the_rows,
                units::another_connection_sees_a_unit_only_once_committed,
                deliveries::another_connection_sees_a_delivery_once_stored,
            );
        }
    };
    (@tests $open:path; $($module:ident :: $test:ident,)*) => {
        $(
            #[test]
            fn $test() {
                let Some((_guard, store)) = super::Opened::opened($open()) else { return };
                super::$module::$test(&store);
            }
        )*
    };
    (@fresh $open:path, $other:path; $($module:ident :: $test:ident,)*) => {
        $(
            #[test]
            fn $test() {
                // A backend that is not there (PostgreSQL without a server) skips the test.
                if super::Opened::opened($open()).is_none() {
                    return;
                }
                let fresh = || {
                    let (guard, store) = super::Opened::opened($open()).expect("the backend was there a moment ago");
                    (Box::new(guard) as Box<dyn std::any::Any>, store)
                };
                super::$module::$test(&super::Opener { fresh: &fresh, other: $other });
            }
        )*
    };
}

/// How a test that needs more than one store opens them.
pub(super) struct Opener<'a> {
    /// A fresh store, and what it lives in (drop it after the store).
    pub fresh: &'a dyn Fn() -> (Box<dyn Any>, Store),
    /// Another connection to the same store, as another process would open
    /// it: `None` for a backend nobody else can write (then the tests that
    /// need one test nothing more).
    pub other: fn(&Store) -> Option<Store>,
}

fn sqlite() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("t.db"), std::time::Duration::from_secs(1)).unwrap();
    (dir, store)
}

fn sqlite_again(store: &Store) -> Option<Store> {
    Some(Store::open(store.path(), std::time::Duration::from_secs(1)).unwrap())
}

fn no_other_connection(_: &Store) -> Option<Store> {
    None
}

fn memory() -> ((), Store) {
    ((), Store::memory())
}

/// What a backend's opener gives: a store and its guard, or nothing when the
/// backend cannot run here (then the test says so and passes).
trait Opened {
    type Guard: 'static;
    fn opened(self) -> Option<(Self::Guard, Store)>;
}

impl<G: 'static> Opened for (G, Store) {
    type Guard = G;
    fn opened(self) -> Option<(G, Store)> {
        Some(self)
    }
}

impl<G: 'static> Opened for Option<(G, Store)> {
    type Guard = G;
    fn opened(self) -> Option<(G, Store)> {
        self
    }
}

/// A database of its own on the PostgreSQL server `DEALFLOW_TEST_PG` names
/// (see `.ci/pg-cluster`), dropped with the guard; `None` without a server.
fn postgres() -> Option<(pg::TestDatabase, Store)> {
    let db = pg::TestDatabase::create()?;
    let store = Store::over(Box::new(crate::store::postgres::Postgres::connect(&db.config).unwrap()));
    Some((db, store))
}

/// Another connection to the same PostgreSQL database, as another process would open it.
fn postgres_again(store: &Store) -> Option<Store> {
    let config = pg::TestDatabase::config_for(store)?;
    Some(Store::over(Box::new(crate::store::postgres::Postgres::connect(&config).unwrap())))
}

backend_suite!(on_sqlite, super::sqlite, super::sqlite_again);
backend_suite!(on_memory, super::memory);
backend_suite!(on_postgres, super::postgres, super::postgres_again);

/// Fresh databases on a real PostgreSQL server for the suite.
pub(crate) mod pg {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use crate::store::Store;

    /// The variable naming the server the tests use.
    pub const VAR: &str = "DEALFLOW_TEST_PG";

    /// A database created for one test, dropped (with whatever is still
    /// connected to it) when this is dropped.
    pub struct TestDatabase {
        pub config: postgres::Config,
        admin: postgres::Config,
        name: String,
    }

    /// The server's settings, or `None` (having said so) when the variable is not set.
    fn server() -> Option<postgres::Config> {
        match std::env::var(VAR) {
            Ok(url) if !url.trim().is_empty() => {
                Some(url.parse().unwrap_or_else(|e| panic!("{VAR}={url} is not a PostgreSQL URL: {e}")))
            }
            _ => {
                // Straight to the process's stderr: the test harness captures
                // `eprintln!` of a passing test, and a skip must be seen.
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "SKIPPED: no PostgreSQL (set {VAR}=postgres://USER@HOST:PORT/DB, see .ci/pg-cluster)"
                );
                None
            }
        }
    }

    impl TestDatabase {
        pub fn create() -> Option<TestDatabase> {
            static COUNT: AtomicUsize = AtomicUsize::new(0);
            let admin = server()?;
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
            let name =
                format!("dealflow_test_{}_{}_{nanos}", std::process::id(), COUNT.fetch_add(1, Ordering::Relaxed));
            let mut client = admin
                .connect(postgres::NoTls)
                .unwrap_or_else(|e| panic!("cannot connect to the PostgreSQL server {VAR} names: {e}"));
            client.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
            let mut config = admin.clone();
            config.dbname(&name);
            Some(TestDatabase { config, admin, name })
        }

        /// The settings of the test database `store` is on.
        pub fn config_for(store: &Store) -> Option<postgres::Config> {
            let mut config = server()?;
            let location = store.path().to_string_lossy().into_owned();
            config.dbname(location.rsplit('/').next().unwrap_or_default());
            Some(config)
        }
    }

    impl Drop for TestDatabase {
        fn drop(&mut self) {
            let dropped = self
                .admin
                .connect(postgres::NoTls)
                .and_then(|mut c| c.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)));
            if let Err(e) = dropped {
                eprintln!("could not drop the test database {}: {e}", self.name);
            }
        }
    }
}

// ---- what the tests are made of ----

/// A business time on day `d` of November 2026 at `hm`.
fn at(d: u32, hm: &str) -> String {
    format!("2026-11-{d:02}T{hm}:00Z")
}

fn task(title: &str, priority: Priority, due: &str, key: &str) -> NewTask {
    NewTask {
        role: "sales_rep".into(),
        assignee: None,
        title: title.into(),
        priority,
        due_at: due.into(),
        subject: Subject::new("deal", "D-1"),
        rule: RuleRef { file: "rules/t.rhai".into(), function: "task_x".into() },
        reason: "because".into(),
        dedup_key: key.into(),
    }
}

/// A task of `role` for `assignee` (or the role's queue) about `subject`.
fn task_for(role: &str, assignee: Option<&str>, subject: (&str, &str), key: &str) -> NewTask {
    NewTask {
        role: role.into(),
        assignee: assignee.map(Into::into),
        subject: Subject::new(subject.0, subject.1),
        ..task(key, Priority::Normal, "2026-11-10", key)
    }
}

fn account(id: &str) -> Account {
    Account { id: id.into(), created_at: at(1, "08:00"), ..Account::default() }
}

fn key_account(id: &str, key_since: &str) -> Account {
    Account { is_key: true, key_since: Some(key_since.into()), ..account(id) }
}

fn deal(id: &str, account: &str, stage: &str) -> Deal {
    Deal {
        id: id.into(),
        account_id: account.into(),
        stage: stage.into(),
        stage_entered_at: at(2, "09:00"),
        amount: 100.0,
        created_at: at(2, "09:00"),
        ..Deal::default()
    }
}

fn data(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// An event as a line would give it.
fn event(id: &str, kind: &str, at: &str, data: Value) -> Event {
    let line = json!({"id": id, "type": kind, "at": at, "data": data});
    crate::event::parse_line(&line.to_string(), chrono::Utc::now()).unwrap()
}

/// Open tasks per person of a role, without the people at zero, by name.
fn load(s: &Store) -> Vec<(String, i64)> {
    let mut v: Vec<(String, i64)> =
        s.open_tasks_per_assignee("sales_rep").unwrap().into_iter().map(|l| (l.who, l.open)).collect();
    v.retain(|(_, n)| *n > 0);
    v.sort();
    v
}

/// Write in a unit of its own.
fn committed<T>(s: &Store, write: impl FnOnce() -> T) -> T {
    let unit = s.begin().unwrap();
    let out = write();
    unit.commit().unwrap();
    out
}
