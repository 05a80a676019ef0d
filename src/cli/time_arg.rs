//! The value of every option that takes a business time (`tick --now`,
//! `simulate --since`, `import --tasks-since`, `ingest --tasks-since`): read by clap, so a value that
//! is not a time is a usage error that says which forms are read.

use chrono::{DateTime, Utc};
use dealflow::time::{TIME_FORMS, parse_time};

/// A clap value parser: the time `text` names, or what to write instead.
pub fn business_time(text: &str) -> Result<DateTime<Utc>, String> {
    parse_time(text).ok_or_else(|| format!("not a time: write {TIME_FORMS}"))
}
