//! What watch starts on: the playbook of the files on disk, or, while they
//! do not load (a broken or empty save), the version in force last as the
//! database stored it. Watch then says what is wrong on disk, and takes the
//! files up at their first save that loads.

use std::path::Path;
use std::time::Duration;

use super::problems;
use crate::error::Result;
use crate::playbook::Playbook;
use crate::store::Location;

/// Why watch starts on the stored version.
pub(super) struct Fallback {
    /// The problems of the files on disk, one per line, and where each is in its file.
    pub(super) problems: Vec<String>,
    pub(super) snippets: Vec<Option<String>>,
    /// When the stored version was put in force.
    pub(super) loaded_at: String,
}

/// The playbook to start on: the files on disk; when they do not load, the
/// version in force last, as the database stored it (with what is wrong on
/// disk). With neither, the error of the files on disk.
pub(super) fn first_playbook(root: &Path, db: Option<&str>) -> Result<(Playbook, Option<Fallback>)> {
    let error = match Playbook::load(root) {
        Ok(p) => return Ok((p, None)),
        Err(e) => e,
    };
    let path = match crate::config::Config::load(root) {
        Ok(config) => config.store_location(db),
        Err(_) => store_path_without_config(root, db),
    };
    let stored = || -> Result<Option<(Playbook, String)>> {
        if !path.may_exist() {
            return Ok(None);
        }
        let store = path.open_read_only(Duration::from_secs(5))?;
        let loaded_at = store.current_rules_version()?.map(|v| v.loaded_at).unwrap_or_default();
        Ok(Playbook::stored(root, &store)?.map(|p| (p, loaded_at)))
    };
    match stored() {
        Ok(Some((playbook, loaded_at))) => {
            let (problems, snippets) = problems(&error, root);
            Ok((playbook, Some(Fallback { problems, snippets, loaded_at })))
        }
        Ok(None) => Err(error),
        Err(e) => {
            tracing::debug!("no stored rules to start on: {e}");
            Err(error)
        }
    }
}

/// The database file when `config.toml` does not load: `--db`, else the
/// `[store] path` the file names if it is still TOML, else the default.
fn store_path_without_config(root: &Path, db: Option<&str>) -> Location {
    if let Some(db) = db {
        return Location::parse(db);
    }
    let text = std::fs::read_to_string(root.join(crate::config::CONFIG_FILE)).unwrap_or_default();
    let table = text.parse::<toml::Table>().ok();
    let named = |key: &str| {
        table
            .as_ref()
            .and_then(|t| t.get("store"))
            .and_then(|s| s.get(key))
            .and_then(|p| p.as_str())
            .map(str::to_string)
    };
    if let Some(url) = named("url").filter(|u| crate::store::is_postgres_url(u)) {
        return Location::Postgres(url);
    }
    Location::File(
        root.join(named("path").unwrap_or_else(|| crate::config::StoreConfig::default().path.display().to_string())),
    )
}
