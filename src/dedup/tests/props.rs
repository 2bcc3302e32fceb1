//! Property tests of the dedup module.
//!
//! * The penalty algorithm over a series and itself (or a differently
//!   chunked copy of it) returns the series.
//! * Two replicas with the same timestamps: the first replica's samples come
//!   out, whichever it is, so swapping them swaps the values only.
//! * Whatever the replicas, modes and hints: timestamps strictly increase
//!   and stay within `[mint, maxt]`; without a counter hint every sample
//!   comes from some replica; without dedup the result is the simple model
//!   "chunks in order, a sample only if later than everything before";
//!   chain mode returns the union of the timestamps.
//! * `seek` agrees with reading to the end.
//! * Malformed chunks give errors, never panics; absurd timestamps (anywhere
//!   in `i64`, in any order) end the iteration.

use proptest::prelude::*;
use proptest::sample::Index;

use crate::dedup::penalty::penalty_dedup;
use crate::dedup::{remove_identical_and_sort, series_iter, Mode, SampleIter};
use crate::proto::thanos::AggrChunk;

use super::{bits, drain, raw_chunk, Mock, STALE};

const START: i64 = 1_600_000_000_000;

/// One replica's samples: a 15 s cadence with jitter and occasional gaps,
/// values a counter with resets and the odd NaN or stale marker.
fn replica(max_len: usize) -> impl Strategy<Value = Vec<(i64, f64)>> {
    let step = prop_oneof![
        8 => 14_900i64..15_100,
        1 => 1i64..5_000,
        1 => 30_000i64..200_000,
    ];
    let value = prop_oneof![
        10 => (0u32..100).prop_map(f64::from),
        1 => Just(-1.0),
        1 => Just(f64::NAN),
        1 => Just(STALE),
    ];
    (
        0i64..30_000,
        prop::collection::vec((step, value), 0..max_len),
    )
        .prop_map(|(offset, steps)| {
            let mut t = START + offset;
            let mut total = 0.0;
            steps
                .into_iter()
                .map(|(dt, dv)| {
                    t += dt;
                    // Negative steps are resets, NaNs are kept as they are.
                    let v = if dv.is_nan() {
                        dv
                    } else if dv < 0.0 {
                        total = 0.0;
                        0.0
                    } else {
                        total += dv;
                        total
                    };
                    (t, v)
                })
                .collect()
        })
}

/// Cuts samples into chunks at the given sizes (cycled), like a store that
/// cut its chunks elsewhere.
fn chunked(samples: &[(i64, f64)], sizes: &[usize]) -> Vec<AggrChunk> {
    let mut out = Vec::new();
    let mut rest = samples;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes
            .get(i % sizes.len().max(1))
            .copied()
            .unwrap_or(120)
            .clamp(1, rest.len());
        let (head, tail) = rest.split_at(n);
        out.push(raw_chunk(head));
        rest = tail;
        i += 1;
    }
    out
}

fn sizes() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..150, 1..4)
}

fn in_window(s: &[(i64, f64)], mint: i64, maxt: i64) -> Vec<(i64, f64)> {
    s.iter()
        .copied()
        .filter(|&(t, _)| mint <= t && t <= maxt)
        .collect()
}

/// Thanos's non-dedup chunk walk for chunks with increasing timestamps.
fn walk_model(chunks: &[AggrChunk], mint: i64, maxt: i64) -> Vec<(i64, f64)> {
    let mut out: Vec<(i64, f64)> = Vec::new();
    for c in chunks {
        let data = c.raw.as_ref().map(|r| r.data.clone()).unwrap_or_default();
        for s in crate::chunk::xor::decode_all(&data).unwrap() {
            if out.last().is_none_or(|l| s.0 > l.0) {
                out.push(s);
            }
        }
    }
    in_window(&out, mint, maxt)
}

fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![Just(Mode::Off), Just(Mode::Penalty), Just(Mode::Chain)]
}

