//! Sluice's own metrics, served on `/metrics` in the Prometheus text format.
//!
//! Counters live in fixed arrays of atomics, one row per shard: a shard only
//! ever writes its own row (relaxed atomics on its own cache lines, no
//! lock), and a scrape sums the rows. Names follow Thanos's so that existing
//! dashboards and the stock alerts (`http_requests_total{handler="query"}`,
//! `http_request_duration_seconds_bucket`) keep working.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::OnceLock;

/// The `handler` label values, as Thanos names its API handlers.
pub const HANDLERS: &[&str] = &[
    "query",
    "query_range",
    "label_values",
    "series",
    "label_names",
    "stores",
    "status_flags",
    "status_runtime",
    "status_build",
    "options",
    "healthy",
    "ready",
    "metrics",
    "other",
];

/// Status codes counted separately; anything else counts as `other`.
const CODES: &[u16] = &[200, 204, 400, 404, 405, 422, 499, 500, 503];

/// `http_request_duration_seconds` buckets (Thanos's instrumentation
/// middleware uses these).
const BUCKETS: &[f64] = &[
    0.001, 0.01, 0.1, 0.3, 0.6, 1.0, 3.0, 6.0, 9.0, 20.0, 30.0, 60.0, 90.0, 120.0,
];

const MAX_SHARDS: usize = 256;

#[derive(Default)]
struct Row {
    /// [handler][code index, last = other]
    requests: Vec<AtomicU64>,
    /// [handler][bucket index, last = +Inf]
    buckets: Vec<AtomicU64>,
    /// [handler] sum of seconds, as f64 bits.
    sums: Vec<AtomicU64>,
}

impl Row {
    fn new() -> Row {
        let n = HANDLERS.len();
        let zeros = |k: usize| (0..k).map(|_| AtomicU64::new(0)).collect();
        Row {
            requests: zeros(n * (CODES.len() + 1)),
            buckets: zeros(n * (BUCKETS.len() + 1)),
            sums: zeros(n),
        }
    }
}

struct Registry {
    rows: Vec<Row>,
    start_time: f64,
}

fn registry() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(|| Registry {
        rows: (0..MAX_SHARDS).map(|_| Row::new()).collect(),
        start_time: now_secs(),
    })
}

fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// DNS lookups of endpoint addresses, process-wide (written by the control
/// plane on shard 0 only). Thanos: `thanos_query_endpoints_dns_lookups_total`.
pub static DNS_LOOKUPS: AtomicU64 = AtomicU64::new(0);
/// Failed DNS lookups (`thanos_query_endpoints_dns_failures_total`).
pub static DNS_FAILURES: AtomicU64 = AtomicU64::new(0);

/// PromQL queries evaluated series by series (`api::stream`).
pub static STREAMED_QUERIES: AtomicU64 = AtomicU64::new(0);
/// Batches of series of such queries evaluated on the worker threads, and
/// on the shard that read them.
pub static BATCHES_ON_WORKERS: AtomicU64 = AtomicU64::new(0);
pub static BATCHES_ON_SHARD: AtomicU64 = AtomicU64::new(0);

/// Records one finished HTTP request on the current shard.
pub fn observe_request(handler: &str, code: u16, seconds: f64) {
    let r = registry();
    let row = &r.rows[crate::rt::shard_id() % MAX_SHARDS];
    let h = HANDLERS
        .iter()
        .position(|x| *x == handler)
        .unwrap_or(HANDLERS.len() - 1);
    let c = CODES.iter().position(|x| *x == code).unwrap_or(CODES.len());
    row.requests[h * (CODES.len() + 1) + c].fetch_add(1, Relaxed);
    let b = BUCKETS
        .iter()
        .position(|le| seconds <= *le)
        .unwrap_or(BUCKETS.len());
    row.buckets[h * (BUCKETS.len() + 1) + b].fetch_add(1, Relaxed);
    let sum = &row.sums[h];
    let _ = sum.fetch_update(Relaxed, Relaxed, |bits| {
        Some((f64::from_bits(bits) + seconds).to_bits())
    });
}

/// The whole exposition.
pub fn render() -> String {
    let mut out = String::with_capacity(16 * 1024);
    render_http(&mut out);
    render_dns(&mut out);
    render_process(&mut out);
    out
}

fn sum_rows(f: impl Fn(&Row) -> u64) -> u64 {
    registry().rows.iter().map(f).sum()
}

