//! The JS API (wasm-bindgen). A thin layer: JS fetches the bytes, Rust
//! validates and ranks, and every error becomes a thrown JS `Error` whose
//! message names the field.

use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::ranker::{request_from, Columns};

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
export interface RankedItem {
  id: ItemId;
  score: number;
  action?: { powers: number[]; biases: number[] };
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

fn to_js<T: Serialize>(v: &T) -> Result<JsValue, JsError> {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(|e| JsError::new(&e.to_string()))
}

/// A loaded policy.
#[wasm_bindgen]
pub struct Ranker {
    inner: crate::Ranker,
    keys: Keys,
    cols: ColumnBuffers,
}

/// Property names as JS strings, made once per ranker so the object path
/// reads requests with plain property lookups.
struct Keys {
    user: Vec<JsValue>,
    context: Vec<JsValue>,
    item: Vec<JsValue>,
    objectives: Vec<JsValue>,
    top: [JsValue; 5],
    item_fields: [JsValue; 3],
}

impl Keys {
    fn new(s: &crate::Schema) -> Keys {
        let js = |names: Vec<&str>| names.into_iter().map(JsValue::from_str).collect::<Vec<_>>();
        Keys {
            user: js(s.names(crate::FeatureGroup::User).collect()),
            context: js(s.names(crate::FeatureGroup::Context).collect()),
            item: js(s.names(crate::FeatureGroup::Item).collect()),
            objectives: js(s.objectives.iter().map(String::as_str).collect()),
            top: ["user", "context", "items", "topK", "withActions"].map(JsValue::from_str),
            item_fields: ["id", "scores", "features"].map(JsValue::from_str),
        }
    }
}

#[derive(Default)]
struct ColumnBuffers {
    user: Vec<f32>,
    context: Vec<f32>,
    items: Vec<f32>,
    scores: Vec<f32>,
    ids: Vec<crate::ranker::ItemId>,
}

/// Reads `names` from a plain object whose own keys are exactly those names,
/// as finite numbers. `None` means "not that simple": the caller falls back
/// to the validating serde path, which explains what is wrong.
fn read_numbers(obj: &JsValue, names: &[JsValue], out: &mut Vec<f32>) -> Option<()> {
    if names.is_empty() && (obj.is_undefined() || obj.is_null()) {
        return Some(());
    }
    let o = obj.dyn_ref::<js_sys::Object>()?;
    if js_sys::Object::keys(o).length() as usize != names.len() {
        return None;
    }
    for k in names {
        let v = js_sys::Reflect::get(o, k).ok()?.as_f64()?;
        if !v.is_finite() || !(v as f32).is_finite() {
            return None;
        }
        out.push(v as f32);
    }
    Some(())
}

/// Result of `rankColumnar`: indices into the request's items, best first,
/// and their fused scores.
#[wasm_bindgen]
pub struct ColumnarRanking {
    order: Vec<u32>,
    scores: Vec<f32>,
}

#[wasm_bindgen]
impl ColumnarRanking {
    #[wasm_bindgen(getter)]
    pub fn order(&self) -> Vec<u32> {
        self.order.clone()
    }

    #[wasm_bindgen(getter)]
    pub fn scores(&self) -> Vec<f32> {
        self.scores.clone()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SchemaView<'a> {
    kind: &'a str,
    objectives: &'a [String],
    user: Vec<&'a str>,
    context: Vec<&'a str>,
    item: Vec<&'a str>,
    features: &'a [crate::Feature],
    action_low: &'a [f32],
    action_high: &'a [f32],
    hidden: &'a [usize],
    summary: &'a serde_json::Value,
}

#[wasm_bindgen]
impl Ranker {
    /// Loads a weight blob. Throws on a truncated, corrupt or inconsistent blob.
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(bytes: &[u8]) -> Result<Ranker, JsError> {
        let inner = crate::Ranker::from_bytes(bytes).map_err(|e| JsError::new(&e.to_string()))?;
        let keys = Keys::new(inner.schema());
        Ok(Ranker { inner, keys, cols: ColumnBuffers::default() })
    }

    /// `"static"`, `"user-level"` or `"enhanced"`.
    #[wasm_bindgen(getter)]
    pub fn kind(&self) -> String {
        self.inner.kind().as_str().to_string()
    }

    /// Feature names by group, objectives, normalisation and action ranges.
    #[wasm_bindgen(unchecked_return_type = "Schema")]
    pub fn schema(&self) -> Result<JsValue, JsError> {
        let b = self.inner.blob();
        let s = &b.schema;
        to_js(&SchemaView {
            kind: s.kind.as_str(),
            objectives: &s.objectives,
            user: s.names(crate::FeatureGroup::User).collect(),
            context: s.names(crate::FeatureGroup::Context).collect(),
            item: s.names(crate::FeatureGroup::Item).collect(),
            features: &s.features,
            action_low: &b.meta.action_low,
            action_high: &b.meta.action_high,
            hidden: &b.meta.hidden,
            summary: &b.meta.summary,
        })
    }

