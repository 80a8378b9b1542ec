//! `mtfuse pack` and `inspect --toml`: a blob round-trips through its schema
//! file and plain weights; PyTorch-layout weights pack to the same blob as
//! mtfuse's layout; every misfit is named.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::*;
use mtfuse::blob::PolicyWeights;
use mtfuse::pack::{pack, plain_weights, Layout, PackError, SchemaFile};
use mtfuse::{Blob, PolicyKind, Ranker};
use safetensors::Dtype;

fn ranking(bytes: &[u8]) -> Vec<mtfuse::ranker::RankedItem> {
    let req = mtfuse::RankRequest::from_json_text(&std::fs::read_to_string("tests/fixtures/shipped-request.json").unwrap()).unwrap();
    Ranker::from_bytes(bytes).unwrap().rank(&req).unwrap()
}

#[test]
fn shipped_blobs_round_trip_through_inspect_and_pack() {
    for name in ["static", "user", "enhanced"] {
        let bytes = std::fs::read(format!("models/{name}.safetensors")).unwrap();
        let blob = Blob::from_bytes(&bytes).unwrap();
        let toml = SchemaFile::of(&blob.meta).to_toml();
        let packed = pack(&plain_weights(&blob), &toml, Layout::Auto).unwrap();
        let again = Blob::from_bytes(&packed).unwrap();
        assert_eq!((&again.weights, &again.schema, &again.actions), (&blob.weights, &blob.schema, &blob.actions), "{name}");
        assert_eq!(ranking(&packed), ranking(&bytes), "{name}");
    }
}

/// The tiny enhanced actor as PyTorch would save an `nn.Sequential` of
/// Linear and ReLU layers: `net.{0,2,4}.weight` as `[out, in]`, in `dtype`.
fn torch_weights(dtype: Dtype) -> Vec<u8> {
    let actor = actor(PolicyKind::Enhanced, &[8, 4]);
    let mut tensors = Vec::new();
    for (i, l) in actor.layers.iter().enumerate() {
        let t = l.w.t().as_standard_layout().to_owned();
        tensors.push((format!("net.{}.weight", 2 * i), vec![l.outputs(), l.inputs()], t.iter().copied().collect::<Vec<f32>>()));
        tensors.push((format!("net.{}.bias", 2 * i), vec![l.outputs()], l.b.to_vec()));
    }
    let encode = |v: &[f32]| -> Vec<u8> {
        match dtype {
            Dtype::F64 => v.iter().flat_map(|x| (*x as f64).to_le_bytes()).collect(),
            Dtype::BF16 => v.iter().flat_map(|x| ((x.to_bits() >> 16) as u16).to_le_bytes()).collect(),
            Dtype::I32 => v.iter().flat_map(|x| (*x as i32).to_le_bytes()).collect(),
            _ => f32_bytes(v),
        }
    };
    let data: Vec<(String, Vec<usize>, Vec<u8>)> = tensors.iter().map(|(n, s, v)| (n.clone(), s.clone(), encode(v))).collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = data.iter().map(|(n, s, b)| (n.clone(), safetensors::tensor::TensorView::new(dtype, s.clone(), b).unwrap())).collect();
    safetensors::serialize(views, None).unwrap()
}

fn tiny_toml() -> String {
    SchemaFile::of(&meta(PolicyKind::Enhanced, vec![8, 4])).to_toml()
}

#[test]
fn torch_layout_packs_to_the_same_actor() {
    let want = Blob::from_bytes(&enhanced_bytes()).unwrap();
    for dtype in [Dtype::F32, Dtype::F64] {
        let packed = Blob::from_bytes(&pack(&torch_weights(dtype), &tiny_toml(), Layout::Auto).unwrap()).unwrap();
        assert_eq!(packed.weights, want.weights, "{dtype:?}");
    }
    // BF16 (truncated here) keeps 8 bits of mantissa: within 2^-7, not equal.
    let packed = Blob::from_bytes(&pack(&torch_weights(Dtype::BF16), &tiny_toml(), Layout::Auto).unwrap()).unwrap();
    let (PolicyWeights::Actor(a), PolicyWeights::Actor(b)) = (&packed.weights, &want.weights) else { panic!() };
    assert!(a.layers[0].w.iter().zip(b.layers[0].w.iter()).all(|(x, y)| (x - y).abs() <= 8e-3 * y.abs().max(1e-3)));
}

#[test]
fn every_misfit_is_named() {
    let err = |weights: &[u8], toml: &str, layout| pack(weights, toml, layout).unwrap_err().to_string();
    // Forcing the mtfuse layout on PyTorch tensors: the first layer's shape is named.
    let msg = err(&torch_weights(Dtype::F32), &tiny_toml(), Layout::Mtfuse);
    assert_eq!(msg, "tensor \"net.0.weight\" has shape [8, 7]; layer 0 needs [7, 8] (mtfuse [in, out] layout)");
    // A schema with another hidden width: the count of layers, or a shape.
    let msg = err(&torch_weights(Dtype::F32), &tiny_toml().replace("hidden = [8, 4]", "hidden = [8]"), Layout::Auto);
    assert!(msg.starts_with("weights file has 3 dense layers (net.0.weight, net.2.weight, net.4.weight), the schema's hidden widths [8] need 2"), "{msg}");
    let msg = err(&torch_weights(Dtype::F32), &tiny_toml().replace("hidden = [8, 4]", "hidden = [8, 5]"), Layout::Auto);
    assert!(msg.starts_with("tensor \"net.2.weight\" has shape [4, 8]; layer 1 needs [5, 8]"), "{msg}");
    assert!(err(&torch_weights(Dtype::I32), &tiny_toml(), Layout::Auto).contains("has dtype I32; pack reads F32, F64, F16 and BF16"));
    assert!(err(b"not safetensors", &tiny_toml(), Layout::Auto).starts_with("weights file is not a safetensors file"));
    let msg = err(&torch_weights(Dtype::F32), &format!("note = 1\n{}", tiny_toml()), Layout::Auto);
    assert!(msg.starts_with("schema file is not valid") && msg.contains("unknown field `note`"), "{msg}");
    let msg = err(&torch_weights(Dtype::F32), &tiny_toml().replacen("std = 20.0", "std = 20.0\nstdev = 1.0", 1), Layout::Auto);
    assert!(msg.contains("unknown field `stdev`"), "{msg}");
    // A schema the blob validation refuses keeps its reason as the source.
    let e = pack(&torch_weights(Dtype::F32), &tiny_toml().replacen("std = 20.0", "std = 0.0", 1), Layout::Auto).unwrap_err();
    assert!(matches!(e, PackError::Blob(_)), "{e}");
    assert!(std::error::Error::source(&e).unwrap().to_string().contains("std must be finite"), "{e}");
}
