//! Session parameters and reward weights: what a simulated session is, apart
//! from the fitted users and items.

use serde::{Deserialize, Serialize};

/// Reward weights `w_i` for `r_tj = Σ_i w_i v_tij`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RewardWeights {
    /// One weight per signal: click, long_view, like, follow, comment, forward, hate.
    pub signals: [f32; 7],
    /// Weight per second of play time.
    pub play_s: f32,
}

impl Default for RewardWeights {
    fn default() -> Self {
        RewardWeights { signals: [0.0, 1.0, 2.0, 4.0, 2.0, 3.0, -5.0], play_s: 0.01 }
    }
}

/// Session parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SimConfig {
    /// Candidates drawn per request.
    pub candidates: usize,
    /// Items shown per request.
    pub shown: usize,
    /// Requests after which the session ends regardless of temper.
    pub max_requests: usize,
    /// Temper of the least active user; the most active get `temper_base + temper_span`.
    pub temper_base: f32,
    pub temper_span: f32,
    /// Temper lost by every request.
    pub request_cost: f32,
    /// Extra temper lost when a list's reward is below `threshold`.
    pub disappoint_cost: f32,
    /// List reward below which a list disappoints.
    pub threshold: f32,
    /// Discount γ of the session return.
    pub gamma: f32,
    pub reward: RewardWeights,
    /// The user looks at the item at list position `p` (0-based) with
    /// probability `attention^p`, as a feed is read top down; an item not
    /// looked at draws no response. 1 means every shown item is seen.
    #[serde(default = "full_attention")]
    pub attention: f32,
}

fn full_attention() -> f32 {
    1.0
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            candidates: 50,
            shown: 6,
            max_requests: 20,
            temper_base: 3.0,
            temper_span: 6.0,
            request_cost: 1.0,
            disappoint_cost: 2.0,
            threshold: 1.0,
            gamma: 0.9,
            reward: RewardWeights::default(),
            attention: 0.8,
        }
    }
}
