//! `sluice sidecar`: one shard per core, each serving the StoreAPI on
//! `--grpc-address` and the probes on `--http-address` (SO_REUSEPORT), and
//! on shard 0 the watcher of Prometheus (Thanos v0.31
//! `cmd/thanos/sidecar.go`, `runSidecar`):
//!
//! 1. Prometheus's version is read from `/api/v1/status/buildinfo`, retried
//!    every 2 s until it answers (it picks the label API calls).
//! 2. Its external labels are read from `/api/v1/status/config`, retried
//!    every 2 s. The first success makes the sidecar ready (Info's `store`
//!    part appears, `/-/ready` answers 200, `thanos_sidecar_prometheus_up`
//!    is 1). No external labels at all ends the process with Thanos's
//!    message.
//! 3. Every `--prometheus.get_config_interval` (the first time at once) the
//!    configuration is read again within `--prometheus.get_config_timeout`:
//!    a failure makes the sidecar not ready until the next success, and a
//!    success takes up changed external labels.
//!
//! The gRPC and HTTP servers start at once; calls made before Prometheus
//! answers go to Prometheus anyway and fail or succeed as it does.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use crate::flags::sidecar::SidecarConfig;
use crate::promclient::{api, Client, PromUrl};
use crate::store::prometheus::{Meta, PromStore};
use crate::store::sidecar::{SidecarService, SidecarState};
use crate::{log, rt};

/// Thanos's start-up error when Prometheus has no external labels.
pub const NO_EXTERNAL_LABELS: &str = "no external labels configured on Prometheus server, uniquely identifying external labels must be configured; see https://thanos.io/tip/thanos/storage.md#external-labels for details.";

/// How often start-up calls to Prometheus are retried (Thanos: 2 s).
const RETRY: Duration = Duration::from_secs(2);

/// The heartbeat settings.
#[derive(Debug, Clone, Copy)]
struct Heartbeat {
    interval: Duration,
    timeout: Duration,
}

/// Runs the sidecar until the process is stopped or Prometheus turns out
/// to have no external labels.
pub fn run(cfg: SidecarConfig) -> Result<(), String> {
    super::init_log(cfg.log_level, cfg.log_format);
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
    let url = PromUrl::parse(&cfg.prometheus_url)
        .map_err(|e| format!("invalid --prometheus.url {:?}: {e}", cfg.prometheus_url))?;
    let http = super::concrete_port(super::listen_addr(&cfg.http_address)?)?;
    let grpc = super::concrete_port(super::listen_addr(&cfg.grpc_address)?)?;
    let state = SidecarState::new(
        cfg.min_time.at(crate::time::now_ms()),
        cfg.limit_series,
        cfg.limit_samples,
    );
    let beat = Heartbeat {
        interval: cfg.get_config_interval,
        timeout: cfg.get_config_timeout,
    };
    let shards = super::shard_count(0);
    log::info(
        "starting sidecar",
        &[
            ("prometheus", &url),
            ("http", &http),
            ("grpc", &grpc),
            ("shards", &shards),
        ],
    );
    serve(Client::new(url), state, beat, (http, grpc), shards)
}

/// Starts the shards and waits until a fatal error.
fn serve(
    client: Client,
    state: Arc<SidecarState>,
    beat: Heartbeat,
    (http, grpc): (SocketAddr, SocketAddr),
    shards: usize,
) -> Result<(), String> {
    let (fatal_tx, fatal_rx) = mpsc::channel::<String>();
    let (bound_tx, bound_rx) = mpsc::channel::<Result<(), String>>();
    let handles = rt::start_shards(shards, move |i| {
        let (client, state) = (client.clone(), state.clone());
        let (bound_tx, fatal_tx) = (bound_tx.clone(), fatal_tx.clone());
        async move {
            rt::set_shard_id(i);
            let r = shard_main(http, grpc, &client, &state);
            let ok = r.is_ok();
            let _ = bound_tx.send(r);
            if ok && i == 0 {
                if let Err(e) = watch(&client, &state, beat).await {
                    let _ = fatal_tx.send(e);
                }
            }
            futures_lite::future::pending::<()>().await;
        }
    })
    .map_err(|e| e.to_string())?;
    for _ in 0..shards {
        bound_rx
            .recv()
            .map_err(|_| "a shard stopped before it was listening".to_string())??;
    }
    log::info("listening", &[("http", &http), ("grpc", &grpc)]);
    match fatal_rx.recv() {
        Ok(e) => Err(e),
        Err(_) => handles.join().map_err(|e| e.to_string()),
    }
}

/// Binds this shard's listeners and spawns its servers.
fn shard_main(
    http: SocketAddr,
    grpc: SocketAddr,
    client: &Client,
    state: &Arc<SidecarState>,
) -> Result<(), String> {
    let http_l =
        rt::Listener::bind(http).map_err(|e| format!("listen on HTTP address {http}: {e}"))?;
    let grpc_l =
        rt::Listener::bind(grpc).map_err(|e| format!("listen on gRPC address {grpc}: {e}"))?;
    let service = Rc::new(SidecarService {
        store: PromStore::new(client.clone()),
        state: state.clone(),
    });
    rt::spawn(crate::store::sidecar::serve(grpc_l, service)).detach();
    rt::spawn(crate::api::probes::serve(http_l, state.clone())).detach();
    Ok(())
}

/// Retries `f` every [`RETRY`] until it succeeds, logging each failure.
async fn retry<T, F, Fut>(msg: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, crate::grpc::Status>>,
{
    loop {
        match f().await {
            Ok(v) => return v,
            Err(e) => log::warn(msg, &[("err", &e.message)]),
        }
        rt::sleep(RETRY).await;
    }
}

/// The watcher of Prometheus (see the module docs); returns only with the
/// fatal error.
async fn watch(client: &Client, state: &SidecarState, beat: Heartbeat) -> Result<(), String> {
    let version = retry(
        "failed to fetch prometheus version. Is Prometheus running? Retrying",
        || api::build_version(client, Instant::now() + beat.timeout),
    )
    .await;
    log::info(
        "successfully loaded prometheus version",
        &[("version", &version)],
    );
    let with_matchers = api::labels_with_matchers(&version);
    let labels = retry(
        "failed to fetch initial external labels. Is Prometheus running? Retrying",
        || update(client, state, with_matchers, beat.timeout),
    )
    .await;
    let shown: Vec<String> = labels
        .iter()
        .map(|l| format!("{}={:?}", l.name, l.value))
        .collect();
    log::info(
        "successfully loaded prometheus external labels",
        &[("external_labels", &format!("{{{}}}", shown.join(", ")))],
    );
    if labels.is_empty() {
        return Err(NO_EXTERNAL_LABELS.into());
    }
    loop {
        if let Err(e) = update(client, state, with_matchers, beat.timeout).await {
            log::warn("heartbeat failed", &[("err", &e.message)]);
        }
        rt::sleep(beat.interval).await;
    }
}

/// Reads the external labels once: ready with them, or not ready.
async fn update(
    client: &Client,
    state: &SidecarState,
    with_matchers: bool,
    timeout: Duration,
) -> Result<Vec<crate::proto::thanos::Label>, crate::grpc::Status> {
    match api::external_labels(client, Instant::now() + timeout).await {
        Ok(labels) => {
            state.set_meta(Meta {
                external_labels: labels.clone(),
                min_time: state.meta().min_time,
                labels_with_matchers: with_matchers,
            });
            state.set_ready(true);
            Ok(labels)
        }
        Err(e) => {
            state.set_ready(false);
            Err(e)
        }
    }
}
