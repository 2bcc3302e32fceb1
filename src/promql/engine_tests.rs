//! Cases from Prometheus v2.42 `promql/engine_test.go`, transcribed as data:
//! select hints (`TestSelectHintsSetCorrectly`), the sample limit
//! (`TestMaxQuerySamples`, and the peaks of `TestQueryStatistics`),
//! `@` (`TestAtModifier`), subquery results (`TestSubquerySelector`),
//! result shapes (`TestEngineEvalStmtTimestamps`, `TestRangeQuery`) and the
//! lookback delta (`TestQueryLookbackDelta`).

use std::cell::RefCell;

use futures_lite::future::block_on;

use crate::labels::{label, Matcher};

use super::storage::{SelectFuture, SelectResult};
use super::test_script::{parse_script, Command};
use super::*;

fn load(script: &str) -> MemoryStorage {
    let mut st = MemoryStorage::new();
    for cmd in parse_script(script).expect("test script parses") {
        if let Command::Load {
            interval_ms,
            series,
        } = cmd
        {
            for (labels, vals) in series {
                let samples: Vec<Point> = vals
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| {
                        v.map(|v| Point {
                            t: i as i64 * interval_ms,
                            v,
                        })
                    })
                    .collect();
                st.append(labels, &samples);
            }
        }
    }
    st
}

fn labels(pairs: &[(&str, &str)]) -> Metric {
    let mut ls: Labels = pairs.iter().map(|(n, v)| label(n, v)).collect();
    crate::labels::sort(&mut ls);
    Metric::new(ls)
}

fn series(pairs: &[(&str, &str)], points: &[(i64, f64)]) -> Series {
    Series {
        metric: labels(pairs),
        points: points.iter().map(|&(t, v)| Point { t, v }).collect(),
    }
}

fn engine(max_samples: usize) -> Engine {
    Engine::new(EngineOptions {
        lookback_delta_ms: DEFAULT_LOOKBACK_DELTA_MS,
        max_samples,
        default_subquery_step_ms: 60_000,
        timeout: None,
    })
}

fn run(e: &Engine, st: &dyn Storage, q: &str, start: i64, end: i64, step: i64) -> Result<Value> {
    let q = Query::parse(q)?;
    let range = if step == 0 {
        QueryRange::Instant { time_ms: start }
    } else {
        QueryRange::Range {
            start_ms: start,
            end_ms: end,
            step_ms: step,
        }
    };
    block_on(e.exec(st, &q, range, &QueryOpts::default())).map(|r| r.value)
}

/// Records the hints of every select and returns no data.
#[derive(Default)]
struct HintRecorder {
    hints: RefCell<Vec<SelectHints>>,
}

impl Storage for HintRecorder {
    fn select<'a>(&'a self, hints: &'a SelectHints, _m: &'a [Matcher]) -> SelectFuture<'a> {
        self.hints.borrow_mut().push(hints.clone());
        Box::pin(async { Ok(SelectResult::default()) })
    }
}

/// Parses a hint written as `START..END` followed by any of `step=N`,
/// `func=NAME`, `range=N`, `by`, `grouping=a,b`.
fn hint(spec: &str) -> SelectHints {
    let mut h = SelectHints::default();
    let mut words = spec.split_whitespace();
    let (start, end) = words
        .next()
        .and_then(|w| w.split_once(".."))
        .expect("hint starts with START..END");
    h.start = start.parse().expect("start");
    h.end = end.parse().expect("end");
    for w in words {
        match w.split_once('=') {
            Some(("step", v)) => h.step = v.parse().expect("step"),
            Some(("range", v)) => h.range = v.parse().expect("range"),
            Some(("func", v)) => h.func = v.to_string(),
            Some(("grouping", v)) => h.grouping = v.split(',').map(str::to_string).collect(),
            None if w == "by" => h.by = true,
            _ => panic!("bad hint word {w:?}"),
        }
    }
    h
}

