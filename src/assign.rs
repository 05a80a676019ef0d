//! Who gets a task, and who takes over an account.
//!
//! A rule may name the assignee. Otherwise the role's strategy in
//! `config.toml` decides: `owner` (the deal's owner, else the lead's, else
//! the account's, when that person has the role and is active; else the
//! role's queue),
//! `round_robin` (the next active person of the role, in turn; the turn is
//! kept in the store) or `least_loaded` (the active person of the role with
//! the fewest open tasks). With `by_region`, people of the subject's region
//! are chosen first. Inactive people (`active = false`) are never chosen.

use crate::config::{Config, Lookup, Person, Strategy};
use crate::error::Result;
use crate::store::Store;

/// What the choice may look at.
pub struct Need<'a> {
    pub role: &'a str,
    /// The person a rule named.
    pub named: Option<&'a str>,
    /// Owners to try in order (the deal's, the lead's, then the account's), as events name them.
    pub owners: &'a [Option<&'a str>],
    /// The subject's region, for `by_region`.
    pub region: Option<&'a str>,
}

/// The assignee, `Ok(None)` for the role's queue, or why the rule's choice is wrong.
pub fn assignee(config: &Config, store: &Store, need: &Need) -> Result<std::result::Result<Option<String>, String>> {
    let role = need.role;
    if let Some(name) = need.named {
        return Ok(match config.lookup_person(name) {
            Lookup::Found(p) if p.role == role => Ok(Some(p.key().to_string())),
            Lookup::Found(p) => Err(format!("assignee {name:?} is a {} in the team roster, not a {role}", p.role)),
            Lookup::Ambiguous(_) => Err(format!("assignee {}", config.ambiguous(name))),
            Lookup::Unknown => Err(format!("assignee {name:?} is not in the team roster of config.toml")),
        });
    }
    let settings = config.roles.get(role).cloned().unwrap_or_default();
    let chosen = match settings.assign {
        Strategy::Owner => need
            .owners
            .iter()
            .flatten()
            .filter_map(|o| config.find_person(o))
            .find(|p| p.role == role && p.active)
            .map(|p| p.key().to_string()),
        Strategy::RoundRobin => {
            let (pool, region) = pool(config, role, settings.by_region.then_some(need.region).flatten());
            if pool.is_empty() {
                None
            } else {
                let turn = store.take_turn(role, region.unwrap_or(""), pool.len())?;
                Some(pool[turn].key().to_string())
            }
        }
        Strategy::LeastLoaded => {
            let (pool, _) = pool(config, role, settings.by_region.then_some(need.region).flatten());
            let loads = loads(config, store, role)?;
            pool.iter().min_by_key(|p| loads.get(p.key()).copied().unwrap_or(0)).map(|p| p.key().to_string())
        }
    };
    Ok(Ok(chosen))
}

/// Open tasks of `role` per person's key: a task stored under a name given
/// before the team had ids counts for the person of that name.
fn loads(config: &Config, store: &Store, role: &str) -> Result<std::collections::HashMap<String, i64>> {
    let mut loads = std::collections::HashMap::new();
    for l in store.open_tasks_per_assignee(role)? {
        let key = config.find_person(&l.who).map_or(l.who.as_str(), Person::key);
        *loads.entry(key.to_string()).or_insert(0) += l.open;
    }
    Ok(loads)
}

/// The active people of `role`, those of `region` only when there are some;
/// and the region the pool was narrowed to.
fn pool<'c>(config: &'c Config, role: &str, region: Option<&'c str>) -> (Vec<&'c Person>, Option<&'c str>) {
    let people: Vec<&Person> = config.team.iter().filter(|p| p.role == role && p.active).collect();
    if let Some(r) = region {
        let local: Vec<&Person> = people.iter().copied().filter(|p| p.region.as_deref() == Some(r)).collect();
        if !local.is_empty() {
            return (local, Some(r));
        }
    }
    (people, None)
}

