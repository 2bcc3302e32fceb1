//! The endpoint set: which stores exist, what each announced in Info, and
//! whether it may be queried (Thanos v0.31 `pkg/query/endpointset.go`).
//!
//! One task (on shard 0) owns the set: every 5 s it takes the current
//! address list (static, strict and discovered), calls
//! `thanos.info.Info/Info` on every address at once with
//! `--endpoint.info-timeout` (falling back to `thanos.Store/Info` for peers
//! that lack the Info service), and publishes an immutable [`Snapshot`].
//! Shards read the latest snapshot without a lock (`arc-swap`).
//!
//! Rules, as Thanos v0.31 has them:
//! - a new address whose first Info fails is not added (unless strict);
//! - an endpoint is queryable iff it is strict or its last Info succeeded;
//! - an endpoint whose last success is older than `--store.unhealthy-timeout`
//!   (and that exists for longer than that) is removed; strict ones never;
//! - an address that disappears from the list is removed at the next update;
//! - on a failed Info the previous metadata is kept; a strict endpoint that
//!   never answered is assumed to be a store over all time with no labels.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use super::Pool;
use crate::grpc::Code;
use crate::proto::paths;
use crate::proto::thanos::{
    info::InfoResponse, InfoRequest as StoreInfoRequest, InfoResponse as StoreInfoResponse, Label,
    StoreType,
};
use crate::rt;

/// The refresh period (hard-coded in Thanos).
pub const REFRESH: Duration = Duration::from_secs(5);

/// The compatibility label set Thanos stores may announce; it is dropped.
const COMPAT_LABEL: &str = "@thanos_compatibility_store_type";

/// What one endpoint is known to be.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub addr: String,
    pub strict: bool,
    /// `sidecar`, `query`, `store`, ...; `None` until Info first succeeds.
    pub component: Option<String>,
    pub label_sets: Vec<Vec<Label>>,
    pub min_time: i64,
    pub max_time: i64,
    /// Whether the StoreAPI is offered (Info had a `store` part).
    pub has_store: bool,
    pub supports_without_replica_labels: bool,
    /// When Info last succeeded (ms since the epoch).
    pub last_check: Option<i64>,
    pub last_error: Option<String>,
    /// When this endpoint was first seen (ms since the epoch).
    pub created: i64,
}

impl Endpoint {
    fn new(addr: &str, strict: bool, now: i64) -> Endpoint {
        Endpoint {
            addr: addr.to_string(),
            strict,
            component: None,
            label_sets: Vec::new(),
            min_time: i64::MIN,
            max_time: i64::MAX,
            has_store: strict,
            supports_without_replica_labels: false,
            last_check: None,
            last_error: None,
            created: now,
        }
    }

    /// Whether queries may use this endpoint's StoreAPI.
    pub fn queryable(&self) -> bool {
        self.has_store && (self.strict || (self.last_error.is_none() && self.last_check.is_some()))
    }