#[test]
fn select_hints() {
    // (query, start, end (0 = instant), expected hints in select order)
    let cases: &[(&str, i64, i64, &[&str])] = &[
        ("foo", 10000, 0, &["5000..10000"]),
        ("foo @ 15", 10000, 0, &["10000..15000"]),
        ("foo @ 1", 10000, 0, &["-4000..1000"]),
        ("foo[2m]", 200000, 0, &["80000..200000 range=120000"]),
        ("foo[2m] @ 180", 200000, 0, &["60000..180000 range=120000"]),
        ("foo[2m] @ 300", 200000, 0, &["180000..300000 range=120000"]),
        ("foo[2m] @ 60", 200000, 0, &["-60000..60000 range=120000"]),
        (
            "foo[2m] offset 2m",
            300000,
            0,
            &["60000..180000 range=120000"],
        ),
        (
            "foo[2m] @ 200 offset 2m",
            300000,
            0,
            &["-40000..80000 range=120000"],
        ),
        ("foo[2m:1s]", 300000, 0, &["175000..300000 step=1000"]),
        (
            "count_over_time(foo[2m:1s])",
            300000,
            0,
            &["175000..300000 func=count_over_time step=1000"],
        ),
        (
            "count_over_time(foo[2m:1s] @ 300)",
            200000,
            0,
            &["175000..300000 func=count_over_time step=1000"],
        ),
        (
            "count_over_time(foo[2m:1s] @ 200)",
            200000,
            0,
            &["75000..200000 func=count_over_time step=1000"],
        ),
        (
            "count_over_time(foo[2m:1s] @ 100)",
            200000,
            0,
            &["-25000..100000 func=count_over_time step=1000"],
        ),
        (
            "count_over_time(foo[2m:1s] offset 10s)",
            300000,
            0,
            &["165000..290000 func=count_over_time step=1000"],
        ),
        (
            "count_over_time((foo offset 10s)[2m:1s] offset 10s)",
            300000,
            0,
            &["155000..280000 func=count_over_time step=1000"],
        ),
        (
            "count_over_time((foo @ 200 offset 10s)[2m:1s] offset 10s)",
            300000,
            0,
            &["185000..190000 func=count_over_time step=1000"],
        ),
        (
            "count_over_time((foo @ 200 offset 10s)[2m:1s] @ 100 offset 10s)",
            300000,
            0,
            &["185000..190000 func=count_over_time step=1000"],
        ),
        (
            "count_over_time((foo offset 10s)[2m:1s] @ 100 offset 10s)",
            300000,
            0,
            &["-45000..80000 func=count_over_time step=1000"],
        ),
        ("foo", 10000, 20000, &["5000..20000 step=1000"]),
        ("foo @ 15", 10000, 20000, &["10000..15000 step=1000"]),
        ("foo @ 1", 10000, 20000, &["-4000..1000 step=1000"]),
        (
            "rate(foo[2m] @ 180)",
            200000,
            500000,
            &["60000..180000 range=120000 func=rate step=1000"],
        ),
        (
            "rate(foo[2m] @ 300)",
            200000,
            500000,
            &["180000..300000 range=120000 func=rate step=1000"],
        ),
        (
            "rate(foo[2m] @ 60)",
            200000,
            500000,
            &["-60000..60000 range=120000 func=rate step=1000"],
        ),
        (
            "rate(foo[2m])",
            200000,
            500000,
            &["80000..500000 range=120000 func=rate step=1000"],
        ),
        (
            "rate(foo[2m] offset 2m)",
            300000,
            500000,
            &["60000..380000 range=120000 func=rate step=1000"],
        ),
        (
            "rate(foo[2m:1s])",
            300000,
            500000,
            &["175000..500000 func=rate step=1000"],
        ),
        (
            "count_over_time(foo[2m:1s])",
            300000,
            500000,
            &["175000..500000 func=count_over_time step=1000"],
        ),
        (
            "count_over_time(foo[2m:1s] offset 10s)",
            300000,
            500000,
            &["165000..490000 func=count_over_time step=1000"],
        ),
        (
            "count_over_time(foo[2m:1s] @ 300)",
            200000,
            500000,
            &["175000..300000 func=count_over_time step=1000"],
        ),
        (
            "count_over_time(foo[2m:1s] @ 200)",
            200000,
            500000,
            &["75000..200000 func=count_over_time step=1000"],
        ),
        (
            "count_over_time(foo[2m:1s] @ 100)",
            200000,
            500000,
            &["-25000..100000 func=count_over_time step=1000"],
        ),
        (
            "count_over_time((foo offset 10s)[2m:1s] offset 10s)",
            300000,
            500000,
            &["155000..480000 func=count_over_time step=1000"],
        ),
        (
            "count_over_time((foo @ 200 offset 10s)[2m:1s] offset 10s)",
            300000,
            500000,
            &["185000..190000 func=count_over_time step=1000"],
        ),
        (
            "count_over_time((foo @ 200 offset 10s)[2m:1s] @ 100 offset 10s)",
            300000,
            500000,
            &["185000..190000 func=count_over_time step=1000"],
        ),
        (
            "count_over_time((foo offset 10s)[2m:1s] @ 100 offset 10s)",
            300000,
            500000,
            &["-45000..80000 func=count_over_time step=1000"],
        ),
        (
            "sum by (dim1) (foo)",
            10000,
            0,
            &["5000..10000 func=sum by grouping=dim1"],
        ),
        (
            "sum without (dim1) (foo)",
            10000,
            0,
            &["5000..10000 func=sum grouping=dim1"],
        ),
        (
            "sum by (dim1) (avg_over_time(foo[1s]))",
            10000,
            0,
            &["9000..10000 func=avg_over_time range=1000"],
        ),
        (
            "sum by (dim1) (max by (dim2) (foo))",
            10000,
            0,
            &["5000..10000 func=max by grouping=dim2"],
        ),
        (
            "(max by (dim1) (foo))[5s:1s]",
            10000,
            0,
            &["0..10000 func=max by grouping=dim1 step=1000"],
        ),
        (
            "(sum(http_requests{group=~\"p.*\"})+max(http_requests{group=~\"c.*\"}))[20s:5s]",
            120000,
            0,
            &[
                "95000..120000 func=sum by step=5000",
                "95000..120000 func=max by step=5000",
            ],
        ),
        (
            "foo @ 50 + bar @ 250 + baz @ 900",
            100000,
            500000,
            &[
                "45000..50000 step=1000",
                "245000..250000 step=1000",
                "895000..900000 step=1000",
            ],
        ),
        (
            "foo @ 50 + bar + baz @ 900",
            100000,
            500000,
            &[
                "45000..50000 step=1000",
                "95000..500000 step=1000",
                "895000..900000 step=1000",
            ],
        ),
        (
            "rate(foo[2s] @ 50) + bar @ 250 + baz @ 900",
            100000,
            500000,
            &[
                "48000..50000 step=1000 func=rate range=2000",
                "245000..250000 step=1000",
                "895000..900000 step=1000",
            ],
        ),
        (
            "rate(foo[2s:1s] @ 50) + bar + baz",
            100000,
            500000,
            &[
                "43000..50000 step=1000 func=rate",
                "95000..500000 step=1000",
                "95000..500000 step=1000",
            ],
        ),
        (
            "rate(foo[2s:1s] @ 50) + bar + rate(baz[2m:1s] @ 900 offset 2m) ",
            100000,
            500000,
            &[
                "43000..50000 step=1000 func=rate",
                "95000..500000 step=1000",
                "655000..780000 step=1000 func=rate",
            ],
        ),
        (
            r#"sum_over_time(sum_over_time(metric{job="1"}[100s])[100s:25s] @ 50)[3s:1s] @ 3000"#,
            100000,
            0,
            &["-150000..50000 range=100000 func=sum_over_time step=25000"],
        ),
        (
            r#"sum_over_time(sum_over_time(metric{job="1"}[100s])[100s:25s] @ 3000)[3s:1s] @ 50"#,
            0,
            0,
            &["2800000..3000000 range=100000 func=sum_over_time step=25000"],
        ),
    ];
    let e = Engine::new(EngineOptions {
        lookback_delta_ms: 5000,
        max_samples: 10,
        default_subquery_step_ms: 60_000,
        timeout: None,
    });
    for &(q, start, end, want) in cases {
        let rec = HintRecorder::default();
        let step = if end == 0 { 0 } else { 1000 };
        if let Err(err) = run(&e, &rec, q, start, end, step) {
            panic!("{q}: {err}");
        }
        let want: Vec<SelectHints> = want.iter().map(|h| hint(h)).collect();
        assert_eq!(rec.hints.into_inner(), want, "{q}");
    }
}

