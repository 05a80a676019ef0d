//! The storage interface: what the engine needs of a database, in the
//! engine's terms. A backend loads and saves; what the stored rows mean
//! (an account's twelve-month revenue, a deal's activities added up, which
//! rows are still good in memory) is worked out above it, in the working set
//! ([`super::Store`]), the same for every backend.
//!
//! No SQL, no SQLite type and no Rhai type crosses this trait. Three backends
//! implement it: `sqlite::Sqlite` (the default: one WAL file),
//! [`super::memory::Memory`] (scratch stores: `simulate`, `dealflow test`,
//! the bench's replay, tests) and `postgres::Postgres` (a shared server; not
//! selectable from the command line yet). All pass one test suite
//! (`super::suite`; PostgreSQL's with `DEALFLOW_TEST_PG` set).
//!
//! Times cross as the engine's UTC stamps (`2026-01-31T09:00:00Z`, see
//! [`crate::time::stamp`]): they compare as text exactly as they compare as
//! times, which is what both backends' range questions rely on.
//!
//! # Units of work
//!
//! Writes happen inside a unit of work, begun with [`Backend::begin_unit`] and
//! ended by [`Backend::commit_unit`] or [`Backend::rollback_unit`]; inside it,
//! [`Backend::begin_nested`] opens a nested unit (one event's own undo), ended by
//! [`Backend::release_nested`] or [`Backend::rollback_nested`]. The engine never
//! calls these: it holds a [`super::Unit`] or [`super::Nested`] value, which
//! commits only when asked and rolls back when dropped. Claims and task
//! closes outside a unit are their own unit.
//!
//! A backend may hold some writes until the unit ends (SQLite gathers the
//! logs' rows and writes them many to a statement), as long as its reads
//! see them: so `commit_unit` and `release_nested` can fail on a write, and
//! the caller then undoes that unit (or nested unit) whole.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::Result;
use crate::event::Event;
use crate::model::{Account, Contract, Deal, Decision, Lead, NewTask, RuleRef, StageChange, Subject, Target, Task};
pub use crate::store::deliveries::{
    DeliveryCounts, DeliveryFilter, DeliveryRow, DeliveryState, NewDelivery, Recorded, WebhookSource,
};
use crate::store::outbox::{
    Attempt, Marks, NewNotification, Notification, NotificationCounts, NotificationFilter, RejectedSince,
};

/// The engine lease (PostgreSQL): who holds it, since when, until when.
#[derive(Debug, Clone, Serialize)]
pub struct LeaseRow {
    /// Grows by one at each takeover; 0 before anyone took it.
    pub epoch: i64,
    /// `"watch on HOST pid N"`.
    pub holder: Option<String>,
    pub host: Option<String>,
    pub pid: Option<i64>,
    pub command: Option<String>,
    pub taken_at: Option<String>,
    pub renewed_at: Option<String>,
    pub expires_at: Option<String>,
    /// When its holder let it go (a clean stop); `None` while held.
    pub released_at: Option<String>,
    /// Held now (taken and not released; it may have expired).
    pub held: bool,
    /// Past its expiry (by the server's clock).
    pub expired: bool,
    /// Seconds to its expiry by the server's clock (negative: expired).
    pub expires_in_seconds: Option<f64>,
    /// The holder's connections (ended by a standby when it stalls).
    #[serde(skip)]
    pub backend_pids: Vec<i32>,
}

/// A process that applies or watches (PostgreSQL), as it last said.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessRow {
    #[serde(skip)]
    pub key: String,
    pub host: String,
    pub pid: i64,
    pub command: String,
    /// `leader` (holds the lease) or `standby` (waits for it).
    pub role: String,
    /// The rules version in force in it.
    pub rules_version: Option<String>,
    pub started_at: Option<String>,
    pub last_seen: Option<String>,
    pub seconds_since_seen: Option<f64>,
}

/// The most claims one unit of work takes (`claim_up_to`): more would hold other workers off for longer.
pub const MAX_CLAIM_BATCH: usize = 100;

/// A task's state in its queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    Open,
    Claimed,
    Done,
    Cancelled,
}

impl TaskStatus {
    pub const ALL: [TaskStatus; 4] = [TaskStatus::Open, TaskStatus::Claimed, TaskStatus::Done, TaskStatus::Cancelled];

