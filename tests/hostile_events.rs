//! Hostile event input. The corpus in `tests/hostile/` holds lines a CRM
//! export, a script or an attacker might send: broken JSON, bytes that are not
//! UTF-8, wrong types, missing fields, unknown types, numbers JSON or the store
//! cannot keep, times beyond year 9999, nesting 10,000 deep, a byte order
//! mark, CRLF line ends, and
//! strings carrying SQL, paths, HTML, right-to-left overrides, emoji and NUL.
//! A 10 MB line and a line over the 16 MiB limit are written by the test.
//!
//! Every line must end one of two ways: applied, with its text coming back
//! byte for byte through `accounts --json`, `deals --json`, `explain`, `tasks`
//! and the store; or rejected with its line number and reason, in the
//! summary and in the store. The good lines around bad ones are applied,
//! nothing panics, and the database passes `PRAGMA integrity_check`.

mod common;

use std::path::{Path, PathBuf};

use common::Workspace;
use rusqlite::Connection;
use serde_json::Value;

/// Each corpus file and the lines it must reject: line number and a piece of
/// the reason. Every other line that is not blank must be applied.
const CORPUS: &[(&str, &[(usize, &str)])] = &[
    (
        "strings.jsonl",
        &[
            (9, "not valid JSON: EOF while parsing an object"),
            (15, r#"unknown event type "account.upserted\0" (did you mean "account.upserted"?)"#),
            (21, "not valid JSON: unexpected end of hex escape"),
            (22, r#"unknown event type "deal.exploded""#),
        ],
    ),
    (
        "numbers.jsonl",
        &[
            (2, "not valid JSON: number out of range"),
            (3, r#"field "data.employees" is out of range (1.8446744073709552e+19)"#),
            (4, r#"field "data.employees" is out of range (18446744073709551615)"#),
            (9, r#"field "data.amount" is out of range"#),
            (11, r#"field "id" must be a string or a whole number"#),
            (12, r#"field "id" must be a string or a whole number"#),
            (15, r#"field "data.amount" is out of range (1.7976931348623157e+308)"#),
            (16, r#"field "data.annual_revenue" must be a number, got string "1e3""#),
            (17, r#"field "data.employees" must be a whole number, got 12.5"#),
            (19, "not valid JSON"),
            (20, "not valid JSON"),
            (21, "not valid JSON"),
            (23, r#"field "data.employees" must be a whole number, got boolean true"#),
            (24, r#"field "id" must be a string or a whole number"#),
        ],
    ),
    (
        "structure.jsonl",
        &[
            (2, "not valid JSON: EOF while parsing"),
            (3, "an event must be a JSON object"),
            (4, "an event must be a JSON object"),
            (5, "an event must be a JSON object"),
            (6, r#"missing field "id""#),
            (7, r#"missing field "type""#),
            (8, r#"field "id" is empty"#),
            (9, r#"field "id" is empty"#),
            (10, r#"field "id" must be a string, got boolean true"#),
            (11, r#"field "type" must be a string, got number 7"#),
            (12, r#"field "at" must be an RFC 3339 string, got number 12"#),
            (13, r#"field "at" is not an RFC 3339 time ("2026-13-01T00:00:00Z""#),
            (14, r#"field "data" must be an object, got array []"#),
            (15, r#"account.upserted: missing field "data.name""#),
            (16, r#"field "data.name" must be a string, got array ["a"]"#),
            (17, r#"unknown event type "deal.exploded""#),
            (18, r#"unknown event type "Deal.Upserted" (did you mean "deal.upserted"?)"#),
            (21, "not valid JSON: recursion limit exceeded"),
            (22, "not valid JSON: recursion limit exceeded"),
            (23, "not valid JSON: recursion limit exceeded"),
            (25, "not valid JSON: trailing characters"),
            (26, "not valid JSON: trailing characters"),
            (29, "not valid JSON: expected value"),
            (30, r#"field "data.role" must be one of buyer, technical, executive, other, got "boss""#),
            (31, r#"field "data.end" must be a date like 2026-11-02, got "someday""#),
            (32, r#"task.completed: task_id "T-999999999999999999999" is not a task number"#),
        ],
    ),
    (
        "times.jsonl",
        &[
            (1, r#"field "at" is out of range: +10000-01-01T23:58:59Z is not between the years 0000 and 9999 in UTC"#),
            (2, r#"field "at" is out of range: -0001-12-31T23:59:00Z"#),
            (3, r#"field "data.expected_close" is out of range: "+10000-01-01""#),
            (10, r#"field "at" is not an RFC 3339 time ("2026-11-02T09:30:00": premature end of input)"#),
            (11, "contract.signed: end 2026-01-01 is before start 2026-12-01"),
            (13, r#"field "data.period" must be a period like 2026, 2026-H2, 2026-Q4 or 2026-11, got "99999-Q9""#),
        ],
    ),
    ("bom-crlf.jsonl", &[(2, "not valid JSON: EOF while parsing"), (6, "not valid JSON: trailing characters")]),
    (
        "binary.jsonl",
        &[
            (2, "not valid UTF-8 (byte 75)"),
            (3, "not valid UTF-8 (byte 81)"),
            (4, "not valid JSON: control character"),
            (5, "not valid JSON: expected value at line 1 column 1"),
            (6, "not valid UTF-8 (byte 77)"),
            (7, "not valid UTF-8 (byte 82)"),
            (8, "not valid JSON: expected value"),
            (10, "not valid JSON: control character"),
            (11, "not valid UTF-8 (byte 1)"),
        ],
    ),
];

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile").join(name)
}

/// The lines of a file as ingest numbers them, each without its line end and
/// byte order mark; blank lines are left out.
fn lines_of(bytes: &[u8]) -> Vec<(usize, &[u8])> {
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            let l = l.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(l);
            (i + 1, l.strip_suffix(b"\r").unwrap_or(l))
        })
        .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace))
        .collect()
}

/// A line's event id as the store keeps it (numbers as their text).
fn id_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `stored` carries everything `given` holds: every string byte for byte,
/// numbers by value (an id given as a number comes back as its text); nulls
/// are left out.
fn assert_kept(given: &Value, stored: &Value, at: &str) {
    match (given, stored) {
        // A missing or null field stays out: nothing to keep.
        (Value::Null, _) => {}
        (Value::String(a), Value::String(b)) => assert_eq!(a.as_bytes(), b.as_bytes(), "{at}"),
        (Value::Number(a), Value::String(b)) => assert_eq!(&a.to_string(), b, "{at}"),
        (Value::Number(a), Value::Number(b)) => assert_eq!(a.as_f64(), b.as_f64(), "{at}"),
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a.iter().filter(|(_, v)| !v.is_null()) {
                let got = b.get(k).unwrap_or_else(|| panic!("{at}.{k} is missing from {stored}"));
                assert_kept(v, got, &format!("{at}.{k}"));
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{at}");
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert_kept(x, y, &format!("{at}[{i}]"));
            }
        }
        (a, b) => assert_eq!(a, b, "{at}"),
    }
}

/// No control character but the line end, no bidi override or isolate.
fn assert_terminal_safe(printed: &str, what: &str) {
    let bad: Vec<char> = printed
        .chars()
        .filter(|&c| (c.is_control() && c != '\n') || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'))
        .collect();
    assert!(bad.is_empty(), "{what} printed {bad:?}:\n{printed}");
}

fn db(ws: &Workspace) -> Connection {
    Connection::open(ws.path("dealflow.db")).expect("open the store")
}

fn integrity(ws: &Workspace) -> String {
    db(ws).query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap()
}

/// Stored rows of one source: (line, text) of applied events or rejected lines.
fn stored(ws: &Workspace, sql: &str, source: &str) -> Vec<(usize, String)> {
    let conn = db(ws);
    let mut st = conn.prepare(sql).unwrap();
    st.query_map([source], |r| Ok((r.get::<_, i64>(0)? as usize, r.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

#[test]
fn every_hostile_line_is_applied_verbatim_or_rejected_with_its_line_and_reason() {
    let ws = Workspace::new();
    for &(name, rejected) in CORPUS {
        let path = corpus(name);
        let source = path.to_str().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let lines = lines_of(&bytes);
        let good: Vec<(usize, &[u8])> =
            lines.iter().copied().filter(|(n, _)| !rejected.iter().any(|(r, _)| r == n)).collect();

        let out = ws.run(&["ingest", "--json", source]).code(2);
        assert!(!out.stderr.contains("panicked"), "{name}: {}", out.stderr);
        let summary = out.json();

        // Rejected: each with its line and reason, in the summary and in the store.
        let got: Vec<(u64, &str)> = summary["rejections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["line"].as_u64().unwrap(), r["reason"].as_str().unwrap()))
            .collect();
        assert_eq!(
            got.iter().map(|(l, _)| *l as usize).collect::<Vec<_>>(),
            rejected.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
            "{name}: rejected lines {got:#?}"
        );
        for ((line, reason), (_, want)) in got.iter().zip(rejected) {
            assert!(reason.contains(want), "{name}:{line}: {reason:?} does not contain {want:?}");
        }
        let kept = stored(&ws, "SELECT line, raw FROM rejected_events WHERE source = ?1 ORDER BY seq", source);
        assert_eq!(kept.len(), rejected.len(), "{name}");
        for ((line, raw), (want_line, _)) in kept.iter().zip(rejected) {
            assert_eq!(line, want_line, "{name}");
            let text = lines.iter().find(|(n, _)| n == line).unwrap().1;
            assert_eq!(raw, &String::from_utf8_lossy(text), "{name}:{line}: the rejected line is kept");
        }

        // Applied: every other line, its data back byte for byte from the store.
        assert_eq!(summary["applied"], good.len(), "{name}: {summary:#}");
        let events = stored(&ws, "SELECT line, body FROM events WHERE source = ?1 ORDER BY seq", source);
        assert_eq!(
            events.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
            good.iter().map(|(l, _)| *l).collect::<Vec<_>>()
        );
        for ((line, body), (_, text)) in events.iter().zip(&good) {
            let given: Value = serde_json::from_slice(text).unwrap();
            let body: Value = serde_json::from_str(body).unwrap();
            assert_eq!(id_text(&given["id"]), body["id"], "{name}:{line}");
            assert_kept(&given["data"], &body["data"], &format!("{name}:{line}: data"));
        }

        // Sent again: every applied line is a duplicate, every bad line rejected again.
        let again = ws.run(&["ingest", "--json", source]).code(2).json();
        assert_eq!((&again["applied"], &again["duplicates"]), (&0.into(), &good.len().into()), "{name}");
        assert_eq!(again["rejected"], rejected.len(), "{name}");

        // Reasons quote what they refuse, escaped: nothing a terminal would obey.
        let out = ws.run(&["ingest", source]).code(2);
        assert_eq!(out.stderr.lines().filter(|l| l.contains(": rejected: ")).count(), rejected.len(), "{name}");
        assert_terminal_safe(&out.stderr, name);
    }

    // Accounts and deals show what their last upsert said, byte for byte; so do
    // explain's summaries and the titles of tasks.
    let accounts = ws.accounts();
    let deals = ws.deals();
    for &(name, rejected) in CORPUS {
        let bytes = std::fs::read(corpus(name)).unwrap();
        for (line, text) in lines_of(&bytes).into_iter().filter(|(n, _)| !rejected.iter().any(|(r, _)| r == n)) {
            let given: Value = serde_json::from_slice(text).unwrap();
            let (data, at) = (&given["data"], format!("{name}:{line}"));
            let (listed, kind) = match given["type"].as_str().unwrap() {
                "account.upserted" => (&accounts, "account"),
                "deal.upserted" => (&deals, "deal"),
                _ => continue,
            };
            let id = id_text(&data["id"]);
            let row =
                listed.iter().find(|r| r["id"] == id.as_str()).unwrap_or_else(|| panic!("{at}: no {kind} {id:?}"));
            assert_kept(data, &row["data"], &format!("{at}: {kind}s --json"));
            if let Some(n) = data["name"].as_str() {
                assert_eq!(row["name"].as_str().map(str::as_bytes), Some(n.as_bytes()), "{at}");
                if !id.contains('\0') {
                    let explained = ws.run(&["explain", kind, &id, "--json"]).success().json();
                    let summary = explained["summary"].as_str().unwrap();
                    assert!(summary.contains(&format!("{id} \"{n}\"")), "{at}: {summary:?}");
                }
            }
        }
    }
    for args in
        [&["accounts"][..], &["deals"], &["tasks"], &["explain", "account", "A-ctrl"], &["explain", "deal", "D-sql"]]
    {
        assert_terminal_safe(&ws.run(args).success().stdout, &format!("{args:?}"));
    }
    let titles: Vec<String> = ws.tasks().iter().map(|t| t["title"].as_str().unwrap().to_string()).collect();
    assert!(titles.contains(&"Call new lead <script>document.location='//x'</script>".to_string()), "{titles:#?}");
    assert!(titles.contains(&"Call new lead BOM again (a file joined with cat)".to_string()), "{titles:#?}");
    assert!(titles.contains(&"Call new lead The good line at the end".to_string()), "{titles:#?}");

    // An id with a NUL in it is found again by the store's JSON lookups.
    let store = dealflow::store::Store::open_existing(&ws.path("dealflow.db"), std::time::Duration::from_secs(5))
        .expect("open the store");
    let about = store.events_about("account", "A-\0-id").unwrap();
    assert_eq!(about.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["s-8"]);
    let about = store.events_about("deal", "D-\0").unwrap();
    assert_eq!(about.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["s-10"]);
    assert_eq!(store.deal("D-\0").unwrap().unwrap().data["name"], "\0\0");
    drop(store);

    // The tables the SQL strings name are all still there, and sound.
    let conn = db(&ws);
    for table in ["tasks", "accounts", "deals", "events"] {
        let n: i64 = conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0)).unwrap();
        assert!(n > 0, "{table} is empty");
    }
    assert_eq!(integrity(&ws), "ok");
}

#[test]
fn a_10_mb_line_is_applied_whole_and_a_line_over_the_limit_is_rejected_without_the_rest_lost() {
    let ws = Workspace::new();
    let ten_mb = 10 * 1024 * 1024;
    let notes: String = "0123456789abcdef\u{202e}😀<>'\"\\".chars().cycle().take(ten_mb / 2).collect();
    let name: String = "A".repeat(ten_mb);
    let lines = [
        r#"{"id": "h-1", "type": "clock.tick", "at": "2026-11-02T09:00:00Z"}"#.to_string(),
        serde_json::json!({"id": "h-2", "type": "account.upserted", "at": "2026-11-02T09:00:00Z",
            "data": {"id": "A-notes", "name": "Notes Ltd", "notes": notes}})
        .to_string(),
        "x".repeat(ten_mb),
        format!(r#"{{"id": "h-4", "type": "{}"}}"#, "y".repeat(ten_mb)),
        format!(r#"{{"id": "h-5", "type": "clock.tick", "data": {{"pad": "{}"}}}}"#, "z".repeat(17 << 20)),
        serde_json::json!({"id": "h-6", "type": "lead.created", "at": "2026-11-02T10:00:00Z",
            "data": {"id": "L-after", "company": "After the long lines"}})
        .to_string(),
        serde_json::json!({"id": "h-7", "type": "account.upserted", "at": "2026-11-02T11:00:00Z",
            "data": {"id": "A-name", "name": name}})
        .to_string(),
    ];
    let file = ws.event_file(&lines);
    let source = file.to_str().unwrap();

    let out = ws.run(&["ingest", "--json", source]).code(2);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    let summary = out.json();
    assert_eq!(summary["applied"], 4, "{summary:#}");
    let rejections = summary["rejections"].as_array().unwrap();
    let got: Vec<(u64, &str)> =
        rejections.iter().map(|r| (r["line"].as_u64().unwrap(), r["reason"].as_str().unwrap())).collect();
    assert_eq!(got.iter().map(|(l, _)| *l).collect::<Vec<_>>(), [3, 4, 5], "{got:?}");
    assert!(got[0].1.starts_with("not valid JSON"), "{}", got[0].1);
    assert!(got[1].1.starts_with(r#"unknown event type "yyyyyyyy"#) && got[1].1.len() < 200, "{}", got[1].1);
    assert_eq!(got[2].1, "line is longer than 16 MiB");

    // The 10 MB value is stored whole, and the 10 MB bad line is kept as it came.
    let stored_notes: String = db(&ws)
        .query_row("SELECT json_extract(body, '$.data.notes') FROM events WHERE id = 'h-2'", [], |r| r.get(0))
        .unwrap();
    assert!(stored_notes == notes, "the 10 MB string came back changed");
    let raw = stored(&ws, "SELECT line, raw FROM rejected_events WHERE source = ?1 ORDER BY seq", source);
    assert_eq!(raw[0], (3, "x".repeat(ten_mb)));
    assert_eq!(raw[2], (5, String::new()), "a line over the limit is not kept");

    // The lines after the long ones were applied; the 10 MB name reads back whole.
    ws.task_titled("Call new lead After the long lines");
    let account = ws.account("A-name");
    assert!(account["name"].as_str() == Some(name.as_str()), "the 10 MB name came back changed");
    assert_eq!(ws.account("A-notes")["data"]["notes"].as_str().map(str::len), Some(notes.len()));
    assert_eq!(integrity(&ws), "ok");
}
