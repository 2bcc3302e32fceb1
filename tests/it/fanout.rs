//! Fan-out behaviour that must match Thanos: replica-label dedup on the
//! series API, partial response with failing, hanging and garbage-sending
//! stores (each bounded in time), limits, and a property check of the
//! merge against a plain sorted union.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use serde_json::Value;
use sluice::grpc::{Code, Status};
use sluice::store::fake::{Behaviour, FakeSeries, Table};
use sluice::testkit::{Cluster, ClusterOptions};

use crate::support::{ls, series, store};

fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("invalid JSON ({e}): {}", String::from_utf8_lossy(body)))
}

fn replica_opts() -> ClusterOptions {
    ClusterOptions {
        replica_labels: vec!["replica".into()],
        ..Default::default()
    }
}

#[test]
fn series_dedup_removes_replica_labels() {
    let tables = vec![
        store(("replica", "a"), series("up", 3, 20)),
        store(("replica", "b"), series("up", 3, 20)),
    ];
    let c = Cluster::start(tables, replica_opts()).unwrap();
    let v = json(&c.get("/api/v1/series?match[]=up").unwrap().body);
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 3, "{v}");
    assert!(data.iter().all(|s| s.get("replica").is_none()), "{v}");
    let v = json(&c.get("/api/v1/series?match[]=up&dedup=false").unwrap().body);
    assert_eq!(v["data"].as_array().unwrap().len(), 6, "{v}");
    // replicaLabels[] replaces the flag's list.
    let v = json(
        &c.get("/api/v1/series?match[]=up&replicaLabels[]=instance")
            .unwrap()
            .body,
    );
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 2, "{v}");
    assert!(data
        .iter()
        .all(|s| s.get("instance").is_none() && s.get("replica").is_some()));
}

#[test]
fn stores_without_replica_label_support_are_stripped_and_resorted() {
    // The replica label is a series label (not external) and sorts before
    // others, and the stores cannot strip it: stripping breaks the order,
    // which only a re-sort repairs (Thanos issue #6257).
    let mk = |r: &str| Table {
        series: (0..50)
            .map(|i| FakeSeries {
                labels: ls(&[
                    ("__name__", "m"),
                    ("a_replica", r),
                    ("z", &format!("{:03}", 49 - i)),
                ]),
                samples: vec![(0, 1.0)],
            })
            .collect(),
        supports_without_replica_labels: false,
        ..Default::default()
    };
    let opts = ClusterOptions {
        replica_labels: vec!["a_replica".into()],
        ..Default::default()
    };
    let c = Cluster::start(vec![mk("1"), mk("2")], opts).unwrap();
    let v = json(&c.get("/api/v1/series?match[]=m").unwrap().body);
    let zs: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["z"].as_str().unwrap())
        .collect();
    let want: Vec<String> = (0..50).map(|i| format!("{i:03}")).collect();
    assert_eq!(zs, want, "one series per z, in order");
}

fn with_behaviour(b: Behaviour) -> Vec<Table> {
    let mut bad = store(("replica", "b"), series("up", 5, 5));
    bad.behaviour = b;
    vec![store(("replica", "a"), series("up", 5, 5)), bad]
}

/// Runs the series query under WARN and ABORT; returns (warn body, abort
/// response status and body), checking each took less than `bound`.
fn warn_and_abort(c: &Cluster, bound: Duration) -> (Value, u16, Value) {
    let t = Instant::now();
    let r = c.get("/api/v1/series?match[]=up&dedup=false").unwrap();
    assert!(t.elapsed() < bound, "WARN took {:?}", t.elapsed());
    assert_eq!(r.status, 200, "{}", r.text());
    let warn = json(&r.body);
    let t = Instant::now();
    let r = c
        .get("/api/v1/series?match[]=up&dedup=false&partial_response=false")
        .unwrap();
    assert!(t.elapsed() < bound, "ABORT took {:?}", t.elapsed());
    (warn, r.status, json(&r.body))
}

