#!/usr/bin/env bash
# The robustness matrix (issue 19), first slice: the three policies retrained
# on simulator variants that differ only in the MTL model's deliberate
# miscalibration (default, half strength, none) or in position attention
# (1.0, 0.6; 0.8 is the default), and the simulated A/B's
# paired lift over static per policy x variant x training seed. Each variant
# fits its own simulator on the KuaiRand log (DATA, default
# ../shared/data/kuairand-1k). VARIANTS and SEEDS (default 1; training
# streams are keyed by seed, so seeds share no data) pick a subset. Long:
# five to ten minutes per variant and seed on two cores. MTFUSE names a
# binary to use instead of building one (so a long run is not disturbed by
# rebuilds). Writes target/robustness/ and prints the table.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${DATA:-../shared/data/kuairand-1k}
if [ -z "${MTFUSE:-}" ]; then cargo build --release -q; fi
B=${MTFUSE:-target/release/mtfuse}
out=target/robustness
mkdir -p "$out"
# MTL logit shifts per normalised item feature: 5 for click, then 5 for long view.
# Position attention variants keep the default shifts.
declare -A flags=(
  [default]="--mtl-miscalibration=0.5,0,-0.2,0,0,-0.5,0,0,-0.2,0"
  [half]="--mtl-miscalibration=0.25,0,-0.1,0,0,-0.25,0,0,-0.1,0"
  [calibrated]="--mtl-miscalibration=0,0,0,0,0,0,0,0,0,0"
  [attention1.0]="--mtl-miscalibration=0.5,0,-0.2,0,0,-0.5,0,0,-0.2,0 --attention=1.0"
  [attention0.6]="--mtl-miscalibration=0.5,0,-0.2,0,0,-0.5,0,0,-0.2,0 --attention=0.6"
)
variants=${VARIANTS:-default half calibrated}
seeds=${SEEDS:-1}
runs=()
for v in $variants; do
  for seed in $seeds; do
    d="$out/$v-s$seed"
    runs+=("$v-s$seed")
    mkdir -p "$d"
    start=$(date +%s)
    sed "s/^seed = .*/seed = $seed/" models/train.toml > "$d/train.toml"
    # shellcheck disable=SC2086 # flags are words
    $B fit-sim --data "$data" ${flags[$v]} --out "$d/simulator.safetensors" > "$d/fit.txt"
    $B train --algo static --sim "$d/simulator.safetensors" --config "$d/train.toml" --out "$d/static.safetensors"
    $B train --algo user --sim "$d/simulator.safetensors" --config "$d/train.toml" --baseline "$d/static.safetensors" --out "$d/user.safetensors"
    $B train --algo enhanced --sim "$d/simulator.safetensors" --config "$d/train.toml" --baseline "$d/static.safetensors" --out "$d/enhanced.safetensors"
    $B eval --sim "$d/simulator.safetensors" --policies "$d/static.safetensors" "$d/user.safetensors" "$d/enhanced.safetensors" --out "$d/eval.json" > /dev/null
    echo "$(( $(date +%s) - start ))" > "$d/seconds.txt"
  done
done
python3 scripts/robustness_table.py "$out" "${runs[@]}"
