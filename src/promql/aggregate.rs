//! Aggregation operators at one evaluation step: sum, avg, count, min, max,
//! group, stddev, stdvar, topk, bottomk, count_values, quantile, with `by`
//! and `without` (Prometheus v2.42 `promql/engine.go`, `aggregation`).
//!
//! Groups are keyed by the grouping labels' bytes and emitted in the order
//! they first appear. Float semantics follow v2.42 exactly:
//! - `sum` is a plain running sum (no compensation);
//! - `avg` is an incremental mean `mean += v/n - mean/n` (each side divided
//!   to avoid overflow), which keeps an infinite mean when a finite value or
//!   a same-signed infinity arrives;
//! - `stddev`/`stdvar` use Welford's update, uncompensated;
//! - `min`/`max` let any value replace NaN;
//! - `topk`/`bottomk` keep Go's binary heap (NaN ranks lowest, then highest)
//!   and sort it at the end with Go's sort, so ties come out in
//!   Prometheus's order.

use rustc_hash::FxHashMap as HashMap;

use crate::labels::METRIC_NAME;

use super::error::{PromqlError, Result};
use super::format::{format_f, format_v, go_quote};
use super::functions::misc::quantile;
use super::gosort;
use super::labelset::{bytes_with, bytes_without_and_name, is_valid_label_name, Builder};
use super::plan::AggOp;
use super::value::{Labels, Metric, Sample, Vector};

/// The largest float that converts to an int64 without overflow.
const MAX_INT64: f64 = 9_223_372_036_854_774_784.0;
/// The smallest float that converts to an int64 without underflow.
const MIN_INT64: f64 = -9_223_372_036_854_775_808.0;

/// The aggregation's parameter at this step.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Param<'a> {
    None,
    Float(f64),
    Str(&'a str),
}

/// The grouping key of a label set (Prometheus's `generateGroupingKey`):
/// `without` ignores the listed labels and the metric name; `by` keeps only
/// the listed labels (all series share one group when the list is empty).
pub(crate) fn grouping_key(m: &Labels, grouping: &[String], without: bool) -> Vec<u8> {
    let mut out = Vec::new();
    if without {
        bytes_without_and_name(m, grouping, &mut out);
    } else {
        bytes_with(m, grouping, &mut out);
    }
    out
}

struct Group {
    labels: Metric,
    value: f64,
    mean: f64,
    count: u64,
    /// quantile values.
    heap: Vec<(Metric, f64)>,
    /// topk/bottomk.
    top: Option<TopK>,
}

fn by_value(a: &(Metric, f64), b: &(Metric, f64)) -> bool {
    a.1.is_nan() || a.1 < b.1
}

fn by_reverse_value(a: &(Metric, f64), b: &(Metric, f64)) -> bool {
    a.1.is_nan() || a.1 > b.1
}

/// The state of `topk`/`bottomk` for one group at one step: Go's binary
/// heap with the weakest kept sample on top, updated as Prometheus 2.42
/// updates it, so ties and NaNs come out as they do there whatever order
/// the caller's samples arrive in (the caller keeps Prometheus's order).
#[derive(Debug, Clone)]
pub struct TopK {
    k: usize,
    bottom: bool,
    heap: Vec<(Metric, f64)>,
}

impl TopK {
    /// An empty state for `topk(k)` (or `bottomk(k)`), k at least 1.
    pub fn new(k: usize, bottom: bool) -> TopK {
        TopK {
            k: k.max(1),
            bottom,
            heap: Vec::new(),
        }
    }

    /// How many samples it holds.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Folds in one sample.
    pub fn add(&mut self, metric: &Metric, v: f64) {
        let less: fn(&(Metric, f64), &(Metric, f64)) -> bool = if self.bottom {
            by_reverse_value
        } else {
            by_value
        };
        let top = self.heap.first().map_or(f64::NAN, |x| x.1);
        let better = if self.bottom { top > v } else { top < v };
        if self.heap.len() < self.k || better || top.is_nan() {
            if self.heap.len() == self.k {
                if self.k == 1 {
                    if let Some(first) = self.heap.first_mut() {
                        *first = (metric.clone(), v);
                    }
                    return;
                }
                gosort::heap_pop(&mut self.heap, &less);
            }
            gosort::heap_push(&mut self.heap, (metric.clone(), v), &less);
        }
    }

    /// The kept samples, best first (Prometheus sorts with the reversed
    /// heap order).
    pub fn into_sorted(mut self) -> Vec<(Metric, f64)> {
        if self.heap.len() > 1 {
            if self.bottom {
                gosort::sort_by(&mut self.heap, &|a, b| by_reverse_value(b, a));
            } else {
                gosort::sort_by(&mut self.heap, &|a, b| by_value(b, a));
            }
        }
        self.heap
    }
}

