//! Every training hyper-parameter in one struct, with the paper's defaults
//! and this project's additions. Each doc comment doubles as the config
//! file's documentation.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::rl::TrainError;

/// Every hyper-parameter, with the paper's defaults. Read from and written
/// to TOML or JSON; recorded in each exported blob.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Seed for data collection, initialisation and batches.
    pub seed: u64,
    /// Progressive rounds R: each collects with the last policy, then trains.
    pub rounds: usize,
    /// Sessions collected per round.
    pub sessions_per_round: usize,
    /// Gradient updates per round.
    pub updates_per_round: usize,
    /// Transitions per batch.
    pub batch: usize,
    /// Actor hidden widths.
    pub actor_hidden: Vec<usize>,
    /// Critic hidden widths.
    pub critic_hidden: Vec<usize>,
    /// Q-networks per critic group (m).
    pub ensemble: usize,
    /// Discount γ.
    pub gamma: f32,
    /// Soft target update rate τ.
    pub tau: f32,
    /// Adam learning rate of the actor.
    pub actor_lr: f32,
    /// Adam learning rate of every critic.
    pub critic_lr: f32,
    /// Global gradient-norm clip.
    pub clip: f32,
    /// Penalty λ on the ensemble's standard deviation in the actor objective.
    pub lambda: f32,
    /// Weight η of the out-of-box penalty d(a).
    pub eta: f32,
    /// Decay κ of φ and growth rate of d outside the box.
    pub kappa: f32,
    /// Half-width of the exploration box: ε ~ U(−explore, explore) per dimension.
    pub explore: f32,
    /// EnhancedRL only: draw ε per item instead of once per request. With one
    /// ε per request, an item's action differs from its neighbours' only by
    /// the policy's own state-dependence, so per-item effects are confounded.
    pub explore_per_item: bool,
    /// EnhancedRL only: subtract each list's mean from its pairs' critic
    /// action gradients. A common shift of every item's fused score leaves
    /// the ranking unchanged, so only the part of the gradient that differs
    /// between items of one list can reorder it; the common part would push
    /// every item to the same edge of the box.
    pub list_centred_actor: bool,
    /// EnhancedRL only: unshown candidates per list drawn into each batch
    /// beside the shown pairs, weighted to stand for all of them in the
    /// list's sum of Q. Given that an item is shown, its own action changes
    /// only its place in the list; whether it is shown at all is what the
    /// unshown pairs let the critics see. 0 trains on shown pairs only.
    pub critic_unshown: usize,
    /// EnhancedRL only: the critics also see each pair's margin to the list's
    /// cut-off (its fused score against the best score that would take its
    /// place, through a tanh), and the actor's gradient flows through the
    /// fusion formula into that margin. A per-pair critic cannot otherwise
    /// know whether an action shows its item, which depends on the others.
    pub critic_margin: bool,
    /// Independent trainings, each from its own initialisation and batch
    /// stream (the data seeds are shared), among whose rounds the rollout
    /// gate chooses. Which stream a run gets decides more than its data does.
    pub restarts: usize,
    /// Fractions in (0, 1) of the way from the baseline to each round's
    /// policy that the rollout gate also evaluates (the full round and the
    /// baseline are always candidates). Empty: the round as trained only.
    pub gate_shrink: Vec<f32>,
    /// The rollout gate: ship the best round that beats the baseline by more
    /// than the paired 95% CI, else the baseline. `false` ships the last
    /// round of the last restart as trained, to compare with trainers that
    /// have no gate, such as `train --log`.
    pub gate: bool,
    /// Weights w_g of critic group A (long view, watch time) and B (interactions).
    pub group_weights: [f32; 2],
    /// Cross-entropy search for the static policy: iterations.
    pub es_iterations: usize,
    /// Candidates drawn per iteration.
    pub es_population: usize,
    /// Best candidates the next iteration's distribution is fitted to.
    pub es_elite: usize,
    /// Simulated sessions per candidate.
    pub es_sessions: usize,
    /// Critic-only updates at the start of the first round, so the actor
    /// follows a critic that has seen data rather than its initialisation.
    pub critic_warmup: usize,
    /// Sessions for the per-round evaluation of the learned policy.
    pub eval_sessions: usize,
    /// `train --log`: the most sessions held in memory, drawn uniformly from
    /// the log by reservoir sampling, so memory stays bounded whatever the
    /// log's size.
    pub log_sessions: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            seed: 1,
            rounds: 3,
            sessions_per_round: 3000,
            updates_per_round: 1500,
            batch: 64,
            actor_hidden: vec![128, 64],
            critic_hidden: vec![64, 32],
            ensemble: 10,
            gamma: 0.9,
            tau: 0.005,
            actor_lr: 3e-4,
            critic_lr: 1e-3,
            clip: 10.0,
            lambda: 0.5,
            eta: 1.0,
            kappa: 5.0,
            explore: 0.15,
            explore_per_item: false,
            list_centred_actor: true,
            critic_unshown: 6,
            critic_margin: true,
            gate_shrink: vec![],
            gate: true,
            restarts: 3,
            group_weights: [1.0, 1.0],
            es_iterations: 10,
            es_population: 16,
            es_elite: 4,
            es_sessions: 1000,
            critic_warmup: 500,
            eval_sessions: 1000,
            log_sessions: 10_000,
        }
    }
}

