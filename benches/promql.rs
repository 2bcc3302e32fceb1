//! Throughput of the PromQL engine against naive direct computations.
//!
//! The dataset imitates one busy Prometheus: 6 h of scrapes every 15 s (1440
//! samples a series; every series has its own scrape phase and, now and then,
//! a few ms of jitter), deterministic, loaded once into a `MemoryStorage`:
//! - `http_requests_total`: 10 000 counters, 10 jobs × 100 instances × 5
//!   methods × codes 200 and 500, each restarting (reset to 0) about once in
//!   2000 scrapes;
//! - `http_request_duration_seconds_bucket`: a classic histogram of 10 `le`
//!   buckets over 1000 base series (10 jobs × 100 instances), 10 000 series.
//!
//! Every case runs as an instant query at the end of the data and as a range
//! query over its last hour every 60 s. A group holds the engine (`engine`:
//! the query parsed once, `Engine::exec` driven by
//! `futures_lite::future::block_on`, since the in-memory storage never waits
//! and needs no executor) and its baseline (`baseline/...`): the same numbers
//! computed straight from the stored samples with plain loops, a sort and hash
//! maps, without the engine. Before timing, both run once and are asserted to
//! agree within 1e-9 relative (for topk up to which of several series tied
//! at the 10th place is kept; see `assert_same_topk`).
//!
//! Throughput is in samples read per second: the samples the query's
//! selectors take from storage (each selector's window, `[start - 5m, end]`),
//! counted on that first run by a wrapper around the storage. The baseline
//! reads the same windows.
//!
//! At start the bench prints peak resident memory (VmHWM, /proc/self/status)
//! after loading and while each case runs once: before each run the heap's
//! free memory goes back to the kernel (`malloc_trim`) and the peak is reset
//! (/proc/self/clear_refs), so each figure is that run's own.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures_lite::future::block_on;
use sluice::labels::{get, label, Matcher, METRIC_NAME};
use sluice::promql::{
    Engine, EngineOptions, MemoryStorage, Point, Query, QueryOpts, QueryRange, SelectFuture,
    SelectHints, Storage, StorageSeries, Value,
};

const SCRAPE_INTERVAL_MS: i64 = 15_000;
const SAMPLES: i64 = 6 * 3600 * 1000 / SCRAPE_INTERVAL_MS;
const DATA_START: i64 = 1_700_000_000_000;
/// The instant queries' time and the range queries' end: the end of the data.
const END: i64 = DATA_START + SAMPLES * SCRAPE_INTERVAL_MS;
const RANGE_SPAN_MS: i64 = 3_600_000;
const STEP_MS: i64 = 60_000;
/// The `[5m]` of every query.
const WINDOW_MS: i64 = 300_000;

const REQUESTS: &str = "http_requests_total";
const BUCKETS: &str = "http_request_duration_seconds_bucket";
// Label values are listed, and instances numbered, in sorted order, so the
// loader appends every series at the end of the storage's sorted list.
const JOBS: [&str; 10] = [
    "api",
    "auth",
    "billing",
    "cart",
    "catalog",
    "checkout",
    "gateway",
    "inventory",
    "search",
    "users",
];
const INSTANCES: usize = 100;
const METHODS: [&str; 5] = ["DELETE", "GET", "PATCH", "POST", "PUT"];
const CODES: [&str; 2] = ["200", "500"];
/// Bucket bounds, and the most observations a scrape adds to each bucket
/// alone (the histogram's shape).
const LES: [(&str, u64); 10] = [
    ("0.005", 1),
    ("0.01", 2),
    ("0.025", 4),
    ("0.05", 8),
    ("0.1", 12),
    ("0.25", 8),
    ("0.5", 4),
    ("1", 2),
    ("2.5", 1),
    ("+Inf", 1),
];
/// One restart in this many scrapes, on average.
const RESTART_ONE_IN: u64 = 2000;

/// SplitMix64: a tiny deterministic generator, so every run loads the same
/// data without pulling in a random-number crate.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// One series' scrape times: its own phase within the interval and, three
/// times in ten, up to 25 ms of jitter.
fn scrape_times(rng: &mut Rng) -> Vec<i64> {
    let phase = rng.below(SCRAPE_INTERVAL_MS as u64) as i64;
    (0..SAMPLES)
        .map(|i| {
            let jitter = if rng.below(10) < 7 {
                0
            } else {
                rng.below(51) as i64 - 25
            };
            DATA_START + phase + i * SCRAPE_INTERVAL_MS + jitter
        })
        .collect()
}

