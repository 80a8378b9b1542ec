//! Dense-layer kernels, one file per instruction set.
//!
//! The kernel is chosen at compile time: a wasm module either contains simd128
//! instructions or it does not, because engines without SIMD reject the whole
//! module at validation. The scalar kernel always compiles so that tests can
//! compare the two inside one binary.

pub mod scalar;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub mod wasm32;

/// Activation fused into the dense kernel's epilogue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    Identity,
    Relu,
}

/// Shapes of one batched dense call: `y[n×m] = act(bias[m] + x[n×k] · w[k×m])`.
#[derive(Clone, Copy, Debug)]
pub struct DenseShape {
    pub rows: usize,
    pub inputs: usize,
    pub outputs: usize,
}

impl DenseShape {
    /// Panics on inconsistent slices; callers size their buffers from the same
    /// shape, so a mismatch is a bug in mtfuse, never bad user input.
    #[inline]
    pub(crate) fn check(&self, x: &[f32], w: &[f32], bias: &[f32], y: &[f32]) {
        assert!(x.len() >= self.rows * self.inputs, "dense: x too short");
        assert!(w.len() == self.inputs * self.outputs, "dense: w has wrong size");
        assert!(bias.len() == self.outputs, "dense: bias has wrong size");
        assert!(y.len() >= self.rows * self.outputs, "dense: y too short");
    }
}

/// The name of the kernel this build uses, reported by the loader and benches.
pub const KERNEL: &str = if cfg!(all(target_arch = "wasm32", target_feature = "relaxed-simd")) {
    "relaxed-simd"
} else if cfg!(all(target_arch = "wasm32", target_feature = "simd128")) {
    "simd128"
} else {
    "scalar"
};

/// Batched dense layer with bias and activation fused, using the best kernel
/// this build was compiled with.
#[inline]
pub fn dense(shape: DenseShape, x: &[f32], w: &[f32], bias: &[f32], act: Activation, y: &mut [f32]) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        wasm32::dense(shape, x, w, bias, act, y)
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        scalar::dense(shape, x, w, bias, act, y)
    }
}

/// Input pairs the integer kernel sums in i32 before adding to its f32 total.
pub const I16_CHUNK: usize = 16;

/// Integer dense layer for [`crate::quant`]: `acc[n][4b + j] = Σ_p
/// x[n][2p] · w[b][p][2j] + x[n][2p+1] · w[b][p][2j+1]`: `x` holds rows of
/// `2 · pairs` i16, and `w` per block of four outputs and per input pair the
/// eight i16 one `dot_i16x8` multiplies with a splatted pair. Each chunk of
/// [`I16_CHUNK`] pairs is summed exactly in i32 (the caller caps magnitudes)
/// and added to an f32 total in chunk order, so every build agrees bit for bit.
#[inline]
pub fn dense_i16(rows: usize, pairs: usize, blocks: usize, x: &[i16], w: &[i16], acc: &mut [f32]) {
    assert!(x.len() >= rows * pairs * 2 && w.len() == blocks * pairs * 8 && acc.len() >= rows * blocks * 4, "dense_i16: buffer sizes");
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        wasm32::dense_i16(rows, pairs, blocks, x, w, acc)
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        scalar::dense_i16(rows, pairs, blocks, x, w, acc)
    }
}

/// One row to integers in ±qmax: `out[i] = round(row[i] / scale)`, zero
/// past the row, with `scale = max|row| / qmax` (1 for a zero row), which it returns.
#[inline]
pub fn quantise_row(row: &[f32], qmax: f32, out: &mut [i16]) -> f32 {
    assert!(out.len() >= row.len(), "quantise_row: out too short");
    let amax = max_abs(row);
    let scale = if amax > 0.0 { amax / qmax } else { 1.0 };
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        wasm32::quantise_row(row, 1.0 / scale, qmax, out);
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        scalar::quantise_row(row, 1.0 / scale, qmax, out);
    }
    scale
}

#[inline]
fn max_abs(row: &[f32]) -> f32 {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        wasm32::max_abs(row)
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        row.iter().fold(0.0f32, |a, v| a.max(v.abs()))
    }
}

/// `y[o] = act(acc[o] · (x_scale · w_scale[o]) + bias[o])` for one row.
#[inline]
pub fn dequantise_row(acc: &[f32], x_scale: f32, w_scale: &[f32], bias: &[f32], act: Activation, y: &mut [f32]) {
    let m = y.len();
    assert!(acc.len() >= m && w_scale.len() >= m && bias.len() == m, "dequantise_row: buffer sizes");
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        wasm32::dequantise_row(acc, x_scale, w_scale, bias, act == Activation::Relu, y)
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        scalar::dequantise_row(acc, x_scale, w_scale, bias, act == Activation::Relu, y)
    }
}

/// `v[i] = tanh(v[i])`: the actor's output map. The simd128 build uses a
/// vector exp (absolute error below 3e-7 against `f32::tanh`), because the
/// scalar libm call cost about 7% of a 50-item rank.
#[inline]
pub fn tanh_in_place(v: &mut [f32]) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        wasm32::tanh_in_place(v)
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        v.iter_mut().for_each(|x| *x = x.tanh())
    }
}

/// The yardstick every kernel is tested against, in every build (the wasm
/// tests too): unused by the ranker, so it costs a module nothing.
pub mod reference {
    use super::*;

    /// Plain triple loop in f64.
    pub fn dense(shape: DenseShape, x: &[f32], w: &[f32], bias: &[f32], act: Activation) -> Vec<f32> {
        let mut y = vec![0.0; shape.rows * shape.outputs];
        for n in 0..shape.rows {
            for o in 0..shape.outputs {
                let mut acc = bias[o] as f64;
                for i in 0..shape.inputs {
                    acc += x[n * shape.inputs + i] as f64 * w[i * shape.outputs + o] as f64;
                }
                if act == Activation::Relu && acc < 0.0 {
                    acc = 0.0;
                }
                y[n * shape.outputs + o] = acc as f32;
            }
        }
        y
    }

    /// How far `got` is from the f64 reference, in units of the f32 rounding
    /// error of a sum of this size: `|got − want| / (ε · (|b| + Σ|x·w|))`.
    /// Plain ULPs of the result would blow up where terms cancel.
    pub fn dense_error_ulps(shape: DenseShape, x: &[f32], w: &[f32], bias: &[f32], act: Activation, got: &[f32]) -> f64 {
        let want = dense(shape, x, w, bias, act);
        let mut worst = 0.0f64;
        for n in 0..shape.rows {
            for o in 0..shape.outputs {
                let scale = (bias[o].abs() as f64) + (0..shape.inputs).map(|i| (x[n * shape.inputs + i] as f64 * w[i * shape.outputs + o] as f64).abs()).sum::<f64>();
                let err = (got[n * shape.outputs + o] as f64 - want[n * shape.outputs + o] as f64).abs();
                worst = worst.max(err / (f32::EPSILON as f64 * scale.max(f32::MIN_POSITIVE as f64)));
            }
        }
        worst
    }
}
