//! Kernel timings from inside wasm, for `bench/` (feature `bench`).

use wasm_bindgen::prelude::*;

/// Runs the dense kernel `iters` times on a `rows × inputs → outputs` layer
/// with ReLU, inside wasm, so benchmarks can time the kernel alone without
/// JS call overhead. Returns a checksum so the work cannot be optimised away.
#[wasm_bindgen(js_name = benchDense)]
pub fn bench_dense(rows: usize, inputs: usize, outputs: usize, iters: u32) -> f32 {
    use crate::simd::{dense, Activation, DenseShape};
    let x: Vec<f32> = (0..rows * inputs).map(|i| ((i % 17) as f32 - 8.0) * 0.1).collect();
    let w: Vec<f32> = (0..inputs * outputs).map(|i| ((i % 13) as f32 - 6.0) * 0.05).collect();
    let b = vec![0.01; outputs];
    let mut y = vec![0.0; rows * outputs];
    let shape = DenseShape { rows, inputs, outputs };
    for _ in 0..iters {
        dense(shape, &x, &w, &b, Activation::Relu, &mut y);
    }
    y.iter().sum()
}

