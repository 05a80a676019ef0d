//! What the loader checks in each rule file beyond syntax, so mistakes show
//! up in `dealflow check` with a line and column instead of at 3 a.m.:
//!
//! * rule functions ask only for facts that exist (`event`, `deal`, ...);
//! * no function is defined twice across files, and none takes the name of
//!   a function of the rule API (it would change it for every file);
//! * nothing runs at the top level (it would never run);
//! * literal roles in `task("…")` / `handover("…")`, stages in
//!   `move_to("…")` and `settings.NAME` exist in `config.toml`.

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

    let roles: Vec<&str> = config.roles.keys().map(String::as_str).collect();
    let stages: Vec<&str> = config.pipeline.stages.iter().map(String::as_str).collect();
    for (call, what, known) in [("task", "role", &roles), ("handover", "role", &roles), ("move_to", "stage", &stages)] {
        for (offset, literal) in literal_args(&code, call) {
            if !known.contains(&literal.as_str()) {
                let list = if what == "role" { "[roles] of config.toml" } else { "pipeline.stages of config.toml" };
                at(
                    offset,
                    format!("unknown {what} {literal:?}: not in {list}{}", hint(&literal, known.iter().copied())),
                );
            }
        }
    }
    for (offset, call, name) in stage_helper_literals(&code) {
        if config.pipeline.resolve(&name).is_none() {
            at(
                offset,
                format!(
                    "unknown stage {name:?} in {call}(): neither a part in [pipeline.parts] nor a stage of pipeline.stages of config.toml{}",
                    match crate::error::did_you_mean(&name, config.pipeline.names()) {
                        Some(near) => format!(" (did you mean {near:?}?)"),
                        None => format!(" (to give it a stage: {name} = \"your stage\" under [pipeline.parts])"),
                    }
                ),
            );
        }
    }
    let settings: Vec<&str> = config.settings.keys().map(String::as_str).collect();
    for (offset, name) in field_uses(&code, "settings") {
        if !config.settings.contains_key(&name) {
            at(
                offset,
                format!(
                    "unknown setting {name:?}: add it to [settings] in config.toml{}",
                    hint(&name, settings.iter().copied())
                ),
            );
        }
    }
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

/// `call("literal"` occurrences: the literal's offset and text.
fn literal_args(code: &str, call: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for i in word_at(code, call) {
        let rest = &code[i + call.len()..];
        let Some(after_paren) = rest.trim_start().strip_prefix('(') else {
            continue;
        };
        let arg = after_paren.trim_start();
        let Some(body) = arg.strip_prefix('"') else {
            continue;
        };
        let Some(end) = body.find('"') else { continue };
        let offset = code.len() - arg.len() + 1;
        found.push((offset, body[..end].to_string()));
    }
    found
}

/// The rule API's stage helpers: each argument written as a text literal names a part or a stage.
const STAGE_HELPERS: [&str; 7] = ["stage", "at_or_after", "before", "is_open", "is_won", "is_lost", "is_closed"];

/// Text literals passed whole to a stage helper (`stage("x")`,
/// `at_or_after(deal.stage, "x")`): the literal's offset, the helper, the text.
fn stage_helper_literals(code: &str) -> Vec<(usize, &'static str, String)> {
    let b = code.as_bytes();
    let mut found = Vec::new();
    for call in STAGE_HELPERS {
        for i in word_at(code, call) {
            let mut j = i + call.len();
            while b.get(j).is_some_and(u8::is_ascii_whitespace) {
                j += 1;
            }
            if b.get(j) != Some(&b'(') {
                continue;
            }
            j += 1;
            let (mut depth, mut start) = (0_usize, j);
            let mut arg = |from: usize, to: usize| {
                let text = &code[from..to];
                let trimmed = text.trim_start();
                let lit = trimmed.trim_end();
                if lit.len() >= 2
                    && lit.starts_with('"')
                    && lit.ends_with('"')
                    && !lit[1..lit.len() - 1].contains(['"', '\\'])
                {
                    found.push((
                        to - text.len() + (text.len() - trimmed.len()) + 1,
                        call,
                        lit[1..lit.len() - 1].to_string(),
                    ));
                }
            };
            while j < b.len() {
                match b[j] {
                    q @ (b'"' | b'`') => {
                        j += 1;
                        while j < b.len() && b[j] != q {
                            j += if b[j] == b'\\' { 2 } else { 1 };
                        }
                    }
                    b'(' | b'[' | b'{' => depth += 1,
                    b')' | b']' | b'}' if depth == 0 => {
                        arg(start, j);
                        break;
                    }
                    b')' | b']' | b'}' => depth -= 1,
                    b',' if depth == 0 => {
                        arg(start, j);
                        start = j + 1;
                    }
                    _ => {}
                }
                j += 1;
            }
        }
    }
    found.sort();
    found
}

/// `object.field` uses: the field's offset and name.
fn field_uses(code: &str, object: &str) -> Vec<(usize, String)> {
    let b = code.as_bytes();
    word_at(code, object)
        .into_iter()
        .filter(|&i| b.get(i + object.len()) == Some(&b'.'))
        .filter_map(|i| {
            let start = i + object.len() + 1;
            let len = b[start..].iter().take_while(|c| is_ident(**c)).count();
            (len > 0).then(|| (start, code[start..start + len].to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_are_masked_but_strings_kept() {
        let m = mask_comments("a // task(\"x\")\n\"// not a comment\" /* b */c");
        assert_eq!(m, "a             \n\"// not a comment\"        c");
    }

    #[test]
    fn finds_the_text_literals_given_to_stage_helpers() {
        let code = r#"if at_or_after(deal.stage, "negotiation") && before( stage("x"), "a,b" ) && is_won(f("y")) && stage(`z`) {}"#;
        let got: Vec<(usize, &str, String)> = stage_helper_literals(code);
        let want = [(28, "at_or_after", "negotiation"), (60, "stage", "x"), (66, "before", "a,b")];
        assert_eq!(got, want.map(|(o, c, s)| (o, c, s.to_string())));
        assert_eq!(&code[28..39], "negotiation");
    }

    #[test]
    fn finds_literal_arguments_and_fields() {
        let code = "let t = task( \"sales_rep\", \"x\"); mytask(\"no\"); settings.max_days + settings .x";
        assert_eq!(literal_args(code, "task"), vec![(15, "sales_rep".to_string())]);
        assert_eq!(field_uses(code, "settings"), vec![(56, "max_days".to_string())]);
    }
}
