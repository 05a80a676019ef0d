//! What a notification says: found in what is stored (a task, a quarantine
//! decision, rejected lines), said once per target, as Slack wants it
//! (`{"text": …, "blocks": […]}`) or as JSON facts for any other receiver.

use serde_json::{Value, json};

use super::config::{Target, TargetKind, What};
use crate::config::Config;
use crate::model::Task;
use crate::store::DecisionRow;
use crate::store::outbox::RejectedSince;

/// One thing to say, before it is addressed to a target.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub what: What,
    /// Once per target: `task:42`, `rule:VERSION:NAME:SEQ`, `file:SOURCE:SEQ`.
    pub key: String,
    /// What it is about, in a word: `task 42`, a rule's name, a file.
    pub subject: String,
    /// The person it is for (a task's assignee, as stored).
    pub person: Option<String>,
    /// A task's role (for a target's `roles`).
    pub role: Option<String>,
    /// One line for people: `{name}` stands where the person is named.
    pub headline: String,
    /// More lines for people.
    pub detail: Vec<String>,
    /// The facts, for JSON receivers.
    pub facts: Value,
}

impl Message {
    /// Whether `target` takes this message.
    pub fn goes_to(&self, target: &Target) -> bool {
        target.wants(self.what)
            && match self.what {
                What::Task | What::Escalation => {
                    target.wants_task_of(self.role.as_deref().unwrap_or_default(), self.person.as_deref())
                }
                What::RuleQuarantined | What::FileFailed => true,
            }
    }
}

/// The role that receives escalations (see DOMAIN: sales managers get them).
pub const ESCALATION_ROLE: &str = "sales_manager";

/// What a new task is worth saying, if anything: an escalation (any task
/// of the sales managers), or a task of `min_priority` or above for
/// `target` (so the message depends on the target; the key does not).
/// A task already closed when it is found says nothing.
pub fn task_message(task: &Task, target: &Target) -> Option<Message> {
    // Done or cancelled before the notifier saw it (within a round): nothing to miss.
    let what = if task.status.is_closed() {
        return None;
    } else if task.role == ESCALATION_ROLE {
        What::Escalation
    } else if task.priority >= target.min_priority {
        What::Task
    } else {
        return None;
    };
    let about = format!("{} {}", task.subject.kind, task.subject.id);
    let headline = match (what, &task.assignee) {
        (What::Escalation, Some(_)) => format!("Escalation for {{name}}: {}", task.title),
        (What::Escalation, None) => format!("Escalation for the {} queue: {}", task.role, task.title),
        (_, Some(_)) => format!("{}-priority task for {{name}}: {}", capitalized(task.priority.name()), task.title),
        (_, None) => {
            format!("{}-priority task in the {} queue: {}", capitalized(task.priority.name()), task.role, task.title)
        }
    };
    let detail = vec![
        format!("{about} · due {} · task {}", task.due_at, task.id),
        format!("Why: {} ({})", task.reason, task.rule),
    ];
    Some(Message {
        what,
        key: format!("task:{}", task.id),
        subject: format!("task {}", task.id),
        person: task.assignee.clone(),
        role: Some(task.role.clone()),
        headline,
        detail,
        facts: json!({ "task": task }),
    })
}

/// A rule quarantined, from its decision.
pub fn quarantine_message(d: &DecisionRow) -> Message {
    let failures = d.detail.get("failures").and_then(Value::as_i64).unwrap_or(0);
    let last_error = d.detail.get("last_error").and_then(Value::as_str).unwrap_or_default();
    Message {
        what: What::RuleQuarantined,
        key: format!("rule:{}:{}:{}", d.rules_version, d.subject_id, d.seq),
        subject: d.subject_id.clone(),
        person: None,
        role: None,
        headline: format!(
            "Rule {} is quarantined: it failed on {failures} events in a row and no longer runs",
            d.subject_id
        ),
        detail: vec![format!("Last error: {last_error}"), "Any change to the rules brings it back.".into()],
        facts: json!({
            "rule": d.subject_id,
            "place": d.rule,
            "rules_version": d.rules_version,
            "failures": failures,
            "last_error": last_error,
            "event_id": d.event_id,
            "at": d.at,
        }),
    }
}

