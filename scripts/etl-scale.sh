#!/usr/bin/env bash
# How the embedded ETL job scales: simulate about 10 million impressions of
# raw serving events with faults (SESSIONS, default 51300, at about 192
# impressions each), then run etl/sessions.py on DuckDB over them, and print
# wall time, throughput and peak memory (GNU time). ENGINE=spark runs Spark's
# local mode instead. ETL_ARGS adds options to etl/sessions.py (RUN names the
# run then). MTFUSE names a binary to use instead of building one.
# Writes target/etl-scale/; a simulation already there (per SESSIONS) is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${MTFUSE:-}" ]; then cargo build --release -q; fi
B=$(realpath "${MTFUSE:-target/release/mtfuse}")
engine=${ENGINE:-duckdb}
out=target/etl-scale
sessions=${SESSIONS:-51300}
raw="$out/raw-$sessions"
run=${RUN:-$engine-$sessions}
mkdir -p "$out"
if [ ! -e "$raw/faults.json" ]; then
  /usr/bin/time -f "simulate: %e s, peak RSS %M KB" "$B" simulate --policy models/static.safetensors --explore 0.15 --sessions "$sessions" --seed 11 --raw-events "$raw" --faults
fi
/usr/bin/time -o "$out/etl-$run.time" -f "%e %M" target/py/bin/python etl/sessions.py --engine "$engine" --impressions "$raw/impressions/*.parquet" --events "$raw/events/*.parquet" --metadata "$raw/metadata.json" --out "$out/sessions-$run" ${ETL_ARGS:-} 2> "$out/etl-$run.stderr"
read -r secs kb < "$out/etl-$run.time"
python3 - "$out/sessions-$run/etl-report.json" "$secs" "$kb" <<'PY'
import json, sys
r, secs, kb = json.load(open(sys.argv[1])), float(sys.argv[2]), int(sys.argv[3])
rows = r["impressions_read"] + r["events_read"]
print(f"{r['engine']}: {r['impressions_read']:,} impressions + {r['events_read']:,} events in {secs:.1f} s wall "
      f"({rows / secs:,.0f} rows/s, {r['impressions_read'] / secs:,.0f} impressions/s), peak RSS {kb / 1024:,.0f} MiB; "
      f"wrote {r['rows_written']:,} rows in {r['sessions']:,} sessions, {len(r['files'])} file(s); "
      f"{r['duplicate_events']:,} duplicates merged; left out: " + ", ".join(f"{k} {v:,}" for k, v in r["left_out"].items()))
PY
