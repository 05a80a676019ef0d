//! The inbox lock: one process at a time reads and moves the files of an
//! inbox. Two at once would both read a file, one would fail to move it and
//! report false errors, and a failed file could get two `.errors` files.
//!
//! The lock is an OS file lock (`flock`) on `inbox/.lock`: the kernel frees
//! it when its holder ends, however it ends (a SIGKILL included), so a crash
//! never leaves a stale lock behind. The file holds the holder's pid, for the
//! message the next process prints; the pid is never trusted for anything else.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The lock file's name in the inbox (hidden: never taken for an event file).
pub const LOCK_FILE: &str = ".lock";

/// The inbox lock, held until dropped (or the process ends).
#[derive(Debug)]
pub struct InboxLock {
    _file: File,
}

/// Who holds the lock when it cannot be taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// The holder's pid, as it wrote it (`None` when it could not be read).
    pub pid: Option<u32>,
    pub lock_file: PathBuf,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.pid {
            Some(pid) => write!(f, "another dealflow process (pid {pid}) is processing this inbox"),
            None => write!(f, "another dealflow process is processing this inbox"),
        }
    }
}

/// Take the lock of the inbox folder `dir` (created if missing) without
/// waiting: `Ok(Err(holder))` when another process has it.
pub fn try_lock(dir: &Path) -> Result<std::result::Result<InboxLock, Holder>> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Write { path: dir.to_path_buf(), source })?;
    let path = dir.join(LOCK_FILE);
    let write_err = |source| Error::Write { path: path.clone(), source };
    let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(write_err)?;
    if !lock_exclusive(&file).map_err(write_err)? {
        let pid = std::fs::read_to_string(&path).ok().and_then(|t| t.trim().parse().ok());
        return Ok(Err(Holder { pid, lock_file: path }));
    }
    // A fixed width: one write replaces the last holder's pid whole, and a
    // reader never sees an empty file or a mix of two pids.
    write_pid(&file).map_err(write_err)?;
    Ok(Ok(InboxLock { _file: file }))
}

#[cfg(unix)]
fn lock_exclusive(file: &File) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a file descriptor this function borrows; no memory is passed.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) { Ok(false) } else { Err(e) }
}

#[cfg(not(unix))]
fn lock_exclusive(_file: &File) -> std::io::Result<bool> {
    Ok(true)
}

fn write_pid(file: &File) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = file;
    f.seek(SeekFrom::Start(0))?;
    f.write_all(format!("{:>10}\n", std::process::id()).as_bytes())?;
    file.set_len(11)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_names_the_holder_and_a_dropped_lock_is_free() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = dir.path().join("inbox");
        let first = try_lock(&inbox).unwrap().expect("the first takes it");
        let holder = try_lock(&inbox).unwrap().expect_err("the second does not");
        assert_eq!(holder.pid, Some(std::process::id()));
        assert!(holder.to_string().contains(&format!("pid {}", std::process::id())), "{holder}");
        drop(first);
        assert!(try_lock(&inbox).unwrap().is_ok(), "free once dropped");
    }
}
