//! Reads and validates session logs, a row group at a time, and assembles
//! their rows into requests. Every problem names the file, the row group,
//! the row within it and the column; nothing is returned from a log that
//! fails.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Int64Type, UInt32Type};
use arrow_array::{Array, BooleanArray, Float32Array, Int64Array, RecordBatch, StringArray, UInt32Array};
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ParquetRecordBatchReaderBuilder};

use crate::logs::schema::METADATA_KEY;
use crate::logs::{LogError, LogSchema, LoggedRequest};

/// A validated log: its schema and its requests, session after session.
#[derive(Debug)]
pub struct SessionLog {
    pub schema: LogSchema,
    pub requests: Vec<LoggedRequest>,
    pub files: Vec<PathBuf>,
    pub rows: usize,
}

/// Reads every file `pattern` matches (a path or a glob such as
/// `logs/*.parquet`), in name order, as one log held in memory.
pub fn read_logs(pattern: &str) -> Result<SessionLog, LogError> {
    let mut requests = Vec::new();
    let summary = stream_logs(pattern, &mut |q| {
        requests.push(q);
        Ok(())
    })?;
    Ok(SessionLog { schema: summary.schema, requests, files: summary.files, rows: summary.rows })
}

/// What a pass over a log saw.
#[derive(Debug)]
pub struct LogSummary {
    pub schema: LogSchema,
    pub files: Vec<PathBuf>,
    pub rows: usize,
    pub requests: usize,
}

/// Streams the requests of every file `pattern` matches to `sink`, one at a
/// time and in order, validating as it goes: memory does not grow with the
/// log. A request reaches `sink` only once its rows are all read and valid;
/// a problem found later still fails the pass.
pub fn stream_logs(pattern: &str, sink: &mut dyn FnMut(LoggedRequest) -> Result<(), LogError>) -> Result<LogSummary, LogError> {
    let mut files: Vec<PathBuf> = match glob::glob(pattern) {
        Ok(paths) => paths.filter_map(Result::ok).collect(),
        Err(_) => vec![PathBuf::from(pattern)],
    };
    files.sort();
    if files.is_empty() {
        return Err(LogError::NoFiles(pattern.to_string()));
    }
    let mut asm: Option<Assembler> = None;
    for path in &files {
        read_file(path, &files[0], &mut asm, sink)?;
    }
    let asm = asm.expect("one file was read");
    let (schema, rows, requests) = asm.finish(sink)?;
    Ok(LogSummary { schema, files, rows, requests })
}

fn read_file(path: &Path, first: &Path, asm: &mut Option<Assembler>, sink: &mut dyn FnMut(LoggedRequest) -> Result<(), LogError>) -> Result<(), LogError> {
    let file = File::open(path).map_err(|source| LogError::Open { path: path.into(), source })?;
    let pq = |source| LogError::Parquet { path: path.into(), source };
    let meta = ArrowReaderMetadata::load(&file, Default::default()).map_err(pq)?;
    let schema = file_schema(path, &meta)?;
    match asm {
        Some(a) if a.schema != schema => return Err(LogError::SchemaDiffers { path: path.into(), first: first.into(), problem: schema_difference(&a.schema, &schema) }),
        Some(_) => {}
        None => *asm = Some(Assembler::new(schema.clone())),
    }
    let arrow = meta.schema();
    for (name, want, _) in schema.columns() {
        let field = arrow.field_with_name(&name).map_err(|_| LogError::MissingColumn { path: path.into(), column: name.clone() })?;
        if *field.data_type() != want {
            return Err(LogError::ColumnType { path: path.into(), column: name, got: field.data_type().to_string(), want: want.to_string() });
        }
    }
    let asm = asm.as_mut().expect("set above");
    for row_group in 0..meta.metadata().num_row_groups() {
        let handle = file.try_clone().map_err(|source| LogError::Open { path: path.into(), source })?;
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(handle, meta.clone()).with_row_groups(vec![row_group]).build().map_err(pq)?;
        let mut row = 0;
        for batch in reader {
            let batch = batch.map_err(|e| pq(e.into()))?;
            let cols = Columns::of(&batch, &schema);
            for r in 0..batch.num_rows() {
                let bad = |(column, problem)| LogError::BadRow { path: path.into(), row_group, row: row + r, column, problem };
                if let Some(done) = asm.push(&cols, r).map_err(bad)? {
                    sink(done)?;
                }
                asm.last_row = (path.into(), row_group, row + r);
            }
            row += batch.num_rows();
        }
    }
    Ok(())
}

