//! `dealflow serve`: the engine of `watch` (hot reload, inbox, ticks, a clean
//! stop on SIGINT/SIGTERM) and, from the same process, the team's web page
//! and an HTTP API.
//!
//! The engine runs on its own thread as in `watch`; HTTP runs on a small
//! tokio runtime beside it. Handlers never apply events themselves: events
//! posted to the API are handed to the engine's thread as a job
//! ([`dealflow::watch::Handle::submit`]), so they are applied in turn with the
//! inbox, under the engine lease on PostgreSQL, and the engine's hot path
//! knows nothing of HTTP. Reads, claims and closes use stores of their own
//! (a small pool), as `dealflow tasks` in another process would.
//!
//! Every page and call acts as a person of the team: a token from
//! `dealflow token create` as `Authorization: Bearer`, or a browser session
//! signed in with one (see [`auth`]).

mod api;
mod auth;
mod hooks;
mod pages;
mod team;
mod view;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result};
use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use dealflow::playbook::Playbook;
use dealflow::store::Store;
use dealflow::watch::{self, Options};

use super::Outcome;
use super::context::{Context, stop_flag};

#[derive(clap::Args)]
#[command(after_help = "Examples:
  dealflow token create --as \"Ana Ruiz\"        a token for a person (printed once)
  dealflow serve                               then open http://127.0.0.1:8642/ and sign in with it
  dealflow serve --listen 0.0.0.0:8642         reachable from the network (put TLS in front)
  curl -H \"Authorization: Bearer $TOKEN\" http://127.0.0.1:8642/api/tasks

Pages: / (start), /queue, /tasks/ID, /deals/ID, /accounts/ID, /team, /rules.
API (the CLI's JSON): GET /api/status, GET /api/tasks, GET /api/team, POST /api/tasks/claim,
POST /api/tasks/ID/done, POST /api/tasks/ID/cancel, POST /api/events.
CRM webhooks in: POST /webhooks/pipedrive, POST /webhooks/hubspot ([webhooks] in config.toml).")]
pub struct Args {
    /// Where to serve HTTP: ADDR:PORT. Loopback by default; any other address
    /// is reachable from the network (put a reverse proxy with TLS in front
    /// of it, see the README). Port 0 takes a free port (printed at start).
    #[arg(long, default_value = "127.0.0.1:8642", value_name = "ADDR:PORT")]
    listen: SocketAddr,
    /// Milliseconds to gather file events before acting on them (as `watch`).
    #[arg(long, default_value_t = 50, value_name = "MS")]
    debounce_ms: u64,
    /// Milliseconds an inbox file must keep its size before it is taken as finished (as `watch`).
    #[arg(long, default_value_t = 100, value_name = "MS")]
    settle_ms: u64,
}

/// What every handler shares.
pub struct App {
    ctx: Context,
    engine: watch::Handle,
    /// Stores for handlers, each used by one request at a time.
    stores: Mutex<Vec<Store>>,
    /// The playbook when the engine has not started (a standby on PostgreSQL).
    fallback: Mutex<Option<Arc<Playbook>>>,
    /// The engine was woken for webhook deliveries and has not looked yet.
    nudged: AtomicBool,
}

/// A request that failed: its status and what to tell the person.
#[derive(Debug)]
pub struct Fail {
    pub status: StatusCode,
    pub message: String,
}

impl Fail {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Fail {
        Fail { status, message: message.into() }
    }
}

impl From<anyhow::Error> for Fail {
    fn from(e: anyhow::Error) -> Fail {
        let unreachable =
            e.chain().any(|c| c.downcast_ref::<dealflow::error::Error>().is_some_and(|e| e.is_unreachable()));
        let status = if unreachable { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::INTERNAL_SERVER_ERROR };
        Fail::new(status, format!("{e:#}"))
    }
}

impl From<dealflow::error::Error> for Fail {
    fn from(e: dealflow::error::Error) -> Fail {
        anyhow::Error::from(e).into()
    }
}

/// API errors are JSON: `{"error": "..."}`.
impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        (self.status, axum::Json(serde_json::json!({"error": self.message}))).into_response()
    }
}

impl App {
    /// The playbook in force: the engine's (with its hot reloads), else the files'.
    pub fn playbook(&self) -> Result<Arc<Playbook>> {
        if let Some(current) = self.engine.in_force() {
            return Ok(current.load_full());
        }
        let mut fallback = self.fallback.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = &*fallback {
            return Ok(p.clone());
        }
        let p = Arc::new(self.ctx.playbook()?);
        *fallback = Some(p.clone());
        Ok(p)
    }

