//! Scratch PostgreSQL databases for `dealflow bench --postgres URL` and
//! `benches/claims.rs`: created on the server the URL names (its own
//! database is only used to connect), dropped when the guard drops, so a
//! benchmark never writes to a database someone uses.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::{Error, Result};
use crate::store::postgres::tls::{ConnectError, Settings};

/// A database made for one measurement; dropped (`WITH (FORCE)`) with the guard
/// unless [`ScratchDatabase::keep`] was called.
pub struct ScratchDatabase {
    /// `postgres://USER@HOST:PORT/NAME` (with the password if the server URL had one).
    pub url: String,
    /// Its name on the server.
    pub name: String,
    admin: Settings,
    keep: bool,
}

/// The server's settings, with its TLS (`sslmode`, `sslrootcert`) and `PGPASSWORD`.
fn admin_config(server: &str) -> Result<Settings> {
    crate::store::postgres::settings(server).map_err(|e| {
        Error::Usage(format!(
            "{e}; for a benchmark, name a database to connect to (the scratch databases are made beside it)"
        ))
    })
}

/// A connection to the server for creating and dropping databases.
fn admin_connect(admin: &Settings) -> Result<postgres::Client> {
    admin.connect().map_err(|e| match e {
        ConnectError::Setup(e) => e,
        ConnectError::Server(e) => admin_error(&admin.config, "connecting", e),
    })
}

fn admin_error(server: &postgres::Config, what: &str, e: postgres::Error) -> Error {
    Error::Usage(format!(
        "{what} on {} failed ({e}): the user in the URL must be allowed to CREATE DATABASE",
        crate::store::postgres::redacted(server)
    ))
}

impl ScratchDatabase {
    /// A new empty database `dealflow_<purpose>_<pid>_<n>_<nanos>` on the server
    /// `server` names; with `template`, a copy of that database instead.
    pub fn create(server: &str, purpose: &str, template: Option<&str>) -> Result<ScratchDatabase> {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let admin = admin_config(server)?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let name =
            format!("dealflow_{purpose}_{}_{}_{nanos}", std::process::id(), COUNT.fetch_add(1, Ordering::Relaxed));
        let mut client = admin_connect(&admin)?;
        let sql = match template {
            Some(t) => format!("CREATE DATABASE {name} TEMPLATE {t}"),
            None => format!("CREATE DATABASE {name}"),
        };
        client.batch_execute(&sql).map_err(|e| admin_error(&admin.config, "CREATE DATABASE", e))?;
        let url = url_with_database(server, &name);
        Ok(ScratchDatabase { url, name, admin, keep: false })
    }

    /// Leave the database on the server when the guard drops.
    pub fn keep(&mut self) {
        self.keep = true;
    }
}

/// `server` with its database part replaced by `name` (query parameters kept).
fn url_with_database(server: &str, name: &str) -> String {
    let (head, query) = match server.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (server, None),
    };
    let scheme_end = head.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match head[scheme_end..].find('/') {
        Some(i) => &head[..scheme_end + i],
        None => head,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        let dropped = admin_connect(&self.admin).and_then(|mut c| {
            c.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name))
                .map_err(|e| admin_error(&self.admin.config, "DROP DATABASE", e))
        });
        if let Err(e) = dropped {
            eprintln!("could not drop the scratch database {}: {e}", self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::url_with_database;

    #[test]
    fn the_database_part_of_the_url_is_replaced() {
        assert_eq!(url_with_database("postgres://u@h:5/postgres", "x"), "postgres://u@h:5/x");
        assert_eq!(
            url_with_database("postgres://u:p@h:5/db?sslmode=disable", "x"),
            "postgres://u:p@h:5/x?sslmode=disable"
        );
        assert_eq!(url_with_database("postgresql://h", "x"), "postgresql://h/x");
    }
}
