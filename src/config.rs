//! `config.toml`: the pipeline, the roles, the team, the settings rules read,
//! and where the store lives. Unknown keys and bad values are errors that name
//! the key and point at its line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::error::{Error, Located, Result, hint};

mod team;
pub use team::{Away, Membership, WorkingDays};
mod webhooks;
pub use webhooks::{BasicAuth, DEFAULT_MAX_BODY_BYTES, FieldMaps, Secret, SourceConfig, WebhooksConfig};

pub const CONFIG_FILE: &str = "config.toml";

/// The config as written in `config.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    store: StoreConfig,
    pipeline: RawPipeline,
    roles: BTreeMap<String, RoleConfig>,
    #[serde(default)]
    team: Vec<RawPerson>,
    #[serde(default)]
    settings: toml::Table,
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    clock: ClockConfig,
    #[serde(default)]
    calendar: CalendarConfig,
    #[serde(default)]
    watch: WatchConfig,
    #[serde(default)]
    import: RawImport,
    #[serde(default)]
    tasks: RawTasks,
    #[serde(default)]
    webhooks: webhooks::RawWebhooks,
    /// `[notify.NAME]`: where messages about what must not be missed go.
    #[serde(default)]
    notify: BTreeMap<String, crate::notify::config::RawTarget>,
}

/// `[tasks]`: the task queues.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTasks {
    #[serde(default = "default_raw_lease")]
    lease_minutes: Spanned<u64>,
}

impl Default for RawTasks {
    fn default() -> Self {
        RawTasks { lease_minutes: default_raw_lease() }
    }
}

fn default_raw_lease() -> Spanned<u64> {
    Spanned::new(0..0, default_lease())
}

fn default_lease() -> u64 {
    240
}

/// The longest lease: a year of minutes.
const MAX_LEASE_MINUTES: u64 = 366 * 24 * 60;

/// The task queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct TasksConfig {
    /// Minutes a claim holds a task; past them the task goes back to where it
    /// was before the claim, so someone else can take it. 0: claims never run out.
    pub lease_minutes: u64,
}

impl Default for TasksConfig {
    fn default() -> Self {
        TasksConfig { lease_minutes: default_lease() }
    }
}

impl TasksConfig {
    pub fn lease(&self) -> Option<chrono::Duration> {
        (self.lease_minutes > 0).then(|| chrono::Duration::minutes(self.lease_minutes as i64))
    }

    /// At `now`, claims taken before the returned time have run out (`None`: claims never run out).
    pub fn lapsed_before(&self, now: chrono::DateTime<chrono::Utc>) -> Option<String> {
        self.lease().map(|lease| crate::time::stamp(now - lease))
    }
}

/// `[import]`: how `dealflow import` reads CRM exports.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawImport {
    #[serde(default)]
    crm_sales_opportunities: RawCrmImport,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCrmImport {
    /// The export's deal stage → a stage of the pipeline.
    #[serde(default)]
    stages: BTreeMap<String, Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPipeline {
    stages: Vec<Spanned<String>>,
    won: Vec<Spanned<String>>,
    lost: Vec<Spanned<String>>,
    /// Days a deal may stay in a stage before it is `deal.stuck`.
    #[serde(default)]
    stage_days: BTreeMap<String, Spanned<u32>>,
    /// The part a stage plays in the playbook (`negotiation = "Negotiations Started"`).
    #[serde(default)]
    parts: BTreeMap<String, Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPerson {
    name: Spanned<String>,
    /// The CRM's user id: text, or a whole number kept as its text.
    #[serde(default)]
    id: Option<Spanned<PersonId>>,
    /// The one role they hold; `roles` gives several.
    #[serde(default)]
    role: Option<Spanned<String>>,
    /// Every role they hold, each with its own weight and cap.
    #[serde(default)]
    roles: Option<Spanned<Vec<team::RawMembership>>>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default = "yes")]
    active: bool,
    /// Their share of round-robin and least-loaded work (default 1.0).
    #[serde(default)]
    weight: Option<Spanned<f64>>,
    /// At this many open tasks of a role they get no more of it.
    #[serde(default)]
    max_open: Option<Spanned<i64>>,
    /// Time off: `[{ from = "2026-07-01", to = "2026-07-31" }]`, dates inclusive.
    #[serde(default)]
    away: Vec<team::RawAway>,
    /// The days of the week they work (default Monday to Friday).
    #[serde(default)]
    days: Option<Spanned<Vec<Spanned<String>>>>,
    /// Who they are on Slack: a member ID (`U024BE7LH`, mentioned so they are
    /// pinged) or a handle (`@ana`, written as is).
    #[serde(default)]
    slack: Option<Spanned<String>>,
}

fn yes() -> bool {
    true
}

/// A `[[team]]` id as written: text, or a whole number (CRMs number their
/// users) kept as its text, so `id = 101` and `id = "101"` are the same id.
#[derive(Debug, Clone)]
struct PersonId(String);

