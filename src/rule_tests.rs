//! Rule tests: cases beside the rules (`rules/tests/*.toml`), each a story of
//! events (and clock ticks) fed through the real engine into a scratch
//! store, with the outcome it must have: stages, key accounts, owners, tasks.
//! `dealflow test` runs them; a failing case shows what differs.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::config::Config;
use crate::error::{Error, Located, Result, line_col};
use crate::ingest::Ingest;
use crate::playbook::Current;
use crate::store::{Store, TaskFilter};

/// A case as written in the file: every text keeps its place, for the
/// problems found while resolving its references to config.toml.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    case: Vec<RawCase>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    name: String,
    #[serde(default)]
    events: Vec<RawEvent>,
    #[serde(default)]
    ticks: Vec<String>,
    #[serde(default)]
    expect: RawExpect,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    #[serde(default)]
    id: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    at: String,
    #[serde(default)]
    data: BTreeMap<String, Spanned<toml::Value>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    stages: Option<BTreeMap<String, Spanned<String>>>,
    key_accounts: Option<Vec<String>>,
    owners: Option<BTreeMap<String, Spanned<String>>>,
    #[serde(default)]
    rule_errors: u64,
    refused_moves: Option<u64>,
    tasks: Option<Vec<RawTask>>,
    tasks_include: Option<Vec<RawTask>>,
    #[serde(default)]
    tasks_absent: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTask {
    role: String,
    title: Spanned<String>,
    priority: Option<String>,
    assignee: Option<Spanned<String>>,
    due: Option<String>,
}

/// A case with its references to config.toml resolved: stage names and
/// parts made the pipeline's stages, placeholders replaced.
#[derive(Debug)]
pub struct Case {
    pub name: String,
    /// Event lines (JSON objects without their id when the case gave none).
    events: Vec<TestEvent>,
    /// Clock ticks applied after the events, in order.
    ticks: Vec<String>,
    expect: Expect,
    /// What config.toml does not know among the case's references: the case
    /// fails with these, at their places, without running.
    unresolved: Vec<Located>,
}

#[derive(Debug)]
struct TestEvent {
    id: Option<String>,
    kind: String,
    at: String,
    data: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Default)]
struct Expect {
    stages: Option<BTreeMap<String, String>>,
    key_accounts: Option<Vec<String>>,
    owners: Option<BTreeMap<String, String>>,
    rule_errors: u64,
    refused_moves: Option<u64>,
    tasks: Option<Vec<ExpectedTask>>,
    tasks_include: Option<Vec<ExpectedTask>>,
    tasks_absent: Vec<String>,
}

#[derive(Debug, Clone)]
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

/// The cases of every `rules/tests/*.toml`, by file (in name order), with
/// their references to the pipeline and the team resolved against `config`
/// (see [`Resolver`]). A file that is not a test file is an error (every
/// such problem of every file at once); a reference config.toml does not
/// know fails its case only.
pub fn load(config_dir: &Path, config: &Config) -> Result<Vec<(String, Vec<Case>)>> {
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
        match toml::from_str::<RawFile>(&text) {
            Ok(f) => {
                let mut r = Resolver { config, file: &name, text: &text, problems: Vec::new() };
                let cases = f.case.into_iter().map(|c| r.case(c)).collect();
                files.push((name, cases));
            }
            Err(e) => {
                let (line, col) = e.span().map(|s| line_col(&text, s.start)).unwrap_or((1, 1));
                problems.push(Located::new(name, line, col, e.message().trim().to_string()));
            }
        }
    }
    if problems.is_empty() { Ok(files) } else { Err(Error::invalid(problems)) }
}

/// What the placeholders of a rule test may name, for the error message.
const PLACEHOLDERS: &str = "write {stage:PART}, {ROLE} or {ROLE:N} (the Nth active person of the role in [[team]]), {region:ROLE} or {region:ROLE:N}, and {{ for a brace";

/// Resolves a rule test's references to config.toml, so that the tests of a
/// playbook keep passing when a team renames its stages and its people:
///
/// - stage-valued places (an event's `stage`, the values of `expect.stages`)
///   take a name as rules' `stage()` does: a part of `[pipeline.parts]`, else
///   a stage of the pipeline; `won` and `lost`, when neither, are the
///   pipeline's first won / lost stage;
/// - any other text (titles, owners, assignees, regions, event fields) may
///   hold placeholders: `{stage:PART}`, `{ROLE}` / `{ROLE:N}` (the first / Nth
///   active person of the role, in [[team]] order), `{region:ROLE:N}` (that
///   person's region). `{{` writes `{`; braces around anything but a word
///   (JSON, `{x y}`) are text.
///
/// A name config.toml does not know (or a role with fewer active people
/// than a placeholder counts) is a problem at its FILE:LINE:COL, with a
/// did-you-mean; it fails its case, which does not run.
struct Resolver<'a> {
    config: &'a Config,
    file: &'a str,
    text: &'a str,
    problems: Vec<Located>,
}

