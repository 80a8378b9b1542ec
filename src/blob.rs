//! Weight blobs: safetensors files with an mtfuse metadata block.
//!
//! `__metadata__` holds four string keys:
//! - `format` = `"mtfuse"` and `format_version` = `"1"`;
//! - `checksum` = `"crc32:xxxxxxxx"`, see [`content_checksum`];
//! - `mtfuse` = the JSON of [`BlobMeta`].
//!
//! Tensors are little-endian F32. Dense weights are `[inputs, outputs]`
//! (`actor.{i}.weight`, `actor.{i}.bias`); a static policy stores its
//! normalised action as `static.action`.

use std::collections::HashMap;

use serde::Serialize;

use crate::error::{BlobError, RequestError, RequestErrorKind};
use crate::json::Json;
use crate::read::{array_of, integer, number, optional, required, string};
use crate::fusion::ActionSpace;
use crate::nn::{Actor, Dense};
use crate::schema::{Feature, FeatureGroup, PolicyKind, Schema};

/// Bound on action ranges: powers and biases beyond it overflow the fusion.
pub const ACTION_LIMIT: f32 = 1e4;

/// 2: the checksum covers the metadata and names as well as tensor data.
pub const FORMAT_VERSION: u32 = 2;

/// Everything about a policy that is not a tensor.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BlobMeta {
    pub kind: PolicyKind,
    pub objectives: Vec<String>,
    pub features: Vec<Feature>,
    /// Lower end of each real action dimension `(p_1..p_k, b_1..b_k)`.
    pub action_low: Vec<f32>,
    /// Upper end of each real action dimension.
    pub action_high: Vec<f32>,
    /// The behaviour policy's normalised action, the centre of the exploration box.
    pub baseline_action: Vec<f32>,
    /// Hidden widths of the actor (empty for static).
    pub hidden: Vec<usize>,
    /// Training configuration, kept for provenance.
    pub config: Json,
    /// Training summary (metrics, timings), kept for provenance.
    pub summary: Json,
}

impl BlobMeta {
    /// Reads the `mtfuse` metadata entry. Keys it does not know are
    /// ignored, as they were when serde read it.
    pub fn from_json_text(text: &str) -> Result<BlobMeta, BlobError> {
        let v = Json::parse(text).map_err(|e| BlobError::BadMetadata(format!("mtfuse metadata is not JSON: {e}")))?;
        read_meta(&v).map_err(|e| BlobError::BadMetadata(e.to_string()))
    }
}

#[inline(never)]
fn read_meta(v: &Json) -> Result<BlobMeta, RequestError> {
    let top = |key: &str| required(v, "", key);
    let kind = match string(top("kind")?, "kind")?.as_str() {
        "static" => PolicyKind::Static,
        "user-level" => PolicyKind::UserLevel,
        "enhanced" => PolicyKind::Enhanced,
        other => return Err(RequestError::new(RequestErrorKind::Malformed, "kind", format!("is \"{other}\", expected static, user-level or enhanced"))),
    };
    let floats = |key: &str| array_of(top(key)?, key, |x, p| Ok(number(x, p)? as f32));
    let feature = |x: &Json, p: &str| {
        let group = match string(required(x, p, "group")?, &format!("{p}.group"))?.as_str() {
            "user" => FeatureGroup::User,
            "context" => FeatureGroup::Context,
            "item" => FeatureGroup::Item,
            "score" => FeatureGroup::Score,
            "request" => FeatureGroup::Request,
            other => return Err(RequestError::new(RequestErrorKind::Malformed, format!("{p}.group"), format!("is \"{other}\", expected user, context, item, score or request"))),
        };
        let name = string(required(x, p, "name")?, &format!("{p}.name"))?;
        let mean = number(required(x, p, "mean")?, &format!("{p}.mean"))? as f32;
        let std = number(required(x, p, "std")?, &format!("{p}.std"))? as f32;
        Ok(Feature { name, group, mean, std })
    };
    Ok(BlobMeta {
        kind,
        objectives: array_of(top("objectives")?, "objectives", string)?,
        features: array_of(top("features")?, "features", feature)?,
        action_low: floats("action_low")?,
        action_high: floats("action_high")?,
        baseline_action: floats("baseline_action")?,
        hidden: match optional(v, "hidden") {
            Some(h) => array_of(h, "hidden", |x, p| Ok(integer(x, p, 0.0, u32::MAX as f64)? as usize))?,
            None => Vec::new(),
        },
        config: optional(v, "config").cloned().unwrap_or_default(),
        summary: optional(v, "summary").cloned().unwrap_or_default(),
    })
}

