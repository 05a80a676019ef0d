//! The web page's and the HTTP API's latencies, and what `POST /api/events`
//! takes per second, against a running `dealflow serve` (release build) on
//! loopback, with a queue of 10,000 tasks.
//!
//! A config folder from `dealflow init`, N open `sales_rep` tasks written
//! into its store, a token for a sales rep; then `dealflow serve --listen
//! 127.0.0.1:0`, and each request made R times in a row from one client
//! (ureq, a kept-alive connection): p50, p95 and max, in milliseconds, from
//! sending the request to the last byte of the answer.
//!
//! `cargo bench --bench web`. Knobs: `WEB_BENCH_TASKS` (default 10,000),
//! `WEB_BENCH_ROUNDS` (default 50), `WEB_BENCH_EVENTS` (the events posted
//! in one `POST /api/events`, default 20,000), `WEB_BENCH_HOOKS` (Pipedrive
//! webhook deliveries posted, default 2,000, from 1 and from 4 clients).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dealflow::store::Store;

const BIN: &str = env!("CARGO_BIN_EXE_dealflow");

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn dealflow(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN).arg("--dir").arg(dir).args(args).env("RUST_LOG", "warn").output().unwrap();
    assert!(out.status.success(), "dealflow {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// `n` open sales_rep tasks of mixed urgency, a fifth of them Ana's.
fn fill(store: &Store, n: usize) {
    dealflow::benchmark::fill_queue(store, n, |i| (i % 5 == 0).then(|| "Ana Ruiz".to_string())).unwrap();
}

struct Server {
    child: std::process::Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

fn serve(dir: &Path) -> Server {
    let mut child = Command::new(BIN)
        .arg("--dir")
        .arg(dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut base = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("serving ") {
            base = Some(rest.split('/').take(3).collect::<Vec<_>>().join("/"));
        }
        if line.starts_with("watching: ") {
            break;
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    Server { child, base: base.expect("serve says where") }
}

/// p50, p95 and max of `rounds` runs of `f`, in ms.
fn timed(rounds: usize, mut f: impl FnMut()) -> (f64, f64, f64) {
    f(); // warm: the first answer opens a store
    let mut ms: Vec<f64> = (0..rounds)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.95), ms[ms.len() - 1])
}

fn main() {
    // `cargo bench` passes --bench; nothing else is taken.
    let tasks = knob("WEB_BENCH_TASKS", 10_000);
    let rounds = knob("WEB_BENCH_ROUNDS", 50);
    let events = knob("WEB_BENCH_EVENTS", 20_000);
    let dir = tempfile::tempdir().unwrap();
    let ok = Command::new(BIN).arg("init").arg(dir.path()).stdout(Stdio::null()).status().unwrap().success();
    assert!(ok, "dealflow init");
    let config = dir.path().join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}\n[webhooks.pipedrive]\n[webhooks.pipedrive.stages]\n1 = \"lead\"\n"))
        .unwrap();
    let hooks = knob("WEB_BENCH_HOOKS", 2_000);
    fill(&Store::open(&dir.path().join("dealflow.db"), Duration::from_secs(5)).unwrap(), tasks);
    let token = dealflow(dir.path(), &["token", "create", "--as", "Ana Ruiz"]).trim().to_string();
    let server = serve(dir.path());
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).max_redirects(0).build().into();
    let auth = format!("Bearer {token}");
    // A browser session, as the page uses.
    let signin = agent
        .post(format!("{}/signin", server.base))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(format!("token={token}&next=/"))
        .unwrap();
    let cookie = signin.headers().get("set-cookie").unwrap().to_str().unwrap().split(';').next().unwrap().to_string();
    let get = |path: &str, with_cookie: bool| {
        let req = agent.get(format!("{}{path}", server.base));
        let req = if with_cookie { req.header("Cookie", &cookie) } else { req.header("Authorization", &auth) };
        let mut r = req.call().unwrap();
        assert_eq!(r.status(), 200, "GET {path}");
        r.body_mut().read_to_string().unwrap().len()
    };
    println!("dealflow serve, {tasks} open sales_rep tasks, {rounds} requests each (ms: p50 / p95 / max; answer size)");
    let last_page = tasks.div_ceil(50);
    let pages: Vec<(String, String, bool)> = vec![
        ("the start page".into(), "/".into(), true),
        ("the queue, first page of 50".into(), "/queue?role=sales_rep".into(), true),
        (format!("the queue, page {last_page}"), format!("/queue?role=sales_rep&page={last_page}"), true),
        ("Ana's tasks".into(), "/queue?person=Ana%20Ruiz".into(), true),
        ("a task and why it exists".into(), format!("/tasks/{}", tasks / 2), true),
        ("GET /api/status".into(), "/api/status".into(), false),
        (format!("GET /api/tasks (all {tasks})"), "/api/tasks?role=sales_rep".into(), false),
        ("GET /api/tasks?assignee=Ana".into(), "/api/tasks?assignee=Ana%20Ruiz&status=open".into(), false),
    ];
    for (what, path, with_cookie) in &pages {
        let mut size = 0;
        let (p50, p95, max) = timed(rounds, || size = get(path, *with_cookie));
        println!("  {what:<40} {p50:>8.1} {p95:>8.1} {max:>8.1}   {:>7} KB", size / 1024);
    }
    let claim_and_done = || {
        let mut r = agent
            .post(format!("{}/api/tasks/claim", server.base))
            .header("Authorization", &auth)
            .header("Content-Type", "application/json")
            .send(r#"{"role": "sales_rep"}"#)
            .unwrap();
        assert_eq!(r.status(), 200);
        let task: serde_json::Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
        let r = agent
            .post(format!("{}/api/tasks/{}/done", server.base, task["id"]))
            .header("Authorization", &auth)
            .header("Content-Type", "application/json")
            .send(r#"{"outcome": "bench"}"#)
            .unwrap();
        assert_eq!(r.status(), 200);
    };
    // The CLI beside it: one process per answer.
    for (what, args) in [
        ("`dealflow status --json`", vec!["status", "--json"]),
        ("`dealflow tasks --role sales_rep --json`", vec!["tasks", "--role", "sales_rep", "--json"]),
    ] {
        let (p50, p95, max) = timed(rounds.min(20), || {
            dealflow(dir.path(), &args);
        });
        println!("  {what:<40} {p50:>8.1} {p95:>8.1} {max:>8.1}");
    }
    let (p50, p95, max) = timed(rounds, claim_and_done);
    println!("  {:<40} {p50:>8.1} {p95:>8.1} {max:>8.1}", "POST claim, then POST done");

    // Events: one POST of many lines, applied by the engine's thread, answered once committed.
    let body: String = (0..events)
        .map(|i| {
            format!(
                "{{\"id\":\"web-{i}\",\"type\":\"account.upserted\",\"at\":\"2026-07-01T09:00:00Z\",\"data\":{{\"id\":\"A-{i}\",\"name\":\"Account {i}\",\"region\":\"West\"}}}}\n"
            )
        })
        .collect();
    let t = Instant::now();
    let mut r = agent.post(format!("{}/api/events", server.base)).header("Authorization", &auth).send(&body).unwrap();
    let secs = t.elapsed().as_secs_f64();
    let summary: serde_json::Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(summary["applied"].as_u64(), Some(events as u64), "{summary}");
    println!("  POST /api/events, {events} lines in one body: {secs:.2} s = {:.0} events/s", events as f64 / secs);
    let file = dir.path().join("twin.jsonl");
    std::fs::write(&file, body.replace("\"web-", "\"cli-").replace("\"A-", "\"B-")).unwrap();
    let t = Instant::now();
    dealflow(dir.path(), &["ingest", "--json", file.to_str().unwrap()]);
    let secs = t.elapsed().as_secs_f64();
    println!("  the same as `dealflow ingest FILE` beside it: {secs:.2} s = {:.0} events/s", events as f64 / secs);

    // Webhooks: Pipedrive deal changes, each its own request, acknowledged once stored;
    // then the wait until the engine applied them all.
    for clients in [1usize, 4] {
        let first = clients * 1_000_000;
        let t = Instant::now();
        std::thread::scope(|scope| {
            for c in 0..clients {
                let (agent, base) = (agent.clone(), server.base.clone());
                scope.spawn(move || {
                    for i in (0..hooks).filter(|i| i % clients == c) {
                        let n = first + i;
                        let body = format!(
                            "{{\"meta\":{{\"action\":\"create\",\"entity\":\"deal\",\"entity_id\":\"{n}\",\"id\":\"wh-{n}\",\"timestamp\":\"2026-07-01T10:00:00.000Z\",\"version\":\"2.0\"}},\"data\":{{\"id\":{n},\"title\":\"Deal {n}\",\"stage_id\":1,\"status\":\"open\",\"value\":1000,\"org_id\":{},\"add_time\":\"2026-07-01T10:00:00Z\"}},\"previous\":null}}",
                            n % 500
                        );
                        let r = agent.post(format!("{base}/webhooks/pipedrive")).send(&body).unwrap();
                        assert_eq!(r.status(), 200);
                    }
                });
            }
        });
        let received = t.elapsed().as_secs_f64();
        let applied = loop {
            let status: serde_json::Value = serde_json::from_str(&dealflow(dir.path(), &["status", "--json"])).unwrap();
            if status["webhooks"]["pending"] == 0 {
                break t.elapsed().as_secs_f64();
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        println!(
            "  {hooks} Pipedrive webhooks from {clients} client(s): acknowledged in {received:.2} s = {:.0}/s; all applied after {applied:.2} s = {:.0}/s",
            hooks as f64 / received,
            hooks as f64 / applied
        );
    }
}
