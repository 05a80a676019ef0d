//! The notification queue and the cursors the notifier reads what is new by.

use serde_json::json;

use super::{Opener, at, committed, task_for};
use crate::model::{Decision, DecisionKind, RuleRef, Subject};
use crate::store::Store;
use crate::store::outbox::{
    Attempt, Marks, NewNotification, NotificationCounts, NotificationFilter, NotificationState,
};

/// Wall-clock stamps as the queue writes them (milliseconds, fixed width).
fn t(s: u32) -> String {
    format!("2026-12-03T09:00:{s:02}.000Z")
}

fn new(target: &str, key: &str, created_s: u32) -> NewNotification {
    NewNotification {
        target: target.into(),
        kind: "task".into(),
        key: key.into(),
        subject: format!("about {key}"),
        person: Some("Ana".into()),
        payload: format!(r#"{{"text": "{key}"}}"#),
        created_at: t(created_s),
    }
}

fn ids(v: &[crate::store::outbox::Notification]) -> Vec<i64> {
    v.iter().map(|n| n.id).collect()
}

/// `(target, key)` is said once; the same key to another target is another message.
pub fn a_notification_is_enqueued_once_per_target_and_key(s: &Store) {
    assert!(s.enqueue_notification(&new("slack", "task:1", 0)).unwrap());
    assert!(!s.enqueue_notification(&new("slack", "task:1", 5)).unwrap(), "the same key again");
    assert!(s.enqueue_notification(&new("hook", "task:1", 0)).unwrap());
    let all = s.notifications(&NotificationFilter::default(), 10).unwrap();
    assert_eq!(all.len(), 2);
    let first = all.iter().find(|n| n.target == "slack").unwrap();
    assert_eq!((first.created_at.as_str(), first.next_attempt_at.as_str()), (t(0).as_str(), t(0).as_str()));
    assert_eq!((first.attempts, first.state()), (0, NotificationState::Pending));
    assert_eq!((first.kind.as_str(), first.person.as_deref()), ("task", Some("Ana")));
    assert_eq!(s.notification_counts().unwrap(), NotificationCounts { sent: 0, pending: 2, failed: 0 });
}

/// A claim takes what is due, oldest first, no more than asked, and holds
/// it until its time: a second claim passes it by, and takes it again once
/// the hold has run out (a sender that died).
pub fn a_claim_holds_what_is_due_until_its_time(s: &Store) {
    for (key, created) in [("a", 2), ("b", 1), ("c", 3), ("later", 30)] {
        s.enqueue_notification(&new("slack", key, created)).unwrap();
    }
    let first = s.claim_notifications(&t(10), &t(40), 2).unwrap();
    assert_eq!(first.iter().map(|n| n.key.as_str()).collect::<Vec<_>>(), ["a", "b"], "by id in the answer");
    assert!(first.iter().all(|n| n.next_attempt_at == t(40)));
    let second = s.claim_notifications(&t(10), &t(40), 10).unwrap();
    assert_eq!(
        second.iter().map(|n| n.key.as_str()).collect::<Vec<_>>(),
        ["c"],
        "the held ones and the one not due are passed by"
    );
    assert!(s.claim_notifications(&t(10), &t(40), 10).unwrap().is_empty());
    let after_hold = s.claim_notifications(&t(40), &t(50), 10).unwrap();
    assert_eq!(after_hold.len(), 4, "the holds ran out, and `later` is due");
}

/// Sent, failed (tried again later), given up, postponed: each as it says, counted.
pub fn an_attempt_ends_sent_failed_given_up_or_postponed(s: &Store) {
    for key in ["sent", "retry", "gone", "wait"] {
        s.enqueue_notification(&new("slack", key, 0)).unwrap();
    }
    let claimed = s.claim_notifications(&t(1), &t(30), 10).unwrap();
    let id = |key: &str| claimed.iter().find(|n| n.key == key).unwrap().id;
    s.finish_notification(id("sent"), &Attempt::Sent { at: t(2) }).unwrap();
    s.finish_notification(id("retry"), &Attempt::Failed { error: "answered 500".into(), next: t(12) }).unwrap();
    s.finish_notification(id("gone"), &Attempt::GiveUp { error: "answered 404".into(), at: t(2) }).unwrap();
    s.finish_notification(id("wait"), &Attempt::Postponed { next: t(12) }).unwrap();
    let all = s.notifications(&NotificationFilter::default(), 10).unwrap();
    assert_eq!(ids(&all), [id("wait"), id("gone"), id("retry"), id("sent")], "newest first");
    let by = |key: &str| all.iter().find(|n| n.key == key).unwrap().clone();
    assert_eq!((by("sent").state(), by("sent").sent_at), (NotificationState::Sent, Some(t(2))));
    let retry = by("retry");
    assert_eq!((retry.attempts, retry.last_error.as_deref(), retry.next_attempt_at), (1, Some("answered 500"), t(12)));
    let gone = by("gone");
    assert_eq!((gone.state(), gone.attempts, gone.given_up_at), (NotificationState::Failed, 1, Some(t(2))));
    assert_eq!((by("wait").attempts, by("wait").last_error), (0, None), "a postponed one counts no attempt");
    assert_eq!(s.notification_counts().unwrap(), NotificationCounts { sent: 1, pending: 2, failed: 1 });
    assert!(s.claim_notifications(&t(11), &t(40), 10).unwrap().is_empty(), "not due before its next attempt");
    let again = s.claim_notifications(&t(12), &t(40), 10).unwrap();
    assert_eq!(ids(&again), [id("retry"), id("wait")], "sent and given up are never taken again");

    let pending = NotificationFilter { state: Some(NotificationState::Pending), ..Default::default() };
    assert_eq!(ids(&s.notifications(&pending, 10).unwrap()), [id("wait"), id("retry")]);
    let failed = NotificationFilter { state: Some(NotificationState::Failed), target: Some("slack".into()) };
    assert_eq!(ids(&s.notifications(&failed, 10).unwrap()), [id("gone")]);
    let elsewhere = NotificationFilter { target: Some("hook".into()), ..Default::default() };
    assert!(s.notifications(&elsewhere, 10).unwrap().is_empty());
    assert_eq!(s.notifications(&NotificationFilter::default(), 1).unwrap().len(), 1, "the limit");
}

/// An enqueue in a unit rolled back leaves nothing, and the key is free again.
pub fn an_enqueue_rolled_back_leaves_nothing(s: &Store) {
    {
        let _unit = s.begin().unwrap();
        assert!(s.enqueue_notification(&new("slack", "task:1", 0)).unwrap());
        s.set_meta("notify_cursor", "{}").unwrap();
    }
    assert!(s.notifications(&NotificationFilter::default(), 10).unwrap().is_empty());
    assert_eq!(s.meta("notify_cursor").unwrap(), None);
    assert!(committed(s, || s.enqueue_notification(&new("slack", "task:1", 0)).unwrap()));
    assert_eq!(s.notification_counts().unwrap().pending, 1);
}

fn quarantine(rule: &str, event: &str) -> Decision {
    Decision {
        kind: DecisionKind::RuleQuarantined,
        subject: Subject::new("rule", rule),
        rule: Some(RuleRef { file: "rules/t.rhai".into(), function: rule.into() }),
        reason: "failed too often".into(),
        detail: json!({"failures": 3, "last_error": "rules/t.rhai:2:5: boom"}),
        event_id: event.into(),
        at: at(2, "09:00"),
    }
}

/// What the notifier finds new: tasks by id, quarantines among the
/// decisions, rejected lines, each after a mark; the marks are the highest stored.
pub fn the_cursors_find_tasks_quarantines_and_rejected_lines_after_a_mark(s: &Store) {
    assert_eq!(s.notify_marks().unwrap(), Marks::default());
    let (t1, t2, t3) = committed(s, || {
        let make = |k: &str| {
            s.create_task(&task_for("sales_rep", Some("Ana"), ("deal", "D"), k), "v", "e", "t").unwrap().unwrap()
        };
        s.record_decision(&quarantine("task_a", "e1"), "v1").unwrap();
        s.record_decision(&Decision { kind: DecisionKind::TaskCreated, ..quarantine("task_b", "e2") }, "v1").unwrap();
        s.record_decision(&quarantine("task_c", "e3"), "v1").unwrap();
        s.record_rejected("inbox/a.jsonl", 2, "bad time", "{}", "t").unwrap();
        s.record_rejected("inbox/a.jsonl", 5, "no id", "{}", "t").unwrap();
        (make("k1"), make("k2"), make("k3"))
    });
    let marks = s.notify_marks().unwrap();
    assert_eq!(marks.task, t3);
    assert_eq!(s.tasks_after(0, 10).unwrap().iter().map(|t| t.id).collect::<Vec<_>>(), [t1, t2, t3]);
    assert_eq!(s.tasks_after(t1, 1).unwrap().iter().map(|t| t.id).collect::<Vec<_>>(), [t2]);
    assert!(s.tasks_after(t3, 10).unwrap().is_empty());
    let q = s.decisions_after(0, "rule_quarantined", 10).unwrap();
    assert_eq!(q.iter().map(|d| d.subject_id.as_str()).collect::<Vec<_>>(), ["task_a", "task_c"]);
    assert_eq!(q[1].seq, marks.decision, "the last decision is the mark");
    assert_eq!(q[0].detail["failures"], 3);
    assert_eq!(s.decisions_after(q[0].seq, "rule_quarantined", 10).unwrap().len(), 1);
    let r = s.rejected_after(0, 10).unwrap();
    assert_eq!(
        r.iter().map(|r| (r.source.as_str(), r.line, r.reason.as_str())).collect::<Vec<_>>(),
        [("inbox/a.jsonl", 2, "bad time"), ("inbox/a.jsonl", 5, "no id")]
    );
    assert_eq!(r[1].seq, marks.rejected);
    assert_eq!(s.rejected_after(r[0].seq, 10).unwrap().len(), 1);
    assert!(s.rejected_after(marks.rejected, 10).unwrap().is_empty());
}

/// Two senders (two connections, as two processes) claiming at once never
/// take the same notification.
pub fn two_senders_never_take_the_same_notification(o: &Opener) {
    let (_guard, s) = (o.fresh)();
    let Some(other) = (o.other)(&s) else { return };
    for i in 0..6 {
        s.enqueue_notification(&new("slack", &format!("k{i}"), 0)).unwrap();
    }
    let mut taken = Vec::new();
    for _ in 0..3 {
        taken.extend(ids(&s.claim_notifications(&t(1), &t(30), 1).unwrap()));
        taken.extend(ids(&other.claim_notifications(&t(1), &t(30), 1).unwrap()));
    }
    taken.sort_unstable();
    taken.dedup();
    assert_eq!(taken.len(), 6, "each taken once: {taken:?}");
    assert!(other.claim_notifications(&t(1), &t(30), 10).unwrap().is_empty());
}
