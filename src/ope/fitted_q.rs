//! Fitted-Q evaluation: the paper's list-level TD with the evaluated
//! policy's actions at the next list instead of a learning actor,
//! `Σ_j Q(s_tj, a_tj) ← Σ_j r_tj + γ(1 − done) Σ_j' Q'(s'_j', π(s'_j'))`,
//! on the logged lists. No φ: the critics are asked for their value at the
//! policy's actions wherever those are, and the doubly-robust estimate
//! corrects them where the log has support.

use ndarray::Array2;
use rand::rngs::StdRng;

use crate::rl::batch::{Batch, LoggedList, NextBatch};
use crate::rl::critic::CriticEnsemble;
use crate::rl::export::A;
use crate::rl::net::{concat, rows};
use crate::rl::TrainConfig;

/// Critics fitted to the policy whose normalised actions on every list's
/// pairs are `target[list][pair]`.
pub fn fit(lists: &[LoggedList], target: &[Vec<[f32; A]>], state_width: usize, cfg: &TrainConfig, rng: &mut StdRng) -> CriticEnsemble {
    let widths = [vec![state_width + A], cfg.critic_hidden.clone(), vec![1]].concat();
    let mut critics = CriticEnsemble::new(&widths, state_width, cfg, rng);
    for _ in 0..cfg.updates_per_round {
        let batch = Batch::draw(lists, cfg.batch, cfg.critic_unshown, None, rng);
        let next = NextBatch::draw(lists, &batch, cfg.critic_unshown, None, rng);
        let at = (!next.owner.is_empty()).then(|| Array2::from_shape_fn((next.origin.len(), A), |(r, d)| target[next.origin[r].0][next.origin[r].1][d]));
        let targets = critics.td_target_at(lists, &batch, &next, at.as_ref().map(|a| (a, next.weight.as_slice())), cfg);
        critics.fit(&concat(&batch.states, &batch.actions), &batch, &targets);
        critics.soft_update(cfg.tau);
    }
    critics
}

/// Each list's value `Σ_j Q(s_j, a_j)` over all its pairs, under the
/// actions `actions(list, pair)`.
pub fn list_values(critics: &CriticEnsemble, lists: &[LoggedList], actions: impl Fn(usize, usize) -> [f32; A]) -> Vec<f64> {
    let mut out = Vec::with_capacity(lists.len());
    // In chunks of lists, to keep the matrices small.
    for (c, chunk) in lists.chunks(256).enumerate() {
        let (mut st, mut ac, mut owner) = (Vec::new(), Vec::new(), Vec::new());
        for (o, l) in chunk.iter().enumerate() {
            for (p, s) in l.states.iter().enumerate() {
                st.push(s);
                ac.push(actions(c * 256 + o, p).to_vec());
                owner.push(o);
            }
        }
        let ac_refs: Vec<&Vec<f32>> = ac.iter().collect();
        out.extend(critics.list_values(&concat(&rows(&st), &rows(&ac_refs)), &owner, chunk.len()));
    }
    out
}