    /// Thanos's store ID in warnings: the label sets as text.
    pub fn id(&self) -> String {
        self.label_sets
            .iter()
            .map(|ls| {
                let inner: Vec<String> = ls
                    .iter()
                    .map(|l| format!("{}={:?}", l.name, l.value))
                    .collect();
                format!("{{{}}}", inner.join(", "))
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    fn apply_info(&mut self, info: InfoResponse, now: i64) {
        self.component = Some(info.component_type);
        self.label_sets = clean_label_sets(info.label_sets.into_iter().map(|s| s.labels).collect());
        match info.store {
            Some(s) => {
                self.has_store = true;
                self.min_time = s.min_time;
                self.max_time = s.max_time;
                self.supports_without_replica_labels = s.supports_without_replica_labels;
            }
            None => {
                self.has_store = false;
            }
        }
        self.last_check = Some(now);
        self.last_error = None;
    }
}

fn clean_label_sets(sets: Vec<Vec<Label>>) -> Vec<Vec<Label>> {
    sets.into_iter()
        .filter(|s| s.first().is_none_or(|l| l.name != COMPAT_LABEL))
        .map(|mut s| {
            crate::labels::sort(&mut s);
            s
        })
        .collect()
}

/// The legacy `thanos.Store/Info` answer as an Info answer (Thanos's
/// mapping of store types to components).
fn from_legacy(r: StoreInfoResponse) -> InfoResponse {
    let component = match StoreType::try_from(r.store_type) {
        Ok(StoreType::Query) => "query",
        Ok(StoreType::Rule) => "rule",
        Ok(StoreType::Sidecar) => "sidecar",
        Ok(StoreType::Store) => "store",
        Ok(StoreType::Receive) => "receive",
        Ok(StoreType::Debug) => "debug",
        _ => "unknown-store-api",
    };
    let mut sets = r.label_sets;
    if sets.is_empty() && !r.labels.is_empty() {
        sets.push(crate::proto::thanos::ZLabelSet { labels: r.labels });
    }
    InfoResponse {
        label_sets: sets,
        component_type: component.into(),
        store: Some(crate::proto::thanos::info::StoreInfo {
            min_time: r.min_time,
            max_time: r.max_time,
            supports_sharding: false,
            supports_without_replica_labels: false,
        }),
        ..Default::default()
    }
}

/// An immutable view of the endpoint set.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    pub endpoints: Vec<Endpoint>,
}

impl Snapshot {
    /// Endpoints whose StoreAPI queries may use.
    pub fn queryable(&self) -> impl Iterator<Item = &Endpoint> {
        self.endpoints.iter().filter(|e| e.queryable())
    }
}

/// Settings of the refresh loop.
#[derive(Debug, Clone)]
pub struct SetOptions {
    pub info_timeout: Duration,
    pub unhealthy_timeout: Duration,
    /// How often to refresh ([`REFRESH`], as Thanos; tests go faster).
    pub refresh: Duration,
}

/// The shared, lock-free-to-read endpoint set.
#[derive(Debug)]
pub struct EndpointSet {
    current: ArcSwap<Snapshot>,
    opts: SetOptions,
}

impl EndpointSet {
    pub fn new(opts: SetOptions) -> Arc<EndpointSet> {
        Arc::new(EndpointSet {
            current: ArcSwap::from_pointee(Snapshot::default()),
            opts,
        })
    }

    /// The latest snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// One refresh: `specs` is the wanted address list with strictness.
    pub async fn update(&self, pool: &Pool, specs: &[(String, bool)]) {
        let now = crate::time::now_ms();
        let old = self.snapshot();
        let checks = specs.iter().map(|(addr, strict)| {
            let prev = old.endpoints.iter().find(|e| &e.addr == addr).cloned();
            async move {
                let mut ep = prev.unwrap_or_else(|| Endpoint::new(addr, *strict, now));
                ep.strict = *strict;
                let known = ep.last_check.is_some() || ep.strict;
                match info(pool, addr, self.opts.info_timeout).await {
                    Ok(r) => {
                        ep.apply_info(r, now);
                        Some(ep)
                    }
                    Err(e) => {
                        ep.last_error = Some(e);
                        // A new, non-strict endpoint whose first Info fails is
                        // not added; it is tried again on the next refresh.
                        known.then_some(ep)
                    }
                }
            }
        });
        let mut endpoints: Vec<Endpoint> = futures_util::future::join_all(checks)
            .await
            .into_iter()
            .flatten()
            .collect();
        let limit = self.opts.unhealthy_timeout.as_millis() as i64;
        endpoints.retain(|e| {
            if e.strict {
                return true;
            }
            let last_ok = e.last_check.unwrap_or(e.created);
            !(now - last_ok > limit && now - e.created > limit)
        });
        for e in &endpoints {
            if !old.endpoints.iter().any(|o| o.addr == e.addr) {
                crate::log::info(
                    "adding new endpoint to query endpoint set",
                    &[("address", &e.addr)],
                );
            }
        }
        for o in &old.endpoints {
            if !endpoints.iter().any(|e| e.addr == o.addr) {
                crate::log::info(
                    "removing endpoint because it's unhealthy or does not exist",
                    &[("address", &o.addr)],
                );
            }
        }
        self.current.store(Arc::new(Snapshot { endpoints }));
    }

    /// Refreshes every `refresh` forever (the first one after one period),
    /// taking the address list from `specs` each time.
    pub async fn run(self: Arc<Self>, pool: Pool, specs: impl Fn() -> Vec<(String, bool)>) {
        loop {
            rt::sleep(self.opts.refresh).await;
            self.update(&pool, &specs()).await;
        }
    }
}

/// Info, with the fallback to the legacy Store Info.
async fn info(pool: &Pool, addr: &str, timeout: Duration) -> Result<InfoResponse, String> {
    match pool.info(addr, timeout).await {
        Ok(r) => Ok(r),
        Err(e) if e.status.code == Code::Unimplemented => pool
            .unary_call::<_, StoreInfoResponse>(
                addr,
                paths::STORE_INFO,
                &StoreInfoRequest {},
                timeout,
            )
            .await
            .map(from_legacy)
            .map_err(|e| e.status.to_string()),
        Err(e) => Err(e.status.to_string()),
    }
}
