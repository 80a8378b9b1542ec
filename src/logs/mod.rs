//! Session logs: what a ranker that explores while it serves records, one
//! row per (request, candidate), in Parquet. The trainer learns from them
//! without a simulator; `mtfuse simulate --log` writes them the way a
//! production logger would. `docs/log-format.md` documents every column.
//!
//! `schema` names the columns and carries the Parquet metadata, `write`
//! streams requests out in row groups, and `read` validates a log and
//! assembles its requests, naming the file, row group, row and column of
//! anything wrong. `raw` writes what comes before a session log: raw
//! impressions and response events, which `etl/` turns into one.

mod error;
pub mod import;
pub mod raw;
pub mod read;
pub mod schema;
pub mod write;

pub use error::LogError;
pub use import::{import_ndjson, ImportSummary, RewardSpec};
pub use read::{read_logs, stream_logs, LogSummary, SessionLog};
pub use schema::{LogSchema, LOG_FORMAT_VERSION};
pub use write::SessionLogWriter;

/// One logged request: everything a trainer needs, in the log schema's
/// feature and objective order.
#[derive(Clone, Debug, PartialEq)]
pub struct LoggedRequest {
    pub session: String,
    /// Request index within the session, from 0.
    pub request: u32,
    pub timestamp_ms: i64,
    /// Raw user and context features.
    pub user: Vec<f32>,
    pub context: Vec<f32>,
    /// Raw item features, `candidates × item features`.
    pub items: Vec<f32>,
    /// MTL scores, `candidates × k`.
    pub scores: Vec<f32>,
    /// The normalised action each candidate was ranked with (`candidates × 2k`).
    pub actions: Vec<f32>,
    /// The serving policy's action before exploration noise: the box centre.
    pub base: Vec<f32>,
    /// Half-width of the uniform exploration noise in the normalised space.
    pub explore: f32,
    /// Noise drawn per item (else once per request).
    pub explore_per_item: bool,
    /// Checksum of the serving policy's blob.
    pub behaviour: String,
    /// Candidate indices of the shown items, best first.
    pub shown: Vec<u32>,
    /// Observed signal per objective of each shown item (`shown × k`), in `shown` order.
    pub signals: Vec<f32>,
    /// Play seconds of each shown item.
    pub play_s: Vec<f32>,
    /// The session's last request.
    pub done: bool,
}

impl LoggedRequest {
    pub fn candidates(&self, k: usize) -> usize {
        self.scores.len() / k.max(1)
    }
}
