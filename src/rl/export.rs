//! Policies as weight blobs: the action ranges, the schema a blob carries, and the round trip from trained weights to a
//! `Ranker`, so training evaluates exactly what serving would run.

use crate::blob::{Blob, BlobMeta, PolicyWeights, DEFAULT_OBJECTIVES};
use crate::ranker::Ranker;
use crate::rl::net::Mlp;
use crate::rl::{TrainConfig, TrainError};
use crate::schema::{request_stat_name, Feature, FeatureGroup, PolicyKind};
use crate::sim::Simulator;

/// Objectives k.
pub const K: usize = 7;
/// Action width 2k: powers, then biases.
pub const A: usize = 2 * K;

/// Real action ranges: powers in [0, 2] (hate in [−2, 0]), biases in [0.001, 1].
pub fn action_ranges() -> (Vec<f32>, Vec<f32>) {
    let mut lo = vec![0.0; K];
    let mut hi = vec![2.0; K];
    (lo[K - 1], hi[K - 1]) = (-2.0, 0.0);
    lo.extend([1e-3; K]);
    hi.extend([1.0; K]);
    (lo, hi)
}

/// One line of the metrics log (JSON lines).
pub type Metrics = Vec<serde_json::Value>;

/// The simulator's user, context and item features, in blob order.
pub fn sim_features(sim: &Simulator) -> Vec<Feature> {
    [FeatureGroup::User, FeatureGroup::Context, FeatureGroup::Item].iter().flat_map(|g| sim.group(*g).cloned()).collect()
}

/// Feature list of a blob: the user, context and item features `base`, then
/// the kind's score or request statistics.
pub fn blob_features(base: &[Feature], kind: PolicyKind, score_stats: &[(f32, f32)]) -> Vec<Feature> {
    let mut f = base.to_vec();
    match kind {
        PolicyKind::Enhanced => f.extend(DEFAULT_OBJECTIVES.iter().zip(score_stats).map(|(o, (m, s))| Feature { name: o.to_string(), group: FeatureGroup::Score, mean: *m, std: *s })),
        PolicyKind::UserLevel => {
            for (stat, range) in [("mean", 0..K), ("std", K..2 * K)] {
                f.extend(DEFAULT_OBJECTIVES.iter().zip(&score_stats[range]).map(|(o, (m, s))| Feature { name: request_stat_name(stat, o), group: FeatureGroup::Request, mean: *m, std: *s }));
            }
        }
        PolicyKind::Static => {}
    }
    f
}

/// Everything a trained policy's blob records besides its weights.
pub struct BlobSpec<'a> {
    /// User, context and item features with their normalisation.
    pub features: Vec<Feature>,
    pub kind: PolicyKind,
    /// Normalisation of the score (enhanced) or request-statistic (user-level) inputs.
    pub stats: Vec<(f32, f32)>,
    pub hidden: Vec<usize>,
    pub baseline: Vec<f32>,
    pub cfg: &'a TrainConfig,
}

impl BlobSpec<'_> {
    pub fn meta(&self, summary: serde_json::Value) -> BlobMeta {
        let (action_low, action_high) = action_ranges();
        BlobMeta {
            kind: self.kind,
            objectives: DEFAULT_OBJECTIVES.iter().map(|s| s.to_string()).collect(),
            features: blob_features(&self.features, self.kind, &self.stats),
            action_low,
            action_high,
            baseline_action: self.baseline.clone(),
            hidden: self.hidden.clone(),
            config: serde_json::to_value(self.cfg).expect("config serialises").into(),
            summary: summary.into(),
        }
    }

    /// The blob of `weights` and the ranker that loads it.
    pub fn export(&self, weights: PolicyWeights, summary: serde_json::Value) -> Result<(Ranker, Vec<u8>), TrainError> {
        let bytes = Blob::to_bytes(&self.meta(summary), &weights)?;
        Ok((Ranker::from_bytes(&bytes)?, bytes))
    }

    /// An actor as a ranker; its first `shared` inputs are the per-request part.
    pub fn actor(&self, actor: &Mlp, shared: usize, summary: serde_json::Value) -> Result<(Ranker, Vec<u8>), TrainError> {
        self.export(PolicyWeights::Actor(actor.to_actor(shared)), summary)
    }
}

/// A static policy as a ranker (its normalised action, shared by all).
pub fn static_ranker(sim: &Simulator, action: &[f32], cfg: &TrainConfig, summary: serde_json::Value) -> Result<Ranker, TrainError> {
    let spec = BlobSpec { features: sim_features(sim), kind: PolicyKind::Static, stats: vec![], hidden: vec![], baseline: action.to_vec(), cfg };
    Ok(spec.export(PolicyWeights::Static(action.to_vec()), summary)?.0)
}
