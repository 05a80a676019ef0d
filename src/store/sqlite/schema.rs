//! The database schema, as versioned migrations. Append; never edit a
//! migration that has shipped.
//!
//! The schema's version is how many migrations have run, kept in SQLite's
//! `user_version`. Several processes may open a database that does not exist
//! yet at the same moment: each one reads the version again after it has taken
//! the write lock, and runs (in that same transaction) only what no other
//! process ran in the meantime. Reading it before taking the lock, as a plain
//! migration runner does, let two processes both find version 0 and the second
//! fail with `table accounts already exists`.

use rusqlite::Connection;

/// Every migration, oldest first.
const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6, V7, V8, V9, V10, V11, V12, V13, V14, V15];

/// The version a database has once every migration ran.
pub(super) fn latest() -> i64 {
    MIGRATIONS.len() as i64
}

/// The schema version of the database on `conn` (0 for a new file).
pub(super) fn version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// Run the migrations after `from` (the version read under the write lock,
/// which the caller holds) and record the new version, in the caller's transaction.
pub(super) fn migrate_from(conn: &Connection, from: i64) -> rusqlite::Result<()> {
    for up in MIGRATIONS.iter().skip(from.max(0) as usize) {
        conn.execute_batch(up)?;
    }
    conn.pragma_update(None, "user_version", latest())
}

const V1: &str = r#"
CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    data TEXT NOT NULL,               -- merged JSON of every upsert, unknown fields kept
    owner TEXT,
    parent_id TEXT,
    is_key INTEGER NOT NULL DEFAULT 0,
    key_since TEXT,
    key_reason TEXT,
    last_contact TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX accounts_parent ON accounts(parent_id);
CREATE INDEX accounts_owner ON accounts(owner);

