//! deriv and predict_linear: least-squares linear regression over a window
//! (Prometheus v2.42 `promql/functions.go`, `linearRegression`), with
//! compensated sums and times taken relative to an intercept time to keep
//! precision.

use super::over_time::kahan_sum_inc;
use crate::promql::value::Point;

/// The slope and the intercept at `intercept_time` (milliseconds).
fn linear_regression(points: &[Point], intercept_time: i64) -> (f64, f64) {
    let Some(first) = points.first() else {
        return (f64::NAN, f64::NAN);
    };
    let (mut n, mut sum_x, mut c_x, mut sum_y, mut c_y) = (0.0f64, 0.0, 0.0, 0.0, 0.0);
    let (mut sum_xy, mut c_xy, mut sum_x2, mut c_x2) = (0.0f64, 0.0, 0.0, 0.0);
    let init_y = first.v;
    let mut const_y = true;
    for (i, p) in points.iter().enumerate() {
        // Is any value different from the first?
        if const_y && i > 0 && p.v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (p.t - intercept_time) as f64 / 1e3;
        (sum_x, c_x) = kahan_sum_inc(x, sum_x, c_x);
        (sum_y, c_y) = kahan_sum_inc(p.v, sum_y, c_y);
        (sum_xy, c_xy) = kahan_sum_inc(x * p.v, sum_xy, c_xy);
        (sum_x2, c_x2) = kahan_sum_inc(x * x, sum_x2, c_x2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    sum_x += c_x;
    sum_y += c_y;
    sum_xy += c_xy;
    sum_x2 += c_x2;

    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

/// `deriv`: the per-second slope; times are relative to the first sample.
pub(crate) fn deriv(points: &[Point]) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let t0 = points.first()?.t;
    Some(linear_regression(points, t0).0)
}

/// `predict_linear(v, t)`: the value `t` seconds after the evaluation time.
pub(crate) fn predict_linear(points: &[Point], duration: f64, ts: i64) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let (slope, intercept) = linear_regression(points, ts);
    Some(slope * duration + intercept)
}
