//! The penalty algorithm: Thanos v0.31.0 `dedupSeriesIterator`
//! (`pkg/dedup/iter.go`), and the pairwise chain over many replicas
//! (`dedupSeries.Iterator`).
//!
//! # Algorithm (two replicas `a` and `b`)
//!
//! State: `last_t` (the last timestamp returned, initially "none" =
//! `i64::MIN`), penalties `pen_a` and `pen_b` (initially 0), `use_a`
//! (which replica was selected last; initially **false**, as in v0.31) and
//! the replica the value is read from (initially `a`). Before anything else
//! both replicas are advanced once.
//!
//! Each `next`:
//!
//! 1. Remember the value last returned, if the selected replica had one,
//!    and `use_a`.
//! 2. Seek `a` (if not exhausted) to `last_t + 1 + pen_a`, and `b` likewise
//!    with `pen_b`.
//! 3. If `a` is exhausted, select `b`; if it has a sample, `last_t` becomes
//!    its timestamp and `pen_b` 0. If `b` is exhausted, select `a` likewise.
//! 4. Otherwise select the replica with the smaller timestamp, `a` on a tie.
//!    The other one gets the penalty `2 * (t_selected - last_t)`, or 5000 ms
//!    if nothing was returned yet; the selected one's penalty becomes 0;
//!    `last_t` becomes `t_selected`.
//! 5. If the selection changed replicas (by `use_a`) and step 1 remembered
//!    a value, every non-exhausted replica is told that value
//!    (`adjust_at_value`, see `counter.rs`; a no-op for non-counters).
//!
//! So a replica that was not selected can only win again with a sample more
//! than twice the last step past the last returned timestamp: the output
//! keeps the selected replica's cadence and switches only across a gap of
//! more than about two scrape intervals, then stays on the new replica.
//! (In v0.31 `use_a` starts false, so if `a` wins the very first pick that
//! counts as a switch and `b` may be adjusted against `a`'s first value,
//! Thanos issue #7623; this is reproduced.)
//!
//! `seek(t)` does not seek the replicas: it calls `next` until the current
//! timestamp is `>= t`, so no gap is skipped.
//!
//! # Many replicas
//!
//! Replicas r0, r1, ..., rn are combined as `dedup(dedup(dedup(r0, r1), r2),
//! ...)`. An inner combination is itself a [`Replica`]: telling it a value
//! tells its non-exhausted replicas.
//!
//! # Divergences
//!
//! * Thanos's `AtT` reads the replica chosen by `use_a` while `At` reads the
//!   one last selected; they differ only before the first `next`. Here both
//!   read the one last selected, and a `seek` before the first `next` starts
//!   with a `next`. The PromQL engine always calls `next` first.
//! * Thanos keeps going with the other replica when one fails and reports the
//!   error at the end; here the error is returned at once.
//! * Go's int64 arithmetic wraps, which with timestamps near the ends of the
//!   range can send a replica's seek target backwards and repeat a sample
//!   forever; here it saturates, and nothing follows a sample at `i64::MAX`.

use super::counter::{CounterAdjust, NoAdjust};
use super::{DedupError, SampleIter, ValueType};

/// The penalty for the replica not picked first, before any step is known.
const INITIAL_PENALTY_MS: i64 = 5000;

/// A replica the penalty algorithm can tell the last value it returned.
pub trait Replica: SampleIter {
    /// Called with the last value returned when the algorithm switches
    /// replicas. Counter replicas raise their offset if they are behind.
    fn adjust_at_value(&mut self, last: f64);
}

impl<R: Replica + ?Sized> Replica for Box<R> {
    fn adjust_at_value(&mut self, last: f64) {
        (**self).adjust_at_value(last)
    }
}

/// Thanos's `dedupSeriesIterator` over two replicas.
pub struct Penalty {
    a: Box<dyn Replica>,
    b: Box<dyn Replica>,
    /// Whether `a` (`b`) has a current sample; false once exhausted.
    a_ok: bool,
    b_ok: bool,
    /// Both replicas have been advanced once.
    primed: bool,
    /// A `next` has returned a sample.
    started: bool,
    exhausted: bool,
    last_t: i64,
    pen_a: i64,
    pen_b: i64,
    use_a: bool,
    /// Whether the value is read from `a` (Thanos's `lastIter`).
    read_a: bool,
}

impl std::fmt::Debug for Penalty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Penalty")
            .field("last_t", &self.last_t)
            .field("pen_a", &self.pen_a)
            .field("pen_b", &self.pen_b)
            .field("use_a", &self.use_a)
            .finish_non_exhaustive()
    }
}

impl Penalty {
    /// Combines two replicas; `a` wins ties.
    pub fn new(a: Box<dyn Replica>, b: Box<dyn Replica>) -> Penalty {
        Penalty {
            a,
            b,
            a_ok: false,
            b_ok: false,
            primed: false,
            started: false,
            exhausted: false,
            last_t: i64::MIN,
            pen_a: 0,
            pen_b: 0,
            use_a: false,
            read_a: true,
        }
    }

