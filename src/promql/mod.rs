//! The PromQL engine: Prometheus v2.42 semantics (the engine of Thanos
//! v0.31's querier), bit for bit where floats are concerned.
//!
//! It owns parsing (through the `promql-parser` crate), planning and
//! evaluation. It does no IO: data comes through the [`Storage`] trait,
//! called once per selector before evaluation with Prometheus's
//! [`SelectHints`]. Errors are typed ([`PromqlError`], [`ErrorKind`]) with
//! Prometheus's messages; the API layer maps kinds to HTTP statuses.
//!
//! A query flows: text → [`Query`] (parsed) → `plan` (checked against
//! v2.42's function set, `@ start()`/`end()` resolved, step-invariant parts
//! marked, hints computed) → `select` per selector → `engine` (evaluation
//! step by step) → [`Value`].
//!
//! ```no_run
//! # async fn demo(storage: &sluice::promql::MemoryStorage) -> Result<(), sluice::promql::PromqlError> {
//! use sluice::promql::{Engine, EngineOptions};
//! let engine = Engine::new(EngineOptions::default());
//! let now = 1_700_000_000_000;
//! let res = engine.instant(storage, "sum by (job) (rate(http_requests_total[5m]))", now).await?;
//! let res = engine.range(storage, "up", now - 3_600_000, now, 60_000).await?;
//! # Ok(()) }
//! ```

mod aggregate;
mod binary;
mod cursor;
mod engine;
#[cfg(test)]
mod engine_tests;
mod error;
mod format;
mod functions;
#[cfg(test)]
mod golden_tests;
mod gosort;
mod labelset;
mod plan;
mod storage;
pub mod test_script;
mod value;

use std::sync::Arc;

pub use aggregate::TopK;
pub use error::{ErrorKind, PromqlError, Result};
pub use storage::{
    MemoryStorage, PerSelect, SelectFuture, SelectHints, SelectKey, SelectResult, Storage,
    StorageSeries,
};
pub use value::{
    is_stale_nan, stale_nan, Labels, Matrix, Metric, Point, Sample, Series, Value, Vector,
};

use engine::{Evaluated, Evaluator, SelSeries};
use plan::{HintParams, ValueType};

/// A float as Prometheus's API writes sample values:
/// `strconv.FormatFloat(v, 'f', -1, 64)` with `NaN`, `+Inf`, `-Inf`.
pub fn format_value(v: f64) -> String {
    format::format_f(v)
}

/// Prometheus's `quantile` of some values (sorting them as Go sorts).
pub fn quantile(q: f64, values: &mut [f64]) -> f64 {
    functions::misc::quantile(q, values)
}

/// Whether `name` is a valid label name (Prometheus's `LabelName.IsValid`).
pub fn is_valid_label_name(name: &str) -> bool {
    labelset::is_valid_label_name(name)
}

/// [`format_value`] appended to `out`, with no allocation.
pub fn write_value(out: &mut Vec<u8>, v: f64) {
    format::write_f(out, v)
}

/// Prometheus's default lookback delta (`--query.lookback-delta`), 5m.
pub const DEFAULT_LOOKBACK_DELTA_MS: i64 = 5 * 60 * 1000;
/// Prometheus's default `--query.max-samples`.
pub const DEFAULT_MAX_SAMPLES: usize = 50_000_000;
/// Thanos's default `--query.default-evaluation-interval`, 1m: the step of
/// subqueries written without one.
pub const DEFAULT_SUBQUERY_STEP_MS: i64 = 60 * 1000;

/// Thanos's default `--query.timeout`, 2m.
pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Engine settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineOptions {
    /// How far back an instant selector looks for a sample, in ms.
    pub lookback_delta_ms: i64,
    /// The most samples a query may hold at once.
    pub max_samples: usize,
    /// The step of a subquery written without one, in ms.
    pub default_subquery_step_ms: i64,
    /// How long evaluation may take (`--query.timeout`); `None` for no
    /// limit. Selects are not covered: the storage enforces its own.
    pub timeout: Option<std::time::Duration>,
}

