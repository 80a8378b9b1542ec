//! mtfuse ranks recommendation candidates with per-item fusion weights learned
//! by Enhanced-State RL (Liu et al., 2024, arXiv 2409.11678).
//!
//! Use it when a multi-task model already predicts several scores per item
//! (click, long view, like, …) and you need one order. A policy maps each
//! (user, context, item, scores) tuple to powers and biases, and the list is
//! sorted by `Σ_k p_k · ln(s_k + b_k)`.
//!
//! The inference core (`blob`, `nn`, `simd`, `fusion`, `ranker`) compiles for
//! wasm32 and native alike. `wasm` is the JS API; training, the simulator fit
//! and evaluation are native-only.

pub mod blob;
pub mod error;
pub mod exploration;
#[cfg(not(target_arch = "wasm32"))]
pub mod eval;
pub mod fusion;
pub mod json;
pub mod log_line;
#[cfg(not(target_arch = "wasm32"))]
pub mod logs;
pub mod nn;
#[cfg(not(target_arch = "wasm32"))]
pub mod pack;
#[cfg(not(target_arch = "wasm32"))]
pub mod ope;
pub mod quant;
pub mod ranker;
pub mod read;
pub mod rng;
#[cfg(not(target_arch = "wasm32"))]
pub mod rl;
pub mod schema;
pub mod sim;
pub mod simd;
pub mod stats;

#[cfg(target_arch = "wasm32")]
pub mod wasm;

pub use blob::{Blob, BlobMeta, PolicyWeights};
pub use error::{BlobError, RequestError, RequestErrorKind};
pub use ranker::{Columns, RankRequest, RankedItem, Ranker, Ranking};
pub use schema::{Feature, FeatureGroup, PolicyKind, Schema};

/// Crate version, shown by the CLI and the demo page.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
