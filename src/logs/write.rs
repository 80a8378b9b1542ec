//! Writes requests to a Parquet session log, a row group at a time, so a
//! long run streams to disk in bounded memory.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, Float32Array, Int64Array, RecordBatch, StringArray, UInt32Array};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use crate::logs::schema::METADATA_KEY;
use crate::logs::{LogError, LogSchema, LoggedRequest};
use crate::sim::{Simulator, Transition};

/// Rows buffered before a row group is written: large enough for Parquet's
/// column encodings, small enough that a reader streams it.
pub const ROW_GROUP_ROWS: usize = 64 * 1024;

/// Column buffers of the rows not yet written, in [`LogSchema::columns`] order.
#[derive(Default)]
struct Rows {
    session: Vec<String>,
    request: Vec<u32>,
    timestamp: Vec<i64>,
    candidate: Vec<u32>,
    /// One buffer per float column of user, context, item, score, action and base.
    floats: Vec<Vec<f32>>,
    explore: Vec<f32>,
    per_item: Vec<bool>,
    behaviour: Vec<String>,
    shown: Vec<bool>,
    position: Vec<Option<u32>>,
    /// One buffer per objective's signal, then play seconds.
    outcomes: Vec<Vec<Option<f32>>>,
    done: Vec<bool>,
}

pub struct SessionLogWriter {
    schema: LogSchema,
    path: PathBuf,
    writer: ArrowWriter<File>,
    rows: Rows,
    written: usize,
}

