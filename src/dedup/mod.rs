//! Deduplication: turns one merged series into one stream of samples, as
//! Thanos v0.31's querier does.
//!
//! This module owns everything between "the k-way merge has combined the
//! equal-label series of all stores into one series" ([`crate::merge`]) and
//! "the PromQL engine reads samples". It does no IO, knows nothing of labels
//! (the caller has already removed the replica labels and grouped equal
//! label sets) and never panics on what a store sent: bad chunks become a
//! [`DedupError`] that says what was wrong.
//!
//! # The pipeline for one merged series
//!
//! The input is the list of `AggrChunk`s of every replica, concatenated.
//! [`series_iter`] runs these steps; each names the Thanos v0.31.0 code it
//! follows (facts from that code, not a copy of it):
//!
//! 1. **Identical chunks dropped, the rest sorted** ([`remove_identical_and_sort`];
//!    `pkg/store/proxy_heap.go`, `chainSeriesAndRemIdenticalChunks`). A chunk's
//!    identity key is the `hash` of its first non-empty field in the order
//!    raw, count, max, min, sum, counter, or xxhash64 of that field's bytes
//!    when `hash` is 0. If the key was seen before, the chunk's next field is
//!    tried; a chunk all of whose keys were seen is dropped. The survivors are
//!    sorted by `min_time`, then `max_time`, then content (`AggrChunk.Compare`
//!    in `pkg/store/storepb/custom.go`: per field raw, count, sum, min, max,
//!    counter a present field first, then lower encoding, then *greater*
//!    bytes first).
//! 2. **Overlap split** ([`overlap_split`]; `pkg/dedup/iter.go`,
//!    `NewOverlapSplit`), only when deduplicating. Chunk 0 starts virtual
//!    replica 0; each further chunk joins the first virtual replica whose last
//!    chunk ends strictly before it starts (`max_time < min_time`), else it
//!    starts a new one. Touching bounds therefore count as overlap.
//! 3. **One sample iterator per virtual replica** (`pkg/query/iter.go`,
//!    `chunkSeries.Iterator`). Which field of each chunk is read depends on the
//!    function hint (`aggrsFromFunc` in `pkg/query/querier.go`, see
//!    [`aggrs_from_func`]): for a single aggregate that aggregate if present,
//!    else raw; for the default `[COUNT, SUM]` raw if present, else sum/count
//!    (the average iterator, implemented). The chunks are read in order by
//!    `chunkSeriesIterator`: on moving to the next chunk it skips samples up to
//!    the last timestamp read, so of two overlapping chunks the first wins.
//!    For `rate`, `increase` and `irate` the chunks are read instead by
//!    `ApplyCounterResetsSeriesIterator` (`pkg/compact/downsample/downsample.go`),
//!    which drops NaNs (stale markers included), turns the counter into a
//!    running total that never decreases, and keeps timestamps strictly
//!    increasing. Either is clamped to the querier's `[mint, maxt]`
//!    (`boundedSeriesIterator`, `pkg/dedup/iter.go`).
//! 4. **Deduplication** of the virtual replicas r0..rn:
//!    * [`Mode::Penalty`] (the default; `dedupSeriesIterator`, `pkg/dedup/iter.go`):
//!      `dedup(dedup(dedup(r0, r1), r2), ...)`, see [`penalty`] for the
//!      algorithm. For counter functions (`increase`, `rate`, `irate`,
//!      `resets`) every replica is wrapped so that a switch to a replica whose
//!      value is lower than the last one returned lifts that replica by the
//!      difference (`counterErrAdjustSeriesIterator`).
//!    * [`Mode::Chain`] (`--deduplication.func=chain`, Thanos v0.38): Prometheus's
//!      `storage.ChainedSeriesMerge`, the union ordered by timestamp with one
//!      sample per timestamp; see [`chain`].
//!
//!    A single virtual replica is passed through unchanged.
//!
//! # Deliberate divergences
//!
//! They are listed with reasons in `docs/dedup-divergences.md`. The one that
//! changes query results: `resets()` is *not* read through the counter-resets
//! iterator (Thanos issue #3644 makes `resets()` always 0 over Thanos); Sluice
//! gives Prometheus's answer instead. `rate`, `increase` and `irate` keep
//! Thanos's behaviour exactly. The others only concern inputs Thanos handles
//! badly (negative timestamps, corrupt chunks, samples past `maxt`).

pub mod chain;
mod chunk_set;
mod counter;
mod cursor;
mod error;
mod overlap;
pub mod penalty;
mod series;

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may panic on unexpected errors.
mod tests;