/// The most rejected lines one message lists.
const LINES_LISTED: usize = 3;

/// Rejected lines of one input (an inbox file), found together.
pub fn rejected_message(lines: &[&RejectedSince]) -> Option<Message> {
    let first = lines.first()?;
    let mut detail: Vec<String> =
        lines.iter().take(LINES_LISTED).map(|r| format!("line {}: {}", r.line, r.reason)).collect();
    if lines.len() > LINES_LISTED {
        detail.push(format!("… and {} more", lines.len() - LINES_LISTED));
    }
    let failed_dir = first.source.starts_with("inbox/").then_some(" (the file goes to inbox/failed/ with its .errors)");
    Some(Message {
        what: What::FileFailed,
        key: format!("file:{}:{}", first.source, first.seq),
        subject: first.source.clone(),
        person: None,
        role: None,
        headline: format!(
            "{}: {} line{} rejected{}",
            first.source,
            lines.len(),
            if lines.len() == 1 { "" } else { "s" },
            failed_dir.unwrap_or_default()
        ),
        detail,
        facts: json!({
            "file": first.source,
            "rejected": lines.iter().map(|r| json!({"line": r.line, "reason": r.reason})).collect::<Vec<_>>(),
        }),
    })
}

/// The body sent to `target`, as JSON text.
pub fn body(message: &Message, target: &Target, config: &Config) -> String {
    let person = message.person.as_deref().map(|p| (p, config.find_person(p)));
    match target.kind {
        TargetKind::Slack => {
            let name = match person {
                Some((stored, found)) => {
                    let label = slack_escape(&config.person_label(stored));
                    match found.and_then(|p| p.slack.as_deref()) {
                        Some(h) if h.starts_with('@') => format!("{label} ({})", slack_escape(h)),
                        Some(id) => format!("{label} (<@{id}>)"),
                        None => label,
                    }
                }
                None => String::new(),
            };
            let headline = slack_escape(&message.headline).replace("{name}", &name);
            let detail: Vec<String> = message.detail.iter().map(|l| slack_escape(l)).collect();
            let text = std::iter::once(format!("*{headline}*")).chain(detail).collect::<Vec<_>>().join("\n");
            json!({
                "text": text,
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
            })
            .to_string()
        }
        TargetKind::Json => {
            let label = person.map(|(stored, _)| config.person_label(stored));
            let headline = message.headline.replace("{name}", label.as_deref().unwrap_or_default());
            let mut body = json!({
                "kind": message.what.name(),
                "key": message.key,
                "text": std::iter::once(headline).chain(message.detail.iter().cloned()).collect::<Vec<_>>().join("\n"),
                "person": person.map(|(stored, found)| json!({
                    "key": stored,
                    "name": found.map_or(stored, |p| p.name.as_str()),
                    "slack": found.and_then(|p| p.slack.as_deref()),
                })),
            });
            if let (Some(b), Some(facts)) = (body.as_object_mut(), message.facts.as_object()) {
                b.extend(facts.clone());
            }
            body.to_string()
        }
    }
}

/// A test message for `target` (`dealflow notify test`).
pub fn test_message(target: &Target) -> Message {
    Message {
        what: What::Task,
        key: format!("test:{}", crate::notify::clock_stamp(chrono::Utc::now())),
        subject: "test".into(),
        person: None,
        role: None,
        headline: format!("dealflow test message to notify.{}", target.name),
        detail: vec!["If you read this, the target works.".into()],
        facts: json!({"test": true}),
    }
}

/// Slack's mrkdwn takes `&`, `<` and `>` as markup: text from events and rules is escaped.
pub fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A Slack member ID (`U024BE7LH`, `W…`) or a handle (`@ana`).
pub fn is_slack_handle(s: &str) -> bool {
    let id =
        s.len() > 2 && s.starts_with(['U', 'W']) && s.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    let handle = s.len() > 1 && s.starts_with('@') && s[1..].chars().all(|c| c.is_alphanumeric() || ".-_".contains(c));
    id || handle
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}
