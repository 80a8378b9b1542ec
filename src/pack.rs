//! `mtfuse pack`: an actor trained elsewhere (PyTorch, JAX, NumPy) plus a
//! schema file become a validated blob, and `mtfuse inspect --toml` prints a
//! blob's schema back in the same form, so the round trip is possible.
//!
//! The schema file is TOML with the fields of [`BlobMeta`] that decide a
//! ranking: `kind`, `objectives`, `hidden`, `action_low`, `action_high`,
//! optionally `baseline_action` (default all 0), and `[[features]]` with
//! `name`, `group`, `mean` and `std`, in group order. Unknown keys are errors.

use std::collections::BTreeMap;

use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

use crate::blob::{Blob, BlobMeta, PolicyWeights};
use crate::error::BlobError;
use crate::nn::{Actor, Dense};
use crate::schema::{Feature, PolicyKind, Schema};

/// Why a weights file and a schema could not be packed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PackError {
    #[error("schema file is not valid: {0}")]
    Schema(String),
    #[error("weights file is not a safetensors file: {0}")]
    NotSafetensors(String),
    #[error("tensor \"{name}\" has dtype {dtype}; pack reads F32, F64, F16 and BF16")]
    UnsupportedDtype { name: String, dtype: String },
    #[error("weights file has {found} dense layers ({names}), the schema's hidden widths {hidden:?} need {want}")]
    LayerCount { found: usize, names: String, hidden: Vec<usize>, want: usize },
    #[error("tensor \"{name}\" has shape {got:?}; layer {layer} needs {want} ({layout} layout)")]
    Shape { name: String, got: Vec<usize>, layer: usize, want: String, layout: &'static str },
    #[error("tensor \"{0}\" is missing")]
    Missing(String),
    #[error("tensor \"{name}\" holds a non-finite value at index {index}")]
    NonFinite { name: String, index: usize },
    #[error("the packed blob does not validate")]
    Blob(#[from] BlobError),
}

/// The schema file: what `pack` reads and `inspect --toml` prints. Numbers
/// are f64 here so that an f32 prints as its shortest decimal (0.001, not
/// 0.0010000000474974513) and reads back as the same f32.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaFile {
    pub kind: PolicyKind,
    pub objectives: Vec<String>,
    #[serde(default)]
    pub hidden: Vec<usize>,
    pub action_low: Vec<f64>,
    pub action_high: Vec<f64>,
    #[serde(default)]
    pub baseline_action: Vec<f64>,
    pub features: Vec<FeatureEntry>,
}

/// One `[[features]]` entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureEntry {
    pub name: String,
    pub group: crate::schema::FeatureGroup,
    pub mean: f64,
    pub std: f64,
}

/// An f32 as the f64 of its shortest decimal form.
fn short(x: f32) -> f64 {
    x.to_string().parse().expect("a float's display parses")
}

fn shorts(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| short(x)).collect()
}

fn narrow(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

impl SchemaFile {
    pub fn of(meta: &BlobMeta) -> SchemaFile {
        SchemaFile {
            kind: meta.kind,
            objectives: meta.objectives.clone(),
            hidden: meta.hidden.clone(),
            action_low: shorts(&meta.action_low),
            action_high: shorts(&meta.action_high),
            baseline_action: shorts(&meta.baseline_action),
            features: meta.features.iter().map(|f| FeatureEntry { name: f.name.clone(), group: f.group, mean: short(f.mean), std: short(f.std) }).collect(),
        }
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a schema serialises to TOML")
    }
}

/// How dense weights are laid out in the weights file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Layout {
    /// `actor.{i}.weight` as `[in, out]` if that is how the tensors are named,
    /// otherwise PyTorch's `[out, in]`.
    Auto,
    /// mtfuse's own `[inputs, outputs]`.
    Mtfuse,
    /// PyTorch's `nn.Linear.weight`, `[outputs, inputs]`.
    Torch,
}

/// A tensor as f32, converting F64, F16 and BF16.
fn read_f32(st: &SafeTensors, name: &str) -> Result<(Vec<usize>, Vec<f32>), PackError> {
    let v = st.tensor(name).map_err(|_| PackError::Missing(name.into()))?;
    let b = v.data();
    let data: Vec<f32> = match v.dtype() {
        Dtype::F32 => b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
        Dtype::F64 => b.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32).collect(),
        Dtype::F16 => b.chunks_exact(2).map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]]))).collect(),
        Dtype::BF16 => b.chunks_exact(2).map(|c| f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16)).collect(),
        other => return Err(PackError::UnsupportedDtype { name: name.into(), dtype: format!("{other:?}") }),
    };
    if let Some(index) = data.iter().position(|x| !x.is_finite()) {
        return Err(PackError::NonFinite { name: name.into(), index });
    }
    Ok((v.shape().to_vec(), data))
}

/// IEEE half to single precision.
fn f16_to_f32(h: u16) -> f32 {
    let (sign, exp, frac) = ((h >> 15) as u32, ((h >> 10) & 0x1f) as u32, (h & 0x3ff) as u32);
    let bits = match (exp, frac) {
        (0, 0) => sign << 31,
        (0, f) => {
            // Subnormal: normalise.
            let shift = f.leading_zeros() - 21;
            (sign << 31) | ((113 - shift) << 23) | ((f << (shift + 1)) & 0x3ff) << 13
        }
        (31, f) => (sign << 31) | (0xff << 23) | (f << 13),
        (e, f) => (sign << 31) | ((e + 112) << 23) | (f << 13),
    };
    f32::from_bits(bits)
}

