//! Test and load-test scaffolding: an in-process cluster of fake stores and
//! a querier on loopback ports chosen by the kernel, and a small blocking
//! HTTP/1.1 client to talk to it. Used by the integration tests, the
//! benches and the load-test harness; nothing on the serving path uses it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::api::{self, ApiConfig, Global};
use crate::endpoint::control::{control_plane, Discovery};
use crate::endpoint::set::{EndpointSet, SetOptions};
use crate::rt;
use crate::store::fake::{self, FakeStore, Table};

/// A querier and its fake stores, running on one executor in a thread of
/// their own. Dropping it stops everything.
pub struct Cluster {
    pub http: SocketAddr,
    /// The querier's own StoreAPI.
    pub grpc: SocketAddr,
    pub stores: Vec<SocketAddr>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// How to configure the cluster's querier.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    pub replica_labels: Vec<String>,
    pub query_timeout: Duration,
    pub partial_response: bool,
    /// Endpoints that are not fake stores (e.g. a dead address).
    pub extra_endpoints: Vec<String>,
    /// Whether the extra endpoints are strict (always queried).
    pub extra_strict: bool,
    pub response_timeout: Duration,
    pub limits: crate::fanout::Limits,
    /// `dns+`/`dnssrv+` endpoints, resolved with `resolv_conf`.
    pub dynamic_endpoints: Vec<String>,
    pub resolv_conf: Option<crate::discovery::ResolvConf>,
    pub sd_files: Vec<String>,
    /// Endpoint refresh and DNS interval (Thanos: 5 s and 30 s).
    pub refresh: Duration,
    pub unhealthy_timeout: Duration,
    /// `--query.max-samples`.
    pub max_samples: usize,
    /// `--deduplication.func`.
    pub dedup: crate::dedup::Mode,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            replica_labels: Vec::new(),
            query_timeout: Duration::from_secs(10),
            partial_response: true,
            extra_endpoints: Vec::new(),
            extra_strict: false,
            response_timeout: Duration::ZERO,
            limits: Default::default(),
            dynamic_endpoints: Vec::new(),
            resolv_conf: None,
            sd_files: Vec::new(),
            refresh: Duration::from_millis(200),
            unhealthy_timeout: Duration::from_secs(300),
            max_samples: 50_000_000,
            dedup: crate::dedup::Mode::Penalty,
        }
    }
}