pub use chain::chain_merge;
pub use chunk_set::remove_identical_and_sort;
pub use error::DedupError;
pub use overlap::overlap_split;
pub use penalty::penalty_dedup;

use crate::proto::thanos::{Aggr, AggrChunk};
use cursor::{Field, Pick};

/// The kind of value an iterator is positioned on.
///
/// Only floats exist today. Native histograms will add variants (and
/// `at_histogram` methods on [`SampleIter`]), which is why the type is
/// `non_exhaustive`: consumers match on it instead of assuming floats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValueType {
    /// A float sample; read it with [`SampleIter::at`].
    Float,
}

/// A forward-only iterator over the samples of one series, in increasing
/// timestamp order (strictly so for chunks as Prometheus writes them; the
/// deduplicating iterators guarantee it for any input).
///
/// The shape follows Prometheus's `chunkenc.Iterator` (v2.42), so the PromQL
/// engine can consume one series at a time without collecting it:
///
/// * [`next`](SampleIter::next) moves to the next sample and says what kind
///   of value it is; `Ok(None)` means the series is exhausted.
/// * [`seek`](SampleIter::seek) moves to the first sample at or after `t`;
///   if the current sample already qualifies it stays there. It never moves
///   backwards.
/// * [`at`](SampleIter::at) reads the current float sample. Before the first
///   successful `next`/`seek`, or after exhaustion, it returns some sample
///   without panicking; its value is then meaningless.
///
/// Errors carry the reason (a corrupt chunk, an unsupported encoding, ...).
/// After an error the iterator must not be used further; it still never
/// panics if it is.
pub trait SampleIter {
    /// Advances to the next sample.
    fn next(&mut self) -> Result<Option<ValueType>, DedupError>;

    /// Advances to the first sample whose timestamp is `>= t`.
    fn seek(&mut self, t: i64) -> Result<Option<ValueType>, DedupError>;

    /// The current float sample `(timestamp ms, value)`.
    fn at(&self) -> (i64, f64);

    /// The current sample's timestamp.
    fn at_t(&self) -> i64 {
        self.at().0
    }
}

impl<I: SampleIter + ?Sized> SampleIter for Box<I> {
    fn next(&mut self) -> Result<Option<ValueType>, DedupError> {
        (**self).next()
    }
    fn seek(&mut self, t: i64) -> Result<Option<ValueType>, DedupError> {
        (**self).seek(t)
    }
    fn at(&self) -> (i64, f64) {
        (**self).at()
    }
    fn at_t(&self) -> i64 {
        (**self).at_t()
    }
}

/// How replicas of one series are combined (`--query.replica-label` set and
/// `dedup=true`, or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// No deduplication: the merged series is read as one chunk list
    /// (Thanos's non-dedup path; overlapping chunks: the first one wins).
    Off,
    /// Thanos's penalty algorithm (`--deduplication.func=penalty`, the
    /// default and the only one in v0.31).
    #[default]
    Penalty,
    /// Prometheus's chained merge (`--deduplication.func=chain`, Thanos v0.38).
    Chain,
}

/// Whether Thanos treats the function hint as a counter function
/// (`isCounter` in `pkg/dedup/iter.go`, v0.31): `increase`, `rate`, `irate`,
/// `resets`.
pub fn is_counter(func: &str) -> bool {
    matches!(func, "increase" | "rate" | "irate" | "resets")
}

/// The aggregates the querier asks stores for, given the selector's function
/// hint (`aggrsFromFunc` in `pkg/query/querier.go`, v0.31). The same hint
/// decides which chunk field [`series_iter`] reads, so a request built with
/// this function and the iterator agree.
pub fn aggrs_from_func(func: &str) -> Vec<Aggr> {
    match pick_for(func) {
        Pick::Aggregate(Field::Min) => vec![Aggr::Min],
        Pick::Aggregate(Field::Max) => vec![Aggr::Max],
        Pick::Aggregate(Field::Count) => vec![Aggr::Count],
        Pick::Aggregate(Field::Sum) => vec![Aggr::Sum],
        Pick::Aggregate(Field::Counter) => vec![Aggr::Counter],
        Pick::RawOrAverage => vec![Aggr::Count, Aggr::Sum],
    }
}

/// The chunk field a function hint reads; see [`aggrs_from_func`]. The
/// tests are in the order Thanos makes them ("min_" before "max_", "sum"
/// itself falls through to the default because it needs real samples).
fn pick_for(func: &str) -> Pick {
    if func == "min" || func.starts_with("min_") {
        Pick::Aggregate(Field::Min)
    } else if func == "max" || func.starts_with("max_") {
        Pick::Aggregate(Field::Max)
    } else if func == "count" || func.starts_with("count_") {
        Pick::Aggregate(Field::Count)
    } else if func.starts_with("sum_") {
        Pick::Aggregate(Field::Sum)
    } else if is_counter(func) {
        Pick::Aggregate(Field::Counter)
    } else {
        Pick::RawOrAverage
    }
}

