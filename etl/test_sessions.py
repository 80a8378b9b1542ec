"""Tests of the ETL job: simulated raw events through etl/sessions.py on
DuckDB and on Spark (local mode), against what the simulator knows.

    target/py/bin/python -m unittest etl/test_sessions.py

MTFUSE names the mtfuse binary (default target/debug/mtfuse, which
`cargo test` builds).
"""
import contextlib
import glob
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sessions  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MTFUSE = os.environ.get("MTFUSE", os.path.join(ROOT, "target/debug/mtfuse"))
KEYS = [("session_id", "ascending"), ("request", "ascending"), ("candidate", "ascending")]
TMP = tempfile.mkdtemp(prefix="mtfuse-etl-")


def simulate(name, *extra, sessions_=30, seed=5):
    out = os.path.join(TMP, name)
    if not os.path.exists(out):
        subprocess.run([MTFUSE, "simulate", "--policy", os.path.join(ROOT, "models/static.safetensors"), "--explore", "0.15", "--sessions", str(sessions_), "--seed", str(seed), *extra, out], check=True, capture_output=True)
    return out


def raw(name, *extra):
    return simulate(name, *extra, "--raw-events")


def etl(raw_dir, out, *extra, engine="duckdb", impressions=None, events=None, out_uri=None):
    args = ["--engine", engine, "--impressions", *(impressions or [f"{raw_dir}/impressions/*.parquet"]), "--events", *(events or [f"{raw_dir}/events/*.parquet"]), "--metadata", f"{raw_dir}/metadata.json", "--out", out_uri or os.path.join(TMP, out), "--now-ms", str(2_000_000_000_000), *extra]
    status = sessions.main(args)
    return status, (load_json(os.path.join(TMP, out, "etl-report.json")) if status == 0 else None)


def load_json(path):
    with open(path) as f:
        return json.load(f)


def table(out):
    files = sorted(glob.glob(os.path.join(TMP, out, "part-*.parquet")))
    return pa.concat_tables([pq.read_table(f) for f in files]).sort_by(KEYS)


def rewrite(path, f):
    """Rewrites a Parquet file through f(table) -> table."""
    pq.write_table(f(pq.read_table(path)), path)


class CleanEvents(unittest.TestCase):
    def test_clean_raw_events_become_the_session_log_the_simulator_writes(self):
        status, rep = etl(raw("clean"), "clean-out")
        self.assertEqual(status, 0)
        log = pq.read_table(simulate("clean.parquet", "--log")).sort_by(KEYS)
        got = table("clean-out")
        self.assertTrue(got.schema.equals(log.schema, check_metadata=False))
        self.assertEqual(got.schema.metadata[b"mtfuse.session_log"], json.dumps(json.loads(log.schema.metadata[b"mtfuse.session_log"]), separators=(",", ":")).encode())
        # Raw events carry wall-clock times; the simulator's log numbers them from 0.
        for name in log.column_names:
            if name != "timestamp_ms":
                self.assertTrue(got[name].equals(log[name]), name)
        self.assertEqual(rep["left_out"], {})
        self.assertEqual(rep["rows_written"], log.num_rows)
        # The trainer reads it.
        subprocess.run([MTFUSE, "train", "--log", os.path.join(TMP, "clean-out", "*.parquet"), "--algo", "static", "--behaviour", os.path.join(ROOT, "models/static.safetensors"), "--out", os.path.join(TMP, "clean-static.safetensors")], check=True, capture_output=True)


