//! `sluice demo`: the querier over an in-process HA pair of fake sidecars
//! (see [`crate::demo`]), all on loopback. What a newcomer runs first.

use std::sync::Arc;

use crate::flags::demo::DemoConfig;
use crate::store::fake::{self, FakeStore};
use crate::{demo, log, rt};

/// Builds the data, starts the stores on every shard, then the querier.
pub fn run(cfg: DemoConfig) -> Result<(), String> {
    super::init_log(cfg.log_level, cfg.log_format);
    let now = crate::time::now_ms();
    let history = cfg.history.as_millis() as i64;
    let tables = demo::ha_pair(now, history, cfg.series as usize);
    let mut stores = Vec::new();
    for (table, addr) in tables.into_iter().zip(cfg.store_addresses.iter()) {
        let sock = super::listen_addr(addr)?;
        stores.push((sock, FakeStore::new(table)?));
    }
    let samples: usize =
        stores.len() * cfg.series as usize * 13 * (history / demo::SCRAPE_MS) as usize;
    log::info(
        "demo data ready",
        &[("stores", &stores.len()), ("approx_samples", &samples)],
    );
    let stores = Arc::new(stores);
    let extra: super::query::ShardExtra = Arc::new(move |_shard| {
        for (sock, store) in stores.iter() {
            let l = rt::Listener::bind(*sock)
                .map_err(|e| format!("listen on fake store address {sock}: {e}"))?;
            rt::spawn(fake::serve(l, store.clone())).detach();
        }
        Ok(())
    });
    // The demo querier is exactly `sluice query` with these flags.
    let mut args = vec![
        "sluice".to_string(),
        "query".to_string(),
        format!("--http-address={}", cfg.http_address),
        format!("--grpc-address={}", cfg.grpc_address),
        format!("--query.replica-label={}", demo::REPLICA_LABEL),
        format!("--runtime.cores={}", cfg.cores),
        format!("--log.level={}", cfg.log_level.as_str()),
        format!("--log.format={}", cfg.log_format.as_str()),
    ];
    args.extend(
        cfg.store_addresses
            .iter()
            .map(|a| format!("--endpoint={a}")),
    );
    let q = match crate::flags::command::parse_command(&args).map_err(|e| e.to_string())? {
        crate::flags::command::Command::Query(q) => *q,
        _ => return Err("internal: the demo's query flags did not parse as a query".into()),
    };
    print_banner(&cfg);
    super::query::start(q, Some(extra))
}

fn print_banner(cfg: &DemoConfig) {
    let http = &cfg.http_address;
    println!(
        "sluice demo: a querier on http://{http} over {n} fake sidecars ({stores}),\n\
         an HA pair told apart by the external label replica=\"a\"/\"b\".\n\n\
         Try:\n\
         \x20 curl -s 'http://{http}/api/v1/series?match[]=up&dedup=false'   (both replicas)\n\
         \x20 curl -s 'http://{http}/api/v1/series?match[]=up'                (deduplicated)\n\
         \x20 curl -s 'http://{http}/api/v1/labels'\n\
         \x20 curl -s 'http://{http}/api/v1/label/replica/values'\n\
         \x20 curl -gs 'http://{http}/api/v1/query?query=sum+by+(code)+(rate(http_requests_total[5m]))'\n\
         \x20 curl -gs 'http://{http}/api/v1/query?query=up[1m]&dedup=false'\n\
         \x20 curl -s 'http://{http}/api/v1/stores'\n\
         \x20 curl -s 'http://{http}/api/v1/status/buildinfo'\n\
         \x20 curl -s 'http://{http}/metrics'\n",
        n = cfg.store_addresses.len(),
        stores = cfg.store_addresses.join(", "),
    );
}