    pub fn name(self) -> &'static str {
        match self {
            TaskStatus::Open => "open",
            TaskStatus::Claimed => "claimed",
            TaskStatus::Done => "done",
            TaskStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<TaskStatus> {
        TaskStatus::ALL.into_iter().find(|t| t.name() == s)
    }

    /// Done or cancelled: nobody works on it any more.
    pub fn is_closed(self) -> bool {
        matches!(self, TaskStatus::Done | TaskStatus::Cancelled)
    }
}

impl std::fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Which tasks to list.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub role: Option<String>,
    pub assignee: Option<String>,
    pub status: Option<TaskStatus>,
    pub subject: Option<Subject>,
}

/// A contact's decision role and account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactRole {
    pub role: String,
    pub account_id: String,
}

/// What a write replaced, for the working set to follow (the account a deal
/// or contact was in before, whether the deal was won).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DealBefore {
    pub account_id: String,
    pub was_won: bool,
}

/// What saving an order did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderWrite {
    /// A new order.
    Inserted,
    /// An order sent again (it keeps its time); it was in this account before.
    Updated { was_account: Option<String> },
}

/// One activity, as `activity.logged` records it.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityRow<'a> {
    pub id: Option<&'a str>,
    pub account_id: Option<&'a str>,
    pub deal_id: Option<&'a str>,
    pub contact_id: Option<&'a str>,
    pub kind: Option<&'a str>,
    pub at: String,
    pub data: &'a Map<String, Value>,
}

/// One order.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderRow<'a> {
    pub id: &'a str,
    pub account_id: &'a str,
    pub amount: f64,
    pub product: Option<&'a str>,
    pub at: &'a str,
    pub data: &'a Map<String, Value>,
}

/// A deal as the account's ledger needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerDeal {
    pub id: String,
    pub is_open: bool,
    pub is_won: bool,
    pub closed_at: Option<String>,
    pub amount: f64,
}

/// The rows an account's ledger is made of: its orders after a time (in any
/// order: the ledger sorts them), its open and won deals, the roles of its
/// contacts (one entry per contact), its contracts and targets.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LedgerRows {
    /// `(at, amount)`.
    pub orders: Vec<(String, f64)>,
    pub deals: Vec<LedgerDeal>,
    pub contact_roles: Vec<String>,
    pub contracts: Vec<Contract>,
    pub targets: Vec<Target>,
}

/// The rows a deal's activity facts are made of.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DealActivityRows {
    /// Activities per kind, by kind.
    pub per_kind: Vec<(String, i64)>,
    /// Each contact named by the deal's activities, once, with its role and
    /// account if the contact is known.
    pub contacts: Vec<(String, Option<ContactRole>)>,
    pub last_activity: Option<String>,
}

/// An open deal in a stage, for the clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DealInStage {
    pub deal_id: String,
    pub account_id: String,
    pub entered_at: String,
    /// The sweep generation its stage was last set in.
    pub epoch: i64,
}

/// A key account gone quiet, for the clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuietAccount {
    pub account_id: String,
    /// The last contact, else the day it became key.
    pub quiet_since: String,
    /// `""` when unknown.
    pub key_since: String,
    pub epoch: i64,
}

/// A contract inside its notice window, for the clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractEnding {
    pub contract_id: String,
    pub account_id: String,
    pub end: String,
    pub epoch: i64,
}

/// How many open tasks someone holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Load {
    pub who: String,
    pub open: i64,
}

/// Open tasks of one role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoleCount {
    pub role: String,
    pub open: i64,
}

/// Who holds open tasks of which role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub role: String,
    pub assignee: String,
}

/// What `status` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Counts {
    pub accounts: i64,
    pub deals: i64,
    pub key_accounts: i64,
}

/// The answer to closing a task as someone: closed, or the task as it is
/// (already closed, or claimed by someone else).
pub type CloseAs = std::result::Result<Task, Task>;

/// A rules version's files: `(path, text)`.
pub type VersionFiles = Vec<(String, String)>;

/// A revenue target, with the sweep generation it was first set in.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetRow {
    pub account_id: String,
    pub product: String,
    pub period: String,
    pub amount: f64,
    pub epoch: i64,
}

