//! dealflow: a rules-driven workflow engine for B2B sales teams.
//!
//! Events (JSON Lines) come in; rules written in Rhai decide when a deal
//! moves stages, when an account counts as key, and which follow-up tasks
//! each role gets; everything is kept in SQLite.
//!
//! ```no_run
//! use dealflow::{config::Config, engine::Engine, ingest::Ingest, rules::RuleSet, store::Store};
//! # fn main() -> dealflow::error::Result<()> {
//! let config = Config::load(std::path::Path::new("."))?;
//! let rules = RuleSet::load(&config)?;
//! let store = Store::open(&config.store_path(None), std::time::Duration::from_secs(5))?;
//! let engine = Engine::new(&config, &rules, &store);
//! let mut ingest = Ingest::start(&engine)?;
//! ingest.input("events.jsonl", std::fs::File::open("events.jsonl").unwrap(), |_| {})?;
//! println!("{:?}", ingest.finish()?.counts);
//! # Ok(()) }
//! ```
//!
//! Data flows one way: event → store state → rules → decisions → store. The
//! rule runtime never touches SQLite; the store never runs a script.

pub mod assign;
pub mod config;
pub mod engine;
pub mod error;
pub mod event;
pub mod event_source;
pub mod facts;
pub mod ingest;
pub mod model;
pub mod rules;
pub mod store;
pub mod synthetic;
pub mod time;
