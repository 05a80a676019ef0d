//! Re-sending events is always safe: an event whose id was applied is
//! skipped when its content is the same, and rejected (with its file and
//! line) when the id comes back with other content. Property: for a
//! generated stream of events (the synthetic stream, with proptest choosing
//! the seed and sizes) delivered with duplicates (each event first in its
//! original order, extra copies anywhere after it, some copies with changed
//! data, the whole cut into several ingest runs), the final accounts, deals,
//! tasks, decisions and event log equal those of delivering each event once,
//! and every changed copy is a rejected line.

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use dealflow::ingest::Ingest;
use dealflow::playbook::{self, Current, Playbook};
use dealflow::store::{Store, TaskFilter};
use proptest::prelude::*;

mod common;
use serde_json::Value;

/// The default playbook (the repository root is a config folder), loaded once.
fn playbook() -> &'static Arc<Current> {
    static PLAYBOOK: OnceLock<Arc<Current>> = OnceLock::new();
    PLAYBOOK.get_or_init(|| {
        playbook::current(Playbook::load(Path::new(env!("CARGO_MANIFEST_DIR"))).expect("the default playbook loads"))
    })
}

/// Everything the events decided, without row numbers and wall-clock times.
#[derive(Debug, PartialEq)]
struct State {
    accounts: Vec<String>,
    deals: Vec<String>,
    tasks: Vec<Value>,
    decisions: Vec<Value>,
    events: Vec<String>,
}

fn state(store: &Store) -> State {
    let mut tasks: Vec<Value> =
        store.tasks(&TaskFilter::default()).unwrap().into_iter().map(|t| serde_json::to_value(t).unwrap()).collect();
    tasks.sort_by_key(|t| t["id"].as_i64());
    let decisions = store
        .decisions(None, None)
        .unwrap()
        .into_iter()
        .map(|d| {
            let mut v = serde_json::to_value(d).unwrap();
            v.as_object_mut().unwrap().remove("seq");
            v
        })
        .collect();
    State {
        accounts: store.accounts(false).unwrap().iter().map(|a| format!("{a:?}")).collect(),
        deals: store.deals(None, None).unwrap().iter().map(|d| format!("{d:?}")).collect(),
        tasks,
        decisions,
        events: store.event_history().unwrap(),
    }
}

/// Ingest `runs` (each a list of lines) one after another, each run its own
/// ingest session on the same store, and read the final state and the
/// reasons of the rejected lines.
fn deliver_counting(runs: &[Vec<String>]) -> (State, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("dealflow.db"), Duration::from_secs(5)).unwrap();
    let mut rejected = Vec::new();
    for (i, lines) in runs.iter().enumerate() {
        let mut ingest = Ingest::start(&store, playbook()).unwrap();
        ingest.keep_all_rejections = true;
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        ingest.input(&format!("run-{i}.jsonl"), text.as_bytes()).unwrap();
        let summary = ingest.finish().unwrap();
        assert_eq!(summary.counts.rejected as usize, summary.rejections.len());
        rejected.extend(summary.rejections.into_iter().map(|r| r.reason));
    }
    assert_eq!(store.integrity_check().unwrap(), "ok");
    (state(&store), rejected)
}

/// [`deliver_counting`], where no line may be rejected.
fn deliver(runs: &[Vec<String>]) -> State {
    let (state, rejected) = deliver_counting(runs);
    assert!(rejected.is_empty(), "{rejected:#?}");
    state
}

/// The same id with different data: another event under a used id.
fn changed(line: &str) -> String {
    let mut v: Value = serde_json::from_str(line).unwrap();
    if let Some(data) = v.get_mut("data").and_then(Value::as_object_mut) {
        data.insert("redelivered".into(), true.into());
        for key in ["amount", "annual_value", "employees"] {
            if let Some(n) = data.get(key).and_then(Value::as_f64) {
                data.insert(key.into(), (n * 3.0 + 1.0).round().into());
            }
        }
        if data.contains_key("stage") {
            data.insert("stage".into(), "lost".into());
        }
    }
    v.to_string()
}

/// One extra copy: which event, where after its first delivery (a share of
/// what follows), and whether its data changed.
type Copy = (prop::sample::Index, prop::sample::Index, bool);

/// Each event in its original order, extra copies inserted after their
/// event's first delivery.
fn with_duplicates(events: &[String], copies: &[Copy]) -> Vec<String> {
    let mut order: Vec<(usize, bool)> = (0..events.len()).map(|i| (i, false)).collect();
    for (which, place, change) in copies {
        let event = which.index(events.len());
        let first = order.iter().position(|&(i, _)| i == event).unwrap();
        let at = first + 1 + place.index(order.len() - first);
        order.insert(at, (event, *change));
    }
    order.into_iter().map(|(i, change)| if change { changed(&events[i]) } else { events[i].clone() }).collect()
}

/// Cut `lines` into runs at the given shares of its length.
fn cut(lines: Vec<String>, cuts: &[prop::sample::Index]) -> Vec<Vec<String>> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c.index(lines.len() + 1)).collect();
    at.sort_unstable();
    let mut runs = Vec::new();
    let mut rest = lines;
    for cut in at.into_iter().rev() {
        runs.push(rest.split_off(cut.min(rest.len())));
    }
    runs.push(rest);
    runs.reverse();
    runs
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn duplicates_in_any_order_and_any_runs_change_nothing(
        seed in any::<u64>(),
        accounts in 1u64..6,
        body in 0u64..50,
        copies in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>(), any::<bool>()), 1..40),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
    ) {
        let events: Vec<String> = dealflow::synthetic::stream(seed, accounts, accounts + body).collect();
        let once = deliver(std::slice::from_ref(&events));
        prop_assert_eq!(once.events.len(), events.len());
        let lines = with_duplicates(&events, &copies);
        let parsed = |l: &str| serde_json::from_str::<Value>(l).unwrap();
        let originals: Vec<Value> = events.iter().map(|l| parsed(l)).collect();
        let changed_copies = lines.iter().filter(|l| !originals.contains(&parsed(l))).count();
        let (resent, rejected) = deliver_counting(&cut(lines, &cuts));
        prop_assert_eq!(&resent, &once);
        prop_assert_eq!(rejected.len(), changed_copies, "{:#?}", rejected);
        prop_assert!(rejected.iter().all(|r| r.contains("was applied before with other content")), "{:#?}", rejected);
    }
}