    /// Ranks `{user, context, items: [{id, scores, features}], topK, withActions}`.
    #[wasm_bindgen(unchecked_return_type = "RankedItem[]")]
    pub fn rank(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "RankRequest")] request: JsValue,
    ) -> Result<JsValue, JsError> {
        let ranked = match self.read_request(&request).map_err(|e| JsError::new(&e.to_string()))? {
            Some((top, with_actions)) => self.rank_read(top, with_actions)?,
            None => {
                // Slow path: full serde validation, which names the bad field.
                let req = request_from(serde_wasm_bindgen::Deserializer::from(request)).map_err(|e| JsError::new(&e.to_string()))?;
                self.inner.rank(&req).map_err(|e| JsError::new(&e.to_string()))?
            }
        };
        to_js(&ranked)
    }

    /// Columnar fast path. `itemFeatures` is `n × item features` and `scores`
    /// is `n × objectives`, both row-major in schema order. `topK` 0 means all.
    #[wasm_bindgen(js_name = rankColumnar)]
    pub fn rank_columnar(
        &mut self,
        user: &[f32],
        context: &[f32],
        #[wasm_bindgen(js_name = "itemFeatures")] item_features: &[f32],
        scores: &[f32],
        #[wasm_bindgen(js_name = "topK")] top_k: u32,
    ) -> Result<ColumnarRanking, JsError> {
        let cols = Columns { user, context, items: item_features, scores };
        let k = self.inner.schema().k();
        let top = if top_k == 0 && scores.len() >= k && scores.len() % k == 0 { scores.len() / k } else { top_k as usize };
        let r = self.inner.rank_columns(&cols, top).map_err(|e| JsError::new(&e.to_string()))?;
        Ok(ColumnarRanking { order: r.order.to_vec(), scores: r.scores.to_vec() })
    }
}

/// Runs the dense kernel `iters` times on a `rows × inputs → outputs` layer
/// with ReLU, inside wasm, so benchmarks can time the kernel alone without
/// JS call overhead. Returns a checksum so the work cannot be optimised away.
#[wasm_bindgen(js_name = benchDense)]
pub fn bench_dense(rows: usize, inputs: usize, outputs: usize, iters: u32) -> f32 {
    use crate::simd::{dense, Activation, DenseShape};
    let x: Vec<f32> = (0..rows * inputs).map(|i| ((i % 17) as f32 - 8.0) * 0.1).collect();
    let w: Vec<f32> = (0..inputs * outputs).map(|i| ((i % 13) as f32 - 6.0) * 0.05).collect();
    let b = vec![0.01; outputs];
    let mut y = vec![0.0; rows * outputs];
    let shape = DenseShape { rows, inputs, outputs };
    for _ in 0..iters {
        dense(shape, &x, &w, &b, Activation::Relu, &mut y);
    }
    y.iter().sum()
}

impl Ranker {
    /// Fast read of a well-formed request into the column buffers, with
    /// property lookups instead of generic deserialisation. Returns
    /// `(topK, withActions)`, `None` for anything the serde path must explain,
    /// or an error for unknown properties, which serde-wasm-bindgen would
    /// silently skip.
    fn read_request(&mut self, req: &JsValue) -> Result<Option<(usize, bool)>, crate::RequestError> {
        let unknown = |field: String, key: &JsValue, known: &[JsValue]| {
            let names: Vec<String> = known.iter().filter_map(|k| k.as_string()).collect();
            crate::RequestError::new(format!("{field}{}", key.as_string().unwrap_or_default()), format!("unknown field, expected one of {}", names.join(", ")))
        };
        let k = &self.keys;
        if let Some(obj) = req.dyn_ref::<js_sys::Object>() {
            if let Some(key) = js_sys::Object::keys(obj).iter().find(|key| !k.top.contains(key)) {
                return Err(unknown(String::new(), &key, &k.top));
            }
            if let Ok(items) = js_sys::Reflect::get(obj, &k.top[2]).and_then(|v| v.dyn_into::<js_sys::Array>().map_err(JsValue::from)) {
                for (j, item) in items.iter().enumerate() {
                    if let Some(o) = item.dyn_ref::<js_sys::Object>() {
                        if let Some(key) = js_sys::Object::keys(o).iter().find(|key| !k.item_fields.contains(key)) {
                            return Err(unknown(format!("items[{j}]."), &key, &k.item_fields));
                        }
                    }
                }
            }
        }
        Ok(self.read_known(req))
    }

