"""Raw serving events -> the mtfuse session log, on DuckDB (embedded, the
default) or on Apache Spark (local mode here, a cluster through spark-submit).

    python3 etl/sessions.py --engine duckdb --impressions 'raw/impressions/*.parquet' \\
        --events 'raw/events/*.parquet' --metadata raw/metadata.json --out logs/

Both engines run the same SQL, etl/sessions.sql, once its placeholders are
filled in from the session log's metadata (feature, score and action column
names). The output is Parquet in the session log's format, one file per
partition of users, with the schema metadata `mtfuse train --log` reads; and
`etl-report.json` beside it: rows read and written, and every row left out,
counted by reason with examples. docs/log-format.md documents the formats.
"""
import argparse
import fnmatch
import glob
import io
import json
import os
import re
import sys
import tempfile
import time

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

SQL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sessions.sql")
METADATA_KEY = "mtfuse.session_log"
PLAY_SIGNAL = "play_s"
ROW_GROUP_ROWS = 64 * 1024


class EtlError(Exception):
    """A problem that stops the job before it writes anything."""


# ---- formats -----------------------------------------------------------

def float_columns(meta):
    """The float columns shared by impressions and the session log, in order."""
    cols = [f"user.{n}" for n in meta["user"]] + [f"context.{n}" for n in meta["context"]]
    cols += [f"item.{n}" for n in meta["item"]] + [f"score.{o}" for o in meta["objectives"]]
    for prefix in ("action.power", "action.bias", "base.power", "base.bias"):
        cols += [f"{prefix}.{o}" for o in meta["objectives"]]
    return cols


def impression_columns(meta):
    return ["request_id", "session_hint", "user_id", "timestamp_ms", "candidate", "candidate_id"] + float_columns(meta) + ["explore", "explore_per_item", "behaviour", "shown", "position"]


EVENT_COLUMNS = ["request_id", "candidate_id", "signal", "value", "timestamp_ms"]


def session_log_schema(meta):
    """The session log's Arrow schema, as the Rust reader checks it, with its metadata."""
    f32 = pa.float32()
    fields = [pa.field("session_id", pa.string(), False), pa.field("request", pa.uint32(), False), pa.field("timestamp_ms", pa.int64(), False), pa.field("candidate", pa.uint32(), False)]
    fields += [pa.field(c, f32, False) for c in float_columns(meta)]
    fields += [pa.field("explore", f32, False), pa.field("explore_per_item", pa.bool_(), False), pa.field("behaviour", pa.string(), False), pa.field("shown", pa.bool_(), False), pa.field("position", pa.uint32(), True)]
    fields += [pa.field(f"signal.{o}", f32, True) for o in meta["objectives"]] + [pa.field("play_s", f32, True), pa.field("done", pa.bool_(), False)]
    return pa.schema(fields, metadata={METADATA_KEY: json.dumps(meta, separators=(",", ":"))})


# ---- storage: local paths, or URIs (s3://, gs://, hdfs://, file://) --------
# On a cluster the executors write the output and read the staged NDJSON, so
# those must live where every machine sees them: a URI, or a shared mount.

URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_uri(path):
    return bool(URI.match(path))


def filesystem(path):
    """(pyarrow filesystem, path inside it); Hadoop's s3a:// is pyarrow's s3://."""
    if not is_uri(path):
        return pafs.LocalFileSystem(), os.path.abspath(path)
    return pafs.FileSystem.from_uri(re.sub(r"^s3a://", "s3://", path))


def join(folder, name):
    return folder.rstrip("/") + "/" + name if is_uri(folder) else os.path.join(folder, name)


def listing(folder, pattern):
    """Files in `folder` (a path or URI) whose names match `pattern`, as full paths or URIs."""
    fs, base = filesystem(folder)
    infos = fs.get_file_info(pafs.FileSelector(base, allow_not_found=True))
    return [join(folder, i.base_name) for i in infos if i.is_file and fnmatch.fnmatchcase(i.base_name, pattern)]


def expand(patterns):
    files = set()
    for p in patterns:
        if not is_uri(p):
            files.update(glob.glob(p))
            continue
        folder, name = p.rsplit("/", 1)
        if glob.has_magic(folder):
            raise EtlError(f"{p}: in a URI only the file name may be a pattern")
        files.update(listing(folder, name))
    if not files:
        raise EtlError(f"no files match {' '.join(patterns)}")
    return sorted(files)


JSON_LINES = (".ndjson", ".jsonl", ".json")