/// Each query at exactly its peak sample count succeeds and one below fails.
fn assert_peak(st: &MemoryStorage, q: &str, peak: usize, start: i64, end: i64, step: i64) {
    let ok = run(&engine(peak), st, q, start, end, step);
    assert!(ok.is_ok(), "{q} with max_samples={peak}: {ok:?}");
    let err = run(&engine(peak - 1), st, q, start, end, step);
    assert!(
        matches!(&err, Err(e) if e.is_too_many_samples()),
        "{q} with max_samples={}: {err:?}",
        peak - 1
    );
}

#[test]
fn max_query_samples() {
    let st = load(
        "load 10s\n  metric 1+1x100\n  bigmetric{a=\"1\"} 1+1x100\n  bigmetric{a=\"2\"} 1+1x100\n",
    );
    // (query, samples at the limit, start s, end s, step s)
    let cases: &[(&str, usize, i64, i64, i64)] = &[
        ("1", 1, 1, 0, 0),
        ("metric", 1, 1, 0, 0),
        ("metric[20s]", 2, 10, 0, 0),
        ("rate(metric[20s])", 3, 10, 0, 0),
        ("metric[20s:5s]", 3, 10, 0, 0),
        ("metric[20s] @ 10", 2, 0, 0, 0),
        ("1", 3, 0, 2, 1),
        ("metric", 3, 0, 2, 1),
        ("metric", 3, 0, 10, 5),
        ("rate(bigmetric[1s])", 1, 0, 10, 5),
        ("metric @ 10", 3, 0, 10, 5),
        ("rate(bigmetric[10s:1s] @ 10)", 35, 0, 10, 5),
        (
            "rate(bigmetric[10s:1s] @ 10) + rate(bigmetric[10s:1s] @ 30)",
            37,
            0,
            10,
            5,
        ),
        (
            "rate(bigmetric[10s:1s]) + rate(bigmetric[10s:1s] @ 30)",
            59,
            10,
            20,
            5,
        ),
        (
            "rate(rate(bigmetric[10s:1s] @ 10)[100s:25s] @ 1000)[100s:20s] @ 2000",
            35,
            10,
            0,
            0,
        ),
        (
            "rate(rate(bigmetric[10s:1s] @ 10)[100s:25s] @ 1000)[17s:1s] @ 2000",
            36,
            10,
            0,
            0,
        ),
    ];
    for &(q, max, start, end, step) in cases {
        assert_peak(&st, q, max, start * 1000, end * 1000, step * 1000);
    }
}

