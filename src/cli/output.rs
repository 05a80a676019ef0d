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
//!
//! # Width
//!
//! Tables and the text around them fit the width of the screen they are
//! read on ([`width`]): the `COLUMNS` environment variable when it holds a
//! positive number (so `COLUMNS=80 dealflow tasks | less` is laid out for 80
//! columns); else, when standard output is a terminal, that terminal's
//! width; else (a pipe, a file) no limit: every row on one line, nothing
//! shortened, for `grep` and `cut`. `--json` is never shortened.
//!
//! A table that is too wide gives up, in this order: the space of its
//! text columns down to their minimum (a title or a reason cut after a
//! whole word and ending in `…`; a wrapped column breaks between words);
//! then the columns least worth their room, one by one, in the order each
//! command names; then, when what is left still does not fit, its layout:
//! each row becomes a block, its first cells on one line and each other
//! cell on a line of its own under it, wrapped between words. A word, a
//! date, an id, a name or a `file:line` is never split across lines, and a
//! column of such values ([`Shown::whole`]) is never shortened (only a
//! single word wider than the whole screen is, with `…`).

use std::io::IsTerminal;

use serde::Serialize;
use unicode_width::UnicodeWidthStr;

/// The width output is laid out for; `None`: no limit. See the module documentation.
pub fn width() -> Option<usize> {
    static WIDTH: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    *WIDTH.get_or_init(|| {
        width_from(std::env::var("COLUMNS").ok().as_deref(), || {
            let out = std::io::stdout();
            if !out.is_terminal() {
                return None;
            }
            terminal_size::terminal_size_of(&out).map(|(w, _)| usize::from(w.0)).filter(|w| *w > 0)
        })
    })
}

fn width_from(columns: Option<&str>, terminal: impl FnOnce() -> Option<usize>) -> Option<usize> {
    match columns.and_then(|c| c.trim().parse::<usize>().ok()).filter(|w| *w > 0) {
        Some(w) => Some(w),
        None => terminal(),
    }
}

/// How a column's cells may be fitted to the width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fit {
    /// Never shortened (ids, dates, amounts, stages, `file:line`).
    Whole,
    /// Cut after a whole word, ending in `…` (titles, names, reasons).
    Cut,
    /// Wrapped between words onto more lines.
    Wrap,
}

#[derive(Debug, Clone)]
struct Column {
    header: String,
    fit: Fit,
    /// The narrowest a `Cut` or `Wrap` column gets before columns are dropped.
    min: usize,
    /// Dropped when the table does not fit: lower first; `None`: kept.
    drop: Option<usize>,
}

/// The narrowest a text column is made before other columns are dropped.
const TEXT_MIN: usize = 12;
/// Space around each cell: one column on each side.
const PAD: usize = 2;

pub fn table(header: &[&str]) -> Shown {
    let columns =
        header.iter().map(|h| Column { header: h.to_string(), fit: Fit::Cut, min: TEXT_MIN, drop: None }).collect();
    Shown { columns, rows: Vec::new(), width: width() }
}

/// A table whose cells hold what events said: names, titles, reasons. Each
/// cell is escaped as it is added ([`Shown::add_row`]), so a name carrying a
/// line end stays on its row and `ESC[2J` cannot clear the terminal. It is
/// laid out, when printed, for [`width`] (see the module documentation).
pub struct Shown {
    columns: Vec<Column>,
    rows: Vec<Vec<String>>,
    width: Option<usize>,
}

impl Shown {
    /// Add a row, each cell escaped with [`printable`].
    pub fn add_row<S: AsRef<str>>(&mut self, cells: impl IntoIterator<Item = S>) -> &mut Self {
        let mut row: Vec<String> = cells.into_iter().map(|c| printable(c.as_ref())).collect();
        row.resize(self.columns.len(), String::new());
        self.rows.push(row);
        self
    }

    fn each(&mut self, headers: &[&str], f: impl Fn(usize, &mut Column)) -> &mut Self {
        for (i, h) in headers.iter().enumerate() {
            match self.columns.iter_mut().find(|c| c.header == *h) {
                Some(c) => f(i, c),
                None => debug_assert!(false, "no column {h}"),
            }
        }
        self
    }

    /// These columns are never shortened: ids, dates, amounts, `file:line`.
    pub fn whole(&mut self, headers: &[&str]) -> &mut Self {
        self.each(headers, |_, c| c.fit = Fit::Whole)
    }