/// A hand-over asked for and not done yet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WaitingHandover {
    pub account_id: String,
    /// The role the account waits for.
    pub role: String,
    pub reason: String,
    pub rule: RuleRef,
    /// Close the previous owner's open tasks about the account when it is done.
    pub close_open_tasks: bool,
    /// Business time it was asked for.
    pub since: String,
    pub event_id: String,
}

/// A rule of one rules version that failed on its last `failures` events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleHealth {
    pub rules_version: String,
    pub rule: String,
    pub file: String,
    pub line: i64,
    /// Events in a row the rule failed on.
    pub failures: i64,
    /// Where and why it last failed (`FILE:LINE:COL: message`).
    pub last_error: String,
    pub last_event: String,
    /// When it was quarantined (business time of the event), `None` while it still runs.
    pub quarantined_at: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RejectedRow {
    pub source: String,
    pub line: i64,
    pub reason: String,
    pub raw: String,
    pub rejected_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct DecisionRow {
    pub seq: i64,
    pub kind: String,
    pub subject_kind: String,
    pub subject_id: String,
    pub rule: Option<String>,
    pub reason: String,
    pub detail: serde_json::Value,
    pub rules_version: String,
    pub event_id: String,
    pub at: String,
}

/// An event applied before under the id of one being applied now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedBefore {
    /// It had the same content (see `event_content`): the new one is a duplicate.
    pub same: bool,
    /// The file and line it came from.
    pub source: String,
    pub line: usize,
}

/// An access token for the web page and the HTTP API (`dealflow token`).
/// The store keeps its SHA-256, never the token itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenRow {
    /// The public handle (`tok_…`): what `token list` shows and `token revoke` takes.
    pub id: String,
    /// The team member it acts as (their key: id, else name).
    pub person: String,
    pub label: Option<String>,
    pub created_at: String,
    /// Updated at most once a minute.
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// A signed-in browser: the cookie's SHA-256 is the key; the token it signed
/// in with (revoking it ends the session) and the form token that guards
/// its forms against cross-site requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub person: String,
    pub token_id: String,
    pub csrf: String,
    pub expires_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredVersion {
    pub version: String,
    pub loaded_at: String,
}

/// An applied event, for timelines.
#[derive(Debug, Clone, Serialize)]
pub struct EventRow {
    pub seq: i64,
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub at: String,
    pub source: String,
    pub line: i64,
    pub rules_version: String,
    pub data: serde_json::Value,
}

/// What a database must do for dealflow. See the module documentation.
pub trait Backend: Send {
    // ---- identity and health ----

    /// What it is, for messages and `status`: `sqlite`, `memory` or `postgres`.
    fn kind(&self) -> &'static str;
    /// Where it is (the file for SQLite; `postgres://USER@HOST:PORT/DB`,
    /// without a password, for PostgreSQL; a name for others).
    fn location(&self) -> &std::path::Path;
    /// An error about this store that the database did not raise.
    fn fault(&self, message: String) -> crate::error::Error;
    /// A number that changes when another process commits (`None`: nobody else can).
    fn change_token(&self) -> Result<Option<i64>>;
    /// Whether a unit of work is open.
    fn in_unit(&self) -> bool;
    /// Rows written, updated or deleted since it was opened.
    fn total_changes(&self) -> u64;
    /// A full check of what is stored: `"ok"` when sound.
    fn integrity_check(&self) -> Result<String>;
    /// A cheap check, between events, that the store is still the one opened
    /// (SQLite: the file's header and length).
    fn check_file(&self) -> Result<()>;
    /// A quick check before writing into a store another process may have damaged.
    fn verify(&self) -> Result<()>;

    // ---- units of work ----

    // Called by the working set's `Unit` and `Nested` only (the names say so,
    // as the working set derefs to the backend).

    fn begin_unit(&self) -> Result<()>;

    // ---- the engine lease (PostgreSQL; see `postgres::lease`) ----

    /// Whether this backend has an engine lease. SQLite does not: one
    /// machine, and its writers already take turns (`BEGIN IMMEDIATE`).
    fn uses_lease(&self) -> bool {
        false
    }

