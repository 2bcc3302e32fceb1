//! Binary operators at one evaluation step: arithmetic, comparison (with
//! and without `bool`), `atan2`, and the set operators `and`, `or`,
//! `unless`, with vector matching (`on`, `ignoring`, `group_left`,
//! `group_right`). Prometheus v2.42 `promql/engine.go` (`VectorAnd`,
//! `VectorOr`, `VectorUnless`, `VectorBinop`, `resultMetric`,
//! `VectorscalarBinop`, `scalarBinop`, `vectorElemBinop`).
//!
//! # Vector matching
//!
//! Each sample has a match signature: its labels restricted to the `on`
//! list, or all labels but the `ignoring` list and the metric name. For
//! one-to-one and many-to-one matching the right side (the "one" side; the
//! sides are swapped for `group_right`) is indexed by signature — two
//! right samples with one signature is a many-to-many error. Every left
//! sample then finds its partner; comparisons without `bool` drop pairs
//! that compare false. The result labels come from the left ("many") side:
//! arithmetic drops the metric name, one-to-one matching keeps only the
//! `on` labels (or drops the `ignoring` ones), and `group_x` labels are
//! copied from the "one" side. A second result for the same signature is
//! an error for one-to-one matching; for many-to-one, a second result with
//! the same labels is.

use std::sync::Arc;

// A fast non-cryptographic hash: these maps are rebuilt at every step of
// a range query, keyed by label signatures we compute ourselves.
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use crate::labels::METRIC_NAME;

use super::error::{PromqlError, Result};
use super::functions::math::{atan2, go_mod, go_pow};
use super::functions::NodeCache;
use super::labelset::{bytes_with, bytes_without, match_labels, to_string, Builder};
use super::plan::{BinOp, Card, VectorMatching};
use super::value::{Labels, Metric, Sample, Vector};

/// The match signature of a label set for the given matching.
pub(crate) fn signature(m: &Labels, matching: &VectorMatching) -> Vec<u8> {
    let mut out = Vec::new();
    if matching.on {
        bytes_with(m, &matching.matching_labels, &mut out);
    } else {
        let mut names = matching.matching_labels.clone();
        names.push(METRIC_NAME.to_string());
        names.sort();
        bytes_without(m, &names, &mut out);
    }
    out
}

/// `lhs and rhs`: left samples whose signature occurs on the right.
pub(crate) fn vector_and(lhs: &[Sample], rhs: &[Sample], lsig: &[&[u8]], rsig: &[&[u8]]) -> Vector {
    if lhs.is_empty() || rhs.is_empty() {
        return Vec::new();
    }
    let right: HashSet<&[u8]> = rsig.iter().copied().collect();
    lhs.iter()
        .zip(lsig)
        .filter(|(_, s)| right.contains(*s))
        .map(|(l, _)| l.clone())
        .collect()
}

/// `lhs or rhs`: all left samples, then right samples whose signature does
/// not occur on the left.
pub(crate) fn vector_or(lhs: &[Sample], rhs: &[Sample], lsig: &[&[u8]], rsig: &[&[u8]]) -> Vector {
    if lhs.is_empty() {
        return rhs.to_vec();
    }
    if rhs.is_empty() {
        return lhs.to_vec();
    }
    let left: HashSet<&[u8]> = lsig.iter().copied().collect();
    let mut out = lhs.to_vec();
    out.extend(
        rhs.iter()
            .zip(rsig)
            .filter(|(_, s)| !left.contains(*s))
            .map(|(r, _)| r.clone()),
    );
    out
}

/// `lhs unless rhs`: left samples whose signature does not occur on the
/// right.
pub(crate) fn vector_unless(
    lhs: &[Sample],
    rhs: &[Sample],
    lsig: &[&[u8]],
    rsig: &[&[u8]],
) -> Vector {
    if lhs.is_empty() || rhs.is_empty() {
        return lhs.to_vec();
    }
    let right: HashSet<&[u8]> = rsig.iter().copied().collect();
    lhs.iter()
        .zip(lsig)
        .filter(|(_, s)| !right.contains(*s))
        .map(|(l, _)| l.clone())
        .collect()
}

