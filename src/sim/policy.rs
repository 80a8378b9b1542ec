//! The interface between a ranking policy and the simulator that drives it
//! (sessions, trainers, evaluators), and the reference policies that are not
//! weight blobs: random, sort by one score, and the feature oracle.

use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::error::RequestError;
use crate::ranker::{Columns, Ranker};
use crate::sim::model::{PlayModel, Simulator, ITEM_FEATURES, X_WIDTH};

/// What a policy decided for one request.
#[derive(Clone, Debug, Default)]
pub struct Decision {
    /// Indices of the shown items, best first.
    pub order: Vec<u32>,
    /// Normalised actions in `[-1, 1]`: one row of `2k` per candidate when
    /// `per_item`, else a single row shared by all candidates. Empty for
    /// policies with no fusion action (random, sort-by-score).
    pub actions: Vec<f32>,
    pub per_item: bool,
    /// An exploring policy's actions before its noise, one row of `2k` per
    /// candidate: the centre of the exploration box, which a session log
    /// records. Empty for policies that do not explore.
    pub base: Vec<f32>,
}

impl Decision {
    /// Normalised action used for candidate `item`, if the policy has one.
    pub fn action(&self, item: usize, width: usize) -> Option<&[f32]> {
        if self.actions.is_empty() {
            return None;
        }
        let at = if self.per_item { item * width } else { 0 };
        self.actions.get(at..at + width)
    }
}

/// Anything that can order a request's candidates.
pub trait Policy {
    /// Chooses the `top` items to show from `cols`.
    fn decide(&mut self, cols: &Columns, top: usize, out: &mut Decision) -> Result<(), RequestError>;
}

impl Policy for Ranker {
    fn decide(&mut self, cols: &Columns, top: usize, out: &mut Decision) -> Result<(), RequestError> {
        let r = self.rank_columns(cols, top)?;
        out.order.clear();
        out.order.extend_from_slice(r.order);
        out.actions.clear();
        out.actions.extend_from_slice(r.norm_actions);
        out.per_item = r.per_item;
        Ok(())
    }
}

/// Shows `l` candidates in random order: the floor any ranker must beat.
pub struct RandomPolicy {
    rng: StdRng,
}

impl RandomPolicy {
    pub fn new(seed: u64) -> RandomPolicy {
        RandomPolicy { rng: StdRng::seed_from_u64(seed) }
    }
}

impl Policy for RandomPolicy {
    fn decide(&mut self, cols: &Columns, top: usize, out: &mut Decision) -> Result<(), RequestError> {
        let n = cols.scores.len() / 7;
        out.order.clear();
        out.order.extend(rand::seq::index::sample(&mut self.rng, n, top.min(n)).into_iter().map(|i| i as u32));
        out.actions.clear();
        Ok(())
    }
}

/// Sorts by one MTL score: the simplest static ranker.
pub struct SortByScore {
    pub objective: usize,
}

impl Policy for SortByScore {
    fn decide(&mut self, cols: &Columns, top: usize, out: &mut Decision) -> Result<(), RequestError> {
        let col: Vec<f32> = cols.scores.chunks_exact(7).map(|s| s[self.objective]).collect();
        crate::fusion::top_k(&col, top, &mut out.order);
        out.actions.clear();
        Ok(())
    }
}

/// Sorts by the response model's expected reward computed from user, item
/// and context features alone (no item ids, no latent factors). It reads the
/// simulator's truth, so it is a yardstick, not a servable policy: roughly
/// how far a ranker that sees the enhanced state could go.
pub struct FeatureOracle<'a> {
    pub sim: &'a Simulator,
    /// The session's user: the truth's user bias needs the index.
    pub user: usize,
    value: Vec<f32>,
}

impl<'a> FeatureOracle<'a> {
    pub fn new(sim: &'a Simulator, user: usize) -> FeatureOracle<'a> {
        FeatureOracle { sim, user, value: Vec::new() }
    }
}

impl Policy for FeatureOracle<'_> {
    fn decide(&mut self, cols: &Columns, top: usize, out: &mut Decision) -> Result<(), RequestError> {
        let (w, play) = (&self.sim.config.reward, &self.sim.play);
        let mut x = [0.0; X_WIDTH];
        let mut m = [0.0; 7];
        self.value.clear();
        for row in cols.items.chunks_exact(ITEM_FEATURES.len()) {
            self.sim.head_input(self.user, row, cols.context, &mut x);
            let [pc, plv, _] = self.sim.truth.heads(&x, self.user, None);
            self.sim.truth.marginals(&x, self.user, None, &mut m);
            // Row 0 is ln(1 + duration in seconds).
            let lv_s = play.long_view_s[PlayModel::bucket(row[0].exp() - 1.0)];
            let play_s = pc * (plv * lv_s + (1.0 - plv) * play.click_only_s) + (1.0 - pc) * play.no_click_s;
            self.value.push(m.iter().zip(&w.signals).map(|(p, w)| p * w).sum::<f32>() + w.play_s * play_s);
        }
        crate::fusion::top_k(&self.value, top, &mut out.order);
        out.actions.clear();
        Ok(())
    }
}
