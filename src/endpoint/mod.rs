//! Client side of the StoreAPI: one connection per endpoint per shard.
//!
//! Each shard keeps its own [`Pool`]; no connection or lock is shared between
//! shards. A connection that fails is dropped from the pool and the next call
//! dials again. Every error a call returns names the endpoint it came from.

pub mod control;
pub mod set;

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::grpc::{Channel, Code, Status, Streaming};
use crate::proto::paths;
use crate::proto::thanos::{
    info::{InfoRequest, InfoResponse},
    LabelNamesRequest, LabelNamesResponse, LabelValuesRequest, LabelValuesResponse, SeriesRequest,
    SeriesResponse,
};

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

/// The connections of one shard, keyed by endpoint address.
#[derive(Default)]
pub struct Pool {
    conns: RefCell<HashMap<String, Channel>>,
}

impl Pool {
    pub fn new() -> Pool {
        Pool::default()
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
    ) -> Result<Streaming<SeriesResponse>, StoreError> {
        self.with_channel(addr, |c| async move {
            c.server_streaming(paths::STORE_SERIES, req, deadline).await
        })
        .await
    }

    /// `LabelNames`.
    pub async fn label_names(
        &self,
        addr: &str,
        req: &LabelNamesRequest,
        timeout: Duration,
    ) -> Result<LabelNamesResponse, StoreError> {
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

    /// `thanos.info.Info/Info`.
    pub async fn info(&self, addr: &str, timeout: Duration) -> Result<InfoResponse, StoreError> {
        self.with_channel(addr, |c| async move {
            c.unary(paths::INFO_INFO, &InfoRequest {}, timeout).await
        })
        .await
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
