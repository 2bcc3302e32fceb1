//! The HTTP client to one Prometheus server: its base URL, one HTTP/1.1
//! request per connection over the runtime seam, and the mapping of every
//! failure to a gRPC [`Status`] that names Prometheus and says what went
//! wrong (Thanos v0.31 `pkg/promclient/promclient.go` is the model).
//!
//! This module owns the transport only. [`api`] reads Prometheus's HTTP API
//! (`/api/v1/status/config`, `/series`, `/labels`, ...) and [`remote_read`]
//! the remote-read protocol; what a StoreAPI answers on top of them is
//! [`crate::store::prometheus`].
//!
//! Every call is bounded by a deadline: connecting, waiting for the
//! response head and reading each piece of the body. Bodies of JSON answers
//! are read whole (up to [`MAX_BODY`]); the remote-read body is handed back
//! as it arrives, so a large answer is never held whole.
//!
//! Connections are not pooled: Prometheus is usually on the same pod
//! (loopback), where a connect costs less than the request. Host names are
//! resolved with the system resolver on each call, as Go's client does.

pub mod api;
pub mod remote_read;

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;

use crate::grpc::{Code, Status};
use crate::rt;

/// The largest JSON answer read from Prometheus.
pub const MAX_BODY: usize = 512 << 20;

/// The User-Agent of Sluice's requests to Prometheus.
pub const USER_AGENT: &str = concat!("sluice/", env!("CARGO_PKG_VERSION"));

/// A Prometheus base URL: `http://host[:port][/prefix]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromUrl {
    host: String,
    port: u16,
    /// The path prefix without a trailing `/` (empty for none).
    prefix: String,
}

impl PromUrl {
    /// Parses `--prometheus.url` or the URL of a `prometheus+` endpoint.
    /// Only plain HTTP is supported.
    pub fn parse(s: &str) -> Result<PromUrl, String> {
        let rest = match s.split_once("://") {
            Some(("http", rest)) => rest,
            Some(("https", _)) => return Err("https is not supported by Sluice yet".into()),
            Some((scheme, _)) => return Err(format!("unsupported scheme {scheme:?}")),
            None => return Err("the URL must start with http://".into()),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err("credentials in the URL are not supported".into());
        }
        let (host, port) = match crate::discovery::address::split_host_port(authority) {
            Some((h, p)) => (
                h,
                p.parse::<u16>()
                    .map_err(|_| format!("invalid port {p:?}"))?,
            ),
            None => (authority.trim_start_matches('[').trim_end_matches(']'), 80),
        };
        if host.is_empty() {
            return Err("the URL has no host".into());
        }
        let path = path.split(['?', '#']).next().unwrap_or_default();
        Ok(PromUrl {
            host: host.to_string(),
            port,
            prefix: path.trim_end_matches('/').to_string(),
        })
    }

    /// `host:port`, with an IPv6 host in brackets.
    pub fn authority(&self) -> String {
        crate::discovery::address::join_host_port(&self.host, &self.port.to_string())
    }

    /// The request path for `path` (which starts with `/`) under the prefix.
    pub fn path(&self, path: &str) -> String {
        format!("{}{path}", self.prefix)
    }
}

impl std::fmt::Display for PromUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}{}", self.authority(), self.prefix)
    }
}

/// The gRPC code for a Prometheus HTTP status (Thanos's `statusToCode`).
pub fn code_for_http(status: u16) -> Code {
    match status {
        400 => Code::InvalidArgument,
        404 => Code::NotFound,
        503 => Code::Unavailable,
        _ => Code::Internal,
    }
}

/// Time left until `deadline`, or a `DeadlineExceeded` status.
pub fn remaining(deadline: Instant, what: &str) -> Result<Duration, Status> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(Status::deadline_exceeded(format!(
            "{what}: context deadline exceeded"
        )));
    }
    Ok(left)
}

/// A client of one Prometheus server. Cheap to clone; holds no connection.
#[derive(Debug, Clone)]
pub struct Client {
    url: PromUrl,
}

impl Client {
    pub fn new(url: PromUrl) -> Client {
        Client { url }
    }

    pub fn url(&self) -> &PromUrl {
        &self.url
    }

    fn unavailable(&self, what: impl std::fmt::Display) -> Status {
        Status::unavailable(format!("Prometheus at {}: {what}", self.url))
    }

