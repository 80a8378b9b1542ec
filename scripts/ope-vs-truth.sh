#!/usr/bin/env bash
# How well off-policy evaluation ranks policies (issue 17): six policies,
# each estimated by PDWIS, FQE and DR from logs of the shipped static policy
# explored per request (±0.15, and a narrower ±0.05), against the simulator's
# truth (`simulate`, 2,000 sessions). Writes target/ope-vs-truth/ and
# models/ope-vs-truth.md. SESSIONS sets the log size (default 3000).
set -euo pipefail
cd "$(dirname "$0")/.."
# MTFUSE names a binary to use instead of building one.
if [ -z "${MTFUSE:-}" ]; then cargo build --release -q; fi
B=${MTFUSE:-target/release/mtfuse}
out=target/ope-vs-truth
sessions=${SESSIONS:-3000}
mkdir -p "$out"

# The policies: the three shipped ones, a random actor with the enhanced
# blob's features, a long-view static action (long-view power 2, hate power
# -2, the rest off) and a deliberately bad static one (click power up, no
# hate penalty, flat biases).
cp models/static.safetensors models/user.safetensors models/enhanced.safetensors "$out/"
$B random-blob --like models/enhanced.safetensors --seed 3 --out "$out/random.safetensors"
$B random-blob --like models/static.safetensors --action=-1,1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1,-1 --out "$out/longview.safetensors"
$B random-blob --like models/static.safetensors --action=1,-1,-1,-1,-1,-1,1,1,1,1,1,1,1,1 --out "$out/bad.safetensors"
policies="static user enhanced random longview bad"

for p in $policies; do
  $B simulate --policy "$out/$p.safetensors" --sessions 2000 > "$out/truth-$p.txt"
done
for w in 0.15 0.05; do
  $B simulate --policy models/static.safetensors --explore $w --sessions "$sessions" --seed 101 --log "$out/log-$w.parquet"
  for p in $policies; do
    echo "ope: log ±$w, policy $p"
    $B ope --log "$out/log-$w.parquet" --policy "$out/$p.safetensors" --config models/train.toml --out "$out/ope-$w-$p.json" | tee "$out/ope-$w-$p.txt"
  done
done
python3 scripts/ope_table.py "$out" $policies > models/ope-vs-truth.md
cat models/ope-vs-truth.md