impl SessionLogWriter {
    pub fn create(path: &Path, schema: LogSchema) -> Result<SessionLogWriter, LogError> {
        let open = |source| LogError::Open { path: path.into(), source };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(open)?;
        }
        let file = File::create(path).map_err(open)?;
        let props = WriterProperties::builder().set_compression(Compression::SNAPPY).set_max_row_group_row_count(Some(ROW_GROUP_ROWS)).build();
        let mut writer = ArrowWriter::try_new(file, schema.arrow(), Some(props)).map_err(|source| LogError::Write { path: path.into(), source })?;
        // The schema as plain key-value metadata, for readers that do not decode Arrow's.
        writer.append_key_value_metadata(KeyValue::new(METADATA_KEY.to_string(), serde_json::to_string(&schema).expect("schema serialises")));
        let floats = schema.user.len() + schema.context.len() + schema.item.len() + 5 * schema.k();
        let rows = Rows { floats: vec![Vec::new(); floats], outcomes: vec![Vec::new(); schema.k() + 1], ..Default::default() };
        Ok(SessionLogWriter { schema, path: path.into(), writer, rows, written: 0 })
    }

    /// Appends one request's rows, one per candidate.
    pub fn push(&mut self, r: &LoggedRequest) -> Result<(), LogError> {
        let s = &self.schema;
        let (k, n) = (s.k(), r.candidates(s.k()));
        let fi = s.item.len();
        let shape = [("user", r.user.len(), s.user.len()), ("context", r.context.len(), s.context.len()), ("items", r.items.len(), n * fi), ("actions", r.actions.len(), n * 2 * k), ("base", r.base.len(), n * 2 * k), ("signals", r.signals.len(), r.shown.len() * k), ("play_s", r.play_s.len(), r.shown.len())];
        if let Some((what, got, want)) = shape.into_iter().find(|(_, got, want)| got != want) {
            return Err(LogError::RequestShape(format!("{what} has {got} values, expected {want}")));
        }
        let mut position = vec![None; n];
        for (p, &c) in r.shown.iter().enumerate() {
            *position.get_mut(c as usize).ok_or_else(|| LogError::RequestShape(format!("shown candidate {c} of {n}")))? = Some(p);
        }
        let rows = &mut self.rows;
        for (j, &pos) in position.iter().enumerate() {
            rows.session.push(r.session.clone());
            rows.request.push(r.request);
            rows.timestamp.push(r.timestamp_ms);
            rows.candidate.push(j as u32);
            let values = r.user.iter().chain(&r.context).chain(&r.items[j * fi..(j + 1) * fi]).chain(&r.scores[j * k..(j + 1) * k]).chain(&r.actions[j * 2 * k..(j + 1) * 2 * k]).chain(&r.base[j * 2 * k..(j + 1) * 2 * k]);
            for (col, &v) in rows.floats.iter_mut().zip(values) {
                col.push(v);
            }
            rows.explore.push(r.explore);
            rows.per_item.push(r.explore_per_item);
            rows.behaviour.push(r.behaviour.clone());
            rows.shown.push(pos.is_some());
            rows.position.push(pos.map(|p| p as u32));
            for (o, col) in rows.outcomes.iter_mut().enumerate() {
                col.push(pos.map(|p| if o < k { r.signals[p * k + o] } else { r.play_s[p] }));
            }
            rows.done.push(r.done);
        }
        if rows.session.len() >= ROW_GROUP_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the buffered rows as one batch.
    fn flush(&mut self) -> Result<(), LogError> {
        if self.rows.session.is_empty() {
            return Ok(());
        }
        let empty = Rows { floats: vec![Vec::new(); self.rows.floats.len()], outcomes: vec![Vec::new(); self.rows.outcomes.len()], ..Default::default() };
        let r = std::mem::replace(&mut self.rows, empty);
        self.written += r.session.len();
        let mut cols: Vec<ArrayRef> = vec![Arc::new(StringArray::from(r.session)), Arc::new(UInt32Array::from(r.request)), Arc::new(Int64Array::from(r.timestamp)), Arc::new(UInt32Array::from(r.candidate))];
        cols.extend(r.floats.into_iter().map(|c| Arc::new(Float32Array::from(c)) as ArrayRef));
        cols.push(Arc::new(Float32Array::from(r.explore)));
        cols.push(Arc::new(BooleanArray::from(r.per_item)));
        cols.push(Arc::new(StringArray::from(r.behaviour)));
        cols.push(Arc::new(BooleanArray::from(r.shown)));
        cols.push(Arc::new(UInt32Array::from(r.position)));
        cols.extend(r.outcomes.into_iter().map(|c| Arc::new(Float32Array::from(c)) as ArrayRef));
        cols.push(Arc::new(BooleanArray::from(r.done)));
        let batch = RecordBatch::try_new(self.schema.arrow(), cols).map_err(|e| LogError::Write { path: self.path.clone(), source: e.into() })?;
        self.writer.write(&batch).map_err(|source| LogError::Write { path: self.path.clone(), source })
    }

    /// Writes what is buffered and the file footer; returns the rows written.
    pub fn finish(mut self) -> Result<usize, LogError> {
        self.flush()?;
        self.writer.close().map_err(|source| LogError::Write { path: self.path.clone(), source })?;
        Ok(self.written)
    }
}

/// A simulated request as a production logger records it: the simulator's
/// raw features in place of its user and item indices.
pub fn from_transition(sim: &Simulator, t: &Transition, session: &str, behaviour: &str, explore: f32, per_item: bool) -> LoggedRequest {
    let k = crate::blob::DEFAULT_OBJECTIVES.len();
    let items = t.candidates.iter().flat_map(|&i| sim.item_row(i as usize).iter().copied()).collect();
    let base = if t.base.is_empty() { t.actions.clone() } else { t.base.clone() };
    let signals = t.responses.iter().flat_map(|r| r.signals.iter().map(|&s| s as f32)).collect::<Vec<f32>>();
    debug_assert_eq!(signals.len(), t.shown.len() * k);
    LoggedRequest {
        session: session.to_string(),
        request: t.t,
        timestamp_ms: t.t as i64 * 30_000,
        user: sim.user_row(t.user as usize).to_vec(),
        context: t.context.to_vec(),
        items,
        scores: t.scores.clone(),
        actions: t.actions.clone(),
        base,
        explore,
        explore_per_item: per_item,
        behaviour: behaviour.to_string(),
        shown: t.shown.clone(),
        signals,
        play_s: t.responses.iter().map(|r| r.play_s).collect(),
        done: t.done,
    }
}