/// The learned part of a policy.
#[derive(Clone, Debug, PartialEq)]
pub enum PolicyWeights {
    /// Normalised action shared by all requests.
    Static(Vec<f32>),
    Actor(Actor),
}

/// A fully validated blob.
#[derive(Clone, Debug, PartialEq)]
pub struct Blob {
    pub meta: BlobMeta,
    pub schema: Schema,
    pub actions: ActionSpace,
    pub weights: PolicyWeights,
}

/// Running CRC-32 (IEEE 802.3, as zlib's `crc32`), so any tool can verify a blob.
#[derive(Clone, Copy, Debug)]
pub struct Crc32(u32);

impl Default for Crc32 {
    fn default() -> Self {
        Crc32(!0)
    }
}

impl Crc32 {
    /// Not inlined: V8 tiers a hot loop up by recompiling its whole
    /// function, and inlined into the blob loader that took 3 ms of a cold load.
    #[inline(never)]
    pub fn update(&mut self, bytes: &[u8]) {
        const fn table() -> [u32; 256] {
            let mut t = [0u32; 256];
            let mut i = 0;
            while i < 256 {
                let mut c = i as u32;
                let mut j = 0;
                while j < 8 {
                    c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
                    j += 1;
                }
                t[i] = c;
                i += 1;
            }
            t
        }
        static TABLE: [u32; 256] = table();
        for &b in bytes {
            self.0 = TABLE[((self.0 ^ b as u32) & 0xff) as usize] ^ (self.0 >> 8);
        }
    }

    pub fn finish(self) -> u32 {
        !self.0
    }
}

pub fn crc32(bytes: &[u8]) -> u32 {
    let mut c = Crc32::default();
    c.update(bytes);
    c.finish()
}

/// Insertion sort, for the handful of tensors in a blob: each use of the
/// standard sorts instantiates several KB of wasm, and this is the load path.
fn sort_small<T>(v: &mut [T], less: impl Fn(&T, &T) -> bool) {
    for i in 1..v.len() {
        let mut j = i;
        while j > 0 && less(&v[j], &v[j - 1]) {
            v.swap(j, j - 1);
            j -= 1;
        }
    }
}

/// The `checksum` of a blob or simulator file: CRC-32 over the JSON metadata
/// string, then each tensor in byte order of names as its name, a zero byte
/// and its data. It covers everything that decides a ranking (schema,
/// normalisation, action ranges, widths, weights) but not the file's layout,
/// so a file re-saved by another safetensors writer keeps it.
pub fn content_checksum<'a>(meta_json: &str, tensors: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> String {
    let mut tensors: Vec<(&str, &[u8])> = tensors.into_iter().collect();
    sort_small(&mut tensors, |a, b| a.0.as_bytes() < b.0.as_bytes());
    let mut c = Crc32::default();
    c.update(meta_json.as_bytes());
    for (name, data) in tensors {
        c.update(name.as_bytes());
        c.update(&[0]);
        c.update(data);
    }
    format!("crc32:{:08x}", c.finish())
}

/// Tensor names and shapes a blob with this metadata must hold.
fn expected_tensors(meta: &BlobMeta, schema: &Schema) -> Vec<(String, Vec<usize>)> {
    let k = schema.k();
    match meta.kind {
        PolicyKind::Static => vec![("static.action".into(), vec![2 * k])],
        PolicyKind::UserLevel | PolicyKind::Enhanced => {
            let mut widths = vec![schema.input_width()];
            widths.extend(&meta.hidden);
            widths.push(2 * k);
            let mut out = Vec::new();
            for (i, w) in widths.windows(2).enumerate() {
                out.push((format!("actor.{i}.weight"), vec![w[0], w[1]]));
                out.push((format!("actor.{i}.bias"), vec![w[1]]));
            }
            out
        }
    }
}