CREATE TABLE contacts (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    role TEXT NOT NULL,
    data TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX contacts_account ON contacts(account_id);

CREATE TABLE leads (
    id TEXT PRIMARY KEY,
    account_id TEXT,
    data TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE deals (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    stage_entered_at TEXT NOT NULL,
    owner TEXT,
    amount REAL NOT NULL DEFAULT 0,
    is_open INTEGER NOT NULL,
    is_won INTEGER NOT NULL,
    closed_at TEXT,
    data TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX deals_account_open ON deals(account_id, is_open);
CREATE INDEX deals_account_won ON deals(account_id, is_won, closed_at);

CREATE TABLE deal_stage_history (
    seq INTEGER PRIMARY KEY,
    deal_id TEXT NOT NULL,
    from_stage TEXT,
    to_stage TEXT NOT NULL,
    at TEXT NOT NULL,
    event_id TEXT NOT NULL,
    rule TEXT,
    reason TEXT NOT NULL
);
CREATE INDEX deal_stage_history_deal ON deal_stage_history(deal_id);

CREATE TABLE activities (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    deal_id TEXT,
    contact_id TEXT,
    kind TEXT NOT NULL,
    at TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX activities_deal ON activities(deal_id);
CREATE INDEX activities_account ON activities(account_id, at);

CREATE TABLE orders (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    amount REAL NOT NULL,
    product TEXT,
    at TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX orders_account ON orders(account_id, at);

CREATE TABLE contracts (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    start TEXT NOT NULL,
    "end" TEXT NOT NULL,
    annual_value REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX contracts_account ON contracts(account_id);

CREATE TABLE targets (
    account_id TEXT NOT NULL,
    product TEXT NOT NULL,
    period TEXT NOT NULL,
    amount REAL NOT NULL,
    set_at TEXT NOT NULL,
    PRIMARY KEY (account_id, product, period)
);

-- Every applied event, verbatim, in order: the history `simulate` replays.
CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    at TEXT NOT NULL,
    body TEXT NOT NULL,
    source TEXT NOT NULL,
    line INTEGER NOT NULL,
    rules_version TEXT NOT NULL,
    applied_at TEXT NOT NULL
);

CREATE TABLE rejected_events (
    seq INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    line INTEGER NOT NULL,
    reason TEXT NOT NULL,
    raw TEXT NOT NULL,
    rejected_at TEXT NOT NULL
);

CREATE TABLE tasks (
    id INTEGER PRIMARY KEY,
    role TEXT NOT NULL,
    assignee TEXT,
    title TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'claimed', 'done', 'cancelled')),
    priority INTEGER NOT NULL,
    due_at TEXT NOT NULL,
    subject_kind TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    rule TEXT NOT NULL,
    reason TEXT NOT NULL,
    rules_version TEXT NOT NULL,
    dedup_key TEXT NOT NULL UNIQUE,
    event_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    claimed_by TEXT,
    claimed_at TEXT,
    closed_at TEXT,
    outcome TEXT
);
CREATE INDEX tasks_queue ON tasks(role, status, priority DESC, due_at, id);
CREATE INDEX tasks_subject ON tasks(subject_kind, subject_id);

-- Every decision a rule made, with the rule, the reason, the rules version and the event.
CREATE TABLE decisions (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    subject_kind TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    rule_file TEXT,
    rule_fn TEXT,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    rules_version TEXT NOT NULL,
    event_id TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX decisions_subject ON decisions(subject_kind, subject_id);
CREATE INDEX decisions_kind ON decisions(kind);

-- Each rules version the engine ran with: its hash and the text of every file.
CREATE TABLE rules_versions (
    version TEXT PRIMARY KEY,
    files TEXT NOT NULL
);

-- Each time a version was put in force, in order: the last one is in force.
CREATE TABLE rules_loads (
    seq INTEGER PRIMARY KEY,
    version TEXT NOT NULL,
    loaded_at TEXT NOT NULL
);
"#;

/// The clock and assignment: indexes for the time queries, the last tick,
/// round-robin turns.
const V2: &str = r#"
-- Covering: the stuck-deal scan reads the index alone.
CREATE INDEX deals_open_stage_entered ON deals(is_open, stage, stage_entered_at, id, account_id);
CREATE INDEX tasks_status_due ON tasks(status, due_at);
CREATE INDEX contracts_end ON contracts("end");
CREATE INDEX accounts_key ON accounts(is_key);

-- When each contract was recorded (business time), so a contract signed
-- already inside its notice window is still seen by the next tick.
ALTER TABLE contracts ADD COLUMN recorded_at TEXT;
CREATE INDEX contracts_recorded ON contracts(recorded_at);

CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Open (or claimed) tasks per role and assignee, kept by triggers: what
-- least_loaded reads, in time that does not grow with the queue.
CREATE TABLE task_load (
    role TEXT NOT NULL,
    assignee TEXT NOT NULL,
    open INTEGER NOT NULL,
    PRIMARY KEY (role, assignee)
);
INSERT INTO task_load (role, assignee, open)
    SELECT role, assignee, COUNT(*) FROM tasks WHERE assignee IS NOT NULL AND status IN ('open', 'claimed') GROUP BY role, assignee;
CREATE TRIGGER task_load_insert AFTER INSERT ON tasks
WHEN NEW.assignee IS NOT NULL AND NEW.status IN ('open', 'claimed')
BEGIN
    INSERT INTO task_load (role, assignee, open) VALUES (NEW.role, NEW.assignee, 1)
    ON CONFLICT(role, assignee) DO UPDATE SET open = open + 1;
END;
CREATE TRIGGER task_load_update AFTER UPDATE OF role, assignee, status ON tasks
BEGIN
    UPDATE task_load SET open = open - 1
    WHERE OLD.assignee IS NOT NULL AND OLD.status IN ('open', 'claimed') AND role = OLD.role AND assignee = OLD.assignee;
    INSERT INTO task_load (role, assignee, open)
    SELECT NEW.role, NEW.assignee, 1 WHERE NEW.assignee IS NOT NULL AND NEW.status IN ('open', 'claimed')
    ON CONFLICT(role, assignee) DO UPDATE SET open = open + 1;
END;
CREATE TRIGGER task_load_delete AFTER DELETE ON tasks
WHEN OLD.assignee IS NOT NULL AND OLD.status IN ('open', 'claimed')
BEGIN
    UPDATE task_load SET open = open - 1 WHERE role = OLD.role AND assignee = OLD.assignee;
END;

-- Whose turn it is next, per role and region ('' = all regions).
CREATE TABLE assign_turns (
    role TEXT NOT NULL,
    region TEXT NOT NULL,
    next INTEGER NOT NULL,
    PRIMARY KEY (role, region)
);
"#;

/// Leases on claims; rejected lines recorded once.
const V3: &str = r#"
-- Whom a claimed task was assigned to before the claim (NULL: the role's
-- queue): where it goes back when the claim's lease runs out.
ALTER TABLE tasks ADD COLUMN assignee_before_claim TEXT;
-- The last claim that ran out: who had it, and when the task went back.
ALTER TABLE tasks ADD COLUMN released_from TEXT;
ALTER TABLE tasks ADD COLUMN released_at TEXT;
-- Claims taken before this migration stay with whoever holds them when they run out.
UPDATE tasks SET assignee_before_claim = assignee WHERE status = 'claimed';
-- Claims by age: the ones that ran out are found without reading the others.
CREATE INDEX tasks_claimed_at ON tasks(claimed_at) WHERE status = 'claimed';
-- A line rejected again (a re-sent file, a run after a crash) is recorded once.
CREATE INDEX rejected_events_line ON rejected_events(source, line);
"#;

/// Covering indexes for the facts of an account, read on nearly every
/// event: revenue over 12 months, open pipeline, won deals. Without the
/// amount in the index, each of an account's deals and orders was a table
/// lookup, and accounts with a long history paid for all of it.
const V4: &str = r#"
DROP INDEX deals_account_open;
CREATE INDEX deals_account_open ON deals(account_id, is_open, amount);
DROP INDEX deals_account_won;
CREATE INDEX deals_account_won ON deals(account_id, is_won, closed_at, amount);
DROP INDEX orders_account;
CREATE INDEX orders_account ON orders(account_id, at, amount);
"#;

/// Rule health: rules that failed on the last events they ran on, and the
/// quarantined ones, per rules version (a new version starts clean).
const V5: &str = r#"
CREATE TABLE rule_health (
    rules_version TEXT NOT NULL,
    rule TEXT NOT NULL,
    file TEXT NOT NULL,
    line INTEGER NOT NULL,
    -- Events in a row the rule failed on; a clean run deletes the row.
    failures INTEGER NOT NULL,
    last_error TEXT NOT NULL,
    last_event TEXT NOT NULL,
    -- Business time it was quarantined; NULL while it still runs.
    quarantined_at TEXT,
    PRIMARY KEY (rules_version, rule)
);
"#;

/// New tasks are counted in `task_load` by the statement that creates them
/// (`Sqlite::create_task`), not by a trigger: an insert that fires a trigger
/// makes SQLite keep a journal of every page the insert touches, in case the
/// trigger fails after the row is in; that was a fifth of a task's cost.
/// Changes to existing tasks are still counted by the other triggers.
const V6: &str = r#"
DROP TRIGGER task_load_insert;
"#;

/// The clock sweeps by change, not by business time alone: each fact a tick
/// measures time from carries the sweep generation (`meta.sweep_epoch`, one
/// more per tick) it was last set in, and `meta.sweeps` says up to when each
/// run of generations (and of task ids) was swept (see `engine::sweeps`).
/// A fact recorded after a tick, whatever its business time, is swept by
/// the next tick from its start. A store that ticked before counts all it
/// holds as swept up to its last tick, as it was.
const V7: &str = r#"
ALTER TABLE deals ADD COLUMN stage_epoch INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN quiet_epoch INTEGER NOT NULL DEFAULT 0;
ALTER TABLE contracts ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
ALTER TABLE targets ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
-- Covering again: the stuck-deal scan reads the generation from the index too.
DROP INDEX deals_open_stage_entered;
CREATE INDEX deals_open_stage_entered ON deals(is_open, stage, stage_entered_at, id, account_id, stage_epoch);
INSERT INTO meta (key, value) SELECT 'sweep_epoch', '1' FROM meta WHERE key = 'last_tick';
INSERT INTO meta (key, value)
    SELECT 'sweeps', json_array(json_object('epoch', 0, 'task', (SELECT COALESCE(MAX(id), 0) FROM tasks), 'at', value))
    FROM meta WHERE key = 'last_tick';
INSERT INTO meta (key, value)
    SELECT 'key_review_sweeps', json_array(json_object('epoch', 0, 'task', (SELECT COALESCE(MAX(id), 0) FROM tasks), 'at', value))
    FROM meta WHERE key = 'last_key_review';
DELETE FROM meta WHERE key IN ('last_tick', 'last_key_review');

-- Hand-overs that wait for someone active of the role to join the team
-- (`handover("account_manager", ...)` with nobody to take the account).
CREATE TABLE waiting_handovers (
    account_id TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    reason TEXT NOT NULL,
    rule_file TEXT NOT NULL,
    rule_fn TEXT NOT NULL,
    close_open_tasks INTEGER NOT NULL,
    -- Business time the hand-over was asked for, and by which event.
    since TEXT NOT NULL,
    event_id TEXT NOT NULL
);
"#;

/// The hash of each event's content (`event_content`), to tell an event
/// sent again from another one sent under the same id. Events stored before
/// have none (NULL): they are compared with their body.
const V8: &str = r#"
ALTER TABLE events ADD COLUMN content_hash BLOB;
"#;

/// Indexes no query uses: each one was paid for on every insert. The only
/// read of `decisions` (`explain`, `status`) filters with `?1 IS NULL OR
/// kind = ?1`, which SQLite answers by reading the table, so neither of its
/// indexes was ever searched; nothing reads `deal_stage_history`; no query
/// reads activities by account (a deal's facts read them by deal); and since
/// V7 no query filters contracts on `recorded_at`.
const V9: &str = r#"
DROP INDEX IF EXISTS decisions_subject;
DROP INDEX IF EXISTS decisions_kind;
DROP INDEX IF EXISTS deal_stage_history_deal;
DROP INDEX IF EXISTS activities_account;
DROP INDEX IF EXISTS contracts_recorded;
"#;

/// A deal's lives: 1 from its creation, one more each time it is reopened
/// (a closed deal taken back to an open stage). Tasks about the deal from
/// its second life on carry the life in their dedup key, so a new life gets
/// fresh follow-ups, and its activity facts count from `life_started_at`
/// (the reopen's business time). Deals stored before are in their first life.
const V10: &str = r#"
ALTER TABLE deals ADD COLUMN life INTEGER NOT NULL DEFAULT 1;
ALTER TABLE deals ADD COLUMN life_started_at TEXT;
"#;

/// `dealflow prune` removes finished tasks; their dedup keys stay here, so
/// the same task is never made again (a replayed event, the next tick), and
/// so does their id (`explain task` says it was pruned).
const V11: &str = r#"
CREATE TABLE pruned_task_keys (
    id INTEGER PRIMARY KEY,
    dedup_key TEXT NOT NULL UNIQUE,
    closed_at TEXT NOT NULL
);
"#;

/// `dealflow serve`: access tokens (kept as their SHA-256) and the browser
/// sessions signed in with them.
const V12: &str = r#"
CREATE TABLE api_tokens (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    hash TEXT NOT NULL UNIQUE,
    person TEXT NOT NULL,
    label TEXT,
    created_at TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at TEXT
);
CREATE TABLE web_sessions (
    hash TEXT PRIMARY KEY,
    person TEXT NOT NULL,
    token_id TEXT NOT NULL REFERENCES api_tokens(id),
    csrf TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

"#;

/// Webhook deliveries (see `crate::webhooks`): stored before the CRM is
/// answered, applied by the engine in force. The key makes a redelivery a
/// duplicate.
const V13: &str = r#"
CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    delivery_key TEXT NOT NULL UNIQUE,
    received_at TEXT NOT NULL,
    body TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    reason TEXT,
    events INTEGER NOT NULL DEFAULT 0,
    applied_at TEXT
);
CREATE INDEX webhook_deliveries_state ON webhook_deliveries(state, id);
"#;

/// Notifications out: one row per message to one `[notify.NAME]` target,
/// sent by the notifier (`crate::notify`), retried with back-off. `(target,
/// key)` is unique, so a thing is said once to each target; ids are never
/// given twice (AUTOINCREMENT): a JSON target gets the id as its
/// `Idempotency-Key`.
const V14: &str = r#"
CREATE TABLE notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    target TEXT NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    subject TEXT NOT NULL,
    person TEXT,
    payload TEXT NOT NULL,
    created_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    sent_at TEXT,
    last_error TEXT,
    given_up_at TEXT,
    UNIQUE (target, key)
);
CREATE INDEX notifications_due ON notifications(next_attempt_at) WHERE sent_at IS NULL AND given_up_at IS NULL;
"#;

/// Tasks waiting in a role's queue (open, nobody's), most urgent first:
/// re-balancing gives them to whoever has room, without reading the rest.
const V15: &str = r#"
CREATE INDEX tasks_queued ON tasks(role, priority DESC, due_at, id) WHERE status = 'open' AND assignee IS NULL;
"#;

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the migrations after `from` up to `to` only, as an older dealflow would have.
    fn migrate_from_to(conn: &Connection, from: i64, to: i64) {
        for up in &MIGRATIONS[from as usize..to as usize] {
            conn.execute_batch(up).unwrap();
        }
    }

    #[test]
    fn each_migration_applies_on_the_one_before_and_the_version_follows() {
        let whole = Connection::open_in_memory().unwrap();
        migrate_from(&whole, 0).unwrap();
        assert_eq!(version(&whole).unwrap(), latest());
        for from in 0..=latest() {
            // Up to `from` only, then the rest from there.
            let step = Connection::open_in_memory().unwrap();
            migrate_from_to(&step, 0, from);
            migrate_from(&step, from).unwrap();
            assert_eq!(version(&step).unwrap(), latest());
            let schema = |c: &Connection| -> Vec<String> {
                let mut st = c.prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name").unwrap();
                st.query_map([], |r| r.get(0)).unwrap().map(|r| r.unwrap()).collect()
            };
            assert_eq!(schema(&step), schema(&whole), "migrated from version {from}");
        }
    }

    #[test]
    fn deals_stored_before_v10_are_in_their_first_life() {
        let conn = Connection::open_in_memory().unwrap();
        migrate_from_to(&conn, 0, 9);
        conn.execute_batch(
            "INSERT INTO deals (id, account_id, stage, stage_entered_at, is_open, is_won, data, created_at, updated_at)
             VALUES ('D', 'A', 'lost', 't', 0, 0, '{}', 't', 't');",
        )
        .unwrap();
        migrate_from(&conn, 9).unwrap();
        let life: i64 = conn.query_row("SELECT life FROM deals WHERE id = 'D'", [], |r| r.get(0)).unwrap();
        assert_eq!(life, 1);
    }

    #[test]
    fn a_store_that_ticked_before_counts_what_it_holds_as_swept_up_to_its_last_tick() {
        let conn = Connection::open_in_memory().unwrap();
        migrate_from_to(&conn, 0, 6);
        conn.execute_batch(
            "INSERT INTO meta (key, value) VALUES ('last_tick', '2026-10-30T09:00:00Z');
             INSERT INTO tasks (role, title, priority, due_at, subject_kind, subject_id, rule, reason, rules_version, dedup_key, event_id, created_at)
             VALUES ('sales_rep', 't', 2, '2026-11-02', 'deal', 'D', 'r', 'r', 'v', 'k', 'e', 't');",
        )
        .unwrap();
        migrate_from(&conn, 6).unwrap();
        let meta =
            |k: &str| conn.query_row("SELECT value FROM meta WHERE key = ?1", [k], |r| r.get::<_, String>(0)).ok();
        assert_eq!(meta("sweep_epoch").as_deref(), Some("1"));
        assert_eq!(meta("sweeps").as_deref(), Some(r#"[{"epoch":0,"task":1,"at":"2026-10-30T09:00:00Z"}]"#));
        // Never reviewed: the first review looks back over all of history.
        assert_eq!(meta("key_review_sweeps"), None);
        assert_eq!(meta("last_tick"), None);
    }
}
