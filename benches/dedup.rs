//! Throughput of deduplication against reading one replica without it.
//!
//! The input is what a querier gets for one series from two Prometheus
//! replicas behind sidecars: 6 h scraped every 15 s (1440 samples each, cut
//! into chunks of 120), the second replica scraping 1.3 s after the first,
//! both with a few ms of jitter. Each iteration runs the whole per-series
//! path: identical-chunk removal and sort, overlap split, decoding, the
//! penalty algorithm, clamping. Throughput is in samples returned per second.
//!
//! * `off/one_replica` is the baseline: one replica's chunks read as one
//!   series without deduplication (decoding plus the chunk walk).
//! * `penalty/two_replicas` deduplicates both replicas; `penalty/two_replicas_gaps`
//!   does the same with gaps in both replicas, so the algorithm switches.
//! * `penalty_rate/two_replicas` adds the counter-resets iterator and the
//!   counter adjustment (`rate`); `chain/two_replicas` is the chained merge.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sluice::dedup::{series_iter, Mode, SampleIter};
use sluice::proto::thanos::AggrChunk;
use sluice::store::fake::encode_chunks;

const START: i64 = 1_700_000_000_000;
const SCRAPE_INTERVAL_MS: i64 = 15_000;
const SAMPLES: i64 = 6 * 3600 * 1000 / SCRAPE_INTERVAL_MS;

/// SplitMix64: a tiny deterministic generator, so every run reads the same
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
}

/// A request counter scraped from `offset_ms` on; scrapes whose index lies
/// in one of `gaps` are missing.
fn replica(seed: u64, offset_ms: i64, gaps: &[(i64, i64)]) -> Vec<AggrChunk> {
    let mut rng = Rng(seed);
    let mut v = 1_000.0;
    let mut samples = Vec::with_capacity(SAMPLES as usize);
    for i in 0..SAMPLES {
        v += (rng.next_u64() % 200) as f64;
        let jitter = (rng.next_u64() % 7) as i64 - 3;
        if gaps.iter().any(|&(from, to)| (from..to).contains(&i)) {
            continue;
        }
        samples.push((START + offset_ms + i * SCRAPE_INTERVAL_MS + jitter, v));
    }
    encode_chunks(&samples).expect("valid samples")
}

fn drain(mut it: Box<dyn SampleIter>) -> usize {
    let mut n = 0;
    let mut sum = 0.0;
    while it.next().expect("valid chunks").is_some() {
        let (t, v) = it.at();
        sum += v + t as f64;
        n += 1;
    }
    black_box(sum);
    n
}

fn bench(c: &mut Criterion) {
    let maxt = START + SAMPLES * SCRAPE_INTERVAL_MS + 60_000;
    let a = replica(1, 0, &[]);
    let b = replica(2, 1_300, &[]);
    let both: Vec<AggrChunk> = a.iter().chain(&b).cloned().collect();
    let a_gaps = replica(1, 0, &[(100, 110), (700, 720)]);
    let b_gaps = replica(2, 1_300, &[(300, 305), (1000, 1030)]);
    let both_gaps: Vec<AggrChunk> = a_gaps.iter().chain(&b_gaps).cloned().collect();

    let cases: [(&str, &Vec<AggrChunk>, Mode, Option<&str>); 5] = [
        ("off/one_replica", &a, Mode::Off, None),
        ("penalty/two_replicas", &both, Mode::Penalty, None),
        ("penalty/two_replicas_gaps", &both_gaps, Mode::Penalty, None),
        (
            "penalty_rate/two_replicas",
            &both,
            Mode::Penalty,
            Some("rate"),
        ),
        ("chain/two_replicas", &both, Mode::Chain, None),
    ];
    let mut group = c.benchmark_group("dedup_6h_15s");
    for (name, chunks, mode, func) in cases {
        let returned = drain(series_iter(chunks.clone(), START, maxt, mode, func));
        group.throughput(Throughput::Elements(returned as u64));
        group.bench_function(name, |bench| {
            bench.iter(|| {
                drain(series_iter(
                    black_box(chunks.clone()),
                    START,
                    maxt,
                    mode,
                    func,
                ))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
