//! The SQLite store as a [`Backend`]: each method is the one of the same
//! name on [`Sqlite`], whose SQL lives in the files beside this one.

use std::path::Path;

use serde_json::{Map, Value};

use super::Sqlite;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::model::{Account, Contract, Deal, Decision, Lead, NewTask, StageChange, Subject, Task};
use crate::store::backend::*;
use crate::store::outbox::{
    Attempt, Marks, NewNotification, Notification, NotificationCounts, NotificationFilter, RejectedSince,
};

/// `fn name(&self, args) -> R;` for each, calling `Sqlite::name(self, args)`.
macro_rules! delegate {
    ($(fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)*) => {
        $(fn $name(&self $(, $arg: $ty)*) -> $ret { Sqlite::$name(self $(, $arg)*) })*
    };
}

impl Backend for Sqlite {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    fn location(&self) -> &Path {
        self.path()
    }

    fn change_token(&self) -> Result<Option<i64>> {
        self.data_version().map(Some)
    }

    fn begin_unit(&self) -> Result<()> {
        self.begin()
    }

    fn commit_unit(&self) -> Result<()> {
        self.commit()
    }

    fn rollback_unit(&self) -> Result<()> {
        self.rollback()
    }

    fn begin_nested(&self) -> Result<()> {
        self.savepoint()
    }

    fn release_nested(&self) -> Result<()> {
        self.release()
    }

    fn rollback_nested(&self) -> Result<()> {
        self.rollback_savepoint()
    }

    fn in_unit(&self) -> bool {
        !self.conn.is_autocommit()
    }

