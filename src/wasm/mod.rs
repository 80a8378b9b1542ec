//! The JS API (wasm-bindgen). A thin layer: JS fetches the bytes, Rust
//! validates and ranks, and every error becomes a thrown JS `Error` whose
//! message names the field (`?` converts any error into a `JsError`).
//!
//! `request` reads well-formed rank requests fast; `demo` (feature `demo`)
//! is the demo page's simulator; `bench` (feature `bench`) exports kernel
//! timings for `bench/`. Production ranker builds carry neither.

use wasm_bindgen::prelude::*;

use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::exploration::{ExploreOptions, ExploreRecord, ExploreSpec, ExploredRanking};
use crate::json::Json;
use crate::log_line::LogLine;
use crate::ranker::{Columns, ItemId, RankRequest, RankedItem};
use crate::read;

#[cfg(feature = "bench")]
mod bench;
#[cfg(feature = "demo")]
mod demo;
mod js_json;
mod request;

use request::{ColumnBuffers, Keys};

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
export type ItemId = number | string;
export interface RankItem {
  id: ItemId;
  scores: Record<string, number>;
  features?: Record<string, number>;
}
export interface RankRequest {
  user?: Record<string, number>;
  context?: Record<string, number>;
  items: RankItem[];
  topK?: number;
  withActions?: boolean;
}
export interface ExploreOptions {
  /** Half-width of the uniform noise per normalised action dimension, 0..2. */
  width: number;
  /** An integer below 2^53; without it the platform's secure random source picks one. */
  seed?: number;
  /** Noise per candidate instead of once per request. */
  perItem?: boolean;
}
export interface RankOptions { explore?: ExploreOptions; }
export interface ExploreRecord {
  behaviour: string;
  explore: number;
  perItem: boolean;
  seed: number;
  base: number[][];
  actions: number[][];
  shown: number[];
}
export interface ExploredRanking { items: RankedItem[]; record: ExploreRecord; }
export interface LogLine {
  session: string;
  request: number;
  timestampMs: number;
  done: boolean;
  user?: Record<string, number>;
  context?: Record<string, number>;
  items: RankItem[];
  record: ExploreRecord;
  responses: { signals: Record<string, number>; playS: number }[];
}
export interface RankedItem {
  id: ItemId;
  score: number;
  action?: { powers: number[]; biases: number[] };
}
/** `rankColumnar`'s result: plain typed arrays, nothing to free. */
export interface ColumnarRanking {
  /** Indices into the request's items, best first. */
  order: Uint32Array;
  /** Their fused scores. */
  scores: Float32Array;
  /** With exploration: the policy's normalised action per candidate (n × 2k, row-major). */
  base?: Float32Array;
  /** With exploration: the normalised action each candidate was ranked with (n × 2k). */
  actions?: Float32Array;
  /** With exploration: its seed, below 2^53. */
  seed?: number;
  /** With exploration: `crc32:` and the serving blob's CRC-32. */
  behaviour?: string;
}
export interface SchemaFeature { name: string; group: "user" | "context" | "item" | "score" | "request"; mean: number; std: number; }
export interface Schema {
  kind: "static" | "user-level" | "enhanced";
  objectives: string[];
  user: string[];
  context: string[];
  item: string[];
  features: SchemaFeature[];
  actionLow: number[];
  actionHigh: number[];
  hidden: number[];
  summary: unknown;
}
"#;

#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// Crate version.
#[wasm_bindgen]
pub fn version() -> String {
    crate::VERSION.to_string()
}

/// `"simd128"` or `"scalar"`: the dense kernel this module was built with.
#[wasm_bindgen]
pub fn kernel() -> String {
    crate::simd::KERNEL.to_string()
}

/// Bytes of linear memory: a worker reports it in its health check, and it
/// must not keep growing under load.
#[wasm_bindgen(js_name = memoryBytes)]
pub fn memory_bytes() -> f64 {
    (core::arch::wasm32::memory_size(0) * 65536) as f64
}

/// A plain JS object from keys and values. Results are built this way
/// rather than through serde-wasm-bindgen, which cost 20 KB of code.
fn js_object(entries: &[(&str, JsValue)]) -> JsValue {
    let o = js_sys::Object::new();
    for (key, value) in entries {
        // Defining a property of a fresh plain object cannot fail.
        let _ = js_sys::Reflect::set(&o, &JsValue::from_str(key), value);
    }
    o.into()
}

fn js_numbers<T: Copy + Into<f64>>(v: &[T]) -> JsValue {
    v.iter().map(|&x| JsValue::from_f64(x.into())).collect::<js_sys::Array>().into()
}