#[test]
fn failing_store_mid_stream() {
    let b = Behaviour {
        fail_after_frames: Some(2),
        fail_status: Some(Status::new(Code::Internal, "disk on fire")),
        ..Default::default()
    };
    let c = Cluster::start(with_behaviour(b), ClusterOptions::default()).unwrap();
    let (warn, status, abort) = warn_and_abort(&c, Duration::from_secs(5));
    // The good store's five series and the bad one's first two.
    assert_eq!(warn["data"].as_array().unwrap().len(), 7, "{warn}");
    let w = warn["warnings"][0].as_str().unwrap();
    assert!(
        w.starts_with("receive series from 127.0.0.1:") && w.contains("disk on fire"),
        "{w}"
    );
    assert_eq!(status, 422, "{abort}");
    assert_eq!(abort["errorType"], "execution");
    assert!(
        abort["error"].as_str().unwrap().contains("disk on fire"),
        "{abort}"
    );
}

#[test]
fn garbage_sending_store() {
    let b = Behaviour {
        garbage_after_frames: Some(1),
        ..Default::default()
    };
    let c = Cluster::start(with_behaviour(b), ClusterOptions::default()).unwrap();
    let (warn, status, abort) = warn_and_abort(&c, Duration::from_secs(5));
    assert_eq!(warn["data"].as_array().unwrap().len(), 6, "{warn}");
    assert!(
        warn["warnings"][0].as_str().unwrap().contains("unmarshal"),
        "{warn}"
    );
    assert_eq!(status, 422, "{abort}");
}

#[test]
fn hanging_store_is_bounded_by_the_response_timeout() {
    let b = Behaviour {
        delay_per_frame: Duration::from_secs(30),
        ..Default::default()
    };
    let opts = ClusterOptions {
        response_timeout: Duration::from_millis(500),
        ..Default::default()
    };
    let c = Cluster::start(with_behaviour(b), opts).unwrap();
    let (warn, status, abort) = warn_and_abort(&c, Duration::from_secs(5));
    assert_eq!(warn["data"].as_array().unwrap().len(), 5, "{warn}");
    let w = warn["warnings"][0].as_str().unwrap();
    assert!(
        w.starts_with("failed to receive any data in 500ms from 127.0.0.1:"),
        "{w}"
    );
    assert_eq!(status, 422, "{abort}");
}

#[test]
fn hanging_store_is_bounded_by_the_query_timeout() {
    // A stalled store never answers Info, so it would never join the
    // endpoint set; as a strict endpoint it is queried anyway. It runs on an
    // executor of its own, outside the cluster.
    let mut tables = with_behaviour(Behaviour::default());
    tables.truncate(1);
    let stalled = {
        let mut t = store(("replica", "b"), series("up", 5, 5));
        t.behaviour.stall = Duration::from_secs(30);
        sluice::store::fake::FakeStore::new(t).unwrap()
    };
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let th = std::thread::spawn(move || {
        sluice::rt::block_on(async move {
            let a = sluice::testkit::serve_store(stalled).unwrap();
            addr_tx.send(a).unwrap();
            while !stop2.load(std::sync::atomic::Ordering::Acquire) {
                sluice::rt::sleep(Duration::from_millis(20)).await;
            }
        })
        .unwrap();
    });
    let stalled_addr = addr_rx.recv().unwrap();
    let opts = ClusterOptions {
        query_timeout: Duration::from_secs(1),
        extra_endpoints: vec![stalled_addr.to_string()],
        extra_strict: true,
        ..Default::default()
    };
    let c = Cluster::start(tables, opts).unwrap();
    let (warn, status, _abort) = warn_and_abort(&c, Duration::from_secs(5));
    assert_eq!(warn["data"].as_array().unwrap().len(), 5, "{warn}");
    assert!(
        warn["warnings"][0]
            .as_str()
            .unwrap()
            .contains(&stalled_addr.to_string()),
        "{warn}"
    );
    assert_eq!(status, 422);
    drop(c);
    stop.store(true, std::sync::atomic::Ordering::Release);
    th.join().unwrap();
}

