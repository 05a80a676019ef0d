//! One engine in force: the engine lease, whatever the store. PostgreSQL has
//! one (see `postgres::lease`: several machines share the database, and
//! exactly one process at a time applies events); SQLite does not need one
//! (one machine; its writers already take turns with `BEGIN IMMEDIATE`).

use std::sync::atomic::AtomicBool;
use std::time::Duration;

pub use super::postgres::lease::{EngineLease, Me, OnWait, hostname};
use super::{Location, Store};
use crate::error::Result;

/// What taking the lease came to.
pub enum Taken {
    /// The store has no lease (SQLite).
    NotUsed,
    /// This process holds it until the value is dropped or released.
    Held(Box<EngineLease>),
    /// A stop signal came while waiting for it.
    Stopped,
}

impl Taken {
    /// The lease held, if any.
    pub fn lease(&self) -> Option<&EngineLease> {
        match self {
            Taken::Held(l) => Some(l),
            _ => None,
        }
    }
}

/// Take the engine lease of the store at `location` for this process, waiting
/// while another holds it (`on_wait` says who, once per holder). A lease of
/// `length` expires unless renewed (every third of it, by a thread of its own).
pub fn take(location: &Location, me: Me, length: Duration, stop: &AtomicBool, on_wait: OnWait) -> Result<Taken> {
    match location {
        Location::File(_) => Ok(Taken::NotUsed),
        Location::Postgres(url) => {
            let settings = super::postgres::settings(url)?;
            Ok(match EngineLease::take(&settings, me, length, stop, on_wait)? {
                Some(l) => Taken::Held(Box::new(l)),
                None => Taken::Stopped,
            })
        }
    }
}

/// Fence `store`'s units with the lease held (nothing without one).
pub fn adopt(taken: &Taken, store: &Store) -> Result<()> {
    match taken {
        Taken::Held(l) => l.adopt(store.backend()),
        _ => Ok(()),
    }
}
