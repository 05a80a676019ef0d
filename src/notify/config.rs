//! `[notify.NAME]` in `config.toml`: where messages go and which ones.
//!
//! ```toml
//! [notify.sales_channel]
//! kind = "slack"                            # a Slack incoming webhook
//! url_env = "DEALFLOW_SLACK_WEBHOOK"        # the webhook's address, from this environment variable
//! send = ["task", "escalation"]             # default: all four kinds
//! roles = ["sales_rep", "sales_manager"]    # tasks of these roles only (default: all)
//!
//! [notify.crm_bridge]
//! kind = "json"                             # any address that takes a JSON POST
//! url = "https://example.com/hooks/dealflow"
//! header_env = { Authorization = "DEALFLOW_HOOK_AUTH" }
//! ```

use std::collections::BTreeMap;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use crate::error::hint;
use crate::model::Priority;

/// A `[notify.NAME]` table as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTarget {
    kind: Spanned<String>,
    #[serde(default)]
    url: Option<Spanned<String>>,
    #[serde(default)]
    url_env: Option<Spanned<String>>,
    #[serde(default)]
    send: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    people: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    roles: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    min_priority: Option<Spanned<String>>,
    #[serde(default)]
    headers: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    header_env: BTreeMap<String, Spanned<String>>,
}

/// What a target receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum What {
    /// A task of `min_priority` or above (default high) made for someone (or a role's queue).
    Task,
    /// A task for the `sales_manager` role: sales managers get the escalations.
    Escalation,
    /// A rule that failed on too many events in a row and no longer runs.
    RuleQuarantined,
    /// Lines of an inbox file (or any event input) rejected.
    FileFailed,
}

impl What {
    pub const ALL: [What; 4] = [What::Task, What::Escalation, What::RuleQuarantined, What::FileFailed];

    pub fn name(self) -> &'static str {
        match self {
            What::Task => "task",
            What::Escalation => "escalation",
            What::RuleQuarantined => "rule_quarantined",
            What::FileFailed => "file_failed",
        }
    }

    pub fn parse(s: &str) -> Option<What> {
        What::ALL.into_iter().find(|w| w.name() == s)
    }
}

/// How a target wants its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// A Slack incoming webhook: `{"text": …, "blocks": […]}`.
    Slack,
    /// Any address taking JSON: the facts, with an `Idempotency-Key` header.
    Json,
}

/// A value given in the file, or read from an environment variable when sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secret {
    Text(String),
    Env(String),
}

impl Secret {
    /// The value now: a missing environment variable is an error that names it.
    pub fn value(&self) -> Result<String, String> {
        match self {
            Secret::Text(t) => Ok(t.clone()),
            Secret::Env(var) => std::env::var(var).map_err(|_| format!("the environment variable {var} is not set")),
        }
    }
}

/// A validated target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub kind: TargetKind,
    pub url: Secret,
    pub sends: Vec<What>,
    /// Tasks of these people only (their stored keys: id, else name); `None`: everyone's.
    pub people: Option<Vec<String>>,
    /// Tasks of these roles only; `None`: every role's.
    pub roles: Option<Vec<String>>,
    pub min_priority: Priority,
    /// Extra headers (JSON targets; Slack's too, if given).
    pub headers: Vec<(String, Secret)>,
}

impl Target {
    pub fn wants(&self, what: What) -> bool {
        self.sends.contains(&what)
    }

    /// Whether a task of `role` for `assignee` passes this target's people and roles.
    pub fn wants_task_of(&self, role: &str, assignee: Option<&str>) -> bool {
        self.roles.as_ref().is_none_or(|r| r.iter().any(|x| x == role))
            && self.people.as_ref().is_none_or(|p| assignee.is_some_and(|a| p.iter().any(|x| x == a)))
    }
}

/// The targets, by name.
pub type Targets = BTreeMap<String, Target>;

/// What validation needs of the rest of the config.
pub(crate) struct Known<'a> {
    pub roles: Vec<&'a str>,
    /// A team member's stored key, by name or id; `Err` says why not.
    pub person: &'a dyn Fn(&str) -> Result<String, String>,
    /// Everyone's names, for "did you mean".
    pub names: Vec<&'a str>,
    /// Where a table or key is in the file, for problems that have no value to point at.
    pub place: &'a dyn Fn(&[&str]) -> Range<usize>,
}

