//! Series fan-out: one `Series` stream per selected store, opened
//! concurrently on the current shard, each wrapped as a [`Source`] that
//! yields whole series in label order (Thanos v0.31 `pkg/store/proxy.go`,
//! with the re-sort of v0.32.3).
//!
//! Replica labels. When the request deduplicates, every store is asked for
//! `without_replica_labels`. Removing a label keeps a sorted stream sorted
//! only if the label has one value across the whole stream, which holds
//! when the store has a single external label set that contains it (a
//! sidecar). Such a store is streamed. Any other store (one that cannot
//! strip, or whose replica label might be a series label) is read whole,
//! stripped here and sorted before it joins the merge; what it holds counts
//! against the query's byte budget. A streamed store that still sends
//! series out of order (Prometheus issue #12605) is switched to that
//! buffered mode for the rest of its stream, with a warning.
//!
//! Failures. Under partial response WARN a failing store becomes a warning
//! with Thanos's text and the others still answer; under ABORT the first
//! warning fails the request. `--store.response-timeout` bounds the wait for
//! each message of a stream.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::endpoint::set::Endpoint;
use crate::endpoint::{Pool, SeriesStream, StoreError};
use crate::grpc::{Code, Status};
use crate::labels;
use crate::proto::thanos::{series_response, Label, Series, SeriesRequest, SeriesResponse};
use crate::rt;

/// What to do when a store fails, as Thanos's `partial_response`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partial {
    /// A failed store becomes a warning; the others still answer.
    Warn,
    /// A failed store fails the request.
    Abort,
}

/// Warnings gathered while a request runs.
pub type Warnings = Rc<RefCell<Vec<String>>>;

/// Per-query limits on what is fetched from stores; 0 means no limit.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    pub series: u64,
    pub samples: u64,
    pub bytes: u64,
}

/// What a query has fetched so far, shared by its sources.
#[derive(Debug, Default)]
pub struct Budget {
    pub limits: Limits,
    pub series: Cell<u64>,
    pub samples: Cell<u64>,
    pub bytes: Cell<u64>,
}

impl Budget {
    /// Forgets what was charged (a query started over charges afresh).
    pub fn reset(&self) {
        self.series.set(0);
        self.samples.set(0);
        self.bytes.set(0);
    }

    pub fn new(limits: Limits) -> Rc<Budget> {
        Rc::new(Budget {
            limits,
            ..Default::default()
        })
    }

    /// Counts one received series; an error once a limit is passed.
    fn charge(&self, s: &Series) -> Result<(), String> {
        let mut samples = 0u64;
        let mut bytes = 0u64;
        for c in &s.chunks {
            if let Some(raw) = &c.raw {
                // The XOR and histogram formats start with a 2-byte sample count.
                samples += raw
                    .data
                    .get(..2)
                    .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]) as u64);
                bytes += raw.data.len() as u64;
            }
        }
        bytes += s
            .labels
            .iter()
            .map(|l| (l.name.len() + l.value.len()) as u64)
            .sum::<u64>();
        self.series.set(self.series.get() + 1);
        self.samples.set(self.samples.get() + samples);
        self.bytes.set(self.bytes.get() + bytes);
        check("series", self.limits.series, self.series.get())?;
        check("samples", self.limits.samples, self.samples.get())?;
        check("bytes", self.limits.bytes, self.bytes.get())
    }
}

fn check(what: &str, limit: u64, got: u64) -> Result<(), String> {
    if limit > 0 && got > limit {
        return Err(format!(
            "failed to send {what}: limit {limit} violated (got {got})"
        ));
    }
    Ok(())
}

/// One fan-out, as the handler describes it.
#[derive(Debug, Clone)]
pub struct FanoutRequest {
    /// The request sent to every store (its `without_replica_labels` is set
    /// here from `replica_labels`).
    pub series: SeriesRequest,
    /// The replica labels to remove; empty when not deduplicating.
    pub replica_labels: Vec<String>,
    pub partial: Partial,
    pub deadline: Instant,
    /// `--store.response-timeout`; zero means none.
    pub response_timeout: Duration,
}

