//! gRPC server over h2. Each accepted connection is served on the shard that
//! accepted it; each call runs as its own task. A [`Service`] sees the method
//! path and the request bytes, and sends responses through a [`Sink`] that
//! waits for HTTP/2 flow-control capacity, so a slow client slows the
//! producer instead of growing a buffer.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Response};
use prost::Message;

use super::client::{decode_timeout, CONN_WINDOW, STREAM_WINDOW};
use super::frame::{self, Decoder, MAX_MESSAGE};
use super::status::{encode_message, Code, Status};
use crate::rt;

/// The future a service returns for one call.
pub type CallFuture<'a> = Pin<Box<dyn Future<Output = Result<(), Status>> + 'a>>;

/// A gRPC service: dispatches on the full method path
/// (`/thanos.Store/Series`).
pub trait Service: 'static {
    /// Handles one call; unary methods send exactly one message.
    fn call<'a>(
        &'a self,
        path: &'a str,
        request: Bytes,
        ctx: &'a CallContext,
        sink: &'a mut Sink,
    ) -> CallFuture<'a>;
}

/// What a call knows about itself.
#[derive(Debug, Clone)]
pub struct CallContext {
    /// When the client stops waiting (from `grpc-timeout`), if it said.
    pub deadline: Option<Instant>,
}

/// Sends response messages of one call.
pub struct Sink {
    respond: Option<h2::server::SendResponse<Bytes>>,
    stream: Option<h2::SendStream<Bytes>>,
    /// Messages framed but not yet handed to h2 (see [`Sink::buffer`]).
    pending: BytesMut,
}

/// How many framed bytes [`Sink::buffer`] gathers before sending them as
/// one piece: a Series stream of small messages then costs one HTTP/2 DATA
/// frame and one write per few dozen series instead of one per series.
const COALESCE_BYTES: usize = 64 * 1024;

impl Sink {
    /// Sends one message (and any buffered before it) now, waiting for
    /// flow-control capacity.
    pub async fn send<M: Message>(&mut self, msg: &M) -> Result<(), Status> {
        self.frame_into_pending(msg);
        self.flush().await
    }

    /// Adds one message to the pending bytes, sending them once they reach
    /// `COALESCE_BYTES`. The caller flushes before it waits for anything
    /// (see [`Sink::ready_or_flush`]); the call's end flushes the rest.
    pub async fn buffer<M: Message>(&mut self, msg: &M) -> Result<(), Status> {
        self.frame_into_pending(msg);
        if self.pending.len() >= COALESCE_BYTES {
            self.flush().await?;
        }
        Ok(())
    }

    /// The output of `fut` if it is ready now; otherwise the pending bytes
    /// are sent first and then `fut` is awaited, so nothing waits in the
    /// buffer while the source waits for its own input.
    pub async fn ready_or_flush<F: std::future::Future>(
        &mut self,
        fut: F,
    ) -> Result<F::Output, Status> {
        let mut fut = std::pin::pin!(fut);
        if let Some(out) = futures_lite::future::poll_once(fut.as_mut()).await {
            return Ok(out);
        }
        self.flush().await?;
        Ok(fut.await)
    }

