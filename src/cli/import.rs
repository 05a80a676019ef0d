//! `dealflow import FORMAT PATH`: a CRM export turned into events and
//! applied like `dealflow ingest` (or written out with `--emit`).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use dealflow::import::roster::{self, RosterChange};
use dealflow::import::{self, Plan, RejectedEvent, RowNote, crm, mapping};
use dealflow::ingest::{Ended, Rejection, Summary};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Value, json};

use super::Outcome;
use super::context::Context;
use super::output::{self, printable};

const AFTER_HELP: &str = "\
Formats:
  crm-sales-opportunities FOLDER
      A folder with accounts.csv, sales_teams.csv, products.csv and sales_pipeline.csv.
      Accounts become account.upserted (id: the name as a slug, revenue from millions to
      currency units, parents first); each deal a deal.upserted at 09:00 on its engage_date
      (prospects with no engage_date: on the export's latest date) and, when won or lost, one
      at 17:00 on its close_date with the closing stage and close_value. Stages are mapped by
      [import.crm_sales_opportunities.stages] in config.toml. Open deals without an account
      become leads (source \"crm import\"). Agents (sales_rep) and managers (sales_manager) are
      added to [[team]] in config.toml unless --no-roster; comments there are kept.
  csv FILE --mapping MAP.toml
      Any CSV export: the mapping says which events each row makes and which column each
      field comes from. See examples/import/salesforce-opportunities.toml.

Events are applied in business-time order. Their ids are made from the record and what the
event says, so importing the same export again applies nothing, and a newer export applies
only what changed.

Exit codes: 0 all applied; 2 some rows or events were rejected (each is listed with its file
and row), the rest applied; 1 a failure that stopped the import; 64 the command line is wrong.

Examples:
  dealflow import crm-sales-opportunities ../exports/crm --emit events.jsonl   # look first
  dealflow import crm-sales-opportunities ../exports/crm
  dealflow import crm-sales-opportunities ../exports/crm --tasks-since 2017-12-01   # history: no old tasks
  dealflow import csv opportunities.csv --mapping salesforce-opportunities.toml --json";

#[derive(clap::Args)]
#[command(after_help = "Formats, event ids and exit codes: dealflow import --help", after_long_help = AFTER_HELP)]
pub struct Args {
    /// What kind of export PATH is.
    #[arg(value_enum, value_name = "FORMAT")]
    format: Format,
    /// The export: a folder (crm-sales-opportunities) or a CSV file (csv).
    #[arg(value_name = "PATH")]
    path: PathBuf,
    /// The mapping of columns to events (TOML); needed with `csv`.
    #[arg(long, value_name = "MAP.toml")]
    mapping: Option<PathBuf>,
    /// Leave [[team]] in config.toml alone: do not add the export's people.
    #[arg(long)]
    no_roster: bool,
    /// Write the events as JSON Lines to FILE (`-`: standard output) instead of applying them;
    /// nothing is changed, config.toml included.
    #[arg(long, value_name = "FILE")]
    emit: Option<PathBuf>,
    /// Treat what happened before DATE as history: those events set stages, key accounts and
    /// owners, but make no follow-up tasks (a 2017 order needs no processing today).
    #[arg(long, value_name = "DATE", value_parser = super::time_arg::business_time)]
    tasks_since: Option<chrono::DateTime<chrono::Utc>>,
    /// Print the summary as JSON (on standard error when --emit - writes the events to standard output).
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// A folder like the "CRM Sales Opportunities" sample: accounts, sales teams, products, pipeline.
    #[value(name = "crm-sales-opportunities")]
    CrmSalesOpportunities,
    /// A CSV file with a mapping file (--mapping) that says which events each row makes.
    Csv,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::CrmSalesOpportunities => crm::FORMAT,
            Format::Csv => mapping::FORMAT,
        }
    }
}

/// Lists in the text summary show this many entries; `--json` shows all.
const LISTED: usize = 10;

