//! Thanos v0.31.0 `TestQuerier_Select` "realistic data with stale marker"
//! and "... with hints rate function", and `TestDedupSeriesSet` "Regression
//! test on real data against 2401": two replicas of a GitLab counter, about
//! 15 s apart, with an application restart (stale marker, counter reset) at
//! different times in each.
//!
//! The chunks are rebuilt from the replicas' samples, 120 per chunk, which
//! gives the same chunk bounds as the Prometheus chunks of the Thanos
//! fixture (`pkg/query/testdata/issue2401-seriesresponses.json`, whose
//! earlier chunks all end before `mint` and change nothing here).

use crate::dedup::penalty::penalty_dedup;
use crate::dedup::{series_iter, Mode};
use crate::proto::thanos::AggrChunk;

use super::real_2401_data::*;
use super::{assert_samples, bits, chunks_of, drain, Mock};

const MINT: i64 = 1_587_690_000_000;
const MAXT: i64 = 1_587_693_600_000;

fn both_replicas() -> Vec<AggrChunk> {
    let mut chunks = chunks_of(REPLICA_0);
    chunks.extend(chunks_of(REPLICA_1));
    chunks
}

#[test]
fn chunk_bounds_match_the_fixture() {
    let bounds = |cs: Vec<AggrChunk>| {
        cs.iter()
            .map(|c| (c.min_time, c.max_time))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        bounds(chunks_of(REPLICA_0))[..2],
        [
            (1587690007139, 1587691792139),
            (1587691807139, 1587693592139)
        ]
    );
    assert_eq!(
        bounds(chunks_of(REPLICA_1))[..2],
        [
            (1587690005791, 1587691790791),
            (1587691805791, 1587693590791)
        ]
    );
}

/// Without dedup each replica is its own series.
#[test]
fn without_dedup() {
    for (replica, plain, rate) in [
        (REPLICA_0, REPLICA_0, REPLICA_0_FOR_RATE),
        (REPLICA_1, REPLICA_1, REPLICA_1_FOR_RATE),
    ] {
        assert_samples(
            series_iter(chunks_of(replica), MINT, MAXT, Mode::Off, None),
            plain,
        );
        assert_samples(
            series_iter(chunks_of(replica), MINT, MAXT, Mode::Off, Some("rate")),
            rate,
        );
    }
}

/// With dedup, no function hint: the penalty algorithm over raw samples.
#[test]
fn deduplicated() {
    assert_samples(
        series_iter(both_replicas(), MINT, MAXT, Mode::Penalty, None),
        DEDUPLICATED,
    );
}

/// With dedup and `rate`: counter resets applied per replica, then the
/// counter adjustment on the switch at the restart.
#[test]
fn deduplicated_for_rate() {
    assert_samples(
        series_iter(both_replicas(), MINT, MAXT, Mode::Penalty, Some("rate")),
        DEDUPLICATED_FOR_RATE,
    );
}

/// `TestDedupSeriesSet` on the same data: the counter-reset replicas fed to
/// the penalty algorithm directly, in Thanos's order (a = replica 0).
#[test]
fn dedup_series_set_real_data() {
    let iters = vec![
        Mock::boxed(REPLICA_0_FOR_RATE),
        Mock::boxed(REPLICA_1_FOR_RATE),
    ];
    let got = drain(&mut *penalty_dedup(iters, true)).unwrap();
    assert_eq!(bits(&got), bits(DEDUPLICATED_FOR_RATE));
}
