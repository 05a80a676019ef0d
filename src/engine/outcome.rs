//! Reading back what a rule returned. A rule returns nothing (`()`), one
//! decision map, or (task rules) a list of them; anything else is a rule
//! error that says what was expected.

use rhai::{Dynamic, Map};

use crate::model::Priority;

#[derive(Debug, Clone, PartialEq)]
pub enum StageOutcome {
    Move { stage: String, reason: String },
    Refuse { reason: String },
}

#[derive(Debug, Clone, PartialEq)]
pub enum KeyOutcome {
    Key(String),
    NotKey(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct TaskSpec {
    pub role: String,
    pub title: String,
    pub due: Option<String>,
    pub due_in_days: Option<i64>,
    pub priority: Priority,
    pub reason: Option<String>,
    pub dedup: Option<String>,
    pub about: Option<String>,
    pub assignee: Option<String>,
    /// Fire again every this many days while the condition holds.
    pub every_days: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Task(TaskSpec),
    /// Give the account to a person of `role`; `close_open_tasks`: cancel the
    /// previous owner's open tasks about the account.
    Handover {
        role: String,
        reason: String,
        close_open_tasks: bool,
    },
}

const TASK_FIELDS: [&str; 12] = [
    "decision",
    "role",
    "title",
    "due",
    "due_in_days",
    "priority",
    "reason",
    "dedup",
    "about",
    "assignee",
    "notes",
    "every_days",
];

fn field(m: &Map, key: &str) -> Option<Dynamic> {
    m.get(key).filter(|v| !v.is_unit()).cloned()
}

fn string(m: &Map, key: &str) -> Result<Option<String>, String> {
    match field(m, key) {
        None => Ok(None),
        Some(v) if v.is_string() => Ok(Some(v.into_string().unwrap_or_default())),
        Some(v) => Err(format!("{key} must be a string, got {}", v.type_name())),
    }
}

fn required(m: &Map, key: &str) -> Result<String, String> {
    string(m, key)?.filter(|s| !s.trim().is_empty()).ok_or_else(|| format!("{key} is missing or empty"))
}

/// The decision map a rule returned (borrowed, not copied) and its `decision`.
fn decision_of(v: &Dynamic) -> Option<(impl std::ops::Deref<Target = Map> + '_, String)> {
    let m = v.read_lock::<Map>()?;
    let kind = m.get("decision")?.clone().into_string().ok()?;
    Some((m, kind))
}

fn expected(what: &str, v: &Dynamic) -> String {
    format!("returned {} ({v}); a {what}", v.type_name())
}

pub fn stage(v: &Dynamic) -> Result<Option<StageOutcome>, String> {
    if v.is_unit() {
        return Ok(None);
    }
    match decision_of(v) {
        Some((m, k)) if k == "move" => {
            Ok(Some(StageOutcome::Move { stage: required(&m, "stage")?, reason: required(&m, "reason")? }))
        }
        Some((m, k)) if k == "refuse" => Ok(Some(StageOutcome::Refuse { reason: required(&m, "reason")? })),
        _ => Err(expected("stage rule returns move_to(stage, reason), refuse(reason) or nothing", v)),
    }
}

pub fn key(v: &Dynamic) -> Result<Option<KeyOutcome>, String> {
    if v.is_unit() {
        return Ok(None);
    }
    match decision_of(v) {
        Some((m, k)) if k == "key" => Ok(Some(KeyOutcome::Key(required(&m, "reason")?))),
        Some((m, k)) if k == "not_key" => Ok(Some(KeyOutcome::NotKey(required(&m, "reason")?))),
        _ => Err(expected("key-account rule returns key(reason), not_key(reason) or nothing", v)),
    }
}

pub fn actions(v: &Dynamic) -> Result<Vec<Action>, String> {
    if v.is_unit() {
        return Ok(Vec::new());
    }
    if let Some(items) = v.read_lock::<rhai::Array>() {
        return items.iter().filter(|i| !i.is_unit()).map(action).collect();
    }
    action(v).map(|a| vec![a])
}

fn action(v: &Dynamic) -> Result<Action, String> {
    const WHAT: &str =
        "task rule returns task(role, title, #{...}), handover(role, reason), a list of them, or nothing";
    let Some((m, kind)) = decision_of(v) else {
        return Err(expected(WHAT, v));
    };
    match kind.as_str() {
        "handover" => {
            let close_open_tasks = match string(&m, "open_tasks")?.as_deref() {
                None | Some("keep") => false,
                Some("close") => true,
                Some(other) => return Err(format!("open_tasks {other:?} is not \"keep\" or \"close\"")),
            };
            Ok(Action::Handover { role: required(&m, "role")?, reason: required(&m, "reason")?, close_open_tasks })
        }
        "task" => {
            for k in m.keys() {
                if !TASK_FIELDS.contains(&k.as_str()) {
                    return Err(format!("unknown task field {k:?}{}", crate::error::hint(k, TASK_FIELDS)));
                }
            }
            let priority = match string(&m, "priority")? {
                None => Priority::Normal,
                Some(p) => Priority::parse(&p)
                    .ok_or_else(|| format!("priority {p:?} is not one of {}", Priority::NAMES.join(", ")))?,
            };
            let whole = |key: &str| -> Result<Option<i64>, String> {
                match field(&m, key) {
                    None => Ok(None),
                    Some(d) => d.as_int().map(Some).map_err(|t| format!("{key} must be a whole number, got {t}")),
                }
            };
            let (due_in_days, every_days) = (whole("due_in_days")?, whole("every_days")?);
            Ok(Action::Task(TaskSpec {
                role: required(&m, "role")?,
                title: required(&m, "title")?,
                due: string(&m, "due")?,
                due_in_days,
                priority,
                reason: string(&m, "reason")?,
                dedup: string(&m, "dedup")?,
                about: string(&m, "about")?,
                assignee: string(&m, "assignee")?,
                every_days,
            }))
        }
        _ => Err(expected(WHAT, v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(script: &str) -> Dynamic {
        let mut e = rhai::Engine::new();
        crate::rules::register_api_for_tests(&mut e);
        e.eval(script).unwrap()
    }

    #[test]
    fn decodes_each_kind() {
        assert_eq!(
            stage(&eval(r#"move_to("won", "signed")"#)).unwrap(),
            Some(StageOutcome::Move { stage: "won".into(), reason: "signed".into() })
        );
        assert_eq!(stage(&eval("()")).unwrap(), None);
        assert_eq!(key(&eval(r#"not_key("bad")"#)).unwrap(), Some(KeyOutcome::NotKey("bad".into())));
        let a = actions(&eval(r#"[task("sales_rep", "Call", #{ priority: "high", due_in_days: 3 }), (), handover("account_manager", "key")]"#)).unwrap();
        assert_eq!(a.len(), 2);
        assert!(matches!(&a[0], Action::Task(t) if t.priority == Priority::High && t.due_in_days == Some(3)));
    }

    #[test]
    fn wrong_shapes_say_what_was_expected() {
        assert!(stage(&eval("42")).unwrap_err().contains("stage rule returns move_to"));
        assert!(key(&eval(r#"move_to("x", "y")"#)).unwrap_err().contains("key-account rule returns"));
        let err = actions(&eval(r#"task("sales_rep", "x", #{ prioriy: "high" })"#)).unwrap_err();
        assert!(err.contains("unknown task field \"prioriy\"") && err.contains("did you mean \"priority\""), "{err}");
        assert!(
            actions(&eval(r#"task("sales_rep", "x", #{ priority: "asap" })"#)).unwrap_err().contains("not one of low")
        );
        assert!(stage(&eval(r#"move_to("won", "")"#)).unwrap_err().contains("reason is missing"));
    }
}
