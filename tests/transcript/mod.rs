//! The shell transcripts of a Markdown file, as `tests/readme.rs` runs them.
//!
//! A ` ```console ` block is a transcript: a line starting with `$ ` is a
//! command, and the lines after it, up to the next command or the end of
//! the block, are what it prints (stdout and stderr together, as a terminal
//! shows them). In an expected line `[..]` stands for any text within that
//! line: it is for what varies from run to run or machine to machine (a wall
//! clock time), never for a result. Trailing spaces and trailing empty lines
//! are not compared (tables pad their last column; editors strip it).
//!
//! A ` ```console postgres ` block is a transcript too, run only against a
//! PostgreSQL server, with `DEALFLOW_DB` naming a fresh database on it.
//!
//! A ` ```console serve ` block is a transcript run while `dealflow serve`
//! runs in the same folder (started by the test on a free loopback port
//! before the block's first command, stopped after its last one), with
//! `DEALFLOW_URL` naming it (`http://127.0.0.1:PORT`).
//!
//! Other shell blocks (` ```sh `, ` ```bash `, ` ```shell `) are shown and
//! not run; so that nothing in them reads as checked output, they may not
//! hold a line that is only a `#` comment (the old way of quoting output).
//! The lines of every other block are kept as illustrations, for checks of
//! their own (a rule problem quoted in one must be one a command printed).
//!
//! ```ignore
//! let doc = transcript::parse(&std::fs::read_to_string("README.md")?);
//! for cmd in &doc.commands { /* run cmd.text, compare with doc.expected(cmd) */ }
//! ```

use std::ops::Range;

/// One `$ ` line of a console block and where its expected output lies.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// The index of the `$ ` line in the file's lines (0-based).
    pub line: usize,
    /// The command as written after `$ `.
    pub text: String,
    /// The lines of the file quoted as its output.
    pub expected: Range<usize>,
    /// In a ` ```console postgres ` block: run against a PostgreSQL database
    /// (`DEALFLOW_DB` set to a fresh one), only where a server is there.
    pub postgres: bool,
    /// In a ` ```console serve ` block: run while `dealflow serve` runs,
    /// `DEALFLOW_URL` naming where.
    pub serve: bool,
}

/// What a Markdown file holds for the test.
#[derive(Debug, Default)]
pub struct Doc {
    /// The file's lines, without their line ends.
    pub lines: Vec<String>,
    /// Every command of every console block, in order.
    pub commands: Vec<Command>,
    /// Lines of blocks that are not run (index, text).
    pub illustrations: Vec<(usize, String)>,
    /// Transcripts the test cannot read, with their line numbers.
    pub problems: Vec<String>,
}

impl Doc {
    /// The expected lines of `cmd`, trailing spaces and empty lines dropped.
    pub fn expected(&self, cmd: &Command) -> Vec<String> {
        normalize(self.lines[cmd.expected.clone()].iter().map(String::as_str))
    }
}

/// The transcripts and illustrations of a Markdown text.
pub fn parse(text: &str) -> Doc {
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut doc = Doc { lines: lines.clone(), ..Doc::default() };
    // The info string of the block the line is in, and whether a command of it is reading its output.
    let mut block: Option<String> = None;
    let mut open = false;
    for (i, line) in lines.iter().enumerate() {
        let fence = line.trim_start().strip_prefix("```");
        match (&block, fence) {
            (None, Some(info)) => block = Some(info.trim().to_string()),
            (Some(_), Some(rest)) if rest.trim().is_empty() => {
                end_output(&mut doc, &mut open, i);
                block = None;
            }
            (Some(info), _) if matches!(info.as_str(), "console" | "console postgres" | "console serve") => {
                if let Some(cmd) = line.strip_prefix("$ ") {
                    end_output(&mut doc, &mut open, i);
                    let postgres = info == "console postgres";
                    doc.commands.push(Command {
                        line: i,
                        text: cmd.trim().to_string(),
                        expected: i + 1..i + 1,
                        postgres,
                        serve: info == "console serve",
                    });
                    open = true;
                } else if !open && !line.trim().is_empty() {
                    doc.problems.push(format!("README.md:{}: output before any `$ ` command: {line}", i + 1));
                }
            }
            (Some(info), _) if matches!(info.as_str(), "sh" | "bash" | "shell") => {
                if line.trim_start().starts_with('#') {
                    doc.problems.push(format!(
                        "README.md:{}: a ```{info} block is not run, so this line reads as output nobody checks \
                         (quote output in a ```console block, or put the remark after the command): {line}",
                        i + 1
                    ));
                }
                doc.illustrations.push((i, line.clone()));
            }
            (Some(_), _) => doc.illustrations.push((i, line.clone())),
            (None, None) => {}
        }
    }
    if block.is_some() {
        doc.problems.push("README.md: a code block is not closed".to_string());
    }
    doc
}

/// The command reading its output (if one is) ends its output before line `end`.
fn end_output(doc: &mut Doc, open: &mut bool, end: usize) {
    if let Some(cmd) = doc.commands.last_mut().filter(|_| *open) {
        cmd.expected.end = end;
    }
    *open = false;
}

/// Lines as compared: trailing spaces and trailing empty lines dropped.
pub fn normalize<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = lines.map(|l| l.trim_end().to_string()).collect();
    while out.last().is_some_and(|l| l.is_empty()) {
        out.pop();
    }
    out
}

