//! 16-bit integer dense layers: an opt-in precision for the actor
//! ([`crate::Ranker::set_precision`]).
//!
//! simd128 has no fused multiply-add, so its f32 kernel spends two
//! instructions on four multiply-adds, while `i32x4.dot_i16x8_s` does eight in
//! one. Weights are quantised once, per output column, when the precision is
//! chosen, and packed in the order the kernel reads them; each layer's input
//! rows are quantised per row as they arrive. Sums run in i32 over chunks of
//! inputs, with magnitudes capped so that none can overflow, and chunks add
//! up in f32 in a fixed order: every build computes the same values.

use crate::nn::Actor;
use crate::simd::{self, Activation};

/// Which arithmetic the actor runs in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    #[default]
    F32,
    /// 16-bit weights and activations, i32 sums, f32 scales.
    Int16,
}

impl Precision {
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Int16 => "int16",
        }
    }
}

/// A dense layer in 16-bit integers. `q` holds, per block of four outputs and
/// per pair of inputs, the eight weights `w[2p][o], w[2p+1][o], …` that one
/// `dot_i16x8` multiplies with a splatted input pair.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantDense {
    inputs: usize,
    outputs: usize,
    pairs: usize,
    blocks: usize,
    q: Vec<i16>,
    /// Per output (padded to `4 · blocks`): the weight that one step of `q` stands for.
    w_scale: Vec<f32>,
    bias: Vec<f32>,
    qmax: f32,
}

/// Reusable buffers of the quantised forward pass.
#[derive(Clone, Debug, Default)]
pub struct QuantScratch {
    /// Rows of `2 · pairs` quantised inputs.
    x: Vec<i16>,
    x_scale: Vec<f32>,
    acc: Vec<f32>,
}

#[cfg(feature = "bench")]
impl QuantScratch {
    pub fn checksum(&self) -> f32 {
        self.acc.iter().sum()
    }
}

impl QuantDense {
    /// Quantises `w` (`inputs × outputs`, row-major) per output column.
    ///
    /// Weights and inputs share one largest magnitude `qmax`, as large as
    /// the layer allows. The kernel sums [`simd::I16_CHUNK`] input pairs in
    /// i32 and adds each partial sum to an f32 total, so with inputs in
    /// ±qmax a partial sum is at most `qmax · Σ_chunk |q[i][o]|`, which must
    /// stay below 2^31. Bounding chunks rather than whole columns, and with the
    /// weights as they are rather than the worst case, allows about three
    /// times the resolution on the shipped actor's 128-input layer.
    pub fn new(w: &[f32], inputs: usize, outputs: usize, bias: &[f32]) -> QuantDense {
        assert_eq!(w.len(), inputs * outputs, "quant: w has wrong size");
        let (pairs, blocks) = (inputs.div_ceil(2), outputs.div_ceil(4));
        let chunk = 2 * simd::I16_CHUNK;
        // Per column and chunk, Σ|w| over the column's max|w|: the "effective" input count.
        let mut spread = 1.0f32;
        for o in 0..outputs {
            let column_max = (0..inputs).map(|i| w[i * outputs + o].abs()).fold(f32::MIN_POSITIVE, f32::max);
            for start in (0..inputs).step_by(chunk) {
                let sum: f32 = (start..inputs.min(start + chunk)).map(|i| w[i * outputs + o].abs()).sum();
                spread = spread.max(sum / column_max);
            }
        }
        let mut qmax = ((i32::MAX as f64 / spread as f64).sqrt().floor()).min(32767.0) as f32;
        loop {
            let layer = QuantDense::with_qmax(w, inputs, outputs, pairs, blocks, bias, qmax);
            if qmax as i64 * layer.widest_chunk() <= i32::MAX as i64 {
                return layer;
            }
            // Rounding up many small weights can exceed the estimate: shrink and retry.
            qmax = (qmax * 0.99).floor();
        }
    }

    /// The largest `Σ |q[i][o]|` over one output and one chunk of input pairs.
    fn widest_chunk(&self) -> i64 {
        let mut widest = 0;
        for b in 0..self.blocks {
            for start in (0..self.pairs).step_by(simd::I16_CHUNK) {
                let mut sums = [0i64; 4];
                for p in start..self.pairs.min(start + simd::I16_CHUNK) {
                    for (k, &v) in self.q[(b * self.pairs + p) * 8..][..8].iter().enumerate() {
                        sums[k / 2] += v.unsigned_abs() as i64;
                    }
                }
                widest = widest.max(sums.into_iter().max().unwrap_or(0));
            }
        }
        widest
    }