/// One tensor's entry in a safetensors header.
struct TensorEntry {
    name: String,
    dtype: String,
    shape: Vec<usize>,
    start: usize,
    end: usize,
}

/// A safetensors header, checked against the file: every tensor's offsets
/// are in bounds, contiguous from 0, and as long as its shape and dtype say.
/// Read here rather than by the safetensors crate, whose serde_json parse
/// was a fifth of the wasm module.
struct Header {
    tensors: Vec<TensorEntry>,
    metadata: Vec<(String, String)>,
    data_start: usize,
}

fn dtype_size(dtype: &str) -> Option<usize> {
    Some(match dtype {
        "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" => 1,
        "U16" | "I16" | "F16" | "BF16" => 2,
        "U32" | "I32" | "F32" => 4,
        "U64" | "I64" | "F64" => 8,
        _ => return None,
    })
}

/// A tensor's entry with its offsets as read; they are checked against the
/// file's length before [`TensorEntry::fits`] relies on them.
fn read_tensor_entry(name: &str, info: &Json) -> Result<TensorEntry, String> {
    let bad = |what: &str| format!("tensor \"{name}\": {what}");
    // Saturating: an offset of 2^64 is a truncation to report, not a wrap.
    let int = |v: &Json| match v {
        Json::Num(x) if x.fract() == 0.0 && *x >= 0.0 => Some(if *x >= usize::MAX as f64 { usize::MAX } else { *x as usize }),
        _ => None,
    };
    let Json::Obj(_) = info else { return Err(bad("its entry is not an object")) };
    let dtype = match info.get("dtype") {
        Some(Json::Str(d)) if dtype_size(d).is_some() => d.clone(),
        _ => return Err(bad("dtype is missing or unknown")),
    };
    let shape = match info.get("shape") {
        Some(Json::Arr(a)) => a.iter().map(int).collect::<Option<Vec<usize>>>(),
        _ => None,
    };
    let shape = shape.ok_or_else(|| bad("shape is not a list of sizes"))?;
    let (start, end) = match info.get("data_offsets") {
        Some(Json::Arr(a)) if a.len() == 2 => (int(&a[0]), int(&a[1])),
        _ => (None, None),
    };
    let (Some(start), Some(end)) = (start, end) else { return Err(bad("data_offsets is not [start, end]")) };
    Ok(TensorEntry { name: name.to_string(), dtype, shape, start, end })
}

impl TensorEntry {
    /// Whether its shape and dtype fill exactly its byte range.
    fn fits(&self) -> Result<(), String> {
        let elements = self.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        let bytes = elements.and_then(|n| n.checked_mul(dtype_size(&self.dtype).unwrap_or(1)));
        if self.start > self.end || bytes != Some(self.end - self.start) {
            return Err(format!("tensor \"{}\": shape {:?} of {} does not fit data_offsets [{}, {}]", self.name, self.shape, self.dtype, self.start, self.end));
        }
        Ok(())
    }
}