    /// These columns wrap between words onto more lines rather than being cut.
    pub fn wrap(&mut self, headers: &[&str]) -> &mut Self {
        self.each(headers, |_, c| c.fit = Fit::Wrap)
    }

    /// The narrowest `header` gets before other columns are dropped.
    pub fn min(&mut self, header: &str, min: usize) -> &mut Self {
        self.each(&[header], |_, c| c.min = min)
    }

    /// When the table is too wide, these columns go, the first first.
    pub fn drop_first(&mut self, headers: &[&str]) -> &mut Self {
        self.each(headers, |i, c| c.drop = Some(i))
    }

    /// Lay the table out for `width` columns instead of the screen's.
    #[cfg(test)]
    fn for_width(&mut self, width: Option<usize>) -> &mut Self {
        self.width = width;
        self
    }

    /// The natural width of each column: its widest cell or header.
    fn natural(&self) -> Vec<usize> {
        self.columns
            .iter()
            .enumerate()
            .map(|(i, c)| self.rows.iter().map(|r| r[i].width()).chain([c.header.width()]).max().unwrap_or(0))
            .collect()
    }

    /// The narrowest each column may be: whole columns and wrapped words stay
    /// whole; a cut column gets its minimum (`comfortable`) or, when that is
    /// 20 or more (a title, not a name), two thirds of it.
    fn minimum(&self, natural: &[usize], comfortable: bool) -> Vec<usize> {
        self.columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let min = if comfortable || c.min < 20 { c.min } else { c.min * 2 / 3 };
                match c.fit {
                    Fit::Whole => natural[i],
                    Fit::Cut => min.max(c.header.width()).min(natural[i]),
                    Fit::Wrap => {
                        let longest = self.rows.iter().flat_map(|r| r[i].split(' ')).map(|w| w.width()).max();
                        min.max(c.header.width()).max(longest.unwrap_or(0)).min(natural[i])
                    }
                }
            })
            .collect()
    }

    /// The columns shown and their widths, or `None` when none fits the width.
    fn layout(&self) -> Option<(Vec<usize>, Vec<usize>)> {
        let natural = self.natural();
        let mut shown: Vec<usize> = (0..self.columns.len()).collect();
        let Some(limit) = self.width else { return Some((shown, natural)) };
        let total = |cols: &[usize], w: &[usize]| cols.iter().map(|&i| w[i] + PAD).sum::<usize>();
        if total(&shown, &natural) <= limit {
            return Some((shown, natural));
        }
        // Columns go while the text columns would be narrower than their minimum;
        // when even then they are, the text columns give up a third of it.
        let mut min = self.minimum(&natural, true);
        let mut order: Vec<usize> = shown.iter().copied().filter(|&i| self.columns[i].drop.is_some()).collect();
        order.sort_by_key(|&i| self.columns[i].drop);
        let mut order = order.into_iter();
        while total(&shown, &min) > limit {
            match order.next() {
                Some(gone) => shown.retain(|&i| i != gone),
                None => {
                    min = self.minimum(&natural, false);
                    if total(&shown, &min) > limit {
                        return None;
                    }
                }
            }
        }
        // Room left over goes to the text columns, in proportion to what they still need.
        let mut w = min.clone();
        let spare = limit - total(&shown, &w);
        let need: Vec<usize> = shown.iter().map(|&i| natural[i] - w[i]).collect();
        let all: usize = need.iter().sum();
        if all > 0 {
            let mut left = spare.min(all);
            for (n, &i) in shown.iter().enumerate() {
                let add = (spare.min(all) * need[n] / all).min(left);
                w[i] += add;
                left -= add;
            }
            // What rounding left, to the first that still needs it.
            for &i in &shown {
                let add = left.min(natural[i] - w[i]);
                w[i] += add;
                left -= add;
            }
        }
        (total(&shown, &w) <= limit).then_some((shown, w))
    }

    fn render(&self) -> String {
        let Some((shown, widths)) = self.layout() else { return self.blocks() };
        // A table that fits as it is keeps a third space between its columns; a fitted one, two.
        let natural = self.natural();
        let room: usize = shown.iter().map(|&i| natural[i] + PAD + 1).sum::<usize>() - 1;
        let sep = usize::from(widths == natural && self.width.is_none_or(|w| room <= w));
        let mut out = String::new();
        let line = |cells: Vec<Vec<String>>, out: &mut String| {
            let height = cells.iter().map(Vec::len).max().unwrap_or(1).max(1);
            for k in 0..height {
                let mut text = String::new();
                for (n, &i) in shown.iter().enumerate() {
                    let cell = cells[n].get(k).map(String::as_str).unwrap_or("");
                    text.push(' ');
                    text.push_str(cell);
                    text.extend(std::iter::repeat_n(' ', widths[i].saturating_sub(cell.width()) + 1 + sep));
                }
                out.push_str(text.trim_end());
                out.push('\n');
            }
        };
        let header = shown.iter().map(|&i| vec![self.columns[i].header.clone()]).collect();
        line(header, &mut out);
        let rule: usize = shown.iter().map(|&i| widths[i] + PAD + sep).sum::<usize>() - sep;
        out.push_str(&"─".repeat(rule));
        out.push('\n');
        for row in &self.rows {
            let cells = shown
                .iter()
                .map(|&i| {
                    let w = widths[i];
                    let lines = match self.columns[i].fit {
                        _ if row[i].width() <= w => vec![row[i].clone()],
                        Fit::Wrap => wrap(&row[i], w),
                        Fit::Cut | Fit::Whole => vec![cut(&row[i], w)],
                    };
                    lines.into_iter().map(unglued).collect()
                })
                .collect();
            line(cells, &mut out);
        }
        out.pop();
        out
    }

    /// The rows as blocks, for a width no table layout fits: the first two
    /// cells on one line, each other cell not empty on a line of its own
    /// under them, after its header.
    fn blocks(&self) -> String {
        let limit = self.width.unwrap_or(usize::MAX);
        let mut out = Vec::new();
        for row in &self.rows {
            let head: Vec<&str> = row.iter().take(2).map(String::as_str).filter(|c| !c.is_empty()).collect();
            out.extend(wrap_indented(&head.join("  "), limit, " ", "     "));
            // Short whole values (an id, a version) share one line; the others have one each.
            let rest = self.columns.iter().zip(row).skip(2).filter(|(_, cell)| !cell.is_empty());
            let (whole, text): (Vec<_>, Vec<_>) = rest.partition(|(c, _)| c.fit == Fit::Whole);
            let whole: Vec<String> =
                whole.iter().map(|(c, cell)| format!("{}: {cell}", c.header.to_lowercase())).collect();
            for (c, cell) in text {
                let label = format!("     {}: ", c.header.to_lowercase());
                out.extend(wrap_indented(cell, limit, &label, "       "));
            }
            // Each `label: value` whole, two spaces apart, as many on a line as fit.
            let mut line = String::new();
            for item in whole {
                if !line.is_empty() && 5 + line.width() + 2 + item.width() > limit {
                    out.push(format!("     {}", cut(&std::mem::take(&mut line), limit.saturating_sub(5).max(2))));
                }
                if !line.is_empty() {
                    line.push_str("  ");
                }
                line.push_str(&item);
            }
            if !line.is_empty() {
                out.push(format!("     {}", cut(&line, limit.saturating_sub(5).max(2))));
            }
        }
        out.into_iter().map(unglued).collect::<Vec<_>>().join("\n")
    }
}