/// Whether a store's stream stays sorted once its replica labels are gone.
fn streams_sorted(e: &Endpoint, replica_labels: &[String]) -> bool {
    if replica_labels.is_empty() {
        return true;
    }
    e.supports_without_replica_labels
        && e.label_sets.len() == 1
        && replica_labels
            .iter()
            .all(|r| e.label_sets[0].iter().any(|l| &l.name == r))
}

enum Mode {
    Stream,
    /// Read the whole stream, then serve it sorted from `pending`.
    Buffer {
        filled: bool,
    },
}

/// One store's series stream.
pub struct Source {
    endpoint: String,
    stream: Option<SeriesStream>,
    /// Series of a received batch frame not yet handed out.
    batch: VecDeque<Series>,
    pending: VecDeque<Series>,
    strip: Vec<String>,
    mode: Mode,
    last: Option<Vec<Label>>,
    partial: Partial,
    response_timeout: Duration,
    warnings: Warnings,
    budget: Rc<Budget>,
}

impl Source {
    /// The store this source reads.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The next series, `None` at the end of the stream (or after a failure
    /// under WARN, which is recorded as a warning).
    pub async fn next(&mut self) -> Result<Option<Series>, StoreError> {
        if let Mode::Buffer { filled: false } = self.mode {
            self.fill().await?;
        }
        if let Some(s) = self.pending.pop_front() {
            return Ok(Some(s));
        }
        if let Mode::Buffer { .. } = self.mode {
            return Ok(None);
        }
        let Some(mut s) = self.receive().await? else {
            return Ok(None);
        };
        self.strip_labels(&mut s);
        if let Some(last) = &self.last {
            if labels::compare(&s.labels, last) == std::cmp::Ordering::Less {
                self.out_of_order(s)?;
                self.fill().await?;
                return Ok(self.pending.pop_front());
            }
        }
        self.last = Some(s.labels.clone());
        Ok(Some(s))
    }

    fn out_of_order(&mut self, s: Series) -> Result<(), StoreError> {
        self.fail_or_warn(format!(
            "store {} returned series out of order; re-sorting the rest of its response, earlier series may appear twice",
            self.endpoint
        ))?;
        self.mode = Mode::Buffer { filled: false };
        self.pending.push_back(s);
        Ok(())
    }

    /// Reads the rest of the stream, strips and sorts it.
    async fn fill(&mut self) -> Result<(), StoreError> {
        while let Some(mut s) = self.receive().await? {
            self.strip_labels(&mut s);
            self.pending.push_back(s);
        }
        self.pending
            .make_contiguous()
            .sort_by(|a, b| labels::compare(&a.labels, &b.labels));
        self.mode = Mode::Buffer { filled: true };
        Ok(())
    }

    fn strip_labels(&self, s: &mut Series) {
        if !self.strip.is_empty() {
            s.labels.retain(|l| !self.strip.contains(&l.name));
        }
    }

    /// The next series frame from the store, charging the budget.
    async fn receive(&mut self) -> Result<Option<Series>, StoreError> {
        loop {
            if let Some(s) = self.batch_next() {
                return Ok(Some(s));
            }
            let Some(stream) = self.stream.as_mut() else {
                return Ok(None);
            };
            let msg = if self.response_timeout.is_zero() {
                stream.message().await
            } else {
                match rt::timeout(self.response_timeout, stream.message()).await {
                    Ok(m) => m,
                    Err(_) => {
                        self.stream = None;
                        let d =
                            crate::flags::duration::render_model_duration(self.response_timeout);
                        self.fail_or_warn(format!(
                            "failed to receive any data in {d} from {}",
                            self.endpoint
                        ))?;
                        return Ok(None);
                    }
                }
            };
            match msg {
                Ok(Some(SeriesResponse { result: Some(r) })) => match r {
                    series_response::Result::Series(s) => {
                        self.charge(&s)?;
                        return Ok(Some(s));
                    }
                    series_response::Result::Batch(b) => {
                        for s in &b.series {
                            self.charge(s)?;
                        }
                        self.batch.extend(b.series);
                    }
                    series_response::Result::Warning(w) => self.fail_or_warn(w)?,
                    series_response::Result::Hints(_) => {}
                },
                Ok(Some(SeriesResponse { result: None })) => {}
                Ok(None) => {
                    self.stream = None;
                    return Ok(None);
                }
                Err(status) => {
                    self.stream = None;
                    let err = StoreError {
                        endpoint: self.endpoint.clone(),
                        status,
                    };
                    self.fail_or_warn(format!("receive series from {err}"))?;
                    return Ok(None);
                }
            }
        }
    }

