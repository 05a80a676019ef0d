//! A small harness that drives the real `dealflow` binary the way a
//! sales-ops person would: lay out a config folder with `dealflow init`,
//! edit its files, feed events, and read tasks, accounts and deals back as
//! JSON.
//!
//! ```ignore
//! let ws = Workspace::new();
//! ws.ingest(&[event("lead.created", "2026-11-06T10:00:00Z", json!({"id": "L-1", "company": "Acme"}))]);
//! let task = ws.task_titled("Call new lead Acme");
//! ```

#![allow(dead_code)]

pub mod browser;
pub mod events;
pub mod pg;
pub mod receiver;
pub mod watching;
pub mod web;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use assert_cmd::cargo::CommandCargoExt;
use serde_json::{Value, json};
use tempfile::TempDir;

/// The example files shipped with the repository.
pub fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(name)
}

/// One JSON Lines event with a fresh id (unique within the test binary).
pub fn event(kind: &str, at: &str, data: Value) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    json!({"id": format!("evt-{n}"), "type": kind, "at": at, "data": data}).to_string()
}

/// The rejections of an ingest summary (`--json`): (line, reason), in order.
pub fn rejections(summary: &Value) -> Vec<(u64, String)> {
    summary["rejections"]
        .as_array()
        .expect("a summary with rejections")
        .iter()
        .map(|r| (r["line"].as_u64().unwrap(), r["reason"].as_str().unwrap().to_string()))
        .collect()
}

/// What a finished command left behind.
#[derive(Debug)]
pub struct Output {
    pub args: Vec<String>,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Asserts the exit code, showing everything the command printed when it differs.
    pub fn code(self, expected: i32) -> Self {
        assert_eq!(
            self.code, expected,
            "dealflow {:?} exited {} (expected {expected})\n--- stdout\n{}\n--- stderr\n{}",
            self.args, self.code, self.stdout, self.stderr
        );
        self
    }

    pub fn success(self) -> Self {
        self.code(0)
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("dealflow {:?}: stdout is not JSON ({e}):\n{}", self.args, self.stdout))
    }
}

/// A temporary folder holding a config folder (`playbook/`, made by
/// `dealflow init`) and whatever event files a test writes next to it.
pub struct Workspace {
    tmp: TempDir,
    files: AtomicUsize,
    /// The PostgreSQL database config.toml names, if on PostgreSQL (dropped with the workspace).
    pub pg: Option<pg::PgDatabase>,
}

impl Workspace {
    /// A fresh config folder with the default playbook.
    pub fn new() -> Workspace {
        let ws = Workspace { tmp: tempfile::tempdir().expect("temp dir"), files: AtomicUsize::new(0), pg: None };
        let out = ws.run_in(ws.root(), &["init", "playbook"]).success();
        assert!(out.stdout.contains("created playbook"), "{}", out.stdout);
        assert!(ws.config_dir().join("config.toml").is_file());
        ws
    }

    /// A fresh config folder with the default playbook whose store is a new
    /// PostgreSQL database (`[store] url`); `None` when there is no server
    /// (the test, named `test`, says SKIPPED and should return).
    pub fn on_postgres(test: &str) -> Option<Workspace> {
        let db = pg::PgDatabase::create(test)?;
        let mut ws = Workspace::new();
        ws.edit("config.toml", "[store]\n", &format!("[store]\nurl = \"{}\"\n", db.url));
        ws.pg = Some(db);
        Some(ws)
    }

    /// The temporary folder (event files go here, outside the config folder).
    pub fn root(&self) -> &Path {
        self.tmp.path()
    }

    /// The config folder: config.toml, rules/, inbox/, and the default database.
    pub fn config_dir(&self) -> PathBuf {
        self.root().join("playbook")
    }

    /// A path inside the config folder.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.config_dir().join(rel)
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    /// Write a file of the config folder (rules/x.rhai, config.toml, ...).
    pub fn write(&self, rel: &str, text: &str) -> &Self {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {rel}: {e}"));
        self
    }

    /// Replace the first occurrence of `from` in a config file; it must be there.
    pub fn edit(&self, rel: &str, from: &str, to: &str) -> &Self {
        let text = self.read(rel);
        assert!(text.contains(from), "{rel} does not contain {from:?}");
        self.write(rel, &text.replacen(from, to, 1))
    }

    /// Two more sales reps, both called "Alex Kim", told apart by their CRM
    /// user ids 101 (written as a number) and "102"; and "Zoe Park", id "7".
    pub fn add_namesakes(&self) -> &Self {
        let team = "\n[[team]]\nname = \"Alex Kim\"\nid = 101\nrole = \"sales_rep\"\n\
                    \n[[team]]\nname = \"Alex Kim\"\nid = \"102\"\nrole = \"sales_rep\"\n\
                    \n[[team]]\nname = \"Zoe Park\"\nid = \"7\"\nrole = \"account_manager\"\n";
        self.write("config.toml", &(self.read("config.toml") + team))
    }

