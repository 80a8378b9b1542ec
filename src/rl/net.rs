//! Trainable MLPs with hand-written backward passes, and Adam.
//!
//! Weights use the serving layout (`[inputs, outputs]`, `y = x·W + b`), so a
//! trained actor is exported to a blob without reshaping.

use ndarray::{Array1, Array2, Axis};
use rand::rngs::StdRng;
use rand::Rng;

use crate::nn::{Actor, Dense};

/// Output non-linearity of the last layer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Head {
    Linear,
    Tanh,
}

#[derive(Clone, Debug)]
pub struct Mlp {
    pub w: Vec<Array2<f32>>,
    pub b: Vec<Array1<f32>>,
    pub head: Head,
}

/// What the forward pass keeps for the backward pass.
pub struct Tape {
    /// Input of each layer.
    inputs: Vec<Array2<f32>>,
    /// Output of the last layer (after the head).
    out: Array2<f32>,
}

/// Gradients, shaped like the network.
#[derive(Clone, Debug)]
pub struct Grads {
    pub w: Vec<Array2<f32>>,
    pub b: Vec<Array1<f32>>,
}

impl Mlp {
    /// He-uniform initialisation; the last layer is scaled down so a new
    /// actor starts near the centre of its action box.
    pub fn new(widths: &[usize], head: Head, rng: &mut StdRng) -> Mlp {
        let mut w = Vec::new();
        let mut b = Vec::new();
        for (i, pair) in widths.windows(2).enumerate() {
            let last = i + 2 == widths.len();
            let scale = (6.0 / pair[0] as f32).sqrt() * if last { 0.1 } else { 1.0 };
            w.push(Array2::from_shape_fn((pair[0], pair[1]), |_| rng.random_range(-scale..scale)));
            b.push(Array1::zeros(pair[1]));
        }
        Mlp { w, b, head }
    }

    pub fn forward(&self, x: &Array2<f32>) -> Tape {
        let mut inputs = Vec::with_capacity(self.w.len());
        let mut h = x.clone();
        for (i, (w, b)) in self.w.iter().zip(&self.b).enumerate() {
            let mut z = h.dot(w) + b;
            if i + 1 < self.w.len() {
                z.mapv_inplace(|v| v.max(0.0));
            } else if self.head == Head::Tanh {
                z.mapv_inplace(f32::tanh);
            }
            inputs.push(std::mem::replace(&mut h, z));
        }
        Tape { inputs, out: h }
    }

    pub fn predict(&self, x: &Array2<f32>) -> Array2<f32> {
        self.forward(x).out
    }

    /// Backpropagates `d loss / d out`; returns parameter gradients and
    /// `d loss / d input`.
    pub fn backward(&self, tape: &Tape, grad_out: &Array2<f32>) -> (Grads, Array2<f32>) {
        let n = self.w.len();
        let mut g = grad_out.clone();
        if self.head == Head::Tanh {
            g.zip_mut_with(&tape.out, |g, y| *g *= 1.0 - y * y);
        }
        let mut gw = vec![Array2::zeros((0, 0)); n];
        let mut gb = vec![Array1::zeros(0); n];
        for i in (0..n).rev() {
            let x = &tape.inputs[i];
            gw[i] = x.t().dot(&g);
            gb[i] = g.sum_axis(Axis(0));
            let mut gx = g.dot(&self.w[i].t());
            if i > 0 {
                // ReLU of the previous layer: its output is this layer's input.
                gx.zip_mut_with(x, |g, x| if *x <= 0.0 { *g = 0.0 });
            }
            g = gx;
        }
        (Grads { w: gw, b: gb }, g)
    }

    pub fn out(tape: &Tape) -> &Array2<f32> {
        &tape.out
    }

    /// `self ← τ·other + (1 − τ)·self`, for target networks.
    pub fn soft_update(&mut self, other: &Mlp, tau: f32) {
        for (a, b) in self.w.iter_mut().zip(&other.w) {
            a.zip_mut_with(b, |a, b| *a = tau * b + (1.0 - tau) * *a);
        }
        for (a, b) in self.b.iter_mut().zip(&other.b) {
            a.zip_mut_with(b, |a, b| *a = tau * b + (1.0 - tau) * *a);
        }
    }

