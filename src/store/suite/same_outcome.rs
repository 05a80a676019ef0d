//! The same events ingested into a SQLite store and into an in-memory one
//! (or a PostgreSQL one, with `DEALFLOW_TEST_PG`) give the same outcome: tasks (every field), accounts, deals, decisions,
//! the history, the clock's state, the queues' counts. The stream is the
//! bench's synthetic one, with what real inputs also hold: events sent
//! again, an event changed under the same id, lines that are no event,
//! tasks completed, and (in the second test) clock ticks through the year.

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use crate::ingest::Ingest;
use crate::playbook::{self, Current, Playbook};
use crate::store::{Store, TaskFilter};

/// Events per batch: small, so a run commits many.
const BATCH: usize = 50;

fn playbook() -> Arc<Current> {
    let mut p = Playbook::load(Path::new(env!("CARGO_MANIFEST_DIR"))).expect("the default playbook loads");
    p.config.store.batch_size = BATCH;
    playbook::current(p)
}

/// The synthetic stream with duplicates, a changed event, bad lines and
/// completed tasks mixed in; with `ticks`, a clock tick every `ticks` lines
/// (at the time of the line before) and one after the end.
fn stream(seed: u64, accounts: u64, total: u64, ticks: Option<usize>) -> Vec<String> {
    let mut out = Vec::new();
    let mut task = 0;
    for (i, line) in crate::synthetic::stream(seed, accounts, total).enumerate() {
        let v: Value = serde_json::from_str(&line).unwrap();
        let at = v["at"].as_str().unwrap().to_string();
        out.push(line.clone());
        if i % 97 == 5 {
            out.push(line.clone());
        }
        if i % 151 == 7 {
            let mut changed = v.clone();
            changed["data"]["changed"] = true.into();
            out.push(changed.to_string());
            out.push(format!("{{\"id\": \"bad-{i}\", \"type\": \"no.such\", \"at\": \"{at}\"}}"));
            out.push("not json".into());
        }
        if i % 41 == 40 {
            task += 1;
            let done = serde_json::json!({"id": format!("done-{i}"), "type": "task.completed", "at": at,
                "data": {"task_id": format!("T-{task}"), "by": "Ana Ruiz", "outcome": "called"}});
            out.push(done.to_string());
        }
        if ticks.is_some_and(|n| i % n == n - 1) {
            out.push(format!(r#"{{"id": "tick-{i}", "type": "clock.tick", "at": "{at}"}}"#));
        }
    }
    if ticks.is_some() {
        out.push(r#"{"id": "tick-end", "type": "clock.tick", "at": "2027-01-20T09:00:00Z"}"#.into());
    }
    out
}

/// Ingest `lines` into `store`, reading `ahead` lines ahead (as `ingest` reads files).
fn ingest(store: &Store, lines: &[String], ahead: usize) -> String {
    let current = playbook();
    let mut ingest = Ingest::start(store, &current).unwrap().read_ahead(ahead);
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    ingest.input("events.jsonl", text.as_bytes()).unwrap();
    format!("{:?}", ingest.finish().unwrap().counts)
}

/// What the engine left, part by part, without wall-clock times.
fn outcome(s: &Store) -> Vec<(&'static str, String)> {
    let rejected: Vec<_> = s.rejected().unwrap().into_iter().map(|r| (r.source, r.line, r.reason, r.raw)).collect();
    vec![
        ("tasks", format!("{:#?}", s.tasks(&TaskFilter::default()).unwrap())),
        ("accounts", format!("{:#?}", s.accounts(false).unwrap())),
        ("deals", format!("{:#?}", s.deals(None, None).unwrap())),
        ("decisions", format!("{:#?}", s.decisions(None, None).unwrap())),
        ("events", format!("{:#?}", s.event_history().unwrap())),
        ("rejected", format!("{rejected:#?}")),
        ("counts", format!("{:?} {:?}", s.counts().unwrap(), s.open_tasks_by_role().unwrap())),
        ("targets", format!("{:#?}", s.all_targets().unwrap())),
        ("handovers", format!("{:#?}", s.waiting_handovers().unwrap())),
        (
            "clock",
            format!(
                "{:?} {:?} {:?} {:?}",
                s.sweep_epoch().unwrap(),
                s.meta("sweeps").unwrap(),
                s.meta("key_review_sweeps").unwrap(),
                s.latest_event_at().unwrap()
            ),
        ),
    ]
}

fn same_outcome(lines: &[String]) {
    same_outcome_as_sqlite(lines, &Store::memory(), "memory");
}

/// `other` (named `name`) ends as a SQLite store given the same lines does.
/// `other` reads 64 lines ahead, as `ingest` reads a file, and SQLite none:
/// on PostgreSQL the events ahead are looked up together (`expect_events`),
/// and the stream's duplicates and changed events come within that window.
fn same_outcome_as_sqlite(lines: &[String], other: &Store, name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Store::open(&dir.path().join("t.db"), std::time::Duration::from_secs(5)).unwrap();
    assert_eq!(ingest(other, lines, 64), ingest(&sqlite, lines, 0), "the ingest summaries");
    // Again: every event is now stored, in units before this one.
    assert_eq!(ingest(other, lines, 64), ingest(&sqlite, lines, 0), "the same lines again");
    let (expected, got) = (outcome(&sqlite), outcome(other));
    for ((what, expected), (_, got)) in expected.iter().zip(&got) {
        if expected != got {
            let first = expected.lines().zip(got.lines()).position(|(e, g)| e != g).unwrap_or(0);
            let around =
                |text: &str| text.lines().skip(first.saturating_sub(15)).take(30).collect::<Vec<_>>().join("\n");
            panic!("{what} differ from line {first}:\n--- sqlite\n{}\n--- {name}\n{}", around(expected), around(got));
        }
    }
    assert!(expected[0].1.contains("status: Done"), "the stream closes tasks");
    assert!(expected[3].1.contains("task_created"), "the stream makes tasks");
}

#[test]
fn a_stream_ingested_in_memory_gives_what_it_gives_in_sqlite() {
    same_outcome(&stream(11, 25, 700, None));
}

#[test]
fn a_stream_with_ticks_ingested_in_memory_gives_what_it_gives_in_sqlite() {
    same_outcome(&stream(12, 25, 700, Some(100)));
}

#[test]
fn a_stream_ingested_in_postgres_gives_what_it_gives_in_sqlite() {
    let Some((_db, postgres)) = super::postgres() else { return };
    same_outcome_as_sqlite(&stream(11, 25, 700, None), &postgres, "postgres");
}

#[test]
fn a_stream_with_ticks_ingested_in_postgres_gives_what_it_gives_in_sqlite() {
    let Some((_db, postgres)) = super::postgres() else { return };
    same_outcome_as_sqlite(&stream(12, 25, 700, Some(100)), &postgres, "postgres");
}

/// A replay store (simulate's) keeps no event text and no decisions, and
/// decides all the rest as a full one does: duplicates and changed events
/// under a known id are still told apart, from what it keeps of each event.
#[test]
fn a_replay_store_decides_what_a_full_one_does_and_keeps_no_history() {
    let lines = stream(13, 25, 700, Some(150));
    let (full, replay) = (Store::memory(), Store::replay());
    assert_eq!(ingest(&replay, &lines, 0), ingest(&full, &lines, 0), "the ingest summaries (duplicates included)");
    let kept = |s: &Store| {
        outcome(s).into_iter().filter(|(what, _)| !["decisions", "events"].contains(what)).collect::<Vec<_>>()
    };
    assert_eq!(kept(&replay), kept(&full));
    assert!(replay.event_history().unwrap().is_empty() && replay.decisions(None, None).unwrap().is_empty());
    assert_eq!(replay.event_count().unwrap(), full.event_count().unwrap());
    assert!(!full.event_history().unwrap().is_empty());
}