#[test]
fn a_whole_stream_sent_twice_is_applied_once() {
    let events: Vec<String> = dealflow::synthetic::stream(11, 8, 300).collect();
    let once = deliver(std::slice::from_ref(&events));
    assert!(!once.tasks.is_empty() && !once.decisions.is_empty() && !once.deals.is_empty(), "{once:#?}");
    let twice = deliver(&[events.clone(), events.iter().rev().cloned().collect()]);
    assert_eq!(twice, once);
}

#[test]
fn an_id_sent_again_with_other_content_is_a_rejected_line_and_the_same_content_a_skipped_duplicate() {
    let ws = common::Workspace::new();
    let first = r#"{"id": "e-1", "type": "deal.upserted", "at": "2026-11-02T09:30:00Z", "data": {"id": "D-1", "account_id": "A-1", "amount": 100}}"#;
    let untimed = r#"{"id": "e-2", "type": "lead.created", "data": {"id": "L-1", "company": "Acme"}}"#;
    let file = ws.event_file(&[first.into(), untimed.into()]);
    ws.ingest_file(&file);

    let same = [
        // The same event written another way: keys in another order, other
        // spaces, the same time in another offset, 100 as 100.0.
        r#"{"data":{"amount":100.0,"account_id":"A-1","id":"D-1"},"at":"2026-11-02T10:30:00+01:00","type":"deal.upserted","id":"e-1"}"#,
        // Read again later: an event without a time is still the same event.
        untimed,
    ];
    let other = [
        r#"{"id": "e-1", "type": "deal.upserted", "at": "2026-11-02T09:30:00Z", "data": {"id": "D-1", "account_id": "A-1", "amount": 900}}"#,
        r#"{"id": "e-1", "type": "deal.upserted", "at": "2026-11-03T09:30:00Z", "data": {"id": "D-1", "account_id": "A-1", "amount": 100}}"#,
        r#"{"id": "e-2", "type": "lead.created", "data": {"id": "L-1", "company": "Acme", "source": "web"}}"#,
    ];
    let again: Vec<String> = same.iter().chain(&other).map(|l| l.to_string()).collect();
    let resent = ws.event_file(&again);
    let out = ws.run(&["ingest", "--json", resent.to_str().unwrap()]).code(2);
    let summary = out.json();
    assert_eq!((&summary["applied"], &summary["duplicates"], &summary["rejected"]), (&0.into(), &2.into(), &3.into()));
    let got = common::rejections(&summary);
    assert_eq!(got.iter().map(|(l, _)| *l).collect::<Vec<_>>(), [3, 4, 5], "{got:#?}");
    let from = file.to_str().unwrap();
    assert_eq!(
        got[0].1,
        format!(
            "event id \"e-1\" was applied before with other content (from {from} line 1): an id names one event, send a change as a new event with an id of its own"
        )
    );
    assert!(
        got[2].1.starts_with(&format!("event id \"e-2\" was applied before with other content (from {from} line 2)"))
    );
    let printed = ws.run(&["ingest", resent.to_str().unwrap()]).code(2).stderr;
    assert!(printed.contains(&format!("{}:3: rejected: event id \"e-1\"", resent.display())), "{printed}");
    assert_eq!(ws.deal("D-1")["amount"], 100.0, "the other content was not applied");
}

#[test]
fn events_stored_before_content_hashes_are_compared_with_their_stored_body() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("dealflow.db");
    let store = Store::open(&db, Duration::from_secs(5)).unwrap();
    let timed = r#"{"id": "e-1", "type": "order.placed", "at": "2026-11-02T09:30:00Z", "data": {"id": "O-1", "account_id": "A-1", "amount": 5}}"#;
    let untimed = r#"{"id": "e-2", "type": "lead.created", "data": {"id": "L-1", "company": "Acme"}}"#;
    let ingest = |lines: &[&str]| {
        let mut ingest = Ingest::start(&store, playbook()).unwrap();
        ingest.keep_all_rejections = true;
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        ingest.input("events.jsonl", text.as_bytes()).unwrap();
        ingest.finish().unwrap()
    };
    ingest(&[timed, untimed]);
    // As a store written before the hash was kept holds them.
    let conn = rusqlite::Connection::open(&db).unwrap();
    assert_eq!(conn.execute("UPDATE events SET content_hash = NULL", []).unwrap(), 2);
    drop(conn);

    let summary = ingest(&[
        timed,
        untimed,
        r#"{"id": "e-1", "type": "order.placed", "at": "2026-11-02T09:30:00Z", "data": {"id": "O-1", "account_id": "A-1", "amount": 6}}"#,
        r#"{"id": "e-2", "type": "lead.created", "at": "2026-11-02T09:30:00Z", "data": {"id": "L-1", "company": "Acme", "x": 1}}"#,
    ]);
    assert_eq!((summary.counts.duplicates, summary.counts.rejected), (2, 2), "{:#?}", summary.rejections);
    assert_eq!(summary.rejections.iter().map(|r| r.line).collect::<Vec<_>>(), [3, 4]);
}
