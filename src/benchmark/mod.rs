//! What `dealflow bench` and `benches/` measure: a seeded synthetic stream
//! written to a file (streamed: never held in memory whole), then read back
//! twice into scratch databases of the same kind, once by the store-only
//! baseline (parse each event and insert it, no rules) and once by the
//! engine with the playbook's rules, so the two rates come from one run on
//! one machine and their ratio means something.

pub mod baseline;
pub mod memory;
pub mod scratch;

use std::io::{BufWriter, Write};
use std::path::Path;

use crate::error::{Error, Result};

/// Write `events` synthetic events over `accounts` accounts to `path`, one
/// per line; `progress` hears how many are written so far, now and then.
pub fn write_stream(path: &Path, seed: u64, accounts: u64, events: u64, progress: &dyn Fn(u64)) -> Result<u64> {
    let write_err = |source| Error::Write { path: path.to_path_buf(), source };
    let file = std::fs::File::create(path).map_err(write_err)?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut written = 0_u64;
    for line in crate::synthetic::stream(seed, accounts, events) {
        out.write_all(line.as_bytes()).and_then(|_| out.write_all(b"\n")).map_err(write_err)?;
        written += 1;
        if written.is_multiple_of(10_000) {
            progress(written);
        }
    }
    out.flush().map_err(write_err)?;
    progress(written);
    Ok(written)
}

/// `n` open `sales_rep` tasks of mixed urgency (low, normal, high, urgent in
/// turn; due over four weeks), as the default rules' new-lead follow-up
/// would make them, in one unit: the queue the claim and web benchmarks
/// work on. `assignee(i)` says whose the i-th is (`None`: the role's queue).
pub fn fill_queue(store: &crate::store::Store, n: usize, assignee: impl Fn(usize) -> Option<String>) -> Result<()> {
    use crate::model::{NewTask, Priority, RuleRef, Subject};
    let unit = store.begin()?;
    let priorities = [Priority::Low, Priority::Normal, Priority::High, Priority::Urgent];
    for i in 0..n {
        let t = NewTask {
            role: "sales_rep".into(),
            assignee: assignee(i),
            title: format!("Call prospect {i}"),
            priority: priorities[i % 4],
            due_at: format!("2026-12-{:02}", 1 + i % 28),
            subject: Subject::new("lead", &format!("L-{i}")),
            rule: RuleRef { file: "rules/tasks_sales.rhai".into(), function: "task_follow_up_new_lead".into() },
            reason: "benchmark".into(),
            dedup_key: format!("bench-{i}"),
        };
        store.create_task(&t, "bench", "bench", "2026-11-26T00:00:00Z")?;
    }
    unit.commit()
}