def raw_arrow_schema(meta, what):
    """The raw format as Arrow types, every column nullable: the SQL names nulls."""
    if what == "event":
        return pa.schema([("request_id", pa.string()), ("candidate_id", pa.string()), ("signal", pa.string()), ("value", pa.float64()), ("timestamp_ms", pa.int64())])
    f32 = pa.float32()
    fields = [("request_id", pa.string()), ("session_hint", pa.string()), ("user_id", pa.string()), ("timestamp_ms", pa.int64()), ("candidate", pa.int32()), ("candidate_id", pa.string())]
    fields += [(c, f32) for c in float_columns(meta)]
    fields += [("explore", f32), ("explore_per_item", pa.bool_()), ("behaviour", pa.string()), ("shown", pa.bool_()), ("position", pa.int32())]
    return pa.schema(fields)


def json_line_problem(row, schema):
    """Why a parsed line does not fit the format, or None."""
    if not isinstance(row, dict):
        return "not a JSON object"
    want = set(schema.names)
    missing, extra = sorted(want - row.keys()), sorted(row.keys() - want)
    if missing or extra:
        return f"keys differ from the format: missing {missing[:3]}, extra {extra[:3]}"
    for field in schema:
        v = row[field.name]
        if v is None:
            continue
        t = field.type
        ok = (isinstance(v, str) if pa.types.is_string(t) else isinstance(v, bool) if pa.types.is_boolean(t)
              else isinstance(v, int) and not isinstance(v, bool) if pa.types.is_integer(t)
              else isinstance(v, (int, float)) and not isinstance(v, bool))
        if not ok:
            return f"{field.name}: {json.dumps(v)[:40]} is not a {t}"
    return None


def json_lines_to_parquet(files, schema, what, staging):
    """NDJSON files (from www/log.js) to one Parquet file; lines that are not
    JSON or do not fit the format are left out and returned as problems."""
    rows, problems = [], []
    for f in files:
        fs, path = filesystem(f)
        with io.TextIOWrapper(fs.open_input_stream(path), encoding="utf-8", errors="replace") as lines:
            for n, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    problem = json_line_problem(row, schema)
                except json.JSONDecodeError as e:
                    row, problem = None, f"not JSON ({e.msg})"
                if problem is None:
                    rows.append(row)
                else:
                    rid = row.get("request_id") if isinstance(row, dict) and isinstance(row.get("request_id"), str) else None
                    problems.append({"kind": what, "problem": f"malformed line: {problem}", "request_id": rid, "detail": f"{os.path.basename(f)}:{n}"})
    path = join(staging, f"{what}.parquet")
    fs, inside = filesystem(path)
    fs.create_dir(inside.rsplit("/", 1)[0], recursive=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), inside, filesystem=fs)
    return path, problems


def check_files(files, want, what, skip_bad):
    """Files whose columns differ from the format are an error, or with
    --skip-bad-files left out and reported; never dropped silently."""
    good, bad = [], []
    for f in files:
        try:
            fs, path = filesystem(f)
            names = pq.read_schema(path, filesystem=fs).names
        except Exception as e:  # noqa: BLE001: any unreadable file is reported the same way
            bad.append({"file": f, "problem": f"not a readable Parquet file: {e}"})
            continue
        missing, extra = [c for c in want if c not in names], [c for c in names if c not in want]
        if missing or extra:
            bad.append({"file": f, "problem": f"columns differ from the {what} format: missing {missing[:5]}{' …' if len(missing) > 5 else ''}, extra {extra[:5]}{' …' if len(extra) > 5 else ''}"})
        else:
            good.append(f)
    if bad and not skip_bad:
        raise EtlError("; ".join(f"{b['file']}: {b['problem']}" for b in bad) + " (--skip-bad-files leaves such files out and reports them)")
    if not good:
        raise EtlError(f"no usable {what} file")
    return good, bad


# ---- the SQL -------------------------------------------------------------

