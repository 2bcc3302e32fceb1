//! PromQL values: scalars, strings, instant vectors and range vectors.
//!
//! Shapes follow Prometheus v2.42 `promql/value.go` (float samples only;
//! native histograms are not supported). A label set is shared through an
//! [`Arc`], so a series that flows through many steps and operators is
//! never copied: only operators that change labels build a new set.
//!
//! Internally every expression evaluates to a [`Matrix`] with one point per
//! evaluation step (as Prometheus's evaluator does); the engine converts the
//! top-level result into the [`Value`] the query asked for.

use std::sync::Arc;

use crate::proto::thanos::Label;

/// A label set, sorted by name (Prometheus's invariant).
pub type Labels = Vec<Label>;

/// A shared label set.
pub type Metric = Arc<Labels>;

/// One float sample: a timestamp in milliseconds and a value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub t: i64,
    pub v: f64,
}

/// An element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub metric: Metric,
    pub t: i64,
    pub v: f64,
}

/// A series of a range vector (or, inside the evaluator, the per-step
/// results of one output series).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub metric: Metric,
    pub points: Vec<Point>,
}

/// An instant vector.
pub type Vector = Vec<Sample>;

/// A range vector.
pub type Matrix = Vec<Series>;

/// The result of a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A scalar at the evaluation time.
    Scalar { t: i64, v: f64 },
    /// A string at the evaluation time.
    String { t: i64, v: String },
    /// An instant vector, in Prometheus's output order.
    Vector(Vector),
    /// A range vector; for range queries sorted by labels.
    Matrix(Matrix),
}

impl Value {
    /// The name Prometheus's API uses for the result type.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Scalar { .. } => "scalar",
            Value::String { .. } => "string",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
        }
    }
}

/// The value bits Prometheus uses to mark a series stale
/// (v2.42 `model/value/value.go`).
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// Whether `v` is the staleness marker (a particular NaN).
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// The staleness marker as a float.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// Whether two samples of `vec` share a label set (Prometheus's
/// `Vector.ContainsSameLabelset`).
pub(crate) fn vector_has_duplicates(vec: &[Sample]) -> bool {
    has_duplicates(vec.iter().map(|s| &s.metric))
}

/// Whether two series of `mat` share a label set.
pub(crate) fn matrix_has_duplicates(mat: &[Series]) -> bool {
    has_duplicates(mat.iter().map(|s| &s.metric))
}

fn has_duplicates<'a>(mut it: impl ExactSizeIterator<Item = &'a Metric>) -> bool {
    match it.len() {
        0 | 1 => false,
        2 => match (it.next(), it.next()) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        },
        n => {
            let mut seen = rustc_hash::FxHashSet::with_capacity_and_hasher(n, Default::default());
            it.any(|m| !seen.insert(&**m))
        }
    }
}
