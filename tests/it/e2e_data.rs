//! The data and the oracles of the end-to-end test against real
//! Prometheus (`e2e`): a deterministic synthetic history written as
//! OpenMetrics text, Prometheus v2.42's chunk cutting (to know the chunks
//! a replica's TSDB holds without asking the code under test), and a
//! comparison of two Prometheus JSON query answers for the PromQL checks.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;
use sluice::proto::thanos::{chunk, AggrChunk, Chunk};

/// 2023-01-01T00:00:00Z, a multiple of the 2 h block range.
pub const T0: i64 = 1_672_531_200_000;
/// The scrape interval.
pub const STEP: i64 = 15_000;
/// Samples per series: 4 hours.
pub const POINTS: i64 = 960;
/// The last timestamp.
pub const T_END: i64 = T0 + (POINTS - 1) * STEP;
/// Replica "a" is down for [1h10m, 1h25m): inside one 30-minute chunk.
pub const GAP_A: (i64, i64) = (T0 + 70 * 60_000, T0 + 85 * 60_000);
/// Replica "b" is down for [2h40m, 3h35m): across two chunk boundaries.
pub const GAP_B: (i64, i64) = (T0 + 160 * 60_000, T0 + 215 * 60_000);

/// Labels as name → value (sorted by name).
pub type Labels = BTreeMap<String, String>;
/// Samples (ms, value).
pub type Samples = Vec<(i64, f64)>;