/// Caches kept across the steps of one vector/vector operation.
#[derive(Debug, Default)]
pub(crate) struct BinopCache {
    /// Keyed by the two label sets' addresses: hashing whole label sets
    /// at every step cost more than the operation. The entry holds both
    /// `Arc`s, so neither allocation can be freed and its address reused
    /// while the entry exists.
    result_metric: HashMap<(usize, usize), (Metric, Metric, Metric)>,
    pub(crate) node: NodeCache,
}

/// A vector/vector arithmetic or comparison operation.
#[allow(clippy::too_many_arguments)]
pub(crate) fn vector_binop(
    op: BinOp,
    lhs: &[Sample],
    rhs: &[Sample],
    matching: &VectorMatching,
    return_bool: bool,
    lsig: &[&[u8]],
    rsig: &[&[u8]],
    cache: &mut BinopCache,
) -> Result<Vector> {
    if matching.card == Card::ManyToMany {
        return Err(PromqlError::internal(
            "many-to-many only allowed for set operators",
        ));
    }
    if lhs.is_empty() || rhs.is_empty() {
        return Ok(Vec::new());
    }
    let (lhs, rhs, lsig, rsig) = if matching.card == Card::OneToMany {
        (rhs, lhs, rsig, lsig)
    } else {
        (lhs, rhs, lsig, rsig)
    };

    let mut right: HashMap<&[u8], &Sample> =
        HashMap::with_capacity_and_hasher(rhs.len(), Default::default());
    for (rs, sig) in rhs.iter().zip(rsig) {
        if let Some(dup) = right.get(sig) {
            let one_side = if matching.card == Card::OneToMany {
                "left"
            } else {
                "right"
            };
            let matched = match_labels(&rs.metric, matching.on, &matching.matching_labels);
            return Err(PromqlError::execution(format!(
                "found duplicate series for the match group {} on the {} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                to_string(&matched),
                one_side,
                to_string(&rs.metric),
                to_string(&dup.metric)
            )));
        }
        right.insert(sig, rs);
    }

    // One-to-one: the signatures that matched. Many-to-one: per signature,
    // the result label sets produced so far.
    let mut matched: HashMap<&[u8], HashSet<Metric>> =
        HashMap::with_capacity_and_hasher(right.len(), Default::default());
    let mut out = Vec::with_capacity(lhs.len());
    for (ls, sig) in lhs.iter().zip(lsig) {
        let Some(rs) = right.get(sig) else {
            continue;
        };
        let (vl, vr) = if matching.card == Card::OneToMany {
            (rs.v, ls.v)
        } else {
            (ls.v, rs.v)
        };
        let (mut value, keep) = vector_elem_binop(op, vl, vr)?;
        if return_bool {
            value = if keep { 1.0 } else { 0.0 };
        } else if !keep {
            continue;
        }
        let mut metric = result_metric(&ls.metric, &rs.metric, op, matching, cache);
        if return_bool {
            metric = cache.node.drop_metric_name(&metric);
        }
        match matching.card {
            Card::OneToOne => {
                if matched.contains_key(sig) {
                    return Err(PromqlError::execution(
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                    ));
                }
                matched.insert(sig, HashSet::default());
            }
            _ => {
                if !matched.entry(sig).or_default().insert(metric.clone()) {
                    return Err(PromqlError::execution(
                        "multiple matches for labels: grouping labels must ensure unique matches",
                    ));
                }
            }
        }
        out.push(Sample {
            metric,
            t: 0,
            v: value,
        });
    }
    Ok(out)
}

