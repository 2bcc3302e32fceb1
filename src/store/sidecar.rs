//! `sluice sidecar`'s gRPC services: `thanos.info.Info`, and `thanos.Store`
//! (`Info`, `Series`, `LabelNames`, `LabelValues`) over the
//! [`PromStore`] of its Prometheus, as Thanos v0.31's sidecar registers them
//! (`cmd/thanos/sidecar.go`, `pkg/store/limiter.go`).
//!
//! [`SidecarState`] is what every shard shares: the metadata the watcher
//! (`cmd::sidecar`) last read from Prometheus, whether Prometheus has
//! answered (readiness), and the store limits. It is read-only for the
//! request path, swapped whole by the watcher.
//!
//! Info announces the component `sidecar`, the external labels, the time
//! range `[--min-time, MaxInt64]` and `supports_without_replica_labels`;
//! its `store` part is null until Prometheus has answered and whenever the
//! last heartbeat failed, so queriers leave the sidecar out. The Rules,
//! Targets, Metadata and Exemplars APIs are not served, so they are not
//! announced (Thanos announces them).

use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use bytes::Bytes;

use super::prometheus::{Meta, PromStore};
use crate::grpc::server::{decode_request, CallFuture};
use crate::grpc::{CallContext, Code, Service, Sink, Status};
use crate::proto::paths;
use crate::proto::thanos::{
    info, series_response, InfoResponse as StoreInfoResponse, LabelNamesRequest,
    LabelValuesRequest, SeriesRequest, SeriesResponse, StoreType, ZLabelSet,
};
use crate::rt;

/// How long a call may take when the client sets no deadline.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// Samples a chunk is counted as by the samples limit (Thanos's
/// `MaxSamplesPerChunk`).
const SAMPLES_PER_CHUNK: u64 = 120;

/// What the shards of one sidecar share.
#[derive(Debug)]
pub struct SidecarState {
    meta: ArcSwap<Meta>,
    ready: AtomicBool,
    /// `--store.limits.request-series`, 0 = none.
    pub limit_series: u64,
    /// `--store.limits.request-samples`, 0 = none.
    pub limit_samples: u64,
}

impl SidecarState {
    pub fn new(min_time: i64, limit_series: u64, limit_samples: u64) -> Arc<SidecarState> {
        Arc::new(SidecarState {
            meta: ArcSwap::from_pointee(Meta {
                min_time,
                ..Default::default()
            }),
            ready: AtomicBool::new(false),
            limit_series,
            limit_samples,
        })
    }

    /// The current metadata.
    pub fn meta(&self) -> Arc<Meta> {
        self.meta.load_full()
    }

    /// Replaces the metadata (the watcher, after reading Prometheus).
    pub fn set_meta(&self, meta: Meta) {
        self.meta.store(Arc::new(meta));
    }

    /// Whether Prometheus answered the last heartbeat.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }
}

/// The probes and metrics of the sidecar's HTTP port: ready once
/// Prometheus has answered, and `thanos_sidecar_prometheus_up`.
impl crate::api::probes::Probed for SidecarState {
    fn ready(&self) -> bool {
        self.is_ready()
    }

    fn metrics(&self, out: &mut String) {
        out.push_str(
            "# HELP thanos_sidecar_prometheus_up Boolean indicator whether the sidecar can reach its Prometheus peer.\n\
             # TYPE thanos_sidecar_prometheus_up gauge\n",
        );
        out.push_str(&format!(
            "thanos_sidecar_prometheus_up {}\n",
            u8::from(self.is_ready())
        ));
    }
}

/// The sidecar's gRPC service on one shard.
pub struct SidecarService {
    pub store: PromStore,
    pub state: Arc<SidecarState>,
}

impl Service for SidecarService {
    fn call<'a>(
        &'a self,
        path: &'a str,
        request: Bytes,
        ctx: &'a CallContext,
        sink: &'a mut Sink,
    ) -> CallFuture<'a> {
        Box::pin(async move {
            let deadline = ctx
                .deadline
                .unwrap_or_else(|| Instant::now() + DEFAULT_CALL_TIMEOUT);
            let meta = self.state.meta();
            match path {
                paths::INFO_INFO => sink.send(&self.info(&meta)).await,
                paths::STORE_INFO => sink.send(&legacy_info(&meta)).await,
                paths::STORE_SERIES => self.series(&meta, request, deadline, sink).await,
                paths::STORE_LABEL_NAMES => {
                    let req: LabelNamesRequest = decode_request(request)?;
                    let r = self.store.label_names(&meta, &req, deadline).await?;
                    sink.send(&r).await
                }
                paths::STORE_LABEL_VALUES => {
                    let req: LabelValuesRequest = decode_request(request)?;
                    let r = self.store.label_values(&meta, &req, deadline).await?;
                    sink.send(&r).await
                }
                other => Err(Status::unimplemented(format!("unknown method {other}"))),
            }
        })
    }
}

