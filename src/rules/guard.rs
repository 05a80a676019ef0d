//! Native guards: most rule calls end with nothing to say (the account is not
//! big enough, the deal is in another stage). Entering Rhai costs about a
//! microsecond per call before the rule reads a single fact, so a rule whose
//! body has a simple shape gets a guard, checked here in Rust on the same
//! fact maps, that tells when the rule certainly returns nothing.
//!
//! The shape: a body made only of `let NAME = EXPR;` and `if COND { ... }`
//! (no `else`), where every `EXPR` and `COND` uses facts (`deal.stage`,
//! `account.activities.meeting`, `settings.key_x`), earlier `let` names and
//! literals, with comparisons, `&&`, `||`, `!`, `+ - * /` and
//! `if A { B } else { C }`. When every `COND` is false the rule runs to its
//! end without returning anything, so its value is nothing, exactly as Rhai
//! would find. When a `COND` is true, or the guard meets anything it does not
//! evaluate exactly as Rhai does (a type it does not handle, an overflow, a
//! missing fact below a missing fact), Rhai runs the rule as written: its
//! value, its errors and their places are Rhai's own.
//!
//! When the first true `COND` guards a body that is just
//! `return key("...")` (or `not_key`, `refuse`, `move_to`) with a reason
//! made of text, whole numbers, words and `money(...)` of numbers, the guard
//! builds that decision itself, as the rule API would (no rule set can
//! define a function of the rule API itself: `check` refuses it).
//!
//! The stage helpers of the rule API are evaluated here too, on the
//! pipeline the rule set was loaded with: `stage("part")` is the stage it
//! names (folded when the guard is made), `at_or_after(x, "part")`,
//! `before(x, "part")`, `is_open(x)`, `is_won(x)`, `is_lost(x)` and
//! `is_closed(x)` are tests of a position or of a set. A name the pipeline
//! does not know is Rhai's error to report.

use std::sync::Arc;

use rhai::{ASTFlags, Dynamic, Expr, ImmutableString, Map, Stmt};

use crate::config::Pipeline;

/// The rule API's decisions a guard can build: name, and the fields its arguments fill.
const DECISIONS: [(&str, &str, &[&str]); 4] = [
    ("key", "key", &["reason"]),
    ("not_key", "not_key", &["reason"]),
    ("refuse", "refuse", &["reason"]),
    ("move_to", "move", &["stage", "reason"]),
];

/// What a guard knows of a rule: the steps of its body.
#[derive(Debug, Clone)]
pub struct Guard {
    steps: Vec<Step>,
    locals: usize,
}

#[derive(Debug, Clone)]
enum Step {
    /// `let NAME = EXPR;` (the next local).
    Let(G),
    /// `if COND { ... }`: the rule goes on when COND is false; when it is
    /// true, the decision the body returns, when the guard can build it.
    If(G, Option<Decision>),
}

/// `return key(...)` and the like: the decision map's `decision` value and its fields.
#[derive(Debug, Clone)]
struct Decision {
    kind: &'static str,
    fields: Vec<(&'static str, Vec<Part>)>,
}

/// A piece of a reason: text as written, a value, or `money(value)`; or a
/// whole argument that must be text (`move_to(stage("qualified"), ...)`).
#[derive(Debug, Clone)]
enum Part {
    Text(ImmutableString),
    Value(G),
    Money(G),
    Str(G),
}

/// The names a rule's expressions may read: its parameters, and the
/// pipeline the stage helpers read.
struct Params<'a> {
    names: &'a [ImmutableString],
    pipeline: &'a Arc<Pipeline>,
}

/// A stage helper of the rule API, with the position of its named stage.
#[derive(Debug, Clone, Copy)]
enum StageTest {
    AtOrAfter(usize),
    Before(usize),
    Open,
    Won,
    Lost,
    Closed,
}

#[derive(Debug, Clone)]
enum G {
    Lit(Val),
    /// A parameter (by index) and the map keys below it.
    Param(usize, Vec<ImmutableString>),
    Local(usize),
    Not(Box<G>),
    And(Vec<G>),
    Or(Vec<G>),
    Cmp(Op, Box<G>, Box<G>),
    Arith(Arith, Box<G>, Box<G>),
    Neg(Box<G>),
    IfElse(Box<G>, Box<G>, Box<G>),
    /// A stage helper on a value (a stage, a part, or `()`).
    Stage(StageTest, Box<G>, Arc<Pipeline>),
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, Copy)]
enum Arith {
    Add,
    Sub,
    Mul,
    Div,
}