pub fn run(ctx: &Context, args: Args) -> Result<Outcome> {
    // The rules must load before anything is read or changed.
    let mut playbook = ctx.playbook()?;
    let plan = match (args.format, &args.mapping) {
        (Format::CrmSalesOpportunities, None) => crm::plan(&args.path, &playbook.config)?,
        (Format::CrmSalesOpportunities, Some(_)) => {
            bail!("--mapping is for `dealflow import csv`; a crm-sales-opportunities folder needs none")
        }
        (Format::Csv, Some(map)) => mapping::plan(&args.path, map)?,
        (Format::Csv, None) => bail!(
            "`dealflow import csv FILE` needs --mapping MAP.toml to know which events each row makes \
             (see examples/import/salesforce-opportunities.toml)"
        ),
    };
    let path = args.path.display().to_string();
    let note = format!("Added by `dealflow import {}` from {path}", args.format.name());

    let roster = if plan.people.is_empty() || args.no_roster {
        None
    } else if args.emit.is_some() {
        Some(roster::add_people(&playbook.config.text, &plan.people, &note)?.1)
    } else {
        let change = roster::write_people(&playbook.config.dir, &plan.people, &note)?;
        if change.written {
            // Assignment must see the new people.
            playbook = ctx.playbook().context("config.toml does not load after adding the export's people")?;
        }
        Some(change)
    };

    if let Some(target) = &args.emit {
        let to_stdout = target.as_os_str() == "-";
        if to_stdout {
            plan.write_jsonl(&mut std::io::stdout().lock()).context("cannot write the events to standard output")?;
        } else {
            let mut f = std::io::BufWriter::new(
                std::fs::File::create(target).with_context(|| format!("cannot write {}", target.display()))?,
            );
            plan.write_jsonl(&mut f).with_context(|| format!("cannot write {}", target.display()))?;
        }
        let report = Report { plan: &plan, path: &path, roster: roster.as_ref(), applied: None, emitted: Some(target) };
        report.print(args.json, to_stdout)?;
        return Ok(if report.rows_rejected() { Outcome::Partial } else { Outcome::Ok });
    }

    let store = ctx.store_to_apply(&playbook, "import")?;
    let current = dealflow::playbook::current(playbook);
    let stop = super::context::stop_flag()?;
    let bar = Progress::new(plan.events.len() as u64);
    let source = format!("dealflow import {} {path}", args.format.name());
    let applied = import::apply(&plan, &source, &store, &current, Some(&stop), args.tasks_since, &mut |n| bar.at(n))?;
    bar.done();
    let report = Report { plan: &plan, path: &path, roster: roster.as_ref(), applied: Some(&applied), emitted: None };
    report.print(args.json, false)?;
    match &applied.ended {
        Ok(Ended::Complete) => {}
        Ok(Ended::Stopped) => {
            eprintln!("stopped by a signal: every event applied so far is kept; import the same export again to go on");
            return Ok(Outcome::Failed);
        }
        Err(e) => {
            return Err(anyhow::anyhow!("{e}"))
                .context("the import stopped; every event applied before the failure is kept");
        }
    }
    Ok(if report.rows_rejected() || applied.summary.counts.rejected > 0 { Outcome::Partial } else { Outcome::Ok })
}

/// A bar on standard error once applying has taken more than a second, and only on a terminal.
struct Progress {
    bar: ProgressBar,
    started: Instant,
    shown: std::cell::Cell<bool>,
    terminal: bool,
}

impl Progress {
    fn new(len: u64) -> Progress {
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden());
        bar.set_style(
            ProgressStyle::with_template("importing [{bar:30}] {pos}/{len} events, {eta} left")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        Progress { bar, started: Instant::now(), shown: false.into(), terminal: std::io::stderr().is_terminal() }
    }

