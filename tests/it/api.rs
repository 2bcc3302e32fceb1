//! The HTTP API over a fan-out to fake stores: `/api/v1/series`,
//! `/api/v1/labels`, `/api/v1/label/<n>/values`, errors, CORS, gzip,
//! streaming, partial response.

use std::io::Read;

use serde_json::Value;
use sluice::store::fake::Table;
use sluice::testkit::{http_request, Cluster, ClusterOptions};

use crate::support::{ls, series, store};

fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("invalid JSON ({e}): {}", String::from_utf8_lossy(body)))
}

fn ha_pair() -> Vec<Table> {
    vec![
        store(("replica", "a"), series("up", 3, 20)),
        store(("replica", "b"), series("up", 3, 20)),
    ]
}

#[test]
fn series_from_two_replicas_merge_sorted() {
    let c = Cluster::start(ha_pair(), ClusterOptions::default()).unwrap();
    let r = c.get("/api/v1/series?match[]=up").unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v = json(&r.body);
    assert_eq!(v["status"], "success");
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 6, "{v}");
    // Sorted by labels: instance first, then replica.
    let keys: Vec<(String, String)> = data
        .iter()
        .map(|s| {
            (
                s["instance"].as_str().unwrap().into(),
                s["replica"].as_str().unwrap().into(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert_eq!(keys[0], ("host-0000".to_string(), "a".to_string()));
    assert_eq!(keys[1], ("host-0000".to_string(), "b".to_string()));
    assert!(v.get("warnings").is_none());
    assert!(r.text().ends_with("}\n"));
}

#[test]
fn identical_series_from_two_stores_appear_once() {
    // Two stores without external labels hold the same series.
    let t = || Table {
        series: series("up", 2, 5),
        ..Default::default()
    };
    let c = Cluster::start(vec![t(), t()], ClusterOptions::default()).unwrap();
    let v = json(&c.get("/api/v1/series?match[]=up").unwrap().body);
    assert_eq!(v["data"].as_array().unwrap().len(), 2, "{v}");
}

#[test]
fn several_match_params_union() {
    let mut a = series("up", 2, 5);
    a.extend(series("node_load1", 2, 5));
    let c = Cluster::start(vec![store(("replica", "a"), a)], ClusterOptions::default()).unwrap();
    let v = json(&c.get("/api/v1/series?match[]=up&match[]=node_load1&match[]=up%7Binstance%3D%22host-0000%22%7D").unwrap().body);
    let names: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["__name__"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["node_load1", "node_load1", "up", "up"]);
}

#[test]
fn series_time_range_and_post_form() {
    let c = Cluster::start(ha_pair(), ClusterOptions::default()).unwrap();
    // The series hold samples from 0 to 285 s; a window after that is empty.
    let v = json(
        &c.get("/api/v1/series?match[]=up&start=1000&end=2000")
            .unwrap()
            .body,
    );
    assert_eq!(v["data"], serde_json::json!([]));
    let r = http_request(
        c.http,
        "POST",
        "/api/v1/series",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some(b"match[]=up&start=0&end=100"),
    )
    .unwrap();
    assert_eq!(json(&r.body)["data"].as_array().unwrap().len(), 6);
}

#[test]
fn labels_and_label_values() {
    let c = Cluster::start(ha_pair(), ClusterOptions::default()).unwrap();
    let v = json(&c.get("/api/v1/labels").unwrap().body);
    assert_eq!(
        v["data"],
        serde_json::json!(["__name__", "instance", "job", "replica"])
    );
    let v = json(&c.get("/api/v1/label/replica/values").unwrap().body);
    assert_eq!(v["data"], serde_json::json!(["a", "b"]));
    let v = json(
        &c.get("/api/v1/label/instance/values?match[]=up%7Breplica%3D%22a%22%7D")
            .unwrap()
            .body,
    );
    assert_eq!(
        v["data"],
        serde_json::json!(["host-0000", "host-0001", "host-0002"])
    );
    let v = json(&c.get("/api/v1/label/nope/values").unwrap().body);
    assert_eq!(v["data"], serde_json::json!([]));
}

#[test]
fn bad_requests_get_the_error_envelope() {
    let c = Cluster::start(ha_pair(), ClusterOptions::default()).unwrap();
    let cases = [
        (
            "/api/v1/series",
            400,
            "bad_data",
            "no match[] parameter provided",
        ),
        ("/api/v1/series?match[]=up%7B", 400, "bad_data", ""),
        (
            "/api/v1/series?match[]=%7Bjob%3D~%22.*%22%7D",
            400,
            "bad_data",
            "at least one non-empty matcher",
        ),
        (
            "/api/v1/series?match[]=up&start=yesterday",
            400,
            "bad_data",
            "Invalid time value for 'start': cannot parse \"yesterday\" to a valid timestamp",
        ),
        (
            "/api/v1/series?match[]=up&start=10&end=5",
            400,
            "bad_data",
            "end timestamp must not be before start time",
        ),
        (
            "/api/v1/series?match[]=up&partial_response=maybe",
            400,
            "bad_data",
            "'partial_response' parameter",
        ),
        (
            "/api/v1/label/1bad/values",
            400,
            "bad_data",
            "invalid label name: \"1bad\"",
        ),
    ];
    for (path, status, kind, msg) in cases {
        let r = c.get(path).unwrap();
        assert_eq!(r.status, status, "{path}: {}", r.text());
        assert_eq!(r.header("cache-control"), Some("no-store"), "{path}");
        let v = json(&r.body);
        assert_eq!(v["status"], "error", "{path}");
        assert_eq!(v["errorType"], kind, "{path}");
        assert!(v["error"].as_str().unwrap().contains(msg), "{path}: {v}");
    }
    // The querier still serves after all that.
    assert_eq!(c.get("/api/v1/series?match[]=up").unwrap().status, 200);
}

#[test]
fn routes_probes_cors() {
    let c = Cluster::start(ha_pair(), ClusterOptions::default()).unwrap();
    assert_eq!(c.get("/-/healthy").unwrap().text(), "OK");
    assert_eq!(c.get("/-/ready").unwrap().status, 200);
    assert_eq!(c.get("/api/v1/nope").unwrap().status, 404);
    let r = http_request(c.http, "DELETE", "/api/v1/series", &[], None).unwrap();
    assert_eq!(r.status, 405);
    let r = http_request(c.http, "OPTIONS", "/api/v1/series", &[], None).unwrap();
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let r = c.get("/api/v1/labels").unwrap();
    assert_eq!(
        r.header("access-control-allow-methods"),
        Some("GET, OPTIONS")
    );
    let v = json(&c.get("/api/v1/status/buildinfo").unwrap().body);
    assert_eq!(v["data"]["version"], "0.31.0");
    let m = c.get("/metrics").unwrap().text();
    assert!(
        m.contains("http_requests_total{code=\"200\",handler=\"label_names\"}"),
        "{m}"
    );
    assert!(m.contains("process_resident_memory_bytes"));
}

#[test]
fn large_series_response_streams_chunked_and_gzipped() {
    let tables = vec![
        store(("replica", "a"), series("big", 20_000, 2)),
        store(("replica", "b"), series("big", 20_000, 2)),
    ];
    let c = Cluster::start(tables, ClusterOptions::default()).unwrap();
    let r = c.get("/api/v1/series?match[]=big").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(json(&r.body)["data"].as_array().unwrap().len(), 40_000);
    let r = http_request(
        c.http,
        "GET",
        "/api/v1/series?match[]=big",
        &[("Accept-Encoding", "gzip")],
        None,
    )
    .unwrap();
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&r.body[..])
        .read_to_end(&mut plain)
        .unwrap();
    assert_eq!(json(&plain)["data"].as_array().unwrap().len(), 40_000);
    // Small bodies are not gzipped (Thanos's 1400-byte minimum).
    let r = http_request(
        c.http,
        "GET",
        "/api/v1/label/replica/values",
        &[("Accept-Encoding", "gzip")],
        None,
    )
    .unwrap();
    assert_eq!(r.header("content-encoding"), None);
}

#[test]
fn dead_store_is_a_warning_or_an_error() {
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    // A strict endpoint is queried even though its Info fails (a
    // non-strict one would never join the endpoint set).
    let opts = ClusterOptions {
        extra_endpoints: vec![dead.clone()],
        extra_strict: true,
        ..Default::default()
    };
    let c = Cluster::start(ha_pair(), opts).unwrap();
    let r = c.get("/api/v1/series?match[]=up").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let v = json(&r.body);
    assert_eq!(v["data"].as_array().unwrap().len(), 6);
    let w = v["warnings"][0].as_str().unwrap();
    assert!(w.contains(&dead), "{w}");
    let r = c
        .get("/api/v1/series?match[]=up&partial_response=false")
        .unwrap();
    assert_eq!(r.status, 422, "{}", r.text());
    let v = json(&r.body);
    assert_eq!(v["errorType"], "execution");
    assert!(v["error"].as_str().unwrap().contains(&dead));
    let v = json(&c.get("/api/v1/labels").unwrap().body);
    assert!(v["warnings"][0].as_str().unwrap().contains(&dead));
    let r = c.get("/api/v1/labels?partial_response=0").unwrap();
    assert_eq!(r.status, 422);
}

#[test]
fn json_escaping_matches_go() {
    let s = vec![sluice::store::fake::FakeSeries {
        labels: ls(&[("__name__", "up"), ("path", "/a?b=<c>&d=\"e\"\n")]),
        samples: vec![(0, 1.0)],
    }];
    let c = Cluster::start(vec![store(("replica", "a"), s)], ClusterOptions::default()).unwrap();
    let r = c.get("/api/v1/series?match[]=up").unwrap();
    assert!(
        r.text()
            .contains(r#""path":"/a?b=\u003cc\u003e\u0026d=\"e\"\n""#),
        "{}",
        r.text()
    );
}
