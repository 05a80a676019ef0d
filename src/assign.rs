//! Who gets a task, and who takes over an account.
//!
//! A rule may name the assignee. Otherwise the role's strategy in
//! `config.toml` decides: `owner` (the deal's owner, else the lead's, else
//! the account's, when that person has the role and is active; else the
//! role's queue), `round_robin` (smooth weighted round robin over the people
//! of the role: each takes turns in proportion to their `weight`; the turns
//! are kept in the store) or `least_loaded` (the fewest open tasks of the
//! role for their share: weight × working days a week / 5). With
//! `by_region`, people of the subject's region are chosen first.
//!
//! Nobody inactive is chosen; nobody away on any day from today to the
//! task's due date; nobody at their `max_open` of the role. A task whose
//! owner (or named person) is away goes to the colleague of the role with
//! the least load, unless the role says `while_away = "wait"`: then it stays
//! theirs, due on their first working day back. When nobody can take a task
//! it waits in the role's queue, and [`Why::waits`] says why.
//!
//! Every choice comes with its [`Why`]: the strategy, the turn, the load and
//! weight of the one chosen, and who was passed over and why. It is kept
//! with the decision, and `explain task` shows it.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::config::{Config, Lookup, Person, Strategy, WhileAway};
use crate::error::Result;
use crate::store::Store;

/// When a task is due, as the rule asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// In this many working days (of the person who gets it).
    InDays(i64),
    /// On this date.
    On(NaiveDate),
}

/// What the choice may look at.
pub struct Need<'a> {
    pub role: &'a str,
    /// The person a rule named.
    pub named: Option<&'a str>,
    /// Owners to try in order (the deal's, the lead's, then the account's), as events name them.
    pub owners: &'a [Option<&'a str>],
    /// The subject's region, for `by_region`.
    pub region: Option<&'a str>,
    /// The business day of the assignment.
    pub today: NaiveDate,
    pub due: Due,
}

/// Why a task went to whom it went to (or waits in the queue).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Why {
    /// `named` (the rule named them), `owner`, `cover` (a colleague of an
    /// owner or named person who is away or at their cap), `round_robin`,
    /// `least_loaded`, `fewest_accounts`, `waits_for` (kept for someone away).
    pub strategy: String,
    /// The region the choice was narrowed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The role's round-robin turn (1 for its first) this choice took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn: Option<u64>,
    /// The open tasks of the role the chosen one had before this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_open: Option<u32>,
    /// Their working days, when not Monday to Friday.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub days: Vec<String>,
    /// Who was passed over, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
    /// Nobody could take it: why it waits in the role's queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waits: Option<String>,
    /// Others passed over, beyond those listed in `skipped`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub more_skipped: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The most people a [`Why`] lists as passed over: a big team at its caps
/// would otherwise write its whole roster into every decision.
pub const LISTED_SKIPPED: usize = 10;

/// Someone the choice passed over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// Their key (id, else name).
    pub who: String,
    pub why: String,
}

impl Why {
    fn of(strategy: &str) -> Why {
        Why { strategy: strategy.to_string(), ..Why::default() }
    }

    /// Keep the first [`LISTED_SKIPPED`] passed over, and count the rest.
    fn trim(&mut self) {
        if self.skipped.len() > LISTED_SKIPPED {
            self.more_skipped += self.skipped.len() - LISTED_SKIPPED;
            self.skipped.truncate(LISTED_SKIPPED);
        }
    }
}

/// Who gets a task (`None`: the role's queue), when it is due for them, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Assigned {
    pub who: Option<String>,
    pub due: NaiveDate,
    pub why: Why,
}

/// Someone who may take the task.
struct Candidate<'c> {
    person: &'c Person,
    weight: f64,
    load: i64,
    cap: Option<u32>,
    due: NaiveDate,
}

impl Candidate<'_> {
    fn why(&self, strategy: &str) -> Why {
        Why {
            load: Some(self.load),
            weight: Some(self.weight),
            max_open: self.cap,
            days: if self.person.days.is_full_week() {
                Vec::new()
            } else {
                self.person.days.names().iter().map(|d| d.to_string()).collect()
            },
            ..Why::of(strategy)
        }
    }
}

