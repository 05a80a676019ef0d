//! Modules: the files rules `import`. Each is found, read and compiled when
//! the rules load, so that `check` reports what is wrong with an import at
//! its place, and a running rule never reads the disk:
//!
//! * an import path is written as text, from the rules folder
//!   (`import "lib/dates" as d` is `rules/lib/dates.rhai`);
//! * it names a regular file inside `rules/`, reached without following a
//!   symbolic link (a link is reported, its target is never read);
//! * modules do not import each other in a circle, and a chain of imports
//!   is at most [`MAX_IMPORT_DEPTH`] deep: importing a module runs its
//!   top-level code, and each import nests that run inside the last one.
//!
//! At run time [`Resolver`] serves the modules checked here, each run once
//! and kept; it refuses any other path.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rhai::{AST, ASTNode, Engine, EvalAltResult, GlobalRuntimeState, Module, ModuleResolver, Position, Scope, Stmt};

use crate::error::Located;

/// The longest chain of imports (a rule file importing a module that imports
/// another counts 2).
pub const MAX_IMPORT_DEPTH: usize = 8;

/// Where rule files are shown from: `rules/NAME.rhai`.
const SHOWN_ROOT: &str = "rules";

/// One `import` in a file: the path as written and where it is.
#[derive(Debug, Clone)]
struct Import {
    path: String,
    line: usize,
    col: usize,
}

/// The `import` statements of a compiled file, in any function or at its top.
fn imports_of(ast: &AST, file: &str, problems: &mut Vec<Located>) -> Vec<Import> {
    let mut found = Vec::new();
    ast.walk(&mut |nodes: &[ASTNode]| {
        if let Some(ASTNode::Stmt(Stmt::Import(x, pos))) = nodes.last() {
            let (line, col) = super::position(x.0.position().or_else(*pos));
            match &x.0 {
                rhai::Expr::StringConstant(path, _) => found.push(Import { path: path.to_string(), line, col }),
                _ => problems.push(Located::new(
                    file,
                    line,
                    col,
                    "an import path must be written as text, like import \"lib/dates\" as d",
                )),
            }
        }
        true
    });
    found
}

/// The file an import path names, shown as `rules/PATH.rhai`, when it is a
/// regular file inside `root` reached without following a link; otherwise why not.
pub fn locate(root: &Path, import: &str) -> Result<(String, PathBuf), String> {
    let parts: Vec<&str> = import.split('/').collect();
    let plain = |p: &&str| !p.is_empty() && *p != "." && *p != ".." && !p.contains('\\') && !p.contains('\0');
    if Path::new(import).is_absolute() || !parts.iter().all(plain) {
        return Err(format!(
            "import {import:?}: only modules inside the rules folder can be imported, by their path from it (like \"lib/dates\")"
        ));
    }
    let mut file = root.to_path_buf();
    let mut shown = SHOWN_ROOT.to_string();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let name = if last { format!("{part}.rhai") } else { (*part).to_string() };
        file.push(&name);
        shown = format!("{shown}/{name}");
        let meta = std::fs::symlink_metadata(&file);
        match meta {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(format!("import {import:?}: {}", symlink_message(&shown)));
            }
            Ok(m) if (last && m.is_file()) || (!last && m.is_dir()) => {}
            _ => return Err(format!("import {import:?}: there is no module {SHOWN_ROOT}/{import}.rhai")),
        }
    }
    Ok((shown, file))
}

/// What is wrong with a symbolic link among the rules (its target is not named: it is not read).
pub fn symlink_message(shown: &str) -> String {
    format!(
        "{shown} is a symbolic link: rule files and modules must be regular files inside rules/ (links are not followed)"
    )
}

/// The name of a file as an import would write it: `rules/lib/x.rhai` -> `lib/x`.
fn import_name(shown: &str) -> &str {
    let s = shown.strip_prefix("rules/").unwrap_or(shown);
    s.strip_suffix(".rhai").unwrap_or(s)
}

/// A module read and compiled at load time.
pub struct Loaded {
    /// `rules/PATH.rhai`.
    pub shown: String,
    pub ast: AST,
}

