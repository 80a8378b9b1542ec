//! The fusion formula and top-k.
//!
//! `f_j = Σ_k p_jk · ln(max(s_jk, 0) + b_jk)`: the log of the industrial
//! product form `Π_k (s_jk + b_jk)^p_jk`, which orders items identically and
//! stays finite for small scores.

use std::cmp::Ordering;

/// Lower bound on every bias, so the logarithm stays finite at a zero score.
pub const MIN_BIAS: f32 = 1e-3;

/// Per-dimension affine map from the actor's `[-1, 1]` onto the real action
/// `(p_1..p_k, b_1..b_k)`.
#[derive(Clone, Debug, PartialEq)]
pub struct ActionSpace {
    pub lo: Vec<f32>,
    pub hi: Vec<f32>,
}

impl ActionSpace {
    /// Number of objectives `k`; the action has `2k` dimensions.
    pub fn objectives(&self) -> usize {
        self.lo.len() / 2
    }

    /// Normalised `[-1, 1]` → real powers and biases; biases are clamped to `MIN_BIAS`.
    pub fn to_real(&self, norm: &[f32], real: &mut [f32]) {
        let k = self.objectives();
        for d in 0..2 * k {
            let a = norm[d].clamp(-1.0, 1.0);
            let v = self.lo[d] + (a + 1.0) * 0.5 * (self.hi[d] - self.lo[d]);
            real[d] = if d >= k { v.max(MIN_BIAS) } else { v };
        }
    }

    /// Real action → normalised, the inverse of `to_real` inside the ranges.
    pub fn to_norm(&self, real: &[f32], norm: &mut [f32]) {
        for d in 0..self.lo.len() {
            let span = self.hi[d] - self.lo[d];
            norm[d] = if span > 0.0 { (2.0 * (real[d] - self.lo[d]) / span - 1.0).clamp(-1.0, 1.0) } else { 0.0 };
        }
    }
}

/// Fused score of one item from its `k` MTL scores and real action `(p, b)`.
#[inline]
pub fn fuse(scores: &[f32], action: &[f32]) -> f32 {
    let k = scores.len();
    let (p, b) = action.split_at(k);
    let mut f = 0.0;
    for i in 0..k {
        f += p[i] * (scores[i].max(0.0) + b[i].max(MIN_BIAS)).ln();
    }
    f
}

/// Indices of the `top` highest scores, best first. Ties go to the lower
/// index, so the order is deterministic and the same on every target.
pub fn top_k(scores: &[f32], top: usize, order: &mut Vec<u32>) {
    order.clear();
    order.extend(0..scores.len() as u32);
    let cmp = |a: &u32, b: &u32| -> Ordering {
        scores[*b as usize].total_cmp(&scores[*a as usize]).then(a.cmp(b))
    };
    let top = top.min(scores.len());
    if top == 0 {
        order.clear();
        return;
    }
    if top < order.len() {
        order.select_nth_unstable_by(top - 1, cmp);
        order.truncate(top);
    }
    order.sort_unstable_by(cmp);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuse_matches_hand_computation() {
        // p = (1, 2, -0.5), b = (0.1, 0.2, 0.05); s = (0.5, 0.25, 0.1)
        // 1·ln(0.6) + 2·ln(0.45) − 0.5·ln(0.15)
        //   = −0.510826 − 1.597015 + 0.948560 = −1.159281
        let f = fuse(&[0.5, 0.25, 0.1], &[1.0, 2.0, -0.5, 0.1, 0.2, 0.05]);
        assert!((f - (-1.159281)).abs() < 1e-5, "{f}");
    }

    #[test]
    fn fuse_clamps_negative_scores_and_tiny_biases() {
        // max(−0.3, 0) + max(0, 1e-3) = 1e-3 → ln = −6.907755
        let f = fuse(&[-0.3], &[1.0, 0.0]);
        assert!((f - (-6.907755)).abs() < 1e-5, "{f}");
    }

    #[test]
    fn action_space_maps_both_ways() {
        let space = ActionSpace { lo: vec![0.0, -2.0, 0.01, 0.01], hi: vec![2.0, 0.0, 1.0, 1.0] };
        let mut real = [0.0; 4];
        space.to_real(&[-1.0, 1.0, 0.0, 1.0], &mut real);
        assert_eq!(real, [0.0, 0.0, 0.505, 1.0]);
        let mut back = [0.0; 4];
        space.to_norm(&real, &mut back);
        for (a, b) in back.iter().zip([-1.0, 1.0, 0.0, 1.0]) {
            assert!((a - b).abs() < 1e-6);
        }
    }

    #[test]
    fn top_k_is_descending_and_stable_for_ties() {
        let scores = [0.5, 2.0, 0.5, -1.0, 2.0, 0.7];
        let mut order = Vec::new();
        top_k(&scores, 6, &mut order);
        assert_eq!(order, [1, 4, 5, 0, 2, 3]);
        top_k(&scores, 3, &mut order);
        assert_eq!(order, [1, 4, 5]);
        top_k(&scores, 4, &mut order);
        assert_eq!(order, [1, 4, 5, 0]);
    }
}
