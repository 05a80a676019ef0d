//! The in-memory backend: every table of the SQLite store as maps, with the
//! indexes the engine's questions need, for stores that live as long as one
//! process (`simulate`, `dealflow test`, the bench's replay, tests).
//!
//! It answers exactly as the SQLite backend does: the same rows, in the same
//! order (where SQLite gives no `ORDER BY`, the order its query plan reads
//! rows in, said at each method), the same sweep generations (`epoch`
//! columns take `meta.sweep_epoch` when a row is set or its timed fields
//! change), the same `task_load` counts its triggers keep (rows that fall to
//! zero stay), task ids as SQLite's rowids give them (the highest plus one, so
//! the id of a task rolled back is given again), and sums added in index
//! order with SQLite's own summation.
//!
//! A unit of work is an undo log: each write while a unit is open pushes
//! the change that reverses it (the row it replaced, moved, not copied), and
//! a nested unit is a mark in that log. Rolling back pops and applies the
//! changes down to the mark; committing forgets them. A replay of a million
//! events in units of a few hundred keeps only the current unit's changes,
//! never a copy of the state.
//!
//! What no question of the trait reads back is not kept: the `updated_at`
//! and `applied_at` stamps, the time a target was set or a contract recorded,
//! the JSON of activities, orders and contracts, a lead's account column, and
//! the deals' stage history (only counted as written). A method that reads
//! one of them would add it here.
//!
//! A replay may hand what it does not keep to a [`Recorder`] (simulate notes
//! each deal's stages, the refused moves and the key changes, compactly): a
//! note is undone with the unit of work that made it.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::Hash;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

use super::backend::*;
use super::ledger::Sum;
use super::outbox::{
    Attempt, Marks, NewNotification, Notification, NotificationCounts, NotificationFilter, NotificationState,
    RejectedSince,
};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::model::{Account, Contract, Deal, Decision, Lead, NewTask, Priority, RuleRef, StageChange, Subject, Task};

/// What a replay hands over of what its store does not keep (see
/// [`Memory::for_replay_noted_by`]). Each note returns a token that
/// [`Recorder::undo`] takes back when the unit of work that made it is
/// rolled back (newest first), or `None` when it noted nothing.
pub trait Recorder: Send {
    fn decision(&mut self, d: &Decision) -> Option<u64>;
    fn stage_change(&mut self, c: &StageChange) -> Option<u64>;
    fn undo(&mut self, token: u64);
}

/// What [`Backend::location`] says for a store that has no file.
const LOCATION: &str = ":memory:";

/// A store held in this process's memory. See the module documentation.
pub struct Memory {
    state: RefCell<State>,
    /// Keep the events' text and the decisions (see [`Memory::for_replay`]).
    keeps_history: bool,
}

impl Default for Memory {
    fn default() -> Memory {
        Memory { state: Default::default(), keeps_history: true }
    }
}

impl Memory {
    pub fn new() -> Memory {
        Memory::default()
    }

    /// A store for replaying history (`simulate`): of each event it keeps
    /// only what tells a duplicate (its id, content hash, file and line), and
    /// it keeps no decisions, as nothing the engine decides reads them back.
    /// It answers the history, `events_about` and `decisions` with nothing.
    /// On a million events that is most of a replay's memory.
    pub fn for_replay() -> Memory {
        Memory { keeps_history: false, ..Memory::default() }
    }

    /// [`Memory::for_replay`], handing each decision and stage change to `recorder`.
    pub fn for_replay_noted_by(recorder: Arc<Mutex<dyn Recorder>>) -> Memory {
        let memory = Memory::for_replay();
        memory.with(|s| s.t.recorder = Some(recorder));
        memory
    }

    /// Hand a decision or a stage change to the recorder, if any; its note is
    /// undone with the unit that made it. Not a row: `total_changes` does not count it.
    fn note(&self, f: impl FnOnce(&mut dyn Recorder) -> Option<u64>) {
        self.with(|s| {
            let Some(recorder) = &s.t.recorder else { return };
            let token = f(&mut *recorder.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
            if let (Some(token), Some(_)) = (token, s.unit) {
                s.undo.push(Change::Noted(token));
            }
        });
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.borrow_mut())
    }
}

#[derive(Default)]
struct State {
    t: Tables,
    /// The open unit of work, if any.
    unit: Option<UnitKind>,
    /// What reverses each write of the open unit, oldest first.
    undo: Vec<Change>,
    /// Where each open nested unit began in `undo`, innermost last.
    nested: Vec<usize>,
    /// Rows written, updated or deleted (`total_changes`).
    changes: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum UnitKind {
    /// Begun by `begin`: ends at `commit` or `rollback`.
    Explicit,
    /// Begun by a nested unit outside any unit (as an SQLite savepoint
    /// outside a transaction begins one): ends with that nested unit.
    Implicit,
}

impl State {
    /// Note a write, and how to reverse it while a unit is open.
    fn log(&mut self, change: Change) {
        self.changes += 1;
        if self.unit.is_some() {
            self.undo.push(change);
        }
    }

    /// Reverse the writes logged after `mark`, newest first.
    fn undo_to(&mut self, mark: usize) {
        let undone = self.undo.split_off(mark.min(self.undo.len()));
        for change in undone.into_iter().rev() {
            self.t.revert(change);
        }
    }

    fn end_unit(&mut self) {
        self.unit = None;
        self.undo.clear();
        self.nested.clear();
    }

    /// The sweep generation a row set now is in (the SQLite store's `epoch!()`).
    fn epoch(&self) -> i64 {
        self.t.meta.get("sweep_epoch").map_or(0, |v| cast_integer(v))
    }

    // ---- writes: each puts the new row and logs the old one ----

    fn set_account(&mut self, id: &str, row: AccountRow) {
        let old = self.t.put_account(id, Some(row));
        self.log(Change::Account(id.to_string(), old));
    }

    fn set_deal(&mut self, id: &str, row: DealRow) {
        let old = self.t.put_deal(id, Some(row));
        self.log(Change::Deal(id.to_string(), old));
    }

    fn set_meta(&mut self, key: &str, value: &str) {
        let old = self.t.meta.insert(key.to_string(), value.to_string());
        self.log(Change::Meta(key.to_string(), old));
    }

    /// Change a task as an `UPDATE` of it would, with `task_load` following
    /// as its triggers do. Whether the task exists.
    fn change_task(&mut self, id: i64, f: impl FnOnce(&mut TaskRow)) -> bool {
        let Some(mut row) = self.t.tasks.get(&id).cloned() else { return false };
        f(&mut row);
        let (load_before, load_after) = (self.t.tasks.get(&id).and_then(TaskRow::load_key), row.load_key());
        let old = self.t.put_task(id, Some(row));
        self.log(Change::Task(id, old));
        if let Some((key, &n)) = load_before.as_ref().and_then(|k| Some((k, self.t.load.get(k)?))) {
            self.set_load(key.clone(), n - 1);
        }
        if let Some(key) = load_after {
            self.add_load(key);
        }
        true
    }

    fn set_load(&mut self, key: (String, String), n: i64) {
        let old = self.t.load.insert(key.clone(), n);
        self.log(Change::Load(key, old));
    }

    /// One more open task held (the row is made when missing).
    fn add_load(&mut self, key: (String, String)) {
        let n = self.t.load.get(&key).copied().unwrap_or(0);
        self.set_load(key, n + 1);
    }

    fn release_lapsed(&mut self, lapsed_before: &str, now: &str) -> usize {
        let lapsed: Vec<i64> =
            self.t.claims.range(..(lapsed_before.to_string(), i64::MIN)).map(|(_, id)| *id).collect();
        for &id in &lapsed {
            self.change_task(id, |r| {
                r.task.status = TaskStatus::Open;
                r.task.assignee = r.before_claim.take();
                r.task.released_from = r.task.claimed_by.take();
                r.task.released_at = Some(now.to_string());
                r.task.claimed_at = None;
            });
        }
        lapsed.len()
    }
}

/// SQLite's `CAST(text AS INTEGER)`: the leading integer, else 0.
fn cast_integer(text: &str) -> i64 {
    let t = text.trim_start();
    let (negative, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let mut n: i64 = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        let d = i64::from(b - b'0');
        n = n.saturating_mul(10).saturating_add(if negative { -d } else { d });
    }
    n
}

/// SQLite's `length()` of text: characters, not bytes.
fn by_length_then_id(a: &str, b: &str) -> std::cmp::Ordering {
    (a.chars().count(), a).cmp(&(b.chars().count(), b))
}

// ---- rows, as the SQLite tables hold them ----

#[derive(Clone)]
struct AccountRow {
    account: Account,
    quiet_epoch: i64,
    /// SQLite's rowid: the order accounts were first written in.
    rowid: i64,
}

#[derive(Clone)]
struct ContactRow {
    account_id: String,
    role: String,
    data: Map<String, Value>,
}

#[derive(Clone)]
struct LeadRow {
    data: Map<String, Value>,
    created_at: String,
}

#[derive(Clone)]
struct DealRow {
    deal: Deal,
    is_open: bool,
    is_won: bool,
    stage_epoch: i64,
}

#[derive(Clone)]
struct ActivityRec {
    deal_id: Option<String>,
    contact_id: Option<String>,
    kind: String,
    at: String,
}

#[derive(Clone)]
struct OrderRec {
    account_id: String,
    amount: f64,
    product: Option<String>,
    at: String,
    epoch: i64,
}

#[derive(Clone)]
struct ContractRow {
    account_id: String,
    contract: Contract,
    epoch: i64,
}

#[derive(Clone)]
struct TargetRec {
    amount: f64,
    epoch: i64,
}

/// The file and the rules version are shared with the event before when
/// the same (they nearly always are): a replay stores a million events.
struct EventRec {
    id: Arc<str>,
    kind: &'static str,
    at: String,
    body: String,
    source: Arc<str>,
    line: i64,
    rules_version: Arc<str>,
    content_hash: [u8; crate::event_content::HASH_BYTES],
}

/// A kept decision as the trait gives it: its position is its index plus one.
fn decision_row(i: usize, d: &DecisionRec) -> DecisionRow {
    DecisionRow {
        seq: i as i64 + 1,
        kind: d.kind.to_string(),
        subject_kind: d.subject.kind.clone(),
        subject_id: d.subject.id.clone(),
        rule: d.rule.as_ref().map(|r| format!("{}::{}", r.file, r.function)),
        reason: d.reason.clone(),
        detail: serde_json::from_str(&d.detail).unwrap_or_default(),
        rules_version: d.rules_version.to_string(),
        event_id: d.event_id.clone(),
        at: d.at.clone(),
    }
}

/// The detail is kept as JSON text, as SQLite keeps it: a map per decision
/// would be several times the size, and the log is read only by people.
struct DecisionRec {
    kind: &'static str,
    subject: Subject,
    rule: Option<RuleRef>,
    reason: String,
    detail: String,
    rules_version: Arc<str>,
    event_id: String,
    at: String,
}

#[derive(Clone)]
struct TaskRow {
    /// `priority` is that of `rank`.
    task: Task,
    rank: i64,
    /// Whom it was assigned to before its claim (`assignee_before_claim`).
    before_claim: Option<String>,
}

impl TaskRow {
    fn status(&self) -> TaskStatus {
        self.task.status
    }

    /// Its `task_load` row, when it counts there (assigned, open or claimed).
    fn load_key(&self) -> Option<(String, String)> {
        let counts = matches!(self.status(), TaskStatus::Open | TaskStatus::Claimed);
        self.task.assignee.as_ref().filter(|_| counts).map(|a| (self.task.role.clone(), a.clone()))
    }