impl Cluster {
    /// Starts one fake store per table and a querier over all of them.
    pub fn start(tables: Vec<Table>, opts: ClusterOptions) -> Result<Cluster, String> {
        let mut stores = Vec::new();
        for t in tables {
            stores.push(FakeStore::new(t)?);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name("sluice-test-cluster".into())
            .spawn(move || {
                let r = rt::block_on(async move {
                    match bind_all(stores, opts).await {
                        Ok((http, addrs)) => {
                            let _ = tx.send(Ok((http, addrs)));
                            while !stop2.load(Ordering::Acquire) {
                                rt::sleep(Duration::from_millis(10)).await;
                            }
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                        }
                    }
                });
                if let Err(e) = r {
                    eprintln!("test cluster runtime: {e}");
                }
            })
            .map_err(|e| e.to_string())?;
        let (q, stores) = rx
            .recv_timeout(Duration::from_secs(20))
            .map_err(|e| format!("cluster did not start: {e}"))??;
        Ok(Cluster {
            http: q.http,
            grpc: q.grpc,
            stores,
            stop,
            thread: Some(thread),
        })
    }

    /// `GET path` against the querier.
    pub fn get(&self, path: &str) -> Result<HttpResponse, String> {
        http_request(self.http, "GET", path, &[], None)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn bind_all(
    stores: Vec<Arc<FakeStore>>,
    opts: ClusterOptions,
) -> Result<(Querier, Vec<SocketAddr>), String> {
    let mut addrs = Vec::new();
    for s in stores {
        addrs.push(serve_store(s)?);
    }
    let q = start_querier(&addrs, opts).await?;
    Ok((q, addrs))
}

/// Serves a fake store on a free loopback port of the current executor.
pub fn serve_store(store: Arc<FakeStore>) -> Result<SocketAddr, String> {
    let l = rt::Listener::bind(([127, 0, 0, 1], 0).into()).map_err(|e| e.to_string())?;
    let addr = l.local_addr().map_err(|e| e.to_string())?;
    rt::spawn(fake::serve(l, store)).detach();
    Ok(addr)
}

/// Starts a querier on the current executor over `stores` (and the
/// options' other endpoints); returns its HTTP address once its endpoint
/// set has been refreshed once.
pub async fn start_querier(stores: &[SocketAddr], opts: ClusterOptions) -> Result<Querier, String> {
    let loopback: SocketAddr = ([127, 0, 0, 1], 0).into();
    let addrs = stores;
    let mut endpoints: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
    endpoints.extend(opts.dynamic_endpoints.iter().cloned());
    let mut strict = Vec::new();
    if opts.extra_strict {
        strict.extend(opts.extra_endpoints.iter().cloned());
    } else {
        endpoints.extend(opts.extra_endpoints.iter().cloned());
    }
    let set = EndpointSet::new(SetOptions {
        info_timeout: Duration::from_secs(2),
        unhealthy_timeout: opts.unhealthy_timeout,
        refresh: opts.refresh,
    });
    let discovery = Discovery {
        endpoints,
        strict,
        sd_files: opts.sd_files.clone(),
        sd_interval: Duration::from_secs(300),
        dns_interval: opts.refresh,
        resolv_conf: opts.resolv_conf.clone(),
    };
    control_plane(&discovery, set.clone()).await;
    let global = Arc::new(Global {
        endpoints: set,
        cfg: ApiConfig {
            replica_labels: opts.replica_labels,
            response_timeout: opts.response_timeout,
            limits: opts.limits,
            dedup: opts.dedup,
            lookback_delta: Duration::ZERO,
            max_samples: opts.max_samples,
            default_step: Duration::from_secs(1),
            default_evaluation_interval: Duration::from_secs(60),
            max_concurrent: 20,
            query_timeout: opts.query_timeout,
            partial_response: opts.partial_response,
            disable_cors: false,
            metadata_default_range: Duration::ZERO,
            flags: Vec::new(),
        },
        ready: AtomicBool::new(true),
    });
    let l = rt::Listener::bind(loopback).map_err(|e| e.to_string())?;
    let http = l.local_addr().map_err(|e| e.to_string())?;
    let shard = api::Shard::new(global);
    rt::spawn(api::serve(l, shard.clone())).detach();
    let g = rt::Listener::bind(loopback).map_err(|e| e.to_string())?;
    let grpc = g.local_addr().map_err(|e| e.to_string())?;
    rt::spawn(crate::store::proxy::serve(g, shard)).detach();
    Ok(Querier { http, grpc })
}

/// Where a test querier listens.
#[derive(Debug, Clone, Copy)]
pub struct Querier {
    pub http: SocketAddr,
    pub grpc: SocketAddr,
}

/// [`http_request`] from inside an executor: the blocking call runs on a
/// thread of its own while the executor keeps serving.
pub async fn http_get_async(addr: SocketAddr, path: &str) -> Result<HttpResponse, String> {
    let (tx, rx) = futures_channel::oneshot::channel();
    let path = path.to_string();
    std::thread::spawn(move || {
        let _ = tx.send(http_request(addr, "GET", &path, &[], None));
    });
    rx.await
        .map_err(|_| "the request thread died".to_string())?
}

/// A response read by [`http_request`].
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A blocking HTTP/1.1 request (one per connection), reading a
/// `Content-Length` or chunked body. Bounded by a 30 s socket timeout.
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<HttpResponse, String> {
    let mut s =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    if let Some(b) = body {
        bytes.extend_from_slice(b);
    }
    s.write_all(&bytes).map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(|e| e.to_string())?;
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> Result<HttpResponse, String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers")?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or("empty response")?;
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let rest = &raw[split + 4..];
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        dechunk(rest)?
    } else {
        rest.to_vec()
    };
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

fn dechunk(mut b: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let eol = b
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("truncated chunk header")?;
        let size_txt = String::from_utf8_lossy(&b[..eol]);
        let size = usize::from_str_radix(size_txt.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| format!("bad chunk size {size_txt:?}"))?;
        b = &b[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if b.len() < size + 2 {
            return Err("truncated chunk (the transfer was aborted)".into());
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}
