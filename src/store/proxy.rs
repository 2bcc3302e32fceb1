//! The querier as a StoreAPI: on `--grpc-address` it serves `thanos.Store`
//! and `thanos.info.Info` over every store it can see, so that another
//! querier (Sluice or Thanos) can use it as an endpoint (Thanos v0.31
//! `pkg/store/proxy.go`, `cmd/thanos/query.go` info server).
//!
//! `Series` selects stores as the HTTP API does, forwards the request
//! (including `without_replica_labels`, which the merge then turns into
//! one series per replica set) and streams the merged series back as they
//! come; store failures become `warning` frames under WARN and an `Aborted`
//! status under ABORT. `--store.limits.request-series` and
//! `--store.limits.request-samples` bound what one call may fetch.

use std::rc::Rc;
use std::time::Instant;

use bytes::Bytes;

use crate::api::Shard;
use crate::fanout::{self, Budget, FanoutRequest, Partial, Warnings};
use crate::grpc::server::{decode_request, CallFuture};
use crate::grpc::{CallContext, Code, Service, Sink, Status};
use crate::labels::Matcher;
use crate::merge::Merge;
use crate::proto::paths;
use crate::proto::thanos::{
    info, series_response, LabelNamesRequest, LabelNamesResponse, LabelValuesRequest,
    LabelValuesResponse, PartialResponseStrategy, SeriesRequest, SeriesResponse, ZLabelSet,
};
use crate::select::{self, StoreFilter};

/// The querier's gRPC service on one shard.
pub struct ProxyService(pub Rc<Shard>);

impl Service for ProxyService {
    fn call<'a>(
        &'a self,
        path: &'a str,
        request: Bytes,
        ctx: &'a CallContext,
        sink: &'a mut Sink,
    ) -> CallFuture<'a> {
        Box::pin(async move {
            match path {
                paths::INFO_INFO => sink.send(&self.info()).await,
                paths::STORE_SERIES => self.series(request, ctx, sink).await,
                paths::STORE_LABEL_NAMES => {
                    let r = self.label_names(request, ctx).await?;
                    sink.send(&r).await
                }
                paths::STORE_LABEL_VALUES => {
                    let r = self.label_values(request, ctx).await?;
                    sink.send(&r).await
                }
                other => Err(Status::new(
                    Code::Unimplemented,
                    format!("unknown method {other}"),
                )),
            }
        })
    }
}

fn partial_of(strategy: i32, disabled: bool) -> Partial {
    if disabled || strategy == PartialResponseStrategy::Abort as i32 {
        Partial::Abort
    } else {
        Partial::Warn
    }
}

fn matchers(ms: &[crate::proto::thanos::LabelMatcher]) -> Result<Vec<Matcher>, Status> {
    ms.iter()
        .map(|m| Matcher::from_proto(m).map_err(Status::invalid_argument))
        .collect()
}

impl ProxyService {
    fn deadline(&self, ctx: &CallContext) -> Instant {
        ctx.deadline
            .unwrap_or_else(|| Instant::now() + self.0.cfg.query_timeout)
    }

    /// Info as a `query` component: the union of the stores' label sets
    /// and the span of their time ranges.
    fn info(&self) -> info::InfoResponse {
        let snap = self.0.global.endpoints.snapshot();
        let mut sets: Vec<Vec<crate::proto::thanos::Label>> = Vec::new();
        let (mut min, mut max) = (i64::MAX, i64::MIN);
        for e in snap.queryable() {
            for s in &e.label_sets {
                if !sets.contains(s) {
                    sets.push(s.clone());
                }
            }
            min = min.min(e.min_time);
            max = max.max(e.max_time);
        }
        if min > max {
            (min, max) = (i64::MIN, i64::MAX);
        }
        info::InfoResponse {
            label_sets: sets
                .into_iter()
                .map(|labels| ZLabelSet { labels })
                .collect(),
            component_type: "query".into(),
            store: Some(info::StoreInfo {
                min_time: min,
                max_time: max,
                supports_sharding: false,
                supports_without_replica_labels: true,
            }),
            rules: None,
            metric_metadata: None,
            targets: None,
            exemplars: None,
            query: None,
        }
    }

    async fn series(
        &self,
        request: Bytes,
        ctx: &CallContext,
        sink: &mut Sink,
    ) -> Result<(), Status> {
        let shard = &self.0;
        let req: SeriesRequest = decode_request(request)?;
        let ms = matchers(&req.matchers)?;
        if ms.is_empty() {
            return Err(Status::invalid_argument(
                "no matchers specified (excluding selector labels)",
            ));
        }
        let partial = partial_of(req.partial_response_strategy, req.partial_response_disabled);
        let snapshot = shard.global.endpoints.snapshot();
        let filter = StoreFilter {
            min_time: req.min_time,
            max_time: req.max_time,
            matchers: &ms,
            store_matchers: &[],
        };
        let stores = select::stores(&snapshot, &filter);
        let warnings = Warnings::default();
        let budget = Budget::new(shard.cfg.limits);
        let mut series = req.clone();
        let replica_labels = std::mem::take(&mut series.without_replica_labels);
        let skip_chunks = req.skip_chunks;
        let fan = FanoutRequest {
            series,
            replica_labels,
            partial,
            deadline: self.deadline(ctx),
            response_timeout: shard.cfg.response_timeout,
        };
        let sources = fanout::open(&shard.pool, &stores, &fan, &warnings, &budget)
            .await
            .map_err(to_status)?;
        let mut merge = Merge::new(sources, skip_chunks);
        let mut sent_warnings = 0;
        loop {
            let next = sink
                .ready_or_flush(merge.next())
                .await?
                .map_err(to_status)?;
            sent_warnings = send_warnings(sink, &warnings, sent_warnings).await?;
            let Some(s) = next else { break };
            let msg = SeriesResponse {
                result: Some(series_response::Result::Series(s)),
            };
            sink.buffer(&msg).await?;
        }
        send_warnings(sink, &warnings, sent_warnings).await?;
        Ok(())
    }