impl Default for EngineOptions {
    fn default() -> EngineOptions {
        EngineOptions {
            lookback_delta_ms: DEFAULT_LOOKBACK_DELTA_MS,
            max_samples: DEFAULT_MAX_SAMPLES,
            default_subquery_step_ms: DEFAULT_SUBQUERY_STEP_MS,
            timeout: Some(DEFAULT_TIMEOUT),
        }
    }
}

/// A parsed query.
#[derive(Debug, Clone)]
pub struct Query {
    expr: promql_parser::parser::Expr,
}

impl Query {
    /// Parses query text; parse errors are `bad_data`.
    pub fn parse(text: &str) -> Result<Query> {
        Ok(Query {
            expr: plan::parse(text)?,
        })
    }

    /// Wraps an expression built or modified elsewhere (the test runner adds
    /// `@` modifiers this way).
    pub fn from_expr(expr: promql_parser::parser::Expr) -> Query {
        Query { expr }
    }

    /// The parsed expression.
    pub fn expr(&self) -> &promql_parser::parser::Expr {
        &self.expr
    }
}

/// A query's value and the storage's warnings.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResult {
    pub value: Value,
    pub warnings: Vec<String>,
}

/// When to evaluate a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryRange {
    /// At one time (ms).
    Instant { time_ms: i64 },
    /// From `start_ms` to `end_ms` (inclusive) every `step_ms`.
    Range {
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    },
}

/// Per-query settings (Prometheus's `QueryOpts`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryOpts {
    /// The lookback delta for this query, in ms; zero or negative means the
    /// engine's.
    pub lookback_delta_ms: i64,
}

/// The engine: options and the evaluation entry points.
#[derive(Debug, Clone)]
pub struct Engine {
    opts: EngineOptions,
}

impl Engine {
    /// An engine; zero or negative settings fall back to the defaults, as
    /// Prometheus treats a zero lookback delta.
    pub fn new(opts: EngineOptions) -> Engine {
        let mut opts = opts;
        if opts.lookback_delta_ms <= 0 {
            opts.lookback_delta_ms = DEFAULT_LOOKBACK_DELTA_MS;
        }
        if opts.default_subquery_step_ms <= 0 {
            opts.default_subquery_step_ms = DEFAULT_SUBQUERY_STEP_MS;
        }
        Engine { opts }
    }

