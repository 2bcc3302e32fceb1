//! What can go wrong while reading a merged series.
//!
//! Every variant that concerns one chunk names that chunk by its declared
//! time range, which is what a person can find again in the store. Where
//! Thanos v0.31 has an error for the same condition its message is kept as
//! the start of ours, so logs can be compared.

use std::fmt;

use crate::chunk::ChunkError;

/// Why a merged series could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DedupError {
    /// A series arrived without chunks (Thanos: "store returned an empty
    /// result").
    EmptyResult,
    /// A chunk's bytes are not a valid XOR chunk.
    Corrupt {
        /// The chunk's declared `min_time`.
        min_time: i64,
        /// The chunk's declared `max_time`.
        max_time: i64,
        /// What the decoder found.
        source: ChunkError,
    },
    /// A chunk uses an encoding Sluice cannot read yet (native histograms)
    /// or an unknown one.
    UnsupportedEncoding {
        /// The chunk's declared `min_time`.
        min_time: i64,
        /// The chunk's declared `max_time`.
        max_time: i64,
        /// The `Chunk.type` value.
        encoding: i32,
    },
    /// A chunk has none of the fields the query needs (Thanos: "no valid
    /// chunk found").
    NoValidChunk {
        /// The chunk's declared `min_time`.
        min_time: i64,
        /// The chunk's declared `max_time`.
        max_time: i64,
    },
    /// A downsampled chunk's count and sum disagree, in length or in
    /// timestamps (Thanos: "sum and count iterator not aligned", "sum and
    /// count timestamps not aligned").
    SumCountMisaligned {
        /// The chunk's declared `min_time`.
        min_time: i64,
        /// The chunk's declared `max_time`.
        max_time: i64,
        /// True if both have a sample but at different timestamps; false if
        /// one ran out before the other.
        timestamps: bool,
    },
}

impl DedupError {
    /// Whether the store sent data that cannot be read (as opposed to an
    /// empty answer): a corrupt, unsupported, incomplete or misaligned chunk.
    pub fn is_bad_chunk(&self) -> bool {
        !matches!(self, DedupError::EmptyResult)
    }
}

impl fmt::Display for DedupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DedupError::EmptyResult => write!(f, "store returned an empty result"),
            DedupError::Corrupt {
                min_time,
                max_time,
                source,
            } => write!(f, "corrupt chunk [{min_time}, {max_time}]: {source}"),
            DedupError::UnsupportedEncoding {
                min_time,
                max_time,
                encoding,
            } => write!(
                f,
                "chunk [{min_time}, {max_time}] has encoding {encoding}, which is not supported \
                 (only XOR float chunks are)"
            ),
            DedupError::NoValidChunk { min_time, max_time } => write!(
                f,
                "no valid chunk found: chunk [{min_time}, {max_time}] has none of the fields \
                 the query needs"
            ),
            DedupError::SumCountMisaligned {
                min_time,
                max_time,
                timestamps,
            } => {
                let what = if *timestamps {
                    "sum and count timestamps not aligned"
                } else {
                    "sum and count iterator not aligned"
                };
                write!(f, "{what} in chunk [{min_time}, {max_time}]")
            }
        }
    }
}

impl std::error::Error for DedupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DedupError::Corrupt { source, .. } => Some(source),
            _ => None,
        }
    }
}