/// The values a guard handles; anything else is Rhai's to evaluate.
#[derive(Debug, Clone, Default)]
enum Val {
    Int(i64),
    Float(f64),
    Str(ImmutableString),
    Bool(bool),
    #[default]
    Unit,
}

impl Guard {
    /// The guard of a rule whose body (`{ ... }`, comments masked) is `body`.
    /// `pipeline` is the one the rule set runs on (the stage helpers read it).
    pub fn of_body<P: AsRef<str>>(
        engine: &rhai::Engine,
        body: &str,
        params: &[P],
        pipeline: &Pipeline,
    ) -> Option<Guard> {
        let inner = body.strip_prefix('{')?.strip_suffix('}')?;
        let ast = engine.compile(inner).ok()?;
        let names: Vec<ImmutableString> = params.iter().map(|p| p.as_ref().into()).collect();
        Guard::of(ast.statements(), &Params { names: &names, pipeline: &Arc::new(pipeline.clone()) })
    }

    /// The guard of a rule function, when its body has the shape.
    fn of(body: &[Stmt], params: &Params) -> Option<Guard> {
        let mut names: Vec<ImmutableString> = Vec::new();
        let mut steps = Vec::new();
        for stmt in body {
            match stmt {
                Stmt::Var(x, _, _) => {
                    let (ident, expr, _) = &**x;
                    steps.push(Step::Let(expr_of(expr, params, &names)?));
                    names.push(ident.name.clone());
                }
                Stmt::If(flow, _) if flow.branch.statements().is_empty() => {
                    let decision = decision_of(flow.body.statements(), params, &names);
                    steps.push(Step::If(expr_of(&flow.expr, params, &names)?, decision));
                }
                Stmt::Noop(_) => {}
                _ => return None,
            }
        }
        steps.iter().any(|s| matches!(s, Step::If(..))).then_some(Guard { steps, locals: names.len() })
    }

    /// The rule's value, given its arguments (`arg(i)`: the i-th), when the
    /// guard can tell it: nothing (`()`), or the decision of the first true
    /// condition. `None`: Rhai must run the rule.
    pub fn run<'a>(&self, arg: &dyn Fn(usize) -> Option<&'a Dynamic>) -> Option<Dynamic> {
        // The `let` values: on the stack for the usual few.
        let mut held: [Val; 4] = Default::default();
        let mut more: Vec<Val> = Vec::new();
        let mut n = 0;
        for step in &self.steps {
            let locals: &[Val] = if self.locals <= held.len() { &held[..n] } else { &more };
            match step {
                Step::Let(g) => {
                    let v = g.eval(arg, locals)?;
                    if self.locals <= held.len() {
                        held[n] = v;
                    } else {
                        more.push(v);
                    }
                    n += 1;
                }
                Step::If(g, decision) => match g.eval(arg, locals)? {
                    Val::Bool(false) => {}
                    Val::Bool(true) => return decision.as_ref()?.build(arg, locals),
                    _ => return None,
                },
            }
        }
        Some(Dynamic::UNIT)
    }

    /// The same guard with parameter `param` fixed to `value` (the settings,
    /// which do not change for a rule set): its reads become literals, and
    /// arithmetic on literals is done once, here.
    pub fn bind(&self, param: usize, value: &Dynamic) -> Guard {
        let steps = self
            .steps
            .iter()
            .map(|s| match s {
                Step::Let(g) => Step::Let(g.bind(param, value)),
                Step::If(g, d) => Step::If(
                    g.bind(param, value),
                    d.as_ref().map(|d| Decision {
                        kind: d.kind,
                        fields: d
                            .fields
                            .iter()
                            .map(|(f, parts)| (*f, parts.iter().map(|p| p.bind(param, value)).collect()))
                            .collect(),
                    }),
                ),
            })
            .collect();
        Guard { steps, locals: self.locals }
    }

    /// `true` when the rule, given its arguments, certainly returns nothing.
    #[cfg(test)]
    pub fn says_nothing<'a>(&self, arg: &dyn Fn(usize) -> Option<&'a Dynamic>) -> bool {
        self.run(arg).is_some_and(|v| v.is_unit())
    }
}

/// The decision a body that is only `return NAME(ARGS)` returns, when the guard can build it.
fn decision_of(body: &[Stmt], params: &Params, locals: &[ImmutableString]) -> Option<Decision> {
    let [Stmt::Return(Some(e), flags, _)] = body else { return None };
    if flags.intersects(ASTFlags::BREAK) {
        return None; // `throw`
    }
    let Expr::FnCall(f, _) = &**e else { return None };
    if f.op_token.is_some() || !f.namespace.is_empty() || f.capture_parent_scope {
        return None;
    }
    let (_, kind, fields) =
        DECISIONS.iter().find(|(name, _, fields)| f.name == *name && f.args.len() == fields.len())?;
    let fields = fields
        .iter()
        .zip(f.args.iter())
        .map(|(field, a)| Some((*field, template(a, params, locals)?)))
        .collect::<Option<_>>()?;
    Some(Decision { kind, fields })
}