    /// Sends the pending bytes.
    pub async fn flush(&mut self) -> Result<(), Status> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let data = self.pending.split().freeze();
        self.send_data(data).await
    }

    fn frame_into_pending<M: Message>(&mut self, msg: &M) {
        let len = msg.encoded_len();
        self.pending.reserve(frame::HEADER_LEN + len);
        self.pending.put_u8(0);
        self.pending.put_u32(len as u32);
        // The buffer has room for the message: encoding cannot fail.
        let _ = msg.encode(&mut self.pending);
    }

    /// Sends one already-framed message (after any pending ones).
    pub async fn send_frame(&mut self, data: Bytes) -> Result<(), Status> {
        self.flush().await?;
        self.send_data(data).await
    }

    async fn send_data(&mut self, mut data: Bytes) -> Result<(), Status> {
        let stream = self.headers()?;
        while !data.is_empty() {
            stream.reserve_capacity(data.len());
            let cap = futures_util::future::poll_fn(|cx| stream.poll_capacity(cx))
                .await
                .ok_or_else(|| Status::new(Code::Cancelled, "the client went away"))?
                .map_err(|e| Status::new(Code::Cancelled, format!("the client went away: {e}")))?;
            if cap == 0 {
                continue;
            }
            let part = data.split_to(cap.min(data.len()));
            stream
                .send_data(part, false)
                .map_err(|e| Status::new(Code::Cancelled, format!("the client went away: {e}")))?;
        }
        Ok(())
    }

    fn headers(&mut self) -> Result<&mut h2::SendStream<Bytes>, Status> {
        if self.stream.is_none() {
            let Some(mut respond) = self.respond.take() else {
                return Err(Status::internal("response already finished"));
            };
            let stream = respond
                .send_response(grpc_response(), false)
                .map_err(|e| Status::new(Code::Cancelled, format!("the client went away: {e}")))?;
            self.stream = Some(stream);
        }
        self.stream
            .as_mut()
            .ok_or_else(|| Status::internal("response stream missing"))
    }

    /// Ends the call with `status`, as trailers (or, when nothing was sent,
    /// as a trailers-only response).
    fn finish(mut self, status: &Status) {
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", HeaderValue::from(status.code as u8 as u16));
        if !status.message.is_empty() {
            if let Ok(v) = HeaderValue::from_str(&encode_message(&status.message)) {
                trailers.insert("grpc-message", v);
            }
        }
        if let Some(mut stream) = self.stream.take() {
            let _ = stream.send_trailers(trailers);
        } else if let Some(mut respond) = self.respond.take() {
            let mut resp = grpc_response();
            resp.headers_mut().extend(trailers);
            let _ = respond.send_response(resp, true);
        }
    }
}

fn grpc_response() -> Response<()> {
    let mut r = Response::new(());
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/grpc+proto"),
    );
    r
}

/// Serves gRPC on one accepted connection until it closes.
pub async fn serve_connection(io: rt::Stream, service: Rc<dyn Service>) {
    let handshake = h2::server::Builder::new()
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONN_WINDOW)
        .max_frame_size(1 << 20)
        .max_concurrent_streams(1024)
        .handshake::<_, Bytes>(io);
    let Ok(Ok(mut conn)) = rt::timeout(Duration::from_secs(10), handshake).await else {
        return;
    };
    while let Some(accepted) = conn.accept().await {
        let Ok((request, respond)) = accepted else {
            return;
        };
        let service = service.clone();
        rt::spawn(async move { handle(request, respond, service).await }).detach();
    }
}

async fn handle(
    request: http::Request<h2::RecvStream>,
    respond: h2::server::SendResponse<Bytes>,
    service: Rc<dyn Service>,
) {
    let (parts, mut body) = request.into_parts();
    let mut sink = Sink {
        respond: Some(respond),
        stream: None,
        pending: BytesMut::new(),
    };
    let path = parts.uri.path().to_string();
    let deadline = parts
        .headers
        .get("grpc-timeout")
        .and_then(|v| decode_timeout(v.as_bytes()))
        .map(|d| Instant::now() + d);
    let status = match check_headers(&parts) {
        Err(s) => s,
        Ok(()) => match read_request(&mut body, deadline).await {
            Err(s) => s,
            Ok(req) => {
                let ctx = CallContext { deadline };
                let call = async {
                    let result = service.call(&path, req, &ctx, &mut sink).await;
                    // What was buffered goes out before the status, as it
                    // would have unbuffered.
                    let flushed = sink.flush().await;
                    result.and(flushed)
                };
                let result = match deadline {
                    Some(d) => rt::timeout(d.saturating_duration_since(Instant::now()), call)
                        .await
                        .unwrap_or_else(|_| {
                            Err(Status::deadline_exceeded("context deadline exceeded"))
                        }),
                    None => call.await,
                };
                result.err().unwrap_or_else(|| Status::new(Code::Ok, ""))
            }
        },
    };
    sink.finish(&status);
}

fn check_headers(parts: &http::request::Parts) -> Result<(), Status> {
    if parts.method != http::Method::POST {
        return Err(Status::internal(format!(
            "grpc: method {} is not POST",
            parts.method
        )));
    }
    let ct = parts
        .headers
        .get("content-type")
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !ct.starts_with(b"application/grpc") {
        return Err(Status::internal(
            "grpc: content-type is not application/grpc",
        ));
    }
    if let Some(enc) = parts.headers.get("grpc-encoding") {
        if enc.as_bytes() != b"identity" {
            return Err(Status::unimplemented(format!(
                "grpc: compressor {} is not supported",
                String::from_utf8_lossy(enc.as_bytes())
            )));
        }
    }
    Ok(())
}

