//! The rule runtime: every `rules/*.rhai` file compiled once, checked, and
//! merged into one library; then rule functions called by name with the
//! facts they ask for.
//!
//! A rule is a function whose name says its kind:
//!
//! * `stage_…` decides deal stages: returns `move_to(stage, reason)`,
//!   `refuse(reason)` or nothing;
//! * `key_…` decides key accounts: returns `key(reason)`, `not_key(reason)`
//!   or nothing;
//! * `task_…` gives follow-up work: returns `task(role, title, #{…})`,
//!   `handover(role, reason)`, a list of those, or nothing.
//!
//! Its parameters are named for the facts it wants (`event`, `deal`,
//! `account`, `lead`, `contact`, `settings`), in any order; a rule that asks
//! for a deal only runs when the event is about one. Other functions are
//! helpers any rule may call.
//!
//! The modules rules `import` are read and checked with them
//! (`modules.rs`); rules run in a sandbox without the wall clock
//! (`sandbox.rs`), on a stack sized for the deepest call the limits allow
//! (`stack.rs`).
//!
//! Rules are called with `eval_ast(false)`: top-level statements never run
//! (the loader refuses them), so a call costs only the function itself.

mod api;
mod check;
mod dispatch;
mod explain;
mod guard;
mod health;
mod modules;
mod names;
mod uses;

pub use explain::{Condition, Local, Reading, Test, function_line, function_source};
mod sandbox;
pub mod stack;
mod task_budget;
pub use task_budget::{too_many as too_many_tasks, with_task_limit};
pub mod timing;

pub use api::money;

/// The rule API on a plain engine, for unit tests elsewhere in the crate.
#[cfg(test)]
pub fn register_api_for_tests(engine: &mut Engine) {
    api::register(engine, &crate::time::Calendar::default(), &crate::config::Pipeline::default());
}

use std::collections::HashMap;
use std::path::Path;

use rhai::{AST, CallFnOptions, Dynamic, Engine, EvalAltResult, Position, Scope};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::error::{Error, Located, Result};
use crate::model::RuleRef;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    Stage,
    Key,
    Task,
}

impl RuleKind {
    pub const PREFIXES: [(&'static str, RuleKind); 3] =
        [("stage_", RuleKind::Stage), ("key_", RuleKind::Key), ("task_", RuleKind::Task)];

    fn of(name: &str) -> Option<RuleKind> {
        Self::PREFIXES.iter().find(|(p, _)| name.starts_with(p)).map(|(_, k)| *k)
    }

    pub fn name(self) -> &'static str {
        match self {
            RuleKind::Stage => "stage",
            RuleKind::Key => "key-account",
            RuleKind::Task => "task",
        }
    }
}

/// The facts a rule may ask for, by parameter name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fact {
    Event,
    Deal,
    Account,
    Lead,
    Contact,
    Settings,
}

impl Fact {
    pub const ALL: [(&'static str, Fact); 6] = [
        ("event", Fact::Event),
        ("deal", Fact::Deal),
        ("account", Fact::Account),
        ("lead", Fact::Lead),
        ("contact", Fact::Contact),
        ("settings", Fact::Settings),
    ];

    fn of(name: &str) -> Option<Fact> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }
}

/// One rule function.
#[derive(Debug, Clone)]
pub struct Rule {
    pub kind: RuleKind,
    pub name: String,
    pub file: String,
    pub line: usize,
    pub params: Vec<Fact>,
    /// Its `///` comment: what it decides and why, in words.
    pub doc: String,
    /// For task rules: the only event types it can act on, when its code shows them.
    pub events: Option<std::collections::BTreeSet<String>>,
    /// A check, in Rust, of when the rule certainly returns nothing (see `guard.rs`).
    pub guard: Option<std::sync::Arc<guard::Guard>>,
    /// Its place in the rule set (for its timing).
    pub slot: usize,
}

impl Rule {
    pub fn reference(&self) -> RuleRef {
        RuleRef { file: self.file.clone(), function: self.name.clone() }
    }
}

/// The facts of one situation, as script values; `None` where the situation has no such thing.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub event: Dynamic,
    pub deal: Option<Dynamic>,
    pub account: Option<Dynamic>,
    pub lead: Option<Dynamic>,
    pub contact: Option<Dynamic>,
}

