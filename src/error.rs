//! Typed errors. Messages are lowercase, name the offending piece, and carry
//! the numbers involved, so a JS `Error` or an HTTP 400 can show them as is.

/// Why a weight blob could not be loaded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BlobError {
    #[error("weight blob is truncated: {got} bytes, its header describes {need}")]
    Truncated { got: usize, need: usize },
    #[error("weight blob has {extra} unexpected bytes after its tensors")]
    TrailingBytes { extra: usize },
    #[error("weight blob is not a safetensors file: {0}")]
    NotSafetensors(String),
    #[error("weight blob is not an mtfuse blob: metadata key \"{0}\" is missing")]
    MissingMetadata(&'static str),
    #[error("weight blob has format version {found}, this build reads version {supported} (version 1 blobs: re-save with scripts/upgrade_blob.py)")]
    UnknownVersion { found: String, supported: u32 },
    #[error("weight blob checksum mismatch: its metadata and tensors give {actual}, its header says {expected}; the file is corrupt, or was changed without recomputing the checksum (docs/blob-format.md)")]
    BadChecksum { expected: String, actual: String },
    #[error("weight blob metadata is invalid: {0}")]
    BadMetadata(String),
    #[error("weight blob is missing tensor \"{0}\"")]
    MissingTensor(String),
    #[error("weight blob has tensor \"{name}\", which its metadata does not describe (expected exactly: {expected})")]
    ExtraTensor { name: String, expected: String },
    #[error("tensor \"{name}\" has shape {got:?}, expected {want:?}")]
    ShapeMismatch { name: String, got: Vec<usize>, want: Vec<usize> },
    #[error("tensor \"{name}\" has dtype {got}, expected F32")]
    WrongDtype { name: String, got: String },
    #[error("tensor \"{name}\" holds a non-finite value at index {index}")]
    NonFinite { name: String, index: usize },
    #[error("weight blob schema mismatch: {0}")]
    SchemaMismatch(String),
}

/// A rank request that cannot be served. `field` is a path into the request
/// (`items[3].scores.like`, `topK`, `scores`), so callers can point at it;
/// `kind` lets them map it to a status (an edge worker's 400 or 413) without
/// parsing the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct RequestError {
    kind: RequestErrorKind,
    field: String,
    problem: String,
}

/// What is wrong with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestErrorKind {
    /// Not the request's shape: a wrong type, a value that does not parse.
    Malformed,
    /// A required field, feature or score is absent.
    Missing,
    /// A field, feature or objective the schema does not have.
    Unknown,
    /// NaN, an infinity, null, or a number too large for f32.
    NotFinite,
    /// Buffer lengths that do not fit the schema or each other.
    Length,
    /// `topK` outside `1..=n`.
    OutOfRange,
    /// No candidates.
    Empty,
    /// More candidates than the limit.
    TooMany,
    /// Two candidates with one id: the caller could not tell their results apart.
    Duplicate,
}

impl RequestError {
    pub fn new(kind: RequestErrorKind, field: impl Into<String>, problem: impl Into<String>) -> RequestError {
        RequestError { kind, field: field.into(), problem: problem.into() }
    }

    pub fn kind(&self) -> RequestErrorKind {
        self.kind
    }

    /// The path of the offending field.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// What is wrong with it.
    pub fn problem(&self) -> &str {
        &self.problem
    }
}
