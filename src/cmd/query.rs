//! `sluice query`: start one shard per core, each with its own HTTP and gRPC
//! listeners (SO_REUSEPORT), and serve until the process is stopped.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};

use crate::api::{self, ApiConfig, Global};
use crate::endpoint::control::{control_plane, Discovery};
use crate::endpoint::set::{EndpointSet, SetOptions};
use crate::fanout::Limits;
use crate::flags::query::QueryConfig;
use crate::{log, rt};

/// Extra work a shard runs beside the querier (the demo's fake stores).
pub type ShardExtra = Arc<dyn Fn(usize) -> Result<(), String> + Send + Sync>;

/// Runs the querier until the process is stopped.
pub fn run(cfg: QueryConfig) -> Result<(), String> {
    super::init_log(cfg.log_level, cfg.log_format);
    start(cfg, None)
}

/// Starts the querier; `extra` runs first on every shard.
pub fn start(cfg: QueryConfig, extra: Option<ShardExtra>) -> Result<(), String> {
    crate::metrics::init();
    for name in &cfg.not_yet_supported {
        log::warn(
            "flag is accepted but not yet supported by Sluice; it has no effect",
            &[("flag", name)],
        );
    }
    for (name, why) in &cfg.ignored {
        log::info(
            "flag is accepted and ignored",
            &[("flag", name), ("reason", why)],
        );
    }
    let http = super::concrete_port(super::listen_addr(&cfg.http_address)?)?;
    let grpc = super::concrete_port(super::listen_addr(&cfg.grpc_address)?)?;
    let shards = super::shard_count(cfg.cores);
    let endpoints = EndpointSet::new(SetOptions {
        info_timeout: cfg.info_timeout,
        unhealthy_timeout: cfg.unhealthy_timeout,
        refresh: crate::endpoint::set::REFRESH,
    });
    let global = Arc::new(Global {
        cfg: ApiConfig {
            replica_labels: cfg.replica_labels.clone(),
            response_timeout: cfg.store_response_timeout,
            limits: Limits {
                series: cfg.limit_series,
                samples: cfg.limit_samples,
                bytes: cfg.limit_bytes,
            },
            dedup: if cfg.dedup_chain {
                crate::dedup::Mode::Chain
            } else {
                crate::dedup::Mode::Penalty
            },
            lookback_delta: cfg.lookback_delta.unwrap_or_default(),
            max_samples: cfg.max_samples as usize,
            default_step: cfg.default_step,
            default_evaluation_interval: cfg.default_evaluation_interval,
            max_concurrent: cfg.max_concurrent as usize,
            query_timeout: cfg.query_timeout,
            partial_response: cfg.partial_response,
            disable_cors: cfg.disable_cors,
            metadata_default_range: cfg.metadata_default_time_range,
            flags: cfg.flags_map.clone(),
        },
        ready: AtomicBool::new(false),
        endpoints,
    });
    log::info(
        "starting query node",
        &[
            ("http", &http),
            ("grpc", &grpc),
            ("shards", &shards),
            ("endpoints", &cfg.endpoints.join(",")),
            ("replica_labels", &cfg.replica_labels.join(",")),
        ],
    );
    let (bound_tx, bound_rx) = mpsc::channel::<Result<usize, String>>();
    let g = global.clone();
    let discovery = Arc::new(Discovery {
        endpoints: cfg.endpoints.clone(),
        strict: cfg.strict_endpoints.clone(),
        sd_files: cfg.sd_files.clone(),
        sd_interval: cfg.sd_interval,
        dns_interval: cfg.sd_dns_interval,
        resolv_conf: None,
    });
    let handles = rt::start_shards(shards, move |i| {
        let g = g.clone();
        let bound_tx = bound_tx.clone();
        let extra = extra.clone();
        let discovery = discovery.clone();
        async move {
            rt::set_shard_id(i);
            let r = shard_main(i, http, grpc, g.clone(), extra);
            let ok = r.is_ok();
            if ok && i == 0 {
                // Shard 0 is the control plane: discovery and the endpoint
                // set live here; other shards read its snapshots.
                control_plane(&discovery, g.endpoints.clone()).await;
            }
            let _ = bound_tx.send(r.map(|()| i));
            if ok {
                // Serve until the process ends.
                futures_lite::future::pending::<()>().await;
            }
        }
    })
    .map_err(|e| e.to_string())?;
    for _ in 0..shards {
        match bound_rx.recv() {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err("a shard stopped before it was listening".into()),
        }
    }
    global.ready.store(true, Ordering::Release);
    log::info(
        "listening",
        &[("http", &http), ("grpc", &grpc), ("shards", &shards)],
    );
    handles.join().map_err(|e| e.to_string())
}

/// Binds this shard's listeners and spawns its servers.
fn shard_main(
    i: usize,
    http: SocketAddr,
    grpc: SocketAddr,
    global: Arc<Global>,
    extra: Option<ShardExtra>,
) -> Result<(), String> {
    if let Some(extra) = extra {
        extra(i)?;
    }
    let shard = api::Shard::new(global);
    let http_l =
        rt::Listener::bind(http).map_err(|e| format!("listen on HTTP address {http}: {e}"))?;
    let grpc_l =
        rt::Listener::bind(grpc).map_err(|e| format!("listen on gRPC address {grpc}: {e}"))?;
    rt::spawn(api::serve(http_l, shard.clone())).detach();
    rt::spawn(crate::store::proxy::serve(grpc_l, shard)).detach();
    Ok(())
}