/// The due date of a task for `p`: `n` of their working days from `today`.
pub fn due_for(config: &Config, p: Option<&Person>, today: NaiveDate, due: Due) -> NaiveDate {
    match (due, p) {
        (Due::On(d), _) => config.calendar.add_business_days(d, 0),
        (Due::InDays(n), Some(p)) => p.add_working_days(&config.calendar, today, n),
        (Due::InDays(n), None) => config.calendar.add_business_days(today, n),
    }
}

/// Why `p` cannot take a task of `role` from `today` to `due` (`caps`: their `max_open` counts), if they cannot.
fn unavailable(p: &Person, role: &str, today: NaiveDate, due: NaiveDate, load: i64, caps: bool) -> Option<String> {
    if !p.active {
        return Some("inactive".into());
    }
    if let Some(a) = p.away_between(today, due.max(today)) {
        return Some(if a.from <= today {
            format!("away until {}", a.to)
        } else {
            format!("away {} to {}", a.from, a.to)
        });
    }
    let cap = p.membership(role).and_then(|m| m.max_open);
    if caps && let Some(c) = cap.filter(|&c| load >= i64::from(c)) {
        return Some(format!("at their cap: {load} open of at most {c}"));
    }
    None
}

/// Who of `role` may take a task now, the people passed over and the region it was narrowed to.
fn candidates<'c>(
    config: &'c Config,
    role: &str,
    region: Option<&'c str>,
    today: NaiveDate,
    due: Due,
    loads: &HashMap<String, i64>,
    caps: bool,
) -> (Vec<Candidate<'c>>, Vec<Skipped>, Option<&'c str>) {
    let mut ok = Vec::new();
    let mut skipped = Vec::new();
    for p in config.team.iter().filter(|p| p.active && p.has_role(role)) {
        let load = loads.get(p.key()).copied().unwrap_or(0);
        let their_due = due_for(config, Some(p), today, due);
        match unavailable(p, role, today, their_due, load, caps) {
            Some(why) => skipped.push((p, Skipped { who: p.key().to_string(), why })),
            None => {
                let m = p.membership(role);
                let weight = m.map_or(1.0, |m| m.weight);
                let cap = m.and_then(|m| m.max_open);
                ok.push(Candidate { person: p, weight, load, cap, due: their_due });
            }
        }
    }
    if let Some(r) = region {
        let here = |p: &Person| p.region.as_deref() == Some(r);
        if ok.iter().any(|c| here(c.person)) {
            ok.retain(|c| here(c.person));
            skipped.retain(|(p, _)| here(p));
            return (ok, skipped.into_iter().map(|(_, s)| s).collect(), Some(r));
        }
    }
    (ok, skipped.into_iter().map(|(_, s)| s).collect(), None)
}

/// The round-robin state of a role in a region: smooth weighted round
/// robin (as nginx balances upstreams): each turn every candidate gains its
/// weight, the one with the most is chosen and gives back the sum. Over any
/// stretch each gets turns in proportion to its weight, spread out rather
/// than in runs. Only the candidates of a turn gain, so time off or a full
/// queue earns no backlog of turns.
///
/// Standings are in units of the candidates' total weight: when the
/// candidates change (someone leaves on time off, comes back, fills their
/// cap), every standing is scaled to the new total, so a turn taken among
/// many does not weigh as many turns among the few left (without it, a
/// person chosen just before four heavy colleagues went on leave waited
/// through a run of turns that all went to the one other person in).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Turns {
    /// Turns taken so far.
    pub taken: u64,
    /// Each person's current standing, by key.
    pub standing: BTreeMap<String, f64>,
    /// The total weight of the last turn's candidates (0: not known yet).
    #[serde(default)]
    pub total: f64,
}

