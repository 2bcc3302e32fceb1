//! The HTTP API (hyper 1.x, HTTP/1.1) on the shard runtime: routing, CORS,
//! gzip, probes, `/metrics`, status endpoints and the query APIs.
//!
//! Each shard accepts on its own SO_REUSEPORT listener and answers its
//! connections with its own [`Shard`] state. Handlers write JSON into a
//! streaming [`body::Writer`]; errors become Prometheus's envelope in
//! [`error`], and nowhere else.

pub mod body;
pub mod error;
pub mod gate;
pub mod json;
pub mod metadata;
pub mod params;
pub mod probes;
pub mod query;
pub mod stream;

use std::convert::Infallible;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::endpoint::Pool;
use crate::rt;
use body::{Body, Outcome, Writer};
use error::ApiError;
use params::Form;

/// The largest form body accepted (Go's ParseForm limit is 10 MB).
const MAX_FORM_BODY: usize = 10 << 20;

/// The response header that says how a query was evaluated
/// ([`query::SERIES_BY_SERIES`], [`query::WHOLE`],
/// [`query::WHOLE_AFTER_SERIES_BY_SERIES`]): Sluice's own, for finding
/// which queries hold their whole input.
const EVALUATION: header::HeaderName = header::HeaderName::from_static("sluice-evaluation");

/// What the HTTP API needs from the command line.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// `--query.replica-label`: the default of `replicaLabels[]`.
    pub replica_labels: Vec<String>,
    /// `--store.response-timeout` (zero: none).
    pub response_timeout: Duration,
    /// Per-query fetch limits.
    pub limits: crate::fanout::Limits,
    /// `--deduplication.func`.
    pub dedup: crate::dedup::Mode,
    /// `--query.lookback-delta` (zero: Prometheus's 5m).
    pub lookback_delta: Duration,
    /// `--query.max-samples`.
    pub max_samples: usize,
    /// `--query.default-step`: the step of a range query without one.
    pub default_step: Duration,
    /// `--query.default-evaluation-interval`: a subquery's default step.
    pub default_evaluation_interval: Duration,
    /// `--query.max-concurrent`, shared out over the shards.
    pub max_concurrent: usize,
    pub query_timeout: Duration,
    pub partial_response: bool,
    pub disable_cors: bool,
    pub metadata_default_range: Duration,
    /// `/api/v1/status/flags`: every flag and its value.
    pub flags: Vec<(String, String)>,
}

/// Process-wide state that shards only read (set once at start-up, or
/// atomics flipped by the lifecycle).
#[derive(Debug)]
pub struct Global {
    pub cfg: ApiConfig,
    pub ready: AtomicBool,
    /// The stores, refreshed by the endpoint loop.
    pub endpoints: Arc<crate::endpoint::set::EndpointSet>,
}

/// One shard's view: the shared read-only config and its own connections.
pub struct Shard {
    pub cfg: ApiConfig,
    pub global: Arc<Global>,
    pub pool: Pool,
    /// This shard's share of `--query.max-concurrent`.
    pub gate: Rc<gate::Gate>,
}

impl Shard {
    pub fn new(global: Arc<Global>) -> Rc<Shard> {
        let shards = crate::rt::shard_count().max(1);
        let share = global.cfg.max_concurrent.div_ceil(shards);
        Rc::new(Shard {
            cfg: global.cfg.clone(),
            pool: Pool::with_endpoints(global.endpoints.clone()),
            global,
            gate: gate::Gate::new(share),
        })
    }
}

