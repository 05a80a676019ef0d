//! The playbook: a config and the rules checked against it, loaded together
//! and replaced together. Watch mode keeps the one in force behind an
//! [`ArcSwap`]: each event is decided by exactly one playbook, old or new.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;

use crate::config::Config;
use crate::error::Result;
use crate::rules::RuleSet;
use crate::store::Store;

pub struct Playbook {
    pub config: Config,
    pub rules: RuleSet,
    /// When it was loaded (wall clock, RFC 3339).
    pub loaded_at: String,
    /// How long reading, compiling and checking took, in milliseconds.
    pub load_ms: f64,
}

impl Playbook {
    /// Read `DIR/config.toml` and `DIR/rules/*.rhai`, compile and check them all.
    pub fn load(dir: &Path) -> Result<Playbook> {
        let started = Instant::now();
        let config = Config::load(dir)?;
        let rules = RuleSet::load(&config)?;
        Ok(Playbook {
            config,
            rules,
            loaded_at: crate::time::now_stamp(),
            load_ms: started.elapsed().as_secs_f64() * 1000.0,
        })
    }

    /// The version put in force last, rebuilt from the text of its files as
    /// the store keeps it; `None` when the store has none. Watch starts on it
    /// when the files on disk do not load.
    pub fn stored(dir: &Path, store: &Store) -> Result<Option<Playbook>> {
        let started = Instant::now();
        let Some(last) = store.current_rules_version()? else { return Ok(None) };
        let Some(mut files) = store.rules_version_files(&last.version)? else { return Ok(None) };
        let Some(i) = files.iter().position(|(path, _)| path == crate::config::CONFIG_FILE) else { return Ok(None) };
        let (_, text) = files.remove(i);
        let config = Config::parse(dir, &text)?;
        let rules = RuleSet::from_sources(&config, files)?;
        Ok(Some(Playbook {
            config,
            rules,
            loaded_at: crate::time::now_stamp(),
            load_ms: started.elapsed().as_secs_f64() * 1000.0,
        }))
    }

    pub fn version(&self) -> &str {
        &self.rules.version
    }

    /// The rule files loaded (not counting `config.toml`).
    pub fn rule_files(&self) -> usize {
        self.rules.files.len().saturating_sub(1)
    }

    /// Remember this version, with the text of every file, in the store.
    pub fn record(&self, store: &Store) -> Result<()> {
        let files = serde_json::to_string(&self.rules.files).unwrap_or_default();
        store.record_rules_version(self.version(), &files, &self.loaded_at)?;
        self.rules.restore_health(&store.rule_health(self.version())?);
        Ok(())
    }
}

/// The playbook in force, swapped atomically on reload.
pub type Current = ArcSwap<Playbook>;

pub fn current(p: Playbook) -> Arc<Current> {
    Arc::new(ArcSwap::from_pointee(p))
}
