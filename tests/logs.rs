//! Session logs: what is written reads back the same, every kind of bad log
//! is refused with the file, row group, row and column named, and a policy
//! trains from a log alone, with the log's own features.
#![cfg(not(target_arch = "wasm32"))]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Float32Array, Float64Array, RecordBatch};
use arrow_schema::{Field, Schema};
use mtfuse::blob::DEFAULT_OBJECTIVES;
use mtfuse::logs::{read_logs, LogError, LogSchema, LoggedRequest, SessionLogWriter, LOG_FORMAT_VERSION};
use mtfuse::rl::export::action_ranges;
use mtfuse::rl::{train_from_log, TrainConfig};
use mtfuse::{Columns, PolicyKind, Ranker};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const K: usize = 7;

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("mtfuse-logs-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn schema(items: usize) -> LogSchema {
    let (action_low, action_high) = action_ranges();
    LogSchema {
        version: LOG_FORMAT_VERSION,
        objectives: DEFAULT_OBJECTIVES.iter().map(|s| s.to_string()).collect(),
        user: vec!["age".into(), "activity".into()],
        context: vec!["hour".into()],
        item: (0..items).map(|i| format!("f{i}")).collect(),
        action_low,
        action_high,
        reward: vec![0.0, 1.0, 2.0, 4.0, 2.0, 3.0, -5.0],
        reward_play_s: 0.01,
        group_a: vec!["click".into(), "long_view".into()],
        gamma: 0.9,
    }
}

/// `sessions` sessions of 3 requests, 10 candidates, 3 shown. An item's
/// long view follows its first feature, so there is something to learn.
fn requests(s: &LogSchema, sessions: usize, seed: u64) -> Vec<LoggedRequest> {
    let mut rng = StdRng::seed_from_u64(seed);
    let (n, fi) = (10, s.item.len());
    let mut out = Vec::new();
    for sess in 0..sessions {
        for request in 0..3u32 {
            let items: Vec<f32> = (0..n * fi).map(|_| rng.random_range(-1.0..1.0)).collect();
            let scores: Vec<f32> = (0..n * K).map(|_| rng.random_range(0.0..0.5)).collect();
            let base: Vec<f32> = (0..n).flat_map(|_| [0.1f32; 2 * K]).collect();
            let actions: Vec<f32> = base.iter().map(|b| b + rng.random_range(-0.15..0.15)).collect();
            let shown: Vec<u32> = rand::seq::index::sample(&mut rng, n, 3).into_iter().map(|i| i as u32).collect();
            let signals: Vec<f32> = shown.iter().flat_map(|&j| {
                let lv = (items[j as usize * fi] > 0.0) as u8 as f32;
                [1.0, lv, 0.0, 0.0, 0.0, 0.0, 0.0]
            }).collect();
            out.push(LoggedRequest {
                session: format!("s{sess}"),
                request,
                timestamp_ms: 1_700_000_000_000 + request as i64 * 1000,
                user: vec![30.0 + sess as f32, 0.5],
                context: vec![request as f32],
                items,
                scores,
                actions,
                base,
                explore: 0.15,
                explore_per_item: true,
                behaviour: "crc32:00000000".into(),
                play_s: shown.iter().map(|_| rng.random_range(0.0..20.0)).collect(),
                shown,
                signals,
                done: request == 2,
            });
        }
    }
    out
}

fn write(path: &Path, s: &LogSchema, reqs: &[LoggedRequest]) {
    let mut w = SessionLogWriter::create(path, s.clone()).unwrap();
    for r in reqs {
        w.push(r).unwrap();
    }
    w.finish().unwrap();
}

