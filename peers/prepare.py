#!/usr/bin/env python3
"""Write the inputs of the peer benchmark: the sample CRM's accounts and deals,
scaled up, as the facts the key-account and stage decisions read.

Reads ../shared/data/crm-sales-opportunities/ (relative to the repository
root; never copied into the repository) and writes, to peers/work/:

  accounts.jsonl   one account a line: the facts the key-account rules read
  deals.jsonl      one deal a line: the facts the stage rules read
  meta.json        counts, seed, scale, the data's last date, the settings

Every engine reads these same files. Standard library only.

How the facts are derived (the CRM has accounts, products, sales agents and
8,800 opportunities; nothing else):

Accounts. For each CRM account A:
  revenue_12m   the close_value of A's won deals closed in the 365 days up to
                the data's last date (2017-12-31), as dealflow's store sums it;
  employees     A's employees;
  open_deals    A's deals still Prospecting or Engaging;
  parent        A's `subsidiary_of`.
Each copy of A varies these, seeded: revenue x U(0.55, 1.45); employees
x U(0.6, 1.4); open_deals keeps each of A's open deals with probability 0.35
(so "at least 3" holds for about half). The CRM gives open deals no amount:
open_pipeline sums the kept deals' product list prices times a seeded
quantity of 1 to 10 units. The CRM has no contracts: one copy in eight gets
an active supply contract of 12, 24 or 36 months
(longest_active_contract_months; 0 otherwise). is_key, whether the account
was key before this decision (the rules keep a key account at key_keep_share
of the thresholds), is seeded: 30%. A copy of a subsidiary has the same copy
of its parent as parent_id, and parent_is_key says whether that parent copy
is key by revenue, contract or size (parents in the CRM are not subsidiaries
themselves), as dealflow would have decided it before.

Deals. For each CRM opportunity, each copy:
  stage            Prospecting -> lead; Engaging -> qualified (45%), proposal
                   (35%) or negotiation (20%); Won / Lost: the deal as it was
                   when the CRM asked to close it (qualified 15%, proposal
                   25%, negotiation 60%) with requested_stage won / lost, except
                   5% that are already closed with no request (dealflow
                   decides nothing for those);
  requested_stage  for open deals: none (65%), the next stage (25%),
                   negotiation straight from lead / qualified (5%), lost (5%);
  activities       call, meeting, email, demo, proposal_sent counts, more of
                   them the further the stage (see ACTIVITY below);
  decision_maker_met  true with a probability that grows with the stage.
The shares are chosen so that every stage rule fires on a real share of the
deals, and the refusal (negotiation requested, no decision maker) too.

Scale. --scale N (default 12) makes N copies of every deal (105,600) and
100 N copies of every account (102,000), each copy varied as above: a
key-account decision reads one account's facts and a stage decision one
deal's, so the two sets need not join. At these sizes the slowest peer
(json-rules-engine, about 11,000 evaluations/s) takes about 9 s a pass;
--scale 120 gives a million deals (and 1,020,000 accounts).
"""

import argparse
import csv
import datetime as dt
import json
import os
import random
import sys
import tomllib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA = os.path.join(os.path.dirname(ROOT), "shared", "data", "crm-sales-opportunities")

ACCOUNT_COPIES_PER_SCALE = 100
KINDS = ["call", "meeting", "email", "demo", "proposal_sent"]
# Per stage: probability of at least one activity of each kind.
ACTIVITY = {
    "lead": {"call": 0.6, "meeting": 0.3, "email": 0.7, "demo": 0.15, "proposal_sent": 0.0},
    "qualified": {"call": 0.8, "meeting": 0.8, "email": 0.9, "demo": 0.5, "proposal_sent": 0.5},
    "proposal": {"call": 0.8, "meeting": 0.9, "email": 0.9, "demo": 0.6, "proposal_sent": 0.85},
    "negotiation": {"call": 0.9, "meeting": 0.95, "email": 0.95, "demo": 0.7, "proposal_sent": 0.95},
}
DECISION_MAKER = {"lead": 0.1, "qualified": 0.3, "proposal": 0.55, "negotiation": 0.8}
NEXT = {"lead": "qualified", "qualified": "proposal", "proposal": "negotiation", "negotiation": "won"}