    /// Fence this connection's units with the lease epoch `epoch`: each checks
    /// it first and fails with `Error::LeaseLost` when another process took
    /// over. `lease` is the lease's length. Not used by SQLite and memory.
    fn set_fence(&self, _epoch: Option<i64>, _lease: std::time::Duration) -> Result<()> {
        Ok(())
    }

    /// The server's id for this connection (PostgreSQL's `pg_backend_pid()`).
    fn connection_id(&self) -> Option<i32> {
        None
    }

    /// The engine lease as recorded; `None`: not used by this backend.
    fn engine_lease(&self) -> Result<Option<LeaseRow>> {
        Ok(None)
    }

    /// The processes that apply or watch, as they last said (none when not used).
    fn engine_processes(&self) -> Result<Vec<ProcessRow>> {
        Ok(Vec::new())
    }
    fn commit_unit(&self) -> Result<()>;
    fn rollback_unit(&self) -> Result<()>;
    fn begin_nested(&self) -> Result<()>;
    fn release_nested(&self) -> Result<()>;
    fn rollback_nested(&self) -> Result<()>;

    // ---- accounts, contacts, leads, deals ----

    fn load_account(&self, id: &str) -> Result<Option<Account>>;
    /// Insert or update (an update keeps `created_at`).
    fn write_account(&self, a: &Account, now: &str) -> Result<()>;
    /// Note contact at `at` unless a later one is known; whether it changed.
    fn write_last_contact(&self, id: &str, at: &str) -> Result<bool>;
    fn accounts_owned(&self, owner: &str) -> Result<i64>;
    /// Accounts whose parent is `id`, by id.
    fn child_accounts(&self, id: &str) -> Result<Vec<String>>;
    /// Every account (only key accounts with `only_key`), by id.
    fn accounts(&self, only_key: bool) -> Result<Vec<Account>>;
    fn counts(&self) -> Result<Counts>;

    /// Insert or update a contact; returns its account and role before, if it was known.
    fn write_contact(
        &self,
        id: &str,
        account_id: &str,
        role: &str,
        data: &Map<String, Value>,
        now: &str,
    ) -> Result<Option<ContactRole>>;
    fn contact_role(&self, id: &str) -> Result<Option<ContactRole>>;
    fn contact(&self, id: &str) -> Result<Option<Map<String, Value>>>;

    fn lead(&self, id: &str) -> Result<Option<Lead>>;
    fn save_lead(&self, lead: &Lead) -> Result<()>;

    fn load_deal(&self, id: &str) -> Result<Option<Deal>>;
    /// Insert or update a deal (an update keeps `created_at`); with `want_before`,
    /// returns the account it was in and whether it was won.
    fn write_deal(
        &self,
        d: &Deal,
        is_open: bool,
        is_won: bool,
        now: &str,
        want_before: bool,
    ) -> Result<Option<DealBefore>>;
    /// Open deals of an account, oldest first (by `created_at`, then id).
    fn open_deal_ids(&self, account_id: &str) -> Result<Vec<String>>;
    /// Deals, by id, in a stage and/or of an account.
    fn deals(&self, stage: Option<&str>, account: Option<&str>) -> Result<Vec<Deal>>;
    fn record_stage_change(&self, c: &StageChange) -> Result<()>;

    /// Store an activity; `true` when it is new (an activity sent again updates the one stored).
    fn write_activity(&self, a: &ActivityRow) -> Result<bool>;
    fn write_order(&self, o: &OrderRow) -> Result<OrderWrite>;
    /// Insert or update a contract; with `want_before`, the account it was in before.
    fn write_contract(
        &self,
        account_id: &str,
        c: &Contract,
        data: &Map<String, Value>,
        recorded_at: &str,
        want_before: bool,
    ) -> Result<Option<String>>;
    fn write_target(&self, account_id: &str, product: &str, period: &str, amount: f64, at: &str) -> Result<()>;

    /// What an account's ledger is made of, with orders after `floor` (`""`: all);
    /// won deals of any time (the ledger leaves out those closed before `floor`).
    fn ledger_rows(&self, account_id: &str, floor: &str) -> Result<LedgerRows>;
    /// What a deal's activity facts are made of: its activities at or after
    /// `since` (the start of the deal's current life; `None`: all of them).
    fn deal_activity_rows(&self, deal_id: &str, since: Option<&str>) -> Result<DealActivityRows>;
    /// Revenue from one product of an account in `[from, to]` (orders and won deals with that `product`).
    fn product_revenue(&self, account: &str, product: &str, from: &str, to: &str) -> Result<f64>;

