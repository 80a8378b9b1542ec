#!/usr/bin/env bash
# Unseen users (issue 19): the log's users split 75% / 25% by a hash of the
# user id. A simulator is fitted on the first part (calibrated MTL model, no
# deliberate bias), static, UnifiedRL, the recalibrated baseline and
# EnhancedRL are trained in it, and all are evaluated twice: in that
# simulator and on its users' real held-out days, then in a simulator fitted on the unseen users alone and on
# their held-out days. MTFUSE names a binary instead of building one; DATA
# and SEED as in robustness.sh. Writes target/unseen/ and prints both tables.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${DATA:-../shared/data/kuairand-1k}
if [ -z "${MTFUSE:-}" ]; then cargo build --release -q; fi
B=${MTFUSE:-target/release/mtfuse}
seed=${SEED:-1}
d=target/unseen/s$seed
mkdir -p "$d"
start=$(date +%s)
calibrated="--mtl-miscalibration=0,0,0,0,0,0,0,0,0,0"
sed "s/^seed = .*/seed = $seed/" models/train.toml > "$d/train.toml"
for part in train unseen; do
  [ -e "$d/sim-$part.safetensors" ] || $B fit-sim --data "$data" --users "$part" "$calibrated" --out "$d/sim-$part.safetensors" > "$d/fit-$part.txt"
done
sim="$d/sim-train.safetensors"
[ -e "$d/static.safetensors" ] || $B train --algo static --sim "$sim" --config "$d/train.toml" --out "$d/static.safetensors"
[ -e "$d/user.safetensors" ] || $B train --algo user --sim "$sim" --config "$d/train.toml" --baseline "$d/static.safetensors" --out "$d/user.safetensors"
[ -e "$d/enhanced.safetensors" ] || $B train --algo enhanced --sim "$sim" --config "$d/train.toml" --baseline "$d/static.safetensors" --out "$d/enhanced.safetensors"
[ -e "$d/recalibrated.json" ] || $B train --algo recalibrated --sim "$sim" --config "$d/train.toml" --baseline "$d/static.safetensors" --out "$d/recalibrated.json"
for part in train unseen; do
  $B eval --sim "$d/sim-$part.safetensors" --data "$data" --policies "$d/static.safetensors" "$d/user.safetensors" "$d/recalibrated.json" "$d/enhanced.safetensors" --out "$d/eval-$part.json" > /dev/null
done
echo "$(( $(cat "$d/seconds.txt" 2> /dev/null || echo 0) + $(date +%s) - start ))" > "$d/seconds.txt"
for part in train unseen; do
  echo "### Users of the $part part ($( [ $part = train ] && echo 'the policies trained on them' || echo 'never seen in training'))"
  echo
  cat "$d/eval-$part.md"
  echo
done
echo "took $(( $(cat "$d/seconds.txt") / 60 )) minutes"
