//! Answers of a real Prometheus v2.42.0 (Debian's `prometheus` package),
//! compared bit for bit.
//!
//! `testdata/golden/gen.py` writes a dataset (`data.om`, OpenMetrics:
//! jittered counters with resets, gauges with NaN and a gap, huge values,
//! classic histogram buckets, a sparse series); `golden.py` asks a
//! Prometheus serving that data (backfilled with `promtool tsdb
//! create-blocks-from openmetrics`) for instant and range results of a list
//! of queries and writes them to `golden.txt`. This test evaluates the same
//! queries with our engine and requires identical label sets, identical
//! float bits (NaN equals NaN), and for instant vectors the same order.
//! `testdata/golden/README.md` says how to regenerate.
//!
//! Two explicit exceptions, each query listed:
//! - [`LIBM`]: results of exp, ln, log2, log10, trigonometric and hyperbolic
//!   functions and fractional powers come from the platform libm, which
//!   differs from Go's `math` package by an ulp or so (Go's own `Exp` on
//!   amd64 even depends on whether the CPU has FMA); compared with a
//!   relative tolerance of 1e-13;
//! - [`UNORDERED`]: Prometheus emits `histogram_quantile`'s groups in Go map
//!   order, which is random per run; compared as sets.

use std::collections::HashMap;
use std::path::PathBuf;

use futures_lite::future::block_on;

use crate::labels::label;

use super::format::parse_go_float;
use super::*;

/// Queries whose results go through exp/log/trigonometry: allowed to differ
/// from Go's math package by rounding (see `functions::math`).
const LIBM: &[&str] = &[
    "2 ^ (temperature / 1000)",
    "exp(temperature / 100)",
    "ln(http_requests_total)",
    "log2(http_requests_total)",
    "log10(http_requests_total)",
    "sin(http_requests_total)",
    "cos(temperature)",
    "tan(http_requests_total / 1000)",
    "asin(clamp(temperature / 100, -1, 1))",
    "acos(clamp(temperature / 100, -1, 1))",
    "atan(temperature)",
    "sinh(clamp(temperature, -50, 50))",
    "cosh(clamp(temperature, -50, 50))",
    "tanh(temperature)",
    "asinh(temperature)",
    "acosh(http_requests_total + 1)",
    "atanh(clamp(temperature / 1000000, -0.999, 0.999))",
    "http_requests_total atan2 temperature",
    "http_requests_total ^ 0.5",
];

/// Queries whose instant-vector order is Go map order in Prometheus.
const UNORDERED: &[&str] = &[
    "histogram_quantile(0.9, rate(request_seconds_bucket[5m]))",
    "histogram_quantile(0.5, sum by (le) (rate(request_seconds_bucket[10m])))",
    "histogram_quantile(0.99, request_seconds_bucket)",
    "histogram_quantile(0.01, sum by (le, instance) (increase(request_seconds_bucket[7m])))",
];

fn golden_dir() -> PathBuf {
    match std::env::var_os("PROMQL_GOLDEN") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/promql/testdata/golden"),
    }
}

/// Reads the OpenMetrics subset gen.py writes: `name{l="v",...} value ts`.
fn load_openmetrics(text: &str) -> MemoryStorage {
    let mut by_series: HashMap<Labels, Vec<Point>> = HashMap::new();
    let mut order = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let mut parts = line.rsplitn(3, ' ');
        let (Some(ts), Some(v), Some(metric)) = (parts.next(), parts.next(), parts.next()) else {
            panic!("bad line {line:?}");
        };
        let (name, rest) = metric.split_once('{').unwrap_or((metric, "}"));
        let mut ls = vec![label("__name__", name)];
        for pair in rest
            .trim_end_matches('}')
            .split(',')
            .filter(|p| !p.is_empty())
        {
            let (n, v) = pair.split_once('=').expect("label pair");
            ls.push(label(n, v.trim_matches('"')));
        }
        crate::labels::sort(&mut ls);
        let (secs, millis) = ts.split_once('.').expect("timestamp with millis");
        let t =
            secs.parse::<i64>().expect("seconds") * 1000 + millis.parse::<i64>().expect("millis");
        let v = parse_go_float(v).expect("value");
        if !by_series.contains_key(&ls) {
            order.push(ls.clone());
        }
        by_series.entry(ls).or_default().push(Point { t, v });
    }
    let mut st = MemoryStorage::new();
    for ls in order {
        let samples = by_series.remove(&ls).unwrap_or_default();
        st.append(ls, &samples);
    }
    st
}

#[derive(Debug)]
struct Case {
    line: usize,
    query: String,
    range: QueryRange,
    expect: Vec<String>,
}

