//! Sluice's load-test harness. Each experiment states its goal metric,
//! resources, store topology and seed, runs the real `sluice` binary as a
//! separate process (so its memory is measured alone) against fake stores
//! served from this process on loopback, and prints a Markdown result to
//! commit under `loadtest/results/`.
//!
//! Run: `cargo build --release && cargo run --release --example loadtest -- <experiment> [options]`
//!
//! Experiments:
//! - `series-fanout --pairs P --series N`: P HA pairs of fake sidecars (2P
//!   stores), each store holding N series; one `/api/v1/series` request
//!   for all of them with replica dedup on. Goal: peak RSS of the querier
//!   flat in N, and the time to stream the answer.
//! - `max-samples --series N --limit M`: one HA pair holding N series of 6 h
//!   at 15 s; the querier runs with `--query.max-samples=M`. A query over
//!   all of it must end with Prometheus's 422 error while a small query
//!   sent at the same time is answered. Goal: peak RSS bounded by the limit,
//!   not by the data.
//! - `stream --series N [--query Q]`: one HA pair holding N series of 6 h at
//!   15 s; Q (default `rate(node_cpu_seconds_total[5m])`) over the 6 h at a
//!   60 s step, once
//!   evaluated series by series (the default for this shape) and once with
//!   `stream=false` (whole-query evaluation), each in a fresh querier.
//!   Goal: peak RSS of the series-by-series run flat in N.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use sluice::labels::label;
use sluice::store::fake::{FakeSeries, FakeStore, Table};
use sluice::{rt, testkit};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("series-fanout") => series_fanout(&args[1..]),
        Some("max-samples") => max_samples(&args[1..]),
        Some("stream") => stream(&args[1..]),
        _ => Err("usage: loadtest series-fanout [--pairs P] [--series N] | max-samples [--series N] [--limit M] | stream [--series N] [--query Q]".to_string()),
    };
    if let Err(e) = result {
        eprintln!("loadtest: {e}");
        std::process::exit(1);
    }
}

fn flag(args: &[String], name: &str, default: usize) -> Result<usize, String> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{name} needs a number")),
    }
}

/// The series of one shard of a deployment: `n` series shaped like
/// node-exporter's, told apart by instance and cpu; seeded by `shard`.
fn shard_series(shard: usize, n: usize, samples: usize) -> Vec<FakeSeries> {
    (0..n)
        .map(|i| {
            let mut ls = vec![
                label("__name__", "node_cpu_seconds_total"),
                label("cpu", &format!("{}", i % 64)),
                label(
                    "instance",
                    &format!("10.{}.{}.{}:9100", shard, i / 64 / 250, i / 64 % 250),
                ),
                label("job", "node"),
                label("mode", "user"),
            ];
            sluice::labels::sort(&mut ls);
            FakeSeries {
                labels: ls,
                samples: (0..samples as i64)
                    .map(|k| (k * 15_000, (i as i64 + k) as f64))
                    .collect(),
            }
        })
        .collect()
}

struct Stores {
    addrs: Vec<SocketAddr>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Stores {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serves `pairs` HA pairs of fake sidecars on one executor thread.
fn start_stores(pairs: usize, n: usize, samples: usize) -> Result<Stores, String> {
    let mut stores = Vec::new();
    for p in 0..pairs {
        let series = shard_series(p, n, samples);
        for r in ["a", "b"] {
            stores.push(FakeStore::new(Table {
                external_labels: vec![label("replica", r), label("shard", &p.to_string())],
                series: series.clone(),
                supports_without_replica_labels: true,
                ..Default::default()
            })?);
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let _ = rt::block_on(async move {
            let addrs: Result<Vec<_>, _> = stores.into_iter().map(testkit::serve_store).collect();
            let _ = tx.send(addrs);
            while !stop2.load(Ordering::Acquire) {
                rt::sleep(Duration::from_millis(20)).await;
            }
        });
    });
    let addrs = rx.recv().map_err(|e| e.to_string())??;
    Ok(Stores {
        addrs,
        stop,
        thread: Some(thread),
    })
}

struct Querier {
    child: Child,
    http: SocketAddr,
}

impl Drop for Querier {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

fn start_querier(stores: &[SocketAddr], extra: &[String]) -> Result<Querier, String> {
    let bin = std::env::var("SLUICE_BIN").unwrap_or_else(|_| "target/release/sluice".into());
    let http: SocketAddr = format!("127.0.0.1:{}", free_port()?)
        .parse()
        .map_err(|e| format!("{e}"))?;
    let mut cmd = Command::new(&bin);
    cmd.arg("query")
        .arg(format!("--http-address={http}"))
        .arg(format!("--grpc-address=127.0.0.1:{}", free_port()?))
        .arg("--query.replica-label=replica")
        .arg("--log.level=warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    for s in stores {
        cmd.arg(format!("--endpoint={s}"));
    }
    cmd.args(extra);
    let child = cmd
        .spawn()
        .map_err(|e| format!("starting {bin}: {e} (build it with cargo build --release)"))?;
    let q = Querier { child, http };
    let started = Instant::now();
    loop {
        if let Ok(r) = testkit::http_request(http, "GET", "/-/ready", &[], None) {
            if r.status == 200 {
                return Ok(q);
            }
        }
        if started.elapsed() > Duration::from_secs(30) {
            return Err("querier not ready after 30 s".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// User and system CPU time of a process so far, in seconds (from
/// `/proc/<pid>/stat`, at Linux's usual 100 ticks a second).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold
    // spaces: state is the first, utime the 12th, stime the 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (tick(11) + tick(12)) as f64 / 100.0
}

/// `VmHWM` and `VmRSS` of a process, in bytes.
fn rss(pid: u32) -> (u64, u64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// Reads a response without keeping it: returns (status line, body bytes,
/// `{` count, time to first byte).
fn stream_get(addr: SocketAddr, path: &str) -> Result<(String, u64, u64, Duration), String> {
    let started = Instant::now();
    let mut s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(600)))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 1 << 16];
    let (mut bytes, mut braces) = (0u64, 0u64);
    let mut first = None;
    let mut head = Vec::new();
    loop {
        let n = s.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        first.get_or_insert_with(|| started.elapsed());
        if head.len() < 1024 {
            head.extend_from_slice(&buf[..n.min(1024)]);
        }
        bytes += n as u64;
        braces += buf[..n].iter().filter(|&&b| b == b'{').count() as u64;
    }
    // The status line, and how the query was evaluated.
    let head = String::from_utf8_lossy(&head);
    let mut status = head.lines().next().unwrap_or("").to_string();
    if let Some(how) = head.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("sluice-evaluation:")
            .map(|v| v.trim().to_string())
    }) {
        status = format!("{status}, evaluation {how}");
    }
    Ok((status, bytes, braces, first.unwrap_or_default()))
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .next()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_string())
        })
        .and_then(|kb| kb.parse::<u64>().ok())
        .unwrap_or(0);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!(
        "{cores} cores ({cpu}), {:.1} GiB RAM",
        mem as f64 / 1048576.0
    )
}

