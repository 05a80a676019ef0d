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
        /// The backend's own error, when it raised one. Kept for callers
        /// (`Error::backend_cause`), not shown: `message` already says it in
        /// the user's terms, and the chain of a printed error would repeat it
        /// in the database's.
        cause: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// Another process held the database's write lock for longer than the busy timeout.
    #[error("database {path}: {message}")]
    Busy { path: PathBuf, message: String },
    /// Another process took the engine lease (PostgreSQL) over from this one:
    /// the unit in progress was refused, and this process must stop applying.
    #[error(
        "another process ({holder}) took over as the engine (epoch {epoch}); this one stops applying: nothing of its unit was kept"
    )]
    LeaseLost { holder: String, epoch: i64 },
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
    /// The server cannot be reached, or the connection to it was lost
    /// (PostgreSQL): nothing of the unit in progress was kept; the same
    /// command run again once the server is back goes on where it stopped.
    Unreachable,
    /// Something else the backend or dealflow refused.
    Other,
}

impl Error {
    /// The store's server could not be reached or was lost: a temporary
    /// failure, worth the same command again later.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Error::Store { kind: StoreErrorKind::Unreachable, .. })
    }

    /// A store error that the backend did not raise.
    pub fn store(path: impl Into<PathBuf>, kind: StoreErrorKind, message: impl Into<String>) -> Error {
        Error::Store { path: path.into(), kind, message: message.into(), cause: None }
    }

    /// The backend's own error under a store error, if it raised one.
    pub fn backend_cause(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        match self {
            Error::Store { cause, .. } => cause.as_deref(),
            _ => None,
        }
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
    likely(word, candidates)
}

/// The words of a name, lowercased: `"Lead In"`, `"lead_in"` and `"LeadIn"`
/// read `["lead", "in"]`, `["lead", "in"]` and `["leadin"]`.
fn words(name: &str) -> Vec<String> {
    name.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

/// Two words that name the same thing: equal, one the other's plural or
/// stem (`negotiation`, `negotiations`; `qualified`, `qualification`), or long words a
/// letter or two apart (`negotation`, `negotiations`).
fn same_word(a: &str, b: &str) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if short == long {
        return true;
    }
    let prefix = short.chars().zip(long.chars()).take_while(|(a, b)| a == b).count();
    let short_len = short.chars().count();
    let stem = (short_len >= 4 && prefix + 1 >= short_len && long.len() - short.len() <= 5)
        || (prefix >= 5 && prefix * 10 >= short_len * 7);
    stem || (short.len() >= 5 && long.len() <= 64 && strsim::damerau_levenshtein(short, long) <= long.len() / 5)
}

/// How many words of `a` have a match in `b`, when every one does and one
/// of them is a real word (3 letters or more); else 0.
fn word_matches(a: &[String], b: &[String]) -> usize {
    let all = !a.is_empty() && a.iter().all(|w| b.iter().any(|v| same_word(w, v)));
    let real = a.iter().any(|w| w.len() >= 3 && b.iter().any(|v| same_word(w, v)));
    if all && real { a.len() } else { 0 }
}

/// The candidate `word` most likely means, as someone who renamed or
/// retyped it would: the same but for case and punctuation (`"ben okafor"`,
/// `"Ben Okafor"`); one whose words hold all of its words, or whose words
/// it holds (`"lead"`, `"Lead In"`; `"negotiation"`, `"Negotiations
/// Started"`), the fewest other words first; else a spelling a letter or
/// two away (`"qualifed_lead"`, `"qualified_lead"`), fewer for short words
/// (`"lead"` is not `"lost"`). `None` when `word` is a candidate itself.
pub fn likely<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let len = word.chars().count();
    let candidates: Vec<&str> = candidates.into_iter().collect();
    if candidates.contains(&word) {
        return None;
    }
    // A hostile word (a 10 MB event field) is compared with nothing.
    let longest = candidates.iter().map(|c| c.chars().count()).max().unwrap_or(0);
    if len > 4 * longest + 16 {
        return None;
    }
    let ws = words(word);
    if let Some(same) = candidates.iter().find(|c| !ws.is_empty() && words(c).concat() == ws.concat()) {
        return Some(same);
    }
    let by_words = candidates
        .iter()
        .filter_map(|c| {
            let cw = words(c);
            let n = word_matches(&ws, &cw).max(word_matches(&cw, &ws));
            (n > 0).then(|| (ws.len().abs_diff(cw.len()), *c))
        })
        .min_by_key(|(extra, _)| *extra);
    if let Some((_, c)) = by_words {
        return Some(c);
    }
    let lower = word.to_lowercase();
    candidates
        .into_iter()
        .filter_map(|c| {
            let most = len.max(c.chars().count());
            let reach = match most {
                0..=5 => 1,
                6..=10 => 2,
                _ => most / 4,
            };
            if len.abs_diff(c.chars().count()) > reach {
                return None;
            }
            let d = strsim::damerau_levenshtein(&lower, &c.to_lowercase());
            (d <= reach).then_some((d, c))
        })
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
    fn a_renamed_name_is_found_by_its_words_and_a_short_one_is_not_matched_by_letters() {
        let stages = ["Lead In", "Contact Made", "Proposal Made", "Negotiations Started", "won", "lost"];
        assert_eq!(did_you_mean("lead", stages), Some("Lead In"));
        assert_eq!(did_you_mean("negotiation", stages), Some("Negotiations Started"));
        assert_eq!(did_you_mean("Won", stages), Some("won"));
        assert_eq!(did_you_mean("qualified", stages), None);
        assert_eq!(did_you_mean("lead", ["won", "lost", "prospect"]), None, "not \"lost\"");
        assert_eq!(did_you_mean("qualifed_lead", ["qualified_lead", "lead"]), Some("qualified_lead"));
        assert_eq!(did_you_mean("ben okafor", ["Ana Ruiz", "Ben Okafor"]), Some("Ben Okafor"));
        assert_eq!(did_you_mean("in", stages), None, "a small word alone names nothing");
        let salesforce = ["Prospecting", "Qualification", "Proposal/Price Quote", "Negotiation/Review", "Closed Won"];
        assert_eq!(did_you_mean("qualified", salesforce), Some("Qualification"));
        assert_eq!(did_you_mean("proposal", salesforce), Some("Proposal/Price Quote"));
        assert_eq!(did_you_mean("negotiation", salesforce), Some("Negotiation/Review"));
        assert_eq!(did_you_mean("won", salesforce), Some("Closed Won"));
        assert_eq!(did_you_mean("lead", salesforce), None);
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
