//! Reading a rule back for a person: its source as written (in any stored
//! version), and, on given facts, the tests its body went through up to the
//! one that decided its answer, each part of each test with its values, so
//! "why isn't Acme key?" has an answer: `account.revenue_12m >=
//! settings.key_revenue_12m: 149,000 >= 150,000 → false`.
//!
//! The rule's body is read from its compiled statements: each `let` before a
//! test is evaluated (and shown), each top-level `if` (and its `else if`s) is
//! evaluated in turn with everything before it, until one is true and
//! returns. Each operand of that test's top `&&` or `||` is evaluated on its
//! own (a comparison with both sides' values, a call with its arguments'
//! values, a part in brackets with its own parts), even where Rhai would have
//! stopped early: a test that failed shows every part that failed. The text
//! shown for a part is the rule's own, as written (on one line).

use rhai::{AST, Dynamic, Expr, Scope, Stmt};
use serde::Serialize;

use super::check::{find_fn, mask_comments};
use super::dispatch::block_after;
use super::{Fact, Facts, Rule, RuleSet};

/// One part of a rule's condition and what it came to.
#[derive(Debug, Clone, Serialize)]
pub struct Condition {
    pub text: String,
    /// `lhs op rhs` with the values of both sides, when it is a comparison;
    /// `name(values)` for a call, `!value` for a negation.
    pub values: Option<String>,
    /// `true`, `false`, another value, or `error: ...`.
    pub result: String,
    /// The line of the test (`if`) it is part of, in the rule's file.
    pub line: usize,
    /// For a comparison: the operator and the value of each side.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub op: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub right: Option<String>,
    /// The parts of a part in brackets (`(a || b)`), each evaluated.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<Condition>,
}

impl Condition {
    /// Whether the part holds (`true`), fails (`false`), or is not a yes/no.
    pub fn holds(&self) -> Option<bool> {
        match self.result.as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }

    fn plain(text: String, values: Option<String>, result: String, line: usize) -> Condition {
        Condition { text, values, result, line, op: None, left: None, right: None, parts: Vec::new() }
    }
}

/// A test (`if`) the rule went through, in order.
#[derive(Debug, Clone, Serialize)]
pub struct Test {
    pub line: usize,
    pub text: String,
    pub result: String,
    /// The test was true and its body returns: it decided the rule's answer.
    pub decided: bool,
}

/// A `let` of the rule's body before its deciding test, and its value.
#[derive(Debug, Clone, Serialize)]
pub struct Local {
    pub name: String,
    pub value: String,
    pub line: usize,
}

/// What a rule's body came to on some facts, test by test.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Reading {
    pub lets: Vec<Local>,
    pub tests: Vec<Test>,
    /// The parts of every test, in order (each names its test's line).
    pub conditions: Vec<Condition>,
}

/// The function `name` as written in `text` (from `fn` to its closing brace).
pub fn function_source(text: &str, name: &str) -> Option<String> {
    let code = mask_comments(text);
    let at = find_fn(&code, name)?;
    let start = code[..at].rfind("fn")?;
    let body = block_after(&code, at)?;
    let end = code[at..].find(body)? + at + body.len();
    // Keep the doc comment above it: it says why the rule exists.
    let before = &text[..start];
    let doc_start = before
        .trim_end_matches([' ', '\t'])
        .lines()
        .rev()
        .take_while(|l| l.trim_start().starts_with("///"))
        .map(|l| l.len() + 1)
        .sum::<usize>();
    Some(text[start.saturating_sub(doc_start)..end].to_string())
}

/// The 1-based line of `fn name` in `text`.
pub fn function_line(text: &str, name: &str) -> Option<usize> {
    let code = mask_comments(text);
    find_fn(&code, name).map(|at| crate::error::line_col(text, at).0)
}

impl RuleSet {
    /// The source of a rule in this rule set.
    pub fn rule_source(&self, rule: &Rule) -> Option<String> {
        let (_, text) = self.files.iter().find(|(p, _)| *p == rule.file)?;
        function_source(text, &rule.name)
    }

    /// The parts of the tests the rule went through on `facts`, each evaluated.
    pub fn conditions(&self, rule: &Rule, facts: &Facts) -> Vec<Condition> {
        self.read(rule, facts).conditions
    }

