//! Whether this process may write the database: SQLite needs to write the
//! file and to create its `-wal` and `-shm` files beside it, in its folder.
//! When it may not, the error says which of them stops it and why (mode and
//! owner against the user dealflow runs as, or a read-only file system), so
//! whoever reads it knows what to change.

use std::path::{Path, PathBuf};

/// The folder a database file is in.
pub(super) fn folder(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The `-wal` or `-shm` file beside the database at `path`.
pub(super) fn companion(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

/// What stops this process writing the database at `path`, as the file
/// system tells it; `None` when nothing does (or it cannot tell).
pub(super) fn obstacle(path: &Path) -> Option<String> {
    imp::obstacle(path)
}

#[cfg(unix)]
mod imp {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::MetadataExt;
    use std::path::Path;

    /// Why `p` may not be written by this process (`access(2)`, the real user), if it may not.
    fn denied(p: &Path) -> Option<std::io::Error> {
        let c = CString::new(p.as_os_str().as_bytes()).ok()?;
        // SAFETY: `c` is a valid NUL-terminated path that outlives the call; access() only reads it.
        let refused = unsafe { libc::access(c.as_ptr(), libc::W_OK) } != 0;
        refused.then(std::io::Error::last_os_error)
    }

    fn mode_and_owner(p: &Path) -> String {
        match std::fs::metadata(p) {
            Ok(m) => format!("mode {:04o}, owner uid {}", m.mode() & 0o7777, m.uid()),
            Err(e) => e.to_string(),
        }
    }

    pub(super) fn obstacle(path: &Path) -> Option<String> {
        let folder = super::folder(path);
        let mut what = Vec::new();
        let mut candidates = vec![(path.to_path_buf(), "the file".to_string())];
        for suffix in ["-wal", "-shm"] {
            let p = super::companion(path, suffix);
            let name = format!("{} beside it", p.file_name().unwrap_or_default().to_string_lossy());
            candidates.push((p, name));
        }
        for (p, name) in candidates.into_iter().filter(|(p, _)| p.exists()) {
            match denied(&p) {
                Some(e) if e.raw_os_error() == Some(libc::EROFS) => {
                    return Some("it is on a read-only file system".into());
                }
                Some(_) => what.push(format!("{name} is not writable ({})", mode_and_owner(&p))),
                None => {}
            }
        }
        // The folder matters when SQLite has a -wal or -shm file to create there.
        let to_create = ["-wal", "-shm"].iter().any(|s| !super::companion(path, s).exists());
        match denied(&folder).filter(|_| to_create) {
            Some(e) if e.raw_os_error() == Some(libc::EROFS) => return Some("it is on a read-only file system".into()),
            Some(_) => {
                what.push(format!("its folder {} is not writable ({})", folder.display(), mode_and_owner(&folder)))
            }
            None => {}
        }
        if what.is_empty() {
            return None;
        }
        // SAFETY: getuid() has no preconditions and cannot fail.
        let uid = unsafe { libc::getuid() };
        Some(format!("{} for uid {uid}, the user dealflow runs as", what.join(", and ")))
    }
}

#[cfg(not(unix))]
mod imp {
    use std::path::Path;

    pub(super) fn obstacle(path: &Path) -> Option<String> {
        let read_only = std::fs::metadata(path).is_ok_and(|m| m.permissions().readonly());
        read_only.then(|| "the file is read-only".to_string())
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn chmod(p: &Path, mode: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn says_which_of_file_and_folder_stops_a_write() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("t.db");
        std::fs::write(&db, "").unwrap();
        assert_eq!(obstacle(&db), None);
        // Root may write whatever the modes say: access() says so too, and so does this.
        // SAFETY: geteuid() has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            return;
        }
        chmod(&db, 0o444);
        let why = obstacle(&db).unwrap();
        assert!(why.starts_with("the file is not writable (mode 0444, owner uid "), "{why}");
        chmod(dir.path(), 0o555);
        let why = obstacle(&db).unwrap();
        chmod(dir.path(), 0o755);
        assert!(why.contains(", and its folder ") && why.contains("is not writable (mode 0555"), "{why}");
        assert!(why.ends_with("the user dealflow runs as"), "{why}");
        // With -wal and -shm already there (and writable), SQLite creates nothing in the folder.
        chmod(&db, 0o644);
        for suffix in ["-wal", "-shm"] {
            std::fs::write(companion(&db, suffix), "").unwrap();
        }
        chmod(dir.path(), 0o555);
        let why = obstacle(&db);
        chmod(dir.path(), 0o755);
        assert_eq!(why, None);
    }

    #[test]
    fn companions_sit_beside_the_file() {
        assert_eq!(companion(Path::new("/a/b.db"), "-wal"), Path::new("/a/b.db-wal"));
        assert_eq!(folder(Path::new("b.db")), Path::new("."));
        assert_eq!(folder(Path::new("/a/b.db")), Path::new("/a"));
    }
}
