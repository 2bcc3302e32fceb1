//! Thanos's test tables, as data.
//!
//! * `TestDedupSeriesIterator` and `TestDedupSeriesSet` (v0.31.0
//!   `pkg/dedup/iter_test.go`) at the iterator level, with Thanos's mock
//!   iterator, and again end to end from chunks where the chunk pipeline
//!   gives the same replicas.
//! * `TestQuerier_Select` (v0.31.0 `pkg/query/querier_test.go`), the cases
//!   that concern one merged series, end to end from chunks.
//! * `TestApplyCounterResetsIterator`, `TestCounterSeriesIteratorSeek*` and
//!   `TestAverageChunkIterator` (v0.31.0 `pkg/compact/downsample/downsample_test.go`).
//! * `TestDedupSeriesSet_Chain` (HEAD `pkg/dedup/iter_test.go`).

use crate::dedup::counter::CounterResets;
use crate::dedup::cursor::{Field, Pick};
use crate::dedup::penalty::{penalty_dedup, Penalty};
use crate::dedup::{chain, series_iter, DedupError, Mode, SampleIter};
use crate::proto::thanos::AggrChunk;

use super::{assert_samples, bits, chunks_of, drain, raw_chunk, xor, Mock, STALE};

const ALL: (i64, i64) = (i64::MIN, i64::MAX);

fn pair(a: &[(i64, f64)], b: &[(i64, f64)]) -> Box<dyn SampleIter> {
    penalty_dedup(vec![Mock::boxed(a), Mock::boxed(b)], false)
}

/// `TestDedupSeriesIterator`, cases 1 to 5.
#[test]
fn dedup_series_iterator_cases() {
    type S = &'static [(i64, f64)];
    let cases: &[(&str, S, S, S)] = &[
        (
            "prefer the first series",
            &[(10000, 10.0), (20000, 11.0), (30000, 12.0), (40000, 13.0)],
            &[(10000, 20.0), (20000, 21.0), (30000, 22.0), (40000, 23.0)],
            &[(10000, 10.0), (20000, 11.0), (30000, 12.0), (40000, 13.0)],
        ),
        (
            "prefer b if it starts earlier",
            &[(10100, 1.0), (20100, 1.0), (30100, 1.0), (40100, 1.0)],
            &[(10000, 2.0), (20000, 2.0), (30000, 2.0), (40000, 2.0)],
            &[(10000, 2.0), (20000, 2.0), (30000, 2.0), (40000, 2.0)],
        ),
        (
            "no switch on a single delta sized gap",
            &[(10000, 1.0), (20000, 1.0), (40000, 1.0)],
            &[(10000, 2.0), (20000, 2.0), (30000, 2.0), (40000, 2.0)],
            &[(10000, 1.0), (20000, 1.0), (40000, 1.0)],
        ),
        (
            "no switch on a single delta sized gap, offset replica",
            &[(10000, 1.0), (20000, 1.0), (40000, 1.0)],
            &[(15000, 2.0), (25000, 2.0), (35000, 2.0), (45000, 2.0)],
            &[(10000, 1.0), (20000, 1.0), (40000, 1.0)],
        ),
        (
            "switch and stay once the gap exceeds two deltas",
            &[
                (10000, 1.0),
                (20000, 1.0),
                (30000, 1.0),
                (60000, 1.0),
                (70000, 1.0),
            ],
            &[
                (10100, 2.0),
                (20100, 2.0),
                (30100, 2.0),
                (40100, 2.0),
                (50100, 2.0),
                (60100, 2.0),
            ],
            &[
                (10000, 1.0),
                (20000, 1.0),
                (30000, 1.0),
                (50100, 2.0),
                (60100, 2.0),
            ],
        ),
    ];
    for (name, a, b, want) in cases {
        let got = drain(&mut *pair(a, b)).unwrap();
        assert_eq!(bits(&got), bits(want), "{name}");
    }
}

