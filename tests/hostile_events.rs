//! Hostile event input. The corpus in `tests/hostile/` holds lines a CRM
//! export, a script or an attacker might send: broken JSON, bytes that are not
//! UTF-8, wrong types, missing fields, unknown types, numbers JSON or the store
//! cannot keep, times outside the years 1900 to 8999, nesting 10,000 deep,
//! keys given twice, task ids that are no task number, a byte order mark,
//! CRLF line ends, and
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

use common::{Workspace, rejections};
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
            (21, "objects and arrays nest deeper than 64 levels (limits.max_event_depth) (column 65)"),
            (22, "objects and arrays nest deeper than 64 levels (limits.max_event_depth) (column "),
            (23, "objects and arrays nest deeper than 64 levels (limits.max_event_depth) (column "),
            (24, "objects and arrays nest deeper than 64 levels (limits.max_event_depth) (column "),
            (25, "not valid JSON: trailing characters"),
            (26, "not valid JSON: trailing characters"),
            (27, r#"key "id" appears twice: each key may be given once (column 19)"#),
            (29, "not valid JSON: expected value"),
            (30, r#"field "data.role" must be one of buyer, technical, executive, other, got "boss""#),
            (31, r#"field "data.end" must be a date like 2026-11-02, got "someday""#),
            (32, r#"task.completed: field "data.task_id" is not a task number: "T-999999999999999999999""#),
            (34, r#"key "type" appears twice"#),
            (35, r#"key "data.account_id" appears twice"#),
            (36, r#"key "data.products[1].name" appears twice"#),
            (37, r#"task.completed: field "data.task_id" is not a task number: -4"#),
            (38, r#"task.completed: field "data.task_id" is not a task number: "--4""#),
            (39, r##"task.completed: field "data.task_id" is not a task number: "t#4""##),
            (40, r#"task.completed: field "data.task_id" is not a task number: "-4""#),
        ],
    ),
    (
        "times.jsonl",
        &[
            (1, r#"field "at" is out of range: +10000-01-01T23:58:59Z is not between the years 1900 and 8999 in UTC"#),
            (2, r#"field "at" is out of range: -0001-12-31T23:59:00Z"#),
            (3, r#"field "data.expected_close" is out of range: "+10000-01-01""#),
            (4, r#"field "data.end" is out of range: "9999-12-31" is not between the years 1900 and 8999"#),
            (5, r#"field "at" is out of range: 9999-12-31T23:59:59Z is not between the years 1900 and 8999 in UTC"#),
            (10, r#"field "at" is not an RFC 3339 time ("2026-11-02T09:30:00": premature end of input)"#),
            (11, "contract.signed: end 2026-01-01 is before start 2026-12-01"),
            (12, r#"field "at" is out of range: 0000-01-01T00:00:00Z"#),
            (13, r#"field "data.period" must be a period like 2026, 2026-H2, 2026-Q4 or 2026-11, got "99999-Q9""#),
            (14, r#"field "at" is out of range: 9999-12-31T00:00:00Z"#),
            (15, r#"field "data.start" is out of range: "1899-12-31""#),
            (16, r#"field "data.period" is out of range: "9999-Q4""#),
            (17, r#"field "data.expected_close" is out of range: "9000-01-01""#),
            (18, r#"field "at" is out of range: 9000-01-01T00:59:00Z"#),
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
        let got = rejections(&summary);
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
    assert_eq!(got[2].1, "line is longer than 16 MiB (limits.max_event_line_bytes)");

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

#[test]
fn a_task_id_that_is_no_task_number_is_a_rejected_line_and_closes_nothing() {
    let ws = Workspace::new();
    ws.ingest(&[common::events::lead("2026-11-02T09:00:00Z", "L-1", serde_json::json!({"company": "Acme"}))]);
    let task = ws.task_titled("Call new lead Acme");
    let id = task["id"].as_i64().unwrap();
    let done = |task_id: Value| {
        common::event("task.completed", "2026-11-02T10:00:00Z", serde_json::json!({"task_id": task_id}))
    };
    let file = ws.event_file(&[
        done(Value::from(-id)),
        done(format!("--{id}").into()),
        done(format!("t#{id}").into()),
        done(format!("-{id}").into()),
        done(format!("{id}.0").into()),
    ]);
    let summary = ws.run(&["ingest", "--json", file.to_str().unwrap()]).code(2).json();
    let got = rejections(&summary);
    assert_eq!(got.iter().map(|(l, _)| *l).collect::<Vec<_>>(), [1, 2, 3, 4, 5], "{got:#?}");
    for (line, reason) in &got {
        assert!(
            reason.starts_with(r#"task.completed: field "data.task_id" is not a task number: "#),
            "{line}: {reason}"
        );
    }
    assert_eq!(ws.task_titled("Call new lead Acme")["status"], "open", "a bad task id closed the task");

    // The forms a task number is written in still close it.
    ws.ingest(&[done(format!("T-{id}").into())]);
    assert_eq!(ws.task_titled("Call new lead Acme")["status"], "done");
}

#[test]
fn an_event_dated_9999_is_rejected_and_makes_no_task_that_sorts_first() {
    let ws = Workspace::new();
    let file = ws.event_file(&[
        common::events::lead("2026-11-02T09:00:00Z", "L-now", serde_json::json!({"company": "Now"})),
        common::events::lead("9999-12-31T09:00:00Z", "L-far", serde_json::json!({"company": "Far"})),
        common::events::deal("2026-11-02T09:00:00Z", "D-1", "A-1", "Deal", 10, "Ana Ruiz"),
    ]);
    let summary = ws.run(&["ingest", "--json", file.to_str().unwrap()]).code(2).json();
    assert_eq!(
        rejections(&summary),
        [(
            2,
            r#"field "at" is out of range: 9999-12-31T09:00:00Z is not between the years 1900 and 8999 in UTC"#.into()
        )]
    );
    assert_eq!(common::titles(&ws.tasks()), ["Call new lead Now"]);
    // A due date is always a 4-digit year, so the queue's text order is time order.
    let claimed = ws.run(&["tasks", "claim", "--role", "sales_rep", "--as", "Ana Ruiz", "--json"]).success().json();
    assert_eq!(claimed["title"], "Call new lead Now", "{claimed}");
}

#[test]
fn the_event_limits_are_read_from_limits_in_config_toml() {
    let ws = Workspace::new();
    let config = ws.read("config.toml");
    ws.write(
        "config.toml",
        &format!("{config}\n[limits]\nmax_event_line_bytes = 300\nmax_event_depth = 4\nmax_event_values = 20\n"),
    );
    let lead = |id: &str, extra: Value| {
        let mut data = serde_json::json!({"company": id});
        data.as_object_mut().unwrap().insert("extra".into(), extra);
        common::events::lead("2026-11-02T09:00:00Z", id, data)
    };
    let file = ws.event_file(&[
        lead("L-long", "x".repeat(300).into()),
        lead("L-deep", serde_json::json!([[[1]]])),
        lead("L-many", serde_json::json!([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15])),
        lead("L-fits", serde_json::json!([[1, 2, 3]])),
    ]);
    let summary = ws.run(&["ingest", "--json", file.to_str().unwrap()]).code(2).json();
    let got = rejections(&summary);
    assert_eq!(got.iter().map(|(l, _)| *l).collect::<Vec<_>>(), [1, 2, 3], "{got:#?}");
    assert_eq!(got[0].1, "line is longer than 300 bytes (limits.max_event_line_bytes)");
    assert!(got[1].1.starts_with("objects and arrays nest deeper than 4 levels (limits.max_event_depth)"), "{got:?}");
    assert!(got[2].1.starts_with("the line holds more than 20 JSON values (limits.max_event_values)"), "{got:?}");
    assert_eq!(common::titles(&ws.tasks()), ["Call new lead L-fits"]);

    ws.write(
        "config.toml",
        &format!("{config}\n[limits]\nmax_event_values = 0\nmax_tasks_per_event = 0\nmax_event_line_bytes = 18446744073709551615\n"),
    );
    let out = ws.run(&["check"]).code(1);
    assert!(out.stdout.contains("limits.max_event_line_bytes: at most 134217728 (128 MiB"), "{}", out.stdout);
    assert!(out.stdout.contains("limits.max_event_values: must be at least 1"), "{}", out.stdout);
    assert!(out.stdout.contains("limits.max_tasks_per_event: must be at least 1"), "{}", out.stdout);
    // The task limit is met before the sandbox's collection limit, whose error says nothing of tasks.
    ws.write("config.toml", &format!("{config}\n[limits]\nmax_tasks_per_event = 2000\n"));
    let out = ws.run(&["check"]).code(1);
    assert!(
        out.stdout.contains("limits.max_tasks_per_event: at most limits.max_collection_size / 10 (1000)"),
        "{}",
        out.stdout
    );
    ws.write("config.toml", &format!("{config}\n[limits]\nmax_tasks_per_event = 2000\nmax_collection_size = 20000\n"));
    ws.run(&["check"]).success();
}

/// Run dealflow and read its peak memory (maximum resident set size, bytes).
/// The child is reaped by `wait4`, which reads its own usage (not that of
/// the other tests' children, as `getrusage` would).
#[cfg(unix)]
#[allow(clippy::zombie_processes)]
fn run_measured(ws: &Workspace, args: &[&str]) -> (common::Output, u64) {
    use std::io::Read;
    let mut cmd = ws.command(args);
    cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("run dealflow");
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        out.read_to_end(&mut text).unwrap();
        text
    });
    let mut stderr = Vec::new();
    err.read_to_end(&mut stderr).unwrap();
    let stdout = reader.join().unwrap();
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it for the child we spawned.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as libc::pid_t, "wait4");
    let code = if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { -1 };
    let output = common::Output {
        args: args.iter().map(|s| s.to_string()).collect(),
        code,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    };
    (output, usage.ru_maxrss as u64 * 1024)
}

#[cfg(unix)]
#[test]
fn a_line_of_millions_of_numbers_is_rejected_without_taking_gigabytes() {
    let ws = Workspace::new();
    let numbers = vec!["1"; 7_500_000].join(",");
    let big = format!(
        r#"{{"id": "big", "type": "account.upserted", "at": "2026-11-02T09:00:00Z", "data": {{"id": "A-big", "name": "Big", "n": [{numbers}]}}}}"#
    );
    assert!(big.len() > 14 << 20 && big.len() < 16 << 20);
    let file = ws.event_file(&[
        big,
        common::events::lead("2026-11-02T10:00:00Z", "L-after", serde_json::json!({"company": "After"})),
    ]);
    let (out, peak) = run_measured(&ws, &["ingest", "--json", file.to_str().unwrap()]);
    let summary = out.code(2).json();
    let got = rejections(&summary);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, 1);
    assert!(got[0].1.starts_with("the line holds more than 100000 JSON values (limits.max_event_values)"), "{got:?}");
    ws.task_titled("Call new lead After");
    // It took 1.8 GB (2.2 GB in a release build) when every number was read.
    assert!(peak < 400 << 20, "peak memory {} MiB", peak >> 20);
}

#[test]
fn a_rule_asking_for_more_tasks_than_the_limit_on_one_event_is_told_so_and_the_rest_goes_on() {
    let ws = Workspace::new();
    ws.write(
        "rules/many.rhai",
        r#"/// As many tasks as the lead asks for.
fn task_many(event) {
    if event.type == "lead.created" && event.data.n != () {
        let out = [];
        for i in 0..event.data.n {
            out.push(task("sales_rep", `Task ${i}`, #{ dedup: `${i}` }));
        }
        return out;
    }
}

/// The same, the task maps built by hand.
fn task_by_hand(event) {
    if event.type == "lead.created" && event.data.m != () {
        let out = [];
        for i in 0..event.data.m {
            out.push(#{ decision: "task", role: "sales_rep", title: `By hand ${i}`, dedup: `${i}` });
        }
        return out;
    }
}
"#,
    );
    let lead = |id: &str, data: Value| common::events::lead("2026-11-02T09:00:00Z", id, data);
    let file = ws.event_file(&[
        lead("L-9000", serde_json::json!({"company": "C9000", "n": 9000})),
        lead("L-1000", serde_json::json!({"company": "C1000", "n": 1000})),
        lead("L-hand", serde_json::json!({"company": "Hand", "m": 1001})),
    ]);
    let summary = ws.run(&["ingest", "--json", file.to_str().unwrap()]).success().json();
    assert_eq!(summary["applied"], 3, "{summary:#}");
    let failures = summary["rule_failures"].as_array().unwrap();
    let said: Vec<(&str, &str, &str)> = failures
        .iter()
        .map(|f| (f["location"].as_str().unwrap(), f["message"].as_str().unwrap(), f["first_event"].as_str().unwrap()))
        .collect();
    let limit = "asked for more than 1000 tasks on one event (limits.max_tasks_per_event = 1000)";
    assert_eq!(said.len(), 2, "{said:#?}");
    assert!(said[0].0.starts_with("rules/many.rhai:6:") && said[0].1 == format!("task_many: {limit}"), "{said:#?}");
    assert!(said[1].0 == "rules/many.rhai:13:1" && said[1].1 == format!("task_by_hand: {limit}"), "{said:#?}");
    let tasks = ws.tasks();
    // The lead's own follow-ups and the 1,000 tasks within the limit are made; nothing of the rest.
    assert_eq!(tasks.len(), 3 + 1000, "{}", tasks.len());
    assert!(!tasks.iter().any(|t| t["title"].as_str().unwrap().starts_with("By hand")));
}

#[test]
fn a_rule_giving_a_due_date_beyond_year_9999_makes_no_task() {
    let ws = Workspace::new();
    ws.write(
        "rules/far.rhai",
        r#"/// A follow-up at a date the lead names.
fn task_far(event) {
    if event.type == "lead.created" && event.data.when != () {
        return task("sales_rep", `Far ${event.data.when}`, #{ due: event.data.when });
    }
}
"#,
    );
    let lead = |id: &str, when: &str| {
        common::events::lead("2026-11-02T09:00:00Z", id, serde_json::json!({"company": id, "when": when}))
    };
    let summary = ws.ingest(&[lead("L-far", "+10000-01-01"), lead("L-edge", "9999-12-31"), lead("L-ok", "2026-12-01")]);
    let messages: Vec<&str> =
        summary["rule_failures"].as_array().unwrap().iter().map(|f| f["message"].as_str().unwrap()).collect();
    assert_eq!(
        messages,
        // +10000-01-01 is a Saturday: the first business day is the 3rd.
        ["task_far: due date +10000-01-03 is out of range: tasks are due between the years 1900 and 9999"],
        "{summary:#}"
    );
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let due: Vec<String> = ws.tasks_titled("Far").iter().map(|t| t["due_at"].as_str().unwrap().to_string()).collect();
    // 9999-12-31 is a Friday, the last business day there is.
    assert_eq!(sorted(due), ["2026-12-01", "9999-12-31"]);
}