    /// Write events to a new JSON Lines file next to the config folder.
    pub fn event_file(&self, lines: &[String]) -> PathBuf {
        let n = self.files.fetch_add(1, Ordering::Relaxed);
        let path = self.root().join(format!("events-{n}.jsonl"));
        std::fs::write(&path, lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
        path
    }

    /// `dealflow --dir playbook ARGS...`, run from the temporary folder.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::cargo_bin("dealflow").expect("the dealflow binary");
        cmd.current_dir(self.root())
            .env_remove("DEALFLOW_DIR")
            .env_remove("DEALFLOW_DB")
            // Output laid out for no screen: a test sets COLUMNS when it means a width.
            .env_remove("COLUMNS")
            .env("RUST_LOG", "warn")
            .arg("--dir")
            .arg(self.config_dir())
            .args(args);
        cmd
    }

    /// `watch` started with short waits, its standard error written to
    /// `watch.err` in the workspace (returned, to read once it has stopped).
    pub fn watch_logged(&self) -> (std::process::Child, PathBuf) {
        let log = self.root().join("watch.err");
        let child = self
            .command(&["watch", "--debounce-ms", "50", "--settle-ms", "50"])
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).expect("create watch.err"))
            .spawn()
            .expect("start watch");
        (child, log)
    }

    pub fn run(&self, args: &[&str]) -> Output {
        finish(args, self.command(args))
    }

    /// Run with output laid out for a screen `columns` wide (`COLUMNS`).
    pub fn run_at_width(&self, columns: usize, args: &[&str]) -> Output {
        let mut cmd = self.command(args);
        cmd.env("COLUMNS", columns.to_string());
        finish(args, cmd)
    }

    /// Run without `--dir`, from `cwd`.
    pub fn run_in(&self, cwd: &Path, args: &[&str]) -> Output {
        let mut cmd = Command::cargo_bin("dealflow").expect("the dealflow binary");
        cmd.current_dir(cwd).env_remove("DEALFLOW_DIR").env_remove("DEALFLOW_DB").env_remove("COLUMNS").args(args);
        finish(args, cmd)
    }

    /// Ingest events (written to a file first); must succeed. Returns the JSON summary.
    pub fn ingest(&self, lines: &[String]) -> Value {
        let file = self.event_file(lines);
        self.ingest_file(&file)
    }

    /// Ingest an event file; must succeed. Returns the JSON summary.
    pub fn ingest_file(&self, file: &Path) -> Value {
        self.run(&["ingest", "--json", file.to_str().unwrap()]).success().json()
    }

    pub fn tasks(&self) -> Vec<Value> {
        array(self.run(&["tasks", "--json"]).success().json())
    }

    /// Tasks whose title starts with `prefix`.
    pub fn tasks_titled(&self, prefix: &str) -> Vec<Value> {
        self.tasks().into_iter().filter(|t| t["title"].as_str().unwrap().starts_with(prefix)).collect()
    }

    /// The one task with exactly this title.
    pub fn task_titled(&self, title: &str) -> Value {
        let all = self.tasks();
        let found: Vec<_> = all.iter().filter(|t| t["title"] == title).collect();
        assert_eq!(
            found.len(),
            1,
            "expected one task titled {title:?}, got {found:#?}\nall titles: {:#?}",
            titles(&all)
        );
        found[0].clone()
    }

    /// Tasks about one deal, account or lead.
    pub fn tasks_about(&self, kind: &str, id: &str) -> Vec<Value> {
        self.tasks().into_iter().filter(|t| t["subject"] == json!({"kind": kind, "id": id})).collect()
    }

    pub fn accounts(&self) -> Vec<Value> {
        array(self.run(&["accounts", "--json"]).success().json())
    }

    pub fn account(&self, id: &str) -> Value {
        self.accounts().into_iter().find(|a| a["id"] == id).unwrap_or_else(|| panic!("no account {id}"))
    }

    /// Ids of the key accounts, sorted.
    pub fn key_accounts(&self) -> Vec<String> {
        let mut ids: Vec<String> = array(self.run(&["accounts", "--key", "--json"]).success().json())
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    }

    pub fn deals(&self) -> Vec<Value> {
        array(self.run(&["deals", "--json"]).success().json())
    }

    pub fn deal(&self, id: &str) -> Value {
        self.deals().into_iter().find(|d| d["id"] == id).unwrap_or_else(|| panic!("no deal {id}"))
    }

    pub fn stage(&self, deal: &str) -> String {
        self.deal(deal)["stage"].as_str().unwrap().to_string()
    }

    pub fn status(&self) -> Value {
        self.run(&["status", "--json"]).success().json()
    }
}

fn finish(args: &[&str], mut cmd: Command) -> Output {
    output(args, cmd.output().expect("run dealflow"))
}

/// What a finished run of dealflow printed, and its exit code.
pub fn output(args: &[&str], out: std::process::Output) -> Output {
    Output {
        args: args.iter().map(|s| s.to_string()).collect(),
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn array(v: Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items,
        other => panic!("expected a JSON array, got {other}"),
    }
}

pub fn titles(tasks: &[Value]) -> Vec<&str> {
    tasks.iter().map(|t| t["title"].as_str().unwrap()).collect()
}

/// Sorted titles, handy to compare whole task lists.
pub fn sorted_titles(tasks: &[Value]) -> Vec<String> {
    let mut t: Vec<String> = titles(tasks).into_iter().map(str::to_string).collect();
    t.sort();
    t
}