fn series_fanout(args: &[String]) -> Result<(), String> {
    let pairs = flag(args, "--pairs", 2)?;
    let n = flag(args, "--series", 100_000)?;
    eprintln!("preparing {} stores x {n} series ...", 2 * pairs);
    let stores = start_stores(pairs, n, 2)?;
    let q = start_querier(&stores.addrs, &[])?;
    let pid = q.child.id();
    let (hwm_idle, _) = rss(pid);
    let sampling = Arc::new(AtomicBool::new(true));
    let s2 = sampling.clone();
    let sampler = std::thread::spawn(move || {
        let mut peak = 0;
        while s2.load(Ordering::Acquire) {
            peak = peak.max(rss(pid).1);
            std::thread::sleep(Duration::from_millis(20));
        }
        peak
    });
    let started = Instant::now();
    let (status, bytes, braces, ttfb) =
        stream_get(q.http, "/api/v1/series?match[]=node_cpu_seconds_total")?;
    let took = started.elapsed();
    sampling.store(false, Ordering::Release);
    let peak_sampled = sampler.join().unwrap_or(0);
    let (hwm, _) = rss(pid);
    let series = braces.saturating_sub(1);
    let mib = |b: u64| b as f64 / 1048576.0;
    println!(
        "## series-fanout: {pairs} HA pairs ({} stores) x {n} series per store",
        2 * pairs
    );
    println!();
    println!(
        "- date: {}",
        sluice::api::params::format_rfc3339(sluice::time::now_ms())
    );
    println!("- machine: {}", machine());
    println!(
        "- goal: querier peak RSS flat in the number of series; time to stream `/api/v1/series`"
    );
    println!("- topology: {} fake sidecars in the harness process, replica label `replica`, dedup on; querier: `sluice query` (release), its own process, all cores", 2 * pairs);
    println!("- request: `GET /api/v1/series?match[]=node_cpu_seconds_total` (no gzip)");
    println!(
        "- status: `{status}`; series returned: {series} (expected {})",
        pairs * n
    );
    println!(
        "- response: {:.1} MiB in {:.2} s ({:.0} series/s); first byte after {} ms",
        mib(bytes),
        took.as_secs_f64(),
        series as f64 / took.as_secs_f64(),
        ttfb.as_millis()
    );
    println!("- querier RSS: {:.1} MiB after start (VmHWM), {:.1} MiB peak during the request (VmHWM), {:.1} MiB highest sampled VmRSS", mib(hwm_idle), mib(hwm), mib(peak_sampled));
    drop(q);
    drop(stores);
    if series != (pairs * n) as u64 {
        return Err(format!("expected {} series, got {series}", pairs * n));
    }
    Ok(())
}

