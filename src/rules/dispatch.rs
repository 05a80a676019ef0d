//! Which events a task rule can act on, read from its code: a rule written
//!
//! ```rhai
//! fn task_x(event, deal) {
//!     if event.type == "deal.stuck" && deal.amount > 1000 { return task(...); }
//! }
//! ```
//!
//! returns nothing unless `event.type` is `"deal.stuck"`, so the engine need
//! not call it (nor build the facts only it reads) for any other event. The
//! analysis is sound only for this shape: optional `let` statements, then one
//! `if` without `else` whose condition requires `event.type == "…"`
//! (through `&&`, or `||` of such tests). Any other shape runs on every event.

use std::collections::BTreeSet;

use rhai::{Engine, Expr, Stmt};

/// The event types the rule body `{ ... }` can act on; `None` when any.
pub fn event_types(engine: &Engine, body: &str) -> Option<BTreeSet<String>> {
    let inner = body.strip_prefix('{')?.strip_suffix('}')?;
    let ast = engine.compile(inner).ok()?;
    let mut statements = ast.statements().iter().skip_while(|s| matches!(s, Stmt::Var(..)));
    let guard = statements.next()?;
    if statements.next().is_some() {
        return None;
    }
    match guard {
        Stmt::If(flow, _) if flow.branch.is_empty() => types(&flow.expr),
        _ => None,
    }
}

fn types(e: &Expr) -> Option<BTreeSet<String>> {
    match e {
        Expr::And(parts, _) => parts.iter().filter_map(types).reduce(|a, b| a.intersection(&b).cloned().collect()),
        Expr::Or(parts, _) => parts.iter().map(types).try_fold(BTreeSet::new(), |mut all, t| {
            all.extend(t?);
            Some(all)
        }),
        Expr::FnCall(call, _) if call.name == "==" && call.args.len() == 2 => match (&call.args[0], &call.args[1]) {
            (Expr::Dot(dot, ..), Expr::StringConstant(s, _)) | (Expr::StringConstant(s, _), Expr::Dot(dot, ..))
                if is_event_type(&dot.lhs, &dot.rhs) =>
            {
                Some(BTreeSet::from([s.to_string()]))
            }
            _ => None,
        },
        _ => None,
    }
}

fn is_event_type(lhs: &Expr, rhs: &Expr) -> bool {
    matches!(lhs, Expr::Variable(v, ..) if v.1 == "event") && matches!(rhs, Expr::Property(p, _) if p.2 == "type")
}

/// The `{ ... }` block that starts at or after `from` in comment-masked code (strings skipped).
pub fn block_after(code: &str, from: usize) -> Option<&str> {
    let b = code.as_bytes();
    let start = from + code.get(from..)?.find('{')?;
    let (mut depth, mut i) = (0_i32, start);
    while i < b.len() {
        match b[i] {
            b'"' | b'`' | b'\'' => {
                let quote = b[i];
                i += 1;
                while i < b.len() && b[i] != quote {
                    // `${ ... }` inside a template string holds code, but no unbalanced braces that matter here.
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return code.get(start..=i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(body: &str) -> Option<Vec<String>> {
        event_types(&Engine::new(), body).map(|s| s.into_iter().collect())
    }

    #[test]
    fn guards_on_the_event_type_are_read() {
        assert_eq!(of(r#"{ if event.type == "a" { return 1; } }"#), Some(vec!["a".into()]));
        assert_eq!(of(r#"{ let t = event.data; if x > 1 && "a" == event.type { 1 } }"#), Some(vec!["a".into()]));
        assert_eq!(of(r#"{ if event.type == "a" || event.type == "b" { 1 } }"#), Some(vec!["a".into(), "b".into()]));
        assert_eq!(
            of(r#"{ if (event.type == "a" || event.type == "b") && event.type == "b" { 1 } }"#),
            Some(vec!["b".into()])
        );
    }

    #[test]
    fn anything_else_runs_on_every_event() {
        for body in [
            r#"{ if event.type == "a" { 1 } else { 2 } }"#,
            r#"{ if event.type != "a" { 1 } }"#,
            r#"{ if event.type == "a" || x { 1 } }"#,
            r#"{ if event.type == "a" { 1 } task("r", "t") }"#,
            r#"{ if account.is_key { 1 } }"#,
            r#"{ task("r", "t") }"#,
            r#"{ if other.type == "a" { 1 } }"#,
        ] {
            assert_eq!(of(body), None, "{body}");
        }
    }

    #[test]
    fn blocks_are_found_past_strings_and_templates() {
        let code = r#"fn f(e) { let s = "}"; let t = `${e.x}`; { 1 } } fn g() {}"#;
        assert_eq!(block_after(code, 0), Some(r#"{ let s = "}"; let t = `${e.x}`; { 1 } }"#));
    }
}
