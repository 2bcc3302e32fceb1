//! `/api/v1/query` and `/api/v1/query_range`: parameters as Thanos v0.31
//! reads them (`pkg/api/query/v1.go`: Prometheus's plus `dedup`,
//! `replicaLabels[]`, `partial_response`, `max_source_resolution`,
//! `storeMatch[]`, `lookback_delta`), evaluation by [`crate::promql`] over
//! [`crate::querier::Querier`], and the answer written in Prometheus
//! 2.42's JSON (`promql/value.go` `MarshalJSON`: timestamps as seconds,
//! values as shortest decimal strings with `NaN`, `+Inf`, `-Inf`) series by
//! series into the streaming writer.

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

use super::body::Writer;
use super::error::{ApiError, ErrorType};
use super::json;
use super::metadata::replica_labels;
use super::params::Form;
use super::Shard;
use crate::fanout::{Budget, Partial};
use crate::labels::parse_selector;
use crate::promql::{
    format_value, Engine, EngineOptions, PromqlError, Query, QueryOpts, QueryRange, Value,
};
use crate::querier::Querier;

/// Prometheus's limit on points per series of a range query.
const MAX_POINTS: i64 = 11_000;

/// `GET|POST /api/v1/query`.
pub async fn instant(shard: &Shard, form: Form, w: &mut Writer) -> Result<(), ApiError> {
    let time = form.time_or("time", crate::time::now_ms())?;
    run(shard, &form, QueryRange::Instant { time_ms: time }, w).await
}