class Faults(unittest.TestCase):
    def test_faults_are_merged_dropped_and_counted_as_injected(self):
        raw_dir = raw("faults", "--faults")
        injected = load_json(f"{raw_dir}/faults.json")
        self.assertGreater(injected["duplicated_events"], 0)
        self.assertGreater(injected["late_events"], 0)
        self.assertGreater(injected["missing_responses"], 0)
        status, rep = etl(raw_dir, "faults-out")
        self.assertEqual(status, 0)
        self.assertEqual(rep["duplicate_events"], injected["duplicated_events"])
        self.assertEqual(rep["left_out"], {"event: late: after the lateness window": injected["late_events"]})
        # Sessions came without ids: the 30-minute gap finds every one.
        self.assertEqual((rep["sessions"], rep["requests_kept"], rep["rows_written"]), (injected["sessions"], injected["requests"], injected["impressions"]))
        # Against the clean run of the same seed, the signals differ exactly
        # where an event came late or a response went missing.
        clean = pq.read_table(simulate("faults-truth.parquet", "--log"))
        got = table("faults-out")
        align = lambda t: t.sort_by([("timestamp_ms", "ascending"), ("candidate", "ascending")])  # noqa: E731
        # Both files hold the requests in the order they were simulated.
        raw_times = pq.read_table(f"{raw_dir}/impressions/part-00000.parquet", columns=["timestamp_ms"])["timestamp_ms"]
        clean = align(clean.set_column(clean.schema.get_field_index("timestamp_ms"), clean.schema.field("timestamp_ms"), raw_times))
        got = align(got)
        signals = [c for c in clean.column_names if c.startswith("signal.") or c == "play_s"]
        differing = sum(pc.sum(pc.not_equal(got[c], clean[c])).as_py() or 0 for c in signals)
        self.assertEqual(differing, injected["late_events"] + injected["missing_events"])
        self.assertTrue(got["request"].equals(clean["request"]) and got["done"].equals(clean["done"]))