/// The worked trace of case 5, step by step through `Penalty`'s state.
#[test]
fn penalty_trace_of_case_5() {
    use crate::dedup::counter::NoAdjust;
    let a = [
        (10000, 1.0),
        (20000, 1.0),
        (30000, 1.0),
        (60000, 1.0),
        (70000, 1.0),
    ];
    let b = [
        (10100, 2.0),
        (20100, 2.0),
        (30100, 2.0),
        (40100, 2.0),
        (50100, 2.0),
        (60100, 2.0),
    ];
    let mut it = Penalty::new(
        Box::new(NoAdjust(Mock::new(&a))),
        Box::new(NoAdjust(Mock::new(&b))),
    );
    let mut steps = Vec::new();
    while it.next().unwrap().is_some() {
        steps.push((it.at().0, format!("{it:?}")));
    }
    let got: Vec<i64> = steps.iter().map(|s| s.0).collect();
    assert_eq!(got, vec![10000, 20000, 30000, 50100, 60100]);
    assert!(steps[0].1.contains("pen_b: 5000"), "{}", steps[0].1);
    assert!(steps[1].1.contains("pen_b: 20000"), "{}", steps[1].1);
    assert!(steps[3].1.contains("pen_a: 40200"), "{}", steps[3].1);
}

/// Seek is a loop of `next`: it does not skip a gap the way a child's seek
/// would, and it stays put when the current sample qualifies.
#[test]
fn penalty_seek_is_repeated_next() {
    let a = [
        (10000, 1.0),
        (20000, 1.0),
        (30000, 1.0),
        (60000, 1.0),
        (70000, 1.0),
    ];
    let b = [
        (10100, 2.0),
        (20100, 2.0),
        (30100, 2.0),
        (40100, 2.0),
        (50100, 2.0),
        (60100, 2.0),
    ];
    let mut it = pair(&a, &b);
    assert!(it.seek(45000).unwrap().is_some());
    assert_eq!(it.at(), (50100, 2.0));
    assert!(it.seek(50000).unwrap().is_some());
    assert_eq!(it.at(), (50100, 2.0));
    assert!(it.seek(60100).unwrap().is_some());
    assert_eq!(it.at(), (60100, 2.0));
    assert!(it.seek(60101).unwrap().is_none());
    assert!(it.next().unwrap().is_none());
}

type Series = &'static [(i64, f64)];

/// `TestDedupSeriesSet` "Single dedup label" and "Multi dedup label": the
/// groups of equal labels, each deduplicated (grouping is the merge's job).
#[test]
fn dedup_series_set_groups() {
    let groups: &[(&str, &[Series], Series)] = &[
        (
            "{a=1,c=3}",
            &[
                &[(10000, 1.0), (20000, 2.0)],
                &[(60000, 3.0), (70000, 4.0)],
                &[(200000, 5.0), (210000, 6.0)],
                &[(10000, 1.0), (20000, 2.0)],
            ],
            &[
                (10000, 1.0),
                (20000, 2.0),
                (60000, 3.0),
                (70000, 4.0),
                (200000, 5.0),
                (210000, 6.0),
            ],
        ),
        (
            "{a=1,c=3,d=4}",
            &[&[(10000, 1.0), (20000, 2.0)]],
            &[(10000, 1.0), (20000, 2.0)],
        ),
        (
            "{a=1,c=4}",
            &[&[(10000, 1.0), (20000, 2.0)]],
            &[(10000, 1.0), (20000, 2.0)],
        ),
        (
            "{a=2,c=3}",
            &[&[(10000, 1.0), (20000, 2.0)], &[(60000, 3.0), (70000, 4.0)]],
            &[(10000, 1.0), (20000, 2.0), (60000, 3.0), (70000, 4.0)],
        ),
        (
            "multi dedup label, non-adjacent {a=1,c=3}: three replicas",
            &[
                &[(10000, 1.0), (20000, 2.0)],
                &[(60000, 3.0), (70000, 4.0)],
                &[(200000, 5.0), (210000, 6.0)],
            ],
            &[
                (10000, 1.0),
                (20000, 2.0),
                (60000, 3.0),
                (70000, 4.0),
                (200000, 5.0),
                (210000, 6.0),
            ],
        ),
    ];
    for (name, replicas, want) in groups {
        for counter in [false, true] {
            let iters = replicas.iter().map(|r| Mock::boxed(r)).collect();
            let got = drain(&mut *penalty_dedup(iters, counter)).unwrap();
            assert_eq!(bits(&got), bits(want), "{name} counter={counter}");
        }
        // The same replicas as chunks of one merged series: the identical
        // chunk is dropped and the rest chain into one virtual replica.
        let chunks = replicas.iter().map(|r| raw_chunk(r)).collect();
        assert_samples(series_iter(chunks, ALL.0, ALL.1, Mode::Penalty, None), want);
    }
}