    fn batch_next(&mut self) -> Option<Series> {
        self.batch.pop_front()
    }

    fn charge(&mut self, s: &Series) -> Result<(), StoreError> {
        self.budget.charge(s).map_err(|msg| {
            self.stream = None;
            StoreError {
                endpoint: self.endpoint.clone(),
                status: Status::new(Code::ResourceExhausted, msg),
            }
        })
    }

    fn fail_or_warn(&mut self, msg: String) -> Result<(), StoreError> {
        match self.partial {
            Partial::Warn => {
                self.warnings.borrow_mut().push(msg);
                Ok(())
            }
            Partial::Abort => {
                self.stream = None;
                Err(StoreError {
                    endpoint: self.endpoint.clone(),
                    status: Status::new(Code::Aborted, msg),
                })
            }
        }
    }
}

/// Opens a `Series` stream on every given store at once.
pub async fn open(
    pool: &Pool,
    stores: &[&Endpoint],
    req: &FanoutRequest,
    warnings: &Warnings,
    budget: &Rc<Budget>,
) -> Result<Vec<Source>, StoreError> {
    let mut series = req.series.clone();
    series.without_replica_labels = req.replica_labels.clone();
    let series = &series;
    // The response timeout also covers the wait for the stream to start: a
    // store that never sends its first message is as stuck as one that
    // stops half-way.
    let calls = stores.iter().map(|e| async move {
        let open = pool.series(&e.addr, series, req.deadline);
        let r = if req.response_timeout.is_zero() {
            open.await
        } else {
            match rt::timeout(req.response_timeout, open).await {
                Ok(r) => r,
                Err(_) => {
                    let d = crate::flags::duration::render_model_duration(req.response_timeout);
                    return (
                        *e,
                        Err(format!("failed to receive any data in {d} from {}", e.addr)),
                    );
                }
            }
        };
        (
            *e,
            r.map_err(|err| format!("fetch series for {} {}: {}", e.id(), e.addr, err.status)),
        )
    });
    let opened = futures_util::future::join_all(calls).await;
    let mut sources = Vec::with_capacity(opened.len());
    for (e, r) in opened {
        match r {
            Ok(stream) => {
                let sorted = streams_sorted(e, &req.replica_labels);
                sources.push(Source {
                    endpoint: e.addr.clone(),
                    stream: Some(stream),
                    pending: VecDeque::new(),
                    batch: VecDeque::new(),
                    strip: req.replica_labels.clone(),
                    mode: if sorted {
                        Mode::Stream
                    } else {
                        Mode::Buffer { filled: false }
                    },
                    last: None,
                    partial: req.partial,
                    response_timeout: req.response_timeout,
                    warnings: warnings.clone(),
                    budget: budget.clone(),
                });
            }
            Err(msg) => match req.partial {
                Partial::Warn => warnings.borrow_mut().push(msg),
                Partial::Abort => {
                    return Err(StoreError {
                        endpoint: e.addr.clone(),
                        status: Status::new(Code::Aborted, msg),
                    })
                }
            },
        }
    }
    Ok(sources)
}
