//! Hot-reload latency, measured from outside as a user sees it: the time from
//! saving a rule file to the `rules reloaded` line of a running `dealflow
//! watch` (debounce included), and the reload time of a playbook of 200 rule
//! files. Run with `cargo bench --bench reload`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const SAVES: usize = 40;

fn main() {
    let exe = env!("CARGO_BIN_EXE_dealflow");
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("cfg");
    assert!(Command::new(exe).args(["init"]).arg(&cfg).status().unwrap().success());

    let defaults = measure(exe, &cfg, "rules/tasks_sales.rhai");
    report("save -> `rules reloaded` (default playbook, 4 files)", &defaults);

    for n in 0..200 {
        let text = format!(
            "/// Rule file {n}.\nfn task_bench_{n}(event, account) {{\n    if event.type == \"order.placed\" && account.revenue_12m > {n} {{\n        return task(\"marketing\", `Order {n}`);\n    }}\n}}\n\nfn stage_bench_{n}(deal) {{\n    if deal.stage == \"lead\" && deal.activities[\"call\"] > {n} {{ return move_to(\"qualified\", \"calls\"); }}\n}}\n"
        );
        std::fs::write(cfg.join(format!("rules/bench_{n:03}.rhai")), text).unwrap();
    }
    let mut loads = Vec::new();
    for _ in 0..10 {
        let started = Instant::now();
        let p = dealflow::playbook::Playbook::load(&cfg).expect("the 200-file playbook loads");
        loads.push(started.elapsed());
        assert_eq!(p.rule_files(), 204);
    }
    report("load and check 204 rule files (library)", &loads);
    let big = measure(exe, &cfg, "rules/bench_100.rhai");
    report("save -> `rules reloaded` (204 files)", &big);
}

/// Start `watch`, save `file` SAVES times, time each `rules reloaded` line.
fn measure(exe: &str, cfg: &Path, file: &str) -> Vec<Duration> {
    let mut child = Command::new(exe)
        .arg("--dir")
        .arg(cfg)
        .args(["watch", "--debounce-ms", "50"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send((Instant::now(), line));
        }
    });
    wait_for(&rx, "watching: ");
    let path = cfg.join(file);
    let original = std::fs::read_to_string(&path).unwrap();
    let mut times = Vec::new();
    for i in 0..SAVES {
        std::thread::sleep(Duration::from_millis(150));
        let tmp = path.with_extension("rhai.tmp");
        std::fs::write(&tmp, format!("{original}\n// save {i}\n")).unwrap();
        let saved = Instant::now();
        std::fs::rename(&tmp, &path).unwrap();
        let at = wait_for(&rx, "rules reloaded: ");
        times.push(at - saved);
    }
    std::fs::write(&path, original).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    times
}

fn wait_for(rx: &mpsc::Receiver<(Instant, String)>, prefix: &str) -> Instant {
    loop {
        let (at, line) = rx.recv_timeout(Duration::from_secs(30)).expect("watch answered");
        if line.starts_with(prefix) {
            return at;
        }
        assert!(!line.starts_with("rules rejected"), "{line}");
    }
}

fn report(what: &str, times: &[Duration]) {
    let mut ms: Vec<f64> = times.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    let pct = |p: f64| ms[((ms.len() as f64 - 1.0) * p).round() as usize];
    println!("{what}: n={} p50={:.0} ms p95={:.0} ms max={:.0} ms", ms.len(), pct(0.5), pct(0.95), ms[ms.len() - 1]);
}
