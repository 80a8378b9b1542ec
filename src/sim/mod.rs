//! A KuaiSim-style user simulator fitted on the real KuaiRand log.
//!
//! Imports run one way: `config` (session parameters) ← `model` (the fitted
//! users, items, truth and MTL model) ← `session` (session dynamics) and
//! `policy` (who ranks). They compile for wasm32 too, so the demo page can
//! run simulated A/B tests in the browser. Loading and fitting the raw log
//! (`data`, `fit`) is native-only.

pub mod config;
pub mod model;
pub mod policy;
pub mod session;

#[cfg(not(target_arch = "wasm32"))]
pub mod data;
#[cfg(not(target_arch = "wasm32"))]
pub mod fit;

pub use config::{RewardWeights, SimConfig};
pub use model::{Response, Simulator};
pub use policy::{Decision, FeatureOracle, Policy, RandomPolicy, SortByScore};
pub use session::{run_session, run_sessions, SessionStats, Transition};
