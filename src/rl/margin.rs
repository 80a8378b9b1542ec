//! The margin critic (our addition, not the paper's): each pair's critic
//! input also holds its margin to the list's cut-off, the fused score it
//! must beat to be shown, and the actor's gradient runs through the fusion
//! formula into that margin. A per-pair critic cannot otherwise know whether
//! an action gets its item shown, which depends on the other items.

use crate::fusion::{fuse, top_k, ActionSpace, MIN_BIAS};
use crate::rl::export::{A, K};
use crate::rl::net::{rows, Mlp};
use crate::sim::Transition;

/// Fused score at a normalised action, with its gradient in that action
/// written to `grad`.
pub fn fuse_with_grad(space: &ActionSpace, scores: &[f32], norm: &[f32], grad: &mut [f32]) -> f32 {
    let mut real = [0.0f32; A];
    space.to_real(norm, &mut real);
    for k in 0..K {
        let half = |d: usize| if norm[d].abs() < 1.0 { 0.5 * (space.hi[d] - space.lo[d]) } else { 0.0 };
        let x = scores[k].max(0.0) + real[K + k].max(MIN_BIAS);
        grad[k] = x.ln() * half(k);
        grad[K + k] = if real[K + k] > MIN_BIAS { real[k] / x * half(K + k) } else { 0.0 };
    }
    fuse(scores, &real)
}

/// The fused score each candidate must beat to be in the top `shown` set:
/// a shown item faces the best of the rest, the others the lowest shown.
/// Infinite when there is nobody to face.
pub fn cut_offs(fused: &[f32], shown: &[usize]) -> Vec<f32> {
    let mut is_shown = vec![false; fused.len()];
    shown.iter().for_each(|&p| is_shown[p] = true);
    let lowest_shown = shown.iter().map(|&p| fused[p]).fold(f32::INFINITY, f32::min);
    let best_rest = (0..fused.len()).filter(|&p| !is_shown[p]).map(|p| fused[p]).fold(f32::NEG_INFINITY, f32::max);
    (0..fused.len()).map(|p| if is_shown[p] { best_rest } else { lowest_shown }).collect()
}

/// The margin as the critics see it: squashed, so one item far from the
/// cut-off does not dominate, and finite when the cut-off is not.
pub fn margin_feature(margin: f32, scale: f32) -> f32 {
    if margin.is_finite() { (margin / scale).tanh() } else { margin.signum() }
}

/// The margin feature at a new action and its gradient in that action, the
/// cut-off held fixed: the chain rule from the critic into the fusion.
pub fn margin_feature_with_grad(space: &ActionSpace, scores: &[f32], action: &[f32], cut: f32, scale: f32) -> (f32, [f32; A]) {
    let mut g = [0.0f32; A];
    let m = fuse_with_grad(space, scores, action, &mut g) - cut;
    let f = margin_feature(m, scale);
    let d = if m.is_finite() { (1.0 - f * f) / scale } else { 0.0 };
    (f, g.map(|x| x * d))
}

/// Every candidate's fused score under its own action (`candidates × 2k`).
pub fn fused_scores(space: &ActionSpace, actions: &[f32], scores: &[f32]) -> Vec<f32> {
    let mut real = [0.0f32; A];
    actions
        .chunks_exact(A)
        .zip(scores.chunks_exact(K))
        .map(|(a, sc)| {
            space.to_real(a, &mut real);
            fuse(sc, &real)
        })
        .collect()
}

/// Logged cut-offs and margins of one transition: every candidate's fused
/// score under its logged action, against the score it had to beat.
pub fn logged_margins(space: &ActionSpace, t: &Transition) -> (Vec<f32>, Vec<f32>) {
    let shown: Vec<usize> = t.shown.iter().map(|&p| p as usize).collect();
    margins_under(space, &t.actions, &t.scores, &shown)
}

/// Cut-offs and margins of a list whose candidates took `actions`
/// (`candidates × 2k`) and showed `shown`.
pub fn margins_under(space: &ActionSpace, actions: &[f32], scores: &[f32], shown: &[usize]) -> (Vec<f32>, Vec<f32>) {
    let fused = fused_scores(space, actions, scores);
    let cuts = cut_offs(&fused, shown);
    let margins = fused.iter().zip(&cuts).map(|(f, c)| f - c).collect();
    (cuts, margins)
}

