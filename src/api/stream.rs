//! Series-by-series evaluation for queries whose result series each
//! depend on one input series: a selector (`up`, `up[5m]` at an instant),
//! or a function that keeps series apart applied to one selector of one
//! metric name (`rate(http_requests_total[5m])`, `abs(x)`,
//! `quantile_over_time(0.9, x[1h])`). Such a query never needs the whole
//! input: each merged, deduplicated series from the stores is evaluated by
//! the same engine on its own and written to the client before the next is
//! read, so memory holds one series, not the answer.
//!
//! Why the answer is the same as evaluating everything at once: the
//! output series of these shapes are computed from their own input only;
//! the stores' merge yields input series sorted by labels, which is the
//! order Prometheus returns (range queries sort by labels; instant vectors
//! keep the selection order), and with one fixed metric name, dropping
//! `__name__` keeps that order and cannot make two outputs collide.
//! `--query.max-samples` counts the points written, which is what the
//! whole-query evaluation would hold at its end.

use promql_parser::parser::Expr;

use super::body::Writer;
use super::error::{ApiError, ErrorType};
use crate::promql::{
    Engine, MemoryStorage, PromqlError, Query, QueryOpts, QueryRange, Storage, Value,
};
use crate::querier::Querier;

/// Functions of Prometheus 2.42 whose output series depend only on their
/// own input series.
const PER_SERIES: &[&str] = &[
    "rate",
    "irate",
    "increase",
    "delta",
    "idelta",
    "deriv",
    "predict_linear",
    "holt_winters",
    "changes",
    "resets",
    "avg_over_time",
    "min_over_time",
    "max_over_time",
    "sum_over_time",
    "count_over_time",
    "stddev_over_time",
    "stdvar_over_time",
    "last_over_time",
    "present_over_time",
    "quantile_over_time",
    "abs",
    "ceil",
    "floor",
    "exp",
    "ln",
    "log2",
    "log10",
    "sqrt",
    "round",
    "clamp",
    "clamp_min",
    "clamp_max",
    "sgn",
    "timestamp",
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atanh",
    "cos",
    "cosh",
    "sin",
    "sinh",
    "tan",
    "tanh",
    "deg",
    "rad",
];

fn unparen(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(p) => unparen(&p.expr),
        e => e,
    }
}

/// Whether the selector names exactly one metric (an `=` matcher on the
/// name, or the bare name).
fn one_metric(vs: &promql_parser::parser::VectorSelector) -> bool {
    vs.name.is_some()
        || vs.matchers.matchers.iter().any(|m| {
            m.name == crate::labels::METRIC_NAME
                && matches!(m.op, promql_parser::label::MatchOp::Equal)
        })
}

/// The result type when `q` can be evaluated series by series, else `None`.
pub fn streamable(q: &Query, range: &QueryRange) -> Option<&'static str> {
    let instant = matches!(range, QueryRange::Instant { .. });
    let ty = |matrix: bool| {
        if matrix && instant {
            "matrix"
        } else if instant {
            "vector"
        } else {
            "matrix"
        }
    };
    match unparen(q.expr()) {
        Expr::VectorSelector(_) => Some(ty(false)),
        Expr::MatrixSelector(_) if instant => Some(ty(true)),
        Expr::Call(call) if PER_SERIES.contains(&call.func.name) => {
            let mut selectors = 0;
            for a in &call.args.args {
                match unparen(a) {
                    Expr::VectorSelector(vs) if one_metric(vs) => selectors += 1,
                    Expr::MatrixSelector(ms) if one_metric(&ms.vs) => selectors += 1,
                    Expr::NumberLiteral(_) | Expr::StringLiteral(_) => {}
                    _ => return None,
                }
            }
            (selectors == 1).then_some(ty(false))
        }
        _ => None,
    }
}

fn expanding(e: PromqlError) -> PromqlError {
    e.wrap("expanding series: ")
}

/// Evaluates `q` series by series into `w` (see the module doc).
#[allow(clippy::too_many_arguments)]
pub async fn run(
    engine: &Engine,
    querier: &Querier<'_>,
    q: &Query,
    range: QueryRange,
    opts: &QueryOpts,
    type_name: &str,
    max_points: usize,
    w: &mut Writer,
) -> Result<(), ApiError> {
    let selects = engine
        .plan_selects(q, range, opts)
        .map_err(super::query::promql_error)?;
    let [(hints, matchers)] = selects.as_slice() else {
        return Err(ApiError::internal(
            "a streamed query must have exactly one selector",
        ));
    };
    querier.set_query_window(hints.start, hints.end);
    crate::metrics::STREAMED_QUERIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut cursor = querier
        .open(hints, matchers)
        .await
        .map_err(|e| super::query::promql_error(expanding(e)))?;
    super::query::open_result(w, type_name);
    w.buf().push(b'[');
    let (mut first, mut points) = (true, 0usize);
    loop {
        let next = cursor
            .next()
            .await
            .map_err(|e| super::query::promql_error(expanding(e)))?;
        let Some(series) = next else { break };
        let mut one = MemoryStorage::new();
        one.append(series.labels, &series.samples);
        let r = engine
            .exec_inline(&one, q, range, opts)
            .await
            .map_err(super::query::promql_error)?;
        match r.value {
            Value::Vector(samples) => {
                points += samples.len();
                for s in &samples {
                    super::query::write_sample(w, s, &mut first);
                }
            }
            Value::Matrix(series) => {
                for s in &series {
                    points += s.points.len();
                    super::query::write_series(w, s, &mut first);
                }
            }
            _ => {
                return Err(ApiError::internal(
                    "a streamed query gave a scalar or string",
                ))
            }
        }
        if max_points > 0 && points > max_points {
            return Err(super::query::promql_error(PromqlError::too_many_samples()));
        }
        w.flush_if_full()
            .await
            .map_err(|e| ApiError::new(ErrorType::Canceled, e.to_string()))?;
        crate::rt::yield_if_needed().await;
    }
    w.buf().push(b']');
    super::query::close_result(w, &cursor.warnings());
    Ok(())
}
