//! The logs: applied events (the history), rejected lines, decisions,
//! rules versions, rule health, and the clock's small map of state (`meta`).

use serde_json::json;

use super::{at, event};
use crate::event::Event;
use crate::model::{Decision, DecisionKind, RuleRef, Subject};
use crate::store::{AppliedBefore, RuleHealth, Store};

fn apply(s: &Store, e: &Event, line: usize) {
    s.record_applied(e, "events.jsonl", line, "v1", "wall clock").unwrap();
}

/// An event applied is known by its id; one sent again under the same id is
/// told apart by its content, and says where the first came from.
pub fn an_applied_event_is_known_by_id_and_content(s: &Store) {
    let first = event("e1", "account.upserted", &at(2, "09:00"), json!({"id": "A", "name": "Acme"}));
    assert!(!s.is_applied("e1").unwrap());
    assert_eq!(s.applied_before(&first).unwrap(), None);
    apply(s, &first, 7);
    assert!(s.is_applied("e1").unwrap() && !s.is_applied("e2").unwrap());
    let again = event("e1", "account.upserted", &at(2, "09:00"), json!({"id": "A", "name": "Acme"}));
    let same = AppliedBefore { same: true, source: "events.jsonl".into(), line: 7 };
    assert_eq!(s.applied_before(&again).unwrap(), Some(same));
    let other = event("e1", "account.upserted", &at(2, "09:00"), json!({"id": "A", "name": "Other"}));
    let differs = AppliedBefore { same: false, source: "events.jsonl".into(), line: 7 };
    assert_eq!(s.applied_before(&other).unwrap(), Some(differs));
    let later = event("e1", "account.upserted", &at(3, "09:00"), json!({"id": "A", "name": "Acme"}));
    assert!(!s.applied_before(&later).unwrap().unwrap().same, "another time is another content");
}

/// Pages of the history in the order events were applied (not their
/// business time), each with a position that pages on; the latest business time.
pub fn history_pages_follow_the_order_of_application(s: &Store) {
    assert!(s.event_history_page(0, 10).unwrap().is_empty());
    assert_eq!((s.event_count().unwrap(), s.latest_event_at().unwrap()), (0, None));
    assert_eq!(s.last_applied_at().unwrap(), None);
    let events: Vec<Event> = [5, 9, 1, 7, 3]
        .iter()
        .enumerate()
        .map(|(i, d)| event(&format!("e{i}"), "account.upserted", &at(*d, "09:00"), json!({"id": "A", "name": "n"})))
        .collect();
    for (i, e) in events.iter().enumerate() {
        apply(s, e, i + 1);
    }
    assert_eq!(s.event_count().unwrap(), 5);
    assert_eq!(s.latest_event_at().unwrap(), Some(at(9, "09:00")));
    assert_eq!(s.last_applied_at().unwrap(), Some(at(3, "09:00")), "the last applied, not the latest");
    let first = s.event_history_page(0, 2).unwrap();
    assert_eq!(first.len(), 2);
    let second = s.event_history_page(first[1].0, 2).unwrap();
    let third = s.event_history_page(second[1].0, 2).unwrap();
    assert_eq!(third.len(), 1);
    assert!(s.event_history_page(third[0].0, 2).unwrap().is_empty());
    let all: Vec<(i64, String)> = first.into_iter().chain(second).chain(third).collect();
    assert!(all.windows(2).all(|w| w[0].0 < w[1].0), "positions grow: {all:?}");
    let bodies: Vec<String> = all.into_iter().map(|(_, body)| body).collect();
    assert_eq!(bodies, events.iter().map(Event::to_json).collect::<Vec<_>>());
    assert_eq!(s.event_history().unwrap(), bodies);
    // A page from the middle: after the second position.
    let middle = s.event_history_page(s.event_history_page(0, 2).unwrap()[1].0, 10).unwrap();
    assert_eq!(middle.into_iter().map(|(_, b)| b).collect::<Vec<_>>(), bodies[2..]);
}

