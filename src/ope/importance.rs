//! Per-decision weighted importance sampling with the known exploration
//! density. The target is "serve the policy with the log's exploration", so
//! a request's weight is the density of its logged actions under that target
//! over the behaviour's: 1 or 0 per dimension inside the box, the ratio of
//! clamped masses at ±1. A session's weight at step t is the product over its
//! requests up to t.
//!
//! With noise drawn once per request, a per-item target could only have
//! produced the logged actions if it moved every candidate's action by one
//! offset from the base, so its weight is 0 otherwise; with noise per item,
//! the weight is a product over every candidate.

use crate::logs::LoggedRequest;
use crate::ope::Session;
use crate::rl::export::A;
use crate::rl::static_from_log::{density_ratio, LoggedAction};

/// Offsets between candidates closer than this count as one offset.
const SAME_OFFSET: f32 = 1e-5;

/// The density ratio of request `q`'s logged actions under "the target
/// (normalised actions `target`, one row per candidate) plus the log's
/// exploration" over the behaviour's.
pub fn request_weight(q: &LoggedRequest, target: &[[f32; A]]) -> f64 {
    let row = |v: &[f32], j: usize| -> [f32; A] {
        let mut a = [0.0; A];
        a.copy_from_slice(&v[j * A..(j + 1) * A]);
        a
    };
    let logged = |j: usize| LoggedAction { base: row(&q.base, j), taken: row(&q.actions, j), explore: q.explore, reward: 0.0 };
    if q.explore_per_item {
        return (0..target.len()).map(|j| density_ratio(&target[j], &logged(j))).product();
    }
    let offset = |j: usize| -> [f32; A] { std::array::from_fn(|d| target[j][d] - q.base[j * A + d]) };
    let first = offset(0);
    if (1..target.len()).any(|j| offset(j).iter().zip(&first).any(|(a, b)| (a - b).abs() > SAME_OFFSET)) {
        return 0.0;
    }
    density_ratio(&target[0], &logged(0))
}

/// `Σ_t γ^t Σ_i ρ_it r_it / Σ_i ρ_it` over the sessions `pick` (with
/// repeats), where `ρ_it` is session i's weight product up to step t; a
/// session that ended keeps its last weight and adds no reward. `None` when
/// no session has weight at the first step.
pub fn pdwis(sessions: &[Session], pick: &[usize], gamma: f64) -> Option<f64> {
    let horizon = pick.iter().map(|&i| sessions[i].steps.len()).max().unwrap_or(0);
    let mut rho: Vec<f64> = vec![1.0; pick.len()];
    let mut value = 0.0;
    for t in 0..horizon {
        let (mut num, mut den) = (0.0, 0.0);
        for (k, &i) in pick.iter().enumerate() {
            if let Some(st) = sessions[i].steps.get(t) {
                rho[k] *= st.weight;
                num += rho[k] * st.reward;
            }
            den += rho[k];
        }
        if den == 0.0 {
            return (t > 0).then_some(value);
        }
        value += gamma.powi(t as i32) * num / den;
    }
    (horizon > 0).then_some(value)
}

/// Effective sample size of the sessions' final weights, `(Σw)² / Σw²`.
pub fn ess(sessions: &[Session]) -> f64 {
    let finals: Vec<f64> = sessions.iter().map(|s| s.steps.iter().map(|st| st.weight).product()).collect();
    let (sw, sw2) = (finals.iter().sum::<f64>(), finals.iter().map(|w| w * w).sum::<f64>());
    if sw2 > 0.0 {
        sw * sw / sw2
    } else {
        0.0
    }
}
