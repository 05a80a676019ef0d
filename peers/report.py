#!/usr/bin/env python3
"""Read the peers' result lines (one JSON object per engine and decision),
check that every engine decided the same, and print the comparison.

  report.py RESULTS.jsonl [--json]

Exit status 1 when an engine is missing a decision, reports rule errors, or
disagrees with dealflow (totals or the per-input digest).
"""

import json
import os
import sys

ENGINES = ["dealflow", "zen", "jre"]
NAMES = {"dealflow": "dealflow (Rhai)", "zen": "zen-engine", "jre": "json-rules-engine"}
DECISIONS = ["key", "stage"]
TARGETS = {"zen": 3.0, "jre": 10.0}


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    as_json = "--json" in sys.argv[1:]
    if len(args) != 1:
        sys.exit(__doc__)
    results = {}
    with open(args[0], encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                r = json.loads(line)
                results[(r["engine"], r["decision"])] = r

    problems = []
    rows = []
    for d in DECISIONS:
        base = results.get(("dealflow", d))
        for e in ENGINES:
            r = results.get((e, d))
            if r is None:
                problems.append(f"{e}: no result for the {d} decision")
                continue
            if r["errors"]:
                problems.append(f"{e} {d}: {r['errors']} rule errors")
            agrees = None
            if base is not None:
                agrees = r["totals"] == base["totals"] and r["digest"] == base["digest"] and r["inputs"] == base["inputs"]
                if not agrees:
                    problems.append(
                        f"{e} {d}: disagrees with dealflow\n  dealflow: {json.dumps(base['totals'], sort_keys=True)} "
                        f"digest {base['digest']}\n  {e}: {json.dumps(r['totals'], sort_keys=True)} digest {r['digest']}"
                    )
            ratio = base["evals_per_s"] / r["evals_per_s"] if base else None
            rows.append(
                {
                    "engine": e,
                    "decision": d,
                    "inputs": r["inputs"],
                    "passes": r["passes"],
                    "best_pass_s": r["seconds"],
                    "evals_per_s": r["evals_per_s"],
                    "evals_per_cpu_s": r.get("evals_per_cpu_s"),
                    "dealflow_ratio": ratio,
                    "target_ratio": TARGETS.get(e),
                    "agrees": agrees,
                    "digest": r["digest"],
                }
            )

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    totals = {d: results[("dealflow", d)]["totals"] for d in DECISIONS if ("dealflow", d) in results}
    if as_json:
        out = {"rows": rows, "totals": totals, "agree": not problems, "problems": problems, "load_after": load}
        print(json.dumps(out, indent=2))
    else:
        head = (
            f"{'engine':<20} {'decision':<9} {'inputs':>9} {'passes':>6} {'evaluations/s':>15} "
            f"{'per CPU-s':>11} {'dealflow is':>12} {'target':>7}  agrees"
        )
        print(head)
        print("-" * len(head))
        for r in rows:
            ratio = f"{r['dealflow_ratio']:.1f}x" if r["dealflow_ratio"] is not None else "-"
            target = f">={r['target_ratio']:g}x" if r["target_ratio"] else ""
            met = ""
            if r["target_ratio"] and r["dealflow_ratio"] is not None:
                met = " ok" if r["dealflow_ratio"] >= r["target_ratio"] else " MISSED"
            agrees = {True: "yes", False: "NO", None: "?"}[r["agrees"]]
            print(
                f"{NAMES[r['engine']]:<20} {r['decision']:<9} {r['inputs']:>9,} {r['passes']:>6} "
                f"{r['evals_per_s']:>15,.0f} {r['evals_per_cpu_s'] or 0:>11,.0f} {ratio:>12} {target:>7}{met:<7} {agrees}"
            )
        if load is not None and load > 1.2:
            print(f"(load average {load:.1f} on {os.cpu_count()} cores when the runs ended: other work shared the machine;"
                  " the per-CPU-second column is the steadier figure)")
        print()
        for d, t in totals.items():
            print(f"{d} decisions: {json.dumps(t, sort_keys=True)}")
        if problems:
            print()
            print("AGREEMENT CHECK FAILED:")
            for p in problems:
                print(f"  {p}")
        else:
            print(f"agreement: all {len(ENGINES)} engines made the same decision on every input (totals and per-input digest)")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
