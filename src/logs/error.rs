//! Why a session log cannot be written or read.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    #[error("cannot open {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a readable Parquet file")]
    Parquet {
        path: PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error("{path}: not an mtfuse session log: {problem}")]
    NotASessionLog { path: PathBuf, problem: String },
    #[error("{path}: its schema differs from {first}'s: {problem}")]
    SchemaDiffers { path: PathBuf, first: PathBuf, problem: String },
    #[error("{path}: column \"{column}\" is missing")]
    MissingColumn { path: PathBuf, column: String },
    #[error("{path}: column \"{column}\" is {got}, expected {want}")]
    ColumnType { path: PathBuf, column: String, got: String, want: String },
    /// A bad value or an inconsistency at one row.
    #[error("{path}: row group {row_group}, row {row}, column \"{column}\": {problem}")]
    BadRow { path: PathBuf, row_group: usize, row: usize, column: String, problem: String },
    #[error("{path}: session \"{session}\" ends at request {request} without done")]
    UnfinishedSession { path: PathBuf, session: String, request: u32 },
    #[error("no files match {0}")]
    NoFiles(String),
    #[error("the logs hold no shown item: nothing to learn from")]
    NothingShown,
    #[error("cannot write the session log {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error("{path}: line {line}")]
    BadLine {
        path: PathBuf,
        line: usize,
        #[source]
        source: crate::RequestError,
    },
    #[error("{path}: line {line}: session \"{session}\": {problem}")]
    BadSession { path: PathBuf, line: usize, session: String, problem: String },
    #[error("the reward spec does not fit the blob: {0}")]
    Reward(String),
    #[error("a logged request does not fit the log's schema: {0}")]
    RequestShape(String),
}
