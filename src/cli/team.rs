//! `dealflow team`: who takes work today. Each person's roles with their
//! weight and cap, their open tasks against it, their working days, and
//! whether they are in, away (until when) or inactive; the next time off.

use anyhow::Result;
use chrono::NaiveDate;
use serde_json::json;

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
    let mut loads = std::collections::HashMap::new();
    for role in config.roles.keys() {
        let l = match &store {
            Some(s) => dealflow::assign::loads(&config, s, role)?,
            None => Default::default(),
        };
        loads.insert(role.clone(), l);
    }
    let mut rows = Vec::new();
    for p in &config.team {
        let away = p.away_on(on);
        let next = p.away.iter().find(|a| a.from > on).copied();
        let state = if !p.active {
            "inactive".to_string()
        } else if let Some(a) = away {
            format!("away until {}", a.to)
        } else if !p.works_on(&config.calendar, on) {
            "not a working day".to_string()
        } else {
            "in".to_string()
        };
        for m in &p.roles {
            let open = loads.get(&m.role).and_then(|l| l.get(p.key())).copied().unwrap_or(0);
            let at_cap = m.max_open.is_some_and(|c| open >= i64::from(c));
            rows.push((p, m, open, at_cap, state.clone(), away, next));
        }
    }
    if args.json {
        let out: Vec<_> = rows
            .iter()
            .map(|(p, m, open, at_cap, state, away, next)| {
                json!({
                    "name": p.name, "id": p.id, "role": m.role, "region": p.region, "active": p.active,
                    "weight": m.weight, "max_open": m.max_open, "open": open, "at_cap": at_cap,
                    "days": p.days.names(), "state": state, "away": away, "next_away": next, "time_off": p.away,
                })
            })
            .collect();
        output::json(&out)?;
        return Ok(Outcome::Ok);
    }
    if rows.is_empty() {
        println!("nobody in [[team]] of config.toml");
        return Ok(Outcome::Ok);
    }
    let names: Vec<String> = config.team.iter().map(|p| p.name.clone()).collect();
    let mut t = output::table(&["NAME", "ROLE", "WEIGHT", "OPEN", "DAYS", &format!("ON {on}"), "NEXT TIME OFF"]);
    t.whole(&["WEIGHT", "OPEN"]).min("NAME", 14).drop_first(&["NEXT TIME OFF", "DAYS"]);
    for (p, m, open, at_cap, state, _, next) in &rows {
        let open = match m.max_open {
            Some(c) if *at_cap => format!("{open}/{c} full"),
            Some(c) => format!("{open}/{c}"),
            None => open.to_string(),
        };
        let days = if p.days.is_full_week() { "mon-fri".to_string() } else { p.days.names().join(",") };
        t.add_row(vec![
            output::glue(&config.person_label(p.key()), &names),
            m.role.clone(),
            format!("{}", m.weight),
            open,
            days,
            state.clone(),
            or_dash(next.map(|a| format!("{} to {}", a.from, a.to)).as_deref()),
        ]);
    }
    println!("{t}");
    Ok(Outcome::Ok)
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