    // ---- the event log, decisions, rules versions, rule health ----

    fn is_applied(&self, event_id: &str) -> Result<bool>;
    fn record_applied(&self, e: &Event, source: &str, line: usize, rules_version: &str, now: &str) -> Result<()>;
    fn applied_before(&self, e: &Event) -> Result<Option<AppliedBefore>>;
    /// A hint, nothing more: [`Backend::applied_before`] is about to be asked
    /// about these event ids in the open unit. A backend whose every read is
    /// a round trip (PostgreSQL) looks them all up in one; its answers stay
    /// the same. The others do nothing.
    fn expect_events(&self, _ids: &[&str]) -> Result<()> {
        Ok(())
    }
    /// The applied events in the order they were applied, as stored JSON,
    /// `limit` at a time after position `after` (0: from the start); each with its position.
    fn event_history_page(&self, after: i64, limit: usize) -> Result<Vec<(i64, String)>>;
    /// How many events are applied.
    fn event_count(&self) -> Result<i64>;
    fn events_about(&self, kind: &str, id: &str) -> Result<Vec<EventRow>>;
    fn latest_event_at(&self) -> Result<Option<String>>;
    /// The business time of the event applied last (not the latest time: events may come out of order).
    fn last_applied_at(&self) -> Result<Option<String>>;
    fn record_rejected(&self, source: &str, line: usize, reason: &str, raw: &str, now: &str) -> Result<()>;
    fn rejected(&self) -> Result<Vec<RejectedRow>>;
    fn record_decision(&self, d: &Decision, rules_version: &str) -> Result<()>;
    fn decisions(&self, kind: Option<&str>, subject: Option<(&str, &str)>) -> Result<Vec<DecisionRow>>;
    fn record_rules_version(&self, version: &str, files_json: &str, loaded_at: &str) -> Result<()>;
    fn current_rules_version(&self) -> Result<Option<StoredVersion>>;
    fn rules_version_files(&self, version: &str) -> Result<Option<VersionFiles>>;
    fn record_rule_health(&self, h: &RuleHealth) -> Result<()>;
    fn clear_rule_health(&self, rules_version: &str, rule: &str) -> Result<()>;
    fn rule_health(&self, rules_version: &str) -> Result<Vec<RuleHealth>>;

    // ---- the clock's questions and state ----

    fn meta(&self, key: &str) -> Result<Option<String>>;
    fn set_meta(&self, key: &str, value: &str) -> Result<()>;
    /// The sweep generation facts set now are in (0 at first).
    fn sweep_epoch(&self) -> Result<i64>;
    fn set_sweep_epoch(&self, epoch: i64) -> Result<()>;
    fn max_task_id(&self) -> Result<i64>;
    /// Open deals in `stage` that entered it at or before `entered_by`.
    fn deals_in_stage_since(&self, stage: &str, entered_by: &str) -> Result<Vec<DealInStage>>;
    /// See the SQLite backend's documentation of the same method.
    fn accounts_to_review(
        &self,
        left_after: Option<&str>,
        left_by: &str,
        last_day: Option<&str>,
        today: &str,
        epochs: (i64, i64),
    ) -> Result<Vec<String>>;
    /// Key accounts whose last contact (else the day they became key) is at or before `by`.
    fn quiet_key_accounts(&self, by: &str) -> Result<Vec<QuietAccount>>;
    /// Contracts with `today <= end <= until`, by end, then id.
    fn contracts_ending(&self, until: &str, today: &str) -> Result<Vec<ContractEnding>>;
    /// Open or claimed tasks with ids in `(ids.0, ids.1]`, due in `[from, before)`, by id.
    fn tasks_due_between(&self, from: Option<&str>, before: &str, ids: (i64, i64)) -> Result<Vec<i64>>;
    /// Every target, by account, then product.
    fn all_targets(&self) -> Result<Vec<TargetRow>>;

    // ---- assignment ----