/// Rewrites a log with one column changed by `f` (or dropped when `f` gives None).
fn rewrite(from: &Path, to: &Path, column: &str, f: impl Fn(&ArrayRef) -> Option<ArrayRef>) {
    let file = std::fs::File::open(from).unwrap();
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let kv = builder.metadata().file_metadata().key_value_metadata().unwrap();
    let json = kv.iter().find(|e| e.key == "mtfuse.session_log").and_then(|e| e.value.clone()).unwrap();
    let reader = builder.build().unwrap();
    let mut writer: Option<parquet::arrow::ArrowWriter<std::fs::File>> = None;
    for batch in reader {
        let batch = batch.unwrap();
        let (mut fields, mut cols) = (Vec::new(), Vec::new());
        for (field, col) in batch.schema().fields().iter().zip(batch.columns()) {
            let new = if field.name() == column { f(col) } else { Some(col.clone()) };
            if let Some(c) = new {
                fields.push(Field::new(field.name(), c.data_type().clone(), true));
                cols.push(c);
            }
        }
        let schema = Arc::new(Schema::new_with_metadata(fields, batch.schema().metadata().clone()));
        let batch = RecordBatch::try_new(schema.clone(), cols).unwrap();
        let w = writer.get_or_insert_with(|| {
            let mut w = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(to).unwrap(), schema, None).unwrap();
            w.append_key_value_metadata(parquet::file::metadata::KeyValue::new("mtfuse.session_log".into(), json.clone()));
            w
        });
        w.write(&batch).unwrap();
    }
    writer.unwrap().close().unwrap();
}

fn read_err(path: &Path) -> String {
    read_logs(path.to_str().unwrap()).unwrap_err().to_string()
}

#[test]
fn a_log_reads_back_as_written() {
    let s = schema(4);
    let reqs = requests(&s, 5, 1);
    let path = dir().join("roundtrip.parquet");
    write(&path, &s, &reqs);
    let log = read_logs(path.to_str().unwrap()).unwrap();
    assert_eq!(log.schema, s);
    assert_eq!(log.rows, 5 * 3 * 10);
    assert_eq!(log.requests, reqs);
}

#[test]
fn a_glob_reads_files_in_name_order_and_refuses_disagreeing_schemas() {
    let d = dir().join("glob");
    std::fs::create_dir_all(&d).unwrap();
    let s = schema(2);
    let reqs = requests(&s, 4, 2);
    write(&d.join("a.parquet"), &s, &reqs[..6]);
    write(&d.join("b.parquet"), &s, &reqs[6..]);
    let log = read_logs(d.join("*.parquet").to_str().unwrap()).unwrap();
    assert_eq!(log.requests, reqs);
    assert_eq!(log.files.len(), 2);
    write(&d.join("c.parquet"), &schema(3), &requests(&schema(3), 1, 3));
    let err = read_logs(d.join("*.parquet").to_str().unwrap()).unwrap_err().to_string();
    assert!(err.contains("c.parquet: its schema differs from") && err.contains("item differ"), "{err}");
    assert_eq!(read_logs(d.join("none-*.parquet").to_str().unwrap()).unwrap_err().to_string(), format!("no files match {}", d.join("none-*.parquet").display()));
}

#[test]
fn bad_values_are_named_by_file_row_group_row_and_column() {
    // Rows of one request disagreeing on a per-request value, written past the writer.
    let s2 = schema(2);
    let good = dir().join("per-request-good.parquet");
    write(&good, &s2, &requests(&s2, 1, 4));
    let spoilt = dir().join("per-request-differs.parquet");
    rewrite(&good, &spoilt, "user.age", |c| {
        let f = c.as_any().downcast_ref::<Float32Array>().unwrap();
        Some(Arc::new(Float32Array::from_iter_values(f.values().iter().enumerate().map(|(i, &v)| if i == 3 { v + 1.0 } else { v }))) as ArrayRef)
    });
    let err = read_err(&spoilt);
    assert!(err.contains("row 3, column \"user.age\": is 31 on candidate 3, but 30 on the request's first row"), "{err}");
    let s = schema(2);
    let d = dir();
    type Spoil = Box<dyn Fn(&mut Vec<LoggedRequest>)>;
    let cases: Vec<(&str, Spoil, &str)> = vec![
        ("nan-feature", Box::new(|r| r[1].items[3] = f32::NAN), "row 11, column \"item.f1\": is NaN, expected a finite number"),
        ("inf-score", Box::new(|r| r[0].scores[2 * K + 1] = f32::INFINITY), "row 2, column \"score.long_view\": is inf, expected a finite number"),
        ("wide-action", Box::new(|r| r[2].actions[5 * 2 * K] = 1.5), "row 25, column \"action.power.click\": is 1.5, outside the normalised action range [-1, 1]"),
        ("gap", Box::new(|r| { r[1].request = 2; r[2].request = 3 }), "row 10, column \"request\": session \"s0\" jumps from request 0 to 2"),
        ("late-start", Box::new(|r| r[0].request = 1), "row 0, column \"request\": session \"s0\" starts at request 1, not 0"),
        ("nan-signal", Box::new(|r| r[0].signals[0] = f32::NAN), "column \"signal.click\": is NaN, expected a finite number for a shown candidate"),
        ("negative-explore", Box::new(|r| r[1].explore = -0.1), "row 10, column \"explore\": is -0.1, expected a half-width ≥ 0"),
        ("position-twice", Box::new(|r| r[0].shown[1] = r[0].shown[0]), "column \"position\": request 0 of session \"s0\" shows 2 items but has position 2 twice or out of range"),
        ("done-mid-session", Box::new(|r| r[0].done = true), "row 10, column \"request\": session \"s0\" goes on after its done request 0"),
    ];
    for (name, spoil, want) in cases {
        let mut reqs = requests(&s, 2, 4);
        spoil(&mut reqs);
        let path = d.join(format!("{name}.parquet"));
        write(&path, &s, &reqs);
        let err = read_err(&path);
        assert!(err.starts_with(&format!("{}: row group 0, ", path.display())), "{name}: {err}");
        assert!(err.contains(want), "{name}: {err}");
    }
}

