//! Client side of the StoreAPI: one connection per endpoint per shard.
//!
//! Each shard keeps its own [`Pool`]; no connection or lock is shared between
//! shards. A connection that fails is dropped from the pool and the next call
//! dials again. Every error a call returns names the endpoint it came from.
//!
//! Sidecar-less endpoints. An address `prometheus+http://host:port` is a
//! Prometheus server read without a sidecar: the pool answers its calls
//! in-process with the sidecar's own store code
//! ([`crate::store::prometheus::PromStore`]) instead of over gRPC, and a
//! `Series` call gives a [`SeriesStream::Prometheus`] instead of a gRPC
//! stream. That enum is the whole seam: the fan-out reads both variants
//! the same way. The external labels such an endpoint matches against are
//! the ones its last Info announced (read from Prometheus's configuration
//! by the control plane), taken from the endpoint set.

pub mod control;
pub mod set;

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::grpc::{Channel, Code, Status, Streaming};
use crate::promclient::{Client, PromUrl};
use crate::proto::paths;
use crate::proto::thanos::{
    info::{InfoRequest, InfoResponse, StoreInfo},
    series_response, LabelNamesRequest, LabelNamesResponse, LabelValuesRequest,
    LabelValuesResponse, SeriesRequest, SeriesResponse, ZLabelSet,
};
use crate::store::prometheus::{Meta, PromStore, DEFAULT_MIN_TIME};

/// How long a dial may take.
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(5);

/// A store call failed; says which store and how.
#[derive(Debug, Clone)]
pub struct StoreError {
    pub endpoint: String,
    pub status: Status,
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.endpoint, self.status)
    }
}

/// A `Series` stream from one store.
pub enum SeriesStream {
    /// A gRPC `thanos.Store/Series` call.
    Grpc(Streaming<SeriesResponse>),
    /// A Prometheus server's remote read, decoded in-process.
    Prometheus(crate::store::prometheus::SeriesStream),
}

impl SeriesStream {
    /// The next message, `None` at a clean end, or the call's error.
    pub async fn message(&mut self) -> Result<Option<SeriesResponse>, Status> {
        match self {
            SeriesStream::Grpc(s) => s.message().await,
            SeriesStream::Prometheus(s) => Ok(s.next().await?.map(|s| SeriesResponse {
                result: Some(series_response::Result::Series(s)),
            })),
        }
    }
}

/// The connections of one shard, keyed by endpoint address.
#[derive(Default)]
pub struct Pool {
    conns: RefCell<HashMap<String, Channel>>,
    /// Where `prometheus+` endpoints' external labels are looked up.
    endpoints: Option<Arc<set::EndpointSet>>,
}

impl Pool {
    pub fn new() -> Pool {
        Pool::default()
    }

    /// A pool whose `prometheus+` endpoints match against the external
    /// labels `endpoints` last saw them announce.
    pub fn with_endpoints(endpoints: Arc<set::EndpointSet>) -> Pool {
        Pool {
            endpoints: Some(endpoints),
            ..Pool::default()
        }
    }

    /// The in-process store and metadata of a `prometheus+` address.
    fn prometheus(&self, addr: &str) -> Result<Option<(PromStore, Meta)>, StoreError> {
        let Some(url) = crate::discovery::address::prometheus_url(addr) else {
            return Ok(None);
        };
        let url = PromUrl::parse(url).map_err(|e| StoreError {
            endpoint: addr.to_string(),
            status: Status::invalid_argument(format!("invalid Prometheus URL: {e}")),
        })?;
        let external_labels = self
            .endpoints
            .as_ref()
            .and_then(|set| {
                let snap = set.snapshot();
                let e = snap.endpoints.iter().find(|e| e.addr == addr)?;
                e.label_sets.first().cloned()
            })
            .unwrap_or_default();
        let meta = Meta {
            external_labels,
            ..Meta::default()
        };
        Ok(Some((PromStore::new(Client::new(url)), meta)))
    }

    /// A connection to `addr`, dialling if there is none.
    async fn channel(&self, addr: &str) -> Result<Channel, Status> {
        if let Some(c) = self.conns.borrow().get(addr) {
            return Ok(c.clone());
        }
        let sock = resolve(addr)?;
        let c = Channel::connect(sock, DIAL_TIMEOUT).await?;
        self.conns.borrow_mut().insert(addr.to_string(), c.clone());
        Ok(c)
    }

    /// Forgets a connection after a transport failure.
    fn evict(&self, addr: &str) {
        self.conns.borrow_mut().remove(addr);
    }