impl std::fmt::Display for Shown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render())
    }
}

/// A space that keeps the words on each side of it on one line; printed as a space.
const GLUE: char = '\u{a0}';

/// `text` with each of `phrases` (people's names) kept on one line when it
/// is wrapped or cut: their spaces become [`GLUE`].
pub fn glue(text: &str, phrases: &[String]) -> String {
    let mut out = text.to_string();
    for p in phrases.iter().filter(|p| p.contains(' ')) {
        out = out.replace(p.as_str(), &p.replace(' ', &GLUE.to_string()));
    }
    out
}

/// A line as printed: glued spaces are spaces again.
fn unglued(line: String) -> String {
    if line.contains(GLUE) { line.replace(GLUE, " ") } else { line }
}

/// How many columns `text` takes on a screen.
pub fn shown_width(text: &str) -> usize {
    text.width()
}

/// `text` cut to at most `width` columns after a whole word, ending in `…`
/// (and without the punctuation the cut left at its end). A first word
/// wider than `width` is the one thing cut inside a word.
pub fn cut(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_string();
    }
    let room = width.saturating_sub(1);
    let mut best = None;
    for (at, _) in text.match_indices(' ') {
        let head = text[..at].trim_end_matches([' ', ',', ';', ':', '-', '–', '—', '(', '/']);
        if head.is_empty() {
            continue;
        }
        if head.width() > room {
            break;
        }
        best = Some(head);
    }
    match best {
        Some(head) => format!("{head}…"),
        None => {
            let mut head = String::new();
            for c in text.chars() {
                head.push(c);
                if head.width() > room {
                    head.pop();
                    break;
                }
            }
            format!("{head}…")
        }
    }
}

