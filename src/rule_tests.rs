//! Rule tests: cases beside the rules (`rules/tests/*.toml`), each a story of
//! events (and clock ticks) fed through the real engine into a scratch
//! store, with the outcome it must have: stages, key accounts, owners, tasks.
//! `dealflow test` runs them; a failing case shows what differs.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Located, Result, line_col};
use crate::ingest::Ingest;
use crate::playbook::Current;
use crate::store::{Store, TaskFilter};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    case: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    #[serde(default)]
    events: Vec<TestEvent>,
    /// Clock ticks applied after the events, in order.
    #[serde(default)]
    ticks: Vec<String>,
    #[serde(default)]
    expect: Expect,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestEvent {
    #[serde(default)]
    id: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    at: String,
    #[serde(default)]
    data: toml::Table,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    stages: Option<BTreeMap<String, String>>,
    key_accounts: Option<Vec<String>>,
    owners: Option<BTreeMap<String, String>>,
    #[serde(default)]
    rule_errors: u64,
    refused_moves: Option<u64>,
    tasks: Option<Vec<ExpectedTask>>,
    tasks_include: Option<Vec<ExpectedTask>>,
    #[serde(default)]
    tasks_absent: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedTask {
    role: String,
    title: String,
    priority: Option<String>,
    /// `""` means unassigned.
    assignee: Option<String>,
    due: Option<String>,
}

/// One case's result: empty `problems` means it passed.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub file: String,
    pub name: String,
    pub problems: Vec<String>,
}

/// The cases of every `rules/tests/*.toml`, by file (in name order).
pub fn load(config_dir: &Path) -> Result<Vec<(String, Vec<Case>)>> {
    let dir = config_dir.join("rules").join("tests");
    let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(Vec::new()) };
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for path in paths {
        let name = format!("rules/tests/{}", path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default());
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Read { path: path.clone(), source })?;
        match toml::from_str::<File>(&text) {
            Ok(f) => files.push((name, f.case)),
            Err(e) => {
                let (line, col) = e.span().map(|s| line_col(&text, s.start)).unwrap_or((1, 1));
                problems.push(Located::new(name, line, col, e.message().trim().to_string()));
            }
        }
    }
    if problems.is_empty() { Ok(files) } else { Err(Error::invalid(problems)) }
}

/// Run one case in a scratch store in memory with the playbook in `current`.
pub fn run(file: &str, case: &Case, current: &Current) -> Result<Outcome> {
    let store = Store::memory();
    let mut lines = Vec::new();
    for (i, e) in case.events.iter().enumerate() {
        let data = serde_json::to_value(&e.data).unwrap_or_default();
        let id = e.id.clone().unwrap_or_else(|| format!("test-{}", i + 1));
        lines.push(serde_json::json!({"id": id, "type": e.kind, "at": e.at, "data": data}).to_string());
    }
    for t in &case.ticks {
        lines.push(serde_json::json!({"id": format!("tick-{t}"), "type": "clock.tick", "at": t}).to_string());
    }
    let mut ingest = Ingest::start(&store, current)?;
    ingest.keep_all_rejections = true;
    ingest.input(file, (lines.join("\n") + "\n").as_bytes())?;
    let summary = ingest.finish()?;

    let mut problems: Vec<String> =
        summary.rejections.iter().map(|r| format!("event {} was rejected: {}", r.line, r.reason)).collect();
    let x = &case.expect;
    let playbook = current.load();
    // A test may name a person by name or id; the store keeps their key.
    let same = |want: &str, got: Option<&str>| got.is_some_and(|g| playbook.config.same_person(want, g));
    if summary.counts.rule_errors != x.rule_errors {
        let sites: Vec<String> =
            summary.rule_failures.iter().map(|f| format!("{}: {}", f.location, f.message)).collect();
        problems.push(format!(
            "rule errors: expected {}, got {} {}",
            x.rule_errors,
            summary.counts.rule_errors,
            sites.join("; ")
        ));
    }
    if let Some(n) = x.refused_moves
        && summary.counts.refused_moves != n
    {
        problems.push(format!("refused moves: expected {n}, got {}", summary.counts.refused_moves));
    }
    if let Some(stages) = &x.stages {
        for (deal, want) in stages {
            let got = store.deal(deal)?.map(|d| d.stage);
            if got.as_deref() != Some(want.as_str()) {
                problems.push(format!(
                    "deal {deal}: expected stage {want}, got {}",
                    got.as_deref().unwrap_or("no such deal")
                ));
            }
        }
    }
    if let Some(want) = &x.key_accounts {
        let mut got: Vec<String> = store.accounts(true)?.into_iter().map(|a| a.id).collect();
        let mut want = want.clone();
        got.sort();
        want.sort();
        if got != want {
            problems.push(format!("key accounts: expected {want:?}, got {got:?}"));
        }
    }
    if let Some(owners) = &x.owners {
        for (account, want) in owners {
            let got = store.account(account)?.and_then(|a| a.owner);
            if !same(want, got.as_deref()) {
                problems.push(format!(
                    "account {account}: expected owner {want}, got {}",
                    got.as_deref().map_or("nobody".to_string(), |g| playbook.config.person_label(g))
                ));
            }
        }
    }
    let tasks = store.tasks(&TaskFilter::default())?;
    let show = |t: &crate::model::Task| format!("{} \"{}\"", t.role, t.title);
    let check_fields = |want: &ExpectedTask, t: &crate::model::Task, problems: &mut Vec<String>| {
        let mut differs = Vec::new();
        if let Some(p) = &want.priority
            && *p != t.priority.name()
        {
            differs.push(format!("priority {p} expected, got {}", t.priority));
        }
        if let Some(a) = &want.assignee
            && a.as_str() != t.assignee.as_deref().unwrap_or("")
            && !same(a, t.assignee.as_deref())
        {
            let got = t.assignee.as_deref().map(|g| playbook.config.person_label(g)).unwrap_or_default();
            differs.push(format!("assignee {a:?} expected, got {got:?}"));
        }
        if let Some(d) = &want.due
            && *d != t.due_at
        {
            differs.push(format!("due {d} expected, got {}", t.due_at));
        }
        if !differs.is_empty() {
            problems.push(format!("task {}: {}", show(t), differs.join(", ")));
        }
    };
    let mut unmatched: Vec<&crate::model::Task> = tasks.iter().collect();
    for (exact, list) in [(true, &x.tasks), (false, &x.tasks_include)] {
        let Some(list) = list else { continue };
        for want in list {
            match unmatched.iter().position(|t| t.role == want.role && t.title == want.title) {
                Some(i) => {
                    let t = unmatched.remove(i);
                    check_fields(want, t, &mut problems);
                }
                None => problems.push(format!("- missing task: {} \"{}\"", want.role, want.title)),
            }
        }
        if exact {
            problems.extend(unmatched.iter().map(|t| format!("+ unexpected task: {}", show(t))));
            unmatched.clear();
        }
    }
    for prefix in &x.tasks_absent {
        for t in tasks.iter().filter(|t| t.title.starts_with(prefix.as_str())) {
            problems.push(format!("+ task that should not exist: {}", show(t)));
        }
    }
    Ok(Outcome { file: file.to_string(), name: case.name.clone(), problems })
}
