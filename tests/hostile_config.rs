//! A `config.toml` that is missing, empty, not UTF-8, of the wrong shape, or
//! huge: `dealflow check` (and every command that loads it) exits 1 with one
//! line per problem, `config.toml:LINE:COL: message`, and never panics.

mod common;

use std::time::{Duration, Instant};

use common::Workspace;

/// Every line of `check`'s standard output is a located problem, and there is at least one.
fn located(stdout: &str) -> Vec<(usize, usize, String)> {
    let problems: Vec<(usize, usize, String)> = stdout
        .lines()
        .map(|l| {
            let mut parts = l.splitn(4, ':');
            assert_eq!(parts.next(), Some("config.toml"), "{l}");
            let line = parts.next().and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("no line in {l}"));
            let col = parts.next().and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("no column in {l}"));
            let message = parts.next().unwrap_or_else(|| panic!("no message in {l}")).trim().to_string();
            (line, col, message)
        })
        .collect();
    assert!(!problems.is_empty(), "no problem printed");
    problems
}

/// `check` on this config text: exit 1, no panic, the problems it printed.
fn check(ws: &Workspace, text: &[u8]) -> Vec<(usize, usize, String)> {
    std::fs::write(ws.path("config.toml"), text).unwrap();
    let out = ws.run(&["check"]).code(1);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    located(&out.stdout)
}

