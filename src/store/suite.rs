//! One test suite for every backend: each test is a function of a fresh
//! [`Store`], and [`backend_suite!`] runs all of them against one backend
//! (SQLite and in memory below; a new backend adds one line). What a backend
//! must do is what these tests say, so two backends cannot drift apart
//! unseen.

use crate::model::{NewTask, Priority, RuleRef, Subject, Task};
use crate::store::{Store, TaskStatus};

/// Run every test of the suite against the backend `$open()` gives (a
/// `(guard, Store)` pair: the guard keeps what the store lives in, a temporary folder, say).
macro_rules! backend_suite {
    ($backend:ident, $open:path) => {
        mod $backend {
            backend_suite!(@tests $open;
                dedup_key_creates_once_and_claim_takes_most_urgent,
                a_batch_takes_the_most_urgent_in_order_and_no_more_than_asked,
                the_load_follows_every_change_of_a_task,
                closing_twice_says_why,
                a_lapsed_claim_goes_back_where_it_was_and_says_who_had_it,
                kept_rows_follow_the_units_and_their_rollbacks,
            );
        }
    };
    (@tests $open:path; $($test:ident,)*) => {
        $(
            #[test]
            fn $test() {
                let (_guard, store) = $open();
                super::$test(&store);
            }
        )*
    };
}

fn sqlite() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("t.db"), std::time::Duration::from_secs(1)).unwrap();
    (dir, store)
}

fn memory() -> ((), Store) {
    ((), Store::memory())
}

backend_suite!(on_sqlite, super::sqlite);
backend_suite!(on_memory, super::memory);

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

fn dedup_key_creates_once_and_claim_takes_most_urgent(s: &Store) {
    let now = "2026-01-01T00:00:00Z";
    assert!(s.create_task(&task("later", Priority::Normal, "2026-02-01", "a"), "v", "e", now).unwrap().is_some());
    assert!(s.create_task(&task("again", Priority::Normal, "2026-02-01", "a"), "v", "e", now).unwrap().is_none());
    assert!(s.task_key_exists("a").unwrap() && !s.task_key_exists("z").unwrap());
    s.create_task(&task("soon", Priority::Normal, "2026-01-05", "b"), "v", "e", now).unwrap();
    s.create_task(&task("urgent", Priority::Urgent, "2026-03-01", "c"), "v", "e", now).unwrap();
    let order: Vec<String> =
        std::iter::from_fn(|| s.claim("sales_rep", "Ana", now, None).unwrap()).map(|t| t.title).collect();
    assert_eq!(order, ["urgent", "soon", "later"]);
    assert!(s.claim("sales_rep", "Ana", now, None).unwrap().is_none());
}

fn a_batch_takes_the_most_urgent_in_order_and_no_more_than_asked(s: &Store) {
    let now = "2026-01-01T00:00:00Z";
    for (i, p) in
        [Priority::Low, Priority::Urgent, Priority::Normal, Priority::Urgent, Priority::High].iter().enumerate()
    {
        s.create_task(&task(&format!("{p:?} {i}"), *p, &format!("2026-02-0{}", 5 - i), &i.to_string()), "v", "e", now)
            .unwrap();
    }
    let titles = |v: Vec<Task>| v.into_iter().map(|t| t.title).collect::<Vec<_>>();
    assert_eq!(titles(s.claim_up_to("sales_rep", "Ana", now, None, 3).unwrap()), ["Urgent 3", "Urgent 1", "High 4"]);
    assert_eq!(titles(s.claim_up_to("sales_rep", "Ben", now, None, 5).unwrap()), ["Normal 2", "Low 0"]);
    assert!(s.claim_up_to("sales_rep", "Ben", now, None, 5).unwrap().is_empty());
}

/// Open tasks per person of a role, without the people at zero, by name.
fn load(s: &Store) -> Vec<(String, i64)> {
    let mut v: Vec<(String, i64)> =
        s.open_tasks_per_assignee("sales_rep").unwrap().into_iter().map(|l| (l.who, l.open)).collect();
    v.retain(|(_, n)| *n > 0);
    v.sort();
    v
}

fn the_load_follows_every_change_of_a_task(s: &Store) {
    let mut a = task("a", Priority::Low, "2026-01-01", "a");
    a.assignee = Some("Ana".into());
    let id = s.create_task(&a, "v", "e", "now").unwrap().unwrap();
    s.create_task(&task("b", Priority::Low, "2026-01-01", "b"), "v", "e", "now").unwrap();
    assert_eq!(load(s), [("Ana".to_string(), 1)]);
    let claimed = s.claim("sales_rep", "Ben", "now", None).unwrap().unwrap();
    assert_eq!(load(s), [("Ana".to_string(), 1), ("Ben".to_string(), 1)]);
    s.close_task(claimed.id, TaskStatus::Done, None, None, "now").unwrap();
    s.reassign_task(id, Some("Cy")).unwrap();
    assert_eq!(load(s), [("Cy".to_string(), 1)]);
    s.close_task(id, TaskStatus::Cancelled, None, None, "now").unwrap();
    assert!(load(s).is_empty());
}

fn closing_twice_says_why(s: &Store) {
    let id = s.create_task(&task("x", Priority::Low, "2026-01-01", "k"), "v", "e", "now").unwrap().unwrap();
    assert_eq!(s.close_task(id, TaskStatus::Done, None, Some("called"), "now").unwrap().status, TaskStatus::Done);
    let err = s.close_task(id, TaskStatus::Cancelled, None, None, "now").unwrap_err().to_string();
    assert_eq!(err, format!("task {id} is already done"));
    assert!(s.close_task(999, TaskStatus::Done, None, None, "now").unwrap_err().to_string().contains("no task 999"));
}

