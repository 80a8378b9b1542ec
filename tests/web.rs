//! wasm tests in headless Chromium, through chromedriver.
#![cfg(target_arch = "wasm32")]

#[macro_use]
mod wasm_suite;

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

suite!();
