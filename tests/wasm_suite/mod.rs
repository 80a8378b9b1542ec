//! Tests shared by the Node and Chromium wasm suites (tests/node.rs, tests/web.rs).
//! wasm-bindgen-test picks the environment per test binary, so each binary
//! declares the same tests with `suite!()`.

/// Declares every shared test as a `#[wasm_bindgen_test]` in the calling binary.
macro_rules! suite {
    () => {
        suite!(
            core_matches_native_fixture,
            js_api_matches_native_fixture,
            bad_input_throws_and_ranker_survives,
            columnar_matches_object_path,
            kernels_match_the_f64_reference,
            int16_kernels_equal_scalar_exactly,
            tanh_matches_libm,
            exploring_rank_seeds_from_the_platform,
        );
    };
    ($($name:ident),+ $(,)?) => {
        $(
            #[wasm_bindgen_test::wasm_bindgen_test]
            fn $name() {
                wasm_suite::$name();
            }
        )*
    };
}

use mtfuse::simd::{self, Activation, DenseShape};
use serde::Deserialize;
use wasm_bindgen::prelude::*;

const BLOB: &[u8] = include_bytes!("../fixtures/tiny-enhanced.safetensors");
const REQUEST: &str = include_str!("../fixtures/tiny-request.json");
const EXPECTED: &str = include_str!("../fixtures/tiny-expected.json");

#[derive(Deserialize)]
struct Expected {
    id: serde_json::Value,
    score: f32,
}

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() <= 1e-5 * (1.0 + a.abs().max(b.abs()))
}

fn message(err: JsError) -> String {
    js_sys::Error::from(JsValue::from(err)).message().into()
}

/// The core ranks the native fixture identically.
pub fn core_matches_native_fixture() {
    let mut r = mtfuse::Ranker::from_bytes(BLOB).unwrap();
    let req = mtfuse::RankRequest::from_json_text(REQUEST).unwrap();
    let got = r.rank(&req).unwrap();
    let want: Vec<Expected> = serde_json::from_str(EXPECTED).unwrap();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(serde_json::to_value(&g.id).unwrap(), w.id);
        assert!(close(g.score, w.score), "{} vs native {}", g.score, w.score);
    }
}

/// The JS-facing API ranks the fixture identically, through a real JS object.
pub fn js_api_matches_native_fixture() {
    let mut r = mtfuse::wasm::Ranker::from_bytes(BLOB).unwrap();
    let req = js_sys::JSON::parse(REQUEST).unwrap();
    let out = r.rank(req, None).unwrap();
    let got: Vec<Expected> = serde_wasm_bindgen::from_value(out).unwrap();
    let want: Vec<Expected> = serde_json::from_str(EXPECTED).unwrap();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g.id, w.id);
        assert!(close(g.score, w.score), "{} vs native {}", g.score, w.score);
    }
}

/// Bad input is a JS Error naming the field; the ranker keeps working.
pub fn bad_input_throws_and_ranker_survives() {
    let mut r = mtfuse::wasm::Ranker::from_bytes(BLOB).unwrap();
    let mut bad: serde_json::Value = serde_json::from_str(REQUEST).unwrap();
    bad["items"][3]["scores"].as_object_mut().unwrap().remove("click");
    let err = r.rank(js_sys::JSON::parse(&bad.to_string()).unwrap(), None).unwrap_err();
    assert_eq!(message(err), "items[3].scores.click: missing score");

    let nan = js_sys::JSON::parse(REQUEST).unwrap();
    let item = js_sys::Reflect::get(&js_sys::Reflect::get(&nan, &"items".into()).unwrap(), &1.into()).unwrap();
    let scores = js_sys::Reflect::get(&item, &"scores".into()).unwrap();
    js_sys::Reflect::set(&scores, &"hate".into(), &JsValue::from_f64(f64::NAN)).unwrap();
    let err = r.rank(nan, None).unwrap_err();
    assert_eq!(message(err), "items[1].scores.hate: is NaN, expected a finite number");

    let err = r.rank_columnar(&[1.0], &[2.0], &[3.0], &[0.1, 0.2, 0.3], 0.0, None).err().unwrap();
    assert_eq!(message(err), "user: length 1, the schema has 2 user features");

    // The item limit applies before any per-item work: a 2^32 - 1 hole array fails at once.
    let huge = js_sys::JSON::parse(REQUEST).unwrap();
    js_sys::Reflect::set(&huge, &"items".into(), &js_sys::Array::new_with_length(u32::MAX)).unwrap();
    let err = r.rank(huge, None).unwrap_err();
    assert_eq!(message(err), "items: 4294967295 candidates exceed the limit of 100000");

    let err = mtfuse::wasm::Ranker::from_bytes(&BLOB[..100]).err().unwrap();
    assert!(message(err).contains("truncated"));

    assert_eq!(r.rank(js_sys::JSON::parse(REQUEST).unwrap(), None).unwrap().is_object(), true);
}

