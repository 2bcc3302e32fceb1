//! PromQL functions, one file per family, as Prometheus v2.42 defines them
//! in `promql/functions.go`.
//!
//! Two calling conventions, as in Prometheus's engine:
//! - *instant* functions receive the per-step values of their arguments
//!   (vectors; scalars as one-sample vectors; strings are read from the
//!   expression) and return a vector for that step ([`call_instant`]);
//! - *range* functions receive the points of one series in one window
//!   plus scalar arguments and return at most one value ([`call_range`]);
//!   the engine attaches labels and the step timestamp.
//!
//! Only the 70 functions of Prometheus v2.42 exist here: names the parser
//! crate knows from later Prometheus versions are rejected when the query is
//! planned.

pub(crate) mod histogram;
pub(crate) mod holt_winters;
pub(crate) mod label;
pub(crate) mod math;
pub(crate) mod misc;
pub(crate) mod over_time;
pub(crate) mod rate;
pub(crate) mod regression;
pub(crate) mod time;

use rustc_hash::FxHashMap as HashMap;

use regex::Regex;

use super::error::{PromqlError, Result};
use super::plan::Node;
use super::value::{Metric, Point, Sample, Vector};

/// The functions of Prometheus v2.42.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Func {
    Abs,
    Absent,
    AbsentOverTime,
    Acos,
    Acosh,
    Asin,
    Asinh,
    Atan,
    Atanh,
    AvgOverTime,
    Ceil,
    Changes,
    Clamp,
    ClampMax,
    ClampMin,
    Cos,
    Cosh,
    CountOverTime,
    DaysInMonth,
    DayOfMonth,
    DayOfWeek,
    DayOfYear,
    Deg,
    Delta,
    Deriv,
    Exp,
    Floor,
    HistogramCount,
    HistogramFraction,
    HistogramQuantile,
    HistogramSum,
    HoltWinters,
    Hour,
    Idelta,
    Increase,
    Irate,
    LabelReplace,
    LabelJoin,
    Ln,
    Log10,
    Log2,
    LastOverTime,
    MaxOverTime,
    MinOverTime,
    Minute,
    Month,
    Pi,
    PredictLinear,
    PresentOverTime,
    QuantileOverTime,
    Rad,
    Rate,
    Resets,
    Round,
    Scalar,
    Sgn,
    Sin,
    Sinh,
    Sort,
    SortDesc,
    Sqrt,
    StddevOverTime,
    StdvarOverTime,
    SumOverTime,
    Tan,
    Tanh,
    Time,
    Timestamp,
    Vector,
    Year,
}

const NAMES: &[(&str, Func)] = &[
    ("abs", Func::Abs),
    ("absent", Func::Absent),
    ("absent_over_time", Func::AbsentOverTime),
    ("acos", Func::Acos),
    ("acosh", Func::Acosh),
    ("asin", Func::Asin),
    ("asinh", Func::Asinh),
    ("atan", Func::Atan),
    ("atanh", Func::Atanh),
    ("avg_over_time", Func::AvgOverTime),
    ("ceil", Func::Ceil),
    ("changes", Func::Changes),
    ("clamp", Func::Clamp),
    ("clamp_max", Func::ClampMax),
    ("clamp_min", Func::ClampMin),
    ("cos", Func::Cos),
    ("cosh", Func::Cosh),
    ("count_over_time", Func::CountOverTime),
    ("days_in_month", Func::DaysInMonth),
    ("day_of_month", Func::DayOfMonth),
    ("day_of_week", Func::DayOfWeek),
    ("day_of_year", Func::DayOfYear),
    ("deg", Func::Deg),
    ("delta", Func::Delta),
    ("deriv", Func::Deriv),
    ("exp", Func::Exp),
    ("floor", Func::Floor),
    ("histogram_count", Func::HistogramCount),
    ("histogram_fraction", Func::HistogramFraction),
    ("histogram_quantile", Func::HistogramQuantile),
    ("histogram_sum", Func::HistogramSum),
    ("holt_winters", Func::HoltWinters),
    ("hour", Func::Hour),
    ("idelta", Func::Idelta),
    ("increase", Func::Increase),
    ("irate", Func::Irate),
    ("label_replace", Func::LabelReplace),
    ("label_join", Func::LabelJoin),
    ("ln", Func::Ln),
    ("log10", Func::Log10),
    ("log2", Func::Log2),
    ("last_over_time", Func::LastOverTime),
    ("max_over_time", Func::MaxOverTime),
    ("min_over_time", Func::MinOverTime),
    ("minute", Func::Minute),
    ("month", Func::Month),
    ("pi", Func::Pi),
    ("predict_linear", Func::PredictLinear),
    ("present_over_time", Func::PresentOverTime),
    ("quantile_over_time", Func::QuantileOverTime),
    ("rad", Func::Rad),
    ("rate", Func::Rate),
    ("resets", Func::Resets),
    ("round", Func::Round),
    ("scalar", Func::Scalar),
    ("sgn", Func::Sgn),
    ("sin", Func::Sin),
    ("sinh", Func::Sinh),
    ("sort", Func::Sort),
    ("sort_desc", Func::SortDesc),
    ("sqrt", Func::Sqrt),
    ("stddev_over_time", Func::StddevOverTime),
    ("stdvar_over_time", Func::StdvarOverTime),
    ("sum_over_time", Func::SumOverTime),
    ("tan", Func::Tan),
    ("tanh", Func::Tanh),
    ("time", Func::Time),
    ("timestamp", Func::Timestamp),
    ("vector", Func::Vector),
    ("year", Func::Year),
];

