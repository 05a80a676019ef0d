//! Watch mode: stay running, hot-reload config and rules, process inbox
//! files as they appear, tick on an interval, stop cleanly on a signal.
//!
//! The config folder is watched recursively (directories, not files: editors
//! save by writing a temporary file and renaming it over the old one). A
//! change to `config.toml` or `rules/*.rhai` wakes the reloader thread, which
//! reads, compiles and checks everything and only then swaps the new
//! playbook in; a broken edit is reported and the last good playbook stays.
//! Reloading runs beside ingesting, so an edit takes effect from the next
//! event even in the middle of a long inbox file.
//!
//! Watch holds the inbox lock while it runs (a second watch waits for it);
//! it starts on the last good rules stored in the database when the files on
//! disk do not load; and a database locked by another process for longer
//! than the busy timeout is waited for, never a reason to exit.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use notify_debouncer_full::notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, new_debouncer};

use crate::error::{Error, Result};
use crate::inbox::{INBOX, Inbox, Processed};
use crate::playbook::{Current, Playbook};
use crate::store::{Location, Store, lease};

mod patience;
mod start;

use patience::{BUSY_RETRY, Patience, lock_inbox};
use start::first_playbook;

/// What watch mode tells its user.
#[derive(Debug)]
pub enum Note {
    /// Watching; the playbook in force.
    Started {
        version: String,
        files: usize,
    },
    /// The rules on disk do not load: watch starts on the version in force
    /// last, as the database stored it, and takes the files up once they load.
    StartedOnStored {
        version: String,
        files: usize,
        /// When it was put in force before.
        loaded_at: String,
        problems: Vec<String>,
        snippets: Vec<Option<String>>,
    },
    /// Another process holds the inbox lock: watch waits until it ends.
    WaitingForInbox {
        holder: String,
    },
    /// PostgreSQL: another process is the engine in force (holds the engine
    /// lease); this watch waits as a standby and takes over if it stops
    /// (said once per holder).
    Standby {
        holder: String,
        epoch: i64,
    },
    /// PostgreSQL: this watch took the engine lease and is the engine in force.
    Leading {
        epoch: i64,
    },
    /// PostgreSQL: another process took the engine lease over while this one
    /// was stalled or cut off: nothing of its unit was kept; it goes back to
    /// being a standby.
    LeaseLost {
        message: String,
    },
    /// The database is locked by another process: watch waits and tries again (said once per wait).
    DatabaseBusy {
        /// The database file.
        path: PathBuf,
    },
    /// The database that was locked (or whose server was lost) could be written again.
    DatabaseFree,
    /// The PostgreSQL server could not be reached or the connection was
    /// lost; nothing of the unit in progress was kept, and watch tries
    /// again until it is back.
    ServerLost {
        error: String,
    },
    Reloaded {
        version: String,
        files: usize,
        ms: f64,
    },
    /// With `[watch] reload = "simulate-first"`: what the new version changes on the stored history.
    Simulated {
        version: String,
        summary: String,
    },
    /// A reload failed; each problem as `FILE:LINE:COL: message` (or what could not be read).
    Rejected {
        problems: Vec<String>,
        snippets: Vec<Option<String>>,
    },
    Processed(Processed),
    /// An inbox file could not be processed (it stays in the inbox).
    InboxError {
        file: String,
        error: String,
    },
    Ticked {
        at: String,
    },
    /// A webhook delivery was applied, or kept as unmappable with its reason.
    Webhook(crate::webhooks::Outcome),
    /// `[store] keep_days`: what the daily prune removed.
    Pruned {
        summary: String,
    },
    /// A new config in force moved open tasks nobody had claimed (people
    /// away, gone, at their cap, or new with room): `task_rerouted` decisions.
    Rebalanced {
        version: String,
        moved: u64,
    },
    Stopping,
}

