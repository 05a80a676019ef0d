//! The PostgreSQL schema, as versioned migrations of its own (append; never
//! edit one that has shipped). V1 is the SQLite schema's latest state
//! (its V1 to V10) translated:
//!
//! - times stay TEXT in the engine's UTC stamp format, and every TEXT column
//!   is `COLLATE "C"`: stamps and ids then compare and sort byte by byte, as
//!   SQLite compares them, whatever the database's default collation;
//! - JSON stays TEXT, verbatim: the engine's maps keep their keys' order
//!   (`serde_json`'s `preserve_order`) and an event's body is replayed as it
//!   came; JSONB would reorder keys. The two reads into JSON cast (`::jsonb`);
//! - INTEGER is BIGINT, REAL is DOUBLE PRECISION, BLOB is BYTEA, flags are BOOLEAN;
//! - the logs' `seq` (SQLite's rowid) is BIGSERIAL: it only orders them;
//!   `accounts.row_order` (BIGSERIAL too) is the rowid order SQLite lists key
//!   accounts in; where SQLite answers in an index's order without `ORDER
//!   BY`, the query here says that order;
//! - a task's id is not a sequence: it is the highest id plus one, taken
//!   under the units' advisory lock (`Postgres::create_task`), as SQLite gives a
//!   rowid, so a task rolled back gives its id again and ids have no gaps
//!   (the clock sweeps tasks by id ranges);
//! - `change_clock` is PostgreSQL's own: see `Postgres::change_token`.
//!
//! The version is kept in `schema_version`; migrations run at open, in one
//! transaction under `pg_advisory_xact_lock(MIGRATION_LOCK)`, so several
//! processes starting at once migrate once.

/// The advisory lock key migrations run under ("dealflow" in ASCII, folded into 63 bits).
pub(super) const MIGRATION_LOCK: i64 = 0x6465_616c_666c_6f77 & 0x7fff_ffff_ffff_ffff;

/// The advisory lock key every unit of work holds (see `Postgres::begin_unit`).
pub(super) const UNIT_LOCK: i64 = MIGRATION_LOCK ^ 0x756e_6974;

/// The advisory lock key the engine lease's holder keeps for its session
/// (see `lease`): a standby waits on it, and the server lets it go the moment
/// the holder's connection ends.
pub(super) const LEASE_LOCK: i64 = MIGRATION_LOCK ^ 0x006c_6561_7365;

/// The channel a clean release of the engine lease is announced on (`NOTIFY`).
pub(super) const LEASE_CHANNEL: &str = "dealflow_engine";

/// Every migration, oldest first.
const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6, V7];

pub(super) fn latest() -> i64 {
    MIGRATIONS.len() as i64
}

/// The migrations after version `from`.
pub(super) fn after(from: i64) -> impl Iterator<Item = &'static str> {
    MIGRATIONS.iter().copied().skip(from.max(0) as usize)
}

