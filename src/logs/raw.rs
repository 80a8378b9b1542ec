//! Raw serving events, what a production system writes before any session
//! log exists: impressions, one row per ranked candidate, and response
//! events, one row per (candidate, signal), each with its own timestamp.
//! The ETL job (`etl/sessions.sql`) joins and sessionises them into the
//! session log. `simulate --raw-events` writes them, with the faults real
//! event streams have on request. `docs/log-format.md` documents both.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, Float32Array, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use serde::Serialize;

use crate::logs::{LogError, LogSchema, LoggedRequest};

/// Impression rows buffered before a row group is written.
const ROW_GROUP_ROWS: usize = 64 * 1024;

/// 2026-01-01T00:00:00Z: simulated serving starts here.
pub const EPOCH_MS: i64 = 1_767_225_600_000;

/// The signal name of play seconds in response events.
pub const PLAY_SIGNAL: &str = "play_s";

/// How often each fault happens (`simulate --faults`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Faults {
    /// Share of response events sent twice.
    pub duplicate: f64,
    /// Share of response events that arrive hours late.
    pub late: f64,
    /// Share of shown candidates whose responses never arrive.
    pub missing: f64,
    /// Events written in arrival order shuffled, not by time.
    pub shuffle: bool,
    /// No session id on impressions: the ETL job splits sessions by gaps.
    pub no_session_hint: bool,
}

impl Faults {
    pub const NONE: Faults = Faults { duplicate: 0.0, late: 0.0, missing: 0.0, shuffle: false, no_session_hint: false };
    /// The mix `simulate --faults` writes.
    pub const REALISTIC: Faults = Faults { duplicate: 0.02, late: 0.01, missing: 0.02, shuffle: true, no_session_hint: true };
}

/// What was written and which faults were injected, so that a test can
/// hold the ETL job's counts against them (`faults.json`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RawCounts {
    pub sessions: usize,
    pub requests: usize,
    pub impressions: usize,
    /// Events written, duplicates included.
    pub events: usize,
    pub duplicated_events: usize,
    pub late_events: usize,
    /// Shown candidates whose events were all dropped.
    pub missing_responses: usize,
    /// Events those missing responses would have had.
    pub missing_events: usize,
}

/// One request as the serving side knows it, beyond the logged features.
pub struct RawRequest<'a> {
    pub request_id: &'a str,
    pub user_id: &'a str,
    /// One id per candidate, in candidate order.
    pub candidate_ids: &'a [String],
    /// The app's session id, if it sends one.
    pub session_hint: Option<&'a str>,
}

/// Writes `DIR/impressions/part-00000.parquet`, `DIR/events/part-00000.parquet`,
/// `DIR/metadata.json` (the session log's schema) and, at the end,
/// `DIR/faults.json`.
pub struct RawEventWriter {
    schema: LogSchema,
    dir: PathBuf,
    impressions: ArrowWriter<File>,
    events: ArrowWriter<File>,
    imp: Vec<Row>,
    ev: Vec<Event>,
    faults: Faults,
    rng: StdRng,
    counts: RawCounts,
}

/// One impression row, before it goes into columns.
struct Row {
    request_id: String,
    session_hint: Option<String>,
    user_id: String,
    timestamp_ms: i64,
    candidate: i32,
    candidate_id: String,
    floats: Vec<f32>,
    explore: f32,
    per_item: bool,
    behaviour: String,
    position: Option<i32>,
}

struct Event {
    request_id: String,
    candidate_id: String,
    signal: String,
    value: f64,
    timestamp_ms: i64,
}

/// The impression columns: ids and time, the session log's feature, score
/// and action columns, then the exploration and what was shown.
pub fn impression_schema(s: &LogSchema) -> Arc<Schema> {
    let mut f = vec![
        Field::new("request_id", DataType::Utf8, false),
        Field::new("session_hint", DataType::Utf8, true),
        Field::new("user_id", DataType::Utf8, false),
        Field::new("timestamp_ms", DataType::Int64, false),
        Field::new("candidate", DataType::Int32, false),
        Field::new("candidate_id", DataType::Utf8, false),
    ];
    f.extend(float_columns(s).into_iter().map(|n| Field::new(n, DataType::Float32, false)));
    f.extend([
        Field::new("explore", DataType::Float32, false),
        Field::new("explore_per_item", DataType::Boolean, false),
        Field::new("behaviour", DataType::Utf8, false),
        Field::new("shown", DataType::Boolean, false),
        Field::new("position", DataType::Int32, true),
    ]);
    Arc::new(Schema::new(f))
}

