//! The seam between the evaluator and the data: one `select` per selector.
//!
//! The engine does no IO. Before evaluating, it walks the query and asks the
//! [`Storage`] once per vector or matrix selector (as Prometheus v2.42's
//! `Engine.populateSeries` calls `Querier.Select`), with Prometheus's
//! [`SelectHints`]: the time window the selector can read (evaluation start
//! minus range or lookback, with offsets, `@` and enclosing subqueries
//! applied), the step, the enclosing function or aggregation and its
//! grouping. The call is async because the real implementation streams from
//! StoreAPI servers; its future need not be `Send` (Sluice runs one
//! single-threaded executor per core).
//!
//! # Memory plan
//!
//! A selected series is its labels plus its decoded samples
//! ([`StorageSeries`]). The evaluator reads samples only through
//! `engine::cursor` (at-or-before lookups and window slices), so a later
//! implementation that keeps compressed chunks and decodes them on demand
//! changes that module and this type, not the evaluator's algorithms. Until
//! then the samples of every selector live in memory for the whole query,
//! which is what the `max_samples` limit (counted as Prometheus counts it)
//! bounds only partly: it counts samples the evaluator holds, not the
//! selected input.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;

use crate::labels::{matches_all, Matcher};

use super::error::PromqlError;
use super::value::{Labels, Point};

/// Hints for one select, Prometheus's `storage.SelectHints` (v2.42).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectHints {
    /// First timestamp the selector may read, in milliseconds.
    pub start: i64,
    /// Last timestamp the selector may read, in milliseconds.
    pub end: i64,
    /// The query step (or the enclosing subquery's step), in milliseconds;
    /// 0 for instant queries.
    pub step: i64,
    /// The enclosing function or aggregation, "" when there is none or a
    /// binary operator comes first.
    pub func: String,
    /// The grouping labels of a directly enclosing aggregation.
    pub grouping: Vec<String>,
    /// Whether `grouping` is a `by` (true) or `without` (false) list.
    pub by: bool,
    /// The range of a range selector, in milliseconds; 0 otherwise.
    pub range: i64,
    /// Whether chunks crossing start/end may be returned untrimmed
    /// (always false from this engine, as from Prometheus's).
    pub disable_trimming: bool,
}

/// A selected series: its labels and its samples in time order.
///
/// Stale markers are ordinary samples whose value has the stale-NaN bits
/// (see [`super::value::stale_nan`]).
#[derive(Debug, Clone, PartialEq)]
pub struct StorageSeries {
    pub labels: Labels,
    pub samples: Vec<Point>,
}

/// What one select returns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SelectResult {
    /// Series in any order; the engine sorts them by labels, unless
    /// `keep_order`.
    pub series: Vec<StorageSeries>,
    /// The series are in the order evaluation must see them in (the groups
    /// of a streamed aggregation, in the order they appeared, which is the
    /// order of Prometheus's aggregation result): not sorted.
    pub keep_order: bool,
    /// Warnings to pass on to the client (e.g. a partial response).
    pub warnings: Vec<String>,
}

/// The future a select returns.
pub type SelectFuture<'a> = Pin<Box<dyn Future<Output = Result<SelectResult, PromqlError>> + 'a>>;

/// Where the evaluator's data comes from.
pub trait Storage {
    /// The series matching every matcher, with samples in
    /// `[hints.start, hints.end]`. An error fails the query; the engine
    /// prefixes its message with "expanding series: " as Prometheus does.
    fn select<'a>(&'a self, hints: &'a SelectHints, matchers: &'a [Matcher]) -> SelectFuture<'a>;

    /// Told once, before the first select, the span of every selector's
    /// window: Prometheus's `FindMinMaxTime`, the `[mint, maxt]` with which
    /// v2.42 opens its querier (Thanos clamps every series to it).
    fn set_query_window(&self, _mint: i64, _maxt: i64) {}
}

/// An in-memory storage for tests and for the test-script runner.
///
/// Like Prometheus's TSDB querier it trims samples to the hinted window,
/// so results match Prometheus's even where the hints are narrower than
/// what an expression could read.
#[derive(Debug, Clone, Default)]
pub struct MemoryStorage {
    series: Vec<StorageSeries>,
}

impl MemoryStorage {
    /// An empty storage.
    pub fn new() -> MemoryStorage {
        MemoryStorage::default()
    }

