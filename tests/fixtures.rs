//! Writes and checks the cross-target fixtures: a tiny enhanced blob, a
//! request, and the native ranking of it. The wasm tests (Node, Chromium)
//! and the JS tests rank the same request and must agree.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::path::Path;

use mtfuse::Ranker;

fn check_or_write(path: &Path, bytes: &[u8]) {
    let bless = std::env::var_os("MTFUSE_BLESS").is_some();
    match std::fs::read(path) {
        Ok(old) if old == bytes => {}
        _ if bless => std::fs::write(path, bytes).unwrap(),
        Ok(_) => panic!("{} is out of date; rerun with MTFUSE_BLESS=1 to rewrite it", path.display()),
        Err(e) => panic!("{} is missing ({e}); rerun with MTFUSE_BLESS=1 to write it", path.display()),
    }
}

#[test]
fn cross_target_fixtures_are_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    std::fs::create_dir_all(&dir).unwrap();
    let blob = common::enhanced_bytes();
    let request = common::request_json();
    let mut ranker = Ranker::from_bytes(&blob).unwrap();
    let ranked = ranker.rank(&mtfuse::RankRequest::from_json_text(&request.to_string()).unwrap()).unwrap();
    assert_eq!(ranked.len(), 5);
    // Scores must be far enough apart that a 1e-5 difference between
    // targets cannot flip the order.
    for w in ranked.windows(2) {
        assert!(w[0].score - w[1].score > 1e-3, "fixture scores too close: {} {}", w[0].score, w[1].score);
    }
    let expected = serde_json::to_vec_pretty(&ranked).unwrap();
    check_or_write(&dir.join("tiny-enhanced.safetensors"), &blob);
    check_or_write(&dir.join("tiny-request.json"), &serde_json::to_vec_pretty(&request).unwrap());
    check_or_write(&dir.join("tiny-expected.json"), &expected);
}

/// The shipped blobs ranked natively on one realistic request drawn from the
/// committed simulator; tests/js/loader.test.mjs ranks it with both wasm
/// builds and must agree. Rewritten (MTFUSE_BLESS=1) when the models change.
#[test]
fn shipped_model_fixtures_are_current() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sim = mtfuse::sim::Simulator::from_bytes(&std::fs::read(root.join("models/simulator.safetensors")).unwrap()).unwrap();
    let mut request = sim.draw_request(3, 20, 1, 5, 50, 17);
    request.with_actions = true;
    let mut expected = serde_json::Map::new();
    for name in ["static", "user", "enhanced"] {
        let mut ranker = Ranker::from_bytes(&std::fs::read(root.join(format!("models/{name}.safetensors"))).unwrap()).unwrap();
        let ranked = ranker.rank(&request).unwrap();
        assert_eq!(ranked.len(), 50);
        expected.insert(name.to_string(), serde_json::to_value(&ranked).unwrap());
    }
    let dir = root.join("tests/fixtures");
    check_or_write(&dir.join("shipped-request.json"), &serde_json::to_vec_pretty(&request).unwrap());
    check_or_write(&dir.join("shipped-expected.json"), &serde_json::to_vec_pretty(&expected).unwrap());
}
