//! Ingest throughput with the default rules into a file-backed SQLite
//! database: a seeded synthetic stream of 100,000 events over 2,000 accounts.
//! Run with `cargo bench --bench ingest`; the figure is events per second.

use std::io::Write;
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
    let mut f = std::io::BufWriter::new(std::fs::File::create(&events).unwrap());
    for line in dealflow::synthetic::stream(42, ACCOUNTS, EVENTS) {
        writeln!(f, "{line}").unwrap();
    }
    f.flush().unwrap();
    drop(f);

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
    group.finish();
}

criterion_group!(benches, ingest);
criterion_main!(benches);
