//! Notifications out: a message to Slack or to any address taking JSON for
//! what a person must not miss: a high-priority task assigned to them, an
//! escalation (a task for the sales managers), a rule quarantined, an inbox
//! file with rejected lines. Targets are `[notify.NAME]` tables in
//! `config.toml` ([`config`]).
//!
//! # How it works, and why so
//!
//! The engine's hot path knows nothing of this. A notifier thread
//! ([`spawn_notifier`], started by `watch` once it is the engine in force)
//! has a connection of its own and does two things each round:
//!
//! 1. **Finds** what is new in what is already stored, by a cursor (the
//!    `meta` key [`CURSOR`]: the highest task id, quarantine decision and
//!    rejected line it has seen), and enqueues one row per message and
//!    target in the `notifications` table. The new rows and the moved
//!    cursor are one unit of work: a crash loses nothing and doubles
//!    nothing, and `(target, key)` is unique besides. The first start on a
//!    database (or the first with a target after none) puts the cursor at
//!    what is stored now: history is not announced.
//! 2. **Sends** the rows that are due, a few at a time. A claim moves a
//!    row's `next_attempt_at` past the time a send can take (on PostgreSQL
//!    with `FOR UPDATE SKIP LOCKED`), so another sender (a process taking
//!    the engine over) passes it by; the POST has a timeout; a 2xx marks it
//!    sent at once; anything else counts an attempt and sets the next one
//!    after a back-off ([`Backoff`]: 10 s doubling up to an hour, with
//!    jitter), until it gives up (20 attempts or a day) and the row stays,
//!    failed, with its last error, for the page and `status`. After one
//!    failure the target's other messages wait for its next attempt.
//!
//! Each message is sent once, but for one window: a crash after the
//! receiver answered and before the row is marked sent (milliseconds) sends
//! it again once its claim runs out. JSON targets get `Idempotency-Key:
//! dealflow-ID` (the same for every attempt) to drop such a second copy;
//! Slack's incoming webhooks take no such key.
//!
//! The engine does not wait for any of this: the notifier's units of work
//! are a few rows, and no HTTP call is made inside one.

pub mod config;
pub mod message;
pub mod send;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};
use crate::playbook::Current;
use crate::store::outbox::{Attempt, Marks, NewNotification, RejectedSince};
use crate::store::{Location, Store};
pub use config::{Target, TargetKind, Targets, What};
pub use send::Backoff;

/// The `meta` key of the notifier's cursor (JSON of [`Marks`]; `""`: none).
pub const CURSOR: &str = "notify_cursor";

/// How many tasks, decisions and rejected lines one round looks at.
const FIND_BATCH: usize = 500;

/// A wall-clock time as the queue keeps it: UTC with milliseconds, fixed
/// width, so times compare as text.
pub fn clock_stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// How the notifier paces itself.
#[derive(Debug, Clone)]
pub struct Options {
    /// The wait between rounds.
    pub poll: Duration,
    /// The longest one POST may take, all in.
    pub timeout: Duration,
    pub backoff: Backoff,
    /// Notifications claimed per round.
    pub batch: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            poll: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
            backoff: Backoff::default(),
            batch: 20,
        }
    }
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    /// Notifications enqueued.
    pub enqueued: usize,
    pub sent: usize,
    /// Attempts that failed (to be tried again, or given up).
    pub failed: usize,
}

/// Start the notifier thread: it opens its own connection to `location`
/// and, until `stop` is set, finds and sends notifications for the targets
/// of the playbook in force (`current`: a reload changes them). Errors are
/// logged and the next round tries again; it never stops the engine.
pub fn spawn_notifier(
    location: Location,
    current: Arc<Current>,
    stop: Arc<AtomicBool>,
    options: Options,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name("notify".into()).spawn(move || run(&location, &current, &stop, &options))
}

