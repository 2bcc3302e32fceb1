//! Reading one `AggrChunk`: which field, and its samples one at a time.
//!
//! Field choice follows `chunkSeries.Iterator` and `getFirstIterator` in
//! Thanos v0.31 `pkg/query/iter.go`: a single-aggregate request reads that
//! aggregate if the chunk has it, else the raw chunk; the default
//! `[COUNT, SUM]` request reads raw if present, else the average of the sum
//! and count chunks (`AverageChunkIterator`, `pkg/compact/downsample/downsample.go`:
//! both advance together, must have the same timestamps, value sum/count).
//!
//! A [`ChunkCursor`] decodes the chunk it is given into a buffer it reuses,
//! so that iterators can own their chunks (`Bytes`) without borrowing into
//! themselves. A decoding error is not reported when the chunk is loaded but
//! when reading reaches the sample that could not be decoded, which is when
//! Thanos's lazy decoder would report it.

use crate::chunk::xor::XorIter;
use crate::proto::thanos::{chunk::Encoding, AggrChunk, Chunk};

use super::DedupError;

/// A downsampled aggregate field of an `AggrChunk`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    Count,
    Sum,
    Min,
    Max,
    Counter,
}

/// Which samples of an `AggrChunk` a query reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pick {
    /// This aggregate if the chunk has it, else raw.
    Aggregate(Field),
    /// Raw if present, else sum/count.
    RawOrAverage,
}

fn field(c: &AggrChunk, f: Field) -> Option<&Chunk> {
    match f {
        Field::Count => c.count.as_ref(),
        Field::Sum => c.sum.as_ref(),
        Field::Min => c.min.as_ref(),
        Field::Max => c.max.as_ref(),
        Field::Counter => c.counter.as_ref(),
    }
}

/// The samples of one chunk, read in order.
#[derive(Debug, Default)]
pub(crate) struct ChunkCursor {
    /// Every sample decoded before the first error, if any.
    buf: Vec<(i64, f64)>,
    /// How many samples of `buf` have been handed out.
    pos: usize,
    /// The error to report once `buf` is used up.
    err: Option<DedupError>,
    /// Scratch for the sum chunk of an average.
    scratch: Vec<(i64, f64)>,
}

impl ChunkCursor {
    /// Loads `chunk`, forgetting the previous one.
    pub(crate) fn load(&mut self, chunk: &AggrChunk, pick: Pick) {
        self.buf.clear();
        self.pos = 0;
        self.err = None;
        let source = match pick {
            Pick::Aggregate(f) => field(chunk, f).or(chunk.raw.as_ref()),
            Pick::RawOrAverage => match &chunk.raw {
                Some(raw) => Some(raw),
                None => {
                    self.load_average(chunk);
                    return;
                }
            },
        };
        match source {
            Some(c) => self.err = decode(chunk, c, &mut self.buf),
            None => self.err = Some(no_valid_chunk(chunk)),
        }
    }

    /// Sum divided by count, sample by sample.
    fn load_average(&mut self, chunk: &AggrChunk) {
        let (Some(count), Some(sum)) = (chunk.count.as_ref(), chunk.sum.as_ref()) else {
            self.err = Some(no_valid_chunk(chunk));
            return;
        };
        let count_err = decode(chunk, count, &mut self.buf);
        let mut sums = std::mem::take(&mut self.scratch);
        sums.clear();
        let sum_err = decode(chunk, sum, &mut sums);
        // Thanos advances both together. Where one ends first, the error
        // reported is what ended it (a decoding error) or else the
        // misalignment; where both end together, the count chunk's decoding
        // error comes before the sum chunk's.
        let decode_err = match self.buf.len().cmp(&sums.len()) {
            std::cmp::Ordering::Less => count_err,
            std::cmp::Ordering::Greater => sum_err,
            std::cmp::Ordering::Equal => count_err.or(sum_err),
        };
        let mut n = 0;
        for (c, s) in self.buf.iter_mut().zip(sums.iter()) {
            if c.0 != s.0 {
                self.err = Some(DedupError::SumCountMisaligned {
                    min_time: chunk.min_time,
                    max_time: chunk.max_time,
                    timestamps: true,
                });
                break;
            }
            c.1 = s.1 / c.1;
            n += 1;
        }
        if self.err.is_none() && self.buf.len() != sums.len() {
            self.err = Some(decode_err.unwrap_or(DedupError::SumCountMisaligned {
                min_time: chunk.min_time,
                max_time: chunk.max_time,
                timestamps: false,
            }));
        } else if self.err.is_none() {
            self.err = decode_err;
        }
        self.buf.truncate(n);
        self.scratch = sums;
    }

    /// The next sample of the chunk, `Ok(None)` at its end.
    pub(crate) fn next(&mut self) -> Result<Option<(i64, f64)>, DedupError> {
        if let Some(&s) = self.buf.get(self.pos) {
            self.pos += 1;
            return Ok(Some(s));
        }
        match &self.err {
            Some(e) => Err(e.clone()),
            None => Ok(None),
        }
    }

    /// The sample most recently handed out, if any.
    pub(crate) fn current(&self) -> Option<(i64, f64)> {
        self.pos
            .checked_sub(1)
            .and_then(|i| self.buf.get(i))
            .copied()
    }

    /// The timestamp of the sample most recently handed out, or 0 before the
    /// first: what Prometheus's XOR iterator reports (`AtT`) in that state,
    /// and what Thanos's chunk walk uses as "last timestamp" when it leaves
    /// a chunk.
    pub(crate) fn last_t_or_zero(&self) -> i64 {
        self.current().map_or(0, |s| s.0)
    }
}

fn no_valid_chunk(chunk: &AggrChunk) -> DedupError {
    DedupError::NoValidChunk {
        min_time: chunk.min_time,
        max_time: chunk.max_time,
    }
}

/// Appends the samples of `c` to `out` and returns the error that stopped
/// decoding, if any.
fn decode(chunk: &AggrChunk, c: &Chunk, out: &mut Vec<(i64, f64)>) -> Option<DedupError> {
    if c.r#type != Encoding::Xor as i32 {
        return Some(DedupError::UnsupportedEncoding {
            min_time: chunk.min_time,
            max_time: chunk.max_time,
            encoding: c.r#type,
        });
    }
    let corrupt = |source| DedupError::Corrupt {
        min_time: chunk.min_time,
        max_time: chunk.max_time,
        source,
    };
    let mut iter = match XorIter::new(&c.data) {
        Ok(iter) => iter,
        Err(e) => return Some(corrupt(e)),
    };
    // Every sample takes at least two bits, so a lying header cannot make us
    // reserve much more than the data could hold.
    out.reserve(usize::from(iter.num_samples()).min(c.data.len() * 4));
    loop {
        match iter.next_sample() {
            Ok(Some(s)) => out.push(s),
            Ok(None) => return None,
            Err(e) => return Some(corrupt(e)),
        }
    }
}