    /// The rule's body on `facts`: its `let` values, and the tests it went
    /// through up to the one that decided, part by part (see the module documentation).
    pub fn read(&self, rule: &Rule, facts: &Facts) -> Reading {
        let mut reading = Reading::default();
        let Some((_, text)) = self.files.iter().find(|(p, _)| *p == rule.file) else { return reading };
        let code = mask_comments(text);
        let Some(body) = find_fn(&code, &rule.name).and_then(|at| block_after(&code, at)) else { return reading };
        let start = body.as_ptr() as usize - code.as_ptr() as usize + 1;
        let inner = &body[1..body.len() - 1];
        let Ok(ast) = self.engine.compile(inner) else { return reading };
        let reader = Reader { rules: self, rule, facts, inner, first_line: crate::error::line_col(&code, start).0 };
        let mut before: Vec<Stmt> = Vec::new();
        for stmt in ast.statements() {
            match stmt {
                Stmt::Var(x, _, pos) => {
                    let (ident, expr, _) = &**x;
                    let value = reader.value(&before, expr);
                    reading.lets.push(Local { name: ident.name.to_string(), value, line: reader.line(*pos) });
                }
                // Reading a test records it; the rule stops at the one that decided.
                Stmt::If(..) if reader.test(&before, stmt, &mut reading) => return reading,
                Stmt::Return(..) => return reading,
                _ => {}
            }
            before.push(stmt.clone());
        }
        reading
    }
}

/// Evaluates parts of one rule's body on one set of facts.
struct Reader<'a> {
    rules: &'a RuleSet,
    rule: &'a Rule,
    facts: &'a Facts,
    /// The body between its braces (comments masked), as compiled.
    inner: &'a str,
    /// The line of its file `inner` starts on.
    first_line: usize,
}

impl Reader<'_> {
    /// The line in the rule's file of a position in the compiled body.
    fn line(&self, pos: rhai::Position) -> usize {
        pos.line().map_or(self.first_line, |l| l + self.first_line - 1)
    }

    /// The byte offset in `inner` of a position in the compiled body.
    fn offset(&self, pos: rhai::Position) -> Option<usize> {
        let (line, col) = (pos.line()?, pos.position()?);
        let start: usize = self.inner.split_inclusive('\n').take(line - 1).map(str::len).sum();
        let text = self.inner.get(start..)?;
        Some(start + text.char_indices().nth(col - 1)?.0)
    }

    /// `expr`'s value after the statements `before`, with the facts the rule asks for.
    fn eval(&self, before: &[Stmt], expr: &Expr) -> Result<Dynamic, String> {
        let mut scope = Scope::new();
        for (name, fact) in Fact::ALL {
            if !self.rule.params.contains(&fact) {
                continue;
            }
            if let Some(v) = self.rules.fact(fact, self.facts) {
                scope.push_dynamic(name, v.clone());
            }
        }
        let stmts = before.iter().cloned().chain([Stmt::Expr(Box::new(expr.clone()))]);
        let ast = AST::new(stmts, self.rules.ast.shared_lib().clone());
        self.rules.engine.eval_ast_with_scope::<Dynamic>(&mut scope, &ast).map_err(|e| {
            let text = e.to_string();
            let text = match text.rfind(" (line ") {
                Some(i) if text.ends_with(')') => &text[..i],
                _ => &text,
            };
            format!("error: {}", text.lines().next().unwrap_or_default())
        })
    }

    fn value(&self, before: &[Stmt], expr: &Expr) -> String {
        self.eval(before, expr).map_or_else(|e| e, |v| show(&v))
    }

    /// Read the test `stmt` (an `if`) and its `else if`s; `true` when the
    /// rule's answer was decided there.
    fn test(&self, before: &[Stmt], stmt: &Stmt, reading: &mut Reading) -> bool {
        let Stmt::If(flow, pos) = stmt else { return false };
        let text = self.condition_text(*pos).unwrap_or_default();
        let result = self.value(before, &flow.expr);
        let holds = result == "true";
        let returns = |b: &rhai::StmtBlock| b.statements().iter().any(|s| matches!(s, Stmt::Return(..)));
        let decided = holds && returns(&flow.body);
        let line = self.line(*pos);
        reading.conditions.extend(self.parts(before, &text, &flow.expr, line));
        reading.tests.push(Test { line, text, result, decided });
        if holds {
            return decided;
        }
        match flow.branch.statements() {
            [] => false,
            [next @ Stmt::If(..)] => self.test(before, next, reading),
            // An `else` of its own: the answer comes from there.
            _ => true,
        }
    }

    /// The text of the condition of the `if` at `pos`, on one line.
    fn condition_text(&self, pos: rhai::Position) -> Option<String> {
        let at = self.offset(pos)?;
        let rest = self.inner.get(at..)?.strip_prefix("if")?;
        let open = top_level(rest).into_iter().find(|&i| rest.as_bytes()[i] == b'{')?;
        Some(one_line(&rest[..open]))
    }

    /// The operands of `expr`'s top `&&` or `||`, each evaluated.
    fn parts(&self, before: &[Stmt], text: &str, expr: &Expr, line: usize) -> Vec<Condition> {
        let (op, operands): (&str, &[Expr]) = match expr {
            Expr::And(xs, _) => ("&&", xs),
            Expr::Or(xs, _) => ("||", xs),
            _ => ("", std::slice::from_ref(expr)),
        };
        let texts: Vec<String> = if op.is_empty() {
            vec![text.to_string()]
        } else {
            split_top(text, &[op]).into_iter().map(|t| t.trim().to_string()).collect()
        };
        if texts.len() != operands.len() {
            // The text does not split as the code does: the whole, evaluated as one.
            let result = self.value(before, expr);
            return vec![Condition::plain(text.to_string(), None, result, line)];
        }
        texts.into_iter().zip(operands).map(|(t, x)| self.part(before, t, x, line)).collect()
    }

    fn part(&self, before: &[Stmt], text: String, expr: &Expr, line: usize) -> Condition {
        let result = self.value(before, expr);
        if matches!(expr, Expr::And(..) | Expr::Or(..))
            && let Some(inner) = in_brackets(&text)
        {
            let parts = self.parts(before, inner, expr, line);
            return Condition { parts, ..Condition::plain(text, None, result, line) };
        }
        let Expr::FnCall(f, _) = expr else { return Condition::plain(text, None, result, line) };
        let args: Vec<String> = f.args.iter().map(|a| self.value(before, a)).collect();
        match (f.op_token.is_some(), f.name.as_str(), args.as_slice()) {
            (true, op @ ("==" | "!=" | ">=" | "<=" | ">" | "<"), [l, r]) => Condition {
                op: Some(op.to_string()),
                left: Some(l.clone()),
                right: Some(r.clone()),
                ..Condition::plain(text, Some(format!("{l} {op} {r}")), result, line)
            },
            (true, "!", [v]) => Condition::plain(text, Some(format!("!{v}")), result, line),
            (false, name, _) if f.namespace.is_empty() && !args.is_empty() => {
                Condition::plain(text, Some(format!("{name}({})", args.join(", "))), result, line)
            }
            _ => Condition::plain(text, None, result, line),
        }
    }
}