/// A request counter; code 200 grows by 1..=100 a scrape (so its rate, the
/// join's divisor, is never zero), code 500 by 0..=4.
fn counter(seed: u64, code: &str) -> Vec<Point> {
    let mut rng = Rng(seed);
    let times = scrape_times(&mut rng);
    let mut v = rng.below(10_000) as f64;
    let step = if code == "200" { 100 } else { 5 };
    times
        .into_iter()
        .map(|t| {
            if rng.below(RESTART_ONE_IN) == 0 {
                v = 0.0;
            }
            v += (rng.below(step) + u64::from(code == "200")) as f64;
            Point { t, v }
        })
        .collect()
}

/// The bucket series of one base series, in `LES` order: each scrape adds
/// some observations to every bucket alone, and a bucket counts its own and
/// those of every lower one, so counts never decrease with `le`.
fn histogram(seed: u64) -> Vec<Vec<Point>> {
    let mut rng = Rng(seed);
    let times = scrape_times(&mut rng);
    let mut counts = [0.0f64; LES.len()];
    let mut series = vec![Vec::with_capacity(times.len()); LES.len()];
    for t in times {
        if rng.below(RESTART_ONE_IN) == 0 {
            counts = [0.0; LES.len()];
        }
        let mut cumulative = 0;
        for ((count, out), (_, most)) in counts.iter_mut().zip(&mut series).zip(LES) {
            cumulative += rng.below(most + 1);
            *count += cumulative as f64;
            out.push(Point { t, v: *count });
        }
    }
    series
}

fn load() -> MemoryStorage {
    let mut st = MemoryStorage::new();
    let instance = |i: usize| format!("node-{i:03}:9100");
    // Labels sort by name (__name__, instance, job, le), so appending in
    // this order keeps every append at the end; `le` values sort as strings.
    let mut le_order: Vec<usize> = (0..LES.len()).collect();
    le_order.sort_by_key(|&i| LES[i].0);
    for i in 0..INSTANCES {
        for (j, job) in JOBS.iter().enumerate() {
            let buckets = histogram((j * INSTANCES + i) as u64);
            for &b in &le_order {
                let labels = vec![
                    label(METRIC_NAME, BUCKETS),
                    label("instance", &instance(i)),
                    label("job", job),
                    label("le", LES[b].0),
                ];
                st.append(labels, &buckets[b]);
            }
        }
    }
    // __name__, code, instance, job, method.
    for (c, code) in CODES.iter().enumerate() {
        for i in 0..INSTANCES {
            for (j, job) in JOBS.iter().enumerate() {
                for (m, method) in METHODS.iter().enumerate() {
                    let seed = 1_000_000 + (((j * INSTANCES + i) * METHODS.len() + m) * 2 + c);
                    let labels = vec![
                        label(METRIC_NAME, REQUESTS),
                        label("code", code),
                        label("instance", &instance(i)),
                        label("job", job),
                        label("method", method),
                    ];
                    st.append(labels, &counter(seed as u64, code));
                }
            }
        }
    }
    st
}

/// A storage that counts the samples its selects return.
struct Counting<'a> {
    inner: &'a MemoryStorage,
    samples: Cell<u64>,
}

impl Storage for Counting<'_> {
    fn select<'a>(&'a self, hints: &'a SelectHints, matchers: &'a [Matcher]) -> SelectFuture<'a> {
        let fut = self.inner.select(hints, matchers);
        Box::pin(async move {
            let res = fut.await?;
            let n: usize = res.series.iter().map(|s| s.samples.len()).sum();
            self.samples.set(self.samples.get() + n as u64);
            Ok(res)
        })
    }
}

// ---------------------------------------------------------------------------
// Baselines: the same answers computed directly from the stored samples.

/// One output series of a baseline: labels borrowed from storage, points.
struct Row<'a> {
    labels: Vec<(&'a str, &'a str)>,
    points: Vec<Point>,
}

type Baseline = for<'a> fn(&'a MemoryStorage, &[i64]) -> Vec<Row<'a>>;