impl<'de> Deserialize<'de> for PersonId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = PersonId;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("the CRM's user id: text or a whole number")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<PersonId, E> {
                Ok(PersonId(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<PersonId, E> {
                Ok(PersonId(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<PersonId, E> {
                Ok(PersonId(v.to_string()))
            }
        }
        d.deserialize_any(Visit)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// The SQLite file, relative to the config directory.
    #[serde(default = "default_store_path")]
    pub path: PathBuf,
    /// A PostgreSQL database instead of the file: `postgres://USER@HOST:PORT/DB`
    /// (the password best kept out of it, in `PGPASSWORD`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// How long to wait for another process holding the database, in milliseconds.
    #[serde(default = "default_busy_timeout")]
    pub busy_timeout_ms: u64,
    /// Events applied per transaction when ingesting.
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// PostgreSQL: how long the engine lease lasts unless renewed (its holder
    /// renews it every third of it). A standby takes over from a holder that
    /// stalls once its lease has expired; from one that dies, at once.
    #[serde(default = "default_lease_seconds")]
    pub lease_seconds: u64,
    /// `watch` prunes what is older than this many days once a day (see
    /// `dealflow prune`); unset, nothing is pruned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_days: Option<u32>,
}

/// The most `[store] lease_seconds` may be: an hour.
pub const MAX_LEASE_SECONDS: u64 = 3600;

fn default_lease_seconds() -> u64 {
    10
}

impl StoreConfig {
    /// How long the engine lease lasts unless renewed.
    pub fn lease(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.lease_seconds)
    }
}

fn default_store_path() -> PathBuf {
    PathBuf::from("dealflow.db")
}
fn default_busy_timeout() -> u64 {
    5000
}
fn default_batch() -> usize {
    1000
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            path: default_store_path(),
            url: None,
            busy_timeout_ms: default_busy_timeout(),
            keep_days: None,
            batch_size: default_batch(),
            lease_seconds: default_lease_seconds(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RoleConfig {
    /// What the role does, shown in listings.
    #[serde(default)]
    pub description: String,
    /// Who gets the role's tasks when a rule names nobody.
    #[serde(default)]
    pub assign: Strategy,
    /// Choose among the people of the subject's region first (round-robin, least-loaded).
    #[serde(default)]
    pub by_region: bool,
    /// At this many open tasks of the role a person gets no more (a `[[team]]` entry may set its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_open: Option<u32>,
    /// What happens to a task of someone away: it goes to a colleague, or it waits for them.
    #[serde(default)]
    pub while_away: WhileAway,
}

/// `[roles.NAME] while_away`: a task of someone away, or due while they are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WhileAway {
    /// It goes to a colleague by the role's strategy (an owner's task: to the
    /// colleague of the role with the least load), unless claimed already.
    #[default]
    Reassign,
    /// It stays theirs and is due on their first working day back (a task
    /// that can wait for the person who knows the customer).
    Wait,
}

/// How a role's tasks are assigned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The deal's owner, else the account's owner, when that person has the role; else the role's queue.
    #[default]
    Owner,
    /// The next active person of the role, in turn.
    RoundRobin,
    /// The active person of the role with the fewest open tasks.
    LeastLoaded,
}

/// Time in watch mode.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockConfig {
    /// Minutes between two `clock.tick` events in `watch`; 0 turns ticking off.
    #[serde(default)]
    pub tick_interval_minutes: u64,
    /// A key account with no contact for this many days is `account.quiet` (0 = never).
    #[serde(default = "default_quiet")]
    pub quiet_account_days: u32,
    /// A contract is `contract.ending` this many days before its end (0 = never).
    #[serde(default = "default_notice")]
    pub contract_notice_days: u32,
    /// An open task is `task.overdue` this many days after its due date.
    #[serde(default = "default_overdue")]
    pub overdue_after_days: u32,
    /// An account is `target.behind` when its revenue so far is below this share of the
    /// target pro-rated to date (0.9 = more than 10% behind).
    #[serde(default = "default_target_share")]
    pub target_behind_share: f64,
}

fn default_quiet() -> u32 {
    30
}
fn default_notice() -> u32 {
    90
}
fn default_overdue() -> u32 {
    3
}
fn default_target_share() -> f64 {
    0.9
}

impl Default for ClockConfig {
    fn default() -> Self {
        ClockConfig {
            tick_interval_minutes: 0,
            quiet_account_days: default_quiet(),
            contract_notice_days: default_notice(),
            overdue_after_days: default_overdue(),
            target_behind_share: default_target_share(),
        }
    }
}

/// Watch mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchConfig {
    #[serde(default)]
    pub reload: ReloadMode,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReloadMode {
    /// Swap a good playbook in as soon as it loads.
    #[default]
    Direct,
    /// Also replay the stored history under it and print what it changes.
    SimulateFirst,
}

/// The team's working days: weekends and these holidays are skipped by due dates.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarConfig {
    #[serde(default)]
    pub holidays: Vec<chrono::NaiveDate>,
}

impl ClockConfig {
    pub fn tick_interval(&self) -> Option<std::time::Duration> {
        (self.tick_interval_minutes > 0).then(|| std::time::Duration::from_secs(self.tick_interval_minutes * 60))
    }
}

/// `[limits]`: the sandbox a rule runs in, and the bounds on one event line
/// and on the tasks one rule asks for. The defaults suit any sensible rule and
/// any sensible event.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Operations one rule call may take before it is stopped (an endless loop ends here).
    #[serde(default = "default_ops")]
    pub max_operations: u64,
    /// How deep rule functions may call each other (at most [`MAX_CALL_LEVELS`]).
    #[serde(default = "default_call_levels")]
    pub max_call_levels: usize,
    /// The longest string a rule may build, in bytes.
    #[serde(default = "default_string")]
    pub max_string_size: usize,
    /// The most items in one array or map.
    #[serde(default = "default_collection")]
    pub max_collection_size: usize,
    /// How many times one subject (a deal, an account) may react to one event
    /// (a stage move causing a key-account change causing ...) before the
    /// engine reports a loop. A fan-out over many subjects is not limited.
    #[serde(default = "default_chain")]
    pub max_chain: usize,
    /// A rule that fails on this many events in a row is quarantined: it does
    /// not run again until the rules change (0: never).
    #[serde(default = "default_quarantine")]
    pub quarantine_after: u32,
    /// The longest event line read, in bytes; a longer line is rejected
    /// unread (the line is the unit of memory an event takes: one line is
    /// held, parsed and applied at a time).
    #[serde(default = "default_event_line_bytes")]
    pub max_event_line_bytes: usize,
    /// How deep objects and arrays may nest in one event line (the envelope is level 1).
    #[serde(default = "default_event_depth")]
    pub max_event_depth: usize,
    /// The most JSON values (numbers, strings, objects, ... at any depth) one
    /// event line may hold: what bounds the memory a line of small values takes.
    #[serde(default = "default_event_values")]
    pub max_event_values: usize,
    /// The most tasks one rule may ask for on one event (or one change it
    /// reacts to); a rule asking for more makes none and fails with a rule
    /// error. Unset: 1000, or less when `max_collection_size` is lowered
    /// (see [`Limits::tasks_per_event`]).
    #[serde(default)]
    pub max_tasks_per_event: Option<usize>,
}

impl Limits {
    /// The task limit in force: `max_tasks_per_event`, or by default 1000
    /// and no more than a rule's list of tasks can hold within
    /// `max_collection_size`.
    pub fn tasks_per_event(&self) -> usize {
        self.max_tasks_per_event
            .unwrap_or_else(|| (self.max_collection_size / VALUES_PER_TASK).clamp(1, DEFAULT_TASKS_PER_EVENT))
    }
}

fn default_ops() -> u64 {
    200_000
}
/// The deepest `limits.max_call_levels`: rules run on a stack sized for
/// it (`crate::rules::stack`), so no rule can overflow it.
pub const MAX_CALL_LEVELS: usize = 256;

fn default_call_levels() -> usize {
    64
}
fn default_string() -> usize {
    64 * 1024
}
fn default_collection() -> usize {
    10_000
}
fn default_chain() -> usize {
    50
}
fn default_quarantine() -> u32 {
    5
}
fn default_event_line_bytes() -> usize {
    16 * 1024 * 1024
}
fn default_event_depth() -> usize {
    64
}
fn default_event_values() -> usize {
    100_000
}
const DEFAULT_TASKS_PER_EVENT: usize = 1000;
/// serde_json stops at 128 levels whatever the config says.
pub const MAX_EVENT_DEPTH: usize = 100;
/// The highest `max_event_line_bytes`.
pub const MAX_EVENT_LINE_BYTES: usize = 128 * 1024 * 1024;
/// The values a task map holds at most, counted against `max_collection_size`
/// (`decision`, `role`, `title` and the options a rule may give).
const VALUES_PER_TASK: usize = 10;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_operations: default_ops(),
            max_call_levels: default_call_levels(),
            max_string_size: default_string(),
            max_collection_size: default_collection(),
            max_chain: default_chain(),
            quarantine_after: default_quarantine(),
            max_event_line_bytes: default_event_line_bytes(),
            max_event_depth: default_event_depth(),
            max_event_values: default_event_values(),
            max_tasks_per_event: None,
        }
    }
}

/// The ordered stages of the pipeline, and which of them close a deal.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Pipeline {
    pub stages: Vec<String>,
    pub won: Vec<String>,
    pub lost: Vec<String>,
    /// Days a deal may stay in each stage before it is stuck (stages not listed: no limit).
    pub stage_days: BTreeMap<String, u32>,
    /// `[pipeline.parts]`: the part a stage plays in the playbook's rules
    /// (`negotiation` → `"Negotiations Started"`), so that rules written for
    /// one pipeline run on another by editing `config.toml` alone.
    pub parts: BTreeMap<String, String>,
}