/// Find, read and compile every module the rule files import (and those the
/// modules import), report what is wrong at its place, and return them by
/// import path. `rules`: each rule file, as shown, with its compiled AST.
/// `new_module`: called on each module read and compiled (for the checks every file gets).
pub fn load(
    engine: &Engine,
    root: &Path,
    rules: &[(String, &AST)],
    problems: &mut Vec<Located>,
    new_module: &mut dyn FnMut(&Loaded, &mut Vec<Located>),
) -> HashMap<String, AST> {
    let mut by_path: HashMap<String, AST> = HashMap::new();
    // Files by how they are shown: their imports (`None`: not readable or not compiled).
    let mut files: BTreeMap<String, Option<Vec<(Import, String)>>> = BTreeMap::new();
    // Modules read here; a rule file imported as a module is served from its own AST.
    let mut asts: HashMap<String, AST> = HashMap::new();
    let rule_asts: HashMap<&str, &AST> = rules.iter().map(|(shown, ast)| (shown.as_str(), *ast)).collect();
    let mut queue: VecDeque<(String, Vec<Import>)> = VecDeque::new();
    for (shown, ast) in rules {
        queue.push_back((shown.clone(), imports_of(ast, shown, problems)));
    }
    while let Some((from, imports)) = queue.pop_front() {
        let mut edges = Vec::new();
        for import in imports {
            let (shown, file) = match locate(root, &import.path) {
                Ok(found) => found,
                Err(message) => {
                    problems.push(Located::new(&from, import.line, import.col, message));
                    continue;
                }
            };
            if !rule_asts.contains_key(shown.as_str()) && !asts.contains_key(&shown) && !files.contains_key(&shown) {
                match read_module(engine, &shown, &file) {
                    Ok(loaded) => {
                        new_module(&loaded, problems);
                        queue.push_back((shown.clone(), imports_of(&loaded.ast, &shown, problems)));
                        asts.insert(shown.clone(), loaded.ast);
                    }
                    Err(problem) => {
                        problems.push(problem);
                        files.insert(shown.clone(), None);
                    }
                }
            }
            if let Some(ast) = asts.get(&shown).or_else(|| rule_asts.get(shown.as_str()).copied()) {
                by_path.entry(import.path.clone()).or_insert_with(|| ast.clone());
            }
            edges.push((import, shown));
        }
        files.insert(from, Some(edges));
    }
    let graph: BTreeMap<&str, Vec<(&Import, &str)>> =
        files.iter().map(|(f, e)| (f.as_str(), e.iter().flatten().map(|(i, to)| (i, to.as_str())).collect())).collect();
    let before = problems.len();
    for (from, edges) in &graph {
        for (import, to) in edges {
            if let Some(back) = path_between(&graph, to, from) {
                let mut chain = vec![import_name(from)];
                chain.extend(back.iter().map(|f| import_name(f)));
                problems.push(Located::new(
                    *from,
                    import.line,
                    import.col,
                    format!("import {:?} closes a cycle: {}", import.path, chain.join(" -> ")),
                ));
            }
        }
    }
    if problems.len() == before {
        let mut depth: HashMap<&str, usize> = HashMap::new();
        for (shown, _) in rules {
            for (import, to) in graph.get(shown.as_str()).into_iter().flatten() {
                let deep = 1 + depth_below(&graph, to, &mut depth);
                if deep > MAX_IMPORT_DEPTH {
                    problems.push(Located::new(
                        shown,
                        import.line,
                        import.col,
                        format!(
                            "import {:?}: modules import each other {deep} deep (at most {MAX_IMPORT_DEPTH}): import what a rule needs from fewer levels",
                            import.path
                        ),
                    ));
                }
            }
        }
    }
    by_path
}

fn read_module(engine: &Engine, shown: &str, file: &Path) -> Result<Loaded, Located> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Located::new(shown, 1, 1, format!("the module cannot be read as UTF-8 text: {e}")))?;
    let mut ast = engine.compile(&text).map_err(|e| {
        let (line, col) = super::position(e.position());
        Located::new(shown, line, col, e.err_type().to_string())
    })?;
    ast.set_source(shown);
    Ok(Loaded { shown: shown.to_string(), ast })
}

/// The files from `from` to `to` along imports (`from` first, `to` last), when `to` can be reached.
fn path_between<'g>(
    graph: &BTreeMap<&'g str, Vec<(&Import, &'g str)>>,
    from: &'g str,
    to: &str,
) -> Option<Vec<&'g str>> {
    let mut came: HashMap<&str, &str> = HashMap::new();
    let mut seen: BTreeSet<&str> = BTreeSet::from([from]);
    let mut queue = VecDeque::from([from]);
    while let Some(at) = queue.pop_front() {
        if at == to {
            let mut path = vec![at];
            let mut cur = at;
            while let Some(prev) = came.get(cur) {
                path.push(prev);
                cur = prev;
            }
            path.reverse();
            return Some(path);
        }
        for (_, next) in graph.get(at).into_iter().flatten() {
            if seen.insert(next) {
                came.insert(next, at);
                queue.push_back(next);
            }
        }
    }
    None
}

/// How many levels of imports a file opens, itself included (the graph has no cycle).
fn depth_below<'g>(
    graph: &BTreeMap<&'g str, Vec<(&Import, &'g str)>>,
    file: &'g str,
    memo: &mut HashMap<&'g str, usize>,
) -> usize {
    if let Some(d) = memo.get(file) {
        return *d;
    }
    // Iterative, in the order a depth-first walk finishes files: no import chain can deepen the stack.
    let mut stack: Vec<(&str, bool)> = vec![(file, false)];
    while let Some((at, done)) = stack.pop() {
        if memo.contains_key(at) {
            continue;
        }
        let next: Vec<&str> = graph.get(at).into_iter().flatten().map(|(_, n)| *n).collect();
        if done {
            let d = 1 + next.iter().filter_map(|n| memo.get(n)).max().copied().unwrap_or(0);
            memo.insert(at, d);
        } else {
            stack.push((at, true));
            stack.extend(next.into_iter().filter(|n| !memo.contains_key(n)).map(|n| (n, false)));
        }
    }
    memo.get(file).copied().unwrap_or(1)
}