impl Turns {
    /// Take a turn among `weights` (key, weight): the index chosen.
    pub fn take(&mut self, weights: &[(&str, f64)]) -> Option<usize> {
        if weights.is_empty() {
            return None;
        }
        let total: f64 = weights.iter().map(|(_, w)| w).sum();
        if self.total > 0.0 && self.total != total {
            let scale = total / self.total;
            for s in self.standing.values_mut() {
                *s *= scale;
            }
        }
        self.total = total;
        let mut best: Option<(usize, f64)> = None;
        for (i, (key, w)) in weights.iter().enumerate() {
            let s = self.standing.entry(key.to_string()).or_insert(0.0);
            *s += w;
            if best.is_none_or(|(_, b)| *s > b) {
                best = Some((i, *s));
            }
        }
        let (chosen, _) = best?;
        *self.standing.get_mut(weights[chosen].0).expect("just inserted") -= total;
        // Standings sum to zero over a fixed set of people: round away float dust.
        for s in self.standing.values_mut() {
            *s = (*s * 1e9).round() / 1e9;
        }
        self.taken += 1;
        Some(chosen)
    }
}

/// Where a role's turns in a region are kept.
fn turns_key(role: &str, region: Option<&str>) -> String {
    format!("assign.turns.{role}.{}", region.unwrap_or(""))
}

fn take_turn(store: &Store, role: &str, region: Option<&str>, cands: &[Candidate]) -> Result<Option<(usize, u64)>> {
    let key = turns_key(role, region);
    let mut turns: Turns = store.meta(&key)?.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
    let weights: Vec<(&str, f64)> = cands.iter().map(|c| (c.person.key(), c.weight)).collect();
    let Some(i) = turns.take(&weights) else { return Ok(None) };
    store.set_meta(&key, &serde_json::to_string(&turns).expect("turns serialize"))?;
    Ok(Some((i, turns.taken)))
}

/// The candidate with the fewest open tasks for their share (weight ×
/// working days / 5), counting the one being given; the roster order breaks ties.
fn least_loaded(cands: &[Candidate], role: &str) -> Option<usize> {
    let score = |c: &Candidate| (c.load + 1) as f64 / c.person.capacity(role).max(f64::MIN_POSITIVE);
    (0..cands.len()).min_by(|&a, &b| score(&cands[a]).total_cmp(&score(&cands[b])).then(a.cmp(&b)))
}

/// The assignee, or why the rule's choice is wrong.
pub fn assignee(config: &Config, store: &Store, need: &Need) -> Result<std::result::Result<Assigned, String>> {
    Ok(choose(config, store, need)?.map(|mut a| {
        a.why.trim();
        a
    }))
}