/// The tanh's scale: the mean distance to the cut-off in a log.
pub fn margin_scale(space: &ActionSpace, log: &[Transition]) -> f32 {
    mean_abs_margin(log.iter().flat_map(|t| logged_margins(space, t).1))
}

/// The mean |margin| over the finite ones, at least 1e-3.
pub fn mean_abs_margin(margins: impl Iterator<Item = f32>) -> f32 {
    let m: Vec<f32> = margins.filter(|m| m.is_finite()).collect();
    (m.iter().map(|x| x.abs()).sum::<f32>() / m.len().max(1) as f32).max(1e-3)
}

/// Margin features of the candidates `pairs` of a list under the target
/// actor: every candidate acts as the target actor says, which sets the
/// cut-offs for the `shown` best.
pub fn target_margins(actor_t: &Mlp, space: &ActionSpace, states: &[Vec<f32>], scores: &[f32], shown: usize, pairs: &[(usize, f32)], scale: f32) -> Vec<f32> {
    let actions = actor_t.predict(&rows(&states.iter().collect::<Vec<_>>()));
    let fused = fused_scores(space, actions.as_slice().expect("a fresh matrix is contiguous"), scores);
    let mut order = Vec::new();
    top_k(&fused, shown, &mut order);
    let cuts = cut_offs(&fused, &order.iter().map(|&p| p as usize).collect::<Vec<_>>());
    pairs.iter().map(|&(p, _)| margin_feature(fused[p] - cuts[p], scale)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rl::export::action_ranges;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// The fused score's gradient in the normalised action against central
    /// differences, for powers and biases, and flat outside the box, where
    /// the action is clamped.
    #[test]
    fn fused_score_gradient_matches_finite_differences() {
        let (lo, hi) = action_ranges();
        let space = ActionSpace { lo, hi };
        let scores = [0.3f32, 0.05, 0.0, 0.01, 0.2, 0.7, 0.002];
        let mut rng = StdRng::seed_from_u64(4);
        for _ in 0..20 {
            let mut a: Vec<f32> = (0..A).map(|_| rng.random_range(-0.9..0.9)).collect();
            a[A - 1] = -1.2; // clamped to the box's edge
            let mut g = [0.0f32; A];
            let f = fuse_with_grad(&space, &scores, &a, &mut g);
            let mut real = [0.0f32; A];
            space.to_real(&a, &mut real);
            assert_eq!(f, fuse(&scores, &real));
            for d in 0..A {
                let h = 1e-3;
                let mut at = |v: f32| {
                    let mut b = a.clone();
                    b[d] = v;
                    space.to_real(&b, &mut real);
                    fuse(&scores, &real) as f64
                };
                let numeric = (at(a[d] + h) - at(a[d] - h)) / (2.0 * h as f64);
                assert!((numeric - g[d] as f64).abs() < 2e-2 * (1.0 + numeric.abs()), "dimension {d}: {} vs {numeric}", g[d]);
            }
            assert_eq!(g[A - 1], 0.0);
        }
    }

    /// A shown item's margin is how far it could fall and stay shown; an
    /// unshown item's, how far it is from getting in. Positive exactly for
    /// the shown ones.
    #[test]
    fn cut_offs_face_each_item_with_the_score_it_must_beat() {
        let fused = [0.5f32, 2.0, -1.0, 1.0, 0.0];
        let cuts = cut_offs(&fused, &[1, 3]);
        assert_eq!(cuts, vec![1.0, 0.5, 1.0, 0.5, 1.0]);
        let margins: Vec<f32> = fused.iter().zip(&cuts).map(|(f, c)| f - c).collect();
        assert_eq!(margins, vec![-0.5, 1.5, -2.0, 0.5, -1.0]);
        // Everyone shown: nothing to fall behind, so the margin feature saturates.
        let all = cut_offs(&fused, &[0, 1, 2, 3, 4]);
        assert!(all.iter().all(|c| *c == f32::NEG_INFINITY));
        assert_eq!(margin_feature(fused[2] - all[2], 0.3), 1.0);
        assert!((margin_feature(0.3, 0.3) - 1.0f32.tanh()).abs() < 1e-6);
    }
}
