//! End to end against real Prometheus (Debian's `prometheus` package,
//! 2.42.0): a synthetic history (`e2e_data`) is backfilled with `promtool`
//! three ways, complete and as two replicas that each miss a different
//! stretch; three Prometheus servers serve them; two `sluice sidecar`s
//! front the replicas and a `sluice query` deduplicates over both. A
//! second querier reads the replicas without sidecars
//! (`--endpoint=prometheus+http://…`), and an in-process querier over
//! fake stores holding the same data stands in for the sidecars.
//!
//! Checks: without dedup every series appears once per replica; with dedup
//! the series, label names (plus `replica`, which Thanos v0.31 lists too)
//! and label values equal the complete Prometheus's; the raw samples of
//! every deduplicated series (read through the querier's own StoreAPI and
//! Sluice's dedup) equal Thanos's penalty pipeline applied to the chunks
//! Prometheus cut from each replica's samples (as read from the replica's
//! own query API); the sidecar-less querier and the fake stores give the
//! same answers as the sidecars; PromQL (instant and range: a selector,
//! rate, sum by, histogram_quantile, a join) through the querier equals the
//! complete Prometheus wherever the deduplicated data equals the complete
//! data; `promtool query` works against the querier.
//!
//! Everything listens on 127.0.0.1; children are killed and temporary
//! directories removed when the test ends, however it ends; every wait is
//! bounded. Without `prometheus`/`promtool` the test fails and says to run
//! `./scripts/test`, which installs them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use sluice::dedup::{self, Mode};
use sluice::proto::thanos::{label_matcher, LabelMatcher, SeriesRequest};
use sluice::store::fake::{FakeSeries, Table};
use sluice::testkit::{Cluster, ClusterOptions};

use crate::e2e_data::*;
use crate::procs::{self, free_port, get, get_json, loopback, wait_for, Proc, TempDir, BIN};

const SELECTOR: &str = r#"{__name__=~"sluice_e2e_.+"}"#;
/// Every request covers the history with room on both sides.
const START: i64 = T0 - 3_600_000;
const END: i64 = T_END + 3_600_000;

fn find_tool(name: &str) -> String {
    let path = std::env::var("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not installed: the end-to-end test needs Debian's `prometheus` \
                 package (2.42). Run ./scripts/test, which installs it."
            )
        })
}

/// One Prometheus server over a backfilled TSDB.
struct Prom {
    proc: Proc,
    addr: SocketAddr,
}

fn backfill(
    promtool: &str,
    dir: &Path,
    name: &str,
    families: &[Family],
    replica: &str,
) -> std::path::PathBuf {
    let file = dir.join(format!("{name}.om"));
    std::fs::write(&file, openmetrics(families, replica)).unwrap();
    let tsdb = dir.join(format!("{name}-tsdb"));
    let out = Command::new(promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&file)
        .arg(&tsdb)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    tsdb
}

fn start_prometheus(prometheus: &str, dir: &Path, name: &str, tsdb: &Path, replica: &str) -> Prom {
    let mut config = String::from("global:\n  scrape_interval: 15s\n");
    if !replica.is_empty() {
        config.push_str(&format!("  external_labels:\n    replica: {replica}\n"));
    }
    let cfg = dir.join(format!("{name}.yml"));
    std::fs::write(&cfg, config).unwrap();
    let addr = loopback(free_port());
    let args = vec![
        format!("--config.file={}", cfg.display()),
        format!("--storage.tsdb.path={}", tsdb.display()),
        format!("--web.listen-address={addr}"),
        "--storage.tsdb.retention.time=100y".into(),
        // Equal block durations: no compaction while the test runs.
        "--storage.tsdb.min-block-duration=2h".into(),
        "--storage.tsdb.max-block-duration=2h".into(),
    ];
    Prom {
        proc: Proc::spawn(name, prometheus, &args, dir),
        addr,
    }
}

fn wait_ready(what: &str, addr: SocketAddr, proc: &Proc) {
    wait_for(
        &format!("{what} ready"),
        Duration::from_secs(60),
        || get(addr, "/-/ready").is_some_and(|r| r.status == 200),
        || proc.log(),
    );
}

struct Querier {
    proc: Proc,
    http: SocketAddr,
    grpc: SocketAddr,
}

