//! The README, run as a newcomer runs it: every command of its ` ```console `
//! blocks, in the order the README gives them, in a fresh copy of the config
//! folder (`config.toml`, `rules/`, `examples/`), with the `dealflow` just
//! built on the PATH. What each command prints (stdout and stderr) must be
//! what the README quotes under it, line for line, and it must exit 0 unless
//! the README shows its exit code (`...; echo "exit $?"`).
//!
//! The block format is in `tests/transcript/mod.rs`. `cargo run [...] -- ARGS`
//! runs `dealflow ARGS` (cargo's own build lines are not quoted); `cargo
//! install` and `cargo test` are not run and may quote no output. Commands a
//! fresh clone cannot run (they need a download, or never end) are shown in
//! ` ```sh ` blocks, which are not run.
//!
//! When the product's output changes on purpose, `README_OVERWRITE=1 cargo
//! test --test readme` writes what the commands printed into README.md (lines
//! that still match keep their `[..]`); read the diff before committing it.
//! A wrong exit code is never rewritten: that is for a person to decide.

#![cfg(unix)]

mod common;
mod transcript;

use std::ffi::OsString;
use std::io::Read as _;
use std::ops::Range;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long one command may take before it counts as hung.
const TIMEOUT: Duration = Duration::from_secs(300);

/// What the test does with a command of the README.
#[derive(Debug, PartialEq)]
enum Plan {
    /// Not run: building and testing the project is not the README's to check.
    Skip,
    /// Run this shell text.
    Run(String),
}

fn plan(text: &str) -> Result<Plan, String> {
    if text.starts_with("cargo install") || text.starts_with("cargo test") {
        return Ok(Plan::Skip);
    }
    if let Some(rest) = text.strip_prefix("cargo run") {
        let (_, args) = rest.split_once(" -- ").ok_or("`cargo run` without ` -- ARGS`: nothing to run")?;
        return Ok(Plan::Run(format!("dealflow {args}")));
    }
    if text.starts_with("cargo ") {
        return Err("the test runs no cargo command but `cargo run`; show this one in a ```sh block".into());
    }
    Ok(Plan::Run(text.to_string()))
}

/// A temporary folder laid out like a fresh clone, and a PATH whose `dealflow` is the binary under test.
struct FreshClone {
    tmp: TempDir,
    path: OsString,
    /// `DEALFLOW_DB` for every command, if set.
    db: Option<String>,
}

impl FreshClone {
    fn new(db: Option<&str>) -> FreshClone {
        let tmp = tempfile::tempdir().expect("temp dir");
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        for item in ["config.toml", "rules", "examples"] {
            copy_tree(&repo.join(item), &tmp.path().join("dealflow").join(item));
        }
        let bin = tmp.path().join("bin");
        std::fs::create_dir(&bin).expect("bin dir");
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_dealflow"), bin.join("dealflow")).expect("link dealflow");
        let mut dirs = vec![bin];
        dirs.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
        let path = std::env::join_paths(dirs).expect("PATH");
        FreshClone { tmp, path, db: db.map(str::to_string) }
    }

    fn dir(&self) -> PathBuf {
        self.tmp.path().join("dealflow")
    }

    /// `sh -c SCRIPT` in the clone, its stdout and stderr one pipe, as a
    /// terminal interleaves them (a `|` in the script still pipes stdout only).
    fn run(&self, script: &str, url: Option<&str>) -> Ran {
        let (mut output, writer) = std::io::pipe().expect("pipe");
        let mut child = {
            // The command holds the pipe's write ends: it goes before reading, or the read never ends.
            let mut cmd = Command::new("sh");
            cmd.arg("-c")
                .arg(script)
                .current_dir(self.dir())
                .env("PATH", &self.path)
                .env_remove("DEALFLOW_DIR")
                .env_remove("DEALFLOW_DB")
                .env_remove("RUST_LOG")
                .env_remove("COLUMNS")
                .stdin(Stdio::null())
                .envs(self.db.iter().map(|db| ("DEALFLOW_DB", db)))
                .envs(url.map(|u| ("DEALFLOW_URL", u)))
                .stdout(writer.try_clone().expect("pipe"))
                .stderr(writer)
                .process_group(0);
            cmd.spawn().expect("run sh")
        };
        let reader = std::thread::spawn(move || {
            let mut text = Vec::new();
            output.read_to_end(&mut text).map(|_| text)
        });
        let deadline = Instant::now() + TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for sh") {
                break Some(status);
            }
            if Instant::now() > deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        // Whatever the command left running (it hung, or put something in the
        // background) goes with it, so that its output ends.
        // SAFETY: kill(2) on the process group this test made for the command.
        unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL) };
        let _ = child.wait();
        let text = reader.join().expect("reader thread").expect("read the output");
        let text = String::from_utf8_lossy(&text).into_owned();
        Ran { code: status.map(|s| s.code()), lines: transcript::normalize(text.lines()) }
    }
}