#[test]
fn an_unfinished_session_and_a_log_with_nothing_shown_are_refused() {
    let s = schema(2);
    let d = dir();
    let mut reqs = requests(&s, 2, 5);
    reqs[2].done = false;
    let path = d.join("unfinished.parquet");
    write(&path, &s, &reqs);
    assert!(read_err(&path).contains("session \"s0\" ends at request 2 without done"), "{}", read_err(&path));
    let mut reqs = requests(&s, 1, 6);
    for r in &mut reqs {
        (r.shown, r.signals, r.play_s) = (vec![], vec![], vec![]);
    }
    let path = d.join("nothing-shown.parquet");
    write(&path, &s, &reqs);
    assert_eq!(read_err(&path), "the logs hold no shown item: nothing to learn from");
}

#[test]
fn missing_and_mistyped_columns_are_named() {
    let s = schema(2);
    let d = dir();
    let good = d.join("good-columns.parquet");
    write(&good, &s, &requests(&s, 2, 7));
    let missing = d.join("missing-column.parquet");
    rewrite(&good, &missing, "score.hate", |_| None);
    assert_eq!(read_err(&missing), format!("{}: column \"score.hate\" is missing", missing.display()));
    let mistyped = d.join("mistyped-column.parquet");
    rewrite(&good, &mistyped, "item.f0", |c| {
        let f = c.as_any().downcast_ref::<Float32Array>().unwrap();
        Some(Arc::new(Float64Array::from_iter_values(f.values().iter().map(|&v| v as f64))) as ArrayRef)
    });
    assert_eq!(read_err(&mistyped), format!("{}: column \"item.f0\" is Float64, expected Float32", mistyped.display()));
    let plain = d.join("plain.parquet");
    std::fs::write(&plain, b"PAR1 not really").unwrap();
    assert!(read_err(&plain).starts_with(&format!("{}: not a readable Parquet file", plain.display())), "{}", read_err(&plain));
}

/// A log with 30 item features trains a 30-feature actor, normalised by the
/// log, that the ranker serves; no simulator is involved.
#[test]
fn a_policy_trains_from_a_log_with_its_own_features() {
    let s = schema(30);
    let path = dir().join("wide.parquet");
    let reqs = requests(&s, 40, 8);
    write(&path, &s, &reqs);
    let log = read_logs(path.to_str().unwrap()).unwrap();
    let cfg = TrainConfig { updates_per_round: 60, critic_warmup: 20, batch: 16, actor_hidden: vec![16], critic_hidden: vec![16], ensemble: 2, ..Default::default() };
    let trained = train_from_log(&log, PolicyKind::Enhanced, &cfg, &mut Vec::new(), &|_| {}).unwrap();
    let mut ranker = Ranker::from_bytes(&trained.bytes).unwrap();
    let schema = ranker.schema().clone();
    assert_eq!(schema.item.len(), 30);
    assert_eq!(schema.names(mtfuse::FeatureGroup::Item).collect::<Vec<_>>(), s.item.iter().map(String::as_str).collect::<Vec<_>>());
    let age_mean = reqs.iter().map(|q| q.user[0] as f64).sum::<f64>() / reqs.len() as f64;
    assert!((schema.mean[schema.user.start] as f64 - age_mean).abs() < 1e-3, "{} vs {age_mean}", schema.mean[schema.user.start]);
    let q = &reqs[0];
    let r = ranker.rank_columns(&Columns { user: &q.user, context: &q.context, items: &q.items, scores: &q.scores }, 10).unwrap();
    assert_eq!(r.order.len(), 10);
    assert!(r.norm_actions.chunks_exact(2 * K).any(|a| a.iter().any(|&x| (x - 0.1).abs() > 1e-3)), "the actor never moved from where it started");
    // A per-item log cannot train a per-request policy.
    let err = train_from_log(&log, PolicyKind::UserLevel, &cfg, &mut Vec::new(), &|_| {}).err().expect("refused").to_string();
    assert!(err.contains("user-level training needs one action per request"), "{err}");
}