    /// Sends one request on a new connection and waits for the response
    /// head, all before `deadline`.
    async fn send(
        &self,
        req: Request<Full<Bytes>>,
        deadline: Instant,
    ) -> Result<Response<Incoming>, Status> {
        let left = remaining(deadline, &format!("request to Prometheus at {}", self.url))?;
        let exchange = async {
            let addr = crate::endpoint::resolve(&self.url.authority())
                .map_err(|s| self.unavailable(s.message))?;
            let io = rt::connect(addr, left)
                .await
                .map_err(|e| self.unavailable(format!("dial tcp {addr}: {e}")))?;
            let (mut send, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
                    .await
                    .map_err(|e| self.unavailable(e))?;
            // The connection ends with the response body (or when it is
            // dropped); its error, if any, surfaces on the body.
            rt::spawn(async move {
                let _ = conn.await;
            })
            .detach();
            send.send_request(req)
                .await
                .map_err(|e| self.unavailable(format!("sending the request: {e}")))
        };
        rt::timeout(left, exchange)
            .await
            .map_err(|_| self.unavailable(format!("no answer within {left:?}")))?
    }

    fn request(&self, method: http::Method, path_and_query: &str) -> http::request::Builder {
        Request::builder()
            .method(method)
            .uri(path_and_query)
            .header(header::HOST, self.url.authority())
            .header(header::USER_AGENT, USER_AGENT)
    }

    /// `GET path_and_query` (already under the prefix); returns the status
    /// and the whole body.
    pub async fn get(
        &self,
        path_and_query: &str,
        deadline: Instant,
    ) -> Result<(StatusCode, Bytes), Status> {
        let req = self
            .request(http::Method::GET, path_and_query)
            .body(Full::new(Bytes::new()))
            .map_err(|e| Status::internal(format!("building a request to Prometheus: {e}")))?;
        let resp = self.send(req, deadline).await?;
        let status = resp.status();
        let body = self.read_body(resp.into_body(), MAX_BODY, deadline).await?;
        Ok((status, body))
    }

    /// `POST path` with `body` and extra headers; returns the response with
    /// its body unread.
    pub async fn post(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
        deadline: Instant,
    ) -> Result<Response<Incoming>, Status> {
        let mut b = self.request(http::Method::POST, path);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = b
            .body(Full::new(body))
            .map_err(|e| Status::internal(format!("building a request to Prometheus: {e}")))?;
        self.send(req, deadline).await
    }

    /// Reads a whole body of at most `limit` bytes before `deadline`.
    pub async fn read_body(
        &self,
        body: Incoming,
        limit: usize,
        deadline: Instant,
    ) -> Result<Bytes, Status> {
        let left = remaining(
            deadline,
            &format!("reading from Prometheus at {}", self.url),
        )?;
        let collected = rt::timeout(left, Limited::new(body, limit).collect())
            .await
            .map_err(|_| self.unavailable(format!("the answer did not arrive within {left:?}")))?
            .map_err(|e| self.unavailable(format!("reading the answer: {e}")))?;
        Ok(collected.to_bytes())
    }
}

/// Reads a response body piece by piece, each piece before the deadline.
pub struct BodyReader {
    body: Incoming,
    deadline: Instant,
    url: PromUrl,
}

impl BodyReader {
    pub fn new(body: Incoming, deadline: Instant, client: &Client) -> BodyReader {
        BodyReader {
            body,
            deadline,
            url: client.url.clone(),
        }
    }

    /// The next piece of data, `None` at the end of the body.
    pub async fn next(&mut self) -> Result<Option<Bytes>, Status> {
        loop {
            let left = remaining(
                self.deadline,
                &format!("reading from Prometheus at {}", self.url),
            )?;
            let frame = rt::timeout(left, self.body.frame()).await.map_err(|_| {
                Status::unavailable(format!(
                    "Prometheus at {}: the answer stalled for {left:?}",
                    self.url
                ))
            })?;
            match frame {
                None => return Ok(None),
                Some(Err(e)) => {
                    return Err(Status::unavailable(format!(
                        "Prometheus at {}: reading the answer: {e}",
                        self.url
                    )))
                }
                Some(Ok(f)) => {
                    if let Ok(data) = f.into_data() {
                        return Ok(Some(data));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = PromUrl::parse("http://localhost:9090").unwrap();
        assert_eq!(u.authority(), "localhost:9090");
        assert_eq!(u.path("/api/v1/read"), "/api/v1/read");
        assert_eq!(u.to_string(), "http://localhost:9090");
        let u = PromUrl::parse("http://10.0.0.1:9090/prom/").unwrap();
        assert_eq!(u.path("/api/v1/read"), "/prom/api/v1/read");
        assert_eq!(u.to_string(), "http://10.0.0.1:9090/prom");
        let u = PromUrl::parse("http://[::1]:9090").unwrap();
        assert_eq!(u.authority(), "[::1]:9090");
        let u = PromUrl::parse("http://prometheus").unwrap();
        assert_eq!(u.authority(), "prometheus:80");
        for bad in [
            "https://x:1",
            "localhost:9090",
            "ftp://x",
            "http://:9090",
            "http://u:p@x:1",
            "http://x:99999",
        ] {
            assert!(PromUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn http_codes() {
        assert_eq!(code_for_http(400), Code::InvalidArgument);
        assert_eq!(code_for_http(404), Code::NotFound);
        assert_eq!(code_for_http(422), Code::Internal);
        assert_eq!(code_for_http(503), Code::Unavailable);
        assert_eq!(code_for_http(500), Code::Internal);
        assert_eq!(code_for_http(418), Code::Internal);
    }
}
