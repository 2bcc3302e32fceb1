//! `/api/v1/query` and `/api/v1/query_range` over fake stores: result
//! shapes and JSON as Prometheus writes them, replica dedup of raw range
//! selections, parameter errors, the sample limit.

use serde_json::{json, Value};
use sluice::store::fake::{FakeSeries, Table};
use sluice::testkit::{http_request, Cluster, ClusterOptions};

use crate::support::{ls, store};

fn json_body(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("invalid JSON ({e}): {}", String::from_utf8_lossy(body)))
}

/// Whether the query was planned series by series (`Sluice-Evaluation`:
/// `series-by-series`, or `whole-after-series-by-series` when that plan
/// handed it to the whole-query engine). The header, not the process-wide
/// `sluice_query_streamed_total`, which the tests running at once share.
fn planned_streamed(r: &sluice::testkit::HttpResponse) -> bool {
    match r.header("sluice-evaluation") {
        Some("series-by-series" | "whole-after-series-by-series") => true,
        Some("whole") => false,
        other => panic!("Sluice-Evaluation: {other:?}"),
    }
}

/// Each `(query, status, outputs at time 300, planned series by series)`
/// asked at time 300 and over 0-600 s at 60 s, streamed and with
/// `stream=false`: the same status and bytes, the number of outputs at the
/// instant, at least one over the range where there is one at the instant.
fn compare_with_whole(c: &Cluster, cases: &[(&str, u16, usize, bool)]) {
    for &(q, status, outputs, streams) in cases {
        let enc: String = form_urlencoded::byte_serialize(q.as_bytes()).collect();
        for (path, instant) in [
            (format!("/api/v1/query?query={enc}&time=300"), true),
            (
                format!("/api/v1/query_range?query={enc}&start=0&end=600&step=60"),
                false,
            ),
        ] {
            let streamed = c.get(&path).unwrap();
            assert_eq!(planned_streamed(&streamed), streams, "{path}: streamed?");
            let whole = c.get(&format!("{path}&stream=false")).unwrap();
            assert_eq!(streamed.status, status, "{path}: {}", streamed.text());
            assert_eq!(streamed.text(), whole.text(), "{path}");
            if status == 200 {
                let v = json_body(&streamed.body);
                let n = v["data"]["result"].as_array().unwrap().len();
                if instant {
                    assert_eq!(n, outputs, "{path}: {v}");
                } else {
                    assert!(n >= outputs.min(1), "{path}: {v}");
                }
            }
        }
    }
}

fn get(c: &Cluster, path: &str) -> (u16, Value) {
    let r = c.get(path).unwrap();
    (r.status, json_body(&r.body))
}

/// One series sampled every 15 s from 0 to 600 s with value t/1000,
/// missing the samples in `[gap.0, gap.1)` seconds.
fn replica(name: &str, gap: (i64, i64)) -> Table {
    let samples = (0..=40)
        .map(|i| i * 15_000)
        .filter(|t| !(gap.0 * 1000..gap.1 * 1000).contains(t))
        .map(|t| (t, t as f64 / 1000.0))
        .collect();
    let series = vec![FakeSeries {
        labels: ls(&[("__name__", "m"), ("job", "j")]),
        samples,
    }];
    store(("replica", name), series)
}

fn ha() -> Cluster {
    let opts = ClusterOptions {
        replica_labels: vec!["replica".into()],
        ..Default::default()
    };
    Cluster::start(
        vec![replica("a", (100, 200)), replica("b", (300, 400))],
        opts,
    )
    .unwrap()
}