#[test]
fn query_statistics_peaks() {
    let st = load(
        "load 10s\n  metricWith1SampleEvery10Seconds 1+1x100\n  metricWith3SampleEvery10Seconds{a=\"1\",b=\"1\"} 1+1x100\n  metricWith3SampleEvery10Seconds{a=\"2\",b=\"2\"} 1+1x100\n  metricWith3SampleEvery10Seconds{a=\"3\",b=\"2\"} 1+1x100\n",
    );
    let cases: &[(&str, usize, i64, i64, i64)] = &[
        ("1", 1, 21, 0, 0),
        ("metricWith1SampleEvery10Seconds", 1, 21, 0, 0),
        ("timestamp(metricWith1SampleEvery10Seconds)", 2, 21, 0, 0),
        ("metricWith1SampleEvery10Seconds", 1, 22, 0, 0),
        ("metricWith1SampleEvery10Seconds offset 10s", 1, 21, 0, 0),
        ("metricWith1SampleEvery10Seconds @ 15", 1, 21, 0, 0),
        (r#"metricWith3SampleEvery10Seconds{a="1"}"#, 1, 21, 0, 0),
        (r#"metricWith3SampleEvery10Seconds{a="1"} @ 19"#, 1, 21, 0, 0),
        (r#"metricWith3SampleEvery10Seconds{a="1"}[20s] @ 19"#, 2, 21, 0, 0),
        ("metricWith3SampleEvery10Seconds", 3, 21, 0, 0),
        ("metricWith1SampleEvery10Seconds[60s]", 6, 201, 0, 0),
        ("max_over_time(metricWith1SampleEvery10Seconds[59s])[20s:5s]", 10, 201, 0, 0),
        ("max_over_time(metricWith1SampleEvery10Seconds[60s])[20s:5s]", 11, 201, 0, 0),
        ("metricWith1SampleEvery10Seconds[60s] @ 30", 4, 201, 0, 0),
        ("sum(max_over_time(metricWith3SampleEvery10Seconds[60s] @ 30))", 7, 201, 0, 0),
        ("sum by (b) (max_over_time(metricWith3SampleEvery10Seconds[60s] @ 30))", 8, 201, 0, 0),
        ("metricWith1SampleEvery10Seconds[60s] offset 10s", 6, 201, 0, 0),
        ("metricWith3SampleEvery10Seconds[60s]", 18, 201, 0, 0),
        ("max_over_time(metricWith1SampleEvery10Seconds[60s])", 7, 201, 0, 0),
        ("absent_over_time(metricWith1SampleEvery10Seconds[60s])", 7, 201, 0, 0),
        ("max_over_time(metricWith3SampleEvery10Seconds[60s])", 9, 201, 0, 0),
        ("metricWith1SampleEvery10Seconds[60s:5s]", 12, 201, 0, 0),
        ("metricWith1SampleEvery10Seconds[60s:5s] offset 10s", 12, 201, 0, 0),
        ("max_over_time(metricWith3SampleEvery10Seconds[60s:5s])", 51, 201, 0, 0),
        (
            "sum(max_over_time(metricWith3SampleEvery10Seconds[60s:5s])) + sum(max_over_time(metricWith3SampleEvery10Seconds[60s:5s]))",
            52,
            201,
            0,
            0,
        ),
        (r#"metricWith3SampleEvery10Seconds{a="1"}"#, 4, 201, 220, 5),
        (r#"metricWith3SampleEvery10Seconds{a="1"}"#, 4, 204, 223, 5),
        ("timestamp(metricWith1SampleEvery10Seconds)", 5, 201, 220, 5),
        (r#"max_over_time(metricWith3SampleEvery10Seconds{a="1"}[10s])"#, 2, 991, 1021, 10),
        (r#"metricWith3SampleEvery10Seconds{a="1"} offset 10s"#, 4, 201, 220, 5),
        ("max_over_time(metricWith3SampleEvery10Seconds[60s] @ 30)", 12, 201, 220, 5),
        ("metricWith3SampleEvery10Seconds", 12, 201, 220, 5),
        ("max_over_time(metricWith3SampleEvery10Seconds[60s])", 18, 201, 220, 5),
        ("max_over_time(metricWith3SampleEvery10Seconds[60s:5s])", 72, 201, 220, 5),
        ("max_over_time(metricWith1SampleEvery10Seconds[60s:5s])", 32, 201, 220, 5),
        ("sum by (b) (max_over_time(metricWith1SampleEvery10Seconds[60s:5s]))", 32, 201, 220, 5),
        (
            "sum(max_over_time(metricWith3SampleEvery10Seconds[60s:5s])) + sum(max_over_time(metricWith3SampleEvery10Seconds[60s:5s]))",
            76,
            201,
            220,
            5,
        ),
        (
            "sum(max_over_time(metricWith3SampleEvery10Seconds[60s:5s])) + sum(max_over_time(metricWith1SampleEvery10Seconds[60s:5s]))",
            72,
            201,
            220,
            5,
        ),
    ];
    for &(q, peak, start, end, step) in cases {
        assert_peak(&st, q, peak, start * 1000, end * 1000, step * 1000);
    }
}

#[test]
fn eval_stmt_timestamps() {
    let st = load("load 10s\n  metric 1 2\n");
    let e = engine(10_000);
    let name = [("__name__", "metric")];
    assert_eq!(
        run(&e, &st, "1", 1000, 0, 0).expect("query runs"),
        Value::Scalar { t: 1000, v: 1.0 }
    );
    assert_eq!(
        run(&e, &st, "metric", 1000, 0, 0).expect("query runs"),
        Value::Vector(vec![Sample {
            metric: labels(&name),
            t: 1000,
            v: 1.0
        }])
    );
    assert_eq!(
        run(&e, &st, "metric[20s]", 10000, 0, 0).expect("query runs"),
        Value::Matrix(vec![series(&name, &[(0, 1.0), (10000, 2.0)])])
    );
    assert_eq!(
        run(&e, &st, "1", 0, 2000, 1000).expect("query runs"),
        Value::Matrix(vec![series(&[], &[(0, 1.0), (1000, 1.0), (2000, 1.0)])])
    );
    assert_eq!(
        run(&e, &st, "metric", 0, 2000, 1000).expect("query runs"),
        Value::Matrix(vec![series(&name, &[(0, 1.0), (1000, 1.0), (2000, 1.0)])])
    );
    assert_eq!(
        run(&e, &st, "metric", 0, 10000, 5000).expect("query runs"),
        Value::Matrix(vec![series(&name, &[(0, 1.0), (5000, 1.0), (10000, 2.0)])])
    );
    let err =
        run(&e, &st, r#"count_values("wrong label!", metric)"#, 0, 0, 0).expect_err("query fails");
    assert_eq!(err.message(), "invalid label name \"wrong label!\"");
    assert!(err.is_execution());
}

#[test]
fn at_modifier() {
    let mut st = load(
        "load 10s\n  metric{job=\"1\"} 0+1x1000\n  metric{job=\"2\"} 0+2x1000\n  metric_topk{instance=\"1\"} 0+1x1000\n  metric_topk{instance=\"2\"} 0+2x1000\n  metric_topk{instance=\"3\"} 1000-1x1000\n\nload 1ms\n  metric_ms 0+1x10000\n",
    );
    let mut neg = vec![Point {
        t: -1_000_000,
        v: 1000.0,
    }];
    let mut ts = -1_000_000 + 1000;
    while ts <= 0 {
        neg.push(Point {
            t: ts,
            v: -((ts / 1000) as f64) + 1.0,
        });
        ts += 1000;
    }
    st.append(labels(&[("__name__", "metric_neg")]).to_vec(), &neg);
    st.append(
        labels(&[("__name__", "metric_timestamp")]).to_vec(),
        &[Point {
            t: 3_600_000,
            v: 1000.0,
        }],
    );
    let e = engine(10_000);
    let l1 = [("__name__", "metric"), ("job", "1")];
    let l2 = [("__name__", "metric"), ("job", "2")];
    let neg_l = [("__name__", "metric_neg")];
    let ms = [("__name__", "metric_ms")];
    let topk2 = [("__name__", "metric_topk"), ("instance", "2")];
    let topk3 = [("__name__", "metric_topk"), ("instance", "3")];
    let vector = |l: &[(&str, &str)], t: i64, v: f64| {
        Value::Vector(vec![Sample {
            metric: labels(l),
            t,
            v,
        }])
    };
    // (query, start, end, step (s; 0 = instant), expected)
    let cases: Vec<(&str, i64, i64, i64, Value)> = vec![
        ("metric_neg @ 0", 100, 0, 0, vector(&neg_l, 100_000, 1.0)),
        (
            "metric_neg @ -200",
            100,
            0,
            0,
            vector(&neg_l, 100_000, 201.0),
        ),
        (
            r#"metric{job="2"} @ 50"#,
            -2,
            2,
            1,
            Value::Matrix(vec![series(
                &l2,
                &[
                    (-2000, 10.0),
                    (-1000, 10.0),
                    (0, 10.0),
                    (1000, 10.0),
                    (2000, 10.0),
                ],
            )]),
        ),
        (
            "metric[20s] @ 300",
            10,
            0,
            0,
            Value::Matrix(vec![
                series(&l1, &[(280000, 28.0), (290000, 29.0), (300000, 30.0)]),
                series(&l2, &[(280000, 56.0), (290000, 58.0), (300000, 60.0)]),
            ]),
        ),
        (
            "metric_neg[2s] @ 0",
            100,
            0,
            0,
            Value::Matrix(vec![series(
                &neg_l,
                &[(-2000, 3.0), (-1000, 2.0), (0, 1.0)],
            )]),
        ),
        (
            "metric_neg[3s] @ -500",
            100,
            0,
            0,
            Value::Matrix(vec![series(
                &neg_l,
                &[
                    (-503000, 504.0),
                    (-502000, 503.0),
                    (-501000, 502.0),
                    (-500000, 501.0),
                ],
            )]),
        ),
        (
            "metric_ms[3ms] @ 2.345",
            100,
            0,
            0,
            Value::Matrix(vec![series(
                &ms,
                &[
                    (2342, 2342.0),
                    (2343, 2343.0),
                    (2344, 2344.0),
                    (2345, 2345.0),
                ],
            )]),
        ),
        (
            "metric[100s:25s] @ 300",
            100,
            0,
            0,
            Value::Matrix(vec![
                series(
                    &l1,
                    &[
                        (200000, 20.0),
                        (225000, 22.0),
                        (250000, 25.0),
                        (275000, 27.0),
                        (300000, 30.0),
                    ],
                ),
                series(
                    &l2,
                    &[
                        (200000, 40.0),
                        (225000, 44.0),
                        (250000, 50.0),
                        (275000, 54.0),
                        (300000, 60.0),
                    ],
                ),
            ]),
        ),
        (
            "metric_neg[50s:25s] @ 0",
            100,
            0,
            0,
            Value::Matrix(vec![series(
                &neg_l,
                &[(-50000, 51.0), (-25000, 26.0), (0, 1.0)],
            )]),
        ),
        (
            "metric_neg[50s:25s] @ -100",
            100,
            0,
            0,
            Value::Matrix(vec![series(
                &neg_l,
                &[(-150000, 151.0), (-125000, 126.0), (-100000, 101.0)],
            )]),
        ),
        (
            "metric_ms[100ms:25ms] @ 2.345",
            100,
            0,
            0,
            Value::Matrix(vec![series(
                &ms,
                &[
                    (2250, 2250.0),
                    (2275, 2275.0),
                    (2300, 2300.0),
                    (2325, 2325.0),
                ],
            )]),
        ),
        (
            "metric_topk and topk(1, sum_over_time(metric_topk[50s] @ 100))",
            50,
            80,
            10,
            Value::Matrix(vec![series(
                &topk3,
                &[
                    (50000, 995.0),
                    (60000, 994.0),
                    (70000, 993.0),
                    (80000, 992.0),
                ],
            )]),
        ),
        (
            "metric_topk and topk(1, sum_over_time(metric_topk[50s] @ 5000))",
            50,
            80,
            10,
            Value::Matrix(vec![series(
                &topk2,
                &[(50000, 10.0), (60000, 12.0), (70000, 14.0), (80000, 16.0)],
            )]),
        ),
        (
            "metric_topk and topk(1, sum_over_time(metric_topk[50s] @ end()))",
            70,
            100,
            10,
            Value::Matrix(vec![series(
                &topk3,
                &[
                    (70000, 993.0),
                    (80000, 992.0),
                    (90000, 991.0),
                    (100000, 990.0),
                ],
            )]),
        ),
        (
            "metric_topk and topk(1, sum_over_time(metric_topk[50s] @ start()))",
            100,
            130,
            10,
            Value::Matrix(vec![series(
                &topk3,
                &[
                    (100000, 990.0),
                    (110000, 989.0),
                    (120000, 988.0),
                    (130000, 987.0),
                ],
            )]),
        ),
        (
            "timestamp(metric_timestamp @ 3600)",
            0,
            420,
            60,
            Value::Matrix(vec![series(
                &[],
                &(0..8).map(|i| (i * 60_000, 3600.0)).collect::<Vec<_>>(),
            )]),
        ),
    ];
    for (q, start, end, step, want) in cases {
        let got = run(&e, &st, q, start * 1000, end * 1000, step * 1000)
            .unwrap_or_else(|err| panic!("{q}: {err}"));
        let got = match got {
            Value::Matrix(mut m) => {
                m.sort_by(|a, b| crate::labels::compare(&a.metric, &b.metric));
                Value::Matrix(m)
            }
            v => v,
        };
        assert_eq!(got, want, "{q}");
    }
}

#[test]
fn subquery_selector() {
    let e = engine(10_000);
    let name = [("__name__", "metric")];
    let st = load("load 10s\n  metric 1 2\n");
    let cases: Vec<(&str, i64, Vec<Series>)> = vec![
        (
            "metric[20s:10s]",
            10,
            vec![series(&name, &[(0, 1.0), (10000, 2.0)])],
        ),
        (
            "metric[20s:5s]",
            10,
            vec![series(&name, &[(0, 1.0), (5000, 1.0), (10000, 2.0)])],
        ),
        (
            "metric[20s:5s] offset 2s",
            12,
            vec![series(&name, &[(0, 1.0), (5000, 1.0), (10000, 2.0)])],
        ),
        (
            "metric[20s:5s] offset 6s",
            20,
            vec![series(&name, &[(0, 1.0), (5000, 1.0), (10000, 2.0)])],
        ),
        (
            "metric[20s:5s] offset 4s",
            35,
            vec![series(
                &name,
                &[(15000, 2.0), (20000, 2.0), (25000, 2.0), (30000, 2.0)],
            )],
        ),
        (
            "metric[20s:5s] offset 5s",
            35,
            vec![series(
                &name,
                &[
                    (10000, 2.0),
                    (15000, 2.0),
                    (20000, 2.0),
                    (25000, 2.0),
                    (30000, 2.0),
                ],
            )],
        ),
        (
            "metric[20s:5s] offset 6s",
            35,
            vec![series(
                &name,
                &[(10000, 2.0), (15000, 2.0), (20000, 2.0), (25000, 2.0)],
            )],
        ),
        (
            "metric[20s:5s] offset 7s",
            35,
            vec![series(
                &name,
                &[(10000, 2.0), (15000, 2.0), (20000, 2.0), (25000, 2.0)],
            )],
        ),
    ];
    for (q, start, want) in cases {
        let got = run(&e, &st, q, start * 1000, 0, 0).unwrap_or_else(|err| panic!("{q}: {err}"));
        assert_eq!(got, Value::Matrix(want), "{q}");
    }

    let st = load(
        "load 10s\n  http_requests{job=\"api-server\", instance=\"0\", group=\"production\"}\t0+10x1000 100+30x1000\n  http_requests{job=\"api-server\", instance=\"1\", group=\"production\"}\t0+20x1000 200+30x1000\n  http_requests{job=\"api-server\", instance=\"0\", group=\"canary\"}\t\t0+30x1000 300+80x1000\n  http_requests{job=\"api-server\", instance=\"1\", group=\"canary\"}\t\t0+40x2000\n",
    );
    let prod0 = [
        ("__name__", "http_requests"),
        ("job", "api-server"),
        ("instance", "0"),
        ("group", "production"),
    ];
    let cases: Vec<(&str, i64, Vec<Series>)> = vec![
        (
            r#"http_requests{group=~"pro.*",instance="0"}[30s:10s]"#,
            10020,
            vec![series(
                &prod0,
                &[
                    (9990000, 9990.0),
                    (10000000, 10000.0),
                    (10010000, 100.0),
                    (10020000, 130.0),
                ],
            )],
        ),
        (
            r#"http_requests{group=~"pro.*",instance="0"}[5m:]"#,
            10100,
            vec![series(
                &prod0,
                &[
                    (9840000, 9840.0),
                    (9900000, 9900.0),
                    (9960000, 9960.0),
                    (10020000, 130.0),
                    (10080000, 310.0),
                ],
            )],
        ),
        (
            r#"http_requests{group=~"pro.*",instance="0"}[5m:] offset 20m"#,
            10100,
            vec![series(
                &prod0,
                &[
                    (8640000, 8640.0),
                    (8700000, 8700.0),
                    (8760000, 8760.0),
                    (8820000, 8820.0),
                    (8880000, 8880.0),
                ],
            )],
        ),
        (
            "rate(http_requests[1m])[15s:5s]",
            8000,
            vec![
                series(
                    &[
                        ("job", "api-server"),
                        ("instance", "0"),
                        ("group", "canary"),
                    ],
                    &[
                        (7985000, 3.0),
                        (7990000, 3.0),
                        (7995000, 3.0),
                        (8000000, 3.0),
                    ],
                ),
                series(
                    &[
                        ("job", "api-server"),
                        ("instance", "1"),
                        ("group", "canary"),
                    ],
                    &[
                        (7985000, 4.0),
                        (7990000, 4.0),
                        (7995000, 4.0),
                        (8000000, 4.0),
                    ],
                ),
                series(
                    &[
                        ("job", "api-server"),
                        ("instance", "0"),
                        ("group", "production"),
                    ],
                    &[
                        (7985000, 1.0),
                        (7990000, 1.0),
                        (7995000, 1.0),
                        (8000000, 1.0),
                    ],
                ),
                series(
                    &[
                        ("job", "api-server"),
                        ("instance", "1"),
                        ("group", "production"),
                    ],
                    &[
                        (7985000, 2.0),
                        (7990000, 2.0),
                        (7995000, 2.0),
                        (8000000, 2.0),
                    ],
                ),
            ],
        ),
        (
            r#"sum(http_requests{group=~"pro.*"})[30s:10s]"#,
            120,
            vec![series(
                &[],
                &[
                    (90000, 270.0),
                    (100000, 300.0),
                    (110000, 330.0),
                    (120000, 360.0),
                ],
            )],
        ),
        (
            "sum(http_requests)[40s:10s]",
            120,
            vec![series(
                &[],
                &[
                    (80000, 800.0),
                    (90000, 900.0),
                    (100000, 1000.0),
                    (110000, 1100.0),
                    (120000, 1200.0),
                ],
            )],
        ),
        (
            r#"(sum(http_requests{group=~"p.*"})+sum(http_requests{group=~"c.*"}))[20s:5s]"#,
            120,
            vec![series(
                &[],
                &[
                    (100000, 1000.0),
                    (105000, 1000.0),
                    (110000, 1100.0),
                    (115000, 1100.0),
                    (120000, 1200.0),
                ],
            )],
        ),
    ];
    for (q, start, mut want) in cases {
        let got = run(&e, &st, q, start * 1000, 0, 0).unwrap_or_else(|err| panic!("{q}: {err}"));
        let Value::Matrix(mut got) = got else {
            panic!("{q}: not a matrix");
        };
        got.sort_by(|a, b| crate::labels::compare(&a.metric, &b.metric));
        want.sort_by(|a, b| crate::labels::compare(&a.metric, &b.metric));
        assert_eq!(got, want, "{q}");
    }
}

/// (data, query, start s, end s, step s, expected matrix)
type RangeCase = (&'static str, &'static str, i64, i64, i64, Vec<Series>);

#[test]
fn range_queries() {
    let e = engine(10_000);
    let cases: Vec<RangeCase> = vec![
        (
            "load 30s\n  bar 0 1 10 100 1000\n",
            "sum_over_time(bar[30s])",
            0,
            120,
            60,
            vec![series(&[], &[(0, 0.0), (60000, 11.0), (120000, 1100.0)])],
        ),
        (
            "load 30s\n  bar 0 1 10 100 1000 0 0 0 0\n",
            "sum_over_time(bar[30s])",
            0,
            120,
            60,
            vec![series(&[], &[(0, 0.0), (60000, 11.0), (120000, 1100.0)])],
        ),
        (
            "load 30s\n  bar 0 1 10 100 1000 10000 100000 1000000 10000000\n",
            "sum_over_time(bar[30s])",
            0,
            240,
            60,
            vec![series(
                &[],
                &[
                    (0, 0.0),
                    (60000, 11.0),
                    (120000, 1100.0),
                    (180000, 110000.0),
                    (240000, 11000000.0),
                ],
            )],
        ),
        (
            "load 30s\n  bar 5 17 42 2 7 905 51\n",
            "sum_over_time(bar[30s])",
            0,
            180,
            60,
            vec![series(
                &[],
                &[(0, 5.0), (60000, 59.0), (120000, 9.0), (180000, 956.0)],
            )],
        ),
        (
            "load 30s\n  metric 1+1x4\n",
            "metric",
            0,
            120,
            60,
            vec![series(
                &[("__name__", "metric")],
                &[(0, 1.0), (60000, 3.0), (120000, 5.0)],
            )],
        ),
        (
            "load 30s\n  metric 1+1x8\n",
            "metric",
            0,
            120,
            60,
            vec![series(
                &[("__name__", "metric")],
                &[(0, 1.0), (60000, 3.0), (120000, 5.0)],
            )],
        ),
        (
            "load 30s\n  foo{job=\"1\"} 1+1x4\n  bar{job=\"2\"} 1+1x4\n",
            "foo > 2 or bar",
            0,
            120,
            60,
            vec![
                series(
                    &[("__name__", "bar"), ("job", "2")],
                    &[(0, 1.0), (60000, 3.0), (120000, 5.0)],
                ),
                series(
                    &[("__name__", "foo"), ("job", "1")],
                    &[(60000, 3.0), (120000, 5.0)],
                ),
            ],
        ),
    ];
    for (data, q, start, end, step, want) in cases {
        let st = load(data);
        let got = run(&e, &st, q, start * 1000, end * 1000, step * 1000)
            .unwrap_or_else(|err| panic!("{q}: {err}"));
        assert_eq!(got, Value::Matrix(want), "{q}");
    }
}

#[test]
fn lookback_delta() {
    let st = load("load 5m\n  metric 0 1 2\n");
    let last = 600_000;
    // (eval time, engine lookback, query lookback, expect samples)
    let cases: &[(i64, i64, i64, bool)] = &[
        (last + 300_000, 0, 0, true),
        (last + 300_001, 0, 0, false),
        (last + 600_000, 600_000, 0, true),
        (last + 600_001, 600_000, 0, false),
        (last + 1_200_000, 600_000, 1_200_000, true),
        (last + 1_200_001, 600_000, 1_200_000, false),
        (last + 1_200_000, -600_000, 1_200_000, true),
    ];
    for &(t, engine_lb, query_lb, expect) in cases {
        let e = Engine::new(EngineOptions {
            lookback_delta_ms: engine_lb,
            ..EngineOptions::default()
        });
        let q = Query::parse("metric").expect("query runs");
        let opts = QueryOpts {
            lookback_delta_ms: query_lb,
        };
        let res = block_on(e.exec(&st, &q, QueryRange::Instant { time_ms: t }, &opts))
            .expect("query runs");
        let Value::Vector(v) = res.value else {
            panic!("not a vector");
        };
        assert_eq!(
            !v.is_empty(),
            expect,
            "t={t} engine={engine_lb} query={query_lb}"
        );
    }
}

#[test]
fn errors_are_typed() {
    let st = load(
        "load 5m\n  a{x=\"1\"} 1\n  a{x=\"2\"} 1\n  c{x=\"1\"} 1\n  b{x=\"1\"} 1\n  b{x=\"1\",y=\"2\"} 1\n  d{x=\"1\"} 1\n",
    );
    let e = engine(10_000);
    let err = run(&e, &st, "sum(", 0, 0, 0).expect_err("query fails");
    assert!(err.is_bad_data(), "{err:?}");
    let err = run(&e, &st, "a[5m]", 0, 60_000, 10_000).expect_err("query fails");
    assert!(err.is_bad_data());
    assert_eq!(
        err.message(),
        "invalid expression type \"range vector\" for range query, must be Scalar or instant Vector"
    );
    let err = run(&e, &st, "sort_by_label(a, \"x\")", 0, 0, 0).expect_err("query fails");
    assert!(err.is_bad_data(), "{err:?}");
    let err = run(&e, &st, "a + on() b", 0, 0, 0).expect_err("query fails");
    assert!(err.is_execution());
    assert!(err.message().starts_with("found duplicate series for the match group {} on the right hand-side of the operation: ["), "{}", err.message());
    assert!(err.message().ends_with(
        ";many-to-many matching not allowed: matching labels must be unique on one side"
    ));
    let err = run(&e, &st, "a + on() group_left b", 0, 0, 0).expect_err("query fails");
    assert!(
        err.message().starts_with("found duplicate series"),
        "{}",
        err.message()
    );
    let err = run(&e, &st, "b + on(x) a", 0, 0, 0).expect_err("query fails");
    assert_eq!(err.message(), "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)");
    let err = run(
        &e,
        &st,
        r#"{__name__=~"a|c"} * on(x) group_left d"#,
        0,
        0,
        0,
    )
    .expect_err("query fails");
    assert_eq!(
        err.message(),
        "multiple matches for labels: grouping labels must ensure unique matches"
    );
    let err = run(&e, &st, "topk(1e20, a)", 0, 0, 0).expect_err("query fails");
    assert_eq!(err.message(), "Scalar value 1e+20 overflows int64");
    let err = run(&e, &st, "holt_winters(a[5m], 2, 0.5)", 0, 0, 0).expect_err("query fails");
    assert_eq!(
        err.message(),
        "invalid smoothing factor. Expected: 0 < sf < 1, got: 2.000000"
    );
    let err = run(
        &e,
        &st,
        "double_exponential_smoothing(a[5m], 0.5, 0.5)",
        0,
        0,
        0,
    )
    .expect_err("query fails");
    assert!(err.is_bad_data());
}

#[test]
fn odd_queries_do_not_panic() {
    let st = load(
        "load 10s\n  m{a=\"1\"} 1 NaN stale -Inf 5\n  m{a=\"2\"} 0+1x20\n  h_bucket{le=\"x\"} 1\n",
    );
    let e = engine(1000);
    let queries = [
        "rate(m[1ms])",
        "rate(m[0s])",
        "m[5m:0s]",
        "topk(NaN, m)",
        "topk(-1, m)",
        "bottomk(1e300, m)",
        "quantile(NaN, m)",
        "histogram_quantile(0.5, h_bucket)",
        "histogram_quantile(0.5, m)",
        "label_replace(m, \"a\", \"$99\", \"a\", \"(.*)\")",
        "label_join(m, \"a\", \"\", \"a\", \"a\")",
        "count_values(\"\", m)",
        "m offset 200y",
        "m @ 1e15",
        "m @ -1e15",
        "sum_over_time(m[1s:1ms])",
        "absent_over_time(m[1m:1s])",
        "year(vector(NaN))",
        "day_of_month(vector(1e300))",
        "round(m, 0)",
        "m % 0",
        "-m ^ -m",
        "holt_winters(m[1m], NaN, NaN)",
        "predict_linear(m[1m], -Inf)",
        "scalar(m) * vector(1)",
        "clamp(m, NaN, NaN)",
        "sort_desc(m) or sort(m)",
        "m and on() m",
        "timestamp(m @ 5 offset 1s)",
    ];
    for q in queries {
        for (start, end, step) in [(0, 0, 0), (0, 200_000, 7_000), (-50_000, 50_000, 1)] {
            let _ = run(&e, &st, q, start, end, step);
        }
    }
}