/// Events about a deal, an account or a lead: those that are it, and those
/// that name it, in the order they were applied.
pub fn events_about_a_subject_in_order(s: &Store) {
    let day = |d| at(d, "09:00");
    let all = [
        event("a", "account.upserted", &day(1), json!({"id": "A", "name": "Acme"})),
        event("d", "deal.upserted", &day(2), json!({"id": "D", "account_id": "A"})),
        event("x", "activity.logged", &day(3), json!({"id": "X", "account_id": "A", "deal_id": "D", "kind": "call"})),
        event("o", "order.placed", &day(4), json!({"id": "O", "account_id": "B", "amount": 5})),
        event("l", "lead.created", &day(5), json!({"id": "L", "account_id": "A"})),
        event("d2", "deal.upserted", &day(6), json!({"id": "D2", "account_id": "B"})),
    ];
    for (i, e) in all.iter().enumerate() {
        s.record_applied(e, "in.jsonl", i + 1, &format!("v{i}"), "wall clock").unwrap();
    }
    let ids = |kind: &str, id: &str| s.events_about(kind, id).unwrap().into_iter().map(|e| e.id).collect::<Vec<_>>();
    assert_eq!(ids("deal", "D"), ["d", "x"]);
    assert_eq!(ids("account", "A"), ["a", "d", "x", "l"]);
    assert_eq!(ids("account", "B"), ["o", "d2"]);
    assert_eq!(ids("lead", "L"), ["l"]);
    assert!(ids("lead", "A").is_empty() && ids("deal", "A").is_empty());
    assert!(ids("event", "d").is_empty() && ids("task", "1").is_empty(), "no events are kept about other kinds");
    let x = s.events_about("deal", "D").unwrap().pop().unwrap();
    assert_eq!(
        (x.kind.as_str(), x.at.as_str(), x.source.as_str(), x.line, x.rules_version.as_str()),
        ("activity.logged", day(3).as_str(), "in.jsonl", 3, "v2")
    );
    assert_eq!(x.data, json!({"id": "X", "account_id": "A", "deal_id": "D", "kind": "call"}));
    let positions: Vec<i64> = s.event_history_page(0, 10).unwrap().into_iter().map(|(p, _)| p).collect();
    assert_eq!(x.seq, positions[2], "an event's position is the same in the history and about its subject");
}

/// The same line of the same file rejected again for the same reason is kept once.
pub fn a_rejected_line_is_kept_once(s: &Store) {
    s.record_rejected("in.jsonl", 3, "bad time", "{raw}", "t1").unwrap();
    s.record_rejected("in.jsonl", 3, "bad time", "{raw}", "t2").unwrap();
    s.record_rejected("in.jsonl", 3, "bad id", "{raw}", "t3").unwrap();
    s.record_rejected("other.jsonl", 3, "bad time", "{raw}", "t4").unwrap();
    s.record_rejected("in.jsonl", 4, "bad time", "{raw}", "t5").unwrap();
    s.record_rejected("in.jsonl", 3, "bad time", "{other raw}", "t6").unwrap();
    let rows: Vec<(String, i64, String, String, String)> =
        s.rejected().unwrap().into_iter().map(|r| (r.source, r.line, r.reason, r.raw, r.rejected_at)).collect();
    let row =
        |src: &str, line, reason: &str, raw: &str, t: &str| (src.into(), line, reason.into(), raw.into(), t.into());
    assert_eq!(
        rows,
        [
            row("in.jsonl", 3, "bad time", "{raw}", "t1"),
            row("in.jsonl", 3, "bad id", "{raw}", "t3"),
            row("other.jsonl", 3, "bad time", "{raw}", "t4"),
            row("in.jsonl", 4, "bad time", "{raw}", "t5"),
            row("in.jsonl", 3, "bad time", "{other raw}", "t6"),
        ]
    );
}

fn decision(kind: DecisionKind, subject: (&str, &str), rule: bool, event: &str) -> Decision {
    Decision {
        kind,
        subject: Subject::new(subject.0, subject.1),
        rule: rule.then(|| RuleRef { file: "rules/stages.rhai".into(), function: "stage_x".into() }),
        reason: format!("because {event}"),
        detail: json!({"from": "new", "to": "won", "n": 3}),
        event_id: event.into(),
        at: at(2, "09:00"),
    }
}

/// Oldest first, of one kind and/or about one subject.
pub fn decisions_are_kept_in_order_and_filtered(s: &Store) {
    s.record_decision(&decision(DecisionKind::StageMove, ("deal", "D"), true, "e1"), "v1").unwrap();
    s.record_decision(&decision(DecisionKind::BecameKey, ("account", "A"), false, "e2"), "v1").unwrap();
    s.record_decision(&decision(DecisionKind::StageMove, ("deal", "D2"), true, "e3"), "v2").unwrap();
    s.record_decision(&decision(DecisionKind::TaskCreated, ("deal", "D"), true, "e4"), "v2").unwrap();
    let all = s.decisions(None, None).unwrap();
    assert_eq!(all.iter().map(|d| d.event_id.as_str()).collect::<Vec<_>>(), ["e1", "e2", "e3", "e4"]);
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
    let first = &all[0];
    assert_eq!(
        (first.kind.as_str(), first.subject_kind.as_str(), first.subject_id.as_str(), first.rule.as_deref()),
        ("stage_move", "deal", "D", Some("rules/stages.rhai::stage_x"))
    );
    assert_eq!(
        (first.reason.as_str(), first.rules_version.as_str(), first.at.clone()),
        ("because e1", "v1", at(2, "09:00"))
    );
    assert_eq!(first.detail, json!({"from": "new", "to": "won", "n": 3}));
    assert_eq!(all[1].rule, None);
    let events = |kind: Option<&str>, subject: Option<(&str, &str)>| {
        s.decisions(kind, subject).unwrap().into_iter().map(|d| d.event_id).collect::<Vec<_>>()
    };
    assert_eq!(events(Some("stage_move"), None), ["e1", "e3"]);
    assert_eq!(events(None, Some(("deal", "D"))), ["e1", "e4"]);
    assert_eq!(events(Some("stage_move"), Some(("deal", "D"))), ["e1"]);
    assert!(events(Some("lost_key"), None).is_empty() && events(None, Some(("account", "D"))).is_empty());
}

