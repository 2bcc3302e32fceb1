//! The HTTP port of a component that serves no query API (`sluice
//! sidecar`): `/-/healthy`, `/-/ready` and `/metrics`, as Thanos's
//! `pkg/prober/http.go` and `pkg/server/http` (v0.31) answer them. Every
//! other path is 404.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use super::body::Body;
use crate::rt;

/// What the probes ask of the component.
pub trait Probed: Send + Sync {
    /// Whether `/-/ready` answers 200.
    fn ready(&self) -> bool;
    /// Appends the component's own metrics to the exposition.
    fn metrics(&self, out: &mut String);
}

/// Accepts connections on `listener` until the process ends.
pub async fn serve(listener: rt::Listener, target: Arc<dyn Probed>) {
    loop {
        match listener.accept().await {
            Ok(stream) => {
                let target = target.clone();
                rt::spawn(async move {
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let service = hyper::service::service_fn(move |req| {
                        let target = target.clone();
                        async move { Ok::<_, Infallible>(handle(&req, &*target)) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                })
                .detach();
            }
            Err(_) => rt::sleep(Duration::from_millis(50)).await,
        }
    }
}

fn handle(req: &Request<Incoming>, target: &dyn Probed) -> Response<Body> {
    let started = Instant::now();
    let get = req.method() == Method::GET || req.method() == Method::HEAD;
    let (handler, resp) = match req.uri().path() {
        "/-/healthy" if get => ("healthy", text(StatusCode::OK, "OK")),
        "/-/ready" if get && target.ready() => ("ready", text(StatusCode::OK, "OK")),
        "/-/ready" if get => ("ready", text(StatusCode::SERVICE_UNAVAILABLE, "NOT OK\n")),
        "/metrics" if get => ("metrics", metrics(target)),
        _ => ("other", text(StatusCode::NOT_FOUND, "404 page not found\n")),
    };
    crate::metrics::observe_request(
        handler,
        resp.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    resp
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut r = Response::new(Body::full(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn metrics(target: &dyn Probed) -> Response<Body> {
    let mut out = crate::metrics::render();
    target.metrics(&mut out);
    let mut r = Response::new(Body::full(out));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}