impl Resolver<'_> {
    fn case(&mut self, c: RawCase) -> Case {
        let events = c
            .events
            .into_iter()
            .map(|e| {
                let data = e.data.iter().map(|(k, v)| (k.clone(), self.value(v, k == "stage"))).collect();
                TestEvent { id: e.id, kind: e.kind, at: e.at, data }
            })
            .collect();
        let x = c.expect;
        let texts = |r: &mut Self, m: Option<BTreeMap<String, Spanned<String>>>, stage: bool| {
            m.map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), if stage { r.stage(v) } else { r.text(v.get_ref(), v.span().start) }))
                    .collect()
            })
        };
        let tasks = |r: &mut Self, list: Option<Vec<RawTask>>| {
            list.map(|list| {
                list.into_iter()
                    .map(|t| ExpectedTask {
                        title: r.spanned(&t.title),
                        assignee: t.assignee.as_ref().map(|a| r.spanned(a)),
                        role: t.role,
                        priority: t.priority,
                        due: t.due,
                    })
                    .collect()
            })
        };
        let expect = Expect {
            stages: texts(self, x.stages, true),
            owners: texts(self, x.owners, false),
            tasks: tasks(self, x.tasks),
            tasks_include: tasks(self, x.tasks_include),
            tasks_absent: x.tasks_absent.iter().map(|t| self.spanned(t)).collect(),
            key_accounts: x.key_accounts,
            rule_errors: x.rule_errors,
            refused_moves: x.refused_moves,
        };
        let mut unresolved = std::mem::take(&mut self.problems);
        unresolved.sort_by_key(|p| (p.line, p.col));
        Case { name: c.name, events, ticks: c.ticks, expect, unresolved }
    }

    fn problem(&mut self, at: usize, message: String) {
        let (line, col) = line_col(self.text, at);
        self.problems.push(Located::new(self.file, line, col, message));
    }

    fn spanned(&mut self, s: &Spanned<String>) -> String {
        self.text(s.get_ref(), s.span().start)
    }

    /// A value of an event's data; `stage` is true for the stage asked for.
    fn value(&mut self, v: &Spanned<toml::Value>, stage: bool) -> serde_json::Value {
        let at = v.span().start;
        match v.get_ref() {
            toml::Value::String(s) if stage => {
                serde_json::Value::String(self.stage(&Spanned::new(v.span(), s.clone())))
            }
            other => self.plain(other, at),
        }
    }

    fn plain(&mut self, v: &toml::Value, at: usize) -> serde_json::Value {
        match v {
            toml::Value::String(s) => serde_json::Value::String(self.text(s, at)),
            toml::Value::Array(items) => items.iter().map(|i| self.plain(i, at)).collect(),
            toml::Value::Table(t) => {
                serde_json::Value::Object(t.iter().map(|(k, v)| (k.clone(), self.plain(v, at))).collect())
            }
            other => serde_json::to_value(other).unwrap_or_default(),
        }
    }

    /// A stage-valued text: placeholders first, then a part or a stage name.
    fn stage(&mut self, s: &Spanned<String>) -> String {
        let at = s.span().start;
        let name = self.text(s.get_ref(), at);
        match stage_of(self.config, &name) {
            Some(stage) => stage.to_string(),
            None => {
                let p = &self.config.pipeline;
                let h = crate::error::hint(&name, p.names());
                self.problem(
                    at,
                    format!(
                        "{name:?} is neither a stage of pipeline.stages nor a part in [pipeline.parts] of config.toml{h}"
                    ),
                );
                name
            }
        }
    }

    /// A text with its placeholders replaced. `at` is where the string
    /// starts in the file (its opening quote), for problems.
    fn text(&mut self, s: &str, at: usize) -> String {
        if !s.contains('{') {
            return s.to_string();
        }
        // Point at the placeholder itself when the string is written as is
        // (no escapes), else at the string.
        let raw = self.text.get(at + 1..).filter(|rest| rest.starts_with(s)).is_some();
        let mut out = String::new();
        let mut rest = s;
        while let Some(i) = rest.find('{') {
            out.push_str(&rest[..i]);
            let from = s.len() - rest.len() + i;
            let tail = &rest[i..];
            if let Some(after) = tail.strip_prefix("{{") {
                out.push('{');
                rest = after;
                continue;
            }
            let Some(close) = tail.find('}') else {
                out.push_str(&tail[..1]);
                rest = &tail[1..];
                continue;
            };
            let inner = &tail[1..close];
            // Only `{word}` and `{word:...}` are placeholders: other braces
            // (JSON, templates in a hostile description) are text.
            let word = inner.split(':').next().unwrap_or_default();
            if word.is_empty() || !word.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                out.push('{');
                rest = &tail[1..];
                continue;
            }
            let place = if raw { at + 1 + from } else { at };
            match placeholder(self.config, inner) {
                Ok(v) => out.push_str(&v),
                Err(message) => {
                    self.problem(place, message);
                    out.push_str(&tail[..=close]);
                }
            }
            rest = &tail[close + 1..];
        }
        out.push_str(rest);
        out
    }
}

