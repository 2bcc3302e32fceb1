//! Reading a list of chunks as one series, and clamping it to a time range.
//!
//! [`ChunkSeries`] follows `chunkSeriesIterator` (Thanos v0.31.0
//! `pkg/query/iter.go`), [`Bounded`] follows `boundedSeriesIterator`
//! (`pkg/dedup/iter.go`).
//!
//! # The chunk walk
//!
//! Chunks are read in the given order. Within a chunk every sample is
//! returned. When a chunk ends, the walk moves to the next chunk and skips
//! its samples until one is later than the last timestamp read from the
//! chunk just left (Thanos: `Seek(lastT + 1)`). So where chunks overlap the
//! first one wins, and a chunk that lies entirely before what was read is
//! skipped whole. If several chunks are crossed in one step, each crossing
//! adds such a bound and the largest applies. "Last timestamp read" of a
//! chunk that had no sample is 0, as Prometheus's iterator reports it.
//!
//! `seek(t)` calls `next` until the current sample is at or after `t`.
//!
//! Divergence: Thanos compares against the timestamp 0 that an unread
//! chunk iterator reports, and so, for a bound `<= 0` (only reachable with
//! negative timestamps), returns a sample `(0, 0.0)` that is in no chunk.
//! Here an unread chunk has no current sample and the walk reads on.
//!
//! # The clamp
//!
//! [`Bounded`] skips samples before `mint` (by seeking) and ends at the
//! first sample after `maxt`. Seeking past `maxt` ends it.
//!
//! Divergence: Thanos's `Seek` checks only the target, so it can land on
//! (and the penalty algorithm can return) one sample after `maxt`. Here the
//! sample found is checked too. Samples after `maxt` are never read by the
//! PromQL engine, and the penalty algorithm's choices before `maxt` do not
//! depend on them, so results are the same.

use crate::proto::thanos::AggrChunk;

use super::cursor::{ChunkCursor, Pick};
use super::{DedupError, SampleIter, ValueType};

/// Thanos's `chunkSeriesIterator`: a list of chunks read as one series.
#[derive(Debug)]
pub(crate) struct ChunkSeries {
    chunks: Vec<AggrChunk>,
    pick: Pick,
    /// Index of the chunk the cursor holds.
    i: usize,
    cursor: ChunkCursor,
    done: bool,
    /// Drop samples whose timestamp is not greater than the last returned.
    strictly_increasing: bool,
    last_returned: Option<i64>,
}

impl ChunkSeries {
    /// Reads `chunks` in order. The caller checks that there is at least one
    /// (Thanos reports "store returned an empty result" otherwise).
    pub(crate) fn new(
        chunks: Vec<AggrChunk>,
        pick: Pick,
        strictly_increasing: bool,
    ) -> ChunkSeries {
        let mut cursor = ChunkCursor::default();
        if let Some(first) = chunks.first() {
            cursor.load(first, pick);
        }
        ChunkSeries {
            chunks,
            pick,
            i: 0,
            cursor,
            done: false,
            strictly_increasing,
            last_returned: None,
        }
    }
}

impl SampleIter for ChunkSeries {
    fn next(&mut self) -> Result<Option<ValueType>, DedupError> {
        if self.done {
            return Ok(None);
        }
        // The largest "later than" bound added by the chunk crossings of
        // this call (see the module docs).
        let mut bound = i64::MIN;
        loop {
            let last_t = self.cursor.last_t_or_zero();
            match self.cursor.next() {
                Ok(Some((t, _))) => {
                    let increasing =
                        !self.strictly_increasing || self.last_returned.is_none_or(|l| t > l);
                    if t >= bound && increasing {
                        self.last_returned = Some(t);
                        return Ok(Some(ValueType::Float));
                    }
                }
                Ok(None) => {
                    let Some(next) = self.chunks.get(self.i + 1) else {
                        self.done = true;
                        return Ok(None);
                    };
                    self.i += 1;
                    self.cursor.load(next, self.pick);
                    bound = bound.max(last_t.saturating_add(1));
                }
                Err(e) => {
                    self.done = true;
                    return Err(e);
                }
            }
        }
    }

    fn seek(&mut self, t: i64) -> Result<Option<ValueType>, DedupError> {
        loop {
            if self.done {
                return Ok(None);
            }
            if let Some((ct, _)) = self.cursor.current() {
                if ct >= t {
                    return Ok(Some(ValueType::Float));
                }
            }
            if self.next()?.is_none() {
                return Ok(None);
            }
        }
    }

    fn at(&self) -> (i64, f64) {
        self.cursor.current().unwrap_or((0, 0.0))
    }
}

/// Thanos's `boundedSeriesIterator`: `inner` clamped to `[mint, maxt]`.
#[derive(Debug)]
pub(crate) struct Bounded<I> {
    inner: I,
    mint: i64,
    maxt: i64,
    done: bool,
}

impl<I: SampleIter> Bounded<I> {
    pub(crate) fn new(inner: I, mint: i64, maxt: i64) -> Bounded<I> {
        Bounded {
            inner,
            mint,
            maxt,
            done: false,
        }
    }

    /// Ends the iteration unless the inner iterator stands on a sample
    /// within `maxt`.
    fn check(&mut self, found: Option<ValueType>) -> Option<ValueType> {
        match found {
            Some(v) if self.inner.at_t() <= self.maxt => Some(v),
            _ => {
                self.done = true;
                None
            }
        }
    }
}

impl<I: SampleIter> SampleIter for Bounded<I> {
    fn next(&mut self) -> Result<Option<ValueType>, DedupError> {
        if self.done {
            return Ok(None);
        }
        let mut found = self.inner.next()?;
        if found.is_some() && self.inner.at_t() < self.mint {
            found = self.inner.seek(self.mint)?;
        }
        Ok(self.check(found))
    }

    fn seek(&mut self, t: i64) -> Result<Option<ValueType>, DedupError> {
        if self.done {
            return Ok(None);
        }
        if t > self.maxt {
            self.done = true;
            return Ok(None);
        }
        let found = self.inner.seek(t.max(self.mint))?;
        Ok(self.check(found))
    }

    fn at(&self) -> (i64, f64) {
        self.inner.at()
    }

    fn at_t(&self) -> i64 {
        self.inner.at_t()
    }
}

/// An iterator that has nothing, or only an error (Thanos's
/// `errSeriesIterator`).
#[derive(Debug)]
pub(crate) struct Failed(Option<DedupError>);

impl Failed {
    pub(crate) fn new(err: DedupError) -> Failed {
        Failed(Some(err))
    }

    pub(crate) fn empty() -> Failed {
        Failed(None)
    }

    fn result(&self) -> Result<Option<ValueType>, DedupError> {
        match &self.0 {
            Some(e) => Err(e.clone()),
            None => Ok(None),
        }
    }
}

impl SampleIter for Failed {
    fn next(&mut self) -> Result<Option<ValueType>, DedupError> {
        self.result()
    }

    fn seek(&mut self, _t: i64) -> Result<Option<ValueType>, DedupError> {
        self.result()
    }

    fn at(&self) -> (i64, f64) {
        (0, 0.0)
    }
}
