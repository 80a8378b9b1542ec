//! wasm tests in headless Chromium, through chromedriver.
#![cfg(target_arch = "wasm32")]

mod wasm_suite;

use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn core_matches_native_fixture() {
    wasm_suite::core_matches_native_fixture();
}

#[wasm_bindgen_test]
fn js_api_matches_native_fixture() {
    wasm_suite::js_api_matches_native_fixture();
}

#[wasm_bindgen_test]
fn bad_input_throws_and_ranker_survives() {
    wasm_suite::bad_input_throws_and_ranker_survives();
}

#[wasm_bindgen_test]
fn columnar_matches_object_path() {
    wasm_suite::columnar_matches_object_path();
}

#[wasm_bindgen_test]
fn simd_and_scalar_kernels_agree() {
    wasm_suite::simd_and_scalar_kernels_agree();
}