    /// Adds samples to the series with these labels (sorted by name here),
    /// creating it if needed. Samples must come in time order after the
    /// series' last one; a sample at an existing timestamp replaces it.
    pub fn append(&mut self, mut labels: Labels, samples: &[Point]) {
        crate::labels::sort(&mut labels);
        let idx = match self
            .series
            .binary_search_by(|s| crate::labels::compare(&s.labels, &labels))
        {
            Ok(i) => i,
            Err(i) => {
                self.series.insert(
                    i,
                    StorageSeries {
                        labels,
                        samples: Vec::new(),
                    },
                );
                i
            }
        };
        if let Some(s) = self.series.get_mut(idx) {
            for p in samples {
                // The common case, samples after the series' last one, is
                // a push; only an out-of-order or repeated timestamp
                // searches.
                if s.samples.last().is_none_or(|l| l.t < p.t) {
                    s.samples.push(*p);
                    continue;
                }
                match s.samples.binary_search_by(|q| q.t.cmp(&p.t)) {
                    Ok(i) => s.samples[i] = *p,
                    Err(i) => s.samples.insert(i, *p),
                }
            }
        }
    }

    /// Removes every series.
    pub fn clear(&mut self) {
        self.series.clear();
    }

    /// The series, sorted by labels.
    pub fn series(&self) -> &[StorageSeries] {
        &self.series
    }

    fn select_now(&self, hints: &SelectHints, matchers: &[Matcher]) -> SelectResult {
        let mut out = Vec::new();
        for s in &self.series {
            if !matches_all(matchers, &s.labels) {
                continue;
            }
            let lo = s.samples.partition_point(|p| p.t < hints.start);
            let hi = s.samples.partition_point(|p| p.t <= hints.end);
            let samples = s.samples.get(lo..hi).unwrap_or(&[]).to_vec();
            if samples.is_empty() {
                continue;
            }
            out.push(StorageSeries {
                labels: s.labels.clone(),
                samples,
            });
        }
        SelectResult {
            keep_order: false,
            series: out,
            warnings: Vec::new(),
        }
    }
}

impl Storage for MemoryStorage {
    fn select<'a>(&'a self, hints: &'a SelectHints, matchers: &'a [Matcher]) -> SelectFuture<'a> {
        let r = self.select_now(hints, matchers);
        Box::pin(async move { Ok(r) })
    }
}

/// The select a [`PerSelect`] series answers: its hints and matchers.
#[derive(Debug, Clone)]
pub struct SelectKey {
    pub hints: SelectHints,
    pub matchers: Vec<Matcher>,
}

/// The series of each select of a query (the series-by-series path, also
/// over expressions of several selectors joined one-to-one): the select
/// whose hints and matchers are those of key `i` gets series `i`, trimmed
/// to the hinted window, without a copy (`None`: no samples in the
/// window). A select may also be given several series ([`PerSelect::groups`]:
/// a held side's match group). Each answers once; a select that none
/// answers is an internal error rather than a silently empty answer.
#[derive(Debug)]
pub struct PerSelect<'a> {
    keys: &'a [SelectKey],
    series: RefCell<Vec<Option<Vec<StorageSeries>>>>,
}