/// The stage a rule test means by `name`: as rules' `stage()` (a part, then a
/// stage), and `won` / `lost` for the pipeline's first won / lost stage.
fn stage_of<'c>(config: &'c Config, name: &str) -> Option<&'c str> {
    config.pipeline.stage_for(name)
}

/// The value of the placeholder `{inner}`.
fn placeholder(config: &Config, inner: &str) -> std::result::Result<String, String> {
    let parts: Vec<&str> = inner.split(':').collect();
    if let ["stage", name] = parts[..] {
        return stage_of(config, name).map(str::to_string).ok_or_else(|| {
            let h = crate::error::hint(name, config.pipeline.names());
            format!("{{{inner}}}: {name:?} is neither a stage of pipeline.stages nor a part in [pipeline.parts] of config.toml{h}")
        });
    }
    let (region, role, nth) = match parts[..] {
        ["region", role] => (true, role, "1"),
        ["region", role, n] => (true, role, n),
        [role] => (false, role, "1"),
        [role, n] => (false, role, n),
        _ => return Err(format!("unknown placeholder {{{inner}}}: {PLACEHOLDERS}")),
    };
    if !config.has_role(role) {
        let h = crate::error::hint(role, config.roles.keys().map(String::as_str).chain(["stage", "region"]));
        return Err(format!(
            "unknown placeholder {{{inner}}}: {role:?} is not a role of config.toml{h}; {PLACEHOLDERS}"
        ));
    }
    let n: usize = match nth.parse() {
        Ok(n) if n >= 1 => n,
        _ => {
            return Err(format!(
                "{{{inner}}}: {nth:?} is not a count (1 for the first person of the role, 2 for the second, ...)"
            ));
        }
    };
    let people: Vec<&crate::config::Person> = config.team.iter().filter(|p| p.active && p.has_role(role)).collect();
    let Some(person) = people.get(n - 1) else {
        return Err(format!(
            "{{{inner}}}: [[team]] in config.toml has {} active {role} (this test needs at least {n})",
            people.len()
        ));
    };
    if !region {
        return Ok(person.name.clone());
    }
    person
        .region
        .clone()
        .ok_or_else(|| format!("{{{inner}}}: {} ({role}) has no region in [[team]] of config.toml", person.name))
}

