//! gRPC client over h2: unary and server-streaming calls on one HTTP/2
//! connection, which may carry many calls at once.
//!
//! Flow control is the read-ahead bound: h2 buffers at most one stream
//! window of unread data per call, and Sluice pulls more only when the
//! consumer has taken every whole message already received.

use std::marker::PhantomData;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request};
use prost::Message;

use super::frame::{self, Decoder, MAX_MESSAGE};
use super::status::{decode_message, Code, Status};
use crate::rt;

/// Per-stream receive window: how far one store may run ahead of the merge.
pub const STREAM_WINDOW: u32 = 1 << 20;
/// Per-connection receive window.
pub const CONN_WINDOW: u32 = 16 << 20;

/// One HTTP/2 connection to a gRPC server.
#[derive(Clone)]
pub struct Channel {
    send: h2::client::SendRequest<Bytes>,
    authority: String,
}

impl Channel {
    /// Connects and performs the HTTP/2 handshake; the connection is driven
    /// by a task on the current shard until it closes.
    pub async fn connect(addr: SocketAddr, within: Duration) -> Result<Channel, Status> {
        let io = rt::connect(addr, within)
            .await
            .map_err(|e| Status::unavailable(format!("connection error: dial tcp {addr}: {e}")))?;
        let handshake = h2::client::Builder::new()
            .initial_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONN_WINDOW)
            .max_frame_size(1 << 20)
            .handshake::<_, Bytes>(io);
        let (send, conn) = rt::timeout(within, handshake)
            .await
            .map_err(|_| Status::unavailable(format!("http2 handshake with {addr} timed out")))?
            .map_err(|e| Status::unavailable(format!("http2 handshake with {addr}: {e}")))?;
        rt::spawn(async move {
            // The error, if any, surfaces on the calls that use the connection.
            let _ = conn.await;
        })
        .detach();
        Ok(Channel {
            send,
            authority: addr.to_string(),
        })
    }

    /// A unary call. `timeout` bounds the whole call and is sent to the
    /// server as `grpc-timeout`.
    pub async fn unary<Req: Message, Resp: Message + Default>(
        &self,
        path: &str,
        req: &Req,
        timeout: Duration,
    ) -> Result<Resp, Status> {
        let deadline = Instant::now() + timeout;
        let call = async {
            let mut s = self
                .server_streaming::<Req, Resp>(path, req, deadline)
                .await?;
            let first = s.message().await?;
            let Some(m) = first else {
                return Err(Status::internal(
                    "grpc: the server returned no response message for a unary call",
                ));
            };
            match s.message().await? {
                None => Ok(m),
                Some(_) => Err(Status::internal(
                    "grpc: the server sent more than one response to a unary call",
                )),
            }
        };
        rt::timeout(timeout, call)
            .await
            .map_err(|_| Status::deadline_exceeded("context deadline exceeded"))?
    }

    /// Starts a server-streaming call; messages are pulled with
    /// [`Streaming::message`], each pull bounded by `deadline`.
    pub async fn server_streaming<Req: Message, Resp: Message + Default>(
        &self,
        path: &str,
        req: &Req,
        deadline: Instant,
    ) -> Result<Streaming<Resp>, Status> {
        let left = deadline.saturating_duration_since(Instant::now());
        let start = async {
            let mut send = self.send.clone().ready().await.map_err(|e| {
                Status::unavailable(format!("connection to {} closed: {e}", self.authority))
            })?;
            let request = Request::post(format!("http://{}{}", self.authority, path))
                .header("content-type", "application/grpc+proto")
                .header("te", "trailers")
                .header("grpc-timeout", encode_timeout(left))
                .header("user-agent", concat!("sluice/", env!("CARGO_PKG_VERSION")))
                .body(())
                .map_err(|e| Status::internal(format!("building the request: {e}")))?;
            let (response, mut body) = send
                .send_request(request, false)
                .map_err(|e| Status::unavailable(format!("sending to {}: {e}", self.authority)))?;
            body.send_data(frame::encode(req), true)
                .map_err(|e| Status::unavailable(format!("sending to {}: {e}", self.authority)))?;
            let response = response.await.map_err(|e| h2_status(&e))?;
            let (parts, recv) = response.into_parts();
            if parts.status != http::StatusCode::OK {
                return Err(Status::new(
                    Code::from_http(parts.status.as_u16()),
                    format!(
                        "unexpected HTTP status code received from server: {}",
                        parts.status.as_u16()
                    ),
                ));
            }
            // A "trailers-only" response carries grpc-status in the headers.
            let early = status_from(&parts.headers);
            Ok(Streaming {
                recv,
                decoder: Decoder::new(MAX_MESSAGE),
                done: early.is_some(),
                status: early,
                deadline,
                _m: PhantomData,
            })
        };
        rt::timeout(left, start)
            .await
            .map_err(|_| Status::deadline_exceeded("context deadline exceeded"))?
    }
}

/// The response side of a streaming call.
pub struct Streaming<M> {
    recv: h2::RecvStream,
    decoder: Decoder,
    done: bool,
    status: Option<Status>,
    deadline: Instant,
    _m: PhantomData<M>,
}