def read_csv(name):
    with open(os.path.join(DATA, name), newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def pick(rng, weighted):
    x = rng.random()
    for value, p in weighted:
        x -= p
        if x < 0:
            return value
    return weighted[-1][0]


def activities(rng, stage):
    out = {}
    for kind in KINDS:
        p = ACTIVITY[stage][kind]
        out[kind] = 1 + int(rng.random() * 3) if rng.random() < p else 0
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=int, default=12, help="copies of each deal; accounts get 100x as many (default 12)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", default=os.path.join(HERE, "work"))
    args = ap.parse_args()
    if args.scale < 1:
        sys.exit("--scale must be at least 1")
    if not os.path.isdir(DATA):
        sys.exit(f"no sample CRM at {DATA}")

    with open(os.path.join(ROOT, "config.toml"), "rb") as f:
        settings = tomllib.load(f)["settings"]
    rng = random.Random(args.seed)
    accounts = read_csv("accounts.csv")
    pipeline = read_csv("sales_pipeline.csv")
    products = {p["product"]: float(p["sales_price"]) for p in read_csv("products.csv")}

    last = max(d["close_date"] for d in pipeline if d["close_date"])
    last_day = dt.date.fromisoformat(last)
    year_before = (last_day - dt.timedelta(days=365)).isoformat()

    names = [a["account"] for a in accounts]
    index = {n: i for i, n in enumerate(names)}
    revenue = [0.0] * len(names)
    open_deals = [[] for _ in names]  # list prices of each account's open deals
    for d in pipeline:
        i = index.get(d["account"])
        if i is None:
            continue
        if d["deal_stage"] == "Won" and year_before < d["close_date"] <= last:
            revenue[i] += float(d["close_value"])
        if d["deal_stage"] in ("Prospecting", "Engaging"):
            open_deals[i].append(products.get(d["product"], 0.0))

    os.makedirs(args.out, exist_ok=True)
    n_copies = args.scale * ACCOUNT_COPIES_PER_SCALE

    def account_id(i, copy):
        return f"A-{copy}-{i}"

    def key_without_parent(a):
        # The default key rules but key_by_parent (see rules/key_accounts.rhai).
        share = settings.get("key_keep_share", 1.0) if a["is_key"] else 1.0
        return (
            a["revenue_12m"] >= settings["key_revenue_12m"] * share
            or a["longest_active_contract_months"] >= settings["key_contract_months"]
            or (
                a["employees"] >= settings["key_large_company_employees"]
                and a["open_deals"] >= settings["key_large_company_open_deals"]
                and a["open_pipeline"] >= settings.get("key_large_company_open_pipeline", 0) * share
            )
        )

    n_accounts = 0
    with open(os.path.join(args.out, "accounts.jsonl"), "w", encoding="utf-8") as out:
        for copy in range(n_copies):
            batch = []
            for i, a in enumerate(accounts):
                contract = 0
                if rng.random() < 1 / 8:
                    contract = rng.choice([12, 24, 36])
                kept = [price * (1 + int(rng.random() * 10)) for price in open_deals[i] if rng.random() < 0.35]
                batch.append(
                    {
                        "id": account_id(i, copy),
                        "name": a["account"] if copy == 0 else f"{a['account']} #{copy}",
                        "sector": a["sector"],
                        "employees": max(1, round(int(a["employees"]) * rng.uniform(0.6, 1.4))),
                        "revenue_12m": round(revenue[i] * rng.uniform(0.55, 1.45), 2),
                        "open_deals": len(kept),
                        "open_pipeline": round(sum(kept), 2),
                        "longest_active_contract_months": contract,
                        "is_key": rng.random() < 0.3,
                        "parent_id": None,
                        "parent_is_key": False,
                    }
                )
            for i, a in enumerate(accounts):
                parent = index.get(a["subsidiary_of"])
                if parent is not None:
                    batch[i]["parent_id"] = account_id(parent, copy)
                    batch[i]["parent_is_key"] = key_without_parent(batch[parent])
            for rec in batch:
                out.write(json.dumps(rec, separators=(",", ":")))
                out.write("\n")
            n_accounts += len(batch)

    n_deals = 0
    with open(os.path.join(args.out, "deals.jsonl"), "w", encoding="utf-8") as out:
        for copy in range(args.scale):
            for d in pipeline:
                crm = d["deal_stage"]
                requested = None
                if crm == "Prospecting":
                    stage = "lead"
                elif crm == "Engaging":
                    stage = pick(rng, [("qualified", 0.45), ("proposal", 0.35), ("negotiation", 0.20)])
                elif rng.random() < 0.05:
                    stage = "won" if crm == "Won" else "lost"
                else:
                    stage = pick(rng, [("qualified", 0.15), ("proposal", 0.25), ("negotiation", 0.60)])
                    requested = "won" if crm == "Won" else "lost"
                if stage in NEXT and requested is None:
                    r = rng.random()
                    if r < 0.25:
                        requested = NEXT[stage]
                    elif r < 0.30 and stage in ("lead", "qualified"):
                        requested = "negotiation"
                    elif r < 0.35:
                        requested = "lost"
                open_stage = stage if stage in NEXT else "negotiation"
                acc = index.get(d["account"])
                amount = float(d["close_value"]) if crm == "Won" else products.get(d["product"], 0.0)
                rec = {
                    "id": f"D-{copy}-{d['opportunity_id']}",
                    "account_id": account_id(acc, copy) if acc is not None else None,
                    "product": d["product"],
                    "owner": d["sales_agent"],
                    "amount": amount,
                    "stage": stage,
                    "stage_entered_at": d["engage_date"] or last,
                    "activities": activities(rng, open_stage),
                    "decision_maker_met": rng.random() < DECISION_MAKER[open_stage],
                    "requested_stage": requested,
                }
                out.write(json.dumps(rec, separators=(",", ":")))
                out.write("\n")
                n_deals += 1

    meta = {
        "seed": args.seed,
        "scale": args.scale,
        "accounts": n_accounts,
        "deals": n_deals,
        "as_of": f"{last}T23:59:59Z",
        "revenue_window": [year_before, last],
        "settings": settings,
        "source": "crm-sales-opportunities (Maven Analytics sample CRM)",
    }
    with open(os.path.join(args.out, "meta.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print(f"prepared {n_accounts:,} accounts and {n_deals:,} deals in {args.out} (scale {args.scale}, seed {args.seed})")


if __name__ == "__main__":
    main()