impl Pipeline {
    pub fn index(&self, stage: &str) -> Option<usize> {
        self.stages.iter().position(|s| s == stage)
    }
    pub fn first(&self) -> &str {
        &self.stages[0]
    }
    /// The stage `name` stands for in rules and rule tests: the stage that
    /// plays the part `name` in `[pipeline.parts]`, else the stage called
    /// `name`; `None` when it is neither. (The config check makes sure a
    /// part that shares its name with a stage names that very stage, so the
    /// two readings never disagree.)
    pub fn resolve(&self, name: &str) -> Option<&str> {
        match self.parts.get(name) {
            Some(stage) => Some(stage.as_str()),
            None => self.index(name).map(|i| self.stages[i].as_str()),
        }
    }
    /// The stage `name` stands for in `config.toml`'s own tables
    /// (`[pipeline.stage_days]`, an import's stage map) and in rule tests:
    /// as [`Pipeline::resolve`], and `won` / `lost`, when neither a part nor a
    /// stage, for the pipeline's first won / lost stage. So those tables,
    /// written with the default playbook's names, hold for a renamed pipeline.
    pub fn stage_for(&self, name: &str) -> Option<&str> {
        stage_for(&self.stages, &self.won, &self.lost, |p| self.parts.get(p).map(String::as_str), name)
    }
    /// Every name [`Pipeline::resolve`] knows: the parts, then the stages.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.parts.keys().map(String::as_str).chain(self.stages.iter().map(String::as_str))
    }
    pub fn is_won(&self, stage: &str) -> bool {
        self.won.iter().any(|s| s == stage)
    }
    pub fn is_lost(&self, stage: &str) -> bool {
        self.lost.iter().any(|s| s == stage)
    }
    pub fn is_closed(&self, stage: &str) -> bool {
        self.is_won(stage) || self.is_lost(stage)
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Person {
    /// The name shown wherever the person appears.
    pub name: String,
    /// The CRM's user id (`[[team]] id`), when config.toml gives one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Their first role (`role`, or the first of `roles`): the one shown where one is.
    pub role: String,
    /// Every role they hold, each with its weight and cap.
    pub roles: Vec<Membership>,
    pub region: Option<String>,
    pub active: bool,
    /// Their time off, by date.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub away: Vec<Away>,
    /// The days of the week they work.
    #[serde(skip_serializing_if = "is_full_week")]
    pub days: WorkingDays,
    /// `[[team]] slack`: a Slack member ID or handle, for notifications.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slack: Option<String>,
}

fn is_full_week(d: &WorkingDays) -> bool {
    d.is_full_week()
}

impl Person {
    /// What the store keeps for this person (a deal's or an account's
    /// owner, a task's assignee, who claimed or closed it) and what rules
    /// see: the id when there is one, else the name. Stable: a namesake
    /// joining the team later does not change it.
    pub fn key(&self) -> &str {
        self.id.as_deref().unwrap_or(&self.name)
    }
}

/// What a name or an id written by an event, a rule or a command stands for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lookup<'a> {
    /// The team member it names: by id first, else by a name only they have.
    Found(&'a Person),
    /// A name several people of the team share (each has an id).
    Ambiguous(&'a [usize]),
    /// Nobody on the team.
    Unknown,
}

/// The team by id and by name, for [`Config::find_person`].
#[derive(Debug, Clone, Default)]
struct People {
    by_id: std::collections::HashMap<String, usize>,
    by_name: std::collections::HashMap<String, Vec<usize>>,
}

/// A pipeline named Pipedrive's way, with the parts `qualified` and
/// `negotiation`, for tests of rules on a pipeline of another shape.
#[cfg(test)]
pub(crate) fn pipedrive_pipeline() -> Pipeline {
    Pipeline {
        stages: ["Lead In", "Contact Made", "Proposal Made", "Negotiations Started", "Contract Sent", "Won", "Lost"]
            .map(String::from)
            .to_vec(),
        won: vec!["Won".into()],
        lost: vec!["Lost".into()],
        parts: [("qualified", "Contact Made"), ("negotiation", "Negotiations Started")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into(),
        ..Pipeline::default()
    }
}

/// The default `config.toml` with its pipeline renamed Pipedrive's way (eight
/// stages; each part of the playbook given its stage), as a team adapts it.
#[cfg(test)]
pub(crate) fn pipedrive_default_config_text() -> String {
    include_str!("../config.toml")
        .replace(
            r#"stages = ["lead", "qualified", "proposal", "negotiation", "won", "lost"]"#,
            r#"stages = ["Lead In", "Contact Made", "Demo Scheduled", "Proposal Made", "Negotiations Started", "Contract Sent", "Won", "Lost"]"#,
        )
        .replace(r#"won = ["won"]"#, r#"won = ["Won"]"#)
        .replace(r#"lost = ["lost"]"#, r#"lost = ["Lost"]"#)
        .replace(r#"lead = "lead""#, r#"lead = "Lead In""#)
        .replace(r#"qualified = "qualified""#, r#"qualified = "Contact Made""#)
        .replace(r#"proposal = "proposal""#, r#"proposal = "Proposal Made""#)
        .replace(r#"negotiation = "negotiation""#, r#"negotiation = "Negotiations Started""#)
}

/// [`Pipeline::stage_for`] over the pieces of a pipeline (also while
/// `config.toml` is being read, before there is a [`Pipeline`]).
fn stage_for<'a>(
    stages: &'a [String],
    won: &'a [String],
    lost: &'a [String],
    part: impl Fn(&str) -> Option<&'a str>,
    name: &str,
) -> Option<&'a str> {
    part(name).or_else(|| stages.iter().find(|s| *s == name).map(String::as_str)).or_else(|| match name {
        "won" => won.first().map(String::as_str),
        "lost" => lost.first().map(String::as_str),
        _ => None,
    })
}

/// `[import.crm_sales_opportunities]`: reading the crm-sales-opportunities export.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CrmImportConfig {
    /// The export's deal stage (`Prospecting`, `Engaging`, `Won`, `Lost`) → a pipeline stage.
    /// The defaults, overridden key by key by `[import.crm_sales_opportunities.stages]`.
    pub stages: BTreeMap<String, String>,
}

impl Default for CrmImportConfig {
    fn default() -> Self {
        let stages = [("Prospecting", "lead"), ("Engaging", "qualified"), ("Won", "won"), ("Lost", "lost")];
        CrmImportConfig { stages: stages.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect() }
    }
}

/// A loaded, validated config.
#[derive(Debug, Clone)]
pub struct Config {
    /// The config directory (where `config.toml` and `rules/` are).
    pub dir: PathBuf,
    /// The text of `config.toml`, part of the rules version.
    pub text: String,
    pub store: StoreConfig,
    pub pipeline: Pipeline,
    pub roles: BTreeMap<String, RoleConfig>,
    pub team: Vec<Person>,
    /// `team` by id and by name.
    people: People,
    /// The `[settings]` table, visible to rules as `settings`.
    pub settings: toml::Table,
    pub limits: Limits,
    pub clock: ClockConfig,
    pub calendar: crate::time::Calendar,
    pub watch: WatchConfig,
    /// `dealflow import crm-sales-opportunities`.
    pub crm_import: CrmImportConfig,
    /// `[tasks]`: how long a claim holds a task.
    pub tasks: TasksConfig,
    /// `[webhooks]`: the CRMs that may push changes, and how they map to events.
    pub webhooks: WebhooksConfig,
    /// `[notify.NAME]`: the notification targets, by name.
    pub notify: crate::notify::Targets,
}

impl Config {
    /// Read and validate `DIR/config.toml`.
    pub fn load(dir: &Path) -> Result<Config> {
        let path = dir.join(CONFIG_FILE);
        let bytes = std::fs::read(&path).map_err(|source| Error::Read { path: path.clone(), source })?;
        let text = String::from_utf8(bytes).map_err(|e| {
            // Say where, as for any other mistake in the file.
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let text = std::str::from_utf8(valid).unwrap_or_default();
            let (line, col) = LineStarts::new(text).line_col(text, text.len());
            let message = "not valid UTF-8: save config.toml as UTF-8 text";
            Error::invalid(vec![Located::new(CONFIG_FILE, line, col, message)])
        })?;
        Config::parse(dir, &text)
    }

    /// Validate config text that belongs to the config directory `dir`.
    pub fn parse(dir: &Path, text: &str) -> Result<Config> {
        if text.trim().is_empty() {
            let message =
                "the file is empty: it needs at least [pipeline] and [roles] (`dealflow init` writes a complete one)";
            return Err(Error::invalid(vec![Located::new(CONFIG_FILE, 1, 1, message)]));
        }
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let start = e.span().map(|s| s.start);
            let (line, col) = start.map(|s| LineStarts::new(text).line_col(text, s)).unwrap_or((1, 1));
            // toml's message says what is wrong with a value, not whose value it is.
            let message = match start.and_then(|s| key_at(text, s)) {
                Some(key) => format!("{key}: {}", e.message().trim()),
                None => e.message().trim().to_string(),
            };
            Error::invalid(vec![Located::new(CONFIG_FILE, line, col, message)])
        })?;
        let mut problems = Vec::new();
        let lines = LineStarts::new(text);
        let mut at = |span: std::ops::Range<usize>, message: String| {
            let (line, col) = lines.line_col(text, span.start);
            problems.push(Located::new(CONFIG_FILE, line, col, message));
        };

        let stages: Vec<String> = raw.pipeline.stages.iter().map(|s| s.get_ref().clone()).collect();
        if stages.is_empty() {
            at(place(text, &["pipeline", "stages"]), "pipeline.stages: the pipeline needs at least one stage".into());
        }
        for (i, s) in raw.pipeline.stages.iter().enumerate() {
            if stages[..i].contains(s.get_ref()) {
                at(s.span(), format!("pipeline.stages: stage {:?} is listed twice", s.get_ref()));
            }
            if s.get_ref().trim().is_empty() {
                at(s.span(), "pipeline.stages: a stage name cannot be empty".into());
            }
        }
        for (key, list) in [("won", &raw.pipeline.won), ("lost", &raw.pipeline.lost)] {
            for s in list {
                if !stages.contains(s.get_ref()) {
                    let h = hint(s.get_ref(), stages.iter().map(String::as_str));
                    at(s.span(), format!("pipeline.{key}: {:?} is not a stage of pipeline.stages{h}", s.get_ref()));
                }
            }
        }
        if raw.pipeline.won.is_empty() {
            at(
                place(text, &["pipeline", "won"]),
                "pipeline.won: name at least one stage that means the deal is won".into(),
            );
        }
        if let Some(first) = stages.first()
            && (raw.pipeline.won.iter().chain(&raw.pipeline.lost)).any(|s| s.get_ref() == first)
        {
            at(
                raw.pipeline.stages[0].span(),
                format!("pipeline.stages: the first stage {first:?} cannot be a closed stage"),
            );
        }
        for (part, stage) in &raw.pipeline.parts {
            let place_of = place(text, &["pipeline", "parts", part]);
            if !is_identifier(part) {
                at(place_of, format!("pipeline.parts.{part}: a part name uses lowercase letters, digits and _ only"));
            } else if !stages.contains(stage.get_ref()) {
                let h = hint(stage.get_ref(), stages.iter().map(String::as_str));
                at(
                    stage.span(),
                    format!("pipeline.parts.{part}: {:?} is not a stage of pipeline.stages{h}", stage.get_ref()),
                );
            } else if stages.contains(part) && part != stage.get_ref() {
                at(
                    stage.span(),
                    format!(
                        "pipeline.parts.{part}: {part:?} is also a stage of pipeline.stages, so it must name that stage, not {:?} (rename the stage or the part)",
                        stage.get_ref()
                    ),
                );
            }
        }
        // config.toml's own tables name a stage as the rules do: by its part,
        // or by itself (and `won` / `lost` for the first won / lost stage).
        let won: Vec<String> = raw.pipeline.won.iter().map(|s| s.get_ref().clone()).collect();
        let lost: Vec<String> = raw.pipeline.lost.iter().map(|s| s.get_ref().clone()).collect();
        // (A part naming no stage is a problem of its own above, not one more of each table that uses it.)
        let part_of = |p: &str| raw.pipeline.parts.get(p).map(|s| s.get_ref().as_str());
        let known = || {
            let mut names: Vec<&str> = raw.pipeline.parts.keys().map(String::as_str).collect();
            names.extend(stages.iter().map(String::as_str));
            names
        };
        let what_it_takes = "neither a stage of pipeline.stages nor a part in [pipeline.parts]";
        let mut stage_days: BTreeMap<String, u32> = BTreeMap::new();
        let mut given_as: BTreeMap<String, String> = BTreeMap::new();
        let mut in_file_order: Vec<_> = raw.pipeline.stage_days.iter().collect();
        in_file_order.sort_by_key(|(_, days)| days.span().start);
        for (name, days) in in_file_order {
            match stage_for(&stages, &won, &lost, part_of, name) {
                None => {
                    let h = hint(name, known());
                    at(days.span(), format!("pipeline.stage_days: {name:?} is {what_it_takes}{h}"));
                }
                Some(_) if *days.get_ref() == 0 => at(
                    days.span(),
                    format!("pipeline.stage_days.{name}: give a number of days of at least 1, or leave the stage out"),
                ),
                Some(stage) => match given_as.get(stage) {
                    Some(first) => at(
                        days.span(),
                        format!("pipeline.stage_days.{name}: the stage {stage:?} is given already (as {first:?})"),
                    ),
                    None => {
                        given_as.insert(stage.to_string(), name.clone());
                        stage_days.insert(stage.to_string(), *days.get_ref());
                    }
                },
            }
        }
        if !(0.0..=1.0).contains(&raw.clock.target_behind_share) {
            at(
                place(text, &["clock", "target_behind_share"]),
                "clock.target_behind_share: a share between 0 and 1, like 0.9".into(),
            );
        }
        if raw.roles.is_empty() {
            at(place(text, &["roles"]), "roles: define at least one role".into());
        }
        for name in raw.roles.keys() {
            if !is_identifier(name) {
                at(
                    place(text, &["roles", name]),
                    format!("roles.{name}: a role name uses lowercase letters, digits and _ only"),
                );
            }
        }
        let mut team = Vec::new();
        let mut people = People::default();
        for (i, p) in raw.team.iter().enumerate() {
            let written = team::Written {
                name: p.name.get_ref(),
                role: p.role.as_ref(),
                roles: p.roles.as_ref(),
                weight: p.weight.as_ref(),
                max_open: p.max_open.as_ref(),
                away: &p.away,
                days: p.days.as_ref(),
                entry: p.name.span(),
            };
            let available = team::availability(&written, &raw.roles, &mut at);
            let id = p.id.as_ref().map(|id| id.get_ref().0.clone());
            if let Some(given) = &p.id
                && given.get_ref().0.trim().is_empty()
            {
                at(
                    given.span(),
                    format!("team: {:?} has an empty id: give the CRM's user id or leave it out", p.name.get_ref()),
                );
            } else if let Some(given) = &p.id
                && let Some(&first) = people.by_id.get(&given.get_ref().0)
            {
                at(
                    given.span(),
                    format!(
                        "team: id {:?} is given to {:?} and to {:?} already: ids must be unique",
                        given.get_ref().0,
                        p.name.get_ref(),
                        raw.team[first].name.get_ref()
                    ),
                );
            } else if let Some(id) = &id {
                people.by_id.insert(id.clone(), i);
            }
            people.by_name.entry(p.name.get_ref().clone()).or_default().push(i);
            team.push(Person {
                name: p.name.get_ref().clone(),
                id,
                role: available.roles.first().map(|m| m.role.clone()).unwrap_or_default(),
                roles: available.roles,
                region: p.region.clone(),
                active: p.active,
                away: available.away,
                days: available.days,
                slack: p.slack.as_ref().map(|s| s.get_ref().trim().to_string()),
            });
            if let Some(handle) = &p.slack
                && !crate::notify::message::is_slack_handle(handle.get_ref().trim())
            {
                at(
                    handle.span(),
                    format!(
                        "team: {:?} has slack = {:?}: give their member ID (like \"U024BE7LH\", in Slack: profile, ⋮, Copy member ID) to mention them, or a handle like \"@ana\"",
                        p.name.get_ref(),
                        handle.get_ref()
                    ),
                );
            }
        }
        // Two people may share a name when both have an id (the CRM tells
        // them apart); a name listed twice without ids is a mistake.
        for (i, p) in raw.team.iter().enumerate() {
            let same = &people.by_name[p.name.get_ref()];
            if same.len() > 1 && same[0] != i && (team[i].id.is_none() || team[same[0]].id.is_none()) {
                let why = if team[i].id.is_none() && team[same[0]].id.is_none() {
                    "give each their CRM user id (`id = ...`) if they are two people"
                } else {
                    "people who share a name need an id each"
                };
                at(p.name.span(), format!("team: {:?} is listed twice; {why}", p.name.get_ref()));
            }
            if let Some(given) = &p.id
                && let Some(other) = people.by_name.get(&given.get_ref().0).and_then(|v| v.iter().find(|&&j| j != i))
            {
                at(
                    given.span(),
                    format!(
                        "team: the id {:?} of {:?} is the name of {:?}: an id must not be someone else's name",
                        given.get_ref().0,
                        p.name.get_ref(),
                        raw.team[*other].name.get_ref()
                    ),
                );
            }
        }
        let notify = {
            let person = |name: &str| -> std::result::Result<String, String> {
                if let Some(&i) = people.by_id.get(name) {
                    return Ok(team[i].key().to_string());
                }
                match people.by_name.get(name).map(Vec::as_slice) {
                    Some([i]) => Ok(team[*i].key().to_string()),
                    Some(_) => Err(format!("{name:?} is the name of several people of the team: give their id")),
                    None => Err(format!("{name:?} is not on the team ([[team]])")),
                }
            };
            let place = |path: &[&str]| place(text, path);
            let known = crate::notify::config::Known {
                roles: raw.roles.keys().map(String::as_str).collect(),
                person: &person,
                names: team.iter().map(|p| p.name.as_str()).collect(),
                place: &place,
            };
            crate::notify::config::validate(&raw.notify, &known, &mut at)
        };
        let mut crm_import = CrmImportConfig::default();
        for stage in crm_import.stages.values_mut() {
            if let Some(ours) = stage_for(&stages, &won, &lost, part_of, stage) {
                *stage = ours.to_string();
            }
        }
        for (crm_stage, stage) in &raw.import.crm_sales_opportunities.stages {
            match stage_for(&stages, &won, &lost, part_of, stage.get_ref()) {
                Some(ours) => {
                    crm_import.stages.insert(crm_stage.clone(), ours.to_string());
                }
                None => {
                    let h = hint(stage.get_ref(), known());
                    at(
                        stage.span(),
                        format!(
                            "import.crm_sales_opportunities.stages.{crm_stage}: {:?} is {what_it_takes}{h}",
                            stage.get_ref()
                        ),
                    );
                }
            }
        }
        let webhooks = webhooks::check(
            &raw.webhooks,
            &mut at,
            &|name| stage_for(&stages, &won, &lost, part_of, name).map(str::to_string),
            &known(),
        );
        if *raw.tasks.lease_minutes.get_ref() > MAX_LEASE_MINUTES {
            at(
                raw.tasks.lease_minutes.span(),
                format!(
                    "tasks.lease_minutes: at most {MAX_LEASE_MINUTES} (a year); 0 means a claimed task is never taken back"
                ),
            );
        }
        if raw.store.batch_size == 0 {
            at(place(text, &["store", "batch_size"]), "store.batch_size: must be at least 1".into());
        }
        if !(1..=MAX_LEASE_SECONDS).contains(&raw.store.lease_seconds) {
            at(
                place(text, &["store", "lease_seconds"]),
                format!(
                    "store.lease_seconds: from 1 to {MAX_LEASE_SECONDS}: how long the engine lease lasts unless its \
                     holder renews it (a standby takes over from a stalled holder after it)"
                ),
            );
        }
        if let Some(url) = &raw.store.url
            && !crate::store::is_postgres_url(url)
        {
            at(
                place(text, &["store", "url"]),
                "store.url: a PostgreSQL database, written postgres://USER@HOST:PORT/DATABASE (a SQLite file goes in store.path)"
                    .into(),
            );
        }
        let l = &raw.limits;
        for (key, value) in [
            ("max_chain", l.max_chain as u64),
            ("max_operations", l.max_operations),
            ("max_event_line_bytes", l.max_event_line_bytes as u64),
            ("max_event_depth", l.max_event_depth as u64),
            ("max_event_values", l.max_event_values as u64),
            ("max_tasks_per_event", l.max_tasks_per_event.unwrap_or(1) as u64),
        ] {
            if value == 0 {
                at(place(text, &["limits", key]), format!("limits.{key}: must be at least 1"));
            }
        }
        if raw.limits.max_call_levels > MAX_CALL_LEVELS {
            at(
                place(text, &["limits", "max_call_levels"]),
                format!("limits.max_call_levels: at most {MAX_CALL_LEVELS} (the stack rules run on is sized for it)"),
            );
        }
        // A rule's list of tasks counts against the sandbox's collection
        // limit (every entry of every task map): the task limit must be the
        // one a rule meets first, or its error says "map grew too large".
        let most_tasks = l.max_collection_size / VALUES_PER_TASK;
        if l.max_tasks_per_event.is_some_and(|max| max > most_tasks) {
            at(
                place(text, &["limits", "max_tasks_per_event"]),
                format!(
                    "limits.max_tasks_per_event: at most limits.max_collection_size / {VALUES_PER_TASK} ({most_tasks}): a rule's list of tasks must fit the sandbox's collection limit; raise both"
                ),
            );
        }
        if l.max_event_line_bytes > MAX_EVENT_LINE_BYTES {
            at(
                place(text, &["limits", "max_event_line_bytes"]),
                format!(
                    "limits.max_event_line_bytes: at most {MAX_EVENT_LINE_BYTES} (128 MiB; the store keeps each event whole, and SQLite holds at most 1 GB in one value)"
                ),
            );
        }
        if l.max_event_depth > MAX_EVENT_DEPTH {
            at(
                place(text, &["limits", "max_event_depth"]),
                format!("limits.max_event_depth: at most {MAX_EVENT_DEPTH}"),
            );
        }
        if !problems.is_empty() {
            // In the order of the file, as a person reads it and fixes it.
            problems.sort_by_key(|p| (p.line, p.col));
            return Err(Error::invalid(problems));
        }
        Ok(Config {
            dir: dir.to_path_buf(),
            text: text.to_string(),
            store: raw.store,
            pipeline: Pipeline {
                stages,
                won,
                lost,
                stage_days,
                parts: raw.pipeline.parts.into_iter().map(|(k, v)| (k, v.into_inner())).collect(),
            },
            roles: raw.roles,
            team,
            people,
            settings: raw.settings,
            limits: raw.limits,
            clock: raw.clock,
            calendar: crate::time::Calendar::new(raw.calendar.holidays),
            watch: raw.watch,
            crm_import,
            tasks: TasksConfig { lease_minutes: raw.tasks.lease_minutes.into_inner() },
            webhooks,
            notify,
        })
    }

    /// The store path: `override_path` when given, else the configured one relative to the config dir.
    pub fn store_path(&self, override_path: Option<&Path>) -> PathBuf {
        match override_path {
            Some(p) => p.to_path_buf(),
            None => self.dir.join(&self.store.path),
        }
    }

    /// The store: `--db` (or `DEALFLOW_DB`) if given, else `[store] url`
    /// if set, else the file `[store] path` (relative to the config folder).
    pub fn store_location(&self, override_db: Option<&str>) -> crate::store::Location {
        use crate::store::Location;
        match (override_db, &self.store.url) {
            (Some(db), _) => Location::parse(db),
            (None, Some(url)) => Location::Postgres(url.clone()),
            (None, None) => Location::File(self.dir.join(&self.store.path)),
        }
    }

    pub fn rules_dir(&self) -> PathBuf {
        self.dir.join("rules")
    }

    /// The team member an event, a rule, a command or the store names: the
    /// one whose id it is, else the one whose name it is when nobody else
    /// has that name. `None` for nobody on the team, and for a name two
    /// people share (see [`Config::lookup_person`] to tell the two apart).
    pub fn find_person(&self, name_or_id: &str) -> Option<&Person> {
        match self.lookup_person(name_or_id) {
            Lookup::Found(p) => Some(p),
            _ => None,
        }
    }

    /// What `name_or_id` stands for: an id matches first, then a name.
    pub fn lookup_person(&self, name_or_id: &str) -> Lookup<'_> {
        if let Some(&i) = self.people.by_id.get(name_or_id) {
            return Lookup::Found(&self.team[i]);
        }
        match self.people.by_name.get(name_or_id).map(Vec::as_slice) {
            Some([i]) => Lookup::Found(&self.team[*i]),
            Some(many) if !many.is_empty() => Lookup::Ambiguous(many),
            _ => Lookup::Unknown,
        }
    }

    /// The key ([`Person::key`]) to store for `name_or_id`: the person's key
    /// when it names someone on the team, itself when it names nobody (an
    /// owner from outside the team is kept as written), or why it cannot be
    /// stored: a name two people share.
    pub fn person_key<'a>(&'a self, name_or_id: &'a str) -> std::result::Result<&'a str, String> {
        match self.lookup_person(name_or_id) {
            Lookup::Found(p) => Ok(p.key()),
            Lookup::Unknown => Ok(name_or_id),
            Lookup::Ambiguous(_) => Err(self.ambiguous(name_or_id)),
        }
    }

    /// Why `name` does not say who: the ids of the people who share it.
    pub fn ambiguous(&self, name: &str) -> String {
        let ids: Vec<String> = self
            .people
            .by_name
            .get(name)
            .into_iter()
            .flatten()
            .map(|&i| format!("{:?}", self.team[i].id.as_deref().unwrap_or_default()))
            .collect();
        format!(
            "{name:?} is ambiguous: {} people of the team are called that (ids {}); name one by id",
            ids.len(),
            ids.join(", ")
        )
    }

    /// How a stored person (a key, or a name stored before the team had ids)
    /// is shown: the name, with the id beside it when someone else on the
    /// team has that name too (`Alex Kim (102)`); as stored when it names
    /// nobody on the team.
    pub fn person_label(&self, stored: &str) -> String {
        match self.find_person(stored) {
            Some(p) if self.people.by_name.get(&p.name).is_some_and(|v| v.len() > 1) => {
                format!("{} ({})", p.name, p.id.as_deref().unwrap_or_default())
            }
            Some(p) => p.name.clone(),
            None => stored.to_string(),
        }
    }

    /// Whether two stored people (keys, names, ids) are the same person:
    /// the same text, or the same team member.
    pub fn same_person(&self, a: &str, b: &str) -> bool {
        a == b || self.find_person(a).is_some_and(|p| self.find_person(b).is_some_and(|q| std::ptr::eq(p, q)))
    }

    pub fn has_role(&self, role: &str) -> bool {
        self.roles.contains_key(role)
    }

    /// Line and column of the value of `[settings] NAME` in `config.toml` (of the key, or the file's start, when it has none).
    pub fn setting_place(&self, name: &str) -> (usize, usize) {
        let value = toml_edit::Document::parse(self.text.as_str())
            .ok()
            .and_then(|doc| doc.get("settings").and_then(|s| s.get(name)).and_then(|v| v.span()));
        let at = value.unwrap_or_else(|| place(&self.text, &["settings", name]));
        crate::error::line_col(&self.text, at.start)
    }
}

/// The dotted name (`pipeline.stage_days.proposal`) of the `key = value` on
/// the line of byte `offset`, under the last `[table]` header above it; `None`
/// when that line holds no such key.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let start = text.get(..offset)?.rfind('\n').map_or(0, |i| i + 1);
    let (key, _) = text[start..].lines().next()?.split_once('=')?;
    let key = key.trim();
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || "_-.\"".contains(c)) {
        return None;
    }
    let key = key.replace('"', "");
    let table = text[..start]
        .lines()
        .rev()
        .map(|l| l.split('#').next().unwrap_or_default().trim())
        .find(|l| l.starts_with('['))
        .map(|h| h.trim_matches(['[', ']']).trim().to_string());
    Some(match table {
        Some(t) if !t.is_empty() => format!("{t}.{key}"),
        _ => key,
    })
}

/// Where the key at `path` (`["clock", "target_behind_share"]`) is written
/// in `text`: the key itself, else the deepest table of the path that is
/// there, else the start of the file. For problems found after parsing, in
/// values that carry no span of their own.
fn place(text: &str, path: &[&str]) -> std::ops::Range<usize> {
    let Ok(doc) = toml_edit::Document::parse(text) else { return 0..0 };
    let mut found = 0..0;
    let mut table: &dyn toml_edit::TableLike = doc.as_table();
    for (i, key) in path.iter().enumerate() {
        let Some((k, item)) = table.get_key_value(key) else { break };
        if let Some(span) = k.span().or_else(|| item.span()) {
            found = span;
        }
        match item.as_table_like() {
            Some(t) if i + 1 < path.len() => table = t,
            _ => break,
        }
    }
    found
}

/// Where each line of a text starts, to turn byte offsets into lines and
/// columns without scanning the text again for every problem (a config with
/// thousands of them stays fast).
struct LineStarts(Vec<usize>);

impl LineStarts {
    fn new(text: &str) -> LineStarts {
        LineStarts(std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect())
    }

    /// 1-based line and column (in characters) of byte `offset`.
    fn line_col(&self, text: &str, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.0.partition_point(|&start| start <= offset);
        let start = self.0[line - 1];
        (line, text[start..offset].chars().count() + 1)
    }
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[pipeline]
stages = ["lead", "won", "lost"]
won = ["won"]
lost = ["lost"]

[roles.sales_rep]
"#;

    fn parse(text: &str) -> Result<Config> {
        Config::parse(Path::new("."), text)
    }

    #[test]
    fn pipeline_parts_name_stages_and_resolve_before_stage_names() {
        let c = parse(&format!("{MINIMAL}\n[pipeline.parts]\nqualified = \"lead\"\n")).unwrap();
        assert_eq!(c.pipeline.resolve("qualified"), Some("lead"));
        assert_eq!(c.pipeline.resolve("won"), Some("won"));
        assert_eq!(c.pipeline.resolve("negotiation"), None);
        let msg = problems(&format!("{MINIMAL}\n[pipeline.parts]\nqualified = \"leed\"\n"));
        assert!(msg.starts_with("config.toml:10:13: pipeline.parts.qualified: \"leed\" is not a stage"), "{msg}");
        assert!(msg.contains("did you mean \"lead\""), "{msg}");
        let msg = problems(&format!("{MINIMAL}\n[pipeline.parts]\nlead = \"won\"\n"));
        assert!(msg.contains("pipeline.parts.lead: \"lead\" is also a stage"), "{msg}");
    }

    fn problems(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn minimal_config_loads_with_defaults() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.pipeline.first(), "lead");
        assert!(c.pipeline.is_closed("lost"));
        assert_eq!(c.store.path, PathBuf::from("dealflow.db"));
    }

    #[test]
    fn unknown_key_is_named_with_its_line() {
        let text = format!("{MINIMAL}\n[store]\npaht = \"x.db\"\n");
        let msg = problems(&text);
        assert!(msg.starts_with("config.toml:10:1:"), "{msg}");
        assert!(msg.contains("paht"), "{msg}");
    }

    #[test]
    fn won_stage_must_exist() {
        let msg = problems(&MINIMAL.replace("won = [\"won\"]", "won = [\"wonn\"]"));
        assert!(msg.contains("\"wonn\" is not a stage") && msg.contains("did you mean \"won\""), "{msg}");
        assert!(msg.starts_with("config.toml:4:"), "{msg}");
    }

    #[test]
    fn team_role_must_exist() {
        let text = format!("{MINIMAL}\n[[team]]\nname = \"Ana\"\nrole = \"sales_repp\"\n");
        let msg = problems(&text);
        assert!(msg.contains("did you mean \"sales_rep\""), "{msg}");
    }

    fn team(people: &[&str]) -> String {
        let mut text = MINIMAL.to_string();
        for p in people {
            text.push_str(&format!("\n[[team]]\nrole = \"sales_rep\"\n{p}\n"));
        }
        text
    }

    #[test]
    fn people_are_found_by_id_first_then_by_a_name_only_they_have() {
        let c = parse(&team(&[
            "name = \"Alex Kim\"\nid = 101",
            "name = \"Alex Kim\"\nid = \"102\"",
            "name = \"Ana\"",
            "name = \"Ben\"\nid = \"u-7\"",
        ]))
        .unwrap();
        let found = |s: &str| c.find_person(s).map(|p| (p.name.as_str(), p.key()));
        assert_eq!(found("101"), Some(("Alex Kim", "101")), "a number in TOML is its text");
        assert_eq!(found("102"), Some(("Alex Kim", "102")));
        assert_eq!(found("Ana"), Some(("Ana", "Ana")), "no id: the name is the key, as before");
        assert_eq!(found("Ben"), Some(("Ben", "u-7")), "a unique name finds a person with an id");
        assert_eq!(found("u-7"), Some(("Ben", "u-7")));
        assert_eq!(found("Alex Kim"), None, "a shared name names nobody");
        assert_eq!(found("103"), None);
        assert!(matches!(c.lookup_person("Alex Kim"), Lookup::Ambiguous([0, 1])));
        let why = c.person_key("Alex Kim").unwrap_err();
        assert!(why.contains("\"Alex Kim\" is ambiguous") && why.contains("ids \"101\", \"102\""), "{why}");
        assert_eq!(c.person_key("Ben"), Ok("u-7"));
        assert_eq!(c.person_key("Zed"), Ok("Zed"), "someone off the team is kept as written");
        assert_eq!(c.person_label("102"), "Alex Kim (102)", "namesakes are told apart where shown");
        assert_eq!(c.person_label("u-7"), "Ben");
        assert_eq!(c.person_label("Zed"), "Zed");
        assert!(c.same_person("Ben", "u-7") && !c.same_person("101", "102"));
    }

    #[test]
    fn a_shared_name_needs_an_id_on_everyone_and_ids_are_unique() {
        let msg = problems(&team(&["name = \"Ana\"", "name = \"Ana\""]));
        assert!(
            msg.starts_with("config.toml:15:8: team: \"Ana\" is listed twice; give each their CRM user id"),
            "{msg}"
        );
        let msg = problems(&team(&["name = \"Ana\"\nid = 1", "name = \"Ana\""]));
        assert!(msg.contains("team: \"Ana\" is listed twice; people who share a name need an id each"), "{msg}");
        let msg = problems(&team(&["name = \"Ana\"", "name = \"Ana\"\nid = 1"]));
        assert!(msg.contains("people who share a name need an id each"), "{msg}");
        let msg = problems(&team(&["name = \"Ana\"\nid = 101", "name = \"Bo\"\nid = \"101\""]));
        assert!(
            msg.starts_with(
                "config.toml:17:6: team: id \"101\" is given to \"Bo\" and to \"Ana\" already: ids must be unique"
            ),
            "{msg}"
        );
        let msg = problems(&team(&["name = \"Ana\"\nid = \" \""]));
        assert!(msg.contains("team: \"Ana\" has an empty id"), "{msg}");
        let msg = problems(&team(&["name = \"Ana\"\nid = \"Bo\"", "name = \"Bo\""]));
        assert!(msg.contains("the id \"Bo\" of \"Ana\" is the name of \"Bo\""), "{msg}");
        let msg = problems(&team(&["name = \"Ana\"\nid = 1.5"]));
        assert!(msg.starts_with("config.toml:12:6: team.id: invalid type: floating point"), "{msg}");
        // Namesakes with ids of their own are two people.
        assert_eq!(parse(&team(&["name = \"Ana\"\nid = 1", "name = \"Ana\"\nid = 2"])).unwrap().team.len(), 2);
    }

    #[test]
    fn availability_in_the_team_reads_roles_weights_caps_days_and_time_off() {
        let text = format!(
            "{MINIMAL}max_open = 5\n[roles.coordinator]\n\n[[team]]\nname = \"Ana\"\nroles = [{{ role = \"sales_rep\", \
             weight = 0.5 }}, {{ role = \"coordinator\", max_open = 2 }}]\ndays = [\"mon\", \"Tuesday\", \"WED\"]\naway = \
             [{{ from = 2026-07-01, to = \"2026-07-10\" }}]\n"
        );
        let c = parse(&text).unwrap();
        let ana = &c.team[0];
        let m = |r: &str| ana.membership(r).map(|m| (m.weight, m.max_open));
        assert_eq!(m("sales_rep"), Some((0.5, Some(5))), "the role's max_open when the person has none");
        assert_eq!(m("coordinator"), Some((1.0, Some(2))));
        assert_eq!(ana.days.names(), ["mon", "tue", "wed"]);
        let day = |d: &str| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap();
        assert!(ana.away_on(day("2026-07-01")).is_some() && ana.away_on(day("2026-07-11")).is_none());
    }

    #[test]
    fn availability_mistakes_say_what_to_write_at_their_place() {
        let ana = |lines: &str| format!("{MINIMAL}\n[[team]]\nname = \"Ana\"\n{lines}\n");
        let role = "role = \"sales_rep\"\n";
        for (text, want) in [
            (
                ana(&format!("{role}days = [\"mon\", \"thurs\"]")),
                "config.toml:12:16: team: \"Ana\" works \"thurs\", which is not a day of the week: give days as \
                 \"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\" (did you mean \"thu\"?)",
            ),
            (
                ana(&format!("{role}days = []")),
                "config.toml:12:8: team: \"Ana\" has days = []: give the days they work (like [\"mon\", \"tue\", \
                 \"wed\"]), or set active = false",
            ),
            (
                ana(&format!("{role}away = [{{ from = \"2026-07-10\", to = \"2026-07-01\" }}]")),
                "config.toml:12:37: team: \"Ana\" is away from 2026-07-10 to 2026-07-01, which ends before it starts",
            ),
            (
                ana(&format!("{role}away = [{{ from = \"2026-07-32\", to = \"2026-08-01\" }}]")),
                "config.toml:12:18: team: \"Ana\" has away from = \"2026-07-32\", which is not a date: give one like \
                 \"2026-07-01\"",
            ),
            (
                ana(&format!("{role}away = [{{ from = \"2026-07-01\", until = \"2026-07-03\" }}]")),
                "config.toml:12:32: team.away: unknown field `until`, expected `from` or `to`",
            ),
            (
                ana(&format!("{role}weight = 0")),
                "config.toml:12:10: team: \"Ana\" has weight = 0: give a number above 0 and at most 100 (1.0 is an \
                 ordinary share, 2.0 twice that, 0.5 half)",
            ),
            (
                ana(&format!("{role}max_open = -1")),
                "config.toml:12:12: team: \"Ana\" has max_open = -1: give a number of open tasks, 0 or more",
            ),
            (
                ana(&format!("{role}roles = [{{ role = \"sales_rep\" }}]")),
                "config.toml:12:9: team: \"Ana\" has both role = \"sales_rep\" and roles = [...]: give one role with \
                 `role`, or every role in `roles`",
            ),
            (ana("roles = []"), "config.toml:11:9: team: \"Ana\" has roles = []: give at least one role"),
            (
                ana("roles = [{ role = \"sales_repp\", weight = 0.5 }]"),
                "config.toml:11:19: team: \"Ana\" has role \"sales_repp\", which is not in [roles] (did you mean \
                 \"sales_rep\"?)",
            ),
            (
                ana("roles = [{ role = \"sales_rep\" }, { role = \"sales_rep\" }]"),
                "config.toml:11:43: team: \"Ana\" has the role \"sales_rep\" twice",
            ),
            (
                format!("{MINIMAL}while_away = \"queue\"\n"),
                "config.toml:8:14: roles.sales_rep.while_away: unknown variant `queue`, expected `reassign` or `wait`",
            ),
        ] {
            let msg = problems(&text);
            assert!(msg.starts_with(want), "{text}\ngave:\n{msg}\nwanted:\n{want}");
        }
    }

    #[test]
    fn bad_values_name_their_key() {
        let msg = problems(&format!("{MINIMAL}\n[pipeline.stage_days]\nlead = -3\n"));
        assert!(msg.starts_with("config.toml:10:8: pipeline.stage_days.lead: invalid value"), "{msg}");
        let msg = problems(&format!("{MINIMAL}assign = \"random\"\n"));
        assert!(msg.contains("roles.sales_rep.assign: unknown variant `random`"), "{msg}");
        let msg = problems(&format!("{MINIMAL}\n[[team]]\nname = \"Ana\"\nrole = \"sales_rep\"\nactive = \"no\"\n"));
        assert!(msg.contains("team.active: invalid type"), "{msg}");
    }

    #[test]
    fn crm_import_stages_default_and_must_be_pipeline_stages() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.crm_import.stages["Won"], "won");
        assert_eq!(c.crm_import.stages["Engaging"], "qualified", "defaults are kept when the table is absent");
        let c = parse(&format!("{MINIMAL}\n[import.crm_sales_opportunities.stages]\nEngaging = \"lead\"\n")).unwrap();
        assert_eq!(c.crm_import.stages["Engaging"], "lead");
        assert_eq!(c.crm_import.stages["Lost"], "lost", "keys not given keep their default");
        let msg = problems(&format!("{MINIMAL}\n[import.crm_sales_opportunities.stages]\nWon = \"wonn\"\n"));
        assert!(
            msg.starts_with(
                "config.toml:10:7: import.crm_sales_opportunities.stages.Won: \"wonn\" is neither a stage of pipeline.stages nor a part"
            ),
            "{msg}"
        );
        assert!(msg.contains("did you mean \"won\""), "{msg}");
    }

    #[test]
    fn config_tables_name_a_stage_by_its_part_or_by_won_and_lost() {
        let renamed = r#"
[pipeline]
stages = ["Lead In", "Contact Made", "Proposal Made", "Won", "Lost"]
won = ["Won"]
lost = ["Lost"]
[pipeline.parts]
lead = "Lead In"
qualified = "Contact Made"
[pipeline.stage_days]
lead = 14
"Proposal Made" = 21
[import.crm_sales_opportunities.stages]
Prospecting = "qualified"
[roles.sales_rep]
"#;
        let c = parse(renamed).unwrap();
        let days: Vec<(&str, u32)> = c.pipeline.stage_days.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(days, [("Lead In", 14), ("Proposal Made", 21)]);
        // Given, by part; the defaults (lead, qualified, won, lost) by part and by won / lost.
        let map: Vec<(&str, &str)> = c.crm_import.stages.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            map,
            [("Engaging", "Contact Made"), ("Lost", "Lost"), ("Prospecting", "Contact Made"), ("Won", "Won")]
        );
        let twice = renamed.replace("\"Proposal Made\" = 21", "\"Lead In\" = 21");
        let msg = problems(&twice);
        assert!(
            msg.starts_with(
                "config.toml:11:13: pipeline.stage_days.Lead In: the stage \"Lead In\" is given already (as \"lead\")"
            ),
            "{msg}"
        );
        let unknown = renamed.replace("Prospecting = \"qualified\"", "Prospecting = \"proposal\"");
        let msg = problems(&unknown);
        assert!(
            msg.starts_with(
                "config.toml:13:15: import.crm_sales_opportunities.stages.Prospecting: \"proposal\" is neither a stage of pipeline.stages nor a part in [pipeline.parts] (did you mean \"Proposal Made\"?)"
            ),
            "{msg}"
        );
    }

    #[test]
    fn the_lease_defaults_to_four_hours_and_zero_turns_it_off() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.tasks.lease_minutes, 240);
        let now = "2026-11-02T12:00:00Z".parse().unwrap();
        assert_eq!(c.tasks.lapsed_before(now).as_deref(), Some("2026-11-02T08:00:00Z"));
        let c = parse(&format!("{MINIMAL}\n[tasks]\nlease_minutes = 0\n")).unwrap();
        assert_eq!(c.tasks.lapsed_before(now), None);
        let msg = problems(&format!("{MINIMAL}\n[tasks]\nlease_minutes = 9999999\n"));
        assert!(msg.starts_with("config.toml:10:17: tasks.lease_minutes: at most 527040"), "{msg}");
        let msg = problems(&format!("{MINIMAL}\n[tasks]\nlease_minutes = -5\n"));
        assert!(msg.starts_with("config.toml:10:17: tasks.lease_minutes: invalid value"), "{msg}");
        let msg = problems(&format!("{MINIMAL}\n[tasks]\nlease = 5\n"));
        assert!(msg.contains("unknown field `lease`"), "{msg}");
    }

    #[test]
    fn an_empty_file_says_what_it_needs() {
        for text in ["", "  \n\t\n", "\n\n"] {
            let msg = problems(text);
            assert!(
                msg.starts_with("config.toml:1:1: the file is empty: it needs at least [pipeline] and [roles]"),
                "{msg}"
            );
        }
    }

    #[test]
    fn problems_without_a_span_of_their_own_point_at_their_key() {
        let msg = problems(&format!(
            "{MINIMAL}
[roles.Sales-Rep]
"
        ));
        assert!(msg.starts_with("config.toml:9:8: roles.Sales-Rep: a role name uses lowercase"), "{msg}");
        let msg = problems(&format!(
            "{MINIMAL}
[clock]
target_behind_share = 1.5
"
        ));
        assert!(msg.starts_with("config.toml:10:1: clock.target_behind_share: a share between 0 and 1"), "{msg}");
        let msg = problems(&format!(
            "{MINIMAL}
[store]
batch_size = 0
"
        ));
        assert!(msg.starts_with("config.toml:10:1: store.batch_size: must be at least 1"), "{msg}");
        for bad in ["0", "3601"] {
            let msg = problems(&format!(
                "{MINIMAL}
[store]
url = \"postgres://a@b/c\"
lease_seconds = {bad}
"
            ));
            assert!(msg.starts_with("config.toml:11:1: store.lease_seconds: from 1 to 3600"), "{msg}");
        }
        let msg = problems(&format!(
            "{MINIMAL}
[limits]
max_chain = 0
max_operations = 0
"
        ));
        assert!(msg.starts_with("config.toml:10:1: limits.max_chain: must be at least 1\n"), "{msg}");
        assert!(msg.contains("config.toml:11:1: limits.max_operations: must be at least 1"), "{msg}");
        let msg = problems(&MINIMAL.replace(r#"won = ["won"]"#, "won = []"));
        assert!(msg.starts_with("config.toml:4:1: pipeline.won: name at least one stage"), "{msg}");
        let msg = problems(&MINIMAL.replace(r#"stages = ["lead", "won", "lost"]"#, "stages = []"));
        assert!(msg.starts_with("config.toml:3:1: pipeline.stages: the pipeline needs at least one stage"), "{msg}");
        let msg = problems(&format!("roles = {{}}\n{}", MINIMAL.replace("[roles.sales_rep]\n", "")));
        assert!(msg.starts_with("config.toml:1:1: roles: define at least one role"), "{msg}");
    }

    #[test]
    fn wrong_types_anywhere_name_their_key_and_line() {
        let cases = [
            (
                MINIMAL.replace(r#"stages = ["lead", "won", "lost"]"#, r#"stages = "lead""#),
                "3:10: pipeline.stages: invalid type",
            ),
            (MINIMAL.replace(r#"lost = ["lost"]"#, "lost = [1, 2]"), "5:9: pipeline.lost: invalid type: integer"),
            (format!("{MINIMAL}description = 7\n"), "8:15: roles.sales_rep.description: invalid type: integer"),
            (
                format!("{MINIMAL}\n[clock]\nquiet_account_days = -1\n"),
                "10:22: clock.quiet_account_days: invalid value",
            ),
            (
                format!("{MINIMAL}\n[clock]\nquiet_account_days = 1e99\n"),
                "10:22: clock.quiet_account_days: invalid type: floating point",
            ),
            (format!("{MINIMAL}\n[store]\nbatch_size = 99999999999999999999999\n"), "10:"),
            (format!("{MINIMAL}\n[calendar]\nholidays = [\"2026-02-30\"]\n"), "10:"),
            (
                format!("{MINIMAL}\n[[team]]\nname = 5\nrole = \"sales_rep\"\n"),
                "10:8: team.name: invalid type: integer",
            ),
            (
                format!(
                    "{MINIMAL}\n[settings]\nx = [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n"
                ),
                "10:",
            ),
            (format!("{MINIMAL}\n[pipeline]\n"), "9:2: duplicate key"),
            ("pipeline = 3\n".to_string(), "1:12: pipeline: invalid type: integer"),
            ("[pipeline\n".to_string(), "1:10:"),
            ("\u{0}\u{1}\u{202e}".to_string(), "1:4: key with no value"),
        ];
        for (text, want) in cases {
            let msg = problems(&text);
            assert!(msg.starts_with(&format!("config.toml:{want}")), "want config.toml:{want}, got {msg}");
            assert!(!msg.contains('\n'), "one line: {msg}");
        }
    }

    #[test]
    fn a_huge_config_loads_and_thousands_of_problems_are_quick() {
        let team: String =
            (0..20_000).map(|i| format!("\n[[team]]\nname = \"Person {i}\"\nrole = \"sales_rep\"\n")).collect();
        let start = std::time::Instant::now();
        assert_eq!(parse(&format!("{MINIMAL}{team}")).unwrap().team.len(), 20_000);
        let wrong = team.replace("sales_rep", "ceo");
        let msg = problems(&format!("{MINIMAL}{wrong}"));
        assert_eq!(msg.lines().count(), 20_000);
        assert!(
            msg.lines().last().unwrap().starts_with("config.toml:80007:8: team: \"Person 19999\" has role \"ceo\"")
        );
        assert!(start.elapsed() < std::time::Duration::from_secs(20), "{:?}", start.elapsed());
    }

    #[test]
    fn a_file_that_is_not_utf8_says_where() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CONFIG_FILE), b"[pipeline]\nstages = [\"l\xe9ad\"]\n").unwrap();
        let msg = Config::load(dir.path()).unwrap_err().to_string();
        assert_eq!(msg, "config.toml:2:13: not valid UTF-8: save config.toml as UTF-8 text");
        let msg = Config::load(&dir.path().join("missing")).unwrap_err().to_string();
        assert!(msg.contains("config.toml"), "{msg}");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let msg = problems(&format!("{MINIMAL}\n[store]\nbatch_size = \"many\"\n"));
        assert!(msg.contains("batch_size") || msg.contains("invalid type"), "{msg}");
    }

    #[test]
    fn the_task_limit_defaults_to_what_the_collection_limit_can_hold() {
        let mut limits = Limits::default();
        assert_eq!(limits.tasks_per_event(), 1000);
        limits.max_collection_size = 5000;
        assert_eq!(limits.tasks_per_event(), 500);
        limits.max_tasks_per_event = Some(7);
        assert_eq!(limits.tasks_per_event(), 7);
    }
}