fn js_strings<'a>(v: impl IntoIterator<Item = &'a str>) -> JsValue {
    v.into_iter().map(JsValue::from_str).collect::<js_sys::Array>().into()
}

fn json_to_js(v: &Json) -> JsValue {
    match v {
        Json::Null => JsValue::NULL,
        Json::Bool(b) => JsValue::from_bool(*b),
        Json::Num(x) => JsValue::from_f64(*x),
        Json::Str(s) => JsValue::from_str(s),
        Json::Arr(a) => a.iter().map(json_to_js).collect::<js_sys::Array>().into(),
        Json::Obj(m) => {
            let entries: Vec<(&str, JsValue)> = m.iter().map(|(k, v)| (k.as_str(), json_to_js(v))).collect();
            js_object(&entries)
        }
    }
}

fn id_to_js(id: &ItemId) -> JsValue {
    match id {
        ItemId::Int(i) => JsValue::from_f64(*i as f64),
        ItemId::Num(x) => JsValue::from_f64(*x),
        ItemId::Str(s) => JsValue::from_str(s),
    }
}

fn ranked_to_js(items: &[RankedItem]) -> JsValue {
    let item = |r: &RankedItem| {
        let mut entries = vec![("id", id_to_js(&r.id)), ("score", JsValue::from_f64(r.score as f64))];
        if let Some(a) = &r.action {
            entries.push(("action", js_object(&[("powers", js_numbers(&a.powers)), ("biases", js_numbers(&a.biases))])));
        }
        js_object(&entries)
    };
    items.iter().map(item).collect::<js_sys::Array>().into()
}

fn record_to_js(r: &ExploreRecord) -> JsValue {
    let rows = |v: &[Vec<f32>]| -> JsValue { v.iter().map(|row| js_numbers(row)).collect::<js_sys::Array>().into() };
    js_object(&[
        ("behaviour", JsValue::from_str(&r.behaviour)),
        ("explore", JsValue::from_f64(r.explore as f64)),
        ("perItem", JsValue::from_bool(r.per_item)),
        ("seed", JsValue::from_f64(r.seed as f64)),
        ("base", rows(&r.base)),
        ("actions", rows(&r.actions)),
        ("shown", js_numbers(&r.shown)),
    ])
}

fn explored_to_js(e: &ExploredRanking) -> JsValue {
    js_object(&[("items", ranked_to_js(&e.items)), ("record", record_to_js(&e.record))])
}

/// A loaded policy.
#[wasm_bindgen]
pub struct Ranker {
    pub(crate) inner: crate::Ranker,
    keys: Keys,
    cols: ColumnBuffers,
}

/// The record of an exploring columnar rank, flat: `base` and `actions`
/// are `n × 2k`, row-major, normalised.
struct ColumnarRecord {
    base: Vec<f32>,
    actions: Vec<f32>,
    seed: u64,
    behaviour: String,
}

/// `rankColumnar`'s result as a plain JS object of typed arrays. Not a
/// wasm-bindgen class: a class instance holds wasm memory until it is
/// freed, and callers who never call `free()` (most) made the heap and the
/// finalizer queue grow until a call took 30 times as long.
fn columnar_result(order: &[u32], scores: &[f32], explored: Option<ColumnarRecord>) -> JsValue {
    let o = js_sys::Object::new();
    let set = |key: &str, value: JsValue| {
        // Defining a property of a fresh plain object cannot fail.
        let _ = js_sys::Reflect::set(&o, &JsValue::from_str(key), &value);
    };
    set("order", js_sys::Uint32Array::from(order).into());
    set("scores", js_sys::Float32Array::from(scores).into());
    if let Some(e) = explored {
        set("base", js_sys::Float32Array::from(&e.base[..]).into());
        set("actions", js_sys::Float32Array::from(&e.actions[..]).into());
        set("seed", JsValue::from_f64(e.seed as f64));
        set("behaviour", JsValue::from_str(&e.behaviour));
    }
    o.into()
}

#[wasm_bindgen]
impl Ranker {
    /// Loads a weight blob. Throws on a truncated, corrupt or inconsistent blob.
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(bytes: &[u8]) -> Result<Ranker, JsError> {
        let inner = crate::Ranker::from_bytes(bytes)?;
        let keys = Keys::new(inner.schema());
        Ok(Ranker { inner, keys, cols: ColumnBuffers::default() })
    }

    /// `"static"`, `"user-level"` or `"enhanced"`.
    #[wasm_bindgen(getter)]
    pub fn kind(&self) -> String {
        self.inner.kind().as_str().to_string()
    }