    /// The settings in use.
    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }

    /// Parses and evaluates `query` at `time_ms`.
    pub async fn instant(
        &self,
        storage: &dyn Storage,
        query: &str,
        time_ms: i64,
    ) -> Result<QueryResult> {
        let q = Query::parse(query)?;
        self.exec(
            storage,
            &q,
            QueryRange::Instant { time_ms },
            &QueryOpts::default(),
        )
        .await
    }

    /// Parses and evaluates `query` from `start_ms` to `end_ms` every
    /// `step_ms`.
    pub async fn range(
        &self,
        storage: &dyn Storage,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryResult> {
        let q = Query::parse(query)?;
        let range = QueryRange::Range {
            start_ms,
            end_ms,
            step_ms,
        };
        self.exec(storage, &q, range, &QueryOpts::default()).await
    }

    /// Evaluates a parsed query. An instant query returns a scalar, string,
    /// vector (in Prometheus's output order) or matrix; a range query a
    /// matrix sorted by labels.
    pub async fn exec(
        &self,
        storage: &dyn Storage,
        q: &Query,
        range: QueryRange,
        opts: &QueryOpts,
    ) -> Result<QueryResult> {
        let lookback = self.checked(range, opts)?;
        self.exec_checked(storage, q, range, lookback, false).await
    }

    /// Checks a range's step and order; returns the lookback delta in use
    /// (the query's, else the engine's).
    fn checked(&self, range: QueryRange, opts: &QueryOpts) -> Result<i64> {
        if let QueryRange::Range {
            start_ms,
            end_ms,
            step_ms,
        } = range
        {
            if step_ms <= 0 {
                return Err(PromqlError::bad_data(
                    "zero or negative query resolution step widths are not accepted. Try a positive integer",
                ));
            }
            if end_ms < start_ms {
                return Err(PromqlError::bad_data(
                    "end timestamp must not be before start time",
                ));
            }
        }
        Ok(if opts.lookback_delta_ms > 0 {
            opts.lookback_delta_ms
        } else {
            self.opts.lookback_delta_ms
        })
    }

    /// [`Engine::exec`], evaluating on the calling thread: for small
    /// evaluations (one series at a time) where a thread would cost more
    /// than the work.
    pub async fn exec_inline(
        &self,
        storage: &dyn Storage,
        q: &Query,
        range: QueryRange,
        opts: &QueryOpts,
    ) -> Result<QueryResult> {
        let lookback = self.checked(range, opts)?;
        self.exec_checked(storage, q, range, lookback, true).await
    }

    /// [`Engine::exec_inline`] as a plain function, for a storage whose
    /// selects answer at once (such as [`PerSelect`]): usable on a thread
    /// with no executor. A storage that would wait is an internal error,
    /// not a hang.
    pub fn exec_ready(
        &self,
        storage: &dyn Storage,
        q: &Query,
        range: QueryRange,
        opts: &QueryOpts,
    ) -> Result<QueryResult> {
        let fut = std::pin::pin!(self.exec_inline(storage, q, range, opts));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match std::future::Future::poll(fut, &mut cx) {
            std::task::Poll::Ready(r) => r,
            std::task::Poll::Pending => Err(PromqlError::internal(
                "a storage evaluated in place did not answer at once",
            )),
        }
    }

    /// The selects `exec` would make for `q`, in selector order, with the
    /// hints Prometheus 2.42 computes for them (after the same checks).
    pub fn plan_selects(
        &self,
        q: &Query,
        range: QueryRange,
        opts: &QueryOpts,
    ) -> Result<Vec<(SelectHints, Vec<crate::labels::Matcher>)>> {
        let lookback = self.checked(range, opts)?;
        let (node, selectors) = plan::convert(&q.expr)?;
        let (start, end, interval) = bounds(range);
        let node = plan::preprocess(node, start, end);
        let params = HintParams {
            start,
            end,
            interval,
            lookback,
            default_subquery_step: self.opts.default_subquery_step_ms,
        };
        Ok(plan::select_hints(&node, selectors, &params)
            .into_iter()
            .flatten()
            .map(|(h, m)| (h, m.to_vec()))
            .collect())
    }

    async fn exec_checked(
        &self,
        storage: &dyn Storage,
        q: &Query,
        range: QueryRange,
        lookback: i64,
        inline: bool,
    ) -> Result<QueryResult> {
        let started = std::time::Instant::now();
        let (node, selectors) = plan::convert(&q.expr)?;
        let (start, end, interval) = bounds(range);
        let ty = node.value_type();
        if matches!(range, QueryRange::Range { .. })
            && !matches!(ty, ValueType::Vector | ValueType::Scalar)
        {
            return Err(PromqlError::bad_data(format!(
                "invalid expression type {:?} for range query, must be Scalar or instant Vector",
                ty.documented()
            )));
        }
        let node = plan::preprocess(node, start, end);

        // Select every selector's series (Prometheus's populateSeries).
        let params = HintParams {
            start,
            end,
            interval,
            lookback,
            default_subquery_step: self.opts.default_subquery_step_ms,
        };
        let hints = plan::select_hints(&node, selectors, &params);
        let windows = hints.iter().flatten().map(|(h, _)| (h.start, h.end));
        if let Some((mint, maxt)) = windows.reduce(|a, b| (a.0.min(b.0), a.1.max(b.1))) {
            storage.set_query_window(mint, maxt);
        }
        let mut data: Vec<Vec<SelSeries>> = Vec::with_capacity(selectors);
        let mut warnings = Vec::new();
        for h in &hints {
            let Some((hints, matchers)) = h else {
                data.push(Vec::new());
                continue;
            };
            let res = storage
                .select(hints, matchers)
                .await
                .map_err(|e| e.wrap("expanding series: "))?;
            warnings.extend(res.warnings);
            data.push(selected_series(res.series, res.keep_order));
        }

        plan::set_offset_for_at_modifier(start, &node);
        let job = EvalJob {
            node,
            data,
            ty,
            range,
            start,
            end,
            interval,
            lookback,
            max_samples: i64::try_from(self.opts.max_samples).unwrap_or(i64::MAX),
            default_subquery_step: self.opts.default_subquery_step_ms,
            deadline: self.opts.timeout.and_then(|t| started.checked_add(t)),
        };
        // Evaluation is CPU work with no IO: unless asked to stay inline it
        // runs on a thread of its own, so the shard that accepted the query
        // keeps serving its other connections and queries meanwhile.
        let value = if inline {
            job.run()?
        } else {
            crate::rt::spawn_blocking(move || job.run())
                .await
                .unwrap_or_else(|panic| {
                    Err(PromqlError::internal(format!(
                        "evaluation panicked: {panic}"
                    )))
                })?
        };
        Ok(QueryResult { value, warnings })
    }
}

