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


/// The arithmetic peak the dense kernel is measured against: `iters` rounds
/// of 12 independent multiply-adds on f32x4 (12 chains hide the latency),
/// with the build's own multiply-add (mul then add; fused in the relaxed
/// build). Flops = 12 · 4 · 2 · iters. Scalar builds report 4 lanes' worth
/// of scalar work, so their figure is comparable.
#[wasm_bindgen(js_name = benchPeak)]
pub fn bench_peak(iters: u32) -> f32 {
    #[cfg(target_feature = "simd128")]
    {
        use core::arch::wasm32::*;
        let (a, b) = (f32x4_splat(0.999_9), f32x4_splat(1e-4));
        let mut acc = [f32x4_splat(0.0); 12];
        for (i, v) in acc.iter_mut().enumerate() {
            *v = f32x4_splat(i as f32);
        }
        for _ in 0..iters {
            for v in acc.iter_mut() {
                #[cfg(target_feature = "relaxed-simd")]
                {
                    *v = f32x4_relaxed_madd(*v, a, b);
                }
                #[cfg(not(target_feature = "relaxed-simd"))]
                {
                    *v = f32x4_add(f32x4_mul(*v, a), b);
                }
            }
        }
        acc.iter().map(|v| f32x4_extract_lane::<0>(*v)).sum()
    }
    #[cfg(not(target_feature = "simd128"))]
    {
        let mut acc = [0.0f32; 48];
        for (i, v) in acc.iter_mut().enumerate() {
            *v = i as f32;
        }
        for _ in 0..iters {
            for v in acc.iter_mut() {
                *v = *v * 0.999_9 + 1e-4;
            }
        }
        acc.iter().sum()
    }
}

/// As `benchDense`, with the 16-bit integer layer ([`crate::quant`]): the
/// whole layer (`kernel` false: quantising the inputs, the integer kernel,
/// scaling back) or the integer kernel alone (`kernel` true).
#[wasm_bindgen(js_name = benchDenseI16)]
pub fn bench_dense_i16(rows: usize, inputs: usize, outputs: usize, iters: u32, kernel: bool) -> f32 {
    use crate::quant::{QuantDense, QuantScratch};
    use crate::simd::Activation;
    let x: Vec<f32> = (0..rows * inputs).map(|i| ((i % 17) as f32 - 8.0) * 0.1).collect();
    let w: Vec<f32> = (0..inputs * outputs).map(|i| ((i % 13) as f32 - 6.0) * 0.05).collect();
    let layer = QuantDense::new(&w, inputs, outputs, &vec![0.01; outputs]);
    let mut y = vec![0.0; rows * outputs];
    let mut sc = QuantScratch::default();
    for _ in 0..iters {
        if kernel {
            layer.kernel_only(&x, rows, &mut sc);
        } else {
            layer.forward(&x, rows, None, Activation::Relu, &mut y, &mut sc);
        }
    }
    y.iter().sum::<f32>() + sc.checksum()
}
