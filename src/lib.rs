//! dealflow: a rules-driven workflow engine for B2B sales teams.
//!
//! Events (JSON Lines) come in; rules written in Rhai decide when a deal
//! moves stages, when an account counts as key, and which follow-up tasks
//! each role gets; everything is kept in SQLite or PostgreSQL.
//!
//! ```no_run
//! use dealflow::{ingest::Ingest, playbook::{self, Playbook}};
//! # fn main() -> dealflow::error::Result<()> {
//! let playbook = Playbook::load(std::path::Path::new("."))?; // config.toml + rules/*.rhai, checked
//! let store = playbook.config.store_location(None).open(std::time::Duration::from_secs(5))?;
//! let current = playbook::current(playbook);
//! let mut ingest = Ingest::start(&store, &current)?;
//! ingest.input("events.jsonl", std::fs::File::open("events.jsonl").unwrap())?;
//! println!("{:?}", ingest.finish()?.counts);
//! # Ok(()) }
//! ```
//!
//! Data flows one way: event → store state → rules → decisions → store. The
//! rule runtime never touches the database; the store never runs a script.

pub mod assign;
pub mod availability;
pub mod benchmark;
pub mod config;
pub mod engine;
pub mod error;
pub mod event;
pub mod event_content;
pub mod event_json;
pub mod event_source;
pub mod explain;
pub mod facts;
pub mod import;
pub mod inbox;
pub mod ingest;
pub mod model;
pub mod notify;
pub mod playbook;
pub mod rule_tests;
pub mod rules;
pub mod simulate;
pub mod store;
pub mod synthetic;
pub mod time;
pub mod watch;
pub mod webhooks;