fn choose(config: &Config, store: &Store, need: &Need) -> Result<std::result::Result<Assigned, String>> {
    let role = need.role;
    let settings = config.roles.get(role).cloned().unwrap_or_default();
    let team_due = due_for(config, None, need.today, need.due);
    // The person a rule named, else the first owner who has the role: kept unless away or at the cap.
    let (first, strategy) = if let Some(name) = need.named {
        match config.lookup_person(name) {
            Lookup::Found(p) if p.has_role(role) => (Some(p), "named"),
            Lookup::Found(p) => {
                return Ok(Err(format!("assignee {name:?} is a {} in the team roster, not a {role}", p.role)));
            }
            Lookup::Ambiguous(_) => return Ok(Err(format!("assignee {}", config.ambiguous(name)))),
            Lookup::Unknown => return Ok(Err(format!("assignee {name:?} is not in the team roster of config.toml"))),
        }
    } else if settings.assign == Strategy::Owner {
        let owner =
            need.owners.iter().flatten().filter_map(|o| config.find_person(o)).find(|p| p.has_role(role) && p.active);
        match owner {
            Some(p) => (Some(p), "owner"),
            None => {
                let why = Why { waits: Some(format!("no owner is an active {role}")), ..Why::of("owner") };
                return Ok(Ok(Assigned { who: None, due: team_due, why }));
            }
        }
    } else {
        (None, "")
    };
    let region = settings.by_region.then_some(need.region).flatten();
    if let Some(p) = first {
        // A rule's own choice is not held to the cap.
        let caps = strategy != "named";
        let cap = p.membership(role).and_then(|m| m.max_open);
        // The loads are read only when a cap asks (the common case, an owner with no cap, reads nothing).
        let known = if caps && cap.is_some() { Some(loads(config, store, role)?) } else { None };
        let load = known.as_ref().map_or(0, |l| l.get(p.key()).copied().unwrap_or(0));
        let their_due = due_for(config, Some(p), need.today, need.due);
        let Some(reason) = unavailable(p, role, need.today, their_due, load, caps) else {
            let c = Candidate { person: p, weight: 0.0, load, cap, due: their_due };
            let mut why = c.why(strategy);
            why.weight = None;
            why.load = known.is_some().then_some(load);
            return Ok(Ok(Assigned { who: Some(p.key().to_string()), due: their_due, why }));
        };
        let loads = match known {
            Some(l) => l,
            None => loads(config, store, role)?,
        };
        let load = loads.get(p.key()).copied().unwrap_or(0);
        // Kept for them while away, unless they are at their cap too: then it is new work they cannot take.
        let full = caps && cap.is_some_and(|c| load >= i64::from(c));
        if settings.while_away == WhileAway::Wait && reason.starts_with("away") && !full {
            let due = back_due(config, p, need.today, their_due);
            let kept = Skipped { who: p.key().to_string(), why: format!("{reason}: kept for them, due {due}") };
            let why = Why { load: Some(load), max_open: cap, skipped: vec![kept], ..Why::of("waits_for") };
            return Ok(Ok(Assigned { who: Some(p.key().to_string()), due, why }));
        }
        // Someone else of the role covers.
        let (mut cands, mut skipped, narrowed) = candidates(config, role, region, need.today, need.due, &loads, true);
        cands.retain(|c| c.person.key() != p.key());
        skipped.retain(|s| s.who != p.key());
        skipped.insert(0, Skipped { who: p.key().to_string(), why: reason });
        return Ok(Ok(match least_loaded(&cands, role) {
            Some(i) => {
                let c = &cands[i];
                let why = Why { skipped, region: narrowed.map(str::to_string), ..c.why("cover") };
                Assigned { who: Some(c.person.key().to_string()), due: c.due, why }
            }
            None => {
                let waits = Some(format!("nobody else of the role can take it ({})", nobody_why(&skipped)));
                Assigned { who: None, due: team_due, why: Why { skipped, waits, ..Why::of("cover") } }
            }
        }));
    }
    let loads = loads(config, store, role)?;
    let (cands, skipped, narrowed) = candidates(config, role, region, need.today, need.due, &loads, true);
    let (chosen, turn, name) = match settings.assign {
        Strategy::RoundRobin => match take_turn(store, role, narrowed, &cands)? {
            Some((i, turn)) => (Some(i), Some(turn), "round_robin"),
            None => (None, None, "round_robin"),
        },
        _ => (least_loaded(&cands, role), None, "least_loaded"),
    };
    Ok(Ok(match chosen {
        Some(i) => {
            let c = &cands[i];
            let why = Why { turn, skipped, region: narrowed.map(str::to_string), ..c.why(name) };
            Assigned { who: Some(c.person.key().to_string()), due: c.due, why }
        }
        None => {
            let waits = Some(if skipped.is_empty() {
                format!("nobody active has the role {role}")
            } else {
                format!("nobody of the role can take it ({})", nobody_why(&skipped))
            });
            Assigned { who: None, due: team_due, why: Why { skipped, waits, ..Why::of(name) } }
        }
    }))
}

/// When a task of `p` due on `due` is due if it waits for them: the first
/// of their working days, from the later of `due` and their return from the
/// time off it falls in, that they are not away (time off a weekend apart,
/// or more time off after `due`, is skipped too).
pub fn back_due(config: &Config, p: &Person, today: NaiveDate, due: NaiveDate) -> NaiveDate {
    let Some(a) = p.away_between(today, due.max(today)) else { return due };
    let mut day = due.max(p.back_on(a.from.max(today)));
    loop {
        let next = p.add_working_days(&config.calendar, p.back_on(day), 0);
        if next == day {
            return day;
        }
        day = next;
    }
}