    /// Run `f` with a store and the playbook, off the async threads.
    pub async fn blocking<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Store, &Playbook) -> Result<T, Fail> + Send + 'static,
    ) -> Result<T, Fail> {
        let app = self.clone();
        tokio::task::spawn_blocking(move || {
            let playbook = app.playbook()?;
            let store = app.take_store(&playbook)?;
            let result = f(&store, &playbook);
            // A store whose server went away is not put back.
            if !matches!(&result, Err(Fail { status: StatusCode::SERVICE_UNAVAILABLE, .. })) {
                app.stores.lock().unwrap_or_else(|p| p.into_inner()).push(store);
            }
            result
        })
        .await
        .map_err(|e| Fail::new(StatusCode::INTERNAL_SERVER_ERROR, format!("the request's thread failed: {e}")))?
    }

    fn take_store(&self, playbook: &Playbook) -> Result<Store, Fail> {
        if let Some(s) = self.stores.lock().unwrap_or_else(|p| p.into_inner()).pop() {
            return Ok(s);
        }
        let config = &playbook.config;
        let location = self.ctx.location(config);
        let store = location
            .open(Duration::from_millis(config.store.busy_timeout_ms))
            .with_context(|| format!("cannot open the store {location}"))?;
        Ok(store)
    }

    /// Hand work to the engine's thread and wait for its answer.
    pub async fn on_engine<T: Send + 'static>(
        &self,
        wait: Duration,
        f: impl FnOnce(&Store, &Arc<dealflow::playbook::Current>) -> T + Send + 'static,
    ) -> Result<T, Fail> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: watch::Job = Box::new(move |store, current| {
            // Nobody waits any more (the request timed out): do not do it late.
            if tx.is_closed() {
                return;
            }
            let _ = tx.send(f(store, current));
        });
        if !self.engine.submit(job) {
            return Err(Fail::new(StatusCode::SERVICE_UNAVAILABLE, "the engine has stopped"));
        }
        match tokio::time::timeout(wait, rx).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(_)) => {
                Err(Fail::new(StatusCode::SERVICE_UNAVAILABLE, "the engine stopped before it took the request"))
            }
            Err(_) => Err(Fail::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the engine did not take the request within {} s (on PostgreSQL, this process may be a \
                     standby: another process is the engine in force); nothing was applied, send it again",
                    wait.as_secs()
                ),
            )),
        }
    }
}

pub fn run(ctx: &Context, args: Args) -> Result<Outcome> {
    let stop = stop_flag()?;
    if !ctx.dir.join(dealflow::config::CONFIG_FILE).exists() {
        ctx.config()?;
    }
    let options = Options {
        debounce: Duration::from_millis(args.debounce_ms),
        settle: Duration::from_millis(args.settle_ms),
        command: "serve",
        ..Options::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("http")
        .enable_all()
        .build()
        .context("cannot start the HTTP runtime")?;
    // Bound before the engine starts: a port in use is an error at once.
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(args.listen))
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let bound = listener.local_addr()?;
    let (handle, embedding) = watch::embedding();
    let engine = {
        let (dir, db, stop) = (ctx.dir.clone(), ctx.db.clone(), stop.clone());
        std::thread::Builder::new().name("engine".into()).spawn(move || {
            let result = watch::run_embedded(
                &dir,
                db.as_deref(),
                &options,
                stop.clone(),
                Arc::new(super::watch::print),
                embedding,
            );
            // The engine's end is the process's end.
            stop.store(true, Ordering::SeqCst);
            result
        })?
    };
    let app = Arc::new(App {
        ctx: Context { dir: ctx.dir.clone(), db: ctx.db.clone() },
        engine: handle,
        stores: Mutex::new(Vec::new()),
        fallback: Mutex::new(None),
        nudged: AtomicBool::new(false),
    });
    let loopback = if bound.ip().is_loopback() { "" } else { " (reachable from the network: put TLS in front)" };
    eprintln!("serving http://{bound}/{loopback}; sign in with a token from `dealflow token create --as NAME`");
    let served = runtime.block_on(async {
        axum::serve(listener, router(app.clone())).with_graceful_shutdown(stopped(stop.clone())).await
    });
    stop.store(true, Ordering::SeqCst);
    runtime.shutdown_timeout(Duration::from_secs(5));
    // The stores are closed here, on this thread: a PostgreSQL client closes
    // by blocking on a runtime of its own, which panics on one of tokio's
    // threads, where the app's last handle would otherwise be dropped.
    app.stores.lock().unwrap_or_else(|p| p.into_inner()).clear();
    drop(app);
    let engine = engine.join().map_err(|_| anyhow::anyhow!("the engine's thread panicked"))?;
    served.context("the HTTP server failed")?;
    engine?;
    Ok(Outcome::Ok)
}

/// Resolves once `stop` is set (SIGINT, SIGTERM, or the engine ended).
async fn stopped(stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn router(app: Arc<App>) -> Router {
    Router::new()
        .merge(api::routes())
        .merge(hooks::routes())
        .merge(pages::routes())
        .merge(team::routes())
        .with_state(app)
}