    /// Its entry in the queue of open tasks: by role, then most urgent first.
    fn queue_key(&self) -> QueueKey {
        (self.task.role.clone(), Reverse(self.rank), self.task.due_at.clone(), self.task.id)
    }
}

/// `(role, priority, due_at, id)`: the order of SQLite's `tasks_queue` index.
type QueueKey = (String, Reverse<i64>, String, i64);

/// The change that reverses one write. Rows are held as they were, not
/// boxed: the log lasts one unit of work, and a box would cost an allocation
/// per write.
#[allow(clippy::large_enum_variant)]
enum Change {
    Account(String, Option<AccountRow>),
    Contact(String, Option<ContactRow>),
    Lead(String, Option<LeadRow>),
    Deal(String, Option<DealRow>),
    Activity(String, Option<ActivityRec>),
    Order(String, Option<OrderRec>),
    Contract(String, Option<ContractRow>),
    Target((String, String, String), Option<TargetRec>),
    EventAdded,
    RejectedAdded,
    DecisionAdded,
    RulesVersionAdded(String),
    RulesLoadAdded,
    RuleHealth((String, String), Option<RuleHealth>),
    Meta(String, Option<String>),
    Task(i64, Option<TaskRow>),
    Load((String, String), Option<i64>),
    Turn((String, String), Option<i64>),
    Handover(String, Option<WaitingHandover>),
    /// A webhook delivery stored, by id.
    DeliveryAdded(i64),
    /// A webhook delivery's row before it was finished.
    Delivery(DeliveryRow),
    /// A recorder's note (see [`Recorder`]).
    Noted(u64),
    /// A notification as it was (`None`: it was added).
    Notification(i64, Option<Box<Notification>>),
}

/// The tables and their indexes. `put_*` replace (or remove) a row, keep
/// its indexes, and return the row it replaced; they log nothing, so undo
/// uses them too.
#[derive(Default)]
struct Tables {
    accounts: HashMap<String, AccountRow>,
    /// Account ids per parent.
    children: HashMap<String, BTreeSet<String>>,
    /// Accounts per owner.
    owned: HashMap<String, i64>,
    /// Key accounts by rowid (the order of SQLite's `accounts_key` index).
    key_accounts: BTreeMap<i64, String>,
    contacts: HashMap<String, ContactRow>,
    contacts_of: HashMap<String, BTreeSet<String>>,
    leads: HashMap<String, LeadRow>,
    deals: HashMap<String, DealRow>,
    deals_of: HashMap<String, BTreeSet<String>>,
    /// Open deals as `(stage, stage_entered_at, id)` (SQLite's `deals_open_stage_entered`).
    open_in_stage: BTreeSet<(String, String, String)>,
    activities: HashMap<String, ActivityRec>,
    activities_of_deal: HashMap<String, BTreeSet<String>>,
    orders: HashMap<String, OrderRec>,
    orders_of: HashMap<String, BTreeSet<String>>,
    contracts: HashMap<String, ContractRow>,
    contracts_of: HashMap<String, BTreeSet<String>>,
    /// By `(account_id, product, period)`.
    targets: BTreeMap<(String, String, String), TargetRec>,
    /// In the order applied: an event's `seq` is its index plus one.
    events: Vec<EventRec>,
    event_by_id: HashMap<Arc<str>, usize>,
    rejected: Vec<RejectedRow>,
    /// Rejected rows per `(source, line)`.
    rejected_at: HashMap<(String, i64), Vec<usize>>,
    decisions: Vec<DecisionRec>,
    rules_versions: HashMap<String, String>,
    rules_loads: Vec<StoredVersion>,
    rule_health: BTreeMap<(String, String), RuleHealth>,
    meta: HashMap<String, String>,
    tasks: BTreeMap<i64, TaskRow>,
    task_by_key: HashMap<String, i64>,
    /// Webhook deliveries by id, and their ids by key.
    deliveries: BTreeMap<i64, DeliveryRow>,
    delivery_by_key: HashMap<String, i64>,
    /// The dedup keys of pruned tasks, with their ids (SQLite's `pruned_task_keys`).
    pruned_keys: HashMap<String, i64>,
    /// Open tasks, by role and urgency.
    queue: BTreeSet<QueueKey>,
    /// Claimed tasks as `(claimed_at, id)`.
    claims: BTreeSet<(String, i64)>,
    tasks_about: HashMap<(String, String), BTreeSet<i64>>,
    /// Open or claimed tasks per `(role, assignee)`, as SQLite's `task_load`.
    load: BTreeMap<(String, String), i64>,
    turns: HashMap<(String, String), i64>,
    handovers: HashMap<String, WaitingHandover>,
    /// Access tokens with their hashes, oldest first, and sessions by hash
    /// (written outside units of work: a rollback does not undo them).
    tokens: Vec<(String, TokenRow)>,
    sessions: HashMap<String, SessionRow>,
    /// The notification queue by id, and its ids by `(target, key)`.
    notifications: BTreeMap<i64, Notification>,
    notification_keys: HashMap<(String, String), i64>,
    /// Hands decisions and stage changes to a replay's recorder (see [`Recorder`]).
    recorder: Option<Arc<Mutex<dyn Recorder>>>,
}

fn link<K: Hash + Eq, V: Ord>(index: &mut HashMap<K, BTreeSet<V>>, key: K, value: V) {
    index.entry(key).or_default().insert(value);
}

fn unlink<K: Hash + Eq, V: Ord>(index: &mut HashMap<K, BTreeSet<V>>, key: &K, value: &V) {
    if let Some(set) = index.get_mut(key) {
        set.remove(value);
        if set.is_empty() {
            index.remove(key);
        }
    }
}

/// Put `new` at `key` (or remove it) and return what was there.
fn put<K: Hash + Eq, V>(map: &mut HashMap<K, V>, key: K, new: Option<V>) -> Option<V> {
    match new {
        Some(v) => map.insert(key, v),
        None => map.remove(&key),
    }
}

impl Tables {
    fn put_account(&mut self, id: &str, new: Option<AccountRow>) -> Option<AccountRow> {
        if let Some(new) = &new {
            if let Some(parent) = &new.account.parent_id {
                link(&mut self.children, parent.clone(), id.to_string());
            }
            if let Some(owner) = &new.account.owner {
                *self.owned.entry(owner.clone()).or_default() += 1;
            }
            if new.account.is_key {
                self.key_accounts.insert(new.rowid, id.to_string());
            }
        }
        let old = put(&mut self.accounts, id.to_string(), new);
        if let Some(old) = &old {
            let new_parent = self.accounts.get(id).and_then(|a| a.account.parent_id.as_ref());
            if let Some(parent) = old.account.parent_id.as_ref().filter(|p| Some(*p) != new_parent) {
                unlink(&mut self.children, parent, &id.to_string());
            }
            if let Some((owner, n)) = old.account.owner.as_ref().and_then(|o| Some((o, self.owned.get_mut(o)?))) {
                *n -= 1;
                if *n == 0 {
                    self.owned.remove(owner);
                }
            }
            if old.account.is_key && !self.accounts.get(id).is_some_and(|a| a.account.is_key) {
                self.key_accounts.remove(&old.rowid);
            }
        }
        old
    }

    fn put_contact(&mut self, id: &str, new: Option<ContactRow>) -> Option<ContactRow> {
        let old = put(&mut self.contacts, id.to_string(), new);
        if let Some(old) = &old {
            unlink(&mut self.contacts_of, &old.account_id, &id.to_string());
        }
        if let Some(new) = self.contacts.get(id) {
            link(&mut self.contacts_of, new.account_id.clone(), id.to_string());
        }
        old
    }

    fn put_deal(&mut self, id: &str, new: Option<DealRow>) -> Option<DealRow> {
        let old = put(&mut self.deals, id.to_string(), new);
        if let Some(old) = &old {
            unlink(&mut self.deals_of, &old.deal.account_id, &id.to_string());
            if old.is_open {
                self.open_in_stage.remove(&(old.deal.stage.clone(), old.deal.stage_entered_at.clone(), id.to_string()));
            }
        }
        if let Some(new) = self.deals.get(id) {
            link(&mut self.deals_of, new.deal.account_id.clone(), id.to_string());
            if new.is_open {
                self.open_in_stage.insert((new.deal.stage.clone(), new.deal.stage_entered_at.clone(), id.to_string()));
            }
        }
        old
    }

    fn put_activity(&mut self, id: &str, new: Option<ActivityRec>) -> Option<ActivityRec> {
        let old = put(&mut self.activities, id.to_string(), new);
        if let Some(deal) = old.as_ref().and_then(|o| o.deal_id.as_ref()) {
            unlink(&mut self.activities_of_deal, deal, &id.to_string());
        }
        if let Some(deal) = self.activities.get(id).and_then(|a| a.deal_id.clone()) {
            link(&mut self.activities_of_deal, deal, id.to_string());
        }
        old
    }

    fn put_order(&mut self, id: &str, new: Option<OrderRec>) -> Option<OrderRec> {
        let old = put(&mut self.orders, id.to_string(), new);
        if let Some(old) = &old {
            unlink(&mut self.orders_of, &old.account_id, &id.to_string());
        }
        if let Some(new) = self.orders.get(id) {
            link(&mut self.orders_of, new.account_id.clone(), id.to_string());
        }
        old
    }

    fn put_contract(&mut self, id: &str, new: Option<ContractRow>) -> Option<ContractRow> {
        let old = put(&mut self.contracts, id.to_string(), new);
        if let Some(old) = &old {
            unlink(&mut self.contracts_of, &old.account_id, &id.to_string());
        }
        if let Some(new) = self.contracts.get(id) {
            link(&mut self.contracts_of, new.account_id.clone(), id.to_string());
        }
        old
    }

    fn put_task(&mut self, id: i64, new: Option<TaskRow>) -> Option<TaskRow> {
        let old = match new {
            Some(row) => self.tasks.insert(id, row),
            None => self.tasks.remove(&id),
        };
        if let Some(old) = &old {
            self.task_by_key.remove(&old.task.dedup_key);
            match old.status() {
                TaskStatus::Open => {
                    self.queue.remove(&old.queue_key());
                }
                TaskStatus::Claimed => {
                    if let Some(at) = &old.task.claimed_at {
                        self.claims.remove(&(at.clone(), id));
                    }
                }
                _ => {}
            }
            unlink(&mut self.tasks_about, &(old.task.subject.kind.clone(), old.task.subject.id.clone()), &id);
        }
        if let Some(new) = self.tasks.get(&id) {
            self.task_by_key.insert(new.task.dedup_key.clone(), id);
            match new.status() {
                TaskStatus::Open => {
                    self.queue.insert(new.queue_key());
                }
                TaskStatus::Claimed => {
                    if let Some(at) = &new.task.claimed_at {
                        self.claims.insert((at.clone(), id));
                    }
                }
                _ => {}
            }
            link(&mut self.tasks_about, (new.task.subject.kind.clone(), new.task.subject.id.clone()), id);
        }
        old
    }

    fn pop_rejected(&mut self) {
        if let Some(r) = self.rejected.pop() {
            let key = (r.source, r.line);
            if let Some(rows) = self.rejected_at.get_mut(&key) {
                rows.pop();
                if rows.is_empty() {
                    self.rejected_at.remove(&key);
                }
            }
        }
    }

    /// Replace (or remove) a notification, keeping its key index.
    fn put_notification(&mut self, id: i64, row: Option<Notification>) -> Option<Notification> {
        let old = match row {
            Some(n) => {
                self.notification_keys.insert((n.target.clone(), n.key.clone()), id);
                self.notifications.insert(id, n)
            }
            None => self.notifications.remove(&id),
        };
        if let Some(o) = &old
            && self.notifications.get(&id).is_none_or(|n| (&n.target, &n.key) != (&o.target, &o.key))
        {
            self.notification_keys.remove(&(o.target.clone(), o.key.clone()));
        }
        old
    }