/// "everyone is away or at their cap", in short.
fn nobody_why(skipped: &[Skipped]) -> String {
    let away = skipped.iter().filter(|s| s.why.starts_with("away")).count();
    let capped = skipped.iter().filter(|s| s.why.starts_with("at their cap")).count();
    match (away, capped) {
        (0, 0) => "nobody else active has the role".into(),
        (a, 0) => format!("{a} away"),
        (0, c) => format!("{c} at their cap"),
        (a, c) => format!("{a} away, {c} at their cap"),
    }
}

/// Open tasks of `role` per person's key: a task stored under a name given
/// before the team had ids counts for the person of that name.
pub fn loads(config: &Config, store: &Store, role: &str) -> Result<HashMap<String, i64>> {
    let mut loads = HashMap::new();
    for l in store.open_tasks_per_assignee(role)? {
        let key = config.find_person(&l.who).map_or(l.who.as_str(), Person::key);
        *loads.entry(key.to_string()).or_insert(0) += l.open;
    }
    Ok(loads)
}

/// The person of `role` to take over an account on `today`, in the
/// account's region when the role has someone there who is in: by the
/// role's strategy (`round_robin` takes weighted turns, `least_loaded` the
/// fewest open tasks for their share); with `owner`, the one with the fewest
/// accounts already. Nobody away on `today` is chosen; caps on open tasks do
/// not apply to owning accounts.
pub fn new_owner(
    config: &Config,
    store: &Store,
    role: &str,
    region: Option<&str>,
    today: NaiveDate,
) -> Result<Option<(String, Why)>> {
    let strategy = config.roles.get(role).map(|r| r.assign).unwrap_or_default();
    let loads = loads(config, store, role)?;
    let (cands, skipped, narrowed) = candidates(config, role, region, today, Due::On(today), &loads, false);
    let with = |c: &Candidate, mut why: Why| {
        why.skipped = skipped.clone();
        why.region = narrowed.map(str::to_string);
        why.trim();
        Some((c.person.key().to_string(), why))
    };
    Ok(match strategy {
        Strategy::RoundRobin => match take_turn(store, role, narrowed, &cands)? {
            Some((i, turn)) => with(&cands[i], Why { turn: Some(turn), ..cands[i].why("round_robin") }),
            None => None,
        },
        Strategy::LeastLoaded => least_loaded(&cands, role).and_then(|i| with(&cands[i], cands[i].why("least_loaded"))),
        Strategy::Owner => {
            let mut fewest: Option<(usize, i64)> = None;
            for (i, c) in cands.iter().enumerate() {
                let p = c.person;
                let mut n = store.accounts_owned(p.key())?;
                // Accounts stored under the name before the person had an id.
                if p.id.is_some() && config.find_person(&p.name).is_some() {
                    n += store.accounts_owned(&p.name)?;
                }
                if fewest.is_none_or(|(_, f)| n < f) {
                    fewest = Some((i, n));
                }
            }
            fewest.and_then(|(i, _)| with(&cands[i], Why { ..Why::of("fewest_accounts") }))
        }
    })
}

/// Of the active people of `role` (in `region` when it has some) who are
/// in on `today`, the one with the least `load` (given each one's key),
/// the roster order breaking ties; their key.
pub fn pick_owner(
    config: &Config,
    role: &str,
    region: Option<&str>,
    today: NaiveDate,
    load: impl Fn(&str) -> i64,
) -> Option<String> {
    let (cands, _, _) = candidates(config, role, region, today, Due::On(today), &HashMap::new(), false);
    cands.iter().min_by_key(|c| load(c.person.key())).map(|c| c.person.key().to_string())
}

/// The role with its article, as a sentence names it: "an account_manager", "a sales_rep".
pub fn a_role(role: &str) -> String {
    let article = if role.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
    format!("{article} {role}")
}

