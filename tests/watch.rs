//! `dealflow watch` and `dealflow run` with a real process and real file
//! operations: edits in place, saves by rename, deletes and recreates, broken
//! edits, inbox files good and bad, a reload in the middle of a long file.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use common::{Workspace, event, example};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(20);

/// A running `dealflow watch`, its standard error read line by line.
struct Watching {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Watching {
    fn start(ws: &Workspace) -> Watching {
        let mut w = Watching::spawn(ws.command(&WATCH));
        w.expect("watching: ");
        w
    }

    /// Start a command, its standard error read line by line; nothing is waited for.
    fn spawn(mut cmd: std::process::Command) -> Watching {
        cmd.stderr(Stdio::piped()).stdout(Stdio::null());
        let mut child = cmd.spawn().expect("start dealflow watch");
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Watching { child, lines, seen: Vec::new() }
    }

    /// Wait for the process to end by itself: its exit code.
    fn exit_code(&mut self) -> i32 {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
                    self.seen.push(line);
                }
                return status.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "it did not end:\n{}", self.seen.join("\n"));
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The next line starting with `prefix` (earlier lines are kept in `seen`).
    fn expect(&mut self, prefix: &str) -> String {
        self.expect_within(prefix, WAIT)
    }

    fn expect_within(&mut self, prefix: &str, wait: Duration) -> String {
        let deadline = Instant::now() + wait;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.starts_with(prefix) {
                        return line;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("no line starting with {prefix:?} within {wait:?}; watch printed:\n{}", self.seen.join("\n"));
    }

    /// The lines printed right after the last one read (for multi-line messages).
    fn following(&mut self, n: usize) -> Vec<String> {
        (0..n)
            .map(|_| self.lines.recv_timeout(WAIT).expect("a following line"))
            .inspect(|l| self.seen.push(l.clone()))
            .collect()
    }

    fn stop(&mut self) -> i32 {
        unsafe_kill(self.child.id(), "TERM");
        // Keeps what it printed on the way out.
        self.exit_code()
    }
}

const WATCH: [&str; 5] = ["watch", "--debounce-ms", "50", "--settle-ms", "50"];

impl Drop for Watching {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unsafe_kill(pid: u32, signal: &str) {
    let ok =
        std::process::Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status().unwrap().success();
    assert!(ok, "kill -{signal} {pid}");
}

/// The version named in a `rules reloaded: VERSION (N files) in M ms` line.
fn version_of(line: &str) -> String {
    line.trim_start_matches("rules reloaded: ").split_whitespace().next().unwrap().to_string()
}

fn files_of(line: &str) -> &str {
    let start = line.find('(').unwrap() + 1;
    &line[start..line.find(" files)").unwrap()]
}

const EXTRA_RULE: &str = "\n/// Marketing hears of every order.\nfn task_tell_marketing(event, account) {\n    if event.type == \"order.placed\" {\n        return task(\"marketing\", `Order from ${account.name}`, #{ dedup: event.data.id });\n    }\n}\n";

/// Write the file under a temporary name, then rename it into place (how editors save).
fn save_by_rename(path: &Path, text: &str) {
    let tmp = path.with_file_name(format!(".{}.tmp", path.file_name().unwrap().to_string_lossy()));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn edits_reload_in_place_by_rename_and_by_delete_and_recreate() {
    let ws = Workspace::new();
    let mut w = Watching::start(&ws);
    let first = ws.status()["rules_version"].as_str().unwrap().to_string();

    // In place.
    let original = ws.read("rules/tasks_sales.rhai");
    std::fs::write(ws.path("rules/tasks_sales.rhai"), format!("{original}{EXTRA_RULE}")).unwrap();
    let line = w.expect("rules reloaded: ");
    let second = version_of(&line);
    assert_ne!(second, first);
    assert_eq!(files_of(&line), "5");
    assert!(line.ends_with(" ms"), "{line}");

    // By rename, as editors save.
    save_by_rename(&ws.path("rules/tasks_sales.rhai"), &original);
    let third = version_of(&w.expect("rules reloaded: "));
    assert_eq!(third, first, "the same text is the same version");

    // Delete, then recreate.
    let key = ws.read("rules/key_accounts.rhai");
    std::fs::remove_file(ws.path("rules/key_accounts.rhai")).unwrap();
    assert_eq!(files_of(&w.expect("rules reloaded: ")), "4");
    std::fs::write(ws.path("rules/key_accounts.rhai"), &key).unwrap();
    let back = w.expect("rules reloaded: ");
    assert_eq!((files_of(&back), version_of(&back)), ("5", first.clone()));

    // A new rule file, then its removal.
    ws.write("rules/marketing.rhai", EXTRA_RULE);
    assert_eq!(files_of(&w.expect("rules reloaded: ")), "6");
    std::fs::remove_file(ws.path("rules/marketing.rhai")).unwrap();
    assert_eq!(files_of(&w.expect("rules reloaded: ")), "5");

    // Swap files and other noise reload nothing.
    std::fs::write(ws.path("rules/.tasks_sales.rhai.swp"), "junk").unwrap();
    std::fs::write(ws.path("rules/4913"), "").unwrap();
    std::fs::write(ws.path("notes.txt"), "x").unwrap();
    // config.toml is part of the playbook.
    ws.edit("config.toml", "lead_follow_up_days = 1", "lead_follow_up_days = 3");
    let cfg = version_of(&w.expect("rules reloaded: "));
    assert_ne!(cfg, first);
    let reloads = w.seen.iter().filter(|l| l.starts_with("rules reloaded: ")).count();
    assert_eq!(reloads, 7, "one line per real change, none for noise:\n{}", w.seen.join("\n"));

    // status shows the version in force.
    assert_eq!(ws.status()["rules_version"], cfg);
    assert_eq!(w.stop(), 0);
}

#[test]
fn a_broken_edit_is_rejected_with_its_place_and_the_old_rules_stay_in_force() {
    let ws = Workspace::new();
    let mut w = Watching::start(&ws);
    let good = ws.status()["rules_version"].as_str().unwrap().to_string();

    ws.edit(
        "rules/tasks_sales.rhai",
        "return task(\"sales_rep\", `Call new lead ${who}`",
        "return task(\"sales_repp\", `Call new lead ${who}`",
    );
    let line = w.expect("rules rejected: ");
    assert!(line.contains("1 problem"), "{line}");
    let detail = w.following(1).remove(0);
    assert!(
        detail.trim_start().starts_with("rules/tasks_sales.rhai:")
            && detail.contains("unknown role \"sales_repp\"")
            && detail.contains("did you mean \"sales_rep\""),
        "{detail}"
    );
    // The engine keeps going on the last good rules: an inbox file is still decided by them.
    save_by_rename(
        &ws.path("inbox/leads.jsonl"),
        &(event("lead.created", "2026-11-02T09:00:00Z", json!({"id": "L-1", "company": "Acme"})) + "\n"),
    );
    w.expect("inbox/leads.jsonl: applied 1");
    let task = ws.task_titled("Call new lead Acme");
    assert_eq!(task["rules_version"], good);
    assert_eq!(ws.status()["rules_version"], good);

    // A syntax error too.
    ws.write("rules/zz.rhai", "fn task_x(event) { let = 1; }");
    w.expect("rules rejected: ");
    assert!(w.following(2).iter().any(|l| l.trim_start().starts_with("rules/zz.rhai:1:")), "{:?}", w.seen);

    // A deleted rules folder is refused, not obeyed.
    let rules = ws.path("rules");
    let aside = ws.root().join("rules-aside");
    std::fs::rename(&rules, &aside).unwrap();
    w.expect("rules rejected: ");
    std::fs::rename(&aside, &rules).unwrap();
    w.expect("rules rejected: "); // zz.rhai is still broken

    // The fix is picked up.
    std::fs::remove_file(ws.path("rules/zz.rhai")).unwrap();
    w.expect("rules rejected: "); // tasks_sales.rhai still names sales_repp
    ws.edit("rules/tasks_sales.rhai", "task(\"sales_repp\"", "task(\"sales_rep\"");
    let line = w.expect("rules reloaded: ");
    assert_eq!(version_of(&line), good, "{}", w.seen.join("\n"));
    assert_eq!(w.stop(), 0);
}

#[test]
fn inbox_files_are_ingested_once_and_moved_bad_lines_listed_beside_them() {
    let ws = Workspace::new();
    // A file waiting before watch starts is processed at start.
    std::fs::copy(example("quarter.jsonl"), ws.path("inbox/2026-q3.jsonl")).unwrap();
    let mut w = Watching::start(&ws);
    let line = w.expect("inbox/2026-q3.jsonl: ");
    assert!(
        line.contains("applied 315,")
            && line.contains("rejected 0")
            && line.ends_with("moved to inbox/done/2026-q3.jsonl"),
        "{line}"
    );
    assert!(ws.path("inbox/done/2026-q3.jsonl").is_file() && !ws.path("inbox/2026-q3.jsonl").exists());

    // A malformed file: good lines applied, bad ones listed in its .errors file.
    let text = std::fs::read_to_string(example("with-errors.jsonl")).unwrap();
    save_by_rename(&ws.path("inbox/late.jsonl"), &text);
    let line = w.expect("inbox/late.jsonl: ");
    assert!(
        line.contains("applied 5,")
            && line.contains("rejected 3")
            && line.ends_with("moved to inbox/failed/late.jsonl"),
        "{line}"
    );
    let errors = std::fs::read_to_string(ws.path("inbox/failed/late.errors")).unwrap();
    let listed: Vec<&str> = errors.lines().map(|l| l.split(": ").next().unwrap()).collect();
    assert_eq!(listed, ["inbox/late.jsonl:2", "inbox/late.jsonl:4", "inbox/late.jsonl:6"], "{errors}");

    // The same file again: nothing applied twice, moved beside the first.
    std::fs::copy(example("quarter.jsonl"), ws.path("inbox/2026-q3.jsonl")).unwrap();
    let line = w.expect("inbox/2026-q3.jsonl: ");
    assert!(
        line.contains("applied 0, duplicates skipped 315") && line.ends_with("inbox/done/2026-q3-2.jsonl"),
        "{line}"
    );
    // Files still being written (hidden or .tmp names) are left alone.
    std::fs::write(ws.path("inbox/.partial.jsonl"), "{").unwrap();
    std::fs::write(ws.path("inbox/x.jsonl.tmp"), "{").unwrap();
    assert_eq!(w.stop(), 0);
    assert!(ws.path("inbox/.partial.jsonl").exists() && ws.path("inbox/x.jsonl.tmp").exists());
    assert!(!w.seen.iter().any(|l| l.contains("partial") || l.contains(".tmp")), "{:?}", w.seen);
    assert_eq!(ws.status()["key_accounts"], 3);
}

#[test]
fn a_reload_during_a_long_inbox_file_takes_effect_from_the_next_event() {
    let ws = small_batches();
    let mut w = Watching::start(&ws);
    save_by_rename(&ws.path("inbox/big.jsonl"), &long_file(6_000));
    // Wait until part of the file is committed, then change the rules.
    wait_for_commits(&ws);
    ws.write("rules/marketing.rhai", EXTRA_RULE);
    let reloaded = w.expect("rules reloaded: ");
    let done = w.expect_within("inbox/big.jsonl: ", Duration::from_secs(120));
    assert!(done.contains("applied 6001,") && done.contains("rejected 0"), "{done}");
    let new_version = version_of(&reloaded);

    // Orders after the reload got the new rule's task, each decided by the new version only.
    let told = ws.tasks_titled("Order from Acme");
    assert!(!told.is_empty() && told.len() < 6_000, "the reload landed mid-file: {} tasks", told.len());
    assert!(told.iter().all(|t| t["rules_version"] == new_version));
    assert_eq!(ws.status()["rules_version"], new_version);
    assert_eq!(w.stop(), 0);
}

#[test]
fn run_processes_the_inbox_once_and_exits() {
    let ws = Workspace::new();
    let empty = ws.run(&["run"]).success();
    assert!(empty.stdout.contains("is empty"), "{}", empty.stdout);
    std::fs::copy(example("quarter.jsonl"), ws.path("inbox/a.jsonl")).unwrap();
    std::fs::copy(example("with-errors.jsonl"), ws.path("inbox/b.jsonl")).unwrap();
    let out = ws.run(&["run", "--json"]).code(2).json();
    let files: Vec<(&str, &str)> = out["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["file"].as_str().unwrap(), f["moved_to"].as_str().unwrap()))
        .collect();
    assert_eq!(files, [("inbox/a.jsonl", "inbox/done/a.jsonl"), ("inbox/b.jsonl", "inbox/failed/b.jsonl")]);
    assert_eq!((&out["total"]["applied"], &out["total"]["rejected"]), (&json!(320), &json!(3)));
    assert!(ws.path("inbox/failed/b.errors").is_file());
    assert!(ws.run(&["run"]).success().stdout.contains("is empty"));
}

/// Orders for one account, many enough to take a while to ingest.
fn long_file(orders: usize) -> String {
    let mut lines = vec![event("account.upserted", "2026-01-01T08:00:00Z", json!({"id": "A-1", "name": "Acme"}))];
    for n in 0..orders {
        let amount = if n % 100 == 0 { 20_000 } else { 10 };
        lines.push(event(
            "order.placed",
            "2026-01-02T08:00:00Z",
            json!({"id": format!("O-{n}"), "account_id": "A-1", "amount": amount}),
        ));
    }
    lines.join("\n") + "\n"
}

/// A workspace that commits every 100 events, so a stop lands between commits.
fn small_batches() -> Workspace {
    let ws = Workspace::new();
    ws.edit("config.toml", "path = \"dealflow.db\"", "path = \"dealflow.db\"\nbatch_size = 100");
    ws
}

/// Wait until some of the long file is committed (every 100th order makes a task).
fn wait_for_commits(ws: &Workspace) {
    let deadline = Instant::now() + WAIT;
    while ws.tasks_titled("Confirm delivery of order").len() < 3 {
        assert!(Instant::now() < deadline, "nothing was committed");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn killed_mid_file_then_restarted_nothing_is_lost_or_doubled() {
    let text = long_file(4_000);
    // The reference: the same file ingested uninterrupted.
    let clean = Workspace::new();
    let reference = clean.root().join("orders.jsonl");
    std::fs::write(&reference, &text).unwrap();
    clean.ingest_file(&reference);

    let ws = small_batches();
    let mut w = Watching::start(&ws);
    save_by_rename(&ws.path("inbox/orders.jsonl"), &text);
    wait_for_commits(&ws);
    unsafe_kill(w.child.id(), "KILL");
    let _ = w.child.wait();
    assert!(ws.path("inbox/orders.jsonl").exists(), "a file is moved only once it is done");

    let mut again = Watching::start(&ws);
    let line = again.expect_within("inbox/orders.jsonl: ", Duration::from_secs(120));
    let applied: u64 = line.split("applied ").nth(1).unwrap().split(',').next().unwrap().parse().unwrap();
    let skipped: u64 = line.split("duplicates skipped ").nth(1).unwrap().split(',').next().unwrap().parse().unwrap();
    assert_eq!(applied + skipped, 4_001, "{line}");
    assert!(skipped > 0, "the kill landed after some events were committed: {line}");
    assert_eq!(again.stop(), 0);
    assert_eq!(sorted(&ws), sorted(&clean));
    assert_eq!(ws.status()["open_tasks"], clean.status()["open_tasks"]);
}

#[test]
fn sigterm_mid_file_commits_what_was_applied_and_the_rest_follows_on_restart() {
    let ws = small_batches();
    let text = long_file(4_000);
    let mut w = Watching::start(&ws);
    save_by_rename(&ws.path("inbox/orders.jsonl"), &text);
    wait_for_commits(&ws);
    assert_eq!(w.stop(), 0, "a clean stop exits 0");
    let stopped = w.seen.iter().find(|l| l.starts_with("inbox/orders.jsonl: ")).cloned().unwrap_or_default();
    assert!(stopped.ends_with("stopped; stays in the inbox"), "{:?}", w.seen);
    assert!(ws.path("inbox/orders.jsonl").exists());

    let out = ws.run(&["run", "--json"]).success().json();
    let total = &out["total"];
    let done = total["applied"].as_u64().unwrap() + total["duplicates"].as_u64().unwrap();
    assert_eq!(done, 4_001);
    assert!(total["duplicates"].as_u64().unwrap() > 0);
    assert_eq!(ws.tasks_titled("Confirm delivery of order").len(), 40);
}

fn sorted(ws: &Workspace) -> Vec<String> {
    let mut v: Vec<String> =
        ws.tasks().iter().map(|t| format!("{} {} {}", t["role"], t["title"], t["due_at"])).collect();
    v.sort();
    v
}

#[test]
fn simulate_first_prints_what_a_reload_changes_on_the_stored_history() {
    let ws = Workspace::new();
    ws.edit("config.toml", "[clock]", "[watch]\nreload = \"simulate-first\"\n\n[clock]");
    ws.ingest_file(&example("quarter.jsonl"));
    let mut w = Watching::start(&ws);
    ws.edit("config.toml", "key_revenue_12m = 150000", "key_revenue_12m = 100000");
    let reloaded = version_of(&w.expect("rules reloaded: "));
    let line = w.expect("simulated ");
    assert_eq!(line, format!("simulated {reloaded} on the 315 stored events: tasks +2 -0; key: +A-5"));
    assert_eq!(w.stop(), 0);
}

/// `cmd` starts with SIGTERM blocked, as the child of a thread that blocks it
/// does; with `sent`, a SIGTERM is already waiting when the program starts
/// (sent between fork and exec: the earliest a signal can come, always). A
/// blocked signal waits until dealflow catches it, so the moment it lands is
/// up to the test, not to the scheduler.
#[cfg(unix)]
fn with_sigterm_blocked(mut cmd: std::process::Command, sent: bool) -> std::process::Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGTERM);
            let e = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            if e != 0 {
                return Err(std::io::Error::from_raw_os_error(e));
            }
            if sent && libc::kill(libc::getpid(), libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    };
    cmd
}

#[cfg(unix)]
#[test]
fn a_stop_signal_during_start_up_is_a_clean_stop() {
    let ws = Workspace::new();
    std::fs::copy(example("quarter.jsonl"), ws.path("inbox/q.jsonl")).unwrap();
    // Sent before the program's first instruction: caught before anything is done.
    let mut w = Watching::spawn(with_sigterm_blocked(ws.command(&WATCH), true));
    assert_eq!(w.exit_code(), 0, "a stop during start-up is a clean stop:\n{}", w.seen.join("\n"));
    assert!(w.seen.iter().any(|l| l.starts_with("stopping: ")), "{:?}", w.seen);
    assert!(ws.path("inbox/q.jsonl").exists(), "nothing was taken from the inbox: {:?}", w.seen);
    assert!(!w.seen.iter().any(|l| l.starts_with("inbox/")), "{:?}", w.seen);

    // Later in the start-up (parsing, loading the rules, opening the store,
    // the first inbox file): whatever it was doing, it stops cleanly.
    for delay in [0, 2, 10, 40, 150] {
        let mut w = Watching::spawn(with_sigterm_blocked(ws.command(&WATCH), false));
        std::thread::sleep(Duration::from_millis(delay));
        // SAFETY: a signal to the child this test started and has not waited for.
        unsafe { libc::kill(w.child.id() as i32, libc::SIGTERM) };
        assert_eq!(w.exit_code(), 0, "stopped {delay} ms after the start:\n{}", w.seen.join("\n"));
        assert!(w.seen.iter().any(|l| l.starts_with("stopping: ")), "{:?}", w.seen);
    }
    // What was applied is whole: the file applied to its end now, once.
    let out = ws.run(&["run", "--json"]).success().json();
    assert_eq!(out["total"]["applied"].as_u64().unwrap() + out["total"]["duplicates"].as_u64().unwrap(), 315);
    assert_eq!(ws.status()["key_accounts"], 3);
}

#[cfg(unix)]
#[test]
fn a_command_that_does_not_stop_cleanly_ends_on_a_stop_signal_as_by_default() {
    use std::os::unix::process::ExitStatusExt;
    let ws = Workspace::new();
    let mut cmd = with_sigterm_blocked(ws.command(&["status"]), true);
    let status = cmd.stdout(Stdio::null()).stderr(Stdio::null()).status().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{status:?}");
}

#[test]
fn a_second_watch_names_the_pid_that_holds_the_inbox_and_takes_over_when_it_ends() {
    let ws = Workspace::new();
    let mut first = Watching::start(&ws);
    let pid = first.child.id();
    let mut second = Watching::spawn(ws.command(&WATCH));
    let line = second.expect("another dealflow process ");
    assert!(line.contains(&format!("(pid {pid})")) && line.contains("waiting until it stops"), "{line}");
    // `run` does not wait: it says who works on the inbox, and does nothing.
    let out = ws.run(&["run"]).code(1);
    assert!(out.stderr.contains(&format!("(pid {pid}) is processing this inbox")), "{}", out.stderr);

    // Files are for the first one alone.
    let lead =
        |id: &str, company: &str| event("lead.created", "2026-11-02T09:00:00Z", json!({"id": id, "company": company}));
    save_by_rename(&ws.path("inbox/a.jsonl"), &(lead("L-1", "Acme") + "\n"));
    first.expect("inbox/a.jsonl: applied 1,");
    // The first dies without a word: the OS frees its lock, and the second takes over.
    unsafe_kill(pid, "KILL");
    let _ = first.child.wait();
    second.expect("watching: ");
    save_by_rename(&ws.path("inbox/b.jsonl"), &(lead("L-2", "Bcme") + "\n"));
    second.expect("inbox/b.jsonl: applied 1,");
    assert_eq!(second.stop(), 0);
    let said = second.seen.join("\n");
    assert!(!said.contains("inbox/a.jsonl") && !said.contains("not processed"), "{said}");
    assert_eq!(ws.tasks_titled("Call new lead ").len(), 2);
}

#[test]
fn a_database_locked_for_longer_than_the_busy_timeout_is_waited_for_and_said_once() {
    let ws = Workspace::new();
    ws.edit("config.toml", "path = \"dealflow.db\"", "path = \"dealflow.db\"\nbusy_timeout_ms = 100");
    let mut w = Watching::start(&ws);
    // Another process takes the write lock and keeps it.
    let other = rusqlite::Connection::open(ws.path("dealflow.db")).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let leads: Vec<String> = (0..3)
        .map(|n| {
            event("lead.created", "2026-11-02T09:00:00Z", json!({"id": format!("L-{n}"), "company": format!("Co {n}")}))
        })
        .collect();
    save_by_rename(&ws.path("inbox/a.jsonl"), &(leads.join("\n") + "\n"));
    let line = w.expect("database ");
    assert!(line.contains("locked by another process") && line.contains("waiting for it"), "{line}");
    // Held for many more busy timeouts and retries: watch keeps waiting, and does not say it again.
    std::thread::sleep(Duration::from_millis(1_500));
    assert!(w.child.try_wait().unwrap().is_none(), "watch exited:\n{}", w.seen.join("\n"));
    other.execute_batch("COMMIT").unwrap();
    let done = w.expect("inbox/a.jsonl: ");
    assert!(done.contains("applied 3,") && done.ends_with("moved to inbox/done/a.jsonl"), "{done}");
    w.expect("the database is free again");
    assert_eq!(w.stop(), 0);
    let said = w.seen.iter().filter(|l| l.contains("locked by another process")).count();
    assert_eq!(said, 1, "said once, not at every retry:\n{}", w.seen.join("\n"));
    // Nothing applied twice, nothing lost.
    let events: i64 = other.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0)).unwrap();
    assert_eq!(events, 3);
    assert_eq!(ws.tasks_titled("Call new lead Co ").len(), 3);
}

#[test]
fn watch_starts_on_the_last_good_stored_rules_while_the_files_on_disk_are_broken() {
    let ws = Workspace::new();
    // The good rules were in force once, so the database keeps them.
    ws.ingest(&[event("account.upserted", "2026-11-01T09:00:00Z", json!({"id": "A-0", "name": "Zero"}))]);
    let good = ws.status()["rules_version"].as_str().unwrap().to_string();
    let sales = ws.read("rules/tasks_sales.rhai");
    ws.write("rules/tasks_sales.rhai", ""); // an empty save
    ws.write("rules/zz.rhai", "fn task_x(event) { let = 1; }"); // a broken one
    assert_eq!(ws.run(&["check"]).code, 1);

    let mut w = Watching::spawn(ws.command(&WATCH));
    let line = w.expect("rules rejected: ");
    assert!(line.contains(&format!("starting on the last good rules {good} ")), "{line}");
    let problems = w.following(2);
    assert!(
        problems.iter().any(|l| l.trim_start().starts_with("rules/tasks_sales.rhai:1:1: the file is empty")),
        "{problems:?}"
    );
    assert!(problems.iter().any(|l| l.trim_start().starts_with("rules/zz.rhai:1:")), "{problems:?}");
    assert!(w.expect("watching: ").contains(&good));
    // The stored rules decide: the lead task comes from the stored tasks_sales.rhai.
    save_by_rename(
        &ws.path("inbox/leads.jsonl"),
        &(event("lead.created", "2026-11-02T09:00:00Z", json!({"id": "L-1", "company": "Acme"})) + "\n"),
    );
    w.expect("inbox/leads.jsonl: applied 1,");
    assert_eq!(ws.task_titled("Call new lead Acme")["rules_version"], good);

    // The fixed save is picked up.
    std::fs::remove_file(ws.path("rules/zz.rhai")).unwrap();
    save_by_rename(&ws.path("rules/tasks_sales.rhai"), &format!("{sales}{EXTRA_RULE}"));
    let line = w.expect("rules reloaded: ");
    assert_ne!(version_of(&line), good);
    assert_eq!(ws.status()["rules_version"], version_of(&line));
    assert_eq!(w.stop(), 0);
    let said = w.seen.iter().filter(|l| l.starts_with("rules rejected: ")).count();
    assert!(said <= 2, "the problems watch started with are not said again and again:\n{}", w.seen.join("\n"));
}

#[test]
fn watch_starts_on_the_stored_rules_while_config_toml_is_an_empty_save() {
    let ws = Workspace::new();
    ws.ingest(&[event("account.upserted", "2026-11-01T09:00:00Z", json!({"id": "A-0", "name": "Zero"}))]);
    let good = ws.status()["rules_version"].as_str().unwrap().to_string();
    let config = ws.read("config.toml");
    ws.write("config.toml", "");
    let mut w = Watching::spawn(ws.command(&WATCH));
    assert!(w.expect("rules rejected: ").contains(&good));
    assert!(w.expect("watching: ").contains(&good));
    save_by_rename(&ws.path("config.toml"), &config.replace("lead_follow_up_days = 1", "lead_follow_up_days = 3"));
    let line = w.expect("rules reloaded: ");
    assert_ne!(version_of(&line), good);
    assert_eq!(w.stop(), 0);
}

#[test]
fn a_file_written_in_place_with_pauses_longer_than_the_settle_time_loses_no_line() {
    use std::io::Write;
    let ws = Workspace::new();
    let mut w = Watching::start(&ws);
    let leads: Vec<String> = (0..30)
        .map(|n| {
            event("lead.created", "2026-11-02T09:00:00Z", json!({"id": format!("L-{n}"), "company": format!("Co {n}")}))
        })
        .collect();
    let mut writer = std::fs::File::create(ws.path("inbox/live.jsonl")).unwrap();
    // Ten lines and half of the eleventh (no line end yet), then a pause.
    let (head, tail) = leads[10].split_at(20);
    writer.write_all(format!("{}\n{head}", leads[..10].join("\n")).as_bytes()).unwrap();
    let first = read_on_until(&mut w, "applied 10,");
    assert!(
        first.contains("applied 10,")
            && first.contains("rejected 0")
            && first.ends_with("still being written, stays in the inbox and is read on"),
        "the half line waits for its end, the file stays: {first}"
    );
    // A pause of many settle times: still the writer's.
    std::thread::sleep(Duration::from_millis(500));
    assert!(ws.path("inbox/live.jsonl").exists());
    assert!(!w.seen.iter().any(|l| l.contains("moved to")), "{:?}", w.seen);
    // The rest of the line and more, read on from where it stopped.
    writer.write_all(format!("{tail}\n{}\n", leads[11..20].join("\n")).as_bytes()).unwrap();
    let second = read_on_until(&mut w, "applied 20,");
    assert!(
        second.contains("applied 20,") && second.contains("rejected 0") && second.contains("still being written"),
        "{second}"
    );
    // The last lines; the writer closes the file, and only then is it moved.
    writer.write_all(format!("{}\n", leads[20..].join("\n")).as_bytes()).unwrap();
    drop(writer);
    let done = loop {
        let line = w.expect("inbox/live.jsonl: ");
        if !line.contains("still being written") {
            break line;
        }
    };
    assert!(
        done.contains("applied 30,") && done.contains("rejected 0") && done.ends_with("moved to inbox/done/live.jsonl"),
        "{done}"
    );
    assert_eq!(ws.tasks_titled("Call new lead Co ").len(), 30);
    assert_eq!(w.stop(), 0);
}

/// The notes on `inbox/live.jsonl` until one says `applied`: each before it
/// must be a pass over a file still being written, with nothing rejected.
fn read_on_until(w: &mut Watching, applied: &str) -> String {
    loop {
        let line = w.expect("inbox/live.jsonl: ");
        if line.contains(applied) {
            return line;
        }
        assert!(line.contains("still being written") && line.contains("rejected 0"), "{line}");
    }
}