    fn at(&self, n: usize) {
        self.bar.set_position(n as u64);
        if self.terminal && !self.shown.get() && self.started.elapsed() > Duration::from_secs(1) {
            self.shown.set(true);
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
        }
    }

    fn done(&self) {
        self.bar.finish_and_clear();
    }
}

struct Report<'a> {
    plan: &'a Plan,
    path: &'a str,
    roster: Option<&'a RosterChange>,
    applied: Option<&'a import::Applied>,
    emitted: Option<&'a Path>,
}

impl Report<'_> {
    fn rows_rejected(&self) -> bool {
        !self.plan.rejected_rows.is_empty() || !self.plan.closed_without_account.is_empty()
    }

    fn json(&self) -> Result<Value> {
        let mut v = json!({"format": self.plan.format, "path": self.path});
        let map = v.as_object_mut().expect("an object");
        let Value::Object(plan) = serde_json::to_value(self.plan)? else { unreachable!("a struct") };
        map.extend(plan);
        map.insert("events".into(), json!(self.plan.events.len()));
        map.insert("events_by_type".into(), json!(self.plan.events_by_type()));
        map.insert("roster".into(), json!(self.roster));
        map.insert("emitted_to".into(), json!(self.emitted.map(|p| p.display().to_string())));
        match self.applied {
            Some(a) => {
                let Value::Object(counts) = serde_json::to_value(&a.summary.counts)? else { unreachable!("a struct") };
                map.extend(counts);
                map.insert("rejected_events".into(), json!(a.rejected));
                map.insert("rule_failures".into(), json!(a.summary.rule_failures));
            }
            None => {
                map.insert("rejected_events".into(), json!([]));
            }
        }
        Ok(v)
    }

    fn print(&self, as_json: bool, to_stderr: bool) -> Result<()> {
        if as_json {
            let v = self.json()?;
            if to_stderr {
                eprintln!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                output::json(&v)?;
            }
            return Ok(());
        }
        let mut out = String::new();
        self.text(&mut out);
        if to_stderr {
            eprint!("{out}");
        } else {
            print!("{out}");
        }
        if let Some(a) = self.applied {
            // The counts line, rule failures and rejected events, as `ingest` prints them.
            let mut shown = Summary { counts: a.summary.counts.clone(), ..Summary::default() };
            shown.rule_failures = a.summary.rule_failures.clone();
            shown.rejections = a.rejected.iter().take(100).map(rejection).collect();
            super::ingest::print_summary(&shown, false)?;
        }
        for r in self.plan.rejected_rows.iter().take(100) {
            eprintln!("{}:{}: rejected: {}", printable(&r.file), r.row, printable(&r.message));
        }
        if self.plan.rejected_rows.len() > 100 {
            eprintln!("... and {} more rejected rows (--json lists them all)", self.plan.rejected_rows.len() - 100);
        }
        Ok(())
    }

    fn text(&self, out: &mut String) {
        use std::fmt::Write;
        let p = self.plan;
        let _ = writeln!(out, "{} export {}", p.format, printable(self.path));
        for f in &p.files {
            let outcomes: Vec<String> = f.outcomes.iter().map(|(k, n)| format!("{n} {k}")).collect();
            let what = if outcomes.is_empty() { "nothing".to_string() } else { outcomes.join(", ") };
            let _ = writeln!(out, "  {}: {} rows: {}", printable(&f.file), f.rows, printable(&what));
        }
        if let Some(r) = self.roster {
            let verb = if r.written { "added" } else { "would add" };
            if r.added.is_empty() {
                let _ =
                    writeln!(out, "roster: all {} people of the export are in config.toml already", r.already_there);
            } else {
                let mut roles = std::collections::BTreeMap::<&str, usize>::new();
                for person in &r.added {
                    *roles.entry(person.role.as_str()).or_default() += 1;
                }
                let roles: Vec<String> = roles.iter().map(|(role, n)| format!("{n} {role}")).collect();
                let _ = writeln!(
                    out,
                    "roster: {verb} {} people to [[team]] in config.toml ({}); {} were there already",
                    r.added.len(),
                    roles.join(", "),
                    r.already_there
                );
                let mut line = String::from(" ");
                for (i, person) in r.added.iter().enumerate() {
                    let sep = if i + 1 < r.added.len() { "," } else { "" };
                    let name = printable(&person.name);
                    if line.len() + name.len() > 96 {
                        let _ = writeln!(out, "{line}");
                        line = String::from(" ");
                    }
                    line.push(' ');
                    line.push_str(&name);
                    line.push_str(sep);
                }
                let _ = writeln!(out, "{line}");
            }
        }
        let by_type: Vec<String> = p.events_by_type().iter().map(|(k, n)| format!("{n} {k}")).collect();
        let _ = writeln!(
            out,
            "events: {}{}",
            p.events.len(),
            if by_type.is_empty() { String::new() } else { format!(" ({})", by_type.join(", ")) }
        );
        if p.repeated_events > 0 {
            let _ = writeln!(out, "  {} events repeated by later rows were made once", p.repeated_events);
        }
        if let Some(target) = self.emitted {
            let place = if target.as_os_str() == "-" {
                "standard output".to_string()
            } else {
                printable(&target.display().to_string())
            };
            let _ = writeln!(out, "written to {place}; nothing was applied (ingest it with `dealflow ingest`)");
        }
        for s in &p.product_spellings {
            let _ = writeln!(out, "product {:?} read as {:?} ({} rows)", s.written, s.product, s.rows);
        }
        list(out, "unmatched products, kept as written", &p.unmatched_products);
        if p.format == crm::FORMAT {
            let _ = writeln!(out, "leads made from open deals without an account: {}", p.leads.len());
            for l in p.leads.iter().take(LISTED) {
                let (file, lead) = (printable(&l.file), printable(&l.lead_id));
                let (product, owner) = (printable(&l.product), printable(&l.owner));
                let _ = writeln!(out, "  {file}:{}: lead {lead} ({product}, {owner})", l.row);
            }
            if p.leads.len() > LISTED {
                let _ = writeln!(out, "  ... and {} more (--json lists every one)", p.leads.len() - LISTED);
            }
            let _ = writeln!(out, "closed deals without an account (not imported): {}", p.closed_without_account.len());
            for r in p.closed_without_account.iter().take(LISTED) {
                let _ = writeln!(out, "  {}", note(r));
            }
        }
        list(out, "notes", &p.notes);
        if let Some(a) = self.applied {
            let _ = list_events(out, &a.rejected);
        }
    }
}

