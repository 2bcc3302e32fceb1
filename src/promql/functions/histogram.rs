//! histogram_quantile over classic (`le`-labelled) bucket series,
//! Prometheus v2.42 `promql/functions.go` (`funcHistogramQuantile`) and
//! `promql/quantile.go` (`bucketQuantile`, `coalesceBuckets`,
//! `ensureMonotonic`).
//!
//! # Algorithm
//!
//! Samples are grouped by all labels but `le` (the group's output labels
//! also drop the metric name); a sample whose `le` does not parse as a
//! float is skipped. Per group:
//! 1. q = NaN gives NaN, q < 0 gives -Inf, q > 1 gives +Inf;
//! 2. buckets are sorted by upper bound (Go's unstable sort, so equal
//!    bounds are summed in Go's order), and the highest must be +Inf, else
//!    NaN;
//! 3. buckets with equal bounds are merged (`le="0.2"` and `le="2e-1"`),
//!    then counts are made monotonic (each bucket at least the previous);
//! 4. fewer than two buckets or zero observations give NaN;
//! 5. the bucket holding rank `q * total` is found by Go's binary search;
//!    the +Inf bucket answers the second-highest bound, a first bucket with
//!    a bound <= 0 answers that bound, and otherwise the value is
//!    interpolated linearly inside the bucket (from 0 for the first one).

use rustc_hash::FxHashMap as HashMap;

use crate::promql::format::parse_go_float;
use crate::promql::gosort;
use crate::promql::labelset::bytes_without;
use crate::promql::value::{Metric, Sample, Vector};

#[derive(Debug, Clone, Copy)]
struct Bucket {
    upper: f64,
    count: f64,
}

/// `histogram_quantile(q, buckets)`: one sample per bucket group, in the
/// order the groups first appear.
pub(crate) fn histogram_quantile(q: f64, vec: &[Sample]) -> Vector {
    let le = vec!["le".to_string()];
    let mut keys: HashMap<Vec<u8>, usize> = HashMap::default();
    let mut groups: Vec<(Metric, Vec<Bucket>)> = Vec::new();
    let mut key = Vec::new();
    for s in vec {
        let Some(upper) = parse_go_float(crate::labels::get(&s.metric, "le")) else {
            continue;
        };
        bytes_without(&s.metric, &le, &mut key);
        let idx = match keys.get(&key) {
            Some(&i) => i,
            None => {
                keys.insert(key.clone(), groups.len());
                let metric: Vec<_> = s
                    .metric
                    .iter()
                    .filter(|l| l.name != "le" && l.name != crate::labels::METRIC_NAME)
                    .cloned()
                    .collect();
                groups.push((Metric::new(metric), Vec::new()));
                groups.len() - 1
            }
        };
        if let Some(g) = groups.get_mut(idx) {
            g.1.push(Bucket { upper, count: s.v });
        }
    }
    groups
        .into_iter()
        .map(|(metric, mut buckets)| Sample {
            metric,
            t: 0,
            v: bucket_quantile(q, &mut buckets),
        })
        .collect()
}

fn bucket_quantile(q: f64, buckets: &mut Vec<Bucket>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    gosort::sort_by(buckets.as_mut_slice(), &|a: &Bucket, b: &Bucket| {
        a.upper < b.upper
    });
    match buckets.last() {
        Some(b) if b.upper == f64::INFINITY => {}
        _ => return f64::NAN,
    }
    coalesce(buckets);
    ensure_monotonic(buckets);
    let n = buckets.len();
    if n < 2 {
        return f64::NAN;
    }
    let observations = buckets[n - 1].count;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let b = go_search(n - 1, |i| buckets[i].count >= rank);
    if b == n - 1 {
        return buckets[n - 2].upper;
    }
    if b == 0 && buckets[0].upper <= 0.0 {
        return buckets[0].upper;
    }
    let bucket_end = buckets[b].upper;
    let mut bucket_start = 0.0;
    let mut count = buckets[b].count;
    if b > 0 {
        bucket_start = buckets[b - 1].upper;
        count -= buckets[b - 1].count;
        rank -= buckets[b - 1].count;
    }
    bucket_start + (bucket_end - bucket_start) * (rank / count)
}

/// Go's `sort.Search`: the first index in [0, n) where `f` holds, found by
/// the same bisection (so non-monotonic input gives Go's answer).
fn go_search(n: usize, f: impl Fn(usize) -> bool) -> usize {
    let (mut i, mut j) = (0usize, n);
    while i < j {
        let h = (i + j) / 2;
        if !f(h) {
            i = h + 1;
        } else {
            j = h;
        }
    }
    i
}

/// Merges buckets with equal upper bounds (input sorted), summing counts.
fn coalesce(buckets: &mut Vec<Bucket>) {
    let Some(&first) = buckets.first() else {
        return;
    };
    let mut last = first;
    let mut i = 0;
    for k in 1..buckets.len() {
        let b = buckets[k];
        if b.upper == last.upper {
            last.count += b.count;
        } else {
            buckets[i] = last;
            last = b;
            i += 1;
        }
    }
    buckets[i] = last;
    buckets.truncate(i + 1);
}

/// Raises every count to at least the largest count before it.
fn ensure_monotonic(buckets: &mut [Bucket]) {
    let Some(first) = buckets.first() else {
        return;
    };
    let mut max = first.count;
    for b in buckets.iter_mut().skip(1) {
        if b.count > max {
            max = b.count;
        } else if b.count < max {
            b.count = max;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(upper: f64, count: f64) -> Bucket {
        Bucket { upper, count }
    }

    #[test]
    fn quantiles_of_classic_buckets() {
        let mut bs = vec![
            b(0.0, 0.0),
            b(2.0, 1.0),
            b(4.0, 2.0),
            b(6.0, 3.0),
            b(f64::INFINITY, 3.0),
        ];
        assert_eq!(bucket_quantile(0.5, &mut bs), 3.0);
        let mut bs = vec![b(0.1, 1.0), b(0.2, 2.0)];
        assert!(bucket_quantile(0.5, &mut bs).is_nan());
        let mut bs = vec![b(f64::INFINITY, 1.0)];
        assert!(bucket_quantile(0.5, &mut bs).is_nan());
    }
}