/// Validate the `[notify.NAME]` tables; each problem goes to `at` with where it is.
pub(crate) fn validate(
    raw: &BTreeMap<String, RawTarget>,
    known: &Known,
    at: &mut dyn FnMut(Range<usize>, String),
) -> Targets {
    let mut targets = Targets::new();
    for (name, t) in raw {
        let here = |key: &str| format!("notify.{name}.{key}");
        let kind = match t.kind.get_ref().as_str() {
            "slack" => TargetKind::Slack,
            "json" => TargetKind::Json,
            other => {
                at(
                    t.kind.span(),
                    format!(
                        "{}: {other:?} is not a kind of target: \"slack\" (a Slack incoming webhook) or \"json\" (any address taking JSON){}",
                        here("kind"),
                        hint(other, ["slack", "json"])
                    ),
                );
                TargetKind::Json
            }
        };
        let url = match (&t.url, &t.url_env) {
            (Some(u), None) => {
                let text = u.get_ref().trim();
                if !(text.starts_with("https://") || text.starts_with("http://")) || text.contains(char::is_whitespace)
                {
                    at(
                        u.span(),
                        format!(
                            "{}: an address starting https:// (or http://), like https://hooks.slack.com/services/…",
                            here("url")
                        ),
                    );
                }
                Secret::Text(text.to_string())
            }
            (None, Some(v)) => {
                check_env_name(v, &here("url_env"), at);
                Secret::Env(v.get_ref().clone())
            }
            (Some(_), Some(v)) => {
                at(v.span(), format!("{}: give url or url_env, not both", here("url_env")));
                Secret::Env(v.get_ref().clone())
            }
            (None, None) => {
                at(
                    (known.place)(&["notify", name]),
                    format!(
                        "notify.{name}: needs url = \"https://…\", or url_env = \"VARIABLE\" to read the address from the environment (better for a secret webhook)"
                    ),
                );
                Secret::Text(String::new())
            }
        };
        let mut sends = Vec::new();
        match &t.send {
            None => sends.extend(What::ALL),
            Some(list) => {
                if list.is_empty() {
                    at(
                        (known.place)(&["notify", name, "send"]),
                        format!("{}: name at least one kind, or leave send out for all", here("send")),
                    );
                }
                for s in list {
                    match What::parse(s.get_ref()) {
                        Some(w) if !sends.contains(&w) => sends.push(w),
                        Some(_) => at(s.span(), format!("{}: {:?} is listed twice", here("send"), s.get_ref())),
                        None => at(
                            s.span(),
                            format!(
                                "{}: {:?} is not a kind of message: task, escalation, rule_quarantined or file_failed{}",
                                here("send"),
                                s.get_ref(),
                                hint(s.get_ref(), What::ALL.map(What::name))
                            ),
                        ),
                    }
                }
            }
        }
        let roles = t.roles.as_ref().map(|list| {
            list.iter()
                .map(|r| {
                    if !known.roles.contains(&r.get_ref().as_str()) {
                        let h = hint(r.get_ref(), known.roles.iter().copied());
                        at(r.span(), format!("{}: {:?} is not in [roles]{h}", here("roles"), r.get_ref()));
                    }
                    r.get_ref().clone()
                })
                .collect()
        });
        let people = t.people.as_ref().map(|list| {
            list.iter()
                .filter_map(|p| match (known.person)(p.get_ref()) {
                    Ok(key) => Some(key),
                    Err(why) => {
                        let h = hint(p.get_ref(), known.names.iter().copied());
                        at(p.span(), format!("{}: {why}{h}", here("people")));
                        None
                    }
                })
                .collect()
        });
        let min_priority = match &t.min_priority {
            None => Priority::High,
            Some(p) => Priority::parse(p.get_ref()).unwrap_or_else(|| {
                at(
                    p.span(),
                    format!(
                        "{}: {:?} is not a priority: low, normal, high or urgent{}",
                        here("min_priority"),
                        p.get_ref(),
                        hint(p.get_ref(), Priority::NAMES)
                    ),
                );
                Priority::High
            }),
        };
        let mut headers = Vec::new();
        for (h, v) in &t.headers {
            check_header_name(h, v.span(), &here("headers"), at);
            if v.get_ref().contains(['\r', '\n']) {
                at(v.span(), format!("{}.{h}: a header value is one line", here("headers")));
            }
            headers.push((h.clone(), Secret::Text(v.get_ref().clone())));
        }
        for (h, v) in &t.header_env {
            check_header_name(h, v.span(), &here("header_env"), at);
            check_env_name(v, &format!("{}.{h}", here("header_env")), at);
            if t.headers.contains_key(h) {
                at(v.span(), format!("{}.{h}: the header {h} is in headers too: give it once", here("header_env")));
            }
            headers.push((h.clone(), Secret::Env(v.get_ref().clone())));
        }
        targets.insert(
            name.clone(),
            Target { name: name.clone(), kind, url, sends, people, roles, min_priority, headers },
        );
    }
    targets
}

