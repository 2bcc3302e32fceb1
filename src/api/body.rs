//! Response bodies and the streaming response writer.
//!
//! A handler writes JSON into a [`Writer`]. Nothing is sent until the writer
//! holds [`COMMIT_AT`] bytes or the handler ends: a handler that fails before
//! then still answers with a proper error envelope and status code. After
//! the commit, the body streams as chunked transfer through a bounded
//! channel, so a slow client slows the handler down instead of filling
//! memory; an error after the commit aborts the connection (the client sees
//! a truncated transfer, never a complete-looking wrong answer).
//!
//! gzip is applied as Thanos does (NYTimes gziphandler): only when the client
//! accepts it and the body reaches 1400 bytes.

use std::io::Write;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use flate2::write::GzEncoder;
use flate2::Compression;
use futures_channel::{mpsc, oneshot};
use futures_util::SinkExt;
use http_body::Frame;

use super::error::ApiError;

/// Bytes buffered before the response is committed.
pub const COMMIT_AT: usize = 64 * 1024;
/// Bytes per streamed chunk.
const CHUNK: usize = 64 * 1024;
/// Chunks in flight between handler and connection.
const CHANNEL_DEPTH: usize = 4;
/// The smallest body gzip is applied to (gziphandler's DefaultMinSize).
pub const GZIP_MIN: usize = 1400;

/// The body stream was aborted after the response had been committed.
#[derive(Debug)]
pub struct Aborted(pub String);

impl std::fmt::Display for Aborted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "response aborted: {}", self.0)
    }
}
impl std::error::Error for Aborted {}

/// A response body: whole, or streamed from a handler task.
pub enum Body {
    Full(Option<Bytes>),
    Stream(mpsc::Receiver<Result<Bytes, Aborted>>),
}

impl Body {
    pub fn empty() -> Body {
        Body::Full(None)
    }