fn parse_golden(text: &str) -> Vec<Case> {
    let mut cases: Vec<Case> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split('\t').collect();
        if f.first() == Some(&"Q") {
            let (range, query) = if f[1] == "i" {
                (
                    QueryRange::Instant {
                        time_ms: f[2].parse().expect("time"),
                    },
                    f[3..].join("\t"),
                )
            } else {
                (
                    QueryRange::Range {
                        start_ms: f[2].parse().expect("start"),
                        end_ms: f[3].parse().expect("end"),
                        step_ms: f[4].parse().expect("step"),
                    },
                    f[5..].join("\t"),
                )
            };
            cases.push(Case {
                line: i + 1,
                query,
                range,
                expect: Vec::new(),
            });
        } else if let Some(c) = cases.last_mut() {
            c.expect.push(line.to_string());
        }
    }
    cases
}

fn same_value(want: &str, got: f64, loose: bool) -> bool {
    let Some(w) = parse_go_float(want) else {
        return false;
    };
    if w.is_nan() && got.is_nan() {
        return true;
    }
    if w.to_bits() == got.to_bits() {
        return true;
    }
    loose && (w - got).abs() <= 1e-13 * w.abs().max(got.abs())
}

/// Our answer in the golden line format.
fn render(v: &Result<QueryResult>) -> Vec<(String, Option<f64>)> {
    let lab = |m: &Labels| {
        m.iter()
            .map(|l| format!("{}={}", l.name, l.value))
            .collect::<Vec<_>>()
            .join("\x1f")
    };
    let mut out = Vec::new();
    match v {
        Err(e) => out.push((
            format!("E\t{}\t{}", e.kind().api_error_type(), e.message()),
            None,
        )),
        Ok(r) => match &r.value {
            Value::Vector(vec) => {
                out.push(("T\tvector".into(), None));
                for s in vec {
                    out.push((format!("V\t{}\t{}", lab(&s.metric), s.t), Some(s.v)));
                }
            }
            Value::Scalar { t, v } => {
                out.push(("T\tscalar".into(), None));
                out.push((format!("S\t{t}"), Some(*v)));
            }
            Value::Matrix(m) => {
                out.push(("T\tmatrix".into(), None));
                for s in m {
                    out.push((format!("M\t{}", lab(&s.metric)), None));
                    for p in &s.points {
                        out.push((format!("P\t{}", p.t), Some(p.v)));
                    }
                }
            }
            Value::String { t, v } => {
                out.push(("T\tstring".into(), None));
                out.push((format!("S\t{t}\t{v}"), None));
            }
        },
    }
    out
}

#[test]
fn matches_prometheus_bit_for_bit() {
    let dir = golden_dir();
    let data = std::fs::read_to_string(dir.join("data.om"))
        .unwrap_or_else(|e| panic!("{}: {e}; set PROMQL_GOLDEN", dir.join("data.om").display()));
    let golden = std::fs::read_to_string(dir.join("golden.txt")).expect("golden.txt");
    let st = load_openmetrics(&data);
    let e = Engine::new(EngineOptions {
        timeout: None,
        ..EngineOptions::default()
    });
    let mut failures = Vec::new();
    let cases = parse_golden(&golden);
    for c in &cases {
        let q = Query::parse(&c.query).expect("query parses");
        let mut got = render(&block_on(e.exec(&st, &q, c.range, &QueryOpts::default())));
        let loose = LIBM.contains(&c.query.as_str());
        let mut expect = c.expect.clone();
        if UNORDERED.contains(&c.query.as_str()) && matches!(c.range, QueryRange::Instant { .. }) {
            let head = |l: &str| {
                l.rsplit_once('\t')
                    .map_or(l.to_string(), |(h, _)| h.to_string())
            };
            expect.sort_by_key(|l| head(l));
            got.sort_by(|a, b| a.0.cmp(&b.0));
        }
        let mut problem = None;
        if got.len() != expect.len() {
            problem = Some(format!(
                "{} lines expected, {} got",
                expect.len(),
                got.len()
            ));
        }
        for (k, (want, (g, gv))) in expect.iter().zip(&got).enumerate() {
            if problem.is_some() {
                break;
            }
            let ok = match gv {
                None => want == g,
                Some(v) => match want.rsplit_once('\t') {
                    Some((head, val)) => head == g && same_value(val, *v, loose),
                    None => false,
                },
            };
            if !ok {
                problem = Some(format!(
                    "line {k}: want {want:?}, got {g:?} {}",
                    gv.map(|v| format!("{v:?} ({:#x})", v.to_bits()))
                        .unwrap_or_default()
                ));
            }
        }
        if let Some(p) = problem {
            failures.push(format!(
                "golden.txt:{} {:?} {}: {p}",
                c.line, c.range, c.query
            ));
        }
    }
    println!(
        "{}/{} golden cases match",
        cases.len() - failures.len(),
        cases.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