#[inline(never)]
fn read_header(bytes: &[u8]) -> Result<Header, BlobError> {
    let not = |m: String| BlobError::NotSafetensors(m);
    if bytes.len() < 8 {
        return Err(BlobError::Truncated { got: bytes.len(), need: 8 });
    }
    // Lengths stay u64 until checked: `as usize` would truncate on wasm32.
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
    if n > 100_000_000 {
        return Err(not(format!("header length {n} is implausible")));
    }
    let data_start = 8 + n as usize;
    if bytes.len() < data_start {
        return Err(BlobError::Truncated { got: bytes.len(), need: data_start });
    }
    let text = std::str::from_utf8(&bytes[8..data_start]).map_err(|_| not("header is not UTF-8".into()))?;
    let header = Json::parse(text).map_err(|e| not(format!("header is not JSON: {e}")))?;
    let Json::Obj(entries) = header else { return Err(not("header is not a JSON object".into())) };
    let (mut tensors, mut metadata) = (Vec::new(), Vec::new());
    for (name, info) in &entries {
        if name != "__metadata__" {
            tensors.push(read_tensor_entry(name, info).map_err(not)?);
            continue;
        }
        let Json::Obj(md) = info else { return Err(not("__metadata__ is not an object".into())) };
        for (k, v) in md {
            let Json::Str(v) = v else { return Err(not(format!("__metadata__ value \"{k}\" is not a string"))) };
            metadata.push((k.clone(), v.clone()));
        }
    }
    // A need beyond the address space is reported as the largest one.
    let last = tensors.iter().map(|t| t.end).max().unwrap_or(0);
    let need = data_start.checked_add(last).unwrap_or(usize::MAX);
    if bytes.len() < need {
        return Err(BlobError::Truncated { got: bytes.len(), need });
    }
    if bytes.len() > need {
        return Err(BlobError::TrailingBytes { extra: bytes.len() - need });
    }
    sort_small(&mut tensors, |a, b| (a.start, a.end) < (b.start, b.end));
    let mut at = 0;
    for t in &tensors {
        t.fits().map_err(not)?;
        if t.start != at {
            return Err(not(format!("tensor \"{}\" starts at byte {}, expected {at}: tensors overlap or leave a gap", t.name, t.start)));
        }
        at = t.end;
    }
    Ok(Header { tensors, metadata, data_start })
}

