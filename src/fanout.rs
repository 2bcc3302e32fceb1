//! Series fan-out: one `Series` stream per selected store, opened
//! concurrently on the current shard, each wrapped as a [`Source`] that
//! yields whole series in the store's order and turns store failures into
//! warnings (partial response WARN) or errors (ABORT).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use crate::endpoint::{Pool, StoreError};
use crate::grpc::Streaming;
use crate::proto::thanos::{series_response, Series, SeriesRequest, SeriesResponse};

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

/// One store's series stream.
pub struct Source {
    endpoint: String,
    stream: Option<Streaming<SeriesResponse>>,
    batch: std::collections::VecDeque<Series>,
    partial: Partial,
    warnings: Warnings,
}

impl Source {
    /// The next series, `None` at the end of the stream (or after a failure
    /// under WARN, which is recorded as a warning).
    pub async fn next(&mut self) -> Result<Option<Series>, StoreError> {
        loop {
            if let Some(s) = self.batch.pop_front() {
                return Ok(Some(s));
            }
            let Some(stream) = self.stream.as_mut() else {
                return Ok(None);
            };
            match stream.message().await {
                Ok(Some(SeriesResponse { result: Some(r) })) => match r {
                    series_response::Result::Series(s) => return Ok(Some(s)),
                    series_response::Result::Batch(b) => self.batch.extend(b.series),
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
                    status: crate::grpc::Status::new(crate::grpc::Code::Aborted, msg),
                })
            }
        }
    }
}

/// Opens a `Series` stream on every store at once.
pub async fn open(
    pool: &Pool,
    stores: &[String],
    req: &SeriesRequest,
    deadline: Instant,
    partial: Partial,
    warnings: &Warnings,
) -> Result<Vec<Source>, StoreError> {
    let calls = stores
        .iter()
        .map(|addr| async move { (addr.clone(), pool.series(addr, req, deadline).await) });
    let opened = futures_util::future::join_all(calls).await;
    let mut sources = Vec::with_capacity(opened.len());
    for (endpoint, r) in opened {
        match (r, partial) {
            (Ok(stream), _) => sources.push(Source {
                endpoint,
                stream: Some(stream),
                batch: Default::default(),
                partial,
                warnings: warnings.clone(),
            }),
            (Err(e), Partial::Warn) => warnings
                .borrow_mut()
                .push(format!("receive series from {e}")),
            (Err(e), Partial::Abort) => return Err(e),
        }
    }
    Ok(sources)
}