/// Does `line` match the expected `pattern` (`[..]`: any text within the line)?
pub fn matches(pattern: &str, line: &str) -> bool {
    let parts: Vec<&str> = pattern.split("[..]").collect();
    let [first, middle @ .., last] = parts.as_slice() else { return pattern == line };
    if line.len() < first.len() + last.len() || !line.starts_with(first) || !line.ends_with(last) {
        return false;
    }
    let mut rest = &line[first.len()..line.len() - last.len()];
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// Do the expected lines match the actual ones, line for line?
pub fn all_match(expected: &[String], actual: &[String]) -> bool {
    expected.len() == actual.len() && expected.iter().zip(actual).all(|(e, a)| matches(e, a))
}

/// The expected block rewritten from `actual`: lines the old block matched
/// keep their text (and their `[..]`), the rest are taken from `actual`.
/// Lines are paired by a longest common subsequence, so a line added or
/// removed in the middle does not unpair everything after it.
pub fn rewrite(expected: &[String], actual: &[String]) -> Vec<String> {
    let (n, m) = (expected.len(), actual.len());
    // lcs[i][j]: the longest common subsequence of expected[i..] and actual[j..].
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if matches(&expected[i], &actual[j]) {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::with_capacity(m));
    while j < m {
        if i < n && matches(&expected[i], &actual[j]) && lcs[i][j] == lcs[i + 1][j + 1] + 1 {
            out.push(expected[i].clone());
            i += 1;
            j += 1;
        } else if i < n && lcs[i + 1][j] >= lcs[i][j + 1] {
            i += 1;
        } else {
            out.push(actual[j].clone());
            j += 1;
        }
    }
    out
}

/// A rule problem as `check` prints it (`rules/F.rhai:LINE:COL: message`), if `line` holds one.
pub fn rule_problem(line: &str) -> Option<&str> {
    let text = line.trim();
    let rest = text.strip_prefix("rules/")?;
    let (_, after) = rest.split_once(".rhai:")?;
    let (row, after) = after.split_once(':')?;
    let (col, after) = after.split_once(':')?;
    let numbers = [row, col].iter().all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    (numbers && after.starts_with(' ')).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(lines: &[&str]) -> Vec<String> {
        lines.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn a_console_block_is_commands_each_followed_by_its_output() {
        let doc =
            parse("text\n```console\n$ a one\nout 1\n\nout 2\n\n$ b\n$ c\nlast\n```\n```sh\nwatch  # stays\n```\n");
        let texts: Vec<&str> = doc.commands.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts, ["a one", "b", "c"]);
        assert_eq!(doc.expected(&doc.commands[0]), ["out 1", "", "out 2"]);
        assert!(doc.expected(&doc.commands[1]).is_empty());
        assert_eq!(doc.expected(&doc.commands[2]), ["last"]);
        assert_eq!(doc.illustrations, [(12, "watch  # stays".to_string())]);
        assert!(doc.problems.is_empty(), "{:?}", doc.problems);
    }

    #[test]
    fn output_quoted_in_comments_of_a_block_that_is_not_run_is_refused() {
        let doc = parse("```sh\ndealflow check\n# ok: 27 rules\n```\n");
        assert_eq!(doc.problems.len(), 1, "{:?}", doc.problems);
        assert!(doc.problems[0].starts_with("README.md:3:"), "{:?}", doc.problems);
        let doc = parse("```console\nok\n$ dealflow check\n```\n");
        assert!(doc.problems[0].starts_with("README.md:2: output before any"), "{:?}", doc.problems);
    }

    #[test]
    fn a_wildcard_stands_for_any_text_within_the_line_and_nothing_else() {
        assert!(matches("rules version abc (loaded [..])", "rules version abc (loaded 2026-12-02T16:32:19Z)"));
        assert!(matches("a[..]b[..]c", "abc"));
        assert!(matches("a[..]b[..]c", "a-b-b-c"));
        assert!(!matches("a[..]b[..]c", "a-c"));
        assert!(!matches("ab[..]ba", "aba"));
        assert!(!matches("exit 0", "exit 2"));
        assert!(matches("exit 2", "exit 2"));
        assert!(!all_match(&strings(&["x"]), &strings(&["x", "y"])));
    }

    #[test]
    fn a_rewrite_keeps_the_lines_that_still_match_and_their_wildcards() {
        let expected = strings(&["head [..]", "gone", "same", "old value"]);
        let actual = strings(&["head 2026", "new", "same", "new value", "added"]);
        assert_eq!(rewrite(&expected, &actual), ["head [..]", "new", "same", "new value", "added"]);
        assert_eq!(rewrite(&[], &actual), actual);
        assert!(rewrite(&expected, &[]).is_empty());
    }

    #[test]
    fn a_rule_problem_is_a_rules_file_a_line_a_column_and_a_message() {
        let line = "  rules/tasks_sales.rhai:27:22: unknown role \"sales_repp\"";
        assert_eq!(rule_problem(line), Some(line.trim()));
        assert_eq!(rule_problem("rules/key_accounts.rhai:18 key_by_revenue"), None);
        assert_eq!(rule_problem("see rules/x.rhai:1:2: y"), None);
    }
}