    /// The serving actor; `shared_inputs` leading inputs form the per-request part.
    pub fn to_actor(&self, shared_inputs: usize) -> Actor {
        Actor { layers: self.w.iter().zip(&self.b).map(|(w, b)| Dense::new(w.clone(), b.clone())).collect(), shared_inputs }
    }
}

/// Adam with global-norm gradient clipping.
#[derive(Clone, Debug)]
pub struct Adam {
    lr: f32,
    clip: f32,
    t: i32,
    m: Grads,
    v: Grads,
}

impl Adam {
    pub fn new(net: &Mlp, lr: f32, clip: f32) -> Adam {
        let zeros = Grads { w: net.w.iter().map(|w| Array2::zeros(w.raw_dim())).collect(), b: net.b.iter().map(|b| Array1::zeros(b.raw_dim())).collect() };
        Adam { lr, clip, t: 0, m: zeros.clone(), v: zeros }
    }

    /// One step on `net` with gradients `g` (of a loss to minimise).
    pub fn step(&mut self, net: &mut Mlp, g: &Grads) {
        let norm = g.w.iter().chain(std::iter::empty()).map(|w| w.iter().map(|x| x * x).sum::<f32>()).sum::<f32>()
            + g.b.iter().map(|b| b.iter().map(|x| x * x).sum::<f32>()).sum::<f32>();
        let scale = if norm.sqrt() > self.clip { self.clip / norm.sqrt() } else { 1.0 };
        self.t += 1;
        let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-8f32);
        let (c1, c2) = (1.0 - b1.powi(self.t), 1.0 - b2.powi(self.t));
        let lr = self.lr;
        let update = |p: &mut f32, g: f32, m: &mut f32, v: &mut f32| {
            let g = g * scale;
            *m = b1 * *m + (1.0 - b1) * g;
            *v = b2 * *v + (1.0 - b2) * g * g;
            *p -= lr * (*m / c1) / ((*v / c2).sqrt() + eps);
        };
        for i in 0..net.w.len() {
            for (((p, g), m), v) in net.w[i].iter_mut().zip(&g.w[i]).zip(self.m.w[i].iter_mut()).zip(self.v.w[i].iter_mut()) {
                update(p, *g, m, v);
            }
            for (((p, g), m), v) in net.b[i].iter_mut().zip(&g.b[i]).zip(self.m.b[i].iter_mut()).zip(self.v.b[i].iter_mut()) {
                update(p, *g, m, v);
            }
        }
    }
}

/// Rows of equal width as a matrix.
pub fn rows(v: &[&Vec<f32>]) -> Array2<f32> {
    let w = v.first().map_or(0, |r| r.len());
    Array2::from_shape_vec((v.len(), w), v.iter().flat_map(|r| r.iter().copied()).collect()).expect("rows have equal width")
}

/// `[a | b]`, column-wise.
pub fn concat(a: &Array2<f32>, b: &Array2<f32>) -> Array2<f32> {
    ndarray::concatenate(ndarray::Axis(1), &[a.view(), b.view()]).expect("same row count")
}