/// Run one case in a scratch store in memory with the playbook in `current`.
pub fn run(file: &str, case: &Case, current: &Current) -> Result<Outcome> {
    if !case.unresolved.is_empty() {
        let problems = case.unresolved.iter().map(|p| p.to_string()).collect();
        return Ok(Outcome { file: file.to_string(), name: case.name.clone(), problems });
    }
    let store = Store::memory();
    let mut lines = Vec::new();
    for (i, e) in case.events.iter().enumerate() {
        let data = serde_json::Value::Object(e.data.clone());
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
            // Of the tasks with this role and title (a deal's second life repeats
            // its first's), the one whose fields all match, else the first.
            let candidates =
                || unmatched.iter().enumerate().filter(|(_, t)| t.role == want.role && t.title == want.title);
            let fits = |t: &crate::model::Task| {
                let mut differs = Vec::new();
                check_fields(want, t, &mut differs);
                differs.is_empty()
            };
            let found = candidates().find(|(_, t)| fits(t)).or_else(|| candidates().next()).map(|(i, _)| i);
            match found {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The default config with the pipeline renamed (and a part for each stage of the playbook).
    fn adapted() -> Config {
        let text = crate::config::pipedrive_default_config_text()
            .replace("Ben Okafor", "Kim Park")
            .replace("\"East\"", "\"APAC\"");
        Config::parse(Path::new("."), &text).unwrap()
    }

    fn load_text(config: &Config, case: &str) -> Result<Vec<(String, Vec<Case>)>> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("rules/tests")).unwrap();
        std::fs::write(dir.path().join("rules/tests/a.toml"), case).unwrap();
        load(dir.path(), config)
    }

    fn problems(config: &Config, case: &str) -> Vec<String> {
        let files = load_text(config, case).unwrap();
        files[0].1[0].unresolved.iter().map(|l| l.to_string()).collect()
    }

    const CASE: &str = r#"
[[case]]
name = "x"
[[case.events]]
type = "deal.upserted"
at = "2026-11-02T09:00:00Z"
data = { id = "D-1", owner = "{sales_rep:2}", stage = "negotiation", note = "{{not a placeholder}", json = '{"a": {"b": 1}} {x y} {}' }
[[case.events]]
type = "deal.upserted"
at = "2026-11-03T09:00:00Z"
data = { id = "D-1", stage = "won", region = "{region:account_manager:2}" }
[case.expect]
stages = { "D-1" = "qualified", "D-2" = "Contract Sent", "D-3" = "lost" }
owners = { "A-1" = "{account_manager}" }
tasks_absent = ["Close"]
[[case.expect.tasks]]
role = "sales_rep"
title = "Before moving D-1 to {stage:negotiation}: {sales_rep}, {sales_rep:2} and {sales_rep:3}"
assignee = "{sales_coordinator:2}"
"#;

    #[test]
    fn stages_resolve_by_part_and_placeholders_by_team_order() {
        let files = load_text(&adapted(), CASE).unwrap();
        let case = &files[0].1[0];
        assert!(case.unresolved.is_empty(), "{:?}", case.unresolved);
        let first = &case.events[0].data;
        assert_eq!(first["owner"], "Kim Park");
        assert_eq!(first["stage"], "Negotiations Started");
        assert_eq!(first["note"], "{not a placeholder}");
        assert_eq!(first["json"], r#"{"a": {"b": 1}} {x y} {}"#, "braces around other than a word are text");
        let second = &case.events[1].data;
        assert_eq!(second["stage"], "Won", "won: the pipeline's won stage");
        assert_eq!(second["region"], "APAC");
        let stages = case.expect.stages.as_ref().unwrap();
        assert_eq!(stages["D-1"], "Contact Made");
        assert_eq!(stages["D-2"], "Contract Sent", "a stage's own name");
        assert_eq!(stages["D-3"], "Lost");
        assert_eq!(case.expect.owners.as_ref().unwrap()["A-1"], "Dana Whitfield");
        let task = &case.expect.tasks.as_ref().unwrap()[0];
        assert_eq!(task.title, "Before moving D-1 to Negotiations Started: Ana Ruiz, Kim Park and Chloe Martin");
        assert_eq!(task.assignee.as_deref(), Some("Ines Moreau"));
        assert_eq!(case.expect.tasks_absent, ["Close"]);
    }

    #[test]
    fn an_unknown_name_is_a_problem_at_its_place_with_a_did_you_mean() {
        let config = adapted();
        let case = CASE
            .replace(r#"stage = "negotiation""#, r#"stage = "negotation""#)
            .replace("{sales_rep:3}", "{sales_repp}")
            .replace("{region:account_manager:2}", "{region:account_manager:3}")
            .replace("{stage:negotiation}", "{stage:Negotiation}")
            .replace(r#""D-2" = "Contract Sent""#, r#""D-2" = "contract_sent""#);
        let got = problems(&config, &case);
        let want = [
            r#"rules/tests/a.toml:7:55: "negotation" is neither a stage of pipeline.stages nor a part in [pipeline.parts] of config.toml (did you mean "negotiation"?)"#,
            r#"rules/tests/a.toml:11:47: {region:account_manager:3}: [[team]] in config.toml has 2 active account_manager (this test needs at least 3)"#,
            r#"rules/tests/a.toml:13:41: "contract_sent" is neither a stage of pipeline.stages nor a part in [pipeline.parts] of config.toml (did you mean "Contract Sent"?)"#,
            r#"rules/tests/a.toml:18:31: {stage:Negotiation}: "Negotiation" is neither a stage of pipeline.stages nor a part in [pipeline.parts] of config.toml (did you mean "negotiation"?)"#,
            r#"rules/tests/a.toml:18:83: unknown placeholder {sales_repp}: "sales_repp" is not a role of config.toml (did you mean "sales_rep"?); write {stage:PART}, {ROLE} or {ROLE:N} (the Nth active person of the role in [[team]]), {region:ROLE} or {region:ROLE:N}, and {{ for a brace"#,
        ];
        assert_eq!(got, want, "in file order");
        let got = problems(&config, &CASE.replacen("{sales_rep:2}", "{sales_rep:two}", 1));
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].starts_with("rules/tests/a.toml:7:31: {sales_rep:two}: \"two\" is not a count"), "{got:?}");
        let got = problems(&config, &CASE.replacen("{sales_rep:2}", "{owner}", 1));
        assert!(got[0].starts_with("rules/tests/a.toml:7:31: unknown placeholder {owner}: "), "{got:?}");
        assert!(got[0].ends_with("write {stage:PART}, {ROLE} or {ROLE:N} (the Nth active person of the role in [[team]]), {region:ROLE} or {region:ROLE:N}, and {{ for a brace"), "{got:?}");
    }
}