impl TrainConfig {
    /// Reads TOML (`.toml`) or JSON (anything else).
    pub fn from_file(path: &Path) -> Result<TrainConfig, TrainError> {
        let path_buf = || PathBuf::from(path);
        let text = std::fs::read_to_string(path).map_err(|source| TrainError::ReadConfig { path: path_buf(), source })?;
        let parsed = if path.extension().is_some_and(|e| e == "toml") {
            toml::from_str(&text).map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
        } else {
            serde_json::from_str(&text).map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
        };
        parsed.map_err(|source| TrainError::ParseConfig { path: path_buf(), source })
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("config serialises")
    }

    /// Refuses, before any work, a config the trainer cannot run.
    pub fn validate(&self) -> Result<(), TrainError> {
        let invalid = |field, problem: String| Err(TrainError::InvalidConfig { field, problem });
        if self.rounds == 0 {
            return invalid("rounds", "no training rounds: set rounds ≥ 1".into());
        }
        if self.log_sessions == 0 {
            return invalid("log_sessions", "no sessions to keep from a log: set log_sessions ≥ 1".into());
        }
        if self.restarts == 0 {
            return invalid("restarts", "no restarts: set restarts ≥ 1".into());
        }
        if let Some(a) = self.gate_shrink.iter().find(|&&a| !(a > 0.0 && a < 1.0)) {
            return invalid("gate_shrink", format!("gate_shrink: {a} is not a fraction in (0, 1)"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_config_is_the_default() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/train.toml");
        assert_eq!(TrainConfig::from_file(&path).unwrap(), TrainConfig::default());
        let back: TrainConfig = toml::from_str(&TrainConfig::default().to_toml()).unwrap();
        assert_eq!(back, TrainConfig::default());
        let err = toml::from_str::<TrainConfig>("rounds = 2\nlearning_rate = 1.0\n").unwrap_err().to_string();
        assert!(err.contains("unknown field `learning_rate`"), "{err}");
        // From a file, the chain names the file, then the field.
        let dir = std::env::temp_dir().join(format!("mtfuse-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bad = dir.join("bad.toml");
        std::fs::write(&bad, "rounds = 2\nlearning_rate = 1.0\n").unwrap();
        let err = TrainConfig::from_file(&bad).unwrap_err();
        assert!(err.to_string().contains("bad.toml"), "{err}");
        let cause = std::error::Error::source(&err).expect("a cause").to_string();
        assert!(cause.contains("unknown field `learning_rate`"), "{cause}");
        let missing = TrainConfig::from_file(&dir.join("missing.toml")).unwrap_err();
        assert!(matches!(missing, TrainError::ReadConfig { .. }), "{missing}");
    }
}
