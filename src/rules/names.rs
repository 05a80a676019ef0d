//! The names rules write as text, checked against `config.toml` so that a
//! renamed stage, role, person or setting shows up in `dealflow check` at
//! every place a rule still writes the old name:
//!
//! * a literal a rule compares (`==`, `!=`, `in [...]`, `[...].contains(…)`,
//!   a `switch` case) with a fact that holds a stage (`deal.stage`,
//!   `deal.requested_stage`, `event.data.to`, `.from`, `.requested`,
//!   `.stage`), a role (a task's `role`) or a person (`deal.owner`,
//!   `account.owner`, `lead.owner`, `event.data.owner`, a task's
//!   `assignee`), also through a local (`let s = deal.stage; s == "lead"`,
//!   `let t = event.data.task; t.role`);
//! * the literal stage arguments of `stage`, `at_or_after`, `before`,
//!   `is_open`, `is_won`, `is_lost`, `is_closed` and `move_to` (a stage or a
//!   part of `[pipeline.parts]`), the role of `task` / `handover` and the
//!   `role` / `assignee` of their options;
//! * `settings.NAME` and `settings["NAME"]`.
//!
//! A fact holds a stage's own name, never a part's: `deal.stage == "qualified"`
//! where `qualified` is a part is a problem that says to write
//! `stage("qualified")`. The rules are read from an AST compiled without the
//! optimizer, which would fold `["a", "b"]` into one constant and lose the
//! place of each name.

use std::collections::BTreeSet;

use rhai::{AST, ASTNode, Engine, Expr, OptimizationLevel, Position, Stmt};

use crate::config::{Config, Lookup, Pipeline};
use crate::error::{Located, hint, likely};

/// The parts the default playbook's rules name (`stage("negotiation")`): a
/// literal that is one of them, where the pipeline has no such stage or part,
/// is most likely a stage that was renamed without saying which part it plays.
pub const DEFAULT_PARTS: [&str; 4] = ["lead", "qualified", "proposal", "negotiation"];

/// What kind of name a literal must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A stage's own name (what a fact holds).
    Stage,
    /// A stage or a part (what the stage helpers and `move_to` resolve).
    StageOrPart,
    Role,
    /// A person named by id or by a name only they have (a task's `assignee:`).
    Person,
    /// What a fact holds for a person: their key, the id when they have one.
    PersonKey,
    Setting,
}

/// An engine that compiles rules for this check only: no optimizer.
fn engine(config: &Config) -> Engine {
    let mut engine = Engine::new_raw();
    engine.set_optimization_level(OptimizationLevel::None);
    engine.set_max_expr_depths(64, 32);
    engine.set_max_string_size(config.limits.max_string_size);
    engine
}

/// The kind of name a fact path holds (`["deal", "stage"]`), if it is one this check knows.
fn kind_of(path: &[String]) -> Option<Kind> {
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    match p.as_slice() {
        ["deal", "stage" | "requested_stage"] | ["event", "data", "to" | "from" | "requested" | "stage"] => {
            Some(Kind::Stage)
        }
        ["deal" | "account" | "lead", "owner"] | ["event", "data", "owner"] => Some(Kind::PersonKey),
        ["event", "data", "task", "assignee" | "claimed_by" | "released_from"] => Some(Kind::PersonKey),
        ["event", "data", "task", "role"] => Some(Kind::Role),
        _ => None,
    }
}

/// A `let` (or an assignment) of a local: where, its name, and what it holds.
struct Def {
    at: (usize, usize),
    name: String,
    value: Value,
}

enum Value {
    /// A fact's field, or a local holding one: the root variable and the keys after it.
    Path(String, Vec<String>),
    /// A list of text literals.
    Strings(Vec<(String, Position)>),
    Other,
}

fn at(p: Position) -> (usize, usize) {
    (p.line().unwrap_or(0), p.position().unwrap_or(0))
}