/// The series named `name`, with label `code` equal to `code` if given.
fn select<'a>(st: &'a MemoryStorage, name: &str, code: Option<&str>) -> Vec<&'a StorageSeries> {
    st.series()
        .iter()
        .filter(|s| get(&s.labels, METRIC_NAME) == name)
        .filter(|s| code.is_none_or(|c| get(&s.labels, "code") == c))
        .collect()
}

fn labels_without<'a>(s: &'a StorageSeries, drop: &[&str]) -> Vec<(&'a str, &'a str)> {
    s.labels
        .iter()
        .filter(|l| !drop.contains(&l.name.as_str()))
        .map(|l| (l.name.as_str(), l.value.as_str()))
        .collect()
}

/// `rate(x[5m])` at `t`, Prometheus v2.42's `extrapolatedRate` written
/// plainly: over the samples in the closed window `[t - 5m, t]`, the increase
/// (adding the value before every reset), extrapolated to each window edge
/// when the gap is under 1.1 average spacings (and at the start no further
/// than where the counter would reach zero), else by half a spacing, per
/// second of the range.
fn naive_rate(samples: &[Point], t: i64) -> Option<f64> {
    let from = t - WINDOW_MS;
    let lo = samples.partition_point(|p| p.t < from);
    let hi = samples.partition_point(|p| p.t <= t);
    let w = samples.get(lo..hi)?;
    if w.len() < 2 {
        return None;
    }
    let (first, last) = (w[0], w[w.len() - 1]);
    let mut increase = last.v - first.v;
    for pair in w.windows(2) {
        if pair[1].v < pair[0].v {
            increase += pair[0].v;
        }
    }
    let sampled = (last.t - first.t) as f64 / 1000.0;
    let spacing = sampled / (w.len() - 1) as f64;
    let mut to_start = (first.t - from) as f64 / 1000.0;
    let to_end = (t - last.t) as f64 / 1000.0;
    if increase > 0.0 && first.v >= 0.0 {
        to_start = to_start.min(sampled * (first.v / increase));
    }
    let edge = |gap: f64| {
        if gap < spacing * 1.1 {
            gap
        } else {
            spacing / 2.0
        }
    };
    let extrapolated = sampled + edge(to_start) + edge(to_end);
    Some(increase * (extrapolated / sampled) / (WINDOW_MS as f64 / 1000.0))
}

/// The points of the steps that have a value.
fn present(steps: &[i64], values: &[Option<f64>]) -> Vec<Point> {
    steps
        .iter()
        .zip(values)
        .filter_map(|(&t, v)| Some(Point { t, v: (*v)? }))
        .collect()
}

fn rates(s: &StorageSeries, steps: &[i64]) -> Vec<Option<f64>> {
    steps.iter().map(|&t| naive_rate(&s.samples, t)).collect()
}

fn baseline_rate<'a>(st: &'a MemoryStorage, steps: &[i64]) -> Vec<Row<'a>> {
    select(st, REQUESTS, None)
        .into_iter()
        .map(|s| Row {
            labels: labels_without(s, &[METRIC_NAME]),
            points: present(steps, &rates(s, steps)),
        })
        .filter(|r| !r.points.is_empty())
        .collect()
}

/// Sums each step's rates per value of `label` (a hash group-by), in
/// storage order.
fn sum_rates_by<'a>(
    series: &[&'a StorageSeries],
    label: &str,
    steps: &[i64],
) -> HashMap<&'a str, Vec<Option<f64>>> {
    let mut groups: HashMap<&str, Vec<Option<f64>>> = HashMap::new();
    for s in series {
        let sums = groups
            .entry(get(&s.labels, label))
            .or_insert_with(|| vec![None; steps.len()]);
        for (sum, &t) in sums.iter_mut().zip(steps) {
            if let Some(v) = naive_rate(&s.samples, t) {
                *sum = Some(sum.map_or(v, |acc| acc + v));
            }
        }
    }
    groups
}

fn baseline_sum_by_job<'a>(st: &'a MemoryStorage, steps: &[i64]) -> Vec<Row<'a>> {
    sum_rates_by(&select(st, REQUESTS, None), "job", steps)
        .into_iter()
        .map(|(job, sums)| Row {
            labels: vec![("job", job)],
            points: present(steps, &sums),
        })
        .collect()
}

