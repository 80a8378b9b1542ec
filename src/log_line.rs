//! One logged request as the app sends it: the rank request, the record an
//! exploring `rank` returned, and what the user did with the shown items.
//! It is a line of NDJSON (`www/log.js` writes it, the edge worker's
//! `POST /log` takes it, `mtfuse log import` turns lines into the Parquet
//! session log). It lives in the core so that the worker and the importer
//! reject a bad line with the same error, naming the field.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::{RequestError, RequestErrorKind};
use crate::exploration::{ExploreRecord, MAX_WIDTH};
use crate::json::Json;
use crate::read;
use crate::ranker::{check_unique_ids, fill_named, fill_scores, RankItem, MAX_ITEMS};
use crate::schema::{FeatureGroup, Schema};

/// Actions may sit this far outside the exploration box (f32 rounding).
const BOX_SLACK: f32 = 1e-4;

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogLine {
    pub session: String,
    /// Request index within the session, from 0.
    pub request: u32,
    pub timestamp_ms: i64,
    /// This request ended the session.
    pub done: bool,
    pub user: BTreeMap<String, Option<f64>>,
    pub context: BTreeMap<String, Option<f64>>,
    /// Every candidate of the request, shown or not, as it was ranked.
    pub items: Vec<RankItem>,
    pub record: ExploreRecord,
    /// One per shown item, in `record.shown` order.
    pub responses: Vec<ItemResponse>,
}

/// What the user did with one shown item.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemResponse {
    /// The observed signal of every objective (0 or 1 for events).
    pub signals: BTreeMap<String, Option<f64>>,
    pub play_s: Option<f64>,
}

impl LogLine {
    /// Parses one NDJSON line, naming the path of the first bad field.
    pub fn from_json_text(text: &str) -> Result<LogLine, RequestError> {
        LogLine::from_json(&read::parse(text, "line")?)
    }

    pub fn from_json(v: &Json) -> Result<LogLine, RequestError> {
        const FIELDS: [&str; 9] = ["session", "request", "timestampMs", "done", "user", "context", "items", "record", "responses"];
        read::object(v, "", &FIELDS)?;
        let field = |key: &str| read::required(v, "", key);
        let response = |x: &Json, p: &str| {
            read::object(x, p, &["signals", "playS"])?;
            let signals = read::number_map(read::required(x, p, "signals")?, &read::join(p, "signals"))?;
            let play_s = read::optional(x, "playS").map(|t| read::number(t, &read::join(p, "playS"))).transpose()?;
            Ok(ItemResponse { signals, play_s })
        };
        Ok(LogLine {
            session: read::string(field("session")?, "session")?,
            request: read::integer(field("request")?, "request", 0.0, u32::MAX as f64)? as u32,
            timestamp_ms: read::integer(field("timestampMs")?, "timestampMs", -9e15, 9e15)? as i64,
            done: read::boolean(field("done")?, "done")?,
            user: read::number_map_or_empty(v, "", "user")?,
            context: read::number_map_or_empty(v, "", "context")?,
            items: read::array_of(field("items")?, "items", RankItem::from_json)?,
            record: ExploreRecord::from_json(field("record")?, "record")?,
            responses: read::array_of(field("responses")?, "responses", response)?,
        })
    }
}

/// A checked line's values in schema order, ready for the session log.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CheckedLine {
    pub user: Vec<f32>,
    pub context: Vec<f32>,
    /// `n × item features`.
    pub items: Vec<f32>,
    /// `n × k`.
    pub scores: Vec<f32>,
    /// `n × 2k`, normalised.
    pub actions: Vec<f32>,
    pub base: Vec<f32>,
    /// `shown × k`, in shown order.
    pub signals: Vec<f32>,
    pub play_s: Vec<f32>,
}

fn err(
    kind: RequestErrorKind,
    field: impl Into<String>,
    problem: impl Into<String>,
) -> RequestError {
    RequestError::new(kind, field, problem)
}

impl LogLine {
    /// Checks the line against the serving schema and lays its values out.
    pub fn check(&self, s: &Schema) -> Result<CheckedLine, RequestError> {
        let mut out = CheckedLine::default();
        self.check_request(s, &mut out)?;
        self.check_record(s.k(), &mut out)?;
        self.check_responses(s, &mut out)?;
        Ok(out)
    }