const REG_2401_A: Series = &[
    (10000, 8.0),
    (20000, 9.0),
    (50001, 10.0),
    (60000, 11.0),
    (70000, 12.0),
    (80000, 13.0),
    (90000, 14.0),
    (100000, 15.0),
];
const REG_2401_B: Series = &[(10001, 8.0), (45001, 8.5), (55001, 9.5), (65001, 10.5)];

/// `TestDedupSeriesSet` "Regression test against 2401" (f="rate") and "with
/// no counter adjustment" (f="").
///
/// Thanos's expectation contains (90000, 14). It holds only because the Go
/// test's mock iterator `Seek` searches from the *start* of its samples, so
/// it can move backwards: after replica a was sought to 100000 (penalty
/// 50002 at 45001), later seeks to 75002 and 85002 rewind it to 80000 and
/// 90000. Thanos's real chunk iterators (`chunkSeriesIterator`,
/// `ApplyCounterResetsSeriesIterator`) never move backwards, so from chunks
/// a stays on 100000 and 90000 is not returned. The mock-level check below
/// uses a mock that rewinds like Thanos's; the chunk-level check asserts
/// what Thanos's real pipeline returns.
#[test]
fn regression_2401() {
    let rate: Series = &[
        (10000, 8.0),
        (20000, 9.0),
        (45001, 9.0),
        (55001, 10.0),
        (65001, 11.0),
        (90000, 14.0),
        (100000, 15.0),
    ];
    let plain: Series = &[
        (10000, 8.0),
        (20000, 9.0),
        (45001, 8.5),
        (55001, 9.5),
        (65001, 10.5),
        (90000, 14.0),
        (100000, 15.0),
    ];
    for (func, counter, want) in [(Some("rate"), true, rate), (None, false, plain)] {
        let iters = vec![Mock::boxed(REG_2401_A), Mock::boxed(REG_2401_B)];
        let got = drain(&mut *penalty_dedup(iters, counter)).unwrap();
        assert_eq!(bits(&got), bits(want), "{func:?} mock");
        // From chunks: a starts first, so it is virtual replica 0 as in the
        // Thanos test; the counter-resets iterator leaves these monotonic
        // series unchanged; a forward-only a skips 90000 (see above).
        let forward_only: Vec<(i64, f64)> = want.iter().copied().filter(|s| s.0 != 90000).collect();
        let chunks = vec![raw_chunk(REG_2401_B), raw_chunk(REG_2401_A)];
        assert_samples(
            series_iter(chunks, ALL.0, ALL.1, Mode::Penalty, func),
            &forward_only,
        );
    }
}