def render(meta, quote, gap_ms, lateness_ms, now_ms):
    """etl/sessions.sql with its placeholders filled in, as statements."""
    q = quote
    floats = float_columns(meta)
    actions = [c for c in floats if c.startswith(("action.", "base."))]
    signals = list(meta["objectives"]) + [PLAY_SIGNAL]
    out_signal = lambda s: f"signal.{s}" if s != PLAY_SIGNAL else PLAY_SIGNAL  # noqa: E731
    fill = {
        "float_checks": "\n    ".join(
            [f"WHEN {q(c)} IS NULL OR isnan({q(c)}) OR abs({q(c)}) > 3.4e38 THEN '{c} is null, NaN or infinite'" for c in floats]
            + [f"WHEN abs({q(c)}) > 1 THEN '{c} is outside [-1, 1]'" for c in actions]),
        "request_consistency_checks": "\n    ".join(
            f"WHEN COUNT(DISTINCT {q(c)}) > 1 THEN 'rows disagree on {c}'" for c in floats if c.startswith(("user.", "context."))),
        "signal_names": ", ".join(f"'{s}'" for s in signals),
        "signal_pivot": ",\n  ".join(f"MAX(CASE WHEN signal = '{s}' THEN value END) AS {q(out_signal(s))}" for s in signals),
        "float_columns": ",\n  ".join(f"CAST(i.{q(c)} AS FLOAT) AS {q(c)}" for c in floats),
        "signal_columns": ",\n  ".join(f"CASE WHEN i.shown THEN CAST(coalesce(r.{q(out_signal(s))}, 0) AS FLOAT) END AS {q(out_signal(s))}" for s in signals),
        "gap_ms": str(gap_ms), "lateness_ms": str(lateness_ms), "now_ms": str(now_ms),
    }
    with open(SQL) as f:
        text = "\n".join(line for line in f.read().splitlines() if not line.startswith("--"))
    text = re.sub(r"\{q:([^}]+)\}", lambda m: q(m.group(1)), text)
    text = re.sub(r"\{([a-z_]+)\}", lambda m: fill[m.group(1)], text)
    return [s.strip() for s in re.split(r";\s*$", text, flags=re.M) if s.strip()]


REPORT_SQL = {
    "counts": "SELECT kind, problem, COUNT(*) AS n FROM etl_problems GROUP BY kind, problem",
    "examples": "SELECT kind, problem, request_id, detail FROM (SELECT kind, problem, request_id, detail, ROW_NUMBER() OVER (PARTITION BY kind, problem ORDER BY request_id, detail) AS rn FROM etl_problems) ranked WHERE rn <= 3",
    "totals": "SELECT (SELECT COUNT(*) FROM impressions_raw) AS impressions, (SELECT COUNT(*) FROM events_raw) AS events, (SELECT COUNT(DISTINCT request_id) FROM impressions_raw) AS requests_read, (SELECT COUNT(*) FROM numbered) AS requests_kept, (SELECT COUNT(DISTINCT session_id) FROM numbered) AS sessions, (SELECT coalesce(SUM(duplicates), 0) FROM responses) AS duplicate_events",
}


# ---- output --------------------------------------------------------------

def write_parquet(path, batches, schema):
    """Casts each batch to the session log's schema and writes it; returns rows.
    Batches hold the session log's columns in order, then user_id, under any
    names (Spark's mapInArrow cannot pass names with dots)."""
    rows = 0
    writer = None
    try:
        for b in batches:
            if b.num_rows == 0:
                continue
            table = pa.Table.from_batches([b]).rename_columns(schema.names + ["user_id"]).drop_columns(["user_id"]).cast(schema)
            if writer is None:
                fs, inside = filesystem(path)
                writer = pq.ParquetWriter(inside, schema, compression="snappy", filesystem=fs)
            writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
            rows += b.num_rows
    finally:
        if writer is not None:
            writer.close()
    return rows


# ---- engines -------------------------------------------------------------

class DuckDb:
    name = "duckdb"

    def __init__(self, args):
        import duckdb
        self.con = duckdb.connect()
        # DuckDB 2.0 takes a Parquet column's min/max statistics, which leave
        # NaN out, as proof that it holds none, and folds isnan() and range
        # checks on it to false: NaN features and values passed unflagged.
        self.con.execute("SET disabled_optimizers = 'statistics_propagation'")
        if args.memory_limit:
            self.con.execute(f"SET memory_limit = '{args.memory_limit}'")

    @staticmethod
    def quote(name):
        return '"' + name.replace('"', '""') + '"'

    def load(self, view, files):
        listing = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
        self.con.execute(f"CREATE OR REPLACE TEMPORARY VIEW {view} AS SELECT * FROM read_parquet([{listing}])")

    def run(self, statement):
        self.con.execute(statement)

    def rows(self, sql):
        cur = self.con.execute(sql)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]

    def write(self, out, schema, partitions):
        # One file: DuckDB sorts out of core and streams the result.
        reader = self.con.sql("SELECT * FROM session_log ORDER BY session_id, request, candidate").to_arrow_reader(ROW_GROUP_ROWS)
        path = join(out, "part-00000.parquet")
        rows = write_parquet(path, reader, schema)
        return [{"path": path, "rows": rows}] if rows else []


