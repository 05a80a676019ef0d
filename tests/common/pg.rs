//! A real PostgreSQL server for tests that drive the binary: each test gets a
//! database of its own on the server `DEALFLOW_TEST_PG` names (`.ci/run`
//! starts one; see `.ci/pg-cluster`), dropped when the test ends. Without the
//! variable a test says `SKIPPED: no PostgreSQL` and passes.

use std::sync::atomic::{AtomicUsize, Ordering};

pub const VAR: &str = "DEALFLOW_TEST_PG";

/// A database created for one test.
pub struct PgDatabase {
    /// `postgres://USER@HOST:PORT/NAME`: what `--db` or `[store] url` takes.
    pub url: String,
    admin: postgres::Config,
    name: String,
}

/// The server's URL, or `None` (having said so, visibly) when there is none.
pub fn server(test: &str) -> Option<String> {
    match std::env::var(VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            // Straight to stderr: libtest captures eprintln! of a passing test.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: {test}: no PostgreSQL (set {VAR}=postgres://USER@HOST:PORT/DB, see .ci/pg-cluster)"
            );
            None
        }
    }
}

impl PgDatabase {
    /// A new, empty database for the test named `test` (`None`: no server, said so).
    pub fn create(test: &str) -> Option<PgDatabase> {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let server = server(test)?;
        let admin: postgres::Config =
            server.parse().unwrap_or_else(|e| panic!("{VAR}={server} is not a PostgreSQL URL: {e}"));
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let name = format!("dealflow_cli_{}_{}_{nanos}", std::process::id(), COUNT.fetch_add(1, Ordering::Relaxed));
        let mut client =
            admin.connect(postgres::NoTls).unwrap_or_else(|e| panic!("cannot connect to the server {VAR} names: {e}"));
        client.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        let (base, _) = server.rsplit_once('/').unwrap_or_else(|| panic!("{VAR}={server}: no /DATABASE at its end"));
        Some(PgDatabase { url: format!("{base}/{name}"), admin, name })
    }

    /// A connection to the test database, to look at its tables directly.
    pub fn client(&self) -> postgres::Client {
        let mut config = self.admin.clone();
        config.dbname(&self.name);
        config.connect(postgres::NoTls).expect("connect to the test database")
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let dropped = self
            .admin
            .connect(postgres::NoTls)
            .and_then(|mut c| c.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)));
        if let Err(e) = dropped {
            eprintln!("could not drop the test database {}: {e}", self.name);
        }
    }
}
