//! Printing: aligned tables for people, JSON for scripts.

use comfy_table::{ContentArrangement, LineStyle, Table, TableStyle};
use serde::Serialize;

/// Columns aligned, one rule under the header, nothing else to read past.
const STYLE: TableStyle = TableStyle::new().header_separator(LineStyle::none().fill('─').junction('─'));

pub fn table(header: &[&str]) -> Shown {
    let mut t = Table::new();
    t.load_style(STYLE).set_content_arrangement(ContentArrangement::Dynamic).set_header(header.to_vec());
    Shown(t)
}

/// A table whose cells hold what events said: names, titles, reasons. It
/// prints with control and bidi characters escaped, so a name carrying
/// `ESC[2J` or a right-to-left override cannot clear or reorder the terminal.
pub struct Shown(Table);

impl std::ops::Deref for Shown {
    type Target = Table;
    fn deref(&self) -> &Table {
        &self.0
    }
}

impl std::ops::DerefMut for Shown {
    fn deref_mut(&mut self) -> &mut Table {
        &mut self.0
    }
}

impl std::fmt::Display for Shown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&printable(&self.0.to_string()))
    }
}

/// `text` with every control and bidi character but the line end written as
/// its `\u{..}` escape.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '"' | '\\' | '\'' => out.push(c),
            c if c.escape_debug().len() > 1 => out.extend(c.escape_debug()),
            c => out.push(c),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_escape_what_a_terminal_would_obey() {
        let mut t = table(&["NAME"]);
        t.add_row(vec!["\u{1b}[2Jred\u{7}\u{202e}txt.exe \0 café 😀 'q' \"d\""]);
        let shown = t.to_string();
        assert!(shown.contains(r#"\u{1b}[2Jred\u{7}\u{202e}txt.exe \0 café 😀 'q' "d""#), "{shown}");
        assert!(!shown.chars().any(|c| c.is_control() && c != '\n'), "{shown:?}");
    }
}
