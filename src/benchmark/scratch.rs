//! Scratch PostgreSQL databases for `dealflow bench --postgres URL` and
//! `benches/claims.rs`: created on the server the URL names (its own
//! database is only used to connect), dropped when the guard drops, so a
//! benchmark never writes to a database someone uses.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::{Error, Result};

/// A database made for one measurement; dropped (`WITH (FORCE)`) with the guard
/// unless [`ScratchDatabase::keep`] was called.
pub struct ScratchDatabase {
    /// `postgres://USER@HOST:PORT/NAME` (with the password if the server URL had one).
    pub url: String,
    /// Its name on the server.
    pub name: String,
    admin: postgres::Config,
    keep: bool,
}

fn admin_config(server: &str) -> Result<postgres::Config> {
    let mut config: postgres::Config = server.parse().map_err(|e| {
        Error::Usage(format!(
            "cannot read the PostgreSQL URL ({e}): write it as postgres://USER@HOST:PORT/DATABASE, naming a \
             database to connect to (the scratch databases are made beside it)"
        ))
    })?;
    if config.get_password().is_none()
        && let Ok(password) = std::env::var("PGPASSWORD")
    {
        config.password(password);
    }
    Ok(config)
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
        let mut client = admin.connect(postgres::NoTls).map_err(|e| admin_error(&admin, "connecting", e))?;
        let sql = match template {
            Some(t) => format!("CREATE DATABASE {name} TEMPLATE {t}"),
            None => format!("CREATE DATABASE {name}"),
        };
        client.batch_execute(&sql).map_err(|e| admin_error(&admin, "CREATE DATABASE", e))?;
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
        let dropped = self
            .admin
            .connect(postgres::NoTls)
            .and_then(|mut c| c.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)));
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