fn run(location: &Location, current: &Current, stop: &AtomicBool, options: &Options) {
    let agent = send::agent(options.timeout);
    let mut store: Option<Store> = None;
    while !stop.load(Ordering::SeqCst) {
        let playbook = current.load_full();
        if store.is_none() {
            let busy = Duration::from_millis(playbook.config.store.busy_timeout_ms);
            match location.open(busy) {
                Ok(s) => store = Some(s),
                Err(e) => tracing::warn!("notifications: cannot open the store: {e}"),
            }
        }
        let mut again = false;
        if let Some(s) = &store {
            match round(s, &playbook.config, &agent, options, stop) {
                // Work done: more may be waiting.
                Ok(r) => again = r.enqueued > 0 || r.sent > 0,
                Err(e @ Error::Busy { .. }) => tracing::debug!("notifications: {e}"),
                Err(e) => {
                    tracing::warn!("notifications: {e}");
                    // Connect again next round (a lost server, a file moved).
                    store = None;
                }
            }
        }
        if !again {
            nap(options.poll, stop);
        }
    }
}

/// Sleep up to `d`, waking early when `stop` is set.
fn nap(d: Duration, stop: &AtomicBool) {
    let end = Instant::now() + d;
    while !stop.load(Ordering::SeqCst) {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

/// One round: find what is new, then send what is due.
pub fn round(
    store: &Store,
    config: &crate::config::Config,
    agent: &ureq::Agent,
    options: &Options,
    stop: &AtomicBool,
) -> Result<Round> {
    let enqueued = find(store, config, Utc::now())?;
    let mut r =
        if config.notify.is_empty() { Round::default() } else { send_due(store, config, agent, options, stop)? };
    r.enqueued = enqueued;
    Ok(r)
}

fn read_cursor(store: &Store) -> Result<Option<Marks>> {
    Ok(store.meta(CURSOR)?.filter(|s| !s.is_empty()).and_then(|s| serde_json::from_str(&s).ok()))
}

fn write_cursor(store: &Store, marks: &Marks) -> Result<()> {
    store.set_meta(CURSOR, &serde_json::to_string(marks).unwrap_or_default())
}

/// Set the cursor at what is stored now, unless it is set (or there are no
/// targets): `watch` calls it before it applies anything, so what it applies
/// is announced and what was there before is not.
pub fn start_cursor(store: &Store, config: &crate::config::Config) -> Result<()> {
    if config.notify.is_empty() || read_cursor(store)?.is_some() {
        return Ok(());
    }
    find(store, config, Utc::now()).map(|_| ())
}

/// Enqueue what was stored since the cursor for every target that wants it,
/// and move the cursor, in one unit of work: how many notifications are new.
pub fn find(store: &Store, config: &crate::config::Config, now: DateTime<Utc>) -> Result<usize> {
    let cursor = read_cursor(store)?;
    if config.notify.is_empty() {
        // No targets: forget the cursor, so targets added later start from then, not from here.
        if cursor.is_some() {
            let unit = store.begin()?;
            store.set_meta(CURSOR, "")?;
            unit.commit()?;
        }
        return Ok(0);
    }
    let Some(cursor) = cursor else {
        let unit = store.begin()?;
        if read_cursor(store)?.is_none() {
            write_cursor(store, &store.notify_marks()?)?;
            unit.commit()?;
        }
        return Ok(0);
    };
    // What is stored now, first: nothing past the cursor, nothing to look for (most rounds).
    let stored = store.notify_marks()?;
    if stored.task <= cursor.task && stored.decision <= cursor.decision && stored.rejected <= cursor.rejected {
        return Ok(0);
    }
    let tasks = if stored.task > cursor.task { store.tasks_after(cursor.task, FIND_BATCH)? } else { Vec::new() };
    let quarantines = if stored.decision > cursor.decision {
        store.decisions_after(cursor.decision, "rule_quarantined", FIND_BATCH)?
    } else {
        Vec::new()
    };
    let rejected =
        if stored.rejected > cursor.rejected { store.rejected_after(cursor.rejected, FIND_BATCH)? } else { Vec::new() };
    let next = Marks {
        task: tasks.last().map_or(cursor.task, |t| t.id),
        // Quarantines are rare among the decisions: with all of them found up to the
        // decisions stored before they were looked for, the cursor passes the others too
        // (units commit in the order of their rows' positions: one engine, one unit at a time).
        decision: match quarantines.last() {
            Some(last) if quarantines.len() == FIND_BATCH => last.seq,
            last => stored.decision.max(last.map_or(0, |d| d.seq)),
        },
        rejected: rejected.last().map_or(cursor.rejected, |r| r.seq),
    };
    let mut messages = Vec::new();
    for target in config.notify.values() {
        for t in &tasks {
            messages.extend(message::task_message(t, target).map(|m| (target, m)));
        }
        messages.extend(quarantines.iter().map(|d| (target, message::quarantine_message(d))));
        messages.extend(
            by_source(&rejected).iter().filter_map(|lines| message::rejected_message(lines)).map(|m| (target, m)),
        );
    }
    let created_at = clock_stamp(now);
    let new: Vec<NewNotification> = messages
        .into_iter()
        .filter(|(target, m)| m.goes_to(target))
        .map(|(target, m)| NewNotification {
            target: target.name.clone(),
            kind: m.what.name().to_string(),
            key: m.key.clone(),
            subject: m.subject.clone(),
            person: m.person.clone(),
            payload: message::body(&m, target, config),
            created_at: created_at.clone(),
        })
        .collect();
    let unit = store.begin()?;
    // Another notifier moved it meanwhile (a process taking over): its round counts, not this one.
    if read_cursor(store)? != Some(cursor) {
        return Ok(0);
    }
    let mut added = 0;
    for n in &new {
        added += usize::from(store.enqueue_notification(n)?);
    }
    write_cursor(store, &next)?;
    unit.commit()?;
    Ok(added)
}

/// Rejected lines by input, in the order each input first appears.
fn by_source(rows: &[RejectedSince]) -> Vec<Vec<&RejectedSince>> {
    let mut groups: Vec<Vec<&RejectedSince>> = Vec::new();
    for r in rows {
        match groups.iter_mut().find(|g| g[0].source == r.source) {
            Some(g) => g.push(r),
            None => groups.push(vec![r]),
        }
    }
    groups
}

/// Send the notifications that are due: each marked sent on a 2xx, else
/// tried again after a back-off or given up.
pub fn send_due(
    store: &Store,
    config: &crate::config::Config,
    agent: &ureq::Agent,
    options: &Options,
    stop: &AtomicBool,
) -> Result<Round> {
    let now = Utc::now();
    let hold = options.timeout * 2 + Duration::from_secs(30);
    let until = clock_stamp(now + chrono::Duration::from_std(hold).unwrap_or_default());
    let claimed = store.claim_notifications(&clock_stamp(now), &until, options.batch)?;
    let mut round = Round::default();
    // A target that failed this round: its other messages wait for its next attempt.
    let mut failed: HashMap<String, String> = HashMap::new();
    for n in claimed {
        if stop.load(Ordering::SeqCst) {
            store.finish_notification(n.id, &Attempt::Postponed { next: clock_stamp(now) })?;
            continue;
        }
        let Some(target) = config.notify.get(&n.target) else {
            let error = format!("notify.{} is no longer in config.toml", n.target);
            store.finish_notification(n.id, &Attempt::GiveUp { error, at: clock_stamp(Utc::now()) })?;
            continue;
        };
        if let Some(next) = failed.get(&n.target) {
            store.finish_notification(n.id, &Attempt::Postponed { next: next.clone() })?;
            continue;
        }
        match send::send(agent, target, &n) {
            Ok(()) => {
                store.finish_notification(n.id, &Attempt::Sent { at: clock_stamp(Utc::now()) })?;
                round.sent += 1;
            }
            Err(error) => {
                round.failed += 1;
                let failures = n.attempts + 1;
                let age = DateTime::parse_from_rfc3339(&n.created_at)
                    .map(|c| Utc::now().signed_duration_since(c))
                    .ok()
                    .and_then(|d| d.to_std().ok())
                    .unwrap_or_default();
                let b = &options.backoff;
                let attempt = if failures >= b.attempts || age >= b.give_up_after {
                    tracing::warn!(
                        "notification {} to notify.{} given up after {failures} attempts: {error}",
                        n.id,
                        n.target
                    );
                    Attempt::GiveUp { error, at: clock_stamp(Utc::now()) }
                } else {
                    let wait = b.delay(failures, send::jitter(n.id));
                    let next = clock_stamp(Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default());
                    tracing::info!(
                        "notification {} to notify.{} failed (attempt {failures}), again at {next}: {error}",
                        n.id,
                        n.target
                    );
                    failed.insert(n.target.clone(), next.clone());
                    Attempt::Failed { error, next }
                };
                store.finish_notification(n.id, &attempt)?;
            }
        }
    }
    Ok(round)
}