    /// The session, and the request's features and scores by name.
    fn check_request(&self, s: &Schema, out: &mut CheckedLine) -> Result<(), RequestError> {
        let n = self.items.len();
        if self.session.is_empty() {
            return Err(err(RequestErrorKind::Missing, "session", "is empty, expected the session's id"));
        }
        if n == 0 {
            return Err(err(RequestErrorKind::Empty, "items", "no candidates: the list is empty"));
        }
        if n > MAX_ITEMS {
            return Err(err(RequestErrorKind::TooMany, "items", format!("{n} candidates exceed the limit of {MAX_ITEMS}")));
        }
        check_unique_ids(self.items.iter().map(|i| &i.id))?;
        fill_named(&self.user, s, FeatureGroup::User, "user", &mut out.user)?;
        fill_named(&self.context, s, FeatureGroup::Context, "context", &mut out.context)?;
        for (j, item) in self.items.iter().enumerate() {
            fill_named(&item.features, s, FeatureGroup::Item, &format!("items[{j}].features"), &mut out.items)?;
            fill_scores(&item.scores, s, &format!("items[{j}].scores"), &mut out.scores)?;
        }
        Ok(())
    }

    /// The exploration record: widths, actions inside their boxes, shown candidates.
    fn check_record(&self, k: usize, out: &mut CheckedLine) -> Result<(), RequestError> {
        let (r, n) = (&self.record, self.items.len());
        if !(r.explore.is_finite() && (0.0..=MAX_WIDTH).contains(&r.explore)) {
            return Err(err(RequestErrorKind::OutOfRange, "record.explore", format!("{} is outside 0..={MAX_WIDTH}", r.explore)));
        }
        out.base = action_rows(&r.base, "record.base", n, 2 * k)?;
        out.actions = action_rows(&r.actions, "record.actions", n, 2 * k)?;
        if let Some(i) = out.actions.iter().zip(&out.base).position(|(a, b)| (a - b).abs() > r.explore + BOX_SLACK) {
            let field = format!("record.actions[{}][{}]", i / (2 * k), i % (2 * k));
            return Err(err(RequestErrorKind::OutOfRange, field, format!("{} is more than explore {} from the base {}", out.actions[i], r.explore, out.base[i])));
        }
        let mut seen = vec![false; n];
        for (p, &c) in r.shown.iter().enumerate() {
            match seen.get_mut(c as usize) {
                None => return Err(err(RequestErrorKind::OutOfRange, format!("record.shown[{p}]"), format!("candidate {c} is out of range 0..{n}"))),
                Some(true) => return Err(err(RequestErrorKind::Malformed, format!("record.shown[{p}]"), format!("candidate {c} is shown twice"))),
                Some(s) => *s = true,
            }
        }
        Ok(())
    }

    /// One response per shown item: every objective's signal and the play time.
    fn check_responses(&self, s: &Schema, out: &mut CheckedLine) -> Result<(), RequestError> {
        let shown = self.record.shown.len();
        if self.responses.len() != shown {
            return Err(err(RequestErrorKind::Length, "responses", format!("{} responses for {shown} shown items; send one per shown item, in shown order", self.responses.len())));
        }
        for (p, resp) in self.responses.iter().enumerate() {
            fill_scores(&resp.signals, s, &format!("responses[{p}].signals"), &mut out.signals)?;
            match resp.play_s {
                Some(x) if x.is_finite() && x >= 0.0 && (x as f32).is_finite() => out.play_s.push(x as f32),
                x => return Err(err(RequestErrorKind::NotFinite, format!("responses[{p}].playS"), format!("is {}, expected seconds ≥ 0", x.map_or("null".into(), |v| v.to_string())))),
            }
        }
        Ok(())
    }
}

/// `rows` as one flat buffer, each of `width` finite values in [−1, 1].
fn action_rows(
    rows: &[Vec<f32>],
    field: &str,
    n: usize,
    width: usize,
) -> Result<Vec<f32>, RequestError> {
    if rows.len() != n {
        return Err(err(
            RequestErrorKind::Length,
            field,
            format!("{} rows for {n} candidates", rows.len()),
        ));
    }
    let mut out = Vec::with_capacity(n * width);
    for (j, row) in rows.iter().enumerate() {
        if row.len() != width {
            return Err(err(
                RequestErrorKind::Length,
                format!("{field}[{j}]"),
                format!(
                    "{} values, expected {width} (a power and a bias per objective)",
                    row.len()
                ),
            ));
        }
        if let Some(i) = row.iter().position(|a| !(a.is_finite() && a.abs() <= 1.0)) {
            return Err(err(
                RequestErrorKind::OutOfRange,
                format!("{field}[{j}][{i}]"),
                format!("{} is outside the normalised action range [-1, 1]", row[i]),
            ));
        }
        out.extend_from_slice(row);
    }
    Ok(out)
}