    delegate! {
        fn fault(&self, message: String) -> Error;
        fn total_changes(&self) -> u64;
        fn integrity_check(&self) -> Result<String>;
        fn verify(&self) -> Result<()>;
        fn check_file(&self) -> Result<()>;
        fn load_account(&self, id: &str) -> Result<Option<Account>>;
        fn write_account(&self, a: &Account, now: &str) -> Result<()>;
        fn write_last_contact(&self, id: &str, at: &str) -> Result<bool>;
        fn accounts_owned(&self, owner: &str) -> Result<i64>;
        fn child_accounts(&self, id: &str) -> Result<Vec<String>>;
        fn accounts(&self, only_key: bool) -> Result<Vec<Account>>;
        fn counts(&self) -> Result<Counts>;
        fn write_contact(&self, id: &str, account_id: &str, role: &str, data: &Map<String, Value>, now: &str) -> Result<Option<ContactRole>>;
        fn contact_role(&self, id: &str) -> Result<Option<ContactRole>>;
        fn contact(&self, id: &str) -> Result<Option<Map<String, Value>>>;
        fn lead(&self, id: &str) -> Result<Option<Lead>>;
        fn save_lead(&self, lead: &Lead) -> Result<()>;
        fn load_deal(&self, id: &str) -> Result<Option<Deal>>;
        fn write_deal(&self, d: &Deal, is_open: bool, is_won: bool, now: &str, want_before: bool) -> Result<Option<DealBefore>>;
        fn open_deal_ids(&self, account_id: &str) -> Result<Vec<String>>;
        fn deals(&self, stage: Option<&str>, account: Option<&str>) -> Result<Vec<Deal>>;
        fn record_stage_change(&self, c: &StageChange) -> Result<()>;
        fn write_activity(&self, a: &ActivityRow) -> Result<bool>;
        fn write_order(&self, o: &OrderRow) -> Result<OrderWrite>;
        fn write_contract(&self, account_id: &str, c: &Contract, data: &Map<String, Value>, recorded_at: &str, want_before: bool) -> Result<Option<String>>;
        fn write_target(&self, account_id: &str, product: &str, period: &str, amount: f64, at: &str) -> Result<()>;
        fn ledger_rows(&self, account_id: &str, floor: &str) -> Result<LedgerRows>;
        fn deal_activity_rows(&self, deal_id: &str, since: Option<&str>) -> Result<DealActivityRows>;
        fn product_revenue(&self, account: &str, product: &str, from: &str, to: &str) -> Result<f64>;
        fn is_applied(&self, event_id: &str) -> Result<bool>;
        fn record_applied(&self, e: &Event, source: &str, line: usize, rules_version: &str, now: &str) -> Result<()>;
        fn applied_before(&self, e: &Event) -> Result<Option<AppliedBefore>>;
        fn event_history_page(&self, after: i64, limit: usize) -> Result<Vec<(i64, String)>>;
        fn event_count(&self) -> Result<i64>;
        fn events_about(&self, kind: &str, id: &str) -> Result<Vec<EventRow>>;
        fn latest_event_at(&self) -> Result<Option<String>>;
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
        fn rules_loads(&self) -> Result<Vec<StoredVersion>>;
        fn create_token(&self, t: &TokenRow, hash: &str) -> Result<()>;
        fn tokens(&self) -> Result<Vec<TokenRow>>;
        fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRow>>;
        fn revoke_token(&self, id: &str, now: &str) -> Result<bool>;
        fn touch_token(&self, id: &str, now: &str) -> Result<()>;
        fn create_session(&self, hash: &str, s: &SessionRow, now: &str) -> Result<()>;
        fn session(&self, hash: &str, now: &str) -> Result<Option<SessionRow>>;
        fn end_session(&self, hash: &str) -> Result<()>;
        fn meta(&self, key: &str) -> Result<Option<String>>;
        fn set_meta(&self, key: &str, value: &str) -> Result<()>;
        fn sweep_epoch(&self) -> Result<i64>;
        fn set_sweep_epoch(&self, epoch: i64) -> Result<()>;
        fn max_task_id(&self) -> Result<i64>;
        fn notify_marks(&self) -> Result<Marks>;
        fn tasks_after(&self, after: i64, limit: usize) -> Result<Vec<Task>>;
        fn decisions_after(&self, after: i64, kind: &str, limit: usize) -> Result<Vec<DecisionRow>>;
        fn rejected_after(&self, after: i64, limit: usize) -> Result<Vec<RejectedSince>>;
        fn enqueue_notification(&self, n: &NewNotification) -> Result<bool>;
        fn claim_notifications(&self, now: &str, until: &str, limit: usize) -> Result<Vec<Notification>>;
        fn finish_notification(&self, id: i64, attempt: &Attempt) -> Result<()>;
        fn notifications(&self, filter: &NotificationFilter, limit: usize) -> Result<Vec<Notification>>;
        fn notification_counts(&self) -> Result<NotificationCounts>;
        fn deals_in_stage_since(&self, stage: &str, entered_by: &str) -> Result<Vec<DealInStage>>;
        fn accounts_to_review(&self, left_after: Option<&str>, left_by: &str, last_day: Option<&str>, today: &str, epochs: (i64, i64)) -> Result<Vec<String>>;
        fn quiet_key_accounts(&self, by: &str) -> Result<Vec<QuietAccount>>;
        fn contracts_ending(&self, until: &str, today: &str) -> Result<Vec<ContractEnding>>;
        fn tasks_due_between(&self, from: Option<&str>, before: &str, ids: (i64, i64)) -> Result<Vec<i64>>;
        fn all_targets(&self) -> Result<Vec<TargetRow>>;
        fn open_tasks_per_assignee(&self, role: &str) -> Result<Vec<Load>>;
        fn take_turn(&self, role: &str, region: &str, n: usize) -> Result<usize>;
        fn open_task_holders(&self) -> Result<Vec<Holder>>;
        fn open_tasks_of(&self, role: &str, assignee: &str) -> Result<Vec<i64>>;
        fn reassign_task(&self, id: i64, assignee: Option<&str>) -> Result<()>;
        fn set_task_due(&self, id: i64, due_at: &str) -> Result<()>;
        fn queued_tasks(&self, role: &str, limit: usize) -> Result<Vec<i64>>;
        fn save_waiting_handover(&self, w: &WaitingHandover) -> Result<()>;
        fn drop_waiting_handover(&self, account_id: &str) -> Result<()>;
        fn assign_queued_tasks_about(&self, subject: &Subject, role: &str, assignee: &str) -> Result<usize>;
        fn waiting_handovers(&self) -> Result<Vec<WaitingHandover>>;
        fn create_task(&self, t: &NewTask, rules_version: &str, event_id: &str, created_at: &str) -> Result<Option<i64>>;
        fn task_key_exists(&self, dedup_key: &str) -> Result<bool>;
        fn task(&self, id: i64) -> Result<Option<Task>>;
        fn tasks(&self, f: &TaskFilter) -> Result<Vec<Task>>;
        fn claim_up_to(&self, role: &str, who: &str, now: &str, lapsed_before: Option<&str>, n: usize) -> Result<Vec<Task>>;
        fn release_lapsed_claims(&self, lapsed_before: &str, now: &str) -> Result<usize>;
        fn close_task(&self, id: i64, status: TaskStatus, by: Option<&str>, outcome: Option<&str>, now: &str) -> Result<Task>;
        fn close_task_as(&self, id: i64, status: TaskStatus, who: Option<&str>, outcome: Option<&str>, now: &str) -> Result<CloseAs>;
        fn cancel_open_tasks_about(&self, subject: &Subject, assignee: Option<&str>, outcome: &str, now: &str) -> Result<usize>;
        fn open_tasks_by_role(&self) -> Result<Vec<RoleCount>>;
        fn prune(&self, before: &str, dry_run: bool) -> Result<Pruned>;
        fn record_delivery(&self, d: &NewDelivery) -> Result<Recorded>;
        fn finish_delivery(&self, id: i64, state: DeliveryState, events: i64, reason: Option<&str>, at: &str) -> Result<()>;
        fn webhook_deliveries(&self, f: &DeliveryFilter) -> Result<Vec<DeliveryRow>>;
        fn delivery_counts(&self) -> Result<DeliveryCounts>;
    }
}
