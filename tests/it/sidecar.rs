//! `sluice sidecar` (the real binary) in front of a fake Prometheus: Info
//! follows Prometheus's health, Series is sorted and passes chunks
//! through, a Prometheus that is down, slow, failing or sending garbage
//! gives the caller an error that says so, and the sidecar recovers when
//! Prometheus does. The behaviour against real Prometheus is in `e2e`.

use std::time::{Duration, Instant};

use sluice::grpc::Code;
use sluice::labels::label;
use sluice::proto::thanos::{
    label_matcher, LabelMatcher, LabelNamesRequest, LabelValuesRequest, SeriesRequest,
};

use crate::fake_prom::{Data, FakeProm, Mode};
use crate::procs::{self, free_port, get, loopback, wait_for, Proc, TempDir, BIN};
use crate::support::ls;

struct Sidecar {
    proc: Proc,
    grpc: std::net::SocketAddr,
    http: std::net::SocketAddr,
    _dir: TempDir,
}

fn start_sidecar(prom: &FakeProm, extra: &[&str]) -> Sidecar {
    let dir = TempDir::new("sidecar");
    let (grpc, http) = (loopback(free_port()), loopback(free_port()));
    let mut args = vec![
        "sidecar".to_string(),
        format!("--prometheus.url={}", prom.url()),
        // The Prometheus Operator's form: `--grpc-address=[$(POD_IP)]:10901`.
        format!("--grpc-address=[{}]:{}", grpc.ip(), grpc.port()),
        format!("--http-address=[{}]:{}", http.ip(), http.port()),
        "--prometheus.get_config_interval=200ms".to_string(),
        "--prometheus.get_config_timeout=1s".to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let proc = Proc::spawn("sidecar", BIN, &args, dir.path());
    Sidecar {
        proc,
        grpc,
        http,
        _dir: dir,
    }
}

impl Sidecar {
    fn ready(&self) -> bool {
        get(self.http, "/-/ready").is_some_and(|r| r.status == 200)
    }

    fn wait_ready(&self, ready: bool) {
        wait_for(
            if ready {
                "sidecar ready"
            } else {
                "sidecar not ready"
            },
            Duration::from_secs(20),
            || {
                self.ready() == ready
                    && procs::info(self.grpc).is_ok_and(|i| i.store.is_some() == ready)
            },
            || self.proc.log(),
        );
    }
}

fn data() -> Data {
    let s = |pairs: &[(&str, &str)], n: i64| {
        (ls(pairs), (0..n).map(|i| (i * 15_000, i as f64)).collect())
    };
    Data {
        external_labels: vec![("replica".into(), "a".into())],
        series: vec![
            s(&[("__name__", "up"), ("job", "x")], 300),
            // Prometheus issue #12605: stored before the next one, but with
            // replica="a" added it sorts after it.
            s(&[("__name__", "up"), ("job", "y")], 5),
            s(&[("__name__", "up"), ("job", "y"), ("pod", "p")], 5),
            s(&[("__name__", "zz")], 2),
        ],
    }
}

fn eq(name: &str, value: &str) -> LabelMatcher {
    LabelMatcher {
        r#type: label_matcher::Type::Eq as i32,
        name: name.into(),
        value: value.into(),
    }
}

fn select(ms: Vec<LabelMatcher>) -> SeriesRequest {
    SeriesRequest {
        min_time: i64::MIN,
        max_time: i64::MAX,
        matchers: ms,
        ..Default::default()
    }
}

fn up() -> SeriesRequest {
    select(vec![eq("__name__", "up")])
}

#[test]
fn info_and_readiness_follow_prometheus() {
    let mut prom = FakeProm::start(data());
    prom.set_down(true);
    let sc = start_sidecar(&prom, &["--min-time=2023-01-01T00:00:00Z"]);
    // Serving, but not ready while Prometheus has not answered.
    wait_for(
        "the sidecar's gRPC port",
        Duration::from_secs(20),
        || procs::info(sc.grpc).is_ok(),
        || sc.proc.log(),
    );
    let info = procs::info(sc.grpc).unwrap();
    assert_eq!(info.component_type, "sidecar");
    assert!(info.store.is_none(), "{info:?}");
    assert!(!sc.ready());
    assert_eq!(get(sc.http, "/-/healthy").unwrap().status, 200);

    prom.set_down(false);
    sc.wait_ready(true);
    let info = procs::info(sc.grpc).unwrap();
    assert_eq!(info.label_sets[0].labels, [label("replica", "a")]);
    let store = info.store.unwrap();
    assert_eq!(store.min_time, 1_672_531_200_000);
    assert_eq!(store.max_time, i64::MAX);
    assert!(store.supports_without_replica_labels);
    let metrics = get(sc.http, "/metrics").unwrap().text();
    assert!(
        metrics.contains("thanos_sidecar_prometheus_up 1"),
        "{metrics}"
    );

    // Down: not ready, and a Series call says why.
    prom.set_down(true);
    sc.wait_ready(false);
    let err = procs::series(sc.grpc, &up(), Duration::from_secs(10)).unwrap_err();
    assert_eq!(err.code, Code::Unavailable, "{err}");
    assert!(
        err.message.contains("Prometheus at http://127.0.0.1:"),
        "{err}"
    );
    assert!(get(sc.http, "/metrics")
        .unwrap()
        .text()
        .contains("thanos_sidecar_prometheus_up 0"));

    // Back: ready again, Series answers.
    prom.set_down(false);
    sc.wait_ready(true);
    assert_eq!(
        procs::series(sc.grpc, &up(), Duration::from_secs(10))
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn no_external_labels_is_a_start_up_error() {
    let mut d = data();
    d.external_labels.clear();
    let prom = FakeProm::start(d);
    let mut sc = start_sidecar(&prom, &[]);
    let code = sc.proc.wait_exit(Duration::from_secs(20));
    assert_eq!(code, Some(1), "{}", sc.proc.log());
    assert!(
        sc.proc.log().contains("no external labels configured on Prometheus server, uniquely identifying external labels must be configured"),
        "{}",
        sc.proc.log()
    );
}

#[test]
fn series_is_sorted_and_passes_chunks_through() {
    let prom = FakeProm::start(data());
    let sc = start_sidecar(&prom, &[]);
    sc.wait_ready(true);
    let got = procs::series(sc.grpc, &up(), Duration::from_secs(10)).unwrap();
    let names: Vec<Vec<_>> = got.iter().map(|s| s.labels.clone()).collect();
    assert_eq!(
        names,
        [
            ls(&[("__name__", "up"), ("job", "x"), ("replica", "a")]),
            ls(&[
                ("__name__", "up"),
                ("job", "y"),
                ("pod", "p"),
                ("replica", "a")
            ]),
            ls(&[("__name__", "up"), ("job", "y"), ("replica", "a")]),
        ]
    );
    // 300 samples arrive as Prometheus cut them (120, 120, 60), hashed.
    let chunks = &got[0].chunks;
    assert_eq!(chunks.len(), 3);
    let raw = chunks[0].raw.as_ref().unwrap();
    assert_eq!(raw.r#type, 0);
    assert_eq!(raw.hash, xxhash_rust::xxh64::xxh64(&raw.data, 0));
    let decoded = sluice::chunk::xor::decode_all(&raw.data).unwrap();
    assert_eq!(decoded.len(), 120);

    // Dedup: the replica label goes, the order is that of what remains.
    let mut req = up();
    req.without_replica_labels = vec!["replica".into()];
    let got = procs::series(sc.grpc, &req, Duration::from_secs(10)).unwrap();
    let names: Vec<Vec<_>> = got.iter().map(|s| s.labels.clone()).collect();
    assert_eq!(
        names,
        [
            ls(&[("__name__", "up"), ("job", "x")]),
            ls(&[("__name__", "up"), ("job", "y")]),
            ls(&[("__name__", "up"), ("job", "y"), ("pod", "p")]),
        ]
    );

    // skip_chunks reads /api/v1/series, adds the external labels, sorts.
    let mut req = up();
    req.skip_chunks = true;
    let got = procs::series(sc.grpc, &req, Duration::from_secs(10)).unwrap();
    assert!(got.iter().all(|s| s.chunks.is_empty()));
    assert_eq!(got.len(), 4, "the fake's series API ignores matchers");
    assert_eq!(
        got[1].labels,
        ls(&[
            ("__name__", "up"),
            ("job", "y"),
            ("pod", "p"),
            ("replica", "a")
        ])
    );

    // The request's min time is clamped to the announced one.
    assert!(prom
        .requests()
        .iter()
        .any(|r| r.contains("/api/v1/series?") && r.contains("start=-62167219200")));
}

#[test]
fn external_label_matchers() {
    let prom = FakeProm::start(data());
    let sc = start_sidecar(&prom, &[]);
    sc.wait_ready(true);
    // Contradicting an external label: an empty stream, no error.
    let got = procs::series(
        sc.grpc,
        &select(vec![eq("__name__", "up"), eq("replica", "b")]),
        Duration::from_secs(10),
    );
    assert_eq!(got.unwrap().len(), 0);
    // Only external-label matchers: InvalidArgument.
    let err = procs::series(
        sc.grpc,
        &select(vec![eq("replica", "a")]),
        Duration::from_secs(10),
    )
    .unwrap_err();
    assert_eq!(err.code, Code::InvalidArgument);
    assert_eq!(
        err.message,
        "no matchers specified (excluding external labels)"
    );
    // Label APIs: external names appended; an external label's value is
    // answered from the external labels.
    let names = procs::label_names(
        sc.grpc,
        &LabelNamesRequest {
            start: 0,
            end: 1,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(names.names, ["__name__", "job", "pod", "replica"]);
    let values = procs::label_values(
        sc.grpc,
        &LabelValuesRequest {
            label: "replica".into(),
            start: 0,
            end: 1,
            matchers: vec![eq("__name__", "zz")],
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(values.values, ["a"]);
    let err = procs::label_values(sc.grpc, &LabelValuesRequest::default()).unwrap_err();
    assert_eq!(err.code, Code::InvalidArgument);
}

#[test]
fn prometheus_failures_are_errors_that_say_why() {
    let prom = FakeProm::start(data());
    let sc = start_sidecar(&prom, &[]);
    sc.wait_ready(true);

    prom.set_mode(Mode::Error);
    let err = procs::series(sc.grpc, &up(), Duration::from_secs(10)).unwrap_err();
    assert_eq!(err.code, Code::Internal, "{err}");
    assert!(
        err.message
            .contains("request failed with code 500 Internal Server Error; msg boom"),
        "{err}"
    );

    prom.set_mode(Mode::Garbage);
    let err = procs::series(sc.grpc, &up(), Duration::from_secs(10)).unwrap_err();
    assert_eq!(err.code, Code::Internal, "{err}");
    // The error text read as a frame: a cut frame here.
    assert!(err.message.contains("next proto: unexpected EOF"), "{err}");

    // Slow: the caller's deadline ends the call, well before Prometheus.
    prom.set_mode(Mode::Slow(Duration::from_secs(5)));
    let started = Instant::now();
    let err = procs::series(sc.grpc, &up(), Duration::from_secs(1)).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(err.code, Code::DeadlineExceeded | Code::Unavailable),
        "{err}"
    );

    // And the sidecar is fine once Prometheus is.
    prom.set_mode(Mode::Normal);
    assert_eq!(
        procs::series(sc.grpc, &up(), Duration::from_secs(10))
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn sampled_answers_are_reencoded() {
    let prom = FakeProm::start(data());
    prom.set_mode(Mode::Sampled);
    let sc = start_sidecar(&prom, &[]);
    sc.wait_ready(true);
    let got = procs::series(sc.grpc, &up(), Duration::from_secs(10)).unwrap();
    assert_eq!(got.len(), 3);
    assert_eq!(
        got[0].labels,
        ls(&[("__name__", "up"), ("job", "x"), ("replica", "a")])
    );
    let sizes: Vec<usize> = got[0]
        .chunks
        .iter()
        .map(|c| {
            sluice::chunk::xor::decode_all(&c.raw.as_ref().unwrap().data)
                .unwrap()
                .len()
        })
        .collect();
    assert_eq!(sizes, [120, 120, 60]);
}

#[test]
fn store_limits() {
    let prom = FakeProm::start(data());
    let sc = start_sidecar(&prom, &["--store.limits.request-series=2"]);
    sc.wait_ready(true);
    let err = procs::series(sc.grpc, &up(), Duration::from_secs(10)).unwrap_err();
    assert_eq!(
        err.message,
        "failed to send series: limit 2 violated (got 3)"
    );
}

/// The querier reads a Prometheus server directly
/// (`--endpoint=prometheus+http://…`): Info from its configuration, series
/// through remote read, and a Prometheus that goes down is a warning.
#[test]
fn querier_reads_prometheus_without_a_sidecar() {
    use sluice::testkit::{Cluster, ClusterOptions};
    let mut prom = FakeProm::start(data());
    let endpoint = format!("prometheus+{}", prom.url());
    let opts = ClusterOptions {
        replica_labels: vec!["replica".into()],
        extra_endpoints: vec![endpoint.clone()],
        // No refresh during the test: the endpoint stays on the query path
        // after Prometheus goes down, so the query meets the failure.
        refresh: Duration::from_secs(60),
        ..Default::default()
    };
    let c = Cluster::start(Vec::new(), opts).unwrap();
    let stores: serde_json::Value =
        serde_json::from_slice(&c.get("/api/v1/stores").unwrap().body).unwrap();
    assert_eq!(
        stores["data"]["sidecar"][0]["name"],
        endpoint.as_str(),
        "{stores}"
    );
    assert_eq!(
        stores["data"]["sidecar"][0]["labelSets"][0]["replica"], "a",
        "{stores}"
    );
    // The fake's series API ignores matchers: every series comes back.
    let r = c.get("/api/v1/series?match[]=up").unwrap();
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        v["data"],
        serde_json::json!([{"__name__": "up", "job": "x"}, {"__name__": "up", "job": "y"}, {"__name__": "up", "job": "y", "pod": "p"}, {"__name__": "zz"}]),
        "{v}"
    );
    let v: serde_json::Value =
        serde_json::from_slice(&c.get("/api/v1/label/replica/values").unwrap().body).unwrap();
    assert_eq!(v["data"], serde_json::json!(["a"]));
    // Down: the store is skipped with a warning, not a hang.
    prom.set_down(true);
    let started = Instant::now();
    let v: serde_json::Value =
        serde_json::from_slice(&c.get("/api/v1/labels").unwrap().body).unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    let warning = v["warnings"][0].as_str().unwrap_or_default();
    assert!(
        warning.contains(&endpoint) && warning.contains("Prometheus at"),
        "{v}"
    );
}