impl<'a> PerSelect<'a> {
    pub fn new(keys: &'a [SelectKey], series: Vec<Option<StorageSeries>>) -> PerSelect<'a> {
        PerSelect::groups(
            keys,
            series
                .into_iter()
                .map(|s| s.into_iter().collect())
                .collect(),
        )
    }

    /// Several series for a select, in the order given (which must be the
    /// select's order: sorted by labels).
    pub fn groups(keys: &'a [SelectKey], series: Vec<Vec<StorageSeries>>) -> PerSelect<'a> {
        let series = series
            .into_iter()
            .map(|mut group| {
                for s in group.iter_mut() {
                    crate::labels::sort(&mut s.labels);
                }
                Some(group)
            })
            .collect();
        PerSelect {
            keys,
            series: RefCell::new(series),
        }
    }

    fn select_now(
        &self,
        hints: &SelectHints,
        matchers: &[Matcher],
    ) -> Result<SelectResult, PromqlError> {
        let mut series = self.series.borrow_mut();
        let found = self.keys.iter().zip(series.iter_mut()).find(|(k, s)| {
            s.is_some() && k.hints == *hints && same_matchers(&k.matchers, matchers)
        });
        let Some((_, slot)) = found else {
            return Err(PromqlError::internal(
                "a per-select storage was asked for a select it does not hold",
            ));
        };
        let mut out = slot.take().unwrap_or_default();
        out.retain_mut(|s| {
            if !matches_all(matchers, &s.labels) {
                return false;
            }
            let hi = s.samples.partition_point(|p| p.t <= hints.end);
            s.samples.truncate(hi);
            let lo = s.samples.partition_point(|p| p.t < hints.start);
            s.samples.drain(..lo);
            !s.samples.is_empty()
        });
        Ok(SelectResult {
            keep_order: false,
            series: out,
            warnings: Vec::new(),
        })
    }
}

fn same_matchers(a: &[Matcher], b: &[Matcher]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.kind == y.kind && x.name == y.name && x.value == y.value)
}

impl Storage for PerSelect<'_> {
    fn select<'b>(&'b self, hints: &'b SelectHints, matchers: &'b [Matcher]) -> SelectFuture<'b> {
        let r = self.select_now(hints, matchers);
        Box::pin(async move { r })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::MatchKind;
    use crate::proto::thanos::Label;
    use futures_lite::future::block_on;

    fn series() -> StorageSeries {
        StorageSeries {
            labels: vec![Label {
                name: "__name__".into(),
                value: "up".into(),
            }],
            samples: (0..10)
                .map(|i| Point {
                    t: i * 10,
                    v: i as f64,
                })
                .collect(),
        }
    }

    fn hints(start: i64, end: i64) -> SelectHints {
        SelectHints {
            start,
            end,
            ..SelectHints::default()
        }
    }

    fn key(start: i64, end: i64, name: &str) -> SelectKey {
        SelectKey {
            hints: hints(start, end),
            matchers: vec![Matcher::new(MatchKind::Eq, "__name__", name).unwrap()],
        }
    }

    #[test]
    fn per_select_series_is_trimmed_to_the_window_and_selected_once() {
        let keys = [key(15, 40, "up")];
        let st = PerSelect::new(&keys, vec![Some(series())]);
        let m = &keys[0].matchers;
        let r = block_on(st.select(&hints(15, 40), m)).unwrap();
        let ts: Vec<i64> = r.series[0].samples.iter().map(|p| p.t).collect();
        assert_eq!(ts, vec![20, 30, 40]);
        // The same window from MemoryStorage, which copies.
        let mut mem = MemoryStorage::new();
        let s = series();
        mem.append(s.labels, &s.samples);
        assert_eq!(block_on(mem.select(&hints(15, 40), m)).unwrap(), r);
        // Asked twice, or for a select it does not hold: an error.
        assert!(block_on(st.select(&hints(15, 40), m)).is_err());
        let st = PerSelect::new(&keys, vec![Some(series())]);
        assert!(block_on(st.select(&hints(0, 40), m)).is_err());
    }

    #[test]
    fn per_select_answers_each_select_with_its_own_series() {
        // `x / x`: two selects alike take the two series in turn.
        let keys = [key(0, 100, "up"), key(0, 100, "up")];
        let mut second = series();
        second.samples.truncate(2);
        let st = PerSelect::new(&keys, vec![Some(series()), Some(second)]);
        let m = &keys[0].matchers;
        let first = block_on(st.select(&hints(0, 100), m)).unwrap();
        let second = block_on(st.select(&hints(0, 100), m)).unwrap();
        assert_eq!(first.series[0].samples.len(), 10);
        assert_eq!(second.series[0].samples.len(), 2);
        // No samples in the window, or a series that does not match: empty.
        let keys = [key(200, 300, "up"), key(0, 100, "down")];
        let st = PerSelect::new(&keys, vec![Some(series()), Some(series())]);
        let r = block_on(st.select(&hints(200, 300), &keys[0].matchers)).unwrap();
        assert!(r.series.is_empty());
        let r = block_on(st.select(&hints(0, 100), &keys[1].matchers)).unwrap();
        assert!(r.series.is_empty());
    }

    #[test]
    fn append_keeps_time_order_and_replaces_equal_timestamps() {
        let mut mem = MemoryStorage::new();
        let l = series().labels;
        let p = |t, v| Point { t, v };
        mem.append(l.clone(), &[p(10, 1.0), p(30, 3.0)]);
        mem.append(l.clone(), &[p(20, 2.0), p(30, 4.0), p(40, 5.0)]);
        assert_eq!(
            mem.series()[0].samples,
            vec![p(10, 1.0), p(20, 2.0), p(30, 4.0), p(40, 5.0)]
        );
    }
}