impl Blob {
    /// Parses and validates a blob. Never panics on any input.
    #[inline(never)]
    pub fn from_bytes(bytes: &[u8]) -> Result<Blob, BlobError> {
        let header = read_header(bytes)?;
        let data = |t: &TensorEntry| &bytes[header.data_start + t.start..header.data_start + t.end];
        let get = |key: &'static str| header.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).ok_or(BlobError::MissingMetadata(key));
        let format = get("format")?;
        if format != "mtfuse" {
            return Err(BlobError::BadMetadata(format!("format is \"{format}\", expected \"mtfuse\"")));
        }
        let version = get("format_version")?;
        if version.parse::<u32>() != Ok(FORMAT_VERSION) {
            return Err(BlobError::UnknownVersion { found: version.to_string(), supported: FORMAT_VERSION });
        }
        let meta_json = get("mtfuse")?;
        let expected = get("checksum")?;
        let actual = content_checksum(meta_json, header.tensors.iter().map(|t| (t.name.as_str(), data(t))));
        if actual != expected {
            return Err(BlobError::BadChecksum { expected: expected.to_string(), actual });
        }
        let meta = BlobMeta::from_json_text(meta_json)?;
        let schema = Schema::new(meta.kind, meta.objectives.clone(), meta.features.clone())?;
        let actions = check_actions(&meta, &schema)?;

        let expected = expected_tensors(&meta, &schema);
        // A tensor the metadata does not describe is a mistake in whatever
        // wrote the blob (an optimizer state, a renamed layer), not something to ignore.
        if let Some(extra) = header.tensors.iter().find(|t| !expected.iter().any(|(e, _)| *e == t.name)) {
            return Err(BlobError::ExtraTensor { name: extra.name.clone(), expected: expected.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ") });
        }
        let mut tensors = HashMap::new();
        for (name, shape) in expected {
            let t = header.tensors.iter().find(|t| t.name == name).ok_or_else(|| BlobError::MissingTensor(name.clone()))?;
            if t.dtype != "F32" {
                return Err(BlobError::WrongDtype { name, got: t.dtype.clone() });
            }
            if t.shape != shape {
                return Err(BlobError::ShapeMismatch { name, got: t.shape.clone(), want: shape });
            }
            let values: Vec<f32> = data(t).chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect();
            if let Some(index) = values.iter().position(|v| !v.is_finite()) {
                return Err(BlobError::NonFinite { name, index });
            }
            tensors.insert(name, (shape, values));
        }
        let weights = match meta.kind {
            PolicyKind::Static => PolicyWeights::Static(tensors.remove("static.action").expect("checked above").1),
            PolicyKind::UserLevel | PolicyKind::Enhanced => {
                let mut layers = Vec::new();
                for i in 0..=meta.hidden.len() {
                    let (shape, w) = tensors.remove(&format!("actor.{i}.weight")).expect("checked above");
                    let (_, b) = tensors.remove(&format!("actor.{i}.bias")).expect("checked above");
                    let w = ndarray::Array2::from_shape_vec((shape[0], shape[1]), w).expect("shape checked");
                    layers.push(Dense::new(w, ndarray::Array1::from(b)));
                }
                let shared_inputs = if meta.kind == PolicyKind::Enhanced { schema.shared_width() } else { 0 };
                PolicyWeights::Actor(Actor { layers, shared_inputs })
            }
        };
        Ok(Blob { meta, schema, actions, weights })
    }

    /// Serialises to safetensors bytes. Fails only on inconsistent shapes.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn to_bytes(meta: &BlobMeta, weights: &PolicyWeights) -> Result<Vec<u8>, BlobError> {
        let schema = Schema::new(meta.kind, meta.objectives.clone(), meta.features.clone())?;
        check_actions(meta, &schema)?;
        let mut named: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
        let bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        match weights {
            PolicyWeights::Static(a) => named.push(("static.action".into(), vec![a.len()], bytes(a))),
            PolicyWeights::Actor(actor) => {
                for (i, l) in actor.layers.iter().enumerate() {
                    let w = l.w.as_standard_layout();
                    named.push((format!("actor.{i}.weight"), vec![l.inputs(), l.outputs()], bytes(w.as_slice().expect("standard layout"))));
                    named.push((format!("actor.{i}.bias"), vec![l.outputs()], bytes(l.b.as_slice().expect("contiguous"))));
                }
            }
        }
        let want = expected_tensors(meta, &schema);
        let got: Vec<(String, Vec<usize>)> = named.iter().map(|(n, s, _)| (n.clone(), s.clone())).collect();
        if want != got {
            return Err(BlobError::SchemaMismatch(format!("weights {got:?} do not fit metadata, which needs {want:?}")));
        }
        let meta_json = serde_json::to_string(meta).map_err(|e| BlobError::BadMetadata(e.to_string()))?;
        let checksum = content_checksum(&meta_json, named.iter().map(|(n, _, b)| (n.as_str(), b.as_slice())));
        let fields = [("format", "mtfuse".to_string()), ("format_version", FORMAT_VERSION.to_string()), ("mtfuse", meta_json), ("checksum", checksum)];
        Ok(write_safetensors(named, &fields))
    }
}

/// Writes F32 tensors as safetensors, in name order, with string metadata.
/// Written here rather than by
/// `safetensors::serialize`, whose metadata map has a random order: the same
/// content must always give the same bytes.
#[cfg(not(target_arch = "wasm32"))]
pub fn write_safetensors(mut named: Vec<(String, Vec<usize>, Vec<u8>)>, metadata: &[(&str, String)]) -> Vec<u8> {
    named.sort_by(|a, b| a.0.cmp(&b.0));
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (name, shape, bytes) in &named {
        let start = data.len();
        data.extend_from_slice(bytes);
        header.insert(name.clone(), serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [start, data.len()]}));
    }
    let mut md = serde_json::Map::new();
    for (k, v) in metadata {
        md.insert(k.to_string(), v.clone().into());
    }
    header.insert("__metadata__".into(), serde_json::Value::Object(md));
    let mut header = serde_json::to_vec(&header).expect("a JSON map of strings and numbers serialises");
    header.resize(header.len().next_multiple_of(8), b' ');
    let mut out = Vec::with_capacity(8 + header.len() + data.len());
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(&data);
    out
}

/// The KuaiRand objectives, in the order the simulator and models use.
pub const DEFAULT_OBJECTIVES: [&str; 7] = ["click", "long_view", "like", "follow", "comment", "forward", "hate"];

