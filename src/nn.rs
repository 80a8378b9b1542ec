//! Dense layers and the actor MLP used at serving time.
//!
//! Weights are stored `[inputs, outputs]` (the `x · W` convention), so the
//! rows of the first layer that belong to one input group are a contiguous
//! slice. That is what lets the enhanced actor split its first layer without
//! copying: the user/context rows are applied once per request, the item rows
//! once per candidate.

use ndarray::{Array1, Array2};

use crate::simd::{self, Activation, DenseShape};

/// One fully connected layer, `y = x · w + b`.
#[derive(Clone, Debug, PartialEq)]
pub struct Dense {
    /// `[inputs, outputs]`, row-major.
    pub w: Array2<f32>,
    pub b: Array1<f32>,
}

impl Dense {
    pub fn new(w: Array2<f32>, b: Array1<f32>) -> Dense {
        assert_eq!(w.ncols(), b.len(), "dense: bias length must equal output width");
        Dense { w: w.as_standard_layout().into_owned(), b }
    }

    pub fn inputs(&self) -> usize {
        self.w.nrows()
    }

    pub fn outputs(&self) -> usize {
        self.w.ncols()
    }

    fn w_slice(&self) -> &[f32] {
        self.w.as_slice().expect("dense weights are kept in standard layout")
    }

    fn b_slice(&self) -> &[f32] {
        self.b.as_slice().expect("bias is contiguous")
    }

    /// `y[rows×out] = act(x[rows×in] · w + b)`.
    pub fn forward(&self, x: &[f32], rows: usize, act: Activation, y: &mut [f32]) {
        let shape = DenseShape { rows, inputs: self.inputs(), outputs: self.outputs() };
        simd::dense(shape, x, self.w_slice(), self.b_slice(), act, y);
    }

    /// Like `forward`, but only over input rows `from..` of `w` and with a
    /// caller-supplied bias row: the per-item half of a split first layer.
    pub fn forward_rows_from(&self, from: usize, x: &[f32], rows: usize, bias: &[f32], act: Activation, y: &mut [f32]) {
        let m = self.outputs();
        let shape = DenseShape { rows, inputs: self.inputs() - from, outputs: m };
        simd::dense(shape, x, &self.w_slice()[from * m..], bias, act, y);
    }

    /// The shared half of a split first layer: `b + x[..upto] · w[..upto]`.
    pub fn forward_rows_upto(&self, upto: usize, x: &[f32], y: &mut [f32]) {
        let m = self.outputs();
        let shape = DenseShape { rows: 1, inputs: upto, outputs: m };
        simd::dense(shape, x, &self.w_slice()[..upto * m], self.b_slice(), Activation::Identity, y);
    }
}

/// An MLP with ReLU hidden layers and a tanh output onto `[-1, 1]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Actor {
    pub layers: Vec<Dense>,
    /// Leading inputs that are the same for every row of a request
    /// (user and context). Zero means no split.
    pub shared_inputs: usize,
}

/// Reusable buffers so that steady-state ranking does not allocate.
#[derive(Default, Debug)]
pub struct ActorScratch {
    shared: Vec<f32>,
    a: Vec<f32>,
    b: Vec<f32>,
}

impl Actor {
    pub fn inputs(&self) -> usize {
        self.layers[0].inputs()
    }

    pub fn outputs(&self) -> usize {
        self.layers.last().expect("actor has layers").outputs()
    }

    /// Multiply-adds per row, for GFLOP/s reports.
    pub fn flops_per_row(&self) -> usize {
        let first = &self.layers[0];
        let mut f = 2 * (first.inputs() - self.shared_inputs) * first.outputs();
        for l in &self.layers[1..] {
            f += 2 * l.inputs() * l.outputs();
        }
        f
    }

    /// Forward pass over `rows` rows of `x_rows` (each `inputs - shared_inputs`
    /// wide), with `x_shared` (`shared_inputs` wide) common to all rows.
    /// Writes `rows × outputs` tanh outputs to `out`.
    pub fn forward(&self, x_shared: &[f32], x_rows: &[f32], rows: usize, scratch: &mut ActorScratch, out: &mut Vec<f32>) {
        debug_assert_eq!(x_shared.len(), self.shared_inputs);
        let first = &self.layers[0];
        let h1 = first.outputs();
        scratch.shared.resize(h1, 0.0);
        first.forward_rows_upto(self.shared_inputs, x_shared, &mut scratch.shared);
        scratch.a.resize(rows * h1, 0.0);
        let last = self.layers.len() - 1;
        let act0 = if last == 0 { Activation::Identity } else { Activation::Relu };
        first.forward_rows_from(self.shared_inputs, x_rows, rows, &scratch.shared, act0, &mut scratch.a);
        for (i, layer) in self.layers.iter().enumerate().skip(1) {
            scratch.b.resize(rows * layer.outputs(), 0.0);
            let act = if i == last { Activation::Identity } else { Activation::Relu };
            layer.forward(&scratch.a, rows, act, &mut scratch.b);
            std::mem::swap(&mut scratch.a, &mut scratch.b);
        }
        out.clear();
        out.extend_from_slice(&scratch.a[..rows * self.outputs()]);
        simd::tanh_in_place(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array;

    fn layer(inp: usize, out: usize, seed: f32) -> Dense {
        let w = Array::from_shape_fn((inp, out), |(i, o)| ((i * 31 + o * 17) as f32 * 0.37 + seed).sin() * 0.3);
        let b = Array::from_shape_fn(out, |o| (o as f32 * 0.11 + seed).cos() * 0.1);
        Dense::new(w, b)
    }

    /// The actor with a split first layer equals the plain MLP on the
    /// concatenated input, computed here with ndarray's matmul.
    #[test]
    fn split_actor_matches_ndarray_mlp() {
        let actor = Actor { layers: vec![layer(12, 16, 0.1), layer(16, 8, 0.2), layer(8, 6, 0.3)], shared_inputs: 5 };
        let rows = 9;
        let shared: Vec<f32> = (0..5).map(|i| i as f32 * 0.2 - 0.4).collect();
        let items: Vec<f32> = (0..rows * 7).map(|i| ((i as f32) * 0.7).sin()).collect();
        let mut out = Vec::new();
        actor.forward(&shared, &items, rows, &mut ActorScratch::default(), &mut out);

        let full = Array2::from_shape_fn((rows, 12), |(r, c)| if c < 5 { shared[c] } else { items[r * 7 + c - 5] });
        let mut h = full;
        for (i, l) in actor.layers.iter().enumerate() {
            h = h.dot(&l.w) + &l.b;
            if i + 1 < actor.layers.len() {
                h.mapv_inplace(|v| v.max(0.0));
            }
        }
        h.mapv_inplace(f32::tanh);
        assert_eq!(out.len(), rows * 6);
        for (got, want) in out.iter().zip(h.iter()) {
            assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        }
    }

    #[test]
    fn flops_count_excludes_shared_rows() {
        let actor = Actor { layers: vec![layer(12, 16, 0.1), layer(16, 6, 0.2)], shared_inputs: 5 };
        assert_eq!(actor.flops_per_row(), 2 * 7 * 16 + 2 * 16 * 6);
    }
}
