//! `--deduplication.func=chain`: the union of all replicas, one sample per
//! timestamp.
//!
//! Thanos added this in v0.38 (#7808, `pkg/dedup/iter.go` at HEAD): each group
//! of (virtual) replicas is merged with Prometheus's
//! `storage.ChainedSeriesMerge` instead of the penalty algorithm. It suits
//! replicas with identical timestamps (Thanos Receive replication), where it
//! fills a gap in one replica from another without the penalty's delay.
//!
//! # Algorithm
//!
//! Every replica is advanced once. `next` advances every replica standing at
//! or before the last timestamp returned (that drops the duplicates of it)
//! and returns the replica with the smallest timestamp. `seek(t)` returns the
//! current sample if it is at or after `t`, else seeks every replica to `t`
//! and returns the smallest. No counter adjustment is applied (Thanos applies
//! none in chain mode).
//!
//! Prometheus (v2.42 `storage/merge.go`, `chainSampleIterator`) leaves open
//! which replica's sample is kept when several share a timestamp (its heap
//! compares timestamps only). Here the first replica in order wins, which
//! makes the result deterministic; it differs only where replicas disagree
//! on the value at the same timestamp.

use super::{DedupError, SampleIter, ValueType};

/// Prometheus's `chainSampleIterator` over the replicas of one series.
pub struct Chain {
    iters: Vec<Box<dyn SampleIter>>,
    /// Whether replica `i` has a current sample.
    ok: Vec<bool>,
    primed: bool,
    /// The replica the current sample comes from.
    current: Option<usize>,
    exhausted: bool,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("replicas", &self.iters.len())
            .field("current", &self.current)
            .finish_non_exhaustive()
    }
}

impl Chain {
    pub fn new(iters: Vec<Box<dyn SampleIter>>) -> Chain {
        Chain {
            ok: vec![false; iters.len()],
            iters,
            primed: false,
            current: None,
            exhausted: false,
        }
    }

    /// Makes the replica with the smallest timestamp current (the first on
    /// a tie).
    fn pick(&mut self) -> Option<ValueType> {
        let mut best: Option<(usize, i64)> = None;
        for (i, it) in self.iters.iter().enumerate() {
            if !self.ok[i] {
                continue;
            }
            let t = it.at_t();
            if best.is_none_or(|(_, bt)| t < bt) {
                best = Some((i, t));
            }
        }
        self.current = best.map(|(i, _)| i);
        if self.current.is_none() {
            self.exhausted = true;
            return None;
        }
        Some(ValueType::Float)
    }

    fn current_t(&self) -> Option<i64> {
        let i = self.current?;
        self.iters.get(i).map(|it| it.at_t())
    }
}

impl SampleIter for Chain {
    fn next(&mut self) -> Result<Option<ValueType>, DedupError> {
        if self.exhausted {
            return Ok(None);
        }
        if !self.primed {
            self.primed = true;
            for (it, ok) in self.iters.iter_mut().zip(self.ok.iter_mut()) {
                *ok = it.next()?.is_some();
            }
            return Ok(self.pick());
        }
        let Some(last) = self.current_t() else {
            return Ok(self.pick());
        };
        for (it, ok) in self.iters.iter_mut().zip(self.ok.iter_mut()) {
            while *ok && it.at_t() <= last {
                *ok = it.next()?.is_some();
            }
        }
        Ok(self.pick())
    }

    fn seek(&mut self, t: i64) -> Result<Option<ValueType>, DedupError> {
        if self.exhausted {
            return Ok(None);
        }
        if !self.primed && self.next()?.is_none() {
            return Ok(None);
        }
        if self.current_t().is_some_and(|ct| ct >= t) {
            return Ok(Some(ValueType::Float));
        }
        for (it, ok) in self.iters.iter_mut().zip(self.ok.iter_mut()) {
            if *ok {
                *ok = it.seek(t)?.is_some();
            }
        }
        Ok(self.pick())
    }

    fn at(&self) -> (i64, f64) {
        self.current
            .and_then(|i| self.iters.get(i))
            .map_or((0, 0.0), |it| it.at())
    }
}

/// Merges replicas as Prometheus's `ChainedSeriesMerge` does. One replica is
/// returned as it is; none gives an empty iterator.
pub fn chain_merge(mut replicas: Vec<Box<dyn SampleIter>>) -> Box<dyn SampleIter> {
    if replicas.len() == 1 {
        if let Some(only) = replicas.pop() {
            return only;
        }
    }
    Box::new(Chain::new(replicas))
}