pub fn event_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("request_id", DataType::Utf8, false),
        Field::new("candidate_id", DataType::Utf8, false),
        Field::new("signal", DataType::Utf8, false),
        Field::new("value", DataType::Float64, false),
        Field::new("timestamp_ms", DataType::Int64, false),
    ]))
}

/// The float columns shared with the session log, in its order.
fn float_columns(s: &LogSchema) -> Vec<String> {
    let group = |prefix: &str, names: &[String]| names.iter().map(|n| format!("{prefix}.{n}")).collect::<Vec<_>>();
    let mut c = [group("user", &s.user), group("context", &s.context), group("item", &s.item), group("score", &s.objectives)].concat();
    for prefix in ["action.power", "action.bias", "base.power", "base.bias"] {
        c.extend(group(prefix, &s.objectives));
    }
    c
}

impl RawEventWriter {
    pub fn create(dir: &Path, schema: LogSchema, faults: Faults, rng: StdRng) -> Result<RawEventWriter, LogError> {
        let props = || WriterProperties::builder().set_compression(Compression::SNAPPY).set_max_row_group_row_count(Some(ROW_GROUP_ROWS)).build();
        let open = |sub: &str, arrow: Arc<Schema>| -> Result<ArrowWriter<File>, LogError> {
            let path = dir.join(sub).join("part-00000.parquet");
            std::fs::create_dir_all(path.parent().unwrap()).map_err(|source| LogError::Open { path: path.clone(), source })?;
            let file = File::create(&path).map_err(|source| LogError::Open { path: path.clone(), source })?;
            ArrowWriter::try_new(file, arrow, Some(props())).map_err(|source| LogError::Write { path, source })
        };
        let impressions = open("impressions", impression_schema(&schema))?;
        let events = open("events", event_schema())?;
        let meta = dir.join("metadata.json");
        std::fs::write(&meta, serde_json::to_string_pretty(&schema).expect("schema serialises")).map_err(|source| LogError::Open { path: meta, source })?;
        Ok(RawEventWriter { schema, dir: dir.into(), impressions, events, imp: Vec::new(), ev: Vec::new(), faults, rng, counts: RawCounts::default() })
    }

