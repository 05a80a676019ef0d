//! Ingest throughput with the default rules into a file-backed SQLite
//! database: a seeded synthetic stream of 100,000 events over 2,000 accounts,
//! beside the store-only baseline (the same stream parsed and inserted, no
//! rules) in the same run. Run with `cargo bench --bench ingest`; the figures
//! are events per second.

use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dealflow::ingest::Ingest;
use dealflow::playbook::{self, Playbook};
use dealflow::store::Store;

const EVENTS: u64 = 100_000;
const ACCOUNTS: u64 = 2_000;

fn ingest(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let current = playbook::current(Playbook::load(root).expect("the default config and rules load"));
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    dealflow::benchmark::write_stream(&events, 42, ACCOUNTS, EVENTS, &|_| {}).unwrap();
    let batch = current.load().config.store.batch_size;

    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Elements(EVENTS));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(60));
    let mut run = 0;
    group.bench_function("100k_events_default_rules", |b| {
        b.iter(|| {
            run += 1;
            let db = dir.path().join(format!("bench-{run}.db"));
            let store = Store::open(&db, Duration::from_secs(5)).unwrap();
            let mut ingest = Ingest::start(&store, &current).unwrap();
            ingest.input("events.jsonl", std::fs::File::open(&events).unwrap()).unwrap();
            let summary = ingest.finish().unwrap();
            assert_eq!(summary.counts.applied, EVENTS);
            drop(store);
            let _ = std::fs::remove_file(&db);
        })
    });
    group.bench_function("100k_events_store_only_baseline", |b| {
        b.iter(|| {
            run += 1;
            let db = dir.path().join(format!("baseline-{run}.db"));
            let store = Store::open(&db, Duration::from_secs(5)).unwrap();
            let file = std::fs::File::open(&events).unwrap();
            let stored = dealflow::benchmark::baseline::store_only(&store, "events.jsonl", file, batch).unwrap();
            assert_eq!(stored.inserted, EVENTS);
            drop(store);
            let _ = std::fs::remove_file(&db);
        })
    });
    group.finish();
}

criterion_group!(benches, ingest);
criterion_main!(benches);