fn func() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![
        Just(None),
        Just(Some("rate")),
        Just(Some("increase")),
        Just(Some("resets")),
        Just(Some("max_over_time")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn dedup_of_a_series_with_itself_is_itself(
        s in replica(400),
        sizes_a in sizes(),
        sizes_b in sizes(),
        counter in any::<bool>(),
    ) {
        let twice = vec![Mock::boxed(&s), Mock::boxed(&s)];
        let got = drain(&mut *penalty_dedup(twice, counter)).unwrap();
        prop_assert_eq!(bits(&got), bits(&s));
        // A series without chunks is an error, tested elsewhere.
        prop_assume!(!s.is_empty());

        // The same samples chunked differently, each read as a whole series.
        let (mint, maxt) = (i64::MIN, i64::MAX);
        let a = series_iter(chunked(&s, &sizes_a), mint, maxt, Mode::Off, None);
        let b = series_iter(chunked(&s, &sizes_b), mint, maxt, Mode::Off, None);
        let got = drain(&mut *penalty_dedup(vec![a, b], counter)).unwrap();
        prop_assert_eq!(bits(&got), bits(&s));

        // Identical chunk lists collapse into one virtual replica.
        let mut chunks = chunked(&s, &sizes_a);
        chunks.extend(chunked(&s, &sizes_a));
        let got = drain(&mut *series_iter(chunks, mint, maxt, Mode::Penalty, None)).unwrap();
        prop_assert_eq!(bits(&got), bits(&s));
    }

    #[test]
    fn swapping_replicas_with_identical_timestamps(
        s in replica(300),
        other in prop::collection::vec(0u32..1000, 300),
        counter in any::<bool>(),
    ) {
        let b: Vec<(i64, f64)> =
            s.iter().zip(&other).map(|(&(t, _), &v)| (t, f64::from(v))).collect();
        let dedup = |x: &[(i64, f64)], y: &[(i64, f64)]| {
            drain(&mut *penalty_dedup(vec![Mock::boxed(x), Mock::boxed(y)], counter)).unwrap()
        };
        let (ab, ba) = (dedup(&s, &b), dedup(&b, &s));
        prop_assert_eq!(bits(&ab), bits(&s));
        prop_assert_eq!(bits(&ba), bits(&b));
    }

    #[test]
    fn output_is_ordered_bounded_and_from_the_input(
        replicas in prop::collection::vec((replica(300), sizes()), 1..4),
        order in prop::collection::vec(any::<Index>(), 0..12),
        window in (0i64..200_000, 0i64..5_000_000),
        mode in mode(),
        func in func(),
    ) {
        let mint = START + window.0;
        let maxt = mint + window.1;
        let mut chunks: Vec<AggrChunk> = replicas.iter().flat_map(|(s, z)| chunked(s, z)).collect();
        // The merge may deliver chunks in any order.
        for (i, ix) in order.iter().enumerate() {
            if !chunks.is_empty() {
                let n = chunks.len();
                chunks.swap(i % n, ix.index(n));
            }
        }
        let got = match drain(&mut *series_iter(chunks.clone(), mint, maxt, mode, func)) {
            Ok(got) => got,
            Err(e) => {
                // Only a series without chunks is an error here.
                prop_assert!(chunks.is_empty(), "{}", e);
                return Ok(());
            }
        };
        for w in got.windows(2) {
            prop_assert!(w[0].0 < w[1].0, "not increasing: {:?}", w);
        }
        for &(t, _) in &got {
            prop_assert!(mint <= t && t <= maxt);
        }
        let all: Vec<(i64, u64)> = replicas.iter().flat_map(|(s, _)| bits(s)).collect();
        if func.is_none() || func == Some("max_over_time") {
            for s in bits(&got) {
                prop_assert!(all.contains(&s), "sample {:?} is in no replica", s);
            }
        }
        if func.is_none() && mode == Mode::Off {
            let model = walk_model(&remove_identical_and_sort(chunks), mint, maxt);
            prop_assert_eq!(bits(&got), bits(&model));
        }
        if func.is_none() && mode == Mode::Chain {
            let mut ts: Vec<i64> =
                all.iter().map(|s| s.0).filter(|&t| mint <= t && t <= maxt).collect();
            ts.sort_unstable();
            ts.dedup();
            let got_ts: Vec<i64> = got.iter().map(|s| s.0).collect();
            prop_assert_eq!(got_ts, ts);
        }
    }

    #[test]
    fn seek_agrees_with_next(
        replicas in prop::collection::vec((replica(200), sizes()), 1..4),
        targets in prop::collection::vec((any::<bool>(), 0i64..3_000_000), 1..10),
        mode in mode(),
        func in func(),
    ) {
        let chunks: Vec<AggrChunk> = replicas.iter().flat_map(|(s, z)| chunked(s, z)).collect();
        prop_assume!(!chunks.is_empty());
        let (mint, maxt) = (i64::MIN, i64::MAX);
        let all = drain(&mut *series_iter(chunks.clone(), mint, maxt, mode, func)).unwrap();
        let mut it = series_iter(chunks, mint, maxt, mode, func);
        // Position of the current sample in `all`, if any.
        let mut pos: Option<usize> = None;
        for (use_next, offset) in targets {
            let want = if use_next {
                let want = pos.map_or(0, |p| p + 1);
                let got = it.next().unwrap();
                prop_assert_eq!(got.is_some(), want < all.len());
                want
            } else {
                let t = START + offset;
                let from = pos.unwrap_or(0);
                let want = from + all[from..].iter().take_while(|s| s.0 < t).count();
                let got = it.seek(t).unwrap();
                prop_assert_eq!(got.is_some(), want < all.len());
                want
            };
            if want >= all.len() {
                break;
            }
            prop_assert_eq!(bits(&[it.at()]), bits(&all[want..=want]));
            pos = Some(want);
        }
    }

    #[test]
    fn malformed_chunks_never_panic(
        replicas in prop::collection::vec((replica(150), sizes()), 1..3),
        damage in prop::collection::vec(
            (any::<Index>(), any::<Index>(), 0u8..5, any::<u8>()),
            1..6,
        ),
        ops in prop::collection::vec((any::<bool>(), 0i64..3_000_000), 1..60),
        mode in mode(),
        func in func(),
    ) {
        let mut chunks: Vec<AggrChunk> = replicas.iter().flat_map(|(s, z)| chunked(s, z)).collect();
        prop_assume!(!chunks.is_empty());
        for (which, at, kind, byte) in damage {
            let n = chunks.len();
            let c = &mut chunks[which.index(n)];
            let Some(raw) = c.raw.as_mut() else { continue };
            let mut data = raw.data.to_vec();
            match kind {
                0 => data.truncate(at.index(data.len() + 1)),
                1 => {
                    let i = at.index(data.len().max(1));
                    if let Some(b) = data.get_mut(i) {
                        *b ^= byte | 1;
                    }
                }
                2 => data = vec![byte; at.index(64)],
                3 => raw.r#type = i32::from(byte % 4),
                _ => {
                    // A downsampled chunk with only one of sum and count.
                    c.count = c.raw.take();
                    continue;
                }
            }
            raw.data = data.into();
        }
        let mut it = series_iter(chunks, START, START + 3_000_000, mode, func);
        for (use_next, offset) in ops {
            let r = if use_next { it.next() } else { it.seek(START + offset) };
            match r {
                Ok(Some(_)) => {
                    let _ = it.at();
                }
                Ok(None) | Err(_) => break,
            }
        }
    }

    #[test]
    fn absurd_timestamps_terminate(
        replicas in prop::collection::vec(
            prop::collection::vec((any::<i64>(), any::<u8>()), 1..40),
            1..4,
        ),
        window in (any::<i64>(), any::<i64>()),
        mode in mode(),
        func in func(),
    ) {
        let chunks: Vec<AggrChunk> = replicas
            .iter()
            .map(|r| {
                let s: Vec<(i64, f64)> = r.iter().map(|&(t, v)| (t, f64::from(v))).collect();
                let mut c = raw_chunk(&s);
                // Declared bounds need not match the data either.
                c.min_time = s.iter().map(|x| x.0).min().unwrap_or(0);
                c.max_time = s.iter().map(|x| x.0).max().unwrap_or(0);
                c
            })
            .collect();
        let total: usize = replicas.iter().map(Vec::len).sum();
        let (mint, maxt) = (window.0.min(window.1), window.0.max(window.1));
        let mut it = series_iter(chunks, mint, maxt, mode, func);
        let mut n = 0;
        while it.next().unwrap().is_some() {
            n += 1;
            prop_assert!(n <= total, "more samples out than in");
            let t = it.at().0;
            prop_assert!(mint <= t && t <= maxt);
        }
    }
}
