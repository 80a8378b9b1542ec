//! The rollout gate. Like a production rollout gated by an A/B test, a run
//! keeps the round whose policy returned most on the trainer's own
//! evaluation sessions, among those whose paired lift over the baseline is
//! clear of zero (its 95% CI above 0); otherwise it keeps the baseline.

use crate::rl::net::Mlp;
use crate::stats::{mean_ci, paired_lift};

/// What the gate keeps: the best candidate so far, where it came from
/// (restart and round; none for the baseline) and how far it moved.
pub struct Kept {
    pub ret: f64,
    pub actor: Mlp,
    pub at: Option<(usize, usize)>,
    pub shrink: f32,
}

/// A candidate's verdict, for the metrics log and progress lines.
pub struct Verdict {
    pub ret: f64,
    pub ci: f64,
    pub lift: f64,
    pub lift_ci: f64,
}

pub struct Gate {
    /// Closed: clear gains only. Open: every full round replaces the last.
    closed: bool,
    base_returns: Vec<f64>,
    pub base_ret: f64,
    kept: Kept,
}

impl Gate {
    /// A gate whose fallback is `baseline_actor` with per-session returns `base_returns`.
    pub fn new(base_returns: Vec<f64>, baseline_actor: Mlp, closed: bool) -> Gate {
        let base_ret = mean_ci(base_returns.iter().copied()).0;
        Gate { closed, base_returns, base_ret, kept: Kept { ret: base_ret, actor: baseline_actor, at: None, shrink: 0.0 } }
    }

    /// Judges a candidate on the same sessions as the baseline and keeps it
    /// if it clears the baseline and beats what is kept.
    pub fn consider(&mut self, returns: &[f64], actor: impl FnOnce() -> Mlp, at: (usize, usize), shrink: f32) -> Verdict {
        let (ret, ci) = mean_ci(returns.iter().copied());
        let (lift, lift_ci) = paired_lift(&self.base_returns, returns);
        let keep = if self.closed { lift - lift_ci > 0.0 && ret > self.kept.ret } else { shrink == 1.0 };
        if keep {
            self.kept = Kept { ret, actor: actor(), at: Some(at), shrink };
        }
        Verdict { ret, ci, lift, lift_ci }
    }

    pub fn into_kept(self) -> Kept {
        self.kept
    }
}

/// The actor moved `alpha` of the way from the baseline, in pre-tanh terms:
/// its last layer's output becomes `alpha·(W h + b) + (1 − alpha)·atanh(baseline)`.
/// `alpha = 0` is the baseline for every item; the blob format is unchanged.
pub fn shrunk(actor: &Mlp, alpha: f32, baseline: &[f32]) -> Mlp {
    let mut net = actor.clone();
    net.w.last_mut().expect("actor has layers").mapv_inplace(|w| alpha * w);
    for (b, a) in net.b.last_mut().expect("actor has layers").iter_mut().zip(baseline) {
        *b = alpha * *b + (1.0 - alpha) * a.clamp(-0.995, 0.995).atanh();
    }
    net
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rl::export::A;
    use crate::rl::net::Head;
    use ndarray::Array2;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn shrinking_moves_the_actor_toward_the_baseline_in_pre_tanh_terms() {
        let mut rng = StdRng::seed_from_u64(5);
        let actor = Mlp::new(&[4, 8, A], Head::Tanh, &mut rng);
        let baseline: Vec<f32> = (0..A).map(|k| k as f32 / A as f32 - 0.5).collect();
        let x = Array2::from_shape_fn((6, 4), |(r, c)| (r as f32 - 2.5) * 0.7 + c as f32 * 0.3);
        let full = actor.predict(&x);
        assert_eq!(shrunk(&actor, 1.0, &baseline).predict(&x), full);
        let none = shrunk(&actor, 0.0, &baseline).predict(&x);
        assert!(none.rows().into_iter().all(|r| r.iter().zip(&baseline).all(|(a, b)| (a - b).abs() < 1e-5)));
        let half = shrunk(&actor, 0.5, &baseline).predict(&x);
        for ((h, f), k) in half.iter().zip(full.iter()).zip((0..A).cycle()) {
            let want = (0.5 * f.atanh() + 0.5 * baseline[k].atanh()).tanh();
            assert!((h - want).abs() < 1e-4, "{h} vs {want}");
        }
    }

    /// A higher mean is not enough: the lift must clear its paired CI, and
    /// a later candidate must beat the kept one.
    #[test]
    fn the_gate_keeps_only_clear_gains_and_the_best_of_them() {
        let mut rng = StdRng::seed_from_u64(6);
        let net = |rng: &mut StdRng| Mlp::new(&[2, A], Head::Tanh, rng);
        let base: Vec<f64> = (0..400).map(|i| (i % 17) as f64 * 0.3).collect();
        let mut gate = Gate::new(base.clone(), net(&mut rng), true);
        let noisy: Vec<f64> = base.iter().enumerate().map(|(i, b)| b + 0.01 + if i % 2 == 0 { 1.0 } else { -1.0 }).collect();
        let v = gate.consider(&noisy, || net(&mut rng), (0, 0), 1.0);
        assert!(v.ret > gate.base_ret && v.lift - v.lift_ci < 0.0);
        let steady: Vec<f64> = base.iter().map(|b| b + 0.05).collect();
        gate.consider(&steady, || net(&mut rng), (0, 1), 1.0);
        let smaller: Vec<f64> = base.iter().map(|b| b + 0.02).collect();
        gate.consider(&smaller, || net(&mut rng), (1, 0), 0.5);
        let kept = gate.into_kept();
        assert_eq!((kept.at, kept.shrink), (Some((0, 1)), 1.0));
        // Open, the gate ships the last full round whatever it scored.
        let mut open = Gate::new(base.clone(), net(&mut rng), false);
        open.consider(&steady, || net(&mut rng), (0, 0), 1.0);
        open.consider(&noisy, || net(&mut rng), (0, 1), 1.0);
        open.consider(&steady, || net(&mut rng), (0, 1), 0.5);
        assert_eq!(open.into_kept().at, Some((0, 1)));
    }
}
