//! rate, increase, delta (extrapolated) and irate, idelta (last two
//! samples), Prometheus v2.42 `promql/functions.go` (`extrapolatedRate`,
//! `instantValue`).
//!
//! # Extrapolation
//!
//! With samples `s_0..s_n` in the window `[ts - offset - range, ts - offset]`:
//! 1. the raw result is `s_n - s_0`, plus, for counters, every value just
//!    before a decrease (a reset restarts from zero);
//! 2. the durations from the window start to `s_0` and from `s_n` to the
//!    window end are measured, and the average spacing of the samples;
//! 3. for a counter with a positive result and `s_0 >= 0`, the start is
//!    extrapolated no further back than where the counter would reach zero;
//! 4. each side is extrapolated to the window edge if the gap is below 1.1
//!    average spacings, else by half a spacing;
//! 5. the result is scaled by extrapolated / sampled interval, and for rate
//!    divided by the range in seconds.
//!
//! Every floating-point operation happens in Prometheus's order.

use super::Window;
use crate::promql::value::Point;

/// rate (counter, per second), increase (counter) and delta (gauge).
pub(crate) fn extrapolated_rate(
    w: Window<'_>,
    ts: i64,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    let points = w.points;
    if points.len() < 2 {
        return None;
    }
    let first = points.first()?;
    let last = points.last()?;
    let range_start = ts - (w.range + w.offset);
    let range_end = ts - w.offset;

    let mut result = last.v - first.v;
    // Most windows hold no reset; finding that out compares values only,
    // and the sum below (in Prometheus's order) runs only when one does.
    if is_counter && points.windows(2).any(|w| w[1].v < w[0].v) {
        let mut prev = first.v;
        for p in points.get(1..).unwrap_or(&[]) {
            if p.v < prev {
                result += prev;
            }
            prev = p.v;
        }
    }

    let mut duration_to_start = (first.t - range_start) as f64 / 1000.0;
    let duration_to_end = (range_end - last.t) as f64 / 1000.0;
    let sampled_interval = (last.t - first.t) as f64 / 1000.0;
    let average_between = sampled_interval / (points.len() - 1) as f64;

    if is_counter && result > 0.0 && first.v >= 0.0 {
        let duration_to_zero = sampled_interval * (first.v / result);
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }

    let threshold = average_between * 1.1;
    let mut extrapolate_to = sampled_interval;
    if duration_to_start < threshold {
        extrapolate_to += duration_to_start;
    } else {
        extrapolate_to += average_between / 2.0;
    }
    if duration_to_end < threshold {
        extrapolate_to += duration_to_end;
    } else {
        extrapolate_to += average_between / 2.0;
    }
    let mut factor = extrapolate_to / sampled_interval;
    if is_rate {
        factor /= range_seconds(w.range);
    }
    Some(result * factor)
}

/// Go's `time.Duration.Seconds()` of a millisecond range: whole seconds
/// plus the remainder in nanoseconds, divided as Go divides them.
fn range_seconds(range_ms: i64) -> f64 {
    // The duration in nanoseconds is range_ms * 10^6, so its whole seconds
    // and nanosecond remainder come from the milliseconds without the
    // multiplication (which could overflow an i64).
    let sec = range_ms / 1000;
    let nsec = (range_ms % 1000) * 1_000_000;
    sec as f64 + nsec as f64 / 1e9
}

/// irate (counter, per second) and idelta: from the last two samples.
pub(crate) fn instant_value(points: &[Point], is_rate: bool) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let last = points.last()?;
    let prev = points.get(points.len() - 2)?;
    let mut result = if is_rate && last.v < prev.v {
        // A counter reset: the counter restarted from zero.
        last.v
    } else {
        last.v - prev.v
    };
    let interval = last.t - prev.t;
    if interval == 0 {
        return None;
    }
    if is_rate {
        result /= interval as f64 / 1000.0;
    }
    Some(result)
}
