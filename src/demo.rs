//! The data behind `sluice demo`: an HA pair of fake sidecars that hold the
//! same series, told apart by the external label `replica="a"` / `"b"`.
//!
//! Each replica scrapes every 15 s (replica "b" 3 s after "a", as two
//! Prometheus servers never scrape in step), and each has gaps where it was
//! down. The series are what a real service exposes: `up`, request counters
//! (which reset when an instance restarts), a memory gauge and a classic
//! latency histogram (`_bucket` with `le`, `_sum`, `_count`). Values are a
//! deterministic function of time, so both replicas agree where both have
//! data.

use crate::labels::label;
use crate::proto::thanos::Label;
use crate::store::fake::{FakeSeries, Table};

/// The scrape interval.
pub const SCRAPE_MS: i64 = 15_000;
/// Histogram bucket bounds.
const LE: &[&str] = &["0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"];

/// The replica label the demo's stores carry.
pub const REPLICA_LABEL: &str = "replica";

/// Builds the two replicas' tables: `instances` instances per job, `history_ms`
/// of history ending at `now_ms`.
pub fn ha_pair(now_ms: i64, history_ms: i64, instances: usize) -> [Table; 2] {
    let start = now_ms - history_ms;
    let gaps_a = [(now_ms - 2 * 3_600_000, now_ms - 2 * 3_600_000 + 15 * 60_000)];
    let gaps_b = [
        (now_ms - 4 * 3_600_000, now_ms - 4 * 3_600_000 + 20 * 60_000),
        (now_ms - 40 * 60_000, now_ms - 35 * 60_000),
    ];
    [
        replica("a", start, now_ms, 0, &gaps_a, instances),
        replica("b", start, now_ms, 3_000, &gaps_b, instances),
    ]
}

fn replica(
    name: &str,
    start: i64,
    end: i64,
    phase: i64,
    gaps: &[(i64, i64)],
    instances: usize,
) -> Table {
    let first = start - start.rem_euclid(SCRAPE_MS) + phase;
    let stamps: Vec<i64> = (0..)
        .map(|i| first + i * SCRAPE_MS)
        .take_while(|t| *t <= end)
        .filter(|t| !gaps.iter().any(|(a, b)| t >= a && t < b))
        .collect();
    let mut series = Vec::new();
    for i in 0..instances {
        let instance = format!("10.0.{}.{}:8080", i / 250, i % 250 + 1);
        series.extend(instance_series(&instance, i as u64, start, &stamps));
    }
    Table {
        external_labels: vec![label(REPLICA_LABEL, name), label("cluster", "demo")],
        series,
        supports_without_replica_labels: true,
        ..Default::default()
    }
}

fn with(base: &[Label], extra: &[(&str, &str)]) -> Vec<Label> {
    let mut ls = base.to_vec();
    ls.extend(extra.iter().map(|(n, v)| label(n, v)));
    crate::labels::sort(&mut ls);
    ls
}

fn instance_series(instance: &str, seed: u64, start: i64, stamps: &[i64]) -> Vec<FakeSeries> {
    let api = [label("job", "api"), label("instance", instance)];
    let mut out = vec![FakeSeries {
        labels: with(&api, &[("__name__", "up")]),
        samples: stamps.iter().map(|&t| (t, 1.0)).collect(),
    }];
    // The instance restarted once, two thirds of the way in: counters reset.
    let restart =
        start + (stamps.last().copied().unwrap_or(start) - start) * 2 / 3 + seed as i64 * 7_000;
    for (method, code, rate) in [
        ("GET", "200", 40.0),
        ("GET", "500", 0.4),
        ("POST", "200", 7.0),
    ] {
        let r = rate * (1.0 + (seed % 7) as f64 / 10.0);
        out.push(FakeSeries {
            labels: with(
                &api,
                &[
                    ("__name__", "http_requests_total"),
                    ("method", method),
                    ("code", code),
                ],
            ),
            samples: stamps
                .iter()
                .map(|&t| (t, counter(r, start, restart, t)))
                .collect(),
        });
    }
    out.push(FakeSeries {
        labels: with(&api, &[("__name__", "process_resident_memory_bytes")]),
        samples: stamps
            .iter()
            .map(|&t| {
                (
                    t,
                    2.0e8 + 5.0e7 * ((t as f64 / 3.6e6) + seed as f64).sin().abs(),
                )
            })
            .collect(),
    });
    // A latency histogram: 25 req/s, a share of them under each bound.
    let shares = [0.42, 0.71, 0.88, 0.95, 0.985, 0.997, 1.0];
    for (le, share) in LE.iter().zip(shares) {
        out.push(FakeSeries {
            labels: with(
                &api,
                &[
                    ("__name__", "http_request_duration_seconds_bucket"),
                    ("le", le),
                ],
            ),
            samples: stamps
                .iter()
                .map(|&t| (t, (counter(25.0, start, restart, t) * share).floor()))
                .collect(),
        });
    }
    out.push(FakeSeries {
        labels: with(&api, &[("__name__", "http_request_duration_seconds_count")]),
        samples: stamps
            .iter()
            .map(|&t| (t, counter(25.0, start, restart, t)))
            .collect(),
    });
    out.push(FakeSeries {
        labels: with(&api, &[("__name__", "http_request_duration_seconds_sum")]),
        samples: stamps
            .iter()
            .map(|&t| {
                (
                    t,
                    (counter(25.0, start, restart, t) * 0.137 * 1000.0).round() / 1000.0,
                )
            })
            .collect(),
    });
    out
}

/// A counter growing at `rate`/s from `start`, reset to zero at `restart`.
fn counter(rate: f64, start: i64, restart: i64, t: i64) -> f64 {
    let from = if t >= restart { restart } else { start };
    (rate * (t - from) as f64 / 1000.0).floor()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicas_differ_only_where_expected() {
        let now = 1_700_000_000_000;
        let [a, b] = ha_pair(now, 6 * 3_600_000, 2);
        assert_eq!(a.series.len(), b.series.len());
        assert_eq!(a.series.len(), 2 * (1 + 3 + 1 + LE.len() + 2));
        // Both replicas have gaps, in different places.
        let n_a = a.series[0].samples.len();
        let n_b = b.series[0].samples.len();
        assert!(n_a < 6 * 240 && n_b < 6 * 240 && n_a != n_b);
        // Counters are monotonic except at the one restart.
        let c = &a.series[1].samples;
        let resets = c.windows(2).filter(|w| w[1].1 < w[0].1).count();
        assert_eq!(resets, 1);
    }
}