/// Prometheus's `bucketQuantile` for buckets with distinct bounds: sort by
/// bound, make counts monotonic, find the first bucket whose count reaches
/// rank `q * total`, interpolate linearly inside it (the +Inf bucket answers
/// the highest finite bound).
fn bucket_quantile(q: f64, b: &mut [(f64, f64)]) -> f64 {
    b.sort_by(|x, y| x.0.total_cmp(&y.0));
    let n = b.len();
    if n < 2 || b[n - 1].0 != f64::INFINITY {
        return f64::NAN;
    }
    for i in 1..n {
        b[i].1 = b[i].1.max(b[i - 1].1);
    }
    let total = b[n - 1].1;
    if total == 0.0 {
        return f64::NAN;
    }
    let rank = q * total;
    let i = b.iter().position(|x| x.1 >= rank).unwrap_or(n - 1);
    if i == n - 1 {
        return b[n - 2].0;
    }
    if i == 0 && b[0].0 <= 0.0 {
        return b[0].0;
    }
    let (start, below) = if i == 0 { (0.0, 0.0) } else { b[i - 1] };
    start + (b[i].0 - start) * ((rank - below) / (b[i].1 - below))
}

fn baseline_histogram_quantile<'a>(st: &'a MemoryStorage, steps: &[i64]) -> Vec<Row<'a>> {
    let by_le = sum_rates_by(&select(st, BUCKETS, None), "le", steps);
    let bounds: Vec<(f64, &Vec<Option<f64>>)> = by_le
        .iter()
        .filter_map(|(le, sums)| {
            let bound = if *le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((bound, sums))
        })
        .collect();
    let mut points = Vec::with_capacity(steps.len());
    let mut buckets = Vec::with_capacity(bounds.len());
    for (i, &t) in steps.iter().enumerate() {
        buckets.clear();
        buckets.extend(bounds.iter().filter_map(|(b, sums)| Some((*b, sums[i]?))));
        if !buckets.is_empty() {
            let v = bucket_quantile(0.9, &mut buckets);
            points.push(Point { t, v });
        }
    }
    vec![Row {
        labels: Vec::new(),
        points,
    }]
}

/// `ignoring(code)` one-to-one: a hash join on every label but the name and
/// `code`.
fn baseline_join<'a>(st: &'a MemoryStorage, steps: &[i64]) -> Vec<Row<'a>> {
    let ignored = [METRIC_NAME, "code"];
    let rhs: HashMap<Vec<(&str, &str)>, &StorageSeries> = select(st, REQUESTS, Some("200"))
        .into_iter()
        .map(|s| (labels_without(s, &ignored), s))
        .collect();
    let mut out = Vec::new();
    for l in select(st, REQUESTS, Some("500")) {
        let key = labels_without(l, &ignored);
        let Some(r) = rhs.get(&key) else {
            continue;
        };
        let points: Vec<Point> = steps
            .iter()
            .filter_map(|&t| {
                let v = naive_rate(&l.samples, t)? / naive_rate(&r.samples, t)?;
                Some(Point { t, v })
            })
            .collect();
        if !points.is_empty() {
            out.push(Row {
                labels: key,
                points,
            });
        }
    }
    out
}

/// Per step, every series' rate sorted by value, the first 10 kept.
fn baseline_topk<'a>(st: &'a MemoryStorage, steps: &[i64]) -> Vec<Row<'a>> {
    let series = select(st, REQUESTS, None);
    let per_series: Vec<Vec<Option<f64>>> = series.iter().map(|s| rates(s, steps)).collect();
    let mut kept: HashMap<usize, Vec<Point>> = HashMap::new();
    let mut step = Vec::with_capacity(series.len());
    for (i, &t) in steps.iter().enumerate() {
        step.clear();
        step.extend(
            per_series
                .iter()
                .enumerate()
                .filter_map(|(k, r)| Some((k, r[i]?))),
        );
        step.sort_by(|a, b| b.1.total_cmp(&a.1));
        for &(k, v) in step.iter().take(10) {
            kept.entry(k).or_default().push(Point { t, v });
        }
    }
    kept.into_iter()
        .map(|(k, points)| Row {
            labels: labels_without(series[k], &[METRIC_NAME]),
            points,
        })
        .collect()
}

// ---------------------------------------------------------------------------
// The check that engine and baseline agree.

/// A label set as one sortable string.
fn key<'a>(labels: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut ls: Vec<_> = labels.collect();
    ls.sort();
    let parts: Vec<String> = ls.iter().map(|(n, v)| format!("{n}={v:?}")).collect();
    parts.join(",")
}