fn times(series: &Value) -> Vec<f64> {
    series["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[0].as_f64().unwrap())
        .collect()
}

#[test]
fn raw_range_selection_one_series_per_replica_or_one_deduplicated() {
    let c = ha();
    let (status, v) = get(&c, "/api/v1/query?query=m[10m]&time=600&dedup=false");
    assert_eq!(status, 200, "{v}");
    let result = v["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 2, "{v}");
    assert_eq!(
        result[0]["metric"],
        json!({"__name__": "m", "job": "j", "replica": "a"})
    );
    assert_eq!(times(&result[0]).len(), 41 - 7);
    assert_eq!(times(&result[1]).len(), 41 - 7);

    let (_, v) = get(&c, "/api/v1/query?query=m[10m]&time=600");
    let result = v["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 1, "{v}");
    assert_eq!(result[0]["metric"], json!({"__name__": "m", "job": "j"}));
    let got = times(&result[0]);
    // The penalty algorithm (Thanos pkg/dedup): a is followed until its gap
    // (last sample 90 s); b must then show a sample later than 90 s + 1 ms
    // + 2 x 15 s, so 105 s and 120 s are dropped and b takes over at 135 s;
    // b is followed until its gap (last 285 s), and a takes over at 330 s.
    // The window [600 s - 10 m, 600 s] includes 0 (Prometheus 2.x range
    // selectors are closed on the left).
    let mut want: Vec<f64> = (0..=40).map(|i| (i * 15) as f64).collect();
    want.retain(|t| ![105.0, 120.0, 300.0, 315.0].contains(t));
    assert_eq!(got, want, "{v}");
    // Every value equals its timestamp: no replica mixed in wrong values.
    for p in result[0]["values"].as_array().unwrap() {
        assert_eq!(
            p[1].as_str().unwrap().parse::<f64>().unwrap(),
            p[0].as_f64().unwrap()
        );
    }
}

#[test]
fn result_shapes_and_json() {
    let c = ha();
    let (_, v) = get(&c, "/api/v1/query?query=m&time=600.5");
    assert_eq!(
        v,
        json!({"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {"__name__": "m", "job": "j"}, "value": [600.5, "600"]}
        ]}})
    );
    let (_, v) = get(&c, "/api/v1/query?query=1%2B1&time=1435781451.781");
    assert_eq!(
        v["data"],
        json!({"resultType": "scalar", "result": [1435781451.781, "2"]})
    );
    let (_, v) = get(&c, "/api/v1/query?query=%22hello%22&time=10");
    assert_eq!(
        v["data"],
        json!({"resultType": "string", "result": [10, "hello"]})
    );
    let (_, v) = get(&c, "/api/v1/query?query=m%20/%200&time=600");
    assert_eq!(v["data"]["result"][0]["value"][1], "+Inf");
    let (_, v) = get(&c, "/api/v1/query?query=sum(rate(m[1m]))&time=600");
    assert_eq!(v["data"]["result"][0]["value"][1], "1");
    let (status, v) = get(
        &c,
        "/api/v1/query_range?query=sum(m)&start=540&end=600&step=30",
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["data"],
        json!({"resultType": "matrix", "result": [
            {"metric": {}, "values": [[540, "540"], [570, "570"], [600, "600"]]}
        ]})
    );
    // POST form bodies work too.
    let r = http_request(
        c.http,
        "POST",
        "/api/v1/query",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some(b"query=count(m)&time=600"),
    )
    .unwrap();
    assert_eq!(json_body(&r.body)["data"]["result"][0]["value"][1], "1");
}

#[test]
fn parameter_errors() {
    let c = ha();
    let cases = [
        ("/api/v1/query?query=sum(", 400, "bad_data"),
        ("/api/v1/query?query=", 400, "bad_data"),
        ("/api/v1/query?query=m&time=soon", 400, "bad_data"),
        (
            "/api/v1/query_range?query=m&start=0&end=100&step=0",
            400,
            "bad_data",
        ),
        (
            "/api/v1/query_range?query=m&start=100&end=0&step=1",
            400,
            "bad_data",
        ),
        (
            "/api/v1/query_range?query=m&start=0&end=100000&step=1",
            400,
            "bad_data",
        ),
        (
            "/api/v1/query_range?query=m&end=100&step=1",
            400,
            "bad_data",
        ),
        (
            "/api/v1/query_range?query=m[5m]&start=0&end=100&step=1",
            400,
            "bad_data",
        ),
        ("/api/v1/query?query=m&timeout=forever", 400, "bad_data"),
        ("/api/v1/query?query=m&dedup=perhaps", 400, "bad_data"),
    ];
    for (path, status, kind) in cases {
        let (s, v) = get(&c, path);
        assert_eq!(s, status, "{path}: {v}");
        assert_eq!(v["errorType"], kind, "{path}: {v}");
    }
    let (_, v) = get(&c, "/api/v1/query_range?query=m&start=0&end=100000&step=1");
    assert_eq!(
        v["error"],
        "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
    );
    // Thanos's default step when `step` is missing.
    let (s, v) = get(&c, "/api/v1/query_range?query=sum(m)&start=0&end=600");
    assert_eq!(s, 200, "{v}");
}

#[test]
fn sample_limit_ends_the_query_and_the_querier_keeps_serving() {
    let opts = ClusterOptions {
        replica_labels: vec!["replica".into()],
        max_samples: 50,
        ..Default::default()
    };
    let c = Cluster::start(
        vec![replica("a", (100, 200)), replica("b", (300, 400))],
        opts,
    )
    .unwrap();
    let (s, v) = get(&c, "/api/v1/query_range?query=m&start=0&end=600&step=1");
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["errorType"], "execution");
    assert_eq!(
        v["error"],
        "query processing would load too many samples into memory in query execution"
    );
    let (s, v) = get(&c, "/api/v1/query?query=m&time=600");
    assert_eq!(s, 200, "{v}");
}

/// A streamed aggregation counts the points its groups have, not every
/// step of every group: series that stop early leave most steps empty, and
/// a query Prometheus answers within the limit is answered.
#[test]
fn sample_limit_counts_the_points_groups_have() {
    let series = (0..2)
        .map(|i| FakeSeries {
            labels: ls(&[("__name__", "s"), ("i", &i.to_string())]),
            samples: (0..=2).map(|k| (k * 15_000, k as f64)).collect(),
        })
        .collect();
    let table = Table {
        series,
        ..Default::default()
    };
    let opts = ClusterOptions {
        max_samples: 600,
        ..Default::default()
    };
    let c = Cluster::start(vec![table], opts).unwrap();
    // 401 steps; each series has a value at 23 of them (lookback 5 m):
    // the whole-query engine's peak (input and output, and the 401 points
    // of histogram_quantile's 0.9 over the range) stays under 600; every
    // step of both groups would be 802.
    for q in ["sum by (i) (s)", "histogram_quantile(0.9, s)"] {
        let enc: String = form_urlencoded::byte_serialize(q.as_bytes()).collect();
        let path = format!("/api/v1/query_range?query={enc}&start=0&end=6000&step=15");
        let r = c.get(&path).unwrap();
        let whole = c.get(&format!("{path}&stream=false")).unwrap();
        assert_eq!(r.header("sluice-evaluation"), Some("series-by-series"));
        assert_eq!((r.status, whole.status), (200, 200), "{path}: {}", r.text());
        assert_eq!(r.text(), whole.text(), "{path}");
    }
}

#[test]
fn chain_dedup_keeps_every_sample() {
    let opts = ClusterOptions {
        replica_labels: vec!["replica".into()],
        dedup: sluice::dedup::Mode::Chain,
        ..Default::default()
    };
    let c = Cluster::start(
        vec![replica("a", (100, 200)), replica("b", (300, 400))],
        opts,
    )
    .unwrap();
    let (_, v) = get(&c, "/api/v1/query?query=m[10m]&time=600");
    // `--deduplication.func=chain`: the union of both replicas' samples.
    let want: Vec<f64> = (0..=40).map(|i| (i * 15) as f64).collect();
    assert_eq!(times(&v["data"]["result"][0]), want, "{v}");
}

