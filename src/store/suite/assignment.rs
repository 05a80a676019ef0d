//! Assignment: round-robin turns, hand-overs that wait for someone of a
//! role, queued tasks given to one person, reassignment.

use super::{at, load, task_for};
use crate::model::{NewTask, Priority, RuleRef, Subject};
use crate::store::{Store, TaskStatus, WaitingHandover};

pub fn turns_go_round_per_role_and_region(s: &Store) {
    let turns = |role: &str, region: &str, n: usize, times: usize| {
        (0..times).map(|_| s.take_turn(role, region, n).unwrap()).collect::<Vec<_>>()
    };
    assert_eq!(turns("sales_rep", "", 3, 4), [0, 1, 2, 0]);
    assert_eq!(turns("sales_rep", "West", 3, 2), [0, 1], "each region has its own turn");
    assert_eq!(turns("account_manager", "", 2, 1), [0], "each role has its own turn");
    // The team shrank to two: the next turn is the one after, wrapped.
    assert_eq!(turns("sales_rep", "", 2, 3), [1, 0, 1]);
    assert_eq!(turns("sales_rep", "", 0, 2), [0, 0], "nobody counts as one");
    assert_eq!(turns("sales_rep", "West", 3, 2), [2, 0]);
}

fn waiting(account: &str, role: &str, since: &str, event: &str, reason: &str) -> WaitingHandover {
    WaitingHandover {
        account_id: account.into(),
        role: role.into(),
        reason: reason.into(),
        rule: RuleRef { file: "rules/key.rhai".into(), function: format!("handover_{reason}") },
        close_open_tasks: reason.len().is_multiple_of(2),
        since: since.into(),
        event_id: event.into(),
    }
}

/// Asked for again for the same role, a hand-over keeps when and by which
/// event it was first asked for, and takes the rest; for another role it starts again.
pub fn a_waiting_handover_keeps_its_first_time_for_the_same_role(s: &Store) {
    s.save_waiting_handover(&waiting("A", "account_manager", &at(2, "09:00"), "e1", "first")).unwrap();
    s.save_waiting_handover(&waiting("A", "account_manager", &at(3, "09:00"), "e2", "second")).unwrap();
    let expected = WaitingHandover {
        since: at(2, "09:00"),
        event_id: "e1".into(),
        ..waiting("A", "account_manager", "", "", "second")
    };
    assert_eq!(s.waiting_handovers().unwrap(), [expected]);
    s.save_waiting_handover(&waiting("A", "sdr", &at(4, "09:00"), "e3", "third")).unwrap();
    assert_eq!(s.waiting_handovers().unwrap(), [waiting("A", "sdr", &at(4, "09:00"), "e3", "third")]);
    s.drop_waiting_handover("A").unwrap();
    s.drop_waiting_handover("never waited").unwrap();
    assert!(s.waiting_handovers().unwrap().is_empty());
}

/// Oldest first; at the same time, short account ids first, then by id.
pub fn waiting_handovers_are_listed_oldest_first(s: &Store) {
    let all = [
        waiting("A10", "am", &at(2, "09:00"), "e1", "x"),
        waiting("B", "am", &at(2, "09:00"), "e2", "x"),
        waiting("A2", "am", &at(2, "09:00"), "e3", "x"),
        waiting("C", "am", &at(1, "09:00"), "e4", "x"),
    ];
    for w in &all {
        s.save_waiting_handover(w).unwrap();
    }
    let order: Vec<String> = s.waiting_handovers().unwrap().into_iter().map(|w| w.account_id).collect();
    assert_eq!(order, ["C", "B", "A2", "A10"]);
}

/// Only the role's open tasks about the subject that nobody has.
pub fn queued_tasks_about_a_subject_go_to_one_person(s: &Store) {
    let new = |role: &str, who: Option<&str>, subject: (&str, &str), key: &str| {
        s.create_task(&task_for(role, who, subject, key), "v", "e", "t").unwrap().unwrap()
    };
    let taken = new("account_manager", None, ("account", "A"), "taken");
    let queued = new("account_manager", None, ("account", "A"), "queued");
    let closed = new("account_manager", None, ("account", "A"), "closed");
    let bens = new("account_manager", Some("Ben"), ("account", "A"), "bens");
    let other_role = new("sales_rep", None, ("account", "A"), "other role");
    let other_account = new("account_manager", None, ("account", "B"), "other account");
    assert_eq!(s.claim_up_to("account_manager", "Cy", &at(2, "09:00"), None, 1).unwrap()[0].id, taken);
    s.close_task(closed, TaskStatus::Done, None, None, "t").unwrap();
    let subject = Subject::new("account", "A");
    assert_eq!(s.assign_queued_tasks_about(&subject, "account_manager", "Ana").unwrap(), 1);
    let assignee = |id: i64| s.task(id).unwrap().unwrap().assignee;
    assert_eq!(assignee(queued).as_deref(), Some("Ana"));
    assert_eq!(assignee(taken).as_deref(), Some("Cy"), "a claimed task stays with who claimed it");
    for id in [closed, other_role, other_account] {
        assert_eq!(assignee(id), None, "task {id}");
    }
    assert_eq!(assignee(bens).as_deref(), Some("Ben"));
    let mut loads: Vec<(String, i64)> =
        s.open_tasks_per_assignee("account_manager").unwrap().into_iter().map(|l| (l.who, l.open)).collect();
    loads.sort();
    assert_eq!(loads, [("Ana".to_string(), 1), ("Ben".to_string(), 1), ("Cy".to_string(), 1)]);
    assert_eq!(s.assign_queued_tasks_about(&subject, "account_manager", "Dee").unwrap(), 0);
}

