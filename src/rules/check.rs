//! What the loader checks in each rule file beyond syntax, so mistakes show
//! up in `dealflow check` with a line and column instead of at 3 a.m.:
//!
//! * rule functions ask only for facts that exist (`event`, `deal`, ...);
//! * no function is defined twice across files, and none takes the name of
//!   a function of the rule API (it would change it for every file);
//! * nothing runs at the top level (it would never run);
//! * the names rules write (stages, roles, people, settings) exist in
//!   `config.toml` (`names.rs`).

use std::collections::HashMap;

use rhai::AST;

use super::{Fact, Rule, RuleKind};
use crate::config::Config;
use crate::error::{Located, hint, line_col};

#[allow(clippy::too_many_arguments)]
pub fn check_file(
    engine: &rhai::Engine,
    config: &Config,
    path: &str,
    text: &str,
    ast: &AST,
    rules: &mut Vec<Rule>,
    fn_files: &mut HashMap<String, String>,
    problems: &mut Vec<Located>,
) {
    for stmt in ast.statements() {
        let pos = stmt.position();
        problems.push(Located::new(
            path,
            pos.line().unwrap_or(1),
            pos.position().unwrap_or(1),
            "statements outside a function never run: put this inside a rule function",
        ));
    }

    let code = mask_comments(text);
    let mut at = |offset: usize, message: String| {
        let (line, col) = line_col(text, offset);
        problems.push(Located::new(path, line, col, message));
    };

    for f in ast.iter_functions() {
        let offset = find_fn(&code, f.name).unwrap_or(0);
        if super::api::names().contains(f.name) {
            at(
                offset,
                format!(
                    "{} is a function of the rule API: defining it here would change it for every rule file; give yours another name",
                    f.name
                ),
            );
            continue;
        }
        if let Some(other) = fn_files.get(f.name) {
            at(offset, format!("function {} is already defined in {other}", f.name));
            continue;
        }
        fn_files.insert(f.name.to_string(), path.to_string());
        let Some(kind) = RuleKind::of(f.name) else {
            continue;
        };
        let mut params = Vec::new();
        for p in &f.params {
            match Fact::of(p) {
                Some(Fact::Deal | Fact::Lead | Fact::Contact) if kind == RuleKind::Key => at(
                    offset,
                    format!(
                        "key-account rule {} asks for {p}; key-account rules get account, settings and event",
                        f.name
                    ),
                ),
                Some(fact) if !params.contains(&fact) => params.push(fact),
                Some(_) => at(offset, format!("rule {} asks for {p} twice", f.name)),
                None => {
                    let names = Fact::ALL.map(|(n, _)| n);
                    at(
                        offset,
                        format!(
                            "rule {} asks for {p:?}, which is not a fact rules get; use {}{}",
                            f.name,
                            names.join(", "),
                            hint(p, names)
                        ),
                    );
                }
            }
        }
        let doc = f
            .comments
            .iter()
            .map(|c| c.trim_start_matches("///").trim_start_matches("/**").trim_end_matches("*/").trim())
            .collect::<Vec<_>>()
            .join(" ")
            .trim()
            .to_string();
        // The body as written (when the function is found in the text: never another function's).
        let body = find_fn(&code, f.name).and_then(|at| super::dispatch::block_after(&code, at));
        let events =
            (kind == RuleKind::Task).then(|| body.and_then(|b| super::dispatch::event_types(engine, b))).flatten();
        let guard = body
            .and_then(|b| super::guard::Guard::of_body(engine, b, &f.params, &config.pipeline))
            .map(std::sync::Arc::new);
        rules.push(Rule {
            kind,
            name: f.name.to_string(),
            file: path.to_string(),
            line: line_col(text, offset).0,
            params,
            doc,
            events,
            guard,
            slot: 0,
        });
    }

    problems.extend(super::names::check(config, path, text, &code));
}

/// The text with comments blanked out (strings kept), offsets unchanged.
pub(crate) fn mask_comments(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = b.to_vec();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' | b'`' => {
                let quote = b[i];
                i += 1;
                while i < b.len() && b[i] != quote {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    out[i] = b' ';
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                    if b[i] != b'\n' {
                        out[i] = b' ';
                    }
                    i += 1;
                }
                for c in out.iter_mut().skip(i).take(2) {
                    *c = b' ';
                }
                i += 2;
            }
            _ => i += 1,
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_string())
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Offsets where the identifier `word` stands on its own.
fn word_at(code: &str, word: &str) -> Vec<usize> {
    let b = code.as_bytes();
    code.match_indices(word)
        .map(|(i, _)| i)
        .filter(|&i| (i == 0 || !is_ident(b[i - 1])) && !b.get(i + word.len()).copied().is_some_and(is_ident))
        .collect()
}

pub(crate) fn find_fn(code: &str, name: &str) -> Option<usize> {
    word_at(code, name).into_iter().find(|&i| code[..i].trim_end().ends_with("fn"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_are_masked_but_strings_kept() {
        let m = mask_comments("a // task(\"x\")\n\"// not a comment\" /* b */c");
        assert_eq!(m, "a             \n\"// not a comment\"        c");
    }
}