/// The columnar path agrees with the object path.
pub fn columnar_matches_object_path() {
    let mut r = mtfuse::wasm::Ranker::from_bytes(BLOB).unwrap();
    let req = mtfuse::RankRequest::from_json_text(REQUEST).unwrap();
    let items: Vec<f32> = req.items.iter().map(|i| i.features["duration_s"].unwrap() as f32).collect();
    let scores: Vec<f32> = req.items.iter().flat_map(|i| ["click", "long_view", "hate"].map(|o| i.scores[o].unwrap() as f32)).collect();
    let out = r.rank_columnar(&[55.0, 0.22], &[21.0], &items, &scores, 0.0, None).unwrap();
    // A plain object of typed arrays.
    let field = |name: &str| js_sys::Reflect::get(&out, &wasm_bindgen::JsValue::from_str(name)).unwrap();
    let order = js_sys::Uint32Array::from(field("order")).to_vec();
    let got_scores = js_sys::Float32Array::from(field("scores")).to_vec();
    let want: Vec<Expected> = serde_json::from_str(EXPECTED).unwrap();
    assert_eq!((order.len(), got_scores.len()), (want.len(), want.len()));
    // topK is a JS number checked as one: nothing wraps into range.
    for bad in [4294967297.0, -1.0, 2.5, f64::NAN] {
        let err = r.rank_columnar(&[55.0, 0.22], &[21.0], &items, &scores, bad, None).err().unwrap();
        assert!(message(err).starts_with("topK: "), "{bad}");
    }
    assert_eq!(message(r.rank_columnar(&[55.0, 0.22], &[21.0], &items, &scores, 99.0, None).err().unwrap()), format!("topK: 99 is out of range 1..={}", want.len()));
    for ((&j, &s), w) in order.iter().zip(&got_scores).zip(&want) {
        assert_eq!(serde_json::json!(format!("v{j}")), w.id);
        assert!(close(s, w.score));
    }
}

/// The build's tanh stays within 3e-7 of the f64 tanh over the whole range,
/// odd lengths included, and keeps the sign and the saturation.
pub fn tanh_matches_libm() {
    let mut v: Vec<f32> = (-24_001..=24_001).map(|i| i as f32 * 5e-4).chain([1e-30, -1e-30, 0.0, -0.0, 40.0, -40.0, f32::MAX, f32::MIN]).collect();
    let want: Vec<f64> = v.iter().map(|&x| (x as f64).tanh()).collect();
    simd::tanh_in_place(&mut v);
    assert_eq!(v.len(), want.len());
    let worst = v.iter().zip(&want).map(|(&a, b)| (a as f64 - b).abs()).fold(0.0, f64::max);
    assert!(worst < 3e-7, "worst |tanh error| {worst}");
    assert!(v.iter().zip(&want).all(|(a, b)| a.signum() as f64 == b.signum() || *b == 0.0));
    assert_eq!(&v[v.len() - 4..], &[1.0, -1.0, 1.0, -1.0]);
}

