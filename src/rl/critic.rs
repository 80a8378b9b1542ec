//! The critics: two groups (A: long view and watch time; B: interactions),
//! each an ensemble of Q-networks over `[state, action (, margin)]` with a
//! per-pair output, trained at the level of the shown list (the paper's
//! list-level TD):
//! `Σ_j Q(s_tj, a_tj) ← Σ_j r_tj + γ(1 − done) Σ_j' φ(μ'(s')) Q'(s', μ'(s'))`.

use ndarray::{s, Array2};
use rand::rngs::StdRng;
use rayon::prelude::*;

use crate::rl::batch::{Batch, LoggedList, NextBatch};
use crate::rl::explore::phi;
use crate::rl::export::A;
use crate::rl::net::{concat, with_column, Adam, Head, Mlp};
use crate::rl::TrainConfig;

/// Critic groups: A (long view, watch time) and B (interactions).
pub const GROUPS: usize = 2;

pub struct CriticEnsemble {
    /// `nets[g][m]`: member m of group g; `targets` are their soft copies.
    nets: Vec<Vec<Mlp>>,
    targets: Vec<Vec<Mlp>>,
    opts: Vec<Vec<Adam>>,
    /// Where the action columns start in a critic's input.
    action_at: usize,
}

impl CriticEnsemble {
    /// `GROUPS × ensemble` networks of `widths`, drawn from `rng` in order.
    pub fn new(widths: &[usize], action_at: usize, cfg: &TrainConfig, rng: &mut StdRng) -> CriticEnsemble {
        let nets: Vec<Vec<Mlp>> = (0..GROUPS).map(|_| (0..cfg.ensemble).map(|_| Mlp::new(widths, Head::Linear, rng)).collect()).collect();
        let opts = nets.iter().map(|g| g.iter().map(|c| Adam::new(c, cfg.critic_lr, cfg.clip)).collect()).collect();
        CriticEnsemble { targets: nets.clone(), nets, opts, action_at }
    }

    /// The TD target of every list of `batch`, per group and member
    /// (`[g][m][list]`): its reward plus the discounted, φ-weighted sum of
    /// the target critics over the next list's pairs under the target actor.
    pub fn td_target(&self, lists: &[LoggedList], batch: &Batch, next: &NextBatch, actor_t: &Mlp, cfg: &TrainConfig) -> Vec<Vec<Vec<f32>>> {
        // With no list of the batch continuing, there is nothing to bootstrap from.
        if next.owner.is_empty() {
            return self.td_target_at(lists, batch, next, None, cfg);
        }
        let a_next = actor_t.predict(&next.states);
        let weight: Vec<f32> = (0..a_next.nrows()).map(|r| next.weight[r] * phi(&a_next.row(r).to_vec(), &next.centres.row(r).to_vec(), cfg.explore, cfg.kappa)).collect();
        self.td_target_at(lists, batch, next, Some((&a_next, &weight)), cfg)
    }

    /// The TD target with the next pairs' actions and weights given: the
    /// trainer's come from its target actor, fitted-Q evaluation's from the
    /// policy it evaluates.
    pub fn td_target_at(&self, lists: &[LoggedList], batch: &Batch, next: &NextBatch, at: Option<(&Array2<f32>, &[f32])>, cfg: &TrainConfig) -> Vec<Vec<Vec<f32>>> {
        let b = batch.lists.len();
        let mut next_value = vec![vec![vec![0.0f32; b]; cfg.ensemble]; GROUPS];
        if let Some((a_next, weight)) = at {
            let x_next = with_column(concat(&next.states, a_next), &next.margins);
            // Members are independent: each on its own core, each summing in row order.
            let members: Vec<(&mut Vec<f32>, &Mlp)> = next_value.iter_mut().zip(&self.targets).flat_map(|(group, targets)| group.iter_mut().zip(targets)).collect();
            members.into_par_iter().for_each(|(value, q_net)| {
                let q = q_net.predict(&x_next);
                for (r, &bi) in next.owner.iter().enumerate() {
                    value[bi] += weight[r] * q[[r, 0]];
                }
            });
        }
        for (g, group) in next_value.iter_mut().enumerate() {
            for member in group.iter_mut() {
                for (v, &i) in member.iter_mut().zip(&batch.lists) {
                    let list = &lists[i];
                    *v = list.rewards[g] + if list.next.is_none() { 0.0 } else { cfg.gamma * *v };
                }
            }
        }
        next_value
    }

    /// Each owner's `Σ_rows Q(x_row)`, summed over groups and averaged over
    /// members (online critics): a list's value under the actions in `x`.
    pub fn list_values(&self, x: &Array2<f32>, owner: &[usize], owners: usize) -> Vec<f64> {
        let mut out = vec![0.0f64; owners];
        for group in &self.nets {
            let qs: Vec<Array2<f32>> = group.par_iter().map(|c| c.predict(x)).collect();
            for q in qs {
                for (r, &o) in owner.iter().enumerate() {
                    out[o] += q[[r, 0]] as f64 / group.len() as f64;
                }
            }
        }
        out
    }