/// What a function hint changes in how one virtual replica is read.
#[derive(Debug, Clone, Copy)]
struct Reading {
    pick: Pick,
    /// Read through the counter-resets iterator (`rate`, `increase`, `irate`).
    counter_resets: bool,
    /// Wrap replicas in the counter error adjustment when deduplicating.
    counter_adjust: bool,
    /// Drop samples whose timestamp does not increase (`resets` only: the
    /// "true last value" marker of downsampled counter chunks, which the
    /// counter-resets iterator would have consumed).
    strictly_increasing: bool,
}

impl Reading {
    fn new(func: &str) -> Reading {
        Reading {
            pick: pick_for(func),
            // Divergence (Thanos #3644): `resets` keeps its raw samples.
            counter_resets: matches!(func, "increase" | "rate" | "irate"),
            counter_adjust: is_counter(func),
            strictly_increasing: func == "resets",
        }
    }

    /// The iterator of one chunk list (one virtual replica, or the whole
    /// series when not deduplicating), clamped to `[mint, maxt]`.
    fn chunk_series(self, chunks: Vec<AggrChunk>, mint: i64, maxt: i64) -> Box<dyn SampleIter> {
        if self.counter_resets {
            // Thanos builds this iterator without the empty-list check, so an
            // empty list is an empty series here, not an error.
            return Box::new(series::Bounded::new(
                counter::CounterResets::new(chunks, self.pick),
                mint,
                maxt,
            ));
        }
        if chunks.is_empty() {
            if self.strictly_increasing {
                // `resets` reads as the counter path does in Thanos: empty.
                return Box::new(series::Failed::empty());
            }
            return Box::new(series::Failed::new(DedupError::EmptyResult));
        }
        Box::new(series::Bounded::new(
            series::ChunkSeries::new(chunks, self.pick, self.strictly_increasing),
            mint,
            maxt,
        ))
    }
}

/// The samples of one merged series.
///
/// # Contract
///
/// * `chunks`: every chunk of one label set, from every store and replica,
///   concatenated in any order (as [`crate::merge`] produces them). This
///   function drops identical chunks and sorts the rest itself (step 1 of the
///   module docs), so the caller need not.
/// * `mint`, `maxt`: the querier's time range in ms, both inclusive: the
///   `mint`/`maxt` the PromQL engine passed when it created the querier
///   (Thanos clamps to these, not to the per-selector hints). No sample
///   outside them is returned.
/// * `mode`: [`Mode::Penalty`] or [`Mode::Chain`] when deduplication is on
///   (`dedup=true` and at least one replica label), [`Mode::Off`] otherwise.
///   With dedup off the querier does not ask stores to drop replica labels,
///   so each replica arrives as its own label set and the merge only
///   combines copies of *the same* replica (e.g. sidecar and store gateway);
///   the caller calls this once per merged label set and gets one series per
///   replica.
/// * `func`: the selector's function hint (Prometheus `SelectHints.Func`:
///   the enclosing function or aggregation name, e.g. `rate`, `max_over_time`,
///   `sum`), `None` when there is none. It selects the chunk field
///   ([`aggrs_from_func`]) and the counter handling.
///
/// Errors (no chunks, corrupt or unsupported chunks) are reported by the
/// returned iterator, at the point where reading reaches them.
pub fn series_iter(
    chunks: Vec<AggrChunk>,
    mint: i64,
    maxt: i64,
    mode: Mode,
    func: Option<&str>,
) -> Box<dyn SampleIter> {
    let reading = Reading::new(func.unwrap_or(""));
    let chunks = remove_identical_and_sort(chunks);
    if mode == Mode::Off {
        return reading.chunk_series(chunks, mint, maxt);
    }
    let mut replicas = overlap_split(chunks);
    if replicas.len() == 1 {
        let only = replicas.pop().unwrap_or_default();
        return reading.chunk_series(only, mint, maxt);
    }
    let iters: Vec<Box<dyn SampleIter>> = replicas
        .into_iter()
        .map(|r| reading.chunk_series(r, mint, maxt))
        .collect();
    match mode {
        Mode::Chain => chain::chain_merge(iters),
        _ => penalty::penalty_dedup(iters, reading.counter_adjust),
    }
}