    fn read_known(&mut self, req: &JsValue) -> Option<(usize, bool)> {
        let (k, c) = (&self.keys, &mut self.cols);
        let obj = req.dyn_ref::<js_sys::Object>()?;
        let known = js_sys::Object::keys(obj);
        if known.iter().any(|key| !k.top.contains(&key)) {
            return None;
        }
        let get = |o: &js_sys::Object, key: &JsValue| js_sys::Reflect::get(o, key).ok();
        c.user.clear();
        c.context.clear();
        c.items.clear();
        c.scores.clear();
        c.ids.clear();
        read_numbers(&get(obj, &k.top[0])?, &k.user, &mut c.user)?;
        read_numbers(&get(obj, &k.top[1])?, &k.context, &mut c.context)?;
        let items = get(obj, &k.top[2])?.dyn_into::<js_sys::Array>().ok()?;
        if items.length() == 0 {
            return None;
        }
        for item in items.iter() {
            let o = item.dyn_ref::<js_sys::Object>()?;
            let fields = js_sys::Object::keys(o);
            if fields.iter().any(|f| !k.item_fields.contains(&f)) {
                return None;
            }
            let id = get(o, &k.item_fields[0])?;
            c.ids.push(if let Some(s) = id.as_string() {
                crate::ranker::ItemId::Str(s)
            } else {
                let v = id.as_f64()?;
                if v.fract() == 0.0 && v.abs() < 9_007_199_254_740_992.0 { crate::ranker::ItemId::Int(v as i64) } else { crate::ranker::ItemId::Num(v) }
            });
            read_numbers(&get(o, &k.item_fields[1])?, &k.objectives, &mut c.scores)?;
            read_numbers(&get(o, &k.item_fields[2])?, &k.item, &mut c.items)?;
        }
        let n = c.ids.len();
        let top = match get(obj, &k.top[3])? {
            v if v.is_undefined() => n,
            v => {
                let t = v.as_f64()?;
                if t.fract() != 0.0 || t < 1.0 || t > n as f64 {
                    return None;
                }
                t as usize
            }
        };
        let with_actions = match get(obj, &k.top[4])? {
            v if v.is_undefined() => false,
            v => v.as_bool()?,
        };
        Some((top, with_actions))
    }

    fn rank_read(&mut self, top: usize, with_actions: bool) -> Result<Vec<crate::RankedItem>, JsError> {
        let c = &self.cols;
        let cols = Columns { user: &c.user, context: &c.context, items: &c.items, scores: &c.scores };
        let r = self.inner.rank_columns(&cols, top).map_err(|e| JsError::new(&e.to_string()))?;
        Ok(r.to_items(|j| c.ids[j].clone(), with_actions))
    }
}

/// The fitted user simulator, for the demo: realistic requests to rank, and
/// simulated sessions under a ranker (the in-browser A/B test).
#[cfg(feature = "demo")]
#[wasm_bindgen]
pub struct Simulator {
    inner: crate::sim::Simulator,
}

#[cfg(feature = "demo")]
#[wasm_bindgen]
impl Simulator {
    /// Loads `models/simulator.safetensors`. Throws on a bad file.
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(bytes: &[u8]) -> Result<Simulator, JsError> {
        crate::sim::Simulator::from_bytes(bytes).map(|inner| Simulator { inner }).map_err(|e| JsError::new(&e.to_string()))
    }

    /// Number of simulated users; users are addressed by index `0..users`.
    #[wasm_bindgen(getter)]
    pub fn users(&self) -> u32 {
        self.inner.n_users() as u32
    }

    /// KuaiRand user id of simulator user `index`.
    #[wasm_bindgen(js_name = userId)]
    pub fn user_id(&self, index: u32) -> Result<u32, JsError> {
        self.inner.user_ids.get(index as usize).copied().ok_or_else(|| JsError::new(&format!("user: {index} is out of range 0..{}", self.inner.n_users())))
    }

    /// A request of `n` candidates for user `user` at `hour` (0–23) on `tab`
    /// and `weekday` (0 = Monday), drawn with `seed`: what `Ranker.rank` takes.
    #[wasm_bindgen(js_name = drawRequest, unchecked_return_type = "RankRequest")]
    pub fn draw_request(&self, user: u32, hour: u8, tab: u8, weekday: u8, n: u32, seed: u32) -> Result<JsValue, JsError> {
        if user as usize >= self.inner.n_users() || hour > 23 || weekday > 6 || n == 0 {
            return Err(JsError::new(&format!("drawRequest: user {user} (of {}), hour {hour} (0–23), weekday {weekday} (0–6) and n {n} (≥ 1) must be in range", self.inner.n_users())));
        }
        to_js(&self.inner.draw_request(user as usize, hour, tab, weekday, n as usize, seed as u64))
    }

    /// Runs sessions `first..first + count` under `ranker` (users round-robin,
    /// random streams from `seed`, as `mtfuse eval` does). Returns
    /// `[return, depth, long views, interactions]` per session, flattened.
    #[wasm_bindgen(js_name = runSessions)]
    pub fn run_sessions(&self, ranker: &mut Ranker, first: u32, count: u32, seed: u32) -> Result<Vec<f64>, JsError> {
        let n = self.inner.n_users();
        let mut out = Vec::with_capacity(count as usize * 4);
        for s in first as usize..(first + count) as usize {
            let st = crate::sim::run_session(&self.inner, &mut ranker.inner, s % n, seed as u64, (s / n) as u64, None).map_err(|e| JsError::new(&e.to_string()))?;
            out.extend([st.ret, st.depth as f64, st.long_views as f64, st.interactions as f64]);
        }
        Ok(out)
    }
}