impl<M: Message + Default> Streaming<M> {
    /// The next message, `None` at a clean end, or the call's error status.
    pub async fn message(&mut self) -> Result<Option<M>, Status> {
        match self.next_raw().await? {
            Some(rope) => rope.decode().map(Some),
            None => Ok(None),
        }
    }

    /// The next message as undecoded bytes (slices of received frames).
    pub async fn next_raw(&mut self) -> Result<Option<frame::Rope>, Status> {
        loop {
            if let Some(m) = self.decoder.next_message()? {
                return Ok(Some(m));
            }
            if self.done {
                return self.finish();
            }
            let left = self.deadline.saturating_duration_since(Instant::now());
            let data = rt::timeout(left, self.recv.data())
                .await
                .map_err(|_| Status::deadline_exceeded("context deadline exceeded"))?;
            match data {
                Some(Ok(b)) => {
                    let _ = self.recv.flow_control().release_capacity(b.len());
                    self.decoder.push(b);
                }
                Some(Err(e)) => return Err(h2_status(&e)),
                None => {
                    let left = self.deadline.saturating_duration_since(Instant::now());
                    let trailers = rt::timeout(left, self.recv.trailers())
                        .await
                        .map_err(|_| Status::deadline_exceeded("context deadline exceeded"))?
                        .map_err(|e| h2_status(&e))?;
                    self.status = Some(match trailers.as_ref().and_then(status_from) {
                        Some(s) => s,
                        None => {
                            Status::internal("server closed the stream without sending trailers")
                        }
                    });
                    self.done = true;
                }
            }
        }
    }

    fn finish(&mut self) -> Result<Option<frame::Rope>, Status> {
        if self.decoder.buffered() > 0 {
            return Err(Status::internal(format!(
                "stream ended inside a message ({} bytes left over)",
                self.decoder.buffered()
            )));
        }
        match self.status.take() {
            Some(s) if s.code == Code::Ok => {
                self.status = Some(s);
                Ok(None)
            }
            Some(s) => {
                self.status = Some(s.clone());
                Err(s)
            }
            None => Ok(None),
        }
    }
}

/// Reads `grpc-status` and `grpc-message` from headers or trailers.
fn status_from(h: &HeaderMap) -> Option<Status> {
    let code = h.get("grpc-status")?;
    let code = std::str::from_utf8(code.as_bytes())
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .map_or(Code::Unknown, Code::from_u32);
    let message = h
        .get("grpc-message")
        .map(|v| decode_message(v.as_bytes()))
        .unwrap_or_default();
    Some(Status::new(code, message))
}

/// Maps an h2 failure to a gRPC status as grpc-go does.
fn h2_status(e: &h2::Error) -> Status {
    if let Some(reason) = e.reason() {
        let code = match reason {
            h2::Reason::CANCEL => Code::Cancelled,
            h2::Reason::REFUSED_STREAM => Code::Unavailable,
            h2::Reason::ENHANCE_YOUR_CALM => Code::ResourceExhausted,
            h2::Reason::INADEQUATE_SECURITY => Code::PermissionDenied,
            _ => Code::Internal,
        };
        return Status::new(
            code,
            format!("stream terminated by RST_STREAM with error code: {reason}"),
        );
    }
    Status::unavailable(format!("connection error: {e}"))
}

/// `grpc-timeout`: at most 8 digits and a unit.
pub fn encode_timeout(d: Duration) -> HeaderValue {
    let ms = d.as_millis();
    let s = if ms < 100_000_000 {
        format!("{}m", ms.max(1))
    } else {
        format!("{}S", (d.as_secs()).min(99_999_999))
    };
    HeaderValue::from_str(&s).unwrap_or(HeaderValue::from_static("99999999S"))
}

/// Parses a `grpc-timeout` value; `None` when absent or malformed.
pub fn decode_timeout(v: &[u8]) -> Option<Duration> {
    if v.len() < 2 || v.len() > 9 {
        return None;
    }
    let (digits, unit) = v.split_at(v.len() - 1);
    let n: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(match unit[0] {
        b'H' => Duration::from_secs(n.saturating_mul(3600)),
        b'M' => Duration::from_secs(n.saturating_mul(60)),
        b'S' => Duration::from_secs(n),
        b'm' => Duration::from_millis(n),
        b'u' => Duration::from_micros(n),
        b'n' => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts() {
        assert_eq!(encode_timeout(Duration::from_secs(120)), "120000m");
        assert_eq!(encode_timeout(Duration::from_secs(10_000_000)), "10000000S");
        assert_eq!(decode_timeout(b"120000m"), Some(Duration::from_secs(120)));
        assert_eq!(decode_timeout(b"5S"), Some(Duration::from_secs(5)));
        assert_eq!(decode_timeout(b"1H"), Some(Duration::from_secs(3600)));
        assert_eq!(decode_timeout(b"100000000m"), None);
        assert_eq!(decode_timeout(b"5x"), None);
        assert_eq!(decode_timeout(b""), None);
    }
}
