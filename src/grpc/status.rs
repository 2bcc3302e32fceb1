//! gRPC status codes and the `grpc-status` / `grpc-message` trailer pair.

use std::fmt;

/// The gRPC status codes (grpc/doc/statuscodes.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Code {
    Ok = 0,
    Cancelled = 1,
    Unknown = 2,
    InvalidArgument = 3,
    DeadlineExceeded = 4,
    NotFound = 5,
    AlreadyExists = 6,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    FailedPrecondition = 9,
    Aborted = 10,
    OutOfRange = 11,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
    DataLoss = 15,
    Unauthenticated = 16,
}

impl Code {
    /// The code for a numeric `grpc-status`; unknown numbers are `Unknown`.
    pub fn from_u32(n: u32) -> Code {
        use Code::*;
        const ALL: [Code; 17] = [
            Ok,
            Cancelled,
            Unknown,
            InvalidArgument,
            DeadlineExceeded,
            NotFound,
            AlreadyExists,
            PermissionDenied,
            ResourceExhausted,
            FailedPrecondition,
            Aborted,
            OutOfRange,
            Unimplemented,
            Internal,
            Unavailable,
            DataLoss,
            Unauthenticated,
        ];
        ALL.get(n as usize).copied().unwrap_or(Unknown)
    }

    /// The name Go's gRPC prints (`code = Unavailable`).
    pub fn name(self) -> &'static str {
        use Code::*;
        match self {
            Ok => "OK",
            Cancelled => "Canceled",
            Unknown => "Unknown",
            InvalidArgument => "InvalidArgument",
            DeadlineExceeded => "DeadlineExceeded",
            NotFound => "NotFound",
            AlreadyExists => "AlreadyExists",
            PermissionDenied => "PermissionDenied",
            ResourceExhausted => "ResourceExhausted",
            FailedPrecondition => "FailedPrecondition",
            Aborted => "Aborted",
            OutOfRange => "OutOfRange",
            Unimplemented => "Unimplemented",
            Internal => "Internal",
            Unavailable => "Unavailable",
            DataLoss => "DataLoss",
            Unauthenticated => "Unauthenticated",
        }
    }

    /// The code a client reports for a non-200 HTTP status, following the
    /// mapping in grpc/doc/http-grpc-status-mapping.md.
    pub fn from_http(status: u16) -> Code {
        match status {
            400 => Code::Internal,
            401 => Code::Unauthenticated,
            403 => Code::PermissionDenied,
            404 => Code::Unimplemented,
            429 | 502 | 503 | 504 => Code::Unavailable,
            _ => Code::Unknown,
        }
    }
}

/// A gRPC status: a code and a human-readable message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub code: Code,
    pub message: String,
}

impl Status {
    pub fn new(code: Code, message: impl Into<String>) -> Status {
        Status {
            code,
            message: message.into(),
        }
    }

    pub fn internal(message: impl Into<String>) -> Status {
        Status::new(Code::Internal, message)
    }

    pub fn invalid_argument(message: impl Into<String>) -> Status {
        Status::new(Code::InvalidArgument, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Status {
        Status::new(Code::Unavailable, message)
    }

    pub fn deadline_exceeded(message: impl Into<String>) -> Status {
        Status::new(Code::DeadlineExceeded, message)
    }

    pub fn unimplemented(message: impl Into<String>) -> Status {
        Status::new(Code::Unimplemented, message)
    }
}

impl fmt::Display for Status {
    /// Go's form, which Thanos puts in warnings and errors.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rpc error: code = {} desc = {}",
            self.code.name(),
            self.message
        )
    }
}

impl std::error::Error for Status {}

/// Percent-encodes a `grpc-message` value: bytes outside printable ASCII
/// and `%` itself become `%XX` (gRPC over HTTP/2 spec).
pub fn encode_message(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    for &b in msg.as_bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes a percent-encoded `grpc-message`; malformed escapes are kept
/// as they are, and invalid UTF-8 is replaced, never rejected.
pub fn decode_message(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' && i + 2 < raw.len() {
            let hex = std::str::from_utf8(&raw[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(raw[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_round_trip() {
        for m in ["plain", "100% done", "line\nbreak", "ünï", "%", "a%2"] {
            assert_eq!(decode_message(encode_message(m).as_bytes()), m);
        }
        assert_eq!(encode_message("a%b\n"), "a%25b%0A");
        assert_eq!(decode_message(b"bad %zz and %4"), "bad %zz and %4");
    }

    #[test]
    fn codes() {
        assert_eq!(Code::from_u32(14), Code::Unavailable);
        assert_eq!(Code::from_u32(99), Code::Unknown);
        assert_eq!(
            Status::new(Code::Aborted, "x").to_string(),
            "rpc error: code = Aborted desc = x"
        );
    }
}
