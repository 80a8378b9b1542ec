//! Offline actor-critic training of the fusion policies (native only).
//!
//! Each part of the paper's algorithm has its own file:
//! - `static_search`: the static baseline, a cross-entropy search, and
//!   `recalibrated`, the same search on supervised re-predictions of the
//!   scores (the non-RL baseline);
//! - `progressive`: UnifiedRL and EnhancedRL, the progressive rounds of
//!   collect-then-train that read top to bottom, and `update`, one step of
//!   critics and actor on a minibatch;
//! - `state`: the enhanced state (per pair) and UnifiedRL's request state;
//! - `explore`: the exploration box that collects data, and φ;
//! - `batch`: the logged lists and the minibatches drawn from them;
//! - `critic`: the two critic groups and the list-level TD target;
//! - `actor`: the actor loss with the out-of-box penalty;
//! - `margin` and `gate`: this project's additions (the margin critic and
//!   the rollout gate), documented in `models/README.md`;
//! - `net`: the small MLP with hand-written gradients, and Adam;
//! - `offline`: training from session logs, with no simulator, and
//!   `static_from_log`, the static search scored by importance sampling;
//! - `export`: trained weights as blobs; `plot`: learning curves.

pub mod actor;
pub mod batch;
pub mod config;
pub mod critic;
mod error;
pub mod explore;
pub mod export;
pub mod gate;
pub mod margin;
pub mod net;
pub mod offline;
pub mod plot;
pub mod progressive;
pub mod recalibrated;
pub mod state;
pub mod static_from_log;
pub mod static_search;
pub mod update;

pub use config::TrainConfig;
pub use error::TrainError;
pub use export::{static_ranker, Metrics};
pub use offline::{train_from_log, train_from_log_files};
pub use progressive::{train_rl, Trained};
pub use static_from_log::train_static_from_log_files;
pub use static_search::train_static;

/// What the unit tests of the training code share: the committed simulator
/// and a config small enough to train in a moment.
#[cfg(test)]
pub(crate) mod testing {
    use super::TrainConfig;
    use crate::sim::Simulator;

    pub fn sim() -> Simulator {
        Simulator::from_bytes(include_bytes!("../../models/simulator.safetensors")).unwrap()
    }

    /// The committed simulator with the `biased` variant's MTL model: a
    /// known correction for a learner to find.
    pub fn biased_sim() -> Simulator {
        let mut sim = sim();
        sim.mtl.miscalibration = crate::sim::fit::BIASED_MTL_MISCALIBRATION;
        sim
    }

    pub fn tiny() -> TrainConfig {
        TrainConfig {
            rounds: 1,
            sessions_per_round: 40,
            updates_per_round: 30,
            critic_warmup: 10,
            batch: 8,
            actor_hidden: vec![8],
            critic_hidden: vec![8],
            ensemble: 2,
            es_iterations: 2,
            es_population: 4,
            es_elite: 2,
            es_sessions: 20,
            eval_sessions: 20,
            restarts: 1,
            ..Default::default()
        }
    }
}