/// `text` in lines of at most `width` columns, broken between words.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    wrap_indented(text, width, "", "")
}

/// `text` in lines of at most `width` columns, broken between words, the
/// first line after `first`, the others after `rest` (a hanging indent).
pub fn wrap_indented(text: &str, width: usize, first: &str, rest: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = first.to_string();
    let mut empty = true;
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        if !empty && line.width() + 1 + word.width() > width {
            lines.push(std::mem::replace(&mut line, rest.to_string()));
            empty = true;
        }
        if empty {
            let room = width.saturating_sub(line.width()).max(2);
            line.push_str(&cut(word, room));
        } else {
            line.push(' ');
            line.push_str(word);
        }
        empty = false;
    }
    lines.push(line.trim_end().to_string());
    lines
}

/// Print `text` (escaped with [`printable`]) for the screen's [`width`]: as
/// it is with no limit, else broken between words, the lines after the first
/// indented by `hang` columns more than the first (which keeps the text's own
/// indentation, after `indent` columns).
pub fn say(indent: usize, hang: usize, text: &str) {
    let text = printable(text);
    let body = text.trim_start_matches(' ');
    let first = " ".repeat(indent + text.len() - body.len());
    match width() {
        None => println!("{first}{}", unglued(body.to_string())),
        Some(w) => {
            let rest = " ".repeat((first.len() + hang).min(w / 2));
            for l in wrap_indented(body, w, &first, &rest) {
                println!("{}", unglued(l));
            }
        }
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
        let shown = t.for_width(None).to_string();
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

    #[test]
    fn the_width_is_columns_else_the_terminal_else_none() {
        assert_eq!(width_from(Some("80"), || Some(200)), Some(80));
        assert_eq!(width_from(Some(" 120 "), || None), Some(120));
        assert_eq!(width_from(Some("0"), || Some(200)), Some(200));
        assert_eq!(width_from(Some("wide"), || None), None);
        assert_eq!(width_from(None, || None), None);
    }

    #[test]
    fn text_is_cut_and_wrapped_between_words() {
        assert_eq!(cut("Call new lead Acme Industrial", 20), "Call new lead Acme…");
        assert_eq!(cut("Escalation: Sierra Vista", 14), "Escalation…");
        assert_eq!(cut("short", 20), "short");
        assert_eq!(cut("Supercalifragilistic", 6), "Super…");
        assert_eq!(
            wrap("no decision maker engaged yet: meet a buyer", 16),
            ["no decision", "maker engaged", "yet: meet a", "buyer"]
        );
        assert_eq!(wrap_indented("a bb ccc dddd", 8, "> ", "  "), ["> a bb", "  ccc", "  dddd"]);
    }

    fn tasks(width: Option<usize>) -> String {
        let mut t = table(&["ID", "DUE", "ROLE", "STATUS", "TITLE"]);
        t.whole(&["ID", "DUE", "ROLE", "STATUS"]).min("TITLE", 16).drop_first(&["STATUS", "ROLE"]);
        t.add_row(["1", "2026-11-05", "sales_coordinator", "open", "Prepare order paperwork for Lighthouse Financial"]);
        t.add_row(["12", "2026-11-06", "sales_rep", "cancelled", "Call new lead Acme"]);
        t.for_width(width).to_string()
    }

    #[test]
    fn a_table_fits_by_cutting_text_then_dropping_columns_then_in_blocks() {
        let wide = tasks(None);
        assert!(wide.contains("Prepare order paperwork for Lighthouse Financial"), "{wide}");
        for w in [70, 60, 40, 30, 20] {
            let shown = tasks(Some(w));
            for line in shown.lines() {
                assert!(line.width() <= w, "{w}: {line:?} is {} wide\n{shown}", line.width());
            }
            assert!(shown.contains("2026-11-05"), "{shown}");
        }
        let at60 = tasks(Some(60));
        assert!(at60.contains("ROLE") && !at60.contains("STATUS"), "STATUS goes first:\n{at60}");
        assert!(at60.contains(" Prepare order…\n"), "{at60}");
        let at40 = tasks(Some(40));
        assert_eq!(at40.lines().count(), 2 + 2, "a header, its rule and one line per task:\n{at40}");
        assert!(!at40.contains("ROLE"), "{at40}");
        let at30 = tasks(Some(30));
        assert!(at30.lines().any(|l| l.trim() == "role: sales_coordinator"), "blocks:\n{at30}");
    }
}
