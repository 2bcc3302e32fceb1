//! The `*_over_time` aggregations of one series over a window
//! (Prometheus v2.42 `promql/functions.go`): avg, sum, min, max, quantile,
//! stddev, stdvar; count, last, present and absent are one-liners in
//! `functions::call_range`.
//!
//! In v2.42 `sum_over_time`, `avg_over_time` and the deviation functions use
//! Kahan–Neumaier compensated summation (`kahanSumInc`), while the `sum`
//! aggregation operator does not; each follows its own source here.

use crate::promql::value::Point;

use super::misc::quantile;

/// One step of Kahan–Neumaier summation (Prometheus's `kahanSumInc`):
/// returns the new sum and compensation.
pub(crate) fn kahan_sum_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// `avg_over_time`: an incremental mean with compensation, keeping an
/// infinite mean once reached unless the next value is an infinity of the
/// other sign or NaN.
pub(crate) fn avg(points: &[Point]) -> f64 {
    let (mut mean, mut count, mut c) = (0.0f64, 0.0f64, 0.0f64);
    for p in points {
        count += 1.0;
        if mean.is_infinite() {
            if p.v.is_infinite() && (mean > 0.0) == (p.v > 0.0) {
                // Same-signed infinities: the mean is already right.
                continue;
            }
            if !p.v.is_infinite() && !p.v.is_nan() {
                // A finite value cannot move an infinite mean; the update
                // below would compute Inf - Inf = NaN.
                continue;
            }
        }
        (mean, c) = kahan_sum_inc(p.v / count - mean / count, mean, c);
    }
    if mean.is_infinite() {
        mean
    } else {
        mean + c
    }
}

/// `sum_over_time`, compensated.
pub(crate) fn sum(points: &[Point]) -> f64 {
    let (mut sum, mut c) = (0.0f64, 0.0f64);
    for p in points {
        (sum, c) = kahan_sum_inc(p.v, sum, c);
    }
    if sum.is_infinite() {
        sum
    } else {
        sum + c
    }
}

/// `max_over_time`: NaN only if every value is NaN.
pub(crate) fn max(points: &[Point]) -> f64 {
    let Some(first) = points.first() else {
        return f64::NAN;
    };
    let mut max = first.v;
    for p in points {
        if p.v > max || max.is_nan() {
            max = p.v;
        }
    }
    max
}

/// `min_over_time`: NaN only if every value is NaN.
pub(crate) fn min(points: &[Point]) -> f64 {
    let Some(first) = points.first() else {
        return f64::NAN;
    };
    let mut min = first.v;
    for p in points {
        if p.v < min || min.is_nan() {
            min = p.v;
        }
    }
    min
}

/// `quantile_over_time(q, ...)`.
pub(crate) fn quantile_over(q: f64, points: &[Point]) -> f64 {
    let mut values: Vec<f64> = points.iter().map(|p| p.v).collect();
    quantile(q, &mut values)
}

/// The running sums of the deviation functions: Welford's algorithm with
/// compensated mean and sum of squares.
fn variance(points: &[Point]) -> f64 {
    let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0f64, 0.0, 0.0, 0.0, 0.0);
    for p in points {
        count += 1.0;
        let delta = p.v - (mean + c_mean);
        (mean, c_mean) = kahan_sum_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_sum_inc(delta * (p.v - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

/// `stdvar_over_time`.
pub(crate) fn stdvar(points: &[Point]) -> f64 {
    variance(points)
}

/// `stddev_over_time`.
pub(crate) fn stddev(points: &[Point]) -> f64 {
    variance(points).sqrt()
}