/// Reads the single request message of a unary or server-streaming call.
async fn read_request(
    body: &mut h2::RecvStream,
    deadline: Option<Instant>,
) -> Result<Bytes, Status> {
    let mut decoder = Decoder::new(MAX_MESSAGE);
    let mut message = None;
    let read = async {
        while let Some(data) = body.data().await {
            let data =
                data.map_err(|e| Status::new(Code::Cancelled, format!("reading request: {e}")))?;
            let _ = body.flow_control().release_capacity(data.len());
            decoder.push(data);
            if let Some(m) = decoder.next_message()? {
                if message.is_some() {
                    return Err(Status::internal("grpc: more than one request message"));
                }
                message = Some(m.into_bytes());
            }
        }
        Ok(())
    };
    match deadline {
        Some(d) => rt::timeout(d.saturating_duration_since(Instant::now()), read)
            .await
            .map_err(|_| Status::deadline_exceeded("context deadline exceeded"))??,
        None => read.await?,
    }
    if decoder.buffered() > 0 {
        return Err(Status::internal("grpc: request ended inside a message"));
    }
    message.ok_or_else(|| Status::internal("grpc: no request message"))
}

/// Decodes a request, mapping failures to `InvalidArgument`.
pub fn decode_request<M: Message + Default>(b: Bytes) -> Result<M, Status> {
    M::decode(b)
        .map_err(|e| Status::invalid_argument(format!("grpc: error unmarshalling request: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grpc::client::Channel;
    use crate::proto::thanos::{series_response, SeriesRequest, SeriesResponse};
    use std::cell::RefCell;

    fn warning(text: &str) -> SeriesResponse {
        SeriesResponse {
            result: Some(series_response::Result::Warning(text.into())),
        }
    }

    /// Buffers "a", then waits for the client to say it has "a" (which it
    /// can only say if waiting flushed it), then buffers "b" and fails:
    /// "b" still arrives before the status.
    struct TwoStep {
        seen_a: RefCell<Option<futures_channel::oneshot::Receiver<()>>>,
    }

    impl Service for TwoStep {
        fn call<'a>(
            &'a self,
            _path: &'a str,
            _request: Bytes,
            _ctx: &'a CallContext,
            sink: &'a mut Sink,
        ) -> CallFuture<'a> {
            Box::pin(async move {
                sink.buffer(&warning("a")).await?;
                let rx = self.seen_a.borrow_mut().take();
                if let Some(rx) = rx {
                    let _ = sink.ready_or_flush(rx).await?;
                }
                // Ready at once: stays in the buffer until the call ends.
                let ready = sink.ready_or_flush(async { 7 }).await?;
                assert_eq!(ready, 7);
                sink.buffer(&warning("b")).await?;
                Err(Status::unavailable("done"))
            })
        }
    }

    #[test]
    fn buffered_messages_leave_before_waiting_and_before_the_status() {
        crate::rt::block_on(async {
            let (tx, rx) = futures_channel::oneshot::channel();
            let service: Rc<dyn Service> = Rc::new(TwoStep {
                seen_a: RefCell::new(Some(rx)),
            });
            let l = rt::Listener::bind(([127, 0, 0, 1], 0).into()).unwrap();
            let addr = l.local_addr().unwrap();
            rt::spawn(async move {
                if let Ok(s) = l.accept().await {
                    serve_connection(s, service).await;
                }
            })
            .detach();
            let deadline = Instant::now() + Duration::from_secs(10);
            let ch = Channel::connect(addr, Duration::from_secs(5))
                .await
                .unwrap();
            let mut st = ch
                .server_streaming::<_, SeriesResponse>(
                    "/thanos.Store/Series",
                    &SeriesRequest::default(),
                    deadline,
                )
                .await
                .unwrap();
            assert_eq!(st.message().await.unwrap(), Some(warning("a")));
            tx.send(()).unwrap();
            assert_eq!(st.message().await.unwrap(), Some(warning("b")));
            let end = st.message().await.unwrap_err();
            assert_eq!(end.code, Code::Unavailable);
        })
        .unwrap();
    }
}
