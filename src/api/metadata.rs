//! The metadata APIs: `/api/v1/series`, `/api/v1/labels` and
//! `/api/v1/label/<name>/values`, answered by fanning out to the stores
//! (Thanos v0.31 `pkg/api/query/v1.go` semantics for parameters and errors;
//! `limit` as v0.37 added it).
//!
//! `/series` streams: series are written to the client as the merge
//! produces them, so the answer is never held whole. With dedup (the
//! default) and replica labels, replica labels are removed and the replicas
//! of a series appear once.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::body::Writer;
use super::error::{ApiError, ErrorType};
use super::json;
use super::params::{Form, MAX_TIME_MS, MIN_TIME_MS};
use super::Shard;
use crate::fanout::{self, Budget, FanoutRequest, Partial, Warnings};
use crate::labels::{parse_selector, Matcher};
use crate::merge::Merge;
use crate::proto::thanos::{
    Aggr, LabelNamesRequest, LabelValuesRequest, PartialResponseStrategy, SeriesRequest,
};
use crate::select::{self, StoreFilter};

/// Warning added when `limit` cut the answer (Thanos v0.37+ wording).
const TRUNCATED: &str = "results truncated due to limit";

/// What every metadata request shares.
struct Common {
    start: i64,
    end: i64,
    matcher_sets: Vec<Vec<Matcher>>,
    store_matchers: Vec<Vec<Matcher>>,
    partial: Partial,
    deadline: Instant,
    limit: usize,
}

fn common(shard: &Shard, form: &Form) -> Result<Common, ApiError> {
    let (dstart, dend) = default_range(shard.cfg.metadata_default_range);
    let start = form.time_or("start", dstart)?;
    let end = form.time_or("end", dend)?;
    if end < start {
        return Err(ApiError::bad_data(
            "end timestamp must not be before start time",
        ));
    }
    let mut matcher_sets = Vec::new();
    for m in form.all("match[]") {
        matcher_sets.push(parse_selector(m).map_err(ApiError::bad_data)?);
    }
    let mut store_matchers = Vec::new();
    for m in form.all("storeMatch[]") {
        store_matchers.push(parse_selector(m).map_err(ApiError::bad_data)?);
    }
    let partial = if form.bool_or("partial_response", shard.cfg.partial_response)? {
        Partial::Warn
    } else {
        Partial::Abort
    };
    let limit = match form.get("limit") {
        None | Some("") => 0,
        Some(v) => v
            .parse::<i64>()
            .map_err(|_| {
                ApiError::bad_data(format!(
                    "cannot parse \"limit\": {v:?} is not a valid number"
                ))
            })?
            .max(0) as usize,
    };
    Ok(Common {
        start,
        end,
        matcher_sets,
        store_matchers,
        partial,
        deadline: Instant::now() + shard.cfg.query_timeout,
        limit,
    })
}

/// The replica labels a request removes: `replicaLabels[]` if given, else
/// the flag's; none when `dedup=false`.
pub fn replica_labels(shard: &Shard, form: &Form) -> Result<Vec<String>, ApiError> {
    if !form.bool_or("dedup", true)? {
        return Ok(Vec::new());
    }
    let given = form.all("replicaLabels[]");
    if given.is_empty() {
        return Ok(shard.cfg.replica_labels.clone());
    }
    Ok(given
        .into_iter()
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect())
}

/// `[now - range, now]`, or all time when the range is zero
/// (`--query.metadata.default-time-range`).
fn default_range(range: Duration) -> (i64, i64) {
    if range.is_zero() {
        return (MIN_TIME_MS, MAX_TIME_MS);
    }
    let now = crate::time::now_ms();
    (now - range.as_millis() as i64, now)
}

fn strategy(p: Partial) -> i32 {
    match p {
        Partial::Warn => PartialResponseStrategy::Warn as i32,
        Partial::Abort => PartialResponseStrategy::Abort as i32,
    }
}

/// `GET|POST /api/v1/series`.
pub async fn series(shard: &Shard, form: Form, w: &mut Writer) -> Result<(), ApiError> {
    if form.all("match[]").is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let replicas = replica_labels(shard, &form)?;
    let c = common(shard, &form)?;
    let warnings = Warnings::default();
    let budget = Budget::new(shard.cfg.limits);
    let snapshot = shard.global.endpoints.snapshot();
    let mut sources = Vec::new();
    for ms in &c.matcher_sets {
        let filter = StoreFilter {
            min_time: c.start,
            max_time: c.end,
            matchers: ms,
            store_matchers: &c.store_matchers,
        };
        let stores = select::stores(&snapshot, &filter);
        let req = FanoutRequest {
            series: SeriesRequest {
                min_time: c.start,
                max_time: c.end,
                matchers: ms.iter().map(Matcher::to_proto).collect(),
                max_resolution_window: i64::MAX,
                aggregates: vec![Aggr::Count as i32, Aggr::Sum as i32],
                partial_response_strategy: strategy(c.partial),
                skip_chunks: true,
                // Stores that know `limit` (later Thanos) stop early; one
                // more than asked tells whether the answer was cut.
                limit: if c.limit > 0 { c.limit as i64 + 1 } else { 0 },
                ..Default::default()
            },
            replica_labels: replicas.clone(),
            partial: c.partial,
            deadline: c.deadline,
            response_timeout: shard.cfg.response_timeout,
        };
        sources.extend(fanout::open(&shard.pool, &stores, &req, &warnings, &budget).await?);
    }
    let mut merge = Merge::new(sources, true);
    w.has_warnings = !warnings.borrow().is_empty();
    w.buf()
        .extend_from_slice(b"{\"status\":\"success\",\"data\":[");
    let mut n = 0;
    while let Some(s) = merge.next().await? {
        if c.limit > 0 && n == c.limit {
            warnings.borrow_mut().push(TRUNCATED.into());
            break;
        }
        if n > 0 {
            w.buf().push(b',');
        }
        n += 1;
        json::write_labels(w.buf(), &s.labels);
        w.flush_if_full()
            .await
            .map_err(|e| ApiError::new(ErrorType::Canceled, e.to_string()))?;
        crate::rt::yield_if_needed().await;
    }
    w.buf().push(b']');
    finish_envelope(w, &warnings);
    Ok(())
}

