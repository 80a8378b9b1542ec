//! Why training could not run or finish.

use std::path::PathBuf;

use crate::error::{BlobError, RequestError};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    #[error("cannot read training config {path}")]
    ReadConfig {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("training config {path} does not parse")]
    ParseConfig {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A setting the trainer cannot run with; `field` names it.
    #[error("training config: {problem}")]
    InvalidConfig { field: &'static str, problem: String },
    /// The simulator refused a policy's decision: a bug in the trainer, since
    /// it builds every request itself.
    #[error("a simulated session failed")]
    Session(#[source] RequestError),
    /// A trained or baseline policy did not make a valid blob.
    #[error("cannot build the policy's weight blob")]
    Blob(#[source] BlobError),
    /// The session log could not be read, or failed validation.
    #[error("cannot train from the session log")]
    Log(#[source] crate::logs::LogError),
    #[error("the log has {got} objectives; the trainer handles {want}")]
    LogObjectives { got: usize, want: usize },
    #[error("the baseline action has {got} dimensions, the action space {want}")]
    BaselineWidth { got: usize, want: usize },
}

impl From<RequestError> for TrainError {
    fn from(e: RequestError) -> Self {
        TrainError::Session(e)
    }
}

impl From<crate::logs::LogError> for TrainError {
    fn from(e: crate::logs::LogError) -> Self {
        TrainError::Log(e)
    }
}

impl From<BlobError> for TrainError {
    fn from(e: BlobError) -> Self {
        TrainError::Blob(e)
    }
}