class Spark:
    name = "spark"

    def __init__(self, args):
        from pyspark.sql import SparkSession
        b = SparkSession.builder.appName("mtfuse-etl").config("spark.sql.session.timeZone", "UTC")
        # Under spark-submit the master comes from it; run directly, local mode.
        if args.master or "PYSPARK_GATEWAY_PORT" not in os.environ:
            # Python workers run this interpreter, which has pyarrow.
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
            b = b.master(args.master or "local[*]").config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false").config("spark.sql.shuffle.partitions", str(args.partitions))
        self.no_cache = args.no_cache
        self.spark = b.getOrCreate()
        self.spark.sparkContext.setLogLevel("ERROR")
        # The writer runs in the executors' Python: ship this module to them.
        self.spark.sparkContext.addPyFile(os.path.abspath(__file__))

    @staticmethod
    def quote(name):
        return "`" + name.replace("`", "``") + "`"

    def load(self, view, files):
        self.spark.read.parquet(*files).createOrReplaceTempView(view)

    # Views that more than one action reads (the write, then three report
    # queries): cached, or Spark recomputes them from the raw files for each
    # action. All are per request or per event, far smaller than the
    # impressions.
    CACHED = {"request_problems", "numbered", "events_checked", "responses", "etl_problems"}

    def run(self, statement):
        self.spark.sql(statement)
        m = re.match(r"CREATE OR REPLACE TEMPORARY VIEW (\w+)", statement)
        if m and m.group(1) in self.CACHED and not self.no_cache:
            self.spark.catalog.cacheTable(m.group(1))

    def rows(self, sql):
        return [r.asDict() for r in self.spark.sql(sql).collect()]

    def write(self, out, schema, partitions):
        # Each task writes its partition of users (sessions never span users)
        # as one file: nothing passes through the driver.
        def write_partition(batches):
            from pyspark import TaskContext
            path = join(out, f"part-{TaskContext.get().partitionId():05d}.parquet")
            rows = write_parquet(path, batches, schema)
            yield pa.RecordBatch.from_pydict({"path": [path if rows else ""], "rows": [rows]})
        df = self.spark.table("session_log").repartition(partitions, "user_id").sortWithinPartitions("session_id", "request", "candidate")
        df = df.toDF(*[f"c{i}" for i in range(len(df.columns))])
        done = df.mapInArrow(write_partition, "path string, rows long").collect()
        return sorted(({"path": r["path"], "rows": r["rows"]} for r in done if r["rows"]), key=lambda r: r["path"])


# ---- the job ---------------------------------------------------------------

def report(engine, files, bad_files, line_problems, started):
    totals = engine.rows(REPORT_SQL["totals"])[0]
    counts = engine.rows(REPORT_SQL["counts"])
    for p in line_problems:
        counts.append({"kind": p["kind"], "problem": p["problem"], "n": 1})
    left_out = {}
    for r in sorted(counts, key=lambda r: (r["kind"], r["problem"])):
        key = f"{r['kind']}: {r['problem']}"
        left_out[key] = left_out.get(key, 0) + r["n"]
    examples = {}
    for r in sorted(engine.rows(REPORT_SQL["examples"]), key=lambda r: (r["kind"], r["problem"], r["request_id"] or "", r["detail"] or "")) + line_problems:
        shown = examples.setdefault(f"{r['kind']}: {r['problem']}", [])
        if len(shown) < 3:
            shown.append({"request_id": r["request_id"], "detail": r["detail"]})
    rows = sum(f["rows"] for f in files)
    malformed = {k: sum(p["kind"] == k for p in line_problems) for k in ("impression", "event")}
    return {"engine": engine.name, "impressions_read": totals["impressions"] + malformed["impression"], "events_read": totals["events"] + malformed["event"], "requests_read": totals["requests_read"], "requests_kept": totals["requests_kept"], "sessions": totals["sessions"], "rows_written": rows, "impressions_left_out": totals["impressions"] + malformed["impression"] - rows, "duplicate_events": totals["duplicate_events"], "left_out": left_out, "examples": examples, "files_left_out": bad_files, "files": files, "seconds": round(time.time() - started, 1)}


def inputs(patterns, meta, what, args, staging):
    """Checked Parquet files, and NDJSON files converted to Parquet."""
    files = expand(patterns)
    lines = [f for f in files if f.endswith(JSON_LINES)]
    parquet = [f for f in files if not f.endswith(JSON_LINES)]
    good, bad, problems = [], [], []
    if parquet:
        good, bad = check_files(parquet, impression_columns(meta) if what == "impression" else EVENT_COLUMNS, what, args.skip_bad_files)
    if lines:
        path, problems = json_lines_to_parquet(lines, raw_arrow_schema(meta, what), what, staging)
        good.append(path)
    return good, bad, problems