fn check_env_name(v: &Spanned<String>, key: &str, at: &mut dyn FnMut(Range<usize>, String)) {
    let name = v.get_ref();
    let ok = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok {
        at(
            v.span(),
            format!(
                "{key}: {name:?} is not an environment variable's name (letters, digits and _, like DEALFLOW_SLACK_WEBHOOK)"
            ),
        );
    }
}

fn check_header_name(h: &str, span: Range<usize>, key: &str, at: &mut dyn FnMut(Range<usize>, String)) {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if h.is_empty() || !h.chars().all(token) {
        at(span, format!("{key}: {h:?} is not a header name (like Authorization or X-Api-Key)"));
    } else if ["content-type", "content-length", "host", "idempotency-key"].contains(&h.to_ascii_lowercase().as_str()) {
        at(span, format!("{key}: dealflow sets {h} itself"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// The example the README and the lead's notes give (see /work/wt/notes/notify.md).
    const EXAMPLE: &str = r#"
[notify.sales_channel]
kind = "slack"                         # a Slack incoming webhook
url_env = "DEALFLOW_SLACK_WEBHOOK"     # the webhook's address, read from this variable
send = ["task", "escalation", "rule_quarantined", "file_failed"]  # what it gets (default: all)
roles = ["sales_rep", "sales_manager"] # tasks of these roles only (default: every role)
people = ["Ana Ruiz", "Ben Okafor"]    # tasks of these people only (default: everyone)
min_priority = "high"                  # tasks at least this urgent (default: high)

[notify.crm_bridge]
kind = "json"                          # any address that takes a JSON POST
url = "https://example.com/hooks/dealflow"
header_env = { Authorization = "DEALFLOW_HOOK_AUTH" }  # a header's value, from this variable
"#;

    /// The example, added to the shipped config.toml, loads as it says.
    #[test]
    fn the_example_loads_as_it_says() {
        let text = format!("{}{EXAMPLE}", include_str!("../../config.toml"));
        let config = Config::parse(std::path::Path::new("."), &text).unwrap();
        let slack = &config.notify["sales_channel"];
        assert_eq!((slack.kind, &slack.url), (TargetKind::Slack, &Secret::Env("DEALFLOW_SLACK_WEBHOOK".into())));
        assert_eq!(slack.sends, What::ALL);
        assert_eq!(slack.people.as_deref(), Some(&["Ana Ruiz".to_string(), "Ben Okafor".to_string()][..]));
        assert!(slack.wants_task_of("sales_rep", Some("Ana Ruiz")));
        assert!(!slack.wants_task_of("sales_rep", None), "people named: a queue's task is not theirs");
        assert!(!slack.wants_task_of("marketing", Some("Ana Ruiz")));
        let json = &config.notify["crm_bridge"];
        assert_eq!(json.kind, TargetKind::Json);
        assert_eq!(json.headers, [("Authorization".to_string(), Secret::Env("DEALFLOW_HOOK_AUTH".into()))]);
        assert_eq!((json.min_priority, json.people.is_none()), (Priority::High, true));
        assert!(json.wants_task_of("marketing", None));
    }
}
