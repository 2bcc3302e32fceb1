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
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
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
use crate::rt::pool;
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
        let decoder = cursor.decoder();
        let mut batches = Batches::new(move |batch: Vec<thanos::Series>| {
            let mut out = Vec::with_capacity(batch.len());
            for s in batch {
                out.extend(decoder.decode(s)?);
            }
            Ok::<_, PromqlError>(out)
        });
        let mut series = Vec::new();
        while let Some(decoded) = batches.step(&mut cursor).await {
            for s in decoded?? {
                self.count(s.samples.len())?;
                series.push(s);
            }
        }
        Ok(SelectResult {
            keep_order: false,
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

/// The merged series of a cursor in batches, handed (still as chunk bytes)
/// to the worker threads ([`crate::rt::pool`]) that run `job` over them,
/// and answered in the order the batches were made: whatever `job` does
/// (decode, evaluate, write JSON), its results come back in the series'
/// order, as if one thread had done it all.
pub struct Batches<I, T> {
    job: Arc<dyn Fn(Vec<I>) -> T + Send + Sync>,
    workers: usize,
    slots: VecDeque<Slot<T>>,
    away: usize,
    batch: Vec<I>,
    batch_bytes: usize,
    batch_limit: usize,
    /// The most items in a batch (see [`Batches::output_per_item`]).
    max_items: usize,
    ended: bool,
}

/// A batch handed out, or one item run on the shard (`Err`: it panicked).
enum Slot<T> {
    Here(Result<T, String>),
    Away(pool::Handle<T>),
}

/// The largest batch: this many series, or this many chunk bytes. Batches
/// start at one series and double, so that the first answers leave soon
/// and small queries still spread over the workers.
const BATCH_SERIES: usize = 128;
const BATCH_BYTES: usize = 32 << 10;

/// What the batches of one query held at once may answer, at most.
pub const OUTPUT_BUDGET: usize = 16 << 20;

/// What [`Batches`] reads: merged series one at a time, or tuples of them.
#[allow(async_fn_in_trait)] // Read on one shard only: no Send bound wanted.
pub trait Feed {
    type Item: Send + 'static;
    /// The next item; `None` at the end.
    async fn next_item(&mut self) -> Result<Option<Self::Item>, PromqlError>;
    /// The chunk bytes an item carries (to size batches).
    fn bytes(item: &Self::Item) -> usize;
}

impl Feed for SeriesCursor {
    type Item = thanos::Series;

    async fn next_item(&mut self) -> Result<Option<thanos::Series>, PromqlError> {
        self.next_merged().await
    }

    fn bytes(item: &thanos::Series) -> usize {
        chunk_bytes(item)
    }
}

/// Several selects read side by side, giving the series that have the same
/// labels apart from the metric name in every one of them, one tuple at a
/// time (select order). That is Prometheus's default one-to-one vector
/// matching; series without a match in every select are skipped unread.
///
/// Why merging in step works: each select names one metric, so within a
/// select the name is the same for every series and the merge's label
/// order is the order of the labels without it.
pub struct Join {
    cursors: Vec<SeriesCursor>,
    heads: Vec<Option<thanos::Series>>,
}

impl Join {
    pub fn new(cursors: Vec<SeriesCursor>) -> Join {
        let heads = cursors.iter().map(|_| None).collect();
        Join { cursors, heads }
    }

    /// The decoders of the selects, in order.
    pub fn decoders(&self) -> Vec<Decoder> {
        self.cursors.iter().map(SeriesCursor::decoder).collect()
    }

    /// The warnings of every select's stores so far, in select order.
    pub fn warnings(&self) -> Vec<String> {
        self.cursors.iter().flat_map(|c| c.warnings()).collect()
    }
}

/// The stores' label order (Prometheus's `labels.Compare`) with the values
/// of the metric names taken as equal: within one select (one name) it is
/// the order the merge gives, and two series of different selects compare
/// equal exactly when their labels but the name are the same.
fn compare_but_name(a: &[thanos::Label], b: &[thanos::Label]) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    for (x, y) in a.iter().zip(b.iter()) {
        match x.name.as_bytes().cmp(y.name.as_bytes()) {
            Ordering::Equal => {}
            o => return o,
        }
        if x.name == crate::labels::METRIC_NAME {
            continue;
        }
        match x.value.as_bytes().cmp(y.value.as_bytes()) {
            Ordering::Equal => {}
            o => return o,
        }
    }
    a.len().cmp(&b.len())
}

impl Feed for Join {
    type Item = Vec<thanos::Series>;

    async fn next_item(&mut self) -> Result<Option<Vec<thanos::Series>>, PromqlError> {
        loop {
            let mut ended = false;
            for (head, cursor) in self.heads.iter_mut().zip(self.cursors.iter_mut()) {
                if head.is_none() {
                    match cursor.next_merged().await? {
                        Some(s) => *head = Some(s),
                        None => {
                            ended = true;
                            break;
                        }
                    }
                }
            }
            if ended {
                // Nothing further can match; the other selects are still
                // read to their end (not decoded), so that a store failing
                // there fails the query or warns, as in the whole-query
                // path.
                self.heads.iter_mut().for_each(|h| *h = None);
                for cursor in self.cursors.iter_mut() {
                    while cursor.next_merged().await?.is_some() {
                        crate::rt::yield_if_needed().await;
                    }
                }
                return Ok(None);
            }
            let Some(Some(first)) = self.heads.first() else {
                return Ok(None);
            };
            let mut max = first;
            for h in self.heads.iter().flatten() {
                if compare_but_name(&h.labels, &max.labels).is_gt() {
                    max = h;
                }
            }
            let max = max.labels.clone();
            let mut all = true;
            for head in self.heads.iter_mut() {
                let behind = head
                    .as_ref()
                    .is_some_and(|h| compare_but_name(&h.labels, &max).is_lt());
                if behind {
                    *head = None;
                    all = false;
                }
            }
            if all {
                return Ok(Some(
                    self.heads.iter_mut().filter_map(Option::take).collect(),
                ));
            }
            crate::rt::yield_if_needed().await;
        }
    }

    fn bytes(item: &Vec<thanos::Series>) -> usize {
        item.iter().map(chunk_bytes).sum()
    }
}

impl<I: Send + 'static, T: Send + 'static> Batches<I, T> {
    pub fn new(job: impl Fn(Vec<I>) -> T + Send + Sync + 'static) -> Batches<I, T> {
        Batches {
            job: Arc::new(job),
            workers: pool::workers(),
            slots: VecDeque::new(),
            away: 0,
            batch: Vec::new(),
            batch_bytes: 0,
            batch_limit: 1,
            max_items: BATCH_SERIES,
            ended: false,
        }
    }

    /// Sizes batches by what their answers may hold: with up to `bytes` of
    /// answer per item, the batches held at once (answered, not yet taken)
    /// stay within [`OUTPUT_BUDGET`] (a range query of 11,000 steps gives
    /// batches of a few series, not 128).
    pub fn output_per_item(mut self, bytes: usize) -> Batches<I, T> {
        let per_batch = OUTPUT_BUDGET / self.max_slots();
        self.max_items = (per_batch / bytes.max(1)).clamp(1, BATCH_SERIES);
        self
    }

    /// Batches held at most (handed out or answered, not yet taken): past
    /// this the shard waits for the oldest.
    fn max_slots(&self) -> usize {
        2 * self.workers + 2
    }

    /// Hands the current batch to a worker when one can take it soon (this
    /// query has fewer than two batches per worker out and the pool is not
    /// backed up with other queries' work); otherwise the shard runs it
    /// itself, which also keeps the shard's core busy: one item at a time,
    /// yielding between them so its other connections are served, and
    /// catching a panic as a worker would.
    async fn dispatch(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.batch);
        self.batch_bytes = 0;
        self.batch_limit = (self.batch_limit * 2).min(self.max_items);
        if self.workers > 0 && self.away < 2 * self.workers && pool::backlog() < self.workers {
            let job = self.job.clone();
            self.slots
                .push_back(Slot::Away(pool::submit(move || job(batch))));
            self.away += 1;
            crate::metrics::BATCHES_ON_WORKERS.fetch_add(1, Ordering::Relaxed);
        } else {
            crate::metrics::BATCHES_ON_SHARD.fetch_add(1, Ordering::Relaxed);
            for item in batch {
                let job = &self.job;
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(vec![item])))
                    .map_err(pool::panic_message);
                self.slots.push_back(Slot::Here(r));
                crate::rt::yield_if_needed().await;
            }
        }
    }

    /// The oldest batch's answer: waiting for it if `wait`, else only if
    /// it is there.
    async fn oldest(&mut self, wait: bool) -> Option<Result<T, PromqlError>> {
        if let Slot::Away(h) = self.slots.front_mut()? {
            let r = if wait { h.await } else { h.try_take()? };
            self.away -= 1;
            self.slots.pop_front();
            return Some(r.map_err(|e| PromqlError::internal(format!("a worker panicked: {e}"))));
        }
        match self.slots.pop_front()? {
            Slot::Here(r) => {
                Some(r.map_err(|e| PromqlError::internal(format!("a worker panicked: {e}"))))
            }
            Slot::Away(_) => None,
        }
    }

    /// Reads merged series from `cursor` until a batch's answer is ready,
    /// and gives it; `None` once every series has been read and answered.
    /// An error is the cursor's (a store's) or a panic in the job.
    pub async fn step<F: Feed<Item = I>>(
        &mut self,
        feed: &mut F,
    ) -> Option<Result<T, PromqlError>> {
        loop {
            let full = self.slots.len() >= self.max_slots();
            if let Some(done) = self.oldest(self.ended || full).await {
                return Some(done);
            }
            if self.ended {
                return None;
            }
            crate::rt::yield_if_needed().await;
            match feed.next_item().await {
                Err(e) => return Some(Err(e)),
                Ok(None) => {
                    self.ended = true;
                    self.dispatch().await;
                }
                Ok(Some(s)) => {
                    self.batch_bytes += F::bytes(&s);
                    self.batch.push(s);
                    if self.batch.len() >= self.batch_limit || self.batch_bytes >= BATCH_BYTES {
                        self.dispatch().await;
                    }
                }
            }
        }
    }
}

/// The chunk bytes a merged series carries.
fn chunk_bytes(s: &thanos::Series) -> usize {
    s.chunks
        .iter()
        .filter_map(|c| c.raw.as_ref())
        .map(|c| c.data.len())
        .sum()
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
