//! Native tests of the inference core: hand-checked fusion, a naive
//! reference for the actor, the blob round trip, and every bad input.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::*;
use mtfuse::blob::{BlobMeta, PolicyWeights};
use mtfuse::{Blob, BlobError, Columns, PolicyKind, RankRequest, Ranker, RequestError, RequestErrorKind};
use safetensors::Dtype;

fn request(v: serde_json::Value) -> RankRequest {
    RankRequest::from_json_text(&v.to_string()).unwrap()
}

fn rank_err(bytes: &[u8], req: serde_json::Value) -> String {
    rank_error(bytes, req).to_string()
}

fn rank_error(bytes: &[u8], req: serde_json::Value) -> RequestError {
    let mut r = Ranker::from_bytes(bytes).unwrap();
    let parsed = match RankRequest::from_json_text(&req.to_string()) {
        Ok(p) => p,
        Err(e) => return e,
    };
    r.rank(&parsed).unwrap_err()
}

#[test]
fn static_policy_ranks_as_computed_by_hand() {
    // p = (1, 0.5, −0.5), b = (0.1, 0.2, 0.5):
    //   A (0.9, 0.05, 0.0): ln 1.0 + 0.5 ln 0.25 − 0.5 ln 0.5 = −0.346574
    //   B (0.3, 0.60, 0.0): ln 0.4 + 0.5 ln 0.80 − 0.5 ln 0.5 = −0.681289
    //   C (0.5, 0.50, 0.4): ln 0.6 + 0.5 ln 0.70 − 0.5 ln 0.9 = −0.636483
    let mut r = Ranker::from_bytes(&static_bytes()).unwrap();
    let mut req = request_json();
    let f = serde_json::json!({"duration_s": 10.0});
    req["items"] = serde_json::json!([
        {"id": "A", "scores": {"click": 0.9, "long_view": 0.05, "hate": 0.0}, "features": f},
        {"id": "B", "scores": {"click": 0.3, "long_view": 0.6, "hate": 0.0}, "features": f},
        {"id": 7, "scores": {"click": 0.5, "long_view": 0.5, "hate": 0.4}, "features": f},
    ]);
    let out = r.rank(&request(req)).unwrap();
    let ids: Vec<String> = out.iter().map(|i| serde_json::to_string(&i.id).unwrap()).collect();
    assert_eq!(ids, ["\"A\"", "7", "\"B\""]);
    for (got, want) in out.iter().map(|i| i.score).zip([-0.346574, -0.636483, -0.681289]) {
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
    }
    let a = out[0].action.as_ref().unwrap();
    for (got, want) in a.powers.iter().chain(&a.biases).zip([1.0, 0.5, -0.5, 0.1, 0.2, 0.5]) {
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }
}

/// The enhanced pipeline, written out naively: full input vectors,
/// ndarray matmuls, tanh, affine map, fusion, sort.
#[test]
fn enhanced_policy_matches_naive_reference() {
    let bytes = enhanced_bytes();
    let blob = Blob::from_bytes(&bytes).unwrap();
    let PolicyWeights::Actor(actor) = &blob.weights else { panic!("enhanced blob has an actor") };
    let req = request(request_json());
    let feats = common::features(PolicyKind::Enhanced);
    let mut want = Vec::new();
    for (j, item) in req.items.iter().enumerate() {
        let raw = [
            req.user["activity"].unwrap(),
            req.user["user_click_rate"].unwrap(),
            req.context["hour"].unwrap(),
            item.features["duration_s"].unwrap(),
            item.scores["click"].unwrap(),
            item.scores["long_view"].unwrap(),
            item.scores["hate"].unwrap(),
        ];
        let mut h = ndarray::Array1::from_iter(raw.iter().zip(&feats).map(|(&x, f)| ((x as f32) - f.mean) / f.std));
        for (i, l) in actor.layers.iter().enumerate() {
            h = h.dot(&l.w) + &l.b;
            if i + 1 < actor.layers.len() {
                h.mapv_inplace(|v| v.max(0.0));
            }
        }
        let lo = &blob.meta.action_low;
        let hi = &blob.meta.action_high;
        let real: Vec<f32> = (0..6).map(|d| lo[d] + (h[d].tanh() + 1.0) / 2.0 * (hi[d] - lo[d])).collect();
        let s = [raw[4] as f32, raw[5] as f32, raw[6] as f32];
        let f: f32 = (0..3).map(|k| real[k] * (s[k] + real[3 + k]).ln()).sum();
        want.push((j, f, real));
    }
    want.sort_by(|a, b| b.1.total_cmp(&a.1));

    let mut r = Ranker::from_blob(blob.clone());
    let got = r.rank(&req).unwrap();
    assert_eq!(got.len(), 5);
    for (g, (j, f, real)) in got.iter().zip(&want) {
        assert_eq!(g.id, req.items[*j].id);
        assert!((g.score - f).abs() < 1e-5 * (1.0 + f.abs()), "{} vs {f}", g.score);
        let a = g.action.as_ref().unwrap();
        for (x, y) in a.powers.iter().chain(&a.biases).zip(real) {
            assert!((x - y).abs() < 1e-5, "{x} vs {y}");
        }
    }
    // Per-item actions really differ between items: that is the point.
    assert_ne!(got[0].action, got[1].action);
}