    fn with_qmax(w: &[f32], inputs: usize, outputs: usize, pairs: usize, blocks: usize, bias: &[f32], qmax: f32) -> QuantDense {
        let mut w_scale = vec![0.0f32; 4 * blocks];
        for (o, s) in w_scale.iter_mut().enumerate().take(outputs) {
            let amax = (0..inputs).map(|i| w[i * outputs + o].abs()).fold(0.0f32, f32::max);
            *s = if amax > 0.0 { amax / qmax } else { 1.0 };
        }
        let mut q = vec![0i16; blocks * pairs * 8];
        for o in 0..outputs {
            for i in 0..inputs {
                let v = (w[i * outputs + o] / w_scale[o]).round_ties_even().clamp(-qmax, qmax);
                q[((o / 4) * pairs + i / 2) * 8 + (o % 4) * 2 + i % 2] = v as i16;
            }
        }
        QuantDense { inputs, outputs, pairs, blocks, q, w_scale, bias: bias.to_vec(), qmax }
    }

    /// `y[rows×outputs] = act(bias + x[rows×inputs] · w)`, with `bias`
    /// replacing the layer's own when given (the per-item half of the
    /// enhanced actor's split first layer).
    pub fn forward(&self, x: &[f32], rows: usize, bias: Option<&[f32]>, act: Activation, y: &mut [f32], sc: &mut QuantScratch) {
        let (k, m) = (self.inputs, self.outputs);
        let bias = bias.unwrap_or(&self.bias);
        assert!(x.len() >= rows * k && y.len() >= rows * m && bias.len() == m, "quant: buffer sizes");
        self.quantise_rows(&x[..rows * k], rows, sc);
        let width = 4 * self.blocks;
        sc.acc.resize(rows * width, 0.0);
        simd::dense_i16(rows, self.pairs, self.blocks, &sc.x, &self.q, &mut sc.acc);
        for n in 0..rows {
            simd::dequantise_row(&sc.acc[n * width..], sc.x_scale[n], &self.w_scale, bias, act, &mut y[n * m..(n + 1) * m]);
        }
    }

    /// The integer kernel alone on already-quantised inputs (for `benchDenseI16`).
    #[cfg(feature = "bench")]
    pub fn kernel_only(&self, x: &[f32], rows: usize, sc: &mut QuantScratch) {
        if sc.x.len() != rows * 2 * self.pairs {
            self.quantise_rows(&x[..rows * self.inputs], rows, sc);
            sc.acc.resize(rows * 4 * self.blocks, 0.0);
        }
        simd::dense_i16(rows, self.pairs, self.blocks, &sc.x, &self.q, &mut sc.acc);
    }

    /// Each row to integers in ±qmax with its own scale, padded to whole pairs.
    fn quantise_rows(&self, x: &[f32], rows: usize, sc: &mut QuantScratch) {
        let (k, width) = (self.inputs, 2 * self.pairs);
        sc.x.resize(rows * width, 0);
        sc.x_scale.clear();
        for (row, out) in x.chunks_exact(k).zip(sc.x.chunks_exact_mut(width)).take(rows) {
            sc.x_scale.push(simd::quantise_row(row, self.qmax, out));
        }
    }
}

/// Narrower layers stay in f32: quantising a layer's inputs costs about as
/// much as the integer kernel saves on 64 × 14 (`bench/wasm-rank.mjs`).
pub const MIN_OUTPUTS: usize = 32;

/// The actor's per-row layers in 16-bit integers, those with at least
/// [`MIN_OUTPUTS`] outputs. The enhanced actor's shared half of the first
/// layer, computed once per request, stays in f32.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantActor {
    layers: Vec<Option<QuantDense>>,
}