fn a_lapsed_claim_goes_back_where_it_was_and_says_who_had_it(s: &Store) {
    let at = |hm: &str| format!("2026-11-02T{hm}:00Z");
    let queue = s.create_task(&task("queue", Priority::Urgent, "2026-11-03", "q"), "v", "e", "t").unwrap().unwrap();
    let mut own = task("own", Priority::Normal, "2026-11-03", "o");
    own.assignee = Some("Ana".into());
    let own = s.create_task(&own, "v", "e", "t").unwrap().unwrap();
    assert_eq!(s.claim("sales_rep", "Ana", &at("10:00"), None).unwrap().unwrap().id, queue);
    assert_eq!(s.claim("sales_rep", "Ana", &at("10:00"), None).unwrap().unwrap().id, own);
    // Within the lease nothing moves.
    assert!(s.claim("sales_rep", "Ben", &at("10:20"), Some(&at("09:50"))).unwrap().is_none());

    // Ana vanished: at 11:00 with a 30-minute lease both claims ran out.
    let taken = s.claim("sales_rep", "Ben", &at("11:00"), Some(&at("10:30"))).unwrap().unwrap();
    assert_eq!((taken.id, taken.assignee.as_deref()), (queue, Some("Ben")), "the queue's task is anyone's again");
    assert_eq!((taken.released_from.as_deref(), taken.released_at), (Some("Ana"), Some(at("11:00"))));
    let back = s.task(own).unwrap().unwrap();
    assert_eq!(
        (back.status, back.assignee.as_deref(), back.claimed_by, back.released_from.as_deref()),
        (TaskStatus::Open, Some("Ana"), None, Some("Ana")),
        "a task assigned to Ana goes back to Ana's queue"
    );
    assert!(s.claim("sales_rep", "Ben", &at("11:00"), Some(&at("10:30"))).unwrap().is_none());
    assert_eq!(load(s), [("Ana".to_string(), 1), ("Ben".to_string(), 1)]);

    // Ana comes back: the task Ben took is his; the one nobody took she may still finish.
    let held = s.close_task_as(queue, TaskStatus::Done, Some("Ana"), None, &at("11:05")).unwrap().unwrap_err();
    assert_eq!((held.status, held.claimed_by.as_deref()), (TaskStatus::Claimed, Some("Ben")));
    let done = s.close_task_as(own, TaskStatus::Done, Some("Ana"), Some("called"), &at("11:05")).unwrap().unwrap();
    assert_eq!((done.status, done.claimed_by.as_deref()), (TaskStatus::Done, Some("Ana")));
    assert_eq!(
        s.close_task_as(queue, TaskStatus::Done, Some("Ben"), None, &at("11:10")).unwrap().unwrap().status,
        TaskStatus::Done
    );
    let err = s.close_task_as(queue, TaskStatus::Done, Some("Ben"), None, &at("11:10")).unwrap_err().to_string();
    assert_eq!(err, format!("task {queue} is already done"));
    assert!(load(s).is_empty());
}

fn owner(store: &Store, id: &str) -> Option<String> {
    store.account(id).unwrap().unwrap().owner
}

/// The working set serves its unit's own writes, and forgets what a rolled
/// back unit (or nested unit, or a unit dropped uncommitted) wrote.
fn kept_rows_follow_the_units_and_their_rollbacks(s: &Store) {
    use crate::model::Account;
    let mut a = Account { id: "A".into(), created_at: "t0".into(), owner: Some("Ana".into()), ..Account::default() };
    let unit = s.begin().unwrap();
    s.save_account(&a, "t").unwrap();
    unit.commit().unwrap();
    assert_eq!(owner(s, "A").as_deref(), Some("Ana"));

    let unit = s.begin().unwrap();
    a.owner = Some("Ben".into());
    s.save_account(&a, "t1").unwrap();
    assert_eq!(owner(s, "A").as_deref(), Some("Ben"));
    let nested = s.nested().unwrap();
    a.owner = Some("Cy".into());
    s.save_account(&a, "t2").unwrap();
    assert_eq!(owner(s, "A").as_deref(), Some("Cy"));
    nested.rollback().unwrap();
    assert_eq!(owner(s, "A").as_deref(), Some("Ben"));
    {
        let _dropped = s.nested().unwrap();
        a.owner = Some("Dee".into());
        s.save_account(&a, "t3").unwrap();
    }
    assert_eq!(owner(s, "A").as_deref(), Some("Ben"));
    unit.commit().unwrap();
    assert_eq!(owner(s, "A").as_deref(), Some("Ben"));

    {
        let _dropped = s.begin().unwrap();
        a.owner = Some("Eve".into());
        s.save_account(&a, "t4").unwrap();
        assert_eq!(owner(s, "A").as_deref(), Some("Eve"));
    }
    assert_eq!(owner(s, "A").as_deref(), Some("Ben"));
    assert_eq!(s.account("A").unwrap().unwrap().created_at, "t0");
    let unit = s.begin().unwrap();
    a.owner = Some("Fay".into());
    s.save_account(&a, "t5").unwrap();
    unit.rollback().unwrap();
    assert_eq!(owner(s, "A").as_deref(), Some("Ben"));
}
