//! `dealflow test`: run the rule tests in rules/tests/*.toml.

use anyhow::Result;
use dealflow::rule_tests;

use super::Outcome;
use super::context::Context;
use super::output::{self, printable};

#[derive(clap::Args)]
pub struct Args {
    /// Only cases whose name contains this text.
    filter: Option<String>,
    /// Print the results as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &Context, args: Args) -> Result<Outcome> {
    let playbook = ctx.playbook()?;
    let files = match rule_tests::load(&ctx.dir, &playbook.config) {
        Ok(f) => f,
        Err(dealflow::error::Error::Invalid(p)) => {
            for problem in &p.0 {
                println!("{}", printable(&problem.to_string()));
            }
            println!("0 passed, {} failed", p.0.len());
            return Ok(Outcome::Failed);
        }
        Err(e) => return Err(e.into()),
    };
    let current = dealflow::playbook::current(playbook);
    let mut results = Vec::new();
    for (file, cases) in &files {
        for case in cases {
            if args.filter.as_ref().is_some_and(|f| !case.name.contains(f.as_str())) {
                continue;
            }
            let r = rule_tests::run(file, case, &current)?;
            if !args.json {
                let (file, name) = (printable(&r.file), printable(&r.name));
                if r.problems.is_empty() {
                    println!("{file}: {name} ... ok");
                } else {
                    println!("{file}: {name} ... FAILED");
                    for p in &r.problems {
                        println!("    {}", printable(&p.to_string()));
                    }
                }
            }
            results.push(r);
        }
    }
    let failed = results.iter().filter(|r| !r.problems.is_empty()).count();
    let passed = results.len() - failed;
    if args.json {
        output::json(&serde_json::json!({"passed": passed, "failed": failed, "cases": results}))?;
    } else {
        if results.is_empty() {
            println!("no rule tests: add cases to rules/tests/*.toml");
        }
        println!("{passed} passed, {failed} failed");
    }
    Ok(if failed > 0 { Outcome::Failed } else { Outcome::Ok })
}