/// Code as one line: its runs of white space (line ends too) as one space.
fn one_line(code: &str) -> String {
    code.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What is inside `(...)` when the brackets hold the whole of `text`.
fn in_brackets(text: &str) -> Option<&str> {
    let inner = text.strip_prefix('(')?.strip_suffix(')')?;
    // `(a) && (b)` is not one group: the inside must balance on its own.
    let mut depth = 0_i32;
    for c in inner.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
        if depth < 0 {
            return None;
        }
    }
    (depth == 0).then_some(inner.trim())
}

/// A value as a person reads it: whole amounts with thousands separators.
fn show(v: &Dynamic) -> String {
    if let Ok(f) = v.as_float() {
        if f.fract() == 0.0 && f.abs() >= 1000.0 { super::money(f) } else { f.to_string() }
    } else if let Ok(i) = v.as_int() {
        if i.abs() >= 1000 { super::money(i as f64) } else { i.to_string() }
    } else if v.is_string() {
        format!("{:?}", v.to_string())
    } else {
        v.to_string()
    }
}

/// Byte offsets of `text` outside strings and brackets, in order.
fn top_level(text: &str) -> Vec<usize> {
    let (mut depth, mut quote, mut out) = (0_i32, None::<char>, Vec::new());
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '`') => quote = Some(c),
            (None, '(' | '[') => depth += 1,
            (None, ')' | ']') => depth -= 1,
            _ if depth == 0 => out.push(i),
            _ => {}
        }
    }
    out
}

/// Split `text` on any of `ops` outside parentheses and strings (`>` never
/// splits `>=`, `=` never splits `==`).
fn split_top(text: &str, ops: &[&str]) -> Vec<String> {
    let b = text.as_bytes();
    let (mut parts, mut start, mut skip_to) = (Vec::new(), 0, 0);
    for i in top_level(text) {
        if i < skip_to {
            continue;
        }
        let Some(op) = ops.iter().find(|op| text[i..].starts_with(**op)) else { continue };
        let longer = ["==", "!=", ">=", "<="].iter().any(|l| l.len() > op.len() && text[i..].starts_with(l))
            || (op.len() == 1 && i > 0 && matches!(b[i - 1], b'=' | b'!' | b'<' | b'>'));
        if !longer {
            parts.push(text[start..i].to_string());
            start = i + op.len();
            skip_to = start;
        }
    }
    parts.push(text[start..].to_string());
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_rule_with_its_comment_and_its_condition() {
        let text = "// header\n\n/// Big customers.\nfn key_big(account, settings) {\n    if account.revenue >= settings.min && (a || b) { return key(\"x\"); }\n}\nfn other() {}\n";
        let src = function_source(text, "key_big").unwrap();
        assert!(src.starts_with("/// Big customers.\nfn key_big(") && src.ends_with('}'), "{src}");
        assert_eq!(split_top("x >= 1 && (a || b)", &["&&", "||"]), ["x >= 1 ", " (a || b)"]);
        assert_eq!(split_top("x >= 1", &[">"]), ["x >= 1"]);
        assert_eq!(split_top("x >= 1", &[">="]), ["x ", " 1"]);
    }
}