/// `TestQuerier_Select` "select overlapping data with partial error", replica
/// label `a`: without dedup three series; with dedup all chunks are one
/// merged series with empty labels. mint 1, maxt 300.
#[test]
fn querier_select_overlapping_data() {
    let a1 = raw_chunk(&[(0, 0.0), (2, 1.0), (3, 2.0)]);
    let a2 = raw_chunk(&[(5, 5.0), (6, 6.0), (7, 7.0)]);
    let a3 = raw_chunk(&[(5, 5.0), (6, 66.0)]);
    let b1 = raw_chunk(&[(2, 2.0), (3, 3.0), (4, 4.0)]);
    let b2 = raw_chunk(&[(1, 1.0), (2, 2.0), (3, 3.0)]);
    let c = raw_chunk(&[(100, 1.0), (300, 3.0), (400, 4.0)]);
    let off = |chunks: Vec<AggrChunk>| series_iter(chunks, 1, 300, Mode::Off, None);
    assert_samples(
        off(vec![a1.clone(), a2.clone(), a3.clone()]),
        &[(2, 1.0), (3, 2.0), (5, 5.0), (6, 66.0), (7, 7.0)],
    );
    assert_samples(
        off(vec![b1.clone(), b2.clone()]),
        &[(1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0)],
    );
    assert_samples(off(vec![c.clone()]), &[(100, 1.0), (300, 3.0)]);
    let all = vec![a1, a2, a3, b1, b2, c];
    assert_samples(
        series_iter(all, 1, 300, Mode::Penalty, None),
        &[(1, 1.0), (2, 2.0), (3, 3.0), (5, 5.0), (6, 6.0), (7, 7.0)],
    );
}

/// `TestQuerier_Select` "select with proxied Store APIs that does not
/// support without replica label" (and "... with some stores supporting",
/// same data and expectations), replica label `r`, mint 1, maxt 300.
#[test]
fn querier_select_proxied_stores() {
    // {a=1,w=1}: r=1 from store 0, r=2 from stores 0 and 1.
    let w_r1 = vec![
        raw_chunk(&[(0, 0.0), (2, 1.0), (3, 2.0)]),
        raw_chunk(&[(5, 5.0), (6, 6.0), (7, 7.0)]),
    ];
    let w_r2 = vec![
        raw_chunk(&[(5, 5.0), (7, 7.0)]),
        raw_chunk(&[(2, 1.0)]),
        raw_chunk(&[(5, 5.0), (6, 6.0), (7, 7.0)]),
    ];
    // {a=1,x=1}: r=1 only; {a=1,x=2}: r=2 only.
    let x1 = vec![
        raw_chunk(&[(2, 2.0), (3, 3.0), (4, 4.0)]),
        raw_chunk(&[(1, 1.0), (2, 2.0), (3, 3.0)]),
        raw_chunk(&[(100, 1.0), (300, 3.0), (400, 4.0)]),
    ];
    let x2 = vec![raw_chunk(&[(10, 10.0), (30, 30.0), (40, 40.0)])];

    let off = |chunks: &Vec<AggrChunk>| series_iter(chunks.clone(), 1, 300, Mode::Off, None);
    assert_samples(
        off(&w_r1),
        &[(2, 1.0), (3, 2.0), (5, 5.0), (6, 6.0), (7, 7.0)],
    );
    assert_samples(
        off(&x1),
        &[
            (1, 1.0),
            (2, 2.0),
            (3, 3.0),
            (4, 4.0),
            (100, 1.0),
            (300, 3.0),
        ],
    );
    // Two chunks [5,7] from different stores: the one with more samples has
    // the greater bytes, sorts first and wins.
    assert_samples(off(&w_r2), &[(2, 1.0), (5, 5.0), (6, 6.0), (7, 7.0)]);
    assert_samples(off(&x2), &[(10, 10.0), (30, 30.0), (40, 40.0)]);

    let dedup = |chunks: Vec<AggrChunk>| series_iter(chunks, 1, 300, Mode::Penalty, None);
    let w: Vec<AggrChunk> = w_r1.into_iter().chain(w_r2).collect();
    assert_samples(
        dedup(w),
        &[(2, 1.0), (3, 2.0), (5, 5.0), (6, 6.0), (7, 7.0)],
    );
    assert_samples(
        dedup(x1),
        &[(1, 1.0), (2, 2.0), (3, 3.0), (100, 1.0), (300, 3.0)],
    );
    assert_samples(dedup(x2), &[(10, 10.0), (30, 30.0), (40, 40.0)]);
}