fn render_http(out: &mut String) {
    let _ = writeln!(
        out,
        "# HELP http_requests_total Tracks the number of HTTP requests."
    );
    let _ = writeln!(out, "# TYPE http_requests_total counter");
    for (h, name) in HANDLERS.iter().enumerate() {
        for c in 0..=CODES.len() {
            let n = sum_rows(|r| r.requests[h * (CODES.len() + 1) + c].load(Relaxed));
            if n == 0 {
                continue;
            }
            let code = CODES.get(c).map_or("other".to_string(), |c| c.to_string());
            let _ = writeln!(
                out,
                "http_requests_total{{code=\"{code}\",handler=\"{name}\"}} {n}"
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP http_request_duration_seconds Tracks the latencies for HTTP requests."
    );
    let _ = writeln!(out, "# TYPE http_request_duration_seconds histogram");
    for (h, name) in HANDLERS.iter().enumerate() {
        let per = BUCKETS.len() + 1;
        let counts: Vec<u64> = (0..per)
            .map(|b| sum_rows(|r| r.buckets[h * per + b].load(Relaxed)))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            continue;
        }
        let mut cum = 0;
        for (b, le) in BUCKETS.iter().enumerate() {
            cum += counts[b];
            let _ = writeln!(
                out,
                "http_request_duration_seconds_bucket{{handler=\"{name}\",le=\"{le}\"}} {cum}"
            );
        }
        let _ = writeln!(
            out,
            "http_request_duration_seconds_bucket{{handler=\"{name}\",le=\"+Inf\"}} {total}"
        );
        let sum: f64 = registry()
            .rows
            .iter()
            .map(|r| f64::from_bits(r.sums[h].load(Relaxed)))
            .sum();
        let _ = writeln!(
            out,
            "http_request_duration_seconds_sum{{handler=\"{name}\"}} {sum}"
        );
        let _ = writeln!(
            out,
            "http_request_duration_seconds_count{{handler=\"{name}\"}} {total}"
        );
    }
}

fn render_dns(out: &mut String) {
    let _ = writeln!(out, "# HELP thanos_query_endpoints_dns_lookups_total The number of DNS lookups resolutions attempts");
    let _ = writeln!(
        out,
        "# TYPE thanos_query_endpoints_dns_lookups_total counter"
    );
    let _ = writeln!(
        out,
        "thanos_query_endpoints_dns_lookups_total {}",
        DNS_LOOKUPS.load(Relaxed)
    );
    let _ = writeln!(
        out,
        "# HELP thanos_query_endpoints_dns_failures_total The number of DNS lookup failures"
    );
    let _ = writeln!(
        out,
        "# TYPE thanos_query_endpoints_dns_failures_total counter"
    );
    let _ = writeln!(
        out,
        "thanos_query_endpoints_dns_failures_total {}",
        DNS_FAILURES.load(Relaxed)
    );
    let _ = writeln!(out, "# HELP sluice_query_streamed_total PromQL queries evaluated series by series, never holding their whole input.");
    let _ = writeln!(out, "# TYPE sluice_query_streamed_total counter");
    let _ = writeln!(
        out,
        "sluice_query_streamed_total {}",
        STREAMED_QUERIES.load(Relaxed)
    );
    let _ = writeln!(out, "# HELP sluice_query_stream_batches_total Batches of series of streamed queries, by the thread that evaluated them (a worker, or the shard that read them).");
    let _ = writeln!(out, "# TYPE sluice_query_stream_batches_total counter");
    let _ = writeln!(
        out,
        "sluice_query_stream_batches_total{{on=\"worker\"}} {}",
        BATCHES_ON_WORKERS.load(Relaxed)
    );
    let _ = writeln!(
        out,
        "sluice_query_stream_batches_total{{on=\"shard\"}} {}",
        BATCHES_ON_SHARD.load(Relaxed)
    );
}

/// The standard `process_*` metrics, from `/proc/self`.
fn render_process(out: &mut String) {
    let ticks = 100.0; // USER_HZ on Linux.
    let page = 4096.0;
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        // Fields after the command name (which may contain spaces).
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = rest.split_whitespace().collect();
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        // utime and stime are fields 14 and 15 of stat; index 11 and 12 here.
        let cpu = (num(11) + num(12)) / ticks;
        let _ = writeln!(
            out,
            "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds."
        );
        let _ = writeln!(out, "# TYPE process_cpu_seconds_total counter");
        let _ = writeln!(out, "process_cpu_seconds_total {cpu}");
        let _ = writeln!(
            out,
            "# HELP process_virtual_memory_bytes Virtual memory size in bytes."
        );
        let _ = writeln!(out, "# TYPE process_virtual_memory_bytes gauge");
        let _ = writeln!(out, "process_virtual_memory_bytes {}", num(20));
        let _ = writeln!(
            out,
            "# HELP process_resident_memory_bytes Resident memory size in bytes."
        );
        let _ = writeln!(out, "# TYPE process_resident_memory_bytes gauge");
        let _ = writeln!(out, "process_resident_memory_bytes {}", num(21) * page);
    }
    let fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count());
    let _ = writeln!(
        out,
        "# HELP process_open_fds Number of open file descriptors."
    );
    let _ = writeln!(out, "# TYPE process_open_fds gauge");
    let _ = writeln!(out, "process_open_fds {fds}");
    let _ = writeln!(
        out,
        "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds."
    );
    let _ = writeln!(out, "# TYPE process_start_time_seconds gauge");
    let _ = writeln!(out, "process_start_time_seconds {}", registry().start_time);
}

/// The peak resident set size of this process in bytes (`VmHWM`), for
/// load tests and notes.
pub fn peak_rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Creates the registry (and fixes the process start time) at start-up.
pub fn init() {
    registry();
}

/// Escapes a label value for the text exposition format: backslash, double
/// quote and line feed.
pub fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_escaping() {
        assert_eq!(escape_label(r#"{replica="a"}"#), r#"{replica=\"a\"}"#);
        assert_eq!(escape_label("a\\b\nc"), "a\\\\b\\nc");
    }
}
