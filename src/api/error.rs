//! The one place where errors become HTTP responses: Prometheus's error
//! envelope `{"status":"error","errorType":…,"error":…}` with the status
//! codes of Prometheus 2.42 / Thanos v0.31 (`pkg/api/api.go`).

use std::fmt;

use crate::endpoint::StoreError;

/// The closed set of API error kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    /// 400: unparsable parameters, bad selectors, bad times.
    BadData,
    /// 422: the query ran and failed (store errors under ABORT, PromQL
    /// runtime errors).
    Execution,
    /// 503: the query was cancelled.
    Canceled,
    /// 503: the query ran past its deadline.
    Timeout,
    /// 500: our own failure.
    Internal,
    /// 404: no such route.
    NotFound,
    /// 405: the route exists, not for this method.
    MethodNotAllowed,
    /// 503: not ready, or no store could be reached where one is needed.
    Unavailable,
}

impl ErrorType {
    /// The `errorType` string.
    pub fn name(self) -> &'static str {
        match self {
            ErrorType::BadData => "bad_data",
            ErrorType::Execution => "execution",
            ErrorType::Canceled => "canceled",
            ErrorType::Timeout => "timeout",
            ErrorType::Internal => "internal",
            ErrorType::NotFound => "not_found",
            ErrorType::MethodNotAllowed => "method_not_allowed",
            ErrorType::Unavailable => "unavailable",
        }
    }

    /// The HTTP status code.
    pub fn status(self) -> u16 {
        match self {
            ErrorType::BadData => 400,
            ErrorType::Execution => 422,
            ErrorType::Canceled | ErrorType::Timeout | ErrorType::Unavailable => 503,
            ErrorType::Internal => 500,
            ErrorType::NotFound => 404,
            ErrorType::MethodNotAllowed => 405,
        }
    }
}

/// An API error.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub kind: ErrorType,
    pub message: String,
}

impl ApiError {
    pub fn new(kind: ErrorType, message: impl Into<String>) -> ApiError {
        ApiError {
            kind,
            message: message.into(),
        }
    }

    pub fn bad_data(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorType::BadData, message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorType::Internal, message)
    }

    /// Whether the client caused it (4xx).
    pub fn is_client_error(&self) -> bool {
        self.kind.status() < 500
    }

    /// The envelope body.
    pub fn body(&self) -> String {
        let mut out = String::with_capacity(64 + self.message.len());
        out.push_str("{\"status\":\"error\",\"errorType\":");
        super::json::push_str(&mut out, self.kind.name());
        out.push_str(",\"error\":");
        super::json::push_str(&mut out, &self.message);
        out.push_str("}\n");
        out
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.name(), self.message)
    }
}

impl From<StoreError> for ApiError {
    /// A store failure that fails the request (partial response ABORT) is an
    /// execution error, as Thanos reports it.
    fn from(e: StoreError) -> ApiError {
        let msg = if e.status.code == crate::grpc::Code::Aborted {
            e.status.message.clone()
        } else {
            format!("receive series from {e}")
        };
        ApiError::new(ErrorType::Execution, msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope() {
        let e = ApiError::bad_data("invalid \"x\"");
        assert_eq!(
            e.body(),
            "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid \\\"x\\\"\"}\n"
        );
        assert_eq!(e.kind.status(), 400);
        assert_eq!(ErrorType::Execution.status(), 422);
        assert_eq!(ErrorType::Timeout.status(), 503);
    }
}