thread_local! {
    /// The imports being run on this thread, outermost first.
    static RUNNING: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Serves, at run time, the modules checked at load time: each is run once
/// (its top-level code), on the first import, and kept for this rule set.
pub struct Resolver {
    modules: HashMap<String, AST>,
    ran: Mutex<HashMap<String, Arc<Module>>>,
}

impl Resolver {
    pub fn new(modules: HashMap<String, AST>) -> Resolver {
        Resolver { modules, ran: Mutex::new(HashMap::new()) }
    }
}

fn module_error(path: &str, message: String, pos: Position) -> Box<EvalAltResult> {
    EvalAltResult::ErrorInModule(path.to_string(), message.into(), pos).into()
}

impl ModuleResolver for Resolver {
    fn resolve_raw(
        &self,
        engine: &Engine,
        global: &mut GlobalRuntimeState,
        _scope: &mut Scope,
        path: &str,
        pos: Position,
    ) -> Result<Arc<Module>, Box<EvalAltResult>> {
        if let Some(m) = self.ran.lock().ok().and_then(|ran| ran.get(path).cloned()) {
            return Ok(m);
        }
        let Some(ast) = self.modules.get(path) else {
            return Err(module_error(
                path,
                format!(
                    "import {path:?}: only modules inside the rules folder, checked when the rules loaded, can be imported"
                ),
                pos,
            ));
        };
        // The load refused cycles and deep chains; this holds even if a path slipped past it.
        let refused = RUNNING.with_borrow_mut(|running| {
            if running.iter().any(|p| p == path) {
                Some(format!("import {path:?} closes a cycle: {} -> {path}", running.join(" -> ")))
            } else if running.len() >= MAX_IMPORT_DEPTH {
                Some(format!("import {path:?}: modules import each other more than {MAX_IMPORT_DEPTH} deep"))
            } else {
                running.push(path.to_string());
                None
            }
        });
        if let Some(message) = refused {
            return Err(module_error(path, message, pos));
        }
        let result = Module::eval_ast_as_new_raw(engine, &mut Scope::new(), global, ast);
        RUNNING.with_borrow_mut(|running| running.pop());
        let module: Arc<Module> =
            result.map_err(|e| Box::new(EvalAltResult::ErrorInModule(path.to_string(), e, pos)))?.into();
        if let Ok(mut ran) = self.ran.lock() {
            ran.insert(path.to_string(), module.clone());
        }
        Ok(module)
    }

    fn resolve(
        &self,
        engine: &Engine,
        _source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<Arc<Module>, Box<EvalAltResult>> {
        let global = &mut engine.new_global_runtime_state();
        self.resolve_raw(engine, global, &mut Scope::new(), path, pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_paths_inside_the_folder_are_located() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("lib")).unwrap();
        std::fs::write(dir.path().join("lib/dates.rhai"), "fn f() { 1 }").unwrap();
        let (shown, file) = locate(dir.path(), "lib/dates").unwrap();
        assert_eq!((shown.as_str(), file), ("rules/lib/dates.rhai", dir.path().join("lib/dates.rhai")));
        for bad in ["../dates", "/etc/passwd", "lib/../lib/dates", "./lib/dates", "lib//dates", "lib\\dates", ""] {
            let err = locate(dir.path(), bad).unwrap_err();
            assert!(err.contains("only modules inside the rules folder"), "{bad}: {err}");
        }
        assert!(locate(dir.path(), "lib/none").unwrap_err().contains("there is no module rules/lib/none.rhai"));
        assert!(locate(dir.path(), "lib").unwrap_err().contains("there is no module"));
    }

    #[test]
    fn the_resolver_serves_only_what_was_loaded() {
        let mut engine = Engine::new_raw();
        let ast = engine.compile("fn f() { 41 + 1 }").unwrap();
        engine.set_module_resolver(Resolver::new(HashMap::from([("lib/a".to_string(), ast)])));
        assert_eq!(engine.eval::<i64>(r#"import "lib/a" as a; a::f()"#).unwrap(), 42);
        let err = engine.eval::<i64>(r#"import "lib/b" as b; b::f()"#).unwrap_err().to_string();
        assert!(err.contains("checked when the rules loaded"), "{err}");
    }

    #[test]
    fn the_resolver_refuses_a_cycle_that_slipped_past_the_load() {
        let mut engine = Engine::new_raw();
        let ast = engine.compile(r#"import "lib/me" as me; fn f() { 1 }"#).unwrap();
        engine.set_module_resolver(Resolver::new(HashMap::from([("lib/me".to_string(), ast)])));
        let err = engine.eval::<i64>(r#"import "lib/me" as m; m::f()"#).unwrap_err().to_string();
        assert!(err.contains("closes a cycle: lib/me -> lib/me"), "{err}");
    }
}