/// `TestApplyCounterResetsIterator` "series with stale marker": raw and
/// downsampled-style chunks (a repeated last timestamp is the true last
/// value), resets, a stale marker.
#[test]
fn apply_counter_resets_iterator() {
    let chunks = vec![
        raw_chunk(&[
            (100, 10.0),
            (200, 20.0),
            (300, 10.0),
            (400, 20.0),
            (400, 5.0),
        ]),
        raw_chunk(&[
            (500, 10.0),
            (600, 20.0),
            (700, 30.0),
            (800, 40.0),
            (800, 10.0),
        ]),
        raw_chunk(&[(900, 5.0), (1000, 10.0), (1100, 15.0)]),
        raw_chunk(&[(1200, 20.0), (1250, STALE), (1300, 40.0)]),
        raw_chunk(&[(1400, 30.0), (1500, 30.0), (1600, 50.0)]),
    ];
    let want = [
        (100, 10.0),
        (200, 20.0),
        (300, 30.0),
        (400, 40.0),
        (500, 45.0),
        (600, 55.0),
        (700, 65.0),
        (800, 75.0),
        (900, 80.0),
        (1000, 85.0),
        (1100, 90.0),
        (1200, 95.0),
        (1300, 115.0),
        (1400, 145.0),
        (1500, 145.0),
        (1600, 165.0),
    ];
    let pick = Pick::Aggregate(Field::Counter);
    assert_samples(Box::new(CounterResets::new(chunks.clone(), pick)), &want);
    // Through the entry point with the rate hint: same.
    assert_samples(
        series_iter(chunks, ALL.0, ALL.1, Mode::Off, Some("rate")),
        &want,
    );
}

/// `TestCounterSeriesIteratorSeek`, `...SeekExtendTs`, `...SeekAfterNext`.
#[test]
fn counter_resets_seek() {
    let pick = Pick::Aggregate(Field::Counter);
    let chunk = || {
        vec![raw_chunk(&[
            (100, 10.0),
            (200, 20.0),
            (300, 10.0),
            (400, 20.0),
            (400, 5.0),
        ])]
    };

    let mut it = CounterResets::new(chunk(), pick);
    assert!(it.seek(150).unwrap().is_some());
    let mut got = vec![it.at()];
    got.extend(drain(&mut it).unwrap());
    assert_eq!(got, vec![(200, 20.0), (300, 30.0), (400, 40.0)]);

    let mut it = CounterResets::new(chunk(), pick);
    assert!(it.seek(500).unwrap().is_none());

    let mut it = CounterResets::new(vec![raw_chunk(&[(100, 10.0)])], pick);
    assert!(it.next().unwrap().is_some());
    assert!(it.seek(50).unwrap().is_some());
    assert_eq!(it.at(), (100, 10.0));
    assert!(it.next().unwrap().is_none());
}

/// `TestAverageChunkIterator`: downsampled chunks without raw data read as
/// sum/count under the default `[COUNT, SUM]` aggregates.
#[test]
fn average_chunk_iterator() {
    let sum = [(100, 30.0), (200, 40.0), (300, 5.0), (400, -10.0)];
    let cnt = [(100, 1.0), (200, 5.0), (300, 2.0), (400, 10.0)];
    let chunk = AggrChunk {
        min_time: 100,
        max_time: 400,
        count: Some(xor(&cnt)),
        sum: Some(xor(&sum)),
        ..Default::default()
    };
    let want = [(100, 30.0), (200, 8.0), (300, 2.5), (400, -1.0)];
    assert_samples(
        series_iter(vec![chunk.clone()], ALL.0, ALL.1, Mode::Off, None),
        &want,
    );

    // Misaligned aggregates are an error, after the aligned samples.
    let mut bad = chunk;
    bad.sum = Some(xor(&sum[..3]));
    let mut it = series_iter(vec![bad], ALL.0, ALL.1, Mode::Off, None);
    for _ in 0..3 {
        assert!(it.next().unwrap().is_some());
    }
    let err = it.next().unwrap_err();
    assert!(
        matches!(
            err,
            DedupError::SumCountMisaligned {
                timestamps: false,
                ..
            }
        ),
        "{err}"
    );
    assert!(err
        .to_string()
        .starts_with("sum and count iterator not aligned"));
}