/// Accepts HTTP connections on `listener` until the process ends.
pub async fn serve(listener: rt::Listener, shard: Rc<Shard>) {
    loop {
        match listener.accept().await {
            Ok(stream) => {
                let shard = shard.clone();
                rt::spawn(serve_connection(stream, shard)).detach();
            }
            Err(e) => {
                crate::log::warn("accepting an HTTP connection failed", &[("err", &e)]);
                rt::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn serve_connection(stream: rt::Stream, shard: Rc<Shard>) {
    let io = hyper_util::rt::TokioIo::new(stream);
    let service = hyper::service::service_fn(move |req| {
        let shard = shard.clone();
        async move { Ok::<_, Infallible>(handle(req, shard).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(io, service)
        .await;
}

/// Answers one request and records its metrics.
pub async fn handle(req: Request<Incoming>, shard: Rc<Shard>) -> Response<Body> {
    let started = Instant::now();
    let (handler, mut resp) = route(req, &shard).await;
    if !shard.cfg.disable_cors {
        cors(resp.headers_mut());
    }
    crate::metrics::observe_request(
        handler,
        resp.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    resp
}

fn cors(h: &mut http::HeaderMap) {
    h.insert(
        "access-control-allow-headers",
        HeaderValue::from_static("Accept, Accept-Encoding, Authorization, Content-Type, Origin"),
    );
    h.insert(
        "access-control-allow-methods",
        HeaderValue::from_static("GET, OPTIONS"),
    );
    h.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    h.insert(
        "access-control-expose-headers",
        HeaderValue::from_static("Date"),
    );
}

/// The API routes a handler can serve.
enum Api {
    Query,
    QueryRange,
    Series,
    Labels,
    LabelValues(String),
}

async fn route(req: Request<Incoming>, shard: &Rc<Shard>) -> (&'static str, Response<Body>) {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let get_only = method == Method::GET || method == Method::HEAD;
    let get_post = get_only || method == Method::POST;
    match path.as_str() {
        "/-/healthy" if get_only => ("healthy", text(StatusCode::OK, "OK")),
        "/-/ready" if get_only => ("ready", ready(shard)),
        "/metrics" if get_only => ("metrics", metrics(shard)),
        "/api/v1/status/buildinfo" if get_only => ("status_build", buildinfo()),
        "/api/v1/status/flags" if get_only => ("status_flags", flags(shard)),
        "/api/v1/stores" if get_only => ("stores", stores(shard)),
        "/api/v1/query" if get_post => ("query", run(req, shard.clone(), Api::Query).await),
        "/api/v1/query_range" if get_post => (
            "query_range",
            run(req, shard.clone(), Api::QueryRange).await,
        ),
        "/api/v1/series" if get_post => ("series", run(req, shard.clone(), Api::Series).await),
        "/api/v1/labels" if get_post => ("label_names", run(req, shard.clone(), Api::Labels).await),
        p if p.starts_with("/api/v1/") && method == Method::OPTIONS => {
            ("options", empty(StatusCode::NO_CONTENT))
        }
        p => {
            if let Some(name) = p
                .strip_prefix("/api/v1/label/")
                .and_then(|r| r.strip_suffix("/values"))
            {
                if get_only {
                    let name = percent_decode(name);
                    return (
                        "label_values",
                        run(req, shard.clone(), Api::LabelValues(name)).await,
                    );
                }
                return (
                    "label_values",
                    text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n"),
                );
            }
            if known_path(p) {
                return (
                    "other",
                    text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n"),
                );
            }
            ("other", text(StatusCode::NOT_FOUND, "404 page not found\n"))
        }
    }
}

fn known_path(p: &str) -> bool {
    matches!(
        p,
        "/-/healthy"
            | "/-/ready"
            | "/metrics"
            | "/api/v1/status/buildinfo"
            | "/api/v1/status/flags"
            | "/api/v1/stores"
            | "/api/v1/query"
            | "/api/v1/query_range"
            | "/api/v1/series"
            | "/api/v1/labels"
    )
}

fn percent_decode(s: &str) -> String {
    form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Reads the parameters and runs an API handler as its own task, streaming
/// its output.
async fn run(req: Request<Incoming>, shard: Rc<Shard>, api: Api) -> Response<Body> {
    let accept_gzip = req
        .headers()
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|e| e.trim().split(';').next() == Some("gzip"))
        });
    let form = match read_form(req).await {
        Ok(f) => f,
        Err(e) => return error_response(&e),
    };
    let (mut writer, outcome) = Writer::new(accept_gzip);
    rt::spawn(async move {
        let result = match &api {
            Api::Query => query::instant(&shard, form, &mut writer).await,
            Api::QueryRange => query::range(&shard, form, &mut writer).await,
            Api::Series => metadata::series(&shard, form, &mut writer).await,
            Api::Labels => metadata::label_names(&shard, form, &mut writer).await,
            Api::LabelValues(name) => metadata::label_values(&shard, name, form, &mut writer).await,
        };
        match result {
            Ok(()) => {
                let _ = writer.finish().await;
            }
            Err(e) => writer.fail(e).await,
        }
    })
    .detach();
    match outcome.await {
        Ok(Outcome::Head(head)) => {
            let mut r = Response::new(head.body);
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            if head.gzip {
                h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
            }
            if head.has_warnings {
                h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            }
            if let Some(how) = head.evaluation {
                h.insert(EVALUATION, HeaderValue::from_static(how));
            }
            r
        }
        Ok(Outcome::Error(e, evaluation)) => {
            let mut r = error_response(&e);
            if let Some(how) = evaluation {
                r.headers_mut()
                    .insert(EVALUATION, HeaderValue::from_static(how));
            }
            r
        }
        Err(_) => error_response(&ApiError::internal("the handler ended without an answer")),
    }
}

async fn read_form(req: Request<Incoming>) -> Result<Form, ApiError> {
    let (parts, body) = req.into_parts();
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let body = if parts.method == Method::POST && is_form {
        let limited = http_body_util::Limited::new(body, MAX_FORM_BODY);
        let collected = limited
            .collect()
            .await
            .map_err(|e| ApiError::internal(format!("error parsing form values: {e}")))?;
        Some(collected.to_bytes())
    } else {
        None
    };
    Ok(Form::parse(parts.uri.query(), body.as_deref()))
}

/// The error envelope with its status code.
pub fn error_response(e: &ApiError) -> Response<Body> {
    let mut r = Response::new(Body::full(e.body()));
    *r.status_mut() =
        StatusCode::from_u16(e.kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
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

fn empty(status: StatusCode) -> Response<Body> {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}

fn json_ok(data: Vec<u8>) -> Response<Body> {
    let mut body = Vec::with_capacity(data.len() + 40);
    body.extend_from_slice(b"{\"status\":\"success\",\"data\":");
    body.extend_from_slice(&data);
    body.extend_from_slice(b"}\n");
    let mut r = Response::new(Body::full(body));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn ready(shard: &Shard) -> Response<Body> {
    if shard.global.ready.load(Ordering::Acquire) {
        text(StatusCode::OK, "OK")
    } else {
        text(StatusCode::SERVICE_UNAVAILABLE, "NOT OK\n")
    }
}

fn metrics(shard: &Shard) -> Response<Body> {
    let mut text = crate::metrics::render();
    store_metrics(&mut text, shard);
    let mut r = Response::new(Body::full(text));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

/// `thanos_store_nodes_grpc_connections{external_labels, store_type}`: the
/// healthy endpoints, by label sets and component, as Thanos names it.
fn store_metrics(out: &mut String, shard: &Shard) {
    use std::fmt::Write as _;
    let snap = shard.global.endpoints.snapshot();
    let mut counts: std::collections::BTreeMap<(String, String), u64> = Default::default();
    for e in snap.queryable() {
        let key = (e.id(), e.component.clone().unwrap_or_default());
        *counts.entry(key).or_default() += 1;
    }
    let _ = writeln!(out, "# HELP thanos_store_nodes_grpc_connections Number of gRPC connection to Store APIs. Opened connection means healthy store APIs available for Querier.");
    let _ = writeln!(out, "# TYPE thanos_store_nodes_grpc_connections gauge");
    for ((labels, kind), n) in counts {
        let (l, k) = (
            crate::metrics::escape_label(&labels),
            crate::metrics::escape_label(&kind),
        );
        let _ = writeln!(
            out,
            "thanos_store_nodes_grpc_connections{{external_labels=\"{l}\",store_type=\"{k}\"}} {n}"
        );
    }
}

/// `/api/v1/status/buildinfo`. `version` is the Thanos API level Sluice
/// answers as (Grafana reads it to pick features); Sluice's own version is
/// in `sluiceVersion`.
fn buildinfo() -> Response<Body> {
    let b = crate::version::build();
    let mut out = Vec::new();
    out.push(b'{');
    let fields = [
        ("version", crate::version::THANOS_COMPAT),
        ("revision", b.revision),
        ("branch", b.branch),
        ("buildUser", "sluice"),
        ("buildDate", b.date),
        ("goVersion", "none (Rust)"),
        ("sluiceVersion", b.version),
    ];
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json::write_str(&mut out, k);
        out.push(b':');
        json::write_str(&mut out, v);
    }
    out.push(b'}');
    json_ok(out)
}

/// `/api/v1/stores`: endpoints grouped by component type (Thanos v0.31
/// `pkg/api/query/v1.go` `stores`); those whose type was never learned are
/// left out.
fn stores(shard: &Shard) -> Response<Body> {
    let snap = shard.global.endpoints.snapshot();
    let mut by_type: std::collections::BTreeMap<&str, Vec<&crate::endpoint::set::Endpoint>> =
        Default::default();
    for e in &snap.endpoints {
        if let Some(c) = &e.component {
            by_type.entry(c.as_str()).or_default().push(e);
        }
    }
    let mut out = vec![b'{'];
    for (i, (kind, mut eps)) in by_type.into_iter().enumerate() {
        eps.sort_by(|a, b| a.addr.cmp(&b.addr));
        if i > 0 {
            out.push(b',');
        }
        json::write_str(&mut out, kind);
        out.extend_from_slice(b":[");
        for (j, e) in eps.iter().enumerate() {
            if j > 0 {
                out.push(b',');
            }
            store_status(&mut out, e);
        }
        out.push(b']');
    }
    out.push(b'}');
    json_ok(out)
}

fn store_status(out: &mut Vec<u8>, e: &crate::endpoint::set::Endpoint) {
    out.extend_from_slice(b"{\"name\":");
    json::write_str(out, &e.addr);
    out.extend_from_slice(b",\"lastCheck\":");
    json::write_str(
        out,
        &e.last_check
            .map(params::format_rfc3339)
            .unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
    );
    out.extend_from_slice(b",\"lastError\":");
    match &e.last_error {
        Some(err) => json::write_str(out, err),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"labelSets\":[");
    for (k, ls) in e.label_sets.iter().enumerate() {
        if k > 0 {
            out.push(b',');
        }
        json::write_labels(out, ls);
    }
    out.extend_from_slice(
        format!("],\"minTime\":{},\"maxTime\":{}}}", e.min_time, e.max_time).as_bytes(),
    );
}

fn flags(shard: &Shard) -> Response<Body> {
    let mut out = vec![b'{'];
    for (i, (k, v)) in shard.cfg.flags.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json::write_str(&mut out, k);
        out.push(b':');
        json::write_str(&mut out, v);
    }
    out.push(b'}');
    json_ok(out)
}