#[test]
fn columnar_and_object_paths_agree() {
    let mut r = Ranker::from_bytes(&enhanced_bytes()).unwrap();
    let req = request(request_json());
    let by_name = r.rank(&req).unwrap();
    let items: Vec<f32> = req.items.iter().map(|i| i.features["duration_s"].unwrap() as f32).collect();
    let scores: Vec<f32> = req.items.iter().flat_map(|i| common::OBJECTIVES.map(|o| i.scores[o].unwrap() as f32)).collect();
    let cols = Columns { user: &[55.0, 0.22], context: &[21.0], items: &items, scores: &scores };
    let ranking = r.rank_columns(&cols, 3).unwrap();
    assert_eq!(ranking.order.len(), 3);
    for ((&j, &s), named) in ranking.order.iter().zip(ranking.scores).zip(&by_name) {
        assert_eq!(named.id, req.items[j as usize].id);
        assert_eq!(s, named.score);
    }
}

#[test]
fn user_level_policy_gives_one_action_per_request() {
    let mut r = Ranker::from_bytes(&user_level_bytes()).unwrap();
    let out = r.rank(&request(request_json())).unwrap();
    let first = out[0].action.clone();
    assert!(out.iter().all(|i| i.action == first));
    // Request statistics feed the actor: shifting every click score moves the action.
    let mut shifted = request_json();
    for it in shifted["items"].as_array_mut().unwrap() {
        it["scores"]["click"] = serde_json::json!(it["scores"]["click"].as_f64().unwrap() * 0.3);
    }
    let out2 = r.rank(&request(shifted)).unwrap();
    assert_ne!(out2[0].action, first);
}

#[test]
fn blob_round_trips() {
    for (bytes, kind) in [(enhanced_bytes(), PolicyKind::Enhanced), (user_level_bytes(), PolicyKind::UserLevel), (static_bytes(), PolicyKind::Static)] {
        let blob = Blob::from_bytes(&bytes).unwrap();
        assert_eq!(blob.meta.kind, kind);
        let again = Blob::to_bytes(&blob.meta, &blob.weights).unwrap();
        assert_eq!(again, bytes, "re-serialising a {kind:?} blob changes its bytes");
        assert_eq!(Blob::from_bytes(&again).unwrap(), blob);
    }
}

// ---- bad blobs: one test per case, each checking the message ----

fn load_err(bytes: &[u8]) -> (BlobError, String) {
    let e = Blob::from_bytes(bytes).unwrap_err();
    let msg = e.to_string();
    (e, msg)
}

#[test]
fn truncated_blob_is_rejected_at_every_length() {
    let bytes = enhanced_bytes();
    for cut in [0, 5, 8, 40, bytes.len() / 2, bytes.len() - 1] {
        let (e, msg) = load_err(&bytes[..cut]);
        assert!(matches!(e, BlobError::Truncated { got, .. } if got == cut), "cut {cut}: {msg}");
        assert!(msg.contains("truncated") && msg.contains(&cut.to_string()), "{msg}");
    }
}

#[test]
fn trailing_bytes_are_rejected() {
    let mut bytes = enhanced_bytes();
    bytes.extend_from_slice(b"junk");
    let (e, msg) = load_err(&bytes);
    assert_eq!(e, BlobError::TrailingBytes { extra: 4 }, "{msg}");
}

#[test]
fn garbage_is_not_safetensors() {
    let mut bytes = 20u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"this is not json!!!!");
    let (e, msg) = load_err(&bytes);
    assert!(matches!(e, BlobError::NotSafetensors(_)), "{msg}");
    let (e, _) = load_err(&u64::MAX.to_le_bytes());
    assert!(matches!(e, BlobError::NotSafetensors(_)));
}