/// `dealflow serve` on a free loopback port in the clone; stopped (SIGTERM) when dropped.
struct Server {
    child: std::process::Child,
    url: String,
}

impl Server {
    fn start(clone: &FreshClone) -> Server {
        use std::io::BufRead as _;
        let mut child = Command::new("dealflow")
            .args(["serve", "--listen", "127.0.0.1:0", "--debounce-ms", "50", "--settle-ms", "50"])
            .current_dir(clone.dir())
            .env("PATH", &clone.path)
            .env_remove("DEALFLOW_DIR")
            .env_remove("DEALFLOW_DB")
            .envs(clone.db.iter().map(|db| ("DEALFLOW_DB", db)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start dealflow serve");
        let mut lines = std::io::BufReader::new(child.stderr.take().expect("its stderr")).lines();
        let mut url = None;
        // Where it serves, then the engine's start: then it takes requests and events.
        for line in lines.by_ref() {
            let line = line.expect("read serve's stderr");
            if let Some(rest) = line.strip_prefix("serving ") {
                url = Some(rest.split('/').take(3).collect::<Vec<_>>().join("/"));
            }
            if line.starts_with("watching: ") {
                break;
            }
        }
        // Its later lines are read and dropped, so that it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Server { child, url: url.expect("serve says where it serves") }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the server this test started.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("create {}: {e}", to.display()));
        for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display())) {
            let entry = entry.expect("dir entry");
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::create_dir_all(to.parent().expect("parent")).expect("create parent");
        std::fs::copy(from, to).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
    }
}

/// What a command printed and how it ended.
struct Ran {
    /// `None`: still running after `TIMEOUT`; `Some(None)`: killed by a signal.
    code: Option<Option<i32>>,
    lines: Vec<String>,
}

fn shown(lines: &[String]) -> String {
    if lines.is_empty() {
        return "    (nothing)\n".to_string();
    }
    lines.iter().map(|l| format!("    | {l}\n")).collect()
}

/// What differs between what the README quotes and what the command did.
fn report(at: &str, expected: &[String], ran: &Ran, output_ok: bool) -> String {
    let mut text = format!("{at}\n");
    match ran.code {
        Some(Some(0)) => {}
        Some(Some(code)) => text.push_str(&format!(
            "  exited {code}: the README shows no exit code (quote a failing command as `COMMAND; echo \"exit $?\"`)\n"
        )),
        Some(None) => text.push_str("  was killed by a signal\n"),
        None => text.push_str(&format!("  was still running after {} s\n", TIMEOUT.as_secs())),
    }
    if !output_ok {
        let first = expected
            .iter()
            .zip(&ran.lines)
            .position(|(e, a)| !transcript::matches(e, a))
            .unwrap_or(expected.len().min(ran.lines.len()));
        text.push_str(&format!("  output differs from line {} on\n", first + 1));
        text.push_str(&format!("  the README quotes:\n{}", shown(expected)));
        text.push_str(&format!("  it printed:\n{}", shown(&ran.lines)));
    }
    text
}

fn overwrite_requested() -> bool {
    std::env::var("README_OVERWRITE").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// README.md with each range of lines replaced (ranges in order, not overlapping).
fn rewritten(lines: &[String], replacements: &[(Range<usize>, Vec<String>)]) -> String {
    let mut out: Vec<String> = lines.to_vec();
    for (range, with) in replacements.iter().rev() {
        out.splice(range.clone(), with.iter().cloned());
    }
    out.iter().map(|l| format!("{l}\n")).collect()
}

/// README.md is read and rewritten by one test at a time.
static README: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn every_command_the_readme_quotes_prints_what_the_readme_says_in_order() {
    run_readme(false, None);
}

/// The ` ```console postgres ` blocks, against a fresh database on the
/// server `DEALFLOW_TEST_PG` names (SKIPPED without one).
#[test]
fn the_postgresql_commands_of_the_readme_print_what_it_says_on_a_real_server() {
    let Some(db) = common::pg::PgDatabase::create("the README's ```console postgres blocks") else { return };
    run_readme(true, Some(&db.url));
}

/// Run the README's commands of one kind (the PostgreSQL ones, or the
/// others) in a fresh clone, with `DEALFLOW_DB` set to `db` if given.
fn run_readme(postgres: bool, db: Option<&str>) {
    let _one = README.lock().unwrap_or_else(|e| e.into_inner());
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let doc = transcript::parse(&std::fs::read_to_string(&readme).expect("read README.md"));
    assert!(doc.problems.is_empty(), "README.md cannot be checked:\n{}", doc.problems.join("\n"));
    let commands: Vec<_> = doc.commands.iter().filter(|c| c.postgres == postgres).collect();
    let kind = if postgres { "```console postgres" } else { "```console" };
    assert!(!commands.is_empty(), "README.md has no {kind} block: nothing it quotes is checked");

    let clone = FreshClone::new(db);
    // Failures a rewrite of the quoted output mends, and the others.
    let (mut output_failures, mut failures) = (Vec::new(), Vec::new());
    let mut replacements = Vec::new();
    let mut printed = Vec::new();
    // `dealflow serve`, while the commands of ```console serve blocks run.
    let mut server: Option<Server> = None;
    for cmd in commands {
        if cmd.serve && server.is_none() {
            server = Some(Server::start(&clone));
        } else if !cmd.serve {
            server = None;
        }
        let url = server.as_ref().map(|s| s.url.clone());
        let expected = doc.expected(cmd);
        let at = format!("README.md:{}: $ {}", cmd.line + 1, cmd.text);
        match plan(&cmd.text) {
            Err(why) => failures.push(format!("{at}\n  {why}\n")),
            Ok(Plan::Skip) if !expected.is_empty() => {
                failures.push(format!("{at}\n  is not run by this test, so it may quote no output\n"))
            }
            Ok(Plan::Skip) => {}
            Ok(Plan::Run(script)) => {
                let ran = clone.run(&script, url.as_deref());
                let output_ok = transcript::all_match(&expected, &ran.lines);
                let text = report(&at, &expected, &ran, output_ok);
                match (ran.code == Some(Some(0)), output_ok) {
                    (true, true) => {}
                    (true, false) => {
                        replacements.push((cmd.expected.clone(), transcript::rewrite(&expected, &ran.lines)));
                        output_failures.push(text);
                    }
                    (false, _) => failures.push(text),
                }
                printed.extend(ran.lines);
            }
        }
    }
    // A rule problem quoted where nothing runs (the watch example) must be one a command printed above.
    if !postgres {
        for (i, line) in &doc.illustrations {
            if let Some(problem) = transcript::rule_problem(line)
                && !printed.iter().any(|p| p.trim() == problem)
            {
                failures.push(format!(
                    "README.md:{}: quotes a rule problem no command of the README printed:\n    | {problem}\n",
                    i + 1
                ));
            }
        }
    }

    if overwrite_requested() && !replacements.is_empty() {
        std::fs::write(&readme, rewritten(&doc.lines, &replacements)).expect("write README.md");
        eprintln!(
            "README.md: the quoted output of {} command(s) rewritten from what they printed; read `git diff README.md`",
            replacements.len()
        );
        output_failures.clear();
    }
    failures.extend(output_failures);
    assert!(
        failures.is_empty(),
        "{} command(s) of README.md do not do what it says (README_OVERWRITE=1 rewrites quoted output, \
         never exit codes):\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn cargo_commands_become_the_built_binary_or_are_left_out() {
    assert_eq!(
        plan("cargo run --release -- ingest examples/quarter.jsonl   # build"),
        Ok(Plan::Run("dealflow ingest examples/quarter.jsonl   # build".into()))
    );
    assert_eq!(plan("cargo install --path ."), Ok(Plan::Skip));
    assert_eq!(plan("cargo test"), Ok(Plan::Skip));
    assert!(plan("cargo bench").is_err());
    assert_eq!(plan("dealflow check"), Ok(Plan::Run("dealflow check".into())));
}
