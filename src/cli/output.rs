//! Printing: aligned tables for people, JSON for scripts, and the one escape
//! every printed piece of untrusted text goes through.
//!
//! What events, file names, rule reasons and error messages say is shown,
//! never obeyed: a control character (a line end too) or a bidi override is
//! written as its `\u{..}` escape, so a name cannot forge a log line, clear
//! the screen, colour the terminal or reorder what is read. A record printed
//! on one line escapes its values with [`printable`]; a block printed as
//! lines (a rule's source, an error with its context) goes through
//! [`printable_lines`]. JSON needs neither: serde escapes it.

use comfy_table::{ContentArrangement, LineStyle, Table, TableStyle};
use serde::Serialize;

/// Columns aligned, one rule under the header, nothing else to read past.
const STYLE: TableStyle = TableStyle::new().header_separator(LineStyle::none().fill('─').junction('─'));

pub fn table(header: &[&str]) -> Shown {
    let mut t = Table::new();
    t.load_style(STYLE).set_content_arrangement(ContentArrangement::Dynamic).set_header(header.to_vec());
    Shown(t)
}

/// A table whose cells hold what events said: names, titles, reasons. Each
/// cell is escaped as it is added ([`Shown::add_row`]), so a name carrying a
/// line end stays on its row and `ESC[2J` cannot clear the terminal.
pub struct Shown(Table);

impl Shown {
    /// Add a row, each cell escaped with [`printable`].
    pub fn add_row<S: AsRef<str>>(&mut self, cells: impl IntoIterator<Item = S>) -> &mut Self {
        self.0.add_row(cells.into_iter().map(|c| printable(c.as_ref())).collect::<Vec<_>>());
        self
    }
}

impl std::ops::Deref for Shown {
    type Target = Table;
    fn deref(&self) -> &Table {
        &self.0
    }
}

impl std::fmt::Display for Shown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Whether a terminal would act on `c` rather than show it: the control
/// characters (C0 with the line ends and tab, DEL, C1), the bidi controls,
/// and the Unicode line and paragraph separators.
fn obeyed(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        || matches!(c, '\u{2028}' | '\u{2029}')
}

/// `text` as one line of output: every character a terminal would obey
/// written as its escape (`\n`, `\t`, `\0`, `\u{1b}`, `\u{202e}`); all else,
/// accents, emoji and quotes included, as it is.
pub fn printable(text: &str) -> String {
    escaped(text, |_| false)
}

/// `text` as lines of output, a block as its author laid it out (a rule's
/// source, an error with its context): as [`printable`] makes it, but with
/// its line ends and tabs kept. A lone `\r` is escaped: it cannot overwrite a line.
pub fn printable_lines(text: &str) -> String {
    escaped(text, |c| c == '\n' || c == '\t')
}

fn escaped(text: &str, kept: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if obeyed(c) && !kept(c) {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

pub fn json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

pub fn or_dash(s: Option<&str>) -> String {
    s.filter(|s| !s.is_empty()).unwrap_or("-").to_string()
}

/// `value` (a JSON object: a task, a deal, an account) with the people it
/// names as scripts read them: each of `fields` that holds a stored person
/// (a key) holds their name, as it always has, and `FIELD_id` beside it
/// holds their id when config.toml gives them one (two people of the same
/// name differ there). A person not on the team is left as stored.
pub fn with_people(config: &dealflow::config::Config, value: serde_json::Value, fields: &[&str]) -> serde_json::Value {
    let serde_json::Value::Object(map) = value else { return value };
    let mut out = serde_json::Map::with_capacity(map.len() + fields.len());
    for (k, v) in map {
        let person = fields.contains(&k.as_str()).then(|| v.as_str().and_then(|s| config.find_person(s))).flatten();
        match person {
            Some(p) => {
                out.insert(k.clone(), serde_json::Value::String(p.name.clone()));
                if let Some(id) = &p.id {
                    out.insert(format!("{k}_id"), serde_json::Value::String(id.clone()));
                }
            }
            None => {
                out.insert(k, v);
            }
        }
    }
    serde_json::Value::Object(out)
}

/// [`with_people`] for tasks: who it is assigned to, who claimed it, whose claim ran out.
pub fn task_json(config: &dealflow::config::Config, task: &dealflow::model::Task) -> serde_json::Value {
    let value = serde_json::to_value(task).unwrap_or_default();
    with_people(config, value, &["assignee", "claimed_by", "released_from"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_escape_what_a_terminal_would_obey() {
        let mut t = table(&["NAME", "NEXT"]);
        t.add_row(["\u{1b}[2Jred\u{7}\u{202e}txt.exe \0 café 😀 'q' \"d\"", "x"]);
        t.add_row(["two\nlines\r\tand a tab", "y"]);
        let shown = t.to_string();
        assert!(shown.contains(r#"\u{1b}[2Jred\u{7}\u{202e}txt.exe \0 café 😀 'q' "d""#), "{shown}");
        assert!(shown.contains(r"two\nlines\r\tand a tab"), "{shown}");
        assert!(!shown.chars().any(|c| c.is_control() && c != '\n'), "{shown:?}");
        assert_eq!(shown.lines().count(), 4, "a header, its rule and one line per row:\n{shown}");
    }

    #[test]
    fn one_line_escapes_line_ends_and_lines_keep_them() {
        let text = "first\u{1b}[31m\nsecond\r\u{2028}third\u{85}\tend";
        assert_eq!(printable(text), r"first\u{1b}[31m\nsecond\r\u{2028}third\u{85}\tend");
        assert_eq!(printable_lines(text), "first\\u{1b}[31m\nsecond\\r\\u{2028}third\\u{85}\tend");
        // Decomposed accents, joined emoji and right-to-left script are text, not controls.
        let plain = "Jose\u{301} 👩\u{200d}💻 שלום";
        assert_eq!(printable(plain), plain);
    }
}
