//! A running `dealflow watch` (or any long command), its standard error
//! read line by line as it comes: tests wait for what it says, never for a
//! length of time.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use super::Workspace;

/// How long to wait for a line: generous, for a loaded machine.
pub const WAIT: Duration = Duration::from_secs(60);

/// A running `dealflow watch`, its standard error read line by line.
pub struct Watching {
    pub child: Child,
    lines: Receiver<String>,
    /// Every line read so far.
    pub seen: Vec<String>,
}

impl Watching {
    pub fn start(ws: &Workspace) -> Watching {
        let mut w = Watching::spawn(ws.command(&WATCH));
        w.expect("watching: ");
        w
    }

    /// Start a command, its standard error read line by line; nothing is waited for.
    pub fn spawn(mut cmd: std::process::Command) -> Watching {
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
    pub fn exit_code(&mut self) -> i32 {
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
    pub fn expect(&mut self, prefix: &str) -> String {
        self.expect_within(prefix, WAIT)
    }

    pub fn expect_within(&mut self, prefix: &str, wait: Duration) -> String {
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
    pub fn following(&mut self, n: usize) -> Vec<String> {
        (0..n)
            .map(|_| self.lines.recv_timeout(WAIT).expect("a following line"))
            .inspect(|l| self.seen.push(l.clone()))
            .collect()
    }

    pub fn stop(&mut self) -> i32 {
        unsafe_kill(self.child.id(), "TERM");
        // Keeps what it printed on the way out.
        self.exit_code()
    }
}

pub const WATCH: [&str; 5] = ["watch", "--debounce-ms", "50", "--settle-ms", "50"];

impl Drop for Watching {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn unsafe_kill(pid: u32, signal: &str) {
    let ok =
        std::process::Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status().unwrap().success();
    assert!(ok, "kill -{signal} {pid}");
}

/// The version named in a `rules reloaded: VERSION (N files) in M ms` line.
pub fn version_of(line: &str) -> String {
    line.trim_start_matches("rules reloaded: ").split_whitespace().next().unwrap().to_string()
}

/// Write the file under a temporary name, then rename it into place (how editors save).
pub fn save_by_rename(path: &Path, text: &str) {
    let tmp = path.with_file_name(format!(".{}.tmp", path.file_name().unwrap().to_string_lossy()));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// A rule file that gives marketing a task for every order.
pub const EXTRA_RULE: &str = "\n/// Marketing hears of every order.\nfn task_tell_marketing(event, account) {\n    if event.type == \"order.placed\" {\n        return task(\"marketing\", `Order from ${account.name}`, #{ dedup: event.data.id });\n    }\n}\n";