/// The file's [`LogSchema`], from its key-value metadata.
fn file_schema(path: &Path, meta: &ArrowReaderMetadata) -> Result<LogSchema, LogError> {
    let not = |problem: String| LogError::NotASessionLog { path: path.into(), problem };
    let kv = meta.metadata().file_metadata().key_value_metadata();
    let json = kv.and_then(|kv| kv.iter().find(|e| e.key == METADATA_KEY)).and_then(|e| e.value.clone()).ok_or_else(|| not(format!("no \"{METADATA_KEY}\" metadata")))?;
    let schema: LogSchema = serde_json::from_str(&json).map_err(|e| not(format!("its \"{METADATA_KEY}\" metadata does not parse: {e}")))?;
    match schema.problem() {
        Some(p) => Err(not(p)),
        None => Ok(schema),
    }
}

fn schema_difference(a: &LogSchema, b: &LogSchema) -> String {
    let (ja, jb) = (serde_json::to_value(a).expect("serialises"), serde_json::to_value(b).expect("serialises"));
    let keys = ja.as_object().expect("object").keys();
    let differ: Vec<&String> = keys.filter(|k| ja[k.as_str()] != jb[k.as_str()]).collect();
    format!("{} differ", differ.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", "))
}

/// A batch's columns, typed, in schema order.
struct Columns<'a> {
    session: &'a StringArray,
    request: &'a UInt32Array,
    timestamp: &'a Int64Array,
    candidate: &'a UInt32Array,
    /// User, context, item, score, action and base columns, with their names.
    floats: Vec<(&'a Float32Array, String)>,
    explore: &'a Float32Array,
    per_item: &'a BooleanArray,
    behaviour: &'a StringArray,
    shown: &'a BooleanArray,
    position: &'a UInt32Array,
    /// Each objective's signal, then play seconds, with their names.
    outcomes: Vec<(&'a Float32Array, String)>,
    done: &'a BooleanArray,
}

impl<'a> Columns<'a> {
    /// Types were checked against the schema before any batch was read.
    fn of(b: &'a RecordBatch, s: &LogSchema) -> Columns<'a> {
        let col = |n: &str| b.column_by_name(n).expect("column checked");
        let f32s = |names: Vec<String>| names.into_iter().map(|n| (col(&n).as_primitive::<Float32Type>(), n)).collect::<Vec<_>>();
        let named = |prefix: &str, names: &[String]| names.iter().map(|n| format!("{prefix}.{n}")).collect::<Vec<_>>();
        let mut floats = Vec::new();
        for (prefix, names) in [("user", &s.user), ("context", &s.context), ("item", &s.item), ("score", &s.objectives), ("action.power", &s.objectives), ("action.bias", &s.objectives), ("base.power", &s.objectives), ("base.bias", &s.objectives)] {
            floats.extend(named(prefix, names));
        }
        let mut outcomes = named("signal", &s.objectives);
        outcomes.push("play_s".into());
        Columns {
            session: col("session_id").as_string::<i32>(),
            request: col("request").as_primitive::<UInt32Type>(),
            timestamp: col("timestamp_ms").as_primitive::<Int64Type>(),
            candidate: col("candidate").as_primitive::<UInt32Type>(),
            floats: f32s(floats),
            explore: col("explore").as_primitive::<Float32Type>(),
            per_item: col("explore_per_item").as_boolean(),
            behaviour: col("behaviour").as_string::<i32>(),
            shown: col("shown").as_boolean(),
            position: col("position").as_primitive::<UInt32Type>(),
            outcomes: f32s(outcomes),
            done: col("done").as_boolean(),
        }
    }
}

/// A bad row: the column and what is wrong.
type RowProblem = (String, String);

/// Rows in, requests out, checking that sessions and requests are whole.
struct Assembler {
    schema: LogSchema,
    /// The last finished request's session, index and done flag.
    prev: Option<(String, u32, bool)>,
    requests: usize,
    /// The request being read, and each of its candidates' shown position.
    current: Option<(LoggedRequest, Vec<Option<u32>>)>,
    rows: usize,
    shown: usize,
    /// Where the last row came from, for problems found at the end.
    last_row: (PathBuf, usize, usize),
}

impl Assembler {
    fn new(schema: LogSchema) -> Assembler {
        Assembler { schema, prev: None, requests: 0, current: None, rows: 0, shown: 0, last_row: (PathBuf::new(), 0, 0) }
    }

    /// Takes row `r`; returns the request it finished, if it started a new one.
    fn push(&mut self, c: &Columns, r: usize) -> Result<Option<LoggedRequest>, RowProblem> {
        let bad = |column: &str, problem: String| Err((column.to_string(), problem));
        let (session, request) = (c.session.value(r), c.request.value(r));
        let same = matches!(&self.current, Some((q, _)) if q.session == session && q.request == request);
        let mut finished = None;
        if !same {
            finished = self.close_request()?;
            self.open_request(c, r)?;
        }
        let (q, positions) = self.current.as_mut().expect("opened");
        if c.done.value(r) != q.done {
            return bad("done", format!("differs between the rows of request {request} of session \"{session}\""));
        }
        let (k, fi) = (self.schema.k(), self.schema.item.len());
        if c.candidate.value(r) as usize != positions.len() {
            return bad("candidate", format!("candidate {} of request {request} of session \"{session}\" follows {} candidates; candidates must be 0, 1, 2, … in order", c.candidate.value(r), positions.len()));
        }
        let (u, cx) = (q.user.len(), q.context.len());
        for (i, (col, name)) in c.floats.iter().enumerate() {
            let v = col.value(r);
            if col.is_null(r) || !v.is_finite() {
                return bad(name, format!("is {}, expected a finite number", if col.is_null(r) { "null".to_string() } else { v.to_string() }));
            }
            if i < u + cx {
                // Read when the request opened; every row must repeat it.
                let first = if i < u { q.user[i] } else { q.context[i - u] };
                if v != first {
                    return bad(name, format!("is {v} on candidate {}, but {first} on the request's first row", positions.len()));
                }
                continue;
            }
            // A row holds item, score, then action and base as k powers and k biases each.
            let at = i - u - cx;
            if at < fi {
                q.items.push(v);
            } else if at < fi + k {
                q.scores.push(v);
            } else if v.abs() > 1.0 {
                return bad(name, format!("is {v}, outside the normalised action range [-1, 1]"));
            } else if at < fi + 3 * k {
                q.actions.push(v);
            } else {
                q.base.push(v);
            }
        }
        let position = if c.shown.value(r) {
            if c.position.is_null(r) {
                return bad("position", "is null for a shown candidate".into());
            }
            Some(c.position.value(r))
        } else {
            None
        };
        positions.push(position);
        if position.is_some() {
            let mut outcome = Vec::with_capacity(k + 1);
            for (col, name) in &c.outcomes {
                if col.is_null(r) || !col.value(r).is_finite() {
                    return bad(name, format!("is {}, expected a finite number for a shown candidate", if col.is_null(r) { "null".to_string() } else { col.value(r).to_string() }));
                }
                outcome.push(col.value(r));
            }
            q.signals.extend_from_slice(&outcome[..k]);
            q.play_s.push(outcome[k]);
        }
        self.rows += 1;
        Ok(finished)
    }

    /// Starts a request at row `r`, checking it continues its session.
    fn open_request(&mut self, c: &Columns, r: usize) -> Result<(), RowProblem> {
        let (session, request) = (c.session.value(r), c.request.value(r));
        let bad = |column: &str, problem: String| Err((column.to_string(), problem));
        match &self.prev {
            Some((s, r, true)) if s == session => return bad("request", format!("session \"{session}\" goes on after its done request {r}")),
            Some((s, r, _)) if s == session && request != r + 1 => return bad("request", format!("session \"{session}\" jumps from request {r} to {request}")),
            Some((s, r, false)) if s != session => return bad("session_id", format!("session \"{s}\" ends at request {r} without done")),
            Some((s, _, _)) if s != session && request != 0 => return bad("request", format!("session \"{session}\" starts at request {request}, not 0")),
            None if request != 0 => return bad("request", format!("session \"{session}\" starts at request {request}, not 0")),
            _ => {}
        }
        let explore = c.explore.value(r);
        if !(explore.is_finite() && explore >= 0.0) {
            return bad("explore", format!("is {explore}, expected a half-width ≥ 0"));
        }
        let (u, cx) = (self.schema.user.len(), self.schema.context.len());
        let shared: Vec<f32> = c.floats[..u + cx].iter().map(|(col, _)| col.value(r)).collect();
        let q = LoggedRequest {
            session: session.to_string(),
            request,
            timestamp_ms: c.timestamp.value(r),
            user: shared[..u].to_vec(),
            context: shared[u..].to_vec(),
            items: vec![],
            scores: vec![],
            actions: vec![],
            base: vec![],
            explore,
            explore_per_item: c.per_item.value(r),
            behaviour: c.behaviour.value(r).to_string(),
            shown: vec![],
            signals: vec![],
            play_s: vec![],
            done: c.done.value(r),
        };
        self.current = Some((q, Vec::new()));
        Ok(())
    }

    /// Finishes the current request: actions as rows of 2k, shown order by position.
    fn close_request(&mut self) -> Result<Option<LoggedRequest>, RowProblem> {
        let Some((mut q, positions)) = self.current.take() else { return Ok(None) };
        let k = self.schema.k();
        let m = positions.iter().flatten().count();
        let mut shown = vec![u32::MAX; m];
        for (j, p) in positions.iter().enumerate() {
            if let Some(p) = *p {
                match shown.get_mut(p as usize) {
                    Some(slot) if *slot == u32::MAX => *slot = j as u32,
                    _ => return Err(("position".into(), format!("request {} of session \"{}\" shows {m} items but has position {p} twice or out of range", q.request, q.session))),
                }
            }
        }
        // Signals were read in candidate order; put them in shown order.
        let by_candidate: Vec<usize> = positions.iter().enumerate().filter(|(_, p)| p.is_some()).map(|(j, _)| j).collect();
        let (signals, play) = (q.signals.clone(), q.play_s.clone());
        for (p, &j) in shown.iter().enumerate() {
            let i = by_candidate.iter().position(|&c| c == j as usize).expect("shown candidate");
            q.signals[p * k..(p + 1) * k].copy_from_slice(&signals[i * k..(i + 1) * k]);
            q.play_s[p] = play[i];
        }
        q.shown = shown;
        self.shown += m;
        self.requests += 1;
        self.prev = Some((q.session.clone(), q.request, q.done));
        Ok(Some(q))
    }

    fn finish(mut self, sink: &mut dyn FnMut(LoggedRequest) -> Result<(), LogError>) -> Result<(LogSchema, usize, usize), LogError> {
        let (path, row_group, row) = self.last_row.clone();
        if let Some(q) = self.close_request().map_err(|(column, problem)| LogError::BadRow { path: path.clone(), row_group, row, column, problem })? {
            sink(q)?;
        }
        if let Some((session, request, false)) = &self.prev {
            return Err(LogError::UnfinishedSession { path, session: session.clone(), request: *request });
        }
        if self.shown == 0 {
            return Err(LogError::NothingShown);
        }
        Ok((self.schema, self.rows, self.requests))
    }
}