    /// Advances both replicas once (Thanos does it when constructing).
    fn prime(&mut self) -> Result<(), DedupError> {
        if !self.primed {
            self.primed = true;
            self.a_ok = self.a.next()?.is_some();
            self.b_ok = self.b.next()?.is_some();
        }
        Ok(())
    }

    /// The value last returned, if the selected replica has one.
    fn last_value(&self) -> Option<f64> {
        let has = if self.use_a { self.a_ok } else { self.b_ok };
        has.then(|| self.read().at().1)
    }

    fn read(&self) -> &dyn Replica {
        if self.read_a {
            &*self.a
        } else {
            &*self.b
        }
    }

    /// The penalty for the replica not selected at `t`.
    fn penalty(&self, t: i64) -> i64 {
        if self.last_t == i64::MIN {
            INITIAL_PENALTY_MS
        } else {
            // Go wraps on overflow; saturating keeps the seek targets
            // increasing, so a replica cannot be sent back and the loop
            // cannot stall on absurd timestamps.
            t.saturating_sub(self.last_t).saturating_mul(2)
        }
    }

    fn select(&mut self) -> Option<ValueType> {
        if !self.a_ok {
            self.use_a = false;
            if !self.b_ok {
                return None;
            }
            self.last_t = self.b.at_t();
            self.read_a = false;
            self.pen_b = 0;
            return Some(ValueType::Float);
        }
        if !self.b_ok {
            self.use_a = true;
            self.last_t = self.a.at_t();
            self.read_a = true;
            self.pen_a = 0;
            return Some(ValueType::Float);
        }
        let (ta, tb) = (self.a.at_t(), self.b.at_t());
        self.use_a = ta <= tb;
        if self.use_a {
            self.pen_b = self.penalty(ta);
            self.pen_a = 0;
            self.last_t = ta;
            self.read_a = true;
        } else {
            self.pen_a = self.penalty(tb);
            self.pen_b = 0;
            self.last_t = tb;
            self.read_a = false;
        }
        Some(ValueType::Float)
    }
}

impl SampleIter for Penalty {
    fn next(&mut self) -> Result<Option<ValueType>, DedupError> {
        if self.exhausted {
            return Ok(None);
        }
        self.prime()?;
        if self.started && self.last_t == i64::MAX {
            // Nothing can follow; without this a sample at i64::MAX would be
            // returned forever.
            self.exhausted = true;
            return Ok(None);
        }
        let last_value = self.last_value();
        let last_use_a = self.use_a;
        let from = self.last_t.saturating_add(1);
        if self.a_ok {
            self.a_ok = self.a.seek(from.saturating_add(self.pen_a))?.is_some();
        }
        if self.b_ok {
            self.b_ok = self.b.seek(from.saturating_add(self.pen_b))?.is_some();
        }
        let found = self.select();
        if self.use_a != last_use_a {
            if let Some(v) = last_value {
                self.adjust_at_value(v);
            }
        }
        match found {
            Some(_) => self.started = true,
            None => self.exhausted = true,
        }
        Ok(found)
    }

    fn seek(&mut self, t: i64) -> Result<Option<ValueType>, DedupError> {
        if !self.started && self.next()?.is_none() {
            return Ok(None);
        }
        loop {
            if self.exhausted {
                return Ok(None);
            }
            if self.at_t() >= t {
                return Ok(Some(ValueType::Float));
            }
            if self.next()?.is_none() {
                return Ok(None);
            }
        }
    }

    fn at(&self) -> (i64, f64) {
        self.read().at()
    }

    fn at_t(&self) -> i64 {
        self.read().at_t()
    }
}

impl Replica for Penalty {
    fn adjust_at_value(&mut self, last: f64) {
        if self.a_ok {
            self.a.adjust_at_value(last);
        }
        if self.b_ok {
            self.b.adjust_at_value(last);
        }
    }
}

/// Combines replicas as Thanos's `dedupSeries.Iterator` does:
/// `dedup(dedup(dedup(r0, r1), r2), ...)`, each replica wrapped in the
/// counter error adjustment if `counter` (see [`super::is_counter`]). One
/// replica is returned as it is, unwrapped; none gives an empty iterator.
pub fn penalty_dedup(replicas: Vec<Box<dyn SampleIter>>, counter: bool) -> Box<dyn SampleIter> {
    let wrap = |r: Box<dyn SampleIter>| -> Box<dyn Replica> {
        if counter {
            Box::new(CounterAdjust::new(r))
        } else {
            Box::new(NoAdjust(r))
        }
    };
    let mut iter = replicas.into_iter();
    let Some(first) = iter.next() else {
        return Box::new(super::series::Failed::empty());
    };
    let Some(second) = iter.next() else {
        return first;
    };
    let mut acc = Penalty::new(wrap(first), wrap(second));
    for r in iter {
        acc = Penalty::new(Box::new(acc), wrap(r));
    }
    Box::new(acc)
}