/// The committed example log (docs/log-format.md) still reads: a change that
/// breaks old files fails here and needs a new format version.
#[test]
fn the_example_log_reads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/session-log.parquet");
    let log = read_logs(path.to_str().unwrap()).unwrap();
    assert_eq!((log.rows, log.schema.version, log.schema.k()), (300, 1, K));
    assert_eq!(log.schema.item.len(), 5);
    let first = &log.requests[0];
    assert_eq!((first.session.as_str(), first.request, first.candidates(K), first.shown.len()), ("5-0", 0, 50, 6));
    assert!(log.requests.iter().filter(|q| q.done).count() == 2);
    assert!(first.actions.iter().zip(&first.base).all(|(a, b)| (a - b).abs() <= first.explore + 1e-6));
    assert!(matches!(read_logs("tests/fixtures/tiny-request.json"), Err(LogError::Parquet { .. }) | Err(LogError::NoFiles(_))));
}

/// Training from files streams the log twice and keeps at most
/// `log_sessions` whole sessions: memory is bounded by the sample.
#[test]
fn training_from_files_keeps_a_bounded_sample_of_whole_sessions() {
    let s = schema(3);
    let d = dir().join("reservoir");
    std::fs::create_dir_all(&d).unwrap();
    let reqs = requests(&s, 10, 9);
    write(&d.join("a.parquet"), &s, &reqs[..12]);
    write(&d.join("b.parquet"), &s, &reqs[12..]);
    let pattern = d.join("*.parquet");
    let cfg = TrainConfig { updates_per_round: 20, critic_warmup: 5, batch: 8, actor_hidden: vec![8], critic_hidden: vec![8], ensemble: 2, log_sessions: 4, gate: false, ..Default::default() };
    let trained = mtfuse::rl::train_from_log_files(pattern.to_str().unwrap(), PolicyKind::Enhanced, &cfg, &mut Vec::new(), &|_| {}).unwrap();
    let summary = &trained.ranker.blob().meta.summary;
    assert_eq!((summary["requests"].as_u64(), summary["rows"].as_u64()), (Some(4 * 3), Some(10 * 3 * 10)));
    let all = mtfuse::rl::train_from_log_files(pattern.to_str().unwrap(), PolicyKind::Enhanced, &TrainConfig { log_sessions: 100, ..cfg.clone() }, &mut Vec::new(), &|_| {}).unwrap();
    assert_eq!(all.ranker.blob().meta.summary["requests"].as_u64(), Some(30));
    // With the gate on, the OPE gate's fifth of the sessions stays out of training.
    let gated = mtfuse::rl::train_from_log_files(pattern.to_str().unwrap(), PolicyKind::Enhanced, &TrainConfig { log_sessions: 100, gate: true, ..cfg.clone() }, &mut Vec::new(), &|_| {}).unwrap();
    let kept = reqs.iter().filter(|q| !mtfuse::ope::held_out(&q.session)).count() as u64;
    assert!(kept < 30, "no session of the test log is held out");
    assert_eq!(gated.ranker.blob().meta.summary["requests"].as_u64(), Some(kept));
    // A bad row anywhere fails the first pass: nothing is trained.
    let mut bad = reqs.clone();
    bad[29].scores[0] = f32::NAN;
    write(&d.join("b.parquet"), &s, &bad[12..]);
    let err = mtfuse::rl::train_from_log_files(pattern.to_str().unwrap(), PolicyKind::Enhanced, &cfg, &mut Vec::new(), &|_| {}).err().expect("refused");
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert!(err.to_string() == "cannot train from the session log" && cause.contains("b.parquet: row group 0, row 170, column \"score.click\""), "{err}: {cause}");
}