/// The dense layers' weight names in order: numbers in names compare as
/// numbers, so `net.10.weight` follows `net.2.weight`.
fn layer_names(st: &SafeTensors) -> Vec<String> {
    let key = |n: &str| -> Vec<(u64, String)> {
        n.split('.').map(|p| p.parse::<u64>().map_or((u64::MAX, p.to_string()), |v| (v, String::new()))).collect()
    };
    let mut names: Vec<String> = st.names().into_iter().filter(|n| n.ends_with(".weight")).map(|n| n.to_string()).collect();
    names.sort_by_key(|n| key(n));
    names
}

/// Packs weights and a schema into blob bytes, checking every shape against
/// the schema and naming the first mismatch.
pub fn pack(weights: &[u8], schema_toml: &str, layout: Layout) -> Result<Vec<u8>, PackError> {
    let file: SchemaFile = toml::from_str(schema_toml).map_err(|e| PackError::Schema(e.to_string()))?;
    let k = file.objectives.len();
    let baseline_action = if file.baseline_action.is_empty() { vec![0.0; 2 * k] } else { narrow(&file.baseline_action) };
    let meta = BlobMeta {
        kind: file.kind,
        objectives: file.objectives,
        features: file.features.iter().map(|f| Feature { name: f.name.clone(), group: f.group, mean: f.mean as f32, std: f.std as f32 }).collect(),
        action_low: narrow(&file.action_low),
        action_high: narrow(&file.action_high),
        baseline_action,
        hidden: file.hidden,
        config: crate::json::Json::Null,
        summary: serde_json::json!({"packed_by": format!("mtfuse pack {}", env!("CARGO_PKG_VERSION"))}).into(),
    };
    let schema = Schema::new(meta.kind, meta.objectives.clone(), meta.features.clone())?;
    let st = SafeTensors::deserialize(weights).map_err(|e| PackError::NotSafetensors(e.to_string()))?;
    let policy = match meta.kind {
        PolicyKind::Static => {
            let (shape, action) = read_f32(&st, "static.action")?;
            if shape != [2 * k] {
                return Err(PackError::Shape { name: "static.action".into(), got: shape, layer: 0, want: format!("[{}]", 2 * k), layout: "static" });
            }
            PolicyWeights::Static(action)
        }
        PolicyKind::UserLevel | PolicyKind::Enhanced => {
            let names = layer_names(&st);
            let mut widths = vec![schema.input_width()];
            widths.extend(&meta.hidden);
            widths.push(2 * k);
            if names.len() != widths.len() - 1 {
                return Err(PackError::LayerCount { found: names.len(), names: names.join(", "), hidden: meta.hidden.clone(), want: widths.len() - 1 });
            }
            let torch = match layout {
                Layout::Mtfuse => false,
                Layout::Torch => true,
                Layout::Auto => !names.iter().enumerate().all(|(i, n)| *n == format!("actor.{i}.weight")),
            };
            let mut layers = Vec::new();
            for (i, (name, w)) in names.iter().zip(widths.windows(2)).enumerate() {
                let (inputs, outputs) = (w[0], w[1]);
                let (shape, data) = read_f32(&st, name)?;
                let want = if torch { [outputs, inputs] } else { [inputs, outputs] };
                if shape != want {
                    let layout = if torch { "PyTorch [out, in]" } else { "mtfuse [in, out]" };
                    return Err(PackError::Shape { name: name.clone(), got: shape, layer: i, want: format!("{want:?}"), layout });
                }
                let m = ndarray::Array2::from_shape_vec((shape[0], shape[1]), data).expect("shape checked");
                let m = if torch { m.t().as_standard_layout().to_owned() } else { m };
                let bias_name = format!("{}.bias", name.trim_end_matches(".weight"));
                let (bshape, b) = read_f32(&st, &bias_name)?;
                if bshape != [outputs] {
                    return Err(PackError::Shape { name: bias_name, got: bshape, layer: i, want: format!("[{outputs}]"), layout: "bias" });
                }
                layers.push(Dense::new(m, ndarray::Array1::from(b)));
            }
            let shared_inputs = if meta.kind == PolicyKind::Enhanced { schema.shared_width() } else { 0 };
            PolicyWeights::Actor(Actor { layers, shared_inputs })
        }
    };
    let bytes = Blob::to_bytes(&meta, &policy)?;
    Blob::from_bytes(&bytes)?;
    Ok(bytes)
}

/// A blob's tensors in mtfuse layout, as a plain safetensors file (no
/// metadata): with `inspect --toml`, what `pack` needs to rebuild it.
pub fn plain_weights(blob: &Blob) -> Vec<u8> {
    let mut named: BTreeMap<String, (Vec<usize>, Vec<u8>)> = BTreeMap::new();
    let bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    match &blob.weights {
        PolicyWeights::Static(a) => {
            named.insert("static.action".into(), (vec![a.len()], bytes(a)));
        }
        PolicyWeights::Actor(actor) => {
            for (i, l) in actor.layers.iter().enumerate() {
                let w = l.w.as_standard_layout();
                named.insert(format!("actor.{i}.weight"), (vec![l.inputs(), l.outputs()], bytes(w.as_slice().expect("standard layout"))));
                named.insert(format!("actor.{i}.bias"), (vec![l.outputs()], bytes(l.b.as_slice().expect("contiguous"))));
            }
        }
    }
    crate::blob::write_safetensors(named.into_iter().map(|(n, (s, b))| (n, s, b)).collect(), &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_converts_exactly() {
        for (h, f) in [(0x3c00u16, 1.0f32), (0xc000, -2.0), (0x3555, 0.333_251_95), (0x0001, 5.960_464_5e-8), (0x7bff, 65504.0), (0x0000, 0.0)] {
            assert_eq!(f16_to_f32(h), f, "{h:#06x}");
        }
    }
}