#[test]
fn invalid_chunks_fail_the_query_not_the_querier() {
    let mut bad = replica("b", (300, 400));
    bad.behaviour.corrupt_chunks = true;
    let opts = ClusterOptions {
        replica_labels: vec!["replica".into()],
        ..Default::default()
    };
    let c = Cluster::start(vec![replica("a", (100, 200)), bad], opts).unwrap();
    // Streamed (a selector, an aggregation, a join: decoded on the worker
    // threads) and whole (`stream=false`), instant and range.
    for q in [
        "/api/v1/query?query=m[10m]&time=600",
        "/api/v1/query?query=sum(rate(m[5m]))&time=600",
        "/api/v1/query_range?query=m%20/%20m&start=0&end=600&step=15",
        "/api/v1/query_range?query=m%20/%20m&start=0&end=600&step=15&stream=false",
        // A held side (decoded as read; as chunks, decoded when matched),
        // `or`, relabelling.
        "/api/v1/query?query=m%20and%20on%20(job)%20m&time=600",
        "/api/v1/query_range?query=m%20/%20on%20(job)%20m&start=0&end=600&step=15",
        "/api/v1/query_range?query=m%20or%20vector(1)&start=0&end=600&step=15",
        "/api/v1/query?query=label_replace(m,%22a%22,%22b%22,%22job%22,%22.*%22)&time=600",
    ] {
        let r = c.get(q).unwrap();
        let (s, v) = (r.status, json_body(&r.body));
        assert_eq!(s, 422, "{q}: {v}");
        assert_eq!(v["errorType"], "execution");
        assert!(v["error"].as_str().unwrap().contains("chunk"), "{q}: {v}");
        assert_eq!(
            planned_streamed(&r),
            !q.ends_with("stream=false"),
            "{q}: streamed?"
        );
    }
    // The querier keeps serving: labels need no chunks, and the good
    // replica alone still answers.
    let (s, v) = get(&c, "/api/v1/series?match[]=m");
    assert_eq!(s, 200, "{v}");
    let path = format!(
        "/api/v1/query?query=m[10m]&time=600&storeMatch[]=%7B__address__%3D%22{}%22%7D",
        c.stores[0]
    );
    let (s, v) = get(&c, &path);
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["result"].as_array().unwrap().len(), 1, "{v}");
}

/// `m` (see [`replica`]) and 2000 series `h{i}`, enough for a heavy query.
fn heavy_cluster() -> Cluster {
    let series: Vec<FakeSeries> = (0..2000)
        .map(|i| FakeSeries {
            labels: ls(&[("__name__", "h"), ("i", &i.to_string())]),
            samples: (0..=40).map(|k| (k * 15_000, k as f64)).collect(),
        })
        .collect();
    let mut small = replica("a", (100, 200));
    small.series.extend(series);
    Cluster::start(vec![small], ClusterOptions::default()).unwrap()
}

