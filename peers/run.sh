#!/usr/bin/env bash
# The peer benchmark, end to end: prepare the inputs from the sample CRM,
# build the three peers, run each, check that they decided the same, and
# print evaluations/s with dealflow's ratio to each.
#
#   peers/run.sh [--scale N] [--seed S] [--min-seconds S] [--json] [--no-build]
#
# Exit 1 when a step fails or the engines disagree. Builds run one after the
# other (the machine has two cores), each in its own target directory under
# peers/target/; inputs go to peers/work/. Both are ignored by git.
set -euo pipefail

PEERS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SCALE=12
SEED=42
MIN_SECONDS=3
JSON=""
BUILD=1
while [ $# -gt 0 ]; do
  case "$1" in
    --scale) SCALE="$2"; shift 2 ;;
    --seed) SEED="$2"; shift 2 ;;
    --min-seconds) MIN_SECONDS="$2"; shift 2 ;;
    --json) JSON="--json"; shift ;;
    --no-build) BUILD=""; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 1 ;;
  esac
done

WORK="$PEERS/work"
say() { echo "== $*" >&2; }

say "inputs (scale $SCALE, seed $SEED)"
python3 "$PEERS/prepare.py" --scale "$SCALE" --seed "$SEED" --out "$WORK" >&2

if [ -n "$BUILD" ]; then
  say "build dealflow peer"
  cargo build --release --quiet --manifest-path "$PEERS/dealflow/Cargo.toml" --target-dir "$PEERS/target/dealflow" >&2
  say "build zen peer"
  cargo build --release --quiet --manifest-path "$PEERS/zen/Cargo.toml" --target-dir "$PEERS/target/zen" >&2
  say "install json-rules-engine peer"
  (cd "$PEERS/jre" && npm ci --silent --no-audit --no-fund >&2)
fi

RESULTS="$WORK/results.jsonl"
: > "$RESULTS"
TIMING=(--min-seconds "$MIN_SECONDS")
say "run dealflow"
"$PEERS/target/dealflow/release/dealflow-peer" --dir "$PEERS/.." --work "$WORK" "${TIMING[@]}" >> "$RESULTS"
say "run zen-engine"
"$PEERS/target/zen/release/zen-peer" --work "$WORK" "${TIMING[@]}" >> "$RESULTS"
say "run json-rules-engine"
node --max-old-space-size=8192 "$PEERS/jre/bench.js" --work "$WORK" "${TIMING[@]}" >> "$RESULTS"

say "results ($RESULTS)"
python3 "$PEERS/report.py" "$RESULTS" $JSON