    fn revert(&mut self, change: Change) {
        match change {
            Change::Account(id, old) => {
                self.put_account(&id, old);
            }
            Change::Contact(id, old) => {
                self.put_contact(&id, old);
            }
            Change::Lead(id, old) => {
                put(&mut self.leads, id, old);
            }
            Change::Deal(id, old) => {
                self.put_deal(&id, old);
            }
            Change::Activity(id, old) => {
                self.put_activity(&id, old);
            }
            Change::Order(id, old) => {
                self.put_order(&id, old);
            }
            Change::Contract(id, old) => {
                self.put_contract(&id, old);
            }
            Change::Target(key, old) => match old {
                Some(t) => {
                    self.targets.insert(key, t);
                }
                None => {
                    self.targets.remove(&key);
                }
            },
            Change::EventAdded => {
                if let Some(e) = self.events.pop() {
                    self.event_by_id.remove(&e.id);
                }
            }
            Change::RejectedAdded => self.pop_rejected(),
            Change::DeliveryAdded(id) => {
                if let Some(d) = self.deliveries.remove(&id) {
                    self.delivery_by_key.remove(&d.key);
                }
            }
            Change::Delivery(old) => {
                self.deliveries.insert(old.id, old);
            }
            Change::DecisionAdded => {
                self.decisions.pop();
            }
            Change::Notification(id, old) => {
                self.put_notification(id, old.map(|n| *n));
            }
            Change::RulesVersionAdded(version) => {
                self.rules_versions.remove(&version);
            }
            Change::RulesLoadAdded => {
                self.rules_loads.pop();
            }
            Change::RuleHealth(key, old) => match old {
                Some(h) => {
                    self.rule_health.insert(key, h);
                }
                None => {
                    self.rule_health.remove(&key);
                }
            },
            Change::Meta(key, old) => {
                put(&mut self.meta, key, old);
            }
            Change::Task(id, old) => {
                self.put_task(id, old);
            }
            Change::Load(key, old) => match old {
                Some(n) => {
                    self.load.insert(key, n);
                }
                None => {
                    self.load.remove(&key);
                }
            },
            Change::Turn(key, old) => {
                put(&mut self.turns, key, old);
            }
            Change::Handover(id, old) => {
                put(&mut self.handovers, id, old);
            }
            Change::Noted(token) => {
                if let Some(recorder) = &self.recorder {
                    recorder.lock().unwrap_or_else(std::sync::PoisonError::into_inner).undo(token);
                }
            }
        }
    }

    /// Open tasks of `role`, most urgent first.
    fn queue_of<'a>(&'a self, role: &'a str) -> impl Iterator<Item = &'a TaskRow> + 'a {
        self.queue
            .range((role.to_string(), Reverse(i64::MAX), String::new(), i64::MIN)..)
            .take_while(move |k| k.0 == role)
            .filter_map(|k| self.tasks.get(&k.3))
    }

    fn task(&self, id: i64) -> Option<Task> {
        self.tasks.get(&id).map(|r| r.task.clone())
    }

    fn deals_of(&self, account: &str) -> impl Iterator<Item = (&String, &DealRow)> {
        self.deals_of.get(account).into_iter().flatten().filter_map(|id| Some((id, self.deals.get(id)?)))
    }

    fn orders_of(&self, account: &str) -> impl Iterator<Item = &OrderRec> {
        self.orders_of.get(account).into_iter().flatten().filter_map(|id| self.orders.get(id))
    }
}

/// Adds up `(time, amount)` pairs as SQLite does through an index on them:
/// by time, then amount, with its summation.
pub(super) fn index_sum(mut rows: Vec<(&str, f64)>) -> f64 {
    rows.sort_by(|a, b| a.0.cmp(b.0).then(a.1.total_cmp(&b.1)));
    let mut sum = Sum::default();
    for (_, amount) in rows {
        sum.add(amount);
    }
    sum.total()
}

fn in_epochs(epoch: i64, epochs: (i64, i64)) -> bool {
    epoch > epochs.0 && epoch <= epochs.1
}

fn status_rank(s: TaskStatus) -> u8 {
    match s {
        TaskStatus::Open => 0,
        TaskStatus::Claimed => 1,
        _ => 2,
    }
}