/// The labels of a vector/vector result (Prometheus's `resultMetric`).
fn result_metric(
    lhs: &Metric,
    rhs: &Metric,
    op: BinOp,
    matching: &VectorMatching,
    cache: &mut BinopCache,
) -> Metric {
    let key = (Arc::as_ptr(lhs) as usize, Arc::as_ptr(rhs) as usize);
    if let Some((_, _, m)) = cache.result_metric.get(&key) {
        return m.clone();
    }
    let mut b = Builder::new(lhs);
    if op.drops_metric_name() {
        b.del_one(METRIC_NAME);
    }
    if matching.card == Card::OneToOne {
        if matching.on {
            b.keep(&matching.matching_labels);
        } else {
            b.del(&matching.matching_labels);
        }
    }
    for name in &matching.include {
        // Labels from group_x come from the "one" side.
        let v = crate::labels::get(rhs, name);
        if v.is_empty() {
            b.del_one(name);
        } else {
            b.set(name, v);
        }
    }
    let m = Metric::new(b.labels());
    cache
        .result_metric
        .insert(key, (lhs.clone(), rhs.clone(), m.clone()));
    m
}

/// A vector/scalar operation; `swap` when the scalar is on the left.
pub(crate) fn vector_scalar_binop(
    op: BinOp,
    lhs: &[Sample],
    scalar: f64,
    swap: bool,
    return_bool: bool,
    cache: &mut NodeCache,
) -> Result<Vector> {
    let mut out = Vec::with_capacity(lhs.len());
    for s in lhs {
        let (lv, rv) = if swap { (scalar, s.v) } else { (s.v, scalar) };
        let (mut value, mut keep) = vector_elem_binop(op, lv, rv)?;
        // A comparison keeps the vector's value even when the scalar is on
        // the left.
        if op.is_comparison() && swap {
            value = rv;
        }
        if return_bool {
            value = if keep { 1.0 } else { 0.0 };
            keep = true;
        }
        if keep {
            let metric = if op.drops_metric_name() || return_bool {
                cache.drop_metric_name(&s.metric)
            } else {
                s.metric.clone()
            };
            out.push(Sample {
                metric,
                t: s.t,
                v: value,
            });
        }
    }
    Ok(out)
}

/// A scalar/scalar operation; comparisons (always with `bool`) give 0 or 1.
pub(crate) fn scalar_binop(op: BinOp, l: f64, r: f64) -> Result<f64> {
    let b = |x: bool| if x { 1.0 } else { 0.0 };
    Ok(match op {
        BinOp::Add => l + r,
        BinOp::Sub => l - r,
        BinOp::Mul => l * r,
        BinOp::Div => l / r,
        BinOp::Pow => go_pow(l, r),
        BinOp::Mod => go_mod(l, r),
        BinOp::Eql => b(l == r),
        BinOp::Neq => b(l != r),
        BinOp::Gtr => b(l > r),
        BinOp::Lss => b(l < r),
        BinOp::Gte => b(l >= r),
        BinOp::Lte => b(l <= r),
        BinOp::Atan2 => atan2(l, r),
        BinOp::And | BinOp::Or | BinOp::Unless => {
            return Err(PromqlError::internal("set operator between scalars"));
        }
    })
}

/// The value of one pair and whether to keep it (comparisons keep the left
/// value when true).
fn vector_elem_binop(op: BinOp, l: f64, r: f64) -> Result<(f64, bool)> {
    Ok(match op {
        BinOp::Add => (l + r, true),
        BinOp::Sub => (l - r, true),
        BinOp::Mul => (l * r, true),
        BinOp::Div => (l / r, true),
        BinOp::Pow => (go_pow(l, r), true),
        BinOp::Mod => (go_mod(l, r), true),
        BinOp::Eql => (l, l == r),
        BinOp::Neq => (l, l != r),
        BinOp::Gtr => (l, l > r),
        BinOp::Lss => (l, l < r),
        BinOp::Gte => (l, l >= r),
        BinOp::Lte => (l, l <= r),
        BinOp::Atan2 => (atan2(l, r), true),
        BinOp::And | BinOp::Or | BinOp::Unless => {
            return Err(PromqlError::internal("set operator in arithmetic"));
        }
    })
}