class BadInput(unittest.TestCase):
    """Each kind of bad input is counted with examples; the rest goes through."""

    @classmethod
    def setUpClass(cls):
        src = raw("bad-src")
        cls.dir = os.path.join(TMP, "bad")
        shutil.rmtree(cls.dir, ignore_errors=True)
        shutil.copytree(src, cls.dir)
        imp, ev = f"{cls.dir}/impressions/part-00000.parquet", f"{cls.dir}/events/part-00000.parquet"
        t = pq.read_table(imp)
        first = t["request_id"][0].as_py()
        later = t["request_id"][200].as_py()

        def break_impressions(t):
            col = t.schema.get_field_index("item.item_click_rate")
            values = t[col].to_pylist()
            values[3] = None  # a feature missing on one candidate of the first request
            values[110] = float("nan")  # and NaN on one of the third
            ts = t["timestamp_ms"].to_pylist()
            for i, r in enumerate(t["request_id"].to_pylist()):
                if r == later:
                    ts[i] = 3_000_000_000_000  # a request in the future
            t = t.set_column(col, t.schema.field(col).with_nullable(True), pa.array(values, pa.float32()))
            return t.set_column(t.schema.get_field_index("timestamp_ms"), "timestamp_ms", pa.array(ts, pa.int64()))
        rewrite(imp, break_impressions)
        cls.bad_requests = {first, t["request_id"][110].as_py(), later}

        def break_events(t):
            shown = pq.read_table(imp).filter(pc.field("shown"))
            ok = shown.filter(pc.invert(pc.is_in(shown["request_id"], pa.array(sorted(cls.bad_requests)))))
            r, c, ts = ok["request_id"][0].as_py(), ok["candidate_id"][0].as_py(), ok["timestamp_ms"][0].as_py()
            extra = pa.table({
                "request_id": [r, r, r, "no-such-request", r, None],
                "candidate_id": [c, c, c, c, c, c],
                "signal": [None, "swipe", "like", "click", "click", "click"],
                "value": [1.0, 1.0, float("nan"), 1.0, 1.0, 1.0],
                "timestamp_ms": [ts + 1, ts + 1, ts + 1, ts + 1, 3_000_000_000_000, ts + 1],
            }, schema=t.schema.set(0, t.schema.field(0).with_nullable(True)).set(2, t.schema.field(2).with_nullable(True)))
            return pa.concat_tables([t.cast(extra.schema), extra])
        rewrite(ev, break_events)
        cls.status, cls.report = etl(cls.dir, "bad-out")

    def test_each_bad_row_is_counted_with_an_example(self):
        self.assertEqual(self.status, 0)
        left = self.report["left_out"]
        self.assertEqual(left["impression: item.item_click_rate is null, NaN or infinite"], 2)
        self.assertEqual(left["impression: timestamp_ms is in the future"], 50)
        self.assertEqual(left["request: a candidate row: item.item_click_rate is null, NaN or infinite"], 2)
        self.assertEqual(left["request: a candidate row: timestamp_ms is in the future"], 1)
        self.assertEqual(left["event: malformed: a field is null"], 2)
        self.assertEqual(left["event: malformed: unknown signal"], 1)
        self.assertEqual(left["event: malformed: value is NaN, infinite or negative"], 1)
        self.assertEqual(left["event: no impression has its request_id"], 1)
        self.assertEqual(left["event: timestamp_ms is in the future"], 1)
        self.assertEqual(self.report["examples"]["event: malformed: unknown signal"][0]["detail"].split(" ")[1], "swipe")
        self.assertEqual(self.report["examples"]["event: no impression has its request_id"][0]["request_id"], "no-such-request")
        # The events of the two left-out requests are counted too, never lost silently.
        self.assertGreater(left.get("event: its request was left out", 0), 0)

    def test_the_rest_goes_through(self):
        got = table("bad-out")
        self.assertEqual(self.report["rows_written"], got.num_rows)
        self.assertEqual(self.report["impressions_left_out"], 150)
        self.assertEqual(self.report["requests_kept"], self.report["requests_read"] - 3)
        # No NaN slipped through (DuckDB once let them, trusting Parquet statistics).
        for name in got.column_names:
            if pa.types.is_floating(got.schema.field(name).type):
                self.assertEqual(pc.sum(pc.is_nan(got[name])).as_py() or 0, 0, name)

    def test_a_file_whose_columns_differ_fails_the_job_unless_skipped(self):
        other = os.path.join(TMP, "bad-day2.parquet")
        pq.write_table(pq.read_table(f"{self.dir}/impressions/part-00000.parquet").drop_columns(["user.user_activity"]), other)
        imps = [f"{self.dir}/impressions/part-00000.parquet", other]
        status, _ = etl(self.dir, "bad-schema-out", impressions=imps)
        self.assertEqual(status, 2)
        status, rep = etl(self.dir, "bad-schema-out", "--skip-bad-files", impressions=imps)
        self.assertEqual(status, 0)
        self.assertEqual(len(rep["files_left_out"]), 1)
        self.assertIn("missing ['user.user_activity']", rep["files_left_out"][0]["problem"])
        self.assertEqual(rep["rows_written"], self.report["rows_written"])

    def test_spark_writes_what_duckdb_writes_row_for_row(self):
        # Through file:// URIs, the code path of s3://, gs:// and hdfs://.
        uri = lambda p: "file://" + os.path.abspath(p)  # noqa: E731
        status, rep = etl(self.dir, "bad-spark-out", engine="spark", impressions=[uri(f"{self.dir}/impressions") + "/*.parquet"], events=[uri(f"{self.dir}/events") + "/*.parquet"], out_uri=uri(os.path.join(TMP, "bad-spark-out")))
        self.assertEqual(status, 0)
        duck, spark = table("bad-out"), table("bad-spark-out")
        self.assertTrue(spark.schema.equals(duck.schema, check_metadata=True))
        self.assertEqual(spark.num_rows, duck.num_rows)
        self.assertTrue(spark.equals(duck))
        for key in ("left_out", "examples", "sessions", "requests_kept", "duplicate_events", "rows_written"):
            self.assertEqual(rep[key], self.report[key], key)
        self.assertGreater(len(rep["files"]), 1)
        self.assertTrue(all(f["path"].startswith("file://") for f in rep["files"]), rep["files"])

    def test_duckdb_refuses_uris_and_names_the_engine_that_takes_them(self):
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            status, _ = etl(self.dir, "uri-out", out_uri="s3://bucket/sessions")
        self.assertEqual(status, 2)
        self.assertIn("s3://bucket/sessions: --engine duckdb reads and writes local paths; URIs need --engine spark", err.getvalue())


if __name__ == "__main__":
    unittest.main()
