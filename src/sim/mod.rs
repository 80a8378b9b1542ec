//! A KuaiSim-style user simulator fitted on the real KuaiRand log.
//!
//! `model` (the fitted parameters) and `env` (sessions) compile for wasm32 too,
//! so the demo page can run simulated A/B tests in the browser. Loading and
//! fitting the raw log (`data`, `fit`) is native-only.

pub mod env;
pub mod model;

#[cfg(not(target_arch = "wasm32"))]
pub mod data;
#[cfg(not(target_arch = "wasm32"))]
pub mod fit;

pub use env::{run_session, SessionStats, SimConfig, Transition};
pub use model::Simulator;