#[derive(Debug, Clone)]
pub struct Options {
    /// How long file events are gathered before acting on them.
    pub debounce: Duration,
    /// How long an inbox file must keep its size before it is taken as finished.
    pub settle: Duration,
    /// How often the inbox is scanned even without events (a safety net).
    pub rescan: Duration,
    /// The command, as the engine lease and `status` name the process (`watch`, `serve`).
    pub command: &'static str,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            debounce: Duration::from_millis(50),
            settle: Duration::from_millis(100),
            rescan: Duration::from_secs(5),
            command: "watch",
        }
    }
}

/// Where a changed path belongs.
#[derive(Debug, PartialEq, Eq)]
enum Change {
    Playbook,
    Inbox,
    Other,
}

fn classify(root: &Path, path: &Path) -> Change {
    let Ok(rel) = path.strip_prefix(root) else { return Change::Other };
    let parts: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    match parts.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["config.toml"] | ["rules"] => Change::Playbook,
        ["rules", name] if name.ends_with(".rhai") && !name.starts_with('.') => Change::Playbook,
        [INBOX, name] if Inbox::is_event_file(name) => Change::Inbox,
        _ => Change::Other,
    }
}

/// The problems of a failed load, one per line, and where each is in its file.
pub fn problems(e: &Error, dir: &Path) -> (Vec<String>, Vec<Option<String>>) {
    match e {
        Error::Invalid(p) => {
            (p.0.iter().map(ToString::to_string).collect(), p.0.iter().map(|l| l.snippet(dir)).collect())
        }
        other => (vec![other.to_string()], vec![None]),
    }
}

/// Work a process embedding the engine (`serve`) hands to it: run on the
/// engine's own thread, between two inbox files, with its store (holding
/// the engine lease on PostgreSQL) and the playbook in force. A job that
/// comes while this process is a standby waits until it leads.
pub type Job = Box<dyn FnOnce(&Store, &Arc<Current>) + Send>;

/// What wakes the engine's thread.
enum Wake {
    /// Something changed in the inbox.
    Inbox,
    Job(Job),
}

/// The engine as another part of the process sees it (see [`run_embedded`]):
/// it takes jobs, and shows the playbook in force.
#[derive(Clone)]
pub struct Handle {
    wake: mpsc::Sender<Wake>,
    in_force: Arc<arc_swap::ArcSwapOption<Current>>,
}

impl Handle {
    /// Hand `job` to the engine's thread; false once the engine has ended.
    pub fn submit(&self, job: Job) -> bool {
        self.wake.send(Wake::Job(job)).is_ok()
    }

    /// The playbook the engine runs with (hot reloads included); `None`
    /// until it has started (a standby has not).
    pub fn in_force(&self) -> Option<Arc<Current>> {
        self.in_force.load_full()
    }
}

/// The receiving end of a [`Handle`]: passed to [`run_embedded`].
pub struct Embedding {
    wake: mpsc::Receiver<Wake>,
    handle: Handle,
}

/// A handle and the embedding [`run_embedded`] takes.
pub fn embedding() -> (Handle, Embedding) {
    let (tx, rx) = mpsc::channel();
    let handle = Handle { wake: tx, in_force: Arc::new(arc_swap::ArcSwapOption::empty()) };
    (handle.clone(), Embedding { wake: rx, handle })
}

/// Run until `stop` is set. `notes` receives what happens, from this thread
/// and the reloader's. On PostgreSQL, watch is the engine in force only while
/// it holds the engine lease: it waits as a standby while another process
/// holds it, and goes back to waiting when the lease is taken from it.
pub fn run(
    dir: &Path,
    db: Option<&str>,
    options: &Options,
    stop: Arc<AtomicBool>,
    notes: Arc<dyn Fn(Note) + Send + Sync>,
) -> Result<()> {
    run_embedded(dir, db, options, stop, notes, embedding().1)
}

/// [`run`], taking jobs from the [`Handle`] of `embedding` as well.
pub fn run_embedded(
    dir: &Path,
    db: Option<&str>,
    options: &Options,
    stop: Arc<AtomicBool>,
    notes: Arc<dyn Fn(Note) + Send + Sync>,
    embedding: Embedding,
) -> Result<()> {
    loop {
        match run_once(dir, db, options, &stop, notes.clone(), &embedding) {
            Err(e @ Error::LeaseLost { .. }) if !stop.load(Ordering::SeqCst) => {
                notes(Note::LeaseLost { message: e.to_string() })
            }
            other => return other,
        }
    }
}

