//! Reading a rule back for a person: its source as written (in any stored
//! version), and the value of each part of its condition on given facts, so
//! "why isn't Acme key?" has an answer: `account.revenue_12m >=
//! settings.key_revenue_12m: 149,000 >= 150,000 → false`.

use rhai::{Dynamic, Scope};
use serde::Serialize;

use super::check::{find_fn, mask_comments};
use super::dispatch::block_after;
use super::{Fact, Facts, Rule, RuleSet};

/// One part of a rule's condition and what it came to.
#[derive(Debug, Clone, Serialize)]
pub struct Condition {
    pub text: String,
    /// `lhs op rhs` with the values of both sides, when it is a comparison.
    pub values: Option<String>,
    pub result: String,
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

    /// The parts of the rule's first `if` condition, each evaluated on `facts`.
    pub fn conditions(&self, rule: &Rule, facts: &Facts) -> Vec<Condition> {
        let Some(source) = self.rule_source(rule) else { return Vec::new() };
        let Some(condition) = first_condition(&source) else { return Vec::new() };
        let mut scope = Scope::new();
        for (name, fact) in Fact::ALL {
            let value = match fact {
                Fact::Event => Some(facts.event.clone()),
                Fact::Deal => facts.deal.clone(),
                Fact::Account => facts.account.clone(),
                Fact::Lead => facts.lead.clone(),
                Fact::Contact => facts.contact.clone(),
                Fact::Settings => Some(self.settings.clone()),
            };
            if let Some(v) = value {
                scope.push_dynamic(name, v);
            }
        }
        let eval = |scope: &mut Scope, text: &str| -> String {
            match self.engine.eval_expression_with_scope::<Dynamic>(scope, text) {
                Ok(v) => show(&v),
                Err(e) => format!("error: {}", e.to_string().lines().next().unwrap_or_default()),
            }
        };
        split_top(&condition, &["&&", "||"])
            .into_iter()
            .map(|part| {
                let part = part.trim().to_string();
                let values = ["==", "!=", ">=", "<=", ">", "<"].iter().find_map(|op| {
                    let sides = split_top(&part, &[op]);
                    (sides.len() == 2).then(|| {
                        format!("{} {op} {}", eval(&mut scope, sides[0].trim()), eval(&mut scope, sides[1].trim()))
                    })
                });
                let result = eval(&mut scope, &part);
                Condition { text: part, values, result }
            })
            .collect()
    }
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

/// The condition of the first `if` in a function's source.
fn first_condition(source: &str) -> Option<String> {
    let code = mask_comments(source);
    let body_start = code.find('{')?;
    let if_at = code[body_start..].match_indices("if").map(|(i, _)| i + body_start).find(|&i| {
        let b = code.as_bytes();
        (i == 0 || !b[i - 1].is_ascii_alphanumeric() && b[i - 1] != b'_')
            && b.get(i + 2).is_some_and(|c| c.is_ascii_whitespace() || *c == b'(')
    })?;
    let rest = &code[if_at + 2..];
    let open = top_level(rest).into_iter().find(|&i| rest.as_bytes()[i] == b'{')?;
    Some(source[if_at + 2..if_at + 2 + open].trim().to_string())
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
        assert_eq!(first_condition(&src).unwrap(), "account.revenue >= settings.min && (a || b)");
        assert_eq!(split_top("x >= 1 && (a || b)", &["&&", "||"]), ["x >= 1 ", " (a || b)"]);
        assert_eq!(split_top("x >= 1", &[">"]), ["x >= 1"]);
        assert_eq!(split_top("x >= 1", &[">="]), ["x ", " 1"]);
    }
}
