//! Whether some process still has a file open for writing.
//!
//! An inbox file written in place can pause for any length of time; no
//! amount of quiet proves its writer is done. The kernel knows: on Linux each
//! process's open files are listed under `/proc/PID/fd`, and how each is open
//! (`flags`) under `/proc/PID/fdinfo`. A file some process holds open for
//! writing is never moved out of the inbox, so nothing its writer adds later
//! lands in a file nobody reads.
//!
//! Only the processes this user may look into are seen (all of them for
//! root). Elsewhere, and for writers of other users, the inbox falls back to
//! quiet alone (`--settle-ms`).

use std::fs::Metadata;

/// Whether a process visible to this one has the file `meta` describes open for writing.
#[cfg(target_os = "linux")]
pub fn open_for_writing(meta: &Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    let (dev, ino) = (meta.dev(), meta.ino());
    let Ok(procs) = std::fs::read_dir("/proc") else { return false };
    for proc_dir in procs.flatten() {
        if !proc_dir.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(proc_dir.path().join("fd")) else { continue };
        for fd in fds.flatten() {
            // stat follows the link to the open file itself.
            let Ok(m) = std::fs::metadata(fd.path()) else { continue };
            if m.dev() != dev || m.ino() != ino {
                continue;
            }
            let info = std::fs::read_to_string(proc_dir.path().join("fdinfo").join(fd.file_name())).unwrap_or_default();
            if info
                .lines()
                .find_map(|l| l.strip_prefix("flags:"))
                .and_then(|f| i64::from_str_radix(f.trim(), 8).ok())
                .is_none_or(|flags| flags & i64::from(libc::O_ACCMODE) != i64::from(libc::O_RDONLY))
            {
                return true;
            }
        }
    }
    false
}

#[cfg(not(target_os = "linux"))]
pub fn open_for_writing(_meta: &Metadata) -> bool {
    false
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_file_open_for_writing_is_seen_and_a_closed_or_read_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        let writer = std::fs::File::create(&path).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert!(open_for_writing(&meta));
        drop(writer);
        let _reader = std::fs::File::open(&path).unwrap();
        assert!(!open_for_writing(&meta));
    }
}