fn run_once(
    dir: &Path,
    db: Option<&str>,
    options: &Options,
    stop: &Arc<AtomicBool>,
    notes: Arc<dyn Fn(Note) + Send + Sync>,
    embedding: &Embedding,
) -> Result<()> {
    let root = dir.canonicalize().map_err(|source| Error::Read { path: dir.to_path_buf(), source })?;
    let mut inbox = Inbox::new(&root);
    let Some(_lock) = lock_inbox(&inbox, stop, &*notes)? else {
        notes(Note::Stopping);
        return Ok(());
    };
    let (first, rejected) = first_playbook(&root, db)?;
    let db_path = first.config.store_location(db);
    let timeout = Duration::from_millis(first.config.store.busy_timeout_ms);
    let tick_every = first.config.clock.tick_interval();
    let mut patience = Patience { notes: &*notes, waiting: false };
    let Some(store) = patience.wait_for(stop, || db_path.open(timeout))? else {
        notes(Note::Stopping);
        return Ok(());
    };
    store.verify()?;
    // One engine in force (PostgreSQL): wait as a standby while another holds the lease.
    let length = first.config.store.lease();
    let me = lease::Me::new(options.command, Some(first.version()));
    let taken = lease::take(&db_path, me, length, stop, &mut |row| {
        notes(Note::Standby {
            holder: row.holder.clone().unwrap_or_else(|| "another process".into()),
            epoch: row.epoch,
        })
    })?;
    let fence = match &taken {
        lease::Taken::Stopped => {
            notes(Note::Stopping);
            return Ok(());
        }
        lease::Taken::Held(l) => {
            l.adopt(store.backend())?;
            notes(Note::Leading { epoch: l.epoch() });
            Some((l.epoch(), length))
        }
        lease::Taken::NotUsed => None,
    };
    let held = taken.lease();
    if patience.wait_for(stop, || first.record(&store))?.is_none() {
        notes(Note::Stopping);
        return Ok(());
    }
    // What is applied from now on is announced ([notify]); what is stored already is not.
    if let Err(e) = crate::notify::start_cursor(&store, &first.config) {
        tracing::warn!("notifications: {e}");
    }
    let version = first.version().to_string();
    let files = first.rule_files();
    let rejected_at_start = rejected.as_ref().map(|r| r.problems.clone());
    let started = match rejected {
        None => vec![Note::Started { version, files }],
        Some(start::Fallback { problems, snippets, loaded_at }) => vec![
            Note::StartedOnStored { version: version.clone(), files, loaded_at, problems, snippets },
            Note::Started { version, files },
        ],
    };
    let current: Arc<Current> = crate::playbook::current(first);
    embedding.handle.in_force.store(Some(current.clone()));

    let (reload_tx, reload_rx) = mpsc::channel::<()>();
    let look_again = reload_tx.clone();
    let inbox_tx = embedding.handle.wake.clone();
    let watched_root = root.clone();
    let mut debouncer = new_debouncer(options.debounce, None, move |result: DebounceEventResult| {
        let Ok(events) = result else { return };
        let paths = events.iter().filter(|e| changes_files(&e.event.kind)).flat_map(|e| e.event.paths.iter());
        let (mut reload, mut inbox) = (false, false);
        for p in paths {
            match classify(&watched_root, p) {
                Change::Playbook => reload = true,
                Change::Inbox => inbox = true,
                Change::Other => {}
            }
        }
        if reload {
            let _ = reload_tx.send(());
        }
        if inbox {
            let _ = inbox_tx.send(Wake::Inbox);
        }
    })
    .map_err(|e| Error::Usage(format!("cannot watch {}: {e}", root.display())))?;
    debouncer
        .watch(&root, RecursiveMode::Recursive)
        .map_err(|e| Error::Usage(format!("cannot watch {}: {e}", root.display())))?;
    // A change saved between the first load and the watch starting has no
    // event: look at the files once more now (the same version reloads nothing).
    let _ = look_again.send(());
    for note in started {
        notes(note);
    }

    // The reloader stops with this run (a lost lease ends it, not the process).
    let quit = Arc::new(AtomicBool::new(false));
    let reloader = {
        let (current, quit, notes, root) = (current.clone(), quit.clone(), notes.clone(), root.clone());
        let db_path = db_path.clone();
        // Loading a playbook runs its modules: this thread gets the stack rules need (a simulate's
        // replays run on threads of their own).
        crate::rules::stack::spawn("reload", move || {
            reload_loop(&root, &db_path, fence, &current, &reload_rx, &quit, &*notes, rejected_at_start)
        })
        .map_err(|e| Error::Usage(format!("cannot start the thread that reloads the rules: {e}")))?
    };

    // Notifications out: a thread of its own with its own connection; it stops with this run.
    let notifier = crate::notify::spawn_notifier(db_path.clone(), current.clone(), quit.clone(), Default::default())
        .map_err(|e| Error::Usage(format!("cannot start the thread that sends notifications: {e}")))?;

    let mut next_tick = tick_every.map(|d| Instant::now() + d);
    let mut next_scan = Instant::now();
    // Webhook deliveries any `serve` stored: looked for often (a cheap query when there are none).
    let mut next_webhooks = Instant::now();
    // With `[store] keep_days`, a prune at the start and once a day after.
    let mut next_prune = Instant::now();
    // Versions are recorded by this thread, the one that writes: a reload
    // lands in the store as soon as it is idle, or with the first event it decides.
    let mut recorded = current.load().version().to_string();
    let result = loop {
        if stop.load(Ordering::SeqCst) {
            break Ok(());
        }
        // The renewals found the lease taken (or could not reach the server for a whole lease).
        if let Some(l) = held
            && l.is_lost()
        {
            break Err(l.lost_error());
        }
        // A file moved over the database, or cut off, stops this process now, not at its next write.
        if let Err(e) = store.check_file() {
            break Err(e);
        }
        let in_force = current.load();
        if in_force.version() != recorded {
            match patience.outcome(in_force.record(&store)) {
                Ok(Some(())) => {
                    recorded = in_force.version().to_string();
                    if let Some(l) = held {
                        l.set_rules_version(&recorded);
                    }
                    // The team may have changed: what may move moves now, not at the next file or tick.
                    match patience.outcome(rebalance(&store, &current)) {
                        Ok(Some(0) | None) => {}
                        Ok(Some(moved)) => notes(Note::Rebalanced { version: recorded.clone(), moved }),
                        Err(e) => break Err(e),
                    }
                }
                Ok(None) => {}
                Err(e) => break Err(e),
            }
        }
        if Instant::now() >= next_scan {
            next_scan = Instant::now() + options.rescan;
            match patience.outcome(drain_inbox(&mut inbox, &store, &current, options, stop, &*notes)) {
                Ok(Some(_)) => {}
                Ok(None) => next_scan = Instant::now() + BUSY_RETRY,
                Err(e) => break Err(e),
            }
        }
        // While the database is being waited for, the inbox's retries find out when it is back.
        if !patience.waiting && Instant::now() >= next_webhooks {
            next_webhooks = Instant::now() + WEBHOOK_POLL;
            match patience.outcome(crate::webhooks::drain_webhooks(&store, &current, &*notes)) {
                Ok(Some(_)) => {}
                Ok(None) => next_webhooks = Instant::now() + BUSY_RETRY,
                Err(e) => break Err(e),
            }
        }
        if let Some(t) = next_tick
            && Instant::now() >= t
        {
            next_tick = current.load().config.clock.tick_interval().map(|d| Instant::now() + d);
            match patience.outcome(tick(&store, &current, &*notes)) {
                Ok(Some(_)) => {}
                Ok(None) => next_tick = Some(Instant::now() + BUSY_RETRY),
                Err(e) => break Err(e),
            }
        }
        if let Some(days) = current.load().config.store.keep_days
            && Instant::now() >= next_prune
        {
            next_prune = Instant::now() + PRUNE_EVERY;
            let before = crate::time::stamp(chrono::Utc::now() - chrono::Duration::days(days.into()));
            match patience.outcome(store.prune(&before, false)) {
                Ok(Some(p)) => notes(Note::Pruned { summary: prune_summary(&p, &before) }),
                Ok(None) => next_prune = Instant::now() + BUSY_RETRY,
                Err(e) => break Err(e),
            }
        }
        let wait = [Some(next_scan), next_tick, Some(next_webhooks)].into_iter().flatten().min().unwrap_or(next_scan);
        let wait = wait.saturating_duration_since(Instant::now()).min(Duration::from_millis(200));
        match embedding.wake.recv_timeout(wait) {
            // While the database is locked, the retry keeps its pace.
            Ok(Wake::Inbox) if !patience.waiting => next_scan = Instant::now(),
            Ok(Wake::Inbox) => {}
            // A job may have stored work for the loop (a webhook delivery): look at once.
            Ok(Wake::Job(job)) => {
                job(&store, &current);
                next_webhooks = Instant::now();
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break Ok(()),
        }
    };
    quit.store(true, Ordering::SeqCst);
    drop(debouncer);
    let _ = reloader.join();
    // A notification being sent finishes (its timeout bounds it) unless the stop is in a hurry:
    // one sent and not marked is sent again later, with the same idempotency key.
    let waited = Instant::now();
    while !notifier.is_finished() && waited.elapsed() < NOTIFIER_GRACE {
        std::thread::sleep(Duration::from_millis(20));
    }
    // An error of a process whose lease was taken (its connections ended, say) is that.
    let result = match (result, held) {
        (Err(e), Some(l)) if !matches!(e, Error::LeaseLost { .. }) && !l.still_held() => Err(l.lost_error()),
        (result, _) => result,
    };
    if !matches!(result, Err(Error::LeaseLost { .. })) || stop.load(Ordering::SeqCst) {
        notes(Note::Stopping);
    }
    // The lease is released as `taken` drops, after the reloader ended: a standby takes over at once.
    result
}

/// Whether a file event can mean new content. Opening or reading a file is
/// not a change: without this filter, loading the rules (which reads them)
/// would itself ask for the next reload, over and over.
fn changes_files(kind: &notify_debouncer_full::notify::EventKind) -> bool {
    use notify_debouncer_full::notify::EventKind;
    use notify_debouncer_full::notify::event::{AccessKind, AccessMode};
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// How often the rules are hashed in case a file event was missed.
const RULES_RESCAN: Duration = Duration::from_secs(3);

/// The rules version of the files on disk (hashed, not compiled), as a load would name it.
fn version_on_disk(root: &Path, rules_dir: &Path) -> Option<String> {
    let config = std::fs::read_to_string(root.join(crate::config::CONFIG_FILE)).ok()?;
    let mut files = vec![(crate::config::CONFIG_FILE.to_string(), config)];
    files.extend(crate::rules::read_rule_files(rules_dir).ok()?);
    Some(crate::rules::version_of(&files))
}

#[allow(clippy::too_many_arguments)]
fn reload_loop(
    root: &Path,
    db_path: &Location,
    fence: Option<(i64, Duration)>,
    current: &Current,
    rx: &mpsc::Receiver<()>,
    stop: &AtomicBool,
    notes: &(dyn Fn(Note) + Send + Sync),
    rejected_at_start: Option<Vec<String>>,
) {
    // Records a new version at once when the store is idle; while an ingest
    // holds it, gives up quickly: the ingest records it with its next event.
    let store = db_path.open(Duration::from_millis(100)).ok();
    // Its writes (the version put in force) are the engine's: fenced with its lease.
    if let (Some(s), Some((epoch, length))) = (&store, fence)
        && let Err(e) = s.set_fence(Some(epoch), length)
    {
        tracing::debug!("the reloader's connection is not fenced: {e}");
    }
    // One save can arrive as several file events: say each distinct failure
    // once (those of the files watch started without were said already).
    let mut last_rejected: Option<Vec<String>> = rejected_at_start;
    // Changes arrived while the last load failed: load again without waiting.
    let mut again = false;
    // A safety net for file events that never come (a busy machine, a network
    // folder): every few seconds the files are hashed, and a version not
    // seen yet is loaded as if an event had said so.
    let mut next_look = Instant::now() + RULES_RESCAN;
    let mut seen = current.load().version().to_string();
    // The last candidate's replay: the next simulate replays only the new candidate.
    let mut replays = crate::simulate::ReplayCache::for_reloads();
    while !stop.load(Ordering::SeqCst) {
        if !std::mem::take(&mut again) {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(()) => {}
                Err(RecvTimeoutError::Timeout) => {
                    if Instant::now() < next_look {
                        continue;
                    }
                    next_look = Instant::now() + RULES_RESCAN;
                    match version_on_disk(root, &current.load().config.rules_dir()) {
                        Some(v) if v != seen => tracing::debug!("rules {v} found on disk without a file event"),
                        _ => continue,
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        while rx.try_recv().is_ok() {}
        if let Some(v) = version_on_disk(root, &current.load().config.rules_dir()) {
            seen = v;
        }
        match Playbook::load(root) {
            Ok(p) if p.version() == current.load().version() => {
                // Back to the version in force after a rejection: say that all is well again.
                if last_rejected.take().is_some() {
                    notes(Note::Reloaded { version: p.version().to_string(), files: p.rule_files(), ms: p.load_ms });
                } else {
                    tracing::debug!("files changed but the playbook did not ({})", p.version());
                }
            }
            Ok(p) => {
                last_rejected = None;
                let note = Note::Reloaded { version: p.version().to_string(), files: p.rule_files(), ms: p.load_ms };
                let p = Arc::new(p);
                let simulated = (p.config.watch.reload == crate::config::ReloadMode::SimulateFirst).then(|| {
                    match crate::simulate::compare(db_path, current.load_full(), p.clone(), None, &mut replays) {
                        Ok(r) => crate::simulate::summary(&r),
                        Err(e) => format!("could not simulate: {e}"),
                    }
                });
                current.store(p.clone());
                if let Some(s) = &store
                    && let Err(e) = p.record(s)
                {
                    tracing::debug!("version {} will be recorded with the next event: {e}", p.version());
                }
                notes(note);
                if let Some(summary) = simulated {
                    notes(Note::Simulated { version: p.version().to_string(), summary });
                }
            }
            Err(_) if rx.recv_timeout(Duration::from_millis(250)).is_ok() => {
                // More changes came: the files were caught mid-save. Load them again before saying anything.
                again = true;
            }
            Err(e) => {
                let (problems, snippets) = problems(&e, root);
                if last_rejected.as_ref() != Some(&problems) {
                    last_rejected = Some(problems.clone());
                    notes(Note::Rejected { problems, snippets });
                }
            }
        }
    }
}

/// Read every inbox file, in name order, and move the finished ones out:
/// how many files had new lines or were moved.
pub fn drain_inbox(
    inbox: &mut Inbox,
    store: &Store,
    current: &Current,
    options: &Options,
    stop: &AtomicBool,
    notes: &(dyn Fn(Note) + Send + Sync),
) -> Result<usize> {
    let mut worked = 0;
    let pending = inbox.pending()?;
    inbox.forget_all_but(&pending);
    for path in pending {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        match inbox.process(&path, store, current, stop, options.settle) {
            // A file still written that did not grow since the last pass: nothing to say.
            Ok(p) if p.still_written && p.lines_read == 0 => {}
            Ok(p) => {
                worked += 1;
                notes(Note::Processed(p));
            }
            Err(e @ (Error::Store { .. } | Error::Busy { .. } | Error::LeaseLost { .. })) => return Err(e),
            Err(e) => notes(Note::InboxError { file: display(&path), error: e.to_string() }),
        }
    }
    Ok(worked)
}

/// How often `watch` looks for webhook deliveries to apply.
const WEBHOOK_POLL: Duration = Duration::from_millis(500);
/// How long a stopping watch waits for a notification being sent.
const NOTIFIER_GRACE: Duration = Duration::from_secs(2);

/// How often `watch` prunes, with `[store] keep_days`.
const PRUNE_EVERY: Duration = Duration::from_secs(24 * 60 * 60);

/// What a prune removed, in words.
fn prune_summary(p: &crate::store::Pruned, before: &str) -> String {
    format!(
        "before {before}: {} decisions, {} stage changes, {} rejected lines, {} finished tasks",
        p.decisions, p.stage_changes, p.rejected_lines, p.tasks
    )
}

/// Re-balance the open tasks for the playbook in force (one unit): how many moved.
pub fn rebalance(store: &Store, current: &Current) -> Result<u64> {
    let summary = crate::ingest::Ingest::start(store, current)?.finish()?;
    Ok(summary.counts.tasks_moved)
}

/// One `clock.tick` event at the wall-clock time.
pub fn tick(store: &Store, current: &Current, notes: &(dyn Fn(Note) + Send + Sync)) -> Result<Tick> {
    let at = crate::time::now_stamp();
    let line = format!(r#"{{"id": "tick-{at}", "type": "clock.tick", "at": "{at}"}}"#);
    let mut ingest = crate::ingest::Ingest::start(store, current)?;
    ingest.input("clock", line.as_bytes())?;
    let summary = ingest.finish()?;
    notes(Note::Ticked { at: at.clone() });
    Ok(Tick { at, summary })
}

/// What one tick did: its business time, and what the time rules made of it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Tick {
    pub at: String,
    #[serde(flatten)]
    pub summary: crate::ingest::Summary,
}

fn display(p: &Path) -> String {
    p.file_name()
        .map(|n| format!("{INBOX}/{}", n.to_string_lossy()))
        .unwrap_or_else(|| PathBuf::from(p).display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_on_disk_is_the_version_a_load_gives() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let p = Playbook::load(root).unwrap();
        assert_eq!(version_on_disk(root, &p.config.rules_dir()).as_deref(), Some(p.version()));
    }

    #[test]
    fn reading_a_file_is_not_a_change() {
        use notify_debouncer_full::notify::EventKind;
        use notify_debouncer_full::notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RemoveKind};
        assert!(!changes_files(&EventKind::Access(AccessKind::Open(AccessMode::Any))));
        assert!(!changes_files(&EventKind::Access(AccessKind::Close(AccessMode::Read))));
        assert!(!changes_files(&EventKind::Access(AccessKind::Read)));
        assert!(changes_files(&EventKind::Access(AccessKind::Close(AccessMode::Write))));
        assert!(changes_files(&EventKind::Modify(ModifyKind::Any)));
        assert!(changes_files(&EventKind::Create(CreateKind::File)));
        assert!(changes_files(&EventKind::Remove(RemoveKind::File)));
    }

    #[test]
    fn paths_are_sorted_into_playbook_inbox_and_noise() {
        let root = Path::new("/cfg");
        let c = |p: &str| classify(root, &root.join(p));
        assert_eq!(c("config.toml"), Change::Playbook);
        assert_eq!(c("rules/tasks.rhai"), Change::Playbook);
        assert_eq!(c("rules"), Change::Playbook);
        assert_eq!(c("inbox/2026-11-02.jsonl"), Change::Inbox);
        for noise in [
            "rules/.tasks.rhai.swp",
            "rules/tasks.rhai~",
            "rules/4913",
            "dealflow.db-wal",
            "inbox/done/a.jsonl",
            "inbox/.a.jsonl",
            "notes.txt",
        ] {
            assert_eq!(c(noise), Change::Other, "{noise}");
        }
        assert_eq!(classify(root, Path::new("/elsewhere/config.toml")), Change::Other);
    }
}