fn label_sets(meta: &Meta) -> Vec<ZLabelSet> {
    if meta.external_labels.is_empty() {
        return Vec::new();
    }
    vec![ZLabelSet {
        labels: meta.external_labels.clone(),
    }]
}

/// The deprecated `thanos.Store/Info` (answered whether ready or not, as
/// Thanos does).
fn legacy_info(meta: &Meta) -> StoreInfoResponse {
    StoreInfoResponse {
        labels: meta.external_labels.clone(),
        min_time: meta.min_time,
        max_time: i64::MAX,
        store_type: StoreType::Sidecar as i32,
        label_sets: label_sets(meta),
    }
}

impl SidecarService {
    fn info(&self, meta: &Meta) -> info::InfoResponse {
        info::InfoResponse {
            label_sets: label_sets(meta),
            component_type: "sidecar".into(),
            store: self.state.is_ready().then_some(info::StoreInfo {
                min_time: meta.min_time,
                max_time: i64::MAX,
                supports_sharding: false,
                supports_without_replica_labels: true,
            }),
            ..Default::default()
        }
    }

    async fn series(
        &self,
        meta: &Meta,
        request: Bytes,
        deadline: Instant,
        sink: &mut Sink,
    ) -> Result<(), Status> {
        let req: SeriesRequest = decode_request(request)?;
        let mut stream = self.store.series(meta, req, deadline).await?;
        let mut limits = Limits::new(&self.state);
        // Series decoded from one remote-read frame are ready together and
        // leave in one piece; before waiting for Prometheus, what is
        // gathered is sent.
        while let Some(s) = sink.ready_or_flush(stream.next()).await?? {
            limits.charge(s.chunks.len())?;
            let msg = SeriesResponse {
                result: Some(series_response::Result::Series(s)),
            };
            sink.buffer(&msg).await?;
            rt::yield_if_needed().await;
        }
        Ok(())
    }
}

/// The per-call series and samples limits (Thanos's `limitedServer`).
struct Limits {
    series: (u64, u64),
    samples: (u64, u64),
}

impl Limits {
    fn new(state: &SidecarState) -> Limits {
        Limits {
            series: (state.limit_series, 0),
            samples: (state.limit_samples, 0),
        }
    }

    fn charge(&mut self, chunks: usize) -> Result<(), Status> {
        self.series.1 += 1;
        self.samples.1 += chunks as u64 * SAMPLES_PER_CHUNK;
        let violated = |what: &str, (limit, got): (u64, u64)| {
            Status::new(
                Code::Unknown,
                format!("failed to send {what}: limit {limit} violated (got {got})"),
            )
        };
        if self.series.0 > 0 && self.series.1 > self.series.0 {
            return Err(violated("series", self.series));
        }
        if self.samples.0 > 0 && self.samples.1 > self.samples.0 {
            return Err(violated("samples", self.samples));
        }
        Ok(())
    }
}

/// Serves the sidecar's gRPC API on `listener` (one shard) until the
/// process ends.
pub async fn serve(listener: rt::Listener, service: Rc<SidecarService>) {
    let service: Rc<dyn Service> = service;
    loop {
        match listener.accept().await {
            Ok(s) => rt::spawn(crate::grpc::serve_connection(s, service.clone())).detach(),
            Err(_) => rt::sleep(Duration::from_millis(50)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_as_thanos_counts_them() {
        let state = SidecarState::new(0, 2, 240);
        let mut l = Limits::new(&state);
        assert!(l.charge(1).is_ok());
        assert!(l.charge(1).is_ok());
        let e = l.charge(0).unwrap_err();
        assert_eq!(e.message, "failed to send series: limit 2 violated (got 3)");
        let state = SidecarState::new(0, 0, 250);
        let mut l = Limits::new(&state);
        assert!(l.charge(2).is_ok());
        // Samples are counted as 120 per chunk: 250 samples allow 2 chunks.
        let e = l.charge(1).unwrap_err();
        assert_eq!(
            e.message,
            "failed to send samples: limit 250 violated (got 360)"
        );
    }
}