    /// `"f32"` (the default) or `"int16"`: the actor's arithmetic. int16
    /// quantises the weights now and each layer's inputs per call; the
    /// simd128 build runs it with `i32x4.dot_i16x8_s`.
    #[wasm_bindgen(js_name = setPrecision)]
    pub fn set_precision(&mut self, #[wasm_bindgen(unchecked_param_type = "\"f32\" | \"int16\"")] precision: &str) -> Result<(), JsError> {
        let p = match precision {
            "f32" => crate::quant::Precision::F32,
            "int16" => crate::quant::Precision::Int16,
            other => return Err(crate::RequestError::new(crate::RequestErrorKind::Malformed, "precision", format!("\"{other}\" is not one of f32, int16")).into()),
        };
        self.inner.set_precision(p);
        Ok(())
    }

    /// The precision the actor runs in (a static policy has no actor: always `"f32"`).
    #[wasm_bindgen(getter)]
    pub fn precision(&self) -> String {
        self.inner.precision().as_str().to_string()
    }

    /// Feature names by group, objectives, normalisation and action ranges.
    #[wasm_bindgen(unchecked_return_type = "Schema")]
    pub fn schema(&self) -> Result<JsValue, JsError> {
        let b = self.inner.blob();
        let s = &b.schema;
        let feature = |f: &crate::Feature| {
            let group = match f.group {
                crate::FeatureGroup::User => "user",
                crate::FeatureGroup::Context => "context",
                crate::FeatureGroup::Item => "item",
                crate::FeatureGroup::Score => "score",
                crate::FeatureGroup::Request => "request",
            };
            js_object(&[("name", JsValue::from_str(&f.name)), ("group", JsValue::from_str(group)), ("mean", JsValue::from_f64(f.mean as f64)), ("std", JsValue::from_f64(f.std as f64))])
        };
        Ok(js_object(&[
            ("kind", JsValue::from_str(s.kind.as_str())),
            ("objectives", js_strings(s.objectives.iter().map(String::as_str))),
            ("user", js_strings(s.names(crate::FeatureGroup::User))),
            ("context", js_strings(s.names(crate::FeatureGroup::Context))),
            ("item", js_strings(s.names(crate::FeatureGroup::Item))),
            ("features", s.features.iter().map(feature).collect::<js_sys::Array>().into()),
            ("actionLow", js_numbers(&b.meta.action_low)),
            ("actionHigh", js_numbers(&b.meta.action_high)),
            ("hidden", js_numbers(&b.meta.hidden.iter().map(|&h| h as f64).collect::<Vec<f64>>())),
            ("summary", json_to_js(&b.meta.summary)),
        ]))
    }

