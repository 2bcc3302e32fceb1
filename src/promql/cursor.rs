//! How the evaluator reads a selected series' samples — the only place that
//! knows samples are a sorted in-memory slice.
//!
//! Two reads exist, as in Prometheus v2.42 (`vectorSelectorSingle` with a
//! `MemoizedSeriesIterator`, `matrixIterSlice` with a
//! `BufferedSeriesIterator`):
//! - the latest sample at or before a time, within the lookback delta and
//!   not a stale marker;
//! - the non-stale samples in a closed window `[mint, maxt]` (both ends
//!   inclusive in v2.x).
//!
//! A streaming or chunk-decoding storage replaces this module.

use super::value::{is_stale_nan, Point};

/// A forward-moving read position in one series (the evaluator asks for
/// increasing times, so lookups usually move a few samples at most).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Cursor {
    pos: usize,
}

impl Cursor {
    /// The latest sample with `t <= ref_time`, if it is not older than
    /// `ref_time - lookback` and not a stale marker.
    pub(crate) fn at_or_before(
        &mut self,
        samples: &[Point],
        ref_time: i64,
        lookback: i64,
    ) -> Option<Point> {
        // Move forward over samples at or before ref_time; restart with a
        // binary search if asked for an earlier time.
        if self.pos > 0 && samples.get(self.pos - 1).is_some_and(|p| p.t > ref_time) {
            self.pos = samples.partition_point(|p| p.t <= ref_time);
        } else {
            let rest = samples.get(self.pos..).unwrap_or(&[]);
            self.pos += rest.partition_point(|p| p.t <= ref_time);
        }
        let p = *samples.get(self.pos.checked_sub(1)?)?;
        if p.t < ref_time.saturating_sub(lookback) || is_stale_nan(p.v) {
            return None;
        }
        Some(p)
    }
}

/// The samples with `from <= t <= to`, stale markers included (callers skip
/// them while counting).
pub(crate) fn window(samples: &[Point], from: i64, to: i64) -> &[Point] {
    let lo = samples.partition_point(|p| p.t < from);
    let hi = samples.partition_point(|p| p.t <= to);
    samples.get(lo..hi.max(lo)).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(ts: &[i64]) -> Vec<Point> {
        ts.iter().map(|&t| Point { t, v: t as f64 }).collect()
    }

    #[test]
    fn lookback_is_inclusive() {
        let s = pts(&[0, 10, 20]);
        let mut c = Cursor::default();
        assert_eq!(c.at_or_before(&s, 5, 5).map(|p| p.t), Some(0));
        assert_eq!(c.at_or_before(&s, 26, 5).map(|p| p.t), None);
        assert_eq!(c.at_or_before(&s, 25, 5).map(|p| p.t), Some(20));
        assert_eq!(c.at_or_before(&s, 10, 5).map(|p| p.t), Some(10));
        assert_eq!(c.at_or_before(&s, -1, 5), None);
    }

    #[test]
    fn windows_are_closed() {
        let s = pts(&[0, 10, 20, 30]);
        assert_eq!(window(&s, 10, 20).len(), 2);
        assert_eq!(window(&s, 11, 19).len(), 0);
        assert_eq!(window(&s, 40, 50).len(), 0);
    }
}