    /// One Adam step of every critic towards `targets` on the batch's logged
    /// pairs `x`; returns the summed `critic_loss` (mean squared TD error per list).
    pub fn fit(&mut self, x: &Array2<f32>, batch: &Batch, targets: &[Vec<Vec<f32>>]) -> f32 {
        let b = batch.lists.len();
        let members: Vec<((&mut Mlp, &mut Adam), &Vec<f32>)> = self.nets.iter_mut().zip(&mut self.opts).zip(targets).flat_map(|((group, opts), group_targets)| group.iter_mut().zip(opts).zip(group_targets)).collect();
        let losses: Vec<f32> = members
            .into_par_iter()
            .map(|((net, opt), target)| {
                let tape = net.forward(x);
                let q = Mlp::out(&tape);
                let mut pred = vec![0.0f32; b];
                for (r, &bi) in batch.owner.iter().enumerate() {
                    pred[bi] += batch.weight[r] * q[[r, 0]];
                }
                let err: Vec<f32> = pred.iter().zip(target).map(|(p, t)| p - t).collect();
                let grad = Array2::from_shape_fn((batch.pairs(), 1), |(r, _)| 2.0 * batch.weight[r] * err[batch.owner[r]] / b as f32);
                let (grads, _) = net.backward(&tape, &grad);
                opt.step(net, &grads);
                err.iter().map(|e| e * e).sum::<f32>() / b as f32
            })
            .collect();
        // Summed in member order, so the loss does not depend on the thread count.
        losses.iter().fold(0.0f32, |sum, l| sum + l)
    }

    /// The gradient of the actor's objective term `Σ_g w_g (mean_m Q − λ std_m Q)`
    /// (per pair, averaged over pairs) in each pair's action, to be minimised
    /// as its negative, with the objective's value. `dmargin[r]` is d margin
    /// feature / d action of pair r when the critics see margins.
    pub fn action_grad(&self, x: &Array2<f32>, dmargin: &[[f32; A]], cfg: &TrainConfig) -> (Array2<f32>, f32) {
        let p = x.nrows();
        let at = self.action_at;
        let mut grad_a = Array2::<f32>::zeros((p, A));
        let mut objective = 0.0f32;
        let mm = cfg.ensemble as f32;
        for g in 0..GROUPS {
            let tapes: Vec<_> = self.nets[g].par_iter().map(|c| c.forward(x)).collect();
            let qs: Vec<Array2<f32>> = tapes.iter().map(|t| Mlp::out(t).clone()).collect();
            let moments = |r: usize| {
                let mean = qs.iter().map(|q| q[[r, 0]]).sum::<f32>() / mm;
                let std = (qs.iter().map(|q| (q[[r, 0]] - mean).powi(2)).sum::<f32>() / mm).sqrt();
                (mean, std)
            };
            for r in 0..p {
                let (mean, std) = moments(r);
                objective += cfg.group_weights[g] * (mean - cfg.lambda * std) / p as f32;
            }
            // Each member's input gradient on its own core; summed below in member order.
            let gxs: Vec<Array2<f32>> = (0..cfg.ensemble)
                .into_par_iter()
                .map(|m| {
                    let dq = Array2::from_shape_fn((p, 1), |(r, _)| {
                        let (mean, std) = moments(r);
                        let dstd = if std > 1e-6 { (qs[m][[r, 0]] - mean) / (mm * std) } else { 0.0 };
                        -cfg.group_weights[g] * (1.0 / mm - cfg.lambda * dstd) / p as f32
                    });
                    self.nets[g][m].backward(&tapes[m], &dq).1
                })
                .collect();
            for gx in gxs {
                grad_a += &gx.slice(s![.., at..at + A]);
                for (r, d) in dmargin.iter().enumerate() {
                    let dq_dmargin = gx[[r, at + A]];
                    for k in 0..A {
                        grad_a[[r, k]] += dq_dmargin * d[k];
                    }
                }
            }
        }
        (grad_a, objective)
    }

    /// `Q' ← τ Q + (1 − τ) Q'` for every member.
    pub fn soft_update(&mut self, tau: f32) {
        for (group, targets) in self.nets.iter().zip(&mut self.targets) {
            for (c, ct) in group.iter().zip(targets) {
                ct.soft_update(c, tau);
            }
        }
    }

    /// The group-weighted mean of dQ/da over the rows of `x`, per action
    /// dimension: a diagnostic to set beside `mtfuse probe`.
    pub fn mean_action_grad(&self, x: &Array2<f32>, cfg: &TrainConfig) -> Vec<f32> {
        let mut dq = vec![0f32; A];
        for (g, group) in self.nets.iter().enumerate() {
            let weight = Array2::from_elem((x.nrows(), 1), cfg.group_weights[g] / (x.nrows() * cfg.ensemble) as f32);
            for critic in group {
                let (_, gx) = critic.backward(&critic.forward(x), &weight);
                for (k, d) in dq.iter_mut().enumerate() {
                    *d += gx.column(self.action_at + k).sum();
                }
            }
        }
        dq
    }
}
