//! `dealflow team`: who takes work on a day. Each person's roles with their
//! weight and cap, their open tasks against it, their working days, and
//! whether they are in, away (until when) or inactive; the next time off.

use anyhow::Result;
use chrono::NaiveDate;

use super::Outcome;
use super::context::Context;
use super::output::{self, or_dash};

#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    dealflow team                       who is in today, and how full each one's queue is\n  \
    dealflow team --on 2026-07-15       who is in on that day (time off in config.toml)\n  \
    dealflow team --json                the same for scripts")]
pub struct Args {
    /// The day to look at (YYYY-MM-DD; default: today).
    #[arg(long, value_name = "DATE", value_parser = day)]
    on: Option<NaiveDate>,
    /// Print a JSON array: one entry per person and role.
    #[arg(long)]
    json: bool,
}

fn day(text: &str) -> std::result::Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| "not a date: write YYYY-MM-DD".to_string())
}

pub fn run(ctx: &Context, args: Args) -> Result<Outcome> {
    let config = ctx.config()?;
    let on = args.on.unwrap_or_else(|| chrono::Utc::now().date_naive());
    // Open tasks come from the store when there is one; a new config folder has none yet.
    let store = ctx.existing_store(&config).ok();
    let rows = dealflow::assign::roster(&config, store.as_ref(), on)?;
    if args.json {
        output::json(&rows)?;
        return Ok(Outcome::Ok);
    }
    if rows.is_empty() {
        println!("nobody in [[team]] of config.toml");
        return Ok(Outcome::Ok);
    }
    let names: Vec<String> = config.team.iter().map(|p| p.name.clone()).collect();
    let mut t = output::table(&["NAME", "ROLE", "WEIGHT", "OPEN", "DAYS", &format!("ON {on}"), "NEXT TIME OFF"]);
    t.whole(&["WEIGHT", "OPEN"]).min("NAME", 14).drop_first(&["NEXT TIME OFF", "DAYS"]);
    for r in &rows {
        t.add_row(vec![
            output::glue(&config.person_label(r.id.as_deref().unwrap_or(&r.name)), &names),
            r.role.clone(),
            r.weight.to_string(),
            open_of(r),
            if r.days.len() == 5 && !r.days.contains(&"sat") && !r.days.contains(&"sun") {
                "mon-fri".to_string()
            } else {
                r.days.join(",")
            },
            r.state.clone(),
            or_dash(r.next_away.map(|a| format!("{} to {}", a.from, a.to)).as_deref()),
        ]);
    }
    println!("{t}");
    Ok(Outcome::Ok)
}

/// "3", "3/20", "20/20 full".
pub fn open_of(r: &dealflow::assign::RosterRow) -> String {
    match r.max_open {
        Some(c) if r.at_cap => format!("{}/{c} full", r.open),
        Some(c) => format!("{}/{c}", r.open),
        None => r.open.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::day;

    #[test]
    fn a_day_is_read_as_a_date_or_refused_with_its_form() {
        assert_eq!(day("2026-07-15").unwrap().to_string(), "2026-07-15");
        assert!(day("15/07/2026").unwrap_err().contains("YYYY-MM-DD"));
    }
}
