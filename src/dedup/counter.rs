//! Counter handling: the counter-resets iterator and the error adjustment
//! applied when the penalty algorithm switches replicas.
//!
//! # `CounterResets`
//!
//! Thanos v0.31.0 `ApplyCounterResetsSeriesIterator`
//! (`pkg/compact/downsample/downsample.go`).
//!
//! Used instead of the chunk walk of [`super::series`] when the function
//! hint is `rate`, `increase` or `irate`, for raw and downsampled chunks
//! alike. It reads every chunk in order and keeps `last_t`, `last_v` (the last
//! raw value) and a running `total`:
//!
//! * NaN values are dropped; that includes stale markers.
//! * The first sample starts the total at its value.
//! * A sample later than `last_t` adds `v - last_v` to the total if
//!   `v >= last_v`, else `v` (a counter reset), and is returned as
//!   `(t, total)`.
//! * A sample at exactly `last_t` is the "true last value" that downsampled
//!   counter chunks repeat at their end: it only replaces `last_v`.
//! * An earlier sample is skipped (overlapping chunks).
//! * When a chunk ends, the next one is read until a sample returned is
//!   later than `last_t` at the crossing (Thanos: `Seek(lastT + 1)`); every
//!   sample read meanwhile still updates the state.
//! * `seek(x)` calls `next` until `last_t >= x` (it never skips, so no reset
//!   is missed).
//!
//! So the series is a running total that never decreases, with strictly
//! increasing timestamps. Because resets disappear, Thanos's `resets()` is
//! always 0 (issue #3644); Sluice does not use this iterator for `resets`
//! (see `docs/dedup-divergences.md`).
//!
//! Divergence: Thanos moves to the next chunk when one fails to decode and
//! so silently drops the rest of a corrupt chunk; here the error is
//! returned.
//!
//! # `CounterAdjust`
//!
//! Thanos v0.31.0 `counterErrAdjustSeriesIterator` (`pkg/dedup/iter.go`).
//!
//! Wraps every replica the penalty algorithm reads for a counter function
//! (`increase`, `rate`, `irate`, `resets`). It adds an offset `adjust`
//! (initially 0) to every value. When the penalty algorithm switches
//! replicas it calls `adjust_at_value(last)` with the last value it
//! returned, and each replica whose current (already adjusted) value `v` is
//! lower raises `adjust` by `last - v`, so a replica that is behind does not
//! look like a counter reset. The offset persists. NaN values are returned
//! unchanged (Thanos adds the offset, which turns a stale marker into an
//! ordinary NaN; on the `rate` path there are no NaNs left, on the `resets`
//! path the marker must survive for the engine to see it).

use crate::proto::thanos::AggrChunk;

use super::cursor::{ChunkCursor, Pick};
use super::penalty::Replica;
use super::{DedupError, SampleIter, ValueType};

/// Thanos's `ApplyCounterResetsSeriesIterator`.
#[derive(Debug)]
pub(crate) struct CounterResets {
    chunks: Vec<AggrChunk>,
    pick: Pick,
    /// Index of the chunk the cursor holds; `chunks.len()` when done.
    i: usize,
    cursor: ChunkCursor,
    /// Number of samples counted so far.
    total: u64,
    last_t: i64,
    last_v: f64,
    total_v: f64,
}

impl CounterResets {
    pub(crate) fn new(chunks: Vec<AggrChunk>, pick: Pick) -> CounterResets {
        let mut cursor = ChunkCursor::default();
        if let Some(first) = chunks.first() {
            cursor.load(first, pick);
        }
        CounterResets {
            chunks,
            pick,
            i: 0,
            cursor,
            total: 0,
            last_t: 0,
            last_v: 0.0,
            total_v: 0.0,
        }
    }

    /// Feeds one raw sample into the state; true if it is returned.
    fn take(&mut self, t: i64, v: f64) -> bool {
        if v.is_nan() {
            return false;
        }
        if self.total == 0 {
            self.total = 1;
            self.last_t = t;
            self.last_v = v;
            self.total_v = v;
            return true;
        }
        if t > self.last_t {
            if v >= self.last_v {
                self.total_v += v - self.last_v;
            } else {
                self.total_v += v;
            }
            self.last_t = t;
            self.last_v = v;
            self.total += 1;
            return true;
        }
        if t == self.last_t {
            self.last_v = v;
        }
        false
    }
}

impl SampleIter for CounterResets {
    fn next(&mut self) -> Result<Option<ValueType>, DedupError> {
        // The largest "later than" bound added by chunk crossings in this call.
        let mut bound: Option<i64> = None;
        loop {
            if self.i >= self.chunks.len() {
                return Ok(None);
            }
            match self.cursor.next() {
                Ok(Some((t, v))) => {
                    if self.take(t, v) && bound.is_none_or(|b| self.last_t >= b) {
                        return Ok(Some(ValueType::Float));
                    }
                }
                Ok(None) => {
                    self.i += 1;
                    if let Some(next) = self.chunks.get(self.i) {
                        self.cursor.load(next, self.pick);
                    }
                    let b = self.last_t.saturating_add(1);
                    bound = Some(bound.map_or(b, |old| old.max(b)));
                }
                Err(e) => {
                    self.i = self.chunks.len();
                    return Err(e);
                }
            }
        }
    }

    fn seek(&mut self, t: i64) -> Result<Option<ValueType>, DedupError> {
        loop {
            if self.total > 0 && self.last_t >= t && self.i < self.chunks.len() {
                return Ok(Some(ValueType::Float));
            }
            if self.next()?.is_none() {
                return Ok(None);
            }
        }
    }

    fn at(&self) -> (i64, f64) {
        (self.last_t, self.total_v)
    }
}

/// Thanos's `counterErrAdjustSeriesIterator`.
#[derive(Debug)]
pub(crate) struct CounterAdjust<I> {
    inner: I,
    adjust: f64,
}

impl<I> CounterAdjust<I> {
    pub(crate) fn new(inner: I) -> CounterAdjust<I> {
        CounterAdjust { inner, adjust: 0.0 }
    }
}

impl<I: SampleIter> SampleIter for CounterAdjust<I> {
    fn next(&mut self) -> Result<Option<ValueType>, DedupError> {
        self.inner.next()
    }

    fn seek(&mut self, t: i64) -> Result<Option<ValueType>, DedupError> {
        self.inner.seek(t)
    }

    fn at(&self) -> (i64, f64) {
        let (t, v) = self.inner.at();
        if v.is_nan() {
            return (t, v);
        }
        (t, v + self.adjust)
    }

    fn at_t(&self) -> i64 {
        self.inner.at_t()
    }
}

impl<I: SampleIter> Replica for CounterAdjust<I> {
    fn adjust_at_value(&mut self, last: f64) {
        let (_, v) = self.at();
        if last > v {
            // This replica missed the end of the counter the other one saw.
            self.adjust += last - v;
        }
    }
}

/// A replica of a non-counter series: nothing to adjust.
#[derive(Debug)]
pub(crate) struct NoAdjust<I>(pub(crate) I);

impl<I: SampleIter> SampleIter for NoAdjust<I> {
    fn next(&mut self) -> Result<Option<ValueType>, DedupError> {
        self.0.next()
    }

    fn seek(&mut self, t: i64) -> Result<Option<ValueType>, DedupError> {
        self.0.seek(t)
    }

    fn at(&self) -> (i64, f64) {
        self.0.at()
    }

    fn at_t(&self) -> i64 {
        self.0.at_t()
    }
}

impl<I: SampleIter> Replica for NoAdjust<I> {
    fn adjust_at_value(&mut self, _last: f64) {}
}