/// A string argument: text, or text with `${...}` parts.
fn template(e: &Expr, params: &Params, locals: &[ImmutableString]) -> Option<Vec<Part>> {
    let part = |x: &Expr| -> Option<Part> {
        Some(match x {
            Expr::StringConstant(s, _) => Part::Text(s.clone()),
            Expr::FnCall(f, _)
                if f.name == "money" && f.args.len() == 1 && f.op_token.is_none() && f.namespace.is_empty() =>
            {
                Part::Money(expr_of(&f.args[0], params, locals)?)
            }
            other => Part::Value(expr_of(other, params, locals)?),
        })
    };
    match e {
        Expr::StringConstant(s, _) => Some(vec![Part::Text(s.clone())]),
        Expr::InterpolatedString(parts, _) => parts.iter().map(part).collect(),
        other => Some(vec![Part::Str(expr_of(other, params, locals)?)]),
    }
}

impl Decision {
    /// The map the rule API's function would return (`api::decision`).
    fn build<'a>(&self, arg: &dyn Fn(usize) -> Option<&'a Dynamic>, locals: &[Val]) -> Option<Dynamic> {
        let mut m = Map::new();
        m.insert("decision".into(), self.kind.into());
        for (field, parts) in &self.fields {
            let mut text = String::new();
            for p in parts {
                match p {
                    Part::Text(t) => text.push_str(t),
                    Part::Value(g) => match g.eval(arg, locals)? {
                        // Only what prints the same in Rust as in Rhai.
                        Val::Int(i) => text.push_str(&i.to_string()),
                        Val::Str(s) => text.push_str(&s),
                        Val::Bool(b) => text.push_str(if b { "true" } else { "false" }),
                        Val::Float(_) | Val::Unit => return None,
                    },
                    Part::Money(g) => match g.eval(arg, locals)? {
                        Val::Int(i) => text.push_str(&super::money(i as f64)),
                        Val::Float(x) => text.push_str(&super::money(x)),
                        _ => return None,
                    },
                    // The rule API's functions take text there: anything else is Rhai's error.
                    Part::Str(g) => match g.eval(arg, locals)? {
                        Val::Str(s) => text.push_str(&s),
                        _ => return None,
                    },
                }
            }
            m.insert((*field).into(), text.into());
        }
        Some(m.into())
    }
}

fn expr_of(e: &Expr, params: &Params, locals: &[ImmutableString]) -> Option<G> {
    let sub = |x: &Expr| expr_of(x, params, locals).map(Box::new);
    Some(match e {
        Expr::IntegerConstant(i, _) => G::Lit(Val::Int(*i)),
        Expr::FloatConstant(f, _) => G::Lit(Val::Float(**f)),
        Expr::StringConstant(s, _) => G::Lit(Val::Str(s.clone())),
        Expr::BoolConstant(b, _) => G::Lit(Val::Bool(*b)),
        Expr::Unit(_) => G::Lit(Val::Unit),
        Expr::Variable(..) => variable(e, params, locals, Vec::new())?,
        Expr::Dot(x, _, _) => {
            let mut keys = Vec::new();
            chain(&x.rhs, &mut keys)?;
            variable(&x.lhs, params, locals, keys)?
        }
        Expr::And(xs, _) => G::And(xs.iter().map(|x| expr_of(x, params, locals)).collect::<Option<_>>()?),
        Expr::Or(xs, _) => G::Or(xs.iter().map(|x| expr_of(x, params, locals)).collect::<Option<_>>()?),
        Expr::FnCall(f, _) if f.op_token.is_some() && f.args.len() == 1 => match f.name.as_str() {
            "!" => G::Not(sub(&f.args[0])?),
            "-" => G::Neg(sub(&f.args[0])?),
            _ => return None,
        },
        Expr::FnCall(f, _) if f.op_token.is_some() && f.args.len() == 2 => {
            let (a, b) = (sub(&f.args[0])?, sub(&f.args[1])?);
            match f.name.as_str() {
                "==" => G::Cmp(Op::Eq, a, b),
                "!=" => G::Cmp(Op::Ne, a, b),
                "<" => G::Cmp(Op::Lt, a, b),
                "<=" => G::Cmp(Op::Le, a, b),
                ">" => G::Cmp(Op::Gt, a, b),
                ">=" => G::Cmp(Op::Ge, a, b),
                "+" => G::Arith(Arith::Add, a, b),
                "-" => G::Arith(Arith::Sub, a, b),
                "*" => G::Arith(Arith::Mul, a, b),
                "/" => G::Arith(Arith::Div, a, b),
                _ => return None,
            }
        }
        Expr::FnCall(f, _) if f.op_token.is_none() && f.namespace.is_empty() && !f.capture_parent_scope => {
            stage_call(f, params, locals)?
        }
        // `if A { B } else { C }` used as a value.
        Expr::Stmt(block) => {
            let [Stmt::If(flow, _)] = block.statements() else { return None };
            let value = |b: &rhai::StmtBlock| match b.statements() {
                [Stmt::Expr(x)] => expr_of(x, params, locals),
                _ => None,
            };
            G::IfElse(sub(&flow.expr)?, Box::new(value(&flow.body)?), Box::new(value(&flow.branch)?))
        }
        _ => return None,
    })
}