def run(args):
    started = time.time()
    uris = [p for p in [*args.impressions, *args.events, args.metadata, args.out] if is_uri(p)]
    if uris and args.engine == "duckdb":
        raise EtlError(f"{uris[0]}: --engine duckdb reads and writes local paths; URIs need --engine spark")
    fs, path = filesystem(args.metadata)
    with fs.open_input_stream(path) as f:
        meta = json.loads(f.read())
    # NDJSON is converted before the engine reads it: next to the output when
    # that is a URI, so that a cluster's executors can read it too.
    staging = join(args.out, "_staging") if is_uri(args.out) else tempfile.mkdtemp(prefix="mtfuse-etl-")
    try:
        return run_in(args, meta, staging, started)
    finally:
        fs, path = filesystem(staging)
        try:
            fs.delete_dir(path)
        except (FileNotFoundError, OSError):
            pass


def run_in(args, meta, staging, started):
    impressions, bad_imp, line_problems = inputs(args.impressions, meta, "impression", args, staging)
    events, bad_ev, more = inputs(args.events, meta, "event", args, staging)
    line_problems += more
    engine = DuckDb(args) if args.engine == "duckdb" else Spark(args)
    engine.load("impressions_raw", impressions)
    engine.load("events_raw", events)
    now_ms = args.now_ms if args.now_ms is not None else int(time.time() * 1000)
    for statement in render(meta, engine.quote, args.gap_minutes * 60_000, args.lateness_minutes * 60_000, now_ms):
        engine.run(statement)
    fs, out = filesystem(args.out)
    fs.create_dir(out, recursive=True)
    for old in listing(args.out, "part-*.parquet"):
        fs.delete_file(filesystem(old)[1])
    files = engine.write(args.out, session_log_schema(meta), args.partitions)
    rep = report(engine, files, bad_imp + bad_ev, line_problems, started)
    with fs.open_output_stream(filesystem(join(args.out, "etl-report.json"))[1]) as f:
        f.write(json.dumps(rep, indent=2).encode())
    return rep


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--engine", choices=["duckdb", "spark"], default="duckdb")
    p.add_argument("--impressions", nargs="+", required=True, help="impression files or globs: Parquet, or NDJSON (.ndjson, .jsonl, .json) as www/log.js writes")
    p.add_argument("--events", nargs="+", required=True, help="response event files or globs, Parquet or NDJSON")
    p.add_argument("--metadata", required=True, help="the session log's schema (JSON; simulate --raw-events writes metadata.json)")
    p.add_argument("--out", required=True, help="output folder or URI (Spark): part-*.parquet and etl-report.json")
    p.add_argument("--gap-minutes", type=int, default=30, help="a user's requests this far apart start a new session, where impressions carry no session id (default 30)")
    p.add_argument("--lateness-minutes", type=int, default=60, help="events later than this after their request are left out (default 60)")
    p.add_argument("--now-ms", type=int, help="timestamps after this are in the future and left out (default: now)")
    p.add_argument("--skip-bad-files", action="store_true", help="leave out files whose columns differ from the format, and report them, instead of failing")
    p.add_argument("--partitions", type=int, default=4, help="Spark: output files (partitions of users) and shuffle partitions (default 4)")
    p.add_argument("--master", help="Spark master (default: spark-submit's, else local[*])")
    p.add_argument("--no-cache", action="store_true", help="Spark: recompute the per-request and per-event views for each action instead of caching them (less memory, about 6x slower on 1M impressions)")
    p.add_argument("--memory-limit", help="DuckDB memory limit, e.g. 4GB (default: DuckDB's, 80%% of RAM)")
    args = p.parse_args(argv)
    try:
        rep = run(args)
    except EtlError as e:
        print(f"etl: {e}", file=sys.stderr)
        return 2
    left = sum(rep["left_out"].values())
    print(f"etl ({rep['engine']}): {rep['impressions_read']} impressions and {rep['events_read']} events read; {rep['rows_written']} rows of {rep['requests_kept']} requests in {rep['sessions']} sessions written to {args.out} in {rep['seconds']} s; {rep['duplicate_events']} duplicate events merged; {left} rows left out" + (": " + "; ".join(f"{k} ({v})" for k, v in rep["left_out"].items()) if left else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