    /// Open and claimed tasks of a role per assignee (someone once holding some may be listed at 0).
    fn open_tasks_per_assignee(&self, role: &str) -> Result<Vec<Load>>;
    /// Take the next round-robin turn of `role` in `region` among `n` people: the index.
    fn take_turn(&self, role: &str, region: &str, n: usize) -> Result<usize>;
    fn open_task_holders(&self) -> Result<Vec<Holder>>;
    /// Open tasks of `role` assigned to `assignee`, by id.
    fn open_tasks_of(&self, role: &str, assignee: &str) -> Result<Vec<i64>>;
    fn reassign_task(&self, id: i64, assignee: Option<&str>) -> Result<()>;
    /// Move an open task's due date (a task kept for someone away is due when they are back).
    fn set_task_due(&self, id: i64, due_at: &str) -> Result<()>;
    /// Up to `limit` open tasks of `role` assigned to nobody, most urgent first, by id.
    fn queued_tasks(&self, role: &str, limit: usize) -> Result<Vec<i64>>;
    fn save_waiting_handover(&self, w: &WaitingHandover) -> Result<()>;
    fn drop_waiting_handover(&self, account_id: &str) -> Result<()>;
    /// Give `role`'s open unassigned tasks about `subject` to `assignee`; how many.
    fn assign_queued_tasks_about(&self, subject: &Subject, role: &str, assignee: &str) -> Result<usize>;
    fn waiting_handovers(&self) -> Result<Vec<WaitingHandover>>;

    // ---- the task queues ----

    /// Store a task unless one with the same dedup key exists: its id when created.
    fn create_task(&self, t: &NewTask, rules_version: &str, event_id: &str, created_at: &str) -> Result<Option<i64>>;
    fn task_key_exists(&self, dedup_key: &str) -> Result<bool>;
    fn task(&self, id: i64) -> Result<Option<Task>>;
    /// Tasks, most urgent first.
    fn tasks(&self, f: &TaskFilter) -> Result<Vec<Task>>;
    /// Claim up to `n` (at most [`super::MAX_CLAIM_BATCH`]) of the most urgent open
    /// tasks of `role` assigned to `who` or nobody, after releasing claims
    /// taken before `lapsed_before`: one unit of work.
    fn claim_up_to(&self, role: &str, who: &str, now: &str, lapsed_before: Option<&str>, n: usize)
    -> Result<Vec<Task>>;
    /// Wait, at most `timeout`, for tasks to be made or freed that a claim may
    /// take. `true`: something may have come (claim again); `false`: the
    /// time ran out. A backend that cannot be told (SQLite, memory) looks
    /// again after a short nap, up to `timeout`, and returns `false`.
    fn wait_for_tasks(&self, timeout: std::time::Duration) -> Result<bool> {
        std::thread::sleep(timeout.min(std::time::Duration::from_millis(200)));
        Ok(false)
    }
    /// Claims taken before `lapsed_before` go back where they were; how many.
    fn release_lapsed_claims(&self, lapsed_before: &str, now: &str) -> Result<usize>;
    /// Close a task (done or cancelled) from an event.
    fn close_task(
        &self,
        id: i64,
        status: TaskStatus,
        by: Option<&str>,
        outcome: Option<&str>,
        now: &str,
    ) -> Result<Task>;
    /// Close a task as `who` (`None`: anyone), only if open or claimed by them.
    fn close_task_as(
        &self,
        id: i64,
        status: TaskStatus,
        who: Option<&str>,
        outcome: Option<&str>,
        now: &str,
    ) -> Result<CloseAs>;
    /// Cancel the open (unclaimed) tasks about `subject` (of `assignee`, if given); how many.
    fn cancel_open_tasks_about(
        &self,
        subject: &Subject,
        assignee: Option<&str>,
        outcome: &str,
        now: &str,
    ) -> Result<usize>;
    /// Open tasks per role, by role.
    fn open_tasks_by_role(&self) -> Result<Vec<RoleCount>>;

    // ---- notifications out (see `crate::notify`) ----