    /// Appends one request: its impressions, and the events of what the
    /// user did, subject to the faults.
    pub fn push(&mut self, r: &LoggedRequest, raw: &RawRequest) -> Result<(), LogError> {
        let (k, n) = (self.schema.k(), r.candidates(self.schema.k()));
        let fi = self.schema.item.len();
        if raw.candidate_ids.len() != n {
            return Err(LogError::RequestShape(format!("{} candidate ids for {n} candidates", raw.candidate_ids.len())));
        }
        let mut position = vec![None; n];
        for (p, &c) in r.shown.iter().enumerate() {
            *position.get_mut(c as usize).ok_or_else(|| LogError::RequestShape(format!("shown candidate {c} of {n}")))? = Some(p as i32);
        }
        for (j, &pos) in position.iter().enumerate() {
            let floats = r.user.iter().chain(&r.context).chain(&r.items[j * fi..(j + 1) * fi]).chain(&r.scores[j * k..(j + 1) * k]).chain(&r.actions[j * 2 * k..(j + 1) * 2 * k]).chain(&r.base[j * 2 * k..(j + 1) * 2 * k]).copied().collect();
            let (request_id, user_id, candidate_id) = (raw.request_id.to_string(), raw.user_id.to_string(), raw.candidate_ids[j].clone());
            let session_hint = raw.session_hint.map(String::from);
            self.imp.push(Row { request_id, session_hint, user_id, timestamp_ms: r.timestamp_ms, candidate: j as i32, candidate_id, floats, explore: r.explore, per_item: r.explore_per_item, behaviour: r.behaviour.clone(), position: pos });
        }
        for (p, &c) in r.shown.iter().enumerate() {
            self.push_responses(r, raw, p, c as usize);
        }
        self.counts.requests += 1;
        self.counts.impressions += n;
        self.counts.sessions += r.done as usize;
        if self.imp.len() >= ROW_GROUP_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    /// The events of shown item `p` (candidate `c`): one per signal that
    /// fired, and play seconds when there were any.
    fn push_responses(&mut self, r: &LoggedRequest, raw: &RawRequest, p: usize, c: usize) {
        let k = self.schema.k();
        let mut fired: Vec<(String, f64)> = self.schema.objectives.iter().zip(&r.signals[p * k..(p + 1) * k]).filter(|(_, &v)| v != 0.0).map(|(o, &v)| (o.clone(), v as f64)).collect();
        if r.play_s[p] > 0.0 {
            fired.push((PLAY_SIGNAL.into(), r.play_s[p] as f64));
        }
        if fired.is_empty() {
            return;
        }
        if self.rng.random_bool(self.faults.missing) {
            self.counts.missing_responses += 1;
            self.counts.missing_events += fired.len();
            return;
        }
        // The user reads the list top down: responses come seconds after the request.
        let at = r.timestamp_ms + 2_000 + 3_000 * p as i64;
        for (i, (signal, value)) in fired.into_iter().enumerate() {
            let late = self.rng.random_bool(self.faults.late);
            // A late event is never also duplicated, so that the ETL job's
            // counts of each can be held against these.
            let copies = if !late && self.rng.random_bool(self.faults.duplicate) { 2 } else { 1 };
            self.counts.late_events += late as usize;
            self.counts.duplicated_events += copies - 1;
            for copy in 0..copies {
                // Late events arrive three hours on; a duplicate a moment after its original.
                let timestamp_ms = at + 500 * i as i64 + if late { 3 * 3_600_000 } else { 0 } + 250 * copy as i64;
                self.ev.push(Event { request_id: raw.request_id.into(), candidate_id: raw.candidate_ids[c].clone(), signal: signal.clone(), value, timestamp_ms });
                self.counts.events += 1;
            }
        }
    }

    fn flush(&mut self) -> Result<(), LogError> {
        let rows = std::mem::take(&mut self.imp);
        let mut ev = std::mem::take(&mut self.ev);
        if self.faults.shuffle {
            ev.shuffle(&mut self.rng);
        }
        if !rows.is_empty() {
            let batch = self.impression_batch(rows);
            let path = self.dir.join("impressions");
            self.impressions.write(&batch?).map_err(|source| LogError::Write { path, source })?;
        }
        if !ev.is_empty() {
            let strings = |f: &dyn Fn(&Event) -> &str| Arc::new(StringArray::from_iter_values(ev.iter().map(f))) as ArrayRef;
            let cols = vec![strings(&|e| &e.request_id), strings(&|e| &e.candidate_id), strings(&|e| &e.signal), Arc::new(Float64Array::from_iter_values(ev.iter().map(|e| e.value))), Arc::new(Int64Array::from_iter_values(ev.iter().map(|e| e.timestamp_ms)))];
            let path = self.dir.join("events");
            let batch = RecordBatch::try_new(event_schema(), cols).map_err(|e| LogError::Write { path: path.clone(), source: e.into() })?;
            self.events.write(&batch).map_err(|source| LogError::Write { path, source })?;
        }
        Ok(())
    }

    fn impression_batch(&self, rows: Vec<Row>) -> Result<RecordBatch, LogError> {
        let strings = |f: &dyn Fn(&Row) -> &str| Arc::new(StringArray::from_iter_values(rows.iter().map(f))) as ArrayRef;
        let mut cols = vec![
            strings(&|r| &r.request_id),
            Arc::new(StringArray::from(rows.iter().map(|r| r.session_hint.as_deref()).collect::<Vec<_>>())) as ArrayRef,
            strings(&|r| &r.user_id),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.timestamp_ms))),
            Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.candidate))),
            strings(&|r| &r.candidate_id),
        ];
        let n_floats = rows.first().map_or(0, |r| r.floats.len());
        cols.extend((0..n_floats).map(|i| Arc::new(Float32Array::from_iter_values(rows.iter().map(|r| r.floats[i]))) as ArrayRef));
        cols.push(Arc::new(Float32Array::from_iter_values(rows.iter().map(|r| r.explore))));
        cols.push(Arc::new(BooleanArray::from(rows.iter().map(|r| r.per_item).collect::<Vec<_>>())));
        cols.push(strings(&|r| &r.behaviour));
        cols.push(Arc::new(BooleanArray::from(rows.iter().map(|r| r.position.is_some()).collect::<Vec<_>>())));
        cols.push(Arc::new(Int32Array::from(rows.iter().map(|r| r.position).collect::<Vec<_>>())));
        let path = self.dir.join("impressions");
        RecordBatch::try_new(impression_schema(&self.schema), cols).map_err(|e| LogError::Write { path, source: e.into() })
    }

    /// Writes what is buffered, the file footers and `faults.json`.
    pub fn finish(mut self) -> Result<RawCounts, LogError> {
        self.flush()?;
        for (w, sub) in [(self.impressions, "impressions"), (self.events, "events")] {
            w.close().map_err(|source| LogError::Write { path: self.dir.join(sub), source })?;
        }
        let path = self.dir.join("faults.json");
        std::fs::write(&path, serde_json::to_string_pretty(&self.counts).expect("counts serialise")).map_err(|source| LogError::Open { path, source })?;
        Ok(self.counts)
    }
}