pub fn reassigning_moves_the_load(s: &Store) {
    let id = s.create_task(&task_for("sales_rep", Some("Ana"), ("deal", "D"), "k"), "v", "e", "t").unwrap().unwrap();
    s.reassign_task(id, Some("Ben")).unwrap();
    assert_eq!(load(s), [("Ben".to_string(), 1)]);
    assert_eq!(s.task(id).unwrap().unwrap().assignee.as_deref(), Some("Ben"));
    assert_eq!(s.open_tasks_of("sales_rep", "Ben").unwrap(), [id]);
    s.reassign_task(id, None).unwrap();
    assert!(load(s).is_empty());
    assert_eq!(s.task(id).unwrap().unwrap().assignee, None);
    s.reassign_task(999, Some("Ana")).unwrap();
    assert!(load(s).is_empty(), "reassigning no task changes nothing");
}

/// The role's open tasks nobody has, most urgent first (priority, then due
/// date, then id), up to the limit; not claimed ones, not someone's, not closed ones.
pub fn queued_tasks_are_the_open_ones_of_nobody_most_urgent_first(s: &Store) {
    let new = |who: Option<&str>, key: &str, priority: Priority, due: &str| {
        let t = NewTask { priority, due_at: due.into(), ..task_for("sales_rep", who, ("deal", key), key) };
        s.create_task(&t, "v", "e", "t").unwrap().unwrap()
    };
    let late = new(None, "late", Priority::Normal, "2026-11-20");
    let soon = new(None, "soon", Priority::Normal, "2026-11-05");
    let urgent = new(None, "urgent", Priority::High, "2026-11-30");
    let same_due = new(None, "same due", Priority::Normal, "2026-11-20");
    new(Some("Ana"), "anas", Priority::Urgent, "2026-11-01");
    let claimed = new(None, "claimed", Priority::Urgent, "2026-11-01");
    let closed = new(None, "closed", Priority::Urgent, "2026-11-01");
    assert_eq!(s.claim_up_to("sales_rep", "Cy", &at(2, "09:00"), None, 1).unwrap()[0].id, claimed);
    s.close_task(closed, TaskStatus::Done, None, None, "t").unwrap();
    let other_role = NewTask { role: "marketing".into(), ..task_for("sales_rep", None, ("deal", "m"), "m") };
    s.create_task(&other_role, "v", "e", "t").unwrap();
    assert_eq!(s.queued_tasks("sales_rep", 10).unwrap(), [urgent, soon, late, same_due]);
    assert_eq!(s.queued_tasks("sales_rep", 2).unwrap(), [urgent, soon]);
    s.reassign_task(urgent, Some("Ben")).unwrap();
    assert_eq!(s.queued_tasks("sales_rep", 10).unwrap(), [soon, late, same_due], "given to someone: not queued");
    assert!(s.queued_tasks("account_manager", 10).unwrap().is_empty());
}

/// A task kept for someone away is due later: the queue's order follows.
pub fn a_task_due_later_moves_back_in_the_queue(s: &Store) {
    let a = s.create_task(&task_for("sales_rep", None, ("deal", "A"), "a"), "v", "e", "t").unwrap().unwrap();
    let b = s.create_task(&task_for("sales_rep", None, ("deal", "B"), "b"), "v", "e", "t").unwrap().unwrap();
    assert_eq!(s.queued_tasks("sales_rep", 10).unwrap(), [a, b]);
    s.set_task_due(a, "2026-12-01").unwrap();
    assert_eq!(s.task(a).unwrap().unwrap().due_at, "2026-12-01");
    assert_eq!(s.queued_tasks("sales_rep", 10).unwrap(), [b, a]);
    let claimed = s.claim_up_to("sales_rep", "Cy", &at(2, "09:00"), None, 1).unwrap();
    assert_eq!(claimed[0].id, b, "the claim takes the one due first now");
}