/// A policy with random weights and generic feature names (`u0`, `c0`, `i0`),
/// for benchmarks and load tests: realistic shapes, meaningless rankings.
#[cfg(not(target_arch = "wasm32"))]
pub fn random_policy(kind: PolicyKind, [users, contexts, items]: [usize; 3], hidden: &[usize], seed: u64) -> (BlobMeta, PolicyWeights) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let feat = |name: String, group| Feature { name, group, mean: 0.0, std: 1.0 };
    let mut features: Vec<Feature> = (0..users).map(|i| feat(format!("u{i}"), FeatureGroup::User)).collect();
    features.extend((0..contexts).map(|i| feat(format!("c{i}"), FeatureGroup::Context)));
    features.extend((0..items).map(|i| feat(format!("i{i}"), FeatureGroup::Item)));
    let k = DEFAULT_OBJECTIVES.len();
    match kind {
        PolicyKind::Enhanced => features.extend(DEFAULT_OBJECTIVES.iter().map(|o| Feature { name: o.to_string(), group: FeatureGroup::Score, mean: 0.1, std: 0.1 })),
        PolicyKind::UserLevel => {
            for stat in ["mean", "std"] {
                features.extend(DEFAULT_OBJECTIVES.iter().map(|o| Feature { name: crate::schema::request_stat_name(stat, o), group: FeatureGroup::Request, mean: 0.1, std: 0.1 }));
            }
        }
        PolicyKind::Static => {}
    }
    let mut action_low = vec![0.0; k];
    let mut action_high = vec![2.0; k];
    (action_low[k - 1], action_high[k - 1]) = (-1.0, 0.0);
    action_low.extend(std::iter::repeat_n(1e-3, k));
    action_high.extend(std::iter::repeat_n(1.0, k));
    let schema = Schema::new(kind, DEFAULT_OBJECTIVES.iter().map(|s| s.to_string()).collect(), features.clone()).expect("generated schema is valid");
    let hidden = if kind == PolicyKind::Static { vec![] } else { hidden.to_vec() };
    let weights = match kind {
        PolicyKind::Static => PolicyWeights::Static((0..2 * k).map(|_| rng.random_range(-0.5..0.5)).collect()),
        _ => {
            let mut widths = vec![schema.input_width()];
            widths.extend(&hidden);
            widths.push(2 * k);
            let layers = widths
                .windows(2)
                .map(|w| {
                    let scale = (2.0 / w[0] as f32).sqrt();
                    let m = ndarray::Array2::from_shape_fn((w[0], w[1]), |_| rng.random_range(-scale..scale));
                    Dense::new(m, ndarray::Array1::zeros(w[1]))
                })
                .collect();
            let shared_inputs = if kind == PolicyKind::Enhanced { schema.shared_width() } else { 0 };
            PolicyWeights::Actor(Actor { layers, shared_inputs })
        }
    };
    let meta = BlobMeta {
        kind,
        objectives: schema.objectives.clone(),
        features,
        action_low,
        action_high,
        baseline_action: vec![0.0; 2 * k],
        hidden,
        config: serde_json::json!({"random_weights_seed": seed}).into(),
        summary: Json::Null,
    };
    (meta, weights)
}

#[inline(never)]
fn check_actions(meta: &BlobMeta, schema: &Schema) -> Result<ActionSpace, BlobError> {
    let k = schema.k();
    let bad = |m: String| Err(BlobError::BadMetadata(m));
    for (name, v) in [("action_low", &meta.action_low), ("action_high", &meta.action_high), ("baseline_action", &meta.baseline_action)] {
        if v.len() != 2 * k {
            return bad(format!("{name} has {} values, expected {} (2 × {k} objectives)", v.len(), 2 * k));
        }
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return bad(format!("{name}[{i}] is not finite"));
        }
    }
    for d in 0..2 * k {
        if meta.action_low[d].abs().max(meta.action_high[d].abs()) > ACTION_LIMIT {
            return bad(format!("action range {d} [{}, {}] goes beyond ±{ACTION_LIMIT}", meta.action_low[d], meta.action_high[d]));
        }
        if meta.action_low[d] > meta.action_high[d] {
            return bad(format!("action range {d} is empty: low {} > high {}", meta.action_low[d], meta.action_high[d]));
        }
    }
    if meta.hidden.iter().any(|&h| h == 0 || h > 4096) {
        return bad(format!("hidden widths {:?} must be in 1..=4096", meta.hidden));
    }
    Ok(ActionSpace { lo: meta.action_low.clone(), hi: meta.action_high.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_zlib() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }
}
