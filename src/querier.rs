//! The PromQL engine's storage over the store fan-out: one `Select` is one
//! fan-out to the selected stores, merged and deduplicated series by series
//! (Thanos v0.31 `pkg/query/querier.go`).
//!
//! For each selector the engine asks for, the request window is exactly
//! the selector's hint window (start minus range or lookback, offset and
//! `@` applied), as Thanos asks for it: what a sidecar returns depends on
//! the window (Prometheus's remote read trims chunks that cross it), so a
//! wider window would change what the dedup sees. The aggregates asked for
//! follow the hint's function (`aggrsFromFunc`). Each merged series is read
//! through [`crate::dedup::series_iter`]: the penalty (or chain) dedup when
//! deduplicating, the plain chunk-series iterator otherwise, clamped to the
//! query's `[mint, maxt]` as Thanos's bounded iterator is.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Instant;

use crate::api::Shard;
use crate::dedup::{self, Mode};
use crate::fanout::{self, Budget, FanoutRequest, Partial, Warnings};
use crate::labels::Matcher;
use crate::merge::Merge;
use crate::promql::{
    Point, PromqlError, SelectFuture, SelectHints, SelectResult, Storage, StorageSeries,
};
use crate::proto::thanos::{self, PartialResponseStrategy, SeriesRequest};
use crate::select::{self, StoreFilter};

/// How one query reads the stores.
pub struct Querier<'a> {
    pub shard: &'a Shard,
    /// Replica labels to remove; empty when not deduplicating.
    pub replica_labels: Vec<String>,
    /// Penalty or chain when deduplicating.
    pub dedup: Mode,
    pub partial: Partial,
    pub store_matchers: Vec<Vec<Matcher>>,
    pub deadline: Instant,
    /// `max_source_resolution` in ms (0: raw data only).
    pub max_resolution_window: i64,
    pub budget: Rc<Budget>,
    /// The query's `[mint, maxt]` (the span of every selector's window),
    /// set by the engine before the first select.
    pub window: Cell<Option<(i64, i64)>>,
    /// Samples decoded so far, checked against `max_samples`.
    pub samples: Cell<usize>,
    pub max_samples: usize,
    pub warnings: RefCell<Vec<String>>,
}

impl Querier<'_> {
    fn strategy(&self) -> i32 {
        match self.partial {
            Partial::Warn => PartialResponseStrategy::Warn as i32,
            Partial::Abort => PartialResponseStrategy::Abort as i32,
        }
    }

    /// Opens one select: the fan-out, merged, read series by series.
    pub async fn open(
        &self,
        hints: &SelectHints,
        matchers: &[Matcher],
    ) -> Result<SeriesCursor, PromqlError> {
        let shard = self.shard;
        let snapshot = shard.global.endpoints.snapshot();
        let filter = StoreFilter {
            min_time: hints.start,
            max_time: hints.end,
            matchers,
            store_matchers: &self.store_matchers,
        };
        let stores = select::stores(&snapshot, &filter);
        let req = FanoutRequest {
            series: SeriesRequest {
                min_time: hints.start,
                max_time: hints.end,
                matchers: matchers.iter().map(Matcher::to_proto).collect(),
                max_resolution_window: self.max_resolution_window,
                aggregates: dedup::aggrs_from_func(&hints.func)
                    .into_iter()
                    .map(|a| a as i32)
                    .collect(),
                partial_response_strategy: self.strategy(),
                ..Default::default()
            },
            replica_labels: self.replica_labels.clone(),
            partial: self.partial,
            deadline: self.deadline,
            response_timeout: shard.cfg.response_timeout,
        };
        let warnings = Warnings::default();
        let sources = fanout::open(&shard.pool, &stores, &req, &warnings, &self.budget)
            .await
            .map_err(proxy_error)?;
        let (mint, maxt) = self.window.get().unwrap_or((hints.start, hints.end));
        let mode = if self.replica_labels.is_empty() {
            Mode::Off
        } else {
            self.dedup
        };
        Ok(SeriesCursor {
            merge: Merge::new(sources, false),
            warnings,
            mint,
            maxt,
            mode,
            func: hints.func.clone(),
        })
    }

    async fn select_now(
        &self,
        hints: &SelectHints,
        matchers: &[Matcher],
    ) -> Result<SelectResult, PromqlError> {
        let mut cursor = self.open(hints, matchers).await?;
        let mut series = Vec::new();
        while let Some(s) = cursor.next().await? {
            self.count(s.samples.len())?;
            series.push(s);
            crate::rt::yield_if_needed().await;
        }
        Ok(SelectResult {
            series,
            warnings: cursor.warnings(),
        })
    }

    /// Counts decoded samples against `--query.max-samples`.
    fn count(&self, n: usize) -> Result<(), PromqlError> {
        let total = self.samples.get() + n;
        self.samples.set(total);
        if self.max_samples > 0 && total > self.max_samples {
            return Err(PromqlError::too_many_samples());
        }
        Ok(())
    }
}