/// Aggregates one step's vector; `keys[i]` is the grouping key of `vec[i]`
/// (computed once per series by the caller).
pub(crate) fn aggregate(
    op: AggOp,
    grouping: &[String],
    without: bool,
    param: Param<'_>,
    vec: &[Sample],
    keys: &[&[u8]],
) -> Result<Vector> {
    let mut k: i64 = 0;
    let mut q = f64::NAN;
    let param_f = match param {
        Param::Float(f) => f,
        _ => f64::NAN,
    };
    if matches!(op, AggOp::Topk | AggOp::Bottomk) {
        if !(MIN_INT64..=MAX_INT64).contains(&param_f) {
            return Err(PromqlError::execution(format!(
                "Scalar value {} overflows int64",
                format_v(param_f)
            )));
        }
        k = param_f as i64;
        if k < 1 {
            return Ok(Vec::new());
        }
    }
    if op == AggOp::Quantile {
        q = param_f;
    }

    let mut value_label = "";
    let mut grouping: Vec<String> = grouping.to_vec();
    let recompute_key = op == AggOp::CountValues;
    if op == AggOp::CountValues {
        value_label = match param {
            Param::Str(s) => s,
            _ => "",
        };
        if !is_valid_label_name(value_label) {
            return Err(PromqlError::execution(format!(
                "invalid label name {}",
                go_quote(value_label)
            )));
        }
        if !without {
            grouping.push(value_label.to_string());
            grouping.sort();
        }
    }

    let mut index: HashMap<Vec<u8>, usize> = HashMap::default();
    let mut groups: Vec<Group> = Vec::new();
    for (si, s) in vec.iter().enumerate() {
        let metric: Metric = if op == AggOp::CountValues {
            let mut b = Builder::new(&s.metric);
            b.set(value_label, &format_f(s.v));
            Metric::new(b.labels())
        } else {
            s.metric.clone()
        };
        let computed;
        let key: &[u8] = if recompute_key {
            computed = grouping_key(&metric, &grouping, without);
            &computed
        } else {
            keys.get(si).copied().unwrap_or(&[])
        };

        let Some(&gi) = index.get(key) else {
            let labels = if without {
                let mut b = Builder::new(&metric);
                b.del(&grouping).del_one(METRIC_NAME);
                Metric::new(b.labels())
            } else if !grouping.is_empty() {
                let mut b = Builder::new(&metric);
                b.keep(&grouping);
                Metric::new(b.labels())
            } else {
                Metric::default()
            };
            let mut g = Group {
                labels,
                value: s.v,
                mean: s.v,
                count: 1,
                heap: Vec::new(),
                top: None,
            };
            match op {
                AggOp::Stdvar | AggOp::Stddev => g.value = 0.0,
                AggOp::Topk | AggOp::Bottomk => {
                    let mut top = TopK::new(k as usize, op == AggOp::Bottomk);
                    top.add(&s.metric, s.v);
                    g.top = Some(top);
                }
                AggOp::Quantile => g.heap.push((s.metric.clone(), s.v)),
                AggOp::Group => g.value = 1.0,
                _ => {}
            }
            index.insert(key.to_vec(), groups.len());
            groups.push(g);
            continue;
        };
        let Some(g) = groups.get_mut(gi) else {
            continue;
        };
        match op {
            AggOp::Sum => g.value += s.v,
            AggOp::Avg => {
                g.count += 1;
                if g.mean.is_infinite() {
                    if s.v.is_infinite() && (g.mean > 0.0) == (s.v > 0.0) {
                        // Same-signed infinities: the mean stays.
                        continue;
                    }
                    if !s.v.is_infinite() && !s.v.is_nan() {
                        // A finite value cannot move an infinite mean (the
                        // update would compute Inf - Inf).
                        continue;
                    }
                }
                let n = g.count as f64;
                g.mean += s.v / n - g.mean / n;
            }
            AggOp::Group => {}
            AggOp::Max => {
                if g.value < s.v || g.value.is_nan() {
                    g.value = s.v;
                }
            }
            AggOp::Min => {
                if g.value > s.v || g.value.is_nan() {
                    g.value = s.v;
                }
            }
            AggOp::Count | AggOp::CountValues => g.count += 1,
            AggOp::Stdvar | AggOp::Stddev => {
                g.count += 1;
                let delta = s.v - g.mean;
                g.mean += delta / g.count as f64;
                g.value += delta * (s.v - g.mean);
            }
            AggOp::Topk | AggOp::Bottomk => {
                if let Some(top) = g.top.as_mut() {
                    top.add(&s.metric, s.v);
                }
            }
            AggOp::Quantile => g.heap.push((s.metric.clone(), s.v)),
        }
    }

    let mut out = Vec::with_capacity(groups.len());
    for mut g in groups {
        let value = match op {
            AggOp::Avg => g.mean,
            AggOp::Count | AggOp::CountValues => g.count as f64,
            AggOp::Stdvar => g.value / g.count as f64,
            AggOp::Stddev => (g.value / g.count as f64).sqrt(),
            AggOp::Topk | AggOp::Bottomk => {
                if let Some(top) = g.top.take() {
                    out.extend(top.into_sorted().into_iter().map(|(metric, v)| Sample {
                        metric,
                        t: 0,
                        v,
                    }));
                }
                continue;
            }
            AggOp::Quantile => {
                let mut values: Vec<f64> = g.heap.iter().map(|x| x.1).collect();
                quantile(q, &mut values)
            }
            _ => g.value,
        };
        out.push(Sample {
            metric: g.labels,
            t: 0,
            v: value,
        });
    }
    Ok(out)
}
