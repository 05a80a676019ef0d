//! The task queues: dedup keys, claims and their batches, leases, closing,
//! cancelling, listings and the counts of open work.

use super::{at, load, task, task_for};
use crate::model::{NewTask, Priority, Subject, Task};
use crate::store::{MAX_CLAIM_BATCH, Store, TaskFilter, TaskStatus};

fn titles(v: Vec<Task>) -> Vec<String> {
    v.into_iter().map(|t| t.title).collect()
}

pub fn dedup_key_creates_once_and_claim_takes_most_urgent(s: &Store) {
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

pub fn a_batch_takes_the_most_urgent_in_order_and_no_more_than_asked(s: &Store) {
    let now = "2026-01-01T00:00:00Z";
    for (i, p) in
        [Priority::Low, Priority::Urgent, Priority::Normal, Priority::Urgent, Priority::High].iter().enumerate()
    {
        s.create_task(&task(&format!("{p:?} {i}"), *p, &format!("2026-02-0{}", 5 - i), &i.to_string()), "v", "e", now)
            .unwrap();
    }
    assert_eq!(titles(s.claim_up_to("sales_rep", "Ana", now, None, 3).unwrap()), ["Urgent 3", "Urgent 1", "High 4"]);
    assert_eq!(titles(s.claim_up_to("sales_rep", "Ben", now, None, 5).unwrap()), ["Normal 2", "Low 0"]);
    assert!(s.claim_up_to("sales_rep", "Ben", now, None, 5).unwrap().is_empty());
}

/// Asking for none takes one; asking for more than the cap takes the cap.
pub fn a_batch_is_at_least_one_and_at_most_the_cap(s: &Store) {
    let now = at(2, "09:00");
    for i in 0..MAX_CLAIM_BATCH + 5 {
        // Equal priority and due: the oldest first.
        s.create_task(&task(&format!("t{i}"), Priority::Normal, "2026-11-05", &format!("k{i}")), "v", "e", &now)
            .unwrap();
    }
    let one = s.claim_up_to("sales_rep", "Ana", &now, None, 0).unwrap();
    assert_eq!(titles(one), ["t0"]);
    let batch = s.claim_up_to("sales_rep", "Ana", &now, None, 10 * MAX_CLAIM_BATCH).unwrap();
    assert_eq!(batch.len(), MAX_CLAIM_BATCH);
    assert_eq!(batch.iter().map(|t| t.id).collect::<Vec<_>>(), (2..=MAX_CLAIM_BATCH as i64 + 1).collect::<Vec<_>>());
    assert_eq!(s.claim_up_to("sales_rep", "Ana", &now, None, 10 * MAX_CLAIM_BATCH).unwrap().len(), 4);
}

/// A task of another role, or assigned to someone else, or already claimed,
/// or closed, is not claimable; one assigned to the claimer is.
pub fn a_claim_takes_only_its_role_and_what_is_free_or_its_own(s: &Store) {
    let now = at(2, "09:00");
    let mine = s.create_task(&task_for("sales_rep", Some("Ana"), ("deal", "D1"), "mine"), "v", "e", &now).unwrap();
    s.create_task(&task_for("sales_rep", Some("Ben"), ("deal", "D1"), "bens"), "v", "e", &now).unwrap();
    s.create_task(&task_for("account_manager", None, ("deal", "D1"), "other role"), "v", "e", &now).unwrap();
    let closed = s.create_task(&task_for("sales_rep", None, ("deal", "D1"), "closed"), "v", "e", &now).unwrap();
    s.close_task(closed.unwrap(), TaskStatus::Done, None, None, &now).unwrap();
    let free = s.create_task(&task_for("sales_rep", None, ("deal", "D1"), "free"), "v", "e", &now).unwrap();
    let taken = s.claim_up_to("sales_rep", "Ana", &now, None, 10).unwrap();
    let mut ids: Vec<i64> = taken.iter().map(|t| t.id).collect();
    ids.sort();
    assert_eq!(ids, [mine.unwrap(), free.unwrap()]);
    assert!(
        s.claim_up_to("sales_rep", "Ana", &now, None, 10).unwrap().is_empty(),
        "a claimed task is not claimed twice"
    );
    assert!(s.claim_up_to("sales_rep", "Cy", &now, None, 10).unwrap().is_empty(), "Ben's task stays Ben's");
    assert_eq!(titles(s.claim_up_to("sales_rep", "Ben", &now, None, 10).unwrap()), ["bens"]);
    assert!(s.claim_up_to("nobody's role", "Ben", &now, None, 10).unwrap().is_empty());
}

pub fn a_claim_says_who_holds_it_and_since_when(s: &Store) {
    let now = at(2, "09:00");
    let id = s.create_task(&task("t", Priority::High, "2026-11-05", "k"), "v9", "ev-1", &at(1, "08:00")).unwrap();
    let claimed = s.claim("sales_rep", "Ana", &now, None).unwrap().unwrap();
    let stored = s.task(id.unwrap()).unwrap().unwrap();
    assert_eq!(format!("{claimed:?}"), format!("{stored:?}"), "a claim returns the task as stored");
    assert_eq!(
        (stored.status, stored.assignee.as_deref(), stored.claimed_by.as_deref(), stored.claimed_at.as_deref()),
        (TaskStatus::Claimed, Some("Ana"), Some("Ana"), Some(now.as_str()))
    );
    let expected = (
        "sales_rep",
        "t",
        Priority::High,
        "2026-11-05",
        Subject::new("deal", "D-1"),
        "rules/t.rhai::task_x",
        "because",
        "v9",
        at(1, "08:00"),
        "ev-1",
        "k",
    );
    let got = (
        stored.role.as_str(),
        stored.title.as_str(),
        stored.priority,
        stored.due_at.as_str(),
        stored.subject.clone(),
        stored.rule.as_str(),
        stored.reason.as_str(),
        stored.rules_version.as_str(),
        stored.created_at.clone(),
        stored.event_id.as_str(),
        stored.dedup_key.as_str(),
    );
    assert_eq!(got, expected);
    assert_eq!((stored.closed_at, stored.outcome, stored.released_from, stored.released_at), (None, None, None, None));
    assert!(s.task(999).unwrap().is_none());
}

pub fn the_load_follows_every_change_of_a_task(s: &Store) {
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
    assert!(s.open_tasks_per_assignee("account_manager").unwrap().iter().all(|l| l.open == 0));
}

pub fn closing_twice_says_why(s: &Store) {
    let id = s.create_task(&task("x", Priority::Low, "2026-01-01", "k"), "v", "e", "now").unwrap().unwrap();
    assert_eq!(s.close_task(id, TaskStatus::Done, None, Some("called"), "now").unwrap().status, TaskStatus::Done);
    let err = s.close_task(id, TaskStatus::Cancelled, None, None, "now").unwrap_err().to_string();
    assert_eq!(err, format!("task {id} is already done"));
    assert!(s.close_task(999, TaskStatus::Done, None, None, "now").unwrap_err().to_string().contains("no task 999"));
    let err = s.close_task_as(id, TaskStatus::Done, None, None, "now").unwrap_err().to_string();
    assert_eq!(err, format!("task {id} is already done"));
    let err = s.close_task_as(999, TaskStatus::Done, Some("Ana"), None, "now").unwrap_err().to_string();
    assert!(err.contains("no task 999"), "{err}");
}

/// `close_task` notes who closed it (else keeps who claimed it), when and the outcome.
pub fn closing_notes_who_when_and_how(s: &Store) {
    let open = s.create_task(&task("open", Priority::Low, "2026-11-05", "o"), "v", "e", "t").unwrap().unwrap();
    let held = s.create_task(&task("held", Priority::Urgent, "2026-11-05", "h"), "v", "e", "t").unwrap().unwrap();
    assert_eq!(s.claim("sales_rep", "Ana", &at(2, "09:00"), None).unwrap().unwrap().id, held);
    let done = s.close_task(open, TaskStatus::Done, Some("Ben"), Some("called"), &at(2, "10:00")).unwrap();
    assert_eq!(
        (done.status, done.claimed_by.as_deref(), done.closed_at.as_deref(), done.outcome.as_deref()),
        (TaskStatus::Done, Some("Ben"), Some(at(2, "10:00").as_str()), Some("called"))
    );
    assert_eq!(done.assignee, None, "close_task leaves the assignee as it was");
    let cancelled = s.close_task(held, TaskStatus::Cancelled, None, None, &at(2, "11:00")).unwrap();
    assert_eq!(
        (cancelled.status, cancelled.claimed_by.as_deref(), cancelled.outcome.clone(), cancelled.closed_at.clone()),
        (TaskStatus::Cancelled, Some("Ana"), None, Some(at(2, "11:00")))
    );
    assert_eq!(format!("{:?}", s.task(held).unwrap().unwrap()), format!("{cancelled:?}"));
}

/// `close_task_as`: an open task anyone may close (it becomes theirs if it
/// was nobody's); a claimed one only its holder, or anyone when nobody is named.
pub fn closing_as_someone_respects_the_claims_of_others(s: &Store) {
    let now = at(2, "09:00");
    let queue = s.create_task(&task_for("sales_rep", None, ("deal", "D"), "queue"), "v", "e", "t").unwrap().unwrap();
    let bens = s.create_task(&task_for("sales_rep", Some("Ben"), ("deal", "D"), "bens"), "v", "e", "t").unwrap();
    let bens = bens.unwrap();
    let done = s.close_task_as(queue, TaskStatus::Done, Some("Ana"), Some("ok"), &now).unwrap().unwrap();
    assert_eq!(
        (done.status, done.assignee.as_deref(), done.claimed_by.as_deref(), done.outcome.as_deref()),
        (TaskStatus::Done, Some("Ana"), Some("Ana"), Some("ok"))
    );
    let done = s.close_task_as(bens, TaskStatus::Cancelled, Some("Ana"), None, &now).unwrap().unwrap();
    assert_eq!(
        (done.status, done.assignee.as_deref(), done.claimed_by.as_deref()),
        (TaskStatus::Cancelled, Some("Ben"), Some("Ana")),
        "an open task of Ben's closed by Ana stays assigned to Ben"
    );

    let held = s.create_task(&task_for("sales_rep", None, ("deal", "D"), "held"), "v", "e", "t").unwrap().unwrap();
    assert_eq!(s.claim("sales_rep", "Cy", &now, None).unwrap().unwrap().id, held);
    let refused = s.close_task_as(held, TaskStatus::Done, Some("Ana"), None, &now).unwrap().unwrap_err();
    assert_eq!((refused.status, refused.claimed_by.as_deref()), (TaskStatus::Claimed, Some("Cy")));
    assert_eq!(s.task(held).unwrap().unwrap().status, TaskStatus::Claimed, "refused: nothing changed");
    let anyone = s.close_task_as(held, TaskStatus::Done, None, Some("by the admin"), &now).unwrap().unwrap();
    assert_eq!(
        (anyone.status, anyone.claimed_by.as_deref(), anyone.outcome.as_deref()),
        (TaskStatus::Done, Some("Cy"), Some("by the admin"))
    );
}

pub fn a_lapsed_claim_goes_back_where_it_was_and_says_who_had_it(s: &Store) {
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

/// A claim taken exactly at the time given has not run out; one before it has.
pub fn lapsed_claims_are_counted_and_only_those_before_the_time(s: &Store) {
    for k in ["a", "b", "c"] {
        s.create_task(&task(k, Priority::Normal, "2026-11-05", k), "v", "e", "t").unwrap();
    }
    s.claim("sales_rep", "Ana", &at(2, "09:00"), None).unwrap().unwrap();
    s.claim("sales_rep", "Ben", &at(2, "10:00"), None).unwrap().unwrap();
    assert_eq!(s.release_lapsed_claims(&at(2, "09:00"), &at(2, "12:00")).unwrap(), 0);
    assert_eq!(s.release_lapsed_claims(&at(2, "09:30"), &at(2, "12:00")).unwrap(), 1);
    let released = s.task(1).unwrap().unwrap();
    assert_eq!(
        (released.status, released.assignee, released.claimed_by, released.claimed_at),
        (TaskStatus::Open, None, None, None)
    );
    assert_eq!((released.released_from.as_deref(), released.released_at), (Some("Ana"), Some(at(2, "12:00"))));
    assert_eq!(s.task(2).unwrap().unwrap().status, TaskStatus::Claimed);
    assert_eq!(s.release_lapsed_claims(&at(2, "23:00"), &at(2, "23:00")).unwrap(), 1);
    // A task claimed again after its release keeps who had it before until released again.
    let again = s.claim("sales_rep", "Cy", &at(3, "09:00"), None).unwrap().unwrap();
    assert_eq!((again.id, again.released_from.as_deref()), (1, Some("Ana")));
    // A claim of one role lets every role's lapsed claims go, in the same unit.
    let am = s.create_task(&task_for("account_manager", None, ("deal", "D"), "am"), "v", "e", "t").unwrap().unwrap();
    assert_eq!(s.claim("account_manager", "Dee", &at(3, "09:00"), None).unwrap().unwrap().id, am);
    assert!(s.claim("sdr", "Eve", &at(4, "09:00"), Some(&at(3, "10:00"))).unwrap().is_none());
    assert_eq!(s.task(am).unwrap().unwrap().status, TaskStatus::Open);
    assert_eq!(s.task(1).unwrap().unwrap().released_from.as_deref(), Some("Cy"));
}

/// Only open tasks (not claimed, not closed) about the subject, of the
/// assignee when one is named.
pub fn cancelling_about_a_subject_takes_only_open_tasks(s: &Store) {
    let now = at(2, "09:00");
    let new = |role: &str, who: Option<&str>, subject: (&str, &str), key: &str| {
        s.create_task(&task_for(role, who, subject, key), "v", "e", "t").unwrap().unwrap()
    };
    let queue = new("sales_rep", None, ("deal", "D1"), "queue");
    let anas = new("account_manager", Some("Ana"), ("deal", "D1"), "anas");
    let bens = new("sales_rep", Some("Ben"), ("deal", "D1"), "bens");
    let other_deal = new("sales_rep", None, ("deal", "D2"), "other deal");
    let account = new("sales_rep", None, ("account", "D1"), "account");
    let urgent = NewTask { priority: Priority::Urgent, ..task_for("sales_rep", Some("Ana"), ("deal", "D1"), "held") };
    let held = s.create_task(&urgent, "v", "e", "t").unwrap().unwrap();
    assert_eq!(s.claim_up_to("sales_rep", "Ana", &now, None, 1).unwrap()[0].id, held);
    let subject = Subject::new("deal", "D1");
    assert_eq!(s.cancel_open_tasks_about(&subject, Some("Ana"), "gone", &at(3, "09:00")).unwrap(), 1);
    assert_eq!(s.task(anas).unwrap().unwrap().status, TaskStatus::Cancelled);
    assert_eq!(s.cancel_open_tasks_about(&subject, None, "deal lost", &at(4, "09:00")).unwrap(), 2);
    for id in [queue, bens] {
        let t = s.task(id).unwrap().unwrap();
        assert_eq!(
            (t.status, t.outcome.as_deref(), t.closed_at),
            (TaskStatus::Cancelled, Some("deal lost"), Some(at(4, "09:00")))
        );
    }
    let anas = s.task(anas).unwrap().unwrap();
    assert_eq!((anas.outcome.as_deref(), anas.closed_at), (Some("gone"), Some(at(3, "09:00"))));
    for (id, status) in [(other_deal, TaskStatus::Open), (account, TaskStatus::Open), (held, TaskStatus::Claimed)] {
        assert_eq!(s.task(id).unwrap().unwrap().status, status, "task {id}");
    }
    assert_eq!(s.cancel_open_tasks_about(&subject, None, "again", &now).unwrap(), 0);
}

/// Open first, then claimed, then closed; within each the most urgent
/// (priority, then earliest due, then oldest); filters combine.
pub fn listings_filter_and_put_the_most_urgent_first(s: &Store) {
    let now = at(2, "09:00");
    let new = |role: &str, who: Option<&str>, p: Priority, due: &str, subject: (&str, &str), key: &str| {
        let t = NewTask { priority: p, due_at: due.into(), ..task_for(role, who, subject, key) };
        s.create_task(&t, "v", "e", "t").unwrap().unwrap()
    };
    let low = new("sales_rep", None, Priority::Low, "2026-11-01", ("deal", "D1"), "low");
    let late = new("sales_rep", None, Priority::High, "2026-11-09", ("deal", "D1"), "late");
    let early = new("sales_rep", None, Priority::High, "2026-11-03", ("deal", "D2"), "early");
    let tie = new("sales_rep", None, Priority::High, "2026-11-03", ("deal", "D1"), "tie");
    let am = new("account_manager", Some("Ana"), Priority::Urgent, "2026-11-01", ("account", "A"), "am");
    let held = new("sales_rep", Some("Ben"), Priority::Urgent, "2026-11-01", ("deal", "D1"), "held");
    let closed = new("sales_rep", None, Priority::Urgent, "2026-11-01", ("deal", "D1"), "closed");
    s.close_task(closed, TaskStatus::Done, None, None, &now).unwrap();
    assert_eq!(s.claim("sales_rep", "Ben", &now, None).unwrap().unwrap().id, held);
    let ids = |f: TaskFilter| s.tasks(&f).unwrap().into_iter().map(|t| t.id).collect::<Vec<_>>();
    assert_eq!(ids(TaskFilter::default()), [am, early, tie, late, low, held, closed]);
    assert_eq!(
        ids(TaskFilter { role: Some("sales_rep".into()), ..TaskFilter::default() }),
        [early, tie, late, low, held, closed]
    );
    assert_eq!(ids(TaskFilter { assignee: Some("Ben".into()), ..TaskFilter::default() }), [held]);
    assert_eq!(
        ids(TaskFilter { status: Some(TaskStatus::Open), ..TaskFilter::default() }),
        [am, early, tie, late, low]
    );
    assert_eq!(ids(TaskFilter { status: Some(TaskStatus::Done), ..TaskFilter::default() }), [closed]);
    assert!(ids(TaskFilter { status: Some(TaskStatus::Cancelled), ..TaskFilter::default() }).is_empty());
    let about_d1 = TaskFilter { subject: Some(Subject::new("deal", "D1")), ..TaskFilter::default() };
    assert_eq!(ids(about_d1.clone()), [tie, late, low, held, closed]);
    assert_eq!(ids(TaskFilter { status: Some(TaskStatus::Open), ..about_d1 }), [tie, late, low]);
    assert!(ids(TaskFilter { subject: Some(Subject::new("account", "D1")), ..TaskFilter::default() }).is_empty());
}

/// Ids are 1, 2, 3…; a closed task's key still stands for its follow-up.
pub fn task_ids_count_up_and_a_key_stays_taken_when_its_task_closes(s: &Store) {
    assert_eq!(s.max_task_id().unwrap(), 0);
    let ids: Vec<Option<i64>> = ["a", "b", "c"]
        .iter()
        .map(|k| s.create_task(&task(k, Priority::Low, "d", k), "v", "e", "t").unwrap())
        .collect();
    assert_eq!(ids, [Some(1), Some(2), Some(3)]);
    assert_eq!(s.max_task_id().unwrap(), 3);
    s.close_task(2, TaskStatus::Cancelled, None, None, "t").unwrap();
    assert_eq!(s.create_task(&task("b", Priority::Low, "d", "b"), "v", "e", "t").unwrap(), None);
    assert!(s.task_key_exists("b").unwrap());
    assert_eq!(s.create_task(&task("d", Priority::Low, "d", "d"), "v", "e", "t").unwrap(), Some(4));
}

/// Open work per role counts claimed tasks too; holders are those with
/// open (unclaimed) tasks; `open_tasks_of` lists one person's open tasks of a role.
pub fn open_work_is_counted_per_role_and_per_holder(s: &Store) {
    let now = at(2, "09:00");
    let new = |role: &str, who: Option<&str>, key: &str| {
        s.create_task(&task_for(role, who, ("deal", "D"), key), "v", "e", "t").unwrap().unwrap()
    };
    let a1 = new("sales_rep", Some("Ana"), "a1");
    new("sales_rep", None, "queue");
    let a2 = new("sales_rep", Some("Ana"), "a2");
    new("account_manager", Some("Ben"), "b1");
    new("account_manager", Some("Ben"), "b2");
    new("account_manager", Some("Ana"), "am-ana");
    let closed = new("sdr", Some("Cy"), "closed");
    s.close_task(closed, TaskStatus::Done, None, None, &now).unwrap();
    assert_eq!(s.claim_up_to("account_manager", "Ben", &now, None, 2).unwrap().len(), 2);
    let roles: Vec<(String, i64)> = s.open_tasks_by_role().unwrap().into_iter().map(|r| (r.role, r.open)).collect();
    assert_eq!(roles, [("account_manager".to_string(), 3), ("sales_rep".to_string(), 3)]);
    let mut holders: Vec<(String, String)> =
        s.open_task_holders().unwrap().into_iter().map(|h| (h.role, h.assignee)).collect();
    holders.sort();
    assert_eq!(holders, [("account_manager".into(), "Ana".into()), ("sales_rep".into(), "Ana".into())]);
    assert_eq!(s.open_tasks_of("sales_rep", "Ana").unwrap(), [a1, a2]);
    assert!(s.open_tasks_of("account_manager", "Ben").unwrap().is_empty(), "claimed tasks are not open");
    assert!(s.open_tasks_of("sales_rep", "Ben").unwrap().is_empty());
    let mut loads: Vec<(String, i64)> =
        s.open_tasks_per_assignee("account_manager").unwrap().into_iter().map(|l| (l.who, l.open)).collect();
    loads.sort();
    assert_eq!(loads, [("Ana".to_string(), 1), ("Ben".to_string(), 2)], "claimed tasks count in the load");
}

/// Open or claimed tasks with ids in `(from, to]`, due in `[from, before)`, by id.
pub fn tasks_due_between_ids_and_times(s: &Store) {
    let new = |due: &str, key: &str| {
        let t = NewTask { due_at: due.into(), ..task(key, Priority::Low, due, key) };
        s.create_task(&t, "v", "e", "t").unwrap().unwrap()
    };
    let t1 = new("2026-11-01", "1");
    let t2 = new("2026-11-03", "2");
    let t3 = new("2026-11-03T12:00:00Z", "3");
    let t4 = new("2026-11-05", "4");
    let t5 = new("2026-11-02", "5");
    let t6 = new("2026-11-02", "6");
    s.close_task(t6, TaskStatus::Done, None, None, "t").unwrap();
    assert_eq!(s.claim("sales_rep", "Ana", "t", None).unwrap().unwrap().id, t1);
    assert_eq!(s.tasks_due_between(None, "2026-11-04", (0, 10)).unwrap(), [t1, t2, t3, t5]);
    assert_eq!(s.tasks_due_between(Some("2026-11-02"), "2026-11-03T12:00:00Z", (0, 10)).unwrap(), [t2, t5]);
    assert_eq!(s.tasks_due_between(Some("2026-11-03"), "2026-11-06", (0, 10)).unwrap(), [t2, t3, t4]);
    assert_eq!(s.tasks_due_between(None, "2026-12-01", (t1, t4)).unwrap(), [t2, t3, t4]);
    assert!(s.tasks_due_between(None, "2026-12-01", (t5, 100)).unwrap().is_empty());
}
