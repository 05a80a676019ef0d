// Prototype, not built here: the native guard measured in peers/README.md
// ("What would help", 1). It was a module `src/rules/guard.rs` in a scratch
// copy of the crate, wired into `RuleSet` like this:
//
//   // from_sources: per rule, the body as written, parsed on its own
//   let source = explain::function_source(text, &rule.name)?;
//   let open = source.find(") {")? + 2;
//   let body = source[open..].trim().strip_prefix('{')?.strip_suffix('}')?;
//   let guard = guard::of(engine.compile(body).ok()?.statements(), &fn_def.params);
//
//   // call: after building `args`, before entering Rhai
//   if let Some(g) = &self.guards[rule.slot] && g.eval(&args) == Some(false) {
//       return Some(Ok(Dynamic::UNIT));
//   }
//
//! Native guards. A rule whose whole body is `if COND { ... }`
//! (no else) returns nothing when COND is false. When COND only compares
//! facts (`deal.activities.meeting`, `settings.key_x`) with each other or with
//! literals, joined by `&&`, `||` and `!`, it is checked here, on the shared
//! fact maps, without entering Rhai; Rhai runs the rule only when COND holds
//! or the guard cannot tell (a type it does not handle), so the result is the
//! same as Rhai's.

use rhai::{Dynamic, Expr, ImmutableString, Map, Stmt};

#[derive(Debug)]
pub enum Guard {
    And(Vec<Guard>),
    Or(Vec<Guard>),
    Not(Box<Guard>),
    Cmp(Op, Operand, Operand),
    Bool(Operand),
}

#[derive(Debug, Clone, Copy)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug)]
pub enum Operand {
    /// Parameter index and the keys below it.
    Path(usize, Vec<ImmutableString>),
    Int(i64),
    Float(f64),
    Str(ImmutableString),
    Bool(bool),
}

enum Val<'a> {
    Int(i64),
    Float(f64),
    Str(&'a str),
    Bool(bool),
    Unit,
}

/// The guard of a rule function, when its body has that shape.
pub fn of(body: &[Stmt], params: &[ImmutableString]) -> Option<Guard> {
    let [Stmt::If(flow, _)] = body else { return None };
    if !flow.branch.statements().is_empty() {
        return None;
    }
    cond(&flow.expr, params)
}

fn cond(e: &Expr, params: &[ImmutableString]) -> Option<Guard> {
    Some(match e {
        Expr::And(xs, _) => Guard::And(xs.iter().map(|x| cond(x, params)).collect::<Option<_>>()?),
        Expr::Or(xs, _) => Guard::Or(xs.iter().map(|x| cond(x, params)).collect::<Option<_>>()?),
        Expr::FnCall(f, _) if f.op_token.is_some() && f.name == "!" && f.args.len() == 1 => {
            Guard::Not(Box::new(cond(&f.args[0], params)?))
        }
        Expr::FnCall(f, _) if f.op_token.is_some() && f.args.len() == 2 => {
            let op = match f.name.as_str() {
                "==" => Op::Eq,
                "!=" => Op::Ne,
                "<" => Op::Lt,
                "<=" => Op::Le,
                ">" => Op::Gt,
                ">=" => Op::Ge,
                _ => return None,
            };
            Guard::Cmp(op, operand(&f.args[0], params)?, operand(&f.args[1], params)?)
        }
        other => Guard::Bool(operand(other, params)?),
    })
}

fn operand(e: &Expr, params: &[ImmutableString]) -> Option<Operand> {
    Some(match e {
        Expr::IntegerConstant(i, _) => Operand::Int(*i),
        Expr::FloatConstant(f, _) => Operand::Float(**f),
        Expr::StringConstant(s, _) => Operand::Str(s.clone()),
        Expr::BoolConstant(b, _) => Operand::Bool(*b),
        Expr::Dot(x, _, _) => {
            let Expr::Variable(v, _, _) = &x.lhs else { return None };
            if !v.2.is_empty() {
                return None;
            }
            let i = params.iter().position(|p| *p == v.1)?;
            let mut keys = Vec::new();
            chain(&x.rhs, &mut keys)?;
            Operand::Path(i, keys)
        }
        _ => return None,
    })
}