/// Turn a facts map into what rules receive: shared (passing it to each rule
/// costs a pointer copy, not a deep copy) and read-only (a rule that assigns
/// to it fails, so no rule can change what the next one sees).
pub fn seal(map: rhai::Map) -> Dynamic {
    Dynamic::from_map(map).into_read_only().into_shared()
}

/// A rule that failed while running.
#[derive(Debug, Clone)]
pub struct RuleError {
    pub rule: RuleRef,
    /// The rule's place in its rule set.
    pub slot: usize,
    pub at: Located,
}

/// A loaded, checked set of rules and the config they were checked against.
pub struct RuleSet {
    engine: Engine,
    ast: AST,
    rules: Vec<Rule>,
    /// Which file defines each function (rules and helpers), for error locations.
    fn_files: HashMap<String, String>,
    settings: Dynamic,
    /// Content hash of config and rules: the rules version.
    pub version: String,
    /// `(path, text)` of `config.toml` and every rule file, as loaded.
    pub files: Vec<(String, String)>,
    /// Calls and time spent, per rule (by slot), since this set was loaded.
    timings: Vec<timing::Timing>,
    /// Failures in a row and quarantine, per rule (by slot).
    health: Vec<health::Health>,
}

impl RuleSet {
    /// Load and check every rule file of the config's `rules/` folder.
    pub fn load(config: &Config) -> Result<RuleSet> {
        let (files, problems) = rule_files(&config.rules_dir())?;
        RuleSet::build(config, files, problems)
    }

    /// Build from `(display path, text)` pairs (the paths appear in messages).
    pub fn from_sources(config: &Config, files: Vec<(String, String)>) -> Result<RuleSet> {
        RuleSet::build(config, files, Vec::new())
    }

    /// Build from rule files, with the problems already found in reading them.
    fn build(config: &Config, files: Vec<(String, String)>, mut problems: Vec<Located>) -> Result<RuleSet> {
        let mut engine = sandbox::engine(&config.limits);
        api::register(&mut engine, &config.calendar, &config.pipeline);
        if files.iter().all(|(path, _)| is_module(path)) {
            problems.push(Located::new("rules", 1, 1, "no rule files: put at least one .rhai file in rules/"));
        }
        let shapes = uses::FactShapes::new(config);
        let mut setting_uses = Vec::new();
        let mut withheld = Vec::new();
        let mut compiled: Vec<(String, AST)> = Vec::new();
        let mut rules: Vec<Rule> = Vec::new();
        let mut fn_files: HashMap<String, String> = HashMap::new();
        for (path, text) in files.iter().filter(|(path, _)| !is_module(path)) {
            if text.trim().is_empty() {
                // Most often a file caught while an editor rewrites it in place:
                // loading it would drop its rules until the next save.
                problems.push(Located::new(path, 1, 1, "the file is empty: write rules in it, or delete it"));
                continue;
            }
            let mut file_ast = match engine.compile(text) {
                Ok(a) => a,
                Err(e) => {
                    let (line, col) = position(e.position());
                    problems.push(Located::new(path, line, col, e.err_type().to_string()));
                    continue;
                }
            };
            file_ast.set_source(path.as_str());
            let first = rules.len();
            check::check_file(&engine, config, path, text, &file_ast, &mut rules, &mut fn_files, &mut problems);
            // Rhai lists functions in hash order; rules run in the order they are written.
            rules[first..].sort_by_key(|r| r.line);
            withheld.extend(uses::withheld_calls(&file_ast, path));
            setting_uses.extend(uses::setting_uses(&file_ast, path, config, &shapes));
            compiled.push((path.clone(), file_ast));
        }
        problems.extend(withheld.into_iter().filter(|(name, _)| !fn_files.contains_key(name)).map(|(_, at)| at));
        let shown: Vec<(String, &AST)> = compiled.iter().map(|(p, a)| (p.clone(), a)).collect();
        let modules = modules::load(&engine, &config.rules_dir(), &shown, &mut problems, &mut |m, problems| {
            let own: Vec<&str> = m.ast.iter_functions().map(|f| f.name).collect();
            let calls = uses::withheld_calls(&m.ast, &m.shown);
            problems.extend(calls.into_iter().filter(|(name, _)| !own.contains(&name.as_str())).map(|(_, at)| at));
            if let Some((_, text)) = files.iter().find(|(path, _)| *path == m.shown) {
                problems.extend(names::check(config, &m.shown, text, &check::mask_comments(text)));
            }
        });
        uses::check_settings(config, setting_uses, &mut problems);
        if !problems.is_empty() {
            problems.sort_by(|a, b| (&a.file, a.line, a.col).cmp(&(&b.file, b.line, b.col)));
            return Err(Error::invalid(problems));
        }
        engine.set_module_resolver(modules::Resolver::new(modules));
        let mut ast = AST::empty();
        for (_, file_ast) in compiled {
            ast.combine(file_ast);
        }
        let settings =
            rhai::serde::to_dynamic(&config.settings).map(|v| v.into_read_only().into_shared()).map_err(|e| {
                Error::invalid(vec![Located::new(crate::config::CONFIG_FILE, 1, 1, format!("settings: {e}"))])
            })?;
        for (slot, rule) in rules.iter_mut().enumerate() {
            rule.slot = slot;
            if let Some(g) = &rule.guard {
                // No rule set defines a function of the rule API (`check` refuses it): guards may build decisions.
                let mut g = (**g).clone();
                // The settings are fixed for this rule set: the guard reads them once, now.
                if let Some(i) = rule.params.iter().position(|p| *p == Fact::Settings) {
                    g = g.bind(i, &settings);
                }
                rule.guard = Some(std::sync::Arc::new(g));
            }
        }
        let timings = rules.iter().map(|_| timing::Timing::default()).collect();
        let health = rules.iter().map(|_| health::Health::default()).collect();
        let mut all_files = vec![(crate::config::CONFIG_FILE.to_string(), config.text.clone())];
        all_files.extend(files);
        Ok(RuleSet {
            engine,
            ast,
            rules,
            fn_files,
            settings,
            version: version_of(&all_files),
            files: all_files,
            timings,
            health,
        })
    }