/// Roles in the roster with nobody active: their tasks can only wait in the queue.
pub fn unstaffed_roles(config: &Config) -> Vec<String> {
    config.roles.keys().filter(|r| !config.team.iter().any(|p| p.has_role(r) && p.active)).cloned().collect()
}

/// One person in one role, as `dealflow team`, the web page's team and
/// `GET /api/team` show them on a day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RosterRow {
    pub name: String,
    pub id: Option<String>,
    pub role: String,
    pub region: Option<String>,
    pub active: bool,
    pub weight: f64,
    pub max_open: Option<u32>,
    /// Open (or claimed) tasks of the role they hold.
    pub open: i64,
    pub at_cap: bool,
    pub days: Vec<&'static str>,
    /// `in`, `away until DATE`, `not a working day` or `inactive`.
    pub state: String,
    /// The time off the day falls in.
    pub away: Option<crate::config::Away>,
    /// Their next time off after the day.
    pub next_away: Option<crate::config::Away>,
    pub time_off: Vec<crate::config::Away>,
}

/// The team on `on`: a row per person and role, in roster order; open
/// tasks from `store` when there is one.
pub fn roster(config: &Config, store: Option<&Store>, on: NaiveDate) -> Result<Vec<RosterRow>> {
    let mut loads_of = HashMap::new();
    for role in config.roles.keys() {
        let l = match store {
            Some(s) => loads(config, s, role)?,
            None => HashMap::new(),
        };
        loads_of.insert(role.as_str(), l);
    }
    let mut rows = Vec::new();
    for p in &config.team {
        let away = p.away_on(on);
        let state = if !p.active {
            "inactive".to_string()
        } else if let Some(a) = away {
            format!("away until {}", a.to)
        } else if !p.works_on(&config.calendar, on) {
            "not a working day".to_string()
        } else {
            "in".to_string()
        };
        for m in &p.roles {
            let open = loads_of.get(m.role.as_str()).and_then(|l| l.get(p.key())).copied().unwrap_or(0);
            rows.push(RosterRow {
                name: p.name.clone(),
                id: p.id.clone(),
                role: m.role.clone(),
                region: p.region.clone(),
                active: p.active,
                weight: m.weight,
                max_open: m.max_open,
                open,
                at_cap: m.max_open.is_some_and(|c| open >= i64::from(c)),
                days: p.days.names(),
                state: state.clone(),
                away,
                next_away: p.away.iter().find(|a| a.from > on).copied(),
                time_off: p.away.clone(),
            });
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::time::Duration;

    fn config(strategy: &str) -> Config {
        Config::parse(
            Path::new("."),
            &format!(
                r#"
[pipeline]
stages = ["lead", "won", "lost"]
won = ["won"]
lost = ["lost"]
[roles.sales_rep]
assign = "{strategy}"
by_region = true
[roles.account_manager]
[roles.marketing]
[[team]]
name = "Ana"
role = "sales_rep"
region = "West"
[[team]]
name = "Ben"
role = "sales_rep"
region = "East"
[[team]]
name = "Cy"
role = "sales_rep"
region = "East"
[[team]]
name = "Off"
role = "sales_rep"
region = "East"
active = false
[[team]]
name = "Dana"
role = "account_manager"
region = "West"
[[team]]
name = "Eli"
role = "account_manager"
region = "East"
"#
            ),
        )
        .unwrap()
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("t.db"), Duration::from_secs(1)).unwrap();
        (dir, s)
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 7, 6).unwrap()
    }

    fn need<'a>(owners: &'a [Option<&'a str>], region: Option<&'a str>) -> Need<'a> {
        Need { role: "sales_rep", named: None, owners, region, today: today(), due: Due::InDays(2) }
    }

    fn pick(c: &Config, s: &Store, owners: &[Option<&str>], region: Option<&str>) -> Option<String> {
        assignee(c, s, &need(owners, region)).unwrap().unwrap().who
    }

    #[test]
    fn owner_gets_the_task_when_active_in_the_role() {
        let (c, (_d, s)) = (config("owner"), store());
        assert_eq!(pick(&c, &s, &[Some("Dana"), Some("Ana")], None), Some("Ana".into()));
        assert_eq!(pick(&c, &s, &[Some("Off")], None), None, "inactive owners do not get tasks");
        let named = assignee(&c, &s, &Need { named: Some("Dana"), ..need(&[], None) }).unwrap();
        assert!(named.unwrap_err().contains("not a sales_rep"));
    }

    #[test]
    fn round_robin_takes_turns_within_the_region_and_skips_the_inactive() {
        let (c, (_d, s)) = (config("round_robin"), store());
        let east: Vec<_> = (0..4).map(|_| pick(&c, &s, &[], Some("East")).unwrap()).collect();
        assert_eq!(east, ["Ben", "Cy", "Ben", "Cy"]);
        let anywhere: Vec<_> = (0..3).map(|_| pick(&c, &s, &[], Some("North")).unwrap()).collect();
        assert_eq!(anywhere, ["Ana", "Ben", "Cy"]);
    }

    #[test]
    fn least_loaded_picks_the_one_with_fewest_open_tasks() {
        let (c, (_d, s)) = (config("least_loaded"), store());
        assert_eq!(pick(&c, &s, &[], Some("East")), Some("Ben".into()));
        let t = crate::model::NewTask {
            role: "sales_rep".into(),
            assignee: Some("Ben".into()),
            title: "x".into(),
            priority: crate::model::Priority::Normal,
            due_at: "2026-01-01".into(),
            subject: crate::model::Subject::new("deal", "D"),
            rule: crate::model::RuleRef { file: "f".into(), function: "r".into() },
            reason: "r".into(),
            dedup_key: "k".into(),
        };
        s.create_task(&t, "v", "e", "2026-01-01").unwrap();
        assert_eq!(pick(&c, &s, &[], Some("East")), Some("Cy".into()));
    }

    #[test]
    fn takeover_follows_the_role_strategy() {
        let (c, (_d, s)) = (config("round_robin"), store());
        let east: Vec<_> =
            (0..3).map(|_| new_owner(&c, &s, "sales_rep", Some("East"), today()).unwrap().unwrap().0).collect();
        assert_eq!(east, ["Ben", "Cy", "Ben"]);
        assert_eq!(new_owner(&c, &s, "marketing", None, today()).unwrap(), None);
    }

    #[test]
    fn takeover_prefers_region_then_least_loaded() {
        let c = config("owner");
        assert_eq!(pick_owner(&c, "account_manager", Some("East"), today(), |_| 0), Some("Eli".into()));
        assert_eq!(
            pick_owner(&c, "account_manager", Some("North"), today(), |n| if n == "Dana" { 5 } else { 1 }),
            Some("Eli".into())
        );
        assert_eq!(pick_owner(&c, "marketing", None, today(), |_| 0), None);
        assert_eq!(unstaffed_roles(&c), ["marketing"]);
    }

    #[test]
    fn a_big_team_at_its_caps_lists_ten_passed_over_and_counts_the_rest() {
        let mut team = String::new();
        for i in 0..25 {
            team.push_str(&format!("[[team]]\nname = \"P{i}\"\nrole = \"sales_rep\"\nmax_open = 0\n"));
        }
        let c = Config::parse(
            Path::new("."),
            &format!(
                "[pipeline]\nstages = [\"lead\", \"won\", \"lost\"]\nwon = [\"won\"]\nlost = [\"lost\"]\n\
                 [roles.sales_rep]\nassign = \"round_robin\"\n{team}"
            ),
        )
        .unwrap();
        let (_d, s) = store();
        let a = assignee(&c, &s, &need(&[], None)).unwrap().unwrap();
        assert_eq!(a.who, None);
        assert_eq!((a.why.skipped.len(), a.why.more_skipped), (LISTED_SKIPPED, 15));
        assert!(a.why.waits.as_deref().unwrap().contains("25 at their cap"), "{:?}", a.why.waits);
    }
}
