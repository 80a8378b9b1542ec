//! Small, deterministic blobs that native tests build and check by hand.
#![allow(dead_code)]

use mtfuse::blob::{content_checksum, BlobMeta, PolicyWeights};
use mtfuse::nn::{Actor, Dense};
use mtfuse::{Blob, Feature, FeatureGroup, PolicyKind};
use ndarray::{Array1, Array2};

pub const OBJECTIVES: [&str; 3] = ["click", "long_view", "hate"];

fn feature(name: &str, group: FeatureGroup, mean: f32, std: f32) -> Feature {
    Feature { name: name.into(), group, mean, std }
}

pub fn features(kind: PolicyKind) -> Vec<Feature> {
    use FeatureGroup::*;
    let mut f = vec![
        feature("activity", User, 40.0, 20.0),
        feature("user_click_rate", User, 0.18, 0.05),
        feature("hour", Context, 12.0, 6.0),
        feature("duration_s", Item, 30.0, 15.0),
    ];
    match kind {
        PolicyKind::Enhanced => f.extend(OBJECTIVES.iter().map(|o| feature(o, Score, 0.2, 0.1))),
        PolicyKind::UserLevel => {
            f.extend(OBJECTIVES.iter().map(|o| feature(&format!("mean:{o}"), Request, 0.2, 0.1)));
            f.extend(OBJECTIVES.iter().map(|o| feature(&format!("std:{o}"), Request, 0.1, 0.05)));
        }
        PolicyKind::Static => {}
    }
    f
}

pub fn meta(kind: PolicyKind, hidden: Vec<usize>) -> BlobMeta {
    BlobMeta {
        kind,
        objectives: OBJECTIVES.iter().map(|s| s.to_string()).collect(),
        features: features(kind),
        // powers: click, long_view in [0, 2], hate in [-1, 0]; biases in [0.01, 1]
        action_low: vec![0.0, 0.0, -1.0, 0.01, 0.01, 0.01],
        action_high: vec![2.0, 2.0, 0.0, 1.0, 1.0, 1.0],
        baseline_action: vec![0.0; 6],
        hidden,
        config: serde_json::json!({"note": "test fixture"}).into(),
        summary: mtfuse::json::Json::Null,
    }
}

/// Deterministic pseudo-random layer with values in about [-0.8, 0.8].
pub fn layer(inputs: usize, outputs: usize, seed: usize) -> Dense {
    let w = Array2::from_shape_fn((inputs, outputs), |(i, o)| (((i * 7 + o * 13 + seed * 29) as f32) * 0.618).sin() * 0.8);
    let b = Array1::from_shape_fn(outputs, |o| (((o + seed) as f32) * 1.3).cos() * 0.2);
    Dense::new(w, b)
}

pub fn actor(kind: PolicyKind, hidden: &[usize]) -> Actor {
    let input = match kind {
        PolicyKind::Enhanced => 7,
        PolicyKind::UserLevel => 3 + 6,
        PolicyKind::Static => unreachable!(),
    };
    let mut widths = vec![input];
    widths.extend(hidden);
    widths.push(6);
    let layers = widths.windows(2).enumerate().map(|(i, w)| layer(w[0], w[1], i)).collect();
    Actor { layers, shared_inputs: if kind == PolicyKind::Enhanced { 3 } else { 0 } }
}

pub fn enhanced_bytes() -> Vec<u8> {
    Blob::to_bytes(&meta(PolicyKind::Enhanced, vec![8, 4]), &PolicyWeights::Actor(actor(PolicyKind::Enhanced, &[8, 4]))).unwrap()
}

pub fn user_level_bytes() -> Vec<u8> {
    Blob::to_bytes(&meta(PolicyKind::UserLevel, vec![5]), &PolicyWeights::Actor(actor(PolicyKind::UserLevel, &[5]))).unwrap()
}

/// Static action: powers (1, 0.5, −0.5), biases (0.1, 0.2, 0.5), normalised.
pub fn static_bytes() -> Vec<u8> {
    // real = lo + (a+1)/2·(hi−lo)  ⇒  a = 2(real−lo)/(hi−lo) − 1
    let norm = vec![0.0, -0.5, 0.0, 2.0 * (0.1 - 0.01) / 0.99 - 1.0, 2.0 * (0.2 - 0.01) / 0.99 - 1.0, 2.0 * (0.5 - 0.01) / 0.99 - 1.0];
    Blob::to_bytes(&meta(PolicyKind::Static, vec![]), &PolicyWeights::Static(norm)).unwrap()
}

/// A safetensors file with arbitrary tensors and metadata and a correct
/// checksum, for building blobs that are wrong in exactly one way.
pub fn raw_blob(tensors: &[(&str, safetensors::Dtype, Vec<usize>, Vec<u8>)], meta: Option<&BlobMeta>, version: &str) -> Vec<u8> {
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .map(|(n, d, s, b)| (n.to_string(), safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    let mut md = std::collections::HashMap::from([("format".to_string(), "mtfuse".to_string()), ("format_version".to_string(), version.to_string())]);
    let meta_json = meta.map(|m| serde_json::to_string(m).unwrap());
    if let Some(m) = &meta_json {
        md.insert("mtfuse".into(), m.clone());
    }
    let checksum = content_checksum(meta_json.as_deref().unwrap_or(""), tensors.iter().map(|(n, _, _, b)| (*n, b.as_slice())));
    md.insert("checksum".into(), checksum);
    safetensors::serialize(views, Some(md)).unwrap()
}

pub fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A request for the tiny schema: five items with distinct scores.
pub fn request_json() -> serde_json::Value {
    let items: Vec<serde_json::Value> = (0..5)
        .map(|j| {
            let jf = j as f64;
            serde_json::json!({
                "id": format!("v{j}"),
                "scores": {"click": 0.1 + 0.15 * jf, "long_view": 0.5 - 0.08 * jf, "hate": 0.01 * (jf + 1.0)},
                "features": {"duration_s": 10.0 + 9.0 * jf}
            })
        })
        .collect();
    serde_json::json!({
        "user": {"activity": 55.0, "user_click_rate": 0.22},
        "context": {"hour": 21.0},
        "items": items,
        "withActions": true
    })
}
