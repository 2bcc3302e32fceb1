//! Errors reported by the XOR chunk encoder and decoders.
//!
//! Decoding errors name the 0-based index of the sample that could not be
//! decoded, so that a caller can tell how many samples before it were good.
//! Both decoders ([`super::xor`] and [`super::naive`]) report exactly the
//! same error for the same input, which the tests and the fuzz target check.

use std::fmt;

use super::bstream::EndOfStream;

/// What went wrong while encoding or decoding an XOR chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChunkError {
    /// The chunk is shorter than its 2-byte big-endian sample-count header.
    TooShort {
        /// Length of the data that was given, in bytes.
        len: usize,
    },
    /// The bit stream ended before sample `sample` (0-based) was complete,
    /// although the header announces `total` samples.
    Truncated {
        /// 0-based index of the sample that could not be decoded.
        sample: u16,
        /// Number of samples the chunk header announces.
        total: u16,
    },
    /// The timestamp varint of sample `sample` does not fit into 64 bits.
    VarintOverflow {
        /// 0-based index of the sample whose timestamp is malformed.
        sample: u16,
    },
    /// Sample `sample` declares an XOR window whose leading zeros plus
    /// significant bits exceed 64, which no encoder can produce.
    InvalidXorWindow {
        /// 0-based index of the sample whose value is malformed.
        sample: u16,
        /// Declared number of leading zero bits (0..=31).
        leading: u8,
        /// Declared number of significant bits (1..=64).
        sigbits: u8,
    },
    /// The encoder already holds `u16::MAX` samples, the most the 2-byte
    /// header can count.
    ChunkFull,
}

impl fmt::Display for ChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ChunkError::TooShort { len } => write!(
                f,
                "XOR chunk is {len} byte(s) long, too short for its 2-byte sample-count header"
            ),
            ChunkError::Truncated { sample, total } => write!(
                f,
                "XOR chunk data ends inside sample {sample} (0-based) although its header \
                 announces {total} samples"
            ),
            ChunkError::VarintOverflow { sample } => write!(
                f,
                "timestamp varint of sample {sample} (0-based) in XOR chunk overflows 64 bits"
            ),
            ChunkError::InvalidXorWindow {
                sample,
                leading,
                sigbits,
            } => write!(
                f,
                "sample {sample} (0-based) in XOR chunk declares an XOR window of {leading} \
                 leading zeros and {sigbits} significant bits, which exceeds 64 bits"
            ),
            ChunkError::ChunkFull => write!(
                f,
                "XOR chunk already holds {} samples, the most its 2-byte header can count",
                u16::MAX
            ),
        }
    }
}

impl std::error::Error for ChunkError {}

/// A decoding failure before it is tied to a sample index.
///
/// The decoders propagate this with `?` from deep inside a sample and turn it
/// into a [`ChunkError`] in one place, where the sample index is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DecodeFault {
    /// The bit stream ended early.
    EndOfStream,
    /// A varint ran past 64 bits.
    VarintOverflow,
    /// An XOR window header declared more than 64 bits.
    InvalidXorWindow { leading: u8, sigbits: u8 },
}

impl DecodeFault {
    /// Attaches the sample position to the fault.
    pub(crate) fn at(self, sample: u16, total: u16) -> ChunkError {
        match self {
            DecodeFault::EndOfStream => ChunkError::Truncated { sample, total },
            DecodeFault::VarintOverflow => ChunkError::VarintOverflow { sample },
            DecodeFault::InvalidXorWindow { leading, sigbits } => ChunkError::InvalidXorWindow {
                sample,
                leading,
                sigbits,
            },
        }
    }
}

impl From<EndOfStream> for DecodeFault {
    fn from(_: EndOfStream) -> Self {
        DecodeFault::EndOfStream
    }
}