fn chain(e: &Expr, keys: &mut Vec<ImmutableString>) -> Option<()> {
    match e {
        Expr::Property(p, _) => keys.push(p.2.clone()),
        Expr::Dot(x, _, _) => {
            chain(&x.lhs, keys)?;
            chain(&x.rhs, keys)?;
        }
        Expr::Index(x, _, _) => {
            chain(&x.lhs, keys)?;
            let Expr::StringConstant(s, _) = &x.rhs else { return None };
            keys.push(s.clone());
        }
        _ => return None,
    }
    Some(())
}

impl Guard {
    /// `Some(false)`: the rule certainly returns nothing; `None`: ask Rhai.
    pub fn eval(&self, args: &[Dynamic]) -> Option<bool> {
        match self {
            Guard::And(xs) => {
                for x in xs {
                    if !x.eval(args)? {
                        return Some(false);
                    }
                }
                Some(true)
            }
            Guard::Or(xs) => {
                for x in xs {
                    if x.eval(args)? {
                        return Some(true);
                    }
                }
                Some(false)
            }
            Guard::Not(x) => Some(!x.eval(args)?),
            Guard::Bool(o) => with(o, args, |v| match v {
                Val::Bool(b) => Some(b),
                _ => None,
            }),
            Guard::Cmp(op, a, b) => with(a, args, |x| with(b, args, |y| compare(*op, &x, &y))),
        }
    }
}

/// Rhai's built-in comparison of two plain values; `None` for what it does not cover here.
fn compare(op: Op, x: &Val, y: &Val) -> Option<bool> {
    use std::cmp::Ordering;
    let ord = match (x, y) {
        (Val::Int(a), Val::Int(b)) => a.cmp(b),
        (Val::Float(a), Val::Float(b)) => a.partial_cmp(b)?,
        (Val::Int(a), Val::Float(b)) => (*a as f64).partial_cmp(b)?,
        (Val::Float(a), Val::Int(b)) => a.partial_cmp(&(*b as f64))?,
        (Val::Str(a), Val::Str(b)) => a.cmp(b),
        (Val::Bool(a), Val::Bool(b)) => match op {
            Op::Eq => return Some(a == b),
            Op::Ne => return Some(a != b),
            _ => return None,
        },
        (Val::Unit, Val::Unit) => return None,
        // Different types, not both numbers: == is false, != true, orderings false.
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

fn with<R>(o: &Operand, args: &[Dynamic], f: impl FnOnce(Val) -> Option<R>) -> Option<R> {
    match o {
        Operand::Int(i) => f(Val::Int(*i)),
        Operand::Float(x) => f(Val::Float(*x)),
        Operand::Str(s) => f(Val::Str(s.as_str())),
        Operand::Bool(b) => f(Val::Bool(*b)),
        Operand::Path(i, keys) => descend(args.get(*i)?, keys, f),
    }
}

/// The value at `keys` below `d` (a shared fact map or a plain map inside one).
fn descend<R>(d: &Dynamic, keys: &[ImmutableString], f: impl FnOnce(Val) -> Option<R>) -> Option<R> {
    let Some((k, rest)) = keys.split_first() else {
        return leaf(d, f);
    };
    let map = d.read_lock::<Map>()?;
    match map.get(k.as_str()) {
        Some(v) => descend(v, rest, f),
        // A missing property reads as (); a property of () is Rhai's to report.
        None if rest.is_empty() => f(Val::Unit),
        None => None,
    }
}

fn leaf<R>(d: &Dynamic, f: impl FnOnce(Val) -> Option<R>) -> Option<R> {
    if d.is_unit() {
        f(Val::Unit)
    } else if d.is_int() {
        f(Val::Int(d.as_int().ok()?))
    } else if d.is_float() {
        f(Val::Float(d.as_float().ok()?))
    } else if d.is_bool() {
        f(Val::Bool(d.as_bool().ok()?))
    } else if d.is_string() {
        let s = d.read_lock::<ImmutableString>()?;
        f(Val::Str(s.as_str()))
    } else {
        None
    }
}