fn max_samples(args: &[String]) -> Result<(), String> {
    let n = flag(args, "--series", 20_000)?;
    let limit = flag(args, "--limit", 5_000_000)?;
    let samples = 1440; // 6 h at 15 s
    eprintln!("preparing 2 stores x {n} series x {samples} samples ...");
    let stores = start_stores(1, n, samples)?;
    let q = start_querier(&stores.addrs, &[format!("--query.max-samples={limit}")])?;
    let pid = q.child.id();
    let (hwm_idle, _) = rss(pid);
    let http = q.http;
    // By default a join, which the whole-query engine evaluates: each side
    // of it holds 20,000 series x 356 steps, more than the limit in
    // Prometheus's own counting too.
    let query = args
        .iter()
        .position(|a| a == "--query")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| {
            "rate(node_cpu_seconds_total[5m]) * on (cpu, instance) group_left () rate(node_cpu_seconds_total[5m])".to_string()
        });
    let enc: String = form_urlencoded::byte_serialize(query.as_bytes()).collect();
    let path = format!("/api/v1/query_range?query={enc}&start=300&end=21600&step=60");
    let big = std::thread::spawn(move || {
        let t = Instant::now();
        let r = testkit::http_request(http, "GET", &path, &[], None);
        (r, t.elapsed())
    });
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    let small = testkit::http_request(
        http,
        "GET",
        "/api/v1/query?query=count(node_cpu_seconds_total%7Bcpu%3D%220%22%7D)&time=21600",
        &[],
        None,
    )?;
    let small_took = t.elapsed();
    let (big, big_took) = big
        .join()
        .map_err(|_| "request thread panicked".to_string())?;
    let big = big?;
    let (hwm, _) = rss(pid);
    let mib = |b: u64| b as f64 / 1048576.0;
    let total = (2 * n * samples) as u64;
    println!(
        "## max-samples: 1 HA pair x {n} series x {samples} samples, --query.max-samples={limit}"
    );
    println!();
    println!(
        "- date: {}",
        sluice::api::params::format_rfc3339(sluice::time::now_ms())
    );
    println!("- machine: {}", machine());
    println!("- goal: a query over more samples than the limit ends with 422 while the querier keeps serving; peak RSS bounded by the limit, not the data");
    println!(
        "- data: {total} samples in the two replicas ({:.0}x the limit)",
        total as f64 / limit as f64
    );
    println!(
        "- big query `{query}` over 6 h at 60 s: HTTP {} in {:.2} s: `{}`",
        big.status,
        big_took.as_secs_f64(),
        big.text().trim()
    );
    println!("- small query sent 200 ms later `count(node_cpu_seconds_total{{cpu=\"0\"}})`: HTTP {} in {:.2} s", small.status, small_took.as_secs_f64());
    println!(
        "- querier RSS: {:.1} MiB after start, {:.1} MiB peak (VmHWM)",
        mib(hwm_idle),
        mib(hwm)
    );
    if big.status != 422 || small.status != 200 {
        return Err(format!(
            "expected 422 and 200, got {} and {}",
            big.status, small.status
        ));
    }
    Ok(())
}

fn stream(args: &[String]) -> Result<(), String> {
    let n = flag(args, "--series", 20_000)?;
    let samples = 1440; // 6 h at 15 s
    eprintln!("preparing 2 stores x {n} series x {samples} samples ...");
    let stores = start_stores(1, n, samples)?;
    let query = args
        .iter()
        .position(|a| a == "--query")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| "rate(node_cpu_seconds_total[5m])".to_string());
    let enc: String = form_urlencoded::byte_serialize(query.as_bytes()).collect();
    let path = format!("/api/v1/query_range?query={enc}&start=300&end=21600&step=60");
    let mib = |b: u64| b as f64 / 1048576.0;
    println!("## stream: 1 HA pair x {n} series x {samples} samples, `{query}` over 6 h at 60 s");
    println!();
    println!(
        "- date: {}",
        sluice::api::params::format_rfc3339(sluice::time::now_ms())
    );
    println!("- machine: {}", machine());
    println!("- goal: the series-by-series run holds one series, not the answer; compared with whole-query evaluation (`stream=false`)");
    for (name, extra) in [
        ("series by series", ""),
        ("whole query (stream=false)", "&stream=false"),
    ] {
        let q = start_querier(
            &stores.addrs,
            &["--query.max-samples=500000000".to_string()],
        )?;
        let pid = q.child.id();
        let (idle, _) = rss(pid);
        let cpu_before = cpu_seconds(pid);
        let own_before = cpu_seconds(std::process::id());
        let started = Instant::now();
        let (status, bytes, braces, ttfb) = stream_get(q.http, &format!("{path}{extra}"))?;
        let took = started.elapsed();
        let cpu = cpu_seconds(pid) - cpu_before;
        let own = cpu_seconds(std::process::id()) - own_before;
        let (hwm, _) = rss(pid);
        println!(
            "- {name}: `{status}`, {} series, {:.1} MiB in {:.2} s (first byte after {} ms); querier CPU {:.2} s ({:.0}% of one core), stores and client (this process) {:.2} s; querier RSS {:.1} MiB after start, {:.1} MiB peak (VmHWM)",
            braces.saturating_sub(2) / 2,
            mib(bytes),
            took.as_secs_f64(),
            ttfb.as_millis(),
            cpu,
            100.0 * cpu / took.as_secs_f64(),
            own,
            mib(idle),
            mib(hwm)
        );
    }
    Ok(())
}