/// A version's files are stored the first time; each load is noted, and the
/// last one is in force.
pub fn rules_versions_keep_their_first_files_and_their_loads(s: &Store) {
    assert!(s.current_rules_version().unwrap().is_none());
    let files = |text: &str| json!([["rules/a.rhai", text], ["config.toml", "x = 1"]]).to_string();
    s.record_rules_version("v1", &files("one"), "t1").unwrap();
    s.record_rules_version("v2", &files("two"), "t2").unwrap();
    s.record_rules_version("v1", &files("changed"), "t3").unwrap();
    let current = s.current_rules_version().unwrap().unwrap();
    assert_eq!((current.version.as_str(), current.loaded_at.as_str()), ("v1", "t3"));
    let pairs =
        |text: &str| vec![("rules/a.rhai".to_string(), text.to_string()), ("config.toml".into(), "x = 1".into())];
    assert_eq!(s.rules_version_files("v1").unwrap(), Some(pairs("one")));
    assert_eq!(s.rules_version_files("v2").unwrap(), Some(pairs("two")));
    assert_eq!(s.rules_version_files("v3").unwrap(), None);
    s.record_rules_version("v1", &files("one"), "t3").unwrap();
    let current = s.current_rules_version().unwrap().unwrap();
    assert_eq!((current.version.as_str(), current.loaded_at.as_str()), ("v1", "t3"));
    // Every load in order (the web page's rule versions); the same load twice is kept once.
    let loads: Vec<(String, String)> = s.rules_loads().unwrap().into_iter().map(|v| (v.version, v.loaded_at)).collect();
    let want = [("v1", "t1"), ("v2", "t2"), ("v1", "t3")];
    assert_eq!(loads, want.map(|(v, t)| (v.to_string(), t.to_string())));
}

fn health(version: &str, rule: &str, line: i64, failures: i64, quarantined: bool) -> RuleHealth {
    RuleHealth {
        rules_version: version.into(),
        rule: rule.into(),
        file: "rules/t.rhai".into(),
        line,
        failures,
        last_error: "rules/t.rhai:4:5: boom".into(),
        last_event: "e1".into(),
        quarantined_at: quarantined.then(|| "2026-01-01T00:00:00Z".into()),
    }
}

/// Per version; updated in place; quarantined first, then by file and line.
pub fn rule_health_is_kept_per_version_updated_and_cleared(s: &Store) {
    assert!(s.rule_health("v1").unwrap().is_empty());
    s.record_rule_health(&health("v1", "task_a", 9, 1, false)).unwrap();
    s.record_rule_health(&health("v1", "task_b", 5, 5, true)).unwrap();
    s.record_rule_health(&health("v1", "task_c", 3, 1, false)).unwrap();
    s.record_rule_health(&health("v2", "task_a", 9, 1, false)).unwrap();
    s.record_rule_health(&health("v1", "task_a", 9, 2, false)).unwrap();
    assert_eq!(
        s.rule_health("v1").unwrap(),
        [health("v1", "task_b", 5, 5, true), health("v1", "task_c", 3, 1, false), health("v1", "task_a", 9, 2, false)]
    );
    assert_eq!(s.rule_health("v2").unwrap(), [health("v2", "task_a", 9, 1, false)]);
    s.clear_rule_health("v1", "task_a").unwrap();
    s.clear_rule_health("v1", "never failed").unwrap();
    assert_eq!(s.rule_health("v1").unwrap(), [health("v1", "task_b", 5, 5, true), health("v1", "task_c", 3, 1, false)]);
    assert_eq!(s.rule_health("v2").unwrap().len(), 1);
}

pub fn meta_is_a_map_of_text(s: &Store) {
    assert_eq!(s.meta("sweeps").unwrap(), None);
    s.set_meta("sweeps", "[1]").unwrap();
    s.set_meta("other", "").unwrap();
    s.set_meta("sweeps", "[1,2]").unwrap();
    assert_eq!(s.meta("sweeps").unwrap().as_deref(), Some("[1,2]"));
    assert_eq!(s.meta("other").unwrap().as_deref(), Some(""));
}