    /// Ranks `{user, context, items: [{id, scores, features}], topK, withActions}`.
    /// With `{explore: {width, seed?, perItem?}}` it explores as it ranks and
    /// returns `{items, record}`, the record being what the log needs.
    #[wasm_bindgen(unchecked_return_type = "RankedItem[] | ExploredRanking")]
    pub fn rank(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "RankRequest")] request: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "RankOptions")] options: Option<JsValue>,
    ) -> Result<JsValue, JsError> {
        let explore = read_options(options)?;
        let fast = request::read(&self.keys, &mut self.cols, &request)?;
        match (fast, explore) {
            (Some((top, with_actions)), None) => {
                let c = &self.cols;
                let cols = Columns { user: &c.user, context: &c.context, items: &c.items, scores: &c.scores };
                Ok(ranked_to_js(&self.inner.rank_columns(&cols, top)?.to_items(|j| c.ids[j].clone(), with_actions)))
            }
            (Some((top, with_actions)), Some((spec, seed))) => {
                let c = &self.cols;
                let cols = Columns { user: &c.user, context: &c.context, items: &c.items, scores: &c.scores };
                let behaviour = self.inner.behaviour().to_string();
                let r = self.inner.rank_columns_explored(&cols, top, spec, &mut StdRng::seed_from_u64(seed))?;
                let record = ExploreRecord::of(&r, c.ids.len(), spec, seed, &behaviour);
                Ok(explored_to_js(&ExploredRanking { items: r.to_items(|j| c.ids[j].clone(), with_actions), record }))
            }
            // Slow path: full validation, which names the bad field.
            (None, None) => Ok(ranked_to_js(&self.inner.rank(&RankRequest::from_json(&js_json::js_to_json(&request, "", 0)?)?)?)),
            (None, Some((spec, seed))) => Ok(explored_to_js(&self.inner.rank_explored(&RankRequest::from_json(&js_json::js_to_json(&request, "", 0)?)?, spec, seed)?)),
        }
    }

    /// Checks one log line (`{session, request, timestampMs, done, user,
    /// context, items, record, responses}`) against this policy's schema;
    /// throws naming the bad field, as `rank` does.
    #[wasm_bindgen(js_name = checkLogLine)]
    pub fn check_log_line(&self, #[wasm_bindgen(unchecked_param_type = "LogLine")] line: JsValue) -> Result<(), JsError> {
        let line = LogLine::from_json_text(&json_text(&line)?)?;
        line.check(self.inner.schema())?;
        Ok(())
    }

    /// Columnar fast path. `itemFeatures` is `n × item features` and `scores`
    /// is `n × objectives`, both row-major in schema order. `topK` 0 means all.
    /// With `{explore}` options it explores as `rank` does and the result
    /// carries the record's columns (`base`, `actions`, `seed`, `behaviour`).
    #[wasm_bindgen(js_name = rankColumnar, unchecked_return_type = "ColumnarRanking")]
    pub fn rank_columnar(
        &mut self,
        user: &[f32],
        context: &[f32],
        #[wasm_bindgen(js_name = "itemFeatures")] item_features: &[f32],
        scores: &[f32],
        #[wasm_bindgen(js_name = "topK")] top_k: f64,
        #[wasm_bindgen(unchecked_optional_param_type = "RankOptions")] options: Option<JsValue>,
    ) -> Result<JsValue, JsError> {
        let cols = Columns { user, context, items: item_features, scores };
        let k = self.inner.schema().k();
        // A number, not a u32: wasm-bindgen would wrap 2^32 + 1 to 1 and -1 to 2^32 - 1.
        let top = match top_k {
            0.0 if scores.len() >= k && scores.len() % k == 0 => scores.len() / k,
            t if t.fract() == 0.0 && (0.0..=crate::ranker::MAX_ITEMS as f64).contains(&t) => t as usize,
            t => return Err(crate::RequestError::new(crate::RequestErrorKind::OutOfRange, "topK", format!("{t} is not an integer from 0 (all) to the number of candidates")).into()),
        };
        match read_options(options)? {
            None => {
                let r = self.inner.rank_columns(&cols, top)?;
                Ok(columnar_result(r.order, r.scores, None))
            }
            Some((spec, seed)) => {
                let behaviour = self.inner.behaviour().to_string();
                let r = self.inner.rank_columns_explored(&cols, top, spec, &mut StdRng::seed_from_u64(seed))?;
                let record = ExploreRecord::of(&r, scores.len() / k, spec, seed, &behaviour);
                let explored = ColumnarRecord { base: record.base.concat(), actions: record.actions.concat(), seed, behaviour };
                Ok(columnar_result(r.order, r.scores, Some(explored)))
            }
        }
    }
}


#[wasm_bindgen]
impl Ranker {
    /// For tests of trap recovery only: traps in the middle of a call, as a
    /// bug would, leaving this instance unusable.
    #[wasm_bindgen(js_name = "__trapForTests")]
    pub fn trap_for_tests(&mut self) {
        core::arch::wasm32::unreachable()
    }
}

/// The exploration `rank`'s options ask for, with its seed.
fn read_options(options: Option<JsValue>) -> Result<Option<(ExploreSpec, u64)>, JsError> {
    let Some(options) = options.filter(|o| !o.is_undefined() && !o.is_null()) else { return Ok(None) };
    let explore = (|| {
        let v = js_json::js_to_json(&options, "", 0)?;
        read::object(&v, "", &["explore"])?;
        read::optional(&v, "explore").map(|e| ExploreOptions::from_json(e, "explore")).transpose()
    })()
    .map_err(|e: crate::RequestError| crate::RequestError::new(e.kind(), format!("options.{}", e.field()), e.problem()))?;
    // The platform's secure source (crypto.getRandomValues); should it fail,
    // the seed still differs per call.
    let fresh = || getrandom::u64().unwrap_or_else(|_| (js_sys::Math::random() * crate::exploration::MAX_SEED as f64) as u64);
    match explore {
        None => Ok(None),
        Some(e) => Ok(Some(e.resolve(fresh)?)),
    }
}

/// A JS value as JSON text, for the readers that `mtfuse log import` uses
/// too, so both reject a value alike. NaN becomes null, which the checks
/// then name.
fn json_text(v: &JsValue) -> Result<String, JsError> {
    js_sys::JSON::stringify(v).ok().and_then(|s| s.as_string()).ok_or_else(|| JsError::new("request: not JSON-serialisable (a cycle or a BigInt?)"))
}