    pub fn rules(&self, kind: RuleKind) -> impl Iterator<Item = &Rule> {
        self.rules.iter().filter(move |r| r.kind == kind)
    }

    /// The task rules that can act on an event of type `kind`.
    pub fn task_rules_for(&self, kind: &str) -> Vec<&Rule> {
        self.rules(RuleKind::Task).filter(|r| r.events.as_ref().is_none_or(|e| e.contains(kind))).collect()
    }

    pub fn all_rules(&self) -> &[Rule] {
        &self.rules
    }

    /// How often each rule ran and how long it took, since this set was loaded.
    pub fn timings(&self) -> Vec<(&Rule, timing::Spent)> {
        self.rules.iter().zip(&self.timings).map(|(r, t)| (r, t.spent())).collect()
    }

    /// Run one rule on `facts`. `None` when the rule asks for something this situation lacks.
    pub fn call(&self, rule: &Rule, facts: &Facts) -> Option<std::result::Result<Dynamic, RuleError>> {
        let started = std::time::Instant::now();
        if let Some(g) = &rule.guard {
            // Checked on the facts themselves: no arguments are built for a rule that says nothing.
            let arg = |i: usize| rule.params.get(i).and_then(|p| self.fact(*p, facts));
            if rule.params.iter().any(|p| self.fact(*p, facts).is_none()) {
                return None;
            }
            if let Some(v) = g.run(&arg) {
                if let Some(t) = self.timings.get(rule.slot) {
                    t.add(started.elapsed());
                }
                return Some(Ok(v));
            }
        }
        let args = self.args(rule, facts)?;
        let options = CallFnOptions::new().eval_ast(false).rewind_scope(true);
        let result =
            self.engine.call_fn_with_options::<Dynamic>(options, &mut Scope::new(), &self.ast, &rule.name, args);
        if let Some(t) = self.timings.get(rule.slot) {
            t.add(started.elapsed());
        }
        Some(result.map_err(|e| RuleError { rule: rule.reference(), slot: rule.slot, at: self.locate(rule, &e) }))
    }

    /// A quarantined rule failed on too many events in a row; it does not run
    /// until a new rules version is loaded.
    pub fn is_quarantined(&self, rule: &Rule) -> bool {
        self.health.get(rule.slot).is_some_and(|h| h.quarantined())
    }

    /// The rule in `slot` failed on one more event: the count of events in a
    /// row, and whether this failure quarantined it (at `limit`; 0: never).
    pub fn failed_on_event(&self, slot: usize, limit: u32) -> (u32, bool) {
        self.health.get(slot).map_or((0, false), |h| h.failed(limit))
    }