fn engine_series(v: &Value) -> BTreeMap<String, Vec<Point>> {
    let labels = |m: &[sluice::proto::thanos::Label]| {
        key(m.iter().map(|l| (l.name.as_str(), l.value.as_str())))
    };
    match v {
        Value::Vector(vec) => vec
            .iter()
            .map(|s| (labels(&s.metric), vec![Point { t: s.t, v: s.v }]))
            .collect(),
        Value::Matrix(m) => m
            .iter()
            .map(|s| (labels(&s.metric), s.points.clone()))
            .collect(),
        other => panic!("unexpected {} result", other.type_name()),
    }
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

fn assert_same(case: &str, engine: &Value, baseline: &[Row<'_>]) {
    let e = engine_series(engine);
    let b: BTreeMap<String, &Vec<Point>> = baseline
        .iter()
        .map(|r| (key(r.labels.iter().copied()), &r.points))
        .collect();
    assert_eq!(b.len(), baseline.len(), "{case}: baseline repeats a series");
    assert_eq!(
        e.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "{case}: series differ"
    );
    assert!(!e.is_empty(), "{case}: empty result");
    for (k, ep) in &e {
        let bp = b[k];
        assert_eq!(ep.len(), bp.len(), "{case} {k}: point counts differ");
        for (x, y) in ep.iter().zip(bp.iter()) {
            assert!(x.t == y.t && close(x.v, y.v), "{case} {k}: {x:?} != {y:?}");
        }
    }
}

/// topk's check. Integral counters often give several series the same rate
/// (the same increase over the same sampled interval), and which of those
/// tied at the 10th place topk keeps is the engine's heap order, not a
/// property to copy into a naive baseline. So per step the two must keep the
/// same values, and every series the engine keeps must have that value as
/// its rate (from the checked rate baseline).
fn assert_same_topk(case: &str, engine: &Value, baseline: &[Row<'_>], rates: &[Row<'_>]) {
    let by_step = |series: &mut dyn Iterator<Item = &Vec<Point>>| {
        let mut steps: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
        for p in series.flatten() {
            steps.entry(p.t).or_default().push(p.v);
        }
        for vs in steps.values_mut() {
            vs.sort_by(|a, b| b.total_cmp(a));
        }
        steps
    };
    let e = engine_series(engine);
    let es = by_step(&mut e.values());
    let bs = by_step(&mut baseline.iter().map(|r| &r.points));
    assert_eq!(es.len(), bs.len(), "{case}: steps differ");
    for ((et, ev), (bt, bv)) in es.iter().zip(&bs) {
        assert!(
            et == bt && ev.len() == bv.len(),
            "{case}: step {et} differs"
        );
        for (x, y) in ev.iter().zip(bv) {
            assert!(close(*x, *y), "{case} at {et}: {x} != {y}");
        }
    }
    let rates: HashMap<String, &Vec<Point>> = rates
        .iter()
        .map(|r| (key(r.labels.iter().copied()), &r.points))
        .collect();
    for (k, points) in &e {
        for p in points {
            let rate = rates[k].iter().find(|r| r.t == p.t).map(|r| r.v);
            assert!(
                rate.is_some_and(|r| close(r, p.v)),
                "{case} {k}: {p:?} is not its rate {rate:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Memory figures.

/// A `Vm*` field of /proc/self/status, in KiB.
fn vm_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resets VmHWM to the current RSS (Linux `clear_refs` value 5); false if the
/// kernel refuses.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(
        || "?".to_string(),
        |k| format!("{:.0} MiB", k as f64 / 1024.0),
    )
}

/// Hands the heap's free memory back to the kernel. Without it the RSS a
/// run starts from includes what earlier runs freed and glibc kept, and runs
/// after the first reuse that memory: measured, they then showed no growth.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn trim_heap() {
    // SAFETY: malloc_trim has no preconditions; it only releases memory the
    // allocator holds free, never a live allocation.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim_heap() {}

/// Runs `f` once and returns its result with the peak RSS during it and the
/// growth over the RSS before it.
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, String) {
    trim_heap();
    let reset = reset_peak();
    let before = vm_kib("VmRSS");
    let out = f();
    let peak = vm_kib("VmHWM");
    let delta = match (before, peak) {
        (Some(b), Some(p)) if reset => format!("+{:.1} MiB", (p as f64 - b as f64) / 1024.0),
        _ => "peak not reset, cumulative".to_string(),
    };
    (out, format!("{} ({delta})", mib(peak)))
}

// ---------------------------------------------------------------------------

/// How a case's engine and baseline answers are compared.
#[derive(Clone, Copy, PartialEq)]
enum Check {
    /// The same series with the same points.
    Exact,
    /// Ties at the k-th place may be broken either way (`assert_same_topk`).
    TopK,
}

struct Case {
    name: &'static str,
    query: &'static str,
    baseline_name: &'static str,
    baseline: Baseline,
    check: Check,
}

const CASES: [Case; 5] = [
    Case {
        name: "rate",
        query: "rate(http_requests_total[5m])",
        baseline_name: "plain_loop",
        baseline: baseline_rate,
        check: Check::Exact,
    },
    Case {
        name: "sum_by_job_rate",
        query: "sum by (job) (rate(http_requests_total[5m]))",
        baseline_name: "hash_group_by",
        baseline: baseline_sum_by_job,
        check: Check::Exact,
    },
    Case {
        name: "histogram_quantile",
        query:
            "histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
        baseline_name: "bucket_interpolation",
        baseline: baseline_histogram_quantile,
        check: Check::Exact,
    },
    Case {
        name: "join_500_over_200",
        query: r#"rate(http_requests_total{code="500"}[5m]) / ignoring(code) rate(http_requests_total{code="200"}[5m])"#,
        baseline_name: "hash_join",
        baseline: baseline_join,
        check: Check::Exact,
    },
    Case {
        name: "topk",
        query: "topk(10, rate(http_requests_total[5m]))",
        baseline_name: "sort_take_10",
        baseline: baseline_topk,
        check: Check::TopK,
    },
];

fn bench(c: &mut Criterion) {
    let started = Instant::now();
    let st = load();
    let samples: usize = st.series().iter().map(|s| s.samples.len()).sum();
    eprintln!(
        "promql dataset: {} series, {samples} samples, loaded in {:.1?}; VmRSS {}, VmHWM {}",
        st.series().len(),
        started.elapsed(),
        mib(vm_kib("VmRSS")),
        mib(vm_kib("VmHWM")),
    );
    let engine = Engine::new(EngineOptions::default());
    let opts = QueryOpts::default();
    let instant = (QueryRange::Instant { time_ms: END }, vec![END]);
    let range = (
        QueryRange::Range {
            start_ms: END - RANGE_SPAN_MS,
            end_ms: END,
            step_ms: STEP_MS,
        },
        (END - RANGE_SPAN_MS..=END)
            .step_by(STEP_MS as usize)
            .collect::<Vec<i64>>(),
    );
    // One run of each case outside the timed loops, all before the first
    // measurement so the figures print together: memory, samples read, and
    // the check that engine and baseline compute the same thing.
    let mut runs = Vec::new();
    for case in &CASES {
        let query = Query::parse(case.query).expect("valid query");
        for (kind, (qr, steps)) in [("instant", &instant), ("range", &range)] {
            let name = format!("{}/{kind}", case.name);
            let counting = Counting {
                inner: &st,
                samples: Cell::new(0),
            };
            let (res, engine_peak) =
                peak_of(|| block_on(engine.exec(&counting, &query, *qr, &opts)));
            let res = res.expect("query runs");
            let (rows, baseline_peak) = peak_of(|| (case.baseline)(&st, steps));
            if case.check == Check::TopK {
                let rates = baseline_rate(&st, steps);
                assert_same_topk(&name, &res.value, &rows, &rates);
            } else {
                assert_same(&name, &res.value, &rows);
            }
            drop((res, rows));
            let read = counting.samples.get();
            eprintln!(
                "{name}: {read} samples read; VmHWM engine {engine_peak}, baseline {baseline_peak}"
            );
            runs.push((name, case, query.clone(), *qr, steps, read));
        }
    }

    for (name, case, query, qr, steps, read) in runs {
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Elements(read));
        group.bench_function("engine", |b| {
            b.iter(|| block_on(engine.exec(black_box(&st), &query, qr, &opts)))
        });
        group.bench_function(format!("baseline/{}", case.baseline_name), |b| {
            b.iter(|| (case.baseline)(black_box(&st), steps))
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    // Range queries take up to half a second an iteration: few samples and
    // short times keep the whole file at a few minutes.
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
