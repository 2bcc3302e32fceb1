//! sort, sort_desc, scalar, vector, absent, changes, resets, and the
//! quantile helper shared with the `quantile` aggregation
//! (Prometheus v2.42 `promql/functions.go` and `promql/quantile.go`).

use crate::promql::gosort;
use crate::promql::labelset::Builder;
use crate::promql::plan::Node;
use crate::promql::value::{Metric, Point, Sample, Vector};

use super::scalar_sample;

/// `scalar(v)`: the single sample's value, NaN unless there is exactly one.
pub(crate) fn scalar(vec: &[Sample]) -> Vector {
    match vec {
        [one] => vec![scalar_sample(one.v)],
        _ => vec![scalar_sample(f64::NAN)],
    }
}

/// `vector(s)`: one sample with no labels.
pub(crate) fn vector(v: f64) -> Vector {
    vec![scalar_sample(v)]
}

/// `sort` (ascending) and `sort_desc`: NaN last in both, ties ordered as
/// Go's sort leaves them. Prometheus sorts with the reverse of its heap
/// orderings, so the comparisons below are those orderings with the
/// arguments swapped.
pub(crate) fn sort(vec: &[Sample], desc: bool) -> Vector {
    let mut out = vec.to_vec();
    if desc {
        gosort::sort_by(&mut out, &|a: &Sample, b: &Sample| {
            b.v.is_nan() || b.v < a.v
        });
    } else {
        gosort::sort_by(&mut out, &|a: &Sample, b: &Sample| {
            b.v.is_nan() || b.v > a.v
        });
    }
    out
}

/// `absent(v)`: nothing if `v` has samples, else one sample of value 1 with
/// the labels the selector pins with equality matchers (a label matched
/// twice, or by any other matcher, is left out).
pub(crate) fn absent(vec: &[Sample], arg: Option<&Node>) -> Vector {
    if !vec.is_empty() {
        return Vec::new();
    }
    vec![Sample {
        metric: labels_for_absent(arg),
        t: 0,
        v: 1.0,
    }]
}

/// Prometheus's `createLabelsForAbsentFunction`.
pub(crate) fn labels_for_absent(arg: Option<&Node>) -> Metric {
    let matchers = match arg {
        Some(Node::Vector(vs)) => &vs.matchers,
        Some(Node::Matrix(ms)) => &ms.vs.matchers,
        _ => return Metric::default(),
    };
    let mut b = Builder::new(&[]);
    let mut has: Vec<&str> = Vec::new();
    for m in matchers {
        if m.name == crate::labels::METRIC_NAME {
            continue;
        }
        if m.kind == crate::labels::MatchKind::Eq && !has.contains(&m.name.as_str()) {
            b.set(&m.name, &m.value);
            has.push(&m.name);
        } else {
            b.del_one(&m.name);
        }
    }
    Metric::new(b.labels())
}

/// `changes`: how often the value changed (NaN to NaN is no change).
pub(crate) fn changes(points: &[Point]) -> f64 {
    let Some(first) = points.first() else {
        return 0.0;
    };
    let mut changes = 0u64;
    let mut prev = first.v;
    for p in points.get(1..).unwrap_or(&[]) {
        let cur = p.v;
        if cur != prev && !(cur.is_nan() && prev.is_nan()) {
            changes += 1;
        }
        prev = cur;
    }
    changes as f64
}

/// `resets`: how often the value decreased.
pub(crate) fn resets(points: &[Point]) -> f64 {
    let Some(first) = points.first() else {
        return 0.0;
    };
    let mut resets = 0u64;
    let mut prev = first.v;
    for p in points.get(1..).unwrap_or(&[]) {
        if p.v < prev {
            resets += 1;
        }
        prev = p.v;
    }
    resets as f64
}

/// The q-quantile of `values` by linear interpolation between the closest
/// ranks (Prometheus's `quantile`): NaN for no values or q = NaN, -Inf for
/// q < 0, +Inf for q > 1. Sorts `values` as Go's sort would (NaN first).
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    gosort::sort_by(values, &|a: &f64, b: &f64| a.is_nan() || a < b);
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = crate::promql::functions::math::go_max(0.0, rank.floor());
    let upper = crate::promql::functions::math::go_min(n - 1.0, lower + 1.0);
    let weight = rank - rank.floor();
    let at = |i: f64| values.get(i as usize).copied().unwrap_or(f64::NAN);
    at(lower) * (1.0 - weight) + at(upper) * weight
}
