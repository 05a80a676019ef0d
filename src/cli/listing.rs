//! `dealflow accounts` and `dealflow deals`.

use anyhow::Result;
use dealflow::rules::money;
use serde_json::json;

use super::Outcome;
use super::context::Context;
use super::output::{self, or_dash};

#[derive(clap::Args)]
pub struct AccountsArgs {
    /// Only key accounts.
    #[arg(long)]
    key: bool,
    /// Print a JSON array.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct DealsArgs {
    /// Only deals in this stage.
    #[arg(long)]
    stage: Option<String>,
    /// Only deals of this account.
    #[arg(long)]
    account: Option<String>,
    /// Print a JSON array.
    #[arg(long)]
    json: bool,
}

pub fn accounts(ctx: &Context, args: AccountsArgs) -> Result<Outcome> {
    let config = ctx.config()?;
    let store = ctx.existing_store(&config)?;
    let mut accounts = store.accounts(args.key)?;
    accounts.sort_by_key(|a| !a.is_key);
    let name = |a: &dealflow::model::Account| a.data.get("name").and_then(|v| v.as_str()).unwrap_or(&a.id).to_string();
    let region = |a: &dealflow::model::Account| a.data.get("region").and_then(|v| v.as_str()).map(str::to_string);
    let waiting = store.waiting_handovers()?;
    let waiting_for =
        |a: &dealflow::model::Account| waiting.iter().find(|w| w.account_id == a.id).map(|w| w.role.clone());
    if args.json {
        let rows: Vec<_> = accounts
            .iter()
            .map(|a| {
                let row = json!({"id": a.id, "name": name(a), "is_key": a.is_key, "key_since": a.key_since, "key_reason": a.key_reason,
                       "owner": a.owner, "waiting_for": waiting_for(a), "region": region(a), "parent_id": a.parent_id,
                       "last_contact": a.last_contact, "data": a.data});
                output::with_people(&config, row, &["owner"])
            })
            .collect();
        output::json(&rows)?;
        return Ok(Outcome::Ok);
    }
    if accounts.is_empty() {
        println!("no accounts");
        return Ok(Outcome::Ok);
    }
    let names: Vec<String> = config.team.iter().map(|p| p.name.clone()).collect();
    let mut t = output::table(&["ID", "NAME", "KEY", "OWNER", "REGION", "WHY KEY"]);
    t.whole(&["ID", "KEY"]).min("NAME", 20).min("OWNER", 14).min("WHY KEY", 16).drop_first(&["REGION", "WHY KEY"]);
    for a in &accounts {
        let key = if a.is_key {
            format!("since {}", a.key_since.as_deref().unwrap_or("?").get(..10).unwrap_or("?"))
        } else {
            "-".into()
        };
        let owner = or_dash(a.owner.as_deref().map(|o| config.person_label(o)).as_deref());
        t.add_row(vec![
            a.id.clone(),
            name(a),
            key,
            output::glue(
                &match waiting_for(a) {
                    Some(role) => format!("{owner} (waits for {})", dealflow::assign::a_role(&role)),
                    None => owner,
                },
                &names,
            ),
            or_dash(region(a).as_deref()),
            or_dash(a.key_reason.as_deref()),
        ]);
    }
    println!("{t}");
    Ok(Outcome::Ok)
}

pub fn deals(ctx: &Context, args: DealsArgs) -> Result<Outcome> {
    let config = ctx.config()?;
    if let Some(s) = &args.stage
        && config.pipeline.index(s).is_none()
    {
        anyhow::bail!("unknown stage {s:?}; the pipeline is {}", config.pipeline.stages.join(" → "));
    }
    let store = ctx.existing_store(&config)?;
    let deals = store.deals(args.stage.as_deref(), args.account.as_deref())?;
    let text = |d: &dealflow::model::Deal, k: &str| d.data.get(k).and_then(|v| v.as_str()).map(str::to_string);
    if args.json {
        let rows: Vec<_> = deals
            .iter()
            .map(|d| {
                let row = json!({"id": d.id, "account_id": d.account_id, "name": text(d, "name"), "product": text(d, "product"), "amount": d.amount,
                       "owner": d.owner, "stage": d.stage, "stage_entered_at": d.stage_entered_at, "closed_at": d.closed_at, "life": d.life, "life_started_at": d.life_started_at, "data": d.data});
                output::with_people(&config, row, &["owner"])
            })
            .collect();
        output::json(&rows)?;
        return Ok(Outcome::Ok);
    }
    if deals.is_empty() {
        println!("no deals");
        return Ok(Outcome::Ok);
    }
    let names: Vec<String> = config.team.iter().map(|p| p.name.clone()).collect();
    let mut t = output::table(&["ID", "ACCOUNT", "NAME", "STAGE", "SINCE", "AMOUNT", "OWNER"]);
    t.whole(&["ID", "ACCOUNT", "STAGE", "SINCE", "AMOUNT"])
        .min("NAME", 24)
        .min("OWNER", 14)
        .drop_first(&["ACCOUNT", "SINCE", "OWNER"]);
    for d in &deals {
        t.add_row(vec![
            d.id.clone(),
            d.account_id.clone(),
            or_dash(text(d, "name").as_deref()),
            d.stage.clone(),
            d.stage_entered_at.get(..10).unwrap_or("").to_string(),
            money(d.amount),
            output::glue(&or_dash(d.owner.as_deref().map(|o| config.person_label(o)).as_deref()), &names),
        ]);
    }
    println!("{t}");
    Ok(Outcome::Ok)
}