    /// Runs `f` on a connection; a transport failure on a pooled connection
    /// evicts it and is tried once more on a fresh one.
    async fn with_channel<T, F, Fut>(&self, addr: &str, f: F) -> Result<T, StoreError>
    where
        F: Fn(Channel) -> Fut,
        Fut: std::future::Future<Output = Result<T, Status>>,
    {
        let wrap = |status| StoreError {
            endpoint: addr.to_string(),
            status,
        };
        let pooled = self.conns.borrow().contains_key(addr);
        let c = self.channel(addr).await.map_err(wrap)?;
        match f(c).await {
            Err(s) if s.code == Code::Unavailable => {
                self.evict(addr);
                if !pooled {
                    return Err(wrap(s));
                }
                let c = self.channel(addr).await.map_err(wrap)?;
                f(c).await.map_err(|s| {
                    if s.code == Code::Unavailable {
                        self.evict(addr);
                    }
                    wrap(s)
                })
            }
            r => r.map_err(wrap),
        }
    }

    /// Opens a `Series` stream.
    pub async fn series(
        &self,
        addr: &str,
        req: &SeriesRequest,
        deadline: Instant,
    ) -> Result<SeriesStream, StoreError> {
        if let Some((store, meta)) = self.prometheus(addr)? {
            let s = store.series(&meta, req.clone(), deadline).await;
            return s
                .map(SeriesStream::Prometheus)
                .map_err(|status| StoreError {
                    endpoint: addr.to_string(),
                    status,
                });
        }
        self.with_channel(addr, |c| async move {
            c.server_streaming(paths::STORE_SERIES, req, deadline).await
        })
        .await
        .map(SeriesStream::Grpc)
    }

    /// `LabelNames`.
    pub async fn label_names(
        &self,
        addr: &str,
        req: &LabelNamesRequest,
        timeout: Duration,
    ) -> Result<LabelNamesResponse, StoreError> {
        if let Some((store, meta)) = self.prometheus(addr)? {
            let r = store
                .label_names(&meta, req, Instant::now() + timeout)
                .await;
            return r.map_err(|status| StoreError {
                endpoint: addr.to_string(),
                status,
            });
        }
        self.with_channel(addr, |c| async move {
            c.unary(paths::STORE_LABEL_NAMES, req, timeout).await
        })
        .await
    }

    /// `LabelValues`.
    pub async fn label_values(
        &self,
        addr: &str,
        req: &LabelValuesRequest,
        timeout: Duration,
    ) -> Result<LabelValuesResponse, StoreError> {
        if let Some((store, meta)) = self.prometheus(addr)? {
            let r = store
                .label_values(&meta, req, Instant::now() + timeout)
                .await;
            return r.map_err(|status| StoreError {
                endpoint: addr.to_string(),
                status,
            });
        }
        self.with_channel(addr, |c| async move {
            c.unary(paths::STORE_LABEL_VALUES, req, timeout).await
        })
        .await
    }

    /// Any unary call.
    pub async fn unary_call<Req: prost::Message, Resp: prost::Message + Default>(
        &self,
        addr: &str,
        path: &str,
        req: &Req,
        timeout: Duration,
    ) -> Result<Resp, StoreError> {
        self.with_channel(addr, |c| async move { c.unary(path, req, timeout).await })
            .await
    }

    /// `thanos.info.Info/Info`. A `prometheus+` endpoint answers as a
    /// sidecar would: its external labels, read from its configuration.
    pub async fn info(&self, addr: &str, timeout: Duration) -> Result<InfoResponse, StoreError> {
        if let Some((store, _)) = self.prometheus(addr)? {
            let deadline = Instant::now() + timeout;
            let labels = crate::promclient::api::external_labels(store.client(), deadline)
                .await
                .map_err(|status| StoreError {
                    endpoint: addr.to_string(),
                    status,
                })?;
            return Ok(prometheus_info(labels));
        }
        self.with_channel(addr, |c| async move {
            c.unary(paths::INFO_INFO, &InfoRequest {}, timeout).await
        })
        .await
    }
}

/// The Info of a sidecar-less Prometheus endpoint.
fn prometheus_info(labels: Vec<crate::proto::thanos::Label>) -> InfoResponse {
    InfoResponse {
        label_sets: if labels.is_empty() {
            Vec::new()
        } else {
            vec![ZLabelSet { labels }]
        },
        component_type: "sidecar".into(),
        store: Some(StoreInfo {
            min_time: DEFAULT_MIN_TIME,
            max_time: i64::MAX,
            supports_sharding: false,
            supports_without_replica_labels: true,
        }),
        ..Default::default()
    }
}

/// Resolves a static `host:port` endpoint.
pub fn resolve(addr: &str) -> Result<SocketAddr, Status> {
    if let Ok(sa) = addr.parse::<SocketAddr>() {
        return Ok(sa);
    }
    addr.to_socket_addrs()
        .map_err(|e| Status::unavailable(format!("resolving {addr}: {e}")))?
        .next()
        .ok_or_else(|| Status::unavailable(format!("resolving {addr}: no addresses")))
}
