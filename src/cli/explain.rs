//! `dealflow explain deal|account|task ID`: why the engine did what it did.

use anyhow::Result;
use dealflow::explain::{self, Explanation};

use super::Outcome;
use super::context::Context;
use super::output;

#[derive(Clone, Copy, clap::ValueEnum)]
enum Kind {
    Deal,
    Account,
    Task,
}

#[derive(clap::Args)]
pub struct Args {
    /// What to explain.
    #[arg(value_enum)]
    kind: Kind,
    /// Its id (a task's number for a task).
    id: String,
    /// Print a JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &Context, args: Args) -> Result<Outcome> {
    let playbook = ctx.playbook()?;
    let store = ctx.existing_store(&playbook.config)?;
    let e = match args.kind {
        Kind::Deal => explain::deal(&store, &playbook, &args.id)?,
        Kind::Account => explain::account(&store, &playbook, &args.id)?,
        Kind::Task => {
            let id = args.id.trim_start_matches(['T', 't', '#', '-']);
            let id: i64 = id.parse().map_err(|_| anyhow::anyhow!("{:?} is not a task number", args.id))?;
            explain::task(&store, &playbook, id)?
        }
    };
    if args.json {
        output::json(&e)?;
    } else {
        let names: Vec<String> = playbook.config.team.iter().map(|p| p.name.clone()).collect();
        print(&e, &playbook.config, &|text: &str| output::glue(text, &names));
    }
    Ok(Outcome::Ok)
}

/// `glue` keeps the team's names on one line (see [`output::glue`]).
fn print(e: &Explanation, config: &dealflow::config::Config, glue: &dyn Fn(&str) -> String) {
    output::say(0, 4, &glue(&e.summary));
    if let Some(at) = &e.pruned_before {
        output::say(
            0,
            4,
            &format!(
                "history before {at} was pruned (dealflow prune): its events are shown, not what the rules decided then"
            ),
        );
    }
    if let Some(k) = &e.key_now {
        let verdict = match (k.is_key, k.would_be_key) {
            (true, true) => "key, and the rules still say so",
            (false, false) => "not key: no key-account rule says key now",
            (true, false) => "key, but the rules would not make it key now (it changes with the next event about it)",
            (false, true) => "not key, but the rules would make it key now (it changes with the next event about it)",
        };
        println!();
        output::say(0, 4, &format!("key account now? {verdict}"));
        for v in &k.verdicts {
            let says = match &v.reason {
                Some(r) => format!("{}: {r}", v.says),
                None => v.says.clone(),
            };
            output::say(2, 4, &glue(&format!("{} → {says}", v.rule)));
            print_reading(v);
        }
    }
    if let Some(r) = &e.rule_text {
        let note = if r.changed_since { " (it reads differently now)" } else { "" };
        println!();
        output::say(0, 4, &format!("the rule {} as it was in version {}{note}:", r.rule, r.rules_version));
        println!();
        for line in r.text.lines() {
            output::say(4, 4, line);
        }
    }
    if let (Some(t), false) = (&e.task, e.assignment.is_empty()) {
        println!();
        let to = match e.assignment.last().and_then(|s| s.to.as_deref()) {
            Some(who) => config.person_label(who),
            None => format!("the {} queue", t.role),
        };
        output::say(0, 4, &glue(&format!("why it went to {to}:")));
        for step in &e.assignment {
            let Some((head, rest)) = step.lines.split_first() else { continue };
            output::say(2, 4, &glue(head));
            for line in rest {
                output::say(6, 2, &glue(line));
            }
        }
    }
    if !e.timeline.is_empty() {
        println!();
        let mut t = output::table(&["AT", "WHAT", "RULE", "WHY", "VERSION", "EVENT"]);
        t.whole(&["AT", "VERSION", "EVENT"])
            .wrap(&["WHAT", "RULE", "WHY"])
            .min("WHAT", 24)
            .min("WHY", 16)
            .drop_first(&["VERSION", "EVENT"]);
        for x in &e.timeline {
            t.add_row(vec![
                x.at.clone(),
                glue(&x.what),
                x.rule.clone().unwrap_or_default(),
                glue(&x.reason),
                x.rules_version.clone(),
                x.event_id.clone(),
            ]);
        }
        println!("{t}");
    }
}

/// A key rule's `let` values and tests, each part with its values:
/// `✓ account.employees >= settings.key_large_company_employees: 1,200 >= 1,000`.
fn print_reading(v: &explain::Verdict) {
    for l in &v.lets {
        output::say(6, 4, &format!("let {} = {} (line {})", l.name, l.value, l.line));
    }
    for test in &v.tests {
        let what = match (test.result.as_str(), test.decided) {
            ("true", true) => "true: the rule answers here".to_string(),
            ("true", false) => "true".to_string(),
            (other, _) => other.to_string(),
        };
        output::say(6, 4, &format!("test at line {}: {what}", test.line));
        for c in v.conditions.iter().filter(|c| c.line == test.line) {
            print_condition(c, 8);
        }
    }
}

fn print_condition(c: &dealflow::rules::Condition, indent: usize) {
    let mark = match c.holds() {
        Some(true) => "✓",
        Some(false) => "✗",
        None => "·",
    };
    let result = match (&c.values, c.holds()) {
        (Some(values), Some(_)) => values.clone(),
        (Some(values), None) => format!("{values} → {}", c.result),
        (None, _) => c.result.clone(),
    };
    let line = format!("{mark} {}: {result}", c.text);
    // The values stay together: on a line of their own when the whole does not fit.
    match output::width() {
        Some(w) if indent + output::shown_width(&line) > w => {
            output::say(indent, 4, &format!("{mark} {}:", c.text));
            output::say(indent + 4, 4, &result);
        }
        _ => output::say(indent, 4, &line),
    }
    for p in &c.parts {
        print_condition(p, indent + 2);
    }
}