/// `x` with one more column, `extra`, when it is not empty.
pub fn with_column(x: Array2<f32>, extra: &[f32]) -> Array2<f32> {
    if extra.is_empty() {
        return x;
    }
    concat(&x, &Array2::from_shape_vec((extra.len(), 1), extra.to_vec()).expect("one value per row"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// Loss = Σ c ⊙ out, so d loss / d out = c.
    fn loss(net: &Mlp, x: &Array2<f32>, c: &Array2<f32>) -> f64 {
        net.predict(x).iter().zip(c).map(|(a, b)| (*a as f64) * (*b as f64)).sum()
    }

    #[test]
    fn gradients_match_finite_differences() {
        let mut rng = StdRng::seed_from_u64(3);
        for head in [Head::Linear, Head::Tanh] {
            let net = Mlp::new(&[5, 7, 6, 3], head, &mut rng);
            // Make the last layer larger so the check is not trivially small.
            let mut net = net;
            net.w[2].mapv_inplace(|v| v * 10.0);
            let x = Array2::from_shape_fn((4, 5), |_| rng.random_range(-1.0..1.0));
            let c = Array2::from_shape_fn((4, 3), |_| rng.random_range(-1.0..1.0));
            let tape = net.forward(&x);
            let (g, gx) = net.backward(&tape, &c);
            let h = 1e-3f32;
            let mut checked = 0;
            for l in 0..net.w.len() {
                for idx in 0..net.w[l].len() {
                    let (r, col) = (idx / net.w[l].ncols(), idx % net.w[l].ncols());
                    let mut p = net.clone();
                    p.w[l][[r, col]] += h;
                    let mut m = net.clone();
                    m.w[l][[r, col]] -= h;
                    let fd = (loss(&p, &x, &c) - loss(&m, &x, &c)) / (2.0 * h as f64);
                    assert!((fd - g.w[l][[r, col]] as f64).abs() < 2e-2 * (1.0 + fd.abs()), "{head:?} w{l}[{r},{col}]: fd {fd} vs {}", g.w[l][[r, col]]);
                    checked += 1;
                }
                for o in 0..net.b[l].len() {
                    let mut p = net.clone();
                    p.b[l][o] += h;
                    let mut m = net.clone();
                    m.b[l][o] -= h;
                    let fd = (loss(&p, &x, &c) - loss(&m, &x, &c)) / (2.0 * h as f64);
                    assert!((fd - g.b[l][o] as f64).abs() < 2e-2 * (1.0 + fd.abs()), "{head:?} b{l}[{o}]: fd {fd} vs {}", g.b[l][o]);
                    checked += 1;
                }
            }
            for r in 0..4 {
                for col in 0..5 {
                    let mut xp = x.clone();
                    xp[[r, col]] += h;
                    let mut xm = x.clone();
                    xm[[r, col]] -= h;
                    let fd = (loss(&net, &xp, &c) - loss(&net, &xm, &c)) / (2.0 * h as f64);
                    assert!((fd - gx[[r, col]] as f64).abs() < 2e-2 * (1.0 + fd.abs()), "input [{r},{col}]");
                }
            }
            assert_eq!(checked, 5 * 7 + 7 + 7 * 6 + 6 + 6 * 3 + 3);
        }
    }

    #[test]
    fn adam_fits_a_linear_target() {
        let mut rng = StdRng::seed_from_u64(5);
        let mut net = Mlp::new(&[3, 16, 1], Head::Linear, &mut rng);
        let mut opt = Adam::new(&net, 1e-2, 10.0);
        let x = Array2::from_shape_fn((64, 3), |_| rng.random_range(-1.0..1.0));
        let y = x.map_axis(Axis(1), |r| 2.0 * r[0] - r[1] + 0.5 * r[2]).insert_axis(Axis(1));
        let mse = |net: &Mlp| (&net.predict(&x) - &y).mapv(|d| d * d).mean().unwrap();
        let before = mse(&net);
        for _ in 0..500 {
            let tape = net.forward(&x);
            let g = (Mlp::out(&tape) - &y) * (2.0 / 64.0);
            let (grads, _) = net.backward(&tape, &g);
            opt.step(&mut net, &grads);
        }
        assert!(mse(&net) < before * 0.05, "mse {} → {}", before, mse(&net));
    }

    #[test]
    fn exported_actor_matches_training_forward() {
        let mut rng = StdRng::seed_from_u64(9);
        let net = Mlp::new(&[6, 8, 4], Head::Tanh, &mut rng);
        let x = Array2::from_shape_fn((3, 6), |_| rng.random_range(-1.0..1.0));
        let want = net.predict(&x);
        let actor = net.to_actor(2);
        let mut out = Vec::new();
        let rows: Vec<f32> = x.rows().into_iter().flat_map(|r| r.iter().skip(2).copied().collect::<Vec<_>>()).collect();
        // Shared part: all three rows must share it, so use row 0's for a one-row check.
        actor.forward(&x.row(0).to_vec()[..2], &rows[..4], 1, &mut Default::default(), &mut out);
        for (a, b) in out.iter().zip(want.row(0)) {
            assert!((a - b).abs() < 1e-5);
        }
    }
}