/// Writes `,"warnings":[…]}` (or just `}`) and the trailing newline.
fn finish_envelope(w: &mut Writer, warnings: &Warnings) {
    let ws = warnings.borrow();
    if !ws.is_empty() {
        w.has_warnings = true;
        w.buf().extend_from_slice(b",\"warnings\":[");
        for (i, msg) in ws.iter().enumerate() {
            if i > 0 {
                w.buf().push(b',');
            }
            json::write_str(w.buf(), msg);
        }
        w.buf().push(b']');
    }
    w.buf().extend_from_slice(b"}\n");
}

/// Writes a sorted string list as the success envelope, cut at `limit`.
fn write_strings(w: &mut Writer, items: &BTreeSet<String>, warnings: &Warnings, limit: usize) {
    w.buf()
        .extend_from_slice(b"{\"status\":\"success\",\"data\":[");
    for (i, s) in items.iter().enumerate() {
        if limit > 0 && i == limit {
            warnings.borrow_mut().push(TRUNCATED.into());
            break;
        }
        if i > 0 {
            w.buf().push(b',');
        }
        json::write_str(w.buf(), s);
    }
    w.buf().push(b']');
    finish_envelope(w, warnings);
}

type Matchers = Vec<crate::proto::thanos::LabelMatcher>;

/// Runs `call` on every selected store (once per matcher set, or once
/// without matchers) and unions the answers. As in v0.31, stores are chosen
/// by time range and `storeMatch[]` only.
async fn gather<F, Fut>(
    shard: &Shard,
    c: &Common,
    warnings: &Warnings,
    call: F,
) -> Result<BTreeSet<String>, ApiError>
where
    F: Fn(String, Matchers) -> Fut,
    Fut: std::future::Future<
        Output = Result<(Vec<String>, Vec<String>), crate::endpoint::StoreError>,
    >,
{
    let sets: Vec<Matchers> = if c.matcher_sets.is_empty() {
        vec![Vec::new()]
    } else {
        c.matcher_sets
            .iter()
            .map(|ms| ms.iter().map(Matcher::to_proto).collect())
            .collect()
    };
    let snapshot = shard.global.endpoints.snapshot();
    let filter = StoreFilter {
        min_time: c.start,
        max_time: c.end,
        matchers: &[],
        store_matchers: &c.store_matchers,
    };
    let mut calls = Vec::new();
    for e in select::stores(&snapshot, &filter) {
        for set in &sets {
            calls.push(call(e.addr.clone(), set.clone()));
        }
    }
    let mut out = BTreeSet::new();
    for r in futures_util::future::join_all(calls).await {
        match r {
            Ok((items, store_warnings)) => {
                out.extend(items);
                warnings.borrow_mut().extend(store_warnings);
            }
            Err(e) => match c.partial {
                Partial::Warn => warnings.borrow_mut().push(e.to_string()),
                Partial::Abort => return Err(ApiError::new(ErrorType::Execution, e.to_string())),
            },
        }
    }
    Ok(out)
}

/// `GET|POST /api/v1/labels`.
pub async fn label_names(shard: &Shard, form: Form, w: &mut Writer) -> Result<(), ApiError> {
    let c = common(shard, &form)?;
    let warnings = Warnings::default();
    let timeout = c.deadline.saturating_duration_since(Instant::now());
    let names = gather(shard, &c, &warnings, |addr, matchers| {
        let req = LabelNamesRequest {
            partial_response_strategy: strategy(c.partial),
            start: c.start,
            end: c.end,
            matchers,
            ..Default::default()
        };
        async move {
            let r = shard.pool.label_names(&addr, &req, timeout).await?;
            Ok((r.names, r.warnings))
        }
    })
    .await?;
    write_strings(w, &names, &warnings, c.limit);
    Ok(())
}

/// `GET /api/v1/label/<name>/values`.
pub async fn label_values(
    shard: &Shard,
    name: &str,
    form: Form,
    w: &mut Writer,
) -> Result<(), ApiError> {
    if !valid_label_name(name) {
        return Err(ApiError::bad_data(format!("invalid label name: {name:?}")));
    }
    let c = common(shard, &form)?;
    let warnings = Warnings::default();
    let timeout = c.deadline.saturating_duration_since(Instant::now());
    let values = gather(shard, &c, &warnings, |addr, matchers| {
        let req = LabelValuesRequest {
            label: name.to_string(),
            partial_response_strategy: strategy(c.partial),
            start: c.start,
            end: c.end,
            matchers,
            ..Default::default()
        };
        async move {
            let r = shard.pool.label_values(&addr, &req, timeout).await?;
            Ok((r.values, r.warnings))
        }
    })
    .await?;
    write_strings(w, &values, &warnings, c.limit);
    Ok(())
}

/// `^[a-zA-Z_][a-zA-Z0-9_]*$`, Prometheus's label name rule.
pub fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