impl Func {
    /// The function of that name in Prometheus v2.42, if any.
    pub(crate) fn from_name(name: &str) -> Option<Func> {
        NAMES.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }

    /// The function's name.
    pub(crate) fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("", |(n, _)| n)
    }

    /// Whether the result can change with the evaluation time even when the
    /// arguments do not (Prometheus's `AtModifierUnsafeFunctions`).
    pub(crate) fn is_at_modifier_unsafe(self) -> bool {
        matches!(
            self,
            Func::DaysInMonth
                | Func::DayOfMonth
                | Func::DayOfWeek
                | Func::DayOfYear
                | Func::Hour
                | Func::Minute
                | Func::Month
                | Func::Year
                | Func::PredictLinear
                | Func::Time
                | Func::Timestamp
        )
    }
}

/// Per-node state kept across the steps of one evaluation, Prometheus's
/// `EvalNodeHelper` caches.
#[derive(Debug, Default)]
pub(crate) struct NodeCache {
    /// Input label set to output label set (drop-name and label_*).
    pub(crate) relabel: HashMap<Metric, Metric>,
    /// The compiled regex of label_replace (compiled at the first step).
    pub(crate) regex: Option<Regex>,
}

impl NodeCache {
    /// The label set without `__name__`, shared across steps.
    pub(crate) fn drop_metric_name(&mut self, m: &Metric) -> Metric {
        if !super::labelset::has_metric_name(m) {
            return m.clone();
        }
        self.relabel
            .entry(m.clone())
            .or_insert_with(|| Metric::new(super::labelset::drop_metric_name(m)))
            .clone()
    }
}

/// What an instant function sees of its arguments at one step.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ArgVal<'a> {
    /// A vector, or a scalar as a one-sample vector.
    Vector(&'a [Sample]),
    /// A string argument: read it from the expression.
    None,
}

impl<'a> ArgVal<'a> {
    fn vector(self) -> &'a [Sample] {
        match self {
            ArgVal::Vector(v) => v,
            ArgVal::None => &[],
        }
    }

    /// A scalar argument's value (NaN if the engine broke its promise of
    /// one sample per step; Prometheus would panic).
    fn scalar(self) -> f64 {
        self.vector().first().map_or(f64::NAN, |s| s.v)
    }
}

/// The environment of one instant-function call.
pub(crate) struct Env<'a> {
    /// The evaluation timestamp.
    pub(crate) ts: i64,
    /// The argument expressions (strings, and absent()'s selector).
    pub(crate) args: &'a [Node],
}

fn arg<'a>(vals: &[ArgVal<'a>], i: usize) -> ArgVal<'a> {
    vals.get(i).copied().unwrap_or(ArgVal::None)
}