fn note(r: &RowNote) -> String {
    format!("{}:{}: {}", printable(&r.file), r.row, printable(&r.message))
}

fn list(out: &mut String, title: &str, items: &[RowNote]) {
    use std::fmt::Write;
    if items.is_empty() {
        return;
    }
    let _ = writeln!(out, "{title}: {}", items.len());
    for r in items.iter().take(LISTED) {
        let _ = writeln!(out, "  {}", note(r));
    }
    if items.len() > LISTED {
        let _ = writeln!(out, "  ... and {} more (--json lists every one)", items.len() - LISTED);
    }
}

/// Rejected events are printed on standard error with the counts; here only how many rows they came from.
fn list_events(out: &mut String, rejected: &[RejectedEvent]) -> std::fmt::Result {
    use std::fmt::Write;
    if !rejected.is_empty() {
        let mut rows: Vec<(&str, usize)> = rejected.iter().map(|r| (r.file.as_str(), r.row)).collect();
        rows.sort();
        rows.dedup();
        writeln!(out, "events rejected by ingest: {} (from {} rows)", rejected.len(), rows.len())?;
    }
    Ok(())
}

fn rejection(r: &RejectedEvent) -> Rejection {
    Rejection { source: r.file.clone(), line: r.row, reason: format!("event {}: {}", r.event_id, r.reason) }
}
