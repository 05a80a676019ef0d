//! The library's errors. Each keeps where it came from (a file, a line, a
//! column) so the message a user sees points at the spot to fix.

use std::fmt;
use std::path::PathBuf;

/// A problem located in a file the user edits: `FILE:LINE:COL: message`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Located {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl Located {
    pub fn new(file: impl Into<String>, line: usize, col: usize, message: impl Into<String>) -> Self {
        Located { file: file.into(), line: line.max(1), col: col.max(1), message: message.into() }
    }
}

impl Located {
    /// The source line under the location, with a caret at the column, as
    /// compilers show it; `None` when the file cannot be read.
    pub fn snippet(&self, dir: &std::path::Path) -> Option<String> {
        // Never through a symbolic link: a problem with a linked file must not show what it points to.
        let mut path = dir.to_path_buf();
        for part in std::path::Path::new(&self.file).components() {
            path.push(part);
            if std::fs::symlink_metadata(&path).ok()?.file_type().is_symlink() {
                return None;
            }
        }
        let text = std::fs::read_to_string(path).ok()?;
        let source = text.lines().nth(self.line.checked_sub(1)?)?;
        let width = self.line.to_string().len();
        let pad = " ".repeat(width);
        let indent: String =
            source.chars().take(self.col.saturating_sub(1)).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
        Some(format!(
            "{pad} --> {}:{}:{}\n{pad} |\n{} | {source}\n{pad} | {indent}^",
            self.file, self.line, self.col, self.line
        ))
    }
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file, self.line, self.col, self.message)
    }
}

/// Every problem found while loading a config folder, all reported at once.
#[derive(Debug, Clone)]
pub struct Problems(pub Vec<Located>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(Problems),
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("database {path}: {message}")]
    Store {
        path: PathBuf,
        /// What kind of trouble, whatever the backend: what a caller can do about it.
        kind: StoreErrorKind,
        message: String,
        /// The backend's own error, when it raised one.
        #[source]
        cause: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// Another process held the database's write lock for longer than the busy timeout.
    #[error("database {path}: {message}")]
    Busy { path: PathBuf, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Usage(String),
}

/// The kinds of trouble a store can be in, the same for every backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// This user may not write it.
    ReadOnly,
    /// It cannot be opened (a missing folder, say).
    CannotOpen,
    /// Not a dealflow database at all.
    NotADatabase,
    /// Damaged, or replaced under the running process: restore it from a backup.
    Damaged,
    /// Written by a newer dealflow, or needing an upgrade this process may not make.
    Schema,
    /// No room left to write.
    Full,
    /// Something else the backend or dealflow refused.
    Other,
}

impl Error {
    /// A store error that the backend did not raise.
    pub fn store(path: impl Into<PathBuf>, kind: StoreErrorKind, message: impl Into<String>) -> Error {
        Error::Store { path: path.into(), kind, message: message.into(), cause: None }
    }

    pub fn invalid(problems: Vec<Located>) -> Self {
        Error::Invalid(Problems(problems))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The closest of `candidates` to `word`, when it is close enough to be a likely typo.
///
/// Candidates whose length alone puts them out of reach are skipped before the
/// edit distance is computed: it costs time and memory in the product of both
/// lengths, and `word` may be a 10 MB string from a hostile event line.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let len = word.chars().count();
    candidates
        .into_iter()
        .filter(|c| len.abs_diff(c.chars().count()) <= 3.max(c.len() / 3))
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        .filter(|(d, c)| *d <= 3.max(c.len() / 3) && *d > 0)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `" (did you mean X?)"` or nothing.
pub fn hint<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    did_you_mean(word, candidates).map(|c| format!(" (did you mean {c:?}?)")).unwrap_or_default()
}

/// 1-based line and column of a byte offset in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_words_only() {
        let roles = ["sales_rep", "account_manager", "marketing"];
        assert_eq!(did_you_mean("acount_manager", roles), Some("account_manager"));
        assert_eq!(did_you_mean("finance", roles), None);
    }

    #[test]
    fn a_huge_word_is_not_compared() {
        let word = "a".repeat(10 << 20);
        let start = std::time::Instant::now();
        assert_eq!(did_you_mean(&word, ["sales_rep", "account_manager"]), None);
        assert!(start.elapsed() < std::time::Duration::from_secs(2), "{:?}", start.elapsed());
    }

    #[test]
    fn a_snippet_points_at_the_column() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("r.rhai"), "fn a() {\n    task(\"x\")\n}\n").unwrap();
        let s = Located::new("r.rhai", 2, 10, "bad").snippet(dir.path()).unwrap();
        assert_eq!(s, "  --> r.rhai:2:10\n  |\n2 |     task(\"x\")\n  |          ^");
        assert!(Located::new("nope.rhai", 1, 1, "x").snippet(dir.path()).is_none());
    }

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("ab", 0), (1, 1));
    }
}
