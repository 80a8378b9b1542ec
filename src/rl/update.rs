//! One gradient update of the critics and the actor on a minibatch of
//! logged lists: the step shared by the simulator's progressive rounds and
//! training from session logs.

use rand::rngs::StdRng;

use crate::fusion::ActionSpace;
use crate::rl::actor::{ActorLearner, ActorStep};
use crate::rl::batch::{Batch, LoggedList, NextBatch, TargetMargin};
use crate::rl::critic::CriticEnsemble;
use crate::rl::export::A;
use crate::rl::margin::margin_feature;
use crate::rl::net::{concat, rows, with_column};
use crate::rl::TrainConfig;
use crate::schema::PolicyKind;

/// What an update needs besides the data and the networks.
pub struct Learner<'a> {
    pub cfg: &'a TrainConfig,
    pub kind: PolicyKind,
    pub space: &'a ActionSpace,
    /// Margin critic: the tanh's scale.
    pub margin: Option<f32>,
}

impl Learner<'_> {
    /// One gradient update: a batch of lists, their TD targets, a critic
    /// step and (after the warm-up) an actor step. Returns the pairs used and
    /// the critic loss, actor objective and box penalty of an actor step.
    pub fn update(&self, lists: &[LoggedList], actor: &mut ActorLearner, critics: &mut CriticEnsemble, warmup: bool, rng: &mut StdRng) -> (usize, Option<(f32, f32, f32)>) {
        let cfg = self.cfg;
        let batch = Batch::draw(lists, cfg.batch, cfg.critic_unshown, self.margin, rng);
        let target_margin = self.margin.map(|scale| TargetMargin { actor_t: &actor.target, space: self.space, scale });
        let next = NextBatch::draw(lists, &batch, cfg.critic_unshown, target_margin.as_ref(), rng);
        let targets = critics.td_target(lists, &batch, &next, &actor.target, cfg);
        let critic_loss = critics.fit(&with_column(concat(&batch.states, &batch.actions), &batch.margins), &batch, &targets);
        if warmup {
            critics.soft_update(cfg.tau);
            return (batch.pairs(), None);
        }
        let how = ActorStep { cfg, list_centred: cfg.list_centred_actor && self.kind == PolicyKind::Enhanced, margin: self.margin.map(|s| (self.space, s)) };
        let (objective, penalty) = actor.step(critics, &batch, &how);
        critics.soft_update(cfg.tau);
        (batch.pairs(), Some((critic_loss, objective, penalty)))
    }

    /// The critics' mean action gradient at the baseline action over a
    /// round's shown pairs, to set beside `mtfuse probe`'s finite differences.
    pub fn dq_da_at(&self, critics: &CriticEnsemble, lists: &[LoggedList], baseline: &[f32]) -> Vec<f32> {
        let st: Vec<&Vec<f32>> = lists.iter().take(2000).flat_map(|x| x.shown.iter().map(|&p| &x.states[p])).collect();
        let mg: Vec<f32> = match self.margin {
            Some(scale) => lists.iter().take(2000).flat_map(|x| x.shown.iter().map(move |&p| margin_feature(x.margins[p], scale))).collect(),
            None => vec![],
        };
        let at_baseline = ndarray::Array2::from_shape_fn((st.len(), A), |(_, k)| baseline[k]);
        critics.mean_action_grad(&with_column(concat(&rows(&st), &at_baseline), &mg), self.cfg)
    }
}