/// The build's kernel and the scalar kernel each stay within a few
/// rounding errors of the f64 reference on awkward shapes (ragged widths,
/// one row, more rows than a block), and agree with each other within 1e-5.
pub fn kernels_match_the_f64_reference() {
    let fill = |n: usize, seed: usize| -> Vec<f32> { (0..n).map(|i| ((i * 7919 + seed * 104729) % 1000) as f32 / 500.0 - 1.0).collect() };
    let mut checked = 0;
    for &(rows, k, m) in &[(1, 40, 128), (1, 7, 5), (3, 33, 17), (4, 40, 128), (50, 40, 128), (9, 128, 64), (13, 64, 14), (1000, 11, 8), (8, 9, 6), (4, 3, 3), (6, 20, 12), (2, 10, 30), (5, 16, 4)] {
        let shape = DenseShape { rows, inputs: k, outputs: m };
        let (x, w, b) = (fill(rows * k, 1), fill(k * m, 2), fill(m, 3));
        for act in [Activation::Identity, Activation::Relu] {
            let mut fast = vec![f32::NAN; rows * m];
            let mut slow = vec![f32::NAN; rows * m];
            simd::dense(shape, &x, &w, &b, act, &mut fast);
            simd::scalar::dense(shape, &x, &w, &b, act, &mut slow);
            for (name, got) in [(simd::KERNEL, &fast), ("scalar", &slow)] {
                let ulps = simd::reference::dense_error_ulps(shape, &x, &w, &b, act, got);
                // The scalar kernel measured at most 1.8 natively; an error of 1e-4
                // in one output already measures 25 or more on these shapes.
                assert!(ulps <= 8.0, "{name} {rows}x{k}x{m}: {ulps:.1} rounding errors from the f64 reference");
            }
            for (a, s) in fast.iter().zip(&slow) {
                assert!((a - s).abs() <= 1e-5 * (1.0 + s.abs()), "{rows}x{k}x{m}: {a} vs {s}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 26);
    // The simd build really runs the simd kernel.
    assert_eq!(simd::KERNEL, if cfg!(target_feature = "simd128") { "simd128" } else { "scalar" });
}

/// The int16 pieces (quantising a row, the integer kernel, scaling back)
/// equal the scalar ones bit for bit, so tests/quant.rs, which runs natively
/// on the scalar code, speaks for this build.
pub fn int16_kernels_equal_scalar_exactly() {
    let fill = |n: usize, seed: usize| -> Vec<f32> { (0..n).map(|i| ((i * 7919 + seed * 104729) % 1000) as f32 / 250.0 - 2.0).collect() };
    // Pair counts below, at and past the kernel's chunk of 16, and several chunks.
    for &(rows, pairs, blocks) in &[(1, 1, 1), (1, 11, 32), (3, 64, 16), (4, 12, 32), (9, 64, 4), (50, 12, 33), (7, 3, 1), (4, 16, 2), (8, 17, 4), (5, 40, 3)] {
        let k = 2 * pairs - (rows % 2);
        let x = fill(rows * k, 1);
        let mut q = vec![0i16; rows * 2 * pairs];
        for (n, row) in x.chunks_exact(k).enumerate() {
            let out = &mut q[n * 2 * pairs..(n + 1) * 2 * pairs];
            let scale = simd::quantise_row(row, 9000.0, out);
            let mut want = vec![7i16; 2 * pairs];
            simd::scalar::quantise_row(row, 1.0 / scale, 9000.0, &mut want);
            assert_eq!(&out[..], &want[..], "quantise {rows}x{k}");
        }
        let w: Vec<i16> = (0..blocks * pairs * 8).map(|i| ((i * 7919) % 18001) as i16 - 9000).collect();
        let (mut fast, mut slow) = (vec![0f32; rows * blocks * 4], vec![1f32; rows * blocks * 4]);
        simd::dense_i16(rows, pairs, blocks, &q, &w, &mut fast);
        simd::scalar::dense_i16(rows, pairs, blocks, &q, &w, &mut slow);
        assert!(fast.iter().zip(&slow).all(|(a, b)| a.to_bits() == b.to_bits()), "dense_i16 {rows}x{pairs}x{blocks}");
        let (ws, b) = (fill(blocks * 4, 2).iter().map(|v| v.abs() * 1e-4).collect::<Vec<f32>>(), fill(blocks * 4 - 1, 3));
        for act in [Activation::Identity, Activation::Relu] {
            let (mut y, mut want) = (vec![0.0f32; blocks * 4 - 1], vec![1.0f32; blocks * 4 - 1]);
            simd::dequantise_row(&fast, 0.37, &ws, &b, act, &mut y);
            simd::scalar::dequantise_row(&fast, 0.37, &ws, &b, act == Activation::Relu, &mut want);
            assert!(y.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits() || (*a == 0.0 && *b == 0.0)), "dequantise {rows}x{blocks}: {y:?} vs {want:?}");
        }
    }
}

/// An exploring rank without a seed takes one from the platform's secure
/// source (getrandom's wasm_js backend: crypto.getRandomValues); with one, it
/// repeats.
pub fn exploring_rank_seeds_from_the_platform() {
    let mut r = mtfuse::wasm::Ranker::from_bytes(BLOB).unwrap();
    let seed_of = |r: &mut mtfuse::wasm::Ranker, options: &str| -> (f64, String) {
        let out = r.rank(js_sys::JSON::parse(REQUEST).unwrap(), Some(js_sys::JSON::parse(options).unwrap())).unwrap();
        let record = js_sys::Reflect::get(&out, &"record".into()).unwrap();
        let seed = js_sys::Reflect::get(&record, &"seed".into()).unwrap().as_f64().unwrap();
        (seed, js_sys::JSON::stringify(&record).unwrap().as_string().unwrap())
    };
    let (a, _) = seed_of(&mut r, r#"{"explore": {"width": 0.2}}"#);
    let (b, _) = seed_of(&mut r, r#"{"explore": {"width": 0.2}}"#);
    assert_ne!(a, b, "two unseeded draws gave the same seed");
    assert!(a.fract() == 0.0 && a < 2f64.powi(53));
    let (s1, r1) = seed_of(&mut r, r#"{"explore": {"width": 0.2, "seed": 99}}"#);
    let (_, r2) = seed_of(&mut r, r#"{"explore": {"width": 0.2, "seed": 99}}"#);
    assert_eq!((s1, &r1), (99.0, &r2));
}