/// `(start, end, step)` of a query range; an instant query has step 0.
fn bounds(range: QueryRange) -> (i64, i64, i64) {
    match range {
        QueryRange::Instant { time_ms } => (time_ms, time_ms, 0),
        QueryRange::Range {
            start_ms,
            end_ms,
            step_ms,
        } => (start_ms, end_ms, step_ms),
    }
}

/// Everything evaluation needs, owned, so that it can run on another
/// thread once the selects are done.
struct EvalJob {
    node: plan::Node,
    data: Vec<Vec<SelSeries>>,
    ty: ValueType,
    range: QueryRange,
    start: i64,
    end: i64,
    interval: i64,
    lookback: i64,
    max_samples: i64,
    default_subquery_step: i64,
    deadline: Option<std::time::Instant>,
}

impl EvalJob {
    fn run(self) -> Result<Value> {
        let EvalJob {
            node,
            data,
            ty,
            range,
            start,
            end,
            interval,
            lookback,
            max_samples,
            default_subquery_step,
            deadline,
        } = self;
        let mut ev = Evaluator {
            start,
            end,
            interval: if interval == 0 { 1 } else { interval },
            max_samples,
            current: 0,
            lookback,
            default_subquery_step,
            data: &data,
            deadline,
        };
        Ok(match (ev.eval(&node)?, range) {
            (Evaluated::String(s), _) => Value::String { t: start, v: s },
            (Evaluated::Matrix(mut mat), QueryRange::Range { .. }) => {
                mat.sort_by(|a, b| crate::labels::compare(&a.metric, &b.metric));
                Value::Matrix(mat)
            }
            (Evaluated::Matrix(mat), QueryRange::Instant { time_ms: t }) => match ty {
                ValueType::Vector => Value::Vector(
                    mat.into_iter()
                        .filter_map(|s| {
                            let p = s.points.first()?;
                            Some(Sample {
                                metric: s.metric,
                                t,
                                v: p.v,
                            })
                        })
                        .collect(),
                ),
                ValueType::Scalar => {
                    let v = mat
                        .first()
                        .and_then(|s| s.points.first())
                        .map(|p| p.v)
                        .ok_or_else(|| {
                            PromqlError::internal("scalar expression without a value")
                        })?;
                    Value::Scalar { t, v }
                }
                _ => Value::Matrix(mat),
            },
        })
    }
}

/// Storage series as the evaluator holds them: labels sorted by name and
/// shared, series sorted by labels, samples in time order.
fn selected_series(mut series: Vec<StorageSeries>, keep_order: bool) -> Vec<SelSeries> {
    for s in &mut series {
        crate::labels::sort(&mut s.labels);
        if !s.samples.windows(2).all(|w| w[0].t < w[1].t) {
            s.samples.sort_by_key(|p| p.t);
            s.samples.dedup_by_key(|p| p.t);
        }
    }
    if !keep_order {
        series.sort_by(|a, b| crate::labels::compare(&a.labels, &b.labels));
    }
    series
        .into_iter()
        .map(|s| SelSeries {
            metric: Arc::new(s.labels),
            samples: s.samples,
        })
        .collect()
}