    /// The rule in `slot` ran cleanly on an event: returns whether it had failures to forget.
    pub fn clean_on_event(&self, slot: usize) -> bool {
        self.health.get(slot).is_some_and(|h| h.ran_clean())
    }

    /// Take up the failure counts and quarantines stored for this version
    /// (rules not listed start clean).
    pub fn restore_health(&self, stored: &[crate::store::RuleHealth]) {
        for (rule, h) in self.rules.iter().zip(&self.health) {
            match stored.iter().find(|s| s.rule == rule.name) {
                Some(s) => h.restore(u32::try_from(s.failures).unwrap_or(u32::MAX), s.quarantined_at.is_some()),
                None => h.restore(0, false),
            }
        }
    }

    /// A rule by its slot.
    pub fn rule(&self, slot: usize) -> Option<&Rule> {
        self.rules.get(slot)
    }

    /// A rule's arguments, in the order of its parameters; `None` when a fact it asks for is missing.
    fn args(&self, rule: &Rule, facts: &Facts) -> Option<Vec<Dynamic>> {
        rule.params.iter().map(|p| self.fact(*p, facts).cloned()).collect()
    }

    fn fact<'f>(&'f self, p: Fact, facts: &'f Facts) -> Option<&'f Dynamic> {
        match p {
            Fact::Event => Some(&facts.event),
            Fact::Deal => facts.deal.as_ref(),
            Fact::Account => facts.account.as_ref(),
            Fact::Lead => facts.lead.as_ref(),
            Fact::Contact => facts.contact.as_ref(),
            Fact::Settings => Some(&self.settings),
        }
    }

    /// Where an error happened: the innermost script function and position.
    fn locate(&self, rule: &Rule, err: &EvalAltResult) -> Located {
        let mut file = rule.file.clone();
        let mut e = err;
        while let EvalAltResult::ErrorInFunctionCall(name, _, inner, _) = e {
            if let Some(r) = self.function_file(name) {
                file = r;
            }
            e = inner;
        }
        // Some errors (an operations limit) carry no position: point at the rule.
        let (line, col) =
            if e.position().is_none() && file == rule.file { (rule.line, 1) } else { position(e.position()) };
        Located::new(file, line, col, describe(e, rule))
    }

    fn function_file(&self, name: &str) -> Option<String> {
        self.fn_files.get(name).cloned()
    }
}

fn position(p: Position) -> (usize, usize) {
    (p.line().unwrap_or(1), p.position().unwrap_or(1))
}

/// A rule error in words, without Rhai's own position suffix.
fn describe(e: &EvalAltResult, rule: &Rule) -> String {
    match e {
        EvalAltResult::ErrorTooManyOperations(_) => {
            format!("{} ran too long and was stopped (an endless loop?)", rule.name)
        }
        EvalAltResult::ErrorStackOverflow(_) => {
            format!("{}: calls nested too deep (endless recursion?)", rule.name)
        }
        EvalAltResult::ErrorDataTooLarge(what, _) => {
            format!("{}: {what} grew too large", rule.name)
        }
        EvalAltResult::ErrorRuntime(value, _) => value.to_string(),
        EvalAltResult::ErrorInModule(_, inner, _) => describe(inner, rule),
        other => {
            let text = other.to_string();
            match text.rfind(" (line ") {
                Some(i) if text.ends_with(')') => text[..i].to_string(),
                _ => text,
            }
        }
    }
}

/// Every `*.rhai` in `dir`, sorted by name, as `(rules/NAME.rhai, text)`,
/// then the modules in its folders (`rules/lib/NAME.rhai`), which rules
/// import: a module is part of the rules version, so editing one is a new
/// version like editing a rule file. A symbolic link or anything else that
/// is not a regular file at the top is an error.
pub fn read_rule_files(dir: &Path) -> Result<Vec<(String, String)>> {
    let (files, problems) = rule_files(dir)?;
    if problems.is_empty() { Ok(files) } else { Err(Error::invalid(problems)) }
}

/// A rule file as `(rules/NAME.rhai, text)`.
type SourceFile = (String, String);

/// Whether a file shown as `rules/...` is a module in a folder of `rules/`
/// (imported by rules, not read as rules itself).
fn is_module(shown: &str) -> bool {
    shown.strip_prefix("rules/").is_some_and(|rest| rest.contains('/'))
}

