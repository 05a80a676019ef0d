//! Re-sending events is always safe: an event whose id was applied is
//! skipped. Property: for a generated stream of events (the synthetic stream,
//! with proptest choosing the seed and sizes) delivered with duplicates (each
//! event first in its original order, extra copies anywhere after it, some
//! copies with changed data, the whole cut into several ingest runs), the
//! final accounts, deals, tasks, decisions and event log equal those of
//! delivering each event once.

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use dealflow::ingest::Ingest;
use dealflow::playbook::{self, Current, Playbook};
use dealflow::store::{Store, TaskFilter};
use proptest::prelude::*;
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
/// ingest session on the same store, and read the final state.
fn deliver(runs: &[Vec<String>]) -> State {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("dealflow.db"), Duration::from_secs(5)).unwrap();
    for (i, lines) in runs.iter().enumerate() {
        let mut ingest = Ingest::start(&store, playbook()).unwrap();
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        ingest.input(&format!("run-{i}.jsonl"), text.as_bytes()).unwrap();
        let summary = ingest.finish().unwrap();
        assert_eq!(summary.counts.rejected, 0, "{:?}", summary.rejections);
    }
    assert_eq!(store.integrity_check().unwrap(), "ok");
    state(&store)
}

/// The same event (same id) with different data: still a duplicate.
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
        let resent = deliver(&cut(with_duplicates(&events, &copies), &cuts));
        prop_assert_eq!(&resent, &once);
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
