//! The database schema, as versioned migrations. Append; never edit a
//! migration that has shipped.

use rusqlite_migration::{M, Migrations};

pub fn migrations() -> Migrations<'static> {
    Migrations::new(vec![M::up(V1), M::up(V2), M::up(V3), M::up(V4), M::up(V5), M::up(V6), M::up(V7)])
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
/// (`Store::create_task`), not by a trigger: an insert that fires a trigger
/// makes SQLite keep a journal of every page the insert touches, in case the
/// trigger fails after the row is in; that was a fifth of a task's cost.
/// Changes to existing tasks are still counted by the other triggers.
const V6: &str = r#"
DROP TRIGGER task_load_insert;
"#;

/// The hash of each event's content (`event_content`), to tell an event
/// sent again from another one sent under the same id. Events stored before
/// have none (NULL): they are compared with their body.
const V7: &str = r#"
ALTER TABLE events ADD COLUMN content_hash BLOB;
"#;

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_valid() {
        super::migrations().validate().unwrap();
    }
}