/// A stage helper of the rule API (see the module's comment).
fn stage_call(f: &rhai::FnCallExpr, params: &Params, locals: &[ImmutableString]) -> Option<G> {
    let p = params.pipeline;
    // A stage named by a text written in the rule: its position, or no guard
    // (the helper's error is Rhai's to report).
    let named = |e: &Expr| match e {
        Expr::StringConstant(s, _) => p.resolve(s).and_then(|st| p.index(st)),
        _ => None,
    };
    let test = match (f.name.as_str(), &f.args[..]) {
        ("stage", [name]) => return Some(G::Lit(Val::Str(p.stages[named(name)?].as_str().into()))),
        ("at_or_after", [_, name]) => StageTest::AtOrAfter(named(name)?),
        ("before", [_, name]) => StageTest::Before(named(name)?),
        ("is_open", [_]) => StageTest::Open,
        ("is_won", [_]) => StageTest::Won,
        ("is_lost", [_]) => StageTest::Lost,
        ("is_closed", [_]) => StageTest::Closed,
        _ => return None,
    };
    Some(G::Stage(test, Box::new(expr_of(&f.args[0], params, locals)?), p.clone()))
}

/// A parameter or a `let` name, with the map keys read below it.
fn variable(e: &Expr, params: &Params, locals: &[ImmutableString], keys: Vec<ImmutableString>) -> Option<G> {
    let Expr::Variable(v, _, _) = e else { return None };
    if !v.2.is_empty() {
        return None;
    }
    // The latest `let` of a name hides earlier ones and the parameters.
    if let Some(i) = locals.iter().rposition(|n| *n == v.1) {
        // Locals hold plain values only: nothing to read below them.
        return keys.is_empty().then_some(G::Local(i));
    }
    let i = params.names.iter().position(|p| *p == v.1)?;
    Some(G::Param(i, keys))
}

fn chain(e: &Expr, keys: &mut Vec<ImmutableString>) -> Option<()> {
    match e {
        Expr::Property(p, _) => keys.push(p.2.clone()),
        Expr::Dot(x, _, _) => {
            chain(&x.lhs, keys)?;
            chain(&x.rhs, keys)?;
        }
        _ => return None,
    }
    Some(())
}

impl Part {
    fn bind(&self, param: usize, value: &Dynamic) -> Part {
        match self {
            Part::Text(t) => Part::Text(t.clone()),
            Part::Value(g) => Part::Value(g.bind(param, value)),
            Part::Money(g) => Part::Money(g.bind(param, value)),
            Part::Str(g) => Part::Str(g.bind(param, value)),
        }
    }
}

impl G {
    /// `self` with reads of parameter `param` replaced by their values, and
    /// arithmetic on literals folded (what cannot be read stays as it was).
    fn bind(&self, param: usize, value: &Dynamic) -> G {
        let b = |g: &G| Box::new(g.bind(param, value));
        match self {
            G::Param(i, keys) if *i == param => match read(value, keys) {
                Some(v) => G::Lit(v),
                None => self.clone(),
            },
            G::Lit(_) | G::Param(..) | G::Local(_) => self.clone(),
            G::Not(x) => G::Not(b(x)),
            G::Neg(x) => G::Neg(b(x)),
            G::And(xs) => G::And(xs.iter().map(|x| x.bind(param, value)).collect()),
            G::Or(xs) => G::Or(xs.iter().map(|x| x.bind(param, value)).collect()),
            G::Cmp(op, x, y) => G::Cmp(*op, b(x), b(y)),
            G::Arith(op, x, y) => {
                let (x, y) = (b(x), b(y));
                match (&*x, &*y) {
                    (G::Lit(l), G::Lit(r)) => match arith(*op, l, r) {
                        Some(v) => G::Lit(v),
                        None => G::Arith(*op, x, y),
                    },
                    _ => G::Arith(*op, x, y),
                }
            }
            G::IfElse(c, x, y) => G::IfElse(b(c), b(x), b(y)),
            G::Stage(t, x, p) => G::Stage(*t, b(x), p.clone()),
        }
    }