impl QuantActor {
    pub fn new(actor: &Actor) -> QuantActor {
        let layers = actor
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| {
                if l.outputs() < MIN_OUTPUTS {
                    return None;
                }
                let from = if i == 0 { actor.shared_inputs } else { 0 };
                let w = l.w.as_standard_layout();
                let w = &w.as_slice().expect("standard layout")[from * l.outputs()..];
                Some(QuantDense::new(w, l.inputs() - from, l.outputs(), l.b.as_slice().expect("contiguous")))
            })
            .collect();
        QuantActor { layers }
    }

    /// As [`Actor::forward`]: `rows` rows of `x_rows`, with `x_shared` common to all.
    pub fn forward(&self, actor: &Actor, x_shared: &[f32], x_rows: &[f32], rows: usize, sc: &mut QuantActorScratch, out: &mut Vec<f32>) {
        let first = &actor.layers[0];
        sc.shared.resize(first.outputs(), 0.0);
        first.forward_rows_upto(actor.shared_inputs, x_shared, &mut sc.shared);
        let last = self.layers.len() - 1;
        for (i, (layer, f)) in self.layers.iter().zip(&actor.layers).enumerate() {
            let act = if i == last { Activation::Identity } else { Activation::Relu };
            sc.b.resize(rows * f.outputs(), 0.0);
            // The first layer reads the caller's rows in place; later ones the previous output.
            let input: &[f32] = if i == 0 { x_rows } else { &sc.a };
            match (layer, i) {
                (Some(q), 0) => q.forward(input, rows, Some(&sc.shared), act, &mut sc.b, &mut sc.q),
                (Some(q), _) => q.forward(input, rows, None, act, &mut sc.b, &mut sc.q),
                (None, 0) => f.forward_rows_from(actor.shared_inputs, input, rows, &sc.shared, act, &mut sc.b),
                (None, _) => f.forward(input, rows, act, &mut sc.b),
            }
            std::mem::swap(&mut sc.a, &mut sc.b);
        }
        out.clear();
        out.extend_from_slice(&sc.a[..rows * actor.outputs()]);
        simd::tanh_in_place(out);
    }
}

#[derive(Clone, Debug, Default)]
pub struct QuantActorScratch {
    shared: Vec<f32>,
    a: Vec<f32>,
    b: Vec<f32>,
    q: QuantScratch,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, seed: f32) -> Vec<f32> {
        (0..n).map(|i| ((i as f32 * 0.731 + seed).sin() * 1.7).powi(3)).collect()
    }

    /// Against the f32 kernel, on odd widths that exercise the padding: the
    /// error is a few quantisation steps of the row and column scales.
    #[test]
    fn matches_f32_dense_within_quantisation_error() {
        for (rows, k, m) in [(1, 7, 14), (5, 12, 64), (9, 64, 14), (4, 1, 3)] {
            let (x, w, b) = (data(rows * k, 0.1), data(k * m, 0.7), data(m, 0.3));
            let mut want = vec![0.0; rows * m];
            simd::dense(simd::DenseShape { rows, inputs: k, outputs: m }, &x, &w, &b, Activation::Relu, &mut want);
            let q = QuantDense::new(&w, k, m, &b);
            let mut got = vec![0.0; rows * m];
            q.forward(&x, rows, None, Activation::Relu, &mut got, &mut QuantScratch::default());
            for n in 0..rows {
                let xmax = x[n * k..(n + 1) * k].iter().fold(0.0f32, |a, v| a.max(v.abs()));
                for o in 0..m {
                    let wmax = (0..k).map(|i| w[i * m + o].abs()).fold(0.0f32, f32::max);
                    // Each product errs by at most half a step of each factor.
                    let bound = k as f32 * xmax * wmax / q.qmax * 1.01 + 1e-5;
                    let (g, e) = (got[n * m + o], want[n * m + o]);
                    assert!((g - e).abs() <= bound, "rows {rows} k {k} m {m} at ({n}, {o}): {g} vs {e}, bound {bound}");
                }
            }
        }
    }

    /// No i32 sum can overflow, even with every input at the extreme and
    /// the sign of its weight: on uniform weights (the worst spread) and on
    /// one large weight among small ones (the worst rounding).
    #[test]
    fn sums_cannot_overflow() {
        for k in [1usize, 2, 7, 128, 4096, 4097] {
            let mut skewed = vec![1e-3f32; k];
            skewed[0] = 1.0;
            for w in [vec![-1.0f32; k], skewed] {
                let q = QuantDense::new(&w, k, 1, &[0.0]);
                // Every chunk's sum, with inputs at ±qmax matching the weights' signs.
                for chunk in q.q.chunks(8 * simd::I16_CHUNK) {
                    let sum: i64 = chunk.iter().map(|v| v.unsigned_abs() as i64).sum();
                    assert!(sum * q.qmax as i64 <= i32::MAX as i64, "k {k}: qmax {} Σ|q| {sum}", q.qmax);
                }
                let x: Vec<f32> = w.iter().map(|v| v.signum()).collect();
                let mut y = [0.0];
                q.forward(&x, 1, None, Activation::Identity, &mut y, &mut QuantScratch::default());
                // The inputs are exact; each weight errs by at most half a step.
                let want: f32 = w.iter().map(|v| v.abs()).sum();
                let bound = k as f32 * 0.5 / q.qmax * 1.01;
                assert!((y[0] - want).abs() <= bound, "k {k}: {} vs {want}", y[0]);
            }
        }
    }
}
