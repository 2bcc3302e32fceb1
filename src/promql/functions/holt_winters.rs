//! holt_winters (double exponential smoothing), Prometheus v2.42
//! `promql/functions.go` (`funcHoltWinters`, `calcTrendValue`).
//!
//! Prometheus 3 renamed the function `double_exponential_smoothing`; the
//! parser crate follows Prometheus 3, so the planner registers
//! `holt_winters` with it (see `plan::register_functions`) and rejects the
//! new name, as v2.42 does not know it.

use crate::promql::error::{PromqlError, Result};
use crate::promql::format::format_percent_f;
use crate::promql::value::Point;

/// The trend at step `i` from the previous smoothed values `s0`, `s1` and
/// trend `b`, with trend factor `tf`.
fn calc_trend_value(i: usize, tf: f64, s0: f64, s1: f64, b: f64) -> f64 {
    if i == 0 {
        return b;
    }
    let x = tf * (s1 - s0);
    let y = (1.0 - tf) * b;
    x + y
}

/// The smoothed value at the end of the window; an error for factors outside
/// (0, 1) (raised only when there is data, as in Prometheus).
pub(crate) fn holt_winters(points: &[Point], sf: f64, tf: f64) -> Result<Option<f64>> {
    // NaN factors pass these checks (every comparison with NaN is false),
    // as they do in Prometheus.
    if sf <= 0.0 || sf >= 1.0 {
        return Err(PromqlError::execution(format!(
            "invalid smoothing factor. Expected: 0 < sf < 1, got: {}",
            format_percent_f(sf)
        )));
    }
    if tf <= 0.0 || tf >= 1.0 {
        return Err(PromqlError::execution(format!(
            "invalid trend factor. Expected: 0 < tf < 1, got: {}",
            format_percent_f(tf)
        )));
    }
    let l = points.len();
    if l < 2 {
        return Ok(None);
    }
    let (mut s0, mut s1) = (0.0f64, points[0].v);
    let mut b = points[1].v - points[0].v;
    for (i, p) in points.iter().enumerate().skip(1) {
        let x = sf * p.v;
        b = calc_trend_value(i - 1, tf, s0, s1, b);
        let y = (1.0 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    Ok(Some(s1))
}