fn start_querier(dir: &Path, name: &str, endpoints: &[String]) -> Querier {
    let (http, grpc) = (loopback(free_port()), loopback(free_port()));
    let mut args = vec![
        "query".to_string(),
        format!("--http-address={http}"),
        format!("--grpc-address={grpc}"),
        "--query.replica-label=replica".into(),
        "--runtime.cores=1".into(),
    ];
    args.extend(endpoints.iter().map(|e| format!("--endpoint={e}")));
    let q = Querier {
        proc: Proc::spawn(name, BIN, &args, dir),
        http,
        grpc,
    };
    wait_ready(name, http, &q.proc);
    let known = |q: &Querier| {
        let v = get_json(q.http, "/api/v1/stores");
        v["data"]["sidecar"].as_array().is_some_and(|a| {
            a.len() == endpoints.len() && a.iter().all(|s| s["labelSets"][0]["replica"].is_string())
        })
    };
    wait_for(
        &format!("{name} to know its stores"),
        Duration::from_secs(30),
        || known(&q),
        || q.proc.log(),
    );
    q
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn range() -> String {
    format!(
        "start={}&end={}",
        START as f64 / 1000.0,
        END as f64 / 1000.0
    )
}

/// The metadata answers a querier (or Prometheus) gives.
#[derive(Debug, PartialEq)]
struct Metadata {
    series: Vec<Labels>,
    names: Vec<String>,
    values: BTreeMap<String, Vec<String>>,
}

fn metadata(addr: SocketAddr, extra: &str, value_names: &[String]) -> Metadata {
    let m = format!("match[]={}&{}{extra}", enc(SELECTOR), range());
    let series = series_list(&get_json(addr, &format!("/api/v1/series?{m}")));
    let names = strings(&get_json(
        addr,
        &format!("/api/v1/labels?{}{extra}", range()),
    ));
    let values = value_names
        .iter()
        .map(|n| {
            let v = get_json(
                addr,
                &format!("/api/v1/label/{n}/values?{}{extra}", range()),
            );
            (n.clone(), strings(&v))
        })
        .collect();
    Metadata {
        series,
        names,
        values,
    }
}

fn with_replica(ls: &[Labels], replica: &str) -> Vec<Labels> {
    ls.iter()
        .map(|l| {
            let mut l = l.clone();
            l.insert("replica".into(), replica.into());
            l
        })
        .collect()
}

fn dedup_request(skip_chunks: bool) -> SeriesRequest {
    SeriesRequest {
        min_time: START,
        max_time: END,
        matchers: vec![LabelMatcher {
            r#type: label_matcher::Type::Re as i32,
            name: "__name__".into(),
            value: "sluice_e2e_.+".into(),
        }],
        skip_chunks,
        without_replica_labels: vec!["replica".into()],
        ..Default::default()
    }
}

/// The deduplicated raw samples of every series, read through a
/// querier's StoreAPI and Sluice's dedup (penalty mode).
fn deduplicated(grpc: SocketAddr) -> BTreeMap<Labels, Samples> {
    let got = procs::series(grpc, &dedup_request(false), Duration::from_secs(60)).unwrap();
    got.into_iter()
        .map(|s| {
            let l: Labels = s
                .labels
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect();
            (
                l,
                drain(dedup::series_iter(
                    s.chunks,
                    START,
                    END,
                    Mode::Penalty,
                    None,
                )),
            )
        })
        .collect()
}

/// A replica's samples as its own Prometheus answers a range selector.
fn queried(prom: SocketAddr) -> BTreeMap<Labels, Samples> {
    let q = format!("{SELECTOR}[6h]");
    let path = format!(
        "/api/v1/query?query={}&time={}",
        enc(&q),
        (T_END + 60_000) as f64 / 1000.0
    );
    matrix_samples(&get_json(prom, &path))
}

/// What Thanos's dedup pipeline makes of the two replicas: the chunks
/// Prometheus cut from each replica's samples, merged, overlap-split into
/// chains and deduplicated with the penalty algorithm.
fn expected_dedup(
    a: &BTreeMap<Labels, Samples>,
    b: &BTreeMap<Labels, Samples>,
) -> BTreeMap<Labels, Samples> {
    a.iter()
        .map(|(l, sa)| {
            let mut chunks = prometheus_chunks(sa, T0);
            chunks.extend(prometheus_chunks(&b[l], T0));
            (
                l.clone(),
                drain(dedup::series_iter(chunks, START, END, Mode::Penalty, None)),
            )
        })
        .collect()
}

/// How many samples the penalty algorithm over whole replicas (instead of
/// chunk chains) would give differently: Thanos issue-level detail for the
/// report, not asserted.
fn whole_replica_differences(
    a: &BTreeMap<Labels, Samples>,
    b: &BTreeMap<Labels, Samples>,
    got: &BTreeMap<Labels, Samples>,
) -> usize {
    a.iter()
        .map(|(l, sa)| {
            let naive = drain(dedup::penalty_dedup(
                vec![VecIter::boxed(sa.clone()), VecIter::boxed(b[l].clone())],
                false,
            ));
            let g: std::collections::BTreeSet<(i64, u64)> =
                got[l].iter().map(|x| (x.0, x.1.to_bits())).collect();
            let common = naive
                .iter()
                .filter(|x| g.contains(&(x.0, x.1.to_bits())))
                .count();
            naive.len() + g.len() - 2 * common
        })
        .sum()
}

/// The sidecar passes Prometheus's chunks through untouched: for every
/// series of replica `a`, exactly the chunks Prometheus cut (same bounds,
/// same bytes), hashed with xxhash64.
fn assert_chunks_pass_through(grpc: SocketAddr, a: &BTreeMap<Labels, Samples>) {
    let mut req = dedup_request(false);
    req.without_replica_labels.clear();
    let got = procs::series(grpc, &req, Duration::from_secs(60)).unwrap();
    assert_eq!(got.len(), a.len());
    for s in got {
        let mut l: Labels = s
            .labels
            .iter()
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect();
        assert_eq!(l.remove("replica").as_deref(), Some("a"));
        let want: Vec<(i64, i64, Vec<u8>)> = prometheus_chunks(&a[&l], T0)
            .into_iter()
            .map(|c| (c.min_time, c.max_time, c.raw.unwrap().data.to_vec()))
            .collect();
        let mut have = Vec::new();
        for c in s.chunks {
            let raw = c.raw.unwrap();
            assert_eq!(raw.hash, xxhash_rust::xxh64::xxh64(&raw.data, 0));
            have.push((c.min_time, c.max_time, raw.data.to_vec()));
        }
        assert_eq!(have, want, "chunks of {l:?}");
    }
}

/// Fake stores holding the replicas' data, behind an in-process querier.
fn fake_cluster(a: &BTreeMap<Labels, Samples>, b: &BTreeMap<Labels, Samples>) -> Cluster {
    let table = |data: &BTreeMap<Labels, Samples>, replica: &str| Table {
        external_labels: vec![sluice::labels::label("replica", replica)],
        series: data
            .iter()
            .map(|(l, s)| FakeSeries {
                labels: l.iter().map(|(k, v)| sluice::labels::label(k, v)).collect(),
                samples: s.clone(),
            })
            .collect(),
        supports_without_replica_labels: true,
        ..Default::default()
    };
    let opts = ClusterOptions {
        replica_labels: vec!["replica".into()],
        ..Default::default()
    };
    Cluster::start(vec![table(a, "a"), table(b, "b")], opts).unwrap()
}

/// The sidecar's peak RSS while it streams every series of its replica.
fn measure_sidecar(sidecar: &Proc, grpc: SocketAddr) {
    let before = sidecar.peak_rss_kib().unwrap_or(0);
    let mut req = dedup_request(false);
    req.without_replica_labels.clear();
    req.matchers[0].value = ".+".into();
    let started = Instant::now();
    let got = procs::series(grpc, &req, Duration::from_secs(60)).unwrap();
    let chunks: usize = got.iter().map(|s| s.chunks.len()).sum();
    let bytes: usize = got
        .iter()
        .flat_map(|s| &s.chunks)
        .map(|c| c.raw.as_ref().map_or(0, |r| r.data.len()))
        .sum();
    eprintln!(
        "e2e: sidecar streamed {} series, {chunks} chunks, {bytes} chunk bytes in {:?}; \
         VmHWM {before} KiB before, {} KiB after; VmRSS now {} KiB",
        got.len(),
        started.elapsed(),
        sidecar.peak_rss_kib().unwrap_or(0),
        sidecar.rss_kib().unwrap_or(0),
    );
}

/// Everything the test runs; fields drop (processes are killed) before
/// the directory goes.
struct Setup {
    q: Querier,
    direct: Querier,
    /// (process, gRPC address) of the sidecars of replicas a and b.
    sidecars: Vec<(Proc, SocketAddr)>,
    proms: Vec<Prom>,
    families: Vec<Family>,
    _dir: TempDir,
}

impl Setup {
    fn complete(&self) -> SocketAddr {
        self.proms[0].addr
    }
}

/// Backfills, starts the three Prometheus servers, the two sidecars and
/// the two queriers, and measures the sidecar before anything else uses it.
fn setup() -> Setup {
    let (prometheus, promtool) = (find_tool("prometheus"), find_tool("promtool"));
    let dir = TempDir::new("e2e");
    let families = history();
    let proms: Vec<Prom> = [("complete", ""), ("replica-a", "a"), ("replica-b", "b")]
        .iter()
        .map(|(name, r)| {
            let tsdb = backfill(&promtool, dir.path(), name, &families, r);
            start_prometheus(&prometheus, dir.path(), name, &tsdb, r)
        })
        .collect();
    for p in &proms {
        wait_ready(&p.proc.name, p.addr, &p.proc);
    }
    let (pa, pb) = (proms[1].addr, proms[2].addr);
    let sidecars: Vec<(Proc, SocketAddr)> = [("sidecar-a", pa), ("sidecar-b", pb)]
        .iter()
        .map(|(name, prom)| start_sidecar(dir.path(), name, *prom))
        .collect();
    // Memory first, before anything else has touched the sidecar.
    measure_sidecar(&sidecars[0].0, sidecars[0].1);
    let endpoints = [sidecars[0].1.to_string(), sidecars[1].1.to_string()];
    let q = start_querier(dir.path(), "query", &endpoints);
    let endpoints = [
        format!("prometheus+http://{pa}"),
        format!("prometheus+http://{pb}"),
    ];
    let direct = start_querier(dir.path(), "query-direct", &endpoints);
    Setup {
        q,
        direct,
        sidecars,
        proms,
        families,
        _dir: dir,
    }
}

fn start_sidecar(dir: &Path, name: &str, prom: SocketAddr) -> (Proc, SocketAddr) {
    let (grpc, http) = (loopback(free_port()), loopback(free_port()));
    let args = vec![
        "sidecar".to_string(),
        format!("--prometheus.url=http://{prom}"),
        format!("--grpc-address={grpc}"),
        format!("--http-address={http}"),
        format!("--tsdb.path={}", dir.display()),
    ];
    let p = Proc::spawn(name, BIN, &args, dir);
    wait_ready(name, http, &p);
    (p, grpc)
}

/// Without dedup every series once per replica; with dedup the complete
/// Prometheus's answers, and `replica` among the label names (Thanos
/// v0.31's LabelNames has no without_replica_labels, so every sidecar adds
/// its external label) with the values `a` and `b`. Returns the querier's
/// deduplicated answers and the label names they cover.
fn check_metadata(s: &Setup) -> (Metadata, Vec<String>) {
    let complete = s.complete();
    let want = metadata(complete, "", &[]);
    assert_eq!(want.series.len(), series_count());
    let mut both = with_replica(&want.series, "a");
    both.extend(with_replica(&want.series, "b"));
    both.sort();
    let mut got = metadata(s.q.http, "&dedup=false", &[]).series;
    got.sort();
    assert_eq!(got, both);

    let names = want.names.clone();
    let mut value_names = names.clone();
    value_names.push("replica".into());
    let want = metadata(complete, "", &names);
    let got = metadata(s.q.http, "", &value_names);
    assert_eq!(got.series, want.series);
    let mut want_names = want.names.clone();
    want_names.push("replica".into());
    want_names.sort();
    assert_eq!(got.names, want_names);
    for n in &names {
        assert_eq!(got.values[n], want.values[n], "values of {n}");
    }
    assert_eq!(got.values["replica"], ["a", "b"]);
    (got, value_names)
}

/// Deduplicated raw samples: Thanos's pipeline over Prometheus's chunks,
/// with today's (Thanos v0.31's) losses pinned. Returns them.
fn check_raw_samples(
    s: &Setup,
    a: &BTreeMap<Labels, Samples>,
    b: &BTreeMap<Labels, Samples>,
) -> BTreeMap<Labels, Samples> {
    let got = deduplicated(s.q.grpc);
    let expected = expected_dedup(a, b);
    assert_eq!(got.len(), expected.len());
    for (l, want) in &expected {
        assert_eq!(got.get(l), Some(want), "deduplicated samples of {l:?}");
    }
    // Thanos switches between chains of chunks, not replicas, so of the
    // complete data exactly two samples go missing where replica b's gap
    // begins (the penalty) and two more where its chain hands over again
    // at 3h00m, where neither replica has a gap (research notes, §10).
    let full = replica_samples(&s.families, "");
    let lost: Vec<i64> = [640, 641, 720, 721].iter().map(|k| T0 + k * STEP).collect();
    for (l, samples) in &got {
        let have: std::collections::BTreeSet<i64> = samples.iter().map(|x| x.0).collect();
        let missing: Vec<i64> = full[l]
            .iter()
            .map(|x| x.0)
            .filter(|t| !have.contains(t))
            .collect();
        assert_eq!(missing, lost, "{l:?}");
    }
    let diff = whole_replica_differences(a, b, &got);
    eprintln!("e2e: samples where Thanos's chunk-chain dedup differs from penalty over whole replicas: {diff}");
    got
}

/// PromQL through the querier (over the two sidecars, deduplicating)
/// equals the complete Prometheus wherever the deduplicated data equals
/// the complete data: every evaluation whose window (5m range or
/// lookback) stays clear of the four samples Thanos's dedup drops
/// (`check_raw_samples`). Instant and range, each query of
/// [`PROMQL_QUERIES`], compared value by value with no tolerance.
fn check_promql(q: SocketAddr, complete: SocketAddr) {
    let s = |k: i64| (T0 + k * STEP) / 1000;
    // Lost samples at steps 640, 641, 720, 721; a 5m window spans 20 steps.
    let ranges = [(s(40), s(639)), (s(742), s(POINTS - 1))];
    let instants = [s(600), s(700), s(POINTS - 1)];
    let mut checked = 0;
    for expr in PROMQL_QUERIES {
        let mut paths: Vec<String> = ranges
            .iter()
            .map(|(a, b)| {
                format!(
                    "/api/v1/query_range?query={}&start={a}&end={b}&step=60",
                    enc(expr)
                )
            })
            .collect();
        paths.extend(
            instants
                .iter()
                .map(|t| format!("/api/v1/query?query={}&time={t}", enc(expr))),
        );
        for path in paths {
            let (l, r) = (get_json(q, &path), get_json(complete, &path));
            assert_ne!(
                r["data"]["result"],
                serde_json::json!([]),
                "{path}: the complete Prometheus has no data"
            );
            if let Err(e) = compare_query_responses(&l, &r, 0.0) {
                panic!("{path}: querier vs complete Prometheus: {e}");
            }
            if path.contains("query_range") {
                // Byte for byte: range results are sorted, and at whole
                // seconds Prometheus's point timestamps (`marshalTimestamp`)
                // are what Thanos v0.31 writes (encoding/json floats);
                // Thanos's Encoder adds the trailing newline.
                let ours = get(q, &path).map(|r| r.body).unwrap_or_default();
                let mut theirs = get(complete, &path).map(|r| r.body).unwrap_or_default();
                theirs.push(b'\n');
                assert!(
                    ours == theirs,
                    "{path}: bodies differ:\n{}\n{}",
                    String::from_utf8_lossy(&ours),
                    String::from_utf8_lossy(&theirs)
                );
            }
            checked += 1;
        }
    }
    eprintln!("e2e: {checked} PromQL answers equal the complete Prometheus's");
}

/// `promtool query` (Prometheus 2.42's client) works against the querier
/// and prints what it prints for the complete Prometheus.
fn check_promtool(q: SocketAddr, complete: SocketAddr) {
    let promtool = find_tool("promtool");
    let t = ((T0 + 600 * STEP) / 1000).to_string();
    let (start, end) = (
        ((T0 + 100 * STEP) / 1000).to_string(),
        ((T0 + 200 * STEP) / 1000).to_string(),
    );
    let expr = "sum by (code) (rate(sluice_e2e_requests_total[5m]))";
    let run = |addr: SocketAddr, args: &[&str]| {
        let out = Command::new(&promtool)
            .args(args)
            .arg(format!("http://{addr}"))
            .arg(expr)
            .output()
            .expect("running promtool");
        assert!(
            out.status.success(),
            "promtool {args:?} against {addr}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    for args in [
        vec!["query", "instant", "--time", t.as_str()],
        vec![
            "query",
            "range",
            "--start",
            start.as_str(),
            "--end",
            end.as_str(),
            "--step",
            "60s",
        ],
    ] {
        let (l, r) = (run(q, &args), run(complete, &args));
        assert!(!r.trim().is_empty(), "promtool {args:?} printed nothing");
        // Series order is not defined for instant vectors; compare lines.
        let sorted = |s: &str| {
            let mut v: Vec<String> = s.lines().map(String::from).collect();
            v.sort();
            v
        };
        assert_eq!(sorted(&l), sorted(&r), "promtool {args:?}");
    }
}

#[test]
fn sidecars_and_querier_against_real_prometheus() {
    let started = Instant::now();
    let s = setup();
    let (pa, pb) = (s.proms[1].addr, s.proms[2].addr);

    // The replicas hold what was written.
    let (a, b) = (queried(pa), queried(pb));
    assert_eq!(a, replica_samples(&s.families, "a"));
    assert_eq!(b, replica_samples(&s.families, "b"));
    assert_eq!(queried(s.complete()), replica_samples(&s.families, ""));

    let (got, value_names) = check_metadata(&s);
    assert_chunks_pass_through(s.sidecars[0].1, &a);
    let dedup_sidecars = check_raw_samples(&s, &a, &b);

    // Sidecar-less endpoints give the same answers.
    assert_eq!(metadata(s.direct.http, "", &value_names), got);
    assert_eq!(deduplicated(s.direct.grpc), dedup_sidecars);

    // Fake stores holding the same data give the same metadata answers.
    let fakes = fake_cluster(&a, &b);
    assert_eq!(metadata(fakes.http, "", &value_names), got);
    let fake_nodedup = metadata(fakes.http, "&dedup=false", &value_names);
    assert_eq!(
        fake_nodedup,
        metadata(s.q.http, "&dedup=false", &value_names)
    );

    check_promql(s.q.http, s.complete());
    check_promtool(s.q.http, s.complete());
    eprintln!(
        "e2e: sidecar-a VmHWM at the end (after the deduplicating reads, which hold one \
         metric name's series at a time): {} KiB",
        s.sidecars[0].0.peak_rss_kib().unwrap_or(0)
    );
    eprintln!("e2e: wall time {:?}", started.elapsed());
}

/// The PromQL the checks above run (against the querier and the complete
/// Prometheus).
const PROMQL_QUERIES: &[&str] = &[
    "sluice_e2e_temperature",
    "rate(sluice_e2e_requests_total[5m])",
    "sum by (code) (rate(sluice_e2e_requests_total[5m]))",
    "histogram_quantile(0.9, sum by (le) (rate(sluice_e2e_latency_seconds_bucket[5m])))",
    "sluice_e2e_temperature * on (instance) group_left sum by (instance) (rate(sluice_e2e_requests_total[5m]))",
    // Joins with a held side, relabelling, `or`, and expressions over
    // topk, all evaluated series by series (no float folds whose order
    // Prometheus takes from a Go map).
    "rate(sluice_e2e_requests_total{code=\"500\"}[5m]) and on (instance) (sluice_e2e_temperature > -1e9)",
    "sluice_e2e_temperature unless on (instance) rate(sluice_e2e_requests_total[5m]) > 1e9",
    "rate(sluice_e2e_requests_total[5m]) * on (instance) group_left (job) sluice_e2e_temperature",
    "sluice_e2e_temperature - on (instance) group_right rate(sluice_e2e_requests_total[5m])",
    "rate(sluice_e2e_requests_total{code=\"200\"}[5m]) / on (instance) rate(sluice_e2e_requests_total{code=\"500\"}[5m])",
    "label_replace(rate(sluice_e2e_requests_total[5m]), \"host\", \"$1\", \"instance\", \"i-(.*)\")",
    "max by (host) (label_replace(sluice_e2e_temperature, \"host\", \"$1\", \"instance\", \"i-000(.)\"))",
    "sluice_e2e_temperature{instance=\"i-0001\"} or sluice_e2e_up",
    "sum(rate(sluice_e2e_requests_total{code=\"404\"}[5m])) or vector(0)",
    "max(topk(3, rate(sluice_e2e_requests_total[5m])))",
    "count(sluice_e2e_temperature > 0 or sluice_e2e_up)",
    "histogram_quantile(0.9, rate(sluice_e2e_latency_seconds_bucket[5m]))",
    "absent(sluice_e2e_temperature{job=\"nope\", instance=~\"i-.*\"})",
    "absent_over_time(sluice_e2e_up{instance=\"i-9999\"}[5m])",
    "rate(sluice_e2e_requests_total[5m]) / rate(sluice_e2e_requests_total[10m]) * on (instance) group_left (job) sluice_e2e_temperature >= 0",
];