/// `root.key.key["key"]`: the root variable, its position and the keys.
fn chain(e: &Expr) -> Option<(String, Position, Vec<String>)> {
    match e {
        Expr::Variable(v, _, pos) if v.2.is_empty() => Some((v.1.to_string(), *pos, Vec::new())),
        Expr::Dot(x, _, _) => {
            let (root, pos, mut keys) = chain(&x.lhs)?;
            keys.extend(rhs_keys(&x.rhs)?);
            Some((root, pos, keys))
        }
        Expr::Index(x, _, _) => {
            let (root, pos, mut keys) = chain(&x.lhs)?;
            let Expr::StringConstant(k, _) = &x.rhs else { return None };
            keys.push(k.to_string());
            Some((root, pos, keys))
        }
        _ => None,
    }
}

fn rhs_keys(e: &Expr) -> Option<Vec<String>> {
    match e {
        Expr::Property(p, _) => Some(vec![p.2.to_string()]),
        Expr::Dot(x, _, _) => {
            let mut keys = rhs_keys(&x.lhs)?;
            keys.extend(rhs_keys(&x.rhs)?);
            Some(keys)
        }
        Expr::Index(x, _, _) => {
            let mut keys = rhs_keys(&x.lhs)?;
            let Expr::StringConstant(k, _) = &x.rhs else { return None };
            keys.push(k.to_string());
            Some(keys)
        }
        _ => None,
    }
}

/// The text literals of a list written in place, and where each is.
fn string_items(items: &[Expr]) -> Vec<(String, Position)> {
    items
        .iter()
        .filter_map(|i| match i {
            Expr::StringConstant(s, p) => Some((s.to_string(), *p)),
            _ => None,
        })
        .collect()
}

/// The first key of the right side of a `.`: `a` in `x.a.b`.
fn first_key(e: &Expr) -> Option<&Expr> {
    match e {
        Expr::Property(..) => Some(e),
        Expr::Dot(x, _, _) | Expr::Index(x, _, _) => first_key(&x.lhs),
        _ => None,
    }
}

/// The event types whose `data` has the field `path` names (`event.data.to`: `deal.stage_changed`).
fn carriers(path: &[String]) -> &'static [&'static str] {
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    match p.as_slice() {
        ["event", "data", "to" | "from"] => &["deal.stage_changed"],
        ["event", "data", "requested"] => &["deal.move_refused"],
        ["event", "data", "stage"] => &["deal.move_refused", "deal.upserted", "deal.stuck"],
        ["event", "data", "owner"] => &["deal.upserted", "account.upserted", "lead.created"],
        ["event", "data", "task", ..] => &["task.completed", "task.overdue"],
        _ => &[],
    }
}

const FACTS: [&str; 4] = ["deal", "event", "account", "lead"];

/// One file's names, read from its AST.
struct Reader<'a> {
    config: &'a Config,
    file: &'a str,
    /// Where each function starts (`fn`), in order: a local lives in its function only.
    fn_starts: Vec<(usize, usize)>,
    defs: Vec<Def>,
    /// The event types each `event.type == "…"` (or `in [...]`) names, and where.
    event_types: Vec<((usize, usize), String)>,
    found: Vec<Located>,
    seen: BTreeSet<(usize, usize)>,
}