/// The deepest folder under `rules/` whose modules count in the version
/// (imports are at most [`modules::MAX_IMPORT_DEPTH`] deep; folders can nest further).
const MAX_MODULE_FOLDER_DEPTH: usize = 16;

/// The regular `*.rhai` files in the folders under `dir` (not in `dir`
/// itself), as `(rules/SUB/NAME.rhai, text)`, sorted by path. Symbolic links
/// are not followed: an import through one is reported by `modules`.
fn module_files(dir: &Path, shown: &str, depth: usize, out: &mut Vec<SourceFile>) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(()) };
    let mut found: Vec<(std::path::PathBuf, std::fs::FileType)> =
        entries.filter_map(|e| e.ok().and_then(|e| e.file_type().ok().map(|t| (e.path(), t)))).collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    for (p, kind) in found {
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let inner = format!("{shown}/{name}");
        if kind.is_dir() && depth < MAX_MODULE_FOLDER_DEPTH {
            module_files(&p, &inner, depth + 1, out)?;
        } else if kind.is_file() && depth > 0 && p.extension().is_some_and(|x| x == "rhai") {
            let text = std::fs::read_to_string(&p).map_err(|source| Error::Read { path: p.clone(), source })?;
            out.push((inner, text));
        }
    }
    Ok(())
}

/// Every regular `*.rhai` file in `dir`, sorted by name, as `(rules/NAME.rhai,
/// text)`, and a problem for each `*.rhai` that is a symbolic link (not
/// followed: its target is never read) or not a file.
fn rule_files(dir: &Path) -> Result<(Vec<SourceFile>, Vec<Located>)> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Read { path: dir.to_path_buf(), source })?;
    let mut found: Vec<(std::path::PathBuf, Option<std::fs::FileType>)> = entries
        .filter_map(|e| e.ok().map(|e| (e.path(), e.file_type().ok())))
        .filter(|(p, _)| p.extension().is_some_and(|x| x == "rhai"))
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for (p, kind) in found {
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let shown = format!("rules/{name}");
        match kind {
            Some(k) if k.is_file() => {
                let text = std::fs::read_to_string(&p).map_err(|source| Error::Read { path: p.clone(), source })?;
                files.push((shown, text));
            }
            Some(k) if k.is_dir() => {}
            Some(k) if k.is_symlink() => problems.push(Located::new(&shown, 1, 1, modules::symlink_message(&shown))),
            _ => problems.push(Located::new(&shown, 1, 1, format!("{shown} is not a regular file"))),
        }
    }
    module_files(dir, "rules", 0, &mut files)?;
    Ok((files, problems))
}