    async fn label_names(
        &self,
        request: Bytes,
        ctx: &CallContext,
    ) -> Result<LabelNamesResponse, Status> {
        let req: LabelNamesRequest = decode_request(request)?;
        let partial = partial_of(req.partial_response_strategy, req.partial_response_disabled);
        let (start, end) = (req.start, req.end);
        let (names, warnings) = self
            .gather(start, end, partial, ctx, |addr, timeout| {
                let pool = &self.0.pool;
                let req = req.clone();
                async move {
                    let r = pool.label_names(&addr, &req, timeout).await?;
                    Ok((r.names, r.warnings))
                }
            })
            .await?;
        Ok(LabelNamesResponse {
            names,
            warnings,
            hints: None,
        })
    }

    async fn label_values(
        &self,
        request: Bytes,
        ctx: &CallContext,
    ) -> Result<LabelValuesResponse, Status> {
        let req: LabelValuesRequest = decode_request(request)?;
        if req.label.is_empty() {
            return Err(Status::invalid_argument(
                "label name parameter cannot be empty",
            ));
        }
        let partial = partial_of(req.partial_response_strategy, req.partial_response_disabled);
        let (start, end) = (req.start, req.end);
        let (values, warnings) = self
            .gather(start, end, partial, ctx, |addr, timeout| {
                let pool = &self.0.pool;
                let req = req.clone();
                async move {
                    let r = pool.label_values(&addr, &req, timeout).await?;
                    Ok((r.values, r.warnings))
                }
            })
            .await?;
        Ok(LabelValuesResponse {
            values,
            warnings,
            hints: None,
        })
    }

    /// Asks every store in the time range and unions the sorted answers.
    async fn gather<F, Fut>(
        &self,
        start: i64,
        end: i64,
        partial: Partial,
        ctx: &CallContext,
        call: F,
    ) -> Result<(Vec<String>, Vec<String>), Status>
    where
        F: Fn(String, std::time::Duration) -> Fut,
        Fut: std::future::Future<
            Output = Result<(Vec<String>, Vec<String>), crate::endpoint::StoreError>,
        >,
    {
        let shard = &self.0;
        let snapshot = shard.global.endpoints.snapshot();
        let filter = StoreFilter {
            min_time: start,
            max_time: end,
            ..Default::default()
        };
        let timeout = self.deadline(ctx).saturating_duration_since(Instant::now());
        let calls = select::stores(&snapshot, &filter)
            .into_iter()
            .map(|e| call(e.addr.clone(), timeout))
            .collect::<Vec<_>>();
        let mut items = std::collections::BTreeSet::new();
        let mut warnings = Vec::new();
        for r in futures_util::future::join_all(calls).await {
            match r {
                Ok((got, w)) => {
                    items.extend(got);
                    warnings.extend(w);
                }
                Err(e) if partial == Partial::Warn => warnings.push(e.to_string()),
                Err(e) => return Err(Status::new(Code::Aborted, e.to_string())),
            }
        }
        Ok((items.into_iter().collect(), warnings))
    }
}

fn to_status(e: crate::endpoint::StoreError) -> Status {
    match e.status.code {
        Code::Aborted | Code::ResourceExhausted => e.status,
        _ => Status::new(Code::Aborted, e.to_string()),
    }
}

/// Sends the warnings gathered since `sent` as warning frames.
async fn send_warnings(sink: &mut Sink, warnings: &Warnings, sent: usize) -> Result<usize, Status> {
    let pending: Vec<String> = warnings.borrow().iter().skip(sent).cloned().collect();
    for w in &pending {
        let msg = SeriesResponse {
            result: Some(series_response::Result::Warning(w.clone())),
        };
        sink.send(&msg).await?;
    }
    Ok(sent + pending.len())
}

/// Serves the querier's gRPC API on `listener` (one shard) until the
/// process ends.
pub async fn serve(listener: crate::rt::Listener, shard: Rc<Shard>) {
    let service: Rc<dyn Service> = Rc::new(ProxyService(shard));
    loop {
        match listener.accept().await {
            Ok(s) => crate::rt::spawn(crate::grpc::serve_connection(s, service.clone())).detach(),
            Err(_) => crate::rt::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
}