#[test]
fn series_limit_is_a_clear_error() {
    let opts = ClusterOptions {
        limits: sluice::fanout::Limits {
            series: 4,
            ..Default::default()
        },
        ..Default::default()
    };
    let c = Cluster::start(vec![store(("replica", "a"), series("up", 10, 5))], opts).unwrap();
    let r = c.get("/api/v1/series?match[]=up").unwrap();
    assert_eq!(r.status, 422, "{}", r.text());
    let v = json(&r.body);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("limit 4 violated (got 5)"),
        "{v}"
    );
    // `limit` cuts the answer with a warning. Fetching stops one series
    // past the limit plus one head in the merge, inside the series limit.
    let v = json(&c.get("/api/v1/series?match[]=up&limit=2").unwrap().body);
    assert_eq!(v["data"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(v["warnings"][0], "results truncated due to limit");
}

fn table_strategy() -> impl Strategy<Value = Vec<Vec<(u8, u8)>>> {
    // Up to 4 stores, each with up to 30 series named by two small numbers.
    prop::collection::vec(prop::collection::vec((0u8..6, 0u8..6), 0..30), 1..5)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// The merged series list equals the sorted, deduplicated union of the
    /// stores' series, whatever is spread over which store.
    #[test]
    fn merge_equals_sorted_union(stores in table_strategy()) {
        let mut want: Vec<(String, String)> = Vec::new();
        let tables: Vec<Table> = stores.iter().map(|ss| {
            let series = ss.iter().map(|(x, y)| {
                want.push((format!("{x}"), format!("{y}")));
                FakeSeries { labels: ls(&[("__name__", "m"), ("x", &format!("{x}")), ("y", &format!("{y}"))]), samples: vec![(0, 0.0)] }
            }).collect();
            Table { series, ..Default::default() }
        }).collect();
        want.sort();
        want.dedup();
        let c = Cluster::start(tables, ClusterOptions::default()).unwrap();
        let v = json(&c.get("/api/v1/series?match[]=m").unwrap().body);
        let got: Vec<(String, String)> = v["data"].as_array().unwrap().iter()
            .map(|s| (s["x"].as_str().unwrap().to_string(), s["y"].as_str().unwrap().to_string())).collect();
        prop_assert_eq!(got, want);
    }
}

#[test]
fn a_querier_is_a_store_for_another_querier() {
    let tables = vec![
        store(("replica", "a"), series("up", 3, 20)),
        store(("replica", "b"), series("up", 3, 20)),
    ];
    let leaf = Cluster::start(tables, ClusterOptions::default()).unwrap();
    let opts = ClusterOptions {
        extra_endpoints: vec![leaf.grpc.to_string()],
        replica_labels: vec!["replica".into()],
        ..Default::default()
    };
    let global = Cluster::start(Vec::new(), opts).unwrap();
    let v = json(&global.get("/api/v1/stores").unwrap().body);
    let q = &v["data"]["query"][0];
    assert_eq!(q["name"], leaf.grpc.to_string(), "{v}");
    assert_eq!(q["labelSets"].as_array().unwrap().len(), 2, "{v}");
    // Deduplicated through the leaf: the leaf strips the replica label its
    // stores carry and merges the replicas.
    let v = json(&global.get("/api/v1/series?match[]=up").unwrap().body);
    assert_eq!(v["data"].as_array().unwrap().len(), 3, "{v}");
    let v = json(
        &global
            .get("/api/v1/series?match[]=up&dedup=false")
            .unwrap()
            .body,
    );
    assert_eq!(v["data"].as_array().unwrap().len(), 6, "{v}");
    let direct = json(&leaf.get("/api/v1/series?match[]=up").unwrap().body);
    assert_eq!(v["data"], direct["data"]);
    let v = json(&global.get("/api/v1/label/replica/values").unwrap().body);
    assert_eq!(v["data"], serde_json::json!(["a", "b"]));
    let m = global.get("/metrics").unwrap().text();
    assert!(
        m.contains(r#"thanos_store_nodes_grpc_connections{external_labels="{replica=\"a\"},{replica=\"b\"}",store_type="query"} 1"#),
        "{m}"
    );
}
