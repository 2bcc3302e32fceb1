//! The control plane of the endpoint set, run on shard 0: DNS and file
//! discovery feed the address list, the endpoint set polls Info on it every
//! 5 s, and every shard reads the resulting snapshots.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use super::set::EndpointSet;
use super::Pool;
use crate::discovery::{FileSd, Provider, ResolvConf, Resolver};
use crate::{log, rt};

/// Where endpoint addresses come from.
#[derive(Debug, Clone)]
pub struct Discovery {
    /// `--endpoint` and `--store` (static or `dns+`/`dnssrv+`/...).
    pub endpoints: Vec<String>,
    /// `--endpoint-strict` and `--store-strict`.
    pub strict: Vec<String>,
    /// `--store.sd-files`.
    pub sd_files: Vec<String>,
    /// `--store.sd-interval`.
    pub sd_interval: Duration,
    /// `--store.sd-dns-interval`.
    pub dns_interval: Duration,
    /// The resolver configuration; `None` reads `/etc/resolv.conf` on every
    /// lookup, as Thanos does.
    pub resolv_conf: Option<ResolvConf>,
}

/// Starts DNS and file discovery and the endpoint refresh loop on this
/// shard; returns after the first refresh, so the querier is ready with its
/// stores known (as Thanos v0.40+ does; v0.31 did not wait).
pub async fn control_plane(d: &Discovery, set: Arc<EndpointSet>) {
    let interval = if d.dns_interval.is_zero() {
        crate::discovery::provider::DEFAULT_INTERVAL
    } else {
        d.dns_interval
    };
    let resolver = match &d.resolv_conf {
        Some(conf) => Resolver::from_conf(conf.clone()),
        None => Resolver::system(),
    };
    let provider = Rc::new(Provider::new(resolver, d.endpoints.clone(), interval));
    if let Err(e) = provider.refresh().await {
        log::error("failed to resolve addresses for endpoints", &[("err", &e)]);
    }
    {
        let p = provider.clone();
        rt::spawn(async move { p.run().await }).detach();
    }
    if !d.sd_files.is_empty() {
        let p = provider.clone();
        let files = FileSd::new(d.sd_files.clone());
        let every = d.sd_interval;
        rt::spawn(async move {
            files
                .run(&p, every, crate::discovery::file_sd::DEFAULT_POLL)
                .await
        })
        .detach();
    }
    let strict = d.strict.clone();
    let specs = move || {
        let mut v: Vec<(String, bool)> = strict.iter().map(|a| (a.clone(), true)).collect();
        for a in provider.addresses() {
            if !v.iter().any(|(x, _)| *x == a) {
                v.push((a, false));
            }
        }
        v
    };
    let pool = Pool::new();
    set.update(&pool, &specs()).await;
    rt::spawn(async move { set.run(pool, specs).await }).detach();
}
