//! Decoding throughput of the fast XOR decoder against the naive baseline.
//!
//! The input imitates what a querier reads from a store: 1000 chunks of 120
//! samples each (Prometheus cuts head chunks at 120 samples) for two kinds of
//! series, a counter and a gauge, both scraped every 15 s with a little jitter.
//! Throughput is reported in samples per second.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sluice::chunk::xor::{decode_all, XorEncoder, XorIter};

const CHUNKS: usize = 1000;
const SAMPLES_PER_CHUNK: usize = 120;
const SCRAPE_INTERVAL_MS: i64 = 15_000;

/// SplitMix64: a tiny deterministic generator, so every run encodes the same
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

    /// A float in [0, 1).
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Scrape timestamps are usually exact but sometimes off by a few ms.
    fn jitter_ms(&mut self) -> i64 {
        if self.next_u64() % 10 < 7 {
            0
        } else {
            (self.next_u64() % 51) as i64 - 25
        }
    }
}

/// Encodes `CHUNKS` consecutive chunks of a series whose next value is
/// produced by `next_value` from the previous one.
fn encode_series(seed: u64, first: f64, next_value: impl Fn(&mut Rng, f64) -> f64) -> Vec<Vec<u8>> {
    let mut rng = Rng(seed);
    let mut t = 1_700_000_000_000i64;
    let mut v = first;
    let mut chunks = Vec::with_capacity(CHUNKS);
    for _ in 0..CHUNKS {
        let mut enc = XorEncoder::new();
        for _ in 0..SAMPLES_PER_CHUNK {
            enc.append(t + rng.jitter_ms(), v)
                .expect("a chunk of 120 samples is never full");
            t += SCRAPE_INTERVAL_MS;
            v = next_value(&mut rng, v);
        }
        chunks.push(enc.into_bytes());
    }
    chunks
}

/// A request counter: integral increments of 0..200 per scrape.
fn counter_chunks() -> Vec<Vec<u8>> {
    encode_series(1, 1_000.0, |rng, v| v + (rng.next_u64() % 200) as f64)
}

/// A utilisation gauge: a random walk with full-precision float noise.
fn gauge_chunks() -> Vec<Vec<u8>> {
    encode_series(2, 0.5, |rng, v| {
        (v + (rng.next_f64() - 0.5) * 0.05).clamp(0.0, 1.0)
    })
}

/// Decodes every chunk into a `Vec`, the way the naive baseline works.
fn fast_decode_all(chunks: &[Vec<u8>]) -> usize {
    chunks
        .iter()
        .map(|c| black_box(decode_all(c).expect("valid chunk")).len())
        .sum()
}

/// Streams every chunk through the iterator without collecting.
fn fast_iter(chunks: &[Vec<u8>]) -> f64 {
    let mut sum = 0.0;
    for chunk in chunks {
        let mut iter = XorIter::new(chunk).expect("valid chunk");
        while let Some((t, v)) = iter.next_sample().expect("valid chunk") {
            sum += v + t as f64;
        }
    }
    sum
}

fn naive_decode_all(chunks: &[Vec<u8>]) -> usize {
    chunks
        .iter()
        .map(|c| black_box(sluice::chunk::naive::decode_all(c).expect("valid chunk")).len())
        .sum()
}

fn bench_decode(c: &mut Criterion) {
    let inputs = [("counter", counter_chunks()), ("gauge", gauge_chunks())];
    let mut group = c.benchmark_group("xor_decode");
    group.throughput(Throughput::Elements((CHUNKS * SAMPLES_PER_CHUNK) as u64));
    for (name, chunks) in &inputs {
        // The comparison is only meaningful if both decoders agree.
        assert_eq!(fast_decode_all(chunks), naive_decode_all(chunks));
        let bytes: usize = chunks.iter().map(Vec::len).sum();
        eprintln!(
            "{name}: {bytes} bytes, {:.2} bytes/sample",
            bytes as f64 / (CHUNKS * SAMPLES_PER_CHUNK) as f64
        );
        group.bench_with_input(BenchmarkId::new("fast", name), chunks, |b, c| {
            b.iter(|| fast_decode_all(black_box(c)))
        });
        group.bench_with_input(BenchmarkId::new("fast_iter", name), chunks, |b, c| {
            b.iter(|| fast_iter(black_box(c)))
        });
        group.bench_with_input(BenchmarkId::new("naive", name), chunks, |b, c| {
            b.iter(|| naive_decode_all(black_box(c)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_decode);
criterion_main!(benches);
