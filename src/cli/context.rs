//! Loading what commands share: the config folder, the rules, the store.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result};
use dealflow::config::{CONFIG_FILE, Config};
use dealflow::playbook::Playbook;
use dealflow::rules::RuleSet;
use dealflow::store::{Location, Store, lease};

pub struct Context {
    pub dir: PathBuf,
    /// `--db`: a SQLite file or a PostgreSQL URL.
    pub db: Option<String>,
}

impl Context {
    pub fn config(&self) -> Result<Config> {
        let path = self.dir.join(CONFIG_FILE);
        if !path.exists() {
            anyhow::bail!(
                "no {CONFIG_FILE} in {} (run `dealflow init {}` to create one, or pass --dir)",
                self.dir.display(),
                self.dir.display()
            );
        }
        Ok(Config::load(&self.dir)?)
    }

    pub fn rules(&self, config: &Config) -> Result<RuleSet> {
        RuleSet::load(config).map_err(|e| anyhow::anyhow!("the rules do not load; nothing was changed:\n{e}"))
    }

    /// Config and rules together, checked.
    pub fn playbook(&self) -> Result<Playbook> {
        let config = self.config()?;
        let rules = self.rules(&config)?;
        Ok(Playbook { config, rules, loaded_at: dealflow::time::now_stamp(), load_ms: 0.0 })
    }

    fn timeout(config: &Config) -> Duration {
        Duration::from_millis(config.store.busy_timeout_ms)
    }

    /// The store for writing, created if needed.
    pub fn store(&self, config: &Config) -> Result<Store> {
        let location = self.location(config);
        location.open(Self::timeout(config)).with_context(|| format!("cannot open the store {location}"))
    }

    /// The store for applying events: opened as [`Context::store`], then read
    /// whole once to check it is sound (`PRAGMA quick_check`), so a damaged
    /// file is found before an event is written beside the damage. On
    /// PostgreSQL, `command` takes the engine lease for its run (one engine in
    /// force), waiting with a message while another process (a watch) holds
    /// it; it is released when the value drops.
    pub fn store_to_apply(&self, playbook: &Playbook, command: &str) -> Result<Applying> {
        let config = &playbook.config;
        let store = self.store(config)?;
        store.verify()?;
        let stop = stop_flag()?;
        let me = lease::Me::new(command, Some(playbook.version()));
        let taken = lease::take(&self.location(config), me, config.store.lease(), &stop, &mut |row| {
            eprintln!(
                "waiting for the engine in force: {} (epoch {}); its inbox takes files too; Ctrl-C to give up",
                row.holder.as_deref().unwrap_or("another process"),
                row.epoch
            )
        })?;
        if let lease::Taken::Stopped = taken {
            anyhow::bail!("stopped while waiting for the engine in force: nothing was done");
        }
        lease::adopt(&taken, &store)?;
        Ok(Applying { store, _lease: taken })
    }

    /// The store for reading: it must exist already.
    pub fn existing_store(&self, config: &Config) -> Result<Store> {
        Ok(self.location(config).open_existing(Self::timeout(config))?)
    }

    /// Where the store is: `--db`, else what config.toml names.
    pub fn location(&self, config: &Config) -> Location {
        config.store_location(self.db.as_deref())
    }
}

/// The store a command applies events to, with the engine lease it holds
/// for its run (PostgreSQL; released when this drops).
pub struct Applying {
    store: Store,
    _lease: lease::Taken,
}

impl std::ops::Deref for Applying {
    type Target = Store;

    fn deref(&self) -> &Store {
        &self.store
    }
}

/// The flag that SIGINT and SIGTERM set (caught from the start of the
/// process, see `signals`): long work stops between two events, commits what
/// it did, and exits cleanly.
pub fn stop_flag() -> Result<std::sync::Arc<std::sync::atomic::AtomicBool>> {
    Ok(super::signals::stop_flag())
}
