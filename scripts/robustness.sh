#!/usr/bin/env bash
# The robustness matrix (issue 19), first slice: the three policies retrained
# on simulator variants that differ only in the MTL model's deliberate
# miscalibration (default, half strength, none), one seed each, and the
# simulated A/B's paired lift over static per policy x variant. Each variant
# fits its own simulator on the KuaiRand log (DATA, default
# ../shared/data/kuairand-1k). VARIANTS picks a subset. Long: about ten
# minutes per variant on two cores. Writes target/robustness/ and prints
# the table.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${DATA:-../shared/data/kuairand-1k}
cargo build --release -q
B=target/release/mtfuse
out=target/robustness
mkdir -p "$out"
# MTL logit shifts per normalised item feature: 5 for click, then 5 for long view.
declare -A shifts=(
  [default]="0.5,0,-0.2,0,0,-0.5,0,0,-0.2,0"
  [half]="0.25,0,-0.1,0,0,-0.25,0,0,-0.1,0"
  [calibrated]="0,0,0,0,0,0,0,0,0,0"
)
for v in ${VARIANTS:-default half calibrated}; do
  d="$out/$v"
  mkdir -p "$d"
  start=$(date +%s)
  $B fit-sim --data "$data" --mtl-miscalibration="${shifts[$v]}" --out "$d/simulator.safetensors" > "$d/fit.txt"
  $B train --algo static --sim "$d/simulator.safetensors" --out "$d/static.safetensors"
  $B train --algo user --sim "$d/simulator.safetensors" --baseline "$d/static.safetensors" --out "$d/user.safetensors"
  $B train --algo enhanced --sim "$d/simulator.safetensors" --baseline "$d/static.safetensors" --out "$d/enhanced.safetensors"
  $B eval --sim "$d/simulator.safetensors" --policies "$d/static.safetensors" "$d/user.safetensors" "$d/enhanced.safetensors" --out "$d/eval.json" > /dev/null
  echo "$(( $(date +%s) - start ))" > "$d/seconds.txt"
done
python3 - "$out" ${VARIANTS:-default half calibrated} <<'PY'
import json, sys
out, variants = sys.argv[1], sys.argv[2:]
print("| variant | policy | return ± 95% CI | paired lift vs static ± 95% CI | minutes |")
print("|---|---|---:|---:|---:|")
for v in variants:
    e = json.load(open(f"{out}/{v}/eval.json"))["simulated_ab"]
    minutes = int(open(f"{out}/{v}/seconds.txt").read()) / 60
    for row in e:
        r = row["ret"]
        ret = f"{r[0]:.3f} ± {r[1]:.3f}" if isinstance(r, list) else f"{r['mean']:.3f} ± {r['ci']:.3f}"
        print(f"| {v} | {row['policy']} | {ret} | {100 * row['lift']:+.1f}% ± {100 * row['lift_ci']:.1f}% | {minutes:.0f} |")
PY