    /// The highest task id, decision and rejected line stored (0 when none).
    fn notify_marks(&self) -> Result<Marks>;
    /// Tasks with ids above `after`, by id, at most `limit`.
    fn tasks_after(&self, after: i64, limit: usize) -> Result<Vec<Task>>;
    /// Decisions of `kind` after position `after`, by position, at most `limit`.
    fn decisions_after(&self, after: i64, kind: &str, limit: usize) -> Result<Vec<DecisionRow>>;
    /// Rejected lines after position `after`, by position, at most `limit`.
    fn rejected_after(&self, after: i64, limit: usize) -> Result<Vec<RejectedSince>>;
    /// Enqueue a notification unless one with its target and key exists: whether it was new.
    fn enqueue_notification(&self, n: &NewNotification) -> Result<bool>;
    /// Take up to `limit` notifications due at `now` (not sent, not given up,
    /// `next_attempt_at <= now`), the longest due first, and hold them until `until`
    /// (their `next_attempt_at`): another sender passes them by until then.
    /// One unit of work; on PostgreSQL rows another sender is taking are skipped. By id.
    fn claim_notifications(&self, now: &str, until: &str, limit: usize) -> Result<Vec<Notification>>;
    /// Record how an attempt to send notification `id` ended.
    fn finish_notification(&self, id: i64, attempt: &Attempt) -> Result<()>;
    /// Notifications, newest first, at most `limit`.
    fn notifications(&self, filter: &NotificationFilter, limit: usize) -> Result<Vec<Notification>>;
    fn notification_counts(&self) -> Result<NotificationCounts>;

    // ---- pruning ----

    /// Remove (with `dry_run`, only count) what is older than `before` (a
    /// UTC stamp): decisions and stage changes whose business time is before
    /// it, rejected lines recorded before it, and finished (done or
    /// cancelled) tasks closed before it, except the task with the highest id
    /// (a new task's id is the highest plus one, so ids are never given
    /// twice). A pruned task's dedup key is kept (with its id): the same task
    /// is never made again, by a replayed event or the next tick
    /// ([`Backend::task_key_exists`] and [`Backend::create_task`] see it).
    /// Events are never pruned: their ids make applying idempotent, and
    /// `simulate` replays them. Called in a unit of work ([`super::Store::prune`]).
    fn prune(&self, before: &str, dry_run: bool) -> Result<Pruned>;

    // Access (the web page and the HTTP API). Outside units of work.

    /// Every time a rules version was put in force, oldest first.
    fn rules_loads(&self) -> Result<Vec<StoredVersion>>;
    /// Keep a new token under `hash` (the SHA-256 of its text, hex).
    fn create_token(&self, t: &TokenRow, hash: &str) -> Result<()>;
    /// Every token, revoked ones too, in the order they were made.
    fn tokens(&self) -> Result<Vec<TokenRow>>;
    /// The token whose text hashes to `hash`, revoked or not.
    fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRow>>;
    /// Revoke a token (and so its sessions); false when there is no live token `id`.
    fn revoke_token(&self, id: &str, now: &str) -> Result<bool>;
    fn touch_token(&self, id: &str, now: &str) -> Result<()>;
    fn create_session(&self, hash: &str, s: &SessionRow, now: &str) -> Result<()>;
    /// The live session under `hash`: not expired at `now`, its token not revoked.
    fn session(&self, hash: &str, now: &str) -> Result<Option<SessionRow>>;
    fn end_session(&self, hash: &str) -> Result<()>;

    // ---- webhook deliveries (see `crate::webhooks`) ----

    /// Store a delivery unless one with its key is stored: written at once
    /// (its own unit outside one), so it is durable when this returns.
    fn record_delivery(&self, d: &NewDelivery) -> Result<Recorded>;
    /// End a pending delivery: `applied` or `unmappable`, with the events it
    /// made, why (when unmappable), and when.
    fn finish_delivery(&self, id: i64, state: DeliveryState, events: i64, reason: Option<&str>, at: &str)
    -> Result<()>;
    /// Deliveries, by id (see [`DeliveryFilter`]).
    fn webhook_deliveries(&self, f: &DeliveryFilter) -> Result<Vec<DeliveryRow>>;
    fn delivery_counts(&self) -> Result<DeliveryCounts>;
}

/// What [`Backend::prune`] removed (or would remove), by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Pruned {
    pub decisions: u64,
    pub stage_changes: u64,
    pub rejected_lines: u64,
    pub tasks: u64,
}