/// The header reader (ours, not the safetensors crate's since the wasm size
/// cut) checks the layout the way safetensors does, and says what is wrong.
#[test]
fn safetensors_layout_errors_are_named() {
    let file = |header: &[u8], data: usize| {
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header);
        bytes.resize(bytes.len() + data, 0);
        bytes
    };
    let entry = |dtype: &str, shape: &str, offsets: &str| format!(r#"{{"static.action":{{"dtype":"{dtype}","shape":{shape},"data_offsets":{offsets}}}}}"#);
    for (header, data, want) in [
        (entry("F32", "[6]", "[4,28]"), 28, "tensor \"static.action\" starts at byte 4, expected 0"),
        (entry("F32", "[5]", "[0,24]"), 24, "shape [5] of F32 does not fit data_offsets [0, 24]"),
        (entry("F32", "[6]", "[24,0]"), 0, "does not fit data_offsets [24, 0]"),
        (entry("Q8", "[6]", "[0,24]"), 24, "tensor \"static.action\": dtype is missing or unknown"),
        (entry("F32", "[6.5]", "[0,24]"), 24, "shape is not a list of sizes"),
        (entry("F32", "[6]", "[0]"), 24, "data_offsets is not [start, end]"),
        (r#"{"__metadata__":{"format":1}}"#.to_string(), 0, "__metadata__ value \"format\" is not a string"),
        (r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#.to_string(), 4, "header is not JSON: duplicate key at byte 54"),
        ("[1, 2]".to_string(), 0, "header is not a JSON object"),
    ] {
        let (e, msg) = load_err(&file(header.as_bytes(), data));
        assert!(matches!(e, BlobError::NotSafetensors(_)) && msg.contains(want), "{header}: {msg}");
    }
    let (e, msg) = load_err(&file(b"{\"\xff\":1}", 0));
    assert!(matches!(e, BlobError::NotSafetensors(_)) && msg.contains("header is not UTF-8"), "{msg}");
}

#[test]
fn flipped_data_byte_fails_the_checksum() {
    let mut bytes = enhanced_bytes();
    let last = bytes.len() - 3;
    bytes[last] ^= 0x40;
    let (e, msg) = load_err(&bytes);
    assert!(matches!(e, BlobError::BadChecksum { .. }), "{msg}");
    assert!(msg.contains("checksum mismatch") && msg.contains("crc32:"), "{msg}");
}

/// The checksum covers the metadata: a changed normalisation (which loads
/// and ranks differently if unchecked) fails, and so does a changed note.
#[test]
fn edited_metadata_fails_the_checksum() {
    let bytes = enhanced_bytes();
    let blob = Blob::from_bytes(&bytes).unwrap();
    for edit in [r#""std":"#, r#""summary":"#] {
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        let mut md = header.metadata().clone().unwrap();
        let mut meta = blob.meta.clone();
        if edit.contains("std") {
            meta.features[0].std *= 2.0;
        } else {
            meta.summary = serde_json::json!({"note": "edited"}).into();
        }
        md.insert("mtfuse".into(), serde_json::to_string(&meta).unwrap());
        let resaved = safetensors::serialize(st.tensors(), Some(md)).unwrap();
        let (e, msg) = load_err(&resaved);
        assert!(matches!(e, BlobError::BadChecksum { .. }), "{edit}: {msg}");
    }
}

/// Another writer may order tensors and format the header differently
/// (Python's safetensors pads and orders its own way): the checksum only
/// depends on the metadata and the named tensors, so such a re-save loads.
#[test]
fn a_re_save_by_another_writer_loads() {
    let bytes = enhanced_bytes();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let mut md = header.metadata().clone().unwrap();
    md.insert("note".into(), "metadata keys other than mtfuse are outside the checksum".into());
    let mut tensors = st.tensors();
    tensors.reverse();
    let resaved = safetensors::serialize(tensors, Some(md)).unwrap();
    assert_ne!(resaved, bytes);
    assert_eq!(Blob::from_bytes(&resaved).unwrap(), Blob::from_bytes(&bytes).unwrap());
}

/// Every single-bit change anywhere in a blob either fails to load or
/// leaves its ranking unchanged: there is no silent wrong result.
#[test]
fn no_single_bit_flip_changes_a_ranking_silently() {
    let bytes = enhanced_bytes();
    let req = request(request_json());
    let reference = Ranker::from_bytes(&bytes).unwrap().rank(&req).unwrap();
    let (mut loaded, mut refused) = (0, 0);
    for i in 0..bytes.len() {
        for bit in 0..8 {
            let mut b = bytes.clone();
            b[i] ^= 1 << bit;
            match Ranker::from_bytes(&b) {
                Err(_) => refused += 1,
                Ok(mut r) => {
                    loaded += 1;
                    assert_eq!(r.rank(&req).unwrap(), reference, "flipping bit {bit} of byte {i} changed the ranking");
                }
            }
        }
    }
    assert!(refused > 0 && refused + loaded == 8 * bytes.len());
}

#[test]
fn unknown_version_is_rejected() {
    let m = meta(PolicyKind::Static, vec![]);
    for (version, hint) in [("1", "upgrade_blob.py"), ("3", "reads version 2")] {
        let bytes = raw_blob(&[("static.action", Dtype::F32, vec![6], f32_bytes(&[0.0; 6]))], Some(&m), version);
        let (e, msg) = load_err(&bytes);
        assert!(matches!(e, BlobError::UnknownVersion { .. }), "{msg}");
        assert!(msg.contains(&format!("format version {version}")) && msg.contains(hint), "{msg}");
    }
}

#[test]
fn missing_metadata_is_rejected() {
    let bytes = raw_blob(&[("static.action", Dtype::F32, vec![6], f32_bytes(&[0.0; 6]))], None, "2");
    let (e, msg) = load_err(&bytes);
    assert_eq!(e, BlobError::MissingMetadata("mtfuse"), "{msg}");
}

#[test]
fn missing_tensor_is_named() {
    let m = meta(PolicyKind::Enhanced, vec![8, 4]);
    let bytes = raw_blob(&[("actor.0.weight", Dtype::F32, vec![7, 8], f32_bytes(&[0.1; 56]))], Some(&m), "2");
    let (e, msg) = load_err(&bytes);
    assert_eq!(e, BlobError::MissingTensor("actor.0.bias".into()), "{msg}");
}

/// An extra tensor, such as an optimizer's state saved alongside, is named
/// even when the checksum was recomputed to include it.
#[test]
fn extra_tensor_is_named() {
    let m = meta(PolicyKind::Static, vec![]);
    let bytes = raw_blob(&[("static.action", Dtype::F32, vec![6], f32_bytes(&[0.0; 6])), ("adam.m", Dtype::F32, vec![6], f32_bytes(&[0.0; 6]))], Some(&m), "2");
    let (e, msg) = load_err(&bytes);
    assert!(matches!(e, BlobError::ExtraTensor { ref name, .. } if name == "adam.m"), "{msg}");
    assert!(msg.contains("which its metadata does not describe (expected exactly: static.action)"), "{msg}");
}

#[test]
fn shape_mismatch_is_named() {
    let m = meta(PolicyKind::Static, vec![]);
    let bytes = raw_blob(&[("static.action", Dtype::F32, vec![4], f32_bytes(&[0.0; 4]))], Some(&m), "2");
    let (e, msg) = load_err(&bytes);
    assert!(matches!(e, BlobError::ShapeMismatch { .. }), "{msg}");
    assert!(msg.contains("static.action") && msg.contains("[4]") && msg.contains("[6]"), "{msg}");
}

#[test]
fn wrong_dtype_is_named() {
    let m = meta(PolicyKind::Static, vec![]);
    let bytes = raw_blob(&[("static.action", Dtype::F64, vec![6], vec![0u8; 48])], Some(&m), "2");
    let (e, msg) = load_err(&bytes);
    assert!(matches!(e, BlobError::WrongDtype { .. }), "{msg}");
}

#[test]
fn non_finite_weight_is_rejected() {
    let m = meta(PolicyKind::Static, vec![]);
    let bytes = raw_blob(&[("static.action", Dtype::F32, vec![6], f32_bytes(&[0.0, 0.0, f32::NAN, 0.0, 0.0, 0.0]))], Some(&m), "2");
    let (e, msg) = load_err(&bytes);
    assert_eq!(e, BlobError::NonFinite { name: "static.action".into(), index: 2 }, "{msg}");
}

#[test]
fn schema_mismatch_is_explained() {
    let mut m = meta(PolicyKind::Enhanced, vec![8, 4]);
    m.features.retain(|f| f.name != "long_view");
    let bytes = raw_blob(&[("static.action", Dtype::F32, vec![6], f32_bytes(&[0.0; 6]))], Some(&m), "2");
    let (e, msg) = load_err(&bytes);
    assert!(matches!(e, BlobError::SchemaMismatch(_)), "{msg}");
    assert!(msg.contains("objectives"), "{msg}");

    let mut m = meta(PolicyKind::Static, vec![]);
    m.features[0].std = 0.0;
    let bytes = raw_blob(&[("static.action", Dtype::F32, vec![6], f32_bytes(&[0.0; 6]))], Some(&m), "2");
    let (_, msg) = load_err(&bytes);
    assert!(msg.contains("activity") && msg.contains("std"), "{msg}");
}

/// A std so small that 1/std is infinite would turn inputs into ±inf and
/// scores into NaN: refused at load, with the floor in the message.
#[test]
fn a_near_zero_std_is_refused() {
    let mut m = meta(PolicyKind::Static, vec![]);
    m.features[0].std = 1e-45;
    let bytes = raw_blob(&[("static.action", Dtype::F32, vec![6], f32_bytes(&[0.0; 6]))], Some(&m), "2");
    let (e, msg) = load_err(&bytes);
    assert!(matches!(e, BlobError::SchemaMismatch(_)), "{msg}");
    assert!(msg.contains("std must be finite and at least 0.000001"), "{msg}");
}

/// Offsets and lengths are checked as u64 before any cast: a data offset
/// of 2^64 − 1 is a clear truncation, never a panic or a wrapped length.
#[test]
fn huge_offsets_are_truncation_not_overflow() {
    let header = format!("{{\"static.action\":{{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[0,{}]}}}}", u64::MAX);
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    let (e, msg) = load_err(&bytes);
    assert!(matches!(e, BlobError::Truncated { need, .. } if need == usize::MAX), "{msg}");
    let mut huge = (u64::MAX - 3).to_le_bytes().to_vec();
    huge.extend_from_slice(b"{}");
    let (e, msg) = load_err(&huge);
    assert!(matches!(e, BlobError::NotSafetensors(_)) && msg.contains("18446744073709551612"), "{msg}");
}

/// topK is compared as an integer before it becomes a length, so 2^32 + 1
/// (which `as usize` turns into 1 on wasm32) is out of range everywhere.
#[test]
fn a_top_k_past_u32_is_out_of_range() {
    let mut req = request_json();
    req["topK"] = serde_json::json!(4294967297i64);
    assert_eq!(rank_err(&enhanced_bytes(), req), "topK: 4294967297 is out of range 1..=5");
}

#[test]
fn inconsistent_action_ranges_are_rejected() {
    let mut m: BlobMeta = meta(PolicyKind::Static, vec![]);
    m.action_high.pop();
    let bytes = raw_blob(&[("static.action", Dtype::F32, vec![6], f32_bytes(&[0.0; 6]))], Some(&m), "2");
    let (e, msg) = load_err(&bytes);
    assert!(matches!(e, BlobError::BadMetadata(_)) && msg.contains("action_high"), "{msg}");
}

// ---- bad requests: one test per case, each naming the field ----

fn with_item(f: impl FnOnce(&mut serde_json::Value)) -> serde_json::Value {
    let mut req = request_json();
    f(&mut req["items"][2]);
    req
}

#[test]
fn missing_score_is_named() {
    let msg = rank_err(&enhanced_bytes(), with_item(|it| { it["scores"].as_object_mut().unwrap().remove("hate"); }));
    assert_eq!(msg, "items[2].scores.hate: missing score");
}

#[test]
fn null_score_is_named() {
    let msg = rank_err(&enhanced_bytes(), with_item(|it| it["scores"]["click"] = serde_json::Value::Null));
    assert_eq!(msg, "items[2].scores.click: is null, expected a finite number");
}

#[test]
fn nan_score_is_named() {
    let mut r = Ranker::from_bytes(&enhanced_bytes()).unwrap();
    let mut req = request(request_json());
    req.items[1].scores.insert("long_view".into(), Some(f64::NAN));
    assert_eq!(r.rank(&req).unwrap_err().to_string(), "items[1].scores.long_view: is NaN, expected a finite number");
    req.items[1].scores.insert("long_view".into(), Some(f64::INFINITY));
    assert!(r.rank(&req).unwrap_err().to_string().contains("inf"));
    // The ranker still serves after bad input.
    assert_eq!(r.rank(&request(request_json())).unwrap().len(), 5);
}

#[test]
fn string_score_is_named() {
    let msg = rank_err(&enhanced_bytes(), with_item(|it| it["scores"]["click"] = serde_json::json!("0.4")));
    assert_eq!(msg, "items[2].scores.click: is a string (\"0.4\"), expected a number");
}

/// Type errors say what JSON wants, never a Rust type or enum variant.
#[test]
fn type_errors_speak_json() {
    let msg = rank_err(&enhanced_bytes(), with_item(|it| it["id"] = serde_json::json!([1, 2])));
    assert_eq!(msg, "items[2].id: is an array, expected a string or a number");
    let mut req = request_json();
    req["topK"] = serde_json::json!(2.5);
    let msg = rank_err(&enhanced_bytes(), req);
    assert_eq!(msg, "topK: is the number 2.5, expected an integer from 1 to the number of items");
    let mut req = request_json();
    req["topK"] = serde_json::json!("3");
    let msg = rank_err(&enhanced_bytes(), req);
    assert_eq!(msg, "topK: is a string (\"3\"), expected an integer from 1 to the number of items");
    // An integral float is an integer (JS sends every number as one), and null is absent.
    let mut r = Ranker::from_bytes(&enhanced_bytes()).unwrap();
    for (top, want) in [(serde_json::json!(3.0), 3), (serde_json::Value::Null, 5)] {
        let mut req = request_json();
        req["topK"] = top;
        assert_eq!(r.rank(&request(req)).unwrap().len(), want);
    }
    let mut req = request_json();
    req["items"][0]["id"] = serde_json::json!(7.0);
    req["items"][1]["id"] = serde_json::json!(7.5);
    let ranked = r.rank(&request(req)).unwrap();
    assert!(ranked.iter().any(|i| i.id == mtfuse::ranker::ItemId::Int(7)) && ranked.iter().any(|i| i.id == mtfuse::ranker::ItemId::Num(7.5)));
}

#[test]
fn unknown_objective_is_named() {
    let msg = rank_err(&enhanced_bytes(), with_item(|it| it["scores"]["share"] = serde_json::json!(0.1)));
    assert_eq!(msg, "items[2].scores.share: unknown objective (objectives: click, long_view, hate)");
}

#[test]
fn unknown_feature_is_named() {
    let msg = rank_err(&enhanced_bytes(), with_item(|it| it["features"]["colour"] = serde_json::json!(1.0)));
    assert_eq!(msg, "items[2].features.colour: unknown item feature (the schema has: duration_s)");
    let mut req = request_json();
    req["user"]["age"] = serde_json::json!(30);
    assert!(rank_err(&enhanced_bytes(), req).starts_with("user.age: unknown user feature"));
}

#[test]
fn missing_feature_is_named() {
    let mut req = request_json();
    req["context"].as_object_mut().unwrap().remove("hour");
    assert_eq!(rank_err(&enhanced_bytes(), req), "context.hour: missing context feature");
}

#[test]
fn empty_item_list_is_rejected() {
    let mut req = request_json();
    req["items"] = serde_json::json!([]);
    assert_eq!(rank_err(&enhanced_bytes(), req), "items: no candidates: the list is empty");
}

#[test]
fn top_k_out_of_range_is_rejected() {
    for k in [0, 6, -1] {
        let mut req = request_json();
        req["topK"] = serde_json::json!(k);
        assert_eq!(rank_err(&enhanced_bytes(), req), format!("topK: {k} is out of range 1..=5"));
    }
}

#[test]
fn unknown_request_field_is_rejected() {
    let mut req = request_json();
    req["topk"] = serde_json::json!(3);
    let msg = rank_err(&enhanced_bytes(), req);
    assert_eq!(msg, "topk: unknown field, expected one of user, context, items, topK, withActions");
}

/// Each bad request also says what kind of problem it is, so a server can
/// answer 400 or 413 without reading the message.
#[test]
fn request_errors_carry_their_kind() {
    use RequestErrorKind::*;
    let bytes = enhanced_bytes();
    let cases: Vec<(serde_json::Value, RequestErrorKind, &str)> = vec![
        (with_item(|it| { it["scores"].as_object_mut().unwrap().remove("hate"); }), Missing, "items[2].scores.hate"),
        (with_item(|it| it["scores"]["click"] = serde_json::Value::Null), NotFinite, "items[2].scores.click"),
        (with_item(|it| it["scores"]["click"] = serde_json::json!("0.4")), Malformed, "items[2].scores.click"),
        (with_item(|it| it["scores"]["share"] = serde_json::json!(0.1)), Unknown, "items[2].scores.share"),
        (with_item(|it| it["features"]["colour"] = serde_json::json!(1.0)), Unknown, "items[2].features.colour"),
        ({ let mut r = request_json(); r["items"] = serde_json::json!([]); r }, Empty, "items"),
        ({ let mut r = request_json(); r["topK"] = serde_json::json!(9); r }, OutOfRange, "topK"),
        ({ let mut r = request_json(); r["topk"] = serde_json::json!(3); r }, Unknown, "topk"),
        ({ let mut r = request_json(); r.as_object_mut().unwrap().remove("items"); r }, Missing, "items"),
    ];
    for (req, kind, field) in cases {
        let e = rank_error(&bytes, req);
        assert_eq!((e.kind(), e.field()), (kind, field), "{e}");
        assert!(e.to_string().starts_with(field) && e.to_string().ends_with(e.problem()), "{e}");
    }
    let mut r = Ranker::from_bytes(&bytes).unwrap();
    let (user, ctx, items, scores) = ([55.0, 0.22], [21.0], [10.0, 20.0], [0.1, 0.2, 0.01, 0.3, 0.4, 0.02]);
    let e = r.rank_columns(&Columns { user: &user, context: &ctx, items: &items[..1], scores: &scores }, 1).unwrap_err();
    assert_eq!((e.kind(), e.field()), (Length, "itemFeatures"));
    let many = vec![0.1f32; 3 * (mtfuse::ranker::MAX_ITEMS + 1)];
    let e = r.rank_columns(&Columns { user: &user, context: &ctx, items: &[], scores: &many }, 1).unwrap_err();
    assert_eq!(e.kind(), TooMany, "{e}");
}

#[test]
fn columnar_length_errors_name_the_buffer() {
    let mut r = Ranker::from_bytes(&enhanced_bytes()).unwrap();
    let user = [55.0, 0.22];
    let ctx = [21.0];
    let items = [10.0, 20.0];
    let scores = [0.1, 0.2, 0.01, 0.3, 0.4, 0.02];
    let mut r2 = Ranker::from_bytes(&enhanced_bytes()).unwrap();
    let mut err = |c: Columns, k| r2.rank_columns(&c, k).unwrap_err().to_string();
    assert_eq!(err(Columns { user: &user, context: &ctx, items: &items, scores: &scores[..5] }, 1), "scores: length 5 is not a multiple of 3 objectives");
    assert_eq!(err(Columns { user: &user, context: &ctx, items: &items[..1], scores: &scores }, 1), "itemFeatures: length 1, expected 2 items × 1 item features = 2");
    assert_eq!(err(Columns { user: &user[..1], context: &ctx, items: &items, scores: &scores }, 1), "user: length 1, the schema has 2 user features");
    assert_eq!(err(Columns { user: &user, context: &[], items: &items, scores: &scores }, 1), "context: length 0, the schema has 1 context features");
    assert_eq!(err(Columns { user: &user, context: &ctx, items: &[], scores: &[] }, 1), "scores: no candidates: the list is empty");
    assert_eq!(err(Columns { user: &user, context: &ctx, items: &items, scores: &scores }, 3), "topK: 3 is out of range 1..=2");
    let nan = [0.1, 0.2, 0.01, 0.3, f32::NAN, 0.02];
    assert_eq!(err(Columns { user: &user, context: &ctx, items: &items, scores: &nan }, 1), "scores: item 1 \"long_view\" is NaN, expected a finite number");
    let inf = [10.0, f32::INFINITY];
    assert_eq!(err(Columns { user: &user, context: &ctx, items: &inf, scores: &scores }, 1), "itemFeatures: item 1 \"duration_s\" is inf, expected a finite number");
    // Still serving.
    assert_eq!(r.rank_columns(&Columns { user: &user, context: &ctx, items: &items, scores: &scores }, 2).unwrap().order.len(), 2);
}

#[test]
fn cli_ranks_the_fixture_and_reports_bad_input_plainly() {
    let exe = env!("CARGO_BIN_EXE_mtfuse");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let out = std::process::Command::new(exe).arg("rank").arg(dir.join("tiny-enhanced.safetensors")).arg(dir.join("tiny-request.json")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ranked: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ranked.as_array().unwrap().len(), 5);

    let bad = std::env::temp_dir().join(format!("mtfuse-bad-{}.safetensors", std::process::id()));
    std::fs::write(&bad, &enhanced_bytes()[..300]).unwrap();
    let out = std::process::Command::new(exe).arg("inspect").arg(&bad).output().unwrap();
    std::fs::remove_file(&bad).ok();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("mtfuse: ") && err.contains("weight blob is truncated: 300 bytes"), "{err}");
}

/// The shipped files follow the current format and checksum.
#[test]
fn shipped_models_load() {
    for name in ["static", "user", "enhanced"] {
        let bytes = std::fs::read(format!("models/{name}.safetensors")).unwrap();
        Blob::from_bytes(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let bytes = std::fs::read("models/simulator.safetensors").unwrap();
    mtfuse::sim::Simulator::from_bytes(&bytes).unwrap();
}

/// scripts/upgrade_blob.py, a second implementation of the checksum
/// (docs/blob-format.md) in Python, turns a version 1 blob into one this
/// build loads, and refuses a corrupt one.
#[test]
fn upgrade_script_rewrites_a_version_1_blob() {
    let bytes = enhanced_bytes();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let (n, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let mut md = header.metadata().clone().unwrap();
    md.insert("format_version".into(), "1".into());
    md.insert("checksum".into(), format!("crc32:{:08x}", mtfuse::blob::crc32(&bytes[8 + n..])));
    let v1 = safetensors::serialize(st.tensors(), Some(md)).unwrap();
    assert!(matches!(Blob::from_bytes(&v1), Err(BlobError::UnknownVersion { .. })));
    let dir = std::env::temp_dir().join(format!("mtfuse-upgrade-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (good, bad) = (dir.join("good.safetensors"), dir.join("bad.safetensors"));
    std::fs::write(&good, &v1).unwrap();
    let mut corrupt = v1.clone();
    *corrupt.last_mut().unwrap() ^= 1;
    std::fs::write(&bad, &corrupt).unwrap();
    let run = |p: &std::path::Path| std::process::Command::new("python3").arg("scripts/upgrade_blob.py").arg(p).output().unwrap();
    assert!(run(&good).status.success());
    assert_eq!(Blob::from_bytes(&std::fs::read(&good).unwrap()).unwrap(), Blob::from_bytes(&bytes).unwrap());
    let out = run(&bad);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("does not match its data"));
    assert_eq!(std::fs::read(&bad).unwrap(), corrupt);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A finite feature can normalise to infinity (1e38 over a std of 1e-6)
/// and turn the actor's output into NaN: that is an error naming the item
/// and feature, never a NaN score or a silently wrong order.
#[test]
fn an_overflowing_feature_is_an_error_not_a_nan_score() {
    let mut m = meta(PolicyKind::Enhanced, vec![8, 4]);
    m.features.iter_mut().filter(|f| f.name == "duration_s").for_each(|f| f.std = 1e-6);
    let bytes = Blob::to_bytes(&m, &PolicyWeights::Actor(actor(PolicyKind::Enhanced, &[8, 4]))).unwrap();
    let mut req = request_json();
    req["items"][2]["features"]["duration_s"] = serde_json::json!(1e38);
    let e = Ranker::from_bytes(&bytes).unwrap().rank(&request(req.clone())).unwrap_err();
    assert_eq!(e.kind(), RequestErrorKind::NotFinite);
    assert!(e.to_string().starts_with("itemFeatures: item 2 \"duration_s\" is 100000000000000000000000000000000000000, too far outside the blob's normalisation (mean "), "{e}");
    req["items"][2]["features"]["duration_s"] = serde_json::json!(1e30);
    assert!(Ranker::from_bytes(&bytes).unwrap().rank(&request(req)).unwrap().iter().all(|i| i.score.is_finite()));
}

/// Weights that overflow make the actor's output NaN (an infinite hidden
/// unit times a zero weight); the fused score is checked, so that is an
/// error too.
#[test]
fn overflowing_weights_are_an_error_not_a_nan_score() {
    let mut a = actor(PolicyKind::Enhanced, &[8, 4]);
    a.layers.iter_mut().for_each(|l| l.w.mapv_inplace(|w| w.signum() * 3e38));
    a.layers.last_mut().unwrap().w.fill(0.0);
    let bytes = Blob::to_bytes(&meta(PolicyKind::Enhanced, vec![8, 4]), &PolicyWeights::Actor(a)).unwrap();
    let e = Ranker::from_bytes(&bytes).unwrap().rank(&request(request_json())).unwrap_err();
    assert_eq!(e.kind(), RequestErrorKind::NotFinite);
    assert!(e.to_string().starts_with("items: item 0's fused score is NaN"), "{e}");
}

#[test]
fn action_ranges_beyond_the_limit_are_refused() {
    let mut m: BlobMeta = meta(PolicyKind::Static, vec![]);
    m.action_low[0] = -3e38;
    let bytes = raw_blob(&[("static.action", Dtype::F32, vec![6], f32_bytes(&[0.0; 6]))], Some(&m), "2");
    let (e, msg) = load_err(&bytes);
    assert!(matches!(e, BlobError::BadMetadata(_)) && msg.contains("action range 0") && msg.contains("10000"), "{msg}");
}