    pub fn full(b: impl Into<Bytes>) -> Body {
        let b = b.into();
        Body::Full((!b.is_empty()).then_some(b))
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = Aborted;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Aborted>>> {
        match self.get_mut() {
            Body::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Body::Stream(rx) => {
                use futures_util::Stream;
                match Pin::new(rx).poll_next(cx) {
                    Poll::Ready(Some(Ok(b))) => Poll::Ready(Some(Ok(Frame::data(b)))),
                    Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
                    Poll::Ready(None) => Poll::Ready(None),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Body::Full(None))
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match self {
            Body::Full(Some(b)) => http_body::SizeHint::with_exact(b.len() as u64),
            Body::Full(None) => http_body::SizeHint::with_exact(0),
            Body::Stream(_) => http_body::SizeHint::default(),
        }
    }
}

/// What the connection side learns when a handler commits or finishes.
pub struct Head {
    pub gzip: bool,
    pub body: Body,
    /// Warnings known at commit time (sets `Cache-Control: no-store`).
    pub has_warnings: bool,
    /// How a query was evaluated (the `Sluice-Evaluation` header).
    pub evaluation: Option<&'static str>,
}

/// The outcome a handler reports when it ends before committing.
pub enum Outcome {
    Head(Head),
    Error(ApiError, Option<&'static str>),
}

/// Streams a handler's JSON output to the connection.
pub struct Writer {
    buf: Vec<u8>,
    accept_gzip: bool,
    gz: Option<GzEncoder<Vec<u8>>>,
    head: Option<oneshot::Sender<Outcome>>,
    tx: Option<mpsc::Sender<Result<Bytes, Aborted>>>,
    /// Set by the handler when warnings exist; read at commit.
    pub has_warnings: bool,
    /// Set by the query handlers: how the query is evaluated
    /// (`series-by-series` or `whole`), sent as the `Sluice-Evaluation`
    /// header; read at commit.
    pub evaluation: Option<&'static str>,
}

impl Writer {
    /// A writer and the receiver the connection side awaits.
    pub fn new(accept_gzip: bool) -> (Writer, oneshot::Receiver<Outcome>) {
        let (head, rx) = oneshot::channel();
        (
            Writer {
                buf: Vec::with_capacity(16 * 1024),
                accept_gzip,
                gz: None,
                head: Some(head),
                tx: None,
                has_warnings: false,
                evaluation: None,
            },
            rx,
        )
    }

    /// Drops what was written, if nothing was committed yet; `false` once
    /// the response is on its way.
    pub fn restart(&mut self) -> bool {
        if self.tx.is_some() || self.head.is_none() {
            return false;
        }
        self.buf.clear();
        self.has_warnings = false;
        true
    }

    /// The buffer to write JSON into; call [`Writer::flush_if_full`] after
    /// each item.
    pub fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Sends buffered output once enough has accumulated. Returns an error
    /// when the client has gone away, so the handler can stop.
    pub async fn flush_if_full(&mut self) -> Result<(), Aborted> {
        let limit = if self.tx.is_none() { COMMIT_AT } else { CHUNK };
        if self.buf.len() < limit {
            return Ok(());
        }
        if self.tx.is_none() {
            self.commit();
        }
        self.send_buffered().await
    }

    fn commit(&mut self) {
        let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
        let gzip = self.accept_gzip;
        if gzip {
            self.gz = Some(GzEncoder::new(
                Vec::with_capacity(CHUNK),
                Compression::default(),
            ));
        }
        self.tx = Some(tx);
        if let Some(h) = self.head.take() {
            let _ = h.send(Outcome::Head(Head {
                gzip,
                body: Body::Stream(rx),
                has_warnings: self.has_warnings,
                evaluation: self.evaluation,
            }));
        }
    }

    async fn send_buffered(&mut self) -> Result<(), Aborted> {
        let data = std::mem::take(&mut self.buf);
        let out = match self.gz.as_mut() {
            Some(gz) => {
                gz.write_all(&data)
                    .map_err(|e| Aborted(format!("gzip: {e}")))?;
                std::mem::take(gz.get_mut())
            }
            None => data,
        };
        self.send(out).await
    }

    async fn send(&mut self, out: Vec<u8>) -> Result<(), Aborted> {
        if out.is_empty() {
            return Ok(());
        }
        let Some(tx) = self.tx.as_mut() else {
            return Ok(());
        };
        tx.send(Ok(Bytes::from(out)))
            .await
            .map_err(|_| Aborted("the client went away".into()))
    }

    /// Ends the response successfully.
    pub async fn finish(mut self) -> Result<(), Aborted> {
        if self.tx.is_none() {
            let body = std::mem::take(&mut self.buf);
            let gzip = self.accept_gzip && body.len() >= GZIP_MIN;
            let body = if gzip { gzip_all(&body)? } else { body };
            if let Some(h) = self.head.take() {
                let _ = h.send(Outcome::Head(Head {
                    gzip,
                    body: Body::full(body),
                    has_warnings: self.has_warnings,
                    evaluation: self.evaluation,
                }));
            }
            return Ok(());
        }
        self.send_buffered().await?;
        if let Some(gz) = self.gz.take() {
            let tail = gz.finish().map_err(|e| Aborted(format!("gzip: {e}")))?;
            self.send(tail).await?;
        }
        Ok(())
    }

    /// Ends the response with an error: an envelope if nothing was sent yet,
    /// otherwise an aborted transfer.
    pub async fn fail(mut self, err: ApiError) {
        if let Some(h) = self.head.take() {
            let _ = h.send(Outcome::Error(err, self.evaluation));
            return;
        }
        if let Some(tx) = self.tx.as_mut() {
            let _ = tx.send(Err(Aborted(err.to_string()))).await;
        }
    }
}

fn gzip_all(data: &[u8]) -> Result<Vec<u8>, Aborted> {
    let mut gz = GzEncoder::new(
        Vec::with_capacity(data.len() / 4 + 64),
        Compression::default(),
    );
    gz.write_all(data)
        .map_err(|e| Aborted(format!("gzip: {e}")))?;
    gz.finish().map_err(|e| Aborted(format!("gzip: {e}")))
}
