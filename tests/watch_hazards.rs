//! What `dealflow watch` meets besides its own work, with a real process:
//! a stop signal during its start-up, a second watch on the same inbox, a
//! database another process keeps locked, broken rules on disk when it
//! starts, and an inbox file written in place with pauses.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::watching::{EXTRA_RULE, WATCH, Watching, save_by_rename, unsafe_kill, version_of};
use common::{Workspace, event, example};
use serde_json::json;

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
    // What was applied is whole: the file (taken by one of them, or by `run` now) applied once, to its end.
    ws.run(&["run"]).success();
    assert!(ws.path("inbox/done/q.jsonl").is_file());
    let db = rusqlite::Connection::open(ws.path("dealflow.db")).unwrap();
    let applied: i64 =
        db.query_row("SELECT COUNT(*) FROM events WHERE source = 'inbox/q.jsonl'", [], |r| r.get(0)).unwrap();
    assert_eq!(applied, 315);
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
