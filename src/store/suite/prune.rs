//! Pruning ([`crate::store::Store::prune`]): what is older goes, and every
//! guarantee stays: a pruned task's key still blocks it, the highest task id
//! stays (ids are never given twice), a dry run changes nothing.

use serde_json::json;

use super::{committed, task};
use crate::model::{Decision, DecisionKind, Priority, Subject};
use crate::store::{Pruned, Store, TaskStatus};

fn decision(event: &str, at: &str) -> Decision {
    Decision {
        kind: DecisionKind::StageMove,
        subject: Subject::new("deal", "D"),
        rule: None,
        reason: format!("because {event}"),
        detail: json!({}),
        event_id: event.into(),
        at: at.into(),
    }
}

pub fn pruning_removes_what_is_older_and_keeps_keys_ids_and_events(s: &Store) {
    let (old, cut, late) = ("2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z");
    let new = |k: &str| s.create_task(&task(k, Priority::Low, "d", k), "v", "e", "t").unwrap();
    let made = committed(s, || ["a", "b", "c", "d"].map(new));
    assert_eq!(made, [Some(1), Some(2), Some(3), Some(4)]);
    s.close_task(1, TaskStatus::Done, None, None, old).unwrap();
    s.close_task(2, TaskStatus::Cancelled, None, None, late).unwrap();
    // The highest id, closed long ago: kept, so the next task is 5, not 4 again.
    s.close_task(4, TaskStatus::Done, None, None, old).unwrap();
    committed(s, || {
        s.record_decision(&decision("e1", old), "v").unwrap();
        s.record_decision(&decision("e2", late), "v").unwrap();
        s.record_rejected("in.jsonl", 1, "bad", "{", old).unwrap();
        s.record_rejected("in.jsonl", 2, "bad", "{", late).unwrap();
    });
    let expected = Pruned { decisions: 1, stage_changes: 0, rejected_lines: 1, tasks: 1 };

    assert_eq!(s.prune(cut, true).unwrap(), expected, "a dry run counts");
    assert!(s.task(1).unwrap().is_some() && s.decisions(None, None).unwrap().len() == 2);
    assert_eq!(s.rejected().unwrap().len(), 2);
    assert_eq!(s.pruned_before().unwrap(), None, "and changes nothing");

    assert_eq!(s.prune(cut, false).unwrap(), expected);
    assert!(s.task(1).unwrap().is_none());
    assert!(s.task(2).unwrap().is_some() && s.task(3).unwrap().is_some() && s.task(4).unwrap().is_some());
    assert_eq!(s.decisions(None, None).unwrap().into_iter().map(|d| d.event_id).collect::<Vec<_>>(), ["e2"]);
    assert_eq!(s.rejected().unwrap().into_iter().map(|r| r.line).collect::<Vec<_>>(), [2]);
    assert_eq!(s.pruned_before().unwrap().as_deref(), Some(cut));
    // The pruned task's key still stands: it is never made again.
    assert!(s.task_key_exists("a").unwrap());
    assert_eq!(committed(s, || new("a")), None);
    assert_eq!(committed(s, || new("e")), Some(5));
    // Again: task 4 is no longer the highest, so it goes now; then nothing more.
    assert_eq!(s.prune(cut, false).unwrap(), Pruned { tasks: 1, ..Pruned::default() });
    assert!(s.task(4).unwrap().is_none() && s.task_key_exists("d").unwrap());
    assert_eq!(s.prune(cut, false).unwrap(), Pruned::default());
    // An earlier time does not move the mark back.
    s.prune(old, false).unwrap();
    assert_eq!(s.pruned_before().unwrap().as_deref(), Some(cut));
}