/// Calls an instant function.
pub(crate) fn call_instant(
    f: Func,
    vals: &[ArgVal<'_>],
    env: &Env<'_>,
    cache: &mut NodeCache,
) -> Result<Vector> {
    use math::simple;
    let v0 = arg(vals, 0).vector();
    Ok(match f {
        Func::Abs => simple(v0, cache, f64::abs),
        Func::Ceil => simple(v0, cache, f64::ceil),
        Func::Floor => simple(v0, cache, f64::floor),
        Func::Exp => simple(v0, cache, math::exp),
        Func::Sqrt => simple(v0, cache, f64::sqrt),
        Func::Ln => simple(v0, cache, math::ln),
        Func::Log2 => simple(v0, cache, math::log2),
        Func::Log10 => simple(v0, cache, math::log10),
        Func::Sin => simple(v0, cache, math::sin),
        Func::Cos => simple(v0, cache, math::cos),
        Func::Tan => simple(v0, cache, math::tan),
        Func::Asin => simple(v0, cache, math::asin),
        Func::Acos => simple(v0, cache, math::acos),
        Func::Atan => simple(v0, cache, math::atan),
        Func::Sinh => simple(v0, cache, math::sinh),
        Func::Cosh => simple(v0, cache, math::cosh),
        Func::Tanh => simple(v0, cache, math::tanh),
        Func::Asinh => simple(v0, cache, math::asinh),
        Func::Acosh => simple(v0, cache, math::acosh),
        Func::Atanh => simple(v0, cache, math::atanh),
        Func::Rad => simple(v0, cache, math::rad),
        Func::Deg => simple(v0, cache, math::deg),
        Func::Sgn => simple(v0, cache, math::sgn),
        Func::Pi => vec![scalar_sample(std::f64::consts::PI)],
        Func::Clamp => math::clamp(v0, arg(vals, 1).scalar(), arg(vals, 2).scalar(), cache),
        Func::ClampMax => math::clamp_max(v0, arg(vals, 1).scalar(), cache),
        Func::ClampMin => math::clamp_min(v0, arg(vals, 1).scalar(), cache),
        Func::Round => {
            let to_nearest = if vals.len() >= 2 {
                arg(vals, 1).scalar()
            } else {
                1.0
            };
            math::round(v0, to_nearest, cache)
        }
        Func::Time => vec![scalar_sample(env.ts as f64 / 1000.0)],
        Func::Timestamp => time::timestamp(v0, cache),
        Func::DaysInMonth
        | Func::DayOfMonth
        | Func::DayOfWeek
        | Func::DayOfYear
        | Func::Hour
        | Func::Minute
        | Func::Month
        | Func::Year => time::date_function(f, vals.first().map(|a| a.vector()), env.ts, cache),
        Func::Scalar => misc::scalar(v0),
        Func::Vector => misc::vector(arg(vals, 0).scalar()),
        Func::Sort => misc::sort(v0, false),
        Func::SortDesc => misc::sort(v0, true),
        Func::Absent => misc::absent(v0, env.args.first()),
        Func::LabelReplace => label::label_replace(v0, env.args, cache)?,
        Func::LabelJoin => label::label_join(v0, env.args, cache)?,
        Func::HistogramQuantile => {
            histogram::histogram_quantile(arg(vals, 0).scalar(), arg(vals, 1).vector())
        }
        // Native histograms are not supported: these functions only ever see
        // float samples, which they skip.
        Func::HistogramCount | Func::HistogramSum | Func::HistogramFraction => Vec::new(),
        _ => {
            return Err(PromqlError::internal(format!(
                "function {} called with instant arguments",
                f.name()
            )))
        }
    })
}

/// An argument of a range function: the window of the one series, or a
/// scalar's value at this step.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RangeArg<'a> {
    Matrix(Window<'a>),
    Scalar(f64),
}

/// The points of one series in one window, with the selector's range and
/// (possibly @-adjusted) offset, which extrapolating functions need.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window<'a> {
    pub(crate) points: &'a [Point],
    pub(crate) range: i64,
    pub(crate) offset: i64,
}

/// Calls a range function for one series at one step; `None` drops the
/// series at this step.
pub(crate) fn call_range(f: Func, args: &[RangeArg<'_>], ts: i64) -> Result<Option<f64>> {
    let mut window = None;
    // At most two scalar arguments (holt_winters); no allocation per step.
    let mut scalars = [f64::NAN; 2];
    let mut n_scalars = 0;
    for a in args {
        match a {
            RangeArg::Matrix(w) => window = Some(*w),
            RangeArg::Scalar(v) => {
                if let Some(slot) = scalars.get_mut(n_scalars) {
                    *slot = *v;
                }
                n_scalars += 1;
            }
        }
    }
    let Some(w) = window else {
        return Err(PromqlError::internal(format!(
            "function {} called without a range argument",
            f.name()
        )));
    };
    let [s0, s1] = scalars;
    let p = w.points;
    Ok(match f {
        Func::Rate => rate::extrapolated_rate(w, ts, true, true),
        Func::Increase => rate::extrapolated_rate(w, ts, true, false),
        Func::Delta => rate::extrapolated_rate(w, ts, false, false),
        Func::Irate => rate::instant_value(p, true),
        Func::Idelta => rate::instant_value(p, false),
        Func::AvgOverTime => Some(over_time::avg(p)),
        Func::CountOverTime => Some(p.len() as f64),
        Func::LastOverTime => p.last().map(|x| x.v),
        Func::MaxOverTime => Some(over_time::max(p)),
        Func::MinOverTime => Some(over_time::min(p)),
        Func::SumOverTime => Some(over_time::sum(p)),
        Func::QuantileOverTime => Some(over_time::quantile_over(s0, p)),
        Func::StddevOverTime => Some(over_time::stddev(p)),
        Func::StdvarOverTime => Some(over_time::stdvar(p)),
        Func::PresentOverTime | Func::AbsentOverTime => Some(1.0),
        Func::Changes => Some(misc::changes(p)),
        Func::Resets => Some(misc::resets(p)),
        Func::Deriv => regression::deriv(p),
        Func::PredictLinear => regression::predict_linear(p, s0, ts),
        Func::HoltWinters => holt_winters::holt_winters(p, s0, s1)?,
        _ => {
            return Err(PromqlError::internal(format!(
                "function {} called with a range argument",
                f.name()
            )))
        }
    })
}

/// A sample with no labels (a scalar result, or vector()'s).
pub(crate) fn scalar_sample(v: f64) -> Sample {
    Sample {
        metric: Metric::default(),
        t: 0,
        v,
    }
}
