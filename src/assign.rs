//! Who gets a task, and who takes over an account.
//!
//! A task goes to the person a rule names; else to the deal's owner, then the
//! account's owner, when that person has the task's role in the team roster;
//! else it stays unassigned in the role's queue for anyone of the role to claim.

use crate::config::Config;

/// The assignee for a task of `role`: the rule's choice, else the first owner that has the role.
pub fn assignee(
    config: &Config,
    role: &str,
    named: Option<&str>,
    owners: &[Option<&str>],
) -> Result<Option<String>, String> {
    if let Some(name) = named {
        return match config.person(name) {
            Some(p) if p.role == role => Ok(Some(name.to_string())),
            Some(p) => Err(format!("assignee {name:?} is a {} in the team roster, not a {role}", p.role)),
            None => Err(format!("assignee {name:?} is not in the team roster of config.toml")),
        };
    }
    Ok(owners
        .iter()
        .flatten()
        .find(|o| config.person(o).is_some_and(|p| p.role == role && p.active))
        .map(|o| o.to_string()))
}

/// Choose the person of `role` to take over an account: an active person of
/// the role, in the account's region when there is one, with the fewest
/// accounts already (`load`), the roster order breaking ties.
pub fn pick_owner(config: &Config, role: &str, region: Option<&str>, load: impl Fn(&str) -> i64) -> Option<String> {
    let people: Vec<_> = config.team.iter().filter(|p| p.role == role && p.active).collect();
    let local: Vec<_> = people.iter().filter(|p| region.is_some() && p.region.as_deref() == region).collect();
    let pool: Vec<_> = if local.is_empty() { people.iter().collect() } else { local };
    pool.into_iter().min_by_key(|p| load(&p.name)).map(|p| p.name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config() -> Config {
        Config::parse(
            Path::new("."),
            r#"
[pipeline]
stages = ["lead", "won", "lost"]
won = ["won"]
lost = ["lost"]
[roles.sales_rep]
[roles.account_manager]
[[team]]
name = "Ana"
role = "sales_rep"
[[team]]
name = "Dana"
role = "account_manager"
region = "West"
[[team]]
name = "Eli"
role = "account_manager"
region = "East"
[[team]]
name = "Off"
role = "account_manager"
region = "East"
active = false
"#,
        )
        .unwrap()
    }

    #[test]
    fn owner_gets_the_task_when_the_role_matches() {
        let c = config();
        assert_eq!(assignee(&c, "sales_rep", None, &[Some("Dana"), Some("Ana")]).unwrap(), Some("Ana".into()));
        assert_eq!(assignee(&c, "account_manager", None, &[Some("Ana")]).unwrap(), None);
        assert!(assignee(&c, "sales_rep", Some("Dana"), &[]).unwrap_err().contains("not a sales_rep"));
    }

    #[test]
    fn takeover_prefers_region_then_least_loaded_and_skips_inactive() {
        let c = config();
        assert_eq!(pick_owner(&c, "account_manager", Some("East"), |_| 0), Some("Eli".into()));
        assert_eq!(
            pick_owner(&c, "account_manager", Some("North"), |n| if n == "Dana" { 5 } else { 1 }),
            Some("Eli".into())
        );
        assert_eq!(pick_owner(&c, "marketing", None, |_| 0), None);
    }
}
