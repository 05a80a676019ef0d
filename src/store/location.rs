//! Where the store is: a SQLite file, or a PostgreSQL database named by its URL.
//!
//! `--db`, `DEALFLOW_DB` and `[store]` in `config.toml` name it; a value that
//! starts with `postgres://` or `postgresql://` is a PostgreSQL database, any
//! other a file.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::Result;

use super::Store;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file.
    File(PathBuf),
    /// A PostgreSQL database: its URL, as written (it may hold a password).
    Postgres(String),
}

impl Location {
    /// What `--db` or `DEALFLOW_DB` says: a PostgreSQL URL, else a file path.
    pub fn parse(text: &str) -> Location {
        if is_postgres_url(text) { Location::Postgres(text.to_string()) } else { Location::File(PathBuf::from(text)) }
    }

    /// The SQLite file, if the store is one.
    pub fn file(&self) -> Option<&Path> {
        match self {
            Location::File(p) => Some(p),
            Location::Postgres(_) => None,
        }
    }

    /// `"sqlite"` or `"postgres"`: the backend's kind, as `status` names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Location::File(_) => "sqlite",
            Location::Postgres(_) => "postgres",
        }
    }

    /// Open the store for writing: a file is created if needed; a PostgreSQL
    /// database must exist, and its tables are created or brought up to date.
    pub fn open(&self, busy_timeout: Duration) -> Result<Store> {
        match self {
            Location::File(p) => Store::open(p, busy_timeout),
            Location::Postgres(url) => Store::open_postgres(url, busy_timeout),
        }
    }

    /// Open a store that must exist already (a file is never created).
    pub fn open_existing(&self, busy_timeout: Duration) -> Result<Store> {
        match self {
            Location::File(p) => Store::open_existing(p, busy_timeout),
            Location::Postgres(url) => Store::open_postgres(url, busy_timeout),
        }
    }

    /// Open a store for reading only. A PostgreSQL database is opened as for
    /// writing (a user allowed only to read gets its refusal at the first write).
    pub fn open_read_only(&self, busy_timeout: Duration) -> Result<Store> {
        match self {
            Location::File(p) => Store::open_read_only(p, busy_timeout),
            Location::Postgres(url) => Store::open_postgres(url, busy_timeout),
        }
    }

    /// Whether there may be a store to read: a file that exists, or any
    /// PostgreSQL database (the server says when it is not there).
    pub fn may_exist(&self) -> bool {
        match self {
            Location::File(p) => p.is_file(),
            Location::Postgres(_) => true,
        }
    }
}

/// Whether `text` is a PostgreSQL URL (`postgres://…` or `postgresql://…`).
pub fn is_postgres_url(text: &str) -> bool {
    let lower = text.trim_start().to_ascii_lowercase();
    lower.starts_with("postgres://") || lower.starts_with("postgresql://")
}

/// A file's path, or the URL without its password: safe to print.
impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File(p) => write!(f, "{}", p.display()),
            Location::Postgres(url) => match url.parse::<::postgres::Config>() {
                Ok(config) => f.write_str(&super::postgres::redacted(&config)),
                Err(_) => f.write_str("postgres://(a URL that does not parse)"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_postgres_and_anything_else_a_file() {
        assert_eq!(Location::parse("postgres://a@h:5/db").kind(), "postgres");
        assert_eq!(Location::parse("PostgreSQL://a@h/db").kind(), "postgres");
        assert_eq!(Location::parse("data/dealflow.db"), Location::File(PathBuf::from("data/dealflow.db")));
        assert_eq!(Location::parse("postgres.db").kind(), "sqlite");
    }

    #[test]
    fn a_password_is_never_shown() {
        let shown = Location::parse("postgres://sales:s3cret@db.example.com:6543/crm").to_string();
        assert_eq!(shown, "postgres://sales@db.example.com:6543/crm");
        assert!(!shown.contains("s3cret"));
    }
}