impl Reader<'_> {
    /// The latest definition of local `name` before `use_at`, in the same function.
    fn def(&self, name: &str, use_at: (usize, usize)) -> Option<&Def> {
        let def = self.defs.iter().filter(|d| d.name == name && d.at < use_at).max_by_key(|d| d.at)?;
        let crosses = self.fn_starts.iter().any(|s| *s > def.at && *s <= use_at);
        (!crosses).then_some(def)
    }

    /// The fact path `e` reads (through locals): `["deal", "stage"]`.
    fn path(&self, e: &Expr, depth: usize) -> Option<Vec<String>> {
        let (root, pos, keys) = chain(e)?;
        self.resolve(&root, at(pos), keys, depth)
    }

    fn resolve(&self, root: &str, use_at: (usize, usize), keys: Vec<String>, depth: usize) -> Option<Vec<String>> {
        match self.def(root, use_at) {
            Some(d) if depth < 16 => match &d.value {
                Value::Path(r, k) => {
                    let mut all = k.clone();
                    all.extend(keys);
                    self.resolve(r, d.at, all, depth + 1)
                }
                _ => None,
            },
            Some(_) => None,
            None if FACTS.contains(&root) => {
                let mut path = vec![root.to_string()];
                path.extend(keys);
                Some(path)
            }
            None => None,
        }
    }

    fn kind(&self, e: &Expr) -> Option<(Kind, String)> {
        let path = self.path(e, 0)?;
        let kind = kind_of(&path)?;
        // A field of `event.data` holds a stage (a person, a task) on the events that carry one; a
        // function that tests `event.type` for none of them reads a field of another event's own
        // (an e-mail's `from` on `activity.logged`).
        let carriers = carriers(&path);
        if !carriers.is_empty() {
            let here = chain(e).map(|(_, pos, _)| at(pos))?;
            let function = self.function_of(here);
            let mut tested =
                self.event_types.iter().filter(|(place, _)| self.function_of(*place) == function).peekable();
            if tested.peek().is_some() && !tested.any(|(_, t)| carriers.contains(&t.as_str())) {
                return None;
            }
        }
        Some((kind, path.join(".")))
    }

    /// Which function a place is in (the count of functions that start before it).
    fn function_of(&self, place: (usize, usize)) -> usize {
        self.fn_starts.iter().filter(|s| **s <= place).count()
    }

    /// The text literals of a list `e` (written in place, or a local holding one).
    fn strings(&self, e: &Expr) -> Vec<(String, Position)> {
        match e {
            Expr::Array(items, _) => string_items(items),
            Expr::Variable(v, _, pos) if v.2.is_empty() => match self.def(&v.1, at(*pos)) {
                Some(Def { value: Value::Strings(s), .. }) => s.clone(),
                _ => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    /// Check the literal `name` written at `pos` (its opening quote when `quoted`):
    /// a problem at its first character.
    fn literal(&mut self, kind: Kind, name: &str, pos: Position, quoted: bool, what: &str) {
        let (line, col) = at(pos);
        self.literal_at(kind, name, (line, if quoted { col + 1 } else { col }), what);
    }

    fn literal_at(&mut self, kind: Kind, name: &str, (line, col): (usize, usize), what: &str) {
        if !self.seen.insert((line, col)) {
            return;
        }
        if let Some(message) = problem(self.config, kind, name, what) {
            self.found.push(Located::new(self.file, line, col, message));
        }
    }

    fn compared(&mut self, fact: &Expr, other: &Expr) {
        if let (Some((kind, what)), Expr::StringConstant(s, pos)) = (self.kind(fact), other)
            && !s.is_empty()
        {
            self.literal(kind, s, *pos, true, &what);
        }
    }

    fn call(&mut self, name: &str, args: &[Expr]) {
        let literal_at = |i: usize| match args.get(i) {
            Some(Expr::StringConstant(s, p)) => Some((s.to_string(), *p)),
            _ => None,
        };
        let stage_args: &[usize] = match name {
            "stage" | "is_open" | "is_won" | "is_lost" | "is_closed" | "move_to" => &[0],
            "at_or_after" | "before" => &[0, 1],
            _ => &[],
        };
        for &i in stage_args {
            if let Some((s, p)) = literal_at(i) {
                self.literal(Kind::StageOrPart, &s, p, true, name);
            }
        }
        if name == "task" || name == "handover" {
            if let Some((s, p)) = literal_at(0) {
                self.literal(Kind::Role, &s, p, true, name);
            }
            if let Some(Expr::Map(m, _)) = args.get(2) {
                for (key, value) in &m.0 {
                    let kind = match key.name.as_str() {
                        "role" => Kind::Role,
                        "assignee" => Kind::Person,
                        _ => continue,
                    };
                    if let Expr::StringConstant(s, p) = value {
                        self.literal(kind, s, *p, true, name);
                    }
                }
            }
        }
        if name == "contains" && args.len() == 2 {
            // `x in [...]` is `contains([...], x)`.
            self.listed(&args[1], &args[0]);
        }
    }

    /// `fact in list` or `list.contains(fact)`.
    fn listed(&mut self, fact: &Expr, list: &Expr) {
        if let Some((kind, what)) = self.kind(fact) {
            for (s, p) in self.strings(list) {
                if !s.is_empty() {
                    self.literal(kind, &s, p, true, &what);
                }
            }
        }
    }

    fn node(&mut self, node: &ASTNode, text: &str) {
        match node {
            ASTNode::Expr(Expr::FnCall(x, _)) | ASTNode::Stmt(Stmt::FnCall(x, _)) if x.namespace.is_empty() => {
                let name = x.name.as_str();
                if (name == "==" || name == "!=") && x.args.len() == 2 {
                    self.compared(&x.args[0], &x.args[1]);
                    self.compared(&x.args[1], &x.args[0]);
                } else {
                    self.call(name, &x.args);
                }
            }
            ASTNode::Expr(Expr::Dot(x, _, _)) => {
                if let Expr::MethodCall(m, _) = &x.rhs
                    && m.name == "contains"
                    && m.args.len() == 1
                {
                    self.listed(&m.args[0], &x.lhs);
                }
                if let (Expr::Variable(v, _, _), Some(Expr::Property(p, pos))) = (&x.lhs, first_key(&x.rhs))
                    && v.1 == "settings"
                    && v.2.is_empty()
                {
                    self.literal(Kind::Setting, &p.2, *pos, false, "settings");
                }
            }
            ASTNode::Expr(Expr::Index(x, _, _)) => {
                if let (Expr::Variable(v, _, _), Expr::StringConstant(s, pos)) = (&x.lhs, &x.rhs)
                    && v.1 == "settings"
                    && v.2.is_empty()
                {
                    self.literal(Kind::Setting, s, *pos, true, "settings");
                }
            }
            ASTNode::Stmt(Stmt::Switch(x, pos)) => {
                if let Some((kind, what)) = self.kind(&x.0) {
                    let labels = switch_labels(text, at(*pos));
                    let distinct: BTreeSet<&str> = labels.iter().map(|(s, _, _)| s.as_str()).collect();
                    // Read from the text: used only when it agrees with the AST.
                    if distinct.len() == x.1.cases.len() {
                        for (s, line, col) in &labels {
                            if !s.is_empty() {
                                self.literal_at(kind, s, (*line, *col), &what);
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

/// Check the names in one rule file or module: `text` is the file, `code`
/// the same with its comments blanked out.
pub fn check(config: &Config, file: &str, text: &str, code: &str) -> Vec<Located> {
    let Ok(ast) = engine(config).compile(text) else { return Vec::new() };
    let fn_starts = fn_starts(&ast, code, text);
    let mut reader = Reader {
        config,
        file,
        fn_starts,
        defs: Vec::new(),
        event_types: Vec::new(),
        found: Vec::new(),
        seen: BTreeSet::new(),
    };
    collect_defs(&ast, &mut reader.defs, &mut reader.event_types);
    ast.walk(&mut |nodes: &[ASTNode]| {
        if let Some(node) = nodes.last() {
            reader.node(node, code);
        }
        true
    });
    reader.found
}

/// The place of each `fn` in the file.
fn fn_starts(ast: &AST, code: &str, text: &str) -> Vec<(usize, usize)> {
    let mut starts: Vec<(usize, usize)> = ast
        .iter_functions()
        .filter_map(|f| super::check::find_fn(code, f.name))
        .map(|o| crate::error::line_col(text, o))
        .collect();
    starts.sort();
    starts
}

/// The locals each function defines, and the event types it tests.
fn collect_defs(ast: &AST, defs: &mut Vec<Def>, event_types: &mut Vec<((usize, usize), String)>) {
    let is_event_type = |e: &Expr| chain(e).is_some_and(|(root, _, keys)| root == "event" && keys == ["type"]);
    ast.walk(&mut |nodes: &[ASTNode]| {
        match nodes.last() {
            Some(ASTNode::Expr(Expr::FnCall(x, pos))) if x.namespace.is_empty() && x.args.len() == 2 => {
                let (a, b) = (&x.args[0], &x.args[1]);
                let named = match x.name.as_str() {
                    "==" if is_event_type(a) => vec![b],
                    "==" if is_event_type(b) => vec![a],
                    "contains" if is_event_type(b) => match a {
                        Expr::Array(items, _) => items.iter().collect(),
                        _ => Vec::new(),
                    },
                    _ => Vec::new(),
                };
                for e in named {
                    if let Expr::StringConstant(t, _) = e {
                        event_types.push((at(*pos), t.to_string()));
                    }
                }
            }
            Some(ASTNode::Stmt(Stmt::Var(x, _, _))) => {
                let value = match &x.1 {
                    Expr::Array(items, _) => Value::Strings(string_items(items)),
                    e => match chain(e) {
                        Some((root, _, keys)) => Value::Path(root, keys),
                        None => Value::Other,
                    },
                };
                defs.push(Def { at: at(x.0.pos), name: x.0.name.to_string(), value });
            }
            Some(ASTNode::Stmt(Stmt::Assignment(x))) => {
                if let Expr::Variable(v, _, pos) = &x.1.lhs {
                    defs.push(Def { at: at(*pos), name: v.1.to_string(), value: Value::Other });
                }
            }
            _ => {}
        }
        true
    });
}

/// What is wrong with `name` where a `kind` is expected (`what`: the fact or function it meets).
fn problem(config: &Config, kind: Kind, name: &str, what: &str) -> Option<String> {
    let pipeline = &config.pipeline;
    match kind {
        Kind::Stage if pipeline.index(name).is_some() => None,
        Kind::Stage => Some(match pipeline.parts.get(name) {
            Some(stage) => format!(
                "{what} holds a stage's own name, and {name:?} is a part in [pipeline.parts] (the stage {stage:?}): write stage({name:?})"
            ),
            None => format!(
                "unknown stage {name:?}: not in pipeline.stages of config.toml{}",
                stage_hint(pipeline, name, false)
            ),
        }),
        Kind::StageOrPart if pipeline.resolve(name).is_some() => None,
        Kind::StageOrPart => Some(format!(
            "unknown stage {name:?}: neither a stage of pipeline.stages nor a part in [pipeline.parts] of config.toml{}",
            stage_hint(pipeline, name, true)
        )),
        Kind::Role if config.roles.contains_key(name) => None,
        Kind::Role => Some(format!(
            "unknown role {name:?}: not in [roles] of config.toml{}",
            hint(name, config.roles.keys().map(String::as_str))
        )),
        Kind::Person | Kind::PersonKey => match config.lookup_person(name) {
            Lookup::Found(p) if kind == Kind::PersonKey && p.key() != name => Some(format!(
                "{what} holds the CRM id of a person who has one, and {name:?} has id {:?}: write {:?}",
                p.key(),
                p.key()
            )),
            Lookup::Found(_) => None,
            Lookup::Ambiguous(_) => Some(config.ambiguous(name)),
            Lookup::Unknown => Some(format!(
                "unknown person {name:?}: not on the team ([[team]] of config.toml){}",
                hint(name, config.team.iter().map(|p| p.name.as_str()))
            )),
        },
        Kind::Setting if config.settings.contains_key(name) => None,
        Kind::Setting => Some(format!(
            "unknown setting {name:?}: add it to [settings] in config.toml{}",
            hint(name, config.settings.keys().map(String::as_str))
        )),
    }
}

/// The did-you-mean for a stage name: the stage it most likely means, and,
/// when the name is a part of the default playbook, how to say which stage plays it.
fn stage_hint(pipeline: &Pipeline, name: &str, parts_too: bool) -> String {
    let stages = pipeline.stages.iter().map(String::as_str);
    let near = if parts_too { likely(name, pipeline.names()) } else { likely(name, stages) };
    let is_default_part = DEFAULT_PARTS.contains(&name) && !pipeline.parts.contains_key(name);
    // A fact holds a stage's own name: the part is read through `stage()`.
    let then = if parts_too { String::new() } else { format!(" and write stage({name:?})") };
    match (near, is_default_part) {
        (Some(stage), true) if pipeline.index(stage).is_some() => {
            format!(
                " (did you mean {stage:?}? if it plays the part {name}, add {name} = {stage:?} under [pipeline.parts]{then})"
            )
        }
        (Some(near), _) => format!(" (did you mean {near:?}?)"),
        (None, true) => format!(
            " (if one of your stages plays the part {name}, add {name} = \"that stage\" under [pipeline.parts]{then})"
        ),
        (None, false) => String::new(),
    }
}

/// The string labels of the `switch` at `at` (its keyword): each label's
/// text and the place of its first character. `code`: the file with comments blanked.
fn switch_labels(code: &str, at: (usize, usize)) -> Vec<(String, usize, usize)> {
    let Some(start) = offset_of(code, at) else { return Vec::new() };
    let b = code.as_bytes();
    let mut i = start + "switch".len();
    let mut depth = 0_i32;
    // The body's `{`: the first at depth 0 after the switched expression.
    while i < b.len() {
        match b[i] {
            b'"' | b'`' | b'\'' => {
                i = skip_string(b, i);
                continue;
            }
            b'(' | b'[' => depth += 1,
            b')' | b']' | b'}' => depth -= 1,
            b'{' if depth == 0 && (i == 0 || b[i - 1] != b'#') => break,
            b'{' => depth += 1,
            _ => {}
        }
        i += 1;
    }
    let mut labels = Vec::new();
    let mut depth = 1_i32;
    let mut label = true;
    i += 1;
    while i < b.len() && depth > 0 {
        match b[i] {
            b'"' if depth == 1 && label => {
                let end = skip_string(b, i);
                let raw = &code[i + 1..end.saturating_sub(1).max(i + 1)];
                let (line, col) = crate::error::line_col(code, i + 1);
                labels.push((raw.replace("\\\"", "\"").replace("\\\\", "\\"), line, col));
                i = end;
                continue;
            }
            b'"' | b'`' | b'\'' => {
                i = skip_string(b, i);
                continue;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' => depth -= 1,
            b'}' => {
                depth -= 1;
                if depth == 1 {
                    label = true;
                }
            }
            b',' if depth == 1 => label = true,
            b'=' if depth == 1 && b.get(i + 1) == Some(&b'>') => label = false,
            b'i' if depth == 1
                && label
                && b.get(i + 1) == Some(&b'f')
                && !b.get(i + 2).is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
                && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')) =>
            {
                label = false
            }
            _ => {}
        }
        i += 1;
    }
    labels
}

/// The offset just past the string (or character) that starts at `i`.
fn skip_string(b: &[u8], mut i: usize) -> usize {
    let quote = b[i];
    i += 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            c if c == quote => return i + 1,
            b'$' if quote == b'`' && b.get(i + 1) == Some(&b'{') => {
                // An interpolation: code up to its matching `}`.
                i += 2;
                let mut depth = 1;
                while i < b.len() && depth > 0 {
                    match b[i] {
                        b'"' | b'`' | b'\'' => {
                            i = skip_string(b, i);
                            continue;
                        }
                        b'{' => depth += 1,
                        b'}' => depth -= 1,
                        _ => {}
                    }
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    b.len()
}

/// The byte offset of a 1-based line and column (columns count characters).
fn offset_of(text: &str, (line, col): (usize, usize)) -> Option<usize> {
    let start = if line <= 1 { 0 } else { text.match_indices('\n').nth(line - 2).map(|(i, _)| i + 1)? };
    let rest = &text[start..];
    rest.char_indices().nth(col.checked_sub(1)?).map(|(i, _)| start + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        let text = r#"
[pipeline]
stages = ["Lead In", "Contact Made", "Proposal Made", "Negotiations Started", "won", "lost"]
won = ["won"]
lost = ["lost"]
[pipeline.parts]
qualified = "Contact Made"
[roles.sales_rep]
[roles.sales_manager]
[[team]]
name = "Ana Ruiz"
role = "sales_rep"
[[team]]
name = "Alex Kim"
id = 101
role = "sales_rep"
[[team]]
name = "Alex Kim"
id = 102
role = "sales_manager"
[[team]]
name = "Bo Lind"
id = "7"
role = "sales_rep"
[settings]
limit = 3
"#;
        Config::parse(std::path::Path::new("."), text).unwrap()
    }

    /// `(line, col, message)` of each problem in `src`, in the order of the text.
    fn problems(src: &str) -> Vec<(usize, usize, String)> {
        let config = config();
        let code = super::super::check::mask_comments(src);
        let mut found: Vec<_> =
            check(&config, "rules/t.rhai", src, &code).into_iter().map(|p| (p.line, p.col, p.message)).collect();
        found.sort();
        found
    }

    /// The place of the `n`th (from 0) occurrence of `needle` in `src`, as a problem reports it.
    fn place(src: &str, needle: &str, n: usize) -> (usize, usize) {
        let offset = src.match_indices(needle).nth(n).unwrap().0;
        crate::error::line_col(src, offset)
    }

    #[test]
    fn every_literal_a_stage_fact_meets_is_a_stage() {
        let src = r#"
fn stage_a(deal) {
    if deal.stage == "lead" || "won" != deal.requested_stage { return move_to("qualified", "ok"); }
    if deal.requested_stage in ["negotiation", "won", "lost"] { return refuse("no"); }
    // deal.stage == "commented out"
    let s = deal.stage;
    if s != "lost" && s == "Lead In" && ["proposal"].contains(s) { return (); }
    switch deal.stage {
        "lead" => 1,
        "won" | "Proposl Made" => { if x == "free" { 2 } else { 3 } },
        "Contact Made" if deal.amount > 3 => `${ "text" }`,
        _ => 4,
    }
}
fn task_b(event) {
    let s = "lead";
    if event.data.to == "qualified" && event.data.from != "won" && s == "lead" { return 1; }
}
"#;
        let found = problems(src);
        let at = |needle: &str, n: usize| {
            let (line, col) = place(src, needle, n);
            (line, col + 1)
        };
        let lines: Vec<(usize, usize)> = found.iter().map(|(l, c, _)| (*l, *c)).collect();
        assert_eq!(
            lines,
            [
                at("\"lead\"", 0),
                at("\"negotiation\"", 0),
                at("\"proposal\"", 0),
                at("\"lead\"", 1),
                at("\"Proposl Made\"", 0),
                at("\"qualified\"", 1),
            ],
            "{found:#?}"
        );
        let messages: Vec<&str> = found.iter().map(|(_, _, m)| m.as_str()).collect();
        assert_eq!(
            messages[0],
            r#"unknown stage "lead": not in pipeline.stages of config.toml (did you mean "Lead In"? if it plays the part lead, add lead = "Lead In" under [pipeline.parts] and write stage("lead"))"#
        );
        assert!(messages[1].contains(r#"did you mean "Negotiations Started"?"#), "{}", messages[1]);
        assert!(messages[4].ends_with(r#"(did you mean "Proposal Made"?)"#), "{}", messages[4]);
        assert_eq!(
            messages[5],
            r#"event.data.to holds a stage's own name, and "qualified" is a part in [pipeline.parts] (the stage "Contact Made"): write stage("qualified")"#
        );
    }

    #[test]
    fn the_stage_helpers_take_stages_and_parts() {
        let src = r#"
fn stage_a(deal) {
    if at_or_after(deal.stage, "qualified") && before("Lead In", "negotation") && is_open(stage("lead")) {
        return move_to("Proposal Made", "x");
    }
    if is_won("won") || is_closed("closed") { return move_to("qualified", "y"); }
}
"#;
        let found = problems(src);
        let places: Vec<(usize, usize)> = found.iter().map(|(l, c, _)| (*l, *c)).collect();
        let at = |needle: &str| {
            let (line, col) = place(src, needle, 0);
            (line, col + 1)
        };
        assert_eq!(places, [at("\"negotation\""), at("\"lead\""), at("\"closed\"")], "{found:#?}");
        assert!(found[0].2.starts_with("unknown stage \"negotation\": neither a stage of pipeline.stages nor a part"));
        assert!(found[0].2.contains("did you mean \"Negotiations Started\"?"), "{}", found[0].2);
    }

    #[test]
    fn roles_people_and_settings_are_checked_where_rules_name_them() {
        let src = r#"
fn task_a(event, deal, settings) {
    let t = event.data.task;
    if t.role != "sales_mngr" && t.assignee == "Ana Ruis" && deal.owner != "Ana Ruiz" && settings["limt"] > 1 {
        return task("sales_rep", "x", #{ assignee: "Bob", role: "sales_manager" });
    }
    if event.data.role == "buyer" && settings.limit > 1 && settings.limitt.len() > 0 {
        return handover("marketing", "y");
    }
}
"#;
        let found = problems(src);
        let messages: Vec<&str> = found.iter().map(|(_, _, m)| m.as_str()).collect();
        assert_eq!(
            messages,
            [
                r#"unknown role "sales_mngr": not in [roles] of config.toml (did you mean "sales_manager"?)"#,
                r#"unknown person "Ana Ruis": not on the team ([[team]] of config.toml) (did you mean "Ana Ruiz"?)"#,
                r#"unknown setting "limt": add it to [settings] in config.toml (did you mean "limit"?)"#,
                r#"unknown person "Bob": not on the team ([[team]] of config.toml)"#,
                r#"unknown setting "limitt": add it to [settings] in config.toml (did you mean "limit"?)"#,
                r#"unknown role "marketing": not in [roles] of config.toml"#,
            ]
        );
        assert_eq!((found[2].0, found[2].1), {
            let (l, c) = place(src, "limt", 0);
            (l, c)
        });
        assert_eq!((found[4].0, found[4].1), place(src, "limitt", 0));
    }

    #[test]
    fn a_field_of_event_data_is_read_as_a_stage_only_on_the_events_that_carry_one() {
        let src = r#"
fn task_a(event) {
    if event.type == "activity.logged" && event.data.from == "ceo@acme.com" { return 1; }
}
fn task_b(event) {
    if event.type in ["activity.logged", "deal.stage_changed"] && event.data.from == "lead" { return 1; }
}
fn task_c(event) {
    if event.data.to == "lead" { return 1; }
}
"#;
        let found = problems(src);
        let places: Vec<(usize, usize)> = found.iter().map(|(l, c, _)| (*l, *c)).collect();
        let (b, c) = (place(src, "\"lead\"", 0), place(src, "\"lead\"", 1));
        assert_eq!(places, [(b.0, b.1 + 1), (c.0, c.1 + 1)], "{found:#?}");
    }

    #[test]
    fn a_local_lives_in_its_own_function() {
        let src = "fn a(deal) {\n    let s = deal.stage;\n    s\n}\nfn b(event) {\n    s == \"x\"\n}\n";
        assert!(problems(src).is_empty(), "{:?}", problems(src));
    }

    #[test]
    fn a_person_fact_holds_the_id_of_a_person_who_has_one() {
        let src = r#"
fn task_a(deal) {
    if deal.owner == "Alex Kim" || deal.owner == "101" || account.owner != "Ana Ruiz" { return 1; }
    if event.data.owner == "Bo Lind" || deal.owner == "7" { return 2; }
    task("sales_rep", "t", #{ assignee: "Bo Lind" });
    task("sales_rep", "t", #{ assignee: "102" });
    task("sales_rep", "t", #{ assignee: "Alex Kim" });
}
"#;
        let messages: Vec<String> = problems(src).into_iter().map(|(_, _, m)| m).collect();
        assert_eq!(
            messages,
            [
                r#""Alex Kim" is ambiguous: 2 people of the team are called that (ids "101", "102"); name one by id"#,
                r#"event.data.owner holds the CRM id of a person who has one, and "Bo Lind" has id "7": write "7""#,
                r#""Alex Kim" is ambiguous: 2 people of the team are called that (ids "101", "102"); name one by id"#,
            ],
        );
        let src = r#"fn task_a(deal) { if deal.owner == "Ana Ruiz" { return 1; } }"#;
        assert!(problems(src).is_empty(), "a person without an id is keyed by name");
    }
}
