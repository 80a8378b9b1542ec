//! The actor μ(s) and its update. The paper's actor loss maximises
//! `Σ_g w_g (mean_m Q_gm − λ std_m Q_gm) − η d(μ(s))`, where `d` is 0 inside
//! the exploration box around the behaviour action and grows exponentially
//! outside it, so the policy stays where the logged data can judge it.

use ndarray::Array2;
use rand::rngs::StdRng;

use crate::fusion::ActionSpace;
use crate::rl::batch::Batch;
use crate::rl::critic::CriticEnsemble;
use crate::rl::explore::excess;
use crate::rl::export::A;
use crate::rl::margin::margin_feature_with_grad;
use crate::rl::net::{concat, with_column, Adam, Head, Mlp};
use crate::rl::TrainConfig;

/// The actor, its soft target copy μ', and its optimiser.
pub struct ActorLearner {
    pub net: Mlp,
    pub target: Mlp,
    opt: Adam,
}

/// What the actor step needs besides the batch and critics.
pub struct ActorStep<'a> {
    pub cfg: &'a TrainConfig,
    /// Subtract each list's mean gradient (EnhancedRL's list-centred actor).
    pub list_centred: bool,
    /// Margin critic: the action space and the margin feature's scale.
    pub margin: Option<(&'a ActionSpace, f32)>,
}

impl ActorLearner {
    /// A new actor over `inputs` whose output starts at `baseline` for every
    /// state: its last layer's bias is `atanh(baseline)`.
    pub fn new(inputs: usize, baseline: &[f32], cfg: &TrainConfig, rng: &mut StdRng) -> ActorLearner {
        let mut net = Mlp::new(&[vec![inputs], cfg.actor_hidden.clone(), vec![A]].concat(), Head::Tanh, rng);
        for (b, a) in net.b.last_mut().expect("actor has layers").iter_mut().zip(baseline) {
            *b = a.clamp(-0.995, 0.995).atanh();
        }
        let opt = Adam::new(&net, cfg.actor_lr, cfg.clip);
        ActorLearner { target: net.clone(), net, opt }
    }

    /// One Adam step on the actor loss over the batch's pairs, then the soft
    /// update of μ'. Returns the critics' objective and the box penalty.
    pub fn step(&mut self, critics: &CriticEnsemble, batch: &Batch, how: &ActorStep) -> (f32, f32) {
        let cfg = how.cfg;
        let tape = self.net.forward(&batch.states);
        let a_new = Mlp::out(&tape).clone();
        // Margin critic: each pair's margin at its new action, the others held
        // at their logged ones, and d margin / d action.
        let (mut margins, mut dmargin) = (Vec::new(), Vec::new());
        if let Some((space, scale)) = how.margin {
            for r in 0..batch.pairs() {
                let (f, d) = margin_feature_with_grad(space, batch.scores[r], &a_new.row(r).to_vec(), batch.cuts[r], scale);
                margins.push(f);
                dmargin.push(d);
            }
        }
        let x = with_column(concat(&batch.states, &a_new), &margins);
        let (mut grad_a, objective) = critics.action_grad(&x, &dmargin, cfg);
        if how.list_centred {
            centre_per_list(&mut grad_a, &batch.owner, &batch.weight, batch.lists.len());
        }
        let penalty = box_penalty(&a_new, &batch.centres, cfg, &mut grad_a);
        let (grads, _) = self.net.backward(&tape, &grad_a);
        self.opt.step(&mut self.net, &grads);
        self.target.soft_update(&self.net, cfg.tau);
        (objective, penalty)
    }
}

/// `η d(a)`, averaged over pairs: `Σ_k (exp(κ·excess) − 1)` outside the box
/// around each pair's centre. Adds its gradient to `grad` and returns it.
fn box_penalty(actions: &Array2<f32>, centres: &Array2<f32>, cfg: &TrainConfig, grad: &mut Array2<f32>) -> f32 {
    let p = actions.nrows();
    let mut penalty = 0.0f32;
    for r in 0..p {
        for k in 0..A {
            let d = actions[[r, k]] - centres[[r, k]];
            let e = excess(actions[[r, k]], centres[[r, k]], cfg.explore);
            if e > 0.0 {
                penalty += cfg.eta * ((cfg.kappa * e).exp() - 1.0) / p as f32;
                grad[[r, k]] += cfg.eta * cfg.kappa * (cfg.kappa * e).exp() * d.signum() / p as f32;
            }
        }
    }
    penalty
}

/// Subtracts from each row of `grad` the `weight`ed mean of the rows with
/// the same `owner` (list). A common shift of a list's fused scores leaves
/// its order unchanged, so only how its items differ should drive the actor;
/// the common part would push every item to the same edge of the box.
pub fn centre_per_list(grad: &mut Array2<f32>, owner: &[usize], weight: &[f32], lists: usize) {
    let mut mean = Array2::<f32>::zeros((lists, grad.ncols()));
    let mut count = vec![0f32; lists];
    for (r, &l) in owner.iter().enumerate() {
        mean.row_mut(l).scaled_add(weight[r], &grad.row(r));
        count[l] += weight[r];
    }
    for (r, &l) in owner.iter().enumerate() {
        grad.row_mut(r).scaled_add(-1.0 / count[l], &mean.row(l));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::s;

    #[test]
    fn centring_zeroes_each_lists_mean_and_keeps_differences() {
        let mut g = Array2::from_shape_fn((5, 3), |(r, k)| (r * 3 + k) as f32 * 0.5 - 1.0);
        let before = g.clone();
        let owner = [0, 0, 1, 1, 1];
        centre_per_list(&mut g, &owner, &[1.0; 5], 2);
        for list in [0..2, 2..5] {
            for k in 0..3 {
                assert!(g.slice(s![list.clone(), k]).sum().abs() < 1e-5);
            }
        }
        for (r, q) in [(0, 1), (2, 4), (3, 4)] {
            for k in 0..3 {
                assert!(((g[[r, k]] - g[[q, k]]) - (before[[r, k]] - before[[q, k]])).abs() < 1e-5);
            }
        }
        // A single-pair list has nothing to reorder against.
        let mut one = Array2::from_elem((1, 3), 2.0f32);
        centre_per_list(&mut one, &[0], &[3.0], 1);
        assert!(one.iter().all(|&x| x == 0.0));
    }

    /// Inside the box the penalty and its gradient are zero; outside, the
    /// gradient pushes back towards the centre.
    #[test]
    fn the_box_penalty_pulls_actions_back_into_the_box() {
        let cfg = TrainConfig::default();
        let centres = Array2::<f32>::zeros((2, A));
        let mut actions = Array2::<f32>::from_elem((2, A), 0.1);
        actions[[1, 4]] = 0.5;
        actions[[1, 5]] = -0.5;
        let mut grad = Array2::<f32>::zeros((2, A));
        let penalty = box_penalty(&actions, &centres, &cfg, &mut grad);
        let e = 0.5 - cfg.explore;
        assert!((penalty - 2.0 * cfg.eta * ((cfg.kappa * e).exp() - 1.0) / 2.0).abs() < 1e-5, "{penalty}");
        assert!(grad.row(0).iter().all(|&g| g == 0.0));
        assert!(grad[[1, 4]] > 0.0 && grad[[1, 5]] < 0.0, "{:?}", grad.row(1));
    }
}