#[test]
fn broken_configs_are_located_problems_for_every_command() {
    let ws = Workspace::new();
    let good = ws.read("config.toml");
    let line_of = |needle: &str| good.lines().position(|l| l.starts_with(needle)).unwrap() + 1;

    let p = check(&ws, b"");
    assert_eq!(p.len(), 1);
    assert_eq!((p[0].0, p[0].1), (1, 1));
    assert!(p[0].2.starts_with("the file is empty: it needs at least [pipeline] and [roles]"), "{p:?}");
    assert_eq!(check(&ws, b"\n \t\n\n"), p, "blank is empty");

    let mut not_utf8 = good.clone().into_bytes();
    let at = good.find("[pipeline]").unwrap() + 3;
    not_utf8[at] = 0xff;
    let p = check(&ws, &not_utf8);
    assert_eq!(p, [(line_of("[pipeline]"), 4, "not valid UTF-8: save config.toml as UTF-8 text".to_string())]);

    let wrong = good.replacen("lost = [\"lost\"]", "lost = \"lost\"", 1);
    let p = check(&ws, wrong.as_bytes());
    assert_eq!((p[0].0, p[0].1), (line_of("lost ="), 8), "{p:?}");
    assert!(p[0].2.starts_with("pipeline.lost: invalid type: string \"lost\", expected a sequence"), "{p:?}");

    let wrong = good.replacen("quiet_account_days = 30", "quiet_account_days = \"thirty\"", 1);
    let p = check(&ws, wrong.as_bytes());
    assert_eq!((p[0].0, p[0].1), (line_of("quiet_account_days"), 22), "{p:?}");
    assert!(p[0].2.starts_with("clock.quiet_account_days: invalid type: string"), "{p:?}");

    let wrong = good.replacen("won = [\"won\"]", "won = [\"wonn\"]", 1);
    let p = check(&ws, wrong.as_bytes());
    assert_eq!(
        p,
        [(
            line_of("won ="),
            8,
            r#"pipeline.won: "wonn" is not a stage of pipeline.stages (did you mean "won"?)"#.into()
        )]
    );

    let wrong = format!("{good}\n[[team]]\nname = \"Zed\"\nrole = \"acount_manager\"\n");
    let p = check(&ws, wrong.as_bytes());
    let last = wrong.lines().count();
    assert_eq!(
        p,
        [(
            last,
            8,
            r#"team: "Zed" has role "acount_manager", which is not in [roles] (did you mean "account_manager"?)"#
                .into()
        )]
    );

    let wrong = format!("{good}\n[roles.Key-Accounts]\n");
    let p = check(&ws, wrong.as_bytes());
    assert_eq!((p[0].0, p[0].1), (wrong.lines().count(), 8), "{p:?}");
    assert!(p[0].2.starts_with("roles.Key-Accounts: a role name uses lowercase letters"), "{p:?}");

    let wrong = format!("{good}\n[settings2]\nx = {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let p = check(&ws, wrong.as_bytes());
    assert_eq!(p[0].0, wrong.lines().count(), "{p:?}");

    for garbage in [&b"\x00\x01\x02"[..], b"[[[[", b"= = =", b"\xef\xbb\xbf", b"pipeline = 3"] {
        check(&ws, garbage);
    }

    // Every command that loads the config says the same, and changes nothing.
    std::fs::write(ws.path("config.toml"), b"").unwrap();
    let events = ws.event_file(&[r#"{"id": "e-1", "type": "clock.tick"}"#.to_string()]);
    for args in [&["ingest", events.to_str().unwrap()][..], &["tasks"], &["status"], &["tick"], &["run"]] {
        let out = ws.run(args).code(1);
        assert!(out.stderr.contains("config.toml:1:1: the file is empty"), "{args:?}: {}", out.stderr);
        assert!(!out.stderr.contains("panicked"), "{args:?}: {}", out.stderr);
    }

    // A folder where the file should be.
    std::fs::remove_file(ws.path("config.toml")).unwrap();
    std::fs::create_dir(ws.path("config.toml")).unwrap();
    let out = ws.run(&["check"]).code(1);
    assert!(out.stderr.contains("config.toml"), "{}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
}

#[test]
fn a_huge_config_is_checked_quickly_with_every_problem_on_its_line() {
    let ws = Workspace::new();
    let good = ws.read("config.toml");
    let people = 20_000;
    let team: String = (0..people).map(|i| format!("\n[[team]]\nname = \"Rep {i}\"\nrole = \"sales_rep\"\n")).collect();

    let start = Instant::now();
    std::fs::write(ws.path("config.toml"), format!("{good}{team}")).unwrap();
    let out = ws.run(&["check"]).success();
    assert!(out.stdout.starts_with("ok: "), "{}", out.stdout);

    let wrong = format!("{good}{}", team.replace("sales_rep", "ceo"));
    let p = check(&ws, wrong.as_bytes());
    assert_eq!(p.len(), people);
    let roles: Vec<usize> =
        wrong.lines().enumerate().filter(|(_, l)| l.starts_with("role = \"ceo\"")).map(|(i, _)| i + 1).collect();
    assert_eq!(p.iter().map(|(line, _, _)| *line).collect::<Vec<_>>(), roles);
    assert!(start.elapsed() < Duration::from_secs(60), "{:?}", start.elapsed());
}

/// A setting the rules use as a number (compared with, or counted with,
/// numbers; `money(...)`; a number of days) is checked as one, at its line.
#[test]
fn a_setting_the_rules_use_as_a_number_must_be_one() {
    let ws = Workspace::new();
    let good = ws.read("config.toml");
    let line_of = |text: &str, needle: &str| text.lines().position(|l| l.starts_with(needle)).unwrap() + 1;

    let wrong = good.replacen("key_revenue_12m = 150000", "key_revenue_12m = \"lots\"", 1);
    let p = check(&ws, wrong.as_bytes());
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!((p[0].0, p[0].1), (line_of(&wrong, "key_revenue_12m"), 19), "{p:?}");
    assert!(
        p[0].2.starts_with("settings.key_revenue_12m: \"lots\" is not a number, and rules/key_accounts.rhai:19:"),
        "{p:?}"
    );

    // A whole number of days: a decimal will not do.
    let wrong = good.replacen("lead_follow_up_days = 1", "lead_follow_up_days = 1.5", 1);
    let p = check(&ws, wrong.as_bytes());
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].0, line_of(&wrong, "lead_follow_up_days"), "{p:?}");
    assert!(
        p[0].2.starts_with(&format!(
            "settings.lead_follow_up_days: 1.5 is not a whole number, and rules/tasks_sales.rhai:{}:",
            ws.read("rules/tasks_sales.rhai").lines().position(|l| l.contains("settings.lead_follow_up_days")).unwrap()
                + 1
        )),
        "{p:?}"
    );

    // Every misuse at once, in line order.
    let wrong = good.replacen("key_keep_share = 0.8", "key_keep_share = \"0.8\"", 1).replacen(
        "big_deal_amount = 50000",
        "big_deal_amount = true",
        1,
    );
    let p = check(&ws, wrong.as_bytes());
    assert_eq!(
        p.iter().map(|(l, _, _)| *l).collect::<Vec<_>>(),
        [line_of(&wrong, "key_keep_share"), line_of(&wrong, "big_deal_amount")],
        "{p:?}"
    );

    // A setting the rules use as text may be text.
    std::fs::write(ws.path("config.toml"), &good).unwrap();
    ws.edit("config.toml", "[settings]", "[settings]\ngreeting = \"Hello\"");
    ws.write(
        "rules/greeting.rhai",
        "fn task_greet(event, settings) {\n    if settings.greeting == \"Hi\" { task(\"sales_rep\", `${settings.greeting}`) }\n}\n",
    );
    ws.run(&["check"]).success();
}
