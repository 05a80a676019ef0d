//! Which file the database is: a process that keeps writing to a database
//! file someone deleted (or replaced) would write into a file nobody can see,
//! and lose it all at exit. Each write batch first checks that the path still
//! names the file that was opened.

use std::path::Path;

/// Device and inode of a file (unix); `None` elsewhere or when it cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FileIdentity(u64, u64);

impl FileIdentity {
    pub(super) fn of(path: &Path) -> Option<FileIdentity> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata(path).ok().map(|m| FileIdentity(m.dev(), m.ino()))
        }
        #[cfg(not(unix))]
        {
            let _ = path;
            None
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_file_is_another_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, "a").unwrap();
        let first = FileIdentity::of(&p).unwrap();
        assert_eq!(FileIdentity::of(&p), Some(first));
        // Replaced while the first still exists (a deleted file's inode may be reused at once).
        std::fs::write(dir.path().join("g"), "b").unwrap();
        std::fs::rename(dir.path().join("g"), &p).unwrap();
        assert_ne!(FileIdentity::of(&p), Some(first));
        std::fs::remove_file(&p).unwrap();
        assert_eq!(FileIdentity::of(&p), None);
    }
}