/// HEAD `TestDedupSeriesSet_Chain`, iterator level and from chunks.
#[test]
fn dedup_series_set_chain() {
    let cases: &[(&str, &[Series], Series)] = &[
        (
            "exact match",
            &[
                &[(10000, 1.0), (20000, 2.0), (30000, 3.0)],
                &[(10000, 1.0), (20000, 2.0), (30000, 3.0)],
            ],
            &[(10000, 1.0), (20000, 2.0), (30000, 3.0)],
        ),
        (
            "gap in one series",
            &[
                &[(10000, 1.0), (30000, 3.0)],
                &[(10000, 1.0), (20000, 2.0), (30000, 3.0)],
            ],
            &[(10000, 1.0), (20000, 2.0), (30000, 3.0)],
        ),
        (
            "gaps in two series",
            &[&[(10000, 1.0), (30000, 3.0)], &[(10000, 1.0), (20000, 2.0)]],
            &[(10000, 1.0), (20000, 2.0), (30000, 3.0)],
        ),
        (
            "multi dedup label, second group",
            &[
                &[(10000, 101.0), (20000, 102.0), (30000, 103.0)],
                &[(10000, 101.0), (20000, 102.0), (30000, 103.0)],
            ],
            &[(10000, 101.0), (20000, 102.0), (30000, 103.0)],
        ),
    ];
    for (name, replicas, want) in cases {
        let iters = replicas.iter().map(|r| Mock::boxed(r)).collect();
        let got = drain(&mut *chain::chain_merge(iters)).unwrap();
        assert_eq!(bits(&got), bits(want), "{name}");
        let chunks = replicas.iter().map(|r| raw_chunk(r)).collect();
        assert_samples(series_iter(chunks, ALL.0, ALL.1, Mode::Chain, None), want);
    }
}

/// Chain mode seeks every replica and keeps one sample per timestamp.
#[test]
fn chain_seek() {
    let a = [(10, 1.0), (30, 3.0), (50, 5.0)];
    let b = [(10, 1.0), (20, 2.0), (40, 4.0)];
    let mut it = chain::chain_merge(vec![Mock::boxed(&a), Mock::boxed(&b)]);
    assert!(it.seek(15).unwrap().is_some());
    assert_eq!(it.at(), (20, 2.0));
    assert!(it.seek(20).unwrap().is_some());
    assert_eq!(it.at(), (20, 2.0));
    assert_eq!(
        drain(&mut *it).unwrap(),
        vec![(30, 3.0), (40, 4.0), (50, 5.0)]
    );
}

/// Without dedup, overlapping chunks of one series: the first by
/// (min_time, max_time) wins, later ones continue after it.
#[test]
fn off_mode_first_chunk_wins() {
    let chunks = vec![
        raw_chunk(&[(40, 4.0), (50, 5.0), (60, 6.0)]),
        raw_chunk(&[(10, 1.0), (20, 2.0), (30, 3.0), (45, 45.0)]),
        raw_chunk(&[(15, 15.0), (25, 25.0)]),
    ];
    assert_samples(
        series_iter(chunks, ALL.0, ALL.1, Mode::Off, None),
        &[
            (10, 1.0),
            (20, 2.0),
            (30, 3.0),
            (45, 45.0),
            (50, 5.0),
            (60, 6.0),
        ],
    );
}