/// The person of `role` to take over an account, in the account's region
/// when the role has someone there: by the role's strategy (`round_robin`
/// takes turns, `least_loaded` the fewest open tasks); with `owner`, the one
/// with the fewest accounts already.
pub fn new_owner(config: &Config, store: &Store, role: &str, region: Option<&str>) -> Result<Option<String>> {
    let strategy = config.roles.get(role).map(|r| r.assign).unwrap_or_default();
    let (people, narrowed) = pool(config, role, region);
    if people.is_empty() {
        return Ok(None);
    }
    Ok(Some(match strategy {
        Strategy::RoundRobin => people[store.take_turn(role, narrowed.unwrap_or(""), people.len())?].key().to_string(),
        Strategy::LeastLoaded => {
            let loads = loads(config, store, role)?;
            people
                .iter()
                .min_by_key(|p| loads.get(p.key()).copied().unwrap_or(0))
                .map(|p| p.key().to_string())
                .unwrap_or_default()
        }
        Strategy::Owner => {
            let mut owned = Vec::new();
            for p in &people {
                let mut n = store.accounts_owned(p.key())?;
                // Accounts stored under the name before the person had an id.
                if p.id.is_some() && config.find_person(&p.name).is_some() {
                    n += store.accounts_owned(&p.name)?;
                }
                owned.push(n);
            }
            pick_owner(config, role, region, |k| {
                people.iter().position(|p| p.key() == k).map(|i| owned[i]).unwrap_or(0)
            })
            .unwrap_or_default()
        }
    }))
}

/// Of the active people of `role` (in `region` when it has some), the one
/// with the least `load` (given each one's key), the roster order breaking
/// ties; their key.
pub fn pick_owner(config: &Config, role: &str, region: Option<&str>, load: impl Fn(&str) -> i64) -> Option<String> {
    let (pool, _) = pool(config, role, region);
    pool.into_iter().min_by_key(|p| load(p.key())).map(|p| p.key().to_string())
}

/// The role with its article, as a sentence names it: "an account_manager", "a sales_rep".
pub fn a_role(role: &str) -> String {
    let article = if role.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
    format!("{article} {role}")
}

/// Roles in the roster with nobody active: their tasks can only wait in the queue.
pub fn unstaffed_roles(config: &Config) -> Vec<String> {
    config.roles.keys().filter(|r| !config.team.iter().any(|p| &p.role == *r && p.active)).cloned().collect()
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

    fn pick(c: &Config, s: &Store, owners: &[Option<&str>], region: Option<&str>) -> Option<String> {
        assignee(c, s, &Need { role: "sales_rep", named: None, owners, region }).unwrap().unwrap()
    }

    #[test]
    fn owner_gets_the_task_when_active_in_the_role() {
        let (c, (_d, s)) = (config("owner"), store());
        assert_eq!(pick(&c, &s, &[Some("Dana"), Some("Ana")], None), Some("Ana".into()));
        assert_eq!(pick(&c, &s, &[Some("Off")], None), None, "inactive owners do not get tasks");
        let named =
            assignee(&c, &s, &Need { role: "sales_rep", named: Some("Dana"), owners: &[], region: None }).unwrap();
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
        let east: Vec<_> = (0..3).map(|_| new_owner(&c, &s, "sales_rep", Some("East")).unwrap().unwrap()).collect();
        assert_eq!(east, ["Ben", "Cy", "Ben"]);
        assert_eq!(new_owner(&c, &s, "marketing", None).unwrap(), None);
    }

    #[test]
    fn takeover_prefers_region_then_least_loaded() {
        let c = config("owner");
        assert_eq!(pick_owner(&c, "account_manager", Some("East"), |_| 0), Some("Eli".into()));
        assert_eq!(
            pick_owner(&c, "account_manager", Some("North"), |n| if n == "Dana" { 5 } else { 1 }),
            Some("Eli".into())
        );
        assert_eq!(pick_owner(&c, "marketing", None, |_| 0), None);
        assert_eq!(unstaffed_roles(&c), ["marketing"]);
    }
}
