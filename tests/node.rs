//! wasm tests under Node.js (wasm-bindgen-test-runner's default).
#![cfg(target_arch = "wasm32")]

#[macro_use]
mod wasm_suite;

suite!();
