//! The engine's one error type.
//!
//! Every failure the engine can report carries a [`ErrorKind`] that the API
//! layer maps to Prometheus's error envelope in one place: parse and type
//! errors are `bad_data` (HTTP 400), everything that fails while the query
//! runs is `execution` (422), as in Prometheus v2.42 `web/api/v1/api.go`
//! (`returnAPIError`) and Thanos v0.31 `pkg/api/query/v1.go`. Messages are
//! Prometheus's own, word for word, so clients that match on them keep
//! working.

use std::fmt;

/// What kind of failure; decides the HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The query text does not parse or does not type-check, or the request
    /// is malformed (e.g. a range query over a range vector): `bad_data`, 400.
    BadData,
    /// The query ran and failed: `execution`, 422.
    Execution,
    /// The query would hold more than `max_samples` samples at once
    /// (Prometheus's `ErrTooManySamples`): `execution`, 422.
    TooManySamples,
    /// The storage reported that the query was cancelled: `canceled`, 503.
    Canceled,
    /// The storage reported a deadline: `timeout`, 503.
    Timeout,
    /// A failure of our own (a broken invariant): `internal`, 500.
    Internal,
}

impl ErrorKind {
    /// The Prometheus `errorType` string.
    pub fn api_error_type(self) -> &'static str {
        match self {
            ErrorKind::BadData => "bad_data",
            ErrorKind::Execution | ErrorKind::TooManySamples => "execution",
            ErrorKind::Canceled => "canceled",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Internal => "internal",
        }
    }

    /// The HTTP status Prometheus answers with.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::BadData => 400,
            ErrorKind::Execution | ErrorKind::TooManySamples => 422,
            ErrorKind::Canceled | ErrorKind::Timeout => 503,
            ErrorKind::Internal => 500,
        }
    }
}

/// An engine error: a kind and Prometheus's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromqlError {
    kind: ErrorKind,
    message: String,
}

/// The message of Prometheus's `ErrTooManySamples` (v2.42 `promql/engine.go`).
pub const TOO_MANY_SAMPLES: &str =
    "query processing would load too many samples into memory in query execution";

/// The message for a vector or matrix holding one label set twice.
pub const SAME_LABELSET: &str = "vector cannot contain metrics with the same labelset";

impl PromqlError {
    /// An error of the given kind.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> PromqlError {
        PromqlError {
            kind,
            message: message.into(),
        }
    }

    /// A parse or type error (400).
    pub fn bad_data(message: impl Into<String>) -> PromqlError {
        PromqlError::new(ErrorKind::BadData, message)
    }

    /// A runtime error (422).
    pub fn execution(message: impl Into<String>) -> PromqlError {
        PromqlError::new(ErrorKind::Execution, message)
    }

    /// Prometheus's "too many samples" error.
    pub fn too_many_samples() -> PromqlError {
        PromqlError::new(ErrorKind::TooManySamples, TOO_MANY_SAMPLES)
    }

    /// A broken invariant of our own.
    pub fn internal(message: impl Into<String>) -> PromqlError {
        PromqlError::new(ErrorKind::Internal, message)
    }

    /// The kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, as Prometheus words it.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether the client's query is at fault (a 400).
    pub fn is_bad_data(&self) -> bool {
        self.kind == ErrorKind::BadData
    }

    /// Whether the query failed while running (a 422).
    pub fn is_execution(&self) -> bool {
        matches!(self.kind, ErrorKind::Execution | ErrorKind::TooManySamples)
    }

    /// Whether the sample limit was hit.
    pub fn is_too_many_samples(&self) -> bool {
        self.kind == ErrorKind::TooManySamples
    }

    /// The same error with `prefix` before the message (Prometheus wraps
    /// storage errors as "expanding series: ...").
    pub(crate) fn wrap(self, prefix: &str) -> PromqlError {
        // The sample limit reads the same wherever it is hit, as
        // Prometheus's ErrTooManySamples.
        if self.kind == ErrorKind::TooManySamples {
            return self;
        }
        PromqlError {
            kind: self.kind,
            message: format!("{prefix}{}", self.message),
        }
    }
}

impl fmt::Display for PromqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PromqlError {}

/// The engine's result type.
pub type Result<T> = std::result::Result<T, PromqlError>;
