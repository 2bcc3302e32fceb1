//! Endpoint discovery end to end: a querier started with
//! `--endpoint=dnssrv+...` against a DNS server on loopback finds fake
//! sidecars, follows changes in DNS, drops a dead one, keeps the last good
//! answer when DNS fails, and shows it all on `/api/v1/stores`.

use std::future::Future;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use serde_json::Value;
use sluice::discovery::testdns::{Behavior, TestDns};
use sluice::rt;
use sluice::store::fake::FakeStore;
use sluice::testkit::{http_get_async, serve_store, start_querier, ClusterOptions};

use crate::support::{series, store};

const SRV: &str = "_grpc._tcp.sidecars.monitoring.svc.cluster.local.";

async fn stores(http: std::net::SocketAddr) -> Value {
    let r = http_get_async(http, "/api/v1/stores").await.unwrap();
    assert_eq!(r.status, 200);
    serde_json::from_slice(&r.body).unwrap()
}

/// Polls `check` until it holds, for at most 10 s.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "timed out waiting for: {what}"
        );
        rt::sleep(Duration::from_millis(100)).await;
    }
}

fn names(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v["data"]["sidecar"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| s["name"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[test]
fn dnssrv_endpoints_are_found_followed_and_dropped() {
    rt::block_on(async {
        rt::timeout(Duration::from_secs(60), async {
            let dns = TestDns::start().await.unwrap();
            let a = FakeStore::new(store(("replica", "a"), series("up", 2, 4))).unwrap();
            let b = FakeStore::new(store(("replica", "b"), series("up", 2, 4))).unwrap();
            let c = FakeStore::new(store(("replica", "c"), series("up", 2, 4))).unwrap();
            let (pa, pb, pc) = (
                serve_store(a.clone()).unwrap(),
                serve_store(b.clone()).unwrap(),
                serve_store(c).unwrap(),
            );
            let lo = [Ipv4Addr::LOCALHOST];
            dns.set_a("pod-a.sidecars.monitoring.svc.cluster.local.", &lo);
            dns.set_a("pod-b.sidecars.monitoring.svc.cluster.local.", &lo);
            dns.set_a("pod-c.sidecars.monitoring.svc.cluster.local.", &lo);
            dns.set_srv(
                SRV,
                &[
                    ("pod-a.sidecars.monitoring.svc.cluster.local.", pa.port()),
                    ("pod-b.sidecars.monitoring.svc.cluster.local.", pb.port()),
                ],
            );
            let opts = ClusterOptions {
                dynamic_endpoints: vec![format!("dnssrv+{}", SRV.trim_end_matches('.'))],
                resolv_conf: Some(dns.resolv_conf()),
                unhealthy_timeout: Duration::from_secs(2),
                ..Default::default()
            };
            let http = start_querier(&[], opts).await.unwrap().http;

            // Found: both SRV targets, with their external labels.
            let v = stores(http).await;
            let mut want = vec![pa.to_string(), pb.to_string()];
            want.sort();
            assert_eq!(names(&v), want, "{v}");
            let first = v["data"]["sidecar"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["name"] == pa.to_string())
                .unwrap();
            assert!(first["lastError"].is_null());
            assert_eq!(first["labelSets"][0]["replica"], "a");
            assert_eq!(first["maxTime"], i64::MAX);

            // Followed: a third pod appears in DNS.
            dns.set_srv(
                SRV,
                &[
                    ("pod-a.sidecars.monitoring.svc.cluster.local.", pa.port()),
                    ("pod-b.sidecars.monitoring.svc.cluster.local.", pb.port()),
                    ("pod-c.sidecars.monitoring.svc.cluster.local.", pc.port()),
                ],
            );
            eventually("the third sidecar", || async {
                names(&stores(http).await).len() == 3
            })
            .await;
            let r = http_get_async(http, "/api/v1/label/replica/values")
                .await
                .unwrap();
            assert_eq!(
                serde_json::from_slice::<Value>(&r.body).unwrap()["data"],
                serde_json::json!(["a", "b", "c"])
            );

            // DNS fails: the last good answer stays.
            dns.set_behavior(Behavior::ServFail);
            rt::sleep(Duration::from_millis(800)).await;
            assert_eq!(names(&stores(http).await).len(), 3);
            dns.set_behavior(Behavior::Answer);

            let m = http_get_async(http, "/metrics").await.unwrap().text();
            assert!(
                m.contains("thanos_query_endpoints_dns_failures_total "),
                "{m}"
            );
            assert!(
                !m.contains("thanos_query_endpoints_dns_lookups_total 0\n"),
                "{m}"
            );

            // Dead: store b fails its health checks. It leaves the query
            // path at once but stays listed with its error...
            b.set_down(true);
            eventually("b's error", || async {
                let v = stores(http).await;
                v["data"]["sidecar"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|s| s["name"] == pb.to_string() && !s["lastError"].is_null())
            })
            .await;
            let r = http_get_async(http, "/api/v1/label/replica/values")
                .await
                .unwrap();
            let v: Value = serde_json::from_slice(&r.body).unwrap();
            assert_eq!(v["data"], serde_json::json!(["a", "c"]), "{v}");
            assert!(
                v.get("warnings").is_none(),
                "an unhealthy store is not asked: {v}"
            );
            // ...until --store.unhealthy-timeout (2 s here) forgets it.
            eventually("b forgotten", || async {
                names(&stores(http).await).len() == 2
            })
            .await;

            // Gone from DNS: dropped at the next refresh.
            dns.set_srv(
                SRV,
                &[("pod-c.sidecars.monitoring.svc.cluster.local.", pc.port())],
            );
            eventually("only c left", || async {
                names(&stores(http).await) == vec![pc.to_string()]
            })
            .await;
            drop(a);
        })
        .await
        .expect("discovery test ran past 60 s");
    })
    .unwrap();
}