/// The series of one select, merged and deduplicated, one at a time.
pub struct SeriesCursor {
    merge: Merge,
    warnings: Warnings,
    mint: i64,
    maxt: i64,
    mode: Mode,
    func: String,
}

impl SeriesCursor {
    /// The next series with samples, decoded; `None` at the end.
    pub async fn next(&mut self) -> Result<Option<StorageSeries>, PromqlError> {
        let decoder = self.decoder();
        while let Some(s) = self.next_merged().await? {
            if let Some(s) = decoder.decode(s)? {
                return Ok(Some(s));
            }
        }
        Ok(None)
    }

    /// The next merged series with its chunks, not yet decoded (see
    /// [`SeriesCursor::decoder`]); `None` at the end.
    pub async fn next_merged(&mut self) -> Result<Option<thanos::Series>, PromqlError> {
        self.merge.next().await.map_err(proxy_error)
    }

    /// What turns a merged series into samples: owned, so that decoding
    /// can run on another thread.
    pub fn decoder(&self) -> Decoder {
        Decoder {
            mint: self.mint,
            maxt: self.maxt,
            mode: self.mode,
            func: self.func.clone(),
        }
    }

    /// The warnings of the stores so far.
    pub fn warnings(&self) -> Vec<String> {
        self.warnings.borrow().clone()
    }
}

/// Decodes merged series: dedup across the replicas' chunks, clamped to
/// the query's window, with the select's function hint.
#[derive(Debug, Clone)]
pub struct Decoder {
    mint: i64,
    maxt: i64,
    mode: Mode,
    func: String,
}

impl Decoder {
    /// The series' samples; `None` when it has none in the window.
    pub fn decode(&self, s: thanos::Series) -> Result<Option<StorageSeries>, PromqlError> {
        let func = (!self.func.is_empty()).then_some(self.func.as_str());
        let mut it = dedup::series_iter(s.chunks, self.mint, self.maxt, self.mode, func);
        let mut samples = Vec::new();
        while it
            .next()
            .map_err(|e| PromqlError::execution(e.to_string()))?
            .is_some()
        {
            let (t, v) = it.at();
            samples.push(Point { t, v });
        }
        Ok((!samples.is_empty()).then_some(StorageSeries {
            labels: s.labels,
            samples,
        }))
    }
}

/// A store failure that ends a query, in Thanos's words.
fn proxy_error(e: crate::endpoint::StoreError) -> PromqlError {
    PromqlError::execution(format!("proxy Series(): {}", e.status))
}

impl Storage for Querier<'_> {
    fn select<'a>(&'a self, hints: &'a SelectHints, matchers: &'a [Matcher]) -> SelectFuture<'a> {
        Box::pin(self.select_now(hints, matchers))
    }

    fn set_query_window(&self, mint: i64, maxt: i64) {
        self.window.set(Some((mint, maxt)));
    }
}