/// The rules version: a short content hash of every file, names included.
pub fn version_of(files: &[(String, String)]) -> String {
    let mut h = Sha256::new();
    for (path, text) in files {
        h.update(path.as_bytes());
        h.update([0]);
        h.update(text.as_bytes());
        h.update([0]);
    }
    let digest = h.finalize();
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config() -> Config {
        let text = r#"
[pipeline]
stages = ["lead", "won", "lost"]
won = ["won"]
lost = ["lost"]
[roles.sales_rep]
[settings]
limit = 3
"#;
        Config::parse(Path::new("."), text).unwrap()
    }

    fn load(src: &str) -> Result<RuleSet> {
        RuleSet::from_sources(&config(), vec![("rules/t.rhai".into(), src.into())])
    }

    fn deal_facts() -> Facts {
        let mut deal = rhai::Map::new();
        deal.insert("amount".into(), Dynamic::from(10_i64));
        Facts { deal: Some(seal(deal)), ..Facts::default() }
    }

    #[test]
    fn a_rule_cannot_change_what_the_next_rule_sees() {
        let rules = load(
            "fn task_a_meddler(deal) { deal.amount = 0; deal.amount }\n\
             fn task_b_reader(deal) { deal.amount }",
        )
        .unwrap();
        let facts = deal_facts();
        let results: Vec<_> = rules.rules(RuleKind::Task).map(|r| rules.call(r, &facts).unwrap()).collect();
        // The meddler may change its own copy (or be refused), never the reader's.
        assert_eq!(results[1].as_ref().unwrap().as_int().unwrap(), 10);
    }

    #[test]
    fn rules_get_only_the_facts_they_ask_for() {
        let rules =
            load("fn task_needs_lead(lead) { 1 }\nfn task_needs_event(event, settings) { settings.limit }").unwrap();
        let facts = deal_facts();
        let mut calls = rules.rules(RuleKind::Task).map(|r| rules.call(r, &facts));
        assert!(calls.next().unwrap().is_none(), "no lead: the rule does not run");
        assert_eq!(calls.next().unwrap().unwrap().unwrap().as_int().unwrap(), 3);
    }

    #[test]
    fn runtime_errors_point_at_the_failing_line() {
        let rules = load("fn task_x(deal) {\n    let y = 1;\n    y + no_such_fn()\n}").unwrap();
        let rule = rules.rules(RuleKind::Task).next().unwrap();
        let err = rules.call(rule, &deal_facts()).unwrap().unwrap_err();
        assert_eq!((err.at.file.as_str(), err.at.line), ("rules/t.rhai", 3), "{}", err.at);
        assert!(err.at.message.contains("no_such_fn"), "{}", err.at);
    }

    #[test]
    fn endless_loops_and_deep_recursion_are_stopped() {
        let rules =
            load("fn task_spin(deal) { loop {} }\nfn down(n) { down(n + 1) }\nfn task_dive(deal) { down(0) }").unwrap();
        let facts = deal_facts();
        let errors: Vec<String> =
            rules.rules(RuleKind::Task).map(|r| rules.call(r, &facts).unwrap().unwrap_err().at.message).collect();
        assert!(errors[0].contains("ran too long"), "{}", errors[0]);
        assert!(errors[1].contains("nested too deep"), "{}", errors[1]);
    }

    #[test]
    fn editing_a_module_is_a_new_version_and_the_files_on_disk_name_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(crate::config::CONFIG_FILE), &config().text).unwrap();
        let rules_dir = dir.path().join("rules");
        std::fs::create_dir_all(rules_dir.join("lib")).unwrap();
        std::fs::write(rules_dir.join("t.rhai"), "fn task_x(deal) {\n    import \"lib/m\" as m;\n    m::n()\n}")
            .unwrap();
        let module = rules_dir.join("lib").join("m.rhai");
        // What `status` and `watch` hash to tell whether the files on disk are the rules in force.
        let on_disk = || {
            let mut all = vec![(crate::config::CONFIG_FILE.to_string(), config().text.clone())];
            all.extend(read_rule_files(&rules_dir).unwrap());
            version_of(&all)
        };
        let loaded = |_: ()| RuleSet::load(&Config::load(dir.path()).unwrap()).unwrap();
        std::fs::write(&module, "fn n() { 1 }").unwrap();
        let before = loaded(());
        assert_eq!(before.version, on_disk());
        assert!(
            before.files.iter().any(|(p, _)| p == "rules/lib/m.rhai"),
            "the module's text is kept with the version"
        );
        std::fs::write(&module, "fn n() { 2 }").unwrap();
        let after = loaded(());
        assert_ne!(after.version, before.version, "a module edit is a new version");
        assert_eq!(after.version, on_disk());
        assert_eq!(after.rules(RuleKind::Task).count(), 1, "a module's functions are not rules");
    }

    #[test]
    fn an_empty_rule_file_is_a_problem_not_an_empty_rule_set() {
        let err = load(" \n").err().unwrap().to_string();
        assert_eq!(err, "rules/t.rhai:1:1: the file is empty: write rules in it, or delete it");
    }

    #[test]
    fn eval_is_not_available() {
        let err = load("fn task_x(deal) { eval(\"1\") }").err().unwrap().to_string();
        assert!(err.starts_with("rules/t.rhai:1:"), "{err}");
    }

    #[test]
    fn load_time_problems_are_all_reported_with_places() {
        let err = load("let x = 1;\nfn task_a(deal) { 1 }\nfn task_a(deal, lead) { 2 }\nfn stage_b(acount) { () }")
            .err()
            .unwrap()
            .to_string();
        let lines: Vec<&str> = err.lines().collect();
        assert!(lines.iter().any(|l| l.starts_with("rules/t.rhai:1:1: statements outside a function")), "{err}");
        assert!(lines.iter().any(|l| l.contains("did you mean \"account\"")), "{err}");
    }

    #[test]
    fn the_version_is_a_content_hash() {
        let a = load("fn task_a(deal) { 1 }").unwrap().version;
        let b = load("fn task_a(deal) { 2 }").unwrap().version;
        assert_ne!(a, b);
        assert_eq!(a, load("fn task_a(deal) { 1 }").unwrap().version);
        assert_eq!(a.len(), 12);
    }
}
