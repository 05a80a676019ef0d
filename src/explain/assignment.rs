//! Why a task went to whom: the choice made when it was created (the
//! `task_created` decision's [`Why`]) and each move since (`task_rerouted`
//! decisions), in words for `explain task` and the task's web page.

use serde::Serialize;
use serde_json::Value;

use crate::assign::Why;
use crate::config::Config;
use crate::error::Result;
use crate::model::Task;
use crate::store::Store;

/// One step of a task's way to whoever has it.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub at: String,
    /// `created`, `moved` (to someone else, or to or from the role's queue),
    /// or `kept` (kept for someone away, due when they are back).
    pub kind: String,
    /// Who had it before the step (a person's key; `None`: the role's queue).
    pub from: Option<String>,
    /// Who has it after the step (`None`: the role's queue).
    pub to: Option<String>,
    /// Why it moved (empty when it was created).
    pub reason: String,
    /// A kept task's due date before and after.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_to: Option<String>,
    /// The choice as recorded (absent for tasks made before choices were).
    pub why: Option<Why>,
    /// The step in words: what happened, then (one a line) the facts of the
    /// choice and each person passed over with why.
    pub lines: Vec<String>,
}

/// How `task` came to whoever has it: its creation, then each move, in order.
pub fn steps(store: &Store, config: &Config, task: &Task) -> Result<Vec<Step>> {
    let mut steps = Vec::new();
    let id = task.id.to_string();
    let created = store
        .decisions(Some("task_created"), Some((&task.subject.kind, &task.subject.id)))?
        .into_iter()
        .find(|d| d.detail["task_id"].as_i64() == Some(task.id));
    if let Some(d) = created {
        let who = d.detail["assignee"].as_str().map(str::to_string);
        let why = why_of(&d.detail);
        let mut lines = vec![match &why {
            Some(w) => format!(
                "{} made for {}: {}",
                d.at,
                holder(config, who.as_deref().filter(|_| w.waits.is_none()), &task.role),
                choice(config, w, who.as_deref())
            ),
            None => format!("{} made for {}", d.at, holder(config, who.as_deref(), &task.role)),
        }];
        lines.extend(why.iter().flat_map(|w| details(config, w, who.is_some())));
        lines.extend(more_passed_over(&d.detail));
        steps.push(Step {
            at: d.at,
            kind: "created".into(),
            from: None,
            to: who,
            reason: String::new(),
            due_from: None,
            due_to: None,
            why,
            lines,
        });
    }
    for d in store.decisions(Some("task_rerouted"), Some(("task", &id)))? {
        let text = |k: &str| d.detail[k].as_str().map(str::to_string);
        let (from, to) = (text("from"), text("to"));
        if let (Some(due_from), Some(due_to)) = (text("due_from"), text("due_to")) {
            steps.push(Step {
                lines: vec![format!("{} {}", d.at, d.reason)],
                at: d.at,
                kind: "kept".into(),
                from,
                to,
                reason: d.reason,
                due_from: Some(due_from),
                due_to: Some(due_to),
                why: None,
            });
            continue;
        }
        let why = why_of(&d.detail);
        let mut lines = vec![format!(
            "{} moved from {} to {}: {}",
            d.at,
            holder(config, from.as_deref(), &task.role),
            holder(config, to.as_deref(), &task.role),
            d.reason
        )];
        if let Some(w) = &why {
            let to = to.as_deref().filter(|_| w.waits.is_none());
            lines.push(format!("{}: {}", holder(config, to, &task.role), choice(config, w, to)));
            lines.extend(details(config, w, to.is_some()));
            lines.extend(more_passed_over(&d.detail));
        }
        steps.push(Step {
            at: d.at,
            kind: "moved".into(),
            from,
            to,
            reason: d.reason,
            due_from: None,
            due_to: None,
            why,
            lines,
        });
    }
    Ok(steps)
}

/// "and 15 more passed over": a choice lists the first people it passed
/// over and counts the rest (`more_skipped`, read from the detail as stored).
fn more_passed_over(detail: &Value) -> Option<String> {
    let more = detail["assignment"]["more_skipped"].as_u64().filter(|&n| n > 0)?;
    Some(format!("and {more} more passed over"))
}

fn why_of(detail: &Value) -> Option<Why> {
    detail.get("assignment").and_then(|w| serde_json::from_value(w.clone()).ok())
}

/// A person as the team knows them, or the role's queue.
fn holder(config: &Config, who: Option<&str>, role: &str) -> String {
    match who {
        Some(p) => config.person_label(p),
        None => format!("the {role} queue"),
    }
}

/// Why the one who got it (`who`; `None`: the role's queue) got it, after
/// their name: "round robin by weight, turn 4"; for the queue, why it waits.
fn choice(config: &Config, why: &Why, who: Option<&str>) -> String {
    if why.waits.is_some() || who.is_none() {
        return why.waits.clone().unwrap_or_else(|| "nobody could take it".into());
    }
    let region = why.region.as_deref().map(|r| format!(" among the people of region {r}")).unwrap_or_default();
    match why.strategy.as_str() {
        "named" => "the rule named them".into(),
        "owner" => "they own the deal, lead or account (assign = \"owner\")".into(),
        "cover" => {
            let covered =
                why.skipped.first().map(|s| config.person_label(&s.who)).unwrap_or_else(|| "the owner".into());
            format!("covers for {covered}, as the colleague with the fewest open tasks for their share{region}")
        }
        "waits_for" => {
            let kept = why.skipped.first().map(|s| s.why.as_str()).unwrap_or("away");
            format!("{kept} (the role waits for them: while_away = \"wait\")")
        }
        "round_robin" => match why.turn {
            Some(t) => format!("round robin by weight, turn {t}{region}"),
            None => format!("round robin by weight{region}"),
        },
        "least_loaded" => format!("the fewest open tasks for their share (weight × working days / 5){region}"),
        "fewest_accounts" => format!("the fewest accounts{region}"),
        other => format!("{other}{region}"),
    }
}

/// The facts of the one chosen (weight, load and cap, working days), then
/// each person passed over and why.
fn details(config: &Config, why: &Why, chosen: bool) -> Vec<String> {
    let mut lines = Vec::new();
    let mut facts = Vec::new();
    if chosen && why.waits.is_none() {
        if let Some(w) = why.weight {
            facts.push(format!("weight {w}"));
        }
        let open = |n: i64| if n == 1 { "1 open task".to_string() } else { format!("{n} open tasks") };
        match (why.load, why.max_open) {
            (Some(l), Some(c)) => facts.push(format!("{} of the role before this one, at most {c}", open(l))),
            (Some(l), None) => facts.push(format!("{} of the role before this one", open(l))),
            (None, Some(c)) => facts.push(format!("at most {c} open")),
            (None, None) => {}
        }
        if !why.days.is_empty() {
            facts.push(format!("works {}", why.days.join(", ")));
        }
    }
    if !facts.is_empty() {
        lines.push(facts.join("; "));
    }
    // The kept-for person is the headline of a `waits_for`.
    let skip = usize::from(why.strategy == "waits_for");
    for s in why.skipped.iter().skip(skip) {
        lines.push(format!("passed over {}: {}", config.person_label(&s.who), s.why));
    }
    lines
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn a_choice_that_passed_over_more_than_it_lists_counts_the_rest() {
        let detail = json!({"assignment": {"strategy": "round_robin", "more_skipped": 15}});
        assert_eq!(super::more_passed_over(&detail).as_deref(), Some("and 15 more passed over"));
        assert_eq!(super::more_passed_over(&json!({"assignment": {"strategy": "owner"}})), None);
    }
}