#[test]
fn empty_chunk_list() {
    let mut it = series_iter(Vec::new(), ALL.0, ALL.1, Mode::Off, None);
    let err = it.next().unwrap_err();
    assert_eq!(err, DedupError::EmptyResult);
    assert_eq!(err.to_string(), "store returned an empty result");
    let mut it = series_iter(Vec::new(), ALL.0, ALL.1, Mode::Penalty, None);
    assert_eq!(it.next().unwrap_err(), DedupError::EmptyResult);
    // The counter path has no such check in Thanos: an empty series.
    let mut it = series_iter(Vec::new(), ALL.0, ALL.1, Mode::Penalty, Some("rate"));
    assert!(it.next().unwrap().is_none());
}

#[test]
fn clamped_to_mint_and_maxt() {
    let s: Vec<(i64, f64)> = (0..10).map(|i| (i * 10, i as f64)).collect();
    for mode in [Mode::Off, Mode::Penalty, Mode::Chain] {
        let mut it = series_iter(vec![raw_chunk(&s)], 25, 60, mode, None);
        assert_eq!(
            drain(&mut *it).unwrap(),
            vec![(30, 3.0), (40, 4.0), (50, 5.0), (60, 6.0)]
        );
        let mut it = series_iter(vec![raw_chunk(&s)], 25, 60, mode, None);
        assert!(it.seek(61).unwrap().is_none());
        let mut it = series_iter(vec![raw_chunk(&s)], 25, 60, mode, None);
        assert!(it.seek(0).unwrap().is_some());
        assert_eq!(it.at(), (30, 3.0));
    }
}

/// A single-aggregate hint reads that aggregate where present, else raw.
#[test]
fn aggregate_selection() {
    let with_min = AggrChunk {
        min_time: 0,
        max_time: 20,
        min: Some(xor(&[(0, -1.0), (20, -2.0)])),
        raw: Some(xor(&[(0, 5.0), (10, 6.0), (20, 7.0)])),
        ..Default::default()
    };
    let raw_only = raw_chunk(&[(30, 8.0)]);
    let chunks = vec![with_min, raw_only];
    let run = |func: Option<&str>| {
        drain(&mut *series_iter(
            chunks.clone(),
            ALL.0,
            ALL.1,
            Mode::Off,
            func,
        ))
        .unwrap()
    };
    assert_eq!(
        run(Some("min_over_time")),
        vec![(0, -1.0), (20, -2.0), (30, 8.0)]
    );
    assert_eq!(
        run(Some("max_over_time")),
        vec![(0, 5.0), (10, 6.0), (20, 7.0), (30, 8.0)]
    );
    assert_eq!(run(None), vec![(0, 5.0), (10, 6.0), (20, 7.0), (30, 8.0)]);
}

#[test]
fn aggregates_from_function_hints() {
    use crate::dedup::aggrs_from_func;
    use crate::proto::thanos::Aggr;
    let cases: &[(&str, &[Aggr])] = &[
        ("min", &[Aggr::Min]),
        ("min_over_time", &[Aggr::Min]),
        ("max", &[Aggr::Max]),
        ("max_over_time", &[Aggr::Max]),
        ("count", &[Aggr::Count]),
        ("count_values", &[Aggr::Count]),
        ("sum_over_time", &[Aggr::Sum]),
        ("sum", &[Aggr::Count, Aggr::Sum]),
        ("rate", &[Aggr::Counter]),
        ("increase", &[Aggr::Counter]),
        ("irate", &[Aggr::Counter]),
        ("resets", &[Aggr::Counter]),
        ("", &[Aggr::Count, Aggr::Sum]),
        ("avg_over_time", &[Aggr::Count, Aggr::Sum]),
        ("minute", &[Aggr::Count, Aggr::Sum]),
    ];
    for (func, want) in cases {
        assert_eq!(aggrs_from_func(func), want.to_vec(), "{func}");
    }
}