impl Backend for Memory {
    fn kind(&self) -> &'static str {
        "memory"
    }

    fn location(&self) -> &Path {
        Path::new(LOCATION)
    }

    fn fault(&self, message: String) -> Error {
        Error::store(LOCATION, crate::error::StoreErrorKind::Other, message)
    }

    fn check_file(&self) -> Result<()> {
        Ok(())
    }

    fn change_token(&self) -> Result<Option<i64>> {
        // Nobody else writes into this process's memory.
        Ok(None)
    }

    fn in_unit(&self) -> bool {
        self.with(|s| s.unit.is_some())
    }

    fn total_changes(&self) -> u64 {
        self.with(|s| s.changes)
    }

    fn integrity_check(&self) -> Result<String> {
        Ok("ok".into())
    }

    fn verify(&self) -> Result<()> {
        Ok(())
    }

    // ---- units of work: SQLite's answers, errors included ----

    fn begin_unit(&self) -> Result<()> {
        if self.in_unit() {
            return Err(self.fault("cannot start a transaction within a transaction".into()));
        }
        self.with(|s| s.unit = Some(UnitKind::Explicit));
        Ok(())
    }

    fn commit_unit(&self) -> Result<()> {
        if !self.in_unit() {
            return Err(self.fault("cannot commit - no transaction is active".into()));
        }
        self.with(State::end_unit);
        Ok(())
    }

    /// As the SQLite store's: without a unit there is nothing to undo.
    fn rollback_unit(&self) -> Result<()> {
        self.with(|s| {
            s.undo_to(0);
            s.end_unit();
        });
        Ok(())
    }

    fn begin_nested(&self) -> Result<()> {
        self.with(|s| {
            if s.unit.is_none() {
                s.unit = Some(UnitKind::Implicit);
            }
            s.nested.push(s.undo.len());
        });
        Ok(())
    }

    fn release_nested(&self) -> Result<()> {
        let released = self.with(|s| {
            let mark = s.nested.pop()?;
            if s.nested.is_empty() && s.unit == Some(UnitKind::Implicit) {
                s.end_unit();
            }
            Some(mark)
        });
        released.map(drop).ok_or_else(|| self.fault("no such savepoint: event".into()))
    }

    fn rollback_nested(&self) -> Result<()> {
        let undone = self.with(|s| {
            let mark = s.nested.pop()?;
            s.undo_to(mark);
            if s.nested.is_empty() && s.unit == Some(UnitKind::Implicit) {
                s.end_unit();
            }
            Some(mark)
        });
        undone.map(drop).ok_or_else(|| self.fault("no such savepoint: event".into()))
    }

    // ---- accounts, contacts, leads, deals ----

    fn load_account(&self, id: &str) -> Result<Option<Account>> {
        Ok(self.with(|s| s.t.accounts.get(id).map(|r| r.account.clone())))
    }

    fn write_account(&self, a: &Account, _now: &str) -> Result<()> {
        self.with(|s| {
            let epoch = s.epoch();
            let row = match s.t.accounts.get(&a.id) {
                Some(old) => AccountRow {
                    account: Account { created_at: old.account.created_at.clone(), ..a.clone() },
                    quiet_epoch: if old.account.last_contact == a.last_contact && old.account.key_since == a.key_since {
                        old.quiet_epoch
                    } else {
                        epoch
                    },
                    rowid: old.rowid,
                },
                None => AccountRow { account: a.clone(), quiet_epoch: epoch, rowid: s.t.accounts.len() as i64 + 1 },
            };
            s.set_account(&a.id, row);
        });
        Ok(())
    }

    fn write_last_contact(&self, id: &str, at: &str) -> Result<bool> {
        Ok(self.with(|s| {
            let epoch = s.epoch();
            let Some(old) = s.t.accounts.get(id) else { return false };
            if old.account.last_contact.as_deref().is_some_and(|l| l >= at) {
                return false;
            }
            let mut row = old.clone();
            row.account.last_contact = Some(at.to_string());
            row.quiet_epoch = epoch;
            s.set_account(id, row);
            true
        }))
    }

    fn accounts_owned(&self, owner: &str) -> Result<i64> {
        Ok(self.with(|s| s.t.owned.get(owner).copied().unwrap_or(0)))
    }

    fn child_accounts(&self, id: &str) -> Result<Vec<String>> {
        Ok(self.with(|s| s.t.children.get(id).map(|c| c.iter().cloned().collect()).unwrap_or_default()))
    }

    /// By the length of the id, then the id (as the SQLite store lists them).
    fn accounts(&self, only_key: bool) -> Result<Vec<Account>> {
        let mut all: Vec<Account> = self.with(|s| {
            s.t.accounts.values().filter(|r| !only_key || r.account.is_key).map(|r| r.account.clone()).collect()
        });
        all.sort_by(|a, b| by_length_then_id(&a.id, &b.id));
        Ok(all)
    }

    fn counts(&self) -> Result<Counts> {
        Ok(self.with(|s| Counts {
            accounts: s.t.accounts.len() as i64,
            deals: s.t.deals.len() as i64,
            key_accounts: s.t.key_accounts.len() as i64,
        }))
    }

    fn write_contact(
        &self,
        id: &str,
        account_id: &str,
        role: &str,
        data: &Map<String, Value>,
        _now: &str,
    ) -> Result<Option<ContactRole>> {
        Ok(self.with(|s| {
            let row = ContactRow { account_id: account_id.to_string(), role: role.to_string(), data: data.clone() };
            let old = s.t.put_contact(id, Some(row));
            let before = old.as_ref().map(|o| ContactRole { role: o.role.clone(), account_id: o.account_id.clone() });
            s.log(Change::Contact(id.to_string(), old));
            before
        }))
    }

    fn contact_role(&self, id: &str) -> Result<Option<ContactRole>> {
        Ok(self.with(|s| {
            s.t.contacts.get(id).map(|c| ContactRole { role: c.role.clone(), account_id: c.account_id.clone() })
        }))
    }

    fn contact(&self, id: &str) -> Result<Option<Map<String, Value>>> {
        Ok(self.with(|s| s.t.contacts.get(id).map(|c| c.data.clone())))
    }

    fn lead(&self, id: &str) -> Result<Option<Lead>> {
        Ok(self.with(|s| {
            s.t.leads.get(id).map(|l| Lead {
                id: id.to_string(),
                data: l.data.clone(),
                created_at: l.created_at.clone(),
            })
        }))
    }

    /// An update keeps `created_at`.
    fn save_lead(&self, lead: &Lead) -> Result<()> {
        self.with(|s| {
            let created_at = s.t.leads.get(&lead.id).map_or_else(|| lead.created_at.clone(), |l| l.created_at.clone());
            let row = LeadRow { data: lead.data.clone(), created_at };
            let old = s.t.leads.insert(lead.id.clone(), row);
            s.log(Change::Lead(lead.id.clone(), old));
        });
        Ok(())
    }

    fn load_deal(&self, id: &str) -> Result<Option<Deal>> {
        Ok(self.with(|s| s.t.deals.get(id).map(|r| r.deal.clone())))
    }

    fn write_deal(
        &self,
        d: &Deal,
        is_open: bool,
        is_won: bool,
        _now: &str,
        want_before: bool,
    ) -> Result<Option<DealBefore>> {
        Ok(self.with(|s| {
            let epoch = s.epoch();
            let old = s.t.deals.get(&d.id);
            let before = old
                .filter(|_| want_before)
                .map(|o| DealBefore { account_id: o.deal.account_id.clone(), was_won: o.is_won });
            let row = match old {
                Some(old) => {
                    let same_stage = old.deal.stage == d.stage
                        && old.deal.stage_entered_at == d.stage_entered_at
                        && old.is_open == is_open
                        && old.deal.closed_at == d.closed_at
                        && old.deal.account_id == d.account_id;
                    DealRow {
                        deal: Deal { created_at: old.deal.created_at.clone(), ..d.clone() },
                        is_open,
                        is_won,
                        stage_epoch: if same_stage { old.stage_epoch } else { epoch },
                    }
                }
                None => DealRow { deal: d.clone(), is_open, is_won, stage_epoch: epoch },
            };
            s.set_deal(&d.id, row);
            before
        }))
    }

    fn open_deal_ids(&self, account_id: &str) -> Result<Vec<String>> {
        Ok(self.with(|s| {
            let mut open: Vec<(&str, &str)> =
                s.t.deals_of(account_id)
                    .filter(|(_, d)| d.is_open)
                    .map(|(id, d)| (d.deal.created_at.as_str(), id.as_str()))
                    .collect();
            open.sort();
            open.into_iter().map(|(_, id)| id.to_string()).collect()
        }))
    }

    /// By the length of the id, then the id (as the SQLite store lists them).
    fn deals(&self, stage: Option<&str>, account: Option<&str>) -> Result<Vec<Deal>> {
        let mut found: Vec<Deal> = self.with(|s| {
            let rows: Box<dyn Iterator<Item = &DealRow>> = match account {
                Some(a) => Box::new(s.t.deals_of(a).map(|(_, d)| d)),
                None => Box::new(s.t.deals.values()),
            };
            rows.filter(|d| stage.is_none_or(|st| d.deal.stage == st)).map(|d| d.deal.clone()).collect()
        });
        found.sort_by(|a, b| by_length_then_id(&a.id, &b.id));
        Ok(found)
    }

    /// Counted as written; nothing reads the history back (see the module documentation).
    fn record_stage_change(&self, c: &StageChange) -> Result<()> {
        self.with(|s| s.changes += 1);
        self.note(|r| r.stage_change(c));
        Ok(())
    }

    /// An activity needs an id, an account and a kind (SQLite's `NOT NULL`s;
    /// events are checked for them before).
    fn write_activity(&self, a: &ActivityRow) -> Result<bool> {
        let missing = |field: &str| self.fault(format!("NOT NULL constraint failed: activities.{field}"));
        let id = a.id.ok_or_else(|| missing("id"))?;
        a.account_id.ok_or_else(|| missing("account_id"))?;
        let kind = a.kind.ok_or_else(|| missing("kind"))?;
        Ok(self.with(|s| {
            let row = ActivityRec {
                deal_id: a.deal_id.map(str::to_string),
                contact_id: a.contact_id.map(str::to_string),
                kind: kind.to_string(),
                at: a.at.clone(),
            };
            let old = s.t.put_activity(id, Some(row));
            let inserted = old.is_none();
            s.log(Change::Activity(id.to_string(), old));
            inserted
        }))
    }

    /// An order sent again keeps its time; its generation changes only with its account.
    fn write_order(&self, o: &OrderRow) -> Result<OrderWrite> {
        Ok(self.with(|s| {
            let epoch = s.epoch();
            let old = s.t.orders.get(o.id);
            let (at, epoch, written) = match old {
                Some(old) => (
                    old.at.clone(),
                    if old.account_id == o.account_id { old.epoch } else { epoch },
                    OrderWrite::Updated { was_account: Some(old.account_id.clone()) },
                ),
                None => (o.at.to_string(), epoch, OrderWrite::Inserted),
            };
            let row = OrderRec {
                account_id: o.account_id.to_string(),
                amount: o.amount,
                product: o.product.map(str::to_string),
                at,
                epoch,
            };
            let old = s.t.put_order(o.id, Some(row));
            s.log(Change::Order(o.id.to_string(), old));
            written
        }))
    }

    fn write_contract(
        &self,
        account_id: &str,
        c: &Contract,
        _data: &Map<String, Value>,
        _recorded_at: &str,
        want_before: bool,
    ) -> Result<Option<String>> {
        Ok(self.with(|s| {
            let epoch = s.epoch();
            let old = s.t.contracts.get(&c.id);
            let before = old.filter(|_| want_before).map(|o| o.account_id.clone());
            let epoch = match old {
                Some(o) if o.account_id == account_id && o.contract.start == c.start && o.contract.end == c.end => {
                    o.epoch
                }
                _ => epoch,
            };
            let row = ContractRow { account_id: account_id.to_string(), contract: c.clone(), epoch };
            let old = s.t.put_contract(&c.id, Some(row));
            s.log(Change::Contract(c.id.clone(), old));
            before
        }))
    }

    /// A target set again keeps its generation.
    fn write_target(&self, account_id: &str, product: &str, period: &str, amount: f64, _at: &str) -> Result<()> {
        self.with(|s| {
            let key = (account_id.to_string(), product.to_string(), period.to_string());
            let epoch = s.t.targets.get(&key).map_or_else(|| s.epoch(), |t| t.epoch);
            let old = s.t.targets.insert(key.clone(), TargetRec { amount, epoch });
            s.log(Change::Target(key, old));
        });
        Ok(())
    }

    /// Orders by time then amount; deals, contacts and contracts by id;
    /// targets by product, then period.
    fn ledger_rows(&self, account_id: &str, floor: &str) -> Result<LedgerRows> {
        Ok(self.with(|s| {
            let t = &s.t;
            let mut orders: Vec<(String, f64)> =
                t.orders_of(account_id).filter(|o| o.at.as_str() > floor).map(|o| (o.at.clone(), o.amount)).collect();
            orders.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
            let deals = t
                .deals_of(account_id)
                .filter(|(_, d)| d.is_open || d.is_won)
                .map(|(id, d)| LedgerDeal {
                    id: id.clone(),
                    is_open: d.is_open,
                    is_won: d.is_won,
                    closed_at: d.deal.closed_at.clone(),
                    amount: d.deal.amount,
                })
                .collect();
            let contact_roles = t
                .contacts_of
                .get(account_id)
                .into_iter()
                .flatten()
                .filter_map(|id| Some(t.contacts.get(id)?.role.clone()))
                .collect();
            let contracts = t
                .contracts_of
                .get(account_id)
                .into_iter()
                .flatten()
                .filter_map(|id| Some(t.contracts.get(id)?.contract.clone()))
                .collect();
            let targets = t
                .targets
                .range((account_id.to_string(), String::new(), String::new())..)
                .take_while(|(k, _)| k.0 == account_id)
                .map(|((_, product, period), r)| crate::model::Target {
                    product: product.clone(),
                    period: period.clone(),
                    amount: r.amount,
                })
                .collect();
            LedgerRows { orders, deals, contact_roles, contracts, targets }
        }))
    }

    /// Contacts by id.
    fn deal_activity_rows(&self, deal_id: &str, since: Option<&str>) -> Result<DealActivityRows> {
        Ok(self.with(|s| {
            let t = &s.t;
            let mut per_kind: BTreeMap<&str, i64> = BTreeMap::new();
            let mut contacts: BTreeMap<&str, Option<ContactRole>> = BTreeMap::new();
            let mut last_activity: Option<&str> = None;
            let of_deal = t.activities_of_deal.get(deal_id).into_iter().flatten().filter_map(|id| t.activities.get(id));
            for a in of_deal.filter(|a| since.is_none_or(|s| a.at.as_str() >= s)) {
                *per_kind.entry(a.kind.as_str()).or_default() += 1;
                if let Some(c) = &a.contact_id {
                    contacts.entry(c.as_str()).or_insert_with(|| {
                        t.contacts
                            .get(c)
                            .map(|c| ContactRole { role: c.role.clone(), account_id: c.account_id.clone() })
                    });
                }
                if last_activity.is_none_or(|l| a.at.as_str() > l) {
                    last_activity = Some(a.at.as_str());
                }
            }
            DealActivityRows {
                per_kind: per_kind.into_iter().map(|(k, n)| (k.to_string(), n)).collect(),
                contacts: contacts.into_iter().map(|(c, role)| (c.to_string(), role)).collect(),
                last_activity: last_activity.map(str::to_string),
            }
        }))
    }

    /// Orders, then won deals whose `data.product` is the product, each added up by time, then amount.
    fn product_revenue(&self, account: &str, product: &str, from: &str, to: &str) -> Result<f64> {
        Ok(self.with(|s| {
            let within = |at: &str| at >= from && at <= to;
            let orders =
                s.t.orders_of(account)
                    .filter(|o| o.product.as_deref() == Some(product) && within(&o.at))
                    .map(|o| (o.at.as_str(), o.amount))
                    .collect();
            let deals =
                s.t.deals_of(account)
                    .filter(|(_, d)| d.is_won && d.deal.data.get("product").and_then(Value::as_str) == Some(product))
                    .filter_map(|(_, d)| Some((d.deal.closed_at.as_deref().filter(|c| within(c))?, d.deal.amount)))
                    .collect();
            index_sum(orders) + index_sum(deals)
        }))
    }

    // ---- the event log, decisions, rules versions, rule health ----

    fn is_applied(&self, event_id: &str) -> Result<bool> {
        Ok(self.with(|s| s.t.event_by_id.contains_key(event_id)))
    }

    /// An id applied before is refused, as by SQLite's `UNIQUE`.
    fn record_applied(&self, e: &Event, source: &str, line: usize, rules_version: &str, _now: &str) -> Result<()> {
        if self.is_applied(&e.id)? {
            return Err(self.fault("UNIQUE constraint failed: events.id".into()));
        }
        self.with(|s| {
            let last = s.t.events.last();
            let shared = |text: &str, of: fn(&EventRec) -> &Arc<str>| match last.map(of) {
                Some(same) if **same == *text => same.clone(),
                _ => Arc::from(text),
            };
            let (source, rules_version) = (shared(source, |e| &e.source), shared(rules_version, |e| &e.rules_version));
            let id: Arc<str> = Arc::from(e.id.as_str());
            s.t.event_by_id.insert(id.clone(), s.t.events.len());
            s.t.events.push(EventRec {
                id,
                kind: e.kind.name(),
                at: crate::time::stamp(e.at),
                body: if self.keeps_history { e.to_json() } else { String::new() },
                source,
                line: line as i64,
                rules_version,
                content_hash: e.content_hash(),
            });
            s.log(Change::EventAdded);
        });
        Ok(())
    }

    fn applied_before(&self, e: &Event) -> Result<Option<AppliedBefore>> {
        Ok(self.with(|s| {
            let stored = s.t.events.get(*s.t.event_by_id.get(e.id.as_str())?)?;
            Some(AppliedBefore {
                same: stored.content_hash == e.content_hash(),
                source: stored.source.to_string(),
                line: stored.line as usize,
            })
        }))
    }

    fn event_history_page(&self, after: i64, limit: usize) -> Result<Vec<(i64, String)>> {
        if !self.keeps_history {
            return Ok(Vec::new());
        }
        Ok(self.with(|s| {
            let from = usize::try_from(after.max(0)).unwrap_or(usize::MAX);
            let page = s.t.events.iter().enumerate().skip(from).take(limit);
            page.map(|(i, e)| (i as i64 + 1, e.body.clone())).collect()
        }))
    }

    fn last_applied_at(&self) -> Result<Option<String>> {
        Ok(self.with(|s| s.t.events.last().map(|e| e.at.clone())))
    }

    fn event_count(&self) -> Result<i64> {
        Ok(self.with(|s| s.t.events.len() as i64))
    }

    /// Read by going through the whole log (a timeline is asked for by a
    /// person, one at a time; an index would cost every event memory).
    fn events_about(&self, kind: &str, id: &str) -> Result<Vec<EventRow>> {
        if !self.keeps_history {
            return Ok(Vec::new());
        }
        Ok(self.with(|s| {
            let mut rows = Vec::new();
            for (i, e) in s.t.events.iter().enumerate() {
                let body: Value = serde_json::from_str(&e.body).unwrap_or_default();
                let field = |name: &str| body.get("data").and_then(|d| d.get(name)).and_then(Value::as_str) == Some(id);
                let about = match kind {
                    "deal" => (e.kind == "deal.upserted" && field("id")) || field("deal_id"),
                    "account" => (e.kind == "account.upserted" && field("id")) || field("account_id"),
                    "lead" => e.kind == "lead.created" && field("id"),
                    _ => false,
                };
                if about {
                    rows.push(EventRow {
                        seq: i as i64 + 1,
                        id: e.id.to_string(),
                        kind: e.kind.to_string(),
                        at: e.at.clone(),
                        source: e.source.to_string(),
                        line: e.line,
                        rules_version: e.rules_version.to_string(),
                        data: body.get("data").cloned().unwrap_or_default(),
                    });
                }
            }
            rows
        }))
    }

    fn latest_event_at(&self) -> Result<Option<String>> {
        Ok(self.with(|s| s.t.events.iter().map(|e| e.at.as_str()).max().map(str::to_string)))
    }

    fn record_rejected(&self, source: &str, line: usize, reason: &str, raw: &str, now: &str) -> Result<()> {
        self.with(|s| {
            let key = (source.to_string(), line as i64);
            let seen = s.t.rejected_at.get(&key).into_iter().flatten().filter_map(|&i| s.t.rejected.get(i));
            if seen.into_iter().any(|r| r.reason == reason && r.raw == raw) {
                return;
            }
            s.t.rejected_at.entry(key).or_default().push(s.t.rejected.len());
            s.t.rejected.push(RejectedRow {
                source: source.to_string(),
                line: line as i64,
                reason: reason.to_string(),
                raw: raw.to_string(),
                rejected_at: now.to_string(),
            });
            s.log(Change::RejectedAdded);
        });
        Ok(())
    }

    fn rejected(&self) -> Result<Vec<RejectedRow>> {
        Ok(self.with(|s| s.t.rejected.clone()))
    }

    fn record_decision(&self, d: &Decision, rules_version: &str) -> Result<()> {
        self.note(|r| r.decision(d));
        if !self.keeps_history {
            return Ok(());
        }
        self.with(|s| {
            let rules_version = match s.t.decisions.last() {
                Some(last) if *last.rules_version == *rules_version => last.rules_version.clone(),
                _ => Arc::from(rules_version),
            };
            s.t.decisions.push(DecisionRec {
                kind: d.kind.name(),
                subject: d.subject.clone(),
                rule: d.rule.clone(),
                reason: d.reason.clone(),
                detail: d.detail.to_string(),
                rules_version,
                event_id: d.event_id.clone(),
                at: d.at.clone(),
            });
            s.log(Change::DecisionAdded);
        });
        Ok(())
    }

    fn decisions(&self, kind: Option<&str>, subject: Option<(&str, &str)>) -> Result<Vec<DecisionRow>> {
        Ok(self.with(|s| {
            s.t.decisions
                .iter()
                .enumerate()
                .filter(|(_, d)| kind.is_none_or(|k| d.kind == k))
                .filter(|(_, d)| subject.is_none_or(|(k, id)| d.subject.kind == k && d.subject.id == id))
                .map(|(i, d)| decision_row(i, d))
                .collect()
        }))
    }

    fn record_rules_version(&self, version: &str, files_json: &str, loaded_at: &str) -> Result<()> {
        self.with(|s| {
            if !s.t.rules_versions.contains_key(version) {
                s.t.rules_versions.insert(version.to_string(), files_json.to_string());
                s.log(Change::RulesVersionAdded(version.to_string()));
            }
            if s.t.rules_loads.last().is_some_and(|v| v.version == version && v.loaded_at == loaded_at) {
                return;
            }
            s.t.rules_loads.push(StoredVersion { version: version.to_string(), loaded_at: loaded_at.to_string() });
            s.log(Change::RulesLoadAdded);
        });
        Ok(())
    }

    fn current_rules_version(&self) -> Result<Option<StoredVersion>> {
        Ok(self.with(|s| s.t.rules_loads.last().cloned()))
    }

    fn rules_version_files(&self, version: &str) -> Result<Option<VersionFiles>> {
        Ok(self.with(|s| s.t.rules_versions.get(version).and_then(|f| serde_json::from_str(f).ok())))
    }

    fn record_rule_health(&self, h: &RuleHealth) -> Result<()> {
        self.with(|s| {
            let key = (h.rules_version.clone(), h.rule.clone());
            let old = s.t.rule_health.insert(key.clone(), h.clone());
            s.log(Change::RuleHealth(key, old));
        });
        Ok(())
    }

    fn clear_rule_health(&self, rules_version: &str, rule: &str) -> Result<()> {
        self.with(|s| {
            let key = (rules_version.to_string(), rule.to_string());
            if let Some(old) = s.t.rule_health.remove(&key) {
                s.log(Change::RuleHealth(key, Some(old)));
            }
        });
        Ok(())
    }

    /// Quarantined first, then by file and line, then by rule (SQLite
    /// leaves ties in the order of its key, which is by rule).
    fn rule_health(&self, rules_version: &str) -> Result<Vec<RuleHealth>> {
        let mut rows: Vec<RuleHealth> = self.with(|s| {
            s.t.rule_health
                .range((rules_version.to_string(), String::new())..)
                .take_while(|(k, _)| k.0 == rules_version)
                .map(|(_, h)| h.clone())
                .collect()
        });
        rows.sort_by(|a, b| {
            (a.quarantined_at.is_none(), &a.file, a.line, &a.rule).cmp(&(
                b.quarantined_at.is_none(),
                &b.file,
                b.line,
                &b.rule,
            ))
        });
        Ok(rows)
    }

    // ---- the clock's questions and state ----

    fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self.with(|s| s.t.meta.get(key).cloned()))
    }

    fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.with(|s| s.set_meta(key, value));
        Ok(())
    }

    fn sweep_epoch(&self) -> Result<i64> {
        Ok(self.with(|s| s.epoch()))
    }

    fn set_sweep_epoch(&self, epoch: i64) -> Result<()> {
        self.set_meta("sweep_epoch", &epoch.to_string())
    }

    fn max_task_id(&self) -> Result<i64> {
        Ok(self.with(|s| s.t.tasks.keys().next_back().copied().unwrap_or(0)))
    }

    /// By the time each entered its stage, then id (SQLite's index order).
    fn deals_in_stage_since(&self, stage: &str, entered_by: &str) -> Result<Vec<DealInStage>> {
        Ok(self.with(|s| {
            s.t.open_in_stage
                .range((stage.to_string(), String::new(), String::new())..)
                .take_while(|(st, entered, _)| st == stage && entered.as_str() <= entered_by)
                .filter_map(|(_, entered, id)| {
                    let d = s.t.deals.get(id)?;
                    Some(DealInStage {
                        deal_id: id.clone(),
                        account_id: d.deal.account_id.clone(),
                        entered_at: entered.clone(),
                        epoch: d.stage_epoch,
                    })
                })
                .collect()
        }))
    }

    fn accounts_to_review(
        &self,
        left_after: Option<&str>,
        left_by: &str,
        last_day: Option<&str>,
        today: &str,
        epochs: (i64, i64),
    ) -> Result<Vec<String>> {
        let (left_after, last_day) = (left_after.unwrap_or(""), last_day.unwrap_or(""));
        let left = |at: &str| at > left_after && at <= left_by;
        Ok(self.with(|s| {
            let t = &s.t;
            let mut found: BTreeSet<&str> = BTreeSet::new();
            for id in t.key_accounts.values() {
                let order_left = t.orders_of(id).any(|o| left(&o.at) && in_epochs(o.epoch, epochs));
                let won_left = || {
                    t.deals_of(id).any(|(_, d)| {
                        d.is_won && d.deal.closed_at.as_deref().is_some_and(left) && in_epochs(d.stage_epoch, epochs)
                    })
                };
                if order_left || won_left() {
                    found.insert(id);
                }
            }
            for c in t.contracts.values().filter(|c| in_epochs(c.epoch, epochs)) {
                let (start, end) = (c.contract.start.as_str(), c.contract.end.as_str());
                if (start > last_day && start <= today) || (end >= last_day && end < today) {
                    found.insert(&c.account_id);
                }
            }
            found.into_iter().map(str::to_string).collect()
        }))
    }

    /// In the order the accounts were first written (SQLite reads them by
    /// its `is_key` index, which holds them by rowid).
    fn quiet_key_accounts(&self, by: &str) -> Result<Vec<QuietAccount>> {
        Ok(self.with(|s| {
            s.t.key_accounts
                .values()
                .filter_map(|id| {
                    let r = s.t.accounts.get(id)?;
                    let a = &r.account;
                    let quiet = a.last_contact.as_ref().or(a.key_since.as_ref()).filter(|q| q.as_str() <= by)?;
                    Some(QuietAccount {
                        account_id: id.clone(),
                        quiet_since: quiet.clone(),
                        key_since: a.key_since.clone().unwrap_or_default(),
                        epoch: r.quiet_epoch,
                    })
                })
                .collect()
        }))
    }

    fn contracts_ending(&self, until: &str, today: &str) -> Result<Vec<ContractEnding>> {
        let mut ending: Vec<ContractEnding> = self.with(|s| {
            s.t.contracts
                .values()
                .filter(|c| c.contract.end.as_str() <= until && c.contract.end.as_str() >= today)
                .map(|c| ContractEnding {
                    contract_id: c.contract.id.clone(),
                    account_id: c.account_id.clone(),
                    end: c.contract.end.clone(),
                    epoch: c.epoch,
                })
                .collect()
        });
        ending.sort_by(|a, b| (&a.end, &a.contract_id).cmp(&(&b.end, &b.contract_id)));
        Ok(ending)
    }

    fn tasks_due_between(&self, from: Option<&str>, before: &str, ids: (i64, i64)) -> Result<Vec<i64>> {
        if ids.0 >= ids.1 {
            return Ok(Vec::new());
        }
        Ok(self.with(|s| {
            s.t.tasks
                .range(ids.0.saturating_add(1)..=ids.1)
                .filter(|(_, r)| matches!(r.status(), TaskStatus::Open | TaskStatus::Claimed))
                .filter(|(_, r)| from.is_none_or(|f| r.task.due_at.as_str() >= f) && r.task.due_at.as_str() < before)
                .map(|(id, _)| *id)
                .collect()
        }))
    }

    /// By account, product, then period.
    fn all_targets(&self) -> Result<Vec<TargetRow>> {
        Ok(self.with(|s| {
            s.t.targets
                .iter()
                .map(|((account_id, product, period), r)| TargetRow {
                    account_id: account_id.clone(),
                    product: product.clone(),
                    period: period.clone(),
                    amount: r.amount,
                    epoch: r.epoch,
                })
                .collect()
        }))
    }

    // ---- assignment ----

    /// By assignee (SQLite's key order); those down to none are listed too, as in SQLite.
    fn open_tasks_per_assignee(&self, role: &str) -> Result<Vec<Load>> {
        Ok(self.with(|s| {
            s.t.load
                .range((role.to_string(), String::new())..)
                .take_while(|(k, _)| k.0 == role)
                .map(|((_, who), &open)| Load { who: who.clone(), open })
                .collect()
        }))
    }

    fn take_turn(&self, role: &str, region: &str, n: usize) -> Result<usize> {
        Ok(self.with(|s| {
            let key = (role.to_string(), region.to_string());
            let next = s.t.turns.get(&key).copied().unwrap_or(0);
            let index = (next.max(0) as usize) % n.max(1);
            let old = s.t.turns.insert(key.clone(), (index + 1) as i64);
            s.log(Change::Turn(key, old));
            index
        }))
    }

    /// In the order of the open tasks by due time, then id, each holder
    /// where first found (SQLite reads them by its `(status, due_at)` index).
    fn open_task_holders(&self) -> Result<Vec<Holder>> {
        Ok(self.with(|s| {
            let mut open: Vec<&TaskRow> =
                s.t.queue.iter().filter_map(|k| s.t.tasks.get(&k.3)).filter(|r| r.task.assignee.is_some()).collect();
            open.sort_by(|a, b| (&a.task.due_at, a.task.id).cmp(&(&b.task.due_at, b.task.id)));
            let mut seen = HashSet::new();
            let mut holders = Vec::new();
            for r in open {
                let Some(assignee) = &r.task.assignee else { continue };
                if seen.insert((&r.task.role, assignee)) {
                    holders.push(Holder { role: r.task.role.clone(), assignee: assignee.clone() });
                }
            }
            holders
        }))
    }

    fn open_tasks_of(&self, role: &str, assignee: &str) -> Result<Vec<i64>> {
        let mut ids: Vec<i64> = self.with(|s| {
            s.t.queue_of(role).filter(|r| r.task.assignee.as_deref() == Some(assignee)).map(|r| r.task.id).collect()
        });
        ids.sort_unstable();
        Ok(ids)
    }

    fn queued_tasks(&self, role: &str, limit: usize) -> Result<Vec<i64>> {
        Ok(self.with(|s| {
            s.t.queue_of(role)
                .filter(|r| r.task.assignee.is_none() && r.status() == TaskStatus::Open)
                .map(|r| r.task.id)
                .take(limit)
                .collect()
        }))
    }

    fn set_task_due(&self, id: i64, due_at: &str) -> Result<()> {
        self.with(|s| s.change_task(id, |r| r.task.due_at = due_at.to_string()));
        Ok(())
    }

    fn reassign_task(&self, id: i64, assignee: Option<&str>) -> Result<()> {
        self.with(|s| s.change_task(id, |r| r.task.assignee = assignee.map(str::to_string)));
        Ok(())
    }

    /// One asked for again keeps its first time, unless it waits for another role now.
    fn save_waiting_handover(&self, w: &WaitingHandover) -> Result<()> {
        self.with(|s| {
            let mut new = w.clone();
            if let Some(old) = s.t.handovers.get(&w.account_id).filter(|old| old.role == w.role) {
                new.since = old.since.clone();
                new.event_id = old.event_id.clone();
            }
            let old = s.t.handovers.insert(w.account_id.clone(), new);
            s.log(Change::Handover(w.account_id.clone(), old));
        });
        Ok(())
    }

    fn drop_waiting_handover(&self, account_id: &str) -> Result<()> {
        self.with(|s| {
            if let Some(old) = s.t.handovers.remove(account_id) {
                s.log(Change::Handover(account_id.to_string(), Some(old)));
            }
        });
        Ok(())
    }

    fn assign_queued_tasks_about(&self, subject: &Subject, role: &str, assignee: &str) -> Result<usize> {
        Ok(self.with(|s| {
            let queued: Vec<i64> =
                s.t.tasks_about
                    .get(&(subject.kind.clone(), subject.id.clone()))
                    .into_iter()
                    .flatten()
                    .filter(|id| {
                        s.t.tasks.get(id).is_some_and(|r| {
                            r.task.role == role && r.task.assignee.is_none() && r.status() == TaskStatus::Open
                        })
                    })
                    .copied()
                    .collect();
            for &id in &queued {
                s.change_task(id, |r| r.task.assignee = Some(assignee.to_string()));
            }
            queued.len()
        }))
    }

    /// Oldest first, then by the length of the account id, then the id.
    fn waiting_handovers(&self) -> Result<Vec<WaitingHandover>> {
        let mut all: Vec<WaitingHandover> = self.with(|s| s.t.handovers.values().cloned().collect());
        all.sort_by(|a, b| a.since.cmp(&b.since).then_with(|| by_length_then_id(&a.account_id, &b.account_id)));
        Ok(all)
    }

    // ---- the task queues ----

    fn create_task(&self, t: &NewTask, rules_version: &str, event_id: &str, created_at: &str) -> Result<Option<i64>> {
        Ok(self.with(|s| {
            if s.t.task_by_key.contains_key(&t.dedup_key) || s.t.pruned_keys.contains_key(&t.dedup_key) {
                return None;
            }
            // SQLite's rowid: one more than the highest, so a rolled-back id is given again.
            let id = s.t.tasks.keys().next_back().copied().unwrap_or(0) + 1;
            let rank = t.priority as i64;
            let task = Task {
                id,
                role: t.role.clone(),
                assignee: t.assignee.clone(),
                title: t.title.clone(),
                status: TaskStatus::Open,
                priority: Priority::from_rank(rank),
                due_at: t.due_at.clone(),
                subject: t.subject.clone(),
                rule: t.rule.to_string(),
                reason: t.reason.clone(),
                rules_version: rules_version.to_string(),
                created_at: created_at.to_string(),
                event_id: event_id.to_string(),
                dedup_key: t.dedup_key.clone(),
                claimed_by: None,
                claimed_at: None,
                closed_at: None,
                outcome: None,
                released_from: None,
                released_at: None,
            };
            let row = TaskRow { task, rank, before_claim: None };
            let load = row.load_key();
            let old = s.t.put_task(id, Some(row));
            s.log(Change::Task(id, old));
            if let Some(key) = load {
                s.add_load(key);
            }
            Some(id)
        }))
    }

    fn task_key_exists(&self, dedup_key: &str) -> Result<bool> {
        Ok(self.with(|s| s.t.task_by_key.contains_key(dedup_key) || s.t.pruned_keys.contains_key(dedup_key)))
    }

    fn task(&self, id: i64) -> Result<Option<Task>> {
        Ok(self.with(|s| s.t.task(id)))
    }

    /// Open, then claimed, then closed; each most urgent first.
    fn tasks(&self, f: &TaskFilter) -> Result<Vec<Task>> {
        Ok(self.with(|s| {
            let rows: Box<dyn Iterator<Item = &TaskRow>> = match &f.subject {
                Some(subject) => Box::new(
                    s.t.tasks_about
                        .get(&(subject.kind.clone(), subject.id.clone()))
                        .into_iter()
                        .flatten()
                        .filter_map(|id| s.t.tasks.get(id)),
                ),
                None => Box::new(s.t.tasks.values()),
            };
            let mut found: Vec<&TaskRow> = rows
                .filter(|r| f.role.as_ref().is_none_or(|role| &r.task.role == role))
                .filter(|r| f.assignee.is_none() || r.task.assignee == f.assignee)
                .filter(|r| f.status.is_none_or(|st| r.status() == st))
                .collect();
            found.sort_by(|a, b| {
                let key = |r: &TaskRow| (status_rank(r.status()), Reverse(r.rank));
                key(a).cmp(&key(b)).then_with(|| (&a.task.due_at, a.task.id).cmp(&(&b.task.due_at, b.task.id)))
            });
            found.into_iter().map(|r| r.task.clone()).collect()
        }))
    }

    /// Outside a unit, the call is one: nothing else runs between its release and its claims.
    fn claim_up_to(
        &self,
        role: &str,
        who: &str,
        now: &str,
        lapsed_before: Option<&str>,
        n: usize,
    ) -> Result<Vec<Task>> {
        let n = n.clamp(1, super::MAX_CLAIM_BATCH);
        Ok(self.with(|s| {
            if let Some(before) = lapsed_before {
                s.release_lapsed(before, now);
            }
            let picked: Vec<i64> =
                s.t.queue_of(role)
                    .filter(|r| r.task.assignee.as_deref().is_none_or(|a| a == who))
                    .take(n)
                    .map(|r| r.task.id)
                    .collect();
            for &id in &picked {
                s.change_task(id, |r| {
                    r.task.status = TaskStatus::Claimed;
                    r.before_claim = r.task.assignee.take();
                    r.task.assignee = Some(who.to_string());
                    r.task.claimed_by = Some(who.to_string());
                    r.task.claimed_at = Some(now.to_string());
                });
            }
            picked.into_iter().filter_map(|id| s.t.task(id)).collect()
        }))
    }

    fn release_lapsed_claims(&self, lapsed_before: &str, now: &str) -> Result<usize> {
        Ok(self.with(|s| s.release_lapsed(lapsed_before, now)))
    }

    fn close_task(
        &self,
        id: i64,
        status: TaskStatus,
        by: Option<&str>,
        outcome: Option<&str>,
        now: &str,
    ) -> Result<Task> {
        self.with(|s| {
            let row = s.t.tasks.get(&id).ok_or_else(|| Error::NotFound(format!("no task {id}")))?;
            let current = row.status();
            if current.is_closed() {
                return Err(Error::Usage(format!("task {id} is already {current}")));
            }
            s.change_task(id, |r| {
                r.task.status = status;
                r.task.closed_at = Some(now.to_string());
                r.task.outcome = outcome.map(str::to_string);
                if let Some(by) = by {
                    r.task.claimed_by = Some(by.to_string());
                }
            });
            s.t.task(id).ok_or_else(|| Error::NotFound(format!("no task {id}")))
        })
    }

    fn close_task_as(
        &self,
        id: i64,
        status: TaskStatus,
        who: Option<&str>,
        outcome: Option<&str>,
        now: &str,
    ) -> Result<CloseAs> {
        self.with(|s| {
            let row = s.t.tasks.get(&id).ok_or_else(|| Error::NotFound(format!("no task {id}")))?;
            let closes = match row.status() {
                TaskStatus::Open => true,
                TaskStatus::Claimed => who.is_none_or(|w| row.task.claimed_by.as_deref() == Some(w)),
                _ => false,
            };
            match row.status() {
                _ if closes => {}
                TaskStatus::Claimed => return Ok(Err(row.task.clone())),
                current => return Err(Error::Usage(format!("task {id} is already {current}"))),
            }
            s.change_task(id, |r| {
                r.task.status = status;
                r.task.closed_at = Some(now.to_string());
                r.task.outcome = outcome.map(str::to_string);
                if let Some(who) = who {
                    r.task.claimed_by = Some(who.to_string());
                    r.task.assignee.get_or_insert_with(|| who.to_string());
                }
            });
            s.t.task(id).map(Ok).ok_or_else(|| Error::NotFound(format!("no task {id}")))
        })
    }

    fn cancel_open_tasks_about(
        &self,
        subject: &Subject,
        assignee: Option<&str>,
        outcome: &str,
        now: &str,
    ) -> Result<usize> {
        Ok(self.with(|s| {
            let open: Vec<i64> = s
                .t
                .tasks_about
                .get(&(subject.kind.clone(), subject.id.clone()))
                .into_iter()
                .flatten()
                .filter(|id| {
                    s.t.tasks.get(id).is_some_and(|r| {
                        r.status() == TaskStatus::Open && assignee.is_none_or(|a| r.task.assignee.as_deref() == Some(a))
                    })
                })
                .copied()
                .collect();
            for &id in &open {
                s.change_task(id, |r| {
                    r.task.status = TaskStatus::Cancelled;
                    r.task.closed_at = Some(now.to_string());
                    r.task.outcome = Some(outcome.to_string());
                });
            }
            open.len()
        }))
    }

    fn open_tasks_by_role(&self) -> Result<Vec<RoleCount>> {
        Ok(self.with(|s| {
            let mut per_role: BTreeMap<&str, i64> = BTreeMap::new();
            for r in s.t.tasks.values().filter(|r| matches!(r.status(), TaskStatus::Open | TaskStatus::Claimed)) {
                *per_role.entry(r.task.role.as_str()).or_default() += 1;
            }
            per_role.into_iter().map(|(role, open)| RoleCount { role: role.to_string(), open }).collect()
        }))
    }

    fn rules_loads(&self) -> Result<Vec<StoredVersion>> {
        Ok(self.with(|s| s.t.rules_loads.clone()))
    }

    fn create_token(&self, t: &TokenRow, hash: &str) -> Result<()> {
        self.with(|s| {
            if s.t.tokens.iter().any(|(h, r)| h == hash || r.id == t.id) {
                return Err(Error::Usage(format!("token {} exists already", t.id)));
            }
            s.t.tokens.push((hash.to_string(), t.clone()));
            Ok(())
        })
    }

    fn tokens(&self) -> Result<Vec<TokenRow>> {
        Ok(self.with(|s| s.t.tokens.iter().map(|(_, t)| t.clone()).collect()))
    }

    fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRow>> {
        Ok(self.with(|s| s.t.tokens.iter().find(|(h, _)| h == hash).map(|(_, t)| t.clone())))
    }

    fn revoke_token(&self, id: &str, now: &str) -> Result<bool> {
        Ok(self.with(|s| match s.t.tokens.iter_mut().find(|(_, t)| t.id == id && t.revoked_at.is_none()) {
            Some((_, t)) => {
                t.revoked_at = Some(now.to_string());
                true
            }
            None => false,
        }))
    }

    fn touch_token(&self, id: &str, now: &str) -> Result<()> {
        self.with(|s| {
            if let Some((_, t)) = s.t.tokens.iter_mut().find(|(_, t)| t.id == id) {
                t.last_used_at = Some(now.to_string());
            }
        });
        Ok(())
    }

    fn create_session(&self, hash: &str, session: &SessionRow, _now: &str) -> Result<()> {
        self.with(|s| s.t.sessions.insert(hash.to_string(), session.clone()));
        Ok(())
    }

    fn session(&self, hash: &str, now: &str) -> Result<Option<SessionRow>> {
        Ok(self.with(|s| {
            let session = s.t.sessions.get(hash).filter(|x| x.expires_at.as_str() > now)?;
            let live = s.t.tokens.iter().any(|(_, t)| t.id == session.token_id && t.revoked_at.is_none());
            live.then(|| session.clone())
        }))
    }

    fn end_session(&self, hash: &str) -> Result<()> {
        self.with(|s| s.t.sessions.remove(hash));
        Ok(())
    }

    // ---- notifications out ----

    /// Decisions and rejected lines by their index plus one (as `decisions` numbers them).
    fn notify_marks(&self) -> Result<Marks> {
        Ok(self.with(|s| Marks {
            task: s.t.tasks.keys().next_back().copied().unwrap_or(0),
            decision: s.t.decisions.len() as i64,
            rejected: s.t.rejected.len() as i64,
        }))
    }

    fn tasks_after(&self, after: i64, limit: usize) -> Result<Vec<Task>> {
        Ok(self.with(|s| s.t.tasks.range(after.saturating_add(1)..).take(limit).map(|(_, r)| r.task.clone()).collect()))
    }

    fn decisions_after(&self, after: i64, kind: &str, limit: usize) -> Result<Vec<DecisionRow>> {
        Ok(self.with(|s| {
            let from = usize::try_from(after).unwrap_or(0);
            s.t.decisions
                .iter()
                .enumerate()
                .skip(from)
                .filter(|(_, d)| d.kind == kind)
                .take(limit)
                .map(|(i, d)| decision_row(i, d))
                .collect()
        }))
    }

    fn rejected_after(&self, after: i64, limit: usize) -> Result<Vec<RejectedSince>> {
        Ok(self.with(|s| {
            let from = usize::try_from(after).unwrap_or(0);
            s.t.rejected
                .iter()
                .enumerate()
                .skip(from)
                .take(limit)
                .map(|(i, r)| RejectedSince {
                    seq: i as i64 + 1,
                    source: r.source.clone(),
                    line: r.line,
                    reason: r.reason.clone(),
                })
                .collect()
        }))
    }

    fn enqueue_notification(&self, n: &NewNotification) -> Result<bool> {
        Ok(self.with(|s| {
            if s.t.notification_keys.contains_key(&(n.target.clone(), n.key.clone())) {
                return false;
            }
            let id = s.t.notifications.keys().next_back().copied().unwrap_or(0) + 1;
            let row = Notification {
                id,
                target: n.target.clone(),
                kind: n.kind.clone(),
                key: n.key.clone(),
                subject: n.subject.clone(),
                person: n.person.clone(),
                payload: n.payload.clone(),
                created_at: n.created_at.clone(),
                attempts: 0,
                next_attempt_at: n.created_at.clone(),
                sent_at: None,
                last_error: None,
                given_up_at: None,
            };
            let old = s.t.put_notification(id, Some(row));
            s.log(Change::Notification(id, old.map(Box::new)));
            true
        }))
    }

    fn claim_notifications(&self, now: &str, until: &str, limit: usize) -> Result<Vec<Notification>> {
        Ok(self.with(|s| {
            let mut due: Vec<&Notification> =
                s.t.notifications
                    .values()
                    .filter(|n| n.state() == NotificationState::Pending && n.next_attempt_at.as_str() <= now)
                    .collect();
            due.sort_by(|a, b| (&a.next_attempt_at, a.id).cmp(&(&b.next_attempt_at, b.id)));
            let ids: Vec<i64> = due.iter().take(limit).map(|n| n.id).collect();
            let mut claimed = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some(mut n) = s.t.notifications.get(&id).cloned() {
                    n.next_attempt_at = until.to_string();
                    claimed.push(n.clone());
                    let old = s.t.put_notification(id, Some(n));
                    s.log(Change::Notification(id, old.map(Box::new)));
                }
            }
            // As SQLite answers them: by id.
            claimed.sort_by_key(|n| n.id);
            claimed
        }))
    }

    fn finish_notification(&self, id: i64, attempt: &Attempt) -> Result<()> {
        self.with(|s| {
            let Some(mut n) = s.t.notifications.get(&id).cloned() else { return };
            match attempt {
                Attempt::Sent { at } => {
                    n.sent_at = Some(at.clone());
                    n.last_error = None;
                }
                Attempt::Failed { error, next } => {
                    n.attempts += 1;
                    n.last_error = Some(error.clone());
                    n.next_attempt_at = next.clone();
                }
                Attempt::GiveUp { error, at } => {
                    n.attempts += 1;
                    n.last_error = Some(error.clone());
                    n.given_up_at = Some(at.clone());
                }
                Attempt::Postponed { next } => n.next_attempt_at = next.clone(),
            }
            let old = s.t.put_notification(id, Some(n));
            s.log(Change::Notification(id, old.map(Box::new)));
        });
        Ok(())
    }

    fn notifications(&self, filter: &NotificationFilter, limit: usize) -> Result<Vec<Notification>> {
        Ok(self.with(|s| {
            s.t.notifications
                .values()
                .rev()
                .filter(|n| filter.target.as_ref().is_none_or(|t| &n.target == t))
                .filter(|n| filter.state.is_none_or(|st| n.state() == st))
                .take(limit)
                .cloned()
                .collect()
        }))
    }

    fn notification_counts(&self) -> Result<NotificationCounts> {
        Ok(self.with(|s| {
            let mut c = NotificationCounts::default();
            for n in s.t.notifications.values() {
                match n.state() {
                    NotificationState::Sent => c.sent += 1,
                    NotificationState::Pending => c.pending += 1,
                    NotificationState::Failed => c.failed += 1,
                }
            }
            c
        }))
    }

    /// As SQLite's, on what this store keeps (no stage history). Its unit's
    /// rollback does not undo it: a scratch store is pruned, if ever, to be
    /// kept so.
    fn record_delivery(&self, d: &NewDelivery) -> Result<Recorded> {
        Ok(self.with(|s| {
            if let Some(&id) = s.t.delivery_by_key.get(d.key) {
                return Recorded::Duplicate(id);
            }
            let id = s.t.deliveries.keys().next_back().map_or(1, |last| last + 1);
            s.t.deliveries.insert(
                id,
                DeliveryRow {
                    id,
                    source: d.source,
                    key: d.key.to_string(),
                    received_at: d.received_at.to_string(),
                    body: d.body.to_string(),
                    state: DeliveryState::Pending,
                    reason: None,
                    events: 0,
                    applied_at: None,
                },
            );
            s.t.delivery_by_key.insert(d.key.to_string(), id);
            s.log(Change::DeliveryAdded(id));
            Recorded::New(id)
        }))
    }

    fn finish_delivery(
        &self,
        id: i64,
        state: DeliveryState,
        events: i64,
        reason: Option<&str>,
        at: &str,
    ) -> Result<()> {
        self.with(|s| {
            let Some(row) = s.t.deliveries.get_mut(&id) else { return };
            let old = row.clone();
            row.state = state;
            row.events = events;
            row.reason = reason.map(str::to_string);
            row.applied_at = Some(at.to_string());
            s.log(Change::Delivery(old));
        });
        Ok(())
    }

    fn webhook_deliveries(&self, f: &DeliveryFilter) -> Result<Vec<DeliveryRow>> {
        Ok(self.with(|s| {
            let fits =
                |d: &&DeliveryRow| f.source.is_none_or(|x| d.source == x) && f.state.is_none_or(|x| d.state == x);
            let limit = if f.limit == 0 { usize::MAX } else { f.limit };
            if f.oldest_first {
                s.t.deliveries.values().filter(fits).take(limit).cloned().collect()
            } else {
                s.t.deliveries.values().rev().filter(fits).take(limit).cloned().collect()
            }
        }))
    }

    fn delivery_counts(&self) -> Result<DeliveryCounts> {
        Ok(self.with(|s| {
            let mut c = DeliveryCounts::default();
            for d in s.t.deliveries.values() {
                match d.state {
                    DeliveryState::Pending => c.pending += 1,
                    DeliveryState::Applied => c.applied += 1,
                    DeliveryState::Unmappable => c.unmappable += 1,
                }
            }
            c
        }))
    }

    fn prune(&self, before: &str, dry_run: bool) -> Result<Pruned> {
        Ok(self.with(|s| {
            let t = &mut s.t;
            let decisions = t.decisions.iter().filter(|d| d.at.as_str() < before).count() as u64;
            let rejected_lines = t.rejected.iter().filter(|r| r.rejected_at.as_str() < before).count() as u64;
            let newest = t.tasks.keys().next_back().copied();
            let old: Vec<i64> = t
                .tasks
                .iter()
                .filter(|(id, r)| {
                    Some(**id) != newest
                        && r.status().is_closed()
                        && r.task.closed_at.as_deref().is_some_and(|at| at < before)
                })
                .map(|(id, _)| *id)
                .collect();
            if !dry_run {
                t.decisions.retain(|d| d.at.as_str() >= before);
                t.rejected.retain(|r| r.rejected_at.as_str() >= before);
                t.rejected_at.clear();
                for (i, r) in t.rejected.iter().enumerate() {
                    t.rejected_at.entry((r.source.clone(), r.line)).or_default().push(i);
                }
                for &id in &old {
                    if let Some(row) = t.put_task(id, None) {
                        t.pruned_keys.insert(row.task.dedup_key, id);
                    }
                }
            }
            Pruned { decisions, stage_changes: 0, rejected_lines, tasks: old.len() as u64 }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DecisionKind, Target};

    const NOW: &str = "2026-03-01T09:00:00Z";

    fn account(id: &str, owner: &str) -> Account {
        Account { id: id.into(), owner: Some(owner.into()), created_at: NOW.into(), ..Account::default() }
    }

    fn new_task(key: &str, priority: Priority, due: &str, assignee: Option<&str>) -> NewTask {
        NewTask {
            role: "sales_rep".into(),
            assignee: assignee.map(str::to_string),
            title: key.into(),
            priority,
            due_at: due.into(),
            subject: Subject::new("deal", "D-1"),
            rule: RuleRef { file: "rules/t.rhai".into(), function: "task_x".into() },
            reason: "because".into(),
            dedup_key: key.into(),
        }
    }

    fn decision(reason: &str) -> Decision {
        Decision {
            kind: DecisionKind::BecameKey,
            subject: Subject::new("account", "A"),
            rule: None,
            reason: reason.into(),
            detail: serde_json::json!({"why": reason}),
            event_id: "e1".into(),
            at: NOW.into(),
        }
    }

    fn owner(m: &Memory, id: &str) -> Option<String> {
        m.load_account(id).unwrap().and_then(|a| a.owner)
    }

    fn loads(m: &Memory) -> Vec<(String, i64)> {
        m.open_tasks_per_assignee("sales_rep").unwrap().into_iter().map(|l| (l.who, l.open)).collect()
    }

    #[test]
    fn a_nested_unit_rolled_back_is_undone_and_the_unit_around_it_is_kept() {
        let m = Memory::new();
        m.begin_unit().unwrap();
        m.write_account(&account("A", "Ana"), NOW).unwrap();
        m.begin_nested().unwrap();
        m.write_account(&account("A", "Ben"), NOW).unwrap();
        m.write_account(&account("B", "Ben"), NOW).unwrap();
        m.create_task(&new_task("k", Priority::High, "2026-03-02", Some("Ben")), "v", "e", NOW).unwrap();
        m.record_decision(&decision("undone"), "v").unwrap();
        m.set_sweep_epoch(4).unwrap();
        m.take_turn("sales_rep", "", 3).unwrap();
        assert_eq!(owner(&m, "A").as_deref(), Some("Ben"));
        m.rollback_nested().unwrap();
        assert!(m.in_unit(), "the unit around it is still open");
        m.begin_nested().unwrap();
        m.record_decision(&decision("kept"), "v").unwrap();
        m.release_nested().unwrap();
        m.commit_unit().unwrap();

        assert!(!m.in_unit());
        assert_eq!(owner(&m, "A").as_deref(), Some("Ana"));
        assert!(m.load_account("B").unwrap().is_none());
        assert_eq!(m.counts().unwrap(), Counts { accounts: 1, deals: 0, key_accounts: 0 });
        assert_eq!(m.accounts_owned("Ben").unwrap(), 0);
        assert_eq!(m.max_task_id().unwrap(), 0);
        assert!(!m.task_key_exists("k").unwrap());
        assert!(loads(&m).is_empty(), "the load row made by the task is gone too");
        assert_eq!(m.sweep_epoch().unwrap(), 0);
        assert_eq!(m.take_turn("sales_rep", "", 3).unwrap(), 0);
        let reasons: Vec<(i64, String)> =
            m.decisions(None, None).unwrap().into_iter().map(|d| (d.seq, d.reason)).collect();
        assert_eq!(reasons, [(1, "kept".to_string())]);
        // Committed: a rollback now has nothing to undo.
        m.rollback_unit().unwrap();
        assert_eq!(owner(&m, "A").as_deref(), Some("Ana"));
    }

    /// Notes each reason (decisions) or stage (changes), and what was undone.
    #[derive(Default)]
    struct Notes(Vec<String>, Vec<u64>);

    impl Recorder for Notes {
        fn decision(&mut self, d: &Decision) -> Option<u64> {
            self.0.push(d.reason.clone());
            Some(self.0.len() as u64)
        }
        fn stage_change(&mut self, c: &StageChange) -> Option<u64> {
            self.0.push(c.to.to_string());
            Some(self.0.len() as u64)
        }
        fn undo(&mut self, token: u64) {
            self.1.push(token);
            self.0.pop();
        }
    }

    #[test]
    fn a_replay_hands_decisions_and_stage_changes_to_its_recorder_and_takes_back_those_rolled_back() {
        let notes = Arc::new(Mutex::new(Notes::default()));
        let m = Memory::for_replay_noted_by(notes.clone());
        let change = |to| StageChange { deal_id: "D", from: None, to, at: NOW, event_id: "e", rule: None, reason: "r" };
        m.record_decision(&decision("outside a unit"), "v").unwrap();
        m.begin_unit().unwrap();
        m.record_stage_change(&change("lead")).unwrap();
        m.begin_nested().unwrap();
        m.record_decision(&decision("undone"), "v").unwrap();
        m.record_stage_change(&change("qualified")).unwrap();
        m.rollback_nested().unwrap();
        m.record_decision(&decision("kept"), "v").unwrap();
        m.commit_unit().unwrap();
        m.begin_unit().unwrap();
        m.record_stage_change(&change("won")).unwrap();
        m.rollback_unit().unwrap();
        let notes = notes.lock().unwrap();
        assert_eq!(notes.0, ["outside a unit", "lead", "kept"]);
        assert_eq!(notes.1, [4, 3, 4], "the newest first");
        assert!(m.decisions(None, None).unwrap().is_empty(), "a replay keeps no decisions");
    }

    #[test]
    fn a_unit_rolled_back_undoes_every_write_and_task_ids_are_given_again() {
        let m = Memory::new();
        let first = m.create_task(&new_task("a", Priority::Low, "2026-03-02", Some("Ana")), "v", "e", NOW).unwrap();
        assert_eq!(first, Some(1));
        let data = Map::new();
        m.begin_unit().unwrap();
        m.write_account(&account("A", "Ana"), NOW).unwrap();
        m.write_contact("C", "A", "buyer", &data, NOW).unwrap();
        let deal = Deal { id: "D".into(), account_id: "A".into(), stage: "new".into(), ..Deal::default() };
        m.write_deal(&deal, true, false, NOW, false).unwrap();
        let order = OrderRow { id: "O", account_id: "A", amount: 5.0, product: None, at: NOW, data: &data };
        m.write_order(&order).unwrap();
        let activity = ActivityRow {
            id: Some("X"),
            account_id: Some("A"),
            deal_id: Some("D"),
            contact_id: Some("C"),
            kind: Some("call"),
            at: NOW.into(),
            data: &data,
        };
        assert!(m.write_activity(&activity).unwrap());
        m.write_target("A", "p", "2026", 10.0, NOW).unwrap();
        m.record_rejected("f", 1, "bad", "{", NOW).unwrap();
        m.record_rules_version("v", "[]", NOW).unwrap();
        m.set_meta("k", "v").unwrap();
        let e = crate::event::parse_line(
            r#"{"id":"e1","type":"account.upserted","at":"2026-03-01T09:00:00Z","data":{"id":"A","name":"A"}}"#,
            chrono::Utc::now(),
        )
        .unwrap();
        m.record_applied(&e, "f", 2, "v", NOW).unwrap();
        assert_eq!(m.create_task(&new_task("b", Priority::Low, "2026-03-02", None), "v", "e", NOW).unwrap(), Some(2));
        m.claim_up_to("sales_rep", "Ben", NOW, None, 5).unwrap();
        m.close_task(1, TaskStatus::Done, None, None, NOW).unwrap();
        m.rollback_unit().unwrap();

        assert_eq!(m.counts().unwrap(), Counts::default());
        assert!(m.contact_role("C").unwrap().is_none());
        assert_eq!(m.ledger_rows("A", "").unwrap(), LedgerRows::default());
        assert_eq!(m.deal_activity_rows("D", None).unwrap(), DealActivityRows::default());
        assert!(m.rejected().unwrap().is_empty());
        assert!(m.current_rules_version().unwrap().is_none());
        assert!(m.meta("k").unwrap().is_none());
        assert_eq!(m.event_count().unwrap(), 0);
        assert!(!m.is_applied("e1").unwrap());
        let task = m.task(1).unwrap().unwrap();
        assert_eq!((task.status, task.assignee.as_deref(), task.claimed_by), (TaskStatus::Open, Some("Ana"), None));
        assert_eq!(loads(&m), [("Ana".to_string(), 1)]);
        assert_eq!(m.create_task(&new_task("c", Priority::Low, "2026-03-02", None), "v", "e", NOW).unwrap(), Some(2));
    }

    #[test]
    fn units_answer_as_sqlite_does() {
        let m = Memory::new();
        assert!(m.commit_unit().unwrap_err().to_string().contains("no transaction is active"));
        m.rollback_unit().unwrap();
        m.begin_unit().unwrap();
        assert!(m.begin_unit().unwrap_err().to_string().contains("within a transaction"));
        m.commit_unit().unwrap();
        assert!(m.release_nested().is_err());
        // A nested unit outside a unit is a unit of its own, ended with it.
        m.begin_nested().unwrap();
        assert!(m.in_unit());
        m.write_account(&account("A", "Ana"), NOW).unwrap();
        m.rollback_nested().unwrap();
        assert!(!m.in_unit());
        assert!(m.load_account("A").unwrap().is_none());
        m.begin_nested().unwrap();
        m.write_account(&account("A", "Ana"), NOW).unwrap();
        m.release_nested().unwrap();
        assert!(!m.in_unit());
        m.rollback_unit().unwrap();
        assert_eq!(owner(&m, "A").as_deref(), Some("Ana"));
    }

    #[test]
    fn a_lapsed_claim_goes_back_where_it_was_and_closing_says_why_not() {
        let m = Memory::new();
        let at = |hm: &str| format!("2026-11-02T{hm}:00Z");
        let queue =
            m.create_task(&new_task("q", Priority::Urgent, "2026-11-03", None), "v", "e", "t").unwrap().unwrap();
        let own =
            m.create_task(&new_task("o", Priority::Normal, "2026-11-03", Some("Ana")), "v", "e", "t").unwrap().unwrap();
        let claimed: Vec<i64> =
            m.claim_up_to("sales_rep", "Ana", &at("10:00"), None, 0).unwrap().iter().map(|t| t.id).collect();
        assert_eq!(claimed, [queue], "at least one is claimed");
        assert_eq!(m.claim_up_to("sales_rep", "Ana", &at("10:00"), None, 1).unwrap()[0].id, own);
        assert!(m.claim_up_to("sales_rep", "Ben", &at("10:20"), Some(&at("09:50")), 1).unwrap().is_empty());

        let taken = m.claim_up_to("sales_rep", "Ben", &at("11:00"), Some(&at("10:30")), 1).unwrap();
        assert_eq!((taken[0].id, taken[0].released_from.as_deref()), (queue, Some("Ana")));
        let back = m.task(own).unwrap().unwrap();
        assert_eq!((back.status, back.assignee.as_deref(), back.claimed_by), (TaskStatus::Open, Some("Ana"), None));
        assert_eq!(loads(&m), [("Ana".to_string(), 1), ("Ben".to_string(), 1)]);

        let held = m.close_task_as(queue, TaskStatus::Done, Some("Ana"), None, &at("11:05")).unwrap().unwrap_err();
        assert_eq!(held.claimed_by.as_deref(), Some("Ben"));
        let done = m.close_task_as(own, TaskStatus::Done, Some("Ana"), Some("called"), &at("11:05")).unwrap().unwrap();
        assert_eq!((done.status, done.outcome.as_deref()), (TaskStatus::Done, Some("called")));
        let err = m.close_task(own, TaskStatus::Cancelled, None, None, NOW).unwrap_err().to_string();
        assert_eq!(err, format!("task {own} is already done"));
        assert_eq!(m.close_task(99, TaskStatus::Done, None, None, NOW).unwrap_err().to_string(), "no task 99");
        m.close_task(queue, TaskStatus::Done, None, None, NOW).unwrap();
        assert_eq!(loads(&m), [("Ana".to_string(), 0), ("Ben".to_string(), 0)], "rows down to none stay, as in SQLite");
        assert!(m.open_tasks_by_role().unwrap().is_empty());
    }

    #[test]
    fn generations_follow_the_fields_sqlite_follows() {
        let m = Memory::new();
        let data = Map::new();
        let mut a = account("A", "Ana");
        a.is_key = true;
        a.key_since = Some("2026-01-01T00:00:00Z".into());
        m.write_account(&a, NOW).unwrap();
        m.set_sweep_epoch(2).unwrap();
        a.owner = Some("Ben".into());
        m.write_account(&a, NOW).unwrap();
        let quiet = m.quiet_key_accounts("2026-02-01T00:00:00Z").unwrap();
        assert_eq!(
            (quiet[0].epoch, quiet[0].quiet_since.as_str()),
            (0, "2026-01-01T00:00:00Z"),
            "a new owner is not a contact"
        );
        assert!(m.write_last_contact("A", "2026-01-15T00:00:00Z").unwrap());
        assert!(!m.write_last_contact("A", "2026-01-10T00:00:00Z").unwrap(), "an earlier contact changes nothing");
        assert_eq!(m.quiet_key_accounts("2026-02-01T00:00:00Z").unwrap()[0].epoch, 2);

        let order = OrderRow {
            id: "O",
            account_id: "A",
            amount: 5.0,
            product: Some("p"),
            at: "2026-01-05T00:00:00Z",
            data: &data,
        };
        assert_eq!(m.write_order(&order).unwrap(), OrderWrite::Inserted);
        m.set_sweep_epoch(3).unwrap();
        let again = OrderRow { amount: 7.0, at: "2026-02-05T00:00:00Z", ..order.clone() };
        assert_eq!(m.write_order(&again).unwrap(), OrderWrite::Updated { was_account: Some("A".into()) });
        assert_eq!(
            m.ledger_rows("A", "").unwrap().orders,
            [("2026-01-05T00:00:00Z".to_string(), 7.0)],
            "it keeps its time"
        );
        let review = |epochs| m.accounts_to_review(None, "2026-01-31T00:00:00Z", None, "2026-01-31", epochs).unwrap();
        assert_eq!(review((1, 2)), ["A"], "its generation stays with its account");
        assert!(review((2, 3)).is_empty());

        m.write_target("A", "p", "2026", 100.0, NOW).unwrap();
        m.set_sweep_epoch(5).unwrap();
        m.write_target("A", "p", "2026", 120.0, NOW).unwrap();
        let targets = m.all_targets().unwrap();
        assert_eq!((targets[0].amount, targets[0].epoch), (120.0, 3));
        assert_eq!(
            m.ledger_rows("A", "").unwrap().targets,
            [Target { product: "p".into(), period: "2026".into(), amount: 120.0 }]
        );
    }
}