    /// The value, when the guard can tell it exactly as Rhai would.
    fn eval<'a>(&self, arg: &dyn Fn(usize) -> Option<&'a Dynamic>, locals: &[Val]) -> Option<Val> {
        let boolean = |g: &G| match g.eval(arg, locals)? {
            Val::Bool(b) => Some(b),
            _ => None,
        };
        Some(match self {
            G::Lit(v) => v.clone(),
            G::Local(i) => locals.get(*i)?.clone(),
            G::Param(i, keys) => read(arg(*i)?, keys)?,
            G::Not(x) => Val::Bool(!boolean(x)?),
            G::And(xs) => {
                for x in xs {
                    if !boolean(x)? {
                        return Some(Val::Bool(false));
                    }
                }
                Val::Bool(true)
            }
            G::Or(xs) => {
                for x in xs {
                    if boolean(x)? {
                        return Some(Val::Bool(true));
                    }
                }
                Val::Bool(false)
            }
            G::Cmp(op, a, b) => Val::Bool(compare(*op, &a.eval(arg, locals)?, &b.eval(arg, locals)?)?),
            G::Arith(op, a, b) => arith(*op, &a.eval(arg, locals)?, &b.eval(arg, locals)?)?,
            G::Neg(x) => match x.eval(arg, locals)? {
                Val::Int(i) => Val::Int(i.checked_neg()?),
                Val::Float(f) => Val::Float(-f),
                _ => return None,
            },
            G::IfElse(c, a, b) => {
                if boolean(c)? {
                    a.eval(arg, locals)?
                } else {
                    b.eval(arg, locals)?
                }
            }
            G::Stage(test, x, p) => Val::Bool(match x.eval(arg, locals)? {
                // No stage (nothing asked for) is at no place in the pipeline.
                Val::Unit => false,
                Val::Str(s) => {
                    let stage = p.resolve(&s)?;
                    let i = p.index(stage)?;
                    match test {
                        StageTest::AtOrAfter(k) => i >= *k,
                        StageTest::Before(k) => i < *k,
                        StageTest::Open => !p.is_closed(stage),
                        StageTest::Won => p.is_won(stage),
                        StageTest::Lost => p.is_lost(stage),
                        StageTest::Closed => p.is_closed(stage),
                    }
                }
                // Not a stage: Rhai's error.
                _ => return None,
            }),
        })
    }
}

/// The value at `keys` below `d` (a shared fact map, or a plain map inside one).
fn read(d: &Dynamic, keys: &[ImmutableString]) -> Option<Val> {
    let Some((k, rest)) = keys.split_first() else {
        return plain(d);
    };
    let map = d.read_lock::<Map>()?;
    match map.get(k.as_str()) {
        Some(v) => read(v, rest),
        // A missing property reads as (); a property of () is an error, Rhai's to report.
        None if rest.is_empty() => Some(Val::Unit),
        None => None,
    }
}

fn plain(d: &Dynamic) -> Option<Val> {
    Some(if d.is_unit() {
        Val::Unit
    } else if d.is_int() {
        Val::Int(d.as_int().ok()?)
    } else if d.is_float() {
        Val::Float(d.as_float().ok()?)
    } else if d.is_bool() {
        Val::Bool(d.as_bool().ok()?)
    } else if d.is_string() {
        Val::Str(d.clone().into_immutable_string().ok()?)
    } else {
        return None;
    })
}

/// Rhai's built-in comparisons (`func/builtin.rs`): numbers compare across
/// integer and float; values of other, different types are unequal and not
/// ordered. What this does not cover (units, NaN) is Rhai's.
fn compare(op: Op, x: &Val, y: &Val) -> Option<bool> {
    use std::cmp::Ordering;
    let ord = match (x, y) {
        (Val::Int(a), Val::Int(b)) => a.cmp(b),
        (Val::Float(a), Val::Float(b)) => a.partial_cmp(b)?,
        (Val::Int(a), Val::Float(b)) => (*a as f64).partial_cmp(b)?,
        (Val::Float(a), Val::Int(b)) => a.partial_cmp(&(*b as f64))?,
        (Val::Str(a), Val::Str(b)) => a.as_str().cmp(b.as_str()),
        (Val::Bool(a), Val::Bool(b)) => match op {
            Op::Eq => return Some(a == b),
            Op::Ne => return Some(a != b),
            _ => return None,
        },
        (Val::Unit, Val::Unit) => return None,
        _ => return Some(matches!(op, Op::Ne)),
    };
    Some(match op {
        Op::Eq => ord == Ordering::Equal,
        Op::Ne => ord != Ordering::Equal,
        Op::Lt => ord == Ordering::Less,
        Op::Le => ord != Ordering::Greater,
        Op::Gt => ord == Ordering::Greater,
        Op::Ge => ord != Ordering::Less,
    })
}