#[test]
fn a_heavy_query_does_not_hold_up_others_on_its_shard() {
    // The cluster runs on one executor: without moving evaluation off the
    // shard, the small query would wait for the heavy one.
    let c = heavy_cluster();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (http, done2) = (c.http, done.clone());
    let heavy = std::thread::spawn(move || {
        // A subquery at 1 s resolution over 2000 series for 600 steps; the
        // timeout bounds it whatever the machine.
        let path =
            "/api/v1/query_range?query=sum(rate(h[5m:1s]))&start=0&end=600&step=1&timeout=5s";
        let r = http_request(http, "GET", path, &[], None).unwrap();
        done2.store(true, std::sync::atomic::Ordering::SeqCst);
        r.status
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (s, v) = get(&c, "/api/v1/query?query=count(m)&time=600");
    let heavy_done_first = done.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(s, 200, "{v}");
    let heavy_status = heavy.join().unwrap();
    assert!(
        !heavy_done_first,
        "the heavy query (HTTP {heavy_status}) finished before the small one: this test needs a heavier query"
    );
}

/// Queries whose result series each depend on one input series are
/// evaluated series by series; their answers must be exactly those of the
/// whole-query evaluation (`stream=false`), instant and range, with and
/// without dedup.
#[test]
fn series_by_series_evaluation_gives_the_same_answers() {
    let mut a = replica("a", (100, 200));
    let mut b = replica("b", (300, 400));
    for t in [&mut a, &mut b] {
        // A classic histogram: cumulative buckets growing at different rates.
        for inst in 0..3 {
            for (j, le) in ["0.1", "0.5", "1", "+Inf"].iter().enumerate() {
                t.series.push(FakeSeries {
                    labels: ls(&[
                        ("__name__", "h"),
                        ("instance", &inst.to_string()),
                        ("job", "j"),
                        ("le", le),
                    ]),
                    samples: (0..=40)
                        .map(|k| (k * 15_000, (k * (j as i64 + 1) * (inst + 2)) as f64))
                        .collect(),
                });
            }
        }
        for i in 0..20 {
            t.series.push(FakeSeries {
                labels: ls(&[("__name__", "c"), ("i", &format!("{i:02}")), ("job", "j")]),
                samples: (0..=40)
                    .map(|k| (k * 15_000, (k * (i + 1)) as f64 % 97.0))
                    .collect(),
            });
        }
    }
    let opts = ClusterOptions {
        replica_labels: vec!["replica".into()],
        ..Default::default()
    };
    let c = Cluster::start(vec![a, b], opts).unwrap();
    let queries = [
        "m",
        "c",
        "c[5m]",
        "rate(c[1m])",
        "increase(c[2m])",
        "abs(c - 0)",
        "quantile_over_time(0.5, c[5m])",
        "c offset 1m",
        "rate(c[1m] @ 300)",
        "timestamp(c)",
        "round(c, 10)",
        "{__name__=~\"c|m\"}",
        "rate({__name__=~\"c|m\"}[1m])",
        "sum(rate(c[1m]))",
        "sum by (job) (rate(c[1m]))",
        "max without (i) (c)",
        "avg(c)",
        "avg by (i) (c / 1)",
        "count by (job) (c)",
        "min(abs(c))",
        "group by (job) (c)",
        "sum({__name__=~\"c|m\"})",
        "topk(2, c)",
        "topk(1, rate(c[1m]))",
        "bottomk(3, c)",
        "topk by (job) (2.7, c)",
        "bottomk without (i) (25, abs(c))",
        "topk(2, sum by (i) (c))",
        "sum(topk(2, c))",
        "histogram_quantile(0.9, sum by (le) (rate(h[1m])))",
        "histogram_quantile(0.5, sum by (job, le) (rate(h[1m])))",
        // Over per-series buckets: each series its own group.
        "histogram_quantile(0.9, rate(h[1m]))",
        "histogram_quantile(0.5, h)",
        "histogram_quantile(0.9, rate(h[1m])) > 0.2",
        "sum(rate(c[1m])) / 2",
        "sum by (job) (c) > 100",
        "sort_desc(sum by (i) (c))",
        "max(sum by (i) (c))",
        "scalar(sum(c))",
        "-sum(c)",
        "sum(c) + sum(m)",
        "sum(c) or vector(0)",
        // The sum has no value at the first steps: `{}` is one series.
        "sum(rate(c[1m])) or vector(0)",
        "count(c > 90) or vector(0)",
        "sum(c) or sum(m)",
        // Expressions over topk (its kept series keep their labels), and
        // over the metric name.
        "sort_desc(topk(3, c))",
        "topk(2, c) > 30",
        "count(bottomk by (job) (2, rate(c[1m])))",
        "sum by (__name__) (c) / 2",
        "sum(c) + on (__name__) sum(m)",
        "max by (__name__) ({__name__=~\"c|m\"}) > 0",
        "label_replace(sum by (job) (c), \"__name__\", \"x\", \"job\", \"(.*)\")",
        "sum(rate(nonexistent[1m])) or vector(0)",
        "absent(sum(nonexistent))",
        "hour(timestamp(c))",
        "day_of_week(c * 1000)",
        "label_replace(sum by (job) (c), \"x\", \"$1\", \"job\", \"(.*)\")",
        "stddev by (job) (rate(c[1m]))",
        "stdvar(c)",
        "rate(c[1m]) * 8",
        "-rate(c[1m])",
        "c > 50",
        "c > bool 50",
        "time() - c",
        "2 * abs(c) + pi()",
        "abs(rate(c[1m]))",
        "max_over_time(rate(c[1m])[5m:30s])",
        "min_over_time(c[3m:1m] offset 1m)",
        "sum(rate(c[1m]) * 8)",
        "sum by (job) (rate(c[1m])) / sum by (job) (rate(c[2m]))",
        "sum(c) / count(c) > 0",
        "rate({__name__=~\"c|m\"}[1m]) * 2",
        "c / abs(c - 50)",
        "c - c offset 1m",
        "rate(c[1m]) / ignoring () rate(c[2m])",
        "c > bool c offset 1m",
        "c > c offset 1m",
        "1 - (c / (c + 1))",
        "sum by (job) (c / c)",
        "max_over_time((c / c)[3m:1m])",
        "c / on (i, job, replica) c",
        "c or m",
        "quantile(0.5, c)",
        "quantile by (job) (0.9, rate(c[1m]))",
        "quantile(1.5, c)",
        "histogram_quantile(0.9, sum by (le) (rate(h[1m]))) / quantile(0.5, rate(c[1m]))",
        "count_values(\"v\", round(c / 20))",
        "count_values without (i) (\"v\", round(c / 20))",
        "count_values by (job) (\"job\", round(c / 20))",
        "sum(count_values(\"v\", round(c / 20)))",
        // Relabelling: at an instant and under aggregations; two outputs
        // alike go to the whole-query engine (which gives Prometheus's
        // error, or its answer where they never meet at a step).
        "label_replace(c, \"k\", \"x$1\", \"i\", \"(.*)\")",
        "label_join(rate(c[1m]), \"k\", \"-\", \"job\", \"i\")",
        "sum by (k) (label_replace(rate(c[1m]), \"k\", \"$1\", \"i\", \"0(.)\"))",
        "sum by (k) (label_replace(c, \"k\", \"$1\", \"i\", \"(.).\"))",
        "label_replace(label_replace(c, \"k\", \"$1\", \"i\", \"(.).\"), \"k\", \"z\", \"k\", \"1\")",
        "sum(rate({__name__=~\"c|m\"}[1m]))",
        "-abs(label_replace(c, \"k\", \"x$1\", \"i\", \"(.*)\") * 2) > bool 10",
    ];
    for q in queries {
        let enc: String = form_urlencoded::byte_serialize(q.as_bytes()).collect();
        for params in [
            format!("/api/v1/query?query={enc}&time=500"),
            format!("/api/v1/query_range?query={enc}&start=0&end=600&step=15"),
            format!("/api/v1/query_range?query={enc}&start=0&end=600&step=15&dedup=false"),
        ] {
            if params.starts_with("/api/v1/query_range") && q.ends_with("[5m]") {
                continue;
            }
            let r = c.get(&params).unwrap();
            let (s1, streamed) = (r.status, json_body(&r.body));
            let (s2, whole) = get(&c, &format!("{params}&stream=false"));
            // Every shape here goes series by series, to the end.
            assert_eq!(
                r.header("sluice-evaluation"),
                Some("series-by-series"),
                "{params}"
            );
            assert_eq!((s1, s2), (200, 200), "{params}: {streamed} / {whole}");
            assert_eq!(streamed, whole, "{params}");
            assert_ne!(whole["data"]["result"], json!([]), "{params}");
        }
    }
    // Outputs alike: Prometheus's error, from the whole-query engine.
    for q in [
        "count(label_replace(c, \"i\", \"same\", \"i\", \".*\"))",
        "label_replace(c, \"i\", \"same\", \"i\", \".*\")",
    ] {
        let enc: String = form_urlencoded::byte_serialize(q.as_bytes()).collect();
        for params in [
            format!("/api/v1/query?query={enc}&time=500"),
            format!("/api/v1/query_range?query={enc}&start=0&end=600&step=15"),
        ] {
            let r = c.get(&params).unwrap();
            let whole = c.get(&format!("{params}&stream=false")).unwrap();
            assert_eq!(r.status, 422, "{params}: {}", r.text());
            assert_eq!(r.text(), whole.text(), "{params}");
            assert_eq!(
                r.header("sluice-evaluation"),
                Some("whole-after-series-by-series"),
                "{params}"
            );
        }
    }
    // With worker threads (a machine of two cores or more), the series went
    // to them in several batches, and the answers above came back in order.
    let m = c.get("/metrics").unwrap().text();
    let on_workers: u64 = m
        .lines()
        .find_map(|l| l.strip_prefix("sluice_query_stream_batches_total{on=\"worker\"} "))
        .and_then(|v| v.parse().ok())
        .unwrap();
    if sluice::rt::pool::workers() > 0 {
        assert!(on_workers > 100, "{on_workers} batches on the workers");
    }
}

/// A query past its `timeout` ends with Prometheus's 503 `timeout`
/// envelope, streamed or whole, and the querier goes on serving.
#[test]
fn a_query_past_its_timeout_gets_503_and_the_querier_goes_on() {
    let c = heavy_cluster();
    // A subquery at 1 s resolution over 2000 series for 600 steps: seconds
    // of work at least, against a timeout of 200 ms.
    let heavy =
        "/api/v1/query_range?query=sum(rate(h[5m:1s]))&start=0&end=600&step=1&timeout=200ms";
    for path in [heavy.to_string(), format!("{heavy}&stream=false")] {
        let (s, v) = get(&c, &path);
        assert_eq!(s, 503, "{path}: {v}");
        assert_eq!(v["errorType"], "timeout", "{path}: {v}");
        // Prometheus's words, for where the deadline struck: "query
        // execution" (selects) or "expression evaluation".
        let msg = v["error"].as_str().unwrap_or("");
        assert!(
            [
                "query timed out in query execution",
                "query timed out in expression evaluation"
            ]
            .contains(&msg),
            "{path}: {v}"
        );
        let (s, v) = get(&c, "/api/v1/query?query=count(m)&time=600");
        assert_eq!(s, 200, "{v}");
    }
}

/// Outer expressions over streamed aggregations: an instant vector keeps
/// the order in which the aggregation's groups appeared (not label order),
/// a range result is sorted without the groups' placeholder names, and an
/// error quotes the groups without them; all as the whole-query engine
/// (Prometheus's order and messages).
#[test]
fn outer_expressions_over_streamed_groups_answer_as_whole() {
    let series = |name: &str, sets: &[(&str, &str)]| -> Vec<FakeSeries> {
        sets.iter()
            .map(|(i, job)| FakeSeries {
                labels: ls(&[("__name__", name), ("i", i), ("job", job)]),
                samples: (0..=40).map(|k| (k * 15_000, (k + 1) as f64)).collect(),
            })
            .collect()
    };
    // Sorted by labels, `x`'s groups by job appear as b, a.
    let mut all = series("x", &[("1", "b"), ("2", "a"), ("3", "a")]);
    all.extend(series("y", &[("1", "0")]));
    let c = Cluster::start(
        vec![store(("replica", "a"), all)],
        ClusterOptions::default(),
    )
    .unwrap();
    for (q, status) in [
        ("sum by (job) (x) * 2", 200),
        ("sum by (job) (x) or sum by (job) (y)", 200),
        ("sort(sum by (job) (x))", 200),
        ("sum by (job, i) (x) / on (job) sum by (job, i) (x)", 422),
    ] {
        let enc: String = form_urlencoded::byte_serialize(q.as_bytes()).collect();
        for path in [
            format!("/api/v1/query?query={enc}&time=300"),
            format!("/api/v1/query_range?query={enc}&start=0&end=600&step=60"),
        ] {
            let streamed = c.get(&path).unwrap();
            assert!(planned_streamed(&streamed), "{path}: not streamed");
            let whole = c.get(&format!("{path}&stream=false")).unwrap();
            assert_eq!(streamed.status, status, "{path}: {}", streamed.text());
            assert_eq!(
                (streamed.status, streamed.text()),
                (whole.status, whole.text()),
                "{path}"
            );
            assert!(
                !streamed.text().contains("sluice"),
                "{path}: {}",
                streamed.text()
            );
        }
    }
}

/// Label names that sort before `__name__` (upper-case ones): the stores'
/// order, which includes the name, is then not the order of the labels
/// without it. A one-to-one join still matches every pair, and a range
/// answer that would leave Prometheus's order is answered by the
/// whole-query engine instead; both as `stream=false`.
#[test]
fn label_names_before_the_metric_name_keep_answers_whole() {
    let s = |labels: &[(&str, &str)]| FakeSeries {
        labels: ls(labels),
        samples: (0..=40).map(|k| (k * 15_000, (k * 3) as f64)).collect(),
    };
    let series = vec![
        s(&[("AZ", "1"), ("__name__", "x")]),
        s(&[("AZ", "1"), ("Rack", "2"), ("__name__", "x")]),
        s(&[("AZ", "1"), ("__name__", "y")]),
        s(&[("AZ", "1"), ("Rack", "2"), ("__name__", "y")]),
        s(&[("AZ", "1"), ("__name__", "z")]),
    ];
    // No external labels: `{AZ="1",Rack="2"}` sorts before `{AZ="1"}` with
    // the name and after it without.
    let table = Table {
        series,
        ..Default::default()
    };
    let c = Cluster::start(vec![table], ClusterOptions::default()).unwrap();
    for (q, n) in [
        ("x / y", 2),
        ("x / z", 1),
        ("rate(x[1m])", 2),
        ("x", 2),
        ("-x", 2),
    ] {
        let enc: String = form_urlencoded::byte_serialize(q.as_bytes()).collect();
        for path in [
            format!("/api/v1/query?query={enc}&time=300"),
            format!("/api/v1/query_range?query={enc}&start=0&end=600&step=60"),
        ] {
            let streamed = c.get(&path).unwrap();
            let whole = c.get(&format!("{path}&stream=false")).unwrap();
            assert_eq!(streamed.status, 200, "{path}: {}", streamed.text());
            assert_eq!(streamed.text(), whole.text(), "{path}");
            let v = json_body(&streamed.body);
            assert_eq!(
                v["data"]["result"].as_array().unwrap().len(),
                n,
                "{path}: {v}"
            );
        }
    }
}

/// `group_left` joins (the info-metric join): the right side is held, the
/// left side streamed; answers and errors as the whole-query engine, also
/// where the right side has two series for a match group or two left
/// series give the same output labels (the whole-query engine answers).
#[test]
fn group_left_joins_answer_as_whole() {
    let s = |labels: &[(&str, &str)], f: i64| FakeSeries {
        labels: ls(labels),
        samples: (0..=40).map(|k| (k * 15_000, (k * f) as f64)).collect(),
    };
    let mut series = Vec::new();
    for inst in ["a", "b", "c"] {
        for cpu in ["0", "1"] {
            series.push(s(&[("__name__", "x"), ("cpu", cpu), ("instance", inst)], 2));
        }
    }
    // `c` has no info: its series give nothing.
    for (inst, node) in [("a", "n1"), ("b", "n2")] {
        series.push(s(
            &[("__name__", "info"), ("instance", inst), ("nodename", node)],
            0,
        ));
        series.push(s(
            &[("__name__", "info_cpu"), ("cpu", "z"), ("instance", inst)],
            0,
        ));
    }
    // `app` sorts before `instance`: copied, it would reorder a range
    // answer (n1's instance `a` gets app z, `b` gets app y).
    series.push(s(
        &[("__name__", "info_app"), ("app", "z"), ("instance", "a")],
        0,
    ));
    series.push(s(
        &[("__name__", "info_app"), ("app", "y"), ("instance", "b")],
        0,
    ));
    // Kept alone, `v` orders these two the other way round.
    series.push(s(&[("__name__", "r"), ("k", "1"), ("v", "z")], 1));
    series.push(s(&[("__name__", "r"), ("k", "2"), ("v", "y")], 3));
    series.push(s(&[("__name__", "dup"), ("instance", "a"), ("v", "1")], 1));
    series.push(s(&[("__name__", "dup"), ("instance", "a"), ("v", "2")], 1));
    let table = Table {
        series,
        ..Default::default()
    };
    let c = Cluster::start(vec![table], ClusterOptions::default()).unwrap();
    // Instant: streamed; range: streamed, sorted at the end (the copied
    // label reorders the answer).
    let q = "x * on (instance) group_left (app) info_app";
    let enc: String = form_urlencoded::byte_serialize(q.as_bytes()).collect();
    for (path, streams) in [
        (format!("/api/v1/query?query={enc}&time=300"), true),
        (
            format!("/api/v1/query_range?query={enc}&start=0&end=600&step=60"),
            true,
        ),
    ] {
        let streamed = c.get(&path).unwrap();
        assert_eq!(planned_streamed(&streamed), streams, "{path}");
        let whole = c.get(&format!("{path}&stream=false")).unwrap();
        assert_eq!(streamed.status, 200, "{path}: {}", streamed.text());
        assert_eq!(streamed.text(), whole.text(), "{path}");
    }
    // (query, status, outputs, planned series by series): all are, at an
    // instant and over a range (those that reorder sorted at the end)
    compare_with_whole(
        &c,
        &[
        ("x * on (instance) group_left (nodename) info", 200, 4, true),
        (
            "rate(x[1m]) + on (instance) group_left (nodename) (info + 1)",
            200,
            4,
            true,
        ),
        ("x > on (instance) group_left info", 200, 4, true),
        ("x * on (instance) group_left dup", 422, 0, true),
        ("x * on (instance) group_left (cpu) info_cpu", 422, 0, true),
        (
            "sum by (nodename) (x * on (instance) group_left (nodename) info)",
            200,
            2,
            true,
        ),
        (
            "count by (nodename, cpu) (rate(x[1m]) * on (instance) group_left (nodename) info) > 0",
            200,
            4,
            true,
        ),
        ("sum(x * on (instance) group_left dup)", 422, 0, true),
        // One-to-one with on / ignoring: a range answer sorted at the end.
        ("x / on (instance, cpu) x", 200, 6, true),
        ("r / on (v) r", 200, 2, true),
        ("r - ignoring (k) r", 200, 2, true),
        ("x{cpu=\"0\"} / ignoring (cpu) x{cpu=\"1\"}", 200, 3, true),
        ("x > ignoring (cpu) x{cpu=\"1\"}", 200, 0, true),
        ("x >= ignoring (cpu) x{cpu=\"1\"}", 422, 0, true),
        ("x / on (instance) info", 422, 0, true),
        ("sum(x / on (instance, cpu) x)", 200, 1, true),
        (
            "sum(x * on (instance) group_left (cpu) info_cpu)",
            422,
            0,
            true,
        ),
        ],
    );
}

/// `and`/`unless` (the right side held, any number of series a match
/// group) and `group_right` (the left side held): answers and errors as the
/// whole-query engine, instant and range, also where series come and go
/// (the match is step by step) and where a held group is too large or not
/// one series (the whole-query engine answers).
#[test]
fn set_operators_and_group_right_answer_as_whole() {
    let s = |labels: &[(&str, &str)], f: i64, ks: std::ops::RangeInclusive<i64>| FakeSeries {
        labels: ls(labels),
        samples: ks.map(|k| (k * 15_000, (k * f) as f64)).collect(),
    };
    let mut series = Vec::new();
    for inst in ["a", "b", "c"] {
        for cpu in ["0", "1"] {
            // `c`'s series stop half way.
            let ks = if inst == "c" { 0..=20 } else { 0..=40 };
            series.push(s(
                &[("__name__", "x"), ("cpu", cpu), ("instance", inst)],
                2,
                ks,
            ));
        }
    }
    // `y` for `a` throughout, for `b` in the second half only, none for `c`.
    series.push(s(&[("__name__", "y"), ("instance", "a")], 1, 0..=40));
    series.push(s(&[("__name__", "y"), ("instance", "b")], 1, 20..=40));
    for (inst, node) in [("a", "n1"), ("b", "n2"), ("c", "n3")] {
        series.push(s(
            &[("__name__", "info"), ("instance", inst), ("nodename", node)],
            0,
            0..=40,
        ));
    }
    series.push(s(
        &[("__name__", "dup"), ("instance", "a"), ("v", "1")],
        1,
        0..=40,
    ));
    series.push(s(
        &[("__name__", "dup"), ("instance", "a"), ("v", "2")],
        1,
        0..=10,
    ));
    for i in 0..20 {
        let i = format!("{i:02}");
        series.push(s(&[("__name__", "many"), ("i", &i)], 1, 0..=40));
    }
    // Two `p` of one instance: `p / on (instance) y` is Prometheus's
    // error, even where a filter above would drop one of the two.
    series.push(s(
        &[("__name__", "p"), ("instance", "a"), ("path", "1")],
        2,
        0..=40,
    ));
    series.push(s(
        &[("__name__", "p"), ("instance", "a"), ("path", "2")],
        0,
        0..=40,
    ));
    // The copied `job` overwrites the left series' own, which reverses
    // their order.
    series.push(s(
        &[
            ("__name__", "x2"),
            ("instance", "a"),
            ("job", "j1"),
            ("z", "2"),
        ],
        1,
        0..=40,
    ));
    series.push(s(
        &[
            ("__name__", "x2"),
            ("instance", "a"),
            ("job", "j2"),
            ("z", "1"),
        ],
        1,
        0..=40,
    ));
    series.push(s(
        &[("__name__", "info2"), ("instance", "a"), ("job", "J")],
        1,
        0..=40,
    ));
    // Enough series that their answer passes the first 64 KiB (when the
    // response is committed) before two of them collide.
    for i in 0..1500 {
        let i = format!("{i:04}");
        series.push(s(&[("__name__", "a_total"), ("i", &i)], 1, 0..=40));
        series.push(s(&[("__name__", "b_total"), ("i", &i)], 1, 0..=40));
    }
    let table = Table {
        series,
        ..Default::default()
    };
    let c = Cluster::start(vec![table], ClusterOptions::default()).unwrap();
    // A held group of more than 16 series goes to the whole-query engine.
    let r = c
        .get("/api/v1/query?query=x%20and%20on%20()%20many&time=300")
        .unwrap();
    assert_eq!(
        r.header("sluice-evaluation"),
        Some("whole-after-series-by-series")
    );
    // (query, status, outputs at time 300 (range: at least one), streamed)
    compare_with_whole(
        &c,
        &[
            ("x and on (instance) y", 200, 4, true),
            ("x unless on (instance) y", 200, 2, true),
            ("x and ignoring (cpu) y", 200, 4, true),
            ("rate(x[1m]) unless ignoring (cpu) y", 200, 2, true),
            ("x and y", 200, 0, true),
            ("x unless y", 200, 6, true),
            ("x and on (instance) dup", 200, 2, true),
            ("x and on () y", 200, 6, true),
            ("(x > 40) and on (instance) (y < 30)", 200, 0, true),
            ("x and on () many", 200, 6, true),
            ("sum by (instance) (x and on (instance) y)", 200, 2, true),
            ("count(rate(x[1m]) unless on (instance) y)", 200, 1, true),
            // Per-series expressions of such joins.
            (
                "100 * (x / on (instance) group_left (nodename) info)",
                200,
                6,
                true,
            ),
            ("abs(x - on (instance) group_left y) > 5", 200, 4, true),
            ("-(x and on (instance) y)", 200, 4, true),
            (
                "sum by (instance) (2 * (x unless on (instance) y))",
                200,
                1,
                true,
            ),
            (
                "round(info * on (instance) group_right (nodename) x, 10)",
                200,
                6,
                true,
            ),
            ("(p / on (instance) y) > 30", 422, 0, true),
            ("sum((p / on (instance) y) > 30)", 422, 0, true),
            ("p / on (instance) y", 422, 0, true),
            ("(p and on (instance) y) > 30", 200, 1, true),
            ("x2 * on (instance) group_left (job) info2", 200, 2, true),
            (
                "x2 - on (instance) group_left (job) info2 >= 0",
                200,
                2,
                true,
            ),
            ("rate({__name__=~\"a_total|b_total\"}[1m])", 422, 0, true),
            (
                "label_replace(a_total, \"i\", \"0000\", \"i\", \"1499\")",
                422,
                0,
                true,
            ),
            // The streamed side a one-to-one join of two selects.
        (
            "(x / x offset 1m) * on (instance) group_left (nodename) info",
            200,
            6,
            true,
        ),
        (
            "info * on (instance) group_right (nodename) (x - x offset 1m)",
            200,
            6,
            true,
        ),
        ("(rate(x[1m]) / rate(x[2m])) and on (instance) y", 200, 4, true),
        (
            "sum by (nodename) ((x / x offset 1m) * on (instance) group_left (nodename) info >= 0)",
            200,
            3,
            true,
        ),
        // absent of a selector: a streamed `group`, its labels from the
        // selector's matchers (absent_over_time is evaluated whole).
        ("absent(y{instance=\"c\", job=~\".*\"})", 200, 1, true),
        ("absent(nothing{a=\"b\", a=\"c\", d=\"e\"})", 200, 1, true),
        ("absent(x{instance=\"c\"})", 200, 0, true),
        ("absent_over_time(x{instance=\"c\"}[1m])", 200, 0, false),
        ("absent_over_time(nothing{a=\"b\", a=\"c\", d=\"e\"}[5m])", 200, 1, false),
        ("absent(sum(nothing))", 200, 1, true),
        ("x or y", 200, 8, true),
            ("x or on (instance) y", 200, 6, true),
            ("y or x", 200, 8, true),
            ("y or on (instance) x", 200, 4, true),
            ("rate(x[1m]) or ignoring (cpu) y", 200, 6, true),
            ("x{instance=\"c\"} or on (instance) y", 200, 4, true),
            ("rate(x[1m]) or rate(y[1m])", 200, 7, true),
            // The same labels from both sides, at different steps: one series.
            ("(y < 25) or (y offset 1m)", 200, 2, true),
            ("x or vector(1)", 200, 7, true),
            ("vector(1) or on (instance) x", 200, 7, true),
            ("sum by (instance) (rate(x[1m])) or vector(0)", 200, 4, true),
            ("rate(nonexistent[1m]) or vector(0)", 200, 1, true),
            // The side of no selector fails before the other is streamed.
            (
                "a_total or label_replace(vector(1), \"a\", \"$1\", \"b\", \"(\")",
                422,
                0,
                true,
            ),
            ("sum(x or y)", 200, 1, true),
            ("count by (instance) (x or on (instance) y)", 200, 3, true),
            ("topk(2, rate(x[1m]) or rate(y[1m]))", 200, 2, true),
            ("sum(rate(x[1m]) or vector(0))", 200, 1, true),
            ("sum((y < 25) or (y offset 1m))", 200, 1, true),
            ("x and on (instance) sum by (instance) (y)", 200, 4, false),
            (
                "info * on (instance) group_right (nodename) x",
                200,
                6,
                true,
            ),
            (
                "info + on (instance) group_right (nodename) rate(x[1m])",
                200,
                6,
                true,
            ),
            ("info == on (instance) group_right x", 200, 0, true),
            ("dup * on (instance) group_right x", 422, 0, true),
            (
                "sum by (nodename) (info * on (instance) group_right (nodename) x)",
                200,
                3,
                true,
            ),
        ],
    );
}

/// Queries of the kind Grafana dashboards (kube-prometheus, node-exporter)
/// and alert rules send: each is planned series by series, as an instant
/// and as a range query. (Their answers are compared elsewhere; this guards
/// the plan.)
#[test]
fn dashboard_and_alert_queries_are_planned_series_by_series() {
    use sluice::api::stream::streamable;
    use sluice::promql::{Query, QueryRange};
    let queries = [
        "sum(rate(container_cpu_usage_seconds_total{job=\"kubelet\", image!=\"\"}[5m])) by (pod)",
        "sum(container_memory_working_set_bytes{job=\"kubelet\", image!=\"\"}) by (pod)",
        "sum(kube_pod_container_resource_requests{resource=\"cpu\"}) by (pod)",
        "sum(rate(container_cpu_usage_seconds_total[5m])) by (pod) / sum(kube_pod_container_resource_requests{resource=\"cpu\"}) by (pod)",
        "histogram_quantile(0.99, sum(rate(apiserver_request_duration_seconds_bucket{verb!=\"WATCH\"}[5m])) by (le, verb))",
        "1 - avg(rate(node_cpu_seconds_total{mode=\"idle\"}[5m]))",
        "1 - sum(node_memory_MemAvailable_bytes) / sum(node_memory_MemTotal_bytes)",
        "node_filesystem_avail_bytes{fstype!=\"tmpfs\"} / node_filesystem_size_bytes{fstype!=\"tmpfs\"}",
        "(1 - node_filesystem_avail_bytes / node_filesystem_size_bytes) * 100",
        "max by (instance) (node_load1) / count by (instance) (node_cpu_seconds_total{mode=\"idle\"})",
        "up == 0",
        "count(up == 0)",
        "sum by (job) (up)",
        "topk(10, sum by (pod) (rate(container_network_receive_bytes_total[5m])))",
        "sum(rate(http_requests_total{code=~\"5..\"}[5m])) / sum(rate(http_requests_total[5m]))",
        "sum(rate(http_requests_total{code=~\"5..\"}[5m])) or vector(0)",
        "increase(kube_pod_container_status_restarts_total[1h]) > 0",
        "kube_pod_container_status_restarts_total * on (namespace, pod) group_left (node) kube_pod_info",
        "sum by (node) (kube_pod_container_resource_requests{resource=\"memory\"} * on (namespace, pod) group_left (node) kube_pod_info)",
        "label_replace(rate(node_network_receive_bytes_total[5m]), \"host\", \"$1\", \"instance\", \"(.*):.*\")",
        "rate(node_disk_read_bytes_total[5m]) + rate(node_disk_written_bytes_total[5m])",
        "avg_over_time(up[1d])",
        "absent(up{job=\"prometheus\"})",
        "predict_linear(node_filesystem_avail_bytes[6h], 4 * 3600) < 0",
        "(node_filesystem_avail_bytes / node_filesystem_size_bytes * 100 < 10) and node_filesystem_readonly == 0",
        "sum by (namespace) (kube_pod_status_phase{phase=\"Running\"})",
        "max_over_time(kube_deployment_status_replicas_unavailable[10m]) > 0",
        "sum(irate(node_network_transmit_bytes_total{device!~\"lo|veth.*\"}[5m])) by (instance)",
        "quantile_over_time(0.95, rate(http_requests_total[5m])[1h:])",
        "rate(prometheus_tsdb_head_samples_appended_total[5m])",
        "sum(kube_node_status_allocatable{resource=\"cpu\"}) - sum(kube_pod_container_resource_requests{resource=\"cpu\"})",
        "kube_deployment_spec_replicas != kube_deployment_status_replicas_available",
        "count by (version) (prometheus_build_info)",
        "sum without (instance) (rate(http_requests_total[5m]))",
        "rate(http_requests_total[5m]) unless on (job) up == 0",
        "sort_desc(sum by (job) (rate(http_requests_total[5m])))",
        "time() - process_start_time_seconds",
        "histogram_quantile(0.9, rate(http_request_duration_seconds_bucket[5m]))",
        "max by (namespace, pod) (kube_pod_status_ready{condition=\"false\"}) == 1",
        "ALERTS{alertstate=\"firing\"}",
        "count_values(\"version\", kube_node_info)",
        "sum(rate(container_cpu_usage_seconds_total[5m])) by (namespace) * on (namespace) group_left (team) max by (namespace, team) (kube_namespace_labels)",
        "(sum(rate(a_total[5m])) by (job) / sum(rate(b_total[5m])) by (job)) > 0.05",
        "delta(node_hwmon_temp_celsius[1h])",
    ];
    let range = QueryRange::Range {
        start_ms: 0,
        end_ms: 3_600_000,
        step_ms: 60_000,
    };
    let instant = QueryRange::Instant { time_ms: 3_600_000 };
    for q in queries {
        let parsed = Query::parse(q).unwrap();
        assert!(streamable(&parsed, &range).is_some(), "range: {q}");
        assert!(streamable(&parsed, &instant).is_some(), "instant: {q}");
    }
}