/// One metric family of the history.
pub struct Family {
    pub name: &'static str,
    pub kind: &'static str,
    /// Each series' labels (with `__name__`) and samples, in file order
    /// of the series; histograms are written point by point.
    pub series: Vec<(Labels, Samples)>,
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn times() -> impl Iterator<Item = (i64, i64)> {
    (0..POINTS).map(|k| (k, T0 + k * STEP))
}

/// A counter that resets now and then: increments vary by series.
fn counter(seed: i64) -> Samples {
    let mut v = 0.0;
    times()
        .map(|(k, t)| {
            if (k + seed * 17) % 397 == 0 {
                v = 0.0;
            } else {
                v += ((seed * 31 + k * 7) % 13) as f64;
            }
            (t, v)
        })
        .collect()
}

fn gauge(seed: i64) -> Samples {
    times()
        .map(|(k, t)| (t, 20.0 + ((k * (seed + 3) + seed * 11) % 157) as f64 / 10.0))
        .collect()
}

/// How many times the default number of instances the history has:
/// `SLUICE_E2E_SCALE` (default 1), for measuring memory on more data.
pub fn scale() -> i64 {
    std::env::var("SLUICE_E2E_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n >= 1)
        .unwrap_or(1)
}

/// The number of series [`history`] makes.
pub fn series_count() -> usize {
    (300 * scale() + 2) as usize
}

/// The whole history: 80 counters, 40 gauges, 20 classic histograms (7
/// buckets, sum and count: 180 series), times [`scale`], and two series
/// where one label set is a prefix of the other (Prometheus issue #12605):
/// 302 series by default.
pub fn history() -> Vec<Family> {
    let n = scale();
    let mut requests = Vec::new();
    for i in 0..40 * n {
        for (c, code) in ["200", "500"].iter().enumerate() {
            let inst = format!("i-{i:04}");
            let l = labels(&[
                ("__name__", "sluice_e2e_requests_total"),
                ("code", code),
                ("instance", &inst),
                ("job", "api"),
            ]);
            requests.push((l, counter(i * 2 + c as i64)));
        }
    }
    let temperature = (0..40 * n)
        .map(|i| {
            let inst = format!("i-{i:04}");
            (
                labels(&[
                    ("__name__", "sluice_e2e_temperature"),
                    ("instance", &inst),
                    ("job", "node"),
                ]),
                gauge(i),
            )
        })
        .collect();
    let up = vec![
        (
            labels(&[("__name__", "sluice_e2e_up"), ("instance", "i-0000")]),
            gauge(90),
        ),
        (
            labels(&[
                ("__name__", "sluice_e2e_up"),
                ("instance", "i-0000"),
                ("pod", "p-0"),
            ]),
            gauge(91),
        ),
    ];
    vec![
        Family {
            name: "sluice_e2e_requests",
            kind: "counter",
            series: requests,
        },
        Family {
            name: "sluice_e2e_temperature",
            kind: "gauge",
            series: temperature,
        },
        Family {
            name: "sluice_e2e_latency_seconds",
            kind: "histogram",
            series: histograms(20 * n),
        },
        Family {
            name: "sluice_e2e_up",
            kind: "gauge",
            series: up,
        },
    ]
}

const BUCKETS: [&str; 7] = ["0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"];

/// `n` classic histograms: cumulative bucket counts, `_count`, `_sum`.
fn histograms(n: i64) -> Vec<(Labels, Samples)> {
    let mut out = Vec::new();
    for i in 0..n {
        let inst = format!("i-{i:04}");
        let mut per_bucket = vec![Vec::new(); BUCKETS.len()];
        let (mut sum, mut sum_samples, mut counts) = (0.0, Vec::new(), vec![0.0; BUCKETS.len()]);
        for (k, t) in times() {
            let mut below = 0.0;
            for (b, series) in per_bucket.iter_mut().enumerate() {
                below += ((k * (b as i64 + 1) + i) % 5) as f64;
                counts[b] += below;
                series.push((t, counts[b]));
            }
            sum += ((k + i) % 9) as f64 * 0.25;
            sum_samples.push((t, sum));
        }
        let base = [("instance", inst.as_str()), ("job", "api")];
        for (b, le) in BUCKETS.iter().enumerate() {
            let mut l = labels(&base);
            l.insert(
                "__name__".into(),
                "sluice_e2e_latency_seconds_bucket".into(),
            );
            l.insert("le".into(), le.to_string());
            out.push((l, per_bucket[b].clone()));
        }
        let mut l = labels(&base);
        l.insert("__name__".into(), "sluice_e2e_latency_seconds_count".into());
        out.push((l, per_bucket[BUCKETS.len() - 1].clone()));
        let mut l = labels(&base);
        l.insert("__name__".into(), "sluice_e2e_latency_seconds_sum".into());
        out.push((l, sum_samples));
    }
    out
}

/// Whether replica `replica` ("a", "b" or "" for the complete one) has a
/// sample at `t`.
pub fn keeps(replica: &str, t: i64) -> bool {
    let outside = |(from, to): (i64, i64)| t < from || t >= to;
    match replica {
        "a" => outside(GAP_A),
        "b" => outside(GAP_B),
        _ => true,
    }
}

fn write_labels(out: &mut String, l: &Labels) {
    let inner: Vec<String> = l
        .iter()
        .filter(|(k, _)| k.as_str() != "__name__")
        .map(|(k, v)| format!("{k}=\"{v}\""))
        .collect();
    let _ = write!(out, "{}{{{}}}", l["__name__"], inner.join(","));
}

/// The history as OpenMetrics text for `promtool tsdb
/// create-blocks-from openmetrics`, keeping what `replica` has.
pub fn openmetrics(families: &[Family], replica: &str) -> String {
    let mut out = String::new();
    for f in families {
        let _ = writeln!(out, "# TYPE {} {}", f.name, f.kind);
        if f.kind == "histogram" {
            write_points(&mut out, &f.series, replica);
            continue;
        }
        for (l, samples) in &f.series {
            for &(t, v) in samples.iter().filter(|(t, _)| keeps(replica, *t)) {
                write_labels(&mut out, l);
                let _ = writeln!(out, " {v} {}", format_seconds(t));
            }
        }
    }
    out.push_str("# EOF\n");
    out
}

/// Histograms point by point: every series of one instance at one time
/// together, as OpenMetrics groups a histogram's samples.
fn write_points(out: &mut String, series: &[(Labels, Samples)], replica: &str) {
    let per = BUCKETS.len() + 2;
    for group in series.chunks(per) {
        for k in 0..POINTS as usize {
            let t = group[0].1[k].0;
            if !keeps(replica, t) {
                continue;
            }
            for (l, samples) in group {
                write_labels(out, l);
                let _ = writeln!(out, " {} {}", samples[k].1, format_seconds(t));
            }
        }
    }
}

fn format_seconds(ms: i64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// The history of one replica: labels → samples.
pub fn replica_samples(families: &[Family], replica: &str) -> BTreeMap<Labels, Samples> {
    families
        .iter()
        .flat_map(|f| f.series.iter())
        .map(|(l, s)| {
            let kept = s
                .iter()
                .copied()
                .filter(|(t, _)| keeps(replica, *t))
                .collect();
            (l.clone(), kept)
        })
        .collect()
}

/// The block range of `promtool tsdb create-blocks-from` (2 h).
const BLOCK: i64 = 7_200_000;

/// The chunks Prometheus v2.42 holds for `samples` after `promtool`
/// backfilled them from a file whose earliest sample is at `file_mint`:
/// one block per aligned 2 h range, each written by a fresh head whose
/// chunk range is twice the block (`cmd/promtool/backfill.go`), chunks cut
/// by `memSeries.appendPreprocessor` (`tsdb/head_append.go`): at the
/// chunk range's end, at the end predicted after 30 samples
/// (`computeChunkEndTime`), or at 240 samples. Chunks of whole blocks are
/// what remote read returns for a window that covers them.
pub fn prometheus_chunks(samples: &[(i64, f64)], file_mint: i64) -> Vec<AggrChunk> {
    let base = BLOCK * (file_mint / BLOCK);
    let mut out = Vec::new();
    let mut i = 0;
    while i < samples.len() {
        let upper = base + ((samples[i].0 - base) / BLOCK + 1) * BLOCK;
        let j = samples[i..]
            .iter()
            .position(|s| s.0 >= upper)
            .map_or(samples.len(), |p| i + p);
        out.extend(head_chunks(&samples[i..j], 2 * BLOCK));
        i = j;
    }
    out
}

fn range_for(t: i64, width: i64) -> i64 {
    (t / width) * width + width
}

fn chunk_end(start: i64, cur: i64, max: i64) -> i64 {
    let n = (max - start) / ((cur - start + 1) * 4);
    if n <= 1 {
        max
    } else {
        start + (max - start) / n
    }
}

fn head_chunks(samples: &[(i64, f64)], chunk_range: i64) -> Vec<AggrChunk> {
    let mut chunks: Vec<Vec<(i64, f64)>> = Vec::new();
    let mut next_at = 0;
    for &(t, v) in samples {
        match chunks.last() {
            None => {
                chunks.push(Vec::new());
                next_at = range_for(t, chunk_range);
            }
            Some(cur) => {
                let n = cur.len();
                if n == 30 {
                    next_at = chunk_end(cur[0].0, cur[n - 1].0, next_at);
                }
                if t >= next_at || n >= 240 {
                    chunks.push(Vec::new());
                    next_at = range_for(t, chunk_range);
                }
            }
        }
        if let Some(c) = chunks.last_mut() {
            c.push((t, v));
        }
    }
    chunks
        .into_iter()
        .map(|c| AggrChunk {
            min_time: c[0].0,
            max_time: c[c.len() - 1].0,
            raw: Some(Chunk {
                r#type: chunk::Encoding::Xor as i32,
                data: sluice::chunk::xor::encode_all(&c).unwrap().into(),
                hash: 0,
            }),
            ..Default::default()
        })
        .collect()
}

/// Reads every sample of an iterator.
pub fn drain(mut it: Box<dyn sluice::dedup::SampleIter>) -> Samples {
    let mut out = Vec::new();
    while it.next().unwrap().is_some() {
        out.push(it.at());
    }
    out
}

/// A replica given as plain samples, for the penalty algorithm run over
/// whole replicas rather than over chunk chains.
pub struct VecIter {
    samples: Samples,
    next: usize,
}

impl VecIter {
    pub fn boxed(samples: Samples) -> Box<dyn sluice::dedup::SampleIter> {
        Box::new(VecIter { samples, next: 0 })
    }
}

impl sluice::dedup::SampleIter for VecIter {
    fn next(&mut self) -> Result<Option<sluice::dedup::ValueType>, sluice::dedup::DedupError> {
        if self.next >= self.samples.len() {
            self.next = self.samples.len() + 1;
            return Ok(None);
        }
        self.next += 1;
        Ok(Some(sluice::dedup::ValueType::Float))
    }

    fn seek(
        &mut self,
        t: i64,
    ) -> Result<Option<sluice::dedup::ValueType>, sluice::dedup::DedupError> {
        if self.next == 0 && self.next()?.is_none() {
            return Ok(None);
        }
        while self.next <= self.samples.len() {
            if self.at().0 >= t {
                return Ok(Some(sluice::dedup::ValueType::Float));
            }
            self.next()?;
        }
        Ok(None)
    }

    fn at(&self) -> (i64, f64) {
        self.samples
            .get(self.next.saturating_sub(1))
            .copied()
            .unwrap_or((0, 0.0))
    }
}

/// The samples of a matrix answer of Prometheus's query API, by labels.
pub fn matrix_samples(v: &Value) -> BTreeMap<Labels, Samples> {
    assert_eq!(v["data"]["resultType"], "matrix", "{v}");
    let mut out = BTreeMap::new();
    for s in v["data"]["result"].as_array().unwrap() {
        let l: Labels = serde_json::from_value(s["metric"].clone()).unwrap();
        let samples = s["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let t = (p[0].as_f64().unwrap() * 1000.0).round() as i64;
                let v: f64 = p[1].as_str().unwrap().parse().unwrap();
                (t, v)
            })
            .collect();
        out.insert(l, samples);
    }
    out
}

/// The labels of a `/api/v1/series` answer, in answer order.
pub fn series_list(v: &Value) -> Vec<Labels> {
    assert_eq!(v["status"], "success", "{v}");
    serde_json::from_value(v["data"].clone()).unwrap()
}

/// The strings of a `/api/v1/labels` or `/label/<n>/values` answer.
pub fn strings(v: &Value) -> Vec<String> {
    assert_eq!(v["status"], "success", "{v}");
    serde_json::from_value(v["data"].clone()).unwrap()
}

/// Compares two Prometheus JSON answers of `/api/v1/query` or
/// `/api/v1/query_range` (the PromQL checks): same status and result
/// type, the same series (in any order), the same timestamps, and values
/// equal within `rel_tol` relative difference (NaN equals NaN, infinities
/// must match). Returns what differs first.
pub fn compare_query_responses(left: &Value, right: &Value, rel_tol: f64) -> Result<(), String> {
    for key in ["status", "errorType"] {
        if left.get(key) != right.get(key) {
            return Err(format!(
                "{key}: {:?} vs {:?}",
                left.get(key),
                right.get(key)
            ));
        }
    }
    let (l, r) = (&left["data"], &right["data"]);
    if l["resultType"] != r["resultType"] {
        return Err(format!(
            "resultType: {} vs {}",
            l["resultType"], r["resultType"]
        ));
    }
    match l["resultType"].as_str() {
        Some("scalar") | Some("string") => compare_point(&l["result"], &r["result"], rel_tol),
        Some("vector") | Some("matrix") => compare_series_sets(&l["result"], &r["result"], rel_tol),
        other => Err(format!("unexpected resultType {other:?}")),
    }
}

fn compare_series_sets(l: &Value, r: &Value, rel_tol: f64) -> Result<(), String> {
    let index = |v: &Value| -> Result<BTreeMap<String, Value>, String> {
        let mut m = BTreeMap::new();
        for s in v.as_array().ok_or("result is not an array")? {
            let key = serde_json::to_string(&s["metric"]).map_err(|e| e.to_string())?;
            if m.insert(key.clone(), s.clone()).is_some() {
                return Err(format!("series {key} appears twice"));
            }
        }
        Ok(m)
    };
    let (li, ri) = (index(l)?, index(r)?);
    let (lk, rk): (Vec<&String>, Vec<&String>) = (li.keys().collect(), ri.keys().collect());
    if lk != rk {
        return Err(format!("series differ: {lk:?} vs {rk:?}"));
    }
    for (key, ls) in &li {
        let rs = &ri[key];
        let points = |s: &Value| -> Vec<Value> {
            match s.get("values") {
                Some(Value::Array(v)) => v.clone(),
                _ => vec![s["value"].clone()],
            }
        };
        let (lp, rp) = (points(ls), points(rs));
        if lp.len() != rp.len() {
            return Err(format!("{key}: {} points vs {}", lp.len(), rp.len()));
        }
        for (a, b) in lp.iter().zip(&rp) {
            compare_point(a, b, rel_tol).map_err(|e| format!("{key}: {e}"))?;
        }
    }
    Ok(())
}

fn compare_point(a: &Value, b: &Value, rel_tol: f64) -> Result<(), String> {
    if a[0] != b[0] {
        return Err(format!("timestamps {} vs {}", a[0], b[0]));
    }
    let (x, y) = (a[1].as_str().unwrap_or(""), b[1].as_str().unwrap_or(""));
    if x == y {
        return Ok(());
    }
    let (fx, fy) = match (x.parse::<f64>(), y.parse::<f64>()) {
        (Ok(fx), Ok(fy)) => (fx, fy),
        _ => return Err(format!("values {x:?} vs {y:?}")),
    };
    let close = (fx.is_nan() && fy.is_nan())
        || fx == fy
        || (fx.is_finite()
            && fy.is_finite()
            && (fx - fy).abs() <= rel_tol * fx.abs().max(fy.abs()));
    if close {
        Ok(())
    } else {
        Err(format!("at {}: {x} vs {y}", a[0]))
    }
}

#[test]
fn query_response_comparison() {
    let m = |values: Value| {
        serde_json::json!({"status": "success", "data": {"resultType": "matrix", "result": [
            {"metric": {"__name__": "x", "job": "a"}, "values": values},
            {"metric": {"job": "b"}, "values": [[1, "2"]]},
        ]}})
    };
    let a = m(serde_json::json!([[1, "1"], [2, "NaN"]]));
    let mut b = m(serde_json::json!([[1, "1.0000000001"], [2, "NaN"]]));
    assert_eq!(compare_query_responses(&a, &b, 1e-9), Ok(()));
    assert!(compare_query_responses(&a, &b, 0.0).is_err());
    // Series order does not matter.
    b["data"]["result"].as_array_mut().unwrap().reverse();
    assert_eq!(compare_query_responses(&a, &b, 1e-9), Ok(()));
    let c = m(serde_json::json!([[1, "1"], [3, "NaN"]]));
    assert!(compare_query_responses(&a, &c, 1e-9)
        .unwrap_err()
        .contains("timestamps"));
    let v = serde_json::json!({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {}, "value": [5, "+Inf"]}]}});
    let w = serde_json::json!({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {}, "value": [5, "-Inf"]}]}});
    assert!(compare_query_responses(&v, &w, 1e-9).is_err());
    assert_eq!(compare_query_responses(&v, &v, 0.0), Ok(()));
    assert!(compare_query_responses(&a, &v, 1e-9)
        .unwrap_err()
        .contains("resultType"));
}

#[test]
fn chunk_model_cuts_as_prometheus_describes() {
    // A full 2 h block at 15 s: four chunks of 120 samples.
    let s: Samples = (0..480).map(|k| (T0 + k * STEP, k as f64)).collect();
    let sizes: Vec<i64> = prometheus_chunks(&s, T0)
        .iter()
        .map(|c| (c.max_time - c.min_time) / STEP + 1)
        .collect();
    assert_eq!(sizes, [120, 120, 120, 120]);
    // A gap after the 30th sample of a chunk leaves the cuts alone; one
    // before it makes the predicted end late, so the chunk runs to 240
    // samples.
    let gap = |from: i64, to: i64| -> Vec<(i64, i64)> {
        let s: Samples = (0..480)
            .filter(|k| !(from..to).contains(k))
            .map(|k| (T0 + k * STEP, k as f64))
            .collect();
        prometheus_chunks(&s, T0)
            .iter()
            .map(|c| ((c.min_time - T0) / STEP, (c.max_time - T0) / STEP))
            .collect()
    };
    assert_eq!(gap(40, 100), [(0, 119), (120, 239), (240, 359), (360, 479)]);
    assert_eq!(gap(10, 60)[0], (0, 289));
}