/// Rhai's built-in arithmetic on numbers: integers checked (an overflow or a
/// division by zero is Rhai's error to report), a float with an integer in
/// floats. A result that is not a finite number is left to Rhai too.
fn arith(op: Arith, x: &Val, y: &Val) -> Option<Val> {
    if let (Val::Int(a), Val::Int(b)) = (x, y) {
        return Some(Val::Int(match op {
            Arith::Add => a.checked_add(*b)?,
            Arith::Sub => a.checked_sub(*b)?,
            Arith::Mul => a.checked_mul(*b)?,
            Arith::Div => a.checked_div(*b)?,
        }));
    }
    let float = |v: &Val| match v {
        Val::Int(i) => Some(*i as f64),
        Val::Float(f) => Some(*f),
        _ => None,
    };
    let (a, b) = (float(x)?, float(y)?);
    let r = match op {
        Arith::Add => a + b,
        Arith::Sub => a - b,
        Arith::Mul => a * b,
        Arith::Div if b == 0.0 => return None,
        Arith::Div => a / b,
    };
    r.is_finite().then_some(Val::Float(r))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::model::{Account, AccountStats, Deal, DealStats, Lead};
    use crate::rules::{Facts, RuleKind, RuleSet, seal};
    use crate::synthetic::Rng;

    fn playbook() -> crate::playbook::Playbook {
        crate::playbook::Playbook::load(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    /// A value near the thresholds and stages rules compare with, or of another type.
    fn value(rng: &mut Rng, words: &[String]) -> Dynamic {
        const NUMBERS: [i64; 12] = [-1, 0, 1, 2, 3, 5, 10, 30, 500, 50_000, 150_000, 1_000_000];
        match rng.below(8) {
            0 | 1 => Dynamic::from(NUMBERS[rng.below(12) as usize]),
            2 | 3 => Dynamic::from(NUMBERS[rng.below(12) as usize] as f64 * (0.5 + rng.unit())),
            4 => Dynamic::from(rng.below(2) == 0),
            5 | 6 => Dynamic::from(words[rng.below(words.len() as u64) as usize].clone()),
            _ => Dynamic::UNIT,
        }
    }

    /// `facts` with its values replaced at random (sometimes kept, sometimes removed), one level of nesting deep.
    fn shake(facts: &Dynamic, rng: &mut Rng, stages: &[String]) -> Dynamic {
        let map = facts.read_lock::<Map>().unwrap().clone();
        seal(shake_map(map, rng, stages, true))
    }

    fn shake_map(map: Map, rng: &mut Rng, stages: &[String], nest: bool) -> Map {
        let mut out = Map::new();
        for (k, v) in map {
            match rng.below(6) {
                0 => {}
                1 => {
                    out.insert(k, v);
                }
                _ if nest && v.is_map() => {
                    let inner = v.cast::<Map>();
                    out.insert(k, shake_map(inner, rng, stages, false).into());
                }
                _ => {
                    out.insert(k, value(rng, stages));
                }
            }
        }
        out
    }

    #[test]
    fn the_default_key_and_stage_rules_all_have_guards() {
        let p = playbook();
        for kind in [RuleKind::Key, RuleKind::Stage] {
            for rule in p.rules.rules(kind) {
                assert!(rule.guard.is_some(), "{} has no guard", rule.name);
            }
        }
    }

    /// Whenever a guard says a rule returns nothing, Rhai, running the rule as
    /// written, returns nothing too, without an error; and a guarded call
    /// returns what Rhai returns. Facts of every type, near every threshold.
    /// Returns how many rules have guards, and how many times a guard built a decision.
    fn guards_agree_with_rhai(p: &crate::playbook::Playbook, rules: &RuleSet) -> (usize, usize) {
        // Every stage and event type, so that comparisons with them are sometimes true.
        let mut words = p.config.pipeline.stages.clone();
        words.extend(p.config.pipeline.parts.keys().cloned());
        words.extend(crate::event::EventType::ALL.iter().map(|t| t.name().to_string()));
        words.extend(rules.all_rules().iter().filter_map(|r| r.events.clone()).flatten());
        words.push("x".into());
        let at = chrono::Utc::now();
        let account = crate::facts::account(&Account::default(), &AccountStats::default(), at);
        let deal = crate::facts::deal(&Deal::default(), &DealStats::default(), &p.config.pipeline, None, at);
        let lead = crate::facts::lead(&Lead::default());
        let event = crate::facts::event("e", "lead.created", at, &serde_json::Map::new());
        let mut rng = Rng(7);
        let (mut guarded, mut built) = (0, 0);
        for rule in rules.all_rules().iter().filter(|r| r.guard.is_some()) {
            guarded += 1;
            let unguarded = crate::rules::Rule { guard: None, ..rule.clone() };
            let (mut silent, mut spoke) = (0, 0);
            for _ in 0..2_000 {
                let f = Facts {
                    event: shake(&event, &mut rng, &words),
                    account: Some(shake(&account, &mut rng, &words)),
                    deal: Some(shake(&deal, &mut rng, &words)),
                    lead: Some(shake(&lead, &mut rng, &words)),
                    contact: None,
                };
                let args = rules.args(rule, &f).unwrap();
                let says_nothing = rule.guard.as_ref().unwrap().says_nothing(&|i| args.get(i));
                built += usize::from(rule.guard.as_ref().unwrap().run(&|i| args.get(i)).is_some_and(|v| !v.is_unit()));
                let by_rhai = rules.call(&unguarded, &f);
                match (rules.call(rule, &f), &by_rhai) {
                    (Some(Ok(g)), Some(Ok(r))) => assert_eq!(g.to_string(), r.to_string(), "{}", rule.name),
                    (Some(Err(_)), Some(Err(_))) => {}
                    (g, r) => panic!("{}: with the guard {g:?}, by Rhai {r:?}", rule.name),
                }
                if says_nothing {
                    match by_rhai {
                        Some(Ok(v)) => assert!(v.is_unit(), "{}: the guard said nothing, Rhai said {v}", rule.name),
                        other => panic!("{}: the guard said nothing, Rhai: {other:?}", rule.name),
                    }
                    silent += 1;
                } else {
                    spoke += 1;
                }
            }
            assert!(silent > 0 && spoke > 0, "{}: {silent} silent, {spoke} not: the facts miss a case", rule.name);
        }
        (guarded, built)
    }

    #[test]
    fn the_default_rules_guards_agree_with_rhai() {
        let p = playbook();
        let (guarded, built) = guards_agree_with_rhai(&p, &p.rules);
        assert!(guarded >= 8, "only {guarded} rules have guards");
        assert!(built > 100, "the guards built only {built} decisions");
    }

    /// The default rules on a pipeline of other names, with an open stage
    /// after negotiation: the stage helpers agree with Rhai's.
    #[test]
    fn the_stage_helpers_guards_agree_with_rhai_on_another_pipeline() {
        let dir = tempfile::tempdir().unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let config = crate::config::pipedrive_default_config_text();
        std::fs::write(dir.path().join("config.toml"), config).unwrap();
        std::fs::create_dir(dir.path().join("rules")).unwrap();
        for f in std::fs::read_dir(root.join("rules")).unwrap().map(|f| f.unwrap().path()) {
            if f.extension().is_some_and(|x| x == "rhai") {
                std::fs::copy(&f, dir.path().join("rules").join(f.file_name().unwrap())).unwrap();
            }
        }
        let p = crate::playbook::Playbook::load(dir.path()).unwrap();
        assert_eq!(p.config.pipeline.resolve("negotiation"), Some("Negotiations Started"));
        for rule in p.rules.rules(RuleKind::Stage) {
            assert!(rule.guard.is_some(), "{} has no guard", rule.name);
        }
        // The rules that use the stage helpers.
        let files = ["stages.rhai", "tasks_sales.rhai"]
            .map(|f| (format!("rules/{f}"), std::fs::read_to_string(root.join("rules").join(f)).unwrap()));
        let rules = RuleSet::from_sources(&p.config, files.to_vec()).unwrap();
        let (guarded, built) = guards_agree_with_rhai(&p, &rules);
        assert!(guarded >= 6, "only {guarded} rules have guards");
        // Stage rules whose conditions are rarely all true on random facts.
        assert!(built >= 10, "the guards built only {built} decisions");
    }

    #[test]
    fn stage_helpers_are_evaluated_natively_and_moves_built() {
        let pipeline = crate::config::pipedrive_pipeline();
        let engine = rhai::Engine::new();
        let body = r#"{
            if before(deal.stage, "qualified") && deal.met > 0 { return move_to(stage("qualified"), `met in ${deal.stage}`) }
            if is_open(deal.wanted) && at_or_after(deal.wanted, "negotiation") { return refuse("gate") }
        }"#;
        let g = Guard::of_body(&engine, body, &["deal"], &pipeline).expect("a guard");
        let run = |stage: Dynamic, met: i64, wanted: Dynamic| {
            let mut m = Map::new();
            m.insert("stage".into(), stage);
            m.insert("met".into(), Dynamic::from(met));
            m.insert("wanted".into(), wanted);
            let deal = Dynamic::from(m);
            g.run(&|i| (i == 0).then_some(&deal)).map(|v| v.to_string())
        };
        let s = |x: &str| Dynamic::from(x.to_string());
        let moved = run(s("Lead In"), 1, Dynamic::UNIT);
        assert_eq!(
            moved.as_deref(),
            Some(r#"#{"decision": "move", "reason": "met in Lead In", "stage": "Contact Made"}"#)
        );
        assert_eq!(run(s("Contact Made"), 1, Dynamic::UNIT).as_deref(), Some(""), "nothing to say");
        for wanted in ["Contract Sent", "negotiation"] {
            let refused = run(s("Contact Made"), 0, s(wanted));
            assert_eq!(refused.as_deref(), Some(r#"#{"decision": "refuse", "reason": "gate"}"#), "{wanted}");
        }
        assert_eq!(run(s("Contact Made"), 0, s("Won")).as_deref(), Some(""), "closed stages are not gated");
        // A name the pipeline does not know, or a number: Rhai runs the rule (and reports the error).
        assert_eq!(run(s("lead"), 1, Dynamic::UNIT), None);
        assert_eq!(run(Dynamic::from(3_i64), 1, Dynamic::UNIT), None);
        // A stage written in the rule that the pipeline does not know: no guard at all.
        let bad = r#"{ if at_or_after(deal.stage, "negotation") { return refuse("x") } }"#;
        assert!(Guard::of_body(&engine, bad, &["deal"], &pipeline).is_none());
    }

    #[test]
    fn guards_of_every_form_agree_with_rhai() {
        let p = playbook();
        let src = r#"
fn key_a(account, settings) {
    let limit = settings.key_revenue_12m * settings.key_keep_share;
    let share = if account.is_key { 0.5 } else { 1 };
    if account.revenue_12m - 1 >= limit * share || !(account.open_deals < 3) { return key("a"); }
    if account.employees / 2 == 5 && account.sector != "x" { return not_key("b"); }
    if -account.open_deals > 0 { return key("c") }
}
fn key_b(account) {
    let limit = 9223372036854775807;
    if account.open_deals + limit < 0 { return key("overflow is Rhai's to report") }
}
fn key_reasons(account) {
    if account.employees > 10 { return key(`${account.employees} people in ${account.sector}, ${money(account.revenue_12m)} (${account.is_key})`) }
    if account.open_deals > 1 { return not_key(`${account.revenue_12m} as written`) }
    if account.open_deals == 1 { throw "thrown, not returned" }
}
fn stage_c(deal) {
    let n = deal.activities.meeting + deal.activities.demo * 2;
    let n = n - 1;
    if n >= 2 || deal.activities.nothing == 1 { return move_to("qualified", "n") }
    if deal.stage <= "lead" && deal.amount != () { return refuse("no") }
}
"#;
        let rules = RuleSet::from_sources(&p.config, vec![("rules/t.rhai".into(), src.into())]).unwrap();
        let (guarded, built) = guards_agree_with_rhai(&p, &rules);
        assert_eq!(guarded, 4);
        assert!(built > 100, "the guards built only {built} decisions");
        // The same rules with a `money` of their own are refused: no guard could build their decisions.
        let own = format!("{src}\nfn money(x) {{ `${{x}} euros` }}\n");
        let err = RuleSet::from_sources(&p.config, vec![("rules/t.rhai".into(), own)]).err().unwrap().to_string();
        assert!(err.contains("money is a function of the rule API"), "{err}");
    }

    #[test]
    fn bodies_of_other_shapes_get_no_guard() {
        let p = playbook();
        let src = r#"
fn key_else(account) { if account.is_key { return key("a") } else { return not_key("b") } }
fn key_call(account) { if helper(account) { return key("a") } }
fn helper(account) { true }
fn key_loop(account) { let n = 0; for x in 0..3 { n += x; } if account.is_key { return key("a") } }
fn key_no_if(account) { key("always") }
"#;
        let rules = RuleSet::from_sources(&p.config, vec![("rules/t.rhai".into(), src.into())]).unwrap();
        for r in rules.all_rules() {
            assert!(r.guard.is_none(), "{}", r.name);
        }
    }
}