/// `GET|POST /api/v1/query_range`.
pub async fn range(shard: &Shard, form: Form, w: &mut Writer) -> Result<(), ApiError> {
    let start = required_time(&form, "start")?;
    let end = required_time(&form, "end")?;
    if end < start {
        return Err(ApiError::bad_data(
            "end timestamp must not be before start time",
        ));
    }
    let step = match form.get("step") {
        None | Some("") => {
            // Thanos's default step (Prometheus requires `step`).
            let default = shard.cfg.default_step.as_millis() as i64;
            (((end - start) / 250) / 1000 * 1000).max(default).max(1)
        }
        Some(s) => duration_ms(s)
            .map_err(|e| ApiError::bad_data(format!("invalid parameter \"step\": {e}")))?,
    };
    if step <= 0 {
        return Err(ApiError::bad_data(
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    if (end - start) / step > MAX_POINTS {
        return Err(ApiError::bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    let r = QueryRange::Range {
        start_ms: start,
        end_ms: end,
        step_ms: step,
    };
    run(shard, &form, r, w).await
}

fn required_time(form: &Form, key: &str) -> Result<i64, ApiError> {
    let v = form.get(key).unwrap_or("");
    super::params::parse_time(v)
        .map_err(|e| ApiError::bad_data(format!("Invalid time value for '{key}': {e}")))
}

/// A Prometheus API duration: float seconds or a Prometheus duration, in ms.
pub fn duration_ms(s: &str) -> Result<i64, String> {
    if let Ok(f) = s.parse::<f64>() {
        let ms = f * 1000.0;
        if !ms.is_finite() || ms.abs() > 9.2e15 {
            return Err(format!(
                "cannot parse {s:?} to a valid duration. It overflows int64"
            ));
        }
        return Ok(ms.round() as i64);
    }
    crate::flags::duration::parse_duration(s)
        .map(|d| d.as_millis() as i64)
        .map_err(|_| format!("cannot parse {s:?} to a valid duration"))
}

fn optional_duration(form: &Form, key: &str) -> Result<Option<i64>, ApiError> {
    match form.get(key) {
        None | Some("") => Ok(None),
        Some(v) => duration_ms(v)
            .map(Some)
            .map_err(|e| ApiError::bad_data(format!("invalid parameter \"{key}\": {e}"))),
    }
}

/// `max_source_resolution` in ms: a duration, or `auto` (step / 5).
fn max_source_resolution(form: &Form, range: &QueryRange) -> Result<i64, ApiError> {
    match form.get("max_source_resolution") {
        None | Some("") => Ok(0),
        Some("auto") => Ok(match range {
            QueryRange::Range { step_ms, .. } => step_ms / 5,
            QueryRange::Instant { .. } => 0,
        }),
        Some(v) => {
            let ms = duration_ms(v).map_err(|e| {
                ApiError::bad_data(format!("'max_source_resolution' parameter: {e}"))
            })?;
            if ms < 0 {
                return Err(ApiError::bad_data(
                    "negative 'max_source_resolution' is not accepted. Try a positive integer",
                ));
            }
            Ok(ms)
        }
    }
}

/// The `Sluice-Evaluation` header of a query answered series by series
/// (`api::stream`), by the whole-query engine, or by the whole-query
/// engine after the series-by-series plan found it could not give
/// Prometheus's answer (nothing of it was sent).
pub const SERIES_BY_SERIES: &str = "series-by-series";
pub const WHOLE: &str = "whole";
pub const WHOLE_AFTER_SERIES_BY_SERIES: &str = "whole-after-series-by-series";

async fn run(
    shard: &Shard,
    form: &Form,
    range: QueryRange,
    w: &mut Writer,
) -> Result<(), ApiError> {
    let text = form.get("query").unwrap_or("");
    let query = Query::parse(text).map_err(promql_error)?;
    let replicas = replica_labels(shard, form)?;
    let partial = if form.bool_or("partial_response", shard.cfg.partial_response)? {
        Partial::Warn
    } else {
        Partial::Abort
    };
    let mut store_matchers = Vec::new();
    for m in form.all("storeMatch[]") {
        store_matchers.push(parse_selector(m).map_err(ApiError::bad_data)?);
    }
    let mut timeout = shard.cfg.query_timeout;
    if let Some(t) = optional_duration(form, "timeout")? {
        timeout = timeout.min(Duration::from_millis(t.max(0) as u64));
    }
    let lookback = optional_duration(form, "lookback_delta")?.unwrap_or(0);
    let resolution = max_source_resolution(form, &range)?;
    let _permit = shard.gate.acquire().await;
    let deadline = Instant::now() + timeout;
    let querier = Querier {
        shard,
        replica_labels: replicas,
        dedup: shard.cfg.dedup,
        partial,
        store_matchers,
        deadline,
        max_resolution_window: resolution,
        budget: Budget::new(shard.cfg.limits),
        window: Cell::new(None),
        samples: Cell::new(0),
        max_samples: shard.cfg.max_samples,
        warnings: RefCell::new(Vec::new()),
    };
    let engine = Engine::new(EngineOptions {
        lookback_delta_ms: shard.cfg.lookback_delta.as_millis() as i64,
        max_samples: shard.cfg.max_samples,
        default_subquery_step_ms: shard.cfg.default_evaluation_interval.as_millis() as i64,
        timeout: Some(timeout),
    });
    let opts = QueryOpts {
        lookback_delta_ms: lookback,
    };
    if form.get("stream") != Some("false") {
        if let Some(plan) = super::stream::streamable(&query, &range) {
            w.evaluation = Some(SERIES_BY_SERIES);
            let streamed = super::stream::run(
                &engine,
                &querier,
                &query,
                &plan,
                range,
                &opts,
                shard.cfg.max_samples,
                w,
            );
            let streamed = crate::rt::timeout(timeout, streamed).await.map_err(|_| {
                ApiError::new(ErrorType::Timeout, "query timed out in query execution")
            })??;
            match streamed {
                super::stream::Streamed::Done => return Ok(()),
                // Nothing sent yet: the whole-query engine answers instead,
                // within the same deadline, its store limits charged afresh.
                super::stream::Streamed::Whole(_) if w.restart() => {
                    querier.budget.reset();
                    w.evaluation = Some(WHOLE_AFTER_SERIES_BY_SERIES);
                }
                super::stream::Streamed::Whole(why) => {
                    return Err(ApiError::new(
                        ErrorType::Execution,
                        format!("{why}; ask again with stream=false"),
                    ))
                }
            }
        }
    }
    if w.evaluation.is_none() {
        w.evaluation = Some(WHOLE);
    }
    let result = crate::rt::timeout(timeout, engine.exec(&querier, &query, range, &opts))
        .await
        .map_err(|_| ApiError::new(ErrorType::Timeout, "query timed out in query execution"))?
        .map_err(promql_error)?;
    encode(&result.value, &result.warnings, w).await
}

/// Maps an engine error to the API's envelope.
pub(super) fn promql_error(e: PromqlError) -> ApiError {
    use crate::promql::ErrorKind;
    let kind = match e.kind() {
        ErrorKind::BadData => ErrorType::BadData,
        ErrorKind::Execution | ErrorKind::TooManySamples => ErrorType::Execution,
        ErrorKind::Canceled => ErrorType::Canceled,
        ErrorKind::Timeout => ErrorType::Timeout,
        ErrorKind::Internal => ErrorType::Internal,
    };
    ApiError::new(kind, e.message().to_string())
}

/// Writes `{"status":"success","data":{"resultType":…,"result":…}}`.
pub(super) async fn encode(
    value: &Value,
    warnings: &[String],
    w: &mut Writer,
) -> Result<(), ApiError> {
    w.has_warnings = !warnings.is_empty();
    open_result(w, value.type_name());
    match value {
        Value::Scalar { t, v } => point(w.buf(), *t, &format_value(*v)),
        Value::String { t, v } => point(w.buf(), *t, v),
        Value::Vector(samples) => {
            w.buf().push(b'[');
            let mut first = true;
            for s in samples {
                write_sample(w.buf(), s, &mut first);
                flush(w).await?;
            }
            w.buf().push(b']');
        }
        Value::Matrix(series) => {
            w.buf().push(b'[');
            let mut first = true;
            for s in series {
                write_series(w.buf(), s, &mut first);
                flush(w).await?;
            }
            w.buf().push(b']');
        }
    }
    close_result(w, warnings);
    Ok(())
}

/// `{"status":"success","data":{"resultType":<type>,"result":`.
pub(super) fn open_result(w: &mut Writer, type_name: &str) {
    w.buf()
        .extend_from_slice(b"{\"status\":\"success\",\"data\":{\"resultType\":");
    json::write_str(w.buf(), type_name);
    w.buf().extend_from_slice(b",\"result\":");
}

/// `}` of `data`, the warnings, `}` and the trailing newline.
pub(super) fn close_result(w: &mut Writer, warnings: &[String]) {
    w.buf().push(b'}');
    if !warnings.is_empty() {
        w.has_warnings = true;
        w.buf().extend_from_slice(b",\"warnings\":[");
        for (i, msg) in warnings.iter().enumerate() {
            if i > 0 {
                w.buf().push(b',');
            }
            json::write_str(w.buf(), msg);
        }
        w.buf().push(b']');
    }
    w.buf().extend_from_slice(b"}\n");
}

pub(super) fn write_sample(out: &mut Vec<u8>, s: &crate::promql::Sample, first: &mut bool) {
    if !std::mem::take(first) {
        out.push(b',');
    }
    out.extend_from_slice(b"{\"metric\":");
    json::write_labels(out, &s.metric);
    out.extend_from_slice(b",\"value\":");
    sample_point(out, s.t, s.v);
    out.push(b'}');
}

pub(super) fn write_series(out: &mut Vec<u8>, s: &crate::promql::Series, first: &mut bool) {
    if !std::mem::take(first) {
        out.push(b',');
    }
    out.extend_from_slice(b"{\"metric\":");
    json::write_labels(out, &s.metric);
    out.extend_from_slice(b",\"values\":[");
    for (j, p) in s.points.iter().enumerate() {
        if j > 0 {
            out.push(b',');
        }
        sample_point(out, p.t, p.v);
    }
    out.extend_from_slice(b"]}");
}

async fn flush(w: &mut Writer) -> Result<(), ApiError> {
    w.flush_if_full()
        .await
        .map_err(|e| ApiError::new(ErrorType::Canceled, e.to_string()))
}

/// `[<seconds>,"<value>"]` of a scalar or string result.
fn point(out: &mut Vec<u8>, t: i64, v: &str) {
    out.push(b'[');
    write_timestamp(out, t);
    out.push(b',');
    json::write_str(out, v);
    out.push(b']');
}

/// `[<seconds>,"<value>"]` of a vector or matrix point, as Thanos v0.31
/// writes it: Prometheus 2.42's `Point.MarshalJSON` (promql/value.go)
/// through encoding/json, so the timestamp is the float64 `t / 1000` and
/// the value `strconv.FormatFloat(v, 'f', -1, 64)`, which needs no
/// escaping. (Prometheus's own API writes points through jsoniter with
/// `marshalTimestamp`, giving `1.500` where Thanos gives `1.5`, and no
/// trailing newline; the querier answers as Thanos does.)
fn sample_point(out: &mut Vec<u8>, t: i64, v: f64) {
    out.push(b'[');
    write_timestamp(out, t);
    out.extend_from_slice(b",\"");
    crate::promql::write_value(out, v);
    out.extend_from_slice(b"\"]");
}

/// [`format_timestamp`] appended to `out`. Below 10^15 ms the float64
/// `t / 1000` is closer to the decimal `<seconds>.<ms>` than to any other
/// decimal of as few digits (its spacing is under 2^-12 s there), so the
/// shortest digits are those of the integers, without the float
/// formatting; beyond, the general path.
pub fn write_timestamp(out: &mut Vec<u8>, t: i64) {
    if t.unsigned_abs() >= 1_000_000_000_000_000 {
        out.extend_from_slice(format_timestamp(t).as_bytes());
        return;
    }
    if t < 0 {
        out.push(b'-');
    }
    let a = t.unsigned_abs();
    let mut digits = itoa::Buffer::new();
    out.extend_from_slice(digits.format(a / 1000).as_bytes());
    let mut ms = a % 1000;
    if ms != 0 {
        out.push(b'.');
        let mut place = 100;
        while ms != 0 {
            out.push(b'0' + (ms / place) as u8);
            ms %= place;
            place /= 10;
        }
    }
}

/// A millisecond timestamp as Go's encoding/json writes the float64
/// `t / 1000`: shortest digits, exponent form only outside [1e-6, 1e21).
pub fn format_timestamp(t: i64) -> String {
    let f = t as f64 / 1000.0;
    let a = f.abs();
    if a != 0.0 && !(1e-6..1e21).contains(&a) {
        // Go writes e.g. 1e-07 as "1e-7"; Rust's {:e} gives "1e-7" too.
        return format!("{f:e}");
    }
    format!("{f}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_timestamps_as_prometheus_writes_them() {
        assert_eq!(format_value(1.0), "1");
        assert_eq!(format_value(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_value(1e21), "1000000000000000000000");
        assert_eq!(format_value(1e-7), "0.0000001");
        assert_eq!(format_value(-0.0), "-0");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_timestamp(1_435_781_451_781), "1435781451.781");
        assert_eq!(format_timestamp(1_435_781_451_780), "1435781451.78");
        assert_eq!(format_timestamp(1_435_781_451_000), "1435781451");
        assert_eq!(format_timestamp(0), "0");
        assert_eq!(format_timestamp(-1500), "-1.5");
    }

    #[test]
    fn point_timestamps_as_thanos_writes_them() {
        let ts = |t| {
            let mut out = Vec::new();
            write_timestamp(&mut out, t);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(ts(1500), "1.5");
        assert_eq!(ts(-1050), "-1.05");
        assert_eq!(ts(1_435_781_451_781), "1435781451.781");
        assert_eq!(ts(1_435_781_451_007), "1435781451.007");
        assert_eq!(ts(1_435_781_451_780), "1435781451.78");
        assert_eq!(ts(1_435_781_451_000), "1435781451");
        assert_eq!(ts(0), "0");
        assert_eq!(ts(-5), "-0.005");
        let mut out = Vec::new();
        sample_point(&mut out, 1250, f64::NAN);
        assert_eq!(out, b"[1.25,\"NaN\"]");
    }

    proptest::proptest! {
        /// The integer path gives what the float formatting gives.
        #[test]
        fn timestamps_fast_path_is_the_float(t in -2_000_000_000_000_000i64..2_000_000_000_000_000) {
            let mut out = Vec::new();
            write_timestamp(&mut out, t);
            proptest::prop_assert_eq!(String::from_utf8(out).unwrap(), format_timestamp(t));
        }

        #[test]
        fn timestamps_near_now_fast_path_is_the_float(t in 0i64..4_000_000_000_000) {
            let mut out = Vec::new();
            write_timestamp(&mut out, t);
            proptest::prop_assert_eq!(String::from_utf8(out).unwrap(), format_timestamp(t));
        }
    }

    #[test]
    fn durations() {
        assert_eq!(duration_ms("15"), Ok(15_000));
        assert_eq!(duration_ms("0.5"), Ok(500));
        assert_eq!(duration_ms("1m"), Ok(60_000));
        assert_eq!(duration_ms("1h30m"), Ok(5_400_000));
        assert!(duration_ms("x").is_err());
        assert!(duration_ms("1e300").unwrap_err().contains("overflows"));
    }
}