const V1: &str = r#"
CREATE TABLE accounts (
    id TEXT COLLATE "C" PRIMARY KEY,
    data TEXT NOT NULL,
    owner TEXT COLLATE "C",
    parent_id TEXT COLLATE "C",
    is_key BOOLEAN NOT NULL DEFAULT FALSE,
    key_since TEXT COLLATE "C",
    key_reason TEXT,
    last_contact TEXT COLLATE "C",
    created_at TEXT COLLATE "C" NOT NULL,
    updated_at TEXT COLLATE "C" NOT NULL,
    quiet_epoch BIGINT NOT NULL DEFAULT 0,
    -- The order accounts were first written in (SQLite's rowid): key
    -- accounts are listed in it, as SQLite's `accounts_key` index holds them.
    row_order BIGSERIAL NOT NULL
);
CREATE INDEX accounts_parent ON accounts(parent_id);
CREATE INDEX accounts_owner ON accounts(owner);
CREATE INDEX accounts_key ON accounts(is_key, row_order);

CREATE TABLE contacts (
    id TEXT COLLATE "C" PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL,
    role TEXT COLLATE "C" NOT NULL,
    data TEXT NOT NULL,
    updated_at TEXT COLLATE "C" NOT NULL
);
CREATE INDEX contacts_account ON contacts(account_id);

CREATE TABLE leads (
    id TEXT COLLATE "C" PRIMARY KEY,
    account_id TEXT COLLATE "C",
    data TEXT NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL
);

CREATE TABLE deals (
    id TEXT COLLATE "C" PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL,
    stage TEXT COLLATE "C" NOT NULL,
    stage_entered_at TEXT COLLATE "C" NOT NULL,
    owner TEXT COLLATE "C",
    amount DOUBLE PRECISION NOT NULL DEFAULT 0,
    is_open BOOLEAN NOT NULL,
    is_won BOOLEAN NOT NULL,
    closed_at TEXT COLLATE "C",
    data TEXT NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    updated_at TEXT COLLATE "C" NOT NULL,
    stage_epoch BIGINT NOT NULL DEFAULT 0,
    life BIGINT NOT NULL DEFAULT 1,
    life_started_at TEXT COLLATE "C"
);
CREATE INDEX deals_account_open ON deals(account_id, is_open, amount);
CREATE INDEX deals_account_won ON deals(account_id, is_won, closed_at, amount);
CREATE INDEX deals_open_stage_entered ON deals(is_open, stage, stage_entered_at, id, account_id, stage_epoch);

CREATE TABLE deal_stage_history (
    seq BIGSERIAL PRIMARY KEY,
    deal_id TEXT COLLATE "C" NOT NULL,
    from_stage TEXT COLLATE "C",
    to_stage TEXT COLLATE "C" NOT NULL,
    at TEXT COLLATE "C" NOT NULL,
    event_id TEXT COLLATE "C" NOT NULL,
    rule TEXT COLLATE "C",
    reason TEXT NOT NULL
);

CREATE TABLE activities (
    id TEXT COLLATE "C" PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL,
    deal_id TEXT COLLATE "C",
    contact_id TEXT COLLATE "C",
    kind TEXT COLLATE "C" NOT NULL,
    at TEXT COLLATE "C" NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX activities_deal ON activities(deal_id, at);

CREATE TABLE orders (
    id TEXT COLLATE "C" PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL,
    amount DOUBLE PRECISION NOT NULL,
    product TEXT COLLATE "C",
    at TEXT COLLATE "C" NOT NULL,
    data TEXT NOT NULL,
    epoch BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX orders_account ON orders(account_id, at, amount);

CREATE TABLE contracts (
    id TEXT COLLATE "C" PRIMARY KEY,
    account_id TEXT COLLATE "C" NOT NULL,
    start TEXT COLLATE "C" NOT NULL,
    "end" TEXT COLLATE "C" NOT NULL,
    annual_value DOUBLE PRECISION NOT NULL,
    data TEXT NOT NULL,
    recorded_at TEXT COLLATE "C",
    epoch BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX contracts_account ON contracts(account_id);
CREATE INDEX contracts_end ON contracts("end");

CREATE TABLE targets (
    account_id TEXT COLLATE "C" NOT NULL,
    product TEXT COLLATE "C" NOT NULL,
    period TEXT COLLATE "C" NOT NULL,
    amount DOUBLE PRECISION NOT NULL,
    set_at TEXT COLLATE "C" NOT NULL,
    epoch BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, product, period)
);

CREATE TABLE events (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT COLLATE "C" NOT NULL UNIQUE,
    type TEXT COLLATE "C" NOT NULL,
    at TEXT COLLATE "C" NOT NULL,
    body TEXT NOT NULL,
    source TEXT COLLATE "C" NOT NULL,
    line BIGINT NOT NULL,
    rules_version TEXT COLLATE "C" NOT NULL,
    applied_at TEXT COLLATE "C" NOT NULL,
    content_hash BYTEA
);

CREATE TABLE rejected_events (
    seq BIGSERIAL PRIMARY KEY,
    source TEXT COLLATE "C" NOT NULL,
    line BIGINT NOT NULL,
    reason TEXT COLLATE "C" NOT NULL,
    raw TEXT COLLATE "C" NOT NULL,
    rejected_at TEXT COLLATE "C" NOT NULL
);
CREATE INDEX rejected_events_line ON rejected_events(source, line);

CREATE TABLE tasks (
    id BIGINT PRIMARY KEY,
    role TEXT COLLATE "C" NOT NULL,
    assignee TEXT COLLATE "C",
    title TEXT NOT NULL,
    status TEXT COLLATE "C" NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'claimed', 'done', 'cancelled')),
    priority BIGINT NOT NULL,
    due_at TEXT COLLATE "C" NOT NULL,
    subject_kind TEXT COLLATE "C" NOT NULL,
    subject_id TEXT COLLATE "C" NOT NULL,
    rule TEXT COLLATE "C" NOT NULL,
    reason TEXT NOT NULL,
    rules_version TEXT COLLATE "C" NOT NULL,
    dedup_key TEXT COLLATE "C" NOT NULL UNIQUE,
    event_id TEXT COLLATE "C" NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    claimed_by TEXT COLLATE "C",
    claimed_at TEXT COLLATE "C",
    closed_at TEXT COLLATE "C",
    outcome TEXT,
    assignee_before_claim TEXT COLLATE "C",
    released_from TEXT COLLATE "C",
    released_at TEXT COLLATE "C"
);
CREATE INDEX tasks_queue ON tasks(role, status, priority DESC, due_at, id);
CREATE INDEX tasks_subject ON tasks(subject_kind, subject_id);
CREATE INDEX tasks_status_due ON tasks(status, due_at);
CREATE INDEX tasks_claimed_at ON tasks(claimed_at) WHERE status = 'claimed';

CREATE TABLE decisions (
    seq BIGSERIAL PRIMARY KEY,
    kind TEXT COLLATE "C" NOT NULL,
    subject_kind TEXT COLLATE "C" NOT NULL,
    subject_id TEXT COLLATE "C" NOT NULL,
    rule_file TEXT COLLATE "C",
    rule_fn TEXT COLLATE "C",
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    rules_version TEXT COLLATE "C" NOT NULL,
    event_id TEXT COLLATE "C" NOT NULL,
    at TEXT COLLATE "C" NOT NULL
);

CREATE TABLE rules_versions (
    version TEXT COLLATE "C" PRIMARY KEY,
    files TEXT NOT NULL
);

CREATE TABLE rules_loads (
    seq BIGSERIAL PRIMARY KEY,
    version TEXT COLLATE "C" NOT NULL,
    loaded_at TEXT COLLATE "C" NOT NULL
);

CREATE TABLE meta (
    key TEXT COLLATE "C" PRIMARY KEY,
    value TEXT COLLATE "C" NOT NULL
);

-- Open (or claimed) tasks per role and assignee: new tasks are counted by
-- the statement that creates them, changes to tasks by the triggers below.
CREATE TABLE task_load (
    role TEXT COLLATE "C" NOT NULL,
    assignee TEXT COLLATE "C" NOT NULL,
    open BIGINT NOT NULL,
    PRIMARY KEY (role, assignee)
);
-- One statement's changes at once (transition tables), not row by row: a
-- claim of 100 tasks changes the counts once, and a task claimed by the
-- person it was assigned to changes nothing.
CREATE FUNCTION task_load_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO task_load (role, assignee, open)
    SELECT role, assignee, SUM(d) FROM (
        SELECT role, assignee, -1 AS d FROM old_rows WHERE assignee IS NOT NULL AND status IN ('open', 'claimed')
        UNION ALL
        SELECT role, assignee, 1 AS d FROM new_rows WHERE assignee IS NOT NULL AND status IN ('open', 'claimed')
    ) AS change
    GROUP BY role, assignee
    HAVING SUM(d) <> 0
    ORDER BY role, assignee
    ON CONFLICT (role, assignee) DO UPDATE SET open = task_load.open + EXCLUDED.open;
    RETURN NULL;
END;
$$;
CREATE FUNCTION task_load_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE task_load SET open = task_load.open - gone.n
    FROM (
        SELECT role, assignee, COUNT(*) AS n FROM old_rows
        WHERE assignee IS NOT NULL AND status IN ('open', 'claimed') GROUP BY role, assignee
    ) AS gone
    WHERE task_load.role = gone.role AND task_load.assignee = gone.assignee;
    RETURN NULL;
END;
$$;
CREATE TRIGGER task_load_update AFTER UPDATE ON tasks
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION task_load_update();
CREATE TRIGGER task_load_delete AFTER DELETE ON tasks
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION task_load_delete();

CREATE TABLE assign_turns (
    role TEXT COLLATE "C" NOT NULL,
    region TEXT COLLATE "C" NOT NULL,
    next BIGINT NOT NULL,
    PRIMARY KEY (role, region)
);

CREATE TABLE rule_health (
    rules_version TEXT COLLATE "C" NOT NULL,
    rule TEXT COLLATE "C" NOT NULL,
    file TEXT COLLATE "C" NOT NULL,
    line BIGINT NOT NULL,
    failures BIGINT NOT NULL,
    last_error TEXT NOT NULL,
    last_event TEXT COLLATE "C" NOT NULL,
    quarantined_at TEXT COLLATE "C",
    PRIMARY KEY (rules_version, rule)
);

CREATE TABLE waiting_handovers (
    account_id TEXT COLLATE "C" PRIMARY KEY,
    role TEXT COLLATE "C" NOT NULL,
    reason TEXT NOT NULL,
    rule_file TEXT COLLATE "C" NOT NULL,
    rule_fn TEXT COLLATE "C" NOT NULL,
    close_open_tasks BOOLEAN NOT NULL,
    since TEXT COLLATE "C" NOT NULL,
    event_id TEXT COLLATE "C" NOT NULL
);

-- Moved by one by each unit that commits rows the working set keeps in
-- memory (accounts, deals, and what their facts are made of): another
-- process's move tells a working set its kept rows may be stale.
CREATE TABLE change_clock (n BIGINT NOT NULL);
INSERT INTO change_clock (n) VALUES (0);
"#;

/// V2: one engine in force. `engine_lease` is the lease (one row, `id = 1`):
/// its epoch grows by one at each takeover, and every unit of the holder
/// checks it (`Postgres::begin_unit`), so a process that lost it cannot
/// write. Times are the server's (`now()`), never a client's clock.
/// `backend_pids` are the holder's connections, ended by a standby when the
/// holder stalls past its lease. `engine_processes` lists the processes that
/// apply or watch, for `status`.
const V2: &str = r#"
CREATE TABLE engine_lease (
    id INT PRIMARY KEY CHECK (id = 1),
    epoch BIGINT NOT NULL,
    holder TEXT,
    host TEXT,
    pid BIGINT,
    backend_pid INT,
    backend_pids INT[] NOT NULL DEFAULT '{}',
    command TEXT,
    taken_at TIMESTAMPTZ,
    renewed_at TIMESTAMPTZ,
    expires_at TIMESTAMPTZ,
    released_at TIMESTAMPTZ
);
INSERT INTO engine_lease (id, epoch) VALUES (1, 0);

CREATE TABLE engine_processes (
    key TEXT COLLATE "C" PRIMARY KEY,
    host TEXT NOT NULL,
    pid BIGINT NOT NULL,
    command TEXT NOT NULL,
    role TEXT NOT NULL,
    rules_version TEXT,
    started_at TIMESTAMPTZ NOT NULL,
    last_seen TIMESTAMPTZ NOT NULL
);
"#;

/// `dealflow prune` removes finished tasks; their dedup keys stay here, so
/// the same task is never made again (a replayed event, the next tick), and
/// so does their id (`explain task` says it was pruned). SQLite's V11.
const V3: &str = r#"
CREATE TABLE pruned_task_keys (
    id BIGINT PRIMARY KEY,
    dedup_key TEXT COLLATE "C" NOT NULL UNIQUE,
    closed_at TEXT COLLATE "C" NOT NULL
);
"#;

/// `dealflow serve`: access tokens (kept as their SHA-256) and the browser
/// sessions signed in with them. SQLite's V12.
const V4: &str = r#"
CREATE TABLE api_tokens (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT COLLATE "C" NOT NULL UNIQUE,
    hash TEXT COLLATE "C" NOT NULL UNIQUE,
    person TEXT COLLATE "C" NOT NULL,
    label TEXT,
    created_at TEXT COLLATE "C" NOT NULL,
    last_used_at TEXT COLLATE "C",
    revoked_at TEXT COLLATE "C"
);
CREATE TABLE web_sessions (
    hash TEXT COLLATE "C" PRIMARY KEY,
    person TEXT COLLATE "C" NOT NULL,
    token_id TEXT COLLATE "C" NOT NULL REFERENCES api_tokens(id),
    csrf TEXT NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    expires_at TEXT COLLATE "C" NOT NULL
);

"#;

/// Webhook deliveries (see `crate::webhooks`). SQLite's V13.
const V5: &str = r#"
CREATE TABLE webhook_deliveries (
    id BIGSERIAL PRIMARY KEY,
    source TEXT COLLATE "C" NOT NULL,
    delivery_key TEXT COLLATE "C" NOT NULL UNIQUE,
    received_at TEXT COLLATE "C" NOT NULL,
    body TEXT NOT NULL,
    state TEXT COLLATE "C" NOT NULL DEFAULT 'pending',
    reason TEXT,
    events BIGINT NOT NULL DEFAULT 0,
    applied_at TEXT COLLATE "C"
);
CREATE INDEX webhook_deliveries_state ON webhook_deliveries(state, id);
"#;

/// Notifications out (SQLite's V14): one row per message to one target,
/// `(target, key)` unique, ids never given twice.
const V6: &str = r#"
CREATE TABLE notifications (
    id BIGSERIAL PRIMARY KEY,
    target TEXT COLLATE "C" NOT NULL,
    kind TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    subject TEXT NOT NULL,
    person TEXT,
    payload TEXT NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TEXT COLLATE "C" NOT NULL,
    sent_at TEXT COLLATE "C",
    last_error TEXT,
    given_up_at TEXT COLLATE "C",
    UNIQUE (target, key)
);
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE sent_at IS NULL AND given_up_at IS NULL;
"#;

/// Tasks waiting in a role's queue (SQLite's V15).
const V7: &str = r#"
CREATE INDEX tasks_queued ON tasks (role, priority DESC, due_at, id) WHERE status = 'open' AND assignee IS NULL;
"#;