/// Divergence from Thanos (#3644): `resets` reads raw samples, so resets and
/// stale markers survive for the engine; `rate` keeps Thanos's running total.
#[test]
fn resets_reads_raw_samples() {
    let s = [(10, 5.0), (20, 7.0), (30, STALE), (40, 2.0), (50, 4.0)];
    assert_samples(
        series_iter(vec![raw_chunk(&s)], ALL.0, ALL.1, Mode::Off, Some("resets")),
        &s,
    );
    assert_samples(
        series_iter(vec![raw_chunk(&s)], ALL.0, ALL.1, Mode::Off, Some("rate")),
        &[(10, 5.0), (20, 7.0), (40, 9.0), (50, 11.0)],
    );
    // With two replicas the counter adjustment still applies to `resets`:
    // b (behind by 1) is lifted when the algorithm switches to it, and the
    // stale marker keeps its bits.
    let a = [(10_000, 5.0), (20_000, 7.0)];
    let b = [(10_001, 4.0), (20_001, 6.0), (60_001, STALE), (70_001, 1.0)];
    assert_samples(
        series_iter(
            vec![raw_chunk(&a), raw_chunk(&b)],
            ALL.0,
            ALL.1,
            Mode::Penalty,
            Some("resets"),
        ),
        &[(10_000, 5.0), (20_000, 7.0), (60_001, STALE), (70_001, 2.0)],
    );
}

/// Downsampled counter chunks repeat their last timestamp with the true last
/// value; on the `resets` path that marker is dropped.
#[test]
fn resets_drops_repeated_timestamps() {
    let chunk = AggrChunk {
        min_time: 10,
        max_time: 30,
        counter: Some(xor(&[(10, 1.0), (30, 9.0), (30, 4.0)])),
        ..Default::default()
    };
    assert_samples(
        series_iter(vec![chunk], ALL.0, ALL.1, Mode::Off, Some("resets")),
        &[(10, 1.0), (30, 9.0)],
    );
}

#[test]
fn bad_chunks_are_errors() {
    let mut corrupt = raw_chunk(&[(10, 1.0), (20, 2.0), (30, 3.0)]);
    if let Some(raw) = corrupt.raw.as_mut() {
        raw.data.truncate(raw.data.len() - 2);
    }
    let mut it = series_iter(vec![corrupt], ALL.0, ALL.1, Mode::Off, None);
    // The samples before the damage are read first, as a lazy decoder would.
    assert_eq!(it.next().unwrap(), Some(crate::dedup::ValueType::Float));
    let err = loop {
        match it.next() {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("no error"),
            Err(e) => break e,
        }
    };
    assert!(
        matches!(
            err,
            DedupError::Corrupt {
                min_time: 10,
                max_time: 30,
                ..
            }
        ),
        "{err}"
    );
    assert!(std::error::Error::source(&err).is_some());

    let mut hist = raw_chunk(&[(10, 1.0)]);
    if let Some(raw) = hist.raw.as_mut() {
        raw.r#type = 1;
    }
    let err = series_iter(vec![hist], ALL.0, ALL.1, Mode::Off, None)
        .next()
        .unwrap_err();
    assert!(
        matches!(err, DedupError::UnsupportedEncoding { encoding: 1, .. }),
        "{err}"
    );

    let bare = AggrChunk {
        min_time: 1,
        max_time: 2,
        ..Default::default()
    };
    let err = series_iter(vec![bare], ALL.0, ALL.1, Mode::Off, Some("max"))
        .next()
        .unwrap_err();
    assert!(err.to_string().starts_with("no valid chunk found"), "{err}");
}

/// Identical chunks (by xxhash64 or the store's hash) collapse before the
/// overlap split, so two copies of one replica are one virtual replica.
#[test]
fn identical_replicas_collapse() {
    let s: Vec<(i64, f64)> = (0..300).map(|i| (i * 15_000, (i % 7) as f64)).collect();
    let mut chunks = chunks_of(&s);
    chunks.extend(chunks_of(&s));
    assert_eq!(chunks.len(), 6);
    assert_samples(series_iter(chunks, ALL.0, ALL.1, Mode::Penalty, None), &s);
}
